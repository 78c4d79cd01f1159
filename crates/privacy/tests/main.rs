//! Integration tests of `dsf-privacy` through its public API, one module per topic.

mod clkhash;
