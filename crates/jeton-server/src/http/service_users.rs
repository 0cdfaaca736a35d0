//! Service-user endpoints under `/api/v1/service-users`: create (the key is answered once),
//! list, show, update, disable / enable, delete, rotate the key.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jeton_api as api;
use jeton_store::ServiceUserRecord;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    AppJson, AppPath, AppQuery, AppState, Authenticated, bytes_rejection, json_object, no_content,
};
use crate::error::{ApiError, ApiResult};
use crate::service::{CreateServiceUserInput, Service, ServiceUserWithKey, UpdateServiceUserInput};
use crate::views;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_service_users, create_service_user))
        .routes(routes!(
            get_service_user,
            update_service_user,
            delete_service_user
        ))
        .routes(routes!(disable_service_user))
        .routes(routes!(enable_service_user))
        .routes(routes!(rotate_key))
}

async fn view(service: &Service, user: &ServiceUserRecord) -> ApiResult<api::ServiceUser> {
    let keys = service.service_user_keys(user.id).await?;
    Ok(views::service_user(
        service.directory(),
        user,
        &keys,
        service.now(),
    ))
}

/// An answer that carries a key: never cached.
fn with_key(service: &Service, status: StatusCode, created: ServiceUserWithKey) -> Response {
    let body = api::ServiceUserWithKey {
        service_user: views::service_user(
            service.directory(),
            &created.service_user,
            &created.keys,
            service.now(),
        ),
        api_key: created.key.expose().to_string(),
    };
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Create a service user with its API key (tenant administrators; never above your own access
/// level). The key is in this answer only.
#[utoipa::path(post, path = "/api/v1/service-users", tag = "service users", security(("bearer" = [])),
    request_body = api::CreateServiceUserRequest,
    responses(
        (status = 201, description = "Created; the key is shown once", body = api::ServiceUserWithKey),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator, or a level above your own", body = api::ErrorBody),
        (status = 404, description = "Unknown tenant", body = api::ErrorBody),
        (status = 409, description = "Name taken in the tenant", body = api::ErrorBody),
        (status = 422, description = "Invalid values", body = api::ErrorBody),
    ))]
async fn create_service_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppJson(body): AppJson<api::CreateServiceUserRequest>,
) -> ApiResult<Response> {
    let service = &state.service;
    let created = service
        .create_service_user(
            &actor,
            CreateServiceUserInput {
                name: body.name,
                description: body.description,
                access_level: body.access_level,
                expires_in: body.expires_in,
                expires_at: body.expires_at,
                scopes: body.scopes,
                tenant: body.tenant,
            },
        )
        .await?;
    Ok(with_key(service, StatusCode::CREATED, created))
}

/// List service users (administrators: their tenant; root: all, or `tenant`).
#[utoipa::path(get, path = "/api/v1/service-users", tag = "service users", security(("bearer" = [])),
    params(api::ServiceUserListQuery),
    responses(
        (status = 200, description = "A page of service users, by name", body = api::Page<api::ServiceUser>),
        (status = 400, description = "Bad query", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "Unknown tenant", body = api::ErrorBody),
    ))]
async fn list_service_users(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppQuery(query): AppQuery<api::ServiceUserListQuery>,
) -> ApiResult<Json<api::Page<api::ServiceUser>>> {
    let service = &state.service;
    let (users, next_cursor) = service
        .list_service_users(
            &actor,
            query.tenant.as_deref(),
            query.limit,
            query.cursor.as_deref(),
        )
        .await?;
    let mut items = Vec::with_capacity(users.len());
    for user in &users {
        items.push(view(service, user).await?);
    }
    Ok(Json(api::Page { items, next_cursor }))
}

/// Show a service user (by id, or by name in your tenant).
#[utoipa::path(get, path = "/api/v1/service-users/{service_user}", tag = "service users", security(("bearer" = [])),
    params(("service_user" = String, Path, description = "Service user id or name")),
    responses(
        (status = 200, description = "The service user", body = api::ServiceUser),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "No such service user", body = api::ErrorBody),
    ))]
async fn get_service_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(reference): AppPath<String>,
) -> ApiResult<Json<api::ServiceUser>> {
    let service = &state.service;
    let user = service.get_service_user(&actor, &reference).await?;
    Ok(Json(view(service, &user).await?))
}

/// Change a service user's name, description, access level, active flag, expiry or scopes.
#[utoipa::path(patch, path = "/api/v1/service-users/{service_user}", tag = "service users", security(("bearer" = [])),
    params(("service_user" = String, Path, description = "Service user id or name")),
    request_body = api::UpdateServiceUserRequest,
    responses(
        (status = 200, description = "Changed", body = api::ServiceUser),
        (status = 400, description = "Malformed body", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not allowed", body = api::ErrorBody),
        (status = 404, description = "No such service user", body = api::ErrorBody),
        (status = 409, description = "Name taken in the tenant", body = api::ErrorBody),
        (status = 422, description = "Invalid values", body = api::ErrorBody),
    ))]
async fn update_service_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(reference): AppPath<String>,
    AppJson(body): AppJson<api::UpdateServiceUserRequest>,
) -> ApiResult<Json<api::ServiceUser>> {
    let service = &state.service;
    let user = service
        .update_service_user(
            &actor,
            &reference,
            UpdateServiceUserInput {
                name: body.name,
                description: body.description,
                access_level: body.access_level,
                active: body.active,
                expires_in: body.expires_in,
                scopes: body.scopes,
            },
        )
        .await?;
    Ok(Json(view(service, &user).await?))
}

/// Delete a service user: its key and every token issued from it stop at once.
#[utoipa::path(delete, path = "/api/v1/service-users/{service_user}", tag = "service users", security(("bearer" = [])),
    params(("service_user" = String, Path, description = "Service user id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not allowed", body = api::ErrorBody),
        (status = 404, description = "No such service user", body = api::ErrorBody),
    ))]
async fn delete_service_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(reference): AppPath<String>,
) -> ApiResult<Response> {
    state
        .service
        .delete_service_user(&actor, &reference)
        .await?;
    Ok(no_content())
}

/// Disable a service user: its key and every token issued from it stop at once.
#[utoipa::path(post, path = "/api/v1/service-users/{service_user}/disable", tag = "service users", security(("bearer" = [])),
    params(("service_user" = String, Path, description = "Service user id or name")),
    responses(
        (status = 200, description = "Disabled", body = api::ServiceUser),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not allowed", body = api::ErrorBody),
        (status = 404, description = "No such service user", body = api::ErrorBody),
    ))]
async fn disable_service_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(reference): AppPath<String>,
) -> ApiResult<Json<api::ServiceUser>> {
    let service = &state.service;
    let user = service
        .set_service_user_active(&actor, &reference, false)
        .await?;
    Ok(Json(view(service, &user).await?))
}

/// Enable a disabled service user again (its current key works again).
#[utoipa::path(post, path = "/api/v1/service-users/{service_user}/enable", tag = "service users", security(("bearer" = [])),
    params(("service_user" = String, Path, description = "Service user id or name")),
    responses(
        (status = 200, description = "Enabled", body = api::ServiceUser),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not allowed", body = api::ErrorBody),
        (status = 404, description = "No such service user", body = api::ErrorBody),
    ))]
async fn enable_service_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(reference): AppPath<String>,
) -> ApiResult<Json<api::ServiceUser>> {
    let service = &state.service;
    let user = service
        .set_service_user_active(&actor, &reference, true)
        .await?;
    Ok(Json(view(service, &user).await?))
}

/// Replace the API key. The new key is in this answer only; the old one stops at once, or with
/// `grace` when the grace period ends or the new key is first used, whichever comes first.
#[utoipa::path(post, path = "/api/v1/service-users/{service_user}/rotate-key", tag = "service users", security(("bearer" = [])),
    params(("service_user" = String, Path, description = "Service user id or name")),
    request_body(content = Option<api::RotateKeyRequest>, description = "Optional grace period"),
    responses(
        (status = 200, description = "Rotated; the new key is shown once", body = api::ServiceUserWithKey),
        (status = 400, description = "Malformed body or grace period", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not allowed", body = api::ErrorBody),
        (status = 404, description = "No such service user", body = api::ErrorBody),
        (status = 422, description = "Grace period too long", body = api::ErrorBody),
    ))]
async fn rotate_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppPath(reference): AppPath<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    let service = &state.service;
    let body = body.map_err(bytes_rejection)?;
    // The body is optional: an empty one, or `null`, means no grace period.
    let grace = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
        {
            serde_json::Value::Null => None,
            value => json_object::<api::RotateKeyRequest>(value)?.grace,
        }
    };
    let rotated = service
        .rotate_service_user_key(&actor, &reference, grace.as_deref())
        .await?;
    Ok(with_key(service, StatusCode::OK, rotated))
}
