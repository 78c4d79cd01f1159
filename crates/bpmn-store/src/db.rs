//! Connection pools for the two databases and how they are opened.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::SqlStoreError;
use crate::migrations::migrator;

/// How far a SQLite commit is durable. (PostgreSQL follows its server's settings.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A commit survives the engine's process being killed; a power failure may lose the last
    /// commits but leaves the database consistent (WAL with `synchronous = NORMAL`).
    #[default]
    ProcessCrash,
    /// A commit survives a power failure too: every commit waits for the disk
    /// (`synchronous = FULL`).
    PowerFailure,
}

/// An open database.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The statements that differ between the databases.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Starts a write transaction: on SQLite it takes the write lock at once, so that a
    /// read-then-write never fails for a writer that came in between.
    pub(crate) begin_write: &'static str,
    /// Appended to a `SELECT` to lock the rows read until the transaction ends, where the
    /// database locks rows.
    pub(crate) lock_rows: &'static str,
    /// Leases due instances; see [`crate::store::SqlStore`].
    pub(crate) acquire_due: &'static str,
    /// Whether a write transaction may update rows without locking them first in a fixed
    /// order: true where it holds the whole database (SQLite), so that no deadlock can arise.
    pub(crate) unlocked_updates: bool,
}

/// Where the group commit writes: on SQLite a connection of its own (the database has one writer
/// at a time anyway, and a pool would test the connection around every use), on PostgreSQL the
/// pool.
#[derive(Debug)]
pub(crate) enum Writer {
    Sqlite(SqliteConnection),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds and `$dialect` to its
/// [`Dialect`]; the body is written once and compiled for each database. With `@Writer` first,
/// `$db` is a [`Writer`] and `$pool` its connection or pool.
macro_rules! on_pool {
    ($db:expr, $pool:ident, $dialect:ident => $body:expr) => {
        $crate::db::on_pool!(@Db $db, $pool, $dialect => $body)
    };
    (@$kind:ident $db:expr, $pool:ident, $dialect:ident => $body:expr) => {
        match $db {
            $crate::db::$kind::Sqlite($pool) => {
                let $dialect = &$crate::store::SQLITE;
                $body
            }
            $crate::db::$kind::Postgres($pool) => {
                let $dialect = &$crate::store::POSTGRES;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

impl Db {
    /// Opens (creating if needed) a SQLite file in WAL mode and migrates it; returns the pool
    /// and the group commit's connection.
    pub(crate) async fn open_sqlite(
        path: &Path,
        durability: Durability,
    ) -> Result<(Self, Writer), SqlStoreError> {
        let synchronous = match durability {
            Durability::ProcessCrash => SqliteSynchronous::Normal,
            Durability::PowerFailure => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(30));
        // a file does not go away under an open connection: no test query before each use
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        migrator(false).run(&pool).await?;
        let writer = SqliteConnection::connect_with(&options).await?;
        Ok((Db::Sqlite(pool), Writer::Sqlite(writer)))
    }

    /// Connects to PostgreSQL and migrates the database; returns the pool and the group
    /// commit's handle on it.
    pub(crate) async fn open_postgres(url: &str) -> Result<(Self, Writer), SqlStoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(PgConnectOptions::from_str(url)?)
            .await?;
        migrator(true).run(&pool).await?;
        Ok((Db::Postgres(pool.clone()), Writer::Postgres(pool)))
    }
}
