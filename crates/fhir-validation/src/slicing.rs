//! Telling a sliced element's values apart: which slice a value belongs to, by the slicing's
//! discriminators.

use serde_json::Value;

use crate::profile::{Child, DiscriminatorKind, Node};
use crate::values::{at_path, equals, matches_pattern};
use crate::walk::Walk;

/// Whether `value` (of `type_name`) belongs to `slice` of `child`: every discriminator agrees.
/// Without discriminators nothing can be told apart, and no value matches.
pub(crate) fn matches<'v>(
    walk: &mut Walk<'v>,
    child: &Child,
    slice: &Node,
    value: &'v Value,
    type_name: Option<&'static str>,
) -> bool {
    let Some(slicing) = &child.node.slicing else {
        return false;
    };
    if slicing.discriminators.is_empty() {
        return false;
    }
    // A value discriminator whose path the slice fixes nothing at (`value` of an identifier
    // slice that fixes only `system`) does not tell slices apart; the others must all agree.
    let mut constrained = false;
    let agree = slicing.discriminators.iter().all(|d| {
        let targets = at_path(value, &d.path);
        if d.kind != DiscriminatorKind::Value {
            constrained = true;
        }
        match d.kind {
            DiscriminatorKind::Value => match expected(slice, &d.path) {
                Some(Expected::Fixed(v)) => {
                    constrained = true;
                    targets.iter().any(|t| equals(t, &v))
                }
                Some(Expected::Pattern(v)) => {
                    constrained = true;
                    targets.iter().any(|t| matches_pattern(t, &v))
                }
                None => true,
            },
            DiscriminatorKind::Exists => {
                let required = node_at(slice, &d.path).is_some_and(|n| n.min > 0);
                required != targets.is_empty()
            }
            DiscriminatorKind::Type => {
                let Some(node) = node_at(slice, &d.path) else {
                    return false;
                };
                let actual = if d.path == "$this" {
                    type_name.map(str::to_owned)
                } else {
                    type_of_member(value, &d.path)
                };
                actual.is_some_and(|a| node.types.iter().any(|t| t.code == a))
            }
            DiscriminatorKind::Profile => {
                let Some(node) = node_at(slice, &d.path) else {
                    return false;
                };
                let profiles: Vec<(String, String)> = node
                    .types
                    .iter()
                    .flat_map(|t| t.profiles.iter().map(|p| (p.clone(), t.code.clone())))
                    .collect();
                targets
                    .iter()
                    .any(|t| profiles.iter().any(|(p, code)| walk.conforms(p, t, code)))
            }
        }
    });
    constrained && agree
}

/// What a value discriminator expects at its path.
enum Expected {
    Fixed(Value),
    Pattern(Value),
}

/// The fixed or pattern value a slice sets at `path`: on the element there, or inside a fixed or
/// pattern value of an element above it. For `url` of an extension slice, the URL of its profile.
fn expected(slice: &Node, path: &str) -> Option<Expected> {
    let mut node = slice;
    let steps: Vec<&str> = if path == "$this" {
        Vec::new()
    } else {
        path.split('.').collect()
    };
    for (i, step) in steps.iter().enumerate() {
        if let Some(found) = inside(node, &steps[i..].join(".")) {
            return Some(found);
        }
        let stem = step.strip_suffix("[x]").unwrap_or(step);
        match node.children.iter().find(|c| c.name == stem) {
            Some(c) => node = &c.node,
            // The `value` of a primitive element is the element itself.
            None if *step == "value" => {}
            None if *step == "url" => return extension_url(node),
            None => return None,
        }
    }
    match (&node.fixed, &node.pattern) {
        (Some(v), _) => Some(Expected::Fixed(v.clone())),
        (None, Some(v)) => Some(Expected::Pattern(v.clone())),
        (None, None) => pattern_below(node, 0).map(Expected::Pattern),
    }
    .or_else(|| {
        (steps.as_slice() == ["url"])
            .then(|| extension_url(slice))
            .flatten()
    })
}

/// A pattern made of the fixed and pattern values of the elements below `node`: a discriminator
/// on `type` of slices that fix `type.coding.system` and `type.coding.code`.
fn pattern_below(node: &Node, depth: usize) -> Option<Value> {
    if depth > 8 {
        return None;
    }
    let mut object = serde_json::Map::new();
    for child in &node.children {
        let value = match (&child.node.fixed, &child.node.pattern) {
            (Some(v), _) | (None, Some(v)) => v.clone(),
            (None, None) => match pattern_below(&child.node, depth + 1) {
                Some(v) => v,
                None => continue,
            },
        };
        let value = if child.node.max == Some(1) {
            value
        } else {
            Value::Array(vec![value])
        };
        object.insert(child.name.clone(), value);
    }
    (!object.is_empty()).then_some(Value::Object(object))
}

/// The values a fixed/pattern value of `node` itself holds at `rest`.
fn inside(node: &Node, rest: &str) -> Option<Expected> {
    let (value, fixed) = match (&node.fixed, &node.pattern) {
        (Some(v), _) => (v, true),
        (None, Some(v)) => (v, false),
        _ => return None,
    };
    let found = at_path(value, rest).into_iter().next()?.clone();
    Some(if fixed {
        Expected::Fixed(found)
    } else {
        Expected::Pattern(found)
    })
}

/// An extension slice's URL: the profile of its type.
fn extension_url(slice: &Node) -> Option<Expected> {
    let profile = slice
        .types
        .iter()
        .find(|t| t.code == "Extension")?
        .profiles
        .first()?;
    let url = profile.split('|').next().unwrap_or(profile);
    Some(Expected::Fixed(Value::String(url.to_owned())))
}

/// The element of `slice` at `path` (`$this` is the slice itself).
fn node_at<'n>(slice: &'n Node, path: &str) -> Option<&'n Node> {
    if path == "$this" {
        return Some(slice);
    }
    let mut node = slice;
    for step in path.split('.') {
        let stem = step.strip_suffix("[x]").unwrap_or(step);
        node = &node.children.iter().find(|c| c.name == stem)?.node;
    }
    Some(node)
}

/// The type of a choice member at a one-step path (`value` of `valueString` is `string`).
fn type_of_member(value: &Value, path: &str) -> Option<String> {
    let stem = path.strip_suffix("[x]").unwrap_or(path);
    let object = value.as_object()?;
    object.keys().find_map(|k| {
        let rest = k.strip_prefix(stem)?;
        let mut chars = rest.chars();
        let first = chars.next().filter(char::is_ascii_uppercase)?;
        let lower = first.to_ascii_lowercase().to_string() + chars.as_str();
        Some(if dsf_fhir::meta::is_primitive(&lower) {
            lower
        } else {
            rest.to_owned()
        })
    })
}
