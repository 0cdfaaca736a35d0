//! Operations: `/healthz`, `/readyz`, `/metrics`, `/.well-known/jwks.json`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jeton_api as api;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(jwks))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = api::Health)))]
async fn healthz() -> Json<api::Health> {
    Json(api::Health {
        status: "ok".to_string(),
        database: None,
    })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = api::Health),
        (status = 503, description = "Database unreachable", body = api::Health),
    ))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<api::Health>) {
    let store = state.service.store();
    // Bounded: a database that does not answer must not hold the probe past its own timeout.
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), store.ping()).await;
    let (status, text) = match ping {
        Ok(Ok(())) => (StatusCode::OK, "ok"),
        Ok(Err(_)) | Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    (
        status,
        Json(api::Health {
            status: text.to_string(),
            database: Some(store.backend().to_string()),
        }),
    )
}

/// Operations metrics in Prometheus' text exposition format: HTTP requests by route template,
/// credential verifications by kind and outcome, the verified-token cache's hits and misses,
/// and the database pool. Unauthenticated, like `/healthz`; it holds no secret, no path and
/// nothing else a client chose.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format (version 0.0.4)",
        body = String, content_type = "text/plain; version=0.0.4; charset=utf-8")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state.service),
    )
}

/// The public signing keys, for verifying Jeton tokens offline.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses((status = 200, description = "JSON Web Key Set", body = Object)))]
async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    // At this instant's time: a key past its time is out of the JWKS even before the store
    // records it.
    let now = state.service.now();
    Json(state.service.verifier().keys_at(now).jwks().clone())
}
