//! The strict check of a resource's JSON object against the R4 definitions: known elements only,
//! cardinality, required elements, primitive types and formats, `_element` primitive extensions,
//! one type per choice element, inner resources, and a bound on nesting depth.

use serde_json::{Map, Value};

use crate::meta::{ElementDef, META, Prim, Target, TypeDef, TypeRef};
use crate::primitive;

/// The deepest nesting of objects accepted (resources are far shallower).
pub const MAX_DEPTH: usize = 128;

/// A check failure: the message and the path segments, innermost first.
#[derive(Debug)]
pub(crate) struct Failure {
    segments: Vec<String>,
    message: String,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Failure {
            segments: Vec::new(),
            message: message.into(),
        }
    }

    /// Adds the segment that leads to where the failure is (called from the inside out).
    pub(crate) fn at(mut self, segment: impl Into<String>) -> Self {
        self.segments.push(segment.into());
        self
    }

    /// The dotted path (`Patient.name[0].given`) and the message.
    pub(crate) fn into_parts(self) -> (String, String) {
        let mut path = String::new();
        for s in self.segments.iter().rev() {
            if !path.is_empty() && !s.starts_with('[') {
                path.push('.');
            }
            path.push_str(s);
        }
        (path, self.message)
    }
}

type Result<T = ()> = std::result::Result<T, Failure>;

/// Checks a root resource; `depth` is the nesting depth of `map` itself.
pub(crate) fn resource(map: &Map<String, Value>, depth: usize) -> Result {
    let Some(rt) = map.get("resourceType") else {
        return Err(Failure::new("missing resourceType"));
    };
    let Some(name) = rt.as_str() else {
        return Err(Failure::new(format!(
            "resourceType must be a string, found {}",
            primitive::kind(rt)
        ))
        .at("resourceType"));
    };
    let Some(td) = META.resource(name) else {
        return Err(Failure::new(format!(
            "unknown resource type {:?}",
            primitive::truncate(name)
        ))
        .at("resourceType"));
    };
    object(map, td, depth).map_err(|f| f.at(td.name))
}

/// Per-object bookkeeping: which elements were seen, and which choice type each choice used.
struct Seen {
    present: u128,
    choice: Vec<(usize, usize)>,
}

fn object(map: &Map<String, Value>, td: &TypeDef, depth: usize) -> Result {
    if depth > MAX_DEPTH {
        return Err(Failure::new(format!(
            "nesting deeper than {MAX_DEPTH} levels"
        )));
    }
    if map.is_empty() {
        return Err(Failure::new("empty object (FHIR JSON has no empty values)"));
    }
    let is_resource = td.kind == crate::meta::Kind::Resource;
    let mut seen = Seen {
        present: 0,
        choice: Vec::new(),
    };
    for (key, value) in map {
        if is_resource && key == "resourceType" {
            continue;
        }
        let (base, ext) = match key.strip_prefix('_') {
            Some(b) => (b, true),
            None => (key.as_str(), false),
        };
        let Some((ei, el, tr)) = td.member(base) else {
            let msg = if key == "fhir_comments" || key == "_fhir_comments" {
                "fhir_comments is not allowed".to_owned()
            } else {
                format!(
                    "unknown element {:?} in {}",
                    primitive::truncate(key),
                    td.name
                )
            };
            return Err(Failure::new(msg).at(key.as_str()));
        };
        if el.choice {
            let ti = el
                .types
                .iter()
                .position(|t| t.member == tr.member)
                .unwrap_or(0);
            match seen.choice.iter().find(|(e, _)| *e == ei) {
                Some((_, t)) if *t != ti => {
                    return Err(Failure::new(format!(
                        "more than one type given for choice element {}[x]",
                        el.name
                    ))
                    .at(key.as_str()));
                }
                Some(_) => {}
                None => seen.choice.push((ei, ti)),
            }
        }
        if ei < 128 {
            seen.present |= 1 << ei;
        }
        if ext {
            let Target::Primitive(_) = tr.target else {
                return Err(Failure::new(format!(
                    "{key}: only primitive elements have a _ companion"
                ))
                .at(key.as_str()));
            };
            if el.attr {
                // Element.id and Extension.url are plain strings (XML attributes): no extensions.
                return Err(Failure::new(format!("{base} cannot have extensions")).at(key.as_str()));
            }
            extension_companion(value, el, map.get(base), depth).map_err(|f| f.at(key.as_str()))?;
        } else {
            let companion = if matches!(tr.target, Target::Primitive(_)) && el.many {
                let mut buf = [0u8; 128];
                match companion_key(&mut buf, base).and_then(|k| map.get(k)) {
                    Some(Value::Array(a)) => Some(a.as_slice()),
                    _ => None,
                }
            } else {
                None
            };
            element(value, el, tr, companion, depth).map_err(|f| f.at(key.as_str()))?;
        }
    }
    for &ei in &td.required {
        if (ei as usize) < 128 && seen.present & (1 << ei) == 0 {
            let el = &td.elements[ei as usize];
            let name = if el.choice {
                format!("{}[x]", el.name)
            } else {
                el.name.to_owned()
            };
            return Err(Failure::new(format!("missing required element {name}")).at(name));
        }
    }
    Ok(())
}

/// `_name` for `name`, built on the stack (member names are short).
fn companion_key<'b>(buf: &'b mut [u8; 128], base: &str) -> Option<&'b str> {
    let len = base.len() + 1;
    let dst = buf.get_mut(..len)?;
    dst[0] = b'_';
    dst[1..].copy_from_slice(base.as_bytes());
    std::str::from_utf8(dst).ok()
}

fn element(
    value: &Value,
    el: &ElementDef,
    tr: &TypeRef,
    companion: Option<&[Value]>,
    depth: usize,
) -> Result {
    if el.many {
        let Value::Array(items) = value else {
            return Err(Failure::new(format!(
                "expected an array (max cardinality *), found {}",
                primitive::kind(value)
            )));
        };
        if items.is_empty() {
            return Err(Failure::new("empty array (FHIR JSON has no empty values)"));
        }
        if let Some(c) = companion
            && c.len() != items.len()
        {
            return Err(Failure::new(format!(
                "array has {} items but its _ companion has {}",
                items.len(),
                c.len()
            )));
        }
        for (i, item) in items.iter().enumerate() {
            if item.is_null() {
                if companion
                    .and_then(|c| c.get(i))
                    .is_some_and(Value::is_object)
                {
                    continue;
                }
                return Err(
                    Failure::new("null without a primitive extension in the _ companion")
                        .at(format!("[{i}]")),
                );
            }
            single(item, tr, depth).map_err(|f| f.at(format!("[{i}]")))?;
        }
        Ok(())
    } else {
        if value.is_array() {
            return Err(Failure::new(
                "expected a single value (max cardinality 1), found an array",
            ));
        }
        single(value, tr, depth)
    }
}

fn single(value: &Value, tr: &TypeRef, depth: usize) -> Result {
    match tr.target {
        Target::Primitive(p) => primitive::check(p, value).map_err(Failure::new),
        Target::Complex(t) => match value {
            Value::Object(m) => object(m, &META.types[t as usize], depth + 1),
            _ => Err(Failure::new(format!(
                "expected an object ({}), found {}",
                tr.code,
                primitive::kind(value)
            ))),
        },
        Target::Resource => match value {
            Value::Object(m) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(Failure::new(format!(
                        "nesting deeper than {MAX_DEPTH} levels"
                    )));
                }
                resource(m, depth + 1)
            }
            _ => Err(Failure::new(format!(
                "expected a resource object, found {}",
                primitive::kind(value)
            ))),
        },
    }
}

/// Checks `_name`: an Element (id, extension) or an array of them aligned with the value array.
fn extension_companion(
    value: &Value,
    el: &ElementDef,
    values: Option<&Value>,
    depth: usize,
) -> Result {
    if el.many {
        let Value::Array(items) = value else {
            return Err(Failure::new(format!(
                "expected an array (max cardinality *), found {}",
                primitive::kind(value)
            )));
        };
        if items.is_empty() {
            return Err(Failure::new("empty array (FHIR JSON has no empty values)"));
        }
        let values = match values {
            Some(Value::Array(v)) => Some(v),
            Some(_) => return Ok(()), // reported on the value member
            None => None,
        };
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::Null if values.and_then(|v| v.get(i)).is_some_and(|v| !v.is_null()) => {}
                Value::Null => {
                    return Err(Failure::new("null in the _ companion without a value")
                        .at(format!("[{i}]")));
                }
                _ => element_object(item, depth).map_err(|f| f.at(format!("[{i}]")))?,
            }
        }
        Ok(())
    } else {
        element_object(value, depth)
    }
}

fn element_object(value: &Value, depth: usize) -> Result {
    let Value::Object(m) = value else {
        return Err(Failure::new(format!(
            "expected an object with id and/or extension, found {}",
            primitive::kind(value)
        )));
    };
    if m.is_empty() {
        return Err(Failure::new("empty object (FHIR JSON has no empty values)"));
    }
    for (k, v) in m {
        match k.as_str() {
            "id" => primitive::check(Prim::String, v).map_err(|e| Failure::new(e).at("id"))?,
            "extension" => {
                let Value::Array(items) = v else {
                    return Err(
                        Failure::new("expected an array (max cardinality *)").at("extension")
                    );
                };
                if items.is_empty() {
                    return Err(
                        Failure::new("empty array (FHIR JSON has no empty values)").at("extension")
                    );
                }
                let ext = META.extension();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Object(x) => object(x, ext, depth + 1),
                        _ => Err(Failure::new(format!(
                            "expected an object, found {}",
                            primitive::kind(item)
                        ))),
                    }
                    .map_err(|f| f.at(format!("[{i}]")).at("extension"))?;
                }
            }
            other => {
                return Err(Failure::new(format!(
                    "unknown element {:?} (a primitive's _ companion holds only id and extension)",
                    primitive::truncate(other)
                ))
                .at(other));
            }
        }
    }
    Ok(())
}
