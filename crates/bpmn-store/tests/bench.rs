//! Throughput figures, run on demand:
//! `cargo test --release -p dsf-bpmn-store --test main -- --ignored --nocapture bench`.
//!
//! For each store (in memory, SQLite, PostgreSQL) prints instances per second for
//! `tests/models/bench.bpmn` (start, three service tasks setting variables, exclusive gateway,
//! end; every wait state committed to the store) and message correlations per second
//! (`tests/models/bench_wait.bpmn`: a receive task per instance, found by business key), each
//! twice: with one engine running instances one after the other, and with `DSF_BENCH_ENGINES`
//! engines (default 64) on one store running at once, each on its own instances; their commits
//! then share transactions. Memory per waiting instance is measured in a
//! process of its own per store. When `DSF_BENCH_SPIFF` (a Python executable that can import
//! `SpiffWorkflow`) or `DSF_BENCH_NODE_PATH` (a `node_modules` holding `bpmn-engine`) are set, the
//! scripts in `tests/bench/` run the same models in those engines and the ratios are printed.
//! `DSF_BENCH_N` sets the number of instances (default 10,000). No figure is asserted: timings
//! depend on the machine.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use dsf_bpmn::engine::{Correlation, Engine};
use dsf_bpmn::error::EngineError;
use dsf_bpmn::exec::{Effect, InstanceState};
use dsf_bpmn::runtime::{DelegateContext, Registry, Runtime};
use dsf_bpmn::store::{MemoryStore, Store};
use dsf_bpmn::value::{Value, Variables};
use dsf_bpmn_store::{Durability, SqlStore};
use dsf_fhir_store::StoreConfig;
use dsf_testkit::{Backend, TestDb};

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register("bench.SetVariable", |ctx: &mut DelegateContext<'_>| {
        let n = match ctx.variable("counter") {
            Some(Value::Integer(n)) => *n,
            _ => 0,
        };
        ctx.set_variable("counter", n + 1);
        ctx.set_variable(&format!("result{n}"), format!("value {n}"));
        Ok(())
    });
    r
}

fn model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/models")
        .join(format!("{name}.bpmn"))
}

fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What one store achieved with a number of engines.
struct Figures {
    instances_per_s: f64,
    correlations_per_s: f64,
}

/// Opens `count` engines on clones of `store` with both models deployed. Each engine touches only
/// the instances it starts (partitions of one site's instances), so they run without leases: with
/// leases every `Runtime::run` asks the store for due work of other engines, and the figures would
/// measure that polling rather than executing and committing instances.
async fn runtimes<S: Store + Clone>(store: &S, count: usize) -> R<Vec<Runtime<S>>> {
    let mut first = Runtime::new(Engine::new(store.clone()).await?, registry());
    for m in ["bench", "bench_wait"] {
        first
            .deploy(&std::fs::read_to_string(model(m))?, &HashMap::new())
            .await?;
    }
    let mut all = vec![first];
    for _ in 1..count {
        all.push(Runtime::new(Engine::new(store.clone()).await?, registry()));
    }
    Ok(all)
}

/// Runs `job` on every engine at once, each engine on its own share of `0..n`; returns the
/// engines and the seconds taken.
async fn concurrently<S, F, Fut>(
    runtimes: Vec<Runtime<S>>,
    n: usize,
    job: F,
) -> R<(Vec<Runtime<S>>, f64)>
where
    S: Store + 'static,
    F: Fn(Runtime<S>, Range<usize>) -> Fut,
    Fut: Future<Output = Result<Runtime<S>, EngineError>> + Send + 'static,
{
    let count = runtimes.len();
    let started = Instant::now();
    let tasks: Vec<_> = runtimes
        .into_iter()
        .enumerate()
        .map(|(i, rt)| tokio::spawn(job(rt, i * n / count..(i + 1) * n / count)))
        .collect();
    // in their order, so that each engine gets the same share in the next job
    let mut back = Vec::with_capacity(count);
    for task in tasks {
        back.push(task.await??);
    }
    Ok((back, started.elapsed().as_secs_f64()))
}

/// Starts and finishes instances of `bench`, one after the other; each must report its end
/// (which the engine does once the end is committed).
async fn run_instances<S: Store>(
    mut rt: Runtime<S>,
    range: Range<usize>,
) -> Result<Runtime<S>, EngineError> {
    for _ in range {
        let id = rt
            .engine_mut()
            .start("bench", None, None, Variables::new())
            .await?;
        rt.run().await?;
        let completed = rt.take_events().iter().any(|e| {
            matches!(e, Effect::InstanceEnded { instance, state }
                if *instance == id && *state == InstanceState::Completed)
        });
        assert!(completed, "instance {id} did not complete");
    }
    Ok(rt)
}

/// Starts instances of `benchWait` with business keys `bk-<i>`; they wait for a message.
async fn start_waiting<S: Store>(
    mut rt: Runtime<S>,
    range: Range<usize>,
) -> Result<Runtime<S>, EngineError> {
    for i in range {
        rt.engine_mut()
            .start("benchWait", None, Some(format!("bk-{i}")), Variables::new())
            .await?;
    }
    Ok(rt)
}

/// Correlates the message each waiting instance `bk-<i>` waits for.
async fn correlate<S: Store>(
    mut rt: Runtime<S>,
    range: Range<usize>,
) -> Result<Runtime<S>, EngineError> {
    for i in range {
        rt.engine_mut()
            .correlate(Correlation {
                message: "continue".into(),
                business_key: Some(format!("bk-{i}")),
                correlation_key: None,
                variables: Variables::new(),
            })
            .await?;
    }
    Ok(rt)
}

/// Runs both models with `engines` engines on `store` and prints the figures. The store must
/// hold no unfinished instances.
async fn measure<S: Store + Clone + 'static>(
    name: &str,
    store: &S,
    n: usize,
    engines: usize,
) -> R<Figures> {
    let rts = runtimes(store, engines).await?;
    let (rts, elapsed) = concurrently(rts, n, run_instances).await?;
    let instances_per_s = n as f64 / elapsed;
    println!(
        "{name}, {engines} engine(s): {n} instances in {elapsed:.2} s = {instances_per_s:.0} instances/s"
    );
    let (rts, _) = concurrently(rts, n, start_waiting).await?;
    let (_, elapsed) = concurrently(rts, n, correlate).await?;
    let correlations_per_s = n as f64 / elapsed;
    println!(
        "{name}, {engines} engine(s): {n} correlations in {elapsed:.2} s = {correlations_per_s:.0} correlations/s"
    );
    Ok(Figures {
        instances_per_s,
        correlations_per_s,
    })
}

/// Where the memory measurement runs: `memory`, `sqlite:<path>` or a PostgreSQL URL.
const MEMORY_STORE: &str = "DSF_BENCH_MEMORY_STORE";

/// Measures memory per waiting instance in a process of its own, so that memory freed by earlier
/// measurements does not hide what the instances take. Does nothing when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "started as a child process by bench_throughput"]
async fn bench_memory_child() -> R<()> {
    let Ok(location) = std::env::var(MEMORY_STORE) else {
        return Ok(());
    };
    let n = bench_size();
    let per_instance = match location.as_str() {
        "memory" => waiting_memory(&MemoryStore::new(), n).await?,
        _ => match location.strip_prefix("sqlite:") {
            Some(path) => {
                let store = SqlStore::open_sqlite(path.as_ref(), Durability::ProcessCrash).await?;
                waiting_memory(&store, n).await?
            }
            None => waiting_memory(&SqlStore::open_postgres(&location).await?, n).await?,
        },
    };
    println!("KiB per waiting instance: {per_instance:.2}");
    Ok(())
}

/// Resident memory added per instance waiting for a message, engine and store together.
async fn waiting_memory<S: Store + Clone + 'static>(store: &S, n: usize) -> R<f64> {
    let rts = runtimes(store, 1).await?;
    let before = resident_kib().ok_or("no /proc/self/status")?;
    let (rts, _) = concurrently(rts, n, start_waiting).await?;
    let after = resident_kib().ok_or("no /proc/self/status")?;
    drop(rts);
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// Runs [`bench_memory_child`] for one store and returns its figure.
fn memory_in_child(location: &str) -> Option<f64> {
    let out = Command::new(std::env::current_exe().ok()?)
        .args([
            "bench::bench_memory_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(MEMORY_STORE, location)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("KiB per waiting instance: "))?;
    line.trim().parse().ok()
}

fn bench_size() -> usize {
    std::env::var("DSF_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Runs an external engine's script; returns its "instances/s correlations/s" output.
fn external(
    program: &str,
    script: &str,
    n: usize,
    env: Option<(&str, String)>,
) -> Option<(f64, f64)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut cmd = Command::new(program);
    cmd.arg(dir.join("bench").join(script))
        .arg(model("bench"))
        .arg(model("bench_wait"))
        .arg(n.to_string());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("{script}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok());
    Some((it.next()?, it.next()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run explicitly with --ignored --nocapture"]
async fn bench_throughput() -> R<()> {
    let n = bench_size();
    let engines: usize = std::env::var("DSF_BENCH_ENGINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut figures = Vec::new();
    let mut memory = Vec::new();
    let store = MemoryStore::new();
    for count in [1, engines] {
        let f = measure("dsf-bpmn, in memory", &store, n, count).await?;
        figures.push((format!("in memory, {count} engine(s)"), f));
    }
    memory.push(("in memory", memory_in_child("memory")));
    let sqlite = TestDb::new(Backend::Sqlite).await;
    if let StoreConfig::Sqlite { path } = &sqlite.config {
        let file = path.with_file_name("bpe.db");
        let store = SqlStore::open_sqlite(&file, Durability::ProcessCrash).await?;
        for count in [1, engines] {
            let f = measure("dsf-bpmn, SQLite", &store, n, count).await?;
            figures.push((format!("SQLite, {count} engine(s)"), f));
        }
        let fresh = path.with_file_name("memory.db");
        memory.push((
            "SQLite",
            memory_in_child(&format!("sqlite:{}", fresh.display())),
        ));
    }
    let postgres = TestDb::new(Backend::Postgres).await;
    if let StoreConfig::Postgres { url } = &postgres.config {
        let store = SqlStore::open_postgres(url).await?;
        for count in [1, engines] {
            let f = measure("dsf-bpmn, PostgreSQL", &store, n, count).await?;
            figures.push((format!("PostgreSQL, {count} engine(s)"), f));
        }
    }
    let postgres_memory = TestDb::new(Backend::Postgres).await;
    if let StoreConfig::Postgres { url } = &postgres_memory.config {
        memory.push(("PostgreSQL", memory_in_child(url)));
    }
    for (store, kib) in memory {
        match kib {
            Some(kib) => println!("dsf-bpmn, {store}: {kib:.2} KiB per waiting instance"),
            None => println!("dsf-bpmn, {store}: memory per waiting instance not measured"),
        }
    }

    let small = (n / 20).max(200);
    let mut others = Vec::new();
    if let Ok(python) = std::env::var("DSF_BENCH_SPIFF") {
        others.push((
            "SpiffWorkflow",
            external(&python, "spiff_bench.py", small, None),
        ));
    }
    if let Ok(path) = std::env::var("DSF_BENCH_NODE_PATH") {
        let env = Some(("NODE_PATH", path));
        others.push((
            "bpmn-engine",
            external("node", "bpmn_engine_bench.js", small, env),
        ));
    }
    for (other, result) in others {
        let Some((i, c)) = result else {
            continue;
        };
        println!("{other} (in memory): {i:.0} instances/s, {c:.0} correlations/s");
        for (store, f) in &figures {
            println!(
                "  dsf-bpmn {store} vs {other}: {:.1}x instances, {:.1}x correlations",
                f.instances_per_s / i,
                f.correlations_per_s / c
            );
        }
    }
    Ok(())
}
