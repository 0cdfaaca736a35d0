//! Who is looking at a page: the `auth_token` session cookie, verified by the same verifier (and
//! the same [`Authenticated`] extractor) as every other credential. Login, logout, and
//! [`Posted`], the extractor every form handler takes: it authenticates, checks where the request
//! comes from and the form token, then parses the form.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use jeton_core::Secret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Layout, csrf, error_page, render, see_other};
use crate::config::Config;
use crate::error::ApiError;
use crate::http::ambient::{self, FormPosts};
use crate::http::{AppState, Authenticated, ClientAddr, SESSION_COOKIE};
use crate::verify::Actor;

/// Where a signed-in user lands.
pub const HOME: &str = "/ui/settings/tokens";
const LOGIN: &str = "/ui/login";

/// A signed-in person looking at a page. Extracting it redirects to the login page when the
/// session cookie is missing or no longer verifies.
#[derive(Debug, Clone)]
pub struct UiSession {
    /// Who they are.
    pub actor: Actor,
    /// The form token of their session.
    pub csrf: String,
    base: Layout,
}

impl UiSession {
    /// The layout of one of their pages.
    pub fn layout(&self, title: &str, nav: &'static str) -> Layout {
        Layout {
            title: title.to_string(),
            nav,
            ..self.base.clone()
        }
    }
}

impl FromRequestParts<AppState> for UiSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let config = state.service.config();
        let secure = over_tls(&parts.headers, config);
        if !navigation(&parts.headers) {
            return Err(not_a_navigation());
        }
        let Some(cookie) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(parts, false, secure, config));
        };
        // Pages authenticate with the cookie alone: the form token is derived from it, and a
        // browser sends no other credential. Other credential headers are dropped for this
        // request so that the shared extractor reads the cookie, and applies the cookie's
        // origin rule to every form post (which may be a form, not JSON).
        parts.headers.remove(header::AUTHORIZATION);
        parts.headers.remove("x-api-key");
        parts.extensions.insert(FormPosts);
        match Authenticated::from_request_parts(parts, state).await {
            Ok(Authenticated(actor)) => {
                let csrf = csrf::for_session(&cookie);
                let base = Layout::new(&state.service, &actor, &csrf, "", "");
                Ok(UiSession { actor, csrf, base })
            }
            // A post from another origin (see `ambient`): said in the page's words.
            Err(ApiError::Forbidden(_)) => Err(error_page(
                Layout::anonymous("Forbidden"),
                &ApiError::Forbidden(
                    "cross-origin request refused: this form was sent from another site; open \
                     the page here and try again"
                        .to_string(),
                ),
            )),
            Err(ApiError::Unauthenticated(_)) => Err(to_login(parts, true, secure, config)),
            Err(other) => Err(error_page(Layout::anonymous("Error"), &other)),
        }
    }
}

/// A signed-in administrator. The administration pages take this instead of [`UiSession`], so
/// that anyone else who types their address gets a 403 page (by the service's own rule,
/// [`Service::is_admin`]) rather than a page that fails halfway; the service still checks every
/// action on its own.
///
/// [`Service::is_admin`]: crate::service::Service::is_admin
pub struct AdminSession(pub UiSession);

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = UiSession::from_request_parts(parts, state).await?;
        if !session.base.is_admin {
            return Err(error_page(
                session.layout("Forbidden", ""),
                &ApiError::forbidden("administrator access required"),
            ));
        }
        Ok(AdminSession(session))
    }
}

/// False for a request a browser makes for a page's script (`fetch`, XHR) or for a frame,
/// which pages showing a form token refuse: a page of the same origin (an upstream's, in
/// gateway mode) could otherwise read the token. `Sec-Fetch-Mode` and `Sec-Fetch-Dest` are set
/// by browsers, never by pages; clients that send neither (scripts, old browsers) pass.
pub fn navigation(headers: &HeaderMap) -> bool {
    let says = |name: &str, expected: &str| {
        headers.get(name).is_none_or(|v| {
            v.to_str()
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case(expected))
        })
    };
    says("sec-fetch-mode", "navigate") && says("sec-fetch-dest", "document")
}

/// The answer to a page asked for by a script or a frame.
fn not_a_navigation() -> Response {
    error_page(
        Layout::anonymous("Forbidden"),
        &ApiError::Forbidden(
            "the web UI's pages open only as pages of their own, not in a frame or from a script"
                .to_string(),
        ),
    )
}

/// The path of the session cookie: `/` normally; `/ui/` in gateway mode, where every other
/// path is the upstream's and its pages (same origin as Jeton) must not get the cookie sent
/// along with their requests.
pub fn session_cookie_path(config: &Config) -> &'static str {
    if config.upstream.is_some() {
        "/ui/"
    } else {
        "/"
    }
}

/// To the login page, coming back here afterwards (for a page, not for a form post), and
/// forgetting a session cookie that no longer works.
fn to_login(parts: &Parts, clear: bool, secure: bool, config: &Config) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let location = match safe_next(Some(&here)) {
        Some(next) if parts.method == Method::GET || parts.method == Method::HEAD => {
            format!(
                "{LOGIN}?{}",
                serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
            )
        }
        _ => LOGIN.to_string(),
    };
    let mut response = see_other(&location);
    if clear {
        set_cookie(
            &mut response,
            removal(SESSION_COOKIE, session_cookie_path(config), secure),
        );
    }
    response
}

/// A `next` parameter we are willing to go to: a path of the UI on this server, never another
/// site (`//evil`, `/\evil`), never the login or logout pages themselves.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let acceptable = next.starts_with("/ui/")
        && next.len() <= 1024
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && !next.starts_with(LOGIN)
        && !next.starts_with("/ui/logout");
    acceptable.then(|| next.to_string())
}

/// True when the request came over TLS: a server whose configured issuer is an `https` URL,
/// or `X-Forwarded-Proto: https` from a proxy in front when `--trust-forwarded-headers` says
/// there is one (otherwise any client could say so).
pub fn over_tls(headers: &HeaderMap, config: &Config) -> bool {
    let forwarded = config.trust_forwarded_headers
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    forwarded || config.issuer.starts_with("https://")
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// An HttpOnly, `SameSite=Strict` cookie, `Secure` over TLS.
fn cookie(
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: i64,
    secure: bool,
) -> String {
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(max_age))
        .build()
        .to_string()
}

fn removal(name: &'static str, path: &'static str, secure: bool) -> String {
    cookie(name, String::new(), path, 0, secure)
}

fn set_cookie(response: &mut Response, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Parses a query string leniently: anything unreadable is ignored.
pub fn query<T: DeserializeOwned + Default>(raw: Option<&str>) -> T {
    raw.and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default()
}

/// A form post by a signed-in user whose form token is right: the only way a form handler gets
/// its input, so none can skip the check. A post from another site, or without the token, or
/// with a wrong one, answers a 403 page; no session redirects to the login page.
pub struct Posted<T> {
    /// Who posted.
    pub session: UiSession,
    /// The form.
    pub form: T,
}

#[derive(Deserialize, Default)]
struct TokenField {
    csrf: Option<String>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = UiSession::from_request_parts(&mut parts, state).await?;
        let refuse = |message: &str| {
            error_page(
                session.layout("Forbidden", ""),
                &ApiError::Forbidden(message.to_string()),
            )
        };
        // Where the post comes from was checked with the session cookie (`ambient`), before
        // the session was granted.
        let bytes = match Bytes::from_request(Request::from_parts(parts, body), state).await {
            Ok(bytes) => bytes,
            Err(rejection) => {
                let err = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge("the form is too large".to_string())
                } else {
                    ApiError::BadRequest("the form could not be read".to_string())
                };
                return Err(error_page(session.layout("Error", ""), &err));
            }
        };
        let token: TokenField = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        if !csrf::matches(&session.csrf, token.csrf.as_deref()) {
            return Err(refuse(
                "the form's security token is missing or out of date; reload the page and try again",
            ));
        }
        match serde_urlencoded::from_bytes::<T>(&bytes) {
            Ok(form) => Ok(Posted { session, form }),
            Err(err) => Err(error_page(
                session.layout("Error", ""),
                &ApiError::BadRequest(format!("the form is incomplete: {err}")),
            )),
        }
    }
}

/// A form with nothing but its token.
#[derive(Deserialize)]
pub struct NoFields {}

// ---------------------------------------------------------------- pages

/// `/`: the tokens page when signed in, the login page otherwise.
pub(super) async fn home(session: Result<UiSession, Response>) -> Response {
    match session {
        Ok(_) => see_other(HOME),
        Err(to_login) => to_login,
    }
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    login_csrf: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    notice: Option<String>,
}

/// The login page, with a fresh double-submit token (or the one the browser already has, so
/// that two open login tabs both work).
fn login_form(
    headers: &HeaderMap,
    secure: bool,
    status: StatusCode,
    username: String,
    next: Option<String>,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    let token = cookie_value(headers, csrf::LOGIN_COOKIE)
        .filter(|t| {
            t.len() == 43
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(csrf::fresh);
    let mut response = render(
        status,
        &LoginPage {
            layout: Layout::anonymous("Log in").with_notice(notice),
            username,
            next: next.unwrap_or_default(),
            login_csrf: token.clone(),
            error,
        },
    );
    set_cookie(
        &mut response,
        cookie(csrf::LOGIN_COOKIE, token, LOGIN, 3600, secure),
    );
    response
}

/// `GET /ui/login`.
pub(super) async fn login_page(
    State(state): State<AppState>,
    session: Result<UiSession, Response>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !navigation(&headers) {
        return not_a_navigation();
    }
    let q: LoginQuery = query(raw.as_deref());
    let next = safe_next(q.next.as_deref());
    if session.is_ok() {
        return see_other(next.as_deref().unwrap_or(HOME));
    }
    let secure = over_tls(&headers, state.service.config());
    login_form(
        &headers,
        secure,
        StatusCode::OK,
        String::new(),
        next,
        None,
        q.notice.as_deref(),
    )
}

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    csrf: Option<String>,
}

/// `POST /ui/login`: the service's login; on success the session token goes into the
/// `auth_token` cookie (HttpOnly, `SameSite=Strict`, `Secure` over TLS) for as long as the token
/// lives.
pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let service = &state.service;
    let secure = over_tls(&headers, service.config());
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    let expected = cookie_value(&headers, csrf::LOGIN_COOKIE).unwrap_or_default();
    let own_origin = ambient::from_own_origin(&headers, service.config()).is_ok();
    if !own_origin || !csrf::matches(&expected, form.csrf.as_deref()) {
        return login_form(
            &headers,
            secure,
            StatusCode::FORBIDDEN,
            form.username,
            next,
            Some(
                "This login form had expired or came from another site. Please try again."
                    .to_string(),
            ),
            None,
        );
    }
    let password = Secret::new(form.password);
    match service.login(form.username.trim(), &password, addr).await {
        Ok((token, record, _user)) => {
            let mut response = see_other(next.as_deref().unwrap_or(HOME));
            let max_age = (record.expires_at - service.now()).max(0);
            let path = session_cookie_path(service.config());
            if path != "/" {
                // A cookie of an earlier start without the gateway would reach the upstream.
                set_cookie(&mut response, removal(SESSION_COOKIE, "/", secure));
            }
            set_cookie(
                &mut response,
                cookie(
                    SESSION_COOKIE,
                    token.expose().to_string(),
                    path,
                    max_age,
                    secure,
                ),
            );
            set_cookie(&mut response, removal(csrf::LOGIN_COOKIE, LOGIN, secure));
            response
        }
        Err(err) => {
            let status = err.status_code();
            let mut response = login_form(
                &headers,
                secure,
                status,
                form.username,
                next,
                Some(err.to_string()),
                None,
            );
            if let ApiError::TooManyRequests { retry_after, .. } = &err
                && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// `POST /ui/logout`: revokes the session token on the server, then forgets the cookie.
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    if let Err(err) = state.service.revoke_current(&session.actor).await {
        return error_page(session.layout("Error", ""), &err);
    }
    let config = state.service.config();
    let secure = over_tls(&headers, config);
    let mut response = see_other(&format!("{LOGIN}?notice=logged-out"));
    set_cookie(
        &mut response,
        removal(SESSION_COOKIE, session_cookie_path(config), secure),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(
            safe_next(Some("/ui/audit?user=bob")).as_deref(),
            Some("/ui/audit?user=bob")
        );
        for bad in [
            "//evil.example/ui/",
            "https://evil.example",
            "/ui/..//x",
            "/ui/\\evil",
            "/api/v1/me",
            "/ui/login?next=/ui/",
            "/ui/logout",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
        assert_eq!(safe_next(None), None);
    }
}
