//! Reading request bodies: size limit, format and strict parsing.

use axum::body::Body;
use bytes::Bytes;
use dsf_fhir::Resource;
use http::HeaderMap;

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::negotiate::request_format;

/// Reads a whole body, refusing one over the configured limit with 413.
pub async fn read_bytes(config: &ServerConfig, body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, config.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                format!(
                    "Request body over the limit of {} bytes",
                    config.max_body_bytes
                ),
            )
        })
}

/// Parses a FHIR resource from `bytes` in the format `Content-Type` names. Unreadable bodies are
/// refused with 403, as the reference does.
pub fn parse_resource(headers: &HeaderMap, bytes: &[u8]) -> Result<Resource, ApiError> {
    let format = request_format(headers)?;
    parse_in(format, bytes)
}

/// Parses a FHIR resource from `bytes` in `format`.
pub fn parse_in(format: dsf_fhir::Format, bytes: &[u8]) -> Result<Resource, ApiError> {
    dsf_fhir::parse(bytes, format).map_err(|e| match e {
        dsf_fhir::ParseError::Invalid { path, message } if !path.is_empty() => {
            let mut error =
                ApiError::unprocessable(format!("Unreadable resource: {path}: {message}"));
            if let Some(issue) = error.issues.first_mut() {
                issue.expression = Some(path);
            }
            error
        }
        other => ApiError::unprocessable(format!("Unreadable resource: {other}")),
    })
}
