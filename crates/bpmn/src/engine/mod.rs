//! The engine: deployed definitions, running instances, commands and queries.

mod commands;
mod inline;
mod queries;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::deploy::{self, AddedListener, DeployOptions};
use crate::error::EngineError;
use crate::exec::timers;
use crate::exec::{
    DefinitionId, Effect, HistoryEntry, Incident, Instance, InstanceState, ItemId, Outbox, WorkItem,
};
use crate::model::{ElementKind, Process, Trigger};
use crate::store::{CommitError, InstanceRecord, StartTimerRecord, Store, StoredDefinition};
use crate::value::Variables;

pub use inline::InlineClasses;

/// A deployed process definition.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionInfo {
    /// Key and engine version.
    pub id: DefinitionId,
    /// `camunda:versionTag`.
    pub version_tag: Option<String>,
    /// The process name.
    pub name: Option<String>,
    /// Message names of its message start events.
    pub start_messages: Vec<String>,
}

struct Deployed {
    info: DefinitionInfo,
    process: Arc<Process>,
    xml: String,
}

/// A message to correlate with a waiting execution.
#[derive(Debug, Clone, Default)]
pub struct Correlation {
    /// The message name.
    pub message: String,
    /// The instance's business key (or its `alternativeBusinessKey` variable).
    pub business_key: Option<String>,
    /// Matches the variable `correlationKey` visible from the waiting execution.
    pub correlation_key: Option<String>,
    /// Variables set on the receiving execution.
    pub variables: Variables,
}

/// What a query shows of an instance.
#[derive(Debug, Clone)]
pub struct InstanceInfo {
    /// Instance id.
    pub id: Uuid,
    /// Its definition.
    pub definition: DefinitionId,
    /// Business key.
    pub business_key: Option<String>,
    /// Lifecycle state.
    pub state: InstanceState,
    /// Variables of the process instance scope.
    pub variables: Variables,
    /// Ids of the elements where tokens are.
    pub active_elements: Vec<String>,
    /// What ran when, with which outcome.
    pub history: Vec<HistoryEntry>,
    /// Open incidents.
    pub incidents: Vec<Incident>,
    /// Work items waiting for retry or failed, with their last error.
    pub failed_work: Vec<(ItemId, String)>,
    /// Started.
    pub started: OffsetDateTime,
    /// Ended.
    pub ended: Option<OffsetDateTime>,
}

/// How an engine is set up.
#[derive(Clone)]
pub struct EngineConfig {
    /// Where the engine reads the time; the system clock by default.
    pub clock: Arc<dyn Clock>,
    /// Execution listeners added to every deployed process, as the reference's parse listener
    /// adds its start, continue and end listeners.
    pub listeners: Vec<AddedListener>,
    /// Set when several engines share the store: each command reads the instance from the store
    /// first, due instances are leased for this long, and work handed out stays locked to this
    /// engine for this long (its class must report within it); classes given to the engine are
    /// handed out too rather than run in place ([`InlineClasses`]). `None`: this engine is the
    /// store's only user and keeps what it loaded. Timer start events are kept in the store and
    /// start one instance per due time whichever engine fires them.
    pub lease: Option<time::Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            clock: Arc::new(SystemClock),
            listeners: Vec::new(),
            lease: None,
        }
    }
}

/// The BPMN engine over a [`Store`].
pub struct Engine<S: Store> {
    store: S,
    clock: Arc<dyn Clock>,
    listeners: Vec<AddedListener>,
    lease: Option<time::Duration>,
    /// Identifies this engine as the holder of leases.
    node: Uuid,
    definitions: Vec<Deployed>,
    active: HashMap<Uuid, Instance>,
    by_business_key: HashMap<String, Vec<Uuid>>,
    due_index: BTreeSet<(OffsetDateTime, Uuid)>,
    due_of: HashMap<Uuid, OffsetDateTime>,
    by_alternative_key: HashMap<String, Vec<Uuid>>,
    alternative_key_of: HashMap<Uuid, String>,
    start_timers: Vec<StartTimerRecord>,
    effects: Vec<Effect>,
    /// Classes run in place of handing their work out ([`inline`]).
    inline: Option<Arc<dyn InlineClasses>>,
}

fn store_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> EngineError {
    EngineError::Store(Box::new(e))
}

impl<S: Store> Engine<S> {
    /// Opens an engine on a store with the system clock, resuming what the store holds.
    pub async fn new(store: S) -> Result<Self, EngineError> {
        Self::open(store, EngineConfig::default()).await
    }

    /// Opens an engine with the given clock, resuming what the store holds.
    pub async fn with_clock(store: S, clock: Arc<dyn Clock>) -> Result<Self, EngineError> {
        Self::open(
            store,
            EngineConfig {
                clock,
                ..EngineConfig::default()
            },
        )
        .await
    }

    /// Opens an engine with a configuration, resuming what the store holds.
    pub async fn open(store: S, config: EngineConfig) -> Result<Self, EngineError> {
        let mut engine = Engine {
            store,
            clock: config.clock,
            listeners: config.listeners,
            lease: config.lease,
            node: Uuid::new_v4(),
            definitions: Vec::new(),
            active: HashMap::new(),
            by_business_key: HashMap::new(),
            due_index: BTreeSet::new(),
            due_of: HashMap::new(),
            by_alternative_key: HashMap::new(),
            alternative_key_of: HashMap::new(),
            start_timers: Vec::new(),
            effects: Vec::new(),
            inline: None,
        };
        engine.sync_definitions().await?;
        for record in engine.store.load_unfinished().await.map_err(store_error)? {
            let instance: Instance = serde_json::from_slice(&record.data)
                .map_err(|e| EngineError::Store(Box::new(e)))?;
            engine.index(&instance);
            // Work that was handed out but not reported before the restart is handed out again.
            if let Some(process) = engine.process(&instance.definition) {
                for (seq, work) in &instance.works {
                    if work.failed.is_none() && !work.retrying {
                        engine
                            .effects
                            .extend(work_item(&process, &instance, *seq).map(Effect::Work));
                    }
                }
            }
            let id = instance.id;
            engine.active.insert(id, instance);
            engine.reindex_due(id);
            engine.reindex_alternative_key(id);
        }
        Ok(engine)
    }

    /// The clock's current time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    pub(super) fn index(&mut self, instance: &Instance) {
        if let Some(bk) = &instance.business_key {
            self.by_business_key
                .entry(bk.clone())
                .or_default()
                .push(instance.id);
        }
    }

    pub(super) fn add_definition(
        &mut self,
        id: DefinitionId,
        process: Process,
        xml: String,
    ) -> DefinitionInfo {
        let info = DefinitionInfo {
            id,
            version_tag: process.version_tag.clone(),
            name: process.name.clone(),
            start_messages: process
                .start_messages()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        self.definitions.push(Deployed {
            info: info.clone(),
            process: Arc::new(process),
            xml,
        });
        info
    }

    /// Schedules the timer start events of the latest version of `key` from now and stores them,
    /// replacing older ones (at deployment and undeployment).
    pub(super) async fn schedule_start_timers(&mut self, key: &str) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut timers = Vec::new();
        let latest = self
            .definitions
            .iter()
            .filter(|d| d.info.id.key == key)
            .max_by_key(|d| d.info.id.version);
        if let Some(latest) = latest {
            let process = &latest.process;
            for element in process.start_events(None) {
                if let ElementKind::StartEvent {
                    trigger: Trigger::Timer(def),
                    ..
                } = &process.elements[element].kind
                    && let Ok((due, repeat)) = timers::schedule(def, &Variables::new(), now)
                {
                    timers.push(StartTimerRecord {
                        definition: latest.info.id.clone(),
                        element: process.elements[element].id.clone(),
                        due,
                        repeat,
                    });
                }
            }
        }
        self.store
            .save_start_timers(key, timers.clone())
            .await
            .map_err(store_error)?;
        self.start_timers.retain(|t| t.definition.key != key);
        self.start_timers.extend(timers);
        Ok(())
    }

    pub(super) fn process(&self, id: &DefinitionId) -> Option<Arc<Process>> {
        self.definitions
            .iter()
            .find(|d| &d.info.id == id)
            .map(|d| d.process.clone())
    }

    /// Deploys every process of a BPMN file. Nothing deploys unless all of it is valid. A process
    /// whose key and version tag are already deployed with the same content keeps its version.
    pub async fn deploy(
        &mut self,
        xml: &str,
        options: &DeployOptions,
    ) -> Result<Vec<DefinitionInfo>, EngineError> {
        let (definitions, filled, _) = deploy::prepare(xml, options, &self.listeners)
            .map_err(|(e, _)| EngineError::Deploy(e))?;
        let mut out = Vec::new();
        for process in definitions.processes {
            if let Some(existing) = self.definitions.iter().find(|d| {
                d.info.id.key == process.id
                    && d.info.version_tag == process.version_tag
                    && d.xml == filled
            }) {
                out.push(existing.info.clone());
                continue;
            }
            let version = self
                .definitions
                .iter()
                .filter(|d| d.info.id.key == process.id)
                .map(|d| d.info.id.version)
                .max()
                .unwrap_or(0)
                + 1;
            let id = DefinitionId {
                key: process.id.clone(),
                version,
            };
            self.store
                .save_definition(&StoredDefinition {
                    id: id.clone(),
                    version_tag: process.version_tag.clone(),
                    xml: filled.clone(),
                })
                .await
                .map_err(store_error)?;
            let key = process.id.clone();
            out.push(self.add_definition(id, process, filled.clone()));
            self.schedule_start_timers(&key).await?;
        }
        Ok(out)
    }

    /// Removes a definition; refused while instances of it have not ended.
    pub async fn undeploy(&mut self, id: &DefinitionId) -> Result<(), EngineError> {
        let running = self.active.values().filter(|i| &i.definition == id).count();
        if running > 0 {
            return Err(EngineError::DefinitionInUse {
                key: id.key.clone(),
                version: id.version,
                running,
            });
        }
        self.store
            .delete_definition(id)
            .await
            .map_err(store_error)?;
        self.definitions.retain(|d| &d.info.id != id);
        self.schedule_start_timers(&id.key).await
    }

    /// Deployed definitions, ordered by key and version.
    pub fn definitions(&self) -> Vec<DefinitionInfo> {
        let mut out: Vec<DefinitionInfo> =
            self.definitions.iter().map(|d| d.info.clone()).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The latest version of a key, optionally with a given version tag.
    pub fn find_definition(&self, key: &str, version_tag: Option<&str>) -> Option<DefinitionInfo> {
        self.definitions
            .iter()
            .filter(|d| {
                d.info.id.key == key
                    && version_tag.is_none_or(|t| d.info.version_tag.as_deref() == Some(t))
            })
            .max_by_key(|d| d.info.id.version)
            .map(|d| d.info.clone())
    }

    /// Delivers thrown signals, runs work in place where classes are given ([`inline`]), collects
    /// effects and commits the touched instances.
    pub(super) async fn finish(
        &mut self,
        mut touched: Vec<Uuid>,
        mut outbox: Outbox,
    ) -> Result<(), EngineError> {
        let (mut rounds, mut inline) = (0, inline::MAX_INLINE_PER_COMMAND);
        loop {
            // signals first: they reach what waited when they were thrown, before the work that
            // followed the throw runs
            if outbox.signals.is_empty() || rounds >= 100 {
                if self.run_inline(&mut outbox, &mut inline) {
                    continue;
                }
                break;
            }
            rounds += 1;
            let signals = std::mem::take(&mut outbox.signals);
            for name in signals {
                let (more, next) = self.deliver_signal(&name, &Variables::new()).await?;
                touched.extend(more);
                outbox.signals.extend(next.signals);
                outbox.effects.extend(next.effects);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        // effects of a command that did not commit never reach the host
        self.commit(&touched).await?;
        self.effects.append(&mut outbox.effects);
        Ok(())
    }

    pub(super) async fn commit(&mut self, ids: &[Uuid]) -> Result<(), EngineError> {
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(instance) = self.active.get_mut(id) else {
                continue;
            };
            instance.revision += 1;
            let data =
                serde_json::to_vec(&*instance).map_err(|e| EngineError::Store(Box::new(e)))?;
            records.push(InstanceRecord {
                id: *id,
                definition: instance.definition.clone(),
                business_key: instance.business_key.clone(),
                state: instance.state.clone(),
                next_due: instance.next_due(),
                revision: instance.revision,
                data,
            });
        }
        match self.store.commit(records).await {
            Ok(()) => {}
            Err(CommitError::Conflict(id)) => {
                // what this engine computed is void: forget it, the store's version is read again
                for touched in ids {
                    self.forget(*touched);
                }
                return Err(EngineError::Conflict(id));
            }
            Err(CommitError::Store(e)) => {
                for touched in ids {
                    self.forget(*touched);
                }
                return Err(store_error(e));
            }
        }
        for id in ids {
            self.reindex_due(*id);
            self.reindex_alternative_key(*id);
            if self.active.get(id).is_some_and(Instance::is_ended)
                && let Some(instance) = self.active.remove(id)
                && let Some(bk) = &instance.business_key
                && let Some(list) = self.by_business_key.get_mut(bk)
            {
                list.retain(|i| i != id);
                if list.is_empty() {
                    self.by_business_key.remove(bk);
                }
            }
        }
        Ok(())
    }

    /// Takes in the stored definitions this engine does not know yet (at start, and when engines
    /// share the store, whenever another engine may have deployed) and then the stored timer
    /// start events. Returns how many definitions were new.
    pub(super) async fn sync_definitions(&mut self) -> Result<usize, EngineError> {
        let stored = self.store.load_definitions().await.map_err(store_error)?;
        let options = DeployOptions {
            allow_unknown_classes: true,
            ..DeployOptions::default()
        };
        let mut added = 0;
        for d in stored {
            if self.definitions.iter().any(|known| known.info.id == d.id) {
                continue;
            }
            let (definitions, _, _) = deploy::prepare(&d.xml, &options, &self.listeners)
                .map_err(|(e, _)| EngineError::Deploy(e))?;
            for process in definitions.processes {
                if process.id == d.id.key {
                    self.add_definition(d.id.clone(), process, d.xml.clone());
                    added += 1;
                }
            }
        }
        if added > 0 {
            self.start_timers = self.store.load_start_timers().await.map_err(store_error)?;
        }
        Ok(added)
    }

    /// Drops an instance from memory; the next command reads it from the store.
    pub(super) fn forget(&mut self, id: Uuid) {
        if let Some(instance) = self.active.remove(&id)
            && let Some(bk) = &instance.business_key
            && let Some(list) = self.by_business_key.get_mut(bk)
        {
            list.retain(|i| *i != id);
            if list.is_empty() {
                self.by_business_key.remove(bk);
            }
        }
        self.reindex_due(id);
        self.reindex_alternative_key(id);
    }

    /// Takes a stored instance into memory unless the copy there is as recent. An instance of a
    /// definition this engine does not know yet (deployed by another engine) reads the stored
    /// definitions first.
    pub(super) async fn load_record(&mut self, record: InstanceRecord) -> Result<(), EngineError> {
        if self.process(&record.definition).is_none() {
            self.sync_definitions().await?;
        }
        let current = self
            .active
            .get(&record.id)
            .is_some_and(|i| i.revision >= record.revision);
        if current {
            return Ok(());
        }
        let instance: Instance =
            serde_json::from_slice(&record.data).map_err(|e| EngineError::Store(Box::new(e)))?;
        self.forget(record.id);
        if instance.is_ended() {
            return Ok(());
        }
        self.index(&instance);
        let id = instance.id;
        self.active.insert(id, instance);
        self.reindex_due(id);
        self.reindex_alternative_key(id);
        Ok(())
    }

    /// When engines share the store, reads the instance again if another engine changed it.
    pub(super) async fn refresh(&mut self, id: Uuid) -> Result<(), EngineError> {
        if self.lease.is_none() {
            return Ok(());
        }
        match self.store.load_instance(id).await.map_err(store_error)? {
            Some(record) => self.load_record(record).await,
            None => {
                self.forget(id);
                Ok(())
            }
        }
    }

    /// Indexes the `alternativeBusinessKey` variable, under which messages correlate too.
    pub(super) fn reindex_alternative_key(&mut self, id: Uuid) {
        if let Some(old) = self.alternative_key_of.remove(&id)
            && let Some(list) = self.by_alternative_key.get_mut(&old)
        {
            list.retain(|i| *i != id);
            if list.is_empty() {
                self.by_alternative_key.remove(&old);
            }
        }
        let key = self
            .active
            .get(&id)
            .filter(|i| !i.is_ended())
            .and_then(|i| i.root_variable("alternativeBusinessKey"))
            .and_then(|v| v.as_str().map(str::to_owned));
        if let Some(key) = key {
            self.by_alternative_key
                .entry(key.clone())
                .or_default()
                .push(id);
            self.alternative_key_of.insert(id, key);
        }
    }

    pub(super) fn reindex_due(&mut self, id: Uuid) {
        if let Some(old) = self.due_of.remove(&id) {
            self.due_index.remove(&(old, id));
        }
        let due = self
            .active
            .get(&id)
            .filter(|i| i.state == InstanceState::Active)
            .and_then(Instance::next_due);
        if let Some(due) = due {
            self.due_of.insert(id, due);
            self.due_index.insert((due, id));
        }
    }
}

fn work_item(process: &Process, instance: &Instance, seq: u64) -> Option<WorkItem> {
    let w = instance.works.get(&seq)?;
    let (scope, top_level) = instance.scope_of_token(w.token);
    Some(WorkItem {
        id: ItemId {
            instance: instance.id,
            seq,
        },
        definition: instance.definition.clone(),
        business_key: instance.business_key.clone(),
        element: process.elements[w.element].id.clone(),
        scope,
        top_level,
        class: w.class.clone(),
        kind: w.kind.clone(),
        fields: w.fields.clone(),
        attempt: w.attempts + 1,
    })
}
