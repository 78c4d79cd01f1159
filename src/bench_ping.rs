//! `dsf bench ping`: the ping process between two sites of a federation running in this process
//! (FHIR server and engine each, embedded SQLite, mutual TLS on loopback): round trips of single
//! pings, completed pings per second with many ping instances at once, and the time `dsf demo`
//! takes to its full table.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::demo::{self, DemoArgs, RunningFederation};

/// Settings of `dsf bench ping`.
#[derive(Debug, Clone, clap::Args)]
pub struct PingBenchArgs {
    /// Pings one after the other, for the round-trip times.
    #[arg(long, default_value_t = 50)]
    pub sequential: usize,
    /// Ping instances running at once.
    #[arg(long, default_value_t = 100)]
    pub concurrent: usize,
    /// FHIR port of the first site.
    #[arg(long, default_value_t = 28001)]
    pub base_port: u16,
    /// Skip timing `dsf demo`.
    #[arg(long)]
    pub no_demo: bool,
}

/// How long the whole benchmark may take.
const TIMEOUT: Duration = Duration::from_secs(600);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: &PingBenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = started + TIMEOUT;
    let names = ["dic1".to_owned(), "dic2".to_owned()];
    let federation = RunningFederation::start(&names, args.base_port, None, started).await?;
    let (dic1, sites) = (&federation.sites[0], &federation.sites);
    for _ in 0..3 {
        demo::ping(dic1, deadline).await?;
    }
    eprintln!("{} pings one after the other ...", args.sequential);
    let (mut round_trips, mut processes) = (Vec::new(), Vec::new());
    for _ in 0..args.sequential {
        let begun = Instant::now();
        let task = demo::ping(dic1, deadline).await?;
        processes.push(begun.elapsed());
        let (target, status, key) = demo::ping_statuses(&task)
            .into_iter()
            .next()
            .context("no ping result")?;
        anyhow::ensure!(status == "pong-received", "ping to {target}: {status}");
        round_trips.push(demo::round_trip(dic1, sites, &target, &key).await?);
    }
    round_trips.sort_unstable();
    processes.sort_unstable();
    eprintln!("{} pings at once ...", args.concurrent);
    let begun = Instant::now();
    let tasks =
        futures::future::try_join_all((0..args.concurrent).map(|_| demo::ping(dic1, deadline)))
            .await?;
    let concurrent = begun.elapsed();
    let received = tasks
        .iter()
        .flat_map(demo::ping_statuses)
        .filter(|(_, status, _)| status == "pong-received")
        .count();
    federation.stop().await?;
    let demo_time = if args.no_demo {
        None
    } else {
        eprintln!("dsf demo ...");
        let begun = Instant::now();
        let demo_args = DemoArgs {
            sites: ["dic1", "dic2", "dic3", "ttp", "hrp"]
                .map(str::to_owned)
                .to_vec(),
            base_port: args.base_port + 100,
            dir: None,
            keep: false,
        };
        demo::run(&demo_args, std::future::pending()).await?;
        Some(begun.elapsed())
    };
    println!();
    println!(
        "dsf bench ping: dic1 pings dic2, both sites in this process (FHIR server and engine each, \
         embedded SQLite, mutual TLS on loopback), {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "round trip, ping sent to pong received ({} pings): median {}, p99 {}",
        round_trips.len(),
        ms(percentile(&round_trips, 0.5)),
        ms(percentile(&round_trips, 0.99))
    );
    println!(
        "whole ping process, start Task created to completed: median {}, p99 {}",
        ms(percentile(&processes, 0.5)),
        ms(percentile(&processes, 0.99))
    );
    println!(
        "{} ping instances at once: {received} pongs received in {:.2} s, {:.1} completed pings/s",
        args.concurrent,
        concurrent.as_secs_f64(),
        args.concurrent as f64 / concurrent.as_secs_f64().max(f64::EPSILON)
    );
    if let Some(d) = demo_time {
        println!(
            "dsf demo, 5 sites to the full 5x4 ping table: {:.1} s",
            d.as_secs_f64()
        );
    }
    Ok(())
}
