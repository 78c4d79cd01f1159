//! The stores every benchmark runs on: embedded SQLite, then a scratch PostgreSQL database.

use dsf_fhir_store::StoreConfig;

use crate::baseline;

/// Which stores to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// PostgreSQL server to create a scratch database on.
    #[arg(
        long,
        env = "DSF_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub postgres_url: String,
    /// Measure SQLite only.
    #[arg(long)]
    pub sqlite_only: bool,
}

/// Runs `measure` on a new SQLite store and, unless SQLite only, on a scratch PostgreSQL
/// database (dropped afterwards); returns the figures in that order.
pub(crate) async fn on_each<T, Fut>(
    args: &StoreArgs,
    measure: impl Fn(&'static str, StoreConfig) -> Fut,
) -> anyhow::Result<Vec<T>>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let dir = tempfile::tempdir()?;
    let sqlite = StoreConfig::Sqlite {
        path: dir.path().join("fhir.db"),
    };
    let mut figures = vec![measure("sqlite", sqlite).await?];
    if !args.sqlite_only {
        let (url, name) = baseline::fresh_postgres(&args.postgres_url).await?;
        let result = measure("postgres", StoreConfig::Postgres { url }).await;
        baseline::drop_postgres(&args.postgres_url, &name).await?;
        figures.push(result?);
    }
    Ok(figures)
}
