//! The engine: deployed definitions, running instances, commands and queries.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::deploy::{self, AddedListener, DeployOptions};
use crate::error::EngineError;
use crate::exec::timers;
use crate::exec::{
    DefinitionId, Effect, Exec, HistoryEntry, Incident, Instance, InstanceState, ItemId, Outbox,
    UserTask, WaitKind, WaitRole, WorkItem, WorkResult,
};
use crate::model::{ElementIdx, ElementKind, Process, Trigger};
use crate::store::{InstanceRecord, Store, StoredDefinition};
use crate::value::Variables;

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

/// A timer start event of the latest version of a definition.
struct StartTimer {
    definition: DefinitionId,
    element: ElementIdx,
    due: OffsetDateTime,
    cycle: Option<(Option<u32>, time::Duration)>,
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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            clock: Arc::new(SystemClock),
            listeners: Vec::new(),
        }
    }
}

/// The BPMN engine over a [`Store`].
pub struct Engine<S: Store> {
    store: S,
    clock: Arc<dyn Clock>,
    listeners: Vec<AddedListener>,
    definitions: Vec<Deployed>,
    active: HashMap<Uuid, Instance>,
    by_business_key: HashMap<String, Vec<Uuid>>,
    due_index: BTreeSet<(OffsetDateTime, Uuid)>,
    due_of: HashMap<Uuid, OffsetDateTime>,
    by_alternative_key: HashMap<String, Vec<Uuid>>,
    alternative_key_of: HashMap<Uuid, String>,
    start_timers: Vec<StartTimer>,
    effects: Vec<Effect>,
}

fn store_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> EngineError {
    EngineError::Store(Box::new(e))
}

impl<S: Store> Engine<S> {
    /// Opens an engine on a store with the system clock, resuming what the store holds.
    pub fn new(store: S) -> Result<Self, EngineError> {
        Self::open(store, EngineConfig::default())
    }

    /// Opens an engine with the given clock, resuming what the store holds.
    pub fn with_clock(store: S, clock: Arc<dyn Clock>) -> Result<Self, EngineError> {
        Self::open(
            store,
            EngineConfig {
                clock,
                ..EngineConfig::default()
            },
        )
    }

    /// Opens an engine with a configuration, resuming what the store holds.
    pub fn open(store: S, config: EngineConfig) -> Result<Self, EngineError> {
        let mut engine = Engine {
            store,
            clock: config.clock,
            listeners: config.listeners,
            definitions: Vec::new(),
            active: HashMap::new(),
            by_business_key: HashMap::new(),
            due_index: BTreeSet::new(),
            due_of: HashMap::new(),
            by_alternative_key: HashMap::new(),
            alternative_key_of: HashMap::new(),
            start_timers: Vec::new(),
            effects: Vec::new(),
        };
        let stored = engine.store.load_definitions().map_err(store_error)?;
        let options = DeployOptions {
            allow_unknown_classes: true,
            ..DeployOptions::default()
        };
        for d in stored {
            let (definitions, _, _) = deploy::prepare(&d.xml, &options, &engine.listeners)
                .map_err(|(e, _)| EngineError::Deploy(e))?;
            for process in definitions.processes {
                if process.id == d.id.key {
                    engine.add_definition(d.id.clone(), process, d.xml.clone());
                }
            }
        }
        let keys: HashSet<String> = engine
            .definitions
            .iter()
            .map(|d| d.info.id.key.clone())
            .collect();
        for key in keys {
            engine.schedule_start_timers(&key);
        }
        for record in engine.store.load_unfinished().map_err(store_error)? {
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

    fn index(&mut self, instance: &Instance) {
        if let Some(bk) = &instance.business_key {
            self.by_business_key
                .entry(bk.clone())
                .or_default()
                .push(instance.id);
        }
    }

    fn add_definition(
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

    /// Schedules the timer start events of the latest version of `key`, replacing older ones.
    /// They are kept in memory: an engine opened later schedules them again from its start.
    fn schedule_start_timers(&mut self, key: &str) {
        self.start_timers.retain(|t| t.definition.key != key);
        let Some(latest) = self
            .definitions
            .iter()
            .filter(|d| d.info.id.key == key)
            .max_by_key(|d| d.info.id.version)
        else {
            return;
        };
        let now = self.clock.now();
        let process = latest.process.clone();
        let definition = latest.info.id.clone();
        for element in process.start_events(None) {
            if let ElementKind::StartEvent {
                trigger: Trigger::Timer(def),
                ..
            } = &process.elements[element].kind
                && let Ok((due, cycle)) = timers::schedule(def, &Variables::new(), now)
            {
                self.start_timers.push(StartTimer {
                    definition: definition.clone(),
                    element,
                    due,
                    cycle,
                });
            }
        }
    }

    /// Starts instances for due timer start events; returns how many started.
    fn fire_start_timers(&mut self, now: OffsetDateTime) -> Result<usize, EngineError> {
        let mut started = 0;
        let mut i = 0;
        while i < self.start_timers.len() {
            if self.start_timers[i].due > now {
                i += 1;
                continue;
            }
            let timer = &mut self.start_timers[i];
            let (definition, element) = (timer.definition.clone(), timer.element);
            match timer.cycle {
                Some((remaining, interval)) if remaining != Some(0) => {
                    timer.due += interval;
                    timer.cycle = Some((remaining.map(|r| r - 1), interval));
                    i += 1;
                }
                _ => {
                    self.start_timers.remove(i);
                }
            }
            let Some(process) = self.process(&definition) else {
                continue;
            };
            let id = Uuid::new_v4();
            let mut instance = Instance::new(id, definition, None, now);
            let mut outbox = Outbox::default();
            Exec::new(&process, &mut instance, now, &mut outbox).start(element, Variables::new());
            self.active.insert(id, instance);
            self.finish(vec![id], outbox)?;
            started += 1;
        }
        Ok(started)
    }

    fn process(&self, id: &DefinitionId) -> Option<Arc<Process>> {
        self.definitions
            .iter()
            .find(|d| &d.info.id == id)
            .map(|d| d.process.clone())
    }

    /// Deploys every process of a BPMN file. Nothing deploys unless all of it is valid. A process
    /// whose key and version tag are already deployed with the same content keeps its version.
    pub fn deploy(
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
                .map_err(store_error)?;
            let key = process.id.clone();
            out.push(self.add_definition(id, process, filled.clone()));
            self.schedule_start_timers(&key);
        }
        Ok(out)
    }

    /// Removes a definition; refused while instances of it have not ended.
    pub fn undeploy(&mut self, id: &DefinitionId) -> Result<(), EngineError> {
        let running = self.active.values().filter(|i| &i.definition == id).count();
        if running > 0 {
            return Err(EngineError::DefinitionInUse {
                key: id.key.clone(),
                version: id.version,
                running,
            });
        }
        self.store.delete_definition(id).map_err(store_error)?;
        self.definitions.retain(|d| &d.info.id != id);
        self.schedule_start_timers(&id.key);
        Ok(())
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

    /// Starts an instance at the message start event for `message` (an empty message name selects
    /// the none start event).
    pub fn start_by_message(
        &mut self,
        message: &str,
        key: &str,
        version_tag: Option<&str>,
        business_key: Option<String>,
        variables: Variables,
    ) -> Result<Uuid, EngineError> {
        let info = self.find_definition(key, version_tag).ok_or_else(|| {
            EngineError::DefinitionNotFound {
                key: key.to_owned(),
                version_tag: version_tag.map(str::to_owned),
            }
        })?;
        let process = self
            .process(&info.id)
            .ok_or_else(|| EngineError::DefinitionNotFound {
                key: key.to_owned(),
                version_tag: version_tag.map(str::to_owned),
            })?;
        let start = process
            .start_events(None)
            .into_iter()
            .find(|&s| match &process.elements[s].kind {
                ElementKind::StartEvent {
                    trigger: Trigger::Message { name, .. },
                    ..
                } => name == message,
                ElementKind::StartEvent {
                    trigger: Trigger::None,
                    ..
                } => message.is_empty(),
                _ => false,
            })
            .ok_or_else(|| EngineError::NoStartEvent {
                key: key.to_owned(),
                message: message.to_owned(),
            })?;
        let id = Uuid::new_v4();
        let mut instance = Instance::new(id, info.id, business_key, self.now());
        self.index(&instance);
        let mut outbox = Outbox::default();
        Exec::new(&process, &mut instance, self.now(), &mut outbox).start(start, variables);
        self.active.insert(id, instance);
        self.finish(vec![id], outbox)?;
        Ok(id)
    }

    /// Starts an instance at its none start event.
    pub fn start(
        &mut self,
        key: &str,
        version_tag: Option<&str>,
        business_key: Option<String>,
        variables: Variables,
    ) -> Result<Uuid, EngineError> {
        self.start_by_message("", key, version_tag, business_key, variables)
    }

    /// Runs `f` on an active instance, then commits.
    fn command(&mut self, id: Uuid, f: impl FnOnce(&mut Exec<'_>)) -> Result<(), EngineError> {
        let mut instance = self
            .active
            .remove(&id)
            .ok_or(EngineError::InstanceNotFound(id))?;
        if instance.state == InstanceState::Suspended {
            self.active.insert(id, instance);
            return Err(EngineError::Suspended(id));
        }
        let Some(process) = self.process(&instance.definition) else {
            self.active.insert(id, instance);
            return Err(EngineError::InstanceNotFound(id));
        };
        let mut outbox = Outbox::default();
        {
            let mut exec = Exec::new(&process, &mut instance, self.now(), &mut outbox);
            f(&mut exec);
            exec.run();
        }
        self.active.insert(id, instance);
        self.finish(vec![id], outbox)
    }

    /// Delivers thrown signals, collects effects and commits the touched instances.
    fn finish(&mut self, mut touched: Vec<Uuid>, mut outbox: Outbox) -> Result<(), EngineError> {
        let mut rounds = 0;
        while !outbox.signals.is_empty() && rounds < 100 {
            rounds += 1;
            let signals = std::mem::take(&mut outbox.signals);
            self.effects.append(&mut outbox.effects);
            for name in signals {
                let (more, next) = self.deliver_signal(&name, &Variables::new());
                touched.extend(more);
                outbox.signals.extend(next.signals);
                outbox.effects.extend(next.effects);
            }
        }
        self.effects.append(&mut outbox.effects);
        touched.sort_unstable();
        touched.dedup();
        self.commit(&touched)
    }

    fn commit(&mut self, ids: &[Uuid]) -> Result<(), EngineError> {
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(instance) = self.active.get(id) else {
                continue;
            };
            let data = serde_json::to_vec(instance).map_err(|e| EngineError::Store(Box::new(e)))?;
            records.push(InstanceRecord {
                id: *id,
                definition: instance.definition.clone(),
                business_key: instance.business_key.clone(),
                state: instance.state.clone(),
                next_due: instance.next_due(),
                data,
            });
        }
        self.store.commit(records).map_err(store_error)?;
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

    fn deliver_signal(&mut self, name: &str, variables: &Variables) -> (Vec<Uuid>, Outbox) {
        let mut touched = Vec::new();
        let mut outbox = Outbox::default();
        let ids: Vec<Uuid> = self
            .active
            .iter()
            .filter(|(_, i)| {
                i.state == InstanceState::Active
                    && i.waits
                        .values()
                        .any(|w| matches!(&w.kind, WaitKind::Signal { name: n } if n == name))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(mut instance) = self.active.remove(&id) else {
                continue;
            };
            if let Some(process) = self.process(&instance.definition) {
                let waits: Vec<u64> = instance
                    .waits
                    .iter()
                    .filter(|(_, w)| matches!(&w.kind, WaitKind::Signal { name: n } if n == name))
                    .map(|(wid, _)| *wid)
                    .collect();
                let mut exec = Exec::new(&process, &mut instance, self.now(), &mut outbox);
                for w in waits {
                    exec.fire(w, variables.clone());
                }
                exec.run();
            }
            self.active.insert(id, instance);
            touched.push(id);
        }
        // signal start events of the latest version of each definition
        let mut starts = Vec::new();
        for d in &self.definitions {
            let latest = self
                .definitions
                .iter()
                .filter(|o| o.info.id.key == d.info.id.key)
                .all(|o| o.info.id.version <= d.info.id.version);
            if !latest {
                continue;
            }
            for s in d.process.start_events(None) {
                if matches!(&d.process.elements[s].kind,
                    ElementKind::StartEvent { trigger: Trigger::Signal { name: n }, .. } if n == name)
                {
                    starts.push((d.info.id.clone(), d.process.clone(), s));
                }
            }
        }
        for (definition, process, start) in starts {
            let id = Uuid::new_v4();
            let mut instance = Instance::new(id, definition, None, self.now());
            Exec::new(&process, &mut instance, self.now(), &mut outbox)
                .start(start, variables.clone());
            self.active.insert(id, instance);
            touched.push(id);
        }
        (touched, outbox)
    }

    /// Throws a signal to every waiting execution and starts the definitions with a matching signal
    /// start event; returns how many instances received it.
    pub fn signal(&mut self, name: &str, variables: Variables) -> Result<usize, EngineError> {
        let (touched, outbox) = self.deliver_signal(name, &variables);
        let count = touched.len();
        self.finish(touched, outbox)?;
        Ok(count)
    }

    /// Correlates a message with exactly one waiting execution (intermediate catch event, receive
    /// task, boundary event or event sub-process start).
    pub fn correlate(&mut self, correlation: Correlation) -> Result<Uuid, EngineError> {
        let candidates: Vec<Uuid> = match &correlation.business_key {
            Some(bk) => {
                let mut ids = self.by_business_key.get(bk).cloned().unwrap_or_default();
                ids.extend(self.by_alternative_key.get(bk).into_iter().flatten());
                ids.sort_unstable();
                ids.dedup();
                ids
            }
            None => self.active.keys().copied().collect(),
        };
        let mut matches = Vec::new();
        for id in candidates {
            let Some(instance) = self.active.get(&id) else {
                continue;
            };
            if instance.state != InstanceState::Active {
                continue;
            }
            let Some(process) = self.process(&instance.definition) else {
                continue;
            };
            for (wid, wait) in &instance.waits {
                let WaitKind::Message { name } = &wait.kind else {
                    continue;
                };
                if name != &correlation.message || wait.role == WaitRole::Job {
                    continue;
                }
                if let Some(ck) = &correlation.correlation_key {
                    let seen = crate::exec::correlation_key(&process, instance, wait);
                    if seen.as_deref() != Some(ck.as_str()) {
                        continue;
                    }
                }
                matches.push((id, *wid));
            }
        }
        let [(id, wait)] = matches.as_slice() else {
            return Err(EngineError::Correlation {
                message: correlation.message,
                business_key: correlation.business_key,
                correlation_key: correlation.correlation_key,
                matches: matches.len(),
            });
        };
        let (id, wait) = (*id, *wait);
        let variables = correlation.variables;
        self.command(id, move |exec| exec.fire(wait, variables))?;
        Ok(id)
    }

    /// Reports the result of a work item.
    pub fn complete_work(&mut self, id: ItemId, result: WorkResult) -> Result<(), EngineError> {
        let open = self
            .active
            .get(&id.instance)
            .and_then(|i| i.works.get(&id.seq))
            .is_some_and(|w| !w.retrying && w.failed.is_none());
        if !open {
            return Err(EngineError::WorkNotFound(id));
        }
        self.command(id.instance, move |exec| exec.finish_work(id.seq, result))
    }

    /// Resolves the incidents at an element: failed work items are handed out again with fresh
    /// retries, other failed steps (an expression that could not be evaluated, no sequence flow to
    /// take) run again. Returns how many tokens resumed.
    pub fn retry_incident(&mut self, instance: Uuid, element: &str) -> Result<usize, EngineError> {
        let definition = self
            .active
            .get(&instance)
            .map(|i| i.definition.clone())
            .ok_or(EngineError::InstanceNotFound(instance))?;
        let index = self
            .process(&definition)
            .and_then(|p| p.element_index(element))
            .ok_or_else(|| EngineError::ElementNotFound(element.to_owned()))?;
        let mut resumed = 0;
        self.command(instance, |exec| resumed = exec.retry_failed(index))?;
        Ok(resumed)
    }

    /// Sets variables on the process instance scope, as an operator does to resolve an incident.
    pub fn set_variables(
        &mut self,
        instance: Uuid,
        variables: Variables,
    ) -> Result<(), EngineError> {
        self.command(instance, move |exec| {
            if let Some(root) = exec
                .inst
                .scopes
                .iter_mut()
                .find(|(_, s)| s.parent.is_none())
                .map(|(_, s)| s)
            {
                root.variables.extend(variables);
            }
        })
    }

    /// The variables a work item's class sees (its activity's locals over the scope chain).
    pub fn work_variables(&self, id: ItemId) -> Result<Variables, EngineError> {
        let instance = self
            .active
            .get(&id.instance)
            .ok_or(EngineError::WorkNotFound(id))?;
        let work = instance
            .works
            .get(&id.seq)
            .ok_or(EngineError::WorkNotFound(id))?;
        let process = self
            .process(&instance.definition)
            .ok_or(EngineError::WorkNotFound(id))?;
        Ok(crate::exec::visible_variables(
            &process, instance, work.token,
        ))
    }

    /// Completes a user task, setting the given variables.
    pub fn complete_user_task(
        &mut self,
        id: ItemId,
        variables: Variables,
    ) -> Result<(), EngineError> {
        let open = self
            .active
            .get(&id.instance)
            .is_some_and(|i| i.user_tasks.contains_key(&id.seq));
        if !open {
            return Err(EngineError::UserTaskNotFound(id));
        }
        self.command(id.instance, move |exec| {
            exec.finish_user_task(id.seq, variables)
        })
    }

    /// The earliest due time of any timer or job.
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        let instances = self.due_index.first().map(|(due, _)| *due);
        let starts = self.start_timers.iter().map(|t| t.due).min();
        match (instances, starts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Indexes the `alternativeBusinessKey` variable, under which messages correlate too.
    fn reindex_alternative_key(&mut self, id: Uuid) {
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

    fn reindex_due(&mut self, id: Uuid) {
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

    /// Fires every timer and job due at the clock's time (timer start events included); returns
    /// how many fired.
    pub fn run_due(&mut self) -> Result<usize, EngineError> {
        let mut fired = 0;
        loop {
            let now = self.now();
            fired += self.fire_start_timers(now)?;
            let ids: Vec<Uuid> = self
                .due_index
                .iter()
                .take_while(|(due, _)| *due <= now)
                .map(|(_, id)| *id)
                .collect();
            if ids.is_empty() {
                return Ok(fired);
            }
            for id in ids {
                let mut due: Vec<(OffsetDateTime, u64)> = self
                    .active
                    .get(&id)
                    .map(|i| {
                        i.waits
                            .iter()
                            .filter_map(|(wid, w)| w.due.filter(|d| *d <= now).map(|d| (d, *wid)))
                            .collect()
                    })
                    .unwrap_or_default();
                due.sort_unstable();
                fired += due.len();
                self.command(id, move |exec| {
                    for (_, wait) in due {
                        exec.fire(wait, Variables::new());
                    }
                })?;
            }
        }
    }

    /// Takes the effects produced since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Work items handed out and not yet reported.
    pub fn pending_work(&self) -> Vec<WorkItem> {
        let mut out = Vec::new();
        for instance in self.active.values() {
            let Some(process) = self.process(&instance.definition) else {
                continue;
            };
            for (seq, w) in &instance.works {
                if w.failed.is_none() && !w.retrying {
                    out.extend(work_item(&process, instance, *seq));
                }
            }
        }
        out
    }

    /// Open user tasks.
    pub fn user_tasks(&self) -> Vec<UserTask> {
        let mut out = Vec::new();
        for instance in self.active.values() {
            let Some(process) = self.process(&instance.definition) else {
                continue;
            };
            for (seq, t) in &instance.user_tasks {
                out.push(UserTask {
                    id: ItemId {
                        instance: instance.id,
                        seq: *seq,
                    },
                    definition: instance.definition.clone(),
                    business_key: instance.business_key.clone(),
                    element: process.elements[t.element].id.clone(),
                    form_key: t.form_key.clone(),
                    created: t.created,
                });
            }
        }
        out
    }

    /// An instance, running or ended.
    pub fn instance(&self, id: Uuid) -> Result<Option<InstanceInfo>, EngineError> {
        let loaded;
        let instance = match self.active.get(&id) {
            Some(i) => i,
            None => match self.store.load_instance(id).map_err(store_error)? {
                Some(record) => {
                    loaded = serde_json::from_slice::<Instance>(&record.data)
                        .map_err(|e| EngineError::Store(Box::new(e)))?;
                    &loaded
                }
                None => return Ok(None),
            },
        };
        let process = self.process(&instance.definition);
        let mut active_elements: Vec<String> = instance
            .active_elements()
            .into_iter()
            .filter_map(|e| process.as_ref().map(|p| p.elements[e].id.clone()))
            .collect();
        active_elements.sort();
        Ok(Some(InstanceInfo {
            id: instance.id,
            definition: instance.definition.clone(),
            business_key: instance.business_key.clone(),
            state: instance.state.clone(),
            variables: instance.variables(),
            active_elements,
            history: instance.history.clone(),
            incidents: instance.incidents.clone(),
            failed_work: instance
                .works
                .iter()
                .filter_map(|(seq, w)| {
                    w.failed.clone().map(|m| {
                        (
                            ItemId {
                                instance: instance.id,
                                seq: *seq,
                            },
                            m,
                        )
                    })
                })
                .collect(),
            started: instance.started,
            ended: instance.ended,
        }))
    }

    /// Ids, definitions and states of all instances in the store.
    pub fn instances(&self) -> Result<Vec<(Uuid, DefinitionId, InstanceState)>, EngineError> {
        self.store.list_instances().map_err(store_error)
    }

    /// Ids of running or suspended instances with the given business key.
    pub fn instances_by_business_key(&self, business_key: &str) -> Vec<Uuid> {
        self.by_business_key
            .get(business_key)
            .cloned()
            .unwrap_or_default()
    }

    /// Suspends an instance: no work is accepted and no event delivered until it is activated.
    pub fn suspend(&mut self, id: Uuid) -> Result<(), EngineError> {
        self.set_state(id, InstanceState::Active, InstanceState::Suspended)
    }

    /// Activates a suspended instance.
    pub fn activate(&mut self, id: Uuid) -> Result<(), EngineError> {
        self.set_state(id, InstanceState::Suspended, InstanceState::Active)
    }

    fn set_state(
        &mut self,
        id: Uuid,
        from: InstanceState,
        to: InstanceState,
    ) -> Result<(), EngineError> {
        let instance = self
            .active
            .get_mut(&id)
            .ok_or(EngineError::InstanceNotFound(id))?;
        if instance.state != from {
            return Err(EngineError::InvalidState {
                id,
                state: instance.state.clone(),
            });
        }
        instance.state = to;
        self.commit(&[id])
    }

    /// Deletes a running or suspended instance, recording the reason.
    pub fn delete(&mut self, id: Uuid, reason: &str) -> Result<(), EngineError> {
        let now = self.now();
        let instance = self
            .active
            .get_mut(&id)
            .ok_or(EngineError::InstanceNotFound(id))?;
        instance.tokens.clear();
        instance.waits.clear();
        instance.works.clear();
        instance.user_tasks.clear();
        instance.state = InstanceState::Deleted(reason.to_owned());
        instance.ended = Some(now);
        self.effects.push(Effect::InstanceEnded {
            instance: id,
            state: InstanceState::Deleted(reason.to_owned()),
        });
        self.commit(&[id])
    }
}

fn work_item(process: &Process, instance: &Instance, seq: u64) -> Option<WorkItem> {
    let w = instance.works.get(&seq)?;
    Some(WorkItem {
        id: ItemId {
            instance: instance.id,
            seq,
        },
        definition: instance.definition.clone(),
        business_key: instance.business_key.clone(),
        element: process.elements[w.element].id.clone(),
        class: w.class.clone(),
        kind: w.kind.clone(),
        fields: w.fields.clone(),
        attempt: w.attempts + 1,
    })
}
