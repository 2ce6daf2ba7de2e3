//! What the load examples share: running a batch of requests at a concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Sends `requests` (built beforehand) with `concurrency` at a time; requests per second.
pub async fn run(
    requests: Vec<reqwest::RequestBuilder>,
    concurrency: usize,
    expect: u16,
) -> Fallible<f64> {
    let total = requests.len();
    let queue: Arc<std::sync::Mutex<Vec<reqwest::RequestBuilder>>> =
        Arc::new(std::sync::Mutex::new(requests));
    let bad = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (queue, bad) = (queue.clone(), bad.clone());
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                    let Some(request) = next else { break };
                    match request.send().await {
                        Ok(response) if response.status().as_u16() == expect => {
                            let _ = response.bytes().await;
                        }
                        Ok(response) => {
                            if bad.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!(
                                    "unexpected {}: {}",
                                    response.status(),
                                    response.text().await.unwrap_or_default()
                                );
                            }
                        }
                        Err(e) => {
                            bad.fetch_add(1, Ordering::Relaxed);
                            eprintln!("{e}");
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let bad = bad.load(Ordering::Relaxed);
    if bad > 0 {
        return Err(format!("{bad} of {total} requests did not answer {expect}").into());
    }
    Ok(total as f64 / elapsed)
}
