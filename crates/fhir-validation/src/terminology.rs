//! ValueSet expansion from stored ValueSets and CodeSystems, and the codes a binding allows.
//!
//! `compose.include` with listed concepts, with a whole system (every concept of the stored
//! CodeSystem, nested ones too), and with other ValueSets; `compose.exclude` likewise. A system
//! that is not stored, or stored with `content` other than `complete`/`fragment`, or included
//! through a filter, accepts every code: this server cannot enumerate it.

use std::collections::HashSet;

use serde_json::Value;

use crate::conformance::{Conformance, split_canonical};

/// The codes of a ValueSet.
#[derive(Debug, Default)]
pub(crate) struct Expansion {
    codes: HashSet<(String, String)>,
    /// Systems all of whose codes are in.
    open_systems: HashSet<String>,
}

impl Expansion {
    /// Whether `code` of `system` is in.
    pub fn contains(&self, system: &str, code: &str) -> bool {
        self.open_systems.contains(system)
            || self.codes.contains(&(system.to_owned(), code.to_owned()))
    }

    /// Whether `code` of any system is in (for `code` elements, whose system is implied).
    pub fn contains_code(&self, code: &str) -> bool {
        !self.open_systems.is_empty() || self.codes.iter().any(|(_, c)| c == code)
    }
}

/// Expands the ValueSet `canonical`; an error names what could not be found.
pub(crate) fn expand(conformance: &Conformance, canonical: &str) -> Result<Expansion, String> {
    expand_at(conformance, canonical, 0)
}

fn expand_at(
    conformance: &Conformance,
    canonical: &str,
    depth: usize,
) -> Result<Expansion, String> {
    if depth > 16 {
        return Err(format!("ValueSet {canonical} includes itself"));
    }
    let vs = conformance
        .value_set(canonical)
        .ok_or_else(|| format!("ValueSet {canonical} not found"))?;
    let mut out = Expansion::default();
    let compose = vs.get("compose");
    for include in items(compose, "include") {
        let part = part(conformance, include, depth)?;
        out.codes.extend(part.codes);
        out.open_systems.extend(part.open_systems);
    }
    for exclude in items(compose, "exclude") {
        let part = part(conformance, exclude, depth)?;
        out.codes.retain(|c| !part.codes.contains(c));
    }
    // A ValueSet given only as an expansion (no compose) lists its codes there.
    for c in items(vs.get("expansion"), "contains") {
        if let (Some(system), Some(code)) = (str_of(c, "system"), str_of(c, "code")) {
            out.codes.insert((system.to_owned(), code.to_owned()));
        }
    }
    Ok(out)
}

/// One `include` or `exclude`.
fn part(conformance: &Conformance, item: &Value, depth: usize) -> Result<Expansion, String> {
    let mut out = Expansion::default();
    let system = str_of(item, "system");
    let mut sets = item
        .get("valueSet")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    if let Some(system) = system {
        let concepts: Vec<&str> = items(Some(item), "concept")
            .filter_map(|c| str_of(c, "code"))
            .collect();
        if !concepts.is_empty() {
            for code in concepts {
                out.codes.insert((system.to_owned(), code.to_owned()));
            }
        } else if item.get("filter").is_some() {
            out.open_systems.insert(system.to_owned());
        } else {
            whole_system(conformance, system, item, &mut out);
        }
    }
    // Codes must be in every listed ValueSet as well (FHIR intersects them with the system part).
    if let Some(first) = sets.next() {
        let mut set = expand_at(conformance, first, depth + 1)?;
        for other in sets {
            let other = expand_at(conformance, other, depth + 1)?;
            set.codes.retain(|(s, c)| other.contains(s, c));
        }
        if system.is_some() {
            out.codes.retain(|(s, c)| set.contains(s, c));
        } else {
            out = set;
        }
    }
    Ok(out)
}

/// Every concept of a stored, enumerable CodeSystem; otherwise the whole system is open.
fn whole_system(conformance: &Conformance, system: &str, item: &Value, out: &mut Expansion) {
    let canonical = match str_of(item, "version") {
        Some(v) => format!("{system}|{v}"),
        None => system.to_owned(),
    };
    let enumerable = conformance.code_system(&canonical).filter(|cs| {
        matches!(
            str_of(cs, "content"),
            Some("complete") | Some("fragment") | None
        ) && cs.get("concept").is_some()
    });
    match enumerable {
        Some(cs) => add_concepts(system, cs, out, 0),
        None => {
            out.open_systems
                .insert(split_canonical(system).0.to_owned());
        }
    }
}

fn add_concepts(system: &str, parent: &Value, out: &mut Expansion, depth: usize) {
    if depth > 32 {
        return;
    }
    for c in items(Some(parent), "concept") {
        if let Some(code) = str_of(c, "code") {
            out.codes.insert((system.to_owned(), code.to_owned()));
        }
        add_concepts(system, c, out, depth + 1);
    }
}

fn items<'a>(value: Option<&'a Value>, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .and_then(|v| v.get(key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compose_include_exclude() {
        let mut c = Conformance::new();
        c.add(json!({"resourceType": "CodeSystem", "url": "http://cs", "version": "1", "content": "complete",
            "concept": [{"code": "a", "concept": [{"code": "a1"}]}, {"code": "b"}, {"code": "c"}]}));
        c.add(json!({"resourceType": "ValueSet", "url": "http://vs/all", "version": "1",
            "compose": {"include": [{"system": "http://cs"}], "exclude": [{"system": "http://cs", "concept": [{"code": "c"}]}]}}));
        c.add(json!({"resourceType": "ValueSet", "url": "http://vs/some", "version": "1",
            "compose": {"include": [{"system": "http://cs", "concept": [{"code": "b"}]}, {"system": "urn:ietf:bcp:13"}]}}));
        c.add(
            json!({"resourceType": "ValueSet", "url": "http://vs/nested",
            "compose": {"include": [{"valueSet": ["http://vs/all|1"]}]}}),
        );
        c.add(json!({"resourceType": "ValueSet", "url": "http://vs/loop",
            "compose": {"include": [{"valueSet": ["http://vs/loop"]}]}}));
        let all = expand(&c, "http://vs/all|1").expect("all");
        assert!(all.contains("http://cs", "a1") && all.contains("http://cs", "b"));
        assert!(!all.contains("http://cs", "c") && !all.contains("http://other", "a"));
        let some = expand(&c, "http://vs/some").expect("some");
        assert!(some.contains("http://cs", "b") && !some.contains("http://cs", "a"));
        assert!(some.contains("urn:ietf:bcp:13", "text/plain"));
        let nested = expand(&c, "http://vs/nested").expect("nested");
        assert!(nested.contains_code("a") && !nested.contains_code("c"));
        assert!(expand(&c, "http://vs/none").is_err());
        assert!(expand(&c, "http://vs/loop").is_err());
    }
}
