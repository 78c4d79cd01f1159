//! The behaviour of each element kind when a token executes it: tasks, events, sub-processes,
//! gateways and multi-instance bodies.

use super::run::{Exec, Step};
use super::state::{
    MiRole, Phase, Scope, ScopeKind, Token, UserTaskState, Wait, WaitKind, WaitRole, WorkKind,
};
use super::{Effect, ItemId, UserTask};
use crate::model::{ElementIdx, ElementKind, GatewayKind, Implementation, TaskKind, Trigger};
use crate::value::{Value, Variables};

impl Exec<'_> {
    pub(super) fn execute(&mut self, id: u64) -> Step {
        let token = self.token(id)?;
        let element = token.element;
        let triggered = token.triggered;
        let e = &self.process.elements[element];
        if e.multi_instance.is_some() && token.mi == MiRole::None {
            return self.start_multi_instance(id);
        }
        match &e.kind {
            ElementKind::StartEvent { .. } | ElementKind::BoundaryEvent { .. } => {
                self.set_phase(id, Phase::Complete);
            }
            ElementKind::Task(TaskKind::Plain | TaskKind::Manual) => {
                self.set_phase(id, Phase::Complete);
            }
            ElementKind::Task(TaskKind::Service { implementation })
            | ElementKind::Task(TaskKind::Send { implementation }) => {
                let kind = if matches!(e.kind, ElementKind::Task(TaskKind::Service { .. })) {
                    WorkKind::ServiceTask
                } else {
                    WorkKind::SendTask
                };
                match implementation {
                    Some(i) => {
                        self.subscribe_boundaries(id)?;
                        self.create_work(id, i, kind, Some(Phase::Complete), None)?;
                        self.set_phase(id, Phase::Wait);
                    }
                    None => self.set_phase(id, Phase::Complete),
                }
            }
            ElementKind::Task(TaskKind::Receive { message }) => {
                if triggered {
                    self.set_phase(id, Phase::Complete);
                } else {
                    self.subscribe_boundaries(id)?;
                    let scope = self.token(id)?.scope;
                    self.add_wait(Wait {
                        token: Some(id),
                        scope,
                        element,
                        role: WaitRole::Catch,
                        kind: WaitKind::Message {
                            name: message.clone(),
                        },
                        due: None,
                    });
                    self.set_phase(id, Phase::Wait);
                }
            }
            ElementKind::Task(TaskKind::User {
                form_key,
                task_listeners,
            }) => {
                self.subscribe_boundaries(id)?;
                let seq = self.inst.next();
                self.inst.user_tasks.insert(
                    seq,
                    UserTaskState {
                        token: id,
                        element,
                        form_key: form_key.clone(),
                        created: self.now,
                    },
                );
                self.set_phase(id, Phase::Wait);
                self.out.effects.push(Effect::UserTaskCreated(UserTask {
                    id: ItemId {
                        instance: self.inst.id,
                        seq,
                    },
                    definition: self.inst.definition.clone(),
                    business_key: self.inst.business_key.clone(),
                    element: e.id.clone(),
                    form_key: form_key.clone(),
                    created: self.now,
                }));
                for l in task_listeners.iter().filter(|l| l.event == "create") {
                    let implementation = Implementation {
                        class: l.class.clone(),
                        fields: l.fields.clone(),
                    };
                    self.create_work(
                        id,
                        &implementation,
                        WorkKind::TaskListener(l.event.clone()),
                        None,
                        Some(seq),
                    )?;
                }
            }
            ElementKind::SubProcess { .. } => {
                self.subscribe_boundaries(id)?;
                let scope = self.token(id)?.scope;
                let start = self
                    .process
                    .start_events(Some(element))
                    .first()
                    .copied()
                    .ok_or_else(|| self.fail(element, "sub-process without start event"))?;
                let child = self.open_scope(scope, element, id);
                let start_token = self.inst.next();
                self.inst
                    .tokens
                    .insert(start_token, Token::at(child, start));
                if let Some(t) = self.inst.tokens.get_mut(&id) {
                    t.child = Some(child);
                    t.phase = Phase::Wait;
                }
                self.queue.push_back(start_token);
            }
            ElementKind::EndEvent { trigger } | ElementKind::IntermediateThrowEvent { trigger } => {
                match trigger {
                    Trigger::Message {
                        implementation: Some(i),
                        ..
                    } => {
                        self.create_work(
                            id,
                            i,
                            WorkKind::MessageThrow,
                            Some(Phase::Complete),
                            None,
                        )?;
                        self.set_phase(id, Phase::Wait);
                    }
                    Trigger::Signal { name } => {
                        self.out.signals.push(name.clone());
                        self.set_phase(id, Phase::Complete);
                    }
                    Trigger::Error { code, message, .. } => {
                        let code = code.clone().unwrap_or_default();
                        let message = message.clone();
                        self.throw_error(id, &code, message, true)?;
                    }
                    Trigger::Terminate => self.terminate(id),
                    _ => self.set_phase(id, Phase::Complete),
                }
            }
            ElementKind::IntermediateCatchEvent { trigger } => {
                if triggered {
                    self.set_phase(id, Phase::Complete);
                } else {
                    let scope = self.token(id)?.scope;
                    if let Trigger::Conditional { condition } = trigger
                        && self.evaluate_condition(Some(id), scope, condition)?
                    {
                        self.set_phase(id, Phase::Complete);
                        return Ok(());
                    }
                    self.subscribe(Some(id), scope, element, WaitRole::Catch)?;
                    self.set_phase(id, Phase::Wait);
                }
            }
            ElementKind::Gateway(kind) => self.gateway(id, *kind)?,
        }
        Ok(())
    }

    pub(super) fn gateway(&mut self, id: u64, kind: GatewayKind) -> Step {
        let token = self.token(id)?;
        let (element, scope) = (token.element, token.scope);
        let incoming = self.process.elements[element].incoming.len();
        match kind {
            GatewayKind::Exclusive => self.set_phase(id, Phase::Complete),
            GatewayKind::EventBased => {
                for &f in &self.process.elements[element].outgoing {
                    let target = self.process.flows[f].target;
                    self.subscribe(Some(id), scope, target, WaitRole::Gateway)?;
                }
                self.set_phase(id, Phase::Wait);
            }
            GatewayKind::Parallel | GatewayKind::Inclusive => {
                if incoming <= 1 {
                    self.set_phase(id, Phase::Complete);
                    return Ok(());
                }
                let waiting: Vec<u64> = self
                    .inst
                    .tokens
                    .iter()
                    .filter(|(tid, t)| {
                        **tid != id
                            && t.scope == scope
                            && t.element == element
                            && t.phase == Phase::Wait
                    })
                    .map(|(tid, _)| *tid)
                    .collect();
                let ready = waiting.len() + 1 >= incoming
                    || (kind == GatewayKind::Inclusive
                        && !self.others_can_reach(scope, element, id, &waiting));
                if ready {
                    for other in waiting.into_iter().take(incoming - 1) {
                        self.inst.tokens.remove(&other);
                    }
                    self.set_phase(id, Phase::Complete);
                } else {
                    self.set_phase(id, Phase::Wait);
                }
            }
        }
        Ok(())
    }

    /// Whether any token of the scope other than those at the join can still reach it.
    pub(super) fn others_can_reach(
        &self,
        scope: u64,
        join: ElementIdx,
        id: u64,
        waiting: &[u64],
    ) -> bool {
        self.inst.tokens.iter().any(|(tid, t)| {
            *tid != id
                && !waiting.contains(tid)
                && t.scope == scope
                && self.reachable(t.element, join)
        })
    }

    pub(super) fn reachable(&self, from: ElementIdx, to: ElementIdx) -> bool {
        let mut seen = vec![false; self.process.elements.len()];
        let mut stack = vec![from];
        while let Some(e) = stack.pop() {
            if e == to {
                return true;
            }
            if std::mem::replace(&mut seen[e], true) {
                continue;
            }
            let el = &self.process.elements[e];
            stack.extend(el.outgoing.iter().map(|&f| self.process.flows[f].target));
            stack.extend(el.boundary_events.iter().copied());
        }
        false
    }

    pub(super) fn start_multi_instance(&mut self, id: u64) -> Step {
        let element = self.token(id)?.element;
        let Some(mi) = self.process.elements[element].multi_instance.as_ref() else {
            return Err(self.fail(element, "not a multi-instance activity"));
        };
        let items: Vec<Value> = if let Some(collection) = &mi.collection {
            match self.evaluate(id, collection)? {
                Value::Json(serde_json::Value::Array(items)) => {
                    items.into_iter().map(Value::from_json).collect()
                }
                Value::Fhir(serde_json::Value::Array(items)) => {
                    items.into_iter().map(Value::Fhir).collect()
                }
                other => {
                    return Err(self.fail(
                        element,
                        format!(
                            "collection '{}' is a {}, not a list",
                            collection.source(),
                            other.type_name()
                        ),
                    ));
                }
            }
        } else if let Some(cardinality) = &mi.cardinality {
            let n = match self.evaluate(id, cardinality)? {
                Value::Integer(n) => n,
                Value::String(s) => s.trim().parse().unwrap_or(-1),
                _ => -1,
            };
            let n = usize::try_from(n)
                .map_err(|_| self.fail(element, "loopCardinality is not a non-negative integer"))?;
            vec![Value::Null; n]
        } else {
            Vec::new()
        };
        let count = items.len();
        let sequential = mi.sequential;
        if let Some(t) = self.inst.tokens.get_mut(&id) {
            t.locals
                .insert("nrOfInstances".into(), Value::Integer(count as i64));
            t.locals
                .insert("nrOfCompletedInstances".into(), Value::Integer(0));
            t.mi = MiRole::Body {
                items,
                started: 0,
                completed: 0,
                children: Vec::new(),
            };
        }
        if count == 0 {
            self.set_phase(id, Phase::Complete);
            return Ok(());
        }
        self.subscribe_boundaries(id)?;
        self.set_phase(id, Phase::Wait);
        let spawn = if sequential { 1 } else { count };
        for _ in 0..spawn {
            self.spawn_instance(id)?;
        }
        Ok(())
    }

    pub(super) fn spawn_instance(&mut self, body: u64) -> Step {
        let token = self.token(body)?;
        let (element, scope) = (token.element, token.scope);
        let MiRole::Body { items, started, .. } = &token.mi else {
            return Ok(());
        };
        let index = *started;
        let item = items.get(index).cloned().unwrap_or(Value::Null);
        let mut variables = Variables::new();
        variables.insert("loopCounter".into(), Value::Integer(index as i64));
        if let Some(var) = self.process.elements[element]
            .multi_instance
            .as_ref()
            .and_then(|m| m.element_variable.clone())
        {
            variables.insert(var, item);
        }
        let container = self.inst.scopes.get(&scope).and_then(|s| s.container);
        let child = self.inst.next();
        self.inst.scopes.insert(
            child,
            Scope {
                parent: Some(scope),
                container,
                owner: Some(body),
                kind: ScopeKind::MultiInstance,
                variables,
            },
        );
        let mut inner = Token::at(child, element);
        inner.mi = MiRole::Inner;
        let inner_id = self.inst.next();
        self.inst.tokens.insert(inner_id, inner);
        if let Some(MiRole::Body {
            started, children, ..
        }) = self.inst.tokens.get_mut(&body).map(|t| &mut t.mi)
        {
            *started += 1;
            children.push(child);
        }
        self.queue.push_back(inner_id);
        Ok(())
    }
}
