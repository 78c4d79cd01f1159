//! Helpers shared by the plugins' activities.

use dsf_bpe::activity::{ActivityContext, DelegateError};
use serde_json::Value;

/// A technical failure: `what` went wrong because of `e`.
pub(crate) fn failed(what: &str, e: impl std::fmt::Display) -> DelegateError {
    DelegateError::Failed(format!("{what}: {e}"))
}

/// A copy of the Task that started the process.
pub(crate) fn start_task(ctx: &ActivityContext) -> Result<Value, DelegateError> {
    ctx.start_task()
        .cloned()
        .ok_or_else(|| DelegateError::Failed("the process has no start Task".into()))
}
