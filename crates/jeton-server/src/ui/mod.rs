//! The web UI served by `jeton serve`: server-rendered HTML pages for people, under `/ui/`.
//!
//! Every page and every action goes through the service layer — the same methods, rules and
//! audit records as the JSON API — and never touches the store itself. Pages are askama
//! templates from `templates/`, compiled into the binary; one stylesheet and one small script
//! are embedded and served with a content hash in their names (`assets`). Every action is a
//! plain form `POST` that works without JavaScript; the script only adds copy buttons,
//! confirmation dialogs and the key dialog.
//!
//! - [`session`]: the `auth_token` session cookie, checked by the same verifier as any other
//!   credential; login, logout, and the [`session::Posted`] extractor that every form handler
//!   takes, so none can skip the CSRF check ([`csrf`]).
//! - `tokens`: Settings > API Tokens. `service_users`: Identity > Service Users.
//!   `users`: users, roles and their token policies. `audit`: the event log.
//!
//! What this module must not do: hold a rule of its own (who may do what, how long a token may
//! live) — it shows what the service answers, errors included, next to the form that caused them.

mod assets;
mod audit;
pub mod csrf;
mod format;
mod service_users;
pub mod session;
mod tokens;
mod users;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::http::AppState;
use crate::service::Service;
use crate::verify::Actor;

/// The UI's routes, to merge into the application's router. In gateway mode (`gateway`), `/`
/// belongs to the upstream and the UI is reached at `/ui/`.
pub fn router(gateway: bool) -> Router<AppState> {
    let root = if gateway {
        Router::new()
    } else {
        Router::new().route("/", get(session::home))
    };
    // `/ui` without the slash is outside the session cookie's path in gateway mode (`/ui/`).
    root.route("/ui", get(|| async { see_other("/ui/") }))
        .route("/ui/", get(session::home))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .merge(tokens::routes())
        .merge(service_users::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .route("/ui/static/{file}", get(assets::serve))
        .route("/ui/{*rest}", get(not_found))
        .layer(axum::middleware::map_response(security_headers))
}

/// What every page shows around its content: who is signed in, the navigation, the form token.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page title.
    pub title: String,
    /// Which navigation entry is current (`tokens`, `service-users`, `users`, `roles`, `audit`).
    pub nav: &'static str,
    /// False on the login page and on errors shown to someone not signed in.
    pub signed_in: bool,
    /// The signed-in user's name.
    pub username: String,
    /// Their access level, as the seeds spell it (`TenantAdmin`).
    pub level: &'static str,
    /// Their tenant's name.
    pub tenant: String,
    /// True when the administration pages are theirs to see (decided by the service's rule).
    pub is_admin: bool,
    /// The form token of the session.
    pub csrf: String,
    /// A one-line confirmation of the last action ("Token revoked.").
    pub notice: Option<&'static str>,
    /// The stylesheet's versioned path.
    pub css: &'static str,
    /// The script's versioned path.
    pub js: &'static str,
}

impl Layout {
    /// The layout of a page for the signed-in `actor`.
    pub fn new(
        service: &Service,
        actor: &Actor,
        csrf: &str,
        title: &str,
        nav: &'static str,
    ) -> Self {
        let principal = &actor.principal;
        Self {
            title: title.to_string(),
            nav,
            signed_in: true,
            username: principal.username.clone(),
            level: crate::views::seed_level(principal.access),
            tenant: service
                .directory()
                .tenant_name(principal.tenant_id)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            is_admin: Service::is_admin(actor),
            csrf: csrf.to_string(),
            notice: None,
            css: &assets::CSS.path,
            js: &assets::JS.path,
        }
    }

    /// The layout of a page for someone not signed in.
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_string(),
            nav: "",
            signed_in: false,
            username: String::new(),
            level: "",
            tenant: String::new(),
            is_admin: false,
            csrf: String::new(),
            notice: None,
            css: &assets::CSS.path,
            js: &assets::JS.path,
        }
    }

    /// The same layout with the notice named by a `?notice=` code, if it is one of ours (the
    /// text is never taken from the URL).
    pub fn with_notice(mut self, code: Option<&str>) -> Self {
        self.notice = code.and_then(notice_text);
        self
    }
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "comment-saved" => "Comment saved.",
        "revoked" => "Token revoked: it no longer works.",
        "revoked-all" => "All of the user's tokens were revoked.",
        "disabled" => "Service user disabled: its key and its tokens stop working now.",
        "enabled" => "Service user enabled: its current key works again.",
        "deleted" => "Service user deleted.",
        "policy-saved" => "Token policy saved.",
        "policy-cleared" => "Token policy cleared.",
        "activated" => "User activated.",
        "deactivated" => "User deactivated: their tokens stop working now.",
        "logged-out" => "You are logged out; your session token was revoked.",
        _ => return None,
    })
}

/// Renders a page with a status.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "a UI template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page that shows a secret once: never stored by the browser or a proxy.
pub(crate) fn render_secret(page: &impl Template) -> Response {
    let mut response = render(StatusCode::OK, page);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `303 See Other` to a local path.
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    heading: &'static str,
    message: String,
}

/// The page of an error, with its status: 403 for a forbidden page, 404 for a missing object,
/// and so on, saying in plain words what the service said.
pub(crate) fn error_page(mut layout: Layout, err: &ApiError) -> Response {
    match err {
        ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
        ApiError::Unavailable(detail) => tracing::warn!(%detail, "database unavailable"),
        _ => {}
    }
    let status = err.status_code();
    let heading = match status {
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED => "Not signed in",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        StatusCode::PAYLOAD_TOO_LARGE => "Too large",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    layout.title = heading.to_string();
    render(
        status,
        &ErrorPage {
            layout,
            status: status.as_u16(),
            heading,
            message: err.to_string(),
        },
    )
}

/// A page that asks before a destructive action, for browsers without JavaScript (with it, a
/// `confirm()` dialog asks and the form carries `confirmed=1`).
#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage {
    layout: Layout,
    heading: String,
    message: String,
    action: String,
    button: &'static str,
    cancel: String,
    hidden: Vec<(&'static str, String)>,
}

impl ConfirmPage {
    /// Asks `heading` (with `message` below it); the button posts to `action`, the cancel link
    /// goes to `cancel`.
    pub fn new(
        layout: Layout,
        heading: String,
        message: String,
        action: String,
        button: &'static str,
        cancel: String,
    ) -> Self {
        Self {
            layout,
            heading,
            message,
            action,
            button,
            cancel,
            hidden: Vec::new(),
        }
    }

    /// Carries a hidden field along with the confirmation.
    pub fn hidden(mut self, name: &'static str, value: &str) -> Self {
        self.hidden.push((name, value.to_string()));
        self
    }

    /// The page.
    pub fn respond(&self) -> Response {
        render(StatusCode::OK, self)
    }
}

/// Unknown paths under `/ui/`.
async fn not_found(session: Result<session::UiSession, Response>) -> Response {
    let layout = match &session {
        Ok(s) => s.layout("Not found", ""),
        Err(_) => Layout::anonymous("Not found"),
    };
    error_page(
        layout,
        &ApiError::NotFound("there is no such page".to_string()),
    )
}

/// The headers of every UI answer: a strict content security policy (no inline script or
/// style, nothing from elsewhere), no framing, no referrer to other sites, and no caching of pages (they show
/// personal data and form tokens; the static files set their own long cache).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: a browser then names our origin in the `Origin` of
    // our own form posts (under `no-referrer` it writes `null`, which `ambient` refuses), and
    // still sends no referrer to any other site.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
