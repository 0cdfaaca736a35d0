//! Audit (tenant administrators): the event log, newest first, filtered by user, action and
//! time, paged with the service's cursor.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::format::{Stamp, local_datetime_to_rfc3339};
use super::session::{AdminSession, query};
use super::{Layout, error_page, render};
use crate::error::ApiError;
use crate::http::AppState;

const PAGE: &str = "/ui/audit";
const PAGE_SIZE: u32 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(PAGE, get(show))
}

/// Actions offered as suggestions in the filter (a prefix such as `token` matches them all).
const ACTIONS: &[&str] = &[
    "auth",
    "auth.login",
    "auth.denied",
    "token",
    "token.create",
    "token.comment",
    "token.revoke",
    "token.revoke_all",
    "token.delete",
    "policy",
    "user",
    "role",
    "service_user",
    "api_key",
    "api_key.rotate",
    "tenant",
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct Filters {
    user: String,
    action: String,
    since: String,
    cursor: String,
}

struct EventRow {
    at: Stamp,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    badge: &'static str,
    client_addr: String,
    details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    rows: Vec<EventRow>,
    filters: Filters,
    actions: &'static [&'static str],
    error: Option<String>,
    next_url: Option<String>,
    filtered: bool,
}

/// `GET /ui/audit?user=&action=&since=&cursor=`.
async fn show(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let service = &state.service;
    let filters: Filters = query(raw.as_deref());
    let layout = session.layout("Audit log", "audit");
    let since = local_datetime_to_rfc3339(&filters.since);
    let result = service
        .list_audit(
            &session.actor,
            Some(filters.user.trim()),
            Some(filters.action.trim()),
            Some(since.as_str()),
            None,
            Some(PAGE_SIZE),
            Some(filters.cursor.trim()),
        )
        .await;
    let (events, next, error, status) = match result {
        Ok((events, next)) => (events, next, None, StatusCode::OK),
        // Not an administrator: the whole page is refused.
        Err(err @ (ApiError::Forbidden(_) | ApiError::Unauthenticated(_))) => {
            return error_page(layout, &err);
        }
        // A filter the service could not use: said next to the filters.
        Err(err) => (Vec::new(), None, Some(err.to_string()), err.status_code()),
    };
    let now = service.now();
    let rows = events
        .iter()
        .map(|record| {
            let view = crate::views::audit(record);
            let target = match (&view.target_type, &view.target_name, &view.target_id) {
                (Some(kind), Some(name), _) if !name.is_empty() => format!("{kind} {name}"),
                (Some(kind), _, Some(id)) => format!("{kind} {id}"),
                _ => String::new(),
            };
            let details = match &view.details {
                serde_json::Value::Object(map) => map
                    .iter()
                    .map(|(key, value)| match value {
                        serde_json::Value::String(text) => format!("{key}: {text}"),
                        other => format!("{key}: {other}"),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            EventRow {
                at: Stamp::new(record.at, now),
                actor: view.actor.unwrap_or_default(),
                badge: match view.outcome.as_str() {
                    "success" => "ok",
                    "failure" => "bad",
                    _ => "warn",
                },
                outcome: view.outcome,
                action: view.action,
                target,
                client_addr: view.client_addr.unwrap_or_default(),
                details,
            }
        })
        .collect();
    let next_url = next.map(|cursor| {
        let pairs = [
            ("user", filters.user.as_str()),
            ("action", filters.action.as_str()),
            ("since", filters.since.as_str()),
            ("cursor", cursor.as_str()),
        ];
        let pairs: Vec<_> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        format!(
            "{PAGE}?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let filtered =
        !(filters.user.is_empty() && filters.action.is_empty() && filters.since.is_empty());
    render(
        status,
        &AuditPage {
            layout,
            rows,
            filters,
            actions: ACTIONS,
            error,
            next_url,
            filtered,
        },
    )
}
