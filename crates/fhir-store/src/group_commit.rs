//! Group commit for the embedded SQLite store.
//!
//! SQLite has one writer at a time, and every commit waits for the disk (`synchronous=FULL`).
//! Instead of one database transaction per write, the writer connection keeps a database
//! transaction open while writers queue for it: each write runs inside a savepoint of its own
//! (released when it commits, rolled back when it is dropped), and the last writer of a run
//! commits for everyone, after which all of them are told the outcome. A write is acknowledged
//! only once the commit that holds it is on disk, so durability is unchanged; only the number of
//! disk flushes goes down. After each real commit the writes it holds are announced on the change
//! feed, in the order they were made; a write that is rolled back is never announced.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::SqliteConnection;
use tokio::sync::{Mutex, OwnedMutexGuard, broadcast, oneshot};

use crate::StoreError;
use crate::changes::{Change, Written, publish};

/// Most writes one commit holds, so that a writer under constant load is not kept waiting.
const MAX_BATCH: usize = 32;

/// The writer connection and the writes waiting for it.
#[derive(Debug)]
pub(crate) struct Writer {
    state: Arc<Mutex<WriterState>>,
    waiting: AtomicUsize,
}

/// A write released into the open transaction: who waits for the commit, and what to announce.
#[derive(Debug)]
struct Pending {
    done: oneshot::Sender<Result<(), String>>,
    changes: Vec<Written>,
}

#[derive(Debug)]
struct WriterState {
    conn: SqliteConnection,
    /// A database transaction is open.
    open: bool,
    /// Writes released into the open transaction, in order, waiting for its commit.
    pending: Vec<Pending>,
    /// The change feed.
    feed: broadcast::Sender<Change>,
    /// A dropped write may not have been undone: the open transaction must not be committed.
    poisoned: bool,
}

/// One write: a savepoint in the writer's open transaction.
#[derive(Debug)]
pub(crate) struct WriteSession {
    guard: Option<OwnedMutexGuard<WriterState>>,
    writer: Arc<Writer>,
}

async fn run(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(conn).await.map(|_| ())
}

impl WriterState {
    /// Rolls the open transaction back and fails every write waiting for its commit.
    async fn abandon(&mut self) {
        if self.open {
            let _ = run(&mut self.conn, "ROLLBACK").await;
        }
        self.open = false;
        self.poisoned = false;
        for write in self.pending.drain(..) {
            let _ = write
                .done
                .send(Err("the transaction was rolled back".into()));
        }
    }

    /// Commits the open transaction and tells every waiting write the outcome.
    async fn flush(&mut self) -> Result<(), sqlx::Error> {
        if self.poisoned {
            self.abandon().await;
            return Ok(());
        }
        let result = if self.open {
            run(&mut self.conn, "COMMIT").await
        } else {
            Ok(())
        };
        if result.is_err() {
            let _ = run(&mut self.conn, "ROLLBACK").await;
        }
        self.open = false;
        let outcome = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
        for write in self.pending.drain(..) {
            if outcome.is_ok() {
                publish(&self.feed, write.changes);
            }
            let _ = write.done.send(outcome.clone());
        }
        result
    }
}

impl Writer {
    /// The writer over `conn`, announcing committed writes on `feed`.
    pub(crate) fn new(conn: SqliteConnection, feed: broadcast::Sender<Change>) -> Arc<Writer> {
        Arc::new(Writer {
            state: Arc::new(Mutex::new(WriterState {
                conn,
                open: false,
                pending: Vec::new(),
                feed,
                poisoned: false,
            })),
            waiting: AtomicUsize::new(0),
        })
    }

    /// Waits for the writer connection and opens a savepoint for one write.
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<WriteSession, StoreError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.state.clone().lock_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if guard.poisoned {
            guard.abandon().await;
        }
        let started = async {
            if !guard.open {
                run(&mut guard.conn, "BEGIN IMMEDIATE").await?;
                guard.open = true;
            }
            run(&mut guard.conn, "SAVEPOINT write").await
        }
        .await;
        if let Err(e) = started {
            self.settle(&mut guard).await;
            return Err(e.into());
        }
        Ok(WriteSession {
            guard: Some(guard),
            writer: self.clone(),
        })
    }

    /// Commits what is pending when no write is queued to add to it (or the batch is full).
    async fn settle(&self, state: &mut WriterState) {
        let nobody_follows = self.waiting.load(Ordering::SeqCst) == 0;
        if state.open
            && (nobody_follows || state.pending.len() >= MAX_BATCH)
            && let Err(e) = state.flush().await
        {
            tracing::error!(error = %e, "commit failed");
        }
    }

    /// Commits anything pending (the connection closes when the writer is dropped).
    pub(crate) async fn close(&self) {
        let _ = self.state.lock().await.flush().await;
    }
}

impl WriteSession {
    /// The writer connection.
    pub(crate) fn conn(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        self.guard
            .as_mut()
            .map(|g| &mut g.conn)
            .ok_or_else(|| StoreError::Invalid("write session already ended".into()))
    }

    /// Releases the savepoint and waits until a commit holding it is on disk; `changes` are
    /// announced after that commit.
    pub(crate) async fn commit(mut self, changes: Vec<Written>) -> Result<(), StoreError> {
        let Some(mut guard) = self.guard.take() else {
            return Err(StoreError::Invalid("write session already ended".into()));
        };
        if let Err(e) = run(&mut guard.conn, "RELEASE write").await {
            let _ = run(&mut guard.conn, "ROLLBACK TO write").await;
            let _ = run(&mut guard.conn, "RELEASE write").await;
            self.writer.settle(&mut guard).await;
            return Err(e.into());
        }
        let (done, outcome) = oneshot::channel();
        guard.pending.push(Pending { done, changes });
        self.writer.settle(&mut guard).await;
        drop(guard);
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Commit(message)),
            Err(_) => Err(StoreError::Commit("the commit was abandoned".into())),
        }
    }
}

impl Drop for WriteSession {
    /// A write dropped without commit is rolled back to its savepoint; the writes before it in
    /// the open transaction stay, and are committed if nobody follows.
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        // Until the undo below has run, nothing may commit this write's changes.
        guard.poisoned = true;
        let writer = self.writer.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let undone = async {
                run(&mut guard.conn, "ROLLBACK TO write").await?;
                run(&mut guard.conn, "RELEASE write").await
            }
            .await;
            if undone.is_ok() {
                guard.poisoned = false;
            } else {
                // The transaction is unusable: give up on it and tell everyone waiting.
                guard.abandon().await;
            }
            writer.settle(&mut guard).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    async fn insert(session: &mut WriteSession, value: &str) {
        sqlx::query("INSERT INTO t (x) VALUES (?)")
            .bind(value.to_owned())
            .execute(session.conn().expect("open session"))
            .await
            .expect("insert");
    }

    #[tokio::test]
    async fn a_write_dropped_where_it_cannot_be_undone_is_never_committed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let mut conn = SqliteConnection::connect(&url).await.expect("connect");
        sqlx::raw_sql("CREATE TABLE t (x TEXT)")
            .execute(&mut conn)
            .await
            .expect("create table");
        let writer = Writer::new(conn, broadcast::channel(1).0);

        let mut first = writer.begin().await.expect("begin");
        insert(&mut first, "committed").await;
        first.commit(Vec::new()).await.expect("commit");

        let mut dropped = writer.begin().await.expect("begin");
        insert(&mut dropped, "dropped").await;
        // Dropped on a thread without a runtime: the undo cannot be scheduled.
        std::thread::spawn(move || drop(dropped))
            .join()
            .expect("thread");

        let mut next = writer.begin().await.expect("begin");
        insert(&mut next, "next").await;
        next.commit(Vec::new()).await.expect("commit");
        writer.close().await;

        let mut check = SqliteConnection::connect(&url).await.expect("connect");
        let rows: Vec<(String,)> = sqlx::query_as("SELECT x FROM t ORDER BY rowid")
            .fetch_all(&mut check)
            .await
            .expect("select");
        let values: Vec<&str> = rows.iter().map(|(x,)| x.as_str()).collect();
        assert_eq!(values, vec!["committed", "next"]);
    }
}
