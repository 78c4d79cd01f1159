//! The FHIR interactions, written once and used by the REST handlers and by Bundle entries: each
//! takes parsed input and returns a [`Reply`] or an [`ApiError`].

use std::sync::Arc;

use dsf_fhir::Resource;
use dsf_fhir_store::search::params::is_served;
use dsf_fhir_store::{
    Deleted, SearchIssue, SearchQuery, SearchResult, Store, StoreError, Stored, Transaction,
};
use http::StatusCode;
use serde_json::Value;

use crate::authz::{Caller, Operation, read, rules};
use crate::bundles::{self, Paging};
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::negotiate::query_pairs;
use crate::outcome::{Issue, Severity, information, operation_outcome};
use crate::prefer::{Prefer, Return};
use crate::reply::{Payload, Reply};
use crate::validation::{self, Write};

/// Fails with 404 unless the server serves `resource_type`.
pub fn check_type(resource_type: &str) -> Result<(), ApiError> {
    if is_served(resource_type) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Resource type {resource_type} is not supported"
        )))
    }
}

/// Fails with 404 unless `id` is a UUID (the server assigns only UUIDs).
pub fn check_id(resource_type: &str, id: &str) -> Result<(), ApiError> {
    if uuid::Uuid::try_parse(id).is_ok() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Resource {resource_type}/{id} not found: ids are UUIDs"
        )))
    }
}

/// Fails with 400 unless `resource` is of `resource_type`.
fn check_body_type(resource: &Resource, resource_type: &str) -> Result<(), ApiError> {
    if resource.resource_type() == resource_type {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Resource type {} in the body does not match {resource_type} in the URL",
            resource.resource_type()
        )))
    }
}

/// Removes `reference` from references that also carry an `identifier`, as the reference
/// implementation returns them.
pub fn clean_references(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("identifier")
                && map.get("reference").is_some_and(Value::is_string)
                && !map.contains_key("resourceType")
            {
                map.remove("reference");
            }
            map.values_mut().for_each(clean_references);
        }
        Value::Array(items) => items.iter_mut().for_each(clean_references),
        _ => {}
    }
}

/// Whether [`clean_references`] would change `value`.
fn needs_cleaning(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            (map.contains_key("identifier")
                && map.get("reference").is_some_and(Value::is_string)
                && !map.contains_key("resourceType"))
                || map.values().any(needs_cleaning)
        }
        Value::Array(items) => items.iter().any(needs_cleaning),
        _ => false,
    }
}

/// A stored resource as it is returned: Binary content included, references cleaned.
pub fn output(stored: Stored) -> Resource {
    let mut resource = stored.into_full_resource();
    resource
        .as_json_mut()
        .values_mut()
        .for_each(clean_references);
    resource
}

/// The reply to a successful write with `status`, shaped by `Prefer: return`.
fn written(config: &ServerConfig, prefer: Prefer, stored: &Stored, status: StatusCode) -> Reply {
    let location = config.version_url(stored.resource_type(), stored.id(), stored.version);
    let body = match prefer.return_ {
        Return::Representation => Some(output(stored.clone())),
        Return::Minimal => None,
        Return::OperationOutcome => Some(information(format!(
            "{} {} at location {location}",
            stored.resource_type(),
            if status == StatusCode::CREATED {
                "created"
            } else {
                "updated"
            }
        ))),
    };
    Reply {
        status,
        body: body.map(Payload::Resource),
        location: Some(location),
        version: Some(stored.version),
        last_modified: Some(stored.last_updated),
    }
}

/// Parses the criteria of a conditional create, update or delete (`param=value&...`, with or
/// without a leading `?`). Result parameters are ignored; anything unusable is a 400.
pub fn conditional_query(
    config: &ServerConfig,
    resource_type: &str,
    criteria: &str,
) -> Result<SearchQuery, ApiError> {
    const IGNORED: &[&str] = &[
        "_sort",
        "_include",
        "_revinclude",
        "_page",
        "_count",
        "_format",
        "_pretty",
        "_summary",
    ];
    let criteria = criteria.trim().trim_start_matches('?');
    let params: Vec<_> = query_pairs(Some(criteria))
        .into_iter()
        .filter(|(name, _)| !IGNORED.contains(&name.as_str()))
        .collect();
    if params.is_empty() {
        return Err(ApiError::bad_request(
            "Conditional criteria are empty or name no search parameter",
        ));
    }
    let (query, issues) = SearchQuery::parse(resource_type, &params, &config.base_url);
    if let Some(issue) = issues.first() {
        return Err(ApiError::bad_request(format!(
            "Conditional criteria: parameter {}: {}",
            issue.parameter, issue.message
        )));
    }
    Ok(query)
}

/// The matches of conditional criteria under the type's conditional-write lock (at most two are
/// read: one or several is what counts).
pub async fn conditional_matches(
    tx: &mut Transaction,
    query: &SearchQuery,
) -> Result<(i64, Option<Stored>), ApiError> {
    tx.lock_type(&query.resource_type).await?;
    let result = tx.search(query, 2).await?;
    Ok((result.total, result.matches.into_iter().next()))
}

/// `POST /T`, optionally conditional (`If-None-Exist`); `id` pre-assigned by a transaction.
pub async fn create(
    caller: &Caller,
    tx: &mut Transaction,
    prefer: Prefer,
    resource_type: &str,
    mut resource: Resource,
    if_none_exist: Option<&str>,
    id: Option<String>,
) -> Result<Reply, ApiError> {
    let config = &*caller.config;
    check_type(resource_type)?;
    check_body_type(&resource, resource_type)?;
    caller.permits(Operation::Create, resource_type)?;
    if let Some(criteria) = if_none_exist {
        let query = conditional_query(config, resource_type, criteria)?;
        match conditional_matches(tx, &query).await? {
            (0, _) => {}
            (1, Some(existing)) => return Ok(already_exists(config, &existing)),
            _ => {
                return Err(ApiError::precondition_failed(format!(
                    "More than one {resource_type} matches If-None-Exist criteria '{criteria}'"
                )));
            }
        }
    }
    validate(caller, tx, &mut resource, Write::Create).await?;
    rules::check_create(caller, tx, &resource).await?;
    let stored = tx.create(resource, id).await?;
    Ok(written(config, prefer, &stored, StatusCode::CREATED))
}

/// Validates a resource to be written, when the caller's writes are validated.
async fn validate(
    caller: &Caller,
    tx: &mut Transaction,
    resource: &mut Resource,
    write: Write,
) -> Result<(), ApiError> {
    match &caller.profiles {
        Some(profiles) => validation::check(profiles, tx, resource, write).await,
        None => Ok(()),
    }
}

/// The answer to a conditional create that found its resource.
pub fn already_exists(config: &ServerConfig, existing: &Stored) -> Reply {
    let location = config.version_url(existing.resource_type(), existing.id(), existing.version);
    Reply {
        status: StatusCode::OK,
        body: Some(Payload::Resource(operation_outcome(&[Issue::new(
            Severity::Information,
            "duplicate",
            format!("Resource with the given criteria exists at {location}; nothing created"),
        )]))),
        location: Some(location),
        version: Some(existing.version),
        last_modified: Some(existing.last_updated),
    }
}

/// `PUT /T/id`, optionally with `If-Match`.
pub async fn update(
    caller: &Caller,
    tx: &mut Transaction,
    prefer: Prefer,
    resource_type: &str,
    id: &str,
    mut resource: Resource,
    if_match: Option<i64>,
) -> Result<Reply, ApiError> {
    let config = &*caller.config;
    check_type(resource_type)?;
    check_body_type(&resource, resource_type)?;
    match resource.id() {
        Some(body_id) if body_id == id => {}
        Some(body_id) => {
            return Err(ApiError::bad_request(format!(
                "Resource id {body_id} in the body does not match {id} in the URL"
            )));
        }
        None => return Err(ApiError::bad_request("Resource id missing in the body")),
    }
    check_id(resource_type, id).map_err(|_| update_as_create(resource_type, id))?;
    caller.permits(Operation::Update, resource_type)?;
    validate(caller, tx, &mut resource, Write::Update).await?;
    if let Some(old) = tx.read(resource_type, id).await?
        && !old.deleted
    {
        rules::check_update(caller, tx, &old, &resource).await?;
    }
    match tx.update(resource, if_match).await {
        Ok(stored) => Ok(written(config, prefer, &stored, StatusCode::OK)),
        Err(StoreError::NotFound { .. }) => Err(update_as_create(resource_type, id)),
        Err(e) => Err(e.into()),
    }
}

fn update_as_create(resource_type: &str, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        format!("Update as create not allowed: {resource_type}/{id} does not exist"),
    )
}

/// `PUT /T?criteria`
pub async fn conditional_update(
    caller: &Caller,
    tx: &mut Transaction,
    prefer: Prefer,
    resource_type: &str,
    criteria: &str,
    mut resource: Resource,
    id: Option<String>,
) -> Result<Reply, ApiError> {
    let config = &*caller.config;
    check_type(resource_type)?;
    check_body_type(&resource, resource_type)?;
    caller.permits(Operation::Update, resource_type)?;
    let query = conditional_query(config, resource_type, criteria)?;
    match conditional_matches(tx, &query).await? {
        (0, _) => {
            if let Some(body_id) = resource.id() {
                return Err(update_as_create(resource_type, body_id));
            }
            validate(caller, tx, &mut resource, Write::Create).await?;
            rules::check_create(caller, tx, &resource).await?;
            let stored = tx.create(resource, id).await?;
            Ok(written(config, prefer, &stored, StatusCode::CREATED))
        }
        (1, Some(existing)) => {
            match resource.id() {
                Some(body_id) if body_id != existing.id() => {
                    return Err(ApiError::bad_request(format!(
                        "Resource id {body_id} in the body does not match {} found by the criteria",
                        existing.id()
                    )));
                }
                _ => {}
            }
            resource
                .as_json_mut()
                .insert("id".into(), Value::String(existing.id().to_owned()));
            validate(caller, tx, &mut resource, Write::Update).await?;
            rules::check_update(caller, tx, &existing, &resource).await?;
            let stored = tx.update(resource, None).await?;
            Ok(written(config, prefer, &stored, StatusCode::OK))
        }
        _ => Err(ApiError::precondition_failed(format!(
            "More than one {resource_type} matches the criteria '{criteria}'"
        ))),
    }
}

/// `DELETE /T/id`
pub async fn delete(
    caller: &Caller,
    tx: &mut Transaction,
    resource_type: &str,
    id: &str,
) -> Result<Reply, ApiError> {
    check_type(resource_type)?;
    check_id(resource_type, id)?;
    caller.permits(Operation::Delete, resource_type)?;
    if let Some(old) = tx.read(resource_type, id).await? {
        rules::check_delete(caller, &old)?;
    }
    let (deleted, version) = match tx.delete(resource_type, id).await? {
        Deleted::Now(v) => ("deleted", v),
        Deleted::Already(v) => ("already deleted", v),
    };
    Ok(Reply {
        version: Some(version),
        ..Reply::new(
            StatusCode::OK,
            Some(information(format!(
                "Resource {resource_type}/{id} {deleted}"
            ))),
        )
    })
}

/// `DELETE /T?criteria`
pub async fn conditional_delete(
    caller: &Caller,
    config: &ServerConfig,
    tx: &mut Transaction,
    resource_type: &str,
    criteria: &str,
) -> Result<Reply, ApiError> {
    check_type(resource_type)?;
    caller.permits(Operation::Delete, resource_type)?;
    let query = conditional_query(config, resource_type, criteria)?;
    match conditional_matches(tx, &query).await? {
        (0, _) => Ok(Reply::new(StatusCode::NO_CONTENT, None)),
        (1, Some(existing)) => delete(caller, tx, resource_type, existing.id()).await,
        _ => Err(ApiError::precondition_failed(format!(
            "More than one {resource_type} matches the criteria '{criteria}'"
        ))),
    }
}

/// `POST /T/id/$permanent-delete`
pub async fn permanent_delete(
    caller: &Caller,
    tx: &mut Transaction,
    resource_type: &str,
    id: &str,
) -> Result<Reply, ApiError> {
    check_type(resource_type)?;
    check_id(resource_type, id)?;
    caller.permits(Operation::PermanentDelete, resource_type)?;
    tx.permanent_delete(resource_type, id).await?;
    Ok(Reply::new(
        StatusCode::OK,
        Some(information(format!(
            "Resource {resource_type}/{id} permanently deleted"
        ))),
    ))
}

/// Fails with 403 unless `caller` may read `stored` (nothing found passes: that is a 404).
pub async fn check_read(
    caller: &Caller,
    store: &Store,
    stored: Option<&Stored>,
) -> Result<(), ApiError> {
    caller.permits(Operation::Read, stored.map_or("", |s| s.resource_type()))?;
    match stored {
        Some(stored) if !read::may_read(caller, store, stored).await? => {
            Err(caller.forbidden(Operation::Read, "no read access"))
        }
        _ => Ok(()),
    }
}

/// Runs a prepared search as `caller`: only what the caller may read is found, counted and
/// included.
pub async fn search(
    caller: &Caller,
    store: &Store,
    tx: Option<&mut Transaction>,
    config: &ServerConfig,
    query: &SearchQuery,
) -> Result<SearchResult, ApiError> {
    caller.permits(Operation::Search, &query.resource_type)?;
    let restricted;
    let query = match read::caller_tokens(caller) {
        Some(tokens) => {
            let mut q = query.clone();
            q.restrict_access(tokens);
            restricted = q;
            &restricted
        }
        None => query,
    };
    let mut result = match tx {
        Some(tx) => tx.search(query, config.page_count).await?,
        None => store.search(query, config.page_count).await?,
    };
    result.included = read::retain_readable(caller, store, result.included).await?;
    Ok(result)
}

/// The reply to a read or vread that found `stored` (or nothing).
pub fn read_reply(
    config: &ServerConfig,
    resource_type: &str,
    id: &str,
    stored: Option<Arc<Stored>>,
) -> Result<Reply, ApiError> {
    let stored = stored
        .ok_or_else(|| ApiError::not_found(format!("Resource {resource_type}/{id} not found")))?;
    let location = config.version_url(resource_type, id, stored.version);
    if stored.deleted {
        let mut reply = ApiError::from(StoreError::Gone {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            version: stored.version,
        })
        .into_reply();
        reply.location = Some(location);
        reply.last_modified = Some(stored.last_updated);
        return Ok(reply);
    }
    let (version, last_modified) = (stored.version, stored.last_updated);
    // Most resources need no change on the way out: they are written straight from the store.
    let body = if stored.data.is_none() && !stored.resource.as_json().values().any(needs_cleaning) {
        Payload::Stored(stored)
    } else {
        Payload::Resource(output(Arc::unwrap_or_clone(stored)))
    };
    Ok(Reply {
        status: StatusCode::OK,
        body: Some(body),
        location: None,
        version: Some(version),
        last_modified: Some(last_modified),
    })
}

/// Parses the parameters of a search on `resource_type`. With `Prefer: handling=strict` any
/// problem is a 400; otherwise the problems are returned to be reported in the Bundle.
pub fn prepare_search(
    config: &ServerConfig,
    resource_type: &str,
    pairs: &[(String, String)],
    prefer: Prefer,
) -> Result<(SearchQuery, Vec<SearchIssue>), ApiError> {
    check_type(resource_type)?;
    let (mut query, issues) = SearchQuery::parse(resource_type, pairs, &config.base_url);
    if prefer.strict && !issues.is_empty() {
        return Err(search_error(&issues));
    }
    let count = query.count.unwrap_or(config.page_count);
    if count
        .checked_mul(query.page)
        .is_none_or(|n| n > i64::from(i32::MAX))
    {
        // As the reference does: absurd paging falls back to the defaults.
        query.count = None;
        query.page = 1;
    }
    Ok((query, issues))
}

/// The searchset reply for `result`.
pub fn search_reply(
    config: &ServerConfig,
    query: &SearchQuery,
    issues: &[SearchIssue],
    pairs: &[(String, String)],
    result: SearchResult,
) -> Reply {
    let paging = Paging {
        path: format!("{}/{}", config.base_url, query.resource_type),
        params: link_params(&query.normalized, pairs),
        count: if query.summary_count {
            0
        } else {
            query.count.unwrap_or(config.page_count)
        },
        page: query.page,
        total: result.total,
    };
    Reply::new(
        StatusCode::OK,
        Some(bundles::searchset(config, &paging, result, issues)),
    )
}

/// 400 listing every problem with the search parameters.
pub fn search_error(issues: &[SearchIssue]) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        issues: issues
            .iter()
            .map(|i| {
                Issue::new(
                    Severity::Error,
                    "invalid",
                    format!("Search parameter {}: {}", i.parameter, i.message),
                )
                .at(i.parameter.clone())
            })
            .collect(),
        version: None,
    }
}

/// The parameters repeated in paging links: accepted ones without `_count`/`_page`, plus the
/// output parameters `_format` and `_pretty`.
pub fn link_params(
    normalized: &[(String, String)],
    raw: &[(String, String)],
) -> Vec<(String, String)> {
    normalized
        .iter()
        .filter(|(k, _)| k != "_count" && k != "_page")
        .chain(raw.iter().filter(|(k, _)| k == "_format" || k == "_pretty"))
        .cloned()
        .collect()
}
