//! The outcome of one interaction, independent of whether it answers an HTTP request or a
//! Bundle entry.

use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use dsf_fhir::Resource;
use dsf_fhir_store::Stored;
use http::{HeaderValue, StatusCode, header};
use time::OffsetDateTime;
use time::macros::format_description;

/// What a reply carries: a resource built for it, or a stored version shared with the store's
/// read cache (written out without copying it).
#[derive(Debug, Clone)]
pub enum Payload {
    /// A resource of its own.
    Resource(Resource),
    /// A stored version, returned as stored.
    Stored(Arc<Stored>),
}

impl Payload {
    /// The resource to write.
    pub fn resource(&self) -> &Resource {
        match self {
            Payload::Resource(r) => r,
            Payload::Stored(s) => &s.resource,
        }
    }

    /// The resource, owned.
    pub fn into_resource(self) -> Resource {
        match self {
            Payload::Resource(r) => r,
            Payload::Stored(s) => Arc::unwrap_or_clone(s).resource,
        }
    }
}

impl From<Resource> for Payload {
    fn from(r: Resource) -> Payload {
        Payload::Resource(r)
    }
}

/// A FHIR resource to be written in the format the client negotiated; the rendering middleware
/// (see [`crate::negotiate`]) turns it into the response body.
#[derive(Debug, Clone)]
pub struct FhirBody(pub Payload);

/// The result of an interaction.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// The resource or OperationOutcome to return, if any.
    pub body: Option<Payload>,
    /// `Location`: `{base}/T/{id}/_history/{vid}`.
    pub location: Option<String>,
    /// The version for the weak `ETag`.
    pub version: Option<i64>,
    /// `Last-Modified`.
    pub last_modified: Option<OffsetDateTime>,
}

impl Reply {
    /// A reply with a status and body only.
    pub fn new(status: StatusCode, body: Option<Resource>) -> Reply {
        Reply {
            status,
            body: body.map(Payload::Resource),
            location: None,
            version: None,
            last_modified: None,
        }
    }
}

/// Formats a time as an HTTP date (`Mon, 30 Nov 2026 10:00:00 GMT`).
pub fn http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

/// Parses an HTTP date as sent in `If-Modified-Since`.
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(
        s.trim(),
        format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ),
    )
    .ok()
    .map(time::PrimitiveDateTime::assume_utc)
}

/// The weak ETag of `version`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The version in a weak ETag (`W/"3"`), as `If-Match` and `If-None-Match` carry it.
pub fn parse_etag(value: &str) -> Option<i64> {
    value
        .trim()
        .strip_prefix("W/\"")?
        .strip_suffix('"')?
        .parse()
        .ok()
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        let headers = response.headers_mut();
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        if let Some(v) = self
            .version
            .and_then(|v| HeaderValue::from_str(&etag(v)).ok())
        {
            headers.insert(header::ETAG, v);
        }
        if let Some(t) = self
            .last_modified
            .and_then(|t| HeaderValue::from_str(&http_date(t)).ok())
        {
            headers.insert(header::LAST_MODIFIED, t);
        }
        if let Some(body) = self.body {
            response.extensions_mut().insert(FhirBody(body));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_etags_round_trip() {
        let t = time::macros::datetime!(2026-11-30 10:00:00 UTC);
        assert_eq!(http_date(t), "Mon, 30 Nov 2026 10:00:00 GMT");
        assert_eq!(parse_http_date(&http_date(t)), Some(t));
        assert_eq!(parse_etag(&etag(12)), Some(12));
        assert_eq!(parse_etag("\"12\""), None, "only weak ETags are accepted");
        assert_eq!(parse_etag("W/\"x\""), None);
    }
}
