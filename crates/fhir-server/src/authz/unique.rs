//! Uniqueness lookups inside the writing transaction, under the type's write lock, so that two
//! concurrent writes cannot both pass.

use dsf_fhir_store::{SearchQuery, Stored, Transaction};

use crate::error::ApiError;

/// Upper bound of resources scanned by [`all_current`].
const SCAN_LIMIT: i64 = 100_000;

/// Whether a current resource of `resource_type` other than `except` matches every `(name, value)`
/// search parameter.
pub(super) async fn exists_other(
    tx: &mut Transaction,
    resource_type: &str,
    params: &[(&str, &str)],
    except: Option<&str>,
) -> Result<bool, ApiError> {
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let (query, issues) = SearchQuery::parse(resource_type, &pairs, "");
    if let Some(issue) = issues.first() {
        return Err(ApiError::bad_request(format!(
            "{resource_type} uniqueness check: {}: {}",
            issue.parameter, issue.message
        )));
    }
    tx.lock_type(resource_type).await?;
    let found = tx.search(&query, 2).await?;
    Ok(found.matches.iter().any(|m| Some(m.id()) != except))
}

/// Every current resource of `resource_type`, as the transaction sees them (for rules no search
/// parameter expresses; used on the small allow-list types).
pub(super) async fn all_current(
    tx: &mut Transaction,
    resource_type: &str,
) -> Result<Vec<Stored>, ApiError> {
    let params = [("_count".to_owned(), SCAN_LIMIT.to_string())];
    let (query, _) = SearchQuery::parse(resource_type, &params, "");
    tx.lock_type(resource_type).await?;
    Ok(tx.search(&query, SCAN_LIMIT).await?.matches)
}

/// 403 `duplicate`, as the reference answers a uniqueness violation.
pub(super) fn duplicate(resource_type: &str, what: &str) -> ApiError {
    ApiError::new(
        http::StatusCode::FORBIDDEN,
        "duplicate",
        format!("Duplicate {resource_type} resources exist: {what}"),
    )
}
