//! FHIR JSON: `serde_json` with member order and decimal digits preserved, and duplicate member
//! names rejected (readers disagree on which of two values wins, so FHIR JSON must not have them).

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use crate::{Format, ParseError};

/// Reads a JSON object (the check happens in [`crate::Resource::from_json_value`]).
pub(crate) fn parse(bytes: &[u8]) -> Result<Map<String, Value>, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match value {
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

/// How `serde_json` (with `arbitrary_precision`) hands a number to a visitor: as a one-member map
/// with this key and the number's text as value.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Builds a [`Value`] like `serde_json` does, but fails on duplicate member names.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictValue)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut first = true;
        while let Some(key) = map.next_key::<String>()? {
            if first && key == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                return text
                    .parse::<Number>()
                    .map(Value::Number)
                    .map_err(de::Error::custom);
            }
            first = false;
            let value = map.next_value_seed(StrictValue)?;
            match out.entry(key) {
                Entry::Vacant(e) => {
                    e.insert(value);
                }
                Entry::Occupied(e) => {
                    return Err(de::Error::custom(format!(
                        "duplicate member {:?}",
                        crate::primitive::truncate(e.key())
                    )));
                }
            }
        }
        Ok(Value::Object(out))
    }
}
