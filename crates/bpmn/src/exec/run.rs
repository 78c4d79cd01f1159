//! Moving tokens through their elements' lifecycles: the behaviour of each element kind.

use std::collections::VecDeque;

use time::OffsetDateTime;

use super::context::{TokenContext, set_variable};
use super::state::{
    HistoryEntry, HistoryEvent, Incident, Instance, InstanceState, MiRole, Phase, Scope, ScopeKind,
    Token, UserTaskState, Wait, WaitKind, WaitRole, Work, WorkKind,
};
use super::{Effect, ItemId, UserTask, WorkItem};
use crate::error::ExecutionError;
use crate::expr::Expression;
use crate::model::{
    ElementIdx, ElementKind, FieldValue, FlowIdx, GatewayKind, Implementation, Process, TaskKind,
    TimerDefinition, Trigger,
};
use crate::value::{Value, Variables};

/// What a run produces besides the changed instance.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) effects: Vec<Effect>,
    /// Signals thrown, to deliver to every instance.
    pub(crate) signals: Vec<String>,
}

/// One run over one instance.
pub(crate) struct Exec<'a> {
    pub(crate) process: &'a Process,
    pub(crate) inst: &'a mut Instance,
    pub(crate) now: OffsetDateTime,
    pub(crate) out: &'a mut Outbox,
    pub(crate) queue: VecDeque<u64>,
}

pub(crate) type Step = Result<(), ExecutionError>;

impl<'a> Exec<'a> {
    pub(crate) fn new(
        process: &'a Process,
        inst: &'a mut Instance,
        now: OffsetDateTime,
        out: &'a mut Outbox,
    ) -> Self {
        Exec {
            process,
            inst,
            now,
            out,
            queue: VecDeque::new(),
        }
    }

    pub(crate) fn fail(&self, element: ElementIdx, message: impl Into<String>) -> ExecutionError {
        ExecutionError {
            element: self.process.elements[element].id.clone(),
            message: message.into(),
        }
    }

    pub(crate) fn history(&mut self, element: ElementIdx, event: HistoryEvent) {
        self.inst.history.push(HistoryEntry {
            at: self.now,
            element: self.process.elements[element].id.clone(),
            event,
        });
    }

    /// Creates the root scope and a token at `start` (already triggered), then runs.
    pub(crate) fn start(&mut self, start: ElementIdx, variables: Variables) {
        let root = self.inst.next();
        self.inst.scopes.insert(
            root,
            Scope {
                parent: None,
                container: None,
                owner: None,
                kind: ScopeKind::Root,
                variables,
            },
        );
        self.subscribe_event_sub_processes(root, None);
        let mut token = Token::at(root, start);
        token.triggered = true;
        let id = self.inst.next();
        self.inst.tokens.insert(id, token);
        self.queue.push_back(id);
        self.run();
    }

    /// Advances queued tokens until every token waits, then fires satisfied conditions.
    pub(crate) fn run(&mut self) {
        for _ in 0..1000 {
            while let Some(id) = self.queue.pop_front() {
                self.step(id);
            }
            if !self.fire_conditions() {
                return;
            }
        }
    }

    fn step(&mut self, id: u64) {
        if self.inst.state != InstanceState::Active {
            return;
        }
        loop {
            let Some(token) = self.inst.tokens.get(&id) else {
                return;
            };
            let element = token.element;
            let result = match token.phase.clone() {
                Phase::Enter => self.enter(id),
                Phase::StartListener(i) => self.listener(id, "start", i),
                Phase::Execute => self.execute(id),
                Phase::Complete => self.complete(id),
                Phase::EndListener(i) => self.listener(id, "end", i),
                Phase::Leave => self.leave(id),
                Phase::Wait | Phase::Failed => return,
            };
            if let Err(e) = result {
                self.incident(id, element, None, e.message);
                return;
            }
        }
    }

    pub(crate) fn incident(
        &mut self,
        token: u64,
        element: ElementIdx,
        work: Option<ItemId>,
        message: String,
    ) {
        if let Some(t) = self.inst.tokens.get_mut(&token) {
            t.phase = Phase::Failed;
        }
        self.history(element, HistoryEvent::Incident(message.clone()));
        let incident = Incident {
            at: self.now,
            element: self.process.elements[element].id.clone(),
            work,
            message,
        };
        self.inst.incidents.push(incident.clone());
        self.out.effects.push(Effect::Incident {
            instance: self.inst.id,
            incident,
        });
    }

    pub(crate) fn set_phase(&mut self, id: u64, phase: Phase) {
        if let Some(t) = self.inst.tokens.get_mut(&id) {
            t.phase = phase;
        }
    }

    fn token(&self, id: u64) -> Result<&Token, ExecutionError> {
        self.inst.tokens.get(&id).ok_or_else(|| ExecutionError {
            element: String::new(),
            message: format!("token {id} vanished"),
        })
    }

    pub(crate) fn evaluate(&self, id: u64, expr: &Expression) -> Result<Value, ExecutionError> {
        let token = self.token(id)?;
        let element = token.element;
        let ctx = TokenContext::of_token(self.process, self.inst, id)
            .ok_or_else(|| self.fail(element, "token vanished"))?;
        expr.evaluate(&ctx)
            .map_err(|e| self.fail(element, format!("expression '{}': {e}", expr.source())))
    }

    fn async_flags(&self, token: &Token) -> (bool, bool) {
        let e = &self.process.elements[token.element];
        match (&token.mi, &e.multi_instance) {
            (MiRole::Inner, Some(mi)) => (mi.async_before, mi.async_after),
            _ => (e.async_before, e.async_after),
        }
    }

    /// Whether the token is the body of a multi-instance activity (or about to become one).
    fn is_body(&self, token: &Token) -> bool {
        self.process.elements[token.element]
            .multi_instance
            .is_some()
            && !matches!(token.mi, MiRole::Inner)
    }

    pub(crate) fn add_wait(&mut self, wait: Wait) -> u64 {
        let id = self.inst.next();
        self.inst.waits.insert(id, wait);
        id
    }

    fn enter(&mut self, id: u64) -> Step {
        let token = self.token(id)?;
        let (async_before, _) = self.async_flags(token);
        if async_before && !token.async_before_done {
            let scope = token.scope;
            let element = token.element;
            if let Some(t) = self.inst.tokens.get_mut(&id) {
                t.async_before_done = true;
                t.phase = Phase::Wait;
            }
            self.add_wait(Wait {
                token: Some(id),
                scope,
                element,
                role: WaitRole::Job,
                kind: WaitKind::Continue {
                    resume: Phase::Enter,
                },
                due: Some(self.now),
            });
            return Ok(());
        }
        let element = token.element;
        self.history(element, HistoryEvent::Started);
        if self.is_body(self.token(id)?) {
            self.set_phase(id, Phase::Execute);
            return Ok(());
        }
        let mut locals = Variables::new();
        for p in &self.process.elements[element].inputs {
            locals.insert(p.name.clone(), self.evaluate(id, &p.value)?);
        }
        if let Some(t) = self.inst.tokens.get_mut(&id) {
            t.locals.extend(locals);
            t.phase = Phase::StartListener(0);
        }
        Ok(())
    }

    fn listener(&mut self, id: u64, event: &str, index: usize) -> Step {
        let token = self.token(id)?;
        let element = token.element;
        let listeners: Vec<_> = if self.is_body(token) {
            Vec::new()
        } else {
            self.process.elements[element]
                .execution_listeners
                .iter()
                .filter(|l| l.event == event)
                .collect()
        };
        if let Some(l) = listeners.get(index) {
            let implementation = Implementation {
                class: l.class.clone(),
                fields: l.fields.clone(),
            };
            let resume = if event == "start" {
                Phase::StartListener(index + 1)
            } else {
                Phase::EndListener(index + 1)
            };
            self.create_work(
                id,
                &implementation,
                WorkKind::ExecutionListener(event.to_owned()),
                Some(resume),
                None,
            )?;
            self.set_phase(id, Phase::Wait);
            return Ok(());
        }
        if event == "start" {
            self.set_phase(id, Phase::Execute);
            return Ok(());
        }
        let token = self.token(id)?;
        let (_, async_after) = self.async_flags(token);
        if async_after && !token.async_after_done {
            let scope = token.scope;
            if let Some(t) = self.inst.tokens.get_mut(&id) {
                t.async_after_done = true;
                t.phase = Phase::Wait;
            }
            self.add_wait(Wait {
                token: Some(id),
                scope,
                element,
                role: WaitRole::Job,
                kind: WaitKind::Continue {
                    resume: Phase::Leave,
                },
                due: Some(self.now),
            });
            return Ok(());
        }
        self.set_phase(id, Phase::Leave);
        Ok(())
    }

    /// Creates a work item for a class call and announces it.
    pub(crate) fn create_work(
        &mut self,
        id: u64,
        implementation: &Implementation,
        kind: WorkKind,
        resume: Option<Phase>,
        user_task: Option<u64>,
    ) -> Step {
        let element = self.token(id)?.element;
        let mut fields = Vec::new();
        for f in &implementation.fields {
            let value = match &f.value {
                FieldValue::String(s) => Value::String(s.clone()),
                FieldValue::Expression(e) => self.evaluate(id, e)?,
            };
            fields.push((f.name.clone(), value));
        }
        let seq = self.inst.next();
        self.inst.works.insert(
            seq,
            Work {
                token: id,
                element,
                class: implementation.class.clone(),
                kind,
                fields,
                resume,
                attempts: 0,
                failed: None,
                retrying: false,
                user_task,
            },
        );
        self.announce_work(seq);
        Ok(())
    }

    pub(crate) fn announce_work(&mut self, seq: u64) {
        if let Some(w) = self.inst.works.get(&seq) {
            self.out.effects.push(Effect::Work(WorkItem {
                id: ItemId {
                    instance: self.inst.id,
                    seq,
                },
                definition: self.inst.definition.clone(),
                business_key: self.inst.business_key.clone(),
                element: self.process.elements[w.element].id.clone(),
                class: w.class.clone(),
                kind: w.kind.clone(),
                fields: w.fields.clone(),
                attempt: w.attempts + 1,
            }));
        }
    }

    fn execute(&mut self, id: u64) -> Step {
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

    fn gateway(&mut self, id: u64, kind: GatewayKind) -> Step {
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
    fn others_can_reach(&self, scope: u64, join: ElementIdx, id: u64, waiting: &[u64]) -> bool {
        self.inst.tokens.iter().any(|(tid, t)| {
            *tid != id
                && !waiting.contains(tid)
                && t.scope == scope
                && self.reachable(t.element, join)
        })
    }

    fn reachable(&self, from: ElementIdx, to: ElementIdx) -> bool {
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

    /// Opens a sub-process scope owned by `owner`, subscribing its event sub-processes.
    pub(crate) fn open_scope(&mut self, parent: u64, container: ElementIdx, owner: u64) -> u64 {
        let id = self.inst.next();
        self.inst.scopes.insert(
            id,
            Scope {
                parent: Some(parent),
                container: Some(container),
                owner: Some(owner),
                kind: ScopeKind::SubProcess,
                variables: Variables::new(),
            },
        );
        self.subscribe_event_sub_processes(id, Some(container));
        id
    }

    fn start_multi_instance(&mut self, id: u64) -> Step {
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

    fn spawn_instance(&mut self, body: u64) -> Step {
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

    fn complete(&mut self, id: u64) -> Step {
        self.remove_waits_of(id, Some(WaitRole::Boundary));
        let token = self.token(id)?;
        let element = token.element;
        let scope = token.scope;
        if !self.is_body(token) {
            let mut outputs = Vec::new();
            for p in &self.process.elements[element].outputs {
                outputs.push((p.name.clone(), self.evaluate(id, &p.value)?));
            }
            if let Some(s) = self.inst.scopes.get_mut(&scope) {
                s.variables.extend(outputs);
            }
        }
        self.history(element, HistoryEvent::Completed);
        self.set_phase(id, Phase::EndListener(0));
        Ok(())
    }

    fn leave(&mut self, id: u64) -> Step {
        let token = self.token(id)?;
        let (element, scope) = (token.element, token.scope);
        if token.mi == MiRole::Inner {
            self.consume(id);
            return Ok(());
        }
        let flows = self.select_flows(id)?;
        let e = &self.process.elements[element];
        if flows.is_empty() {
            if e.outgoing.is_empty() {
                self.consume(id);
                return Ok(());
            }
            return Err(self.fail(element, "no outgoing sequence flow can be taken"));
        }
        // The token itself takes the first flow (its step loop goes on); copies take the others.
        for (n, f) in flows.iter().enumerate() {
            let target = self.process.flows[*f].target;
            if n == 0 {
                self.inst.tokens.insert(id, Token::at(scope, target));
            } else {
                let new = self.inst.next();
                self.inst.tokens.insert(new, Token::at(scope, target));
                self.queue.push_back(new);
            }
        }
        Ok(())
    }

    fn select_flows(&self, id: u64) -> Result<Vec<FlowIdx>, ExecutionError> {
        let element = self.token(id)?.element;
        let e = &self.process.elements[element];
        let mut chosen = Vec::new();
        let exclusive = matches!(e.kind, ElementKind::Gateway(GatewayKind::Exclusive));
        let parallel = matches!(e.kind, ElementKind::Gateway(GatewayKind::Parallel));
        for &f in &e.outgoing {
            if Some(f) == e.default_flow {
                continue;
            }
            let take = match (&self.process.flows[f].condition, parallel) {
                (_, true) | (None, false) => true,
                (Some(c), false) => {
                    let v = self.evaluate(id, c)?;
                    to_bool(&v).map_err(|m| self.fail(element, m))?
                }
            };
            if take {
                chosen.push(f);
                if exclusive {
                    break;
                }
            }
        }
        if chosen.is_empty()
            && let Some(d) = e.default_flow
        {
            chosen.push(d);
        }
        Ok(chosen)
    }

    /// Removes a token that reached its end and completes its scope when it was the last.
    pub(crate) fn consume(&mut self, id: u64) {
        let Some(token) = self.inst.tokens.remove(&id) else {
            return;
        };
        self.remove_waits_of(id, None);
        self.after_token_removed(token.scope);
    }

    pub(crate) fn after_token_removed(&mut self, scope: u64) {
        if self.inst.tokens.values().any(|t| t.scope == scope) {
            self.recheck_inclusive_joins(scope);
            return;
        }
        self.complete_scope(scope);
    }

    fn recheck_inclusive_joins(&mut self, scope: u64) {
        let joins: Vec<u64> = self
            .inst
            .tokens
            .iter()
            .filter(|(_, t)| {
                t.scope == scope
                    && t.phase == Phase::Wait
                    && matches!(
                        self.process.elements[t.element].kind,
                        ElementKind::Gateway(GatewayKind::Inclusive)
                    )
            })
            .map(|(id, _)| *id)
            .collect();
        if let Some(&first) = joins.first() {
            self.set_phase(first, Phase::Execute);
            self.queue.push_back(first);
        }
    }

    fn complete_scope(&mut self, scope: u64) {
        let Some(s) = self.inst.scopes.get(&scope) else {
            return;
        };
        let owner = s.owner;
        if s.parent.is_none() {
            self.inst.waits.clear();
            self.inst.state = InstanceState::Completed;
            self.inst.ended = Some(self.now);
            self.out.effects.push(Effect::InstanceEnded {
                instance: self.inst.id,
                state: InstanceState::Completed,
            });
            return;
        }
        self.inst.waits.retain(|_, w| w.scope != scope);
        self.inst.scopes.remove(&scope);
        if let Some(owner) = owner {
            self.child_done(owner, scope);
        }
    }

    fn child_done(&mut self, owner: u64, scope: u64) {
        let Some(token) = self.inst.tokens.get_mut(&owner) else {
            return;
        };
        match &mut token.mi {
            MiRole::Body {
                items,
                completed,
                started,
                children,
            } => {
                *completed += 1;
                children.retain(|c| *c != scope);
                let (total, done, spawned) = (items.len(), *completed, *started);
                token
                    .locals
                    .insert("nrOfCompletedInstances".into(), Value::Integer(done as i64));
                let element = token.element;
                let condition = self.process.elements[element]
                    .multi_instance
                    .as_ref()
                    .and_then(|m| m.completion_condition.clone());
                let finished_early = match &condition {
                    Some(c) => match self
                        .evaluate(owner, c)
                        .and_then(|v| to_bool(&v).map_err(|m| self.fail(element, m)))
                    {
                        Ok(b) => b,
                        Err(e) => {
                            self.incident(owner, element, None, e.message);
                            return;
                        }
                    },
                    None => false,
                };
                if finished_early || done >= total {
                    let remaining: Vec<u64> = match self.inst.tokens.get(&owner).map(|t| &t.mi) {
                        Some(MiRole::Body { children, .. }) => children.clone(),
                        _ => Vec::new(),
                    };
                    for c in remaining {
                        self.cancel_scope(c);
                    }
                    self.set_phase(owner, Phase::Complete);
                    self.queue.push_back(owner);
                } else if spawned < total
                    && spawned == done
                    && let Err(e) = self.spawn_instance(owner)
                {
                    self.incident(owner, element, None, e.message);
                }
            }
            _ => {
                token.child = None;
                token.phase = Phase::Complete;
                self.queue.push_back(owner);
            }
        }
    }

    /// Ends every token of the terminate end event's scope; the scope then completes.
    fn terminate(&mut self, id: u64) {
        let Some(token) = self.inst.tokens.get(&id) else {
            return;
        };
        let scope = token.scope;
        let element = token.element;
        self.history(element, HistoryEvent::Completed);
        let others: Vec<u64> = self
            .inst
            .tokens
            .iter()
            .filter(|(tid, t)| **tid != id && t.scope == scope)
            .map(|(tid, _)| *tid)
            .collect();
        for o in others {
            self.cancel_token(o);
        }
        self.inst
            .waits
            .retain(|_, w| !(w.scope == scope && w.role == WaitRole::EventSubStart));
        self.consume(id);
    }

    /// Interrupts a token: its waits, work, user tasks and child scopes go away.
    pub(crate) fn cancel_token(&mut self, id: u64) {
        let Some(token) = self.inst.tokens.remove(&id) else {
            return;
        };
        self.history(token.element, HistoryEvent::Cancelled);
        self.remove_waits_of(id, None);
        self.inst.works.retain(|_, w| w.token != id);
        self.inst.user_tasks.retain(|_, u| u.token != id);
        if let Some(child) = token.child {
            self.cancel_scope(child);
        }
        if let MiRole::Body { children, .. } = token.mi {
            for c in children {
                self.cancel_scope(c);
            }
        }
    }

    pub(crate) fn cancel_scope(&mut self, scope: u64) {
        let tokens: Vec<u64> = self
            .inst
            .tokens
            .iter()
            .filter(|(_, t)| t.scope == scope)
            .map(|(id, _)| *id)
            .collect();
        for t in tokens {
            self.cancel_token(t);
        }
        self.inst.waits.retain(|_, w| w.scope != scope);
        self.inst.scopes.remove(&scope);
    }

    pub(crate) fn remove_waits_of(&mut self, token: u64, role: Option<WaitRole>) {
        self.inst
            .waits
            .retain(|_, w| !(w.token == Some(token) && role.is_none_or(|r| r == w.role)));
    }

    /// Subscribes the boundary events of the token's activity.
    fn subscribe_boundaries(&mut self, id: u64) -> Step {
        let token = self.token(id)?;
        let (element, scope) = (token.element, token.scope);
        if token.mi == MiRole::Inner {
            return Ok(());
        }
        for b in self.process.elements[element].boundary_events.clone() {
            if matches!(
                self.process.elements[b].kind,
                ElementKind::BoundaryEvent {
                    trigger: Trigger::Error { .. },
                    ..
                }
            ) {
                continue;
            }
            self.subscribe(Some(id), scope, b, WaitRole::Boundary)?;
        }
        Ok(())
    }

    /// Subscribes the start events of a container's event sub-processes in a scope.
    pub(crate) fn subscribe_event_sub_processes(
        &mut self,
        scope: u64,
        container: Option<ElementIdx>,
    ) {
        for es in self.process.event_sub_processes(container) {
            for start in self.process.start_events(Some(es)) {
                if matches!(
                    self.process.elements[start].kind,
                    ElementKind::StartEvent {
                        trigger: Trigger::Error { .. },
                        ..
                    }
                ) {
                    continue;
                }
                if let Err(e) = self.subscribe(None, scope, start, WaitRole::EventSubStart) {
                    let owner = self.inst.scopes.get(&scope).and_then(|s| s.owner);
                    if let Some(owner) = owner {
                        self.incident(owner, start, None, e.message);
                    }
                }
            }
        }
    }

    /// Creates the wait for a catching element (event or receive task).
    pub(crate) fn subscribe(
        &mut self,
        token: Option<u64>,
        scope: u64,
        element: ElementIdx,
        role: WaitRole,
    ) -> Step {
        let trigger = match &self.process.elements[element].kind {
            ElementKind::IntermediateCatchEvent { trigger }
            | ElementKind::BoundaryEvent { trigger, .. }
            | ElementKind::StartEvent { trigger, .. } => trigger,
            ElementKind::Task(TaskKind::Receive { message }) => {
                self.add_wait(Wait {
                    token,
                    scope,
                    element,
                    role,
                    kind: WaitKind::Message {
                        name: message.clone(),
                    },
                    due: None,
                });
                return Ok(());
            }
            _ => return Err(self.fail(element, "not a catching element")),
        };
        let (kind, due) = match trigger {
            Trigger::Message { name, .. } => (WaitKind::Message { name: name.clone() }, None),
            Trigger::Signal { name } => (WaitKind::Signal { name: name.clone() }, None),
            Trigger::Conditional { .. } => (WaitKind::Conditional, None),
            Trigger::Timer(def) => {
                let (due, cycle) = self.timer_due(token, scope, element, def)?;
                (WaitKind::Timer { cycle }, Some(due))
            }
            _ => return Err(self.fail(element, "event cannot be waited for")),
        };
        self.add_wait(Wait {
            token,
            scope,
            element,
            role,
            kind,
            due,
        });
        Ok(())
    }

    fn timer_due(
        &self,
        token: Option<u64>,
        scope: u64,
        element: ElementIdx,
        def: &TimerDefinition,
    ) -> Result<super::timers::TimerSchedule, ExecutionError> {
        let ctx = match token.and_then(|t| TokenContext::of_token(self.process, self.inst, t)) {
            Some(ctx) => ctx,
            None => TokenContext::of_scope(self.process, self.inst, scope),
        };
        super::timers::schedule(def, &ctx, self.now).map_err(|m| self.fail(element, m))
    }

    pub(crate) fn evaluate_condition(
        &self,
        token: Option<u64>,
        scope: u64,
        condition: &Expression,
    ) -> Result<bool, ExecutionError> {
        let ctx = match token.and_then(|t| TokenContext::of_token(self.process, self.inst, t)) {
            Some(ctx) => ctx,
            None => TokenContext::of_scope(self.process, self.inst, scope),
        };
        let element = token
            .and_then(|t| self.inst.tokens.get(&t))
            .map_or(0, |t| t.element);
        condition
            .evaluate_bool(&ctx)
            .map_err(|e| self.fail(element, format!("condition '{}': {e}", condition.source())))
    }

    /// Sets variables as `execution.setVariable` from a token (or scope).
    pub(crate) fn set_variables(&mut self, token: Option<u64>, scope: u64, vars: Variables) {
        for (k, v) in vars {
            set_variable(self.inst, token, scope, &k, v);
        }
    }
}

pub(crate) fn to_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        Value::String(s) => Ok(s.eq_ignore_ascii_case("true")),
        Value::Json(serde_json::Value::Bool(b)) => Ok(*b),
        other => Err(format!(
            "condition is a {}, not a boolean",
            other.type_name()
        )),
    }
}
