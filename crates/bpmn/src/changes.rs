//! The variables a class sees while it runs, with the changes it makes to them.

use crate::exec::VariableChange;
use crate::value::{Value, Variables};

/// The variables visible at an element, and the changes a class made, in order.
#[derive(Debug, Clone, Default)]
pub struct VariableChanges {
    variables: Variables,
    changes: Vec<VariableChange>,
}

impl VariableChanges {
    /// Starts from the `variables` visible at the element.
    pub fn new(variables: Variables) -> Self {
        VariableChanges {
            variables,
            changes: Vec::new(),
        }
    }

    /// A visible variable, with the changes made so far.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.variables.get(name)
    }

    /// `execution.setVariable`: where the variable exists, else on the process instance.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        let value = value.into();
        self.variables.insert(name.to_owned(), value.clone());
        self.changes
            .push(VariableChange::Set(name.to_owned(), value));
    }

    /// `execution.setVariableLocal`: on the element's own scope.
    pub fn set_local(&mut self, name: &str, value: impl Into<Value>) {
        let value = value.into();
        self.variables.insert(name.to_owned(), value.clone());
        self.changes
            .push(VariableChange::SetLocal(name.to_owned(), value));
    }

    /// `execution.removeVariable`.
    pub fn remove(&mut self, name: &str) {
        self.variables.remove(name);
        self.changes.push(VariableChange::Remove(name.to_owned()));
    }

    /// Every visible variable.
    pub fn all(&self) -> &Variables {
        &self.variables
    }

    /// The changes, in the order they were made.
    pub fn into_changes(self) -> Vec<VariableChange> {
        self.changes
    }
}
