//! The two database backends behind one small execution API.
//!
//! Every FHIR storage operation is written once, as SQL built with [`Sql`] from static fragments
//! and bound arguments; this module runs it on SQLite or PostgreSQL. The backends differ only in
//! their schema (see `migrations/`), their placeholder syntax and how the JSON column is written
//! and read, which [`Dialect`] captures.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::sync::Arc;

use sqlx::{
    AssertSqlSafe, Connection, Postgres, Row, SqlSafeStr, Sqlite, SqliteConnection, Transaction,
};

use crate::changes::{self, Change, Written};
use crate::group_commit::{WriteSession, Writer};

use crate::StoreError;

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound SQL argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    NullText,
    NullInt,
    NullBytes,
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}
impl From<i64> for Arg {
    fn from(i: i64) -> Self {
        Arg::Int(i)
    }
}
impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Self {
        s.map_or(Arg::NullText, Arg::Text)
    }
}
impl From<Option<i64>> for Arg {
    fn from(i: Option<i64>) -> Self {
        i.map_or(Arg::NullInt, Arg::Int)
    }
}
impl From<Option<Vec<u8>>> for Arg {
    fn from(b: Option<Vec<u8>>) -> Self {
        b.map_or(Arg::NullBytes, Arg::Bytes)
    }
}

/// A SQL statement under construction: static text plus bound arguments.
///
/// Text can only be appended from `&'static str` fragments (and placeholders this type writes
/// itself), so values from requests always travel as bound arguments, never as SQL text.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    dialect: Dialect,
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Sql {
            dialect,
            text: String::new(),
            args: Vec::new(),
        }
    }

    /// Appends static SQL text.
    pub(crate) fn push(&mut self, fragment: &'static str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub(crate) fn bind(&mut self, arg: impl Into<Arg>) -> &mut Self {
        self.args.push(arg.into());
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.args.len().to_string());
            }
        }
        self
    }

    /// The statement's text and its arguments.
    pub(crate) fn into_parts(self) -> (String, Vec<Arg>) {
        (self.text, self.args)
    }

    /// Appends a placeholder for a JSON document (JSONB on PostgreSQL).
    pub(crate) fn bind_json(&mut self, json: String) -> &mut Self {
        self.bind(json);
        if self.dialect == Dialect::Postgres {
            self.text.push_str("::jsonb");
        }
        self
    }

    /// Appends the expression that reads the JSON column `body` as text.
    pub(crate) fn push_body(&mut self, column: &'static str) -> &mut Self {
        self.text.push_str(column);
        if self.dialect == Dialect::Postgres {
            self.text.push_str("::text");
        }
        self
    }
}

/// A column value read back.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
}

impl Val {
    pub(crate) fn text(self) -> Option<String> {
        match self {
            Val::Text(t) => t,
            _ => None,
        }
    }
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => *i,
            _ => None,
        }
    }
    pub(crate) fn bytes(self) -> Option<Vec<u8>> {
        match self {
            Val::Bytes(b) => b,
            _ => None,
        }
    }
}

/// The type of a selected column.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Col {
    Text,
    Int,
    Bytes,
}

/// An open database: pools per backend.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// SQLite: one writer connection (SQLite serialises writers anyway) and a pool of readers.
    Sqlite {
        writer: Arc<Writer>,
        readers: sqlx::SqlitePool,
    },
    Postgres(sqlx::PgPool),
}

/// A unit of work: a write transaction or a reader connection.
pub(crate) enum Session {
    SqliteWrite(WriteSession),
    PostgresTx(Transaction<'static, Postgres>),
    SqliteRead(PoolConnection<Sqlite>),
    PostgresRead(PoolConnection<Postgres>),
}

fn migrator(dialect: Dialect) -> Migrator {
    let sql = match dialect {
        Dialect::Sqlite => include_str!("../migrations/sqlite/0001_resources.sql"),
        Dialect::Postgres => include_str!("../migrations/postgres/0001_resources.sql"),
    };
    Migrator::with_migrations(vec![Migration::new(
        1,
        Cow::Borrowed("resources, history and search indexes"),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )])
}

impl Db {
    /// Opens (creating if needed) the SQLite database file at `path` and migrates it; commits are
    /// announced on `feed`.
    pub(crate) async fn open_sqlite(
        path: &std::path::Path,
        readers: u32,
        feed: tokio::sync::broadcast::Sender<Change>,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let mut writer = SqliteConnection::connect_with(&options).await?;
        migrator(Dialect::Sqlite).run(&mut writer).await?;
        let writer = Writer::new(writer, feed);
        let readers = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .acquire_timeout(Duration::from_secs(60))
            // A connection to a local file does not break while idle: no ping before each use.
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Db::Sqlite { writer, readers })
    }

    /// Connects to PostgreSQL at `url` and migrates the database.
    pub(crate) async fn open_postgres(url: &str, connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        migrator(Dialect::Postgres).run(&pool).await?;
        Ok(Db::Postgres(pool))
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite { .. } => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Begins a write transaction (READ COMMITTED on PostgreSQL).
    pub(crate) async fn begin(&self) -> Result<Session, StoreError> {
        Ok(match self {
            Db::Sqlite { writer, .. } => Session::SqliteWrite(writer.begin().await?),
            Db::Postgres(pool) => Session::PostgresTx(pool.begin().await?),
        })
    }

    /// A connection for reading outside any write transaction.
    pub(crate) async fn reader(&self) -> Result<Session, StoreError> {
        Ok(match self {
            Db::Sqlite { readers, .. } => Session::SqliteRead(readers.acquire().await?),
            Db::Postgres(pool) => Session::PostgresRead(pool.acquire().await?),
        })
    }

    /// Closes all connections.
    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite { writer, readers } => {
                readers.close().await;
                writer.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
                Arg::Bytes(b) => q.bind(b),
                Arg::NullText => q.bind(None::<String>),
                Arg::NullInt => q.bind(None::<i64>),
                Arg::NullBytes => q.bind(None::<Vec<u8>>),
            };
        }
        q
    }};
}

macro_rules! read_row {
    ($row:expr, $cols:expr) => {{
        let row = $row;
        let mut out = Vec::with_capacity($cols.len());
        for (i, col) in $cols.iter().enumerate() {
            out.push(match col {
                Col::Text => Val::Text(row.try_get::<Option<String>, _>(i)?),
                Col::Int => Val::Int(row.try_get::<Option<i64>, _>(i)?),
                Col::Bytes => Val::Bytes(row.try_get::<Option<Vec<u8>>, _>(i)?),
            });
        }
        out
    }};
}

impl Session {
    /// Runs a statement, returning the number of rows affected.
    pub(crate) async fn execute(&mut self, sql: Sql) -> Result<u64, StoreError> {
        let Sql { text, args, .. } = sql;
        let text = AssertSqlSafe(text);
        Ok(match self {
            Session::SqliteWrite(w) => bind_all!(sqlx::query(text), args)
                .execute(w.conn()?)
                .await?
                .rows_affected(),
            Session::PostgresTx(tx) => bind_all!(sqlx::query(text), args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Session::SqliteRead(c) => bind_all!(sqlx::query(text), args)
                .execute(&mut **c)
                .await?
                .rows_affected(),
            Session::PostgresRead(c) => bind_all!(sqlx::query(text), args)
                .execute(&mut **c)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query and reads every row as `cols`.
    pub(crate) async fn fetch(
        &mut self,
        sql: Sql,
        cols: &[Col],
    ) -> Result<Vec<Vec<Val>>, StoreError> {
        let Sql { text, args, .. } = sql;
        let text = AssertSqlSafe(text);
        let mut out = Vec::new();
        match self {
            Session::SqliteWrite(w) => {
                for row in bind_all!(sqlx::query(text), args)
                    .fetch_all(w.conn()?)
                    .await?
                {
                    out.push(read_row!(row, cols));
                }
            }
            Session::PostgresTx(tx) => {
                for row in bind_all!(sqlx::query(text), args)
                    .fetch_all(&mut **tx)
                    .await?
                {
                    out.push(read_row!(row, cols));
                }
            }
            Session::SqliteRead(c) => {
                for row in bind_all!(sqlx::query(text), args)
                    .fetch_all(&mut **c)
                    .await?
                {
                    out.push(read_row!(row, cols));
                }
            }
            Session::PostgresRead(c) => {
                for row in bind_all!(sqlx::query(text), args)
                    .fetch_all(&mut **c)
                    .await?
                {
                    out.push(read_row!(row, cols));
                }
            }
        }
        Ok(out)
    }

    /// Runs a query that returns one integer (e.g. `count(*)`).
    pub(crate) async fn fetch_int(&mut self, sql: Sql) -> Result<i64, StoreError> {
        let rows = self.fetch(sql, &[Col::Int]).await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(Val::int)
            .unwrap_or(0))
    }

    /// Commits a write transaction and announces `changes` on the change feed once committed; a
    /// reader session is simply released.
    pub(crate) async fn commit(mut self, changes: Vec<Written>) -> Result<(), StoreError> {
        if matches!(self, Session::PostgresTx(_)) && !changes.is_empty() {
            changes::notify(&mut self, &changes).await?;
        }
        match self {
            Session::SqliteWrite(w) => w.commit(changes).await?,
            Session::PostgresTx(tx) => tx.commit().await?,
            Session::SqliteRead(_) | Session::PostgresRead(_) => {}
        }
        Ok(())
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Session::SqliteWrite(_) | Session::SqliteRead(_) => Dialect::Sqlite,
            Session::PostgresTx(_) | Session::PostgresRead(_) => Dialect::Postgres,
        }
    }

    pub(crate) fn sql(&self) -> Sql {
        Sql::new(self.dialect())
    }
}
