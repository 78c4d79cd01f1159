//! placeholder
pub mod clock;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod exec;
pub mod expr;
pub mod model;
pub mod parse;
pub mod runtime;
pub mod store;
pub mod timer;
pub mod value;
