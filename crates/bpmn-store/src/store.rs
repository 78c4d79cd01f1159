//! [`SqlStore`]: the engine's [`Store`] on SQLite or PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use dsf_bpmn::exec::{DefinitionId, InstanceState};
use dsf_bpmn::store::{CommitError, InstanceRecord, StartTimerRecord, Store, StoredDefinition};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::columns::{self, Row, Written, record_columns};
use crate::db::{Db, Dialect, Durability, on_pool};
use crate::error::SqlStoreError;
use crate::group_commit::GroupCommit;

/// Leases the due instances no live engine holds: `$1` owner, `$2` now, `$3` lease end,
/// `$4` limit; `$lock` locks the chosen rows where the database can.
macro_rules! acquire_due {
    ($lock:literal) => {
        concat!(
            "UPDATE bpmn_instances SET lease_owner = $1, lease_until = $3 WHERE id IN (",
            "SELECT id FROM bpmn_instances WHERE state = 'active' AND next_due <= $2 ",
            "AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until <= $2) ",
            "ORDER BY next_due LIMIT $4",
            $lock,
            ") RETURNING ",
            record_columns!()
        )
    };
}

/// SQLite's single writer is taken by `BEGIN IMMEDIATE`; no row locks are needed.
pub(crate) const SQLITE: Dialect = Dialect {
    begin_write: "BEGIN IMMEDIATE",
    lock_rows: "",
    acquire_due: acquire_due!(""),
    unlocked_updates: true,
};

/// Engines sharing a PostgreSQL database skip the rows another engine is leasing.
pub(crate) const POSTGRES: Dialect = Dialect {
    begin_write: "BEGIN",
    lock_rows: " FOR UPDATE",
    acquire_due: acquire_due!(" FOR UPDATE SKIP LOCKED"),
    unlocked_updates: false,
};

/// The process engine's persistence in a SQL database. Clones share one connection pool and
/// one group commit (`group_commit`): commits made at the same time through any of them
/// share a transaction.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Db,
    group: Arc<GroupCommit>,
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database file at `path`, in WAL mode with a busy
    /// timeout, and migrates it. The engine should have a file of its own, e.g. `bpe.db`.
    pub async fn open_sqlite(path: &Path, durability: Durability) -> Result<Self, SqlStoreError> {
        let (db, writer) = Db::open_sqlite(path, durability).await?;
        Ok(SqlStore {
            db,
            group: Arc::new(GroupCommit::new(writer)),
        })
    }

    /// Connects to PostgreSQL at `url` (`postgres://user@host/database`) and migrates it. The
    /// database may be shared with the FHIR store and with other engines.
    pub async fn open_postgres(url: &str) -> Result<Self, SqlStoreError> {
        let (db, writer) = Db::open_postgres(url).await?;
        Ok(SqlStore {
            db,
            group: Arc::new(GroupCommit::new(writer)),
        })
    }
}

impl Store for SqlStore {
    type Error = SqlStoreError;

    async fn load_definitions(&self) -> Result<Vec<StoredDefinition>, SqlStoreError> {
        let rows: Vec<(String, i32, Option<String>, String)> = on_pool!(&self.db, pool, _d => {
            sqlx::query_as(
                "SELECT definition_key, definition_version, version_tag, xml \
                 FROM bpmn_definitions ORDER BY definition_key, definition_version",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(key, version, version_tag, xml)| {
                Ok(StoredDefinition {
                    id: columns::definition(key, version)?,
                    version_tag,
                    xml,
                })
            })
            .collect()
    }

    async fn save_definition(&self, definition: &StoredDefinition) -> Result<(), SqlStoreError> {
        let version = columns::version(definition.id.version)?;
        on_pool!(&self.db, pool, _d => {
            sqlx::query(
                "INSERT INTO bpmn_definitions (definition_key, definition_version, version_tag, \
                 xml) VALUES ($1, $2, $3, $4)",
            )
            .bind(&definition.id.key)
            .bind(version)
            .bind(&definition.version_tag)
            .bind(&definition.xml)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn delete_definition(&self, id: &DefinitionId) -> Result<(), SqlStoreError> {
        let version = columns::version(id.version)?;
        on_pool!(&self.db, pool, _d => {
            sqlx::query(
                "DELETE FROM bpmn_definitions WHERE definition_key = $1 \
                 AND definition_version = $2",
            )
            .bind(&id.key)
            .bind(version)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn save_start_timers(
        &self,
        key: &str,
        timers: Vec<StartTimerRecord>,
    ) -> Result<(), SqlStoreError> {
        let rows = timers
            .iter()
            .map(columns::StartTimerRow::new)
            .collect::<Result<Vec<_>, _>>()?;
        on_pool!(&self.db, pool, dialect => {
            let mut tx = pool.begin_with(dialect.begin_write).await?;
            sqlx::query("DELETE FROM bpmn_start_timers WHERE definition_key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            for row in rows {
                sqlx::query(
                    "INSERT INTO bpmn_start_timers (definition_key, definition_version, \
                     element_id, due, repeat) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(row.key)
                .bind(row.version)
                .bind(row.element)
                .bind(row.due)
                .bind(row.repeat)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn load_start_timers(&self) -> Result<Vec<StartTimerRecord>, SqlStoreError> {
        let rows: Vec<(String, i32, String, i64, Option<String>)> = on_pool!(&self.db, pool, _d => {
            sqlx::query_as(
                "SELECT definition_key, definition_version, element_id, due, repeat \
                 FROM bpmn_start_timers",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(columns::StartTimerRow::record)
            .collect()
    }

    async fn advance_start_timer(
        &self,
        fired: &StartTimerRecord,
        next: Option<&StartTimerRecord>,
    ) -> Result<(), SqlStoreError> {
        let fired = columns::StartTimerRow::new(fired)?;
        let next = next.map(columns::StartTimerRow::new).transpose()?;
        on_pool!(&self.db, pool, _d => {
            let query = match next {
                Some(next) => sqlx::query(
                    "UPDATE bpmn_start_timers SET due = $5, repeat = $6 WHERE \
                     definition_key = $1 AND definition_version = $2 AND element_id = $3 \
                     AND due = $4",
                )
                .bind(fired.key)
                .bind(fired.version)
                .bind(fired.element)
                .bind(fired.due)
                .bind(next.due)
                .bind(next.repeat),
                None => sqlx::query(
                    "DELETE FROM bpmn_start_timers WHERE definition_key = $1 \
                     AND definition_version = $2 AND element_id = $3 AND due = $4",
                )
                .bind(fired.key)
                .bind(fired.version)
                .bind(fired.element)
                .bind(fired.due),
            };
            query.execute(pool).await?;
        });
        Ok(())
    }

    async fn commit(
        &self,
        instances: Vec<InstanceRecord>,
    ) -> Result<(), CommitError<SqlStoreError>> {
        let rows = instances
            .into_iter()
            .map(Written::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(CommitError::Store)?;
        self.group.commit(rows).await
    }

    async fn acquire_due(
        &self,
        owner: Uuid,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<InstanceRecord>, SqlStoreError> {
        let (now, until) = (columns::nanos(now)?, columns::nanos(lease_until)?);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<Row> = on_pool!(&self.db, pool, dialect => {
            let mut tx = pool.begin_with(dialect.begin_write).await?;
            let rows = sqlx::query_as(dialect.acquire_due)
                .bind(owner.to_string())
                .bind(now)
                .bind(until)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        });
        let mut records = rows
            .into_iter()
            .map(columns::record)
            .collect::<Result<Vec<_>, _>>()?;
        records.sort_by_key(|r| r.next_due);
        Ok(records)
    }

    async fn find_by_business_key(
        &self,
        business_key: &str,
    ) -> Result<Vec<InstanceRecord>, SqlStoreError> {
        let rows: Vec<Row> = on_pool!(&self.db, pool, _d => {
            sqlx::query_as(concat!(
                "SELECT ",
                record_columns!(),
                " FROM bpmn_instances WHERE business_key = $1 AND state IN ('active', 'suspended')"
            ))
            .bind(business_key)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(columns::record).collect()
    }

    async fn load_instance(&self, id: Uuid) -> Result<Option<InstanceRecord>, SqlStoreError> {
        let row: Option<Row> = on_pool!(&self.db, pool, _d => {
            sqlx::query_as(concat!("SELECT ", record_columns!(), " FROM bpmn_instances WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        row.map(columns::record).transpose()
    }

    async fn load_unfinished(&self) -> Result<Vec<InstanceRecord>, SqlStoreError> {
        let rows: Vec<Row> = on_pool!(&self.db, pool, _d => {
            sqlx::query_as(concat!(
                "SELECT ",
                record_columns!(),
                " FROM bpmn_instances WHERE state IN ('active', 'suspended')"
            ))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(columns::record).collect()
    }

    async fn list_instances(
        &self,
    ) -> Result<Vec<(Uuid, DefinitionId, InstanceState)>, SqlStoreError> {
        let rows: Vec<(String, String, i32, String, Option<String>)> = on_pool!(&self.db, pool, _d => {
            sqlx::query_as(
                "SELECT id, definition_key, definition_version, state, delete_reason \
                 FROM bpmn_instances",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, key, version, state, reason)| {
                Ok((
                    columns::id(&id)?,
                    columns::definition(key, version)?,
                    columns::state(&state, reason)?,
                ))
            })
            .collect()
    }
}
