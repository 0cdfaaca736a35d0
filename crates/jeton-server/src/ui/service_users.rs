//! Identity > Service Users (tenant administrators): create one (its key shown once in a
//! dialog), rotate its key with an optional grace period (the new key shown once, and whether the
//! old one stopped), disable / enable, delete with a confirmation.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use jeton_core::AccessLevel;
use jeton_store::ServiceUserRecord;
use serde::Deserialize;

use super::format::Stamp;
use super::session::{AdminSession, NoFields, Posted, UiSession, query};
use super::tokens::{ConfirmForm, flag};
use super::{ConfirmPage, Layout, error_page, render, render_secret, see_other};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::service::{CreateServiceUserInput, Service, ServiceUserWithKey};
use crate::views;

const PAGE: &str = "/ui/identity/service-users";
const PAGE_SIZE: u32 = 100;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(show).post(create))
        .route("/ui/identity/service-users/{id}/rotate", post(rotate))
        .route("/ui/identity/service-users/{id}/disable", post(disable))
        .route("/ui/identity/service-users/{id}/enable", post(enable))
        .route("/ui/identity/service-users/{id}/delete", post(delete))
}

struct Row {
    id: String,
    name: String,
    description: String,
    tenant: String,
    role: String,
    status: String,
    badge: &'static str,
    active: bool,
    last_used: Option<Stamp>,
    expires: Option<Stamp>,
    key_hint: String,
    previous_key_until: Option<String>,
    error: Option<String>,
}

struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct CreateForm {
    name: String,
    description: String,
    role: String,
    expires: String,
    expires_custom: String,
}

/// A key shown once.
struct NewKey {
    heading: String,
    id: String,
    value: String,
    /// What became of the previous key, after a rotation.
    old_key: Option<String>,
}

#[derive(Template)]
#[template(path = "service_users.html")]
struct ServiceUsersPage {
    layout: Layout,
    rows: Vec<Row>,
    show_tenant: bool,
    roles: Vec<Choice>,
    expiries: Vec<Choice>,
    form: CreateForm,
    form_error: Option<String>,
    key: Option<NewKey>,
    next_url: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    cursor: Option<String>,
    notice: Option<String>,
}

fn row(service: &Service, record: &ServiceUserRecord, view: jeton_api::ServiceUser) -> Row {
    let now = service.now();
    let badge = match view.status.as_str() {
        "active" => "ok",
        "expired" => "bad",
        _ => "muted",
    };
    Row {
        id: view.id,
        name: view.name,
        description: view.description,
        tenant: view.tenant,
        role: view.role,
        status: view.status,
        badge,
        active: record.active,
        last_used: record.last_used_at.map(|at| Stamp::new(at, now)),
        expires: record.expires_at.map(|at| Stamp::new(at, now)),
        key_hint: view.key_hint,
        previous_key_until: view.previous_key_valid_until,
        error: None,
    }
}

async fn page(
    service: &Service,
    session: &UiSession,
    query: &ListQuery,
    form: CreateForm,
) -> ApiResult<ServiceUsersPage> {
    let actor = &session.actor;
    let (records, next_cursor) = service
        .list_service_users(actor, None, Some(PAGE_SIZE), query.cursor.as_deref())
        .await?;
    let mut rows = Vec::with_capacity(records.len());
    for record in &records {
        let keys = service.service_user_keys(record.id).await?;
        let view = views::service_user(service.directory(), record, &keys, service.now());
        rows.push(row(service, record, view));
    }
    let is_root = actor.principal.access == AccessLevel::Root;
    let mut roles = vec![("TenantUser", "TenantUser"), ("TenantAdmin", "TenantAdmin")];
    if is_root {
        roles.push(("Root", "Root"));
    }
    let selected_role = if form.role.is_empty() {
        "TenantUser"
    } else {
        form.role.as_str()
    };
    let roles = roles
        .into_iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: value == selected_role,
        })
        .collect();
    let expiries = [
        ("", "Never"),
        ("30d", "30 days"),
        ("90d", "90 days"),
        ("1y", "1 year"),
        ("custom", "Custom…"),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value,
        label,
        selected: form.expires == value,
    })
    .collect();
    Ok(ServiceUsersPage {
        layout: session
            .layout("Service Users", "service-users")
            .with_notice(query.notice.as_deref()),
        rows,
        show_tenant: is_root,
        roles,
        expiries,
        form,
        form_error: None,
        key: None,
        next_url: next_cursor.map(|c| {
            format!(
                "{PAGE}?{}",
                serde_urlencoded::to_string([("cursor", c)]).unwrap_or_default()
            )
        }),
    })
}

fn layout_of(session: &UiSession) -> Layout {
    session.layout("Service Users", "service-users")
}

/// `GET /ui/identity/service-users`.
async fn show(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let query: ListQuery = query(raw.as_deref());
    match page(&state.service, &session, &query, CreateForm::default()).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(err) => error_page(layout_of(&session), &err),
    }
}

/// The page with a key shown once.
async fn with_key(
    service: &Service,
    session: &UiSession,
    heading: String,
    created: ServiceUserWithKey,
    old_key: Option<String>,
) -> Response {
    match page(
        service,
        session,
        &ListQuery::default(),
        CreateForm::default(),
    )
    .await
    {
        Ok(mut page) => {
            page.key = Some(NewKey {
                heading,
                id: created.service_user.id.to_string(),
                value: created.key.expose().to_string(),
                old_key,
            });
            render_secret(&page)
        }
        Err(err) => error_page(layout_of(session), &err),
    }
}

/// `POST /ui/identity/service-users`: creates it and shows its key once.
async fn create(
    State(state): State<AppState>,
    Posted { session, form }: Posted<CreateForm>,
) -> Response {
    let service = &state.service;
    let expires_in = match (form.expires_custom.trim(), form.expires.trim()) {
        ("", "custom") => Err(ApiError::BadRequest(
            "enter a custom duration such as '45d', or choose one of the presets".to_string(),
        )),
        ("", "") => Ok(None),
        ("", preset) => Ok(Some(preset.to_string())),
        (custom, _) => Ok(Some(custom.to_string())),
    };
    let result = match expires_in {
        Ok(expires_in) => {
            service
                .create_service_user(
                    &session.actor,
                    CreateServiceUserInput {
                        name: form.name.clone(),
                        description: Some(form.description.trim().to_string()),
                        access_level: Some(form.role.clone()),
                        expires_in,
                        ..Default::default()
                    },
                )
                .await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(created) => {
            let heading = format!("Service user “{}” created", created.service_user.name);
            with_key(service, &session, heading, created, None).await
        }
        Err(err) => match page(service, &session, &ListQuery::default(), form).await {
            Ok(mut page) => {
                page.form_error = Some(err.to_string());
                render(err.status_code(), &page)
            }
            Err(_) => error_page(layout_of(&session), &err),
        },
    }
}

/// Shows `err` on the row of service user `id`, with the error's status.
async fn row_error(service: &Service, session: &UiSession, id: &str, err: ApiError) -> Response {
    match page(
        service,
        session,
        &ListQuery::default(),
        CreateForm::default(),
    )
    .await
    {
        Ok(mut page) => {
            if let Some(row) = page.rows.iter_mut().find(|r| r.id == id) {
                row.error = Some(err.to_string());
                render(err.status_code(), &page)
            } else {
                error_page(layout_of(session), &err)
            }
        }
        Err(_) => error_page(layout_of(session), &err),
    }
}

#[derive(Deserialize)]
struct RotateForm {
    #[serde(default)]
    grace: String,
}

/// `POST /ui/identity/service-users/{id}/rotate`: a new key, shown once, and what became of the
/// old one.
async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted<RotateForm>,
) -> Response {
    let service = &state.service;
    let grace = form.grace.trim();
    match service
        .rotate_service_user_key(&session.actor, &id, Some(grace).filter(|g| !g.is_empty()))
        .await
    {
        Ok(rotated) => {
            let view = views::service_user(
                service.directory(),
                &rotated.service_user,
                &rotated.keys,
                service.now(),
            );
            let old_key = Some(match view.previous_key_valid_until {
                Some(until) => format!(
                    "The old key keeps working until {} or until the new key is first used, whichever comes first.",
                    pretty_rfc3339(&until)
                ),
                None => "The old key stopped working now.".to_string(),
            });
            let heading = format!("New key for “{}”", rotated.service_user.name);
            with_key(service, &session, heading, rotated, old_key).await
        }
        Err(err) => row_error(service, &session, &id, err).await,
    }
}

fn pretty_rfc3339(text: &str) -> String {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| super::format::datetime(t.unix_timestamp()))
        .unwrap_or_else(|_| text.to_string())
}

async fn set_active(state: &AppState, session: &UiSession, id: &str, active: bool) -> Response {
    let service = &state.service;
    match service
        .set_service_user_active(&session.actor, id, active)
        .await
    {
        Ok(_) => see_other(&format!(
            "{PAGE}?notice={}",
            if active { "enabled" } else { "disabled" }
        )),
        Err(err) => row_error(service, session, id, err).await,
    }
}

/// `POST /ui/identity/service-users/{id}/disable`.
async fn disable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    set_active(&state, &session, &id, false).await
}

/// `POST /ui/identity/service-users/{id}/enable`.
async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    set_active(&state, &session, &id, true).await
}

/// `POST /ui/identity/service-users/{id}/delete`: asks first without `confirmed`.
async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted<ConfirmForm>,
) -> Response {
    let service = &state.service;
    if !flag(form.confirmed.as_deref()) {
        return match service.get_service_user(&session.actor, &id).await {
            Ok(user) => ConfirmPage::new(
                layout_of(&session),
                format!("Delete service user “{}”?", user.name),
                "Its API key and every token issued from it stop working at once. This cannot be undone."
                    .to_string(),
                format!("{PAGE}/{id}/delete"),
                "Delete service user",
                PAGE.to_string(),
            )
            .respond(),
            Err(err) => error_page(layout_of(&session), &err),
        };
    }
    match service.delete_service_user(&session.actor, &id).await {
        Ok(()) => see_other(&format!("{PAGE}?notice=deleted")),
        Err(err) => row_error(service, &session, &id, err).await,
    }
}
