//! Errors as HTTP responses: a status code and an OperationOutcome that says what is wrong.

use axum::response::{IntoResponse, Response};
use dsf_fhir_store::StoreError;
use http::StatusCode;

use crate::outcome::{Issue, Severity, operation_outcome};
use crate::reply::Reply;

/// A failed interaction.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub issues: Vec<Issue>,
    /// For 410 Gone: the version of the deletion, sent as ETag.
    pub version: Option<i64>,
}

impl ApiError {
    /// An error with one issue.
    pub fn new(status: StatusCode, code: &'static str, diagnostics: impl Into<String>) -> ApiError {
        ApiError {
            status,
            issues: vec![Issue::new(Severity::Error, code, diagnostics)],
            version: None,
        }
    }

    /// 400 Bad Request, issue type `invalid`.
    pub fn bad_request(diagnostics: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", diagnostics)
    }

    /// 403 Forbidden, issue type `invalid`: how the reference answers unreadable bodies.
    pub fn unprocessable(diagnostics: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "structure", diagnostics)
    }

    /// 404 Not Found.
    pub fn not_found(diagnostics: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", diagnostics)
    }

    /// 415 Unsupported Media Type.
    pub fn unsupported_media_type(diagnostics: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            diagnostics,
        )
    }

    /// 412 Precondition Failed.
    pub fn precondition_failed(diagnostics: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PRECONDITION_FAILED, "conflict", diagnostics)
    }

    /// The error as a reply (for bundle entries and rendering).
    pub fn into_reply(self) -> Reply {
        Reply {
            status: self.status,
            body: Some(operation_outcome(&self.issues).into()),
            location: None,
            version: self.version,
            last_modified: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { resource_type, id } => {
                ApiError::not_found(format!("Resource {resource_type}/{id} not found"))
            }
            StoreError::Gone {
                resource_type,
                id,
                version,
            } => ApiError {
                version: Some(version),
                ..ApiError::new(
                    StatusCode::GONE,
                    "deleted",
                    format!("Resource {resource_type}/{id} is deleted"),
                )
            },
            StoreError::VersionConflict { expected, current } => {
                ApiError::precondition_failed(format!(
                    "Resource version {expected} expected (If-Match), current version is {current}"
                ))
            }
            StoreError::NotDeleted { resource_type, id } => ApiError::bad_request(format!(
                "Resource {resource_type}/{id} is not deleted; delete it before deleting it permanently"
            )),
            StoreError::Conflict => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "A concurrent request changed the same resource; try again",
            ),
            StoreError::Invalid(message) => ApiError::bad_request(message),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "The server could not complete the request; see the server log",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_reply().into_response()
    }
}
