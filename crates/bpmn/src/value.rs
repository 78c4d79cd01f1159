//! Typed process variables.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A process variable value.
///
/// The engine stores variables typed, as the reference engine does: plain scalars, JSON documents,
/// raw bytes and FHIR resources (kept as their JSON representation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "camelCase")]
pub enum Value {
    /// The absent value (`null` in expressions).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Integer(i64),
    /// A double-precision number.
    Double(f64),
    /// A string.
    String(String),
    /// A JSON document; its members are reachable with property paths in expressions.
    Json(serde_json::Value),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A FHIR resource in its JSON representation.
    Fhir(serde_json::Value),
}

/// Variables by name.
pub type Variables = BTreeMap<String, Value>;

impl Value {
    /// Converts a JSON value to the closest typed value: scalars become scalars, objects and arrays
    /// stay JSON.
    pub fn from_json(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s),
            other => Value::Json(other),
        }
    }

    /// The JSON form of this value, if it has one (bytes have none).
    pub fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Integer(i) => serde_json::Value::from(*i),
            Value::Double(d) => serde_json::Number::from_f64(*d)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Json(j) | Value::Fhir(j) => j.clone(),
            Value::Bytes(_) => return None,
        })
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Json(serde_json::Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Json(serde_json::Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Double(_) => "double",
            Value::String(_) => "string",
            Value::Json(_) => "json",
            Value::Bytes(_) => "bytes",
            Value::Fhir(_) => "fhir resource",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::String(s) => f.write_str(s),
            Value::Json(j) | Value::Fhir(j) => write!(f, "{j}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Integer(i)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_a_serialization_round_trip() -> Result<(), serde_json::Error> {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Integer(-7),
            Value::Double(2.5),
            Value::String("x".into()),
            Value::Json(serde_json::json!({"a": 1.5, "b": [1, 2, {"c": null}], "d": "e"})),
            Value::Bytes(vec![0, 255, 7]),
            Value::Fhir(serde_json::json!({"resourceType": "Task", "priority": 3})),
        ];
        let vars: Variables = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("v{i}"), v.clone()))
            .collect();
        let text = serde_json::to_string(&vars)?;
        let back: Variables = serde_json::from_str(&text)?;
        assert_eq!(back, vars);
        Ok(())
    }

    #[test]
    fn json_scalars_become_typed_values() {
        assert_eq!(Value::from_json(serde_json::json!(3)), Value::Integer(3));
        assert_eq!(Value::from_json(serde_json::json!(0.5)), Value::Double(0.5));
        assert_eq!(Value::from_json(serde_json::json!("s")), Value::from("s"));
        assert_eq!(Value::Bytes(vec![1]).to_json(), None);
    }
}
