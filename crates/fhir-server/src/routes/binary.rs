//! Binary specifics: raw content in (any `Content-Type`, `X-Security-Context`), raw content out
//! with `Range` support.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use dsf_fhir::Resource;
use dsf_fhir_store::Stored;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::reply::{etag, http_date, parse_etag, parse_http_date};

/// A Binary resource from a raw upload: the body is the content, `Content-Type` its type and
/// `X-Security-Context: T/id` (exactly one) the resource whose readers may read it.
pub fn from_raw(headers: &HeaderMap, bytes: &[u8]) -> Result<Resource, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("Content-Type header missing"))?;
    let contexts: Vec<_> = headers.get_all("x-security-context").iter().collect();
    let context = match contexts.as_slice() {
        [one] => one
            .to_str()
            .map_err(|_| ApiError::bad_request("X-Security-Context is not text"))?,
        [] => return Err(ApiError::bad_request("X-Security-Context header missing")),
        _ => return Err(ApiError::bad_request("X-Security-Context header repeated")),
    };
    if dsf_fhir_store::search::split_reference(context).is_none() {
        return Err(ApiError::bad_request(format!(
            "X-Security-Context '{context}' is not a reference like Type/id"
        )));
    }
    let mut map = Map::new();
    map.insert("resourceType".into(), json!("Binary"));
    map.insert("contentType".into(), json!(content_type));
    map.insert("securityContext".into(), json!({"reference": context}));
    map.insert("data".into(), Value::String(BASE64.encode(bytes)));
    Ok(Resource::trusted(map))
}

fn accepts(headers: &HeaderMap, content_type: &str) -> bool {
    let essence = |s: &str| {
        s.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    let wanted = essence(content_type);
    let ranges: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(essence)
        .collect();
    ranges.is_empty()
        || ranges.iter().any(|r| {
            r == "*/*"
                || *r == wanted
                || r.strip_suffix("/*")
                    .is_some_and(|major| wanted.split('/').next() == Some(major))
        })
}

/// A byte range request: `bytes=a-b`, `bytes=a-` or `bytes=-n`.
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: answer with the whole content
    }
    let (start, end) = spec.split_once('-')?;
    let parsed = match (start.trim(), end.trim()) {
        ("", n) => n
            .parse::<u64>()
            .ok()
            .map(|n| (len.saturating_sub(n), len.saturating_sub(1))),
        (a, "") => a.parse::<u64>().ok().map(|a| (a, len.saturating_sub(1))),
        (a, b) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) if a <= b => Some((a, b.min(len.saturating_sub(1)))),
            _ => None,
        },
    }?;
    Some(if len == 0 || parsed.0 >= len || parsed.0 > parsed.1 {
        Err(())
    } else {
        Ok(parsed)
    })
}

/// The stored content of a Binary with its headers; honours `Range` and `If-Range`.
pub fn raw_response(stored: &Stored, headers: &HeaderMap) -> Result<Response, ApiError> {
    let json = stored.resource.as_json();
    let content_type = json
        .get("contentType")
        .and_then(Value::as_str)
        .unwrap_or("application/octet-stream");
    if !accepts(headers, content_type) {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            format!("Binary content is {content_type}, which the Accept header does not allow"),
        ));
    }
    let data = stored.data.clone().unwrap_or_default();
    let len = data.len() as u64;
    let if_range_matches = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| {
            parse_etag(v) == Some(stored.version)
                || parse_http_date(v).is_some_and(|t| {
                    stored
                        .last_updated
                        .replace_millisecond(0)
                        .unwrap_or(stored.last_updated)
                        <= t
                })
        });
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_matches)
        .and_then(|v| parse_range(v, len));
    let (status, body, content_range) = match range {
        None => (StatusCode::OK, data, None),
        Some(Ok((a, b))) => {
            let slice = data
                .get(a as usize..=b as usize)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            (
                StatusCode::PARTIAL_CONTENT,
                slice,
                Some(format!("bytes {a}-{b}/{len}")),
            )
        }
        Some(Err(())) => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "processing",
                format!("Range not satisfiable; the content has {len} bytes"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, content_type.to_owned());
    set(header::ETAG, etag(stored.version));
    set(header::LAST_MODIFIED, http_date(stored.last_updated));
    set(header::ACCEPT_RANGES, "bytes".to_owned());
    set(
        header::CONTENT_DISPOSITION,
        format!(
            "attachment; filename=Binary_{}{}",
            stored.id(),
            extension(content_type)
        ),
    );
    if let Some(reference) = json
        .get("securityContext")
        .and_then(|c| c.get("reference"))
        .and_then(Value::as_str)
    {
        set(
            header::HeaderName::from_static("x-security-context"),
            reference.to_owned(),
        );
    }
    if let Some(range) = content_range {
        set(header::CONTENT_RANGE, range);
    }
    Ok(response)
}

fn extension(content_type: &str) -> &'static str {
    match content_type.split(';').next().unwrap_or_default().trim() {
        "text/plain" => ".txt",
        "text/html" => ".html",
        "text/csv" => ".csv",
        "application/json" => ".json",
        "application/xml" | "text/xml" => ".xml",
        "application/pdf" => ".pdf",
        "application/zip" => ".zip",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "application/octet-stream" => ".bin",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Some(Ok((0, 4))));
        assert_eq!(parse_range("bytes=5-", 10), Some(Ok((5, 9))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 9))));
        assert_eq!(parse_range("bytes=8-100", 10), Some(Ok((8, 9))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=4-2", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
    }
}
