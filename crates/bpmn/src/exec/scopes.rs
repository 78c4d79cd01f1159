//! Scopes and token ends: completing scopes, multi-instance bookkeeping, interrupting tokens.

use super::Effect;
use super::run::{Exec, to_bool};
use super::state::{HistoryEvent, InstanceState, MiRole, Phase, Scope, ScopeKind, WaitRole};
use crate::model::{ElementIdx, ElementKind, GatewayKind};
use crate::value::{Value, Variables};

impl Exec<'_> {
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

    pub(super) fn recheck_inclusive_joins(&mut self, scope: u64) {
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

    pub(super) fn complete_scope(&mut self, scope: u64) {
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

    pub(super) fn child_done(&mut self, owner: u64, scope: u64) {
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
    pub(super) fn terminate(&mut self, id: u64) {
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
}
