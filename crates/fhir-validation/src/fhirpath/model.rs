//! Navigation of JSON nodes with FHIR types from the R4 table of [`dsf_fhir::meta`].

use super::Focus;
use dsf_fhir::meta;
use serde_json::Value;

/// The R4 primitive types.
const PRIMITIVES: [&str; 20] = [
    "boolean",
    "integer",
    "positiveInt",
    "unsignedInt",
    "decimal",
    "string",
    "markdown",
    "code",
    "id",
    "uri",
    "url",
    "canonical",
    "oid",
    "uuid",
    "base64Binary",
    "date",
    "dateTime",
    "instant",
    "time",
    "xhtml",
];

/// R4 complex datatypes that can appear as a choice type (`valueReference`), for nodes whose
/// parent type is unknown.
const DATATYPES: [&str; 40] = [
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactDetail",
    "ContactPoint",
    "Contributor",
    "Count",
    "DataRequirement",
    "Distance",
    "Dosage",
    "Duration",
    "Expression",
    "Extension",
    "HumanName",
    "Identifier",
    "Meta",
    "Money",
    "ParameterDefinition",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "RelatedArtifact",
    "SampledData",
    "Signature",
    "Timing",
    "TriggerDefinition",
    "UsageContext",
    "Narrative",
    "Element",
    "BackboneElement",
    "MoneyQuantity",
    "SimpleQuantity",
    "MarketingStatus",
    "Population",
    "ProdCharacteristic",
];

/// The R4 resource type named by a resource's `resourceType`.
pub(crate) fn resource_type(value: &Value) -> Option<&'static str> {
    let name = value.get("resourceType")?.as_str()?;
    meta::resource_types().find(|t| *t == name)
}

/// The static name of a known type, e.g. for a type suffix `String` of `valueString`.
fn type_from_suffix(suffix: &str) -> Option<&'static str> {
    let mut chars = suffix.chars();
    let first = chars.next()?.to_ascii_lowercase();
    let lowered: String = std::iter::once(first).chain(chars).collect();
    PRIMITIVES
        .iter()
        .find(|p| **p == lowered)
        .or_else(|| DATATYPES.iter().find(|d| **d == suffix))
        .copied()
        .or_else(|| meta::resource_types().find(|t| *t == suffix))
}

/// A node of `type_name`; inner resources (type `Resource`) are typed by their `resourceType`.
fn typed<'a>(value: &'a Value, type_name: Option<&'static str>) -> Focus<'a> {
    match type_name {
        Some("Resource") | None if value.get("resourceType").is_some() => Focus::resource(value),
        _ => Focus::new(value, type_name),
    }
}

/// Pushes `value` (the items of an array) as nodes of `type_name`.
fn push_all<'a>(out: &mut Vec<Focus<'a>>, value: &'a Value, type_name: Option<&'static str>) {
    match value {
        Value::Array(items) => out.extend(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| typed(v, type_name)),
        ),
        Value::Null => {}
        v => out.push(typed(v, type_name)),
    }
}

/// The children named `name` of `focus`: the member `name`, or for a choice element the member
/// `name` + type (`valueString`). A primitive's `value` is the primitive itself, as in the
/// reference's object model (profiles write `value.matches(...)` on a primitive element).
pub(crate) fn member<'a>(focus: Focus<'a>, name: &str, out: &mut Vec<Focus<'a>>) {
    let Some(object) = focus.value.as_object() else {
        if name == "value" && !focus.value.is_null() && !focus.value.is_array() {
            out.push(focus);
        }
        return;
    };
    if let Some(v) = object.get(name) {
        let ty = focus
            .type_name
            .and_then(|t| meta::element_type(&format!("{t}.{name}")));
        push_all(out, v, ty);
        return;
    }
    let info = focus
        .type_name
        .and_then(|t| meta::element(&format!("{t}.{name}")));
    match info {
        Some(info) if info.choice => {
            for ty in info.types {
                let member = format!("{name}{}", capitalized(ty));
                if let Some(v) = object.get(&member) {
                    push_all(out, v, Some(ty));
                }
            }
        }
        Some(_) => {}
        None => {
            for (key, v) in object {
                if let Some(suffix) = key.strip_prefix(name)
                    && suffix.starts_with(|c: char| c.is_ascii_uppercase())
                {
                    push_all(out, v, type_from_suffix(suffix));
                }
            }
        }
    }
}

/// All child nodes of `focus` (members except `resourceType` and `_name` companions).
pub(crate) fn children<'a>(focus: Focus<'a>, out: &mut Vec<Focus<'a>>) {
    let Some(object) = focus.value.as_object() else {
        return;
    };
    for (key, v) in object {
        if key == "resourceType" || key.starts_with('_') {
            continue;
        }
        let ty = focus
            .type_name
            .and_then(|t| meta::element_type(&format!("{t}.{key}")));
        push_all(out, v, ty);
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect()
}

/// Whether a node is of type `name` (`FHIR` namespace): its own type, `Resource` or
/// `DomainResource` for resources, or the type guessed from its JSON value.
pub(crate) fn node_is(focus: Focus<'_>, name: &str) -> bool {
    let own = focus.type_name.or_else(|| match focus.value {
        Value::Bool(_) => Some("boolean"),
        Value::String(_) => Some("string"),
        Value::Number(n) if n.as_i64().is_some() => Some("integer"),
        Value::Number(_) => Some("decimal"),
        _ => None,
    });
    if own == Some(name) {
        return true;
    }
    matches!(name, "Resource" | "DomainResource") && focus.value.get("resourceType").is_some()
}
