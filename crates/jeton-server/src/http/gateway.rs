//! Gateway mode (`jeton serve --upstream URL`): every request outside Jeton's own paths is
//! authenticated like any API request, then forwarded to the upstream with the credential
//! removed and the caller's identity added as `X-Jeton-*` headers. Bodies stream both ways;
//! methods, query strings, status codes and other headers pass through.
//!
//! What is Jeton's never reaches the upstream, in any spelling the upstream might read it in:
//! a header whose name, with `_` and `-` folded and case ignored, starts with `x-jeton-` or is
//! `x-api-key` (WSGI, CGI and nginx's `underscores_in_headers` read `X_Jeton_User` as
//! `X-Jeton-User`); an `Authorization` of the scheme Jeton reads as its credential, however
//! spaced or cased ([`is_bearer`], the parser the credential is taken with); a cookie whose
//! name, percent-decoded, case and `.`/`-`/space folded, is one of Jeton's (`auth%5Ftoken`).
//! The client's `X-Forwarded-*` and `Forwarded` headers are replaced by Jeton's own unless
//! `--trust-forwarded-headers` says a proxy in front sets them. A path that, decoded and with
//! its dot segments resolved, would leave the upstream's base path is refused (400), and the
//! upstream cannot set or overwrite Jeton's cookies (its `Set-Cookie` for them is dropped).
//!
//! Without an upstream, the same fallback answers 404.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::{AppState, Authenticated, ClientAddr, SESSION_COOKIE, is_bearer};
use crate::error::ApiError;
use crate::verify::Actor;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Where forwarded requests go, and the HTTP client that takes them there.
pub struct Gateway {
    base: String,
    client: reqwest::Client,
}

impl Gateway {
    /// A gateway to `upstream` (a base URL such as `http://127.0.0.1:9000` or
    /// `http://catalog:8181/base`).
    pub fn new(upstream: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .expect("a client with these options builds");
        Self {
            base: upstream.trim_end_matches('/').to_string(),
            client,
        }
    }
}

/// Answers every request no route matched: forwarded in gateway mode, 404 otherwise.
pub(super) async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    let Some(gateway) = state.gateway.clone() else {
        return ApiError::NotFound("no such endpoint".to_string()).into_response();
    };
    if let Err(err) = check_path(request.uri().path()) {
        return err.into_response();
    }
    let (mut parts, body) = request.into_parts();
    let actor = match Authenticated::from_request_parts(&mut parts, &state).await {
        Ok(Authenticated(actor)) => actor,
        Err(err) => return err.into_response(),
    };
    let ClientAddr(addr) = ClientAddr::from_request_parts(&mut parts, &state)
        .await
        .unwrap_or(ClientAddr(None));
    forward(&gateway, &state, &actor, addr, parts, body).await
}

async fn forward(
    gateway: &Arc<Gateway>,
    state: &AppState,
    actor: &Actor,
    addr: Option<String>,
    parts: axum::http::request::Parts,
    body: Body,
) -> Response {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{}", gateway.base, path_and_query);
    let headers = upstream_headers(&parts.headers, state, actor, addr.as_deref());
    let method = match reqwest::Method::from_bytes(parts.method.as_str().as_bytes()) {
        Ok(method) => method,
        Err(_) => return ApiError::BadRequest("unsupported method".into()).into_response(),
    };
    let stream = body.into_data_stream();
    let upstream = gateway
        .client
        .request(method, &url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let upstream = match upstream {
        Ok(response) => response,
        Err(err) => {
            tracing::warn!(error = %err, "gateway: the upstream did not answer");
            return bad_gateway();
        }
    };
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::builder().status(status);
    if let Some(headers) = response.headers_mut() {
        for (name, value) in upstream.headers() {
            if is_hop_by_hop(name.as_str()) {
                continue;
            }
            // The upstream's pages share Jeton's origin; it must not set Jeton's session.
            if name == reqwest::header::SET_COOKIE
                && set_cookie_name(value.as_bytes()).is_some_and(|n| is_jetons_cookie(&n))
            {
                continue;
            }
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_str().as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.append(name, value);
            }
        }
    }
    let body = Body::from_stream(upstream.bytes_stream().map_err(std::io::Error::other));
    response.body(body).unwrap_or_else(|_| bad_gateway())
}

fn bad_gateway() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        axum::Json(jeton_api::ErrorBody {
            error: jeton_api::ErrorDetail {
                code: "bad_gateway".to_string(),
                message: "the upstream service did not answer".to_string(),
            },
        }),
    )
        .into_response()
}

fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
}

/// The request's headers as the upstream sees them: without hop-by-hop headers, without
/// anything of Jeton's in any spelling (see the module's documentation), and with the verified
/// identity and Jeton's own `X-Forwarded-*` headers added.
fn upstream_headers(
    incoming: &HeaderMap,
    state: &AppState,
    actor: &Actor,
    addr: Option<&str>,
) -> reqwest::header::HeaderMap {
    let config = state.service.config();
    let trust_forwarded = config.trust_forwarded_headers;
    let listed: Vec<String> = incoming
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    let mut out = reqwest::header::HeaderMap::new();
    for (name, value) in incoming {
        let lower = name.as_str();
        let folded = fold_header_name(lower);
        let drop = is_hop_by_hop(lower)
            || listed.iter().any(|l| l == lower)
            || lower == "host"
            || lower == "cookie"
            || is_jetons_header(&folded)
            || (lower == "authorization" && is_bearer(value.as_bytes()))
            || (is_forwarding_header(&folded) && (!trust_forwarded || folded != lower));
        if drop {
            continue;
        }
        append(&mut out, lower, value.as_bytes());
    }
    // Cookies pass, except Jeton's own in any spelling.
    let cookies: Vec<&str> = incoming
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| !is_jetons_cookie(c.split('=').next().unwrap_or_default()))
        .collect();
    if !cookies.is_empty() {
        append(&mut out, "cookie", cookies.join("; ").as_bytes());
    }
    let tenant = state
        .service
        .directory()
        .tenant_name(actor.principal.tenant_id)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let scopes = actor.scopes.clone().unwrap_or_default().join(" ");
    for (name, value) in [
        ("x-jeton-user", actor.principal.username.as_str()),
        ("x-jeton-user-id", &actor.principal.id.to_string()),
        ("x-jeton-tenant", &tenant),
        ("x-jeton-tenant-id", &actor.principal.tenant_id.to_string()),
        ("x-jeton-scopes", &scopes),
        ("x-jeton-token-id", &actor.token_id.to_string()),
        ("x-jeton-access-level", actor.principal.access.as_str()),
        ("x-jeton-principal-type", actor.principal.kind.as_str()),
        ("x-jeton-credential-kind", actor.kind.as_str()),
    ] {
        append(&mut out, name, value.as_bytes());
    }
    if let Some(addr) = addr {
        // A trusted proxy's chain is extended; otherwise the chain starts here, so that an
        // upstream reading its first entry reads the address Jeton saw.
        let forwarded_for = match out.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {addr}"),
            None => addr.to_string(),
        };
        out.remove("x-forwarded-for");
        append(&mut out, "x-forwarded-for", forwarded_for.as_bytes());
    }
    if let Some(host) = incoming.get(header::HOST)
        && !out.contains_key("x-forwarded-host")
    {
        append(&mut out, "x-forwarded-host", host.as_bytes());
    }
    if !out.contains_key("x-forwarded-proto") {
        let proto: &[u8] = if config.tls.is_some() {
            b"https"
        } else {
            b"http"
        };
        append(&mut out, "x-forwarded-proto", proto);
    }
    out
}

/// A header name as upstreams that fold `_` into `-` read it: lower case, `_` as `-`.
pub(super) fn fold_header_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Headers only Jeton may send the upstream (`X-Jeton-*`), or that carry a Jeton credential.
fn is_jetons_header(folded: &str) -> bool {
    is_identity_header(folded) || folded == "x-api-key"
}

/// The identity headers Jeton sets (`X-Jeton-*`), by their folded name.
pub(super) fn is_identity_header(folded: &str) -> bool {
    folded.starts_with("x-jeton-")
}

/// Headers that say where a request came from, which a client could invent.
fn is_forwarding_header(folded: &str) -> bool {
    folded == "forwarded" || folded == "x-real-ip" || folded.starts_with("x-forwarded-")
}

/// True for a cookie name that is, or that an upstream could read as, one of Jeton's cookies:
/// percent-decoded (repeatedly), trimmed, lower case, with `.`, `-`, `[` and spaces as `_`
/// (PHP, for one, reads `auth.token` as `auth_token`).
fn is_jetons_cookie(name: &str) -> bool {
    let mut name = name.to_string();
    for _ in 0..4 {
        let decoded = percent_encoding::percent_decode_str(&name)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == name {
            break;
        }
        name = decoded;
    }
    let folded: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '.' | '-' | ' ' | '[' => '_',
            other => other.to_ascii_lowercase(),
        })
        .collect();
    folded == SESSION_COOKIE || folded == crate::ui::csrf::LOGIN_COOKIE
}

/// The name of the cookie a `Set-Cookie` value sets.
fn set_cookie_name(value: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(value);
    let (name, _) = text.split_once('=')?;
    Some(name.trim().to_string())
}

/// Refuses (400) a path that would reach outside the upstream's base path: one whose dot
/// segments, once percent-decoded (as often as it decodes, since some upstreams decode again)
/// and with `\` read as `/` (as some servers do) and `;parameters` cut off (`..;/`), climb above
/// the root; and a request target that is not a path at all (`*`).
pub(crate) fn check_path(path: &str) -> Result<(), ApiError> {
    let refuse = || {
        ApiError::BadRequest(
            "the request path leaves the upstream's base path (dot segments)".to_string(),
        )
    };
    if !path.starts_with('/') {
        return Err(refuse());
    }
    let mut current = path.as_bytes().to_vec();
    // An upstream (or a proxy behind it) may decode more than once; five rounds is more than
    // any legitimate client encodes, so a path still changing after them is refused.
    for _ in 0..5 {
        if climbs_above_root(&current) {
            return Err(refuse());
        }
        let decoded: Vec<u8> = percent_encoding::percent_decode(&current).collect();
        if decoded == current {
            return Ok(());
        }
        current = decoded;
    }
    Err(ApiError::BadRequest(
        "the request path is percent-encoded too many times".to_string(),
    ))
}

/// True when removing the dot segments of `path` (RFC 3986 §5.2.4, with `\` as a separator
/// too and each segment's `;parameters` ignored) would go above its root.
fn climbs_above_root(path: &[u8]) -> bool {
    let mut depth: usize = 0;
    for segment in path.split(|b| *b == b'/' || *b == b'\\') {
        let name = segment.split(|b| *b == b';').next().unwrap_or_default();
        match name {
            b"" | b"." => {}
            b".." => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}

fn append(map: &mut reqwest::header::HeaderMap, name: &str, value: &[u8]) {
    if let (Ok(name), Ok(value)) = (
        reqwest::header::HeaderName::from_bytes(name.as_bytes()),
        reqwest::header::HeaderValue::from_bytes(value),
    ) {
        map.append(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_climb_out_are_refused_in_every_encoding() {
        for fine in [
            "/",
            "/v1/namespaces",
            "/a/../b",
            "/a/./b/",
            "/a%2fb",
            "/file..txt",
            "/..a/b",
            "/%7e/x",
        ] {
            assert!(check_path(fine).is_ok(), "{fine}");
        }
        for bad in [
            "/../secret",
            "/%2e%2e/secret",
            "/%2E%2E/secret",
            "/.%2e/secret",
            "/%252e%252e/secret",
            "/%25252e%25252e/secret",
            "/a/..%2f..%2fsecret",
            "/..%2fsecret",
            "/a/%2e%2e%2f%2e%2e/secret",
            "/..\\secret",
            "/\\..\\secret",
            "/a/..%5c..%5csecret",
            "/..;/secret",
            "/a/b/../../../secret",
            "*",
            "/%25252525252e",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jetons_cookies_are_recognised_in_any_spelling() {
        for name in [
            "auth_token",
            "AUTH_TOKEN",
            "auth%5Ftoken",
            "auth%5ftoken",
            "auth%255Ftoken",
            "auth.token",
            "auth-token",
            " auth_token ",
            "auth%20token",
            "jeton_login_csrf",
        ] {
            assert!(is_jetons_cookie(name), "{name}");
        }
        for name in ["theme", "auth_tokens", "my_auth_token", "session"] {
            assert!(!is_jetons_cookie(name), "{name}");
        }
    }

    #[test]
    fn jetons_headers_are_recognised_in_any_spelling() {
        for name in [
            "x-jeton-user",
            "X_Jeton_User",
            "x-JETON-user",
            "X-Jeton_User",
            "x_jeton_tenant_id",
            "x_api_key",
            "X-Api_Key",
        ] {
            assert!(is_jetons_header(&fold_header_name(name)), "{name}");
        }
        for name in ["x-jetonic", "x-request-id", "jeton-user"] {
            assert!(!is_jetons_header(&fold_header_name(name)), "{name}");
        }
        for name in [
            "X_Forwarded_Host",
            "x-forwarded-proto",
            "Forwarded",
            "x-real-ip",
        ] {
            assert!(is_forwarding_header(&fold_header_name(name)), "{name}");
        }
    }
}
