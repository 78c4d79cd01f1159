//! OperationOutcome resources, the body of every error and of some successes.

use dsf_fhir::Resource;
use serde_json::{Map, Value, json};

/// How serious an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The interaction failed.
    Error,
    /// The interaction succeeded, with a caveat.
    Warning,
    /// For information only.
    Information,
}

impl Severity {
    fn code(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// One issue of an OperationOutcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How serious it is.
    pub severity: Severity,
    /// The FHIR issue type code, e.g. `invalid`, `not-found`, `processing`.
    pub code: &'static str,
    /// A human-readable explanation.
    pub diagnostics: String,
    /// Where it is (a FHIRPath expression or a parameter name), written as `location` and
    /// `expression`.
    pub expression: Option<String>,
}

impl Issue {
    /// An issue without a location.
    pub fn new(severity: Severity, code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue {
            severity,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// The same issue, located at `expression`.
    pub fn at(mut self, expression: impl Into<String>) -> Issue {
        self.expression = Some(expression.into());
        self
    }
}

/// An OperationOutcome resource with `issues`.
pub fn operation_outcome(issues: &[Issue]) -> Resource {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut issue = Map::new();
            issue.insert("severity".into(), json!(i.severity.code()));
            issue.insert("code".into(), json!(i.code));
            issue.insert("diagnostics".into(), json!(i.diagnostics));
            if let Some(e) = &i.expression {
                issue.insert("location".into(), json!([e]));
                issue.insert("expression".into(), json!([e]));
            }
            Value::Object(issue)
        })
        .collect();
    let mut outcome = Map::new();
    outcome.insert("resourceType".into(), json!("OperationOutcome"));
    outcome.insert("issue".into(), Value::Array(issues));
    Resource::trusted(outcome)
}

/// An OperationOutcome with a single informational issue.
pub fn information(diagnostics: impl Into<String>) -> Resource {
    operation_outcome(&[Issue::new(
        Severity::Information,
        "informational",
        diagnostics,
    )])
}
