//! A FHIRPath evaluator (the normative N1 / FHIR R4 subset) over `serde_json::Value` resources,
//! used to check the invariants (`ElementDefinition.constraint.expression`) of profiles.
//!
//! ```
//! use dsf_fhir_validation::fhirpath::{Expression, Focus};
//! let task = serde_json::json!({"resourceType": "Task", "status": "draft", "intent": "order"});
//! let e = Expression::parse("status = 'draft' implies intent.exists()").unwrap();
//! assert!(e.check(Focus::resource(&task), &task).unwrap());
//! ```
//!
//! Paths navigate JSON members; element types come from the R4 table of [`dsf_fhir::meta`], so
//! choice elements (`value` finds `valueString`), `ofType`, `is` and `as` work. Unknown function
//! names fail at [`Expression::parse`] with [`FhirPathError::Unsupported`], so a profile using
//! one is reported once; `memberOf`, `resolve`, `conformsTo` and `htmlChecks` parse but fail the
//! same way when evaluated (terminology and references are checked elsewhere).
//!
//! Simplifications: decimals are `f64`; quantities (`4 'mg'`) and calendar arithmetic are not
//! supported; dates, dateTimes and times compare as text without their time zone, component-wise
//! up to the shorter precision (equal up to it: empty result); `matches` is a partial match with
//! Rust's `regex` syntax (`.` matches newlines); extensions of primitives (`_name`) are not
//! navigated.
//!
//! Why an own evaluator (about 1,900 lines, no dependency beyond the crate's own) and not the crate
//! `octofhir-fhirpath` 0.4.57, the last version without MSRV 1.98: measured on rustc 1.95 on our
//! two-core machine, it builds, but a cold `cargo build --release -j2` of a binary depending on it
//! compiles 136 crates in 218 s (396 MB target dir; tokio with all features, chumsky,
//! rust_decimal, moka, octofhir-ucum, ...). Its API is async only (`FhirPathEngine::new` and
//! `evaluate` are `async fn`, tokio is a required dependency, so a sync validator would need a
//! runtime), it needs a `ModelProvider` (`EmptyModelProvider` knows no FHIR types; R4 types need
//! a schema provider on top), and it does not evaluate a borrowed `serde_json::Value`: the
//! resource is moved into its own `FhirPathValue`/`Collection` inside an `EvaluationContext`.

mod ast;
mod eval;
mod functions;
mod lexer;
mod model;
mod parser;
mod value;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod tests;

use serde_json::Value;

/// A parsed FHIRPath expression.
#[derive(Debug, Clone)]
pub struct Expression {
    root: ast::Expr,
}

impl Expression {
    /// Parses `text`; a syntax error, a tree nested deeper than 128 or an unknown function or
    /// variable is an error.
    pub fn parse(text: &str) -> Result<Expression, FhirPathError> {
        parser::parse(text).map(|root| Expression { root })
    }

    /// Evaluates with `this` as the focus (`$this` and the start of paths), `resource` as
    /// `%resource` (and `%rootResource`; `%context` is `this`). Returns the output collection.
    pub fn evaluate<'a>(
        &self,
        this: Focus<'a>,
        resource: &'a Value,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        eval::evaluate(&self.root, this, resource)
    }

    /// Invariant semantics: true only when the result is exactly one boolean `true` (as the HL7
    /// validator treats it); an empty result or `false` is a violation.
    pub fn check<'a>(&self, this: Focus<'a>, resource: &'a Value) -> Result<bool, FhirPathError> {
        let result = self.evaluate(this, resource)?;
        Ok(matches!(result.as_slice(), [item] if item.as_boolean() == Some(true)))
    }
}

/// A node in a resource: the JSON value and, where known, its FHIR type name (e.g. `Reference`,
/// `string`, `Task.input`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Focus<'a> {
    /// The JSON value of the node.
    pub value: &'a Value,
    /// The FHIR type, when known.
    pub type_name: Option<&'static str>,
}

impl<'a> Focus<'a> {
    /// A node of the given type.
    pub fn new(value: &'a Value, type_name: Option<&'static str>) -> Focus<'a> {
        Focus { value, type_name }
    }

    /// A resource, typed by its `resourceType` (untyped when that is not an R4 resource type).
    pub fn resource(value: &'a Value) -> Focus<'a> {
        Focus {
            value,
            type_name: model::resource_type(value),
        }
    }
}

/// One item of a collection: a node of the resource, or a computed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// A node of the resource.
    Node(Focus<'a>),
    /// A computed boolean.
    Boolean(bool),
    /// A computed integer.
    Integer(i64),
    /// A computed decimal.
    Decimal(f64),
    /// A computed string.
    String(String),
    /// A date (`2020`, `2020-01`, `2020-01-01`).
    Date(String),
    /// A dateTime as text, e.g. `2020-01-01T10:00:00Z`.
    DateTime(String),
    /// A time as text, e.g. `10:00:00`.
    Time(String),
}

impl Item<'_> {
    /// The boolean this item is: a computed boolean or a boolean node.
    pub fn as_boolean(&self) -> Option<bool> {
        match self {
            Item::Boolean(b) => Some(*b),
            Item::Node(f) => f.value.as_bool(),
            _ => None,
        }
    }
}

/// Why an expression could not be parsed or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum FhirPathError {
    /// The text is not a valid expression.
    #[error("FHIRPath syntax error at {position}: {message}")]
    Syntax {
        /// Char offset in the expression text.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// A function, variable or feature this evaluator does not implement.
    #[error("FHIRPath feature not supported: {0}")]
    Unsupported(String),
    /// The expression failed on the given input (e.g. a collection where one item is required).
    #[error("FHIRPath evaluation error: {0}")]
    Evaluation(String),
}
