//! Commands: start, correlate, signal, complete work and user tasks, fire due timers, resolve
//! incidents, suspend and delete. Each runs the instances it touches until they wait, then commits.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Correlation, Engine, store_error};
use crate::error::EngineError;
use crate::exec::{
    DefinitionId, Effect, Exec, Instance, InstanceState, ItemId, Outbox, WaitKind, WaitRole,
    WorkResult,
};
use crate::model::{ElementKind, Trigger};
use crate::store::{StartTimerRecord, Store};
use crate::value::Variables;

impl<S: Store> Engine<S> {
    /// Starts an instance at the message start event for `message` (an empty message name selects
    /// the none start event).
    pub async fn start_by_message(
        &mut self,
        message: &str,
        key: &str,
        version_tag: Option<&str>,
        business_key: Option<String>,
        variables: Variables,
    ) -> Result<Uuid, EngineError> {
        if self.lease.is_some() && self.find_definition(key, version_tag).is_none() {
            self.sync_definitions().await?;
        }
        let info = self.find_definition(key, version_tag).ok_or_else(|| {
            EngineError::DefinitionNotFound {
                key: key.to_owned(),
                version_tag: version_tag.map(str::to_owned),
            }
        })?;
        self.start_definition(&info.id, message, business_key, variables)
            .await
    }

    /// Starts an instance of one definition version at the message start event for `message`
    /// (an empty message name selects the none start event).
    pub async fn start_definition(
        &mut self,
        definition: &DefinitionId,
        message: &str,
        business_key: Option<String>,
        variables: Variables,
    ) -> Result<Uuid, EngineError> {
        let process = self
            .process(definition)
            .ok_or_else(|| EngineError::DefinitionNotFound {
                key: definition.key.clone(),
                version_tag: None,
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
                key: definition.key.clone(),
                message: message.to_owned(),
            })?;
        let id = Uuid::new_v4();
        let mut instance = Instance::new(id, definition.clone(), business_key, self.now());
        self.index(&instance);
        let mut outbox = Outbox::default();
        Exec::new(&process, &mut instance, self.now(), &mut outbox)
            .with_lease(self.lease)
            .start(start, variables);
        self.active.insert(id, instance);
        self.finish(vec![id], outbox).await?;
        Ok(id)
    }

    /// Starts an instance at its none start event.
    pub async fn start(
        &mut self,
        key: &str,
        version_tag: Option<&str>,
        business_key: Option<String>,
        variables: Variables,
    ) -> Result<Uuid, EngineError> {
        self.start_by_message("", key, version_tag, business_key, variables)
            .await
    }

    /// Runs `f` on an active instance, then commits.
    pub(super) async fn command(
        &mut self,
        id: Uuid,
        f: impl FnOnce(&mut Exec<'_>) + Send,
    ) -> Result<(), EngineError> {
        self.refresh(id).await?;
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
            let mut exec =
                Exec::new(&process, &mut instance, self.now(), &mut outbox).with_lease(self.lease);
            f(&mut exec);
            exec.run();
        }
        self.active.insert(id, instance);
        self.finish(vec![id], outbox).await
    }

    pub(super) async fn deliver_signal(
        &mut self,
        name: &str,
        variables: &Variables,
    ) -> Result<(Vec<Uuid>, Outbox), EngineError> {
        if self.lease.is_some() {
            // signals reach instances other engines hold too
            for record in self.store.load_unfinished().await.map_err(store_error)? {
                self.load_record(record).await?;
            }
        }
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
                let mut exec = Exec::new(&process, &mut instance, self.now(), &mut outbox)
                    .with_lease(self.lease);
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
                .with_lease(self.lease)
                .start(start, variables.clone());
            self.active.insert(id, instance);
            touched.push(id);
        }
        Ok((touched, outbox))
    }

    /// Throws a signal to every waiting execution and starts the definitions with a matching signal
    /// start event; returns how many instances received it.
    pub async fn signal(&mut self, name: &str, variables: Variables) -> Result<usize, EngineError> {
        let (touched, outbox) = self.deliver_signal(name, &variables).await?;
        let count = touched.len();
        self.finish(touched, outbox).await?;
        Ok(count)
    }

    /// Correlates a message with exactly one waiting execution (intermediate catch event, receive
    /// task, boundary event or event sub-process start).
    pub async fn correlate(&mut self, correlation: Correlation) -> Result<Uuid, EngineError> {
        if self.lease.is_some()
            && let Some(bk) = &correlation.business_key
        {
            let records = self
                .store
                .find_by_business_key(bk)
                .await
                .map_err(store_error)?;
            let cached: Vec<Uuid> = self.instances_by_business_key(bk);
            for record in records {
                self.load_record(record).await?;
            }
            // copies of instances another engine ended meanwhile
            for id in cached {
                self.refresh(id).await?;
            }
        }
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
        self.command(id, move |exec| exec.fire(wait, variables))
            .await?;
        Ok(id)
    }

    /// Reports the result of a work item.
    pub async fn complete_work(
        &mut self,
        id: ItemId,
        result: WorkResult,
    ) -> Result<(), EngineError> {
        let open = self
            .active
            .get(&id.instance)
            .and_then(|i| i.works.get(&id.seq))
            .is_some_and(|w| !w.retrying && w.failed.is_none());
        if !open {
            return Err(EngineError::WorkNotFound(id));
        }
        self.command(id.instance, move |exec| exec.finish_work(id.seq, result))
            .await
    }

    /// Resolves the incidents at an element: failed work items are handed out again with fresh
    /// retries, other failed steps (an expression that could not be evaluated, no sequence flow to
    /// take) run again. Returns how many tokens resumed.
    pub async fn retry_incident(
        &mut self,
        instance: Uuid,
        element: &str,
    ) -> Result<usize, EngineError> {
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
        self.command(instance, |exec| resumed = exec.retry_failed(index))
            .await?;
        Ok(resumed)
    }

    /// Sets variables on the process instance scope, as an operator does to resolve an incident.
    pub async fn set_variables(
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
        .await
    }

    /// Completes a user task, setting the given variables.
    pub async fn complete_user_task(
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
        .await
    }

    /// Starts instances for due timer start events; returns how many started. A due time that
    /// fell while no engine ran starts one instance; the next due time then lies after `now`.
    pub(super) async fn fire_start_timers(
        &mut self,
        now: OffsetDateTime,
    ) -> Result<usize, EngineError> {
        if !self.start_timers.iter().any(|t| t.due <= now) {
            return Ok(0);
        }
        // another engine sharing the store may have fired them already
        self.start_timers = self.store.load_start_timers().await.map_err(store_error)?;
        let due: Vec<StartTimerRecord> = self
            .start_timers
            .iter()
            .filter(|t| t.due <= now)
            .cloned()
            .collect();
        let mut started = 0;
        for timer in due {
            if self.start_by_timer(&timer, now).await? {
                started += 1;
            }
            let next = timer
                .repeat
                .as_ref()
                .and_then(|r| r.next_after(timer.due, now))
                .map(|(due, repeat)| StartTimerRecord {
                    due,
                    repeat: Some(repeat),
                    ..timer.clone()
                });
            self.store
                .advance_start_timer(&timer, next.as_ref())
                .await
                .map_err(store_error)?;
            self.start_timers.retain(|t| t != &timer);
            self.start_timers.extend(next);
        }
        Ok(started)
    }

    /// Starts the instance of one due time of a timer start event, unless it was started before
    /// (by another engine, or before a restart): its id is derived from the timer and due time,
    /// so a second start conflicts with the first. Returns whether it started.
    async fn start_by_timer(
        &mut self,
        timer: &StartTimerRecord,
        now: OffsetDateTime,
    ) -> Result<bool, EngineError> {
        let Some(process) = self.process(&timer.definition) else {
            return Ok(false);
        };
        let Some(element) = process.element_index(&timer.element) else {
            return Ok(false);
        };
        let name = format!(
            "{}/{}/{}/{}",
            timer.definition.key,
            timer.definition.version,
            timer.element,
            timer.due.unix_timestamp_nanos()
        );
        let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes());
        let mut instance = Instance::new(id, timer.definition.clone(), None, now);
        let mut outbox = Outbox::default();
        Exec::new(&process, &mut instance, now, &mut outbox)
            .with_lease(self.lease)
            .start(element, Variables::new());
        self.active.insert(id, instance);
        match self.finish(vec![id], outbox).await {
            Ok(()) => Ok(true),
            Err(EngineError::Conflict(c)) if c == id => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Fires every timer and job due at the clock's time (timer start events included); returns
    /// how many fired.
    pub async fn run_due(&mut self) -> Result<usize, EngineError> {
        let mut fired = 0;
        // Each round fires what is due; jobs created due now (async continuations) come in the
        // next round. The bound only guards against a store that keeps reporting the same due
        // instances.
        for _ in 0..10_000 {
            let now = self.now();
            fired += self.fire_start_timers(now).await?;
            let ids: Vec<Uuid> = match self.lease {
                Some(lease) => {
                    let records = self
                        .store
                        .acquire_due(self.node, now, now + lease, 100)
                        .await
                        .map_err(store_error)?;
                    let mut ids = Vec::with_capacity(records.len());
                    for record in records {
                        ids.push(record.id);
                        self.load_record(record).await?;
                    }
                    ids
                }
                None => self
                    .due_index
                    .iter()
                    .take_while(|(due, _)| *due <= now)
                    .map(|(_, id)| *id)
                    .collect(),
            };
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
                let expired_work = self.active.get(&id).is_some_and(|i| {
                    i.works
                        .values()
                        .any(|w| w.locked_until.is_some_and(|until| until <= now))
                });
                if due.is_empty() && !expired_work {
                    continue;
                }
                let fired_here = self
                    .command(id, move |exec| {
                        exec.reissue_expired_work();
                        for (_, wait) in due {
                            exec.fire(wait, Variables::new());
                        }
                    })
                    .await;
                match fired_here {
                    // another engine sharing the store ended the instance since it was leased
                    Err(EngineError::InstanceNotFound(_)) if self.lease.is_some() => {}
                    other => other?,
                }
            }
        }
        Ok(fired)
    }

    /// Suspends an instance: no work is accepted and no event delivered until it is activated.
    pub async fn suspend(&mut self, id: Uuid) -> Result<(), EngineError> {
        self.set_state(id, InstanceState::Active, InstanceState::Suspended)
            .await
    }

    /// Activates a suspended instance.
    pub async fn activate(&mut self, id: Uuid) -> Result<(), EngineError> {
        self.set_state(id, InstanceState::Suspended, InstanceState::Active)
            .await
    }

    pub(super) async fn set_state(
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
        self.commit(&[id]).await
    }

    /// Deletes a running or suspended instance, recording the reason.
    pub async fn delete(&mut self, id: Uuid, reason: &str) -> Result<(), EngineError> {
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
        self.commit(&[id]).await
    }
}
