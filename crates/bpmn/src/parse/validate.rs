//! Structural checks of a parsed process.

use crate::error::{Problem, ProblemKind};
use crate::model::{ElementKind, GatewayKind, Process, TaskKind, Trigger};

fn problem(process: &Process, element: &str, message: &str) -> Problem {
    Problem {
        process: Some(process.id.clone()),
        element: Some(element.to_owned()),
        kind: ProblemKind::Invalid(message.to_owned()),
    }
}

/// Checks start events, event-based gateway targets, boundary and catch event definitions.
pub(super) fn structure(p: &Process) -> Vec<Problem> {
    let mut out = Vec::new();
    if p.start_events(None).is_empty() {
        out.push(Problem {
            process: Some(p.id.clone()),
            element: None,
            kind: ProblemKind::Invalid("process has no start event".into()),
        });
    }
    for (idx, e) in p.elements.iter().enumerate() {
        match &e.kind {
            ElementKind::SubProcess { triggered_by_event } => {
                let starts = p.start_events(Some(idx));
                let ok = if *triggered_by_event {
                    starts.len() == 1
                        && starts.iter().all(|&s| {
                            !matches!(
                                p.elements[s].kind,
                                ElementKind::StartEvent {
                                    trigger: Trigger::None,
                                    ..
                                }
                            )
                        })
                } else {
                    starts.len() == 1
                        && starts.iter().all(|&s| {
                            matches!(
                                p.elements[s].kind,
                                ElementKind::StartEvent {
                                    trigger: Trigger::None,
                                    ..
                                }
                            )
                        })
                };
                if !ok {
                    out.push(problem(
                        p,
                        &e.id,
                        if *triggered_by_event {
                            "an event sub-process needs exactly one start event with an event definition"
                        } else {
                            "a sub-process needs exactly one none start event"
                        },
                    ));
                }
                if *triggered_by_event && (!e.incoming.is_empty() || !e.outgoing.is_empty()) {
                    out.push(problem(
                        p,
                        &e.id,
                        "an event sub-process has no sequence flows",
                    ));
                }
            }
            ElementKind::StartEvent { trigger, .. } => {
                let in_event_sub = e.parent.is_some_and(|parent| {
                    matches!(
                        p.elements[parent].kind,
                        ElementKind::SubProcess {
                            triggered_by_event: true
                        }
                    )
                });
                if matches!(trigger, Trigger::Error { .. } | Trigger::Terminate) && !in_event_sub {
                    out.push(problem(
                        p,
                        &e.id,
                        "error start events are only allowed in event sub-processes",
                    ));
                }
            }
            ElementKind::IntermediateCatchEvent { trigger }
                if !matches!(
                    trigger,
                    Trigger::Message { .. }
                        | Trigger::Timer(_)
                        | Trigger::Signal { .. }
                        | Trigger::Conditional { .. }
                ) =>
            {
                out.push(problem(
                    p,
                    &e.id,
                    "an intermediate catch event needs a message, timer, signal or condition",
                ));
            }
            ElementKind::BoundaryEvent {
                trigger,
                cancel_activity,
                ..
            } => match trigger {
                Trigger::None | Trigger::Terminate => {
                    out.push(problem(
                        p,
                        &e.id,
                        "a boundary event needs an event definition",
                    ));
                }
                Trigger::Error { .. } if !cancel_activity => {
                    out.push(problem(p, &e.id, "an error boundary event must interrupt"));
                }
                _ => {}
            },
            ElementKind::Gateway(GatewayKind::EventBased) => {
                for &f in &e.outgoing {
                    let target = &p.elements[p.flows[f].target];
                    let ok = matches!(
                        target.kind,
                        ElementKind::IntermediateCatchEvent { .. }
                            | ElementKind::Task(TaskKind::Receive { .. })
                    );
                    if !ok {
                        out.push(problem(
                            p,
                            &target.id,
                            "an event-based gateway may only lead to catch events and receive tasks",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}
