//! `POST /api/v1/auth/login` and `GET /api/v1/me`.

use axum::Json;
use axum::extract::State;
use jeton_api as api;
use jeton_core::Secret;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppJson, AppState, Authenticated, ClientAddr};
use crate::error::ApiResult;
use crate::service::rfc3339;
use crate::views;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(me))
}

/// Log in with a username and password; answers a session token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = api::LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = api::LoginResponse),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Invalid username or password", body = api::ErrorBody),
        (status = 429, description = "Too many failed logins", body = api::ErrorBody),
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
async fn me(State(state): State<AppState>, Authenticated(actor): Authenticated) -> ApiResult<Json<api::Me>> {
    let service = &state.service;
    let user = service.get_user(&actor, &actor.principal.id.to_string()).await?;
    let roles = service.role_names(user.id).await?;
    Ok(Json(api::Me {
        user: views::user(service.directory(), &user, roles),
        token: api::CurrentToken {
            id: actor.token_id.to_string(),
            kind: actor.kind.as_str().to_string(),
            scopes: actor.scopes.clone().unwrap_or_default(),
            expires_at: rfc3339(actor.expires_at),
        },
    }))
}
