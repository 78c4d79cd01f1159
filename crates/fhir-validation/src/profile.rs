//! A snapshot compiled for validation: a tree of element rules with their slices, FHIRPath
//! invariants parsed once.

use std::collections::HashMap;

use serde_json::Value;

use crate::fhirpath::Expression;
use crate::issue::Severity;
use crate::snapshot::{path_of, segments};

/// A compiled profile: the rules of its root element.
#[derive(Debug)]
pub(crate) struct Profile {
    /// The canonical URL with version, as issues name it.
    pub canonical: String,
    /// The resource or datatype it constrains.
    pub type_name: String,
    pub root: Node,
}

/// The rules of one element.
#[derive(Debug)]
pub(crate) struct Node {
    pub path: String,
    pub min: u64,
    /// `None` for `*`.
    pub max: Option<u64>,
    pub types: Vec<TypeRule>,
    pub fixed: Option<Value>,
    pub pattern: Option<Value>,
    pub binding: Option<Binding>,
    pub invariants: Vec<Invariant>,
    pub slicing: Option<Slicing>,
    pub children: Vec<Child>,
}

/// An element below a node: its rules for all values, and its slices.
#[derive(Debug)]
pub(crate) struct Child {
    /// The element name, without `[x]`.
    pub name: String,
    pub choice: bool,
    pub node: Node,
    pub slices: Vec<(String, Node)>,
}

/// One allowed type, with the profiles its values must conform to.
#[derive(Debug)]
pub(crate) struct TypeRule {
    pub code: String,
    pub profiles: Vec<String>,
}

/// A terminology binding.
#[derive(Debug)]
pub(crate) struct Binding {
    pub strength: Strength,
    pub value_set: String,
}

/// How strictly a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strength {
    Required,
    Extensible,
}

/// A FHIRPath invariant.
#[derive(Debug)]
pub(crate) struct Invariant {
    pub key: String,
    pub severity: Severity,
    pub human: String,
    pub source: String,
    pub expression: Result<Expression, String>,
}

/// How values of an element are told apart into slices.
#[derive(Debug)]
pub(crate) struct Slicing {
    pub discriminators: Vec<Discriminator>,
    pub closed: bool,
}

/// One discriminator: its kind and the path it looks at.
#[derive(Debug)]
pub(crate) struct Discriminator {
    pub kind: DiscriminatorKind,
    pub path: String,
}

/// The discriminator types of R4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiscriminatorKind {
    /// `value` and `pattern`: the value at the path equals (matches) the slice's fixed/pattern.
    Value,
    /// `exists`: the path has a value exactly when the slice requires one.
    Exists,
    /// `type`: the value at the path has the slice's type.
    Type,
    /// `profile`: the value at the path conforms to the slice's profile.
    Profile,
}

impl Profile {
    /// Compiles snapshot elements (in snapshot order, root first).
    pub fn compile(canonical: String, elements: &[Value]) -> Result<Profile, String> {
        let mut children: HashMap<String, Vec<usize>> = HashMap::new();
        let mut ids = Vec::with_capacity(elements.len());
        for (i, e) in elements.iter().enumerate() {
            let id = e
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| e.get("path").and_then(Value::as_str).map(str::to_owned))
                .ok_or("snapshot element without id or path")?;
            if i > 0 {
                let parent = id.rsplit_once('.').map(|(p, _)| p).unwrap_or_default();
                children.entry(parent.to_owned()).or_default().push(i);
            }
            ids.push(id);
        }
        let type_name = ids.first().cloned().ok_or("empty snapshot")?;
        let root = build(elements, &ids, &children, 0, 0)?;
        Ok(Profile {
            canonical,
            type_name,
            root,
        })
    }
}

fn build(
    elements: &[Value],
    ids: &[String],
    children: &HashMap<String, Vec<usize>>,
    index: usize,
    depth: usize,
) -> Result<Node, String> {
    if depth > 64 {
        return Err(format!("element {} nests too deep", ids[index]));
    }
    let mut node = rules(&elements[index], &ids[index]);
    for &c in children
        .get(&ids[index])
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let last = segments(&ids[c]).last().unwrap_or_default();
        let child = build(elements, ids, children, c, depth + 1)?;
        let (name, slice) = match last.split_once(':') {
            Some((name, slice)) => (name, Some(slice)),
            None => (last, None),
        };
        let (stem, choice) = match name.strip_suffix("[x]") {
            Some(stem) => (stem, true),
            None => (name, false),
        };
        match slice {
            None => node.children.push(Child {
                name: stem.to_owned(),
                choice,
                node: child,
                slices: Vec::new(),
            }),
            Some(slice) => {
                let base = node
                    .children
                    .iter_mut()
                    .rev()
                    .find(|c| c.name == stem)
                    .ok_or_else(|| format!("slice {} before its element", ids[c]))?;
                base.slices.push((slice.to_owned(), child));
            }
        }
    }
    Ok(node)
}

/// The rules an ElementDefinition states, without children.
fn rules(e: &Value, id: &str) -> Node {
    let prefixed = |prefix: &str| {
        e.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.starts_with(prefix) && k.len() > prefix.len())
                .map(|(_, v)| v.clone())
        })
    };
    let max = match e.get("max").and_then(Value::as_str) {
        Some("*") | None => None,
        Some(n) => n.parse().ok(),
    };
    let type_rules = e
        .get("type")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    Some(TypeRule {
                        code: t.get("code")?.as_str()?.to_owned(),
                        profiles: strings(t.get("profile")),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Node {
        path: path_of(id),
        min: e.get("min").and_then(Value::as_u64).unwrap_or(0),
        max,
        types: type_rules,
        fixed: prefixed("fixed"),
        pattern: prefixed("pattern"),
        binding: binding(e.get("binding")),
        invariants: invariants(e.get("constraint")),
        slicing: slicing(e.get("slicing")),
        children: Vec::new(),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn binding(value: Option<&Value>) -> Option<Binding> {
    let b = value?;
    let strength = match b.get("strength")?.as_str()? {
        "required" => Strength::Required,
        "extensible" => Strength::Extensible,
        _ => return None,
    };
    Some(Binding {
        strength,
        value_set: b.get("valueSet")?.as_str()?.to_owned(),
    })
}

fn invariants(value: Option<&Value>) -> Vec<Invariant> {
    let Some(list) = value.and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|c| {
            let source = c.get("expression")?.as_str()?.to_owned();
            let text = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            Some(Invariant {
                key: text("key"),
                severity: Severity::of_constraint(c.get("severity").and_then(Value::as_str)),
                human: text("human"),
                expression: Expression::parse(&source).map_err(|e| e.to_string()),
                source,
            })
        })
        .collect()
}

fn slicing(value: Option<&Value>) -> Option<Slicing> {
    let s = value?;
    let discriminators = s
        .get("discriminator")
        .and_then(Value::as_array)
        .map(|ds| {
            ds.iter()
                .filter_map(|d| {
                    let kind = match d.get("type")?.as_str()? {
                        "value" | "pattern" => DiscriminatorKind::Value,
                        "exists" => DiscriminatorKind::Exists,
                        "type" => DiscriminatorKind::Type,
                        "profile" => DiscriminatorKind::Profile,
                        _ => return None,
                    };
                    Some(Discriminator {
                        kind,
                        path: d.get("path")?.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Slicing {
        discriminators,
        closed: s.get("rules").and_then(Value::as_str) == Some("closed"),
    })
}
