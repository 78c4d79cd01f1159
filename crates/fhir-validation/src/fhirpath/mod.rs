//! FHIRPath expressions, as profile invariants use them.
