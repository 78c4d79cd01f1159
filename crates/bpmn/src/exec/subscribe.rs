//! Subscriptions: boundary events, event sub-process starts, catch events and timers.

use super::context::{TokenContext, set_variable};
use super::run::{Exec, Step};
use super::state::{MiRole, Wait, WaitKind, WaitRole};
use crate::error::ExecutionError;
use crate::expr::Expression;
use crate::model::{ElementIdx, ElementKind, TaskKind, TimerDefinition, Trigger};
use crate::value::Variables;

impl Exec<'_> {
    pub(crate) fn remove_waits_of(&mut self, token: u64, role: Option<WaitRole>) {
        self.inst
            .waits
            .retain(|_, w| !(w.token == Some(token) && role.is_none_or(|r| r == w.role)));
    }

    /// Subscribes the boundary events of the token's activity.
    pub(super) fn subscribe_boundaries(&mut self, id: u64) -> Step {
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

    pub(super) fn timer_due(
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
