//! `GET /api/v1/audit`.

use axum::Json;
use axum::extract::State;
use jeton_api as api;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppQuery, AppState, Authenticated};
use crate::error::ApiResult;
use crate::views;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Audit events of your tenant (root: all), newest first, filtered and paged.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])),
    params(api::AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = api::Page<api::AuditEvent>),
        (status = 400, description = "Bad query", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "Not an administrator", body = api::ErrorBody),
        (status = 404, description = "Unknown user", body = api::ErrorBody),
    ))]
async fn list_audit(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    AppQuery(query): AppQuery<api::AuditQuery>,
) -> ApiResult<Json<api::Page<api::AuditEvent>>> {
    let (events, next_cursor) = state
        .service
        .list_audit(
            &actor,
            query.user.as_deref(),
            query.action.as_deref(),
            query.since.as_deref(),
            query.until.as_deref(),
            query.limit,
            query.cursor.as_deref(),
        )
        .await?;
    Ok(Json(api::Page {
        items: events.iter().map(views::audit).collect(),
        next_cursor,
    }))
}
