//! The REST API's routes.

pub mod binary;
pub mod resource;
pub mod snapshot;
pub mod system;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::identity::authenticate;
use crate::negotiate::render;
use crate::state::AppState;
use crate::subscriptions::websocket;

/// The FHIR server's router, mounted at the base URL's path.
pub fn router(state: AppState) -> Router {
    let base_path = state.config.base_path.clone();
    let api = Router::new()
        .route("/", get(system::root_get).post(system::bundle))
        .route("/metadata", get(system::metadata))
        .route("/_history", get(system::system_history))
        .route("/ws", get(websocket::upgrade))
        .route(
            "/{type}",
            get(resource::search)
                .post(resource::create)
                .put(resource::conditional_update)
                .delete(resource::conditional_delete),
        )
        .route(
            "/StructureDefinition/$snapshot",
            get(snapshot::canonical).post(snapshot::canonical),
        )
        .route(
            "/StructureDefinition/{id}/$snapshot",
            get(snapshot::instance).post(snapshot::instance),
        )
        .route("/{type}/_history", get(resource::type_history))
        .route(
            "/{type}/{id}",
            get(resource::read)
                .put(resource::update)
                .delete(resource::delete),
        )
        .route("/{type}/{id}/_history", get(resource::instance_history))
        .route("/{type}/{id}/_history/{version}", get(resource::vread))
        .route(
            "/{type}/{id}/$permanent-delete",
            post(resource::permanent_delete),
        )
        .route(
            "/{type}/{id}/$permanent-delete/",
            post(resource::permanent_delete),
        )
        .fallback(resource::not_found)
        .method_not_allowed_fallback(resource::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    let router = if base_path.is_empty() {
        api
    } else {
        Router::new()
            .nest(&base_path, api)
            .fallback(resource::not_found)
    };
    router.layer(from_fn(render)).layer(
        TraceLayer::new_for_http()
            .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
}
