//! Variable lookup and update along a token's scope chain.

use crate::expr::Context;
use crate::model::Process;
use crate::value::Value;

use super::state::{Instance, Token};

/// The expression context of a token (or, with `token: None`, of a scope).
pub(crate) struct TokenContext<'a> {
    pub(crate) process: &'a Process,
    pub(crate) instance: &'a Instance,
    pub(crate) token: Option<&'a Token>,
    pub(crate) token_id: Option<u64>,
    pub(crate) scope: u64,
}

impl<'a> TokenContext<'a> {
    pub(crate) fn of_token(process: &'a Process, instance: &'a Instance, id: u64) -> Option<Self> {
        let token = instance.tokens.get(&id)?;
        Some(TokenContext {
            process,
            instance,
            token: Some(token),
            token_id: Some(id),
            scope: token.scope,
        })
    }

    pub(crate) fn of_scope(process: &'a Process, instance: &'a Instance, scope: u64) -> Self {
        TokenContext {
            process,
            instance,
            token: None,
            token_id: None,
            scope,
        }
    }

    /// All variables visible here, inner scopes shadowing outer ones.
    pub(crate) fn visible(&self) -> crate::value::Variables {
        let mut chain = Vec::new();
        let mut current = Some(self.scope);
        while let Some(id) = current {
            let Some(scope) = self.instance.scopes.get(&id) else {
                break;
            };
            chain.push(&scope.variables);
            current = scope.parent;
        }
        let mut out = crate::value::Variables::new();
        for vars in chain.into_iter().rev() {
            out.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Some(t) = self.token {
            out.extend(t.locals.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }

    fn lookup(&self, name: &str) -> Option<&'a Value> {
        if let Some(v) = self.token.and_then(|t| t.locals.get(name)) {
            return Some(v);
        }
        let mut current = Some(self.scope);
        while let Some(id) = current {
            let scope = self.instance.scopes.get(&id)?;
            if let Some(v) = scope.variables.get(name) {
                return Some(v);
            }
            current = scope.parent;
        }
        None
    }
}

impl Context for TokenContext<'_> {
    fn variable(&self, name: &str) -> Option<Value> {
        self.lookup(name).cloned()
    }

    fn local_variable(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.token.and_then(|t| t.locals.get(name)) {
            return Some(v.clone());
        }
        self.instance
            .scopes
            .get(&self.scope)
            .and_then(|s| s.variables.get(name))
            .cloned()
    }

    fn execution_property(&self, name: &str) -> Option<Value> {
        match name {
            "businessKey" | "processBusinessKey" => Some(
                self.instance
                    .business_key
                    .clone()
                    .map_or(Value::Null, Value::String),
            ),
            "processInstanceId" => Some(Value::String(self.instance.id.to_string())),
            "processDefinitionId" => Some(Value::String(format!(
                "{}:{}",
                self.instance.definition.key, self.instance.definition.version
            ))),
            "activityId" | "currentActivityId" => self
                .token
                .map(|t| Value::String(self.process.elements[t.element].id.clone())),
            "id" => Some(Value::String(format!(
                "{}:{}",
                self.instance.id,
                self.token_id.unwrap_or(self.scope)
            ))),
            _ => None,
        }
    }
}

/// Sets a variable as `execution.setVariable` does: where it already exists along the chain
/// (activity locals first), else in the root scope.
pub(crate) fn set_variable(
    instance: &mut Instance,
    token: Option<u64>,
    scope: u64,
    name: &str,
    value: Value,
) {
    if let Some(t) = token.and_then(|t| instance.tokens.get_mut(&t))
        && let Some(slot) = t.locals.get_mut(name)
    {
        *slot = value;
        return;
    }
    let mut current = Some(scope);
    let mut root = scope;
    while let Some(id) = current {
        let Some(s) = instance.scopes.get_mut(&id) else {
            break;
        };
        if let Some(slot) = s.variables.get_mut(name) {
            *slot = value;
            return;
        }
        root = id;
        current = s.parent;
    }
    if let Some(s) = instance.scopes.get_mut(&root) {
        s.variables.insert(name.to_owned(), value);
    }
}

/// Removes a variable where it is visible from (activity locals, then the chain).
pub(crate) fn remove_variable(instance: &mut Instance, token: Option<u64>, scope: u64, name: &str) {
    if let Some(t) = token.and_then(|t| instance.tokens.get_mut(&t))
        && t.locals.remove(name).is_some()
    {
        return;
    }
    let mut current = Some(scope);
    while let Some(id) = current {
        let Some(s) = instance.scopes.get_mut(&id) else {
            break;
        };
        if s.variables.remove(name).is_some() {
            return;
        }
        current = s.parent;
    }
}
