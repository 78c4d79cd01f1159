//! FHIR JSON: `serde_json` with member order and decimal digits preserved.

use serde_json::{Map, Value};

use crate::{Format, ParseError};

/// Reads a JSON object (the check happens in [`crate::Resource::from_json_value`]).
pub(crate) fn parse(bytes: &[u8]) -> Result<Map<String, Value>, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ParseError::Invalid {
            path: String::new(),
            message: format!(
                "not a resource: a JSON object with resourceType is expected, found {}",
                crate::primitive::kind(&other)
            ),
        }),
        Err(e) => Err(ParseError::Syntax {
            format: Format::Json,
            message: e.to_string(),
        }),
    }
}

/// Writes `json`, compact or indented by two spaces.
pub(crate) fn serialize(json: &Map<String, Value>, pretty: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    // Writing a `Value` into a `Vec` cannot fail (keys are strings, numbers are valid JSON).
    let r = if pretty {
        serde_json::to_writer_pretty(&mut out, json)
    } else {
        serde_json::to_writer(&mut out, json)
    };
    if r.is_err() {
        out.clear();
    }
    out
}
