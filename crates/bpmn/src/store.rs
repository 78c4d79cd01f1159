//! Durable state behind a trait: deployed definitions and process instances.
//!
//! The engine commits once per command, when every token of the touched instances waits (for a
//! message, timer, work item handed out, user task or async continuation). A commit hands the store one
//! [`InstanceRecord`] per changed instance: the serialized instance plus the columns a SQL store
//! indexes (definition, business key, state, next due time). [`MemoryStore`] keeps them in memory;
//! its clones share one state, which lets tests drop an engine and open another on the same data.
//!
//! What a restart re-runs: work items that were handed out but not reported are handed out again,
//! and classes the engine ran in place after the last commit run again (at least once; classes
//! that must not repeat an effect run behind an async boundary), due timers and jobs fire once,
//! and everything before the last commit is kept.
//!
//! Timer start events are stored too ([`StartTimerRecord`]): each deployed definition's next due
//! time, so that engines sharing the store start one instance per due time, and a due time that
//! fell while no engine ran starts one instance after the restart.
//!
//! Engines may share a store ([`crate::engine::EngineConfig::lease`]): every record carries a
//! revision checked at commit (optimistic locking), due instances are leased to one engine at a
//! time ([`Store::acquire_due`]), and work items handed out carry a lock that another engine takes
//! over when it expires.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::exec::{DefinitionId, InstanceState};
use crate::timer::Repeat;

/// A deployed process definition as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDefinition {
    /// Key and engine version.
    pub id: DefinitionId,
    /// `camunda:versionTag`.
    pub version_tag: Option<String>,
    /// The BPMN XML with placeholders filled.
    pub xml: String,
}

/// A process instance as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// Instance id.
    pub id: Uuid,
    /// Its definition.
    pub definition: DefinitionId,
    /// Business key.
    pub business_key: Option<String>,
    /// Lifecycle state.
    pub state: InstanceState,
    /// The earliest due timer or job.
    pub next_due: Option<OffsetDateTime>,
    /// Counts the commits of the instance, from 1; a commit must carry the stored revision + 1.
    pub revision: u64,
    /// The serialized instance (JSON).
    pub data: Vec<u8>,
}

/// The next due time of a timer start event of the latest version of a definition.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StartTimerRecord {
    /// The definition started.
    pub definition: DefinitionId,
    /// The start event's element id.
    pub element: String,
    /// When it is due.
    pub due: OffsetDateTime,
    /// How a cycle goes on after this due time; `None` for a one-off timer.
    pub repeat: Option<Repeat>,
}

/// Why a commit failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError<E: std::error::Error + 'static> {
    /// Another engine committed the instance since it was read: nothing was written.
    #[error("process instance {0} was changed by another engine")]
    Conflict(Uuid),
    /// The store failed.
    #[error(transparent)]
    Store(E),
}

/// Persistence for the engine. Methods are asynchronous so that a database store does its I/O
/// without blocking; the engine awaits them only between its in-memory steps.
pub trait Store: Send + Sync {
    /// The store's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// All deployed definitions.
    fn load_definitions(
        &self,
    ) -> impl Future<Output = Result<Vec<StoredDefinition>, Self::Error>> + Send;

    /// Saves a deployed definition.
    fn save_definition(
        &self,
        definition: &StoredDefinition,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Removes a definition.
    fn delete_definition(
        &self,
        id: &DefinitionId,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Replaces the stored timer start events of the definitions with key `key` by `timers`.
    fn save_start_timers(
        &self,
        key: &str,
        timers: Vec<StartTimerRecord>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// All stored timer start events.
    fn load_start_timers(
        &self,
    ) -> impl Future<Output = Result<Vec<StartTimerRecord>, Self::Error>> + Send;

    /// Replaces a timer start event that fired by its next due time (`None`: removes it), unless
    /// another engine did so first (its stored due time is no longer `fired.due`).
    fn advance_start_timer(
        &self,
        fired: &StartTimerRecord,
        next: Option<&StartTimerRecord>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Saves the changed instances atomically, or none of them when one record's revision is not
    /// the stored revision + 1 (1 for a new instance). A commit ends the record's lease.
    fn commit(
        &self,
        instances: Vec<InstanceRecord>,
    ) -> impl Future<Output = Result<(), CommitError<Self::Error>>> + Send;

    /// Leases up to `limit` active instances whose next due time has come and that no other
    /// engine holds (or whose lease has expired), until `lease_until`. A SQL store does this with
    /// `SELECT ... FOR UPDATE SKIP LOCKED`.
    fn acquire_due(
        &self,
        owner: Uuid,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<InstanceRecord>, Self::Error>> + Send;

    /// Unfinished instances with a business key.
    fn find_by_business_key(
        &self,
        business_key: &str,
    ) -> impl Future<Output = Result<Vec<InstanceRecord>, Self::Error>> + Send;

    /// One instance.
    fn load_instance(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<InstanceRecord>, Self::Error>> + Send;

    /// Instances that have not ended (to resume after a restart).
    fn load_unfinished(
        &self,
    ) -> impl Future<Output = Result<Vec<InstanceRecord>, Self::Error>> + Send;

    /// Ids, definitions and states of all instances, ended ones included.
    fn list_instances(
        &self,
    ) -> impl Future<Output = Result<Vec<(Uuid, DefinitionId, InstanceState)>, Self::Error>> + Send;
}

#[derive(Debug, Default)]
struct MemoryState {
    definitions: BTreeMap<DefinitionId, StoredDefinition>,
    instances: HashMap<Uuid, InstanceRecord>,
    leases: HashMap<Uuid, (Uuid, OffsetDateTime)>,
    start_timers: Vec<StartTimerRecord>,
    commits: u64,
}

fn unfinished(r: &InstanceRecord) -> bool {
    matches!(r.state, InstanceState::Active | InstanceState::Suspended)
}

/// An in-memory [`Store`]; clones share their content, like connections to one database.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<MemoryState>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many commits the store has received.
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }
}

impl Store for MemoryStore {
    type Error = Infallible;

    async fn load_definitions(&self) -> Result<Vec<StoredDefinition>, Infallible> {
        Ok(self.lock().definitions.values().cloned().collect())
    }

    async fn save_definition(&self, definition: &StoredDefinition) -> Result<(), Infallible> {
        self.lock()
            .definitions
            .insert(definition.id.clone(), definition.clone());
        Ok(())
    }

    async fn delete_definition(&self, id: &DefinitionId) -> Result<(), Infallible> {
        self.lock().definitions.remove(id);
        Ok(())
    }

    async fn save_start_timers(
        &self,
        key: &str,
        timers: Vec<StartTimerRecord>,
    ) -> Result<(), Infallible> {
        let mut state = self.lock();
        state.start_timers.retain(|t| t.definition.key != key);
        state.start_timers.extend(timers);
        Ok(())
    }

    async fn load_start_timers(&self) -> Result<Vec<StartTimerRecord>, Infallible> {
        Ok(self.lock().start_timers.clone())
    }

    async fn advance_start_timer(
        &self,
        fired: &StartTimerRecord,
        next: Option<&StartTimerRecord>,
    ) -> Result<(), Infallible> {
        let mut state = self.lock();
        let Some(i) = state.start_timers.iter().position(|t| t == fired) else {
            return Ok(());
        };
        match next {
            Some(next) => state.start_timers[i] = next.clone(),
            None => {
                state.start_timers.remove(i);
            }
        }
        Ok(())
    }

    async fn commit(&self, instances: Vec<InstanceRecord>) -> Result<(), CommitError<Infallible>> {
        let mut state = self.lock();
        for record in &instances {
            let stored = state.instances.get(&record.id).map_or(0, |r| r.revision);
            if record.revision != stored + 1 {
                return Err(CommitError::Conflict(record.id));
            }
        }
        state.commits += 1;
        for record in instances {
            state.leases.remove(&record.id);
            state.instances.insert(record.id, record);
        }
        Ok(())
    }

    async fn acquire_due(
        &self,
        owner: Uuid,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<InstanceRecord>, Infallible> {
        let mut state = self.lock();
        let state = &mut *state;
        let mut due: Vec<&InstanceRecord> = state
            .instances
            .values()
            .filter(|r| r.state == InstanceState::Active && r.next_due.is_some_and(|d| d <= now))
            .filter(|r| {
                state
                    .leases
                    .get(&r.id)
                    .is_none_or(|(holder, until)| *holder == owner || *until <= now)
            })
            .collect();
        due.sort_by_key(|r| r.next_due);
        due.truncate(limit);
        let acquired: Vec<InstanceRecord> = due.into_iter().cloned().collect();
        for r in &acquired {
            state.leases.insert(r.id, (owner, lease_until));
        }
        Ok(acquired)
    }

    async fn find_by_business_key(
        &self,
        business_key: &str,
    ) -> Result<Vec<InstanceRecord>, Infallible> {
        Ok(self
            .lock()
            .instances
            .values()
            .filter(|r| unfinished(r) && r.business_key.as_deref() == Some(business_key))
            .cloned()
            .collect())
    }

    async fn load_instance(&self, id: Uuid) -> Result<Option<InstanceRecord>, Infallible> {
        Ok(self.lock().instances.get(&id).cloned())
    }

    async fn load_unfinished(&self) -> Result<Vec<InstanceRecord>, Infallible> {
        Ok(self
            .lock()
            .instances
            .values()
            .filter(|r| unfinished(r))
            .cloned()
            .collect())
    }

    async fn list_instances(&self) -> Result<Vec<(Uuid, DefinitionId, InstanceState)>, Infallible> {
        Ok(self
            .lock()
            .instances
            .values()
            .map(|r| (r.id, r.definition.clone(), r.state.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(id: Uuid, revision: u64, due: Option<OffsetDateTime>) -> InstanceRecord {
        InstanceRecord {
            id,
            definition: DefinitionId {
                key: "p".into(),
                version: 1,
            },
            business_key: Some("bk".into()),
            state: InstanceState::Active,
            next_due: due,
            revision,
            data: Vec::new(),
        }
    }

    #[tokio::test]
    async fn commits_need_the_next_revision_and_are_all_or_nothing() {
        let store = MemoryStore::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(store.commit(vec![record(a, 1, None)]).await.is_ok());
        assert!(matches!(
            store.commit(vec![record(b, 1, None), record(a, 1, None)]).await,
            Err(CommitError::Conflict(id)) if id == a
        ));
        assert_eq!(store.load_instance(b).await.ok().flatten(), None);
        assert!(
            store
                .commit(vec![record(a, 2, None), record(b, 1, None)])
                .await
                .is_ok()
        );
        assert_eq!(store.commits(), 2);
    }

    #[tokio::test]
    async fn due_instances_are_leased_to_one_engine_until_the_lease_ends() {
        let store = MemoryStore::new();
        let now = datetime!(2026-11-30 08:00 UTC);
        let (id, later) = (Uuid::new_v4(), Uuid::new_v4());
        let _ = store
            .commit(vec![
                record(id, 1, Some(now)),
                record(later, 1, Some(now + time::Duration::hours(1))),
            ])
            .await;
        let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
        let until = now + time::Duration::seconds(30);
        let ids = |r: Result<Vec<InstanceRecord>, Infallible>| -> Vec<Uuid> {
            r.map(|v| v.into_iter().map(|r| r.id).collect())
                .unwrap_or_default()
        };
        assert_eq!(ids(store.acquire_due(one, now, until, 10).await), vec![id]);
        assert!(ids(store.acquire_due(two, now, until, 10).await).is_empty());
        assert_eq!(
            ids(store.acquire_due(two, until, until, 10).await),
            vec![id]
        );
        // a commit ends the lease
        let _ = store.commit(vec![record(id, 2, Some(now))]).await;
        assert_eq!(ids(store.acquire_due(one, now, until, 10).await), vec![id]);
        assert_eq!(
            store
                .find_by_business_key("bk")
                .await
                .map(|v| v.len())
                .unwrap_or(0),
            2
        );
    }
}
