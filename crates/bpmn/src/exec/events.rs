//! Delivering events to waiting tokens: messages, timers, signals, conditions, jobs, errors, work
//! results and user task completions.

use super::context::{remove_variable, set_variable};
use super::run::{Exec, Step};
use super::state::{HistoryEvent, MiRole, Phase, ScopeKind, Token, Wait, WaitKind, WaitRole};
use super::{ItemId, VariableChange, WorkOutcome, WorkResult};
use crate::model::{ElementIdx, ElementKind, Trigger};
use crate::value::{Value, Variables};

impl Exec<'_> {
    /// Fires a wait, passing the event's variables on to the continuing token.
    pub(crate) fn fire(&mut self, wait_id: u64, vars: Variables) {
        let Some(wait) = self.inst.waits.remove(&wait_id) else {
            return;
        };
        self.rearm(&wait);
        match wait.role {
            WaitRole::Job => {
                let Some(token) = wait.token else { return };
                match wait.kind {
                    WaitKind::Continue { resume } => {
                        self.set_phase(token, resume);
                        self.queue.push_back(token);
                    }
                    WaitKind::Retry { work } => {
                        if let Some(w) = self.inst.works.get_mut(&work) {
                            w.retrying = false;
                            w.failed = None;
                        }
                        self.announce_work(work);
                    }
                    _ => {}
                }
            }
            WaitRole::Catch => {
                let Some(token) = wait.token else { return };
                self.remove_waits_of(token, Some(WaitRole::Catch));
                self.set_variables(Some(token), wait.scope, vars);
                if let Some(t) = self.inst.tokens.get_mut(&token) {
                    t.triggered = true;
                    t.phase = Phase::Complete;
                }
                self.queue.push_back(token);
            }
            WaitRole::Gateway => {
                let Some(token) = wait.token else { return };
                self.remove_waits_of(token, Some(WaitRole::Gateway));
                if let Some(t) = self.inst.tokens.get(&token) {
                    let gateway = t.element;
                    self.history(gateway, HistoryEvent::Completed);
                }
                let mut next = Token::at(wait.scope, wait.element);
                next.triggered = true;
                self.inst.tokens.insert(token, next);
                self.set_variables(Some(token), wait.scope, vars);
                self.queue.push_back(token);
            }
            WaitRole::Boundary => {
                let Some(activity) = wait.token else { return };
                let interrupting = matches!(
                    self.process.elements[wait.element].kind,
                    ElementKind::BoundaryEvent {
                        cancel_activity: true,
                        ..
                    }
                );
                if interrupting {
                    self.cancel_token(activity);
                }
                self.spawn_triggered(wait.scope, wait.element, vars);
            }
            WaitRole::EventSubStart => self.start_event_sub_process(wait.scope, wait.element, vars),
        }
    }

    /// Keeps the subscription of a non-interrupting event alive: messages and signals stay, cycles
    /// are scheduled again.
    fn rearm(&mut self, wait: &Wait) {
        let interrupting = match &self.process.elements[wait.element].kind {
            ElementKind::BoundaryEvent {
                cancel_activity, ..
            } => *cancel_activity,
            ElementKind::StartEvent { interrupting, .. } => *interrupting,
            _ => true,
        };
        if interrupting || !matches!(wait.role, WaitRole::Boundary | WaitRole::EventSubStart) {
            return;
        }
        if matches!(
            wait.kind,
            WaitKind::Message { .. } | WaitKind::Signal { .. }
        ) {
            self.add_wait(wait.clone());
            return;
        }
        let WaitKind::Timer {
            cycle: Some(repeat),
        } = &wait.kind
        else {
            return;
        };
        let Some((due, repeat)) = wait.due.and_then(|d| repeat.next(d)) else {
            return;
        };
        let mut next = wait.clone();
        next.kind = WaitKind::Timer {
            cycle: Some(repeat),
        };
        next.due = Some(due);
        self.add_wait(next);
    }

    fn spawn_triggered(&mut self, scope: u64, element: ElementIdx, vars: Variables) -> u64 {
        let mut token = Token::at(scope, element);
        token.triggered = true;
        let id = self.inst.next();
        self.inst.tokens.insert(id, token);
        self.set_variables(Some(id), scope, vars);
        self.queue.push_back(id);
        id
    }

    /// Starts an event sub-process of `scope` at its start event.
    fn start_event_sub_process(&mut self, scope: u64, start: ElementIdx, vars: Variables) {
        let Some(es) = self.process.elements[start].parent else {
            return;
        };
        let interrupting = matches!(
            self.process.elements[start].kind,
            ElementKind::StartEvent {
                interrupting: true,
                ..
            }
        );
        if interrupting {
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
            self.inst
                .waits
                .retain(|_, w| !(w.scope == scope && w.role == WaitRole::EventSubStart));
        }
        let owner = self.inst.next();
        let mut owner_token = Token::at(scope, es);
        owner_token.phase = Phase::Wait;
        self.inst.tokens.insert(owner, owner_token);
        self.history(es, HistoryEvent::Started);
        let child = self.open_scope(scope, es, owner);
        if let Some(t) = self.inst.tokens.get_mut(&owner) {
            t.child = Some(child);
        }
        self.spawn_triggered(child, start, vars);
    }

    /// Throws a BPMN error at a token: the nearest matching error boundary event or error event
    /// sub-process catches it. An uncaught error from an error end event ends the token; from a
    /// class it is a failure.
    pub(crate) fn throw_error(
        &mut self,
        id: u64,
        code: &str,
        message: Option<String>,
        from_end_event: bool,
    ) -> Step {
        let Some(first) = self.inst.tokens.get(&id) else {
            return Ok(());
        };
        let origin = first.element;
        self.history(origin, HistoryEvent::ErrorThrown(code.to_owned()));
        let matches = |trigger: &Trigger| match trigger {
            Trigger::Error { code: c, .. } => c.as_deref().is_none_or(|c| c == code),
            _ => false,
        };
        let mut current = id;
        while let Some(token) = self.inst.tokens.get(&current) {
            let (element, scope) = (token.element, token.scope);
            if token.mi != MiRole::Inner {
                let catcher = self.process.elements[element]
                    .boundary_events
                    .iter()
                    .copied()
                    .find(|&b| {
                        matches!(&self.process.elements[b].kind,
                            ElementKind::BoundaryEvent { trigger, .. } if matches(trigger))
                    });
                if let Some(b) = catcher {
                    self.cancel_token(current);
                    let vars = self.error_variables(b, code, &message);
                    if let Some(s) = self.inst.scopes.get_mut(&scope) {
                        s.variables.extend(vars);
                    }
                    self.spawn_triggered(scope, b, Variables::new());
                    return Ok(());
                }
            }
            let Some(s) = self.inst.scopes.get(&scope) else {
                break;
            };
            let (kind, container, owner) = (s.kind, s.container, s.owner);
            if kind != ScopeKind::MultiInstance {
                for es in self.process.event_sub_processes(container) {
                    let Some(start) = self.process.start_events(Some(es)).first().copied() else {
                        continue;
                    };
                    if matches!(&self.process.elements[start].kind,
                        ElementKind::StartEvent { trigger, .. } if matches(trigger))
                    {
                        let vars = self.error_variables(start, code, &message);
                        self.start_event_sub_process(scope, start, vars);
                        return Ok(());
                    }
                }
            }
            match owner {
                Some(o) => current = o,
                None => break,
            }
        }
        if from_end_event {
            self.set_phase(id, Phase::Complete);
            Ok(())
        } else {
            Err(self.fail(origin, format!("uncaught BPMN error '{code}'")))
        }
    }

    fn error_variables(
        &self,
        catcher: ElementIdx,
        code: &str,
        message: &Option<String>,
    ) -> Variables {
        let mut vars = Variables::new();
        let trigger = match &self.process.elements[catcher].kind {
            ElementKind::BoundaryEvent { trigger, .. }
            | ElementKind::StartEvent { trigger, .. } => trigger,
            _ => return vars,
        };
        if let Trigger::Error {
            code_variable,
            message_variable,
            ..
        } = trigger
        {
            if let Some(v) = code_variable {
                vars.insert(v.clone(), Value::String(code.to_owned()));
            }
            if let Some(v) = message_variable {
                vars.insert(
                    v.clone(),
                    message.clone().map_or(Value::Null, Value::String),
                );
            }
        }
        vars
    }

    /// Fires the first conditional wait whose condition holds; returns whether one fired.
    pub(crate) fn fire_conditions(&mut self) -> bool {
        let candidates: Vec<(u64, Option<u64>, u64, ElementIdx)> = self
            .inst
            .waits
            .iter()
            .filter(|(_, w)| w.kind == WaitKind::Conditional)
            .map(|(id, w)| (*id, w.token, w.scope, w.element))
            .collect();
        for (wait, token, scope, element) in candidates {
            let condition = match &self.process.elements[element].kind {
                ElementKind::IntermediateCatchEvent {
                    trigger: Trigger::Conditional { condition },
                }
                | ElementKind::BoundaryEvent {
                    trigger: Trigger::Conditional { condition },
                    ..
                }
                | ElementKind::StartEvent {
                    trigger: Trigger::Conditional { condition },
                    ..
                } => condition,
                _ => continue,
            };
            if self
                .evaluate_condition(token, scope, condition)
                .unwrap_or(false)
            {
                self.fire(wait, Variables::new());
                return true;
            }
        }
        false
    }

    /// Applies a work item's result.
    pub(crate) fn finish_work(&mut self, seq: u64, result: WorkResult) {
        let Some(work) = self.inst.works.get(&seq).cloned() else {
            return;
        };
        let Some(scope) = self.inst.tokens.get(&work.token).map(|t| t.scope) else {
            self.inst.works.remove(&seq);
            return;
        };
        let id = ItemId {
            instance: self.inst.id,
            seq,
        };
        if let WorkOutcome::Failed(message) = result.outcome {
            let attempts = work.attempts + 1;
            let cycle = self.process.retry_cycle(work.element);
            let total = cycle.map_or(3, |c| c.repetitions.unwrap_or(u32::MAX));
            let delay = cycle.map_or(time::Duration::ZERO, |c| c.interval);
            if let Some(w) = self.inst.works.get_mut(&seq) {
                w.attempts = attempts;
                w.failed = Some(message.clone());
                w.retrying = attempts < total;
                w.locked_until = None;
            }
            if attempts < total {
                self.add_wait(Wait {
                    token: Some(work.token),
                    scope,
                    element: work.element,
                    role: WaitRole::Job,
                    kind: WaitKind::Retry { work: seq },
                    due: Some(self.now + delay),
                });
            } else {
                self.incident(work.token, work.element, Some(id), message);
            }
            return;
        }
        self.inst.works.remove(&seq);
        let has_io = !self.process.elements[work.element].inputs.is_empty();
        for change in result.variables {
            match change {
                VariableChange::Set(name, value) => {
                    set_variable(self.inst, Some(work.token), scope, &name, value);
                }
                VariableChange::SetLocal(name, value) => {
                    if has_io {
                        if let Some(t) = self.inst.tokens.get_mut(&work.token) {
                            t.locals.insert(name, value);
                        }
                    } else if let Some(s) = self.inst.scopes.get_mut(&scope) {
                        s.variables.insert(name, value);
                    }
                }
                VariableChange::Remove(name) => {
                    remove_variable(self.inst, Some(work.token), scope, &name);
                }
            }
        }
        match result.outcome {
            WorkOutcome::BpmnError { code, message } => {
                if let Err(e) = self.throw_error(work.token, &code, message, false) {
                    self.incident(work.token, work.element, Some(id), e.message);
                }
            }
            _ => {
                if let Some(resume) = work.resume {
                    self.set_phase(work.token, resume);
                    self.queue.push_back(work.token);
                }
            }
        }
    }

    /// Completes a user task: sets the variables and continues its token.
    pub(crate) fn finish_user_task(&mut self, seq: u64, vars: Variables) {
        let Some(task) = self.inst.user_tasks.remove(&seq) else {
            return;
        };
        let Some(scope) = self.inst.tokens.get(&task.token).map(|t| t.scope) else {
            return;
        };
        self.set_variables(Some(task.token), scope, vars);
        self.set_phase(task.token, Phase::Complete);
        self.queue.push_back(task.token);
    }
}
