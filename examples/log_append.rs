//! The transparency log's append rate, without HTTP or signing statements: WRITERS threads
//! append entries of a statement's size in batches of BATCH (one transaction each, as the
//! statement recorder commits its batches) while one sequencer thread, as every instance
//! runs it, extends the tree, stores its hashes and signs a checkpoint. The rate counts the
//! entries that a signed checkpoint covers at the end, over the whole run.
//! `scripts/bench/log.sh` runs it.
//!
//!     log_append DATABASE_URL SECONDS WRITERS BATCH

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ssa_directory::config::Secret;
use ssa_directory::services::transparency::{LogSigner, record_in, sequence_in};
use ssa_directory::store::{self, write_transaction};
use ssa_verifier::transparency::EntryKind;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn now() -> ssa_directory::model::Timestamp {
    let now = time::OffsetDateTime::now_utc();
    time::PrimitiveDateTime::new(now.date(), now.time())
}

fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, seconds, writers, batch] = &args[..] else {
        return Err("usage: log_append DATABASE_URL SECONDS WRITERS BATCH".into());
    };
    let (seconds, writers, batch): (u64, usize, usize) =
        (seconds.parse()?, writers.parse()?, batch.parse()?);
    let pool = store::connect_and_migrate(&Secret::new(url.clone()), writers as u32 + 2)?;
    let keys = tempfile::tempdir()?;
    let log = Arc::new(LogSigner::load(keys.path(), "https://bench.example", None)?);
    // A statement's size: a compact PS256 JWS of about 1.6 KB.
    let artefact = vec![b'x'; 1600];
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut threads = Vec::new();
    for writer in 0..writers {
        let (pool, stop, artefact) = (pool.clone(), stop.clone(), artefact.clone());
        threads.push(std::thread::spawn(move || -> Result<(), String> {
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                write_transaction(&mut conn, |tx| {
                    for _ in 0..batch {
                        n += 1;
                        let mut unique = artefact.clone();
                        unique.extend_from_slice(format!("{writer}-{n}").as_bytes());
                        record_in(tx, EntryKind::Statement, &unique, "bench", now())?;
                    }
                    Ok::<_, ssa_directory::model::Error>(())
                })
                .map_err(|e| e.to_string())?;
            }
            Ok(())
        }));
    }
    let sequencer = {
        let (pool, stop, log) = (pool.clone(), stop.clone(), log.clone());
        std::thread::spawn(move || -> Result<(), String> {
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            while !stop.load(Ordering::Relaxed) {
                sequence_in(&mut conn, &log, now()).map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(250));
            }
            Ok(())
        })
    };
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().map_err(|_| "a writer panicked")??;
    }
    sequencer.join().map_err(|_| "the sequencer panicked")??;
    // What was appended, once integrated: the rounds the sequencer still needs count too.
    let mut conn = pool.get()?;
    while sequence_in(&mut conn, &log, now())?.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let (next, size) = store::log::state(&mut conn)?;
    if next != size {
        return Err(format!("{next} appended, {size} in the tree").into());
    }
    println!("{:.0}", size as f64 / elapsed);
    Ok(())
}
