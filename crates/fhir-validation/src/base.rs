//! Snapshots of the R4 base definitions, made from the metadata table of `dsf-fhir` rather than
//! from the 4 MB of R4 StructureDefinitions: an element per path with cardinality and types,
//! backbone elements expanded, datatypes left unexpanded until a profile constrains inside them.

use dsf_fhir::meta::{self, ElementInfo};
use serde_json::{Map, Value, json};

/// The canonical URL prefix of the R4 base definitions.
pub const CORE: &str = "http://hl7.org/fhir/StructureDefinition/";

/// The snapshot elements of an R4 resource or complex datatype; `None` for unknown names.
pub fn snapshot(type_name: &str) -> Option<Vec<Value>> {
    let mut out = vec![element(type_name, type_name, 0, "*", &[])];
    out.extend(children(type_name, type_name, type_name)?);
    Some(out)
}

/// The elements under an element of type `type_name` at `id`/`path`, backbone elements expanded;
/// `None` for a primitive or unknown type.
pub fn children(type_name: &str, id: &str, path: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    add_children(type_name, id, path, &mut out, 0)?;
    Some(out)
}

fn add_children(
    type_name: &str,
    id: &str,
    path: &str,
    out: &mut Vec<Value>,
    depth: usize,
) -> Option<()> {
    // Backbone types nest only as deep as the R4 definitions do; the bound guards the recursion.
    if depth > 16 {
        return Some(());
    }
    for (name, info) in meta::elements(type_name)? {
        let name = if info.choice {
            format!("{name}[x]")
        } else {
            name.to_owned()
        };
        let (child_id, child_path) = (format!("{id}.{name}"), format!("{path}.{name}"));
        let backbone = match info.types.as_slice() {
            [one] if meta::is_backbone(one) => Some(*one),
            _ => None,
        };
        out.push(element(
            &child_id,
            &child_path,
            u32::from(info.required),
            if info.repeats { "*" } else { "1" },
            &type_codes(&info),
        ));
        if let Some(backbone) = backbone {
            add_children(backbone, &child_id, &child_path, out, depth + 1)?;
        }
    }
    Some(())
}

/// The type codes of an element as ElementDefinitions name them (backbone types are `BackboneElement`).
fn type_codes(info: &ElementInfo) -> Vec<&'static str> {
    info.types
        .iter()
        .map(|t| {
            if meta::is_backbone(t) {
                "BackboneElement"
            } else {
                t
            }
        })
        .collect()
}

fn element(id: &str, path: &str, min: u32, max: &str, types: &[&str]) -> Value {
    let mut e = Map::new();
    e.insert("id".into(), json!(id));
    e.insert("path".into(), json!(path));
    e.insert("min".into(), json!(min));
    e.insert("max".into(), json!(max));
    e.insert("base".into(), json!({"path": path, "min": min, "max": max}));
    if !types.is_empty() {
        let types: Vec<Value> = types.iter().map(|c| json!({"code": c})).collect();
        e.insert("type".into(), Value::Array(types));
    }
    Value::Object(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_snapshot() {
        let s = snapshot("Task").expect("Task");
        let ids: Vec<&str> = s.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(ids[0], "Task");
        assert!(ids.contains(&"Task.input.value[x]"));
        assert!(ids.contains(&"Task.restriction.recipient"));
        assert!(!ids.iter().any(|i| i.starts_with("Task.meta.")));
        let status = s.iter().find(|e| e["id"] == "Task.status").expect("status");
        assert_eq!(status["min"], 1);
        assert_eq!(status["type"][0]["code"], "code");
        let input = s.iter().find(|e| e["id"] == "Task.input").expect("input");
        assert_eq!(input["type"][0]["code"], "BackboneElement");
        assert!(snapshot("string").is_none());
        let ext = snapshot("Extension").expect("Extension");
        assert!(ext.iter().any(|e| e["id"] == "Extension.value[x]"));
    }
}
