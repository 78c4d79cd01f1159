//! Deployment checks: everything that would stop a model from deploying, reported together.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::{DeployError, Problem, ProblemKind};
use time::OffsetDateTime;

use crate::exec::timers::schedule;
use crate::model::{Definitions, ElementKind, Listener, TaskKind, Trigger};
use crate::parse;
use crate::value::Variables;

/// How to deploy a model.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Values of `#{name}` placeholders (`version`, `date`, `organization`, ...).
    pub properties: HashMap<String, String>,
    /// The `camunda:class` names the host implements.
    pub known_classes: HashSet<String>,
    /// Report unknown class names as warnings instead of errors.
    pub allow_unknown_classes: bool,
}

/// Sample values for the placeholders a DSF plugin deployment fills (`#{version}`, `#{date}`,
/// `#{organization}`), for checking models outside a deployment.
pub fn sample_properties() -> HashMap<String, String> {
    [
        ("version", "1.0"),
        ("date", "2026-01-01"),
        ("organization", "example.org"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Which elements an [`AddedListener`] attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerTarget {
    /// Message start events (of processes and event sub-processes).
    MessageStartEvents,
    /// Intermediate message catch events and receive tasks.
    MessageCatches,
    /// All end events.
    EndEvents,
}

/// An execution listener the engine adds to every deployed process, before the model's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedListener {
    /// Where it attaches.
    pub target: ListenerTarget,
    /// `start` or `end`.
    pub event: String,
    /// The class called.
    pub class: String,
}

fn add_listeners(definitions: &mut Definitions, listeners: &[AddedListener]) {
    for process in &mut definitions.processes {
        for element in &mut process.elements {
            let matches = |target: ListenerTarget| {
                matches!(
                    (&element.kind, target),
                    (
                        ElementKind::StartEvent {
                            trigger: Trigger::Message { .. },
                            ..
                        },
                        ListenerTarget::MessageStartEvents,
                    ) | (
                        ElementKind::IntermediateCatchEvent {
                            trigger: Trigger::Message { .. },
                        } | ElementKind::Task(TaskKind::Receive { .. }),
                        ListenerTarget::MessageCatches,
                    ) | (ElementKind::EndEvent { .. }, ListenerTarget::EndEvents)
                )
            };
            let added: Vec<Listener> = listeners
                .iter()
                .filter(|l| matches(l.target))
                .map(|l| Listener {
                    event: l.event.clone(),
                    class: l.class.clone(),
                    fields: Vec::new(),
                })
                .collect();
            element.execution_listeners.splice(0..0, added);
        }
    }
}

/// A summary of one process of a checked model.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSummary {
    /// The process id (definition key).
    pub id: String,
    /// `camunda:versionTag`.
    pub version_tag: Option<String>,
    /// Element counts by BPMN tag.
    pub element_counts: BTreeMap<&'static str, usize>,
}

/// What checking a model found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckReport {
    /// The processes, if the model parsed.
    pub processes: Vec<ProcessSummary>,
    /// Problems that prevent deployment.
    pub errors: Vec<Problem>,
    /// Problems that do not (tolerated oddities, unknown classes when allowed).
    pub warnings: Vec<Problem>,
}

impl std::fmt::Display for CheckReport {
    /// One line per process, error and warning, as a command-line check prints them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.processes {
            let counts: Vec<String> = p
                .element_counts
                .iter()
                .map(|(tag, n)| format!("{n} {tag}"))
                .collect();
            writeln!(
                f,
                "process {} (version tag {}): {}",
                p.id,
                p.version_tag.as_deref().unwrap_or("-"),
                counts.join(", ")
            )?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

impl CheckReport {
    /// Whether the model would deploy.
    pub fn is_deployable(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks a model as a deployment would, without deploying it.
///
/// Besides parse problems this finds unknown class names and process timer start events whose
/// timer depends on variables.
pub fn check(xml: &str, options: &DeployOptions) -> CheckReport {
    match prepare(xml, options, &[]) {
        Ok((definitions, _, warnings)) => CheckReport {
            processes: definitions
                .processes
                .iter()
                .map(|p| ProcessSummary {
                    id: p.id.clone(),
                    version_tag: p.version_tag.clone(),
                    element_counts: p.element_counts(),
                })
                .collect(),
            errors: Vec::new(),
            warnings,
        },
        Err((error, warnings)) => CheckReport {
            processes: Vec::new(),
            errors: error.problems,
            warnings,
        },
    }
}

/// Fills placeholders, parses, adds the engine's listeners and checks class names. Returns the
/// definitions, the filled XML and the warnings; or the error and the warnings.
#[allow(clippy::type_complexity)]
pub(crate) fn prepare(
    xml: &str,
    options: &DeployOptions,
    listeners: &[AddedListener],
) -> Result<(Definitions, String, Vec<Problem>), (DeployError, Vec<Problem>)> {
    let mut problems = Vec::new();
    let filled = match parse::placeholders::fill(xml, &options.properties) {
        Ok(filled) => filled,
        Err(mut p) => {
            problems.append(&mut p);
            xml.to_owned()
        }
    };
    let mut definitions = match parse::parse(&filled) {
        Ok(d) => d,
        Err(mut e) => {
            problems.append(&mut e.problems);
            return Err((DeployError { problems }, Vec::new()));
        }
    };
    add_listeners(&mut definitions, listeners);
    let mut warnings = definitions.warnings.clone();
    for process in &definitions.processes {
        for start in process.start_events(None) {
            let element = &process.elements[start];
            if let ElementKind::StartEvent {
                trigger: Trigger::Timer(def),
                ..
            } = &element.kind
                && let Err(message) = schedule(def, &Variables::new(), OffsetDateTime::UNIX_EPOCH)
            {
                problems.push(Problem {
                    process: Some(process.id.clone()),
                    element: Some(element.id.clone()),
                    kind: ProblemKind::Invalid(format!(
                        "a process timer start event cannot use variables: {message}"
                    )),
                });
            }
        }
        for (element, class) in process.class_references() {
            if options.known_classes.contains(class) {
                continue;
            }
            let problem = Problem {
                process: Some(process.id.clone()),
                element: Some(element.to_owned()),
                kind: ProblemKind::UnknownClass(class.to_owned()),
            };
            if options.allow_unknown_classes {
                warnings.push(problem);
            } else {
                problems.push(problem);
            }
        }
    }
    if problems.is_empty() {
        Ok((definitions, filled, warnings))
    } else {
        Err((DeployError { problems }, warnings))
    }
}
