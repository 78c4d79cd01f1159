//! Evaluation of expression syntax trees with JUEL's coercion rules.

use std::cmp::Ordering;

use super::ExprError;
use super::ast::{BinaryOp, Node, UnaryOp};
use crate::value::{Value, Variables};

/// What an expression can see: process variables and the `execution` object.
pub trait Context {
    /// A variable visible from the current execution (its own scope, then enclosing scopes).
    fn variable(&self, name: &str) -> Option<Value>;

    /// A variable of the current execution's own scope only.
    fn local_variable(&self, name: &str) -> Option<Value> {
        self.variable(name)
    }

    /// A property of the `execution` object: `businessKey`, `processInstanceId`, `activityId`,
    /// `processDefinitionId` or `id`.
    fn execution_property(&self, name: &str) -> Option<Value> {
        let _ = name;
        None
    }
}

impl Context for Variables {
    fn variable(&self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }
}

pub(crate) fn evaluate(node: &Node, ctx: &dyn Context) -> Result<Value, ExprError> {
    match node {
        Node::Literal(v) => Ok(v.clone()),
        Node::Ident(name) => match ctx.variable(name) {
            Some(v) => Ok(v),
            None if name == "execution" => Ok(Value::Null),
            None => Err(ExprError::UnknownVariable(name.clone())),
        },
        Node::Member(base, name) => {
            if is_execution(base, ctx) {
                return execution_property(ctx, name);
            }
            let base = evaluate(base, ctx)?;
            member(&base, name).ok_or_else(|| {
                ExprError::Type(format!(
                    "property '{name}' not found on {}",
                    base.type_name()
                ))
            })
        }
        Node::Index(base, index) => {
            let base = evaluate(base, ctx)?;
            let index = evaluate(index, ctx)?;
            index_value(&base, &index)
        }
        Node::Call(base, name, args) => {
            let args = args
                .iter()
                .map(|a| evaluate(a, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            if is_execution(base, ctx) {
                return execution_call(ctx, name, &args);
            }
            let base = evaluate(base, ctx)?;
            call(&base, name, &args)
        }
        Node::Unary(op, inner) => {
            let v = evaluate(inner, ctx)?;
            match op {
                UnaryOp::Not => Ok(Value::Bool(!to_bool(&v)?)),
                UnaryOp::Empty => Ok(Value::Bool(is_empty(&v))),
                UnaryOp::Neg => match v {
                    Value::Integer(i) => Ok(Value::Integer(-i)),
                    other => Ok(Value::Double(-to_f64(&other)?)),
                },
            }
        }
        Node::Binary(op, left, right) => binary(*op, left, right, ctx),
        Node::Conditional(cond, then, otherwise) => {
            if to_bool(&evaluate(cond, ctx)?)? {
                evaluate(then, ctx)
            } else {
                evaluate(otherwise, ctx)
            }
        }
    }
}

fn is_execution(node: &Node, ctx: &dyn Context) -> bool {
    matches!(node, Node::Ident(id) if id == "execution" && ctx.variable("execution").is_none())
}

fn execution_property(ctx: &dyn Context, name: &str) -> Result<Value, ExprError> {
    ctx.execution_property(name)
        .ok_or_else(|| ExprError::Type(format!("execution has no property '{name}'")))
}

fn execution_call(ctx: &dyn Context, name: &str, args: &[Value]) -> Result<Value, ExprError> {
    let arg = || -> Result<&str, ExprError> {
        args.first()
            .and_then(Value::as_str)
            .ok_or_else(|| ExprError::Type(format!("execution.{name} needs a string argument")))
    };
    match name {
        "hasVariable" => Ok(Value::Bool(ctx.variable(arg()?).is_some())),
        "hasVariableLocal" => Ok(Value::Bool(ctx.local_variable(arg()?).is_some())),
        "getVariable" => Ok(ctx.variable(arg()?).unwrap_or(Value::Null)),
        "getVariableLocal" => Ok(ctx.local_variable(arg()?).unwrap_or(Value::Null)),
        "getBusinessKey" | "getProcessBusinessKey" => execution_property(ctx, "businessKey"),
        "getProcessInstanceId" => execution_property(ctx, "processInstanceId"),
        "getActivityId" | "getCurrentActivityId" => execution_property(ctx, "activityId"),
        "getProcessDefinitionId" => execution_property(ctx, "processDefinitionId"),
        "getId" => execution_property(ctx, "id"),
        other => Err(ExprError::Type(format!("unknown method execution.{other}"))),
    }
}

fn json_of(v: &Value) -> Option<&serde_json::Value> {
    match v {
        Value::Json(j) | Value::Fhir(j) => Some(j),
        _ => None,
    }
}

/// Reads a member of a JSON value; `None` when absent.
fn member(base: &Value, name: &str) -> Option<Value> {
    json_of(base)?
        .as_object()?
        .get(name)
        .map(|j| Value::from_json(j.clone()))
}

fn index_value(base: &Value, index: &Value) -> Result<Value, ExprError> {
    let json = json_of(base)
        .ok_or_else(|| ExprError::Type(format!("cannot index into {}", base.type_name())))?;
    let found = match (json, index) {
        (serde_json::Value::Array(items), Value::Integer(i)) => {
            usize::try_from(*i).ok().and_then(|i| items.get(i))
        }
        (serde_json::Value::Object(map), Value::String(key)) => map.get(key),
        _ => None,
    };
    Ok(found.map_or(Value::Null, |j| Value::from_json(j.clone())))
}

fn length(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Bytes(b) => Some(b.len()),
        Value::Json(serde_json::Value::Array(a)) | Value::Fhir(serde_json::Value::Array(a)) => {
            Some(a.len())
        }
        Value::Json(serde_json::Value::Object(o)) | Value::Fhir(serde_json::Value::Object(o)) => {
            Some(o.len())
        }
        Value::Json(serde_json::Value::String(s)) => Some(s.chars().count()),
        _ => None,
    }
}

/// Method calls on values. Methods without arguments that are not built in read the member of that
/// name (so a host can store a bean's computed properties in JSON), then the bean property of a
/// getter (`getX()`, `isX()` read `x`); `hasX()` tests that member `x` is present and not empty.
fn call(base: &Value, name: &str, args: &[Value]) -> Result<Value, ExprError> {
    let unsupported = || {
        ExprError::Type(format!(
            "method '{name}' with {} argument(s) not supported on {}",
            args.len(),
            base.type_name()
        ))
    };
    match (name, args) {
        ("size" | "length", []) => length(base)
            .and_then(|n| i64::try_from(n).ok())
            .map(Value::Integer)
            .ok_or_else(unsupported),
        ("isEmpty", []) => Ok(Value::Bool(is_empty(base))),
        ("toString", []) => Ok(Value::String(base.to_string())),
        ("equals", [other]) => Ok(Value::Bool(equals(base, other)?)),
        ("contains", [needle]) => match (base, json_of(base)) {
            (Value::String(s), _) => Ok(Value::Bool(s.contains(&needle.to_string()))),
            (_, Some(serde_json::Value::Array(items))) => {
                let needle = needle.to_json().ok_or_else(unsupported)?;
                Ok(Value::Bool(items.contains(&needle)))
            }
            _ => Err(unsupported()),
        },
        ("startsWith", [prefix]) => match base {
            Value::String(s) => Ok(Value::Bool(s.starts_with(&prefix.to_string()))),
            _ => Err(unsupported()),
        },
        ("endsWith", [suffix]) => match base {
            Value::String(s) => Ok(Value::Bool(s.ends_with(&suffix.to_string()))),
            _ => Err(unsupported()),
        },
        ("get", [index]) => index_value(base, index),
        (_, []) => {
            if let Some(v) = member(base, name) {
                return Ok(v);
            }
            for (prefix, is_has) in [("get", false), ("is", false), ("has", true)] {
                let Some(rest) = name.strip_prefix(prefix).filter(|r| !r.is_empty()) else {
                    continue;
                };
                let mut chars = rest.chars();
                let property: String = chars
                    .next()
                    .map(|c| c.to_lowercase().chain(chars).collect())
                    .unwrap_or_default();
                let found = member(base, &property);
                if is_has {
                    return Ok(Value::Bool(found.is_some_and(|v| !is_empty(&v))));
                }
                if let Some(v) = found {
                    return Ok(v);
                }
            }
            Err(unsupported())
        }
        _ => Err(unsupported()),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Json(serde_json::Value::Null) => true,
        other => length(other) == Some(0),
    }
}

/// JUEL coercion to boolean.
pub(crate) fn to_bool(v: &Value) -> Result<bool, ExprError> {
    match v {
        Value::Bool(b) | Value::Json(serde_json::Value::Bool(b)) => Ok(*b),
        Value::Null | Value::Json(serde_json::Value::Null) => Ok(false),
        Value::String(s) | Value::Json(serde_json::Value::String(s)) => {
            Ok(s.eq_ignore_ascii_case("true"))
        }
        other => Err(ExprError::Type(format!(
            "cannot coerce {} to boolean",
            other.type_name()
        ))),
    }
}

fn to_f64(v: &Value) -> Result<f64, ExprError> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Double(d) => Ok(*d),
        Value::Null => Ok(0.0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| ExprError::Type(format!("cannot coerce '{s}' to a number"))),
        Value::Json(serde_json::Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| ExprError::Type("number out of range".into())),
        other => Err(ExprError::Type(format!(
            "cannot coerce {} to a number",
            other.type_name()
        ))),
    }
}

fn is_number(v: &Value) -> bool {
    matches!(
        v,
        Value::Integer(_) | Value::Double(_) | Value::Json(serde_json::Value::Number(_))
    )
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::Json(j) if !j.is_object() && !j.is_array() => Value::from_json(j.clone()),
        other => other.clone(),
    }
}

fn equals(a: &Value, b: &Value) -> Result<bool, ExprError> {
    let (a, b) = (normalize(a), normalize(b));
    Ok(match (&a, &b) {
        (Value::Null, _) | (_, Value::Null) => a == b,
        (Value::Bool(_), _) | (_, Value::Bool(_)) => to_bool(&a)? == to_bool(&b)?,
        _ if is_number(&a) || is_number(&b) => to_f64(&a)? == to_f64(&b)?,
        (Value::String(x), Value::String(y)) => x == y,
        _ => a == b,
    })
}

fn compare(a: &Value, b: &Value) -> Result<Ordering, ExprError> {
    let (a, b) = (normalize(a), normalize(b));
    match (&a, &b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => to_f64(&a)?
            .partial_cmp(&to_f64(&b)?)
            .ok_or_else(|| ExprError::Type("cannot compare NaN".into())),
    }
}

fn arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, ExprError> {
    let (a, b) = (normalize(a), normalize(b));
    if op != BinaryOp::Div
        && let (Value::Integer(x), Value::Integer(y)) = (&a, &b)
    {
        let r = match op {
            BinaryOp::Add => x.checked_add(*y),
            BinaryOp::Sub => x.checked_sub(*y),
            BinaryOp::Mul => x.checked_mul(*y),
            _ => x.checked_rem(*y),
        };
        return r
            .map(Value::Integer)
            .ok_or_else(|| ExprError::Type("integer overflow or division by zero".into()));
    }
    let (x, y) = (to_f64(&a)?, to_f64(&b)?);
    Ok(Value::Double(match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        _ => x % y,
    }))
}

fn binary(op: BinaryOp, left: &Node, right: &Node, ctx: &dyn Context) -> Result<Value, ExprError> {
    match op {
        BinaryOp::And => Ok(Value::Bool(
            to_bool(&evaluate(left, ctx)?)? && to_bool(&evaluate(right, ctx)?)?,
        )),
        BinaryOp::Or => Ok(Value::Bool(
            to_bool(&evaluate(left, ctx)?)? || to_bool(&evaluate(right, ctx)?)?,
        )),
        _ => {
            let (a, b) = (evaluate(left, ctx)?, evaluate(right, ctx)?);
            Ok(match op {
                BinaryOp::Eq => Value::Bool(equals(&a, &b)?),
                BinaryOp::Ne => Value::Bool(!equals(&a, &b)?),
                BinaryOp::Lt => Value::Bool(compare(&a, &b)? == Ordering::Less),
                BinaryOp::Le => Value::Bool(compare(&a, &b)? != Ordering::Greater),
                BinaryOp::Gt => Value::Bool(compare(&a, &b)? == Ordering::Greater),
                BinaryOp::Ge => Value::Bool(compare(&a, &b)? != Ordering::Less),
                _ => arithmetic(op, &a, &b)?,
            })
        }
    }
}
