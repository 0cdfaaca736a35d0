//! Token endpoints under `/api/v1/tokens`, including the seed's `revoke/self` and
//! `revoke/{id}` paths.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jeton_api as api;
use jeton_core::TokenKind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppJson, AppPath, AppQuery, AppState, Authenticated};
use crate::error::{ApiError, ApiResult};
use crate::service::{CreateTokenInput, ListTokensInput, Service, TokenPage};
use crate::views;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(get_token, update_token, delete_token))
        .routes(routes!(revoke_self))
        .routes(routes!(revoke_token))
}

pub(super) fn parse_kind(kind: Option<&str>) -> ApiResult<Option<TokenKind>> {
    kind.filter(|k| !k.is_empty())
        .map(|k| {
            k.parse::<TokenKind>()
                .map_err(|e| ApiError::BadRequest(format!("{e}: use session, api or oauth")))
        })
        .transpose()
}

pub(super) fn page(service: &Service, page: TokenPage) -> api::Page<api::Token> {
    let now = service.now();
    api::Page {
        items: page
            .items
            .iter()
            .map(|t| views::token(service.directory(), t, now))
            .collect(),
        next_cursor: page.next_cursor,
    }
}

/// Create an API token for yourself, or for another user (administrators, `for_user`). The value
/// is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    request_body = api::CreateTokenRequest,
    responses(
        (status = 201, description = "Created; the value is shown this once", body = api::CreatedToken),
        (status = 400, description = "Malformed input", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "for_user without administrator access", body = api::ErrorBody),
        (status = 404, description = "Unknown user", body = api::ErrorBody),
        (status = 409, description = "Name already used by an active token", body = api::ErrorBody),
        (status = 422, description = "Longer than the policy allows, or invalid values", body = api::ErrorBody),
    ))]
async fn create_token(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppJson(body): AppJson<api::CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<api::CreatedToken>)> {
    let service = &state.service;
    let (secret, record) = service
        .create_token(
            &actor,
            CreateTokenInput {
                name: body.name,
                comment: body.comment,
                expires_in: body.expires_in,
                scopes: body.scopes,
                for_user: body.for_user,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(api::CreatedToken {
            token: secret.expose().to_string(),
            info: views::token(service.directory(), &record, service.now()),
        }),
    ))
}

/// List your tokens (active only unless `all=true`), or another user's (administrators).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    params(api::TokenListQuery),
    responses(
        (status = 200, description = "A page of tokens", body = api::Page<api::Token>),
        (status = 400, description = "Bad query", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "for_user without administrator access", body = api::ErrorBody),
        (status = 404, description = "Unknown user", body = api::ErrorBody),
    ))]
async fn list_tokens(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppQuery(query): AppQuery<api::TokenListQuery>,
) -> ApiResult<Json<api::Page<api::Token>>> {
    let service = &state.service;
    let result = service
        .list_tokens(
            &actor,
            ListTokensInput {
                for_user: query.for_user,
                all: query.all.unwrap_or(false),
                kind: parse_kind(query.kind.as_deref())?,
                limit: query.limit,
                cursor: query.cursor,
            },
        )
        .await?;
    Ok(Json(page(service, result)))
}

/// One token's record (yours, or any in your tenant for administrators).
#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 200, description = "The token", body = api::Token),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Owner above your access level, or a token without administration rights", body = api::ErrorBody),
        (status = 404, description = "No such token", body = api::ErrorBody),
    ))]
async fn get_token(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<api::Token>> {
    let service = &state.service;
    let record = service.get_token(&actor, &id).await?;
    Ok(Json(views::token(
        service.directory(),
        &record,
        service.now(),
    )))
}

/// Change a token's comment; its value and expiry stay.
#[utoipa::path(patch, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    request_body = api::UpdateTokenRequest,
    responses(
        (status = 200, description = "Updated", body = api::Token),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Owner above your access level, or a token without administration rights", body = api::ErrorBody),
        (status = 404, description = "No such token", body = api::ErrorBody),
        (status = 422, description = "Comment too long", body = api::ErrorBody),
    ))]
async fn update_token(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<api::UpdateTokenRequest>,
) -> ApiResult<Json<api::Token>> {
    let service = &state.service;
    let record = service
        .set_token_comment(&actor, &id, &body.comment)
        .await?;
    Ok(Json(views::token(
        service.directory(),
        &record,
        service.now(),
    )))
}

/// Delete a token record (administrators). The token stays refused until it would have expired.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 200, description = "The deleted record", body = api::Token),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such token", body = api::ErrorBody),
    ))]
async fn delete_token(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<api::Token>> {
    let service = &state.service;
    let record = service.delete_token(&actor, &id).await?;
    Ok(Json(views::token(
        service.directory(),
        &record,
        service.now(),
    )))
}

/// Revoke the token this request presents (log out).
#[utoipa::path(post, path = "/api/v1/tokens/revoke/self", tag = "tokens", security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = api::Token),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 422, description = "An API key: rotate it, or disable its service user", body = api::ErrorBody),
    ))]
async fn revoke_self(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult<Json<api::Token>> {
    let service = &state.service;
    let now = service.now();
    Ok(Json(match service.revoke_current(&actor).await? {
        Some(record) => views::token(service.directory(), &record, now),
        None => views::unrecorded_token(service.directory(), &actor, now),
    }))
}

/// Revoke one token by id: your own, or any in your tenant for administrators.
#[utoipa::path(post, path = "/api/v1/tokens/revoke/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 200, description = "Revoked (or already revoked)", body = api::Token),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Owner above your access level", body = api::ErrorBody),
        (status = 404, description = "No such token", body = api::ErrorBody),
    ))]
async fn revoke_token(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<api::Token>> {
    let service = &state.service;
    let record = service.revoke_token(&actor, &id).await?;
    Ok(Json(views::token(
        service.directory(),
        &record,
        service.now(),
    )))
}
