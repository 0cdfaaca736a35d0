//! `POST /api/v1/auth/login` and `GET /api/v1/me`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use jeton_api as api;
use jeton_core::Secret;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppJson, AppState, Authenticated, ClientAddr};
use crate::error::{ApiError, ApiResult};
use crate::service::rfc3339;
use crate::views;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(verify))
}

/// Log in with a username and password; answers a session token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = api::LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = api::LoginResponse),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Invalid username or password", body = api::ErrorBody),
        (status = 429, description = "Too many failed logins", body = api::ErrorBody,
            headers(("Retry-After" = String, description = "Seconds until a new attempt can succeed"))),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    AppJson(body): AppJson<api::LoginRequest>,
) -> ApiResult<Json<api::LoginResponse>> {
    let service = &state.service;
    let password = Secret::new(body.password);
    let (token, record, user) = service.login(&body.username, &password, addr).await?;
    let roles = service.role_names(user.id).await?;
    Ok(Json(api::LoginResponse {
        token: token.expose().to_string(),
        token_type: "Bearer".to_string(),
        token_id: record.id.to_string(),
        expires_at: rfc3339(record.expires_at),
        user: views::user(service.directory(), &user, roles),
    }))
}

/// Who the presented credential belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = api::Me),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
    ))]
async fn me(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult<Json<api::Me>> {
    let service = &state.service;
    let user = match actor.principal.service_user_id() {
        // A service user sees itself through the same shape, without roles.
        Some(id) => {
            let record = service
                .store()
                .get_service_user(id)
                .await?
                .ok_or_else(crate::error::ApiError::unauthenticated)?;
            views::service_user_as_user(service.directory(), &record)
        }
        None => {
            let user = service
                .get_user(&actor, &actor.principal.id.to_string())
                .await?;
            let roles = service.role_names(user.id).await?;
            views::user(service.directory(), &user, roles)
        }
    };
    Ok(Json(api::Me {
        user,
        token: api::CurrentToken {
            id: actor.token_id.to_string(),
            kind: actor.kind.as_str().to_string(),
            scopes: actor.scopes.clone().unwrap_or_default(),
            expires_at: actor.expires_at.map(rfc3339),
        },
    }))
}

/// Forward authentication: 200 with the caller's identity in `X-Jeton-*` headers and the body
/// when the credential verifies, 401 otherwise — for nginx `auth_request`, Traefik ForwardAuth
/// and the like. Served from memory: no database round trip. A request that carries an identity
/// header of its own (`X-Jeton-*` in any spelling, such as `X_Jeton_User`) is refused with 403:
/// the proxy would pass it to the upstream beside Jeton's, and Jeton cannot remove it there.
#[utoipa::path(get, path = "/api/v1/auth/verify", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Valid credential", body = api::VerifiedIdentity,
            headers(
                ("X-Jeton-User" = String, description = "Username"),
                ("X-Jeton-User-Id" = String, description = "User id"),
                ("X-Jeton-Tenant" = String, description = "Tenant name"),
                ("X-Jeton-Scopes" = String, description = "Space-separated scopes (empty when not narrowed)"),
                ("X-Jeton-Token-Id" = String, description = "Token id"),
            )),
        (status = 401, description = "Missing or invalid credential", body = api::ErrorBody),
        (status = 403, description = "The request carried an identity header (X-Jeton-*) of its own", body = api::ErrorBody),
    ))]
async fn verify(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    incoming: HeaderMap,
) -> ApiResult<(HeaderMap, Json<api::VerifiedIdentity>)> {
    if let Some(name) = incoming.keys().find(|name| {
        super::gateway::is_identity_header(&super::gateway::fold_header_name(name.as_str()))
    }) {
        return Err(ApiError::Forbidden(format!(
            "the request carries an identity header ({name}): X-Jeton-* headers are set by \
             Jeton only; the proxy in front must remove them from client requests"
        )));
    }
    let tenant = state
        .service
        .directory()
        .tenant_name(actor.principal.tenant_id)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let scopes = actor.scopes.clone().unwrap_or_default();
    let identity = api::VerifiedIdentity {
        user: actor.principal.username.clone(),
        user_id: actor.principal.id.to_string(),
        tenant,
        tenant_id: actor.principal.tenant_id.to_string(),
        access_level: actor.principal.access.as_str().to_string(),
        scopes,
        token_id: actor.token_id.to_string(),
        kind: actor.kind.as_str().to_string(),
        principal_type: actor.principal.kind.as_str().to_string(),
        expires_at: actor.expires_at.map(rfc3339),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-jeton-user", identity.user.as_str()),
        ("x-jeton-user-id", identity.user_id.as_str()),
        ("x-jeton-tenant", identity.tenant.as_str()),
        ("x-jeton-token-id", identity.token_id.as_str()),
        ("x-jeton-scopes", &identity.scopes.join(" ")),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    Ok((headers, Json(identity)))
}
