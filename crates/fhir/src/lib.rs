//! FHIR R4 (4.0.1) resources as a generic, metadata-driven model with a lossless JSON and XML codec.
//!
//! A [`Resource`] holds the resource's JSON object (member order kept, decimals kept digit for digit).
//! [`parse`] reads JSON or XML strictly; [`serialize`] writes either format.
//!
//! # Design
//!
//! There is no generated typed model: an R4 model crate costs minutes of build time and gigabytes
//! of memory (see [`meta`]). A resource is a `serde_json` object (with `preserve_order` and
//! `arbitrary_precision`), and a compact table generated from the R4 StructureDefinitions drives
//! both the strict check and the JSON ⇄ XML mapping.
//!
//! # What is checked
//!
//! Both formats end in the same check of the JSON form ([`Resource::from_json_value`]):
//! - every member is an element of its type (choice elements only with their listed types, and
//!   only one of them), `resourceType` names one of the 146 R4 resource types, inner resources
//!   (`contained`, `Bundle.entry.resource`, `Parameters.parameter.resource`, ...) are checked too;
//! - arrays exactly where the max cardinality is `*`, required elements present;
//! - primitives by JSON type and lexical form (boolean, integers in range, decimals as numbers,
//!   strings with the R4 patterns of `id`, `code`, `uri`, `date`, `dateTime`, `instant`, `time`,
//!   `oid`, `uuid`, `base64Binary`), `_element` companions aligned with their values;
//! - no empty strings, objects or arrays, nulls only inside aligned primitive arrays, no
//!   `fhir_comments`, the narrative `div` well-formed XHTML in the XHTML namespace;
//! - nesting depth at most [`MAX_DEPTH`].
//!
//! XML is additionally checked for DOCTYPEs and undefined entities (rejected: no XXE), unknown
//! attributes, elements outside the FHIR namespace and text content. Errors name the path, e.g.
//! `Bundle.entry[0].resource.Patient.name[1].given[0]` (inner resources add their type).

#![warn(missing_docs)]

mod check;
mod json;
pub mod meta;
mod primitive;
mod resource;
mod xhtml;
mod xml;

pub use check::MAX_DEPTH;
pub use meta::is_resource_type;
pub use resource::Resource;

/// A FHIR wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `application/fhir+json`
    Json,
    /// `application/fhir+xml`
    Xml,
}

impl Format {
    /// The FHIR media type: `application/fhir+json` or `application/fhir+xml`.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Json => "application/fhir+json",
            Format::Xml => "application/fhir+xml",
        }
    }

    /// The format named by a media type (parameters such as `; charset=UTF-8` ignored) or a
    /// `_format` value: `json`, `xml`, `application/fhir+json`, `application/json+fhir` (DSTU2
    /// name), `application/json`, `text/json`, and the XML counterparts. `None` for anything else.
    pub fn from_mime(value: &str) -> Option<Format> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        let lower = essence.to_ascii_lowercase();
        match lower.as_str() {
            "json"
            | "application/fhir+json"
            | "application/json+fhir"
            | "application/json"
            | "text/json" => Some(Format::Json),
            "xml"
            | "application/fhir+xml"
            | "application/xml+fhir"
            | "application/xml"
            | "text/xml" => Some(Format::Xml),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Xml => "XML",
        })
    }
}

/// Why a body could not be read as a FHIR resource.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes are not well-formed JSON or XML.
    #[error("malformed {format}: {message}")]
    Syntax {
        /// The format that was expected.
        format: Format,
        /// What the tokenizer reported.
        message: String,
    },
    /// Well-formed, but not a valid FHIR R4 resource; `path` is the FHIRPath-like location.
    #[error("{}{}{message}", path, if path.is_empty() { "" } else { ": " })]
    Invalid {
        /// Where the problem is, e.g. `Patient.name[0].given`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads one resource from `bytes` in `format`, strictly.
///
/// JSON and XML bodies go through the same check ([`Resource::from_json_value`]); XML is first
/// mapped to the FHIR JSON form using the R4 metadata. Never panics on any input.
pub fn parse(bytes: &[u8], format: Format) -> Result<Resource, ParseError> {
    let json = match format {
        Format::Json => json::parse(bytes)?,
        Format::Xml => xml::read::parse(bytes)?,
    };
    Resource::from_json_value(serde_json::Value::Object(json))
}

/// Writes `resource` in `format`; `pretty` indents the output.
///
/// JSON is written as held (member order and decimal digits kept). XML follows the R4 rules
/// (definition order, `value` attributes, embedded XHTML); members the definitions do not know
/// (only possible for [`Resource::trusted`] values) are skipped in XML.
pub fn serialize(resource: &Resource, format: Format, pretty: bool) -> Vec<u8> {
    match format {
        Format::Json => json::serialize(resource.as_json(), pretty),
        Format::Xml => xml::write::serialize(resource.as_json(), pretty),
    }
}
