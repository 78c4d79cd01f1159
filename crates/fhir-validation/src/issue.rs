//! What validation finds: issues with severity, kind and FHIRPath location.

/// How serious an issue is; only errors (and fatal ones) make a resource invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Validation could not go on.
    Fatal,
    /// The resource does not conform.
    Error,
    /// Suspicious, but allowed.
    Warning,
    /// For information.
    Information,
}

impl Severity {
    /// The FHIR `issue.severity` code.
    pub fn code(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }

    /// A constraint's `severity` code; anything but `warning` counts as an error.
    pub(crate) fn of_constraint(code: Option<&str>) -> Severity {
        match code {
            Some("warning") => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// One finding: severity, FHIR issue type code, where (a FHIRPath location such as
/// `Task.input[1].value.ofType(Reference).identifier`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How serious it is.
    pub severity: Severity,
    /// The FHIR `issue.code`: `structure`, `required`, `value`, `invariant`, `code-invalid`,
    /// `not-found` or `processing`.
    pub code: &'static str,
    /// Where in the resource.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl Issue {
    /// Whether it makes the resource invalid.
    pub fn is_error(&self) -> bool {
        self.severity <= Severity::Error
    }
}
