//! Validation of FHIR R4 resources against StructureDefinitions.

#![warn(missing_docs)]

pub mod fhirpath;
