//! FHIRPath expressions, as profile invariants use them.

use serde_json::Value;

/// A parsed FHIRPath expression.
#[derive(Debug)]
pub struct Expression;

/// A node in a resource.
#[derive(Debug, Clone, Copy)]
pub struct Focus<'a> {
    /// The JSON value.
    pub value: &'a Value,
    /// The FHIR type name, where known.
    pub type_name: Option<&'static str>,
}

/// Why an expression could not be parsed or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum FhirPathError {
    /// Not implemented.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Expression {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Expression, FhirPathError> {
        Err(FhirPathError::Unsupported(text.to_owned()))
    }

    /// Invariant semantics.
    pub fn check<'a>(&self, _this: Focus<'a>, _resource: &'a Value) -> Result<bool, FhirPathError> {
        Ok(true)
    }
}
