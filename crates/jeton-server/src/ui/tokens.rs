//! Settings > API Tokens: create a token (its value shown once, in the answer to the form post
//! itself), list tokens with their expiry and last use, edit a comment in place, revoke with a
//! confirmation, and a toggle for expired and revoked tokens.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use jeton_core::{TokenKind, TokenStatus};
use jeton_store::TokenRecord;
use serde::Deserialize;

use super::format::Stamp;
use super::session::{Posted, UiSession, query};
use super::{ConfirmPage, Layout, error_page, render, render_secret, see_other};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::service::{CreateTokenInput, ListTokensInput, Service, TokenPage};

const PAGE: &str = "/ui/settings/tokens";
/// Tokens per page in the UI's tables.
const PAGE_SIZE: u32 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(show).post(create))
        .route("/ui/settings/tokens/{id}/comment", post(comment))
        .route("/ui/settings/tokens/{id}/revoke", post(revoke))
}

/// A token as a table row.
pub(super) struct TokenRow {
    pub id: String,
    pub name: String,
    pub comment: String,
    pub scopes: String,
    pub created: Stamp,
    pub expires: Stamp,
    pub last_used: Option<Stamp>,
    pub status: &'static str,
    /// `in 5 days`, `expired`, `revoked`.
    pub expiry_badge: String,
    /// The badge's colour: `ok`, `warn`, `bad` or `muted`.
    pub badge: &'static str,
    pub active: bool,
    pub comment_url: String,
    pub revoke_url: String,
    pub error: Option<String>,
}

/// A table of tokens with its toggle and pager.
pub(super) struct TokenTable {
    pub rows: Vec<TokenRow>,
    pub show_all: bool,
    /// `1` when expired and revoked tokens are shown, for the forms to come back to the same view.
    pub all: &'static str,
    pub toggle_url: String,
    pub next_url: Option<String>,
    pub empty: &'static str,
}

impl TokenTable {
    /// The table of a page of tokens; `base` is the page's path, `actions` the path under which
    /// `{id}/comment` and `{id}/revoke` are posted.
    pub fn new(
        service: &Service,
        page: TokenPage,
        show_all: bool,
        base: &str,
        actions: &str,
    ) -> Self {
        let now = service.now();
        let rows = page
            .items
            .iter()
            .map(|record| token_row(service, record, now, actions))
            .collect();
        let with = |all: bool, cursor: Option<&str>| {
            let mut pairs = Vec::new();
            if all {
                pairs.push(("all", "1"));
            }
            if let Some(cursor) = cursor {
                pairs.push(("cursor", cursor));
            }
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            if query.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{query}")
            }
        };
        Self {
            rows,
            show_all,
            all: if show_all { "1" } else { "" },
            toggle_url: with(!show_all, None),
            next_url: page.next_cursor.as_deref().map(|c| with(show_all, Some(c))),
            empty: if show_all {
                "No tokens yet."
            } else {
                "No active tokens. Expired and revoked ones are behind the toggle above."
            },
        }
    }

    /// Shows `error` on the row of token `id`.
    pub fn error_on(&mut self, id: &str, error: String) {
        if let Some(row) = self.rows.iter_mut().find(|r| r.id == id) {
            row.error = Some(error);
        }
    }
}

fn token_row(service: &Service, record: &TokenRecord, now: i64, actions: &str) -> TokenRow {
    let status = service.token_status(record);
    let (expiry_badge, badge) = match status {
        TokenStatus::Revoked => ("revoked".to_string(), "muted"),
        TokenStatus::Expired => ("expired".to_string(), "bad"),
        TokenStatus::Active => {
            // A week's notice is a display choice, not a rule.
            let soon = record.expires_at - now < 7 * 86_400;
            (
                super::format::relative(record.expires_at, now),
                if soon { "warn" } else { "ok" },
            )
        }
    };
    let id = record.id.to_string();
    TokenRow {
        comment_url: format!("{actions}/{id}/comment"),
        revoke_url: format!("{actions}/{id}/revoke"),
        id,
        name: record.name.clone(),
        comment: record.comment.clone(),
        scopes: record.scopes.join(" "),
        created: Stamp::new(record.created_at, now),
        expires: Stamp::new(record.expires_at, now),
        last_used: record.last_used_at.map(|at| Stamp::new(at, now)),
        status: status.as_str(),
        expiry_badge,
        badge,
        active: status == TokenStatus::Active,
        error: None,
    }
}

/// `?all=1&cursor=...&notice=...` of the token pages.
#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    pub all: Option<String>,
    pub cursor: Option<String>,
    pub notice: Option<String>,
}

impl ListQuery {
    pub fn show_all(&self) -> bool {
        flag(self.all.as_deref())
    }
}

/// A checkbox or hidden flag: present and not empty, `0` or `false`.
pub(super) fn flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")))
}

/// One expiry choice of the create form.
pub(super) struct Preset {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

/// The create form, as posted and as shown again after an error.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct CreateForm {
    name: String,
    expires: String,
    expires_custom: String,
    comment: String,
    scopes: String,
}

struct Created {
    name: String,
    value: String,
    expires: Stamp,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    policy: String,
    presets: Vec<Preset>,
    form: CreateForm,
    form_error: Option<String>,
    created: Option<Created>,
    table: TokenTable,
}

/// Builds the page: the caller's policy, the form and the list.
async fn tokens_page(
    service: &Service,
    session: &UiSession,
    query: &ListQuery,
    form: CreateForm,
) -> ApiResult<TokensPage> {
    let actor = &session.actor;
    let (_, _, _, limit) = service.effective_policy(actor, None).await?;
    let default = service
        .config()
        .policy
        .lifetime_for(None, &limit)
        .map(|l| l.to_string())
        .unwrap_or_default();
    let policy = format!(
        "Your tokens may last at most {} ({}). Without a choice they last {default}.",
        limit.max, limit.source
    );
    let page = service
        .list_tokens(
            actor,
            ListTokensInput {
                all: query.show_all(),
                kind: Some(TokenKind::Api),
                limit: Some(PAGE_SIZE),
                cursor: query.cursor.clone(),
                ..Default::default()
            },
        )
        .await?;
    let presets = [
        ("", format!("Default ({default})")),
        ("7d", "7 days".to_string()),
        ("30d", "30 days".to_string()),
        ("90d", "90 days".to_string()),
        ("1y", "1 year".to_string()),
        ("custom", "Custom…".to_string()),
    ]
    .into_iter()
    .map(|(value, label)| Preset {
        value,
        label,
        selected: form.expires == value,
    })
    .collect();
    Ok(TokensPage {
        layout: session
            .layout("API Tokens", "tokens")
            .with_notice(query.notice.as_deref()),
        policy,
        presets,
        form,
        form_error: None,
        created: None,
        table: TokenTable::new(service, page, query.show_all(), PAGE, PAGE),
    })
}

/// `GET /ui/settings/tokens`.
async fn show(
    State(state): State<AppState>,
    session: UiSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let query: ListQuery = query(raw.as_deref());
    match tokens_page(&state.service, &session, &query, CreateForm::default()).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(err) => error_page(session.layout("API Tokens", "tokens"), &err),
    }
}

/// `POST /ui/settings/tokens`: creates the token and answers the page with its value, once.
async fn create(
    State(state): State<AppState>,
    Posted { session, form }: Posted<CreateForm>,
) -> Response {
    let service = &state.service;
    let result = match expiry(&form) {
        Ok(expires_in) => {
            service
                .create_token(
                    &session.actor,
                    CreateTokenInput {
                        name: Some(form.name.clone()),
                        comment: Some(form.comment.trim().to_string()),
                        expires_in,
                        scopes: form
                            .scopes
                            .split(|c: char| c.is_whitespace() || c == ',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect(),
                        for_user: None,
                    },
                )
                .await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok((secret, record)) => {
            let mut page = match tokens_page(
                service,
                &session,
                &ListQuery::default(),
                CreateForm::default(),
            )
            .await
            {
                Ok(page) => page,
                Err(err) => return error_page(session.layout("API Tokens", "tokens"), &err),
            };
            page.created = Some(Created {
                name: record.name.clone(),
                value: secret.expose().to_string(),
                expires: Stamp::new(record.expires_at, service.now()),
            });
            render_secret(&page)
        }
        Err(err) => {
            let status = err.status_code();
            match tokens_page(service, &session, &ListQuery::default(), form).await {
                Ok(mut page) => {
                    page.form_error = Some(err.to_string());
                    render(status, &page)
                }
                Err(_) => error_page(session.layout("API Tokens", "tokens"), &err),
            }
        }
    }
}

/// The expiry the form asks for: the custom duration when filled in, else the preset.
fn expiry(form: &CreateForm) -> ApiResult<Option<String>> {
    let custom = form.expires_custom.trim();
    if !custom.is_empty() {
        return Ok(Some(custom.to_string()));
    }
    match form.expires.trim() {
        "" => Ok(None),
        "custom" => Err(ApiError::BadRequest(
            "enter a custom duration such as '45d' or '12h', or choose one of the presets"
                .to_string(),
        )),
        preset => Ok(Some(preset.to_string())),
    }
}

#[derive(Deserialize)]
pub(super) struct CommentForm {
    #[serde(default)]
    pub comment: String,
    pub all: Option<String>,
}

/// `POST /ui/settings/tokens/{id}/comment`.
async fn comment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted<CommentForm>,
) -> Response {
    let service = &state.service;
    let query = ListQuery {
        all: form.all.clone(),
        ..Default::default()
    };
    match service
        .set_token_comment(&session.actor, &id, form.comment.trim())
        .await
    {
        Ok(_) => see_other(&back(PAGE, query.show_all(), "comment-saved")),
        Err(err) => match tokens_page(service, &session, &query, CreateForm::default()).await {
            Ok(mut page) => {
                page.table.error_on(&id, err.to_string());
                render(err.status_code(), &page)
            }
            Err(_) => error_page(session.layout("API Tokens", "tokens"), &err),
        },
    }
}

/// A token page in one of its two views.
pub(super) fn view_url(page: &str, all: bool) -> String {
    if all {
        format!("{page}?all=1")
    } else {
        page.to_string()
    }
}

/// Where to go after an action: the page, in the same view, with a notice.
pub(super) fn back(page: &str, all: bool, notice: &str) -> String {
    let separator = if all { '&' } else { '?' };
    format!("{}{separator}notice={notice}", view_url(page, all))
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    pub confirmed: Option<String>,
    pub all: Option<String>,
}

/// `POST /ui/settings/tokens/{id}/revoke`: without `confirmed` (no JavaScript to ask), a page that
/// asks first.
async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted<ConfirmForm>,
) -> Response {
    let service = &state.service;
    let all = flag(form.all.as_deref());
    if !flag(form.confirmed.as_deref()) {
        return match service.get_token(&session.actor, &id).await {
            Ok(record) => ConfirmPage::new(
                session.layout("Revoke token", "tokens"),
                format!("Revoke token “{}”?", record.name),
                "Anything that uses it stops working at once. This cannot be undone.".to_string(),
                format!("{PAGE}/{id}/revoke"),
                "Revoke token",
                view_url(PAGE, all),
            )
            .hidden("all", if all { "1" } else { "" })
            .respond(),
            Err(err) => error_page(session.layout("API Tokens", "tokens"), &err),
        };
    }
    match service.revoke_token(&session.actor, &id).await {
        Ok(_) => see_other(&back(PAGE, all, "revoked")),
        Err(err) => error_page(session.layout("API Tokens", "tokens"), &err),
    }
}
