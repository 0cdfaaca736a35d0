//! Role endpoints under `/api/v1/roles`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jeton_api as api;
use jeton_store::RoleRecord;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppJson, AppPath, AppState, Authenticated, no_content};
use crate::error::ApiResult;
use crate::service::Service;
use crate::views;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, delete_role))
        .routes(routes!(set_role_policy, unset_role_policy))
}

async fn role_view(service: &Service, role: &RoleRecord) -> ApiResult<api::Role> {
    Ok(views::role(role, service.role_members(role.id).await?))
}

/// List roles (administrators: their tenant; root: all).
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", security(("bearer" = [])),
    responses(
        (status = 200, description = "The roles", body = api::Page<api::Role>),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
    ))]
async fn list_roles(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult<Json<api::Page<api::Role>>> {
    let service = &state.service;
    let mut items = Vec::new();
    for role in service.list_roles(&actor).await? {
        items.push(role_view(service, &role).await?);
    }
    Ok(Json(api::Page {
        items,
        next_cursor: None,
    }))
}

/// Create a role.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", security(("bearer" = [])),
    request_body = api::CreateRoleRequest,
    responses(
        (status = 201, description = "Created", body = api::Role),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "Unknown tenant", body = api::ErrorBody),
        (status = 409, description = "Name taken", body = api::ErrorBody),
        (status = 422, description = "Invalid name", body = api::ErrorBody),
    ))]
async fn create_role(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppJson(body): AppJson<api::CreateRoleRequest>,
) -> ApiResult<(StatusCode, Json<api::Role>)> {
    let service = &state.service;
    let role = service
        .create_role(&actor, &body.name, body.tenant.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(role_view(service, &role).await?)))
}

/// One role, by id or name.
#[utoipa::path(get, path = "/api/v1/roles/{role}", tag = "roles", security(("bearer" = [])),
    params(("role" = String, Path, description = "Role id or name")),
    responses(
        (status = 200, description = "The role", body = api::Role),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such role", body = api::ErrorBody),
    ))]
async fn get_role(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(role): AppPath<String>,
) -> ApiResult<Json<api::Role>> {
    let service = &state.service;
    let role = service.get_role(&actor, &role).await?;
    Ok(Json(role_view(service, &role).await?))
}

/// Delete a role.
#[utoipa::path(delete, path = "/api/v1/roles/{role}", tag = "roles", security(("bearer" = [])),
    params(("role" = String, Path, description = "Role id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such role", body = api::ErrorBody),
    ))]
async fn delete_role(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(role): AppPath<String>,
) -> ApiResult<Response> {
    state.service.delete_role(&actor, &role).await?;
    Ok(no_content())
}

/// Set the API-token max duration of a role's holders.
#[utoipa::path(put, path = "/api/v1/roles/{role}/token-policy", tag = "roles", security(("bearer" = [])),
    params(("role" = String, Path, description = "Role id or name")),
    request_body = api::SetPolicyRequest,
    responses(
        (status = 200, description = "The role", body = api::Role),
        (status = 400, description = "Bad duration", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such role", body = api::ErrorBody),
        (status = 422, description = "Above the system maximum", body = api::ErrorBody),
    ))]
async fn set_role_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(role): AppPath<String>,
    AppJson(body): AppJson<api::SetPolicyRequest>,
) -> ApiResult<Json<api::Role>> {
    let service = &state.service;
    let role = service
        .set_role_policy(&actor, &role, Some(&body.max_duration))
        .await?;
    Ok(Json(role_view(service, &role).await?))
}

/// Clear the API-token max duration of a role.
#[utoipa::path(delete, path = "/api/v1/roles/{role}/token-policy", tag = "roles", security(("bearer" = [])),
    params(("role" = String, Path, description = "Role id or name")),
    responses(
        (status = 200, description = "The role", body = api::Role),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such role", body = api::ErrorBody),
    ))]
async fn unset_role_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(role): AppPath<String>,
) -> ApiResult<Json<api::Role>> {
    let service = &state.service;
    let role = service.set_role_policy(&actor, &role, None).await?;
    Ok(Json(role_view(service, &role).await?))
}
