//! FHIR R4 (4.0.1) resources as a generic, metadata-driven model with a lossless JSON and XML codec.
//!
//! A [`Resource`] holds the resource's JSON object (member order kept, decimals kept digit for digit).
//! [`parse`] reads JSON or XML strictly: unknown elements, wrong primitive types and wrong cardinality
//! are errors that name the element's path. [`serialize`] writes either format.

//! Design: there is no generated typed model (those cost minutes of build time, see [`meta`]); a
//! resource is a `serde_json` object (with `preserve_order` and `arbitrary_precision`), and the R4
//! metadata table in [`meta`] drives the strict check and the JSON ⇄ XML mapping.

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

/// Why a body could not be read as a FHIR resource.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes are not well-formed JSON or XML.
    #[error("malformed {format:?}: {message}")]
    Syntax {
        /// The format that was expected.
        format: Format,
        /// What the tokenizer reported.
        message: String,
    },
    /// Well-formed, but not a valid FHIR R4 resource; `path` is the FHIRPath-like location.
    #[error("{path}: {message}")]
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
