//! The in-memory SQLite database that matches versions against searches
//! ([`crate::Store::matching`]): the search's own SQL over tables that hold just those versions
//! and their index rows, so matching has the search's semantics on either backend.
//!
//! It runs on `rusqlite`, in the calling thread: sqlx hands every SQLite statement to a worker
//! thread, and those thread switches cost several times what matching a few versions in memory
//! does. The statements' text depends on the search alone, so each is prepared once and cached.

use std::sync::Mutex;

use rusqlite::types::Value;

use crate::StoreError;
use crate::db::{Arg, Sql};

/// Distinct searches whose prepared statements are kept.
const PREPARED: usize = 64;

/// One in-memory SQLite connection, used in turn.
#[derive(Debug)]
pub(crate) struct Matcher(Mutex<rusqlite::Connection>);

impl Matcher {
    pub(crate) fn open() -> Result<Matcher, StoreError> {
        let connection = rusqlite::Connection::open_in_memory().map_err(matching_failed)?;
        connection.set_prepared_statement_cache_capacity(PREPARED);
        Ok(Matcher(Mutex::new(connection)))
    }

    /// Runs `sql` (SQLite dialect, reading no stored table) and returns the integer of each row.
    pub(crate) fn fetch_ints(&self, sql: Sql) -> Result<Vec<i64>, StoreError> {
        let (text, args) = sql.into_parts();
        let connection = self
            .0
            .lock()
            .map_err(|_| StoreError::Matching("an earlier matching panicked".to_owned()))?;
        let mut statement = connection.prepare_cached(&text).map_err(matching_failed)?;
        let args = rusqlite::params_from_iter(args.into_iter().map(value));
        let rows = statement.query_map(args, |row| row.get::<_, Option<i64>>(0));
        let mut ints = Vec::new();
        for row in rows.map_err(matching_failed)? {
            ints.extend(row.map_err(matching_failed)?);
        }
        Ok(ints)
    }
}

fn value(arg: Arg) -> Value {
    match arg {
        Arg::Text(text) => Value::Text(text),
        Arg::Int(int) => Value::Integer(int),
        Arg::Bytes(bytes) => Value::Blob(bytes),
        Arg::NullText | Arg::NullInt | Arg::NullBytes => Value::Null,
    }
}

fn matching_failed(e: rusqlite::Error) -> StoreError {
    StoreError::Matching(e.to_string())
}
