//! The R4 metadata table: every resource, datatype and backbone element with its elements in
//! definition order, their types, cardinality and XML representation.
//!
//! Why a generic model and not generated Rust types: a typed R4 model is 1-8 MB of generated code
//! that costs minutes to compile (9-25 min for a release build on two cores) and gigabytes of memory.
//! A resource here is its JSON object; strictness and the XML mapping come from this table, which
//! `examples/gen_r4_meta.rs` derives from the official StructureDefinitions (`src/r4/elements.tsv`,
//! about 230 KB). It is parsed once, on first use, in a few milliseconds.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

/// The generated table (see `examples/gen_r4_meta.rs` for its format).
const TABLE: &str = include_str!("r4/elements.tsv");

/// The kind of a primitive datatype, which decides how its value is checked and converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prim {
    Boolean,
    Integer,
    PositiveInt,
    UnsignedInt,
    Decimal,
    String,
    Markdown,
    Code,
    Id,
    Uri,
    Url,
    Canonical,
    Oid,
    Uuid,
    Base64Binary,
    Date,
    DateTime,
    Instant,
    Time,
    Xhtml,
}

impl Prim {
    fn from_name(name: &str) -> Option<Prim> {
        Some(match name {
            "boolean" => Prim::Boolean,
            "integer" => Prim::Integer,
            "positiveInt" => Prim::PositiveInt,
            "unsignedInt" => Prim::UnsignedInt,
            "decimal" => Prim::Decimal,
            "string" => Prim::String,
            "markdown" => Prim::Markdown,
            "code" => Prim::Code,
            "id" => Prim::Id,
            "uri" => Prim::Uri,
            "url" => Prim::Url,
            "canonical" => Prim::Canonical,
            "oid" => Prim::Oid,
            "uuid" => Prim::Uuid,
            "base64Binary" => Prim::Base64Binary,
            "date" => Prim::Date,
            "dateTime" => Prim::DateTime,
            "instant" => Prim::Instant,
            "time" => Prim::Time,
            "xhtml" => Prim::Xhtml,
            _ => return None,
        })
    }
}

/// What an element's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A primitive datatype.
    Primitive(Prim),
    /// A complex datatype or backbone element: an index into [`Meta::types`].
    Complex(u16),
    /// Any resource (`contained`, `Bundle.entry.resource`, ...).
    Resource,
}

/// One allowed type of an element.
#[derive(Debug, Clone)]
pub(crate) struct TypeRef {
    /// The FHIR type code, e.g. `string`, `HumanName`, `Patient.contact`.
    pub code: &'static str,
    /// The JSON member and XML element name, e.g. `valueString` for a choice, else the element name.
    pub member: &'static str,
    pub target: Target,
}

/// One element of a type.
#[derive(Debug, Clone)]
pub(crate) struct ElementDef {
    /// The element name without `[x]`.
    pub name: &'static str,
    pub choice: bool,
    pub required: bool,
    /// Max cardinality `*` (a JSON array).
    pub many: bool,
    /// Written as an XML attribute (`id` of elements, `Extension.url`).
    pub attr: bool,
    pub types: Vec<TypeRef>,
}

/// The kind of a type in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Primitive,
    Complex,
    Backbone,
    Resource,
}

/// A resource, complex datatype, backbone element or primitive type.
#[derive(Debug)]
pub(crate) struct TypeDef {
    pub name: &'static str,
    pub kind: Kind,
    pub elements: Vec<ElementDef>,
    /// JSON member name (choices expanded) to (element index, type index).
    pub members: FastMap<(u16, u16)>,
    /// Indexes of the elements with min cardinality 1.
    pub required: Vec<u16>,
}

impl TypeDef {
    /// The element and type a JSON member name or XML element name stands for.
    #[inline]
    pub fn member(&self, name: &str) -> Option<(usize, &ElementDef, &TypeRef)> {
        let &(e, t) = self.members.get(name)?;
        let el = &self.elements[e as usize];
        Some((e as usize, el, &el.types[t as usize]))
    }
}

/// The loaded table.
#[derive(Debug)]
pub(crate) struct Meta {
    pub types: Vec<TypeDef>,
    by_name: FastMap<u16>,
    /// The concrete resource types, in the table's (alphabetical) order.
    resources: Vec<&'static str>,
}

impl Meta {
    /// A type by name (resource, datatype, primitive or backbone path).
    #[inline]
    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.by_name.get(name).map(|&i| &self.types[i as usize])
    }

    /// A concrete resource type by name.
    #[inline]
    pub fn resource(&self, name: &str) -> Option<&TypeDef> {
        self.get(name).filter(|t| t.kind == Kind::Resource)
    }

    /// The `Extension` datatype.
    pub fn extension(&self) -> &TypeDef {
        self.get("Extension").unwrap_or(&self.types[0])
    }
}

/// The table, loaded on first use.
pub(crate) static META: LazyLock<Meta> = LazyLock::new(load);

/// A small, fast hasher (FNV-1a) for the short, table-defined keys; collisions cannot be forced
/// to any useful effect because the key set is fixed.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A map keyed by table names.
pub(crate) type FastMap<V> = HashMap<&'static str, V, BuildHasherDefault<Fnv>>;

fn load() -> Meta {
    struct RawElement {
        name: &'static str,
        required: bool,
        many: bool,
        attr: bool,
        types: Vec<&'static str>,
    }
    let mut raw: Vec<(&'static str, Kind, Vec<RawElement>)> = Vec::new();
    for line in TABLE.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('\t') {
            let mut f = rest.split('\t');
            let (Some(name), Some(min), Some(max), Some(types)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let flags = f.next().unwrap_or_default();
            if let Some((_, _, els)) = raw.last_mut() {
                els.push(RawElement {
                    name,
                    required: min == "1",
                    many: max == "*",
                    attr: flags.contains('a'),
                    types: types.split(',').collect(),
                });
            }
        } else {
            let (name, kind) = line.split_once('\t').unwrap_or((line, ""));
            let kind = match kind {
                "primitive" => Kind::Primitive,
                "resource" => Kind::Resource,
                "backbone" => Kind::Backbone,
                _ => Kind::Complex,
            };
            raw.push((name, kind, Vec::new()));
        }
    }
    let mut by_name = FastMap::default();
    for (i, (name, _, _)) in raw.iter().enumerate() {
        by_name.insert(*name, i as u16);
    }
    let mut types = Vec::with_capacity(raw.len());
    let mut resources = Vec::new();
    for (name, kind, els) in raw {
        if kind == Kind::Resource {
            resources.push(name);
        }
        let mut elements = Vec::with_capacity(els.len());
        let mut members = FastMap::default();
        let mut required = Vec::new();
        for (ei, e) in els.into_iter().enumerate() {
            let (base, choice) = match e.name.strip_suffix("[x]") {
                Some(b) => (b, true),
                None => (e.name, false),
            };
            let mut trefs = Vec::with_capacity(e.types.len());
            for (ti, code) in e.types.into_iter().enumerate() {
                let target = if code == "Resource" {
                    Target::Resource
                } else if let Some(p) = Prim::from_name(code) {
                    Target::Primitive(p)
                } else {
                    // An unknown code would be a defect of the generated table; treat it as Element.
                    Target::Complex(
                        by_name
                            .get(code)
                            .or(by_name.get("Element"))
                            .copied()
                            .unwrap_or(0),
                    )
                };
                let member: &'static str = if choice {
                    let mut m = String::with_capacity(base.len() + code.len());
                    m.push_str(base);
                    let mut chars = code.chars();
                    if let Some(c) = chars.next() {
                        m.push(c.to_ascii_uppercase());
                        m.push_str(chars.as_str());
                    }
                    Box::leak(m.into_boxed_str())
                } else {
                    base
                };
                members.insert(member, (ei as u16, ti as u16));
                trefs.push(TypeRef {
                    code,
                    member,
                    target,
                });
            }
            if e.required {
                required.push(ei as u16);
            }
            elements.push(ElementDef {
                name: base,
                choice,
                required: e.required,
                many: e.many,
                attr: e.attr,
                types: trefs,
            });
        }
        types.push(TypeDef {
            name,
            kind,
            elements,
            members,
            required,
        });
    }
    Meta {
        types,
        by_name,
        resources,
    }
}

/// Whether `name` is one of the 146 concrete R4 resource types.
pub fn is_resource_type(name: &str) -> bool {
    META.resource(name).is_some()
}

/// The concrete R4 resource types, alphabetically.
pub fn resource_types() -> impl Iterator<Item = &'static str> {
    META.resources.iter().copied()
}

/// What the R4 definitions say about one element, see [`element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementInfo {
    /// The possible type codes, e.g. `["HumanName"]`, `["Quantity", "CodeableConcept", ...]` for a
    /// choice, `["Patient.contact"]` for a backbone element, `["Resource"]` for inner resources.
    pub types: Vec<&'static str>,
    /// Max cardinality `*`: a JSON array, a repeated XML element.
    pub repeats: bool,
    /// Min cardinality 1.
    pub required: bool,
    /// A choice element (`value[x]`).
    pub choice: bool,
}

/// Looks up an element by a dotted path from a resource or datatype, e.g. `Patient.name.given`,
/// `Observation.value` (all choice types), `Observation.valueQuantity.unit` (one choice type) or
/// `Questionnaire.item.item.linkId`. `None` when the path does not exist.
pub fn element(path: &str) -> Option<ElementInfo> {
    let meta = &*META;
    let mut parts = path.split('.');
    let mut td = meta.get(parts.next()?)?;
    let mut info = None;
    for part in parts {
        if let Some(ElementInfo { types, .. }) = &info {
            // Step into the single (or chosen) complex type of the previous element.
            let [code] = types.as_slice() else {
                return None;
            };
            td = meta.get(code)?;
        }
        let part = part.strip_suffix("[x]").unwrap_or(part);
        let (el, types) = match td.member(part) {
            Some((_, el, t)) if el.choice && t.member == part && el.name != part => {
                (el, vec![t.code])
            }
            Some((_, el, _)) => (el, el.types.iter().map(|t| t.code).collect()),
            None => {
                let el = td.elements.iter().find(|e| e.name == part)?;
                (el, el.types.iter().map(|t| t.code).collect())
            }
        };
        info = Some(ElementInfo {
            types,
            repeats: el.many,
            required: el.required,
            choice: el.choice,
        });
    }
    info
}

/// The elements of a resource, datatype or backbone type (`Task.input`), in definition order, with
/// their names without `[x]`; `None` for an unknown or primitive type name.
pub fn elements(type_name: &str) -> Option<Vec<(&'static str, ElementInfo)>> {
    let td = META.get(type_name)?;
    if td.kind == Kind::Primitive {
        return None;
    }
    Some(
        td.elements
            .iter()
            .map(|el| {
                (
                    el.name,
                    ElementInfo {
                        types: el.types.iter().map(|t| t.code).collect(),
                        repeats: el.many,
                        required: el.required,
                        choice: el.choice,
                    },
                )
            })
            .collect(),
    )
}

/// The table's own (static) spelling of a type name: `Some("Task")` for `"Task"`; `None` for
/// names the R4 definitions do not have.
pub fn type_name(name: &str) -> Option<&'static str> {
    META.get(name).map(|t| t.name)
}

/// Whether `name` is a backbone element type of the R4 definitions (`Task.input`, `Bundle.entry`).
pub fn is_backbone(name: &str) -> bool {
    META.get(name).is_some_and(|t| t.kind == Kind::Backbone)
}

/// Whether `name` is an R4 primitive datatype (`string`, `code`, `dateTime`, ...).
pub fn is_primitive(name: &str) -> bool {
    META.get(name).is_some_and(|t| t.kind == Kind::Primitive)
}

/// The one type code of the element at `path` (see [`element`]), e.g. `HumanName` for
/// `Patient.name`, `Quantity` for `Observation.valueQuantity`; `None` for an unknown path or a
/// choice element named without its type (`Observation.value`).
pub fn element_type(path: &str) -> Option<&'static str> {
    match element(path)?.types.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_loads() {
        let n = resource_types().count();
        assert_eq!(n, 146);
        assert!(is_resource_type("Patient"));
        assert!(is_resource_type("Task"));
        assert!(!is_resource_type("Resource"));
        assert!(!is_resource_type("DomainResource"));
        assert!(!is_resource_type("HumanName"));
        assert!(!is_resource_type("patient"));
        for t in &META.types {
            assert!(t.elements.len() < 128, "{} has too many elements", t.name);
        }
    }

    #[test]
    fn element_paths() {
        let e = element("Patient.name").expect("Patient.name");
        assert_eq!(e.types, ["HumanName"]);
        assert!(e.repeats);
        let e = element("Patient.name.given").expect("given");
        assert_eq!(e.types, ["string"]);
        let e = element("Observation.value").expect("value");
        assert!(e.choice && e.types.len() > 5);
        assert_eq!(
            element("Observation.valueQuantity.unit").map(|e| e.types),
            Some(vec!["string"])
        );
        assert_eq!(
            element("Questionnaire.item.item.linkId").map(|e| e.required),
            Some(true)
        );
        assert_eq!(element("Task.input.value[x]").map(|e| e.choice), Some(true));
        assert!(element("Patient.nope").is_none());
        assert_eq!(element_type("Patient.name"), Some("HumanName"));
        assert_eq!(element_type("Observation.valueQuantity"), Some("Quantity"));
        assert_eq!(element_type("Observation.value"), None);
        assert_eq!(element_type("Bundle.entry.resource"), Some("Resource"));
        assert_eq!(element_type("Task.input"), Some("Task.input"));
        let input = elements("Task.input").expect("Task.input elements");
        assert_eq!(
            input.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            ["id", "extension", "modifierExtension", "type", "value"]
        );
        assert!(input[4].1.choice && input[3].1.required);
        assert!(is_backbone("Task.input") && !is_backbone("Task"));
        assert!(is_primitive("code") && !is_primitive("Coding"));
        assert!(elements("string").is_none() && elements("Nope").is_none());
    }
}
