//! Group commit: engine commits that arrive together share one database transaction.
//!
//! A commit queues its rows and waits for the writer. Whoever holds the writer writes everything
//! queued by then in one transaction, so that one WAL flush serves all of them, and tells each
//! commit its outcome; commits arriving meanwhile queue for the next transaction. Under load
//! (many instances committing at once) commits thus share flushes; alone, a commit is written at
//! once. A commit is acknowledged only after the transaction holding it has committed, so
//! durability is unchanged.
//!
//! A batch is first written as if every record followed its stored revision, as nearly all do:
//! a batch of new instances only is one multi-row `INSERT` outside a transaction, which an
//! existing row fails as a whole; other batches take one multi-row insert of the new instances
//! and, on SQLite, one multi-row update of the stored ones, each writing only rows that follow,
//! so a transaction takes three or four statements whatever its size. If a row was not written,
//! that is undone and the batch is checked: the stored revisions of its instances are read (rows
//! locked on PostgreSQL, in id order so that engines sharing the database do not deadlock), a
//! commit whose revisions do not follow them is left out and reported as a conflict, and the
//! others are written with one multi-row upsert.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use dsf_bpmn::store::CommitError;
use sqlx::{Acquire, Connection, QueryBuilder};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::columns::{self, Written};
use crate::db::{Writer, on_pool};
use crate::error::SqlStoreError;

/// Rows per statement, well below both databases' limits on bound parameters.
const ROWS_PER_STATEMENT: usize = 256;

/// How often a transaction is tried again when a row it meant to write was inserted by another
/// engine after its revisions were read.
const ATTEMPTS: usize = 3;

/// A multi-row `INSERT` of `$rows` (`&[&Written]`) into `bpmn_instances`, to which a conflict
/// clause may be pushed; a macro, so that one text serves both databases' query builders.
macro_rules! insert {
    ($rows:expr) => {{
        let mut query = QueryBuilder::new(UPSERT);
        query.push_values($rows, |mut row, r| {
            row.push_bind(r.id.to_string())
                .push_bind(r.key.as_str())
                .push_bind(r.version)
                .push_bind(r.business_key.as_deref())
                .push_bind(r.state)
                .push_bind(r.delete_reason.as_deref())
                .push_bind(r.next_due)
                .push_bind(r.revision)
                .push_bind(r.data.as_slice());
        });
        query
    }};
}

/// Writes the rows that follow their stored revision and returns the ids written. A row the
/// database holds at the same or a later revision (inserted concurrently) is not written.
const UPSERT: &str = "INSERT INTO bpmn_instances (id, definition_key, definition_version, \
    business_key, state, delete_reason, next_due, revision, data) ";
const UPSERT_CONFLICT: &str = " ON CONFLICT (id) DO UPDATE SET \
    business_key = excluded.business_key, state = excluded.state, \
    delete_reason = excluded.delete_reason, next_due = excluded.next_due, \
    revision = excluded.revision, data = excluded.data, lease_owner = NULL, lease_until = NULL \
    WHERE bpmn_instances.revision < excluded.revision RETURNING id";

/// What a commit is told.
type Outcome = Result<(), CommitError<SqlStoreError>>;

/// The commits waiting for the writer, and the writer.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
    writer: tokio::sync::Mutex<Writer>,
}

#[derive(Debug, Default)]
struct Queue {
    commits: Vec<Vec<Written>>,
    waiting: Vec<oneshot::Sender<Outcome>>,
}

impl GroupCommit {
    /// A group commit writing through `writer`.
    pub(crate) fn new(writer: Writer) -> Self {
        GroupCommit {
            queue: Mutex::default(),
            writer: tokio::sync::Mutex::new(writer),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one engine commit (all rows or none) in a transaction shared with the commits
    /// queued beside it; returns once that transaction has committed.
    ///
    /// A commit waits for its outcome and for the writer at once: when another commit's writer
    /// takes it into its transaction, it leaves the writer's queue, so that the writer goes
    /// next to a commit still waiting, with everything queued meanwhile.
    pub(crate) async fn commit(&self, rows: Vec<Written>) -> Outcome {
        let (done, mut outcome) = oneshot::channel();
        {
            let mut queue = self.queue();
            queue.commits.push(rows);
            queue.waiting.push(done);
        }
        let mut writer = tokio::select! {
            biased;
            told = &mut outcome => return told.unwrap_or_else(|_| abandoned()),
            writer = self.writer.lock() => writer,
        };
        // Writers hand out outcomes before they let go of the writer, so this commit is still
        // queued: it is written now, with the commits queued beside it.
        let Queue { commits, waiting } = std::mem::take(&mut *self.queue());
        if !commits.is_empty() {
            match write(&mut writer, &commits).await {
                Ok(verdicts) => {
                    for (done, verdict) in waiting.into_iter().zip(verdicts) {
                        let _ = done.send(verdict.map_err(CommitError::Conflict));
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for done in waiting {
                        let _ = done.send(Err(CommitError::Store(SqlStoreError::Batch(e.clone()))));
                    }
                }
            }
        }
        drop(writer);
        outcome.await.unwrap_or_else(|_| abandoned())
    }
}

/// What a commit is told when the transaction holding it went away without an outcome (its
/// writer's task was cancelled).
fn abandoned() -> Outcome {
    Err(CommitError::Store(SqlStoreError::Invalid(
        "the transaction holding the commit was abandoned".into(),
    )))
}

/// Inserts new instances unless they exist; returns the ids inserted.
const INSERT_NEW: &str = " ON CONFLICT (id) DO NOTHING RETURNING id";

/// Updates stored instances whose revision is the one before the row's (`v`: id, business key,
/// state, delete reason, next due time, revision, data); returns the ids updated.
const UPDATE: &str = "UPDATE bpmn_instances SET business_key = v.column2, state = v.column3, \
    delete_reason = v.column4, next_due = v.column5, revision = v.column6, data = v.column7, \
    lease_owner = NULL, lease_until = NULL FROM (";
const UPDATE_WHERE: &str = ") AS v WHERE bpmn_instances.id = v.column1 \
    AND bpmn_instances.revision = v.column6 - 1 RETURNING id";

/// Writes a batch of commits in one transaction; returns each commit's verdict.
async fn write(
    writer: &mut Writer,
    commits: &[Vec<Written>],
) -> Result<Vec<Result<(), Uuid>>, SqlStoreError> {
    if let Some(verdicts) = write_unchecked(writer, commits).await? {
        return Ok(verdicts);
    }
    let mut ids: Vec<String> = commits.iter().flatten().map(|r| r.id.to_string()).collect();
    ids.sort_unstable();
    ids.dedup();
    for _ in 0..ATTEMPTS {
        let written = on_pool!(@Writer &mut *writer, pool, dialect => {
            let mut tx = pool.begin_with(dialect.begin_write).await?;
            let mut stored = HashMap::new();
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let mut query = QueryBuilder::new("SELECT id, revision FROM bpmn_instances WHERE id IN (");
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(id.clone());
                }
                query.push(") ORDER BY id").push(dialect.lock_rows);
                let rows: Vec<(String, i64)> = query.build_query_as().fetch_all(&mut *tx).await?;
                for (id, revision) in rows {
                    stored.insert(columns::id(&id)?, revision);
                }
            }
            let (verdicts, rows) = accept(commits, stored);
            let mut written = 0;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut query = insert!(chunk);
                query.push(UPSERT_CONFLICT);
                written += query.build().fetch_all(&mut *tx).await?.len();
            }
            if written == rows.len() {
                tx.commit().await?;
                Some(verdicts)
            } else {
                // another engine inserted one of the instances meanwhile: read the revisions again
                tx.rollback().await?;
                None
            }
        });
        if let Some(verdicts) = written {
            return Ok(verdicts);
        }
    }
    Err(SqlStoreError::Invalid(
        "instances kept being inserted concurrently by another engine".into(),
    ))
}

/// Writes a batch in which no instance appears twice without reading the stored revisions first,
/// as nearly every batch can be: each new instance (revision 1) is inserted unless it exists,
/// each stored one updated where its revision is the one before. A batch of new instances only
/// is one `INSERT`, outside a transaction: one that exists fails it as a whole. Only where the
/// database's writer holds the whole database are stored instances updated so (SQLite); elsewhere
/// a batch that updates goes the checked way, which locks its rows in id order so that engines
/// sharing the database do not deadlock. Returns `None`, having written nothing, when the batch does not
/// qualify or a row was not written (a conflict): then each commit is checked.
async fn write_unchecked(
    writer: &mut Writer,
    commits: &[Vec<Written>],
) -> Result<Option<Vec<Result<(), Uuid>>>, SqlStoreError> {
    let mut rows: Vec<&Written> = commits.iter().flatten().collect();
    rows.sort_unstable_by_key(|r| r.id);
    if rows.windows(2).any(|w| w[0].id == w[1].id) {
        return Ok(None);
    }
    let (new, stored): (Vec<&Written>, Vec<&Written>) =
        rows.into_iter().partition(|r| r.revision == 1);
    if stored.is_empty() && new.len() <= ROWS_PER_STATEMENT {
        // one statement, atomic by itself: no transaction around it
        let inserted = on_pool!(@Writer writer, pool, _dialect => {
            let conn = &mut pool.acquire().await?;
            let done = insert!(&new).build().execute(&mut **conn).await;
            done.map(|d| d.rows_affected())
        });
        return match inserted {
            Ok(rows) if rows == new.len() as u64 => Ok(Some(vec![Ok(()); commits.len()])),
            Ok(rows) => Err(SqlStoreError::Invalid(format!(
                "{rows} of {} instances inserted",
                new.len()
            ))),
            // one exists already (a conflict) or the database failed: each commit is checked
            Err(_) => Ok(None),
        };
    }
    let written = on_pool!(@Writer writer, pool, dialect => {
        if !stored.is_empty() && !dialect.unlocked_updates {
            return Ok(None);
        }
        let mut tx = pool.begin_with(dialect.begin_write).await?;
        let mut written = 0;
        for chunk in new.chunks(ROWS_PER_STATEMENT) {
            let mut query = insert!(chunk);
            query.push(INSERT_NEW);
            written += query.build().fetch_all(&mut *tx).await?.len();
        }
        for chunk in stored.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(UPDATE);
            query.push_values(chunk, |mut row, r| {
                row.push_bind(r.id.to_string())
                    .push_bind(r.business_key.as_deref())
                    .push_bind(r.state)
                    .push_bind(r.delete_reason.as_deref())
                    .push_bind(r.next_due)
                    .push_bind(r.revision)
                    .push_bind(r.data.as_slice());
            });
            query.push(UPDATE_WHERE);
            written += query.build().fetch_all(&mut *tx).await?.len();
        }
        if written == new.len() + stored.len() {
            tx.commit().await?;
            true
        } else {
            tx.rollback().await?;
            false
        }
    });
    Ok(written.then(|| vec![Ok(()); commits.len()]))
}

/// Decides which commits of a batch are written: each in turn, if every record carries the
/// revision after the stored one (or after the one an earlier commit of the batch wrote). Returns
/// each commit's verdict and the rows to write, the latest per instance.
fn accept(
    commits: &[Vec<Written>],
    mut stored: HashMap<Uuid, i64>,
) -> (Vec<Result<(), Uuid>>, Vec<&Written>) {
    let mut latest = BTreeMap::new();
    let verdicts = commits
        .iter()
        .map(|rows| {
            let behind = |r: &&Written| r.revision != stored.get(&r.id).copied().unwrap_or(0) + 1;
            if let Some(conflict) = rows.iter().find(behind) {
                return Err(conflict.id);
            }
            for r in rows {
                stored.insert(r.id, r.revision);
                latest.insert(r.id, r);
            }
            Ok(())
        })
        .collect();
    (verdicts, latest.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: Uuid, revision: i64) -> Written {
        Written {
            id,
            key: "p".into(),
            version: 1,
            business_key: None,
            state: "active",
            delete_reason: None,
            next_due: None,
            revision,
            data: Vec::new(),
        }
    }

    #[test]
    fn a_conflicting_commit_is_left_out_and_later_ones_build_on_the_accepted() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let stored = HashMap::from([(a, 3)]);
        let commits = vec![
            vec![row(a, 4), row(b, 1)],
            // stale: another engine's copy of `a`; nothing of it is written, `c` neither
            vec![row(c, 1), row(a, 4)],
            vec![row(a, 5)],
        ];
        let (verdicts, rows) = accept(&commits, stored);
        assert_eq!(verdicts, vec![Ok(()), Err(a), Ok(())]);
        let mut written: Vec<(Uuid, i64)> = rows.iter().map(|r| (r.id, r.revision)).collect();
        written.sort_unstable();
        let mut expected = vec![(a, 5), (b, 1)];
        expected.sort_unstable();
        assert_eq!(written, expected);
    }
}
