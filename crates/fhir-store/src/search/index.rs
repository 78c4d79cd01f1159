//! Extraction of search index rows from a resource, maintained with every write.

use serde_json::{Map, Value};

use super::access::{ACCESS_PARAM, access_tokens};
use super::date::{DateRange, parse_range};
use super::params::{ParamDef, ParamKind, params_of};

/// One row of the `search_params` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexRow {
    pub param: String,
    pub sys: Option<String>,
    pub val: Option<String>,
    pub raw: Option<String>,
    pub lo: Option<i64>,
    pub hi: Option<i64>,
}

impl IndexRow {
    pub(crate) fn new(param: impl Into<String>) -> Self {
        IndexRow {
            param: param.into(),
            sys: None,
            val: None,
            raw: None,
            lo: None,
            hi: None,
        }
    }
}

/// The values found at a dot-separated `path` below `value`, arrays flattened.
pub(crate) fn values_at<'a>(root: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let mut segments = path.split('.');
    let mut current: Vec<&Value> = match segments.next().and_then(|first| root.get(first)) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item) => vec![item],
        None => return Vec::new(),
    };
    for segment in segments {
        let mut next = Vec::new();
        for v in current {
            match v.get(segment) {
                Some(Value::Array(items)) => next.extend(items.iter()),
                Some(item) => next.push(item),
                None => {}
            }
        }
        current = next;
    }
    current
}

/// Splits a literal reference into `(type, id)`: `Type/id`, `Type/id/_history/n` or an absolute
/// URL ending in either. Returns the base URL part for absolute references.
pub fn split_reference(reference: &str) -> Option<(Option<&str>, &str, &str)> {
    let trimmed = match reference.find("/_history/") {
        Some(pos) => &reference[..pos],
        None => reference,
    };
    let (rest, id) = trimmed.rsplit_once('/')?;
    let (base, resource_type) = match rest.rsplit_once('/') {
        Some((base, t)) => (Some(base), t),
        None => (None, rest),
    };
    let valid_type = resource_type
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphabetic());
    (valid_type && !id.is_empty()).then_some((base, resource_type, id))
}

/// Builds the index rows of `resource` (of type `resource_type`).
pub(crate) fn index_rows(resource_type: &str, resource: &Map<String, Value>) -> Vec<IndexRow> {
    let mut rows = Vec::new();
    for profile in values_at(resource, "meta.profile") {
        if let Some(url) = profile.as_str() {
            let mut row = IndexRow::new("_profile");
            row.val = Some(url.to_owned());
            rows.push(row);
        }
    }
    for token in access_tokens(resource_type, resource) {
        let mut row = IndexRow::new(ACCESS_PARAM);
        row.val = Some(token);
        rows.push(row);
    }
    for def in params_of(resource_type) {
        for path in def.paths {
            for value in values_at(resource, path) {
                index_value(def, value, &mut rows);
            }
        }
    }
    rows
}

fn index_value(def: &ParamDef, value: &Value, rows: &mut Vec<IndexRow>) {
    match def.kind {
        ParamKind::Token => {
            for (system, code) in tokens(value) {
                let mut row = IndexRow::new(def.name);
                row.sys = system;
                row.val = code;
                rows.push(row);
            }
        }
        ParamKind::String => {
            if let Some(s) = value.as_str() {
                let mut row = IndexRow::new(def.name);
                row.val = Some(normalize_string(s));
                row.raw = Some(s.to_owned());
                rows.push(row);
            }
        }
        ParamKind::Uri => {
            if let Some(s) = value.as_str() {
                let mut row = IndexRow::new(def.name);
                row.val = Some(s.to_owned());
                rows.push(row);
            }
        }
        ParamKind::Canonical => {
            if let Some(s) = value.as_str() {
                let mut row = IndexRow::new(def.name);
                let (url, version) = match s.split_once('|') {
                    Some((u, v)) => (u, Some(v.to_owned())),
                    None => (s, None),
                };
                row.val = Some(url.to_owned());
                row.raw = version;
                rows.push(row);
            }
        }
        ParamKind::Date => {
            let range = match value {
                Value::String(s) => parse_range(s),
                Value::Object(period) => {
                    let start = period
                        .get("start")
                        .and_then(Value::as_str)
                        .and_then(parse_range);
                    let end = period
                        .get("end")
                        .and_then(Value::as_str)
                        .and_then(parse_range);
                    (start.is_some() || end.is_some()).then(|| DateRange {
                        lo: start.map_or(DateRange::ALL.lo, |s| s.lo),
                        hi: end.map_or(DateRange::ALL.hi, |e| e.hi),
                    })
                }
                _ => None,
            };
            if let Some(range) = range {
                let mut row = IndexRow::new(def.name);
                row.lo = Some(range.lo);
                row.hi = Some(range.hi);
                rows.push(row);
            }
        }
        ParamKind::Reference => {
            if let Some(reference) = value.get("reference").and_then(Value::as_str)
                && let Some((base, resource_type, id)) = split_reference(reference)
            {
                let mut row = IndexRow::new(def.name);
                row.sys = Some(resource_type.to_owned());
                if base.is_none() {
                    row.val = Some(id.to_owned());
                }
                row.raw = Some(reference.to_owned());
                rows.push(row);
            }
            if let Some(identifier) = value.get("identifier") {
                for (system, code) in tokens(identifier) {
                    let mut row = IndexRow::new(format!("{}:identifier", def.name));
                    row.sys = system;
                    row.val = code;
                    rows.push(row);
                }
            }
        }
    }
}

/// Lower-cases a string for case-insensitive matching.
pub(crate) fn normalize_string(s: &str) -> String {
    s.to_lowercase()
}

/// `(system, code)` pairs of a code, boolean, Coding, CodeableConcept or Identifier.
fn tokens(value: &Value) -> Vec<(Option<String>, Option<String>)> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match value {
        Value::String(s) => vec![(None, Some(s.clone()))],
        Value::Bool(b) => vec![(None, Some(b.to_string()))],
        Value::Object(o) => {
            if let Some(Value::Array(codings)) = o.get("coding") {
                codings
                    .iter()
                    .map(|c| (text(c.get("system")), text(c.get("code"))))
                    .collect()
            } else if o.contains_key("code") {
                vec![(text(o.get("system")), text(o.get("code")))]
            } else if o.contains_key("value") || o.contains_key("system") {
                vec![(text(o.get("system")), text(o.get("value")))]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(v: Value) -> Vec<IndexRow> {
        let Value::Object(map) = v else {
            panic!("object")
        };
        let t = map["resourceType"].as_str().unwrap_or_default().to_owned();
        index_rows(&t, &map)
    }

    #[test]
    fn task_rows() {
        let rows = rows(json!({
            "resourceType": "Task",
            "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"]},
            "status": "requested",
            "authoredOn": "2024-05-01T10:00:00+02:00",
            "requester": {"reference": "Organization/abc", "identifier": {"system": "http://dsf.dev/sid/organization-identifier", "value": "dic1"}},
            "identifier": [{"system": "s", "value": "v"}]
        }));
        let find = |p: &str| {
            rows.iter()
                .filter(|r| r.param == p)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(find("status")[0].val.as_deref(), Some("requested"));
        assert_eq!(find("requester")[0].sys.as_deref(), Some("Organization"));
        assert_eq!(find("requester")[0].val.as_deref(), Some("abc"));
        assert_eq!(find("requester:identifier")[0].val.as_deref(), Some("dic1"));
        assert_eq!(find("identifier")[0].sys.as_deref(), Some("s"));
        assert!(find("authored-on")[0].lo.is_some());
        assert_eq!(find("_profile").len(), 1);
    }

    #[test]
    fn references_split() {
        assert_eq!(
            split_reference("Organization/1"),
            Some((None, "Organization", "1"))
        );
        assert_eq!(
            split_reference("https://h/fhir/Task/1/_history/2"),
            Some((Some("https://h/fhir"), "Task", "1"))
        );
        assert_eq!(split_reference("urn:uuid:1"), None);
        assert_eq!(split_reference("#contained"), None);
    }
}
