//! Validation of FHIR R4 resources against StructureDefinitions.

#![warn(missing_docs)]

pub mod base;
pub mod conformance;
pub mod fhirpath;
mod issue;
pub mod snapshot;

pub use conformance::Conformance;
pub use issue::{Issue, Severity};
mod profile;
mod slicing;
mod terminology;
mod validator;
mod values;
mod walk;

pub use validator::Validator;
