//! Tenant endpoints under `/api/v1/tenants` (root only).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jeton_api as api;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppJson, AppPath, AppState, Authenticated, no_content};
use crate::error::ApiResult;
use crate::views;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(delete_tenant))
}

/// List tenants.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenants", body = api::Page<api::Tenant>),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not root", body = api::ErrorBody),
    ))]
async fn list_tenants(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult<Json<api::Page<api::Tenant>>> {
    let tenants = state.service.list_tenants(&actor).await?;
    Ok(Json(api::Page {
        items: tenants.iter().map(views::tenant).collect(),
        next_cursor: None,
    }))
}

/// Create a tenant.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    request_body = api::CreateTenantRequest,
    responses(
        (status = 201, description = "Created", body = api::Tenant),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not root", body = api::ErrorBody),
        (status = 409, description = "Name taken", body = api::ErrorBody),
        (status = 422, description = "Invalid name", body = api::ErrorBody),
    ))]
async fn create_tenant(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppJson(body): AppJson<api::CreateTenantRequest>,
) -> ApiResult<(StatusCode, Json<api::Tenant>)> {
    let tenant = state.service.create_tenant(&actor, &body.name).await?;
    Ok((StatusCode::CREATED, Json(views::tenant(&tenant))))
}

/// Delete a tenant with all its users, roles and tokens.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Tenant id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not root", body = api::ErrorBody),
        (status = 404, description = "No such tenant", body = api::ErrorBody),
        (status = 422, description = "Your own tenant", body = api::ErrorBody),
    ))]
async fn delete_tenant(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(tenant): AppPath<String>,
) -> ApiResult<Response> {
    state.service.delete_tenant(&actor, &tenant).await?;
    Ok(no_content())
}
