//! Event definitions: messages, timers, signals, errors, conditions and terminate.

use roxmltree::Node;

use super::{BPMN_NS, Builder, camunda_attr, is_bpmn, text_of};
use crate::error::{Problem, ProblemKind};
use crate::model::{TimerDefinition, Trigger};
use crate::timer;

impl Builder<'_> {
    pub(super) fn message_ref(&mut self, node: Node<'_, '_>, id: &str) -> Option<String> {
        let Some(r) = node.attribute("messageRef") else {
            self.problem(Some(id), ProblemKind::Missing("messageRef"));
            return None;
        };
        match self.globals.messages.get(r) {
            Some(name) => Some(name.clone()),
            None => {
                self.problem(
                    Some(id),
                    ProblemKind::Dangling {
                        what: "message",
                        target: r.to_owned(),
                    },
                );
                None
            }
        }
    }

    pub(super) fn trigger(&mut self, node: Node<'_, '_>, id: &str, throwing: bool) -> Trigger {
        let start = is_bpmn(node, "startEvent");
        let defs: Vec<Node<'_, '_>> = node
            .children()
            .filter(|n| {
                n.is_element()
                    && n.tag_name().namespace() == Some(BPMN_NS)
                    && n.tag_name().name().ends_with("EventDefinition")
            })
            .collect();
        let def = match defs.as_slice() {
            [] => return Trigger::None,
            [one] => *one,
            _ => {
                self.problem(
                    Some(id),
                    ProblemKind::Unsupported("multiple event definitions".into()),
                );
                return Trigger::None;
            }
        };
        match def.tag_name().name() {
            "messageEventDefinition" => {
                let implementation = self.implementation(def, id);
                let name = match def.attribute("messageRef") {
                    Some(_) => self.message_ref(def, id).unwrap_or_default(),
                    None if throwing => String::new(),
                    None if start => {
                        // Camunda Modeler templates (the DSF tutorial) leave this empty; such a
                        // start event can still be started as a none start event.
                        self.warnings.push(Problem {
                            process: Some(self.process_id.clone()),
                            element: Some(id.to_owned()),
                            kind: ProblemKind::Missing(
                                "messageRef (treated as a none start event)",
                            ),
                        });
                        return Trigger::None;
                    }
                    None => {
                        self.problem(Some(id), ProblemKind::Missing("messageRef"));
                        String::new()
                    }
                };
                Trigger::Message {
                    name,
                    implementation,
                }
            }
            "timerEventDefinition" => self.timer(def, id),
            "signalEventDefinition" => {
                let r = def.attribute("signalRef").unwrap_or_default();
                match self.globals.signals.get(r) {
                    Some(name) => Trigger::Signal { name: name.clone() },
                    None => {
                        self.problem(
                            Some(id),
                            ProblemKind::Dangling {
                                what: "signal",
                                target: r.to_owned(),
                            },
                        );
                        Trigger::None
                    }
                }
            }
            "errorEventDefinition" => {
                let (code, message) = match def.attribute("errorRef") {
                    None => (None, None),
                    Some(r) => match self.globals.errors.get(r) {
                        Some(found) => found.clone(),
                        None => {
                            self.problem(
                                Some(id),
                                ProblemKind::Dangling {
                                    what: "error",
                                    target: r.to_owned(),
                                },
                            );
                            (None, None)
                        }
                    },
                };
                Trigger::Error {
                    code,
                    message,
                    code_variable: camunda_attr(def, "errorCodeVariable").map(str::to_owned),
                    message_variable: camunda_attr(def, "errorMessageVariable").map(str::to_owned),
                }
            }
            "conditionalEventDefinition" => {
                let text = def
                    .children()
                    .find(|n| is_bpmn(*n, "condition"))
                    .map(text_of)
                    .unwrap_or_default();
                if text.is_empty() {
                    self.problem(Some(id), ProblemKind::Missing("condition"));
                    return Trigger::None;
                }
                match self.expression(id, &text) {
                    Some(condition) => Trigger::Conditional { condition },
                    None => Trigger::None,
                }
            }
            "terminateEventDefinition" => Trigger::Terminate,
            other => {
                self.problem(Some(id), ProblemKind::Unsupported(other.to_owned()));
                Trigger::None
            }
        }
    }

    pub(super) fn timer(&mut self, def: Node<'_, '_>, id: &str) -> Trigger {
        let Some(child) = def.children().find(Node::is_element) else {
            self.problem(
                Some(id),
                ProblemKind::Missing("timeDuration, timeDate or timeCycle"),
            );
            return Trigger::None;
        };
        let text = text_of(child);
        let Some(expr) = self.expression(id, &text) else {
            return Trigger::None;
        };
        let literal_check = match child.tag_name().name() {
            "timeDuration" => timer::parse_duration(&text).map(|_| ()),
            "timeDate" => timer::parse_date(&text).map(|_| ()),
            "timeCycle" => timer::parse_time_cycle(&text).map(|_| ()),
            other => {
                self.problem(Some(id), ProblemKind::Unsupported(other.to_owned()));
                return Trigger::None;
            }
        };
        if expr.is_literal()
            && let Err(e) = literal_check
        {
            self.problem(Some(id), ProblemKind::Timer(e));
            return Trigger::None;
        }
        Trigger::Timer(match child.tag_name().name() {
            "timeDuration" => TimerDefinition::Duration(expr),
            "timeDate" => TimerDefinition::Date(expr),
            _ => TimerDefinition::Cycle(expr),
        })
    }
}
