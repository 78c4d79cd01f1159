//! Comparing values with fixed and pattern values, and finding values by simple paths.

use serde_json::Value;

use crate::snapshot::upper_first;

/// `fixed[x]` semantics: the same value, nothing more and nothing less.
pub(crate) fn equals(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => {
            a.to_string() == b.to_string() || a.as_f64().is_some_and(|x| b.as_f64() == Some(x))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| equals(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| equals(v, w))
        }
        _ => actual == expected,
    }
}

/// `pattern[x]` semantics: every member of the pattern is there with a matching value; every
/// item of a pattern array matches some item.
pub(crate) fn matches_pattern(actual: &Value, pattern: &Value) -> bool {
    match (actual, pattern) {
        (Value::Object(a), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| a.get(k).is_some_and(|av| matches_pattern(av, pv))),
        (Value::Array(a), Value::Array(p)) => p
            .iter()
            .all(|pv| a.iter().any(|av| matches_pattern(av, pv))),
        (Value::Array(a), p) => a.iter().any(|av| matches_pattern(av, p)),
        _ => equals(actual, pattern),
    }
}

/// The values at a discriminator path (`type.coding.code`, `url`, `$this`, `value`,
/// `extension('http://…').value`) below `value`. Choice elements match by their stem
/// (`value` finds `valueString`).
pub(crate) fn at_path<'a>(value: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![value];
    for step in steps(path) {
        let mut next = Vec::new();
        for v in current {
            match &step {
                Step::This => next.push(v),
                Step::Extension(url) => {
                    if let Some(exts) = v.get("extension").and_then(Value::as_array) {
                        next.extend(
                            exts.iter()
                                .filter(|e| e.get("url").and_then(Value::as_str) == Some(url)),
                        );
                    }
                }
                // A primitive's `value` is the primitive itself.
                Step::Member(name) if name == "value" && !v.is_object() => next.push(v),
                Step::Member(name) => next.extend(members(v, name)),
            }
        }
        current = next;
    }
    current
}

enum Step {
    This,
    Extension(String),
    Member(String),
}

fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("extension('")
            && let Some((url, tail)) = after.split_once("')")
        {
            out.push(Step::Extension(url.to_owned()));
            rest = tail.strip_prefix('.').unwrap_or(tail);
            continue;
        }
        let (step, tail) = rest.split_once('.').unwrap_or((rest, ""));
        out.push(match step {
            "$this" => Step::This,
            s => Step::Member(s.strip_suffix("[x]").unwrap_or(s).to_owned()),
        });
        rest = tail;
    }
    out
}

/// The values of member `name` of an object (arrays flattened), choice members included.
fn members<'a>(value: &'a Value, name: &str) -> Vec<&'a Value> {
    let Some(object) = value.as_object() else {
        return Vec::new();
    };
    let flatten = |v: &'a Value| -> Vec<&'a Value> {
        match v {
            Value::Array(items) => items.iter().collect(),
            v => vec![v],
        }
    };
    if let Some(v) = object.get(name) {
        return flatten(v);
    }
    object
        .iter()
        .filter(|(k, _)| is_choice_member(k, name))
        .flat_map(|(_, v)| flatten(v))
        .collect()
}

/// Whether JSON member `key` is choice element `stem` of some type (`valueString` for `value`).
pub(crate) fn is_choice_member(key: &str, stem: &str) -> bool {
    key.strip_prefix(stem)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_ascii_uppercase())
}

/// The JSON member name of choice `stem` with type `code` (`value` + `Reference`).
pub(crate) fn choice_member(stem: &str, code: &str) -> String {
    format!("{stem}{}", upper_first(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fixed_pattern_and_paths() {
        assert!(equals(&json!({"a": 1.0}), &json!({"a": 1})));
        assert!(!equals(&json!({"a": 1, "b": 2}), &json!({"a": 1})));
        let cc = json!({"coding": [{"system": "s", "code": "c", "display": "d"}], "text": "t"});
        assert!(matches_pattern(
            &cc,
            &json!({"coding": [{"system": "s", "code": "c"}]})
        ));
        assert!(!matches_pattern(
            &cc,
            &json!({"coding": [{"system": "s", "code": "x"}]})
        ));
        let input = json!({"type": cc, "valueString": "v",
            "extension": [{"url": "u", "valueCode": "x"}]});
        assert_eq!(at_path(&input, "type.coding.code"), [&json!("c")]);
        assert_eq!(at_path(&input, "value"), [&json!("v")]);
        assert_eq!(at_path(&input, "value[x]"), [&json!("v")]);
        assert_eq!(at_path(&input, "$this").len(), 1);
        assert_eq!(at_path(&input, "extension('u').value"), [&json!("x")]);
        assert!(at_path(&input, "nope.x").is_empty());
        assert!(is_choice_member("valueString", "value") && !is_choice_member("values", "value"));
        assert_eq!(choice_member("value", "string"), "valueString");
    }
}
