//! Search parameters, index extraction and search queries.

pub mod access;
pub mod date;
pub(crate) mod index;
pub mod params;
pub mod query;
pub(crate) mod sql;

pub use index::split_reference;
