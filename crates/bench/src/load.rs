//! A closed-loop load driver: `concurrency` workers run operations until `total` are done.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Throughput and latency of one run.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Operations per second.
    pub per_second: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

/// Runs `op(i)` for `i` in `0..total` on `concurrency` workers.
pub async fn run<F, Fut>(concurrency: usize, total: usize, op: F) -> anyhow::Result<Stats>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (op, next) = (op.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t = Instant::now();
                op(i).await?;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64().max(f64::EPSILON);
    latencies.sort_unstable();
    Ok(Stats {
        per_second: total as f64 / elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    })
}

/// The `q` quantile (0 to 1) of `sorted` latencies; zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// POSTs the Task `body` to `url` (`{base}/Task`) asking for a minimal answer.
pub async fn post_task(
    client: &reqwest::Client,
    url: String,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(url)
        .header("content-type", "application/fhir+json")
        .header("accept", "application/fhir+json")
        .header("prefer", "return=minimal")
        .body(body)
        .send()
        .await
}
