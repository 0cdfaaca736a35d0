//! Users & policies (tenant administrators): the users with their roles, access level, active
//! flag and token max duration; one user's page with its effective policy (set or clear its own
//! limit), its tokens (revoke one, or all); the roles with their max durations.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use jeton_core::AccessLevel;
use serde::Deserialize;

use super::format::Stamp;
use super::session::{AdminSession, Posted, UiSession, query};
use super::tokens::{CommentForm, ConfirmForm, ListQuery, TokenTable, back, flag, view_url};
use super::{ConfirmPage, Layout, error_page, render, see_other};
use crate::error::ApiResult;
use crate::http::AppState;
use crate::service::{ListTokensInput, Service, UpdateUserInput};
use crate::views;

const USERS: &str = "/ui/admin/users";
const ROLES: &str = "/ui/admin/roles";
const PAGE_SIZE: u32 = 100;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(USERS, get(users))
        .route("/ui/admin/users/{user}", get(user))
        .route("/ui/admin/users/{user}/policy", post(user_policy))
        .route("/ui/admin/users/{user}/active", post(user_active))
        .route("/ui/admin/users/{user}/tokens/revoke-all", post(revoke_all))
        .route(
            "/ui/admin/users/{user}/tokens/{id}/revoke",
            post(revoke_token),
        )
        .route("/ui/admin/users/{user}/tokens/{id}/comment", post(comment))
        .route(ROLES, get(roles))
        .route("/ui/admin/roles/{role}/policy", post(role_policy))
}

// ---------------------------------------------------------------- the users

struct UserRow {
    username: String,
    url: String,
    tenant: String,
    level: &'static str,
    roles: String,
    active: bool,
    max_duration: Option<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    rows: Vec<UserRow>,
    show_tenant: bool,
    next_url: Option<String>,
}

#[derive(Deserialize, Default)]
struct PageQuery {
    cursor: Option<String>,
    notice: Option<String>,
}

fn is_root(session: &UiSession) -> bool {
    session.actor.principal.access == AccessLevel::Root
}

/// `GET /ui/admin/users`.
async fn users(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let query: PageQuery = query(raw.as_deref());
    let layout = session
        .layout("Users & policies", "users")
        .with_notice(query.notice.as_deref());
    match users_page(&state.service, &session, layout.clone(), &query).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(err) => error_page(layout, &err),
    }
}

async fn users_page(
    service: &Service,
    session: &UiSession,
    layout: Layout,
    query: &PageQuery,
) -> ApiResult<UsersPage> {
    let (records, next) = service
        .list_users(&session.actor, Some(PAGE_SIZE), query.cursor.as_deref())
        .await?;
    let mut rows = Vec::with_capacity(records.len());
    for record in &records {
        let view = views::user(
            service.directory(),
            record,
            service.role_names(record.id).await?,
        );
        rows.push(UserRow {
            url: format!("{USERS}/{}", record.id),
            username: view.username,
            tenant: view.tenant,
            level: views::seed_level(record.access_level),
            roles: view.roles.join(", "),
            active: view.active,
            max_duration: view.token_max_duration,
        });
    }
    Ok(UsersPage {
        layout,
        rows,
        show_tenant: is_root(session),
        next_url: next.map(|c| {
            format!(
                "{USERS}?{}",
                serde_urlencoded::to_string([("cursor", c)]).unwrap_or_default()
            )
        }),
    })
}

// ---------------------------------------------------------------- one user

struct RoleLimit {
    role: String,
    max: String,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    url: String,
    id: String,
    username: String,
    tenant: String,
    level: &'static str,
    roles: String,
    active: bool,
    is_self: bool,
    created: Stamp,
    effective: String,
    own_limit: Option<String>,
    role_limits: Vec<RoleLimit>,
    policy_value: String,
    policy_error: Option<String>,
    active_error: Option<String>,
    tokens_error: Option<String>,
    table: TokenTable,
}

async fn user_page(
    service: &Service,
    session: &UiSession,
    reference: &str,
    query: &ListQuery,
) -> ApiResult<UserPage> {
    let actor = &session.actor;
    let record = service.get_user(actor, reference).await?;
    let id = record.id.to_string();
    let (_, own, role_limits, limit) = service.effective_policy(actor, Some(&id)).await?;
    let url = format!("{USERS}/{id}");
    let tokens = service
        .list_tokens(
            actor,
            ListTokensInput {
                for_user: Some(id.clone()),
                all: query.show_all(),
                limit: Some(PAGE_SIZE),
                cursor: query.cursor.clone(),
                ..Default::default()
            },
        )
        .await?;
    let table = TokenTable::new(
        service,
        tokens,
        query.show_all(),
        &url,
        &format!("{url}/tokens"),
    );
    Ok(UserPage {
        layout: session
            .layout(&record.username, "users")
            .with_notice(query.notice.as_deref()),
        id,
        username: record.username.clone(),
        tenant: service
            .directory()
            .tenant_name(record.tenant_id)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        level: views::seed_level(record.access_level),
        roles: service.role_names(record.id).await?.join(", "),
        active: record.active,
        is_self: record.id == actor.principal.id,
        created: Stamp::new(record.created_at, service.now()),
        effective: format!("{} ({})", limit.max, limit.source),
        policy_value: own.map(|l| l.to_string()).unwrap_or_default(),
        own_limit: own.map(|l| l.to_string()),
        role_limits: role_limits
            .into_iter()
            .map(|(role, max)| RoleLimit {
                role,
                max: max.to_string(),
            })
            .collect(),
        policy_error: None,
        active_error: None,
        tokens_error: None,
        table,
        url,
    })
}

fn user_layout(session: &UiSession) -> Layout {
    session.layout("User", "users")
}

/// `GET /ui/admin/users/{user}` (by id or username).
async fn user(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    AdminSession(session): AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let query: ListQuery = query(raw.as_deref());
    match user_page(&state.service, &session, &reference, &query).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(err) => error_page(user_layout(&session), &err),
    }
}

/// Shows the user's page again with an error placed by `place`, with the error's status.
async fn user_error(
    service: &Service,
    session: &UiSession,
    reference: &str,
    all: bool,
    err: crate::error::ApiError,
    place: impl FnOnce(&mut UserPage, String),
) -> Response {
    let query = ListQuery {
        all: all.then(|| "1".to_string()),
        ..Default::default()
    };
    match user_page(service, session, reference, &query).await {
        Ok(mut page) => {
            place(&mut page, err.to_string());
            render(err.status_code(), &page)
        }
        Err(_) => error_page(user_layout(session), &err),
    }
}

#[derive(Deserialize)]
struct PolicyForm {
    #[serde(default)]
    max_duration: String,
    #[serde(default)]
    op: String,
}

/// `POST /ui/admin/users/{user}/policy`: `op=set` with `max_duration`, or `op=clear`.
async fn user_policy(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Posted { session, form }: Posted<PolicyForm>,
) -> Response {
    let service = &state.service;
    let clear = form.op == "clear";
    let value = form.max_duration.trim();
    let result = service
        .set_user_policy(&session.actor, &reference, (!clear).then_some(value))
        .await;
    match result {
        Ok(user) => see_other(&format!(
            "{USERS}/{}?notice={}",
            user.id,
            if clear {
                "policy-cleared"
            } else {
                "policy-saved"
            }
        )),
        Err(err) => {
            let value = value.to_string();
            user_error(
                service,
                &session,
                &reference,
                false,
                err,
                |page, message| {
                    page.policy_error = Some(message);
                    page.policy_value = value;
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct ActiveForm {
    #[serde(default)]
    active: String,
}

/// `POST /ui/admin/users/{user}/active`: activate or deactivate.
async fn user_active(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Posted { session, form }: Posted<ActiveForm>,
) -> Response {
    let service = &state.service;
    let active = flag(Some(&form.active));
    let result = service
        .update_user(
            &session.actor,
            &reference,
            UpdateUserInput {
                active: Some(active),
                ..Default::default()
            },
        )
        .await;
    match result {
        Ok(user) => see_other(&format!(
            "{USERS}/{}?notice={}",
            user.id,
            if active { "activated" } else { "deactivated" }
        )),
        Err(err) => {
            user_error(
                service,
                &session,
                &reference,
                false,
                err,
                |page, message| {
                    page.active_error = Some(message);
                },
            )
            .await
        }
    }
}

/// `POST /ui/admin/users/{user}/tokens/revoke-all`: asks first without `confirmed`.
async fn revoke_all(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Posted { session, form }: Posted<ConfirmForm>,
) -> Response {
    let service = &state.service;
    let all = flag(form.all.as_deref());
    let url = format!("{USERS}/{reference}");
    if !flag(form.confirmed.as_deref()) {
        return match service.get_user(&session.actor, &reference).await {
            Ok(user) => ConfirmPage::new(
                user_layout(&session),
                format!("Revoke every token of {}?", user.username),
                "All of the user's tokens, sessions included, stop working at once. This cannot be undone."
                    .to_string(),
                format!("{url}/tokens/revoke-all"),
                "Revoke all tokens",
                view_url(&url, all),
            )
            .hidden("all", if all { "1" } else { "" })
            .respond(),
            Err(err) => error_page(user_layout(&session), &err),
        };
    }
    match service
        .revoke_all_tokens(&session.actor, Some(&reference))
        .await
    {
        Ok(_) => see_other(&back(&url, all, "revoked-all")),
        Err(err) => {
            user_error(service, &session, &reference, all, err, |page, message| {
                page.tokens_error = Some(message);
            })
            .await
        }
    }
}

/// `POST /ui/admin/users/{user}/tokens/{id}/revoke`: asks first without `confirmed`.
async fn revoke_token(
    State(state): State<AppState>,
    Path((reference, id)): Path<(String, String)>,
    Posted { session, form }: Posted<ConfirmForm>,
) -> Response {
    let service = &state.service;
    let all = flag(form.all.as_deref());
    let url = format!("{USERS}/{reference}");
    if !flag(form.confirmed.as_deref()) {
        return match service.get_token(&session.actor, &id).await {
            Ok(record) => ConfirmPage::new(
                user_layout(&session),
                format!("Revoke token “{}”?", record.name),
                "Anything that uses it stops working at once. This cannot be undone.".to_string(),
                format!("{url}/tokens/{id}/revoke"),
                "Revoke token",
                view_url(&url, all),
            )
            .hidden("all", if all { "1" } else { "" })
            .respond(),
            Err(err) => error_page(user_layout(&session), &err),
        };
    }
    match service.revoke_token(&session.actor, &id).await {
        Ok(_) => see_other(&back(&url, all, "revoked")),
        Err(err) => {
            user_error(service, &session, &reference, all, err, |page, message| {
                page.table.error_on(&id, message);
            })
            .await
        }
    }
}

/// `POST /ui/admin/users/{user}/tokens/{id}/comment`.
async fn comment(
    State(state): State<AppState>,
    Path((reference, id)): Path<(String, String)>,
    Posted { session, form }: Posted<CommentForm>,
) -> Response {
    let service = &state.service;
    let all = flag(form.all.as_deref());
    match service
        .set_token_comment(&session.actor, &id, form.comment.trim())
        .await
    {
        Ok(_) => see_other(&back(&format!("{USERS}/{reference}"), all, "comment-saved")),
        Err(err) => {
            user_error(service, &session, &reference, all, err, |page, message| {
                page.table.error_on(&id, message);
            })
            .await
        }
    }
}

// ---------------------------------------------------------------- roles

struct RoleRow {
    id: String,
    name: String,
    tenant: String,
    members: String,
    max_duration: Option<String>,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    layout: Layout,
    rows: Vec<RoleRow>,
    show_tenant: bool,
}

async fn roles_page(
    service: &Service,
    session: &UiSession,
    layout: Layout,
) -> ApiResult<RolesPage> {
    let records = service.list_roles(&session.actor).await?;
    let mut rows = Vec::with_capacity(records.len());
    for record in &records {
        let view = views::role(record, service.role_members(record.id).await?);
        rows.push(RoleRow {
            id: view.id,
            name: view.name,
            tenant: service
                .directory()
                .tenant_name(record.tenant_id)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            members: view.members.join(", "),
            value: view.token_max_duration.clone().unwrap_or_default(),
            max_duration: view.token_max_duration,
            error: None,
        });
    }
    Ok(RolesPage {
        layout,
        rows,
        show_tenant: is_root(session),
    })
}

/// `GET /ui/admin/roles`.
async fn roles(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let query: PageQuery = query(raw.as_deref());
    let layout = session
        .layout("Roles", "roles")
        .with_notice(query.notice.as_deref());
    match roles_page(&state.service, &session, layout.clone()).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(err) => error_page(layout, &err),
    }
}

/// `POST /ui/admin/roles/{role}/policy`: `op=set` with `max_duration`, or `op=clear`.
async fn role_policy(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Posted { session, form }: Posted<PolicyForm>,
) -> Response {
    let service = &state.service;
    let clear = form.op == "clear";
    let value = form.max_duration.trim();
    match service
        .set_role_policy(&session.actor, &reference, (!clear).then_some(value))
        .await
    {
        Ok(_) => see_other(&format!(
            "{ROLES}?notice={}",
            if clear {
                "policy-cleared"
            } else {
                "policy-saved"
            }
        )),
        Err(err) => {
            let layout = session.layout("Roles", "roles");
            match roles_page(service, &session, layout.clone()).await {
                Ok(mut page) => {
                    if let Some(row) = page
                        .rows
                        .iter_mut()
                        .find(|r| r.id == reference || r.name == reference)
                    {
                        row.error = Some(err.to_string());
                        row.value = value.to_string();
                    }
                    render(err.status_code(), &page)
                }
                Err(_) => error_page(layout, &err),
            }
        }
    }
}
