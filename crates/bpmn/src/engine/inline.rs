//! Classes the engine runs itself, inside the command that reached them.
//!
//! A host whose classes are synchronous Rust functions ([`crate::runtime::Registry`]) hands them to
//! the engine ([`Engine::run_classes_inline`]). A command then runs every work item it creates at
//! once and moves on, as Camunda runs a `JavaDelegate`, and commits only when each token waits
//! for something outside the command: a message, timer, user task, or async continuation. An
//! instance that runs from its start to its end without such a wait is written once.
//!
//! A crash before that commit loses the command (its caller got no answer) and, for a command on a
//! stored instance, leaves the instance at its last commit, so the classes run again: at least
//! once, as work handed out and not reported is handed out again. Classes that must not repeat an
//! effect run behind an async boundary, which commits first.
//!
//! Engines that share a store ([`super::EngineConfig::lease`]) hand work out instead: there a
//! command can conflict with another engine's commit, which would void the command after its
//! classes ran.

use std::sync::Arc;

use super::Engine;
use crate::exec::{Effect, Exec, Outbox, WorkItem, WorkResult, visible_variables};
use crate::store::Store;
use crate::value::Variables;

/// Class implementations the engine calls in place of handing work items out.
pub trait InlineClasses: Send + Sync {
    /// Runs the class of `work` with the variables visible at its element.
    fn run(&self, work: &WorkItem, variables: Variables) -> WorkResult;
}

/// How many work items one command runs in place; the rest of an endless loop of classes is
/// handed out, so that the command commits.
pub(super) const MAX_INLINE_PER_COMMAND: usize = 10_000;

impl<S: Store> Engine<S> {
    /// Runs every work item of a command in place from now on, with `classes`, unless engines
    /// share the store (see the module documentation).
    pub fn run_classes_inline(&mut self, classes: Arc<dyn InlineClasses>) {
        self.inline = Some(classes);
    }

    /// Runs the first work item among `outbox`'s effects in place, unless `budget` is spent;
    /// the other effects stay. Returns whether one ran.
    pub(super) fn run_inline(&mut self, outbox: &mut Outbox, budget: &mut usize) -> bool {
        let Some(classes) = self.inline.clone().filter(|_| self.lease.is_none()) else {
            return false;
        };
        if *budget == 0 {
            return false;
        }
        let Some(at) = outbox
            .effects
            .iter()
            .position(|e| matches!(e, Effect::Work(_)))
        else {
            return false;
        };
        let Effect::Work(work) = outbox.effects.remove(at) else {
            return false;
        };
        *budget -= 1;
        let id = work.id;
        let Some(mut instance) = self.active.remove(&id.instance) else {
            return true;
        };
        // cancelled meanwhile (boundary event, end of its scope) if no longer open
        let token = instance
            .works
            .get(&id.seq)
            .filter(|w| w.failed.is_none())
            .map(|w| w.token);
        if let (Some(token), Some(process)) = (token, self.process(&instance.definition)) {
            let variables = visible_variables(&process, &instance, token);
            let result = classes.run(&work, variables);
            let mut exec = Exec::new(&process, &mut instance, self.now(), outbox);
            exec.finish_work(id.seq, result);
            exec.run();
        }
        self.active.insert(id.instance, instance);
        true
    }
}
