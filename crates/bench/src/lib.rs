//! `dsf bench`: figures for the FHIR server, each beside the baseline that bounds it.
//!
//! `dsf bench fhir` starts a FHIR server on loopback for each store (embedded SQLite and
//! PostgreSQL), drives it over HTTP/1.1 keep-alive with concurrent clients and prints creates/s,
//! reads/s, searches/s with latency percentiles over a store of many Tasks, and 10-entry
//! transactions/s. Beside them: a bare HTTP handler returning the same bytes (the ceiling for
//! reads) and raw single-row inserts into the same database with the same durability (the ceiling
//! for creates).

mod baseline;
mod fhir;
mod load;

pub use fhir::FhirBenchArgs;

/// The benchmarks `dsf bench` runs.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// The FHIR server on SQLite and PostgreSQL.
    Fhir(FhirBenchArgs),
}

/// Runs a benchmark and prints its figures.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Fhir(args) => fhir::run(&args).await.map(|_| ()),
    }
}
