//! Signing keys (`/api/v1/signing-keys`) and the change feed (`/api/v1/changes`), root only.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jeton_api as api;
use jeton_store::SigningKeyRecord;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppPath, AppQuery, AppState, Authenticated};
use crate::error::{ApiError, ApiResult};
use crate::service::{Service, rfc3339};

/// Longest long-poll wait of the change feed.
const MAX_WAIT_SECS: u64 = 60;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_signing_keys))
        .routes(routes!(rotate_signing_key))
        .routes(routes!(revoke_signing_key))
        .routes(routes!(changes))
}

fn view(service: &Service, key: &SigningKeyRecord) -> api::SigningKey {
    let now = service.now();
    let until = service.published_until(key);
    let status = match until {
        _ if key.revoked_at.is_some() => "revoked",
        _ if key.expired_at.is_some() => "expired",
        None => "signing",
        Some(until) if until > now => "verifying",
        Some(_) => "expired",
    };
    api::SigningKey {
        kid: key.kid.clone(),
        algorithm: key.algorithm.clone(),
        status: status.to_string(),
        created_at: rfc3339(key.created_at),
        retired_at: key.retired_at.map(rfc3339),
        published_until: until.map(rfc3339),
        revoked_at: key.revoked_at.map(rfc3339),
        expired_at: key.expired_at.map(rfc3339),
    }
}

/// List signing keys, newest first.
#[utoipa::path(get, path = "/api/v1/signing-keys", tag = "operations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys", body = Vec<api::SigningKey>),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not root", body = api::ErrorBody),
    ))]
async fn list_signing_keys(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult<Json<Vec<api::SigningKey>>> {
    let keys = state.service.list_signing_keys(&actor).await?;
    Ok(Json(keys.iter().map(|k| view(&state.service, k)).collect()))
}

/// Rotate the signing key: a new key signs from now on, on every instance; the old one stays in
/// the JWKS, and keeps verifying, until the last token it may have signed has expired.
#[utoipa::path(post, path = "/api/v1/signing-keys/rotate", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new signing key", body = api::SigningKey),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not root", body = api::ErrorBody),
    ))]
async fn rotate_signing_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult<(StatusCode, Json<api::SigningKey>)> {
    let key = state.service.rotate_signing_key(&actor).await?;
    Ok((StatusCode::CREATED, Json(view(&state.service, &key))))
}

/// Revoke a retired signing key (a leaked one): it leaves the JWKS, and every token it signed is
/// refused on every instance within a second. The current signer is refused (409): rotate first.
#[utoipa::path(post, path = "/api/v1/signing-keys/{kid}/revoke", tag = "operations",
    security(("bearer" = [])),
    params(("kid" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The revoked key", body = api::SigningKey),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not root", body = api::ErrorBody),
        (status = 404, description = "No such key", body = api::ErrorBody),
        (status = 409, description = "The key is the current signer", body = api::ErrorBody),
    ))]
async fn revoke_signing_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(kid): AppPath<String>,
) -> ApiResult<Json<api::SigningKey>> {
    let key = state.service.revoke_signing_key(&actor, &kid).await?;
    Ok(Json(view(&state.service, &key)))
}

/// Changes that verification caches must follow: revocations, principals, API keys, tenants,
/// signing keys. For resource servers that verify Jeton credentials in-process (`jeton-verify`).
/// Root users and root service users (the `admin` scope is not needed).
#[utoipa::path(get, path = "/api/v1/changes", tag = "operations", security(("bearer" = [])),
    params(api::ChangeQuery),
    responses(
        (status = 200, description = "Changes after the position asked", body = api::ChangePage),
        (status = 400, description = "Bad query", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not root", body = api::ErrorBody),
    ))]
async fn changes(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppQuery(query): AppQuery<api::ChangeQuery>,
) -> ApiResult<Json<api::ChangePage>> {
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::BadRequest(format!(
            "wait must be at most {MAX_WAIT_SECS} seconds"
        )));
    }
    let page = state
        .service
        .changes(&actor, query.after, Duration::from_secs(wait))
        .await?;
    Ok(Json(api::ChangePage {
        changes: page
            .changes
            .iter()
            .map(|c| api::Change {
                seq: c.seq,
                entity: c.entity.as_str().to_string(),
                id: c.entity_id.clone(),
            })
            .collect(),
        next: page.next,
        reset: page.reset,
    }))
}
