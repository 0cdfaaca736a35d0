//! Web UI tests. HTTP-level tests (cookies, CSRF, security headers, redirects, 403 pages, error
//! messages) drive a real server with a plain HTTP client; browser tests drive Debian's headless
//! `chromium` through its `chromedriver` with fantoccini, click through the pages as a person
//! would, and save a screenshot of each page in `target/ui-screenshots/`.
//!
//! Without `chromium` and `chromedriver` the browser tests say `SKIPPED` on standard error and
//! pass, unless `JETON_REQUIRE_BROWSER=1` is set. `JETON_UPDATE_UI_SCREENSHOT=1` also writes the
//! README's `docs/ui-tokens.png`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::json;

mod common;
use common::*;

// ---------------------------------------------------------------- plain HTTP

/// A browser-less client: no redirects followed, cookies handled by hand.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `Set-Cookie` header that sets `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

/// The value of a cookie in a `Set-Cookie` header.
fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_string())
        .unwrap()
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_field(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("the page has a form token") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// A signed-in browser-less session.
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn cookie_header(&self) -> String {
        format!("auth_token={}", self.cookie)
    }
}

/// Logs in through the login form (with its double-submit token) and returns the answer.
async fn login_answer(
    server: &Server,
    username: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let page = send(http().get(format!("{}/ui/login", server.base))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let login_cookie = cookie_value(&page.set_cookie("jeton_login_csrf").unwrap());
    let token = csrf_field(&page.body);
    let request = http()
        .post(format!("{}/ui/login", server.base))
        .header("cookie", format!("jeton_login_csrf={login_cookie}"))
        .form(&[
            ("csrf", token.as_str()),
            ("username", username),
            ("password", password),
        ]);
    send(with_origin(request, server, extra)).await
}

async fn ui_login(server: &Server, username: &str, password: &str) -> Session {
    let answer = login_answer(server, username, password, &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let cookie = cookie_value(&answer.set_cookie("auth_token").unwrap());
    let page = get_page(
        server,
        &Session {
            cookie: cookie.clone(),
            csrf: String::new(),
        },
        "/ui/settings/tokens",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    Session {
        csrf: csrf_field(&page.body),
        cookie,
    }
}

async fn get_page(server: &Server, session: &Session, path: &str) -> Answer {
    send(
        http()
            .get(format!("{}{path}", server.base))
            .header("cookie", session.cookie_header()),
    )
    .await
}

/// Posts a form; `csrf` is the form token sent (`None`: none at all).
async fn post_form(
    server: &Server,
    session: &Session,
    path: &str,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Answer {
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    if let Some(csrf) = csrf {
        form.push(("csrf", csrf));
    }
    let mut request = http()
        .post(format!("{}{path}", server.base))
        .header("cookie", session.cookie_header())
        .form(&form);
    request = with_origin(request, server, headers);
    send(request).await
}

/// `headers` added to `request`, and `Origin: <the server>` unless they name an origin: what a
/// browser sends with a form posted from one of Jeton's pages.
fn with_origin(
    mut request: reqwest::RequestBuilder,
    server: &Server,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("origin"))
    {
        request = request.header("origin", &server.base);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

async fn post(server: &Server, session: &Session, path: &str, fields: &[(&str, &str)]) -> Answer {
    post_form(server, session, path, Some(&session.csrf), fields, &[]).await
}

/// The value shown once in a page (`id="..."` readonly input).
fn shown_value(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!(r#"id="{id}""#))?;
    let rest = &html[start..];
    let value = rest.find(r#"value=""#)? + r#"value=""#.len();
    Some(rest[value..].split('"').next()?.to_string())
}

async fn status_with_bearer(server: &Server, path: &str, token: &str) -> StatusCode {
    server.get(path, token).await.0
}

async fn status_with_key(server: &Server, key: &str) -> StatusCode {
    http()
        .get(format!("{}/api/v1/auth/verify", server.base))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_strict_and_secure_over_tls() {
    let server = spawn().await;
    let answer = login_answer(&server, "admin", ADMIN_PASSWORD, &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), "/ui/settings/tokens");
    let cookie = answer.set_cookie("auth_token").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(cookie.contains("Max-Age="), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    // A client's word that the connection is TLS is not taken...
    let answer = login_answer(
        &server,
        "admin",
        ADMIN_PASSWORD,
        &[("x-forwarded-proto", "https")],
    )
    .await;
    let cookie = answer.set_cookie("auth_token").unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
    // ... but behind a TLS-terminating proxy (--trust-forwarded-headers) the cookie is Secure.
    let proxied = spawn_with(|c| c.trust_forwarded_headers = true).await;
    let answer = login_answer(
        &proxied,
        "admin",
        ADMIN_PASSWORD,
        &[("x-forwarded-proto", "https")],
    )
    .await;
    let cookie = answer.set_cookie("auth_token").unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // The cookie is the session token: the API accepts it too.
    let value = cookie_value(&cookie);
    let me = http()
        .get(format!("{}/api/v1/me", proxied.base))
        .header("cookie", format!("auth_token={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_errors_are_said_in_plain_words_with_their_status() {
    let server = spawn_with(|config| config.login_attempts = 2).await;
    let answer = login_answer(&server, "admin", "wrong-password", &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.body.contains("invalid username or password"),
        "{}",
        answer.body
    );
    assert!(answer.set_cookie("auth_token").is_none());
    // The username stays in the form.
    assert!(answer.body.contains(r#"value="admin""#));

    let _ = login_answer(&server, "admin", "wrong-password", &[]).await;
    let answer = login_answer(&server, "admin", "wrong-password", &[]).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        answer.body.contains("too many failed logins; try again in"),
        "{}",
        answer.body
    );
    assert!(!answer.header("retry-after").is_empty());
}

#[tokio::test]
async fn the_login_form_needs_its_own_token() {
    let server = spawn().await;
    // No double-submit cookie, no field: refused, with a fresh form to try again.
    let answer = send(
        http()
            .post(format!("{}/ui/login", server.base))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.set_cookie("auth_token").is_none());
    assert!(answer.set_cookie("jeton_login_csrf").is_some());
    // A cookie that does not match the field: refused.
    let answer = send(
        http()
            .post(format!("{}/ui/login", server.base))
            .header(
                "cookie",
                "jeton_login_csrf=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            )
            .form(&[
                ("csrf", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
            ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.set_cookie("auth_token").is_none());
    // From another site: refused even with the right token.
    let answer = login_answer(
        &server,
        "admin",
        ADMIN_PASSWORD,
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.set_cookie("auth_token").is_none());
}

#[tokio::test]
async fn logout_revokes_the_session_token() {
    let server = spawn().await;
    let session = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    let me = |cookie: String| {
        let base = server.base.clone();
        async move {
            http()
                .get(format!("{base}/api/v1/me"))
                .header("cookie", format!("auth_token={cookie}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(session.cookie.clone()).await, StatusCode::OK);

    let answer = post(&server, &session, "/ui/logout", &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), "/ui/login?notice=logged-out");
    let cleared = answer.set_cookie("auth_token").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // The old cookie value no longer works anywhere.
    assert_eq!(me(session.cookie.clone()).await, StatusCode::UNAUTHORIZED);
    let page = get_page(&server, &session, "/ui/settings/tokens").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/ui/login"));

    let login = send(http().get(format!("{}/ui/login?notice=logged-out", server.base))).await;
    assert!(
        login.body.contains("your session token was revoked"),
        "{}",
        login.body
    );
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let server = spawn().await;
    let session = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    for path in [
        "/ui/settings/tokens",
        "/ui/identity/service-users",
        "/ui/admin/users",
        "/ui/admin/roles",
        "/ui/audit",
    ] {
        let page = get_page(&server, &session, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let csp = page.header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.header("x-frame-options"), "DENY");
        assert_eq!(page.header("referrer-policy"), "same-origin");
        assert_eq!(page.header("cache-control"), "no-store");
        assert!(page.header("content-type").starts_with("text/html"));
        // No inline script or style anywhere: the policy would block them.
        assert!(
            !page.body.contains("<script>") && !page.body.contains("style="),
            "{path}"
        );
    }
    let login = send(http().get(format!("{}/ui/login", server.base))).await;
    assert_eq!(login.header("x-frame-options"), "DENY");

    // The static files: versioned names, cached for a year.
    let page = get_page(&server, &session, "/ui/settings/tokens").await;
    let assets: Vec<&str> = page
        .body
        .match_indices("/ui/static/jeton.")
        .map(|(at, _)| page.body[at..].split('"').next().unwrap())
        .collect();
    assert_eq!(assets.len(), 2, "{assets:?}");
    for path in assets {
        let asset = send(http().get(format!("{}{path}", server.base))).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert!(
            asset.header("cache-control").contains("max-age=31536000"),
            "{path}"
        );
        let kind = if path.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(asset.header("content-type").starts_with(kind), "{path}");
    }
    let missing = send(http().get(format!("{}/ui/static/jeton.000000.css", server.base))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unauthenticated_pages_redirect_to_the_login_page() {
    let server = spawn().await;
    let answer = send(http().get(format!("{}/ui/audit?user=bob", server.base))).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.location(),
        "/ui/login?next=%2Fui%2Faudit%3Fuser%3Dbob"
    );
    let answer = send(http().get(format!("{}/", server.base))).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/ui/login");
    // A stale cookie is forgotten on the way.
    let answer = send(
        http()
            .get(format!("{}/ui/settings/tokens", server.base))
            .header("cookie", "auth_token=not-a-token"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(
        answer
            .set_cookie("auth_token")
            .unwrap()
            .contains("Max-Age=0")
    );

    // After login the user lands where they were going, but never on another site.
    let page = send(http().get(format!("{}/ui/login?next=%2Fui%2Faudit", server.base))).await;
    assert!(
        page.body.contains(r#"name="next" value="/ui/audit""#),
        "{}",
        page.body
    );
    let login_cookie = cookie_value(&page.set_cookie("jeton_login_csrf").unwrap());
    let token = csrf_field(&page.body);
    for (next, lands) in [
        ("/ui/audit", "/ui/audit"),
        ("//evil.example/", "/ui/settings/tokens"),
        ("https://evil.example/", "/ui/settings/tokens"),
    ] {
        let answer = send(
            http()
                .post(format!("{}/ui/login", server.base))
                .header("origin", &server.base)
                .header("cookie", format!("jeton_login_csrf={login_cookie}"))
                .form(&[
                    ("csrf", token.as_str()),
                    ("username", "admin"),
                    ("password", ADMIN_PASSWORD),
                    ("next", next),
                ]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location(), lands, "{next}");
    }

    // Signed in, `/` goes to the tokens page.
    let session = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    let answer = get_page(&server, &session, "/").await;
    assert_eq!(answer.location(), "/ui/settings/tokens");
    let unknown = get_page(&server, &session, "/ui/nowhere").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tenant_users_get_403_on_admin_pages_and_see_no_admin_links() {
    let server = spawn().await;
    let admin = server.admin().await;
    server.user(&admin, "alice", "tenant-user", None).await;
    let alice = ui_login(&server, "alice", "password-123").await;

    let tokens = get_page(&server, &alice, "/ui/settings/tokens").await;
    assert_eq!(tokens.status, StatusCode::OK);
    for link in ["/ui/identity", "/ui/admin", "/ui/audit"] {
        assert!(
            !tokens.body.contains(link),
            "a tenant user sees a link to {link}"
        );
    }
    for path in [
        "/ui/identity/service-users",
        "/ui/admin/users",
        "/ui/admin/roles",
        "/ui/audit",
        "/ui/admin/users/admin",
    ] {
        let page = get_page(&server, &alice, path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.body);
        assert!(page.body.contains("Forbidden"), "{path}");
        assert!(
            page.body.contains("insufficient permissions") || page.body.contains("administrator"),
            "{path}: {}",
            page.body
        );
    }
    // Posting to an admin form with a valid token is refused by the service too.
    let answer = post(
        &server,
        &alice,
        "/ui/identity/service-users",
        &[("name", "sneaky")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);

    // An admin sees the links.
    let admin_session = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    let tokens = get_page(&server, &admin_session, "/ui/settings/tokens").await;
    for link in ["/ui/identity/service-users", "/ui/admin/users", "/ui/audit"] {
        assert!(tokens.body.contains(link), "{link}");
    }
}

#[tokio::test]
async fn every_post_needs_the_form_token() {
    let server = spawn().await;
    let admin = server.admin().await;
    let session = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    let count = || async {
        let (_, list) = server.get("/api/v1/tokens?kind=api", &admin).await;
        list["items"].as_array().unwrap().len()
    };
    let fields = [("name", "csrf_probe"), ("expires", "7d")];

    // Without the token, and with a wrong one: 403, nothing created.
    let answer = post_form(&server, &session, "/ui/settings/tokens", None, &fields, &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("security token"), "{}", answer.body);
    let answer = post_form(
        &server,
        &session,
        "/ui/settings/tokens",
        Some("wrong"),
        &fields,
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // Another session's token does not fit this session.
    let other = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    assert_ne!(other.csrf, session.csrf);
    let answer = post_form(
        &server,
        &session,
        "/ui/settings/tokens",
        Some(&other.csrf),
        &fields,
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // The right token from another site: 403.
    for headers in [
        [("origin", "https://evil.example")],
        [("sec-fetch-site", "cross-site")],
    ] {
        let answer = post_form(
            &server,
            &session,
            "/ui/settings/tokens",
            Some(&session.csrf),
            &fields,
            &headers,
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert_eq!(count().await, 0);
    // Logout is a form too.
    let answer = post_form(&server, &session, "/ui/logout", None, &[], &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // With the right token, from this site: created, the value shown once, never cached.
    let origin = server.base.clone();
    let answer = post_form(
        &server,
        &session,
        "/ui/settings/tokens",
        Some(&session.csrf),
        &fields,
        &[
            ("origin", origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), "no-store");
    let value = shown_value(&answer.body, "new-token-value").unwrap();
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", &value).await,
        StatusCode::OK
    );
    assert_eq!(count().await, 1);
}

#[tokio::test]
async fn token_page_errors_appear_next_to_the_form_with_the_policy() {
    let server = spawn().await;
    let admin = server.admin().await;
    server.user(&admin, "analyst", "tenant-user", None).await;
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/users/analyst/token-policy",
            Some(&admin),
            Some(json!({"max_duration": "24h"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = ui_login(&server, "analyst", "password-123").await;

    let page = get_page(&server, &session, "/ui/settings/tokens").await;
    assert!(
        page.body
            .contains("Your tokens may last at most 1d (set on user analyst)"),
        "{}",
        page.body
    );

    let answer = post(
        &server,
        &session,
        "/ui/settings/tokens",
        &[
            ("name", "too_long"),
            ("expires", "30d"),
            ("comment", "kept"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer
            .body
            .contains("requested 30d exceeds the maximum of 1d set on user analyst"),
        "{}",
        answer.body
    );
    // What was typed is kept.
    assert!(answer.body.contains(r#"value="too_long""#) && answer.body.contains(r#"value="kept""#));
    assert!(shown_value(&answer.body, "new-token-value").is_none());

    let answer = post(
        &server,
        &session,
        "/ui/settings/tokens",
        &[("name", "ok"), ("expires_custom", "12h")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let answer = post(
        &server,
        &session,
        "/ui/settings/tokens",
        &[("name", "ok"), ("expires", "custom")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("enter a custom duration"),
        "{}",
        answer.body
    );
    let answer = post(
        &server,
        &session,
        "/ui/settings/tokens",
        &[("name", "ok"), ("expires_custom", "2h")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(
        answer
            .body
            .contains("a token named &#39;ok&#39; already exists")
            || answer.body.contains("a token named 'ok' already exists"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn revoking_without_javascript_asks_first() {
    let server = spawn().await;
    let admin = server.admin().await;
    let session = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    let (_, created) = server
        .create_token(&admin, json!({"name": "nojs", "comment": "before"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let token = created["token"].as_str().unwrap();

    // The comment, edited in place.
    let answer = post(
        &server,
        &session,
        &format!("/ui/settings/tokens/{id}/comment"),
        &[("comment", "after"), ("all", "")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(
        answer.location(),
        "/ui/settings/tokens?notice=comment-saved"
    );
    let page = get_page(&server, &session, answer.location()).await;
    assert!(page.body.contains(r#"value="after""#) && page.body.contains("Comment saved."));
    let long = "x".repeat(1100);
    let answer = post(
        &server,
        &session,
        &format!("/ui/settings/tokens/{id}/comment"),
        &[("comment", &long)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("comment is too long"));

    // Without `confirmed`: a page that asks, and the token still works.
    let answer = post(
        &server,
        &session,
        &format!("/ui/settings/tokens/{id}/revoke"),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.body.contains("Revoke token “nojs”?"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains(r#"name="confirmed" value="1""#));
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", token).await,
        StatusCode::OK
    );

    let answer = post(
        &server,
        &session,
        &format!("/ui/settings/tokens/{id}/revoke"),
        &[("confirmed", "1")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", token).await,
        StatusCode::UNAUTHORIZED
    );
    let page = get_page(&server, &session, "/ui/settings/tokens").await;
    assert!(!page.body.contains(r#"data-token-name="nojs""#));
    let page = get_page(&server, &session, "/ui/settings/tokens?all=1").await;
    assert!(
        page.body
            .contains(r#"data-token-name="nojs" data-status="revoked""#),
        "{}",
        page.body
    );

    // Someone else's token id is not found.
    let answer = post(
        &server,
        &session,
        "/ui/settings/tokens/00000000-0000-0000-0000-000000000000/revoke",
        &[("confirmed", "1")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn service_users_are_created_rotated_disabled_and_deleted_from_forms() {
    let server = spawn().await;
    let session = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    let base = "/ui/identity/service-users";

    let answer = post(
        &server,
        &session,
        base,
        &[
            ("name", "etl-pipeline"),
            ("role", "TenantUser"),
            ("expires", "90d"),
            ("description", "nightly"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), "no-store");
    let key = shown_value(&answer.body, "new-key-value").unwrap();
    assert!(key.starts_with("jsk_"));
    assert_eq!(status_with_key(&server, &key).await, StatusCode::OK);
    let start = answer.body.find(r#"id="new-key-id">"#).unwrap() + r#"id="new-key-id">"#.len();
    let id = answer.body[start..].split('<').next().unwrap().to_string();

    // Shown once: the list has only a hint.
    let page = get_page(&server, &session, base).await;
    assert!(!page.body.contains(&key));
    assert!(page.body.contains(&key[..8]), "the key hint");

    // Errors next to the form: a duplicate name, a level above one's own is not even offered
    // to a tenant admin (and refused by the service if sent).
    let answer = post(&server, &session, base, &[("name", "etl-pipeline")]).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(
        answer.body.contains("a service user named") && answer.body.contains("already exists"),
        "{}",
        answer.body
    );

    // Rotation with a grace period: both keys work, and the page says until when.
    let answer = post(
        &server,
        &session,
        &format!("{base}/{id}/rotate"),
        &[("grace", "1h")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let second = shown_value(&answer.body, "new-key-value").unwrap();
    assert!(
        answer.body.contains("The old key keeps working until"),
        "{}",
        answer.body
    );
    assert_eq!(status_with_key(&server, &key).await, StatusCode::OK);
    // Without one, the old key stops now.
    let answer = post(
        &server,
        &session,
        &format!("{base}/{id}/rotate"),
        &[("grace", "")],
    )
    .await;
    let third = shown_value(&answer.body, "new-key-value").unwrap();
    assert!(answer.body.contains("The old key stopped working now."));
    assert_eq!(
        status_with_key(&server, &second).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_with_key(&server, &third).await, StatusCode::OK);
    let answer = post(
        &server,
        &session,
        &format!("{base}/{id}/rotate"),
        &[("grace", "90d")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains("too long: at most 30d"),
        "{}",
        answer.body
    );

    // Disable and enable.
    let answer = post(&server, &session, &format!("{base}/{id}/disable"), &[]).await;
    assert_eq!(answer.location(), format!("{base}?notice=disabled"));
    assert_eq!(
        status_with_key(&server, &third).await,
        StatusCode::UNAUTHORIZED
    );
    let page = get_page(&server, &session, answer.location()).await;
    assert!(page.body.contains(r#"data-status="disabled""#));
    let answer = post(&server, &session, &format!("{base}/{id}/enable"), &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(status_with_key(&server, &third).await, StatusCode::OK);

    // Delete asks first, then deletes.
    let answer = post(&server, &session, &format!("{base}/{id}/delete"), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("Delete service user “etl-pipeline”?"));
    assert_eq!(status_with_key(&server, &third).await, StatusCode::OK);
    let answer = post(
        &server,
        &session,
        &format!("{base}/{id}/delete"),
        &[("confirmed", "1")],
    )
    .await;
    assert_eq!(answer.location(), format!("{base}?notice=deleted"));
    assert_eq!(
        status_with_key(&server, &third).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn admins_set_policies_and_revoke_a_users_tokens() {
    let server = spawn().await;
    let admin = server.admin().await;
    let bob = server.user(&admin, "bob", "tenant-user", None).await;
    let (status, _) = server
        .post("/api/v1/roles", &admin, json!({"name": "service_accounts"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, one) = server.create_token(&bob, json!({"name": "one"})).await;
    let (_, two) = server.create_token(&bob, json!({"name": "two"})).await;
    let session = ui_login(&server, "admin", ADMIN_PASSWORD).await;

    let users = get_page(&server, &session, "/ui/admin/users").await;
    assert!(
        users.body.contains(r#"data-username="bob""#),
        "{}",
        users.body
    );
    let (_, bob_record) = server.get("/api/v1/users/bob", &admin).await;
    let url = format!("/ui/admin/users/{}", bob_record["id"].as_str().unwrap());

    let page = get_page(&server, &session, &url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("1y (the system maximum)"),
        "{}",
        page.body
    );
    let answer = post(
        &server,
        &session,
        &format!("{url}/policy"),
        &[("max_duration", "24h"), ("op", "set")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let page = get_page(&server, &session, answer.location()).await;
    assert!(
        page.body.contains("1d (set on user bob)") && page.body.contains("Token policy saved."),
        "{}",
        page.body
    );
    let answer = post(
        &server,
        &session,
        &format!("{url}/policy"),
        &[("max_duration", "5y"), ("op", "set")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains("exceeds the system maximum of 1y"),
        "{}",
        answer.body
    );
    let answer = post(
        &server,
        &session,
        &format!("{url}/policy"),
        &[("max_duration", "24h"), ("op", "clear")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let (_, policy) = server.get("/api/v1/users/bob/token-policy", &admin).await;
    assert_eq!(policy["source"], "system", "{policy}");

    // Role limits.
    let roles = get_page(&server, &session, "/ui/admin/roles").await;
    assert!(roles.body.contains(r#"data-role="service_accounts""#));
    let answer = post(
        &server,
        &session,
        "/ui/admin/roles/service_accounts/policy",
        &[("max_duration", "30d"), ("op", "set")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let roles = get_page(&server, &session, answer.location()).await;
    assert!(roles.body.contains("30d"));
    let answer = post(
        &server,
        &session,
        "/ui/admin/roles/service_accounts/policy",
        &[("max_duration", "soon"), ("op", "set")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("invalid duration"), "{}", answer.body);

    // One token, then all of them.
    let one_id = one["id"].as_str().unwrap();
    let answer = post(
        &server,
        &session,
        &format!("{url}/tokens/{one_id}/revoke"),
        &[("confirmed", "1")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", one["token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", two["token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let answer = post(&server, &session, &format!("{url}/tokens/revoke-all"), &[]).await;
    assert!(answer.body.contains("Revoke every token of bob?"));
    let answer = post(
        &server,
        &session,
        &format!("{url}/tokens/revoke-all"),
        &[("confirmed", "1")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", two["token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", &bob).await,
        StatusCode::UNAUTHORIZED
    );

    // Deactivate and activate.
    let answer = post(
        &server,
        &session,
        &format!("{url}/active"),
        &[("active", "false")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let page = get_page(&server, &session, answer.location()).await;
    assert!(page.body.contains("User deactivated"));
    let answer = post(
        &server,
        &session,
        &format!("{url}/active"),
        &[("active", "true")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_audit_log_filters_and_pages() {
    let server = spawn().await;
    let admin = server.admin().await;
    for i in 0..55 {
        let (status, _) = server
            .create_token(&admin, json!({"name": format!("t{i}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let session = ui_login(&server, "admin", ADMIN_PASSWORD).await;
    let page = get_page(&server, &session, "/ui/audit?action=token.create&since=1h").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body.matches("<code>token.create</code>").count(), 50);
    // Newest first.
    assert!(page.body.find("token t54").unwrap() < page.body.find("token t53").unwrap());
    let start = page.body.find(r#"href="/ui/audit?"#).unwrap() + r#"href=""#.len();
    let older = page.body[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    assert!(
        older.contains("cursor=") && older.contains("action=token.create"),
        "{older}"
    );
    let page = get_page(&server, &session, &older).await;
    assert_eq!(page.body.matches("<code>token.create</code>").count(), 5);

    let page = get_page(
        &server,
        &session,
        "/ui/audit?user=admin&since=2000-01-01T00%3A00",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("auth.login"));
    let page = get_page(&server, &session, "/ui/audit?since=yesterday").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("invalid time"), "{}", page.body);
    let page = get_page(&server, &session, "/ui/audit?user=nobody").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.body.contains("user &#39;nobody&#39; not found")
            || page.body.contains("user 'nobody' not found"),
        "{}",
        page.body
    );
}

// ---------------------------------------------------------------- browser

/// Headless chromium driven through a chromedriver this test started. The session is closed
/// (which ends chromium) when the test body ends, passing or failing; the driver is then ended
/// by its process id.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

impl Browser {
    /// Starts one, or says why not: `None` (after a loud `SKIPPED`) when chromium or
    /// chromedriver is missing, unless `JETON_REQUIRE_BROWSER=1` asks for a failure instead.
    async fn start(test: &str) -> Option<Browser> {
        let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
        let driver = find_program(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var("JETON_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                panic!(
                    "JETON_REQUIRE_BROWSER=1 but chromium or chromedriver is missing: apt-get install -y chromium chromium-driver"
                );
            }
            // Straight to standard error: the test harness captures `eprintln!` of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test}: install chromium chromium-driver (Debian) to run the browser tests"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status")).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ready {
            let _ = driver.kill();
            let _ = driver.wait();
            panic!("chromedriver did not answer on {url}");
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--no-first-run".to_string(),
            "--disable-quic".to_string(),
            "--window-size=1280,1000".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({"binary": chromium, "args": args}),
        );
        let client = match ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&url)
            .await
        {
            Ok(client) => client,
            Err(err) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("no chromium session: {err}");
            }
        };
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Runs `body` with a browser (or skips, see [`Browser::start`]). Whatever happens in `body`,
/// the browser session is closed before the test ends; on a failure the page is saved as
/// `target/ui-screenshots/FAILED-<test>.png` and `.html`.
async fn with_browser<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures_util::FutureExt;
    let Some(browser) = Browser::start(test).await else {
        return;
    };
    let outcome = std::panic::AssertUnwindSafe(body(browser.client.clone()))
        .catch_unwind()
        .await;
    if outcome.is_err() {
        if let Ok(png) = browser.client.screenshot().await {
            let _ = std::fs::write(screenshot_dir().join(format!("FAILED-{test}.png")), png);
        }
        if let Ok(html) = browser.client.source().await {
            let _ = std::fs::write(screenshot_dir().join(format!("FAILED-{test}.html")), html);
        }
    }
    let _ = browser.client.clone().close().await;
    drop(browser);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"));
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) -> Vec<u8> {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), &png).unwrap();
    png
}

async fn browser_login(client: &Client, server: &Server, username: &str, password: &str) {
    client
        .goto(&format!("{}/ui/login", server.base))
        .await
        .unwrap();
    client
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    client
        .find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("whoami-name"))
        .await
        .unwrap();
}

/// Clicks a button whose form asks with `confirm()`, and says yes.
async fn click_and_confirm(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let text = client.get_alert_text().await.unwrap();
    assert!(!text.is_empty());
    client.accept_alert().await.unwrap();
}

#[tokio::test]
async fn browser_token_lifecycle_as_a_tenant_user() {
    with_browser("browser_token_lifecycle_as_a_tenant_user", token_lifecycle).await;
}

async fn token_lifecycle(client: Client) {
    let client = &client;
    let server = spawn().await;
    let admin = server.admin().await;
    server.user(&admin, "alice", "tenant-user", None).await;

    client.goto(&format!("{}/", server.base)).await.unwrap();
    client
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .unwrap();
    screenshot(client, "login").await;
    browser_login(client, &server, "alice", "password-123").await;
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/ui/settings/tokens")
    );

    // Create a token and read its value from the page.
    client
        .find(Locator::Id("token-name"))
        .await
        .unwrap()
        .send_keys("ui_token")
        .await
        .unwrap();
    client
        .find(Locator::Css("#token-expires option[value='30d']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Id("token-comment"))
        .await
        .unwrap()
        .send_keys("Jupyter notebook")
        .await
        .unwrap();
    client
        .find(Locator::Id("create-token-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let field = client
        .wait()
        .for_element(Locator::Id("new-token-value"))
        .await
        .unwrap();
    let value = field.prop("value").await.unwrap().unwrap();
    assert!(value.starts_with("ey"), "{value}");
    assert!(
        client
            .source()
            .await
            .unwrap()
            .contains("it will not be shown again")
    );
    // The copy button is there with JavaScript on.
    let copy = client
        .find(Locator::Css("button[data-copy='new-token-value']"))
        .await
        .unwrap();
    assert!(copy.is_displayed().await.unwrap());
    screenshot(client, "tokens-created").await;
    if std::env::var("JETON_UPDATE_UI_SCREENSHOT").is_ok_and(|v| v == "1") {
        // A taller window for the README, so that the list shows under the new token.
        client.set_window_size(1280, 1100).await.unwrap();
        let png = client.screenshot().await.unwrap();
        client.set_window_size(1280, 1000).await.unwrap();
        let docs = workspace_dir().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("ui-tokens.png"), &png).unwrap();
    }

    // The value works with any HTTP client.
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", &value).await,
        StatusCode::OK
    );

    // Load the page again: the value is gone.
    client
        .goto(&format!("{}/ui/settings/tokens", server.base))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("tr[data-token-name='ui_token']"))
        .await
        .unwrap();
    assert!(!client.source().await.unwrap().contains(&value));
    assert!(client.find(Locator::Id("new-token-value")).await.is_err());

    // Edit the comment in place.
    let input = client
        .find(Locator::Css(
            "tr[data-token-name='ui_token'] input[name='comment']",
        ))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys("moved to the new runner").await.unwrap();
    client
        .find(Locator::Css("tr[data-token-name='ui_token'] .comment-save"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    let input = client
        .find(Locator::Css(
            "tr[data-token-name='ui_token'] input[name='comment']",
        ))
        .await
        .unwrap();
    assert_eq!(
        input.prop("value").await.unwrap().unwrap(),
        "moved to the new runner"
    );
    let (_, list) = server.get("/api/v1/tokens?kind=api", &value).await;
    assert_eq!(
        list["items"][0]["comment"], "moved to the new runner",
        "{list}"
    );

    // Revoke, with the confirmation dialog: the token stops working.
    click_and_confirm(client, "tr[data-token-name='ui_token'] .revoke").await;
    let notice = client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    assert!(notice.text().await.unwrap().contains("Token revoked"));
    assert_eq!(
        status_with_bearer(&server, "/api/v1/me", &value).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        client
            .find(Locator::Css("tr[data-token-name='ui_token']"))
            .await
            .is_err()
    );

    // The toggle reveals it.
    client
        .find(Locator::Id("toggle-all"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(
            "tr[data-token-name='ui_token'][data-status='revoked']",
        ))
        .await
        .unwrap();
    screenshot(client, "tokens-all").await;

    // No admin links; the admin pages answer 403.
    let admin_links = client
        .find_all(Locator::Css(
            "a[href^='/ui/admin'], a[href^='/ui/identity'], a[href^='/ui/audit']",
        ))
        .await
        .unwrap();
    assert!(admin_links.is_empty());
    for path in ["/ui/identity/service-users", "/ui/admin/users", "/ui/audit"] {
        client
            .goto(&format!("{}{path}", server.base))
            .await
            .unwrap();
        let code = client
            .wait()
            .for_element(Locator::Css(".status-code"))
            .await
            .unwrap();
        assert_eq!(code.text().await.unwrap(), "403", "{path}");
    }
    screenshot(client, "forbidden").await;

    // Log out: back to the login page.
    client
        .goto(&format!("{}/ui/settings/tokens", server.base))
        .await
        .unwrap();
    client
        .find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .unwrap();
    client
        .goto(&format!("{}/ui/settings/tokens", server.base))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .unwrap();
}

#[tokio::test]
async fn browser_service_users_and_admin_pages() {
    with_browser(
        "browser_service_users_and_admin_pages",
        service_users_and_admin_pages,
    )
    .await;
}

async fn service_users_and_admin_pages(client: Client) {
    let client = &client;
    let server = spawn().await;
    let admin = server.admin().await;
    server.user(&admin, "analyst", "tenant-user", None).await;
    let (status, _) = server
        .post("/api/v1/roles", &admin, json!({"name": "service_accounts"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/users/analyst/roles/service_accounts",
            Some(&admin),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/roles/service_accounts/token-policy",
            Some(&admin),
            Some(json!({"max_duration": "30d"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .create_token(
            &admin,
            json!({"name": "report_bot", "for_user": "analyst", "comment": "reports"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    browser_login(client, &server, "admin", ADMIN_PASSWORD).await;

    // Create a service user: its key is shown once, in a dialog.
    client
        .find(Locator::Css("a[href='/ui/identity/service-users']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("su-name"))
        .await
        .unwrap()
        .send_keys("etl-pipeline")
        .await
        .unwrap();
    client
        .find(Locator::Id("su-description"))
        .await
        .unwrap()
        .send_keys("Nightly loads")
        .await
        .unwrap();
    client
        .find(Locator::Css("#su-role option[value='TenantUser']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("#su-expires option[value='90d']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Id("create-service-user-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let field = client
        .wait()
        .for_element(Locator::Id("new-key-value"))
        .await
        .unwrap();
    let key = field.prop("value").await.unwrap().unwrap();
    assert!(key.starts_with("jsk_"), "{key}");
    assert!(
        client
            .find(Locator::Id("key-dialog"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    screenshot(client, "service-users-created").await;
    assert_eq!(status_with_key(&server, &key).await, StatusCode::OK);

    // Close the dialog; the key is gone from the list.
    client
        .find(Locator::Id("key-dialog-close"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .goto(&format!("{}/ui/identity/service-users", server.base))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("tr[data-name='etl-pipeline']"))
        .await
        .unwrap();
    assert!(!client.source().await.unwrap().contains(&key));

    // Rotate (no grace period): a new key once; the old one fails, the new one works.
    click_and_confirm(client, "tr[data-name='etl-pipeline'] .rotate").await;
    let field = client
        .wait()
        .for_element(Locator::Id("new-key-value"))
        .await
        .unwrap();
    let new_key = field.prop("value").await.unwrap().unwrap();
    assert_ne!(new_key, key);
    let old_state = client
        .find(Locator::Id("old-key-state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(old_state.contains("stopped working now"), "{old_state}");
    screenshot(client, "service-users-rotated").await;
    assert_eq!(
        status_with_key(&server, &key).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_with_key(&server, &new_key).await, StatusCode::OK);
    client
        .find(Locator::Id("key-dialog-close"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Disable it: the key stops.
    click_and_confirm(client, "tr[data-name='etl-pipeline'] .disable").await;
    client
        .wait()
        .for_element(Locator::Css(
            "tr[data-name='etl-pipeline'][data-status='disabled']",
        ))
        .await
        .unwrap();
    assert_eq!(
        status_with_key(&server, &new_key).await,
        StatusCode::UNAUTHORIZED
    );
    screenshot(client, "service-users").await;

    // Users & policies, one user, roles, audit.
    client
        .find(Locator::Css("a[href='/ui/admin/users']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("tr[data-username='analyst'] a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let effective = client
        .wait()
        .for_element(Locator::Id("effective-policy"))
        .await
        .unwrap();
    assert_eq!(
        effective.text().await.unwrap(),
        "30d (set on role service_accounts)"
    );
    client
        .find(Locator::Id("policy-value"))
        .await
        .unwrap()
        .send_keys("7d")
        .await
        .unwrap();
    client
        .find(Locator::Id("policy-set"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    // The longest limit wins: the role's 30d.
    let effective = client.find(Locator::Id("effective-policy")).await.unwrap();
    assert_eq!(
        effective.text().await.unwrap(),
        "30d (set on role service_accounts)"
    );
    client
        .wait()
        .for_element(Locator::Css("tr[data-token-name='report_bot']"))
        .await
        .unwrap();
    screenshot(client, "user").await;
    client
        .goto(&format!("{}/ui/admin/users", server.base))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("user-list"))
        .await
        .unwrap();
    screenshot(client, "users").await;
    client
        .find(Locator::Css("a[href='/ui/admin/roles']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("tr[data-role='service_accounts']"))
        .await
        .unwrap();
    screenshot(client, "roles").await;
    client
        .find(Locator::Css("a[href='/ui/audit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("audit-list"))
        .await
        .unwrap();
    let source = client.source().await.unwrap();
    for action in [
        "service_user.create",
        "api_key.rotate",
        "policy.set",
        "auth.login",
    ] {
        assert!(source.contains(action), "{action}");
    }
    screenshot(client, "audit").await;
}
