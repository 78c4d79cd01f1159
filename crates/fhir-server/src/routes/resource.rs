//! Type- and instance-level interactions: `/T`, `/T/id`, `/T/id/_history/vid`, ...

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use dsf_fhir_store::search::date::{DateRange, parse_range};
use dsf_fhir_store::{HistoryQuery, HistoryResult};
use http::{HeaderMap, StatusCode};

use crate::authz::{Caller, Operation, read};
use crate::body::{parse_resource, read_bytes};
use crate::bundles::{self, Paging};
use crate::error::ApiError;
use crate::interactions::{self, check_id, check_type};
use crate::negotiate::{Negotiated, fhir_format, query_pairs};
use crate::prefer::Prefer;
use crate::reply::{Reply, parse_etag, parse_http_date};
use crate::routes::binary;
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Runs `work` in a write transaction that is committed only when it succeeds.
macro_rules! in_transaction {
    ($state:expr, |$tx:ident| $work:expr) => {{
        let mut $tx = $state.store.begin().await?;
        let reply = $work;
        $state.commit($tx).await?;
        reply
    }};
}

/// `POST /T`: create, conditional with `If-None-Exist`; raw content for Binary.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(resource_type): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply> {
    check_type(&resource_type)?;
    let bytes = read_bytes(&state.config, body).await?;
    let resource = if resource_type == "Binary" && !is_fhir_body(&headers) {
        binary::from_raw(&headers, &bytes)?
    } else {
        parse_resource(&headers, &bytes)?
    };
    let prefer = Prefer::from_headers(&headers);
    let if_none_exist = header_str(&headers, "if-none-exist");
    Ok(in_transaction!(state, |tx| {
        interactions::create(
            &caller,
            &mut tx,
            prefer,
            &resource_type,
            resource,
            if_none_exist,
            None,
        )
        .await?
    }))
}

fn is_fhir_body(headers: &HeaderMap) -> bool {
    header_str(headers, "content-type")
        .and_then(fhir_format)
        .is_some()
}

/// `GET /T/id`, with `If-None-Match` / `If-Modified-Since`; a Binary's raw content unless a FHIR
/// format is asked for.
pub async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(negotiated): Extension<Negotiated>,
    Path((resource_type, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    check_type(&resource_type)?;
    check_id(&resource_type, &id)?;
    let stored = state.store.read_shared(&resource_type, &id).await?;
    interactions::check_read(&caller, &state.store, stored.as_deref()).await?;
    respond_read(&state, &resource_type, &id, stored, negotiated, &headers)
}

/// `GET /T/id/_history/vid`
pub async fn vread(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(negotiated): Extension<Negotiated>,
    Path((resource_type, id, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    check_type(&resource_type)?;
    check_id(&resource_type, &id)?;
    let version: i64 = version.parse().map_err(|_| {
        ApiError::not_found(format!(
            "Version {version} of {resource_type}/{id} not found"
        ))
    })?;
    let stored = state
        .store
        .vread(&resource_type, &id, version)
        .await?
        .map(Arc::new);
    interactions::check_read(&caller, &state.store, stored.as_deref()).await?;
    respond_read(&state, &resource_type, &id, stored, negotiated, &headers)
}

fn respond_read(
    state: &AppState,
    resource_type: &str,
    id: &str,
    stored: Option<Arc<dsf_fhir_store::Stored>>,
    negotiated: Negotiated,
    headers: &HeaderMap,
) -> Result<Response> {
    if let Some(stored) = stored.as_ref().filter(|s| !s.deleted) {
        let unchanged = header_str(headers, "if-none-match")
            .and_then(parse_etag)
            .is_some_and(|v| v == stored.version)
            || header_str(headers, "if-modified-since")
                .and_then(parse_http_date)
                .is_some_and(|since| {
                    stored
                        .last_updated
                        .replace_millisecond(0)
                        .unwrap_or(stored.last_updated)
                        <= since
                });
        if unchanged {
            let reply = Reply {
                version: Some(stored.version),
                last_modified: Some(stored.last_updated),
                ..Reply::new(StatusCode::NOT_MODIFIED, None)
            };
            return Ok(reply.into_response());
        }
        if resource_type == "Binary" && !negotiated.explicit {
            return binary::raw_response(stored, headers);
        }
    }
    Ok(interactions::read_reply(&state.config, resource_type, id, stored)?.into_response())
}

/// `PUT /T/id`, with `If-Match`.
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((resource_type, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply> {
    check_type(&resource_type)?;
    let bytes = read_bytes(&state.config, body).await?;
    let resource = if resource_type == "Binary" && !is_fhir_body(&headers) {
        let mut resource = binary::from_raw(&headers, &bytes)?;
        resource
            .as_json_mut()
            .insert("id".into(), serde_json::Value::String(id.clone()));
        resource
    } else {
        parse_resource(&headers, &bytes)?
    };
    let if_match = match header_str(&headers, "if-match") {
        Some(value) => Some(parse_etag(value).ok_or_else(|| {
            ApiError::bad_request(format!(
                "If-Match '{value}' is not a weak ETag like W/\"1\""
            ))
        })?),
        None => None,
    };
    let prefer = Prefer::from_headers(&headers);
    Ok(in_transaction!(state, |tx| {
        interactions::update(
            &caller,
            &mut tx,
            prefer,
            &resource_type,
            &id,
            resource,
            if_match,
        )
        .await?
    }))
}

/// `PUT /T?criteria`
pub async fn conditional_update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply> {
    check_type(&resource_type)?;
    let bytes = read_bytes(&state.config, body).await?;
    let resource = parse_resource(&headers, &bytes)?;
    let prefer = Prefer::from_headers(&headers);
    let criteria = query.unwrap_or_default();
    Ok(in_transaction!(state, |tx| {
        interactions::conditional_update(
            &caller,
            &mut tx,
            prefer,
            &resource_type,
            &criteria,
            resource,
            None,
        )
        .await?
    }))
}

/// `DELETE /T/id`
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((resource_type, id)): Path<(String, String)>,
) -> Result<Reply> {
    Ok(in_transaction!(state, |tx| {
        interactions::delete(&caller, &mut tx, &resource_type, &id).await?
    }))
}

/// `DELETE /T?criteria`
pub async fn conditional_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Reply> {
    let criteria = query.unwrap_or_default();
    Ok(in_transaction!(state, |tx| {
        interactions::conditional_delete(&caller, &state.config, &mut tx, &resource_type, &criteria)
            .await?
    }))
}

/// `POST /T/id/$permanent-delete`
pub async fn permanent_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((resource_type, id)): Path<(String, String)>,
) -> Result<Reply> {
    Ok(in_transaction!(state, |tx| {
        interactions::permanent_delete(&caller, &mut tx, &resource_type, &id).await?
    }))
}

/// `GET /T?params`
pub async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Reply> {
    check_type(&resource_type)?;
    let pairs = query_pairs(query.as_deref());
    let prefer = Prefer::from_headers(&headers);
    let (search, issues) =
        interactions::prepare_search(&state.config, &resource_type, &pairs, prefer)?;
    let result = interactions::search(&caller, &state.store, None, &state.config, &search).await?;
    Ok(interactions::search_reply(
        &state.config,
        &search,
        &issues,
        &pairs,
        result,
    ))
}

fn date_param(name: &str, value: &str) -> Result<DateRange> {
    parse_range(value).ok_or_else(|| ApiError::bad_request(format!("{name}={value} is not a date")))
}

/// `GET /T/_history`
pub async fn type_history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Reply> {
    check_type(&resource_type)?;
    history(&state, &caller, Some(resource_type), None, query.as_deref()).await
}

/// `GET /T/id/_history`
pub async fn instance_history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((resource_type, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Reply> {
    check_type(&resource_type)?;
    check_id(&resource_type, &id)?;
    history(
        &state,
        &caller,
        Some(resource_type),
        Some(id),
        query.as_deref(),
    )
    .await
}

/// A history page at any level; `_since`, `_at`, `_count`, `_page`.
pub async fn history(
    state: &AppState,
    caller: &Caller,
    resource_type: Option<String>,
    id: Option<String>,
    query: Option<&str>,
) -> Result<Reply> {
    let pairs = query_pairs(query);
    let mut history = HistoryQuery {
        count: state.config.page_count,
        page: 1,
        ..HistoryQuery::default()
    };
    let mut accepted = Vec::new();
    for (name, value) in &pairs {
        let number = || {
            value
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::bad_request(format!("{name}={value} is not a number")))
        };
        match name.as_str() {
            "_since" => history.since = Some(date_param(name, value)?.lo),
            "_at" => {
                let range = date_param(name, value)?;
                history.at = Some((range.lo, range.hi));
            }
            "_count" => history.count = number()?,
            "_page" => history.page = number()?,
            _ => continue,
        }
        accepted.push((name.clone(), value.clone()));
    }
    if history
        .count
        .checked_mul(history.page)
        .is_none_or(|n| n > i64::from(i32::MAX))
    {
        history.count = state.config.page_count;
        history.page = 1;
    }
    let path = match (&resource_type, &id) {
        (Some(t), Some(id)) => format!("{}/{t}/{id}/_history", state.config.base_url),
        (Some(t), None) => format!("{}/{t}/_history", state.config.base_url),
        _ => format!("{}/_history", state.config.base_url),
    };
    caller.permits(Operation::History, resource_type.as_deref().unwrap_or(""))?;
    history.resource_type = resource_type;
    history.id = id;
    let result = if caller.identity.local {
        state.store.history(&history).await?
    } else {
        readable_history(state, caller, &history).await?
    };
    let paging = Paging {
        path,
        params: interactions::link_params(&accepted, &pairs),
        count: history.count,
        page: history.page,
        total: result.total,
    };
    Ok(Reply::new(
        StatusCode::OK,
        Some(bundles::history(&state.config, &paging, result)),
    ))
}

/// Most versions a remote caller's history looks through.
const REMOTE_HISTORY_LIMIT: i64 = 100_000;

/// A history page of what a remote caller may read: the versions in the window are filtered
/// first and paged after, so that counts and pages reveal nothing else (up to
/// [`REMOTE_HISTORY_LIMIT`] versions).
async fn readable_history(
    state: &AppState,
    caller: &Caller,
    query: &HistoryQuery,
) -> Result<HistoryResult> {
    let all = HistoryQuery {
        count: REMOTE_HISTORY_LIMIT,
        page: 1,
        ..query.clone()
    };
    let versions = state.store.history(&all).await?.entries;
    let readable = read::retain_readable(caller, &state.store, versions).await?;
    let skip = usize::try_from((query.page.max(1) - 1) * query.count).unwrap_or(usize::MAX);
    let take = usize::try_from(query.count).unwrap_or(0);
    Ok(HistoryResult {
        total: i64::try_from(readable.len()).unwrap_or(i64::MAX),
        entries: readable.into_iter().skip(skip).take(take).collect(),
    })
}

/// Answers requests for unknown paths with 404 and an OperationOutcome.
pub async fn not_found() -> ApiError {
    ApiError::not_found("No such path on this FHIR server")
}

/// Answers unsupported methods with 405 and an OperationOutcome.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "Method not supported on this path",
    )
}
