//! JSON object → FHIR XML, in definition order, driven by the R4 metadata.

use std::borrow::Cow;
use std::io;

use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::name::QName;
use serde_json::{Map, Value};

use super::FHIR_NS;
use crate::check::MAX_DEPTH;
use crate::meta::{ElementDef, META, Prim, Target, TypeDef, TypeRef};

type W = Writer<Vec<u8>>;

/// Writes the resource `json` as FHIR XML; empty when it has no known `resourceType`.
pub(crate) fn serialize(json: &Map<String, Value>, pretty: bool) -> Vec<u8> {
    let Some(td) = json
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(|n| META.resource(n))
    else {
        return Vec::new();
    };
    let out = Vec::with_capacity(8192);
    let mut w = if pretty {
        Writer::new_with_indent(out, b' ', 2)
    } else {
        Writer::new(out)
    };
    let r = w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .and_then(|()| complex(&mut w, td.name, json, td, true, 0));
    match r {
        Ok(()) => {
            let mut out = w.into_inner();
            if pretty {
                out.push(b'\n');
            }
            out
        }
        // Writing into a Vec does not fail.
        Err(_) => Vec::new(),
    }
}

/// One JSON member mapped to its element: the value and the `_` companion of primitives.
struct Entry<'a> {
    element: usize,
    el: &'a ElementDef,
    tr: &'a TypeRef,
    value: Option<&'a Value>,
    companion: Option<&'a Value>,
}

/// Writes `<tag>` holding the object `map` of type `td`.
fn complex(
    w: &mut W,
    tag: &str,
    map: &Map<String, Value>,
    td: &TypeDef,
    root: bool,
    depth: usize,
) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(map.len());
    for (key, value) in map {
        let (base, ext) = match key.strip_prefix('_') {
            Some(b) => (b, true),
            None => (key.as_str(), false),
        };
        let Some((element, el, tr)) = td.member(base) else {
            continue; // resourceType, or a member the definitions do not know
        };
        if ext && !matches!(tr.target, Target::Primitive(_)) {
            continue;
        }
        let entry = match entries.iter_mut().find(|e| std::ptr::eq(e.tr, tr)) {
            Some(e) => e,
            None => {
                entries.push(Entry {
                    element,
                    el,
                    tr,
                    value: None,
                    companion: None,
                });
                let last = entries.len() - 1;
                &mut entries[last]
            }
        };
        if ext {
            entry.companion = Some(value);
        } else {
            entry.value = Some(value);
        }
    }
    entries.sort_by_key(|e| e.element);

    let mut start = BytesStart::new(tag);
    if root {
        start.push_attribute(("xmlns", FHIR_NS));
    }
    let mut children = false;
    for e in &entries {
        if e.el.attr {
            if let Some(Value::String(s)) = e.value {
                push_attr(&mut start, e.el.name, s);
            }
        } else {
            children = true;
        }
    }
    if !children {
        return w.write_event(Event::Empty(start));
    }
    w.write_event(Event::Start(start))?;
    for e in entries.iter().filter(|e| !e.el.attr) {
        member(w, e, depth)?;
    }
    w.write_event(Event::End(BytesEnd::new(tag)))
}

fn member(w: &mut W, e: &Entry<'_>, depth: usize) -> io::Result<()> {
    let tag = e.tr.member;
    match e.tr.target {
        Target::Primitive(Prim::Xhtml) => {
            if let Some(Value::String(s)) = e.value
                && crate::xhtml::check(s).is_ok()
            {
                w.write_indent()?;
                w.get_mut().extend_from_slice(s.as_bytes());
            }
            Ok(())
        }
        Target::Primitive(_) => {
            if e.el.many {
                let values = e
                    .value
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let companions = e
                    .companion
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for i in 0..values.len().max(companions.len()) {
                    primitive(w, tag, values.get(i), companions.get(i), depth)?;
                }
                Ok(())
            } else {
                primitive(w, tag, e.value, e.companion, depth)
            }
        }
        Target::Complex(t) => {
            let td = &META.types[t as usize];
            for item in items(e.value, e.el.many) {
                if let Value::Object(m) = item {
                    complex(w, tag, m, td, false, depth + 1)?;
                }
            }
            Ok(())
        }
        Target::Resource => {
            for item in items(e.value, e.el.many) {
                let Value::Object(m) = item else { continue };
                let Some(td) = m
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .and_then(|n| META.resource(n))
                else {
                    continue;
                };
                if depth + 1 > MAX_DEPTH {
                    continue;
                }
                w.write_event(Event::Start(BytesStart::new(tag)))?;
                complex(w, td.name, m, td, false, depth + 1)?;
                w.write_event(Event::End(BytesEnd::new(tag)))?;
            }
            Ok(())
        }
    }
}

/// The items of a member: the array's items when it repeats, else the value itself.
fn items(value: Option<&Value>, many: bool) -> impl Iterator<Item = &Value> {
    let (list, one) = match value {
        Some(Value::Array(a)) if many => (a.as_slice(), None),
        Some(v) if !many => (&[][..], Some(v)),
        _ => (&[][..], None),
    };
    list.iter().chain(one)
}

/// Writes one primitive: `<tag id=".." value="..">` with its extensions as children.
fn primitive(
    w: &mut W,
    tag: &str,
    value: Option<&Value>,
    companion: Option<&Value>,
    depth: usize,
) -> io::Result<()> {
    let text: Option<Cow<'_, str>> = match value {
        Some(Value::String(s)) => Some(Cow::Borrowed(s)),
        Some(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
        Some(Value::Bool(b)) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    };
    let companion = companion.and_then(Value::as_object);
    let id = companion.and_then(|m| m.get("id")).and_then(Value::as_str);
    let extensions = companion
        .and_then(|m| m.get("extension"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if text.is_none() && id.is_none() && extensions.is_empty() {
        return Ok(());
    }
    let mut start = BytesStart::new(tag);
    if let Some(id) = id {
        push_attr(&mut start, "id", id);
    }
    if let Some(text) = &text {
        push_attr(&mut start, "value", text);
    }
    if extensions.is_empty() {
        return w.write_event(Event::Empty(start));
    }
    w.write_event(Event::Start(start))?;
    let ext = META.extension();
    for x in extensions {
        if let Value::Object(m) = x {
            complex(w, "extension", m, ext, false, depth + 1)?;
        }
    }
    w.write_event(Event::End(BytesEnd::new(tag)))
}

/// Adds an attribute, escaping markup characters and the whitespace that attribute-value
/// normalization would otherwise turn into spaces.
fn push_attr(start: &mut BytesStart<'_>, key: &str, value: &str) {
    let escaped = escape_attr(value);
    start.push_attribute(Attribute {
        key: QName(key),
        value: escaped,
    });
}

fn escape_attr(s: &str) -> Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"') || b < 0x20)
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            // Not representable in XML 1.0 (and rejected on input).
            c if u32::from(c) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}
