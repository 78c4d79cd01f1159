//! `dsf bench`: figures for the FHIR server, each beside the baseline that bounds it.
//!
//! `dsf bench fhir` starts a FHIR server on loopback for each store (embedded SQLite and
//! PostgreSQL), drives it over HTTP/1.1 keep-alive with concurrent clients and prints creates/s,
//! reads/s, searches/s with latency percentiles over a store of many Tasks, and 10-entry
//! transactions/s. Beside them: a bare HTTP handler returning the same bytes (the ceiling for
//! reads) and raw single-row inserts into the same database with the same durability (the ceiling
//! for creates).
//!
//! `dsf bench subscriptions` measures websocket subscriptions: Task creates with and without 10
//! bound clients, the events delivered per second, and the latency from a create's response to
//! its event.
//!
//! `dsf bench validation` measures what profile validation costs: creates/s of the ping/pong
//! plugin's ping Task on a server that validates beside one that does not, in alternating rounds,
//! and validations/s of the same Task in-process.

mod baseline;
mod fhir;
mod load;
mod stores;
mod subscriptions;
mod validation;

pub use fhir::FhirBenchArgs;
pub use stores::StoreArgs;
pub use subscriptions::SubscriptionBenchArgs;
pub use validation::ValidationBenchArgs;

/// The benchmarks `dsf bench` runs.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// The FHIR server on SQLite and PostgreSQL.
    Fhir(FhirBenchArgs),
    /// Websocket subscriptions: create rate with and without subscribers, delivery latency.
    Subscriptions(SubscriptionBenchArgs),
    /// Profile validation: Task creates validated and unvalidated, validations in-process.
    Validation(ValidationBenchArgs),
}

/// Runs a benchmark and prints its figures.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    install_crypto_provider();
    match command {
        BenchCommand::Fhir(args) => fhir::run(&args).await.map(|_| ()),
        BenchCommand::Subscriptions(args) => subscriptions::run(&args).await.map(|_| ()),
        BenchCommand::Validation(args) => validation::run(&args).await.map(|_| ()),
    }
}

/// Makes ring the process's TLS provider, as the HTTP client requires (installing twice is
/// harmless).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
