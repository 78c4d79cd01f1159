//! Durable state behind a trait: deployed definitions and process instances.
//!
//! The engine commits once per command, when every token of the touched instances waits (for a
//! message, timer, work item, user task or async continuation). A commit hands the store one
//! [`InstanceRecord`] per changed instance: the serialized instance plus the columns a SQL store
//! indexes (definition, business key, state, next due time). [`MemoryStore`] keeps them in memory;
//! its clones share one state, which lets tests drop an engine and open another on the same data.
//!
//! What a restart re-runs: work items that were handed out but not reported are handed out again
//! (at least once; classes that must not repeat an effect run behind an async boundary), due
//! timers and jobs fire once, and everything before the last commit is kept.
//!
//! A store serves one engine at a time: the engine keeps the unfinished instances it loaded and
//! writes them through. Engines sharing one database need, in addition, a revision per record
//! checked at commit and leased acquisition of due instances (`FOR UPDATE SKIP LOCKED`); the SQL
//! store is where those belong.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::exec::{DefinitionId, InstanceState};

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
    /// The serialized instance (JSON).
    pub data: Vec<u8>,
}

/// Persistence for the engine.
pub trait Store {
    /// The store's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// All deployed definitions.
    fn load_definitions(&self) -> Result<Vec<StoredDefinition>, Self::Error>;

    /// Saves a deployed definition.
    fn save_definition(&mut self, definition: &StoredDefinition) -> Result<(), Self::Error>;

    /// Removes a definition.
    fn delete_definition(&mut self, id: &DefinitionId) -> Result<(), Self::Error>;

    /// Saves the changed instances atomically.
    fn commit(&mut self, instances: Vec<InstanceRecord>) -> Result<(), Self::Error>;

    /// One instance.
    fn load_instance(&self, id: Uuid) -> Result<Option<InstanceRecord>, Self::Error>;

    /// Instances that have not ended (to resume after a restart).
    fn load_unfinished(&self) -> Result<Vec<InstanceRecord>, Self::Error>;

    /// Ids and states of all instances, ended ones included.
    fn list_instances(&self) -> Result<Vec<(Uuid, DefinitionId, InstanceState)>, Self::Error>;
}

#[derive(Debug, Default)]
struct MemoryState {
    definitions: BTreeMap<DefinitionId, StoredDefinition>,
    instances: HashMap<Uuid, InstanceRecord>,
    commits: u64,
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

    fn load_definitions(&self) -> Result<Vec<StoredDefinition>, Infallible> {
        Ok(self.lock().definitions.values().cloned().collect())
    }

    fn save_definition(&mut self, definition: &StoredDefinition) -> Result<(), Infallible> {
        self.lock()
            .definitions
            .insert(definition.id.clone(), definition.clone());
        Ok(())
    }

    fn delete_definition(&mut self, id: &DefinitionId) -> Result<(), Infallible> {
        self.lock().definitions.remove(id);
        Ok(())
    }

    fn commit(&mut self, instances: Vec<InstanceRecord>) -> Result<(), Infallible> {
        let mut state = self.lock();
        state.commits += 1;
        for record in instances {
            state.instances.insert(record.id, record);
        }
        Ok(())
    }

    fn load_instance(&self, id: Uuid) -> Result<Option<InstanceRecord>, Infallible> {
        Ok(self.lock().instances.get(&id).cloned())
    }

    fn load_unfinished(&self) -> Result<Vec<InstanceRecord>, Infallible> {
        Ok(self
            .lock()
            .instances
            .values()
            .filter(|r| matches!(r.state, InstanceState::Active | InstanceState::Suspended))
            .cloned()
            .collect())
    }

    fn list_instances(&self) -> Result<Vec<(Uuid, DefinitionId, InstanceState)>, Infallible> {
        Ok(self
            .lock()
            .instances
            .values()
            .map(|r| (r.id, r.definition.clone(), r.state.clone()))
            .collect())
    }
}
