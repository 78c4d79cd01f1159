//! The store: versioned resources with history and search, in one transactional API.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use dsf_fhir::Resource;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use std::sync::Arc;

use crate::StoreError;
use crate::cache::ReadCache;
use crate::changes::{Change, Feed, Recent, Written};
use crate::db::{Arg, Col, Db, Dialect, Session, Sql, Val};
use crate::matcher::Matcher;
use crate::search::index::{IndexRow, index_rows};
use crate::search::query::SearchQuery;
use crate::search::sql::{push_count, push_matches, push_page};

/// Where resources are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An embedded SQLite database file (created if missing), in WAL mode.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database, e.g. `postgres://user@host:5432/fhir`.
    Postgres {
        /// The connection URL.
        url: String,
    },
}

/// One version of a resource as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The resource, with `id`, `meta.versionId` and `meta.lastUpdated` set; for a deletion, only
    /// `resourceType` and `id`. A Binary's content is in [`Stored::data`], not here.
    pub resource: Resource,
    /// The version, from 1.
    pub version: i64,
    /// When this version was written.
    pub last_updated: OffsetDateTime,
    /// Whether this version is a deletion.
    pub deleted: bool,
    /// A Binary's content.
    pub data: Option<Vec<u8>>,
    /// This version's place in the store's sequence of writes (ascending, unique).
    pub seq: i64,
}

impl Stored {
    /// The resource type.
    pub fn resource_type(&self) -> &str {
        self.resource.resource_type()
    }

    /// The id.
    pub fn id(&self) -> &str {
        self.resource.id().unwrap_or_default()
    }

    /// The resource as [`Stored::into_full_resource`] gives it, borrowed unless it is a Binary
    /// with data.
    pub fn full_resource(&self) -> std::borrow::Cow<'_, Resource> {
        match self.data {
            Some(_) => std::borrow::Cow::Owned(self.clone().into_full_resource()),
            None => std::borrow::Cow::Borrowed(&self.resource),
        }
    }

    /// The resource including a Binary's content as base64 `data`, as FHIR formats carry it.
    pub fn into_full_resource(self) -> Resource {
        match self.data {
            Some(data) => {
                let mut json = self.resource.into_json();
                json.insert("data".into(), Value::String(BASE64.encode(data)));
                Resource::trusted(json)
            }
            None => self.resource,
        }
    }
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The resource is now deleted; the deletion has this version.
    Now(i64),
    /// It was deleted before.
    Already(i64),
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// How many resources match in all.
    pub total: i64,
    /// The matches on the requested page.
    pub matches: Vec<Stored>,
    /// Resources added by `_include` and `_revinclude`.
    pub included: Vec<Stored>,
}

/// The scope and window of a history request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryQuery {
    /// Limit to one type (`/T/_history`).
    pub resource_type: Option<String>,
    /// Limit to one resource (`/T/id/_history`); needs `resource_type`.
    pub id: Option<String>,
    /// `_since`: versions written at or after this instant (microseconds since the epoch).
    pub since: Option<i64>,
    /// `_at`: versions that were current at some time in `[lo, hi)` (microseconds).
    pub at: Option<(i64, i64)>,
    /// Page size.
    pub count: i64,
    /// 1-based page.
    pub page: i64,
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryResult {
    /// How many versions are in the history in all.
    pub total: i64,
    /// The versions on this page.
    pub entries: Vec<Stored>,
}

/// The resource store: open once, share by reference (it is cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    cache: Option<Arc<ReadCache>>,
    feed: Arc<Feed>,
    /// The in-memory SQLite connection that matches versions against searches.
    matcher: Arc<Matcher>,
}

/// A write transaction: everything in it is committed together, or nothing is when it is dropped
/// without [`Transaction::commit`].
pub struct Transaction {
    session: Session,
    cache: Option<Arc<ReadCache>>,
    changes: Vec<Written>,
    recent: Arc<Recent>,
}

/// Current versions kept in memory for reads (embedded SQLite only).
const CACHED_VERSIONS: usize = 50_000;
/// Versions matched in one statement: their index rows stay below SQLite's bind limit.
pub const MATCH_BATCH: usize = 32;

fn now_micros() -> i64 {
    let now = OffsetDateTime::now_utc();
    // Milliseconds, as FHIR instants are usually written.
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX) * 1000
}

fn instant(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Formats a time as a FHIR instant with milliseconds, in UTC.
pub fn format_instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = t
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default();
    let base = base.trim_end_matches('Z');
    format!("{base}.{:03}Z", t.millisecond())
}

/// Columns of a version row, in select order.
const VERSION_COLS: &[Col] = &[
    Col::Text,
    Col::Text,
    Col::Int,
    Col::Int,
    Col::Int,
    Col::Text,
    Col::Bytes,
    Col::Int,
];

fn push_version_select(sql: &mut Sql) {
    sql.push("SELECT r.res_type, r.res_id, r.version, r.last_updated, r.deleted, ");
    sql.push_body("r.body");
    sql.push(", r.data, r.seq FROM resources r");
}

fn stored_from_row(row: Vec<Val>) -> Result<Stored, StoreError> {
    let mut row = row.into_iter();
    let mut next = || {
        row.next()
            .ok_or_else(|| StoreError::Invalid("short row".into()))
    };
    let resource_type = next()?.text().unwrap_or_default();
    let id = next()?.text().unwrap_or_default();
    let version = next()?.int().unwrap_or(0);
    let last_updated = next()?.int().unwrap_or(0);
    let deleted = next()?.int().unwrap_or(0) != 0;
    let body = next()?.text();
    let data = next()?.bytes();
    let seq = next()?.int().unwrap_or(0);
    let resource = match body {
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Resource::trusted(map),
            _ => {
                return Err(StoreError::Invalid(format!(
                    "stored body of {resource_type}/{id} is not a JSON object"
                )));
            }
        },
        None => {
            let mut map = Map::new();
            map.insert("resourceType".into(), Value::String(resource_type));
            map.insert("id".into(), Value::String(id));
            Resource::trusted(map)
        }
    };
    Ok(Stored {
        resource,
        version,
        last_updated: instant(last_updated),
        deleted,
        data,
        seq,
    })
}

impl Store {
    /// Opens the store described by `config`, creating and migrating the database as needed.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let (db, cache, feed) = match config {
            // This process is the only writer of its SQLite file, so its cache stays exact.
            StoreConfig::Sqlite { path } => {
                let feed = Feed::local();
                (
                    Db::open_sqlite(path, 4, feed.sender()).await?,
                    Some(Arc::new(ReadCache::new(CACHED_VERSIONS))),
                    feed,
                )
            }
            StoreConfig::Postgres { url } => {
                let db = Db::open_postgres(url, 16).await?;
                (db, None, Feed::postgres(url).await?)
            }
        };
        Ok(Store {
            db,
            cache,
            feed: Arc::new(feed),
            matcher: Arc::new(Matcher::open()?),
        })
    }

    /// Follows the change feed: every write committed from now on (by this process, or with
    /// PostgreSQL by any process on the database), in commit order. See [`Change`].
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    /// Whether this store runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.db.dialect() == Dialect::Postgres
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<Transaction, StoreError> {
        Ok(Transaction {
            session: self.db.begin().await?,
            cache: self.cache.clone(),
            changes: Vec::new(),
            recent: self.feed.recent.clone(),
        })
    }

    /// The version a change of the feed announces, without reading it when this process wrote
    /// it (attached to the change with embedded SQLite, kept a while after the commit with
    /// PostgreSQL).
    pub async fn written_version(
        &self,
        change: &Written,
    ) -> Result<Option<Arc<Stored>>, StoreError> {
        if let Some(stored) = change
            .stored
            .clone()
            .or_else(|| self.feed.recent.get(change))
        {
            return Ok(Some(stored));
        }
        Ok(self
            .vread(&change.resource_type, &change.id, change.version)
            .await?
            .map(Arc::new))
    }

    /// The newest version of a resource (a deletion included), if it exists.
    pub async fn read(&self, resource_type: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        Ok(self
            .read_shared(resource_type, id)
            .await?
            .map(Arc::unwrap_or_clone))
    }

    /// [`Store::read`], sharing the version with the read cache instead of copying it.
    pub async fn read_shared(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Arc<Stored>>, StoreError> {
        let Some(cache) = &self.cache else {
            let stored = read(&mut self.db.reader().await?, resource_type, id, None).await?;
            return Ok(stored.map(Arc::new));
        };
        let (cached, epoch) = cache.get(resource_type, id);
        if cached.is_some() {
            return Ok(cached);
        }
        let stored = read(&mut self.db.reader().await?, resource_type, id, None).await?;
        Ok(stored.map(|stored| {
            let stored = Arc::new(stored);
            cache.fill(epoch, stored.clone());
            stored
        }))
    }

    /// One version of a resource.
    pub async fn vread(
        &self,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<Stored>, StoreError> {
        read(
            &mut self.db.reader().await?,
            resource_type,
            id,
            Some(version),
        )
        .await
    }

    /// Runs a search; `default_count` applies when the query has no `_count`.
    pub async fn search(
        &self,
        query: &SearchQuery,
        default_count: i64,
    ) -> Result<SearchResult, StoreError> {
        search(&mut self.db.reader().await?, query, default_count).await
    }

    /// Whether `stored`, a version just written, meets the criteria of `query`: the search's own
    /// SQL, run over that version and its index rows alone (so a later version does not hide
    /// it). A deletion meets no criteria.
    ///
    /// The SQL reads no table, so it runs in this process and thread on an in-memory SQLite
    /// database whatever the backend: no database round trip per match. (The search conditions
    /// compare the index's normalized text and integer ranges, on which both backends agree.)
    pub fn matches(&self, query: &SearchQuery, stored: &Stored) -> Result<bool, StoreError> {
        Ok(!self.matching(query, &[stored])?.is_empty())
    }

    /// The sequence numbers of those of `versions` that match `query`, with the same semantics
    /// as [`Store::matches`], in one statement per [`MATCH_BATCH`] versions.
    pub fn matching(
        &self,
        query: &SearchQuery,
        versions: &[&Stored],
    ) -> Result<Vec<i64>, StoreError> {
        let candidates: Vec<&Stored> = versions
            .iter()
            .copied()
            .filter(|s| !s.deleted && s.resource_type() == query.resource_type)
            .collect();
        let mut matching = Vec::new();
        for batch in candidates.chunks(MATCH_BATCH) {
            let mut sql = Sql::new(Dialect::Sqlite);
            push_version_tables(&mut sql, batch);
            // No LIMIT: SQLite prepares a statement anew whenever its bound LIMIT is bound again.
            push_matches(&mut sql, query);
            matching.extend(self.matcher.fetch_ints(sql)?);
        }
        Ok(matching)
    }

    /// Reads a page of history.
    pub async fn history(&self, query: &HistoryQuery) -> Result<HistoryResult, StoreError> {
        history(&mut self.db.reader().await?, query).await
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut session = self.db.reader().await?;
        let mut sql = session.sql();
        sql.push("SELECT 1");
        session.fetch_int(sql).await.map(|_| ())
    }

    /// Closes all database connections (the change feed's too); the in-memory matching database
    /// goes with the last clone of the store.
    pub async fn close(&self) {
        self.feed.close();
        self.db.close().await;
    }
}

impl Transaction {
    /// Creates a resource as version 1, with `id` or a new random UUID.
    pub async fn create(
        &mut self,
        resource: Resource,
        id: Option<String>,
    ) -> Result<Stored, StoreError> {
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let resource_type = resource.resource_type().to_owned();
        let stored = write_version(&mut self.session, &resource_type, &id, 1, resource).await?;
        self.changed_to(&stored);
        Ok(stored)
    }

    /// Stores a new version of an existing resource (its `id` says which). With `expected`, the
    /// current version must be that one.
    pub async fn update(
        &mut self,
        resource: Resource,
        expected: Option<i64>,
    ) -> Result<Stored, StoreError> {
        let resource_type = resource.resource_type().to_owned();
        let id = resource.id().unwrap_or_default().to_owned();
        let current = lock_current(&mut self.session, &resource_type, &id).await?;
        let Current {
            version,
            deleted,
            seq,
        } = current.ok_or_else(|| StoreError::NotFound {
            resource_type: resource_type.clone(),
            id: id.clone(),
        })?;
        if deleted {
            return Err(StoreError::Gone {
                resource_type,
                id,
                version,
            });
        }
        if let Some(expected) = expected
            && expected != version
        {
            return Err(StoreError::VersionConflict {
                expected,
                current: version,
            });
        }
        retire_current(&mut self.session, seq).await?;
        let stored = write_version(
            &mut self.session,
            &resource_type,
            &id,
            version + 1,
            resource,
        )
        .await?;
        self.changed_to(&stored);
        Ok(stored)
    }

    /// Deletes a resource (it stays in the history).
    pub async fn delete(&mut self, resource_type: &str, id: &str) -> Result<Deleted, StoreError> {
        let Current {
            version,
            deleted,
            seq,
        } = lock_current(&mut self.session, resource_type, id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                resource_type: resource_type.to_owned(),
                id: id.to_owned(),
            })?;
        if deleted {
            return Ok(Deleted::Already(version));
        }
        retire_current(&mut self.session, seq).await?;
        let mut sql = self.session.sql();
        sql.push("INSERT INTO resources (res_type, res_id, version, last_updated, deleted, current) VALUES (")
            .bind(resource_type)
            .push(", ")
            .bind(id)
            .push(", ")
            .bind(version + 1)
            .push(", ")
            .bind(now_micros())
            .push(", 1, 1)");
        self.session.execute(sql).await?;
        self.changed(resource_type, id, version + 1, true);
        Ok(Deleted::Now(version + 1))
    }

    /// Removes every version of a deleted resource.
    pub async fn permanent_delete(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let Current {
            deleted, version, ..
        } = lock_current(&mut self.session, resource_type, id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                resource_type: resource_type.to_owned(),
                id: id.to_owned(),
            })?;
        if !deleted {
            return Err(StoreError::NotDeleted {
                resource_type: resource_type.to_owned(),
                id: id.to_owned(),
            });
        }
        let mut sql = self.session.sql();
        sql.push("DELETE FROM resources WHERE res_type = ")
            .bind(resource_type)
            .push(" AND res_id = ")
            .bind(id);
        self.session.execute(sql).await?;
        self.changed(resource_type, id, version, true);
        Ok(())
    }

    /// The newest version of a resource as this transaction sees it.
    pub async fn read(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Stored>, StoreError> {
        read(&mut self.session, resource_type, id, None).await
    }

    /// One version of a resource as this transaction sees it.
    pub async fn vread(
        &mut self,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<Stored>, StoreError> {
        read(&mut self.session, resource_type, id, Some(version)).await
    }

    /// A search as this transaction sees the data.
    pub async fn search(
        &mut self,
        query: &SearchQuery,
        default_count: i64,
    ) -> Result<SearchResult, StoreError> {
        search(&mut self.session, query, default_count).await
    }

    /// Serialises conditional writes on `resource_type` until the transaction ends, so that two
    /// concurrent conditional creates cannot both see "no match" (PostgreSQL; SQLite has a single
    /// writer anyway).
    pub async fn lock_type(&mut self, resource_type: &str) -> Result<(), StoreError> {
        if self.session.dialect() == Dialect::Postgres {
            let mut sql = self.session.sql();
            sql.push("SELECT pg_advisory_xact_lock(hashtext(")
                .bind(resource_type)
                .push("))");
            self.session.execute(sql).await?;
        }
        Ok(())
    }

    /// Commits everything done in this transaction; the change feed announces it afterwards.
    pub async fn commit(self) -> Result<(), StoreError> {
        let Transaction {
            session,
            cache,
            changes,
            recent,
        } = self;
        let postgres = session.dialect() == Dialect::Postgres;
        let kept = if postgres {
            changes.clone()
        } else {
            Vec::new()
        };
        if let Some(cache) = cache {
            let invalidated = changes.clone();
            session.commit(changes).await?;
            cache.invalidate(&invalidated);
        } else {
            session.commit(changes).await?;
        }
        recent.keep(&kept);
        Ok(())
    }

    /// Whether this transaction wrote a resource of `resource_type`.
    pub fn touches(&self, resource_type: &str) -> bool {
        self.changes
            .iter()
            .any(|c| c.resource_type == resource_type)
    }

    /// Notes a written version (for the read cache and the change feed, at commit).
    fn changed(&mut self, resource_type: &str, id: &str, version: i64, deleted: bool) {
        self.changes.push(Written {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            version,
            deleted,
            stored: None,
        });
    }

    /// Notes a written version that followers of the change feed get with the change (Binaries
    /// excepted: their content may be large): with embedded SQLite the feed is this process's
    /// own; with PostgreSQL the version is kept for its notification ([`Recent`]).
    fn changed_to(&mut self, stored: &Stored) {
        let resource_type = stored.resource_type();
        self.changed(resource_type, stored.id(), stored.version, stored.deleted);
        if resource_type != "Binary"
            && let Some(change) = self.changes.last_mut()
        {
            change.stored = Some(Arc::new(stored.clone()));
        }
    }
}

/// The current row of a resource.
struct Current {
    version: i64,
    deleted: bool,
    seq: i64,
}

/// The current row of a resource, locked for update on PostgreSQL.
async fn lock_current(
    session: &mut Session,
    resource_type: &str,
    id: &str,
) -> Result<Option<Current>, StoreError> {
    // On PostgreSQL, waiting for the row lock may end with the row superseded by a concurrent
    // writer; a new statement sees (and waits for) the new current row. Each round means another
    // writer committed, so the rounds are bounded; past the bound the caller gets a conflict.
    for _ in 0..64 {
        let found = select_current(session, resource_type, id).await?;
        if found.is_some() || session.dialect() == Dialect::Sqlite {
            return Ok(found);
        }
        let mut sql = session.sql();
        sql.push("SELECT count(*) FROM resources WHERE res_type = ")
            .bind(resource_type)
            .push(" AND res_id = ")
            .bind(id);
        if session.fetch_int(sql).await? == 0 {
            return Ok(None);
        }
    }
    Err(StoreError::Conflict)
}

async fn select_current(
    session: &mut Session,
    resource_type: &str,
    id: &str,
) -> Result<Option<Current>, StoreError> {
    let mut sql = session.sql();
    sql.push("SELECT version, deleted, seq FROM resources WHERE res_type = ")
        .bind(resource_type)
        .push(" AND res_id = ")
        .bind(id)
        .push(" AND current = 1");
    if session.dialect() == Dialect::Postgres {
        sql.push(" FOR UPDATE");
    }
    let rows = session.fetch(sql, &[Col::Int, Col::Int, Col::Int]).await?;
    Ok(rows.first().map(|r| Current {
        version: r[0].int().unwrap_or(0),
        deleted: r[1].int().unwrap_or(0) != 0,
        seq: r[2].int().unwrap_or(0),
    }))
}

/// Marks the current row `seq` as superseded and drops its index rows.
async fn retire_current(session: &mut Session, seq: i64) -> Result<(), StoreError> {
    let mut sql = session.sql();
    sql.push("UPDATE resources SET current = 0 WHERE seq = ")
        .bind(seq);
    session.execute(sql).await?;
    let mut sql = session.sql();
    sql.push("DELETE FROM search_params WHERE seq = ").bind(seq);
    session.execute(sql).await?;
    Ok(())
}

/// Writes `resource` as version `version` of `resource_type/id`, with its index rows.
async fn write_version(
    session: &mut Session,
    resource_type: &str,
    id: &str,
    version: i64,
    resource: Resource,
) -> Result<Stored, StoreError> {
    let micros = now_micros();
    let last_updated = instant(micros);
    // resourceType, id and meta first, as FHIR JSON is usually written.
    let mut given = resource.into_json();
    let mut meta = match given.remove("meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.insert("versionId".into(), Value::String(version.to_string()));
    meta.insert(
        "lastUpdated".into(),
        Value::String(format_instant(last_updated)),
    );
    let mut json = Map::with_capacity(given.len() + 2);
    json.insert(
        "resourceType".into(),
        Value::String(resource_type.to_owned()),
    );
    json.insert("id".into(), Value::String(id.to_owned()));
    json.insert("meta".into(), Value::Object(meta));
    given.remove("resourceType");
    given.remove("id");
    json.extend(given);
    let data = if resource_type == "Binary" {
        match json.remove("data") {
            Some(Value::String(b64)) => Some(
                BASE64
                    .decode(b64.as_bytes())
                    .map_err(|e| StoreError::Invalid(format!("Binary.data is not base64: {e}")))?,
            ),
            Some(_) => return Err(StoreError::Invalid("Binary.data must be a string".into())),
            None => None,
        }
    } else {
        None
    };
    let rows = index_rows(resource_type, &json);
    let body = serde_json::to_string(&json).map_err(|e| StoreError::Invalid(e.to_string()))?;
    // On PostgreSQL the version and its index rows go in one statement (one round trip).
    let one_statement =
        session.dialect() == Dialect::Postgres && !rows.is_empty() && rows.len() <= 1000;
    let mut sql = session.sql();
    if one_statement {
        sql.push("WITH r AS (");
    }
    sql.push("INSERT INTO resources (res_type, res_id, version, last_updated, deleted, current, body, data) VALUES (")
        .bind(resource_type)
        .push(", ")
        .bind(id)
        .push(", ")
        .bind(version)
        .push(", ")
        .bind(micros)
        .push(", 0, 1, ")
        .bind_json(body)
        .push(", ")
        .bind(data.clone())
        .push(") RETURNING seq");
    if one_statement {
        sql.push("), i AS (INSERT INTO search_params (seq, res_type, param, sys, val, raw, lo, hi) SELECT r.seq, v.* FROM r, (VALUES ");
        push_index_values(&mut sql, resource_type, None, &rows);
        sql.push(") AS v) SELECT seq FROM r");
    }
    let seq = session.fetch_int(sql).await?;
    if !one_statement {
        insert_index_rows(session, resource_type, seq, &rows).await?;
    }
    Ok(Stored {
        resource: Resource::trusted(json),
        version,
        last_updated,
        deleted: false,
        data,
        seq,
    })
}

/// Appends `WITH` tables named `resources` and `search_params` that hold only `versions` and the
/// index rows they are written with, so that the search SQL appended next sees those versions
/// alone (SQLite). The rows are bound as two JSON arrays, so the statement's text depends on the
/// query alone and is prepared once per connection, however many versions and rows there are.
fn push_version_tables(sql: &mut Sql, versions: &[&Stored]) {
    let mut resources = Vec::with_capacity(versions.len());
    let mut params = Vec::new();
    for stored in versions {
        let resource_type = stored.resource_type();
        let micros = i64::try_from(stored.last_updated.unix_timestamp_nanos() / 1000).unwrap_or(0);
        resources.push(json!([
            stored.seq,
            resource_type,
            stored.id(),
            stored.version,
            micros
        ]));
        for row in index_rows(resource_type, stored.resource.as_json()) {
            params.push(json!([
                stored.seq,
                resource_type,
                row.param,
                row.sys,
                row.val,
                row.raw,
                row.lo,
                row.hi
            ]));
        }
    }
    sql.push(
        "WITH resources (seq, res_type, res_id, version, last_updated, deleted, current) AS \
         (SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, 0, 1 FROM json_each(",
    )
    .bind(Value::Array(resources).to_string())
    .push(
        ")), search_params (seq, res_type, param, sys, val, raw, lo, hi) AS \
         (SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
         value ->> 6, value ->> 7 FROM json_each(",
    )
    .bind(Value::Array(params).to_string())
    .push(")) ");
}

/// Appends `(seq, res_type, param, sys, val, raw, lo, hi), ...` for `rows`; without the `seq`
/// column when `seq` is `None`.
fn push_index_values(sql: &mut Sql, resource_type: &str, seq: Option<i64>, rows: &[IndexRow]) {
    for (i, row) in rows.iter().enumerate() {
        sql.push(if i > 0 { ", (" } else { "(" });
        if let Some(seq) = seq {
            sql.bind(seq).push(", ");
        }
        sql.bind(resource_type)
            .push(", ")
            .bind(row.param.clone())
            .push(", ")
            .bind(row.sys.clone())
            .push(", ")
            .bind(row.val.clone())
            .push(", ")
            .bind(row.raw.clone())
            .push(", ")
            .bind(row.lo)
            .push(", ")
            .bind(row.hi)
            .push(")");
    }
}

/// Inserts index rows in one statement (chunked to stay below bind-parameter limits).
async fn insert_index_rows(
    session: &mut Session,
    resource_type: &str,
    seq: i64,
    rows: &[IndexRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(100) {
        let mut sql = session.sql();
        sql.push("INSERT INTO search_params (seq, res_type, param, sys, val, raw, lo, hi) VALUES ");
        push_index_values(&mut sql, resource_type, Some(seq), chunk);
        session.execute(sql).await?;
    }
    Ok(())
}

async fn read(
    session: &mut Session,
    resource_type: &str,
    id: &str,
    version: Option<i64>,
) -> Result<Option<Stored>, StoreError> {
    let mut sql = session.sql();
    push_version_select(&mut sql);
    sql.push(" WHERE r.res_type = ")
        .bind(resource_type)
        .push(" AND r.res_id = ")
        .bind(id);
    match version {
        Some(v) => sql.push(" AND r.version = ").bind(v),
        None => sql.push(" AND r.current = 1"),
    };
    let rows = session.fetch(sql, VERSION_COLS).await?;
    rows.into_iter().next().map(stored_from_row).transpose()
}

async fn search(
    session: &mut Session,
    query: &SearchQuery,
    default_count: i64,
) -> Result<SearchResult, StoreError> {
    let count = query.count.unwrap_or(default_count);
    let page = query.page;
    let mut total_sql = session.sql();
    push_count(&mut total_sql, query);
    let total = session.fetch_int(total_sql).await?;
    let offset = (page - 1).checked_mul(count);
    let wants_entries = !query.summary_count && count > 0 && page >= 1;
    let Some(offset) = offset.filter(|o| wants_entries && *o < total) else {
        return Ok(SearchResult {
            total,
            matches: Vec::new(),
            included: Vec::new(),
        });
    };
    // First the page's sequence numbers, then only those bodies: sorting never touches bodies.
    let mut sql = session.sql();
    push_page(&mut sql, query, count, offset);
    let page: Vec<i64> = session
        .fetch(sql, &[Col::Int])
        .await?
        .iter()
        .filter_map(|row| row.first().and_then(Val::int))
        .collect();
    let mut matches = Vec::with_capacity(page.len());
    if !page.is_empty() {
        let mut sql = session.sql();
        push_version_select(&mut sql);
        sql.push(" WHERE r.seq IN (");
        push_list(&mut sql, page.iter().map(|s| Arg::Int(*s)));
        sql.push(")");
        for row in session.fetch(sql, VERSION_COLS).await? {
            matches.push(stored_from_row(row)?);
        }
        matches.sort_by_key(|m: &Stored| page.iter().position(|s| *s == m.seq));
    }
    let included = includes(session, query, &matches).await?;
    Ok(SearchResult {
        total,
        matches,
        included,
    })
}

/// Appends `values` as a comma-separated list of placeholders.
fn push_list(sql: &mut Sql, values: impl IntoIterator<Item = Arg>) {
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(v);
    }
}

/// Resources named by `_include` / `_revinclude` for the page `matches`, each once.
async fn includes(
    session: &mut Session,
    query: &SearchQuery,
    matches: &[Stored],
) -> Result<Vec<Stored>, StoreError> {
    let mut out: Vec<Stored> = Vec::new();
    if matches.is_empty() {
        return Ok(out);
    }
    let seqs = || matches.iter().map(|m| Arg::Int(m.seq));
    for include in &query.includes {
        for target in &include.targets {
            let mut sql = session.sql();
            push_version_select(&mut sql);
            if matches!(include.param, "questionnaire" | "depends-on") {
                // Canonical references: the targets whose url is referenced.
                sql.push(" WHERE r.seq IN (SELECT u.seq FROM search_params u WHERE u.res_type = ")
                    .bind(*target)
                    .push(" AND u.param = 'url' AND u.val IN (SELECT s.val FROM search_params s WHERE s.param = ")
                    .bind(include.param)
                    .push(" AND s.seq IN (");
                push_list(&mut sql, seqs());
                sql.push(")))");
            } else {
                sql.push(" WHERE r.current = 1 AND r.deleted = 0 AND r.res_type = ")
                    .bind(*target)
                    .push(" AND r.res_id IN (SELECT s.val FROM search_params s WHERE s.param = ")
                    .bind(include.param)
                    .push(" AND s.sys = ")
                    .bind(*target)
                    .push(" AND s.seq IN (");
                push_list(&mut sql, seqs());
                sql.push("))");
            }
            collect_new(session, sql, &mut out, matches).await?;
        }
    }
    for include in &query.revincludes {
        let mut sql = session.sql();
        push_version_select(&mut sql);
        sql.push(" WHERE r.seq IN (SELECT s.seq FROM search_params s WHERE s.res_type = ")
            .bind(include.source)
            .push(" AND s.param = ")
            .bind(include.param)
            .push(" AND s.sys = ")
            .bind(query.resource_type.as_str())
            .push(" AND s.val IN (");
        push_list(
            &mut sql,
            matches.iter().map(|m| Arg::Text(m.id().to_owned())),
        );
        sql.push("))");
        collect_new(session, sql, &mut out, matches).await?;
    }
    Ok(out)
}

async fn collect_new(
    session: &mut Session,
    sql: Sql,
    out: &mut Vec<Stored>,
    matches: &[Stored],
) -> Result<(), StoreError> {
    for row in session.fetch(sql, VERSION_COLS).await? {
        let stored = stored_from_row(row)?;
        let same =
            |s: &Stored| s.resource_type() == stored.resource_type() && s.id() == stored.id();
        if !out.iter().any(same) && !matches.iter().any(same) {
            out.push(stored);
        }
    }
    Ok(())
}

async fn history(session: &mut Session, query: &HistoryQuery) -> Result<HistoryResult, StoreError> {
    let filter = |sql: &mut Sql| {
        sql.push(" WHERE 1 = 1");
        if let Some(t) = &query.resource_type {
            sql.push(" AND r.res_type = ").bind(t.as_str());
        }
        if let Some(id) = &query.id {
            sql.push(" AND r.res_id = ").bind(id.as_str());
        }
        if let Some(since) = query.since {
            sql.push(" AND r.last_updated >= ").bind(since);
        }
        if let Some((lo, hi)) = query.at {
            // Written before the window ends, and not superseded before it starts.
            sql.push(" AND r.last_updated < ").bind(hi).push(
                " AND NOT EXISTS (SELECT 1 FROM resources n WHERE n.res_type = r.res_type AND n.res_id = r.res_id AND n.version > r.version AND n.last_updated <= ",
            );
            sql.bind(lo).push(")");
        }
    };
    let mut total_sql = session.sql();
    total_sql.push("SELECT count(*) FROM resources r");
    filter(&mut total_sql);
    let total = session.fetch_int(total_sql).await?;
    let offset = (query.page - 1).checked_mul(query.count);
    let Some(offset) = offset.filter(|o| query.count > 0 && query.page >= 1 && *o < total) else {
        return Ok(HistoryResult {
            total,
            entries: Vec::new(),
        });
    };
    let mut sql = session.sql();
    push_version_select(&mut sql);
    filter(&mut sql);
    sql.push(" ORDER BY r.seq DESC LIMIT ")
        .bind(query.count)
        .push(" OFFSET ")
        .bind(offset);
    let entries = session
        .fetch(sql, VERSION_COLS)
        .await?
        .into_iter()
        .map(stored_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HistoryResult { total, entries })
}
