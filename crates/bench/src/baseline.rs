//! The baselines: what HTTP and the database cost without the FHIR server's work.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use dsf_fhir_store::StoreConfig;
use sqlx::{AssertSqlSafe, Connection};

use crate::load::{self, Stats};

/// Serves `body` at `/task` on a loopback port; returns the URL.
pub async fn bare_handler(body: Vec<u8>) -> anyhow::Result<String> {
    let body: Arc<[u8]> = body.into();
    let app = Router::new().route(
        "/task",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [("content-type", "application/fhir+json;charset=UTF-8")],
                    body.to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/task", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// Inserts `total` rows like the store's resource rows, one transaction each, with the store's
/// durability settings, into a table of its own in the same database.
pub async fn raw_inserts(
    config: &StoreConfig,
    body: &str,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<Stats> {
    const CREATE: &str = "CREATE TABLE IF NOT EXISTS bench_raw (res_type TEXT NOT NULL, res_id TEXT NOT NULL, version BIGINT NOT NULL, last_updated BIGINT NOT NULL, body TEXT)";
    match config {
        StoreConfig::Sqlite { path } => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(std::time::Duration::from_secs(30));
            // One writer connection, as the store has.
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            sqlx::query(CREATE).execute(&pool).await?;
            let body = Arc::new(body.to_owned());
            load::run(concurrency, total, move |i| {
                let (pool, body) = (pool.clone(), body.clone());
                async move {
                    sqlx::query("INSERT INTO bench_raw VALUES ('Task', ?, 1, ?, ?)")
                        .bind(uuid::Uuid::new_v4().to_string())
                        .bind(i as i64)
                        .bind(body.as_str())
                        .execute(&pool)
                        .await?;
                    Ok(())
                }
            })
            .await
        }
        StoreConfig::Postgres { url } => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(concurrency.max(2) as u32)
                .connect(url)
                .await?;
            sqlx::query(AssertSqlSafe(CREATE.replace("body TEXT", "body JSONB")))
                .execute(&pool)
                .await?;
            let body = Arc::new(body.to_owned());
            load::run(concurrency, total, move |i| {
                let (pool, body) = (pool.clone(), body.clone());
                async move {
                    sqlx::query("INSERT INTO bench_raw VALUES ('Task', $1, 1, $2, $3::jsonb)")
                        .bind(uuid::Uuid::new_v4().to_string())
                        .bind(i as i64)
                        .bind(body.as_str())
                        .execute(&pool)
                        .await?;
                    Ok(())
                }
            })
            .await
        }
    }
}

/// Creates a fresh database on the PostgreSQL server at `admin_url`; returns its URL.
pub async fn fresh_postgres(admin_url: &str) -> anyhow::Result<(String, String)> {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {admin_url}"))?;
    let name = format!("dsf_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    Ok((format!("{base}/{name}"), name))
}

/// Drops a database made by [`fresh_postgres`].
pub async fn drop_postgres(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// Vacuums and analyzes a freshly loaded PostgreSQL database, as autovacuum does within minutes in
/// a running system, so that index-only scans and plans reflect a settled table.
pub async fn settle_postgres(url: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    Ok(())
}
