//! Snapshot generation: a profile's differential laid over its base's snapshot.
//!
//! Elements are matched by id (`Task.input:business-key.value[x]`). A slice that the base does not
//! have is made by copying the sliced element with its descendants; an element inside a datatype
//! (`Task.input.type.coding.system`) expands the datatype from the R4 definitions first; a choice
//! element named by one of its types (`valueReference`) stands for `value[x]` restricted to that
//! type. Differential members replace the base's, except `constraint`, which adds to them.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::base;

/// A generated snapshot.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The snapshot's ElementDefinitions.
    pub elements: Vec<Value>,
    /// Differential elements left out, with why: ids that name no element of the base (some
    /// published profiles have them; the reference's generator leaves them out as well).
    pub skipped: Vec<String>,
}

/// Lays `differential` (ElementDefinitions) over `base` (snapshot ElementDefinitions).
pub fn generate(base: Vec<Value>, differential: &[Value]) -> Result<Generated, String> {
    let mut work = Working { elements: base };
    let mut ids_by_path: HashMap<String, String> = HashMap::new();
    // Some published differentials constrain inside an element before they restrict its type;
    // such elements are laid over once more after all others.
    let mut deferred = Vec::new();
    for d in differential {
        let Some(d) = d.as_object() else {
            return Err("differential element is not an object".into());
        };
        let id = differential_id(d, &ids_by_path)?;
        ids_by_path.insert(path_of(&id), id.clone());
        match work.locate(&id) {
            Ok(index) => merge(&mut work.elements[index], d),
            Err(_) => deferred.push((id, d)),
        }
    }
    let mut skipped = Vec::new();
    for (id, d) in deferred {
        match work.locate(&id) {
            Ok(index) => merge(&mut work.elements[index], d),
            Err(e) => skipped.push(e),
        }
    }
    Ok(Generated {
        elements: work.elements,
        skipped,
    })
}

/// The element id: `id` when it agrees with `path`; otherwise made from `path` and `sliceName`
/// under the latest element of the parent path (some published profiles carry ids that do not
/// match their paths, such as `Meta.tag:a:b` for a slice of `Meta.tag:a.extension`).
fn differential_id(
    d: &Map<String, Value>,
    ids_by_path: &HashMap<String, String>,
) -> Result<String, String> {
    let id = d.get("id").and_then(Value::as_str);
    let Some(path) = d.get("path").and_then(Value::as_str) else {
        return id
            .map(str::to_owned)
            .ok_or_else(|| "differential element without id and path".into());
    };
    if let Some(id) = id
        && path_of(id) == path
        && id.matches(':').count() <= path.matches('.').count()
    {
        return Ok(id.to_owned());
    }
    let (parent, name) = path.rsplit_once('.').unwrap_or(("", path));
    let mut id = match ids_by_path.get(parent) {
        Some(parent_id) => format!("{parent_id}.{name}"),
        None if parent.is_empty() => name.to_owned(),
        None => path.to_owned(),
    };
    if let Some(slice) = d.get("sliceName").and_then(Value::as_str) {
        id = format!("{id}:{slice}");
    }
    Ok(id)
}

/// The id's segments: `Task.input:x.value[x]` → `Task`, `input:x`, `value[x]`.
pub(crate) fn segments(id: &str) -> impl Iterator<Item = &str> {
    id.split('.')
}

/// The path of an element id: the id without slice names.
pub(crate) fn path_of(id: &str) -> String {
    segments(id)
        .map(|s| s.split_once(':').map_or(s, |(name, _)| name))
        .collect::<Vec<_>>()
        .join(".")
}

struct Working {
    elements: Vec<Value>,
}

impl Working {
    fn find(&self, id: &str) -> Option<usize> {
        self.elements
            .iter()
            .position(|e| e.get("id").and_then(Value::as_str) == Some(id))
    }

    /// Finds or makes the element `id`.
    fn locate(&mut self, id: &str) -> Result<usize, String> {
        let mut parts = segments(id);
        let root = parts.next().unwrap_or_default();
        if self.find(root).is_none() {
            return Err(format!("element {id}: {root} is not the profiled type"));
        }
        let mut current = root.to_owned();
        for part in parts {
            let (name, slice) = match part.split_once(':') {
                Some((name, slice)) => (name, Some(slice)),
                None => (part, None),
            };
            let mut child = format!("{current}.{name}");
            if self.find(&child).is_none() {
                self.expand(&current)?;
            }
            if self.find(&child).is_none() {
                let (choice, type_code) = self
                    .choice_named(&current, name)
                    .ok_or_else(|| format!("element {id}: no element {child} in the base"))?;
                // Naming a choice by one type restricts it to that type.
                if let Some(index) = self.find(&choice) {
                    self.elements[index]["type"] = json!([{ "code": type_code }]);
                }
                child = choice;
            }
            if let Some(slice) = slice {
                let sliced = format!("{child}:{slice}");
                if self.find(&sliced).is_none() {
                    self.add_slice(&child, slice)?;
                }
                child = sliced;
            }
            current = child;
        }
        self.find(&current)
            .ok_or_else(|| format!("element {id} not found"))
    }

    /// `value[x]` under `parent` when `name` is `value` + one of its type codes (`valueReference`).
    fn choice_named(&self, parent: &str, name: &str) -> Option<(String, String)> {
        let prefix = format!("{parent}.");
        self.elements.iter().find_map(|e| {
            let id = e.get("id")?.as_str()?;
            let stem = id.strip_prefix(&prefix)?.strip_suffix("[x]")?;
            let type_name = name.strip_prefix(stem)?;
            types(e)
                .into_iter()
                .find_map(|code| (upper_first(&code) == type_name).then(|| (id.to_owned(), code)))
        })
    }

    /// Inserts the elements of `id`'s single datatype under it (`Coding.system`, ...), unless it
    /// has them already.
    fn expand(&mut self, id: &str) -> Result<(), String> {
        let index = self
            .find(id)
            .ok_or_else(|| format!("element {id} not found"))?;
        if self.end_of_group(id, index, false) > index + 1 {
            return Ok(());
        }
        let codes = types(&self.elements[index]);
        let [code] = codes.as_slice() else {
            return Err(format!(
                "element {id} has {} types; constrain it to one before profiling inside it",
                codes.len()
            ));
        };
        let path = path_of(id);
        let children = base::children(code, id, &path)
            .ok_or_else(|| format!("element {id} of type {code} has no elements"))?;
        let at = self.end_of_group(id, index, false);
        self.elements.splice(at..at, children);
        Ok(())
    }

    /// Adds slice `slice` of element `id`: a copy of it and its descendants, after its last slice.
    fn add_slice(&mut self, id: &str, slice: &str) -> Result<(), String> {
        let index = self
            .find(id)
            .ok_or_else(|| format!("element {id} not found"))?;
        let descendants = self.end_of_group(id, index, false);
        let mut copies: Vec<Value> = self.elements[index..descendants].to_vec();
        let sliced = format!("{id}:{slice}");
        for copy in &mut copies {
            if let Some(own) = copy.get("id").and_then(Value::as_str) {
                let renamed = format!("{sliced}{}", &own[id.len()..]);
                copy["id"] = json!(renamed);
            }
        }
        if let Some(root) = copies.first_mut().and_then(Value::as_object_mut) {
            root.remove("slicing");
            root.insert("sliceName".into(), json!(slice));
            // The sliced element's minimum counts all its values; a slice is optional unless
            // its profile says otherwise.
            root.insert("min".into(), json!(0));
        }
        let at = self.end_of_group(id, index, true);
        self.elements.splice(at..at, copies);
        Ok(())
    }

    /// The index after element `id` (at `index`) and its descendants, and with `slices` also
    /// after its slices and theirs.
    fn end_of_group(&self, id: &str, index: usize, slices: bool) -> usize {
        let below = format!("{id}.");
        let sliced = format!("{id}:");
        let mut end = index + 1;
        while let Some(other) = self
            .elements
            .get(end)
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str)
        {
            if other.starts_with(&below) || (slices && other.starts_with(&sliced)) {
                end += 1;
            } else {
                break;
            }
        }
        end
    }
}

/// The type codes of an ElementDefinition.
pub(crate) fn types(element: &Value) -> Vec<String> {
    element
        .get("type")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("code").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `reference` → `Reference`, as choice member names spell type codes.
pub(crate) fn upper_first(code: &str) -> String {
    let mut chars = code.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// Lays one differential element over its snapshot element.
fn merge(target: &mut Value, d: &Map<String, Value>) {
    let Some(target) = target.as_object_mut() else {
        return;
    };
    let constrains_value = d
        .keys()
        .any(|k| k.starts_with("fixed") || k.starts_with("pattern"));
    if constrains_value {
        target.retain(|k, _| !k.starts_with("fixed") && !k.starts_with("pattern"));
    }
    for (key, value) in d {
        match key.as_str() {
            "id" | "path" => {}
            "constraint" => {
                let added = value.as_array().cloned().unwrap_or_default();
                let list = target
                    .entry("constraint")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Some(list) = list.as_array_mut() {
                    for c in added {
                        list.retain(|old| old.get("key") != c.get("key"));
                        list.push(c);
                    }
                }
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(elements: &[Value]) -> Vec<&str> {
        elements.iter().filter_map(|e| e["id"].as_str()).collect()
    }

    #[test]
    fn slices_datatypes_and_choices() {
        let base = base::snapshot("Task").expect("Task");
        let diff = vec![
            json!({"id": "Task.input", "path": "Task.input", "min": 1,
                   "slicing": {"discriminator": [{"type": "value", "path": "type.coding.code"}], "rules": "open"}}),
            json!({"id": "Task.input:a", "path": "Task.input", "sliceName": "a", "min": 1, "max": "1"}),
            json!({"id": "Task.input:a.type.coding.code", "path": "Task.input.type.coding.code", "fixedCode": "a"}),
            json!({"id": "Task.input:a.valueReference.identifier", "path": "Task.input.valueReference.identifier", "min": 1}),
            json!({"id": "Task.input:b", "path": "Task.input", "sliceName": "b"}),
            json!({"id": "Task.status", "path": "Task.status",
                   "constraint": [{"key": "k", "severity": "error", "expression": "true"}]}),
        ];
        let generated = generate(base, &diff).expect("snapshot");
        assert!(generated.skipped.is_empty(), "{:?}", generated.skipped);
        let s = generated.elements;
        let ids = ids(&s);
        let pos = |id: &str| ids.iter().position(|i| *i == id).unwrap_or(usize::MAX);
        assert!(pos("Task.input") < pos("Task.input.value[x]"));
        assert!(pos("Task.input.value[x]") < pos("Task.input:a"));
        assert!(pos("Task.input:a") < pos("Task.input:a.type.coding.code"));
        assert!(pos("Task.input:a.value[x].identifier") < pos("Task.input:b"));
        assert!(pos("Task.input:b") < pos("Task.output"));
        let a = &s[pos("Task.input:a")];
        assert_eq!(
            (a["min"].clone(), a["max"].clone(), a["sliceName"].clone()),
            (json!(1), json!("1"), json!("a"))
        );
        assert!(a.get("slicing").is_none());
        assert_eq!(s[pos("Task.input:a.type.coding.code")]["fixedCode"], "a");
        assert_eq!(
            s[pos("Task.input:a.value[x]")]["type"],
            json!([{"code": "Reference"}])
        );
        assert_eq!(s[pos("Task.status")]["constraint"][0]["key"], "k");
        assert_eq!(path_of("Task.input:a.value[x]"), "Task.input.value[x]");
    }

    #[test]
    fn unknown_elements_are_skipped_and_named() {
        let base = || base::snapshot("Task").expect("Task");
        let skipped = |d: Value| generate(base(), &[d]).map(|g| g.skipped.len());
        assert_eq!(
            skipped(json!({"id": "Task.nope", "path": "Task.nope"})),
            Ok(1)
        );
        assert_eq!(
            skipped(json!({"id": "Patient.name", "path": "Patient.name"})),
            Ok(1)
        );
        let inside_choice =
            json!({"id": "Task.input.value[x].system", "path": "Task.input.value[x].system"});
        assert_eq!(skipped(inside_choice), Ok(1));
        assert!(generate(base(), &[json!("x")]).is_err());
    }
}
