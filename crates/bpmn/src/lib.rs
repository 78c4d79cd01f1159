//! placeholder
pub mod error;
pub mod expr;
pub mod model;
pub mod parse;
pub mod timer;
pub mod value;
