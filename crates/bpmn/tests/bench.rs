//! Throughput figures, run on demand:
//! `cargo test --release -p dsf-bpmn --test main -- --ignored --nocapture bench`.
//!
//! Prints instances per second for `tests/models/bench.bpmn` (start, three service tasks setting
//! variables, exclusive gateway, end; every wait state committed to the store), message
//! correlations per second (`tests/models/bench_wait.bpmn`: a receive task per instance, found by
//! business key), and memory per waiting instance. When `DSF_BENCH_SPIFF` (a Python executable
//! that can import `SpiffWorkflow`, e.g. a wrapper script setting `PYTHONPATH`) or
//! `DSF_BENCH_NODE_PATH` (a `node_modules` holding `bpmn-engine`) are set, the scripts in
//! `tests/bench/` run the same models in those engines and the ratios are printed. No figure is
//! asserted: timings depend on the machine.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use dsf_bpmn::engine::{Correlation, Engine};
use dsf_bpmn::exec::InstanceState;
use dsf_bpmn::runtime::{DelegateContext, Registry, Runtime};
use dsf_bpmn::store::MemoryStore;
use dsf_bpmn::value::{Value, Variables};

use crate::common::model;

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
        .arg(dir.join("models/bench.bpmn"))
        .arg(dir.join("models/bench_wait.bpmn"))
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
async fn bench_throughput() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("DSF_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let store = MemoryStore::new();
    let mut rt = Runtime::new(Engine::new(store.clone()).await?, registry());
    rt.deploy(&model("bench"), &HashMap::new()).await?;
    rt.deploy(&model("bench_wait"), &HashMap::new()).await?;

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
        "dsf-bpmn: {n} instances (3 service tasks, gateway, persisted) in {elapsed:.2} s = {instances_per_s:.0} instances/s, {} commits",
        store.commits()
    );

    let rss_before = resident_kib();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        rt.engine_mut()
            .start("benchWait", None, Some(format!("bk-{i}")), Variables::new())
            .await?;
        ids.push(format!("bk-{i}"));
    }
    let rss_after = resident_kib();
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!(
            "dsf-bpmn: memory per waiting instance (engine cache and store) about {:.1} KiB",
            after.saturating_sub(before) as f64 / n as f64
        );
    }
    let started = Instant::now();
    for bk in ids {
        rt.engine_mut()
            .correlate(Correlation {
                message: "continue".into(),
                business_key: Some(bk),
                correlation_key: None,
                variables: Variables::new(),
            })
            .await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let correlations_per_s = n as f64 / elapsed;
    println!(
        "dsf-bpmn: {n} correlations in {elapsed:.2} s = {correlations_per_s:.0} correlations/s"
    );

    let small = (n / 20).max(200);
    if let Ok(python) = std::env::var("DSF_BENCH_SPIFF")
        && let Some((i, c)) = external(&python, "spiff_bench.py", small, None)
    {
        println!(
            "SpiffWorkflow (in memory): {i:.0} instances/s, {c:.0} correlations/s; ratio {:.1}x instances, {:.1}x correlations",
            instances_per_s / i,
            correlations_per_s / c
        );
    }
    if let Ok(path) = std::env::var("DSF_BENCH_NODE_PATH")
        && let Some((i, c)) = external(
            "node",
            "bpmn_engine_bench.js",
            small,
            Some(("NODE_PATH", path)),
        )
    {
        println!(
            "bpmn-engine (in memory): {i:.0} instances/s, {c:.0} correlations/s; ratio {:.1}x instances, {:.1}x correlations",
            instances_per_s / i,
            correlations_per_s / c
        );
    }
    Ok(())
}
