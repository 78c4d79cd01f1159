//! Camunda 7 extension elements: implementations, fields, listeners, parameters, multi-instance.

use crate::expr::Expression;
use crate::timer::Cycle;

/// A `camunda:class` with its injected fields.
#[derive(Debug, Clone)]
pub struct Implementation {
    /// The class name, resolved by the host in its registry.
    pub class: String,
    /// `camunda:field` injections.
    pub fields: Vec<Field>,
}

/// A `camunda:field` injection.
#[derive(Debug, Clone)]
pub struct Field {
    /// The field name.
    pub name: String,
    /// Its value.
    pub value: FieldValue,
}

/// The value of a field injection.
#[derive(Debug, Clone)]
pub enum FieldValue {
    /// `camunda:string` (or `stringValue`): used as is.
    String(String),
    /// `camunda:expression` (or `expression`): evaluated when the class is called.
    Expression(Expression),
}

/// An execution or task listener.
#[derive(Debug, Clone)]
pub struct Listener {
    /// `start`, `end`, `take` (execution listeners) or `create`, `assignment`, `complete`,
    /// `delete` (task listeners).
    pub event: String,
    /// The class called.
    pub class: String,
    /// Field injections.
    pub fields: Vec<Field>,
}

/// A `camunda:inputParameter` or `camunda:outputParameter`.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// The variable name.
    pub name: String,
    /// The value: a literal, an expression or a template.
    pub value: Expression,
}

/// `multiInstanceLoopCharacteristics`.
#[derive(Debug, Clone)]
pub struct MultiInstance {
    /// `isSequential`.
    pub sequential: bool,
    /// `camunda:collection`.
    pub collection: Option<Expression>,
    /// `camunda:elementVariable`.
    pub element_variable: Option<String>,
    /// `loopCardinality`.
    pub cardinality: Option<Expression>,
    /// `completionCondition`.
    pub completion_condition: Option<Expression>,
    /// `camunda:asyncBefore` on the loop: each instance starts asynchronously.
    pub async_before: bool,
    /// `camunda:asyncAfter` on the loop: each instance ends asynchronously.
    pub async_after: bool,
    /// `camunda:exclusive` on the loop.
    pub exclusive: bool,
    /// `camunda:failedJobRetryTimeCycle` of the loop.
    pub retry_cycle: Option<Cycle>,
}
