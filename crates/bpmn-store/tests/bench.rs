//! Throughput figures, run on demand:
//! `cargo test --release -p dsf-bpmn-store --test main -- --ignored --nocapture bench`.
//!
//! For each store (in memory, SQLite, PostgreSQL) prints instances per second for
//! `tests/models/bench.bpmn` (start, three service tasks setting variables, exclusive gateway,
//! end; every wait state committed to the store), message correlations per second
//! (`tests/models/bench_wait.bpmn`: a receive task per instance, found by business key), and
//! memory per waiting instance. When `DSF_BENCH_SPIFF` (a Python executable that can import
//! `SpiffWorkflow`) or `DSF_BENCH_NODE_PATH` (a `node_modules` holding `bpmn-engine`) are set, the
//! scripts in `tests/bench/` run the same models in those engines and the ratios are printed.
//! `DSF_BENCH_N` sets the number of instances (default 10,000). No figure is asserted: timings
//! depend on the machine.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use dsf_bpmn::engine::{Correlation, Engine};
use dsf_bpmn::exec::InstanceState;
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

/// What one store achieved.
struct Figures {
    instances_per_s: f64,
    correlations_per_s: f64,
}

/// Runs both models on an engine over `store` and prints its figures.
async fn measure<S: Store>(name: &str, store: S, n: usize) -> R<Figures> {
    let mut rt = Runtime::new(Engine::new(store).await?, registry());
    for m in ["bench", "bench_wait"] {
        rt.deploy(&std::fs::read_to_string(model(m))?, &HashMap::new())
            .await?;
    }

    let started = Instant::now();
    let mut last = None;
    for _ in 0..n {
        last = Some(
            rt.engine_mut()
                .start("bench", None, None, Variables::new())
                .await?,
        );
        rt.run().await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let last = last.ok_or("no instance")?;
    let info = rt.engine().instance(last).await?.ok_or("lost")?;
    assert_eq!(info.state, InstanceState::Completed);
    let instances_per_s = n as f64 / elapsed;
    println!(
        "{name}: {n} instances (3 service tasks, gateway, persisted) in {elapsed:.2} s = {instances_per_s:.0} instances/s"
    );

    let rss_before = resident_kib();
    for i in 0..n {
        rt.engine_mut()
            .start("benchWait", None, Some(format!("bk-{i}")), Variables::new())
            .await?;
    }
    if let (Some(before), Some(after)) = (rss_before, resident_kib()) {
        println!(
            "{name}: memory per waiting instance (engine cache and store) about {:.1} KiB",
            after.saturating_sub(before) as f64 / n as f64
        );
    }
    let started = Instant::now();
    for i in 0..n {
        rt.engine_mut()
            .correlate(Correlation {
                message: "continue".into(),
                business_key: Some(format!("bk-{i}")),
                correlation_key: None,
                variables: Variables::new(),
            })
            .await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let correlations_per_s = n as f64 / elapsed;
    println!("{name}: {n} correlations in {elapsed:.2} s = {correlations_per_s:.0} correlations/s");
    Ok(Figures {
        instances_per_s,
        correlations_per_s,
    })
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

#[tokio::test]
#[ignore = "benchmark; run explicitly with --ignored --nocapture"]
async fn bench_throughput() -> R<()> {
    let n: usize = std::env::var("DSF_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut figures = vec![(
        "in memory",
        measure("dsf-bpmn, in memory", MemoryStore::new(), n).await?,
    )];
    let sqlite = TestDb::new(Backend::Sqlite).await;
    if let StoreConfig::Sqlite { path } = &sqlite.config {
        let store =
            SqlStore::open_sqlite(&path.with_file_name("bpe.db"), Durability::ProcessCrash).await?;
        figures.push(("SQLite", measure("dsf-bpmn, SQLite", store, n).await?));
    }
    let postgres = TestDb::new(Backend::Postgres).await;
    if let StoreConfig::Postgres { url } = &postgres.config {
        let store = SqlStore::open_postgres(url).await?;
        figures.push((
            "PostgreSQL",
            measure("dsf-bpmn, PostgreSQL", store, n).await?,
        ));
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
