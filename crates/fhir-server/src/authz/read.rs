//! Read access: which resources a caller may read, the same rule for reads, searches, includes
//! and histories.
//!
//! A resource's read-access tokens come from the store's index ([`dsf_fhir_store::search::access`]);
//! a caller's tokens from its organization and that organization's roles. The local organization
//! reads everything; a remote one what shares a token with it.

use dsf_fhir_store::search::access::{self, access_tokens, context_of};
use dsf_fhir_store::{Store, Stored};

use super::Caller;
use crate::error::ApiError;

/// The read-access tokens of the caller; `None` when it may read everything.
pub fn caller_tokens(caller: &Caller) -> Option<Vec<String>> {
    if caller.identity.local {
        return None;
    }
    let organization = caller.identity.organization.as_str();
    let mut tokens = vec![
        access::all(),
        access::organization(organization),
        access::task_requester(organization),
    ];
    tokens.extend(
        caller
            .allow_list
            .roles_of(organization)
            .map(|(parent, system, code)| access::role(parent, system, code)),
    );
    Some(tokens)
}

/// Whether the caller may read `stored` (a current or historic version).
pub async fn may_read(caller: &Caller, store: &Store, stored: &Stored) -> Result<bool, ApiError> {
    let Some(mine) = caller_tokens(caller) else {
        return Ok(true);
    };
    if stored.deleted {
        // A deletion has no body to judge by: remote callers do not see it.
        return Ok(false);
    }
    let tokens = access_tokens(stored.resource_type(), stored.resource.as_json());
    if tokens.iter().any(|t| mine.contains(t)) {
        return Ok(true);
    }
    // A Binary inherits the read access of its security context (never a Task or a Binary).
    for context in tokens.iter().filter_map(|t| context_of(t)) {
        let Some((_, resource_type, id)) = dsf_fhir_store::search::split_reference(context) else {
            continue;
        };
        if matches!(resource_type, "Task" | "Binary") {
            continue;
        }
        if let Some(target) = store.read(resource_type, id).await?
            && !target.deleted
            && access_tokens(resource_type, target.resource.as_json())
                .iter()
                .any(|t| mine.contains(t))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Keeps the entries of `list` the caller may read.
pub async fn retain_readable(
    caller: &Caller,
    store: &Store,
    list: Vec<Stored>,
) -> Result<Vec<Stored>, ApiError> {
    if caller.identity.local {
        return Ok(list);
    }
    let mut kept = Vec::with_capacity(list.len());
    for stored in list {
        if may_read(caller, store, &stored).await? {
            kept.push(stored);
        }
    }
    Ok(kept)
}
