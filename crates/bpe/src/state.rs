//! What the engine service keeps in its database besides the engine's own tables: per resource
//! type the `meta.lastUpdated` of the last resource handled (where catch-up searches resume), and
//! the Tasks claimed (set in progress) but not yet handed to the engine, so that a crash between
//! the two loses no Task.

use std::path::Path;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::BpeError;

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS bpe_last_events (resource_type TEXT PRIMARY KEY, last_event TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bpe_claims (task_id TEXT PRIMARY KEY, business_key TEXT NOT NULL)",
];

/// The service's tables, on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub enum ServiceState {
    /// Embedded SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Runs one statement on either database: `$1`, `$2` placeholders work on both.
macro_rules! on_db {
    ($self:expr, |$pool:ident| $body:expr) => {
        match $self {
            ServiceState::Sqlite($pool) => $body,
            ServiceState::Postgres($pool) => $body,
        }
    };
}

impl ServiceState {
    /// Opens (and creates) the tables in the SQLite file `path`.
    pub async fn open_sqlite(path: &Path) -> Result<ServiceState, BpeError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        let state = ServiceState::Sqlite(pool);
        state.migrate().await?;
        Ok(state)
    }

    /// Opens (and creates) the tables in the PostgreSQL database at `url`.
    pub async fn open_postgres(url: &str) -> Result<ServiceState, BpeError> {
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
        let state = ServiceState::Postgres(pool);
        state.migrate().await?;
        Ok(state)
    }

    async fn migrate(&self) -> Result<(), BpeError> {
        for statement in SCHEMA {
            on_db!(self, |pool| sqlx::query(statement)
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }

    /// The `meta.lastUpdated` of the last `resource_type` handled.
    pub async fn last_event(&self, resource_type: &str) -> Result<Option<String>, BpeError> {
        let sql = "SELECT last_event FROM bpe_last_events WHERE resource_type = $1";
        Ok(on_db!(self, |pool| sqlx::query_scalar(sql)
            .bind(resource_type)
            .fetch_optional(pool)
            .await)?)
    }

    /// Notes that a `resource_type` last updated at `at` was handled (a later time only).
    pub async fn set_last_event(&self, resource_type: &str, at: &str) -> Result<(), BpeError> {
        let later = match (self.last_event(resource_type).await?, parse(at)) {
            (Some(last), Some(at)) => parse(&last).is_none_or(|last| at > last),
            (_, at) => at.is_some(),
        };
        if later {
            let sql = "INSERT INTO bpe_last_events (resource_type, last_event) VALUES ($1, $2) \
                       ON CONFLICT (resource_type) DO UPDATE SET last_event = excluded.last_event";
            on_db!(self, |pool| sqlx::query(sql)
                .bind(resource_type)
                .bind(at)
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }

    /// Notes that Task `task_id` is being set in progress, before the engine has it.
    pub async fn claim(&self, task_id: &str, business_key: &str) -> Result<(), BpeError> {
        let sql = "INSERT INTO bpe_claims (task_id, business_key) VALUES ($1, $2) \
                   ON CONFLICT (task_id) DO UPDATE SET business_key = excluded.business_key";
        on_db!(self, |pool| sqlx::query(sql)
            .bind(task_id)
            .bind(business_key)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Notes that Task `task_id` was handed to the engine (or failed).
    pub async fn release(&self, task_id: &str) -> Result<(), BpeError> {
        let sql = "DELETE FROM bpe_claims WHERE task_id = $1";
        on_db!(self, |pool| sqlx::query(sql)
            .bind(task_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The Tasks claimed and not released: (Task id, business key).
    pub async fn claims(&self) -> Result<Vec<(String, String)>, BpeError> {
        let sql = "SELECT task_id, business_key FROM bpe_claims ORDER BY task_id";
        Ok(on_db!(self, |pool| sqlx::query_as(sql)
            .fetch_all(pool)
            .await)?)
    }

    /// Closes the connections.
    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await);
    }
}

fn parse(instant: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(instant, &time::format_description::well_known::Rfc3339).ok()
}
