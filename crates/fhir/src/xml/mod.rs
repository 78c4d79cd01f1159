//! FHIR XML (R4): the namespace `http://hl7.org/fhir`, primitives as `value` attributes, `id` and
//! `url` as attributes, elements in definition order, choice types named by their type
//! (`valueString`), inner resources wrapped in an element named after their type, and the
//! narrative `div` embedded as XHTML.

pub(crate) mod read;
pub(crate) mod write;

/// The FHIR namespace.
pub(crate) const FHIR_NS: &str = "http://hl7.org/fhir";
