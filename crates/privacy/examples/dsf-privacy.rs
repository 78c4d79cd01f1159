//! Stand-alone `dsf privacy` for scripts and benchmarks (the `dsf` binary mounts the same
//! arguments): `cargo run --release -p dsf-privacy --example dsf-privacy -- encode ...`.

use clap::Parser;

/// `dsf privacy` as its own program.
#[derive(Parser)]
#[command(name = "dsf-privacy")]
struct Cli {
    #[command(flatten)]
    args: dsf_privacy::cli::PrivacyArgs,
}

fn main() -> anyhow::Result<()> {
    dsf_privacy::cli::run(Cli::parse().args)
}
