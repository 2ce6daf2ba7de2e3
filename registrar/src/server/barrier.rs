//! The feed barrier: a registration is decided on what the trusted directories had said when
//! it arrived. Each waiting request takes a ticket; one reader thread reads every directory's
//! feed (without waiting) whenever tickets wait, and a read that began after a ticket was
//! taken answers it. Requests that arrive together share one read, as registrations share one
//! transaction in the writer: under load a read costs a fraction of a request, and one
//! request alone pays one round trip to the directory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// What the last read covered: every ticket up to `covers`, and whether it succeeded.
#[derive(Debug, Clone, Copy)]
struct Read {
    covers: u64,
    ok: bool,
}

/// Tickets and the reads that answer them.
pub struct Barrier {
    issued: AtomicU64,
    lock: Mutex<()>,
    wake: Condvar,
    done: tokio::sync::watch::Sender<Read>,
}

impl Default for Barrier {
    fn default() -> Self {
        Self {
            issued: AtomicU64::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            done: tokio::sync::watch::Sender::new(Read {
                covers: 0,
                ok: true,
            }),
        }
    }
}

impl Barrier {
    /// Waits until a read that began after this call has finished: whether it succeeded
    /// (false: the directories could not all be read, so their word now is unknown).
    pub async fn pass(&self) -> bool {
        let mut done = self.done.subscribe();
        let ticket = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        // Taken and released so that the reader is either before its check (and sees the
        // ticket) or already waiting (and hears the notification).
        drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()));
        self.wake.notify_one();
        match done.wait_for(|read| read.covers >= ticket).await {
            Ok(read) => read.ok,
            Err(_) => false,
        }
    }

    /// The reader's loop: runs `read` whenever tickets wait, until `running` says stop.
    pub fn serve(&self, mut read: impl FnMut() -> bool, running: impl Fn() -> bool) {
        while running() {
            {
                let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
                while self.issued.load(Ordering::SeqCst) <= self.done.borrow().covers && running() {
                    guard = self
                        .wake
                        .wait_timeout(guard, Duration::from_secs(1))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
            if !running() {
                break;
            }
            let covers = self.issued.load(Ordering::SeqCst);
            let ok = read();
            self.done.send_replace(Read { covers, ok });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_waiter_is_answered_by_a_read_that_began_after_it_and_waiters_share_reads() {
        let barrier = Arc::new(Barrier::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (barrier, reads, stop) = (barrier.clone(), reads.clone(), stop.clone());
            std::thread::spawn(move || {
                barrier.serve(
                    || {
                        std::thread::sleep(Duration::from_millis(20));
                        reads.fetch_add(1, Ordering::SeqCst);
                        true
                    },
                    || !stop.load(Ordering::SeqCst),
                )
            })
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let before = reads.load(Ordering::SeqCst);
            assert!(barrier.pass().await);
            assert!(
                reads.load(Ordering::SeqCst) > before,
                "a read after the ticket"
            );
            let waiters: Vec<_> = (0..50)
                .map(|_| {
                    let barrier = barrier.clone();
                    tokio::spawn(async move { barrier.pass().await })
                })
                .collect();
            for waiter in waiters {
                assert!(waiter.await.unwrap());
            }
        });
        assert!(
            reads.load(Ordering::SeqCst) < 20,
            "50 waiters shared reads: {}",
            reads.load(Ordering::SeqCst)
        );
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap();
    }
}
