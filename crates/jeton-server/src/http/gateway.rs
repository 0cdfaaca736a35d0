//! Gateway mode (`jeton serve --upstream URL`): every request outside Jeton's own paths is
//! authenticated like any API request, then forwarded to the upstream with the credential
//! removed and the caller's identity added as `X-Jeton-*` headers. Bodies stream both ways;
//! methods, query strings, status codes and other headers pass through.
//!
//! Without an upstream, the same fallback answers 404.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::{AppState, Authenticated, ClientAddr, SESSION_COOKIE, bearer};
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

/// The request's headers as the upstream sees them: without hop-by-hop headers, without the
/// Jeton credential, without any `X-Jeton-*` header the client sent, and with the verified
/// identity and the usual `X-Forwarded-*` headers added.
fn upstream_headers(
    incoming: &HeaderMap,
    state: &AppState,
    actor: &Actor,
    addr: Option<&str>,
) -> reqwest::header::HeaderMap {
    let listed: Vec<String> = incoming
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    let bearer_is_ours = bearer(incoming).is_some();
    let mut out = reqwest::header::HeaderMap::new();
    for (name, value) in incoming {
        let lower = name.as_str();
        let drop = is_hop_by_hop(lower)
            || listed.iter().any(|l| l == lower)
            || lower == "host"
            || lower == "x-api-key"
            || lower.starts_with("x-jeton-")
            || (lower == "authorization" && bearer_is_ours)
            || lower == "cookie";
        if drop {
            continue;
        }
        append(&mut out, lower, value.as_bytes());
    }
    // Cookies pass, except Jeton's session cookie.
    let cookies: Vec<String> = incoming
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| c.split('=').next().map(str::trim) != Some(SESSION_COOKIE))
        .map(str::to_string)
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
        let forwarded_for = match incoming
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
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
        append(&mut out, "x-forwarded-proto", b"http");
    }
    out
}

fn append(map: &mut reqwest::header::HeaderMap, name: &str, value: &[u8]) {
    if let (Ok(name), Ok(value)) = (
        reqwest::header::HeaderName::from_bytes(name.as_bytes()),
        reqwest::header::HeaderValue::from_bytes(value),
    ) {
        map.append(name, value);
    }
}
