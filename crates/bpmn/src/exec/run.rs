//! Moving tokens through their elements' lifecycles: arrival (async-before, input parameters),
//! execution listeners, completion (output parameters), async-after and leaving along the
//! selected sequence flows; incidents when a step fails.

use std::collections::VecDeque;

use time::OffsetDateTime;

use super::context::TokenContext;
use super::state::{
    HistoryEntry, HistoryEvent, Incident, Instance, InstanceState, MiRole, Phase, Scope, ScopeKind,
    Token, Wait, WaitKind, WaitRole, Work, WorkKind,
};
use super::{Effect, ItemId, WorkItem};
use crate::error::ExecutionError;
use crate::expr::Expression;
use crate::model::{
    ElementIdx, ElementKind, FieldValue, FlowIdx, GatewayKind, Implementation, Process,
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
    /// Steps taken in this run, to stop a loop that never reaches a wait state.
    steps: usize,
    /// How long work handed out stays locked to this engine (engines sharing a store).
    pub(crate) lease: Option<time::Duration>,
}

/// How many lifecycle steps one run may take before it is taken for an endless loop.
const MAX_STEPS_PER_RUN: usize = 100_000;

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
            steps: 0,
            lease: None,
        }
    }

    /// Locks work handed out by this run for `lease` (engines sharing a store).
    pub(crate) fn with_lease(mut self, lease: Option<time::Duration>) -> Self {
        self.lease = lease;
        self
    }

    /// Hands out again the work whose lock expired: the engine that held it is gone.
    pub(crate) fn reissue_expired_work(&mut self) {
        let now = self.now;
        let expired: Vec<u64> = self
            .inst
            .works
            .iter()
            .filter(|(_, w)| w.locked_until.is_some_and(|until| until <= now))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in expired {
            self.announce_work(seq);
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

    pub(super) fn step(&mut self, id: u64) {
        if self.inst.state != InstanceState::Active {
            return;
        }
        loop {
            let Some(token) = self.inst.tokens.get(&id) else {
                return;
            };
            let element = token.element;
            self.steps += 1;
            if self.steps > MAX_STEPS_PER_RUN
                && !matches!(token.phase, Phase::Wait | Phase::Failed(_))
            {
                self.incident(
                    id,
                    element,
                    None,
                    format!(
                        "no wait state reached within {MAX_STEPS_PER_RUN} steps (endless loop?)"
                    ),
                );
                return;
            }
            let result = match token.phase.clone() {
                Phase::Enter => self.enter(id),
                Phase::StartListener(i) => self.listener(id, "start", i),
                Phase::Execute => self.execute(id),
                Phase::Complete => self.complete(id),
                Phase::EndListener(i) => self.listener(id, "end", i),
                Phase::Leave => self.leave(id),
                Phase::Wait | Phase::Failed(_) => return,
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
            let at = std::mem::replace(&mut t.phase, Phase::Wait);
            t.phase = Phase::Failed(Box::new(at));
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

    /// Resumes the failed tokens at an element: failed work is handed out again, other steps are
    /// repeated. Returns how many tokens resumed.
    pub(crate) fn retry_failed(&mut self, element: ElementIdx) -> usize {
        let failed: Vec<(u64, Phase)> = self
            .inst
            .tokens
            .iter()
            .filter(|(_, t)| t.element == element)
            .filter_map(|(id, t)| match &t.phase {
                Phase::Failed(at) => Some((*id, (**at).clone())),
                _ => None,
            })
            .collect();
        let element_id = &self.process.elements[element].id;
        self.inst.incidents.retain(|i| &i.element != element_id);
        for (id, at) in &failed {
            let work = self
                .inst
                .works
                .iter()
                .find(|(_, w)| w.token == *id && w.failed.is_some())
                .map(|(seq, _)| *seq);
            match work {
                Some(seq) => {
                    if let Some(w) = self.inst.works.get_mut(&seq) {
                        w.attempts = 0;
                        w.failed = None;
                        w.retrying = false;
                    }
                    self.set_phase(*id, Phase::Wait);
                    self.announce_work(seq);
                }
                None => {
                    // the failed step runs again from scratch, subscriptions included
                    self.remove_waits_of(*id, None);
                    self.set_phase(*id, at.clone());
                    self.queue.push_back(*id);
                }
            }
        }
        failed.len()
    }

    pub(crate) fn set_phase(&mut self, id: u64, phase: Phase) {
        if let Some(t) = self.inst.tokens.get_mut(&id) {
            t.phase = phase;
        }
    }

    pub(super) fn token(&self, id: u64) -> Result<&Token, ExecutionError> {
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

    pub(super) fn async_flags(&self, token: &Token) -> (bool, bool) {
        let e = &self.process.elements[token.element];
        match (&token.mi, &e.multi_instance) {
            (MiRole::Inner, Some(mi)) => (mi.async_before, mi.async_after),
            _ => (e.async_before, e.async_after),
        }
    }

    /// Whether the token is the body of a multi-instance activity (or about to become one).
    pub(super) fn is_body(&self, token: &Token) -> bool {
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

    pub(super) fn enter(&mut self, id: u64) -> Step {
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

    pub(super) fn listener(&mut self, id: u64, event: &str, index: usize) -> Step {
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
                locked_until: None,
            },
        );
        self.announce_work(seq);
        Ok(())
    }

    pub(crate) fn announce_work(&mut self, seq: u64) {
        let locked_until = self.lease.map(|lease| self.now + lease);
        if let Some(w) = self.inst.works.get_mut(&seq) {
            w.locked_until = locked_until;
        }
        if let Some(w) = self.inst.works.get(&seq) {
            let (scope, top_level) = self.inst.scope_of_token(w.token);
            self.out.effects.push(Effect::Work(WorkItem {
                id: ItemId {
                    instance: self.inst.id,
                    seq,
                },
                definition: self.inst.definition.clone(),
                business_key: self.inst.business_key.clone(),
                element: self.process.elements[w.element].id.clone(),
                scope,
                top_level,
                class: w.class.clone(),
                kind: w.kind.clone(),
                fields: w.fields.clone(),
                attempt: w.attempts + 1,
            }));
        }
    }

    pub(super) fn complete(&mut self, id: u64) -> Step {
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

    pub(super) fn leave(&mut self, id: u64) -> Step {
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

    pub(super) fn select_flows(&self, id: u64) -> Result<Vec<FlowIdx>, ExecutionError> {
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
