//! `dsf`: the Data Sharing Framework's one binary.

use anyhow::Context;
use clap::{Parser, Subcommand};
use dsf_fhir_server::FhirSettings;
use tracing_subscriber::EnvFilter;

mod bench_ping;
mod bpmn_check;
mod demo;
mod federation;
mod pki;
mod site;

/// Data Sharing Framework: a FHIR server and process engine for federated research data sharing.
#[derive(Debug, Parser)]
#[command(name = "dsf", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a federation of sites on localhost, ping between all of them and print the results.
    Demo(demo::DemoArgs),
    /// Run a site's FHIR server.
    Fhir(Box<FhirSettings>),
    /// Run a site's process engine service (its FHIR server runs apart).
    Bpe(site::SiteArgs),
    /// Run a site: its FHIR server and its process engine service in one process.
    Site(site::SiteArgs),
    /// BPMN model tools: check models as a deployment would.
    #[command(subcommand)]
    Bpmn(bpmn_check::BpmnCommand),
    /// Privacy tools: Bloom-filter encodings, record linkage, keys, sealed envelopes.
    Privacy(dsf_privacy::cli::PrivacyArgs),
    /// Certificates: a development CA, server and client certificates, thumbprints.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Local federations of DSF sites for development and tests.
    #[command(subcommand)]
    Federation(federation::FederationCommand),
    /// Measure throughput and latency beside baselines.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
enum BenchCommand {
    #[command(flatten)]
    Server(dsf_bench::BenchCommand),
    /// The ping process between two sites: round trips, pings per second, the demo's time.
    Ping(bench_ping::PingBenchArgs),
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line: the context and every cause, separated by colons.
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Every TLS connection of the process, client or server, uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            // A benchmark's requests would drown its figures in request logs.
            let quiet = matches!(cli.command, Command::Bench(_) | Command::Demo(_));
            EnvFilter::new(if quiet { "warn" } else { "info" })
        }))
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Fhir(settings) => settings.run(shutdown_signal()).await.context("FHIR server"),
            Command::Bpe(args) => site::run_bpe(&args.config, shutdown_signal()).await,
            Command::Site(args) => site::run_site(&args.config, shutdown_signal()).await,
            Command::Bench(BenchCommand::Server(command)) => dsf_bench::run(command).await,
            Command::Bench(BenchCommand::Ping(args)) => bench_ping::run(&args).await,
            Command::Demo(args) => demo::run(&args, shutdown_signal()).await,
            Command::Privacy(args) => dsf_privacy::cli::run(args),
            Command::Bpmn(command) => bpmn_check::run(command),
            Command::Pki(command) => pki::run(command),
            Command::Federation(command) => federation::run(command),
        }
    })
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}
