//! System-level interactions: batch/transaction, system history, CapabilityStatement.

use axum::Extension;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::authz::Caller;
use crate::body::{parse_resource, read_bytes};
use crate::capability::capability_statement;
use crate::error::ApiError;
use crate::prefer::Prefer;
use crate::reply::Reply;
use crate::routes::resource::history;
use crate::state::AppState;
use crate::transaction;

/// `GET {base}`: 405, as batches and transactions are POSTed.
pub async fn root_get() -> Response {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "Use POST to execute batch and transaction Bundles",
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST {base}`: a batch or transaction Bundle.
pub async fn bundle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, ApiError> {
    let bytes = read_bytes(&state.config, body).await?;
    let bundle = parse_resource(&headers, &bytes)?;
    transaction::process(&state, &caller, Prefer::from_headers(&headers), bundle).await
}

/// `GET {base}/_history`
pub async fn system_history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Reply, ApiError> {
    history(&state, &caller, None, None, query.as_deref()).await
}

/// `GET {base}/metadata`
pub async fn metadata(State(state): State<AppState>) -> Reply {
    Reply::new(StatusCode::OK, Some(capability_statement(&state.config)))
}
