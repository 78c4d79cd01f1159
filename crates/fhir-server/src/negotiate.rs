//! Content negotiation: which FHIR format a request is written in and which one the client wants
//! back, and the middleware that writes every FHIR body in the negotiated format.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dsf_fhir::Format;
use http::{HeaderMap, HeaderValue, header};

use crate::error::ApiError;
use crate::reply::FhirBody;

/// The response format a request negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// JSON or XML (XML when nothing is asked for, as the reference does).
    pub format: Format,
    /// `_pretty=true`
    pub pretty: bool,
    /// Whether the client named a FHIR format (`_format` or `Accept`), rather than taking the
    /// default; a Binary is then returned as a resource, not as its raw content.
    pub explicit: bool,
}

impl Default for Negotiated {
    fn default() -> Self {
        Negotiated {
            format: Format::Xml,
            pretty: false,
            explicit: false,
        }
    }
}

/// The FHIR format of a media type, if it is one.
pub fn fhir_format(media_type: &str) -> Option<Format> {
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    match essence.to_ascii_lowercase().as_str() {
        "application/fhir+json" | "application/json+fhir" | "application/json" | "json" => {
            Some(Format::Json)
        }
        "application/fhir+xml"
        | "application/xml+fhir"
        | "application/xml"
        | "text/xml"
        | "xml" => Some(Format::Xml),
        _ => None,
    }
}

/// The decoded query parameters of a request, in order.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Works out the response format from `_format`/`_pretty` and `Accept`.
pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Result<Negotiated, ApiError> {
    let mut negotiated = Negotiated::default();
    for (name, value) in query_pairs(query) {
        match name.as_str() {
            "_format" => {
                negotiated.format = fhir_format(&value).ok_or_else(|| {
                    ApiError::unsupported_media_type(format!("_format={value} is not supported"))
                })?;
                negotiated.explicit = true;
            }
            "_pretty" => negotiated.pretty = value == "true",
            _ => {}
        }
    }
    if negotiated.explicit {
        return Ok(negotiated);
    }
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>();
    if accept.is_empty() {
        return Ok(negotiated);
    }
    for range in &accept {
        if let Some(format) = fhir_format(range) {
            negotiated.format = format;
            negotiated.explicit = true;
            return Ok(negotiated);
        }
    }
    // Wildcards, browsers and non-FHIR types (a Binary's content) keep the default; a Binary
    // read decides for itself from the raw Accept header.
    Ok(negotiated)
}

/// The FHIR format of a request body, from `Content-Type`.
pub fn request_format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unsupported_media_type("Content-Type header missing"))?;
    fhir_format(content_type).ok_or_else(|| {
        ApiError::unsupported_media_type(format!("Content-Type {content_type} is not supported"))
    })
}

fn media_type(format: Format) -> &'static str {
    match format {
        Format::Json => "application/fhir+json;charset=UTF-8",
        Format::Xml => "application/fhir+xml;charset=UTF-8",
    }
}

/// Middleware: negotiates the format, hands it to the handlers as a request extension, writes
/// [`FhirBody`] responses in it and adds the headers every response carries.
pub async fn render(mut request: Request, next: Next) -> Response {
    let negotiated = negotiate(request.uri().query(), request.headers());
    let mut response = match negotiated {
        Ok(negotiated) => {
            request.extensions_mut().insert(negotiated);
            let response = next.run(request).await;
            write_body(response, negotiated)
        }
        Err(error) => write_body(error.into_response(), Negotiated::default()),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("cache-control", "private, no-cache, no-transform"),
        ("vary", "Accept"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-embedder-policy", "require-corp"),
        ("cross-origin-resource-policy", "same-site"),
        (
            "permissions-policy",
            "geolocation=(), camera=(), microphone=()",
        ),
    ] {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

fn write_body(mut response: Response, negotiated: Negotiated) -> Response {
    let Some(FhirBody(resource)) = response.extensions_mut().remove::<FhirBody>() else {
        return response;
    };
    let bytes = dsf_fhir::serialize(resource.resource(), negotiated.format, negotiated.pretty);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media_type(negotiated.format)),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    *response.body_mut() = Body::from(bytes);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn xml_is_the_default() {
        let n = negotiate(None, &HeaderMap::new()).expect("ok");
        assert_eq!(n.format, Format::Xml);
        assert!(!n.explicit);
        assert_eq!(
            negotiate(None, &accept("*/*")).expect("ok").format,
            Format::Xml
        );
    }

    #[test]
    fn format_parameter_beats_accept() {
        let n = negotiate(
            Some("_format=json&_pretty=true"),
            &accept("application/fhir+xml"),
        )
        .expect("ok");
        assert_eq!(n.format, Format::Json);
        assert!(n.pretty);
        let n = negotiate(None, &accept("text/html, application/fhir+json;q=0.9")).expect("ok");
        assert_eq!(n.format, Format::Json);
        assert!(negotiate(Some("_format=yaml"), &HeaderMap::new()).is_err());
    }
}
