//! Batch and transaction Bundles (`POST {base}`).
//!
//! A transaction runs in one database transaction, all or nothing: ids are assigned first (new
//! UUIDs, or the matches of conditional creates and updates), `urn:uuid:` and conditional
//! references (`Organization?identifier=...`) are resolved, then the entries run in the FHIR
//! order DELETE, POST, PUT, GET. A batch runs each entry on its own and reports each result.

use std::collections::HashMap;
use std::sync::Arc;

use dsf_fhir::Resource;
use dsf_fhir_store::Transaction;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::authz::Caller;
use crate::error::ApiError;
use crate::interactions::{self, check_id, check_type, conditional_query};
use crate::negotiate::query_pairs;
use crate::prefer::Prefer;
use crate::reply::{Payload, Reply, etag};
use crate::state::AppState;
use dsf_fhir_store::format_instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    Delete,
    Post,
    Put,
    Get,
}

/// What an entry's `request.url` addresses.
#[derive(Debug, Clone)]
enum Target {
    /// `T` or `T?params`
    Type {
        resource_type: String,
        query: Option<String>,
    },
    /// `T/id`
    Instance { resource_type: String, id: String },
    /// `T/id/_history/v`
    Version {
        resource_type: String,
        id: String,
        version: i64,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    full_url: Option<String>,
    method: Method,
    target: Target,
    resource: Option<Resource>,
    if_none_exist: Option<String>,
    if_match: Option<i64>,
}

fn bad(index: usize, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Bundle.entry[{index}]: {message}"))
}

fn parse_target(base_url: &str, url: &str) -> Option<Target> {
    let relative = url
        .strip_prefix(base_url)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(url)
        .trim_start_matches('/');
    let (path, query) = match relative.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (relative, None),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (segments.as_slice(), query) {
        ([t], query) => Some(Target::Type {
            resource_type: (*t).to_owned(),
            query,
        }),
        ([t, id], None) => Some(Target::Instance {
            resource_type: (*t).to_owned(),
            id: (*id).to_owned(),
        }),
        ([t, id, "_history", v], None) => Some(Target::Version {
            resource_type: (*t).to_owned(),
            id: (*id).to_owned(),
            version: v.parse().ok()?,
        }),
        _ => None,
    }
}

fn parse_entries(base_url: &str, bundle: &Map<String, Value>) -> Result<Vec<Entry>, ApiError> {
    let Some(entries) = bundle.get("entry") else {
        return Ok(Vec::new());
    };
    let entries = entries
        .as_array()
        .ok_or_else(|| ApiError::bad_request("Bundle.entry is not a list"))?;
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let request = entry
                .get("request")
                .ok_or_else(|| bad(i, "request missing"))?;
            let method = match request.get("method").and_then(Value::as_str) {
                Some("GET") | Some("HEAD") => Method::Get,
                Some("POST") => Method::Post,
                Some("PUT") => Method::Put,
                Some("DELETE") => Method::Delete,
                Some(other) => return Err(bad(i, format!("request.method {other} not supported"))),
                None => return Err(bad(i, "request.method missing")),
            };
            let url = request
                .get("url")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(i, "request.url missing"))?;
            let target = parse_target(base_url, url)
                .ok_or_else(|| bad(i, format!("request.url '{url}' not understood")))?;
            let resource = match entry.get("resource") {
                Some(Value::Object(map)) => Some(Resource::trusted(map.clone())),
                Some(_) => return Err(bad(i, "resource is not a resource")),
                None => None,
            };
            let addressed = match (method, &resource, &target) {
                (
                    Method::Post,
                    Some(r),
                    Target::Type {
                        resource_type,
                        query: None,
                    },
                ) => Some((r, resource_type)),
                (Method::Post, _, _) => {
                    return Err(bad(
                        i,
                        "POST needs a resource and request.url naming its type",
                    ));
                }
                (
                    Method::Put,
                    Some(r),
                    Target::Type {
                        resource_type,
                        query: Some(_),
                    }
                    | Target::Instance { resource_type, .. },
                ) => Some((r, resource_type)),
                (Method::Put, _, _) => {
                    return Err(bad(
                        i,
                        "PUT needs a resource and request.url T/id or T?criteria",
                    ));
                }
                (Method::Delete | Method::Get, Some(_), _) => {
                    return Err(bad(
                        i,
                        "GET, HEAD and DELETE entries must not have a resource",
                    ));
                }
                (
                    Method::Delete,
                    None,
                    Target::Version { .. } | Target::Type { query: None, .. },
                ) => {
                    return Err(bad(i, "DELETE needs request.url T/id or T?criteria"));
                }
                _ => None,
            };
            if let Some((r, resource_type)) = addressed
                && r.resource_type() != resource_type
            {
                return Err(bad(
                    i,
                    format!(
                        "request.url {url} does not match resource type {}",
                        r.resource_type()
                    ),
                ));
            }
            let if_match = match request.get("ifMatch").and_then(Value::as_str) {
                Some(v) => Some(
                    crate::reply::parse_etag(v)
                        .ok_or_else(|| bad(i, format!("ifMatch '{v}' is not a weak ETag")))?,
                ),
                None => None,
            };
            Ok(Entry {
                full_url: entry
                    .get("fullUrl")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                method,
                target,
                resource,
                if_none_exist: request
                    .get("ifNoneExist")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                if_match,
            })
        })
        .collect()
}

/// `POST {base}` with a batch or transaction Bundle.
pub async fn process(
    state: &AppState,
    caller: &Caller,
    prefer: Prefer,
    bundle: Resource,
) -> Result<Reply, ApiError> {
    if bundle.resource_type() != "Bundle" {
        return Err(ApiError::bad_request(format!(
            "Expected a Bundle, got {}",
            bundle.resource_type()
        )));
    }
    let kind = bundle
        .as_json()
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let entries = parse_entries(&state.config.base_url, bundle.as_json())?;
    let (response_type, responses) = match kind.as_str() {
        "transaction" => (
            "transaction-response",
            transaction(state, caller, prefer, entries).await?,
        ),
        "batch" => (
            "batch-response",
            batch(state, caller, prefer, entries).await,
        ),
        other => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "Operation bundle forbidden: Bundle.type {other:?} is neither batch nor transaction"
                ),
            ));
        }
    };
    let mut map = Map::new();
    map.insert("resourceType".into(), json!("Bundle"));
    map.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    map.insert("type".into(), json!(response_type));
    map.insert(
        "timestamp".into(),
        json!(format_instant(time::OffsetDateTime::now_utc())),
    );
    map.insert(
        "entry".into(),
        Value::Array(responses.into_iter().map(response_entry).collect()),
    );
    Ok(Reply::new(StatusCode::OK, Some(Resource::trusted(map))))
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
}

fn response_entry(reply: Reply) -> Value {
    let mut response = Map::new();
    response.insert("status".into(), json!(status_line(reply.status)));
    if let Some(location) = &reply.location {
        response.insert("location".into(), json!(location));
    }
    if let Some(version) = reply.version {
        response.insert("etag".into(), json!(etag(version)));
    }
    if let Some(t) = reply.last_modified {
        response.insert("lastModified".into(), json!(format_instant(t)));
    }
    let mut entry = Map::new();
    match reply.body.map(Payload::into_resource) {
        Some(body) if body.resource_type() == "OperationOutcome" => {
            response.insert("outcome".into(), Value::Object(body.into_json()));
        }
        Some(body) => {
            entry.insert("resource".into(), Value::Object(body.into_json()));
        }
        None => {}
    }
    entry.insert("response".into(), Value::Object(response));
    Value::Object(entry)
}

async fn batch(
    state: &AppState,
    caller: &Caller,
    prefer: Prefer,
    entries: Vec<Entry>,
) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(entries.len());
    for entry in entries {
        let result = async {
            let mut tx = state.store.begin().await?;
            let reply = run_entry(state, caller, &mut tx, prefer, entry, None).await?;
            state.commit(tx).await?;
            Ok::<_, ApiError>(reply)
        }
        .await;
        replies.push(result.unwrap_or_else(ApiError::into_reply));
    }
    replies
}

async fn transaction(
    state: &AppState,
    caller: &Caller,
    prefer: Prefer,
    mut entries: Vec<Entry>,
) -> Result<Vec<Reply>, ApiError> {
    let mut tx = state.store.begin().await?;
    // 1. Ids: new UUIDs for creates, matches for conditional creates and updates.
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut assigned: Vec<Option<String>> = vec![None; entries.len()];
    let mut existing: Vec<Option<Reply>> = vec![None; entries.len()];
    for (i, entry) in entries.iter().enumerate() {
        let (resource_type, id) = match (&entry.method, &entry.target) {
            (Method::Post, Target::Type { resource_type, .. }) => {
                check_type(resource_type)?;
                let mut id = uuid::Uuid::new_v4().to_string();
                if let Some(criteria) = &entry.if_none_exist {
                    let query = conditional_query(&state.config, resource_type, criteria)?;
                    match interactions::conditional_matches(&mut tx, &query).await? {
                        (0, _) => {}
                        (1, Some(stored)) => {
                            id = stored.id().to_owned();
                            existing[i] =
                                Some(interactions::already_exists(&state.config, &stored));
                        }
                        _ => {
                            return Err(ApiError::precondition_failed(format!(
                                "Bundle.entry[{i}]: more than one {resource_type} matches ifNoneExist '{criteria}'"
                            )));
                        }
                    }
                }
                assigned[i] = Some(id.clone());
                (resource_type.clone(), id)
            }
            (
                Method::Put,
                Target::Type {
                    resource_type,
                    query: Some(criteria),
                },
            ) => {
                check_type(resource_type)?;
                let query = conditional_query(&state.config, resource_type, criteria)?;
                let id = match interactions::conditional_matches(&mut tx, &query).await? {
                    (0, _) => uuid::Uuid::new_v4().to_string(),
                    (1, Some(stored)) => stored.id().to_owned(),
                    _ => {
                        return Err(ApiError::precondition_failed(format!(
                            "Bundle.entry[{i}]: more than one {resource_type} matches '{criteria}'"
                        )));
                    }
                };
                assigned[i] = Some(id.clone());
                (resource_type.clone(), id)
            }
            (Method::Put, Target::Instance { resource_type, id }) => {
                (resource_type.clone(), id.clone())
            }
            _ => continue,
        };
        if let Some(full_url) = &entry.full_url {
            ids.insert(full_url.clone(), format!("{resource_type}/{id}"));
        }
    }
    // 2. References: temporary (urn:uuid) and conditional ones.
    for (i, entry) in entries.iter_mut().enumerate() {
        if let Some(resource) = entry.resource.take() {
            let mut json = Value::Object(resource.into_json());
            let mut problems = Vec::new();
            let mut conditional = Vec::new();
            rewrite_references(&mut json, &ids, &mut problems, &mut conditional);
            if let Some(problem) = problems.first() {
                return Err(unresolvable(i, problem));
            }
            for reference in conditional {
                let resolved = resolve_conditional(state, &mut tx, &reference)
                    .await
                    .map_err(|m| unresolvable(i, &m))?;
                replace_reference(&mut json, &reference, &resolved);
            }
            entry.resource = match json {
                Value::Object(map) => Some(Resource::trusted(map)),
                _ => None,
            };
        }
    }
    // 3. Run in FHIR order, answer in Bundle order.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| (entries[i].method, i));
    let mut replies: Vec<Option<Reply>> = vec![None; entries.len()];
    for i in order {
        let reply = match existing[i].take() {
            Some(reply) => reply,
            None => run_entry(
                state,
                caller,
                &mut tx,
                prefer,
                entries[i].clone(),
                assigned[i].take(),
            )
            .await
            .map_err(|mut e| {
                if let Some(issue) = e.issues.first_mut() {
                    issue.diagnostics = format!("Bundle.entry[{i}]: {}", issue.diagnostics);
                }
                e
            })?,
        };
        replies[i] = Some(reply);
    }
    state.commit(tx).await?;
    Ok(replies.into_iter().flatten().collect())
}

fn unresolvable(index: usize, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not-found",
        format!("Bundle.entry[{index}]: {message}"),
    )
}

/// Replaces `reference` values that name a temporary id of this Bundle; collects conditional
/// references (`T?criteria`) and unresolvable temporary ones.
fn rewrite_references(
    value: &mut Value,
    ids: &HashMap<String, String>,
    problems: &mut Vec<String>,
    conditional: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("reference") {
                if let Some(resolved) = ids.get(reference.as_str()) {
                    *reference = resolved.clone();
                } else if reference.starts_with("urn:uuid:") {
                    problems.push(format!(
                        "reference {reference} names no entry of this Bundle"
                    ));
                } else if reference.contains('?') && !conditional.contains(reference) {
                    conditional.push(reference.clone());
                }
            }
            for v in map.values_mut() {
                rewrite_references(v, ids, problems, conditional);
            }
        }
        Value::Array(items) => {
            for v in items {
                rewrite_references(v, ids, problems, conditional);
            }
        }
        _ => {}
    }
}

fn replace_reference(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("reference")
                && reference == from
            {
                *reference = to.to_owned();
            }
            map.values_mut()
                .for_each(|v| replace_reference(v, from, to));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| replace_reference(v, from, to)),
        _ => {}
    }
}

/// Resolves `T?criteria` to `T/id` of its single match.
async fn resolve_conditional(
    state: &AppState,
    tx: &mut Transaction,
    reference: &str,
) -> Result<String, String> {
    let (resource_type, criteria) = reference
        .split_once('?')
        .ok_or_else(|| format!("conditional reference {reference} has no criteria"))?;
    check_type(resource_type)
        .map_err(|_| format!("conditional reference {reference}: unknown type"))?;
    let query = conditional_query(&state.config, resource_type, criteria).map_err(|e| {
        format!(
            "conditional reference {reference}: {}",
            e.issues
                .first()
                .map(|i| i.diagnostics.as_str())
                .unwrap_or("")
        )
    })?;
    let found = tx.search(&query, 2).await.map_err(|e| e.to_string())?;
    match (found.total, found.matches.first()) {
        (1, Some(stored)) => Ok(format!("{resource_type}/{}", stored.id())),
        (0, _) => Err(format!(
            "conditional reference {reference} matches no resource"
        )),
        _ => Err(format!(
            "conditional reference {reference} matches more than one resource"
        )),
    }
}

async fn run_entry(
    state: &AppState,
    caller: &Caller,
    tx: &mut Transaction,
    prefer: Prefer,
    entry: Entry,
    assigned_id: Option<String>,
) -> Result<Reply, ApiError> {
    let config = &state.config;
    match (entry.method, entry.target) {
        (Method::Post, Target::Type { resource_type, .. }) => {
            let resource = entry
                .resource
                .ok_or_else(|| ApiError::bad_request("resource missing"))?;
            interactions::create(
                caller,
                tx,
                prefer,
                &resource_type,
                resource,
                entry.if_none_exist.as_deref(),
                assigned_id,
            )
            .await
        }
        (Method::Put, Target::Instance { resource_type, id }) => {
            let resource = entry
                .resource
                .ok_or_else(|| ApiError::bad_request("resource missing"))?;
            interactions::update(
                caller,
                tx,
                prefer,
                &resource_type,
                &id,
                resource,
                entry.if_match,
            )
            .await
        }
        (
            Method::Put,
            Target::Type {
                resource_type,
                query,
            },
        ) => {
            let resource = entry
                .resource
                .ok_or_else(|| ApiError::bad_request("resource missing"))?;
            let criteria = query.unwrap_or_default();
            interactions::conditional_update(
                caller,
                tx,
                prefer,
                &resource_type,
                &criteria,
                resource,
                assigned_id,
            )
            .await
        }
        (Method::Delete, Target::Instance { resource_type, id }) => {
            interactions::delete(caller, tx, &resource_type, &id).await
        }
        (
            Method::Delete,
            Target::Type {
                resource_type,
                query,
            },
        ) => {
            interactions::conditional_delete(
                caller,
                config,
                tx,
                &resource_type,
                query.as_deref().unwrap_or_default(),
            )
            .await
        }
        (Method::Get, Target::Instance { resource_type, id }) => {
            check_type(&resource_type)?;
            check_id(&resource_type, &id)?;
            let stored = tx.read(&resource_type, &id).await?;
            interactions::check_read(caller, &state.store, stored.as_ref()).await?;
            interactions::read_reply(config, &resource_type, &id, stored.map(Arc::new))
        }
        (
            Method::Get,
            Target::Version {
                resource_type,
                id,
                version,
            },
        ) => {
            check_type(&resource_type)?;
            check_id(&resource_type, &id)?;
            let stored = tx.vread(&resource_type, &id, version).await?;
            interactions::check_read(caller, &state.store, stored.as_ref()).await?;
            interactions::read_reply(config, &resource_type, &id, stored.map(Arc::new))
        }
        (
            Method::Get,
            Target::Type {
                resource_type,
                query,
            },
        ) => {
            let pairs = query_pairs(query.as_deref());
            let (search, issues) =
                interactions::prepare_search(config, &resource_type, &pairs, prefer)?;
            let result =
                interactions::search(caller, &state.store, Some(tx), config, &search).await?;
            Ok(interactions::search_reply(
                config, &search, &issues, &pairs, result,
            ))
        }
        _ => Err(ApiError::bad_request("entry request not supported")),
    }
}
