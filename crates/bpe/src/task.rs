//! Task helpers: the DSF's code systems and identifiers, Task inputs and outputs, and the
//! process URL in `instantiatesCanonical`.

use serde_json::{Map, Value, json};

/// Code system of the Task inputs and outputs the engine reads and writes.
pub const BPMN_MESSAGE: &str = "http://dsf.dev/fhir/CodeSystem/bpmn-message";
/// Identifier system of organizations.
pub const ORGANIZATION_IDENTIFIER: &str = "http://dsf.dev/sid/organization-identifier";
/// Identifier system of endpoints.
pub const ENDPOINT_IDENTIFIER: &str = "http://dsf.dev/sid/endpoint-identifier";
/// Identifier system of draft Tasks.
pub const TASK_IDENTIFIER: &str = "http://dsf.dev/sid/task-identifier";
/// Code system of the read-access tags.
pub const READ_ACCESS_TAG: &str = "http://dsf.dev/fhir/CodeSystem/read-access-tag";

/// The first input of `task` typed `system|code`.
pub fn input<'a>(task: &'a Value, system: &str, code: &str) -> Option<&'a Value> {
    list(task, "input").find(|p| is_type(p, system, code))
}

/// Every input of `task` typed `system|code`.
pub fn inputs<'a>(
    task: &'a Value,
    system: &'a str,
    code: &'a str,
) -> impl Iterator<Item = &'a Value> + 'a {
    list(task, "input").filter(move |p| is_type(p, system, code))
}

/// The string value (`valueString`) of the first input typed `system|code`.
pub fn input_string<'a>(task: &'a Value, system: &str, code: &str) -> Option<&'a str> {
    input(task, system, code)?
        .get("valueString")
        .and_then(Value::as_str)
}

/// The outputs of `task` typed `system|code`.
pub fn outputs<'a>(
    task: &'a Value,
    system: &'a str,
    code: &'a str,
) -> impl Iterator<Item = &'a Value> + 'a {
    list(task, "output").filter(move |p| is_type(p, system, code))
}

fn list<'a>(task: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> + 'a {
    task.get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Whether a Task input or output is typed `system|code`.
fn is_type(parameter: &Value, system: &str, code: &str) -> bool {
    parameter
        .pointer("/type/coding")
        .and_then(Value::as_array)
        .is_some_and(|codings| {
            codings.iter().any(|c| {
                c.get("system").and_then(Value::as_str) == Some(system)
                    && c.get("code").and_then(Value::as_str) == Some(code)
            })
        })
}

/// A Task input or output: type `system|code` with `value` under `value_key` (`valueString`,
/// `valueCoding`, `valueReference`, ...).
pub fn parameter(system: &str, code: &str, value_key: &str, value: Value) -> Value {
    let mut parameter = Map::new();
    parameter.insert(
        "type".into(),
        json!({"coding": [{"system": system, "code": code}]}),
    );
    parameter.insert(value_key.into(), value);
    Value::Object(parameter)
}

/// Appends `parameter` to the list `input` or `output` of `task`.
pub fn push(task: &mut Value, list: &str, parameter: Value) {
    if let Value::Object(task) = task {
        match task.entry(list).or_insert_with(|| json!([])) {
            Value::Array(items) => items.push(parameter),
            other => *other = json!([parameter]),
        }
    }
}

/// `Task.status`.
pub fn status(task: &Value) -> Option<&str> {
    task.get("status").and_then(Value::as_str)
}

/// The identifier value of `Task.requester`.
pub fn requester(task: &Value) -> Option<&str> {
    task.pointer("/requester/identifier/value")
        .and_then(Value::as_str)
}

/// The message name input.
pub fn message_name(task: &Value) -> Option<&str> {
    input_string(task, BPMN_MESSAGE, "message-name")
}

/// The business key input.
pub fn business_key(task: &Value) -> Option<&str> {
    input_string(task, BPMN_MESSAGE, "business-key")
}

/// The correlation key input.
pub fn correlation_key(task: &Value) -> Option<&str> {
    input_string(task, BPMN_MESSAGE, "correlation-key")
}

/// Marks `task` failed with an `error` output saying `message`.
pub fn fail(task: &mut Value, message: &str) {
    push(
        task,
        "output",
        parameter(BPMN_MESSAGE, "error", "valueString", json!(message)),
    );
    task["status"] = json!("failed");
}

/// An organization reference by identifier, as Task requester and recipient carry it.
pub fn organization_reference(identifier: &str) -> Value {
    json!({"type": "Organization", "identifier": {"system": ORGANIZATION_IDENTIFIER, "value": identifier}})
}

/// The process a Task instantiates: `http(s)://<domain>/bpe/Process/<name>|<a.b>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessUrl {
    /// `http(s)://<domain>/bpe/Process/<name>`.
    pub url: String,
    /// The domain.
    pub domain: String,
    /// The process name.
    pub name: String,
    /// The resource version `a.b`.
    pub version: String,
}

impl ProcessUrl {
    /// Parses a canonical with version; `None` if it does not have the reference's form.
    pub fn parse(canonical: &str) -> Option<ProcessUrl> {
        let (url, version) = canonical.split_once('|')?;
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        let (domain, name) = rest.split_once("/bpe/Process/")?;
        let valid_version = version
            .split_once('.')
            .is_some_and(|(a, b)| is_number(a) && is_number(b));
        let valid_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        (valid_version && valid_name && valid_domain(domain)).then(|| ProcessUrl {
            url: url.to_owned(),
            domain: domain.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }

    /// The BPMN process id: the domain without dots, `_`, the name (`dsfdev_ping`).
    pub fn process_key(&self) -> String {
        format!("{}_{}", self.domain.replace('.', ""), self.name)
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// A host name with at least two labels of letters, digits and inner hyphens.
fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_urls() {
        let p = ProcessUrl::parse("http://dsf.dev/bpe/Process/ping|1.0").expect("valid");
        assert_eq!(p.process_key(), "dsfdev_ping");
        assert_eq!(p.version, "1.0");
        assert_eq!(p.url, "http://dsf.dev/bpe/Process/ping");
        for bad in [
            "http://dsf.dev/bpe/Process/ping",
            "http://dsf.dev/bpe/Process/ping|1",
            "ftp://dsf.dev/bpe/Process/ping|1.0",
            "http://localhost/bpe/Process/ping|1.0",
            "http://dsf.dev/bpe/Process/pi ng|1.0",
            "http://dsf.dev/bpe/Process/|1.0",
        ] {
            assert_eq!(ProcessUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn inputs_and_failure() {
        let mut task = json!({"resourceType": "Task", "status": "requested", "input": [
            parameter(BPMN_MESSAGE, "message-name", "valueString", json!("ping")),
            parameter(BPMN_MESSAGE, "business-key", "valueString", json!("bk"))]});
        assert_eq!(message_name(&task), Some("ping"));
        assert_eq!(business_key(&task), Some("bk"));
        assert_eq!(correlation_key(&task), None);
        fail(&mut task, "Process not found");
        assert_eq!(status(&task), Some("failed"));
        let error = outputs(&task, BPMN_MESSAGE, "error")
            .next()
            .expect("output");
        assert_eq!(error["valueString"], "Process not found");
    }
}
