use serde_json::{Map, Value};

use crate::ParseError;

/// One FHIR resource: its JSON object, member order and decimal digits preserved.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    json: Map<String, Value>,
}

impl Resource {
    /// Checks `value` against the R4 definitions and wraps it.
    ///
    /// Unknown elements, wrong JSON types, wrong cardinality, missing required elements, invalid
    /// primitive values, empty values and unknown resource types are [`ParseError::Invalid`] with
    /// the element's path.
    pub fn from_json_value(value: Value) -> Result<Self, ParseError> {
        match value {
            Value::Object(json) => {
                crate::check::resource(&json, 0).map_err(|f| {
                    let (path, message) = f.into_parts();
                    ParseError::Invalid { path, message }
                })?;
                Ok(Resource { json })
            }
            other => Err(ParseError::Invalid {
                path: String::new(),
                message: format!(
                    "not a resource: a JSON object with resourceType is expected, found {}",
                    crate::primitive::kind(&other)
                ),
            }),
        }
    }

    /// Wraps an object the caller built or read back from its own store, without checking it.
    ///
    /// The object must have a string `resourceType`.
    pub fn trusted(json: Map<String, Value>) -> Self {
        Resource { json }
    }

    /// The resource type, e.g. `Task`.
    pub fn resource_type(&self) -> &str {
        self.json
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The logical id, if any.
    pub fn id(&self) -> Option<&str> {
        self.json.get("id").and_then(Value::as_str)
    }

    /// The JSON object.
    pub fn as_json(&self) -> &Map<String, Value> {
        &self.json
    }

    /// The JSON object, mutable.
    pub fn as_json_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.json
    }

    /// The JSON object, owned.
    pub fn into_json(self) -> Map<String, Value> {
        self.json
    }
}
