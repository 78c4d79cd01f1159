//! The conformance resources validation draws on: StructureDefinitions, ValueSets and
//! CodeSystems, found by canonical URL with or without `|version`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// The DSF 1.x base profile of Tasks; plugins written for the 1.x API derive from it.
pub const TASK_BASE: &str = "http://dsf.dev/fhir/StructureDefinition/task-base";
/// The current DSF Task profile, which [`TASK_BASE`] stands for (as the reference's migration has it).
pub const TASK: &str = "http://dsf.dev/fhir/StructureDefinition/task";

/// The conformance resources of a server, by kind and canonical URL.
#[derive(Debug, Default, Clone)]
pub struct Conformance {
    structure_definitions: Canonicals,
    value_sets: Canonicals,
    code_systems: Canonicals,
}

/// Resources of one kind by URL, every version.
#[derive(Debug, Default, Clone)]
struct Canonicals(HashMap<String, Vec<Arc<Value>>>);

impl Canonicals {
    fn add(&mut self, url: &str, resource: Arc<Value>) {
        self.0.entry(url.to_owned()).or_default().push(resource);
    }

    /// `url` or `url|version`; without a version, or with a version that is not there, the
    /// latest one (by [`compare_versions`]), as the reference's validator resolves canonicals.
    fn get(&self, canonical: &str) -> Option<&Arc<Value>> {
        let (url, version) = split_canonical(canonical);
        let all = self.0.get(url)?;
        version
            .and_then(|v| all.iter().find(|r| version_of(r) == Some(v)))
            .or_else(|| {
                all.iter()
                    .max_by(|a, b| compare_versions(version_of(a), version_of(b)))
            })
    }
}

/// A canonical's URL and optional version (`url|version`).
pub fn split_canonical(canonical: &str) -> (&str, Option<&str>) {
    match canonical.split_once('|') {
        Some((url, version)) if !version.is_empty() => (url, Some(version)),
        Some((url, _)) => (url, None),
        None => (canonical, None),
    }
}

fn version_of(resource: &Value) -> Option<&str> {
    resource.get("version").and_then(Value::as_str)
}

/// Orders versions by their dot-separated parts, numerically where both parts are numbers.
fn compare_versions(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    let parts = |v: Option<&str>| -> Vec<String> {
        v.unwrap_or_default()
            .split('.')
            .map(str::to_owned)
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    for (x, y) in a.iter().zip(&b) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

impl Conformance {
    /// An empty set: only the R4 base definitions are known.
    pub fn new() -> Conformance {
        Conformance::default()
    }

    /// Adds a StructureDefinition, ValueSet or CodeSystem; other resources and resources without
    /// `url` are ignored.
    pub fn add(&mut self, resource: Value) {
        let Some(url) = resource
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return;
        };
        let kind = match resource.get("resourceType").and_then(Value::as_str) {
            Some("StructureDefinition") => &mut self.structure_definitions,
            Some("ValueSet") => &mut self.value_sets,
            Some("CodeSystem") => &mut self.code_systems,
            _ => return,
        };
        kind.add(&url, Arc::new(resource));
    }

    /// The StructureDefinition a canonical names; `task-base` (any version) resolves to the
    /// latest `task` profile.
    pub fn structure_definition(&self, canonical: &str) -> Option<&Arc<Value>> {
        if split_canonical(canonical).0 == TASK_BASE {
            return self.structure_definitions.get(TASK);
        }
        self.structure_definitions.get(canonical)
    }

    /// The ValueSet a canonical names.
    pub fn value_set(&self, canonical: &str) -> Option<&Arc<Value>> {
        self.value_sets.get(canonical)
    }

    /// The CodeSystem a canonical names.
    pub fn code_system(&self, canonical: &str) -> Option<&Arc<Value>> {
        self.code_systems.get(canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_and_aliases() {
        let mut c = Conformance::new();
        for v in ["1.9.0", "1.10.0", "1.2"] {
            c.add(json!({"resourceType": "ValueSet", "url": "http://x/vs", "version": v}));
        }
        c.add(json!({"resourceType": "StructureDefinition", "url": TASK, "version": "2.1.0"}));
        c.add(json!({"resourceType": "Patient", "url": "http://x/p"}));
        let version = |r: Option<&Arc<Value>>| r.and_then(|r| version_of(r).map(str::to_owned));
        assert_eq!(
            version(c.value_set("http://x/vs")).as_deref(),
            Some("1.10.0")
        );
        assert_eq!(
            version(c.value_set("http://x/vs|1.2")).as_deref(),
            Some("1.2")
        );
        assert_eq!(
            version(c.value_set("http://x/vs|3")).as_deref(),
            Some("1.10.0")
        );
        assert!(c.value_set("http://x/other").is_none());
        assert_eq!(
            version(
                c.structure_definition("http://dsf.dev/fhir/StructureDefinition/task-base|1.0.0")
            )
            .as_deref(),
            Some("2.1.0")
        );
        assert!(c.code_system("http://x/p").is_none());
    }
}
