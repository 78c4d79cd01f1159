//! FHIR XML → the resource's JSON object, driven by the R4 metadata (which elements repeat, which
//! primitives are numbers or booleans, which types a choice element has). The result is then
//! checked like any JSON body.
//!
//! Rejected: DOCTYPE declarations and entities other than the predefined ones (no XXE), elements
//! and attributes the definitions do not know, elements outside the FHIR namespace, text content
//! in FHIR elements, wrongly repeated elements, CDATA and processing instructions.

use quick_xml::NsReader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use serde_json::{Map, Number, Value};

use super::FHIR_NS;
use crate::check::{Failure, MAX_DEPTH};
use crate::meta::{META, Prim, Target, TypeDef, TypeRef};
use crate::xhtml::XHTML_NS;
use crate::{Format, ParseError};

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Why reading failed: malformed XML, or XML that is not FHIR.
enum Error {
    Syntax(String),
    Invalid(Failure),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        Error::Invalid(f)
    }
}

impl From<quick_xml::Error> for Error {
    fn from(e: quick_xml::Error) -> Self {
        Error::Syntax(e.to_string())
    }
}

impl Error {
    fn at(self, segment: &str) -> Self {
        match self {
            Error::Invalid(f) => Error::Invalid(f.at(segment)),
            s => s,
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(Failure::new(message))
}

type Result<T> = std::result::Result<T, Error>;

/// Reads one resource from FHIR XML into its JSON object (not yet checked).
pub(crate) fn parse(bytes: &[u8]) -> std::result::Result<Map<String, Value>, ParseError> {
    let syntax = |message: String| ParseError::Syntax {
        format: Format::Xml,
        message,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| syntax(format!("invalid UTF-8: {e}")))?;
    let mut cx = Cx {
        r: NsReader::from_str(text),
        text,
    };
    match cx.document() {
        Ok(m) => Ok(m),
        Err(Error::Syntax(m)) => Err(syntax(m)),
        Err(Error::Invalid(f)) => {
            let (path, message) = f.into_parts();
            Err(ParseError::Invalid { path, message })
        }
    }
}

/// One event, with the namespace of its element resolved to what matters here.
struct Ev<'i> {
    ns: Ns,
    event: Event<'i>,
    /// Byte offset where the event starts (for `<`-markup events).
    pos: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ns {
    Fhir,
    Xhtml,
    Other,
}

/// Values gathered for one element (in XML order), turned into JSON members at the end.
struct Acc {
    element: usize,
    tr: &'static TypeRef,
    many: bool,
    primitive: bool,
    /// One item per occurrence; `Null` where an occurrence has only a companion.
    first: Value,
    /// The occurrences after the first (no allocation for single elements).
    rest: Vec<Value>,
    /// Empty until the first occurrence with an id or extensions, then aligned with `values`.
    companions: Vec<Value>,
    /// How many occurrences were added.
    count: usize,
    has_value: bool,
    has_companion: bool,
}

impl Acc {
    fn push(&mut self, value: Option<Value>, companion: Option<Value>) {
        self.has_value |= value.is_some();
        let value = value.unwrap_or(Value::Null);
        if self.count == 0 {
            self.first = value;
        } else {
            self.rest.push(value);
        }
        self.count += 1;
        if let Some(c) = companion {
            self.companions.resize(self.count - 1, Value::Null);
            self.companions.push(c);
            self.has_companion = true;
        }
    }
}

struct Cx<'i> {
    r: NsReader<&'i [u8]>,
    text: &'i str,
}

impl<'i> Cx<'i> {
    fn next(&mut self) -> Result<Ev<'i>> {
        let pos = usize::try_from(self.r.buffer_position()).unwrap_or(usize::MAX);
        let (res, event) = self.r.read_resolved_event()?;
        let ns = match res {
            ResolveResult::Bound(Namespace(n)) if n == FHIR_NS => Ns::Fhir,
            ResolveResult::Bound(Namespace(n)) if n == XHTML_NS => Ns::Xhtml,
            _ => Ns::Other,
        };
        match event {
            Event::DocType(_) => Err(Error::Syntax("DOCTYPE declarations are not allowed".into())),
            Event::PI(_) => Err(Error::Syntax(
                "processing instructions are not allowed".into(),
            )),
            Event::CData(_) => Err(invalid("CDATA sections are not allowed")),
            event => Ok(Ev { ns, event, pos }),
        }
    }

    fn document(&mut self) -> Result<Map<String, Value>> {
        loop {
            let ev = self.next()?;
            match ev.event {
                Event::Decl(_) | Event::Comment(_) => {}
                Event::Text(t) if is_blank(&t) => {}
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(ev.event, Event::Empty(_));
                    let name = e.local_name().into_inner().to_owned();
                    if ev.ns != Ns::Fhir {
                        return Err(invalid(format!(
                            "root element {name} is not in the FHIR namespace {FHIR_NS}"
                        )));
                    }
                    let Some(td) = META.resource(&name) else {
                        return Err(invalid(format!("unknown resource type {name:?}")));
                    };
                    let map = self
                        .complex(e, empty, td, 0)
                        .map_err(|err| err.at(td.name))?;
                    return self.epilog().map(|()| map);
                }
                Event::Eof => return Err(Error::Syntax("no root element".into())),
                _ => {
                    return Err(Error::Syntax(
                        "unexpected content before the root element".into(),
                    ));
                }
            }
        }
    }

    fn epilog(&mut self) -> Result<()> {
        loop {
            let ev = self.next()?;
            match ev.event {
                Event::Comment(_) => {}
                Event::Text(t) if is_blank(&t) => {}
                Event::Eof => return Ok(()),
                _ => return Err(Error::Syntax("content after the root element".into())),
            }
        }
    }

    /// Reads the element `start` of type `td` (a resource, datatype or backbone element).
    fn complex(
        &mut self,
        start: &BytesStart<'i>,
        empty: bool,
        td: &'static TypeDef,
        depth: usize,
    ) -> Result<Map<String, Value>> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let mut attrs: Vec<Acc> = Vec::new();
        for a in start.attributes() {
            let a = a.map_err(|e| Error::Syntax(e.to_string()))?;
            let key = a.key.0;
            if self.skip_attribute(key) {
                continue;
            }
            match td.member(key) {
                Some((element, el, tr)) if el.attr => {
                    let v = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| Error::Syntax(e.to_string()))?;
                    attrs.push(Acc {
                        element,
                        tr,
                        many: false,
                        primitive: false,
                        first: Value::String(v.into_owned()),
                        rest: Vec::new(),
                        count: 1,
                        companions: Vec::new(),
                        has_value: true,
                        has_companion: false,
                    });
                }
                _ => {
                    return Err(invalid(format!("unknown attribute {key:?} on {}", td.name))
                        .at(&format!("@{key}")));
                }
            }
        }
        let mut acc: Vec<Acc> = Vec::new();
        if !empty {
            loop {
                let ev = self.next()?;
                match ev.event {
                    Event::Start(ref e) | Event::Empty(ref e) => {
                        let child_empty = matches!(ev.event, Event::Empty(_));
                        let name = e.local_name().into_inner();
                        let Some((element, el, tr)) = td.member(name).filter(|(_, el, _)| !el.attr)
                        else {
                            return Err(invalid(format!(
                                "unknown element {name:?} in {}",
                                td.name
                            ))
                            .at(name));
                        };
                        let want = if tr.target == Target::Primitive(Prim::Xhtml) {
                            Ns::Xhtml
                        } else {
                            Ns::Fhir
                        };
                        if ev.ns != want {
                            return Err(invalid(format!(
                                "element {name} is not in the expected namespace"
                            ))
                            .at(name));
                        }
                        let (value, companion) = match tr.target {
                            Target::Primitive(Prim::Xhtml) => {
                                (Some(self.div(e, child_empty, ev.pos)?), None)
                            }
                            Target::Primitive(p) => self
                                .primitive(e, child_empty, p, depth + 1)
                                .map_err(|err| err.at(tr.member))?,
                            Target::Complex(t) => {
                                let m = self
                                    .complex(e, child_empty, &META.types[t as usize], depth + 1)
                                    .map_err(|err| err.at(tr.member))?;
                                (Some(Value::Object(m)), None)
                            }
                            Target::Resource => {
                                let m = self
                                    .inner_resource(child_empty, depth + 1)
                                    .map_err(|err| err.at(tr.member))?;
                                (Some(Value::Object(m)), None)
                            }
                        };
                        add(&mut acc, element, el.many, tr, value, companion)
                            .map_err(|err| err.at(tr.member))?;
                    }
                    Event::End(_) => break,
                    Event::Comment(_) => {}
                    Event::Text(t) if is_blank(&t) => {}
                    Event::Text(_) | Event::GeneralRef(_) => {
                        return Err(invalid(
                            "text content is not allowed here (FHIR primitives use the value attribute)",
                        ));
                    }
                    Event::Eof => return Err(Error::Syntax("unexpected end of document".into())),
                    _ => return Err(Error::Syntax("unexpected markup".into())),
                }
            }
        }
        let mut map = Map::new();
        if td.kind == crate::meta::Kind::Resource {
            map.insert("resourceType".into(), Value::String(td.name.into()));
        }
        attrs.extend(acc);
        attrs.sort_by_key(|a| a.element);
        for a in attrs {
            materialize(&mut map, a);
        }
        Ok(map)
    }

    /// Namespace declarations and `xsi:` attributes carry no FHIR content.
    fn skip_attribute(&self, key: &str) -> bool {
        if key == "xmlns" || key.starts_with("xmlns:") {
            return true;
        }
        if key.contains(':') {
            let (res, _) = self
                .r
                .resolver()
                .resolve_attribute(quick_xml::name::QName(key));
            return matches!(res, ResolveResult::Bound(Namespace(n)) if n == XSI_NS);
        }
        false
    }

    /// Reads a primitive element: its `value` and `id` attributes and `extension` children.
    fn primitive(
        &mut self,
        start: &BytesStart<'i>,
        empty: bool,
        p: Prim,
        depth: usize,
    ) -> Result<(Option<Value>, Option<Value>)> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let mut value = None;
        let mut companion = Map::new();
        for a in start.attributes() {
            let a = a.map_err(|e| Error::Syntax(e.to_string()))?;
            let key = a.key.0;
            if self.skip_attribute(key) {
                continue;
            }
            let v = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| Error::Syntax(e.to_string()))?;
            match key {
                "value" => value = Some(convert(p, &v)?),
                "id" => {
                    companion.insert("id".into(), Value::String(v.into_owned()));
                }
                _ => {
                    return Err(
                        invalid(format!("unknown attribute {key:?}")).at(&format!("@{key}"))
                    );
                }
            }
        }
        let mut extensions = Vec::new();
        if !empty {
            loop {
                let ev = self.next()?;
                match ev.event {
                    Event::Start(ref e) | Event::Empty(ref e) => {
                        let name = e.local_name().into_inner();
                        if name != "extension" || ev.ns != Ns::Fhir {
                            return Err(invalid(format!(
                                "unknown element {name:?} (primitives hold only extensions)"
                            ))
                            .at(name));
                        }
                        let m = self
                            .complex(
                                e,
                                matches!(ev.event, Event::Empty(_)),
                                META.extension(),
                                depth + 1,
                            )
                            .map_err(|err| err.at(&format!("extension[{}]", extensions.len())))?;
                        extensions.push(Value::Object(m));
                    }
                    Event::End(_) => break,
                    Event::Comment(_) => {}
                    Event::Text(t) if is_blank(&t) => {}
                    Event::Text(_) | Event::GeneralRef(_) => {
                        return Err(invalid(
                            "text content is not allowed here (FHIR primitives use the value attribute)",
                        ));
                    }
                    Event::Eof => return Err(Error::Syntax("unexpected end of document".into())),
                    _ => return Err(Error::Syntax("unexpected markup".into())),
                }
            }
        }
        if !extensions.is_empty() {
            companion.insert("extension".into(), Value::Array(extensions));
        }
        if value.is_none() && companion.is_empty() {
            return Err(invalid("element has no value, id or extension"));
        }
        let companion = (!companion.is_empty()).then_some(Value::Object(companion));
        Ok((value, companion))
    }

    /// Reads an element wrapping one resource (`contained`, `resource`, ...).
    fn inner_resource(&mut self, empty: bool, depth: usize) -> Result<Map<String, Value>> {
        if empty {
            return Err(invalid("the element must contain a resource"));
        }
        let mut found = None;
        loop {
            let ev = self.next()?;
            match ev.event {
                Event::Start(ref e) | Event::Empty(ref e) if found.is_none() => {
                    let name = e.local_name().into_inner();
                    let td = META.resource(name).filter(|_| ev.ns == Ns::Fhir);
                    let Some(td) = td else {
                        return Err(invalid(format!("unknown resource type {name:?}")));
                    };
                    found = Some(
                        self.complex(e, matches!(ev.event, Event::Empty(_)), td, depth + 1)
                            .map_err(|err| err.at(td.name))?,
                    );
                }
                Event::Start(_) | Event::Empty(_) => {
                    return Err(invalid("more than one resource in one element"));
                }
                Event::End(_) => break,
                Event::Comment(_) => {}
                Event::Text(t) if is_blank(&t) => {}
                Event::Eof => return Err(Error::Syntax("unexpected end of document".into())),
                _ => return Err(invalid("text content is not allowed here")),
            }
        }
        found.ok_or_else(|| invalid("the element must contain a resource"))
    }

    /// Reads the narrative `div` and returns its literal XHTML text.
    fn div(&mut self, start: &BytesStart<'i>, empty: bool, pos: usize) -> Result<Value> {
        let declared = start
            .try_get_attribute("xmlns")
            .ok()
            .flatten()
            .is_some_and(|a| a.value == XHTML_NS);
        if start.name().0 != "div" || !declared {
            return Err(
                invalid(format!("the narrative must be <div xmlns=\"{XHTML_NS}\">")).at("div"),
            );
        }
        for a in start.attributes() {
            a.map_err(|e| Error::Syntax(e.to_string()))?;
        }
        if !empty {
            let mut depth = 0usize;
            loop {
                let ev = self.next()?;
                match ev.event {
                    Event::Start(ref e) => {
                        for a in e.attributes() {
                            a.map_err(|e| Error::Syntax(e.to_string()))?;
                        }
                        depth += 1;
                    }
                    Event::Empty(ref e) => {
                        for a in e.attributes() {
                            a.map_err(|e| Error::Syntax(e.to_string()))?;
                        }
                    }
                    Event::End(_) if depth == 0 => break,
                    Event::End(_) => depth -= 1,
                    Event::GeneralRef(ref r) => {
                        crate::xhtml::check_ref(r).map_err(|m| invalid(m).at("div"))?
                    }
                    Event::Eof => return Err(Error::Syntax("unexpected end of document".into())),
                    _ => {}
                }
            }
        }
        let end = usize::try_from(self.r.buffer_position()).unwrap_or(usize::MAX);
        match self.text.get(pos..end) {
            Some(s) if s.starts_with("<div") => Ok(Value::String(s.to_owned())),
            _ => Err(invalid("could not delimit the narrative div").at("div")),
        }
    }
}

fn is_blank(t: &quick_xml::events::BytesText<'_>) -> bool {
    t.as_ref().bytes().all(|b| b.is_ascii_whitespace())
}

/// Converts a `value` attribute to its JSON form.
fn convert(p: Prim, s: &str) -> Result<Value> {
    match p {
        Prim::Boolean => match s {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(invalid(format!(
                "invalid boolean value {:?}",
                crate::primitive::truncate(s)
            ))),
        },
        Prim::Integer | Prim::PositiveInt | Prim::UnsignedInt | Prim::Decimal => {
            let ok = !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
            let n = if ok {
                serde_json::from_str::<Number>(s).ok()
            } else {
                None
            };
            n.map(Value::Number).ok_or_else(|| {
                invalid(format!(
                    "invalid {} value {:?}",
                    crate::primitive::prim_name(p),
                    crate::primitive::truncate(s)
                ))
            })
        }
        _ => Ok(Value::String(s.to_owned())),
    }
}

/// Adds one occurrence of an element, enforcing max cardinality and one type per choice element.
///
/// Definition order is not enforced on input: the reference server accepts elements out of order
/// and published DSF plugin resources rely on that. Output is always in definition order.
fn add(
    acc: &mut Vec<Acc>,
    element: usize,
    many: bool,
    tr: &'static TypeRef,
    value: Option<Value>,
    companion: Option<Value>,
) -> Result<()> {
    let primitive = matches!(tr.target, Target::Primitive(_));
    // Usually the element just read repeats the previous one; search backwards.
    match acc.iter_mut().rev().find(|a| a.element == element) {
        Some(last) => {
            if !std::ptr::eq(last.tr, tr) {
                return Err(invalid("more than one type given for a choice element"));
            }
            if !many {
                return Err(invalid("element repeats but its max cardinality is 1"));
            }
            last.push(value, companion);
            Ok(())
        }
        None => {
            let mut a = Acc {
                element,
                tr,
                many,
                primitive,
                has_value: false,
                has_companion: false,
                first: Value::Null,
                rest: Vec::new(),
                count: 0,
                companions: Vec::new(),
            };
            a.push(value, companion);
            acc.push(a);
            Ok(())
        }
    }
}

fn materialize(map: &mut Map<String, Value>, mut a: Acc) {
    let name = a.tr.member;
    if a.has_companion {
        a.companions.resize(a.count, Value::Null);
    }
    if a.many {
        if a.has_value {
            let mut values = Vec::with_capacity(a.count);
            values.push(a.first);
            values.append(&mut a.rest);
            map.insert(name.into(), Value::Array(values));
        }
        if a.primitive && a.has_companion {
            map.insert(format!("_{name}"), Value::Array(a.companions));
        }
    } else {
        if a.has_value {
            map.insert(name.into(), a.first);
        }
        if a.primitive
            && a.has_companion
            && let Some(c) = a.companions.into_iter().next()
        {
            map.insert(format!("_{name}"), c);
        }
    }
}
