//! Queries: instances and their history, open work items and user tasks, due times, effects.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Engine, InstanceInfo, store_error, work_item};
use crate::error::EngineError;
use crate::exec::{DefinitionId, Effect, Instance, InstanceState, ItemId, UserTask, WorkItem};
use crate::store::Store;
use crate::value::Variables;

impl<S: Store> Engine<S> {
    /// The earliest due time of any timer or job.
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        let instances = self.due_index.first().map(|(due, _)| *due);
        let starts = self.start_timers.iter().map(|t| t.due).min();
        match (instances, starts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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

    /// An instance, running or ended.
    pub async fn instance(&self, id: Uuid) -> Result<Option<InstanceInfo>, EngineError> {
        let loaded;
        let instance = match self.active.get(&id) {
            Some(i) => i,
            None => match self.store.load_instance(id).await.map_err(store_error)? {
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
    pub async fn instances(&self) -> Result<Vec<(Uuid, DefinitionId, InstanceState)>, EngineError> {
        self.store.list_instances().await.map_err(store_error)
    }

    /// Ids of running or suspended instances with the given business key.
    pub fn instances_by_business_key(&self, business_key: &str) -> Vec<Uuid> {
        self.by_business_key
            .get(business_key)
            .cloned()
            .unwrap_or_default()
    }
}
