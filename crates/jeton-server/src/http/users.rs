//! User endpoints under `/api/v1/users`: users, a user's tokens, token policy and roles.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jeton_api as api;
use jeton_core::Secret;
use jeton_store::UserRecord;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tokens::{page, parse_kind};
use super::{AppJson, AppPath, AppQuery, AppState, Authenticated, no_content};
use crate::error::ApiResult;
use crate::service::{CreateUserInput, ListTokensInput, Service, UpdateUserInput};
use crate::verify::Actor;
use crate::views;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(user_tokens))
        .routes(routes!(revoke_user_tokens))
        .routes(routes!(get_policy, set_policy, unset_policy))
        .routes(routes!(grant_role, revoke_role))
}

async fn user_view(service: &Service, user: &UserRecord) -> ApiResult<api::User> {
    let roles = service.role_names(user.id).await?;
    Ok(views::user(service.directory(), user, roles))
}

pub(super) async fn policy_view(
    service: &Service,
    actor: &Actor,
    user: Option<&str>,
) -> ApiResult<api::EffectivePolicy> {
    let (user, user_limit, role_limits, limit) = service.effective_policy(actor, user).await?;
    let (source, source_name) = match &limit.source {
        jeton_core::policy::LimitSource::System => ("system", None),
        jeton_core::policy::LimitSource::User(name) => ("user", Some(name.clone())),
        jeton_core::policy::LimitSource::Role(name) => ("role", Some(name.clone())),
    };
    Ok(api::EffectivePolicy {
        username: user.username,
        user_max_duration: user_limit.map(|l| l.to_string()),
        role_max_durations: role_limits
            .into_iter()
            .map(|(role, l)| api::RolePolicy {
                role,
                max_duration: l.to_string(),
            })
            .collect(),
        effective_max_duration: limit.max.to_string(),
        source: source.to_string(),
        source_name,
        default_duration: service
            .config()
            .policy
            .default_lifetime
            .min(limit.max)
            .to_string(),
    })
}

/// List users (administrators: their tenant; root: all).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    params(api::PageQuery),
    responses(
        (status = 200, description = "A page of users", body = api::Page<api::User>),
        (status = 400, description = "Bad query", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
    ))]
async fn list_users(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppQuery(query): AppQuery<api::PageQuery>,
) -> ApiResult<Json<api::Page<api::User>>> {
    let service = &state.service;
    let (users, next_cursor) = service
        .list_users(&actor, query.limit, query.cursor.as_deref())
        .await?;
    let mut items = Vec::with_capacity(users.len());
    for user in &users {
        items.push(user_view(service, user).await?);
    }
    Ok(Json(api::Page { items, next_cursor }))
}

/// Create a user (administrators; never above your own access level).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    request_body = api::CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = api::User),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not allowed", body = api::ErrorBody),
        (status = 404, description = "Unknown tenant or role", body = api::ErrorBody),
        (status = 409, description = "Username taken", body = api::ErrorBody),
        (status = 422, description = "Invalid values", body = api::ErrorBody),
    ))]
async fn create_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppJson(body): AppJson<api::CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<api::User>)> {
    let service = &state.service;
    let user = service
        .create_user(
            &actor,
            CreateUserInput {
                username: body.username,
                password: body.password.map(Secret::new),
                access_level: body.access_level,
                tenant: body.tenant,
                roles: body.roles,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user_view(service, &user).await?)))
}

/// One user, by id or username.
#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username")),
    responses(
        (status = 200, description = "The user", body = api::User),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "A token without administration rights", body = api::ErrorBody),
        (status = 404, description = "No such user", body = api::ErrorBody),
    ))]
async fn get_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(user): AppPath<String>,
) -> ApiResult<Json<api::User>> {
    let service = &state.service;
    let user = service.get_user(&actor, &user).await?;
    Ok(Json(user_view(service, &user).await?))
}

/// Change a user's password, active flag or access level. Deactivating a user makes all of its
/// tokens fail at once. Changing one's own password needs `current_password`; an administrator
/// resets only the passwords of users below its own level. A new password revokes the user's
/// sessions, and with `revoke_tokens` its API tokens.
#[utoipa::path(patch, path = "/api/v1/users/{user}", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username")),
    request_body = api::UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = api::User),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not allowed", body = api::ErrorBody),
        (status = 404, description = "No such user", body = api::ErrorBody),
        (status = 422, description = "Invalid values", body = api::ErrorBody),
    ))]
async fn update_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(user): AppPath<String>,
    AppJson(body): AppJson<api::UpdateUserRequest>,
) -> ApiResult<Json<api::User>> {
    let service = &state.service;
    let user = service
        .update_user(
            &actor,
            &user,
            UpdateUserInput {
                password: body.password.map(Secret::new),
                active: body.active,
                access_level: body.access_level,
                current_password: body.current_password.map(Secret::new),
                revoke_tokens: body.revoke_tokens.unwrap_or(false),
            },
        )
        .await?;
    Ok(Json(user_view(service, &user).await?))
}

/// Delete a user and its tokens.
#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not allowed", body = api::ErrorBody),
        (status = 404, description = "No such user", body = api::ErrorBody),
        (status = 422, description = "Cannot delete yourself", body = api::ErrorBody),
    ))]
async fn delete_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(user): AppPath<String>,
) -> ApiResult<Response> {
    state.service.delete_user(&actor, &user).await?;
    Ok(no_content())
}

/// A user's tokens (the user itself, or administrators).
#[utoipa::path(get, path = "/api/v1/users/{user}/tokens", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username"), api::TokenListQuery),
    responses(
        (status = 200, description = "A page of tokens", body = api::Page<api::Token>),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such user", body = api::ErrorBody),
    ))]
async fn user_tokens(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(user): AppPath<String>,
    AppQuery(query): AppQuery<api::TokenListQuery>,
) -> ApiResult<Json<api::Page<api::Token>>> {
    let service = &state.service;
    let result = service
        .list_tokens(
            &actor,
            ListTokensInput {
                for_user: Some(user),
                all: query.all.unwrap_or(false),
                kind: parse_kind(query.kind.as_deref())?,
                limit: query.limit,
                cursor: query.cursor,
            },
        )
        .await?;
    Ok(Json(page(service, result)))
}

/// Revoke every token of a user (the user itself, or administrators).
#[utoipa::path(post, path = "/api/v1/users/{user}/tokens/revoke", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username")),
    responses(
        (status = 200, description = "How many were revoked", body = api::RevokedCount),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such user", body = api::ErrorBody),
    ))]
async fn revoke_user_tokens(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(user): AppPath<String>,
) -> ApiResult<Json<api::RevokedCount>> {
    let revoked = state.service.revoke_all_tokens(&actor, Some(&user)).await?;
    Ok(Json(api::RevokedCount { revoked }))
}

/// The API-token policy that applies to a user: its own limit, its roles' limits, and the
/// effective one (the longest, capped by the system maximum).
#[utoipa::path(get, path = "/api/v1/users/{user}/token-policy", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username")),
    responses(
        (status = 200, description = "The policy", body = api::EffectivePolicy),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such user", body = api::ErrorBody),
    ))]
async fn get_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(user): AppPath<String>,
) -> ApiResult<Json<api::EffectivePolicy>> {
    Ok(Json(
        policy_view(&state.service, &actor, Some(&user)).await?,
    ))
}

/// Set a user's API-token max duration.
#[utoipa::path(put, path = "/api/v1/users/{user}/token-policy", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username")),
    request_body = api::SetPolicyRequest,
    responses(
        (status = 200, description = "The policy now", body = api::EffectivePolicy),
        (status = 400, description = "Bad duration", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such user", body = api::ErrorBody),
        (status = 422, description = "Above the system maximum", body = api::ErrorBody),
    ))]
async fn set_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(user): AppPath<String>,
    AppJson(body): AppJson<api::SetPolicyRequest>,
) -> ApiResult<Json<api::EffectivePolicy>> {
    let user = state
        .service
        .set_user_policy(&actor, &user, Some(&body.max_duration))
        .await?;
    Ok(Json(
        policy_view(&state.service, &actor, Some(&user.id.to_string())).await?,
    ))
}

/// Clear a user's API-token max duration.
#[utoipa::path(delete, path = "/api/v1/users/{user}/token-policy", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username")),
    responses(
        (status = 200, description = "The policy now", body = api::EffectivePolicy),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such user", body = api::ErrorBody),
    ))]
async fn unset_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(user): AppPath<String>,
) -> ApiResult<Json<api::EffectivePolicy>> {
    let user = state.service.set_user_policy(&actor, &user, None).await?;
    Ok(Json(
        policy_view(&state.service, &actor, Some(&user.id.to_string())).await?,
    ))
}

/// Grant a role to a user.
#[utoipa::path(put, path = "/api/v1/users/{user}/roles/{role}", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username"), ("role" = String, Path, description = "Role id or name")),
    responses(
        (status = 200, description = "The user", body = api::User),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such user or role", body = api::ErrorBody),
    ))]
async fn grant_role(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath((user, role)): AppPath<(String, String)>,
) -> ApiResult<Json<api::User>> {
    let service = &state.service;
    let user = service
        .set_role_membership(&actor, &user, &role, true)
        .await?;
    Ok(Json(user_view(service, &user).await?))
}

/// Take a role away from a user.
#[utoipa::path(delete, path = "/api/v1/users/{user}/roles/{role}", tag = "users", security(("bearer" = [])),
    params(("user" = String, Path, description = "User id or username"), ("role" = String, Path, description = "Role id or name")),
    responses(
        (status = 200, description = "The user", body = api::User),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such user, role or membership", body = api::ErrorBody),
    ))]
async fn revoke_role(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath((user, role)): AppPath<(String, String)>,
) -> ApiResult<Json<api::User>> {
    let service = &state.service;
    let user = service
        .set_role_membership(&actor, &user, &role, false)
        .await?;
    Ok(Json(user_view(service, &user).await?))
}
