//! `$snapshot` on StructureDefinitions: a profile returned with its snapshot generated from its
//! differential over its base, by the validator over the stored conformance resources.
//!
//! `GET|POST /StructureDefinition/{id}/$snapshot` works on a stored profile; `GET
//! /StructureDefinition/$snapshot?url=<canonical>` and `POST /StructureDefinition/$snapshot` with a
//! Parameters body (`url`, or `resource` with a profile given inline) on a profile found by its
//! canonical URL or sent along. Only profiles the caller may read are found (an inline one needs
//! nothing but authentication). A profile whose snapshot cannot be made is a 422.

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use dsf_fhir::Resource;
use dsf_fhir_store::SearchQuery;
use dsf_fhir_validation::Conformance;
use dsf_fhir_validation::conformance::split_canonical;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::authz::Caller;
use crate::body::{parse_resource, read_bytes};
use crate::error::ApiError;
use crate::interactions::{self, check_id};
use crate::negotiate::query_pairs;
use crate::reply::Reply;
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

const STRUCTURE_DEFINITION: &str = "StructureDefinition";

/// Most stored versions of one canonical URL looked at.
const MAX_VERSIONS: i64 = 1_000;

/// `GET|POST /StructureDefinition/{id}/$snapshot`
pub async fn instance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Reply> {
    check_id(STRUCTURE_DEFINITION, &id)?;
    let stored = state.store.read_shared(STRUCTURE_DEFINITION, &id).await?;
    interactions::check_read(&caller, &state.store, stored.as_deref()).await?;
    let stored = stored.filter(|s| !s.deleted).ok_or_else(|| {
        ApiError::not_found(format!("Resource {STRUCTURE_DEFINITION}/{id} not found"))
    })?;
    let resource = interactions::output(std::sync::Arc::unwrap_or_clone(stored));
    with_snapshot(&state, resource.into_json()).await
}

/// `GET /StructureDefinition/$snapshot?url=...`, `POST /StructureDefinition/$snapshot` with
/// Parameters.
pub async fn canonical(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply> {
    let request = if method == Method::POST {
        let bytes = read_bytes(&state.config, body).await?;
        from_parameters(parse_resource(&headers, &bytes)?)?
    } else {
        query_pairs(query.as_deref())
            .into_iter()
            .find_map(|(name, value)| (name == "url").then_some(Request::Url(value)))
            .ok_or_else(|| ApiError::bad_request("Parameter url missing"))?
    };
    let profile = match request {
        Request::Url(canonical) => find(&state, &caller, &canonical).await?,
        Request::Resource(profile) => profile,
    };
    with_snapshot(&state, profile).await
}

/// What a `$snapshot` request names.
enum Request {
    /// A stored profile by canonical URL (`url` or `url|version`).
    Url(String),
    /// A profile given inline.
    Resource(Map<String, Value>),
}

/// The `url` or `resource` of Parameters; anything else is a 400.
fn from_parameters(parameters: Resource) -> Result<Request> {
    if parameters.resource_type() != "Parameters" {
        return Err(ApiError::bad_request(format!(
            "Parameters expected, not {}",
            parameters.resource_type()
        )));
    }
    let all = parameters
        .as_json()
        .get("parameter")
        .and_then(Value::as_array);
    for parameter in all.into_iter().flatten() {
        match parameter.get("name").and_then(Value::as_str) {
            Some("url") => {
                let url = ["valueUri", "valueString", "valueCanonical"]
                    .iter()
                    .find_map(|k| parameter.get(*k).and_then(Value::as_str))
                    .ok_or_else(|| ApiError::bad_request("Parameter url has no URL value"))?;
                return Ok(Request::Url(url.to_owned()));
            }
            Some("resource") => {
                return match parameter.get("resource") {
                    Some(Value::Object(profile))
                        if profile.get("resourceType") == Some(&json!(STRUCTURE_DEFINITION)) =>
                    {
                        Ok(Request::Resource(profile.clone()))
                    }
                    _ => Err(ApiError::bad_request(
                        "Parameter resource is not a StructureDefinition",
                    )),
                };
            }
            _ => {}
        }
    }
    Err(ApiError::bad_request("Parameter url or resource missing"))
}

/// The profile `canonical` names among those the caller may read: the version it names, or the
/// latest.
async fn find(state: &AppState, caller: &Caller, canonical: &str) -> Result<Map<String, Value>> {
    let (url, version) = split_canonical(canonical);
    let mut params = vec![
        ("url".to_owned(), url.to_owned()),
        ("_count".to_owned(), MAX_VERSIONS.to_string()),
    ];
    params.extend(version.map(|v| ("version".to_owned(), v.to_owned())));
    let (query, issues) = SearchQuery::parse(STRUCTURE_DEFINITION, &params, &state.config.base_url);
    if !issues.is_empty() {
        return Err(interactions::search_error(&issues));
    }
    let found = interactions::search(caller, &state.store, None, &state.config, &query).await?;
    let mut readable = Conformance::new();
    for stored in found.matches {
        readable.add(Value::Object(interactions::output(stored).into_json()));
    }
    match readable.structure_definition(canonical).map(|p| p.as_ref()) {
        Some(Value::Object(profile)) => Ok(profile.clone()),
        _ => Err(ApiError::not_found(format!(
            "{STRUCTURE_DEFINITION} {canonical} not found"
        ))),
    }
}

/// `profile` with `snapshot.element` generated; 422 when it cannot be.
async fn with_snapshot(state: &AppState, profile: Map<String, Value>) -> Result<Reply> {
    let validator = state.profiles.latest().await?;
    let mut profile = Value::Object(profile);
    let generated = validator.snapshot(&profile).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "processing",
            format!("No snapshot: {e}"),
        )
    })?;
    profile["snapshot"] = json!({ "element": generated.elements });
    let Value::Object(profile) = profile else {
        return Err(ApiError::bad_request("A StructureDefinition is an object"));
    };
    Ok(Reply::new(StatusCode::OK, Some(Resource::trusted(profile))))
}
