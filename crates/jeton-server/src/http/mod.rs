//! The HTTP surface: one router built from per-resource routers, the extractors that
//! authenticate (the extractor *is* the permission to proceed) and turn bad input into clear
//! 4xx answers, and the layers that bound every request.

pub mod ambient;
mod audit;
mod auth;
mod control;
mod gateway;
mod keys;
mod oauth;
mod observe;
mod ops;
mod roles;
mod service_users;
mod sql;
mod tenants;
mod tokens;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::service::Service;
use crate::verify::Actor;
pub use observe::{REQUEST_ID, is_sane_request_id};

/// The name of the web UI's session cookie.
pub const SESSION_COOKIE: &str = "auth_token";

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The service layer.
    pub service: Arc<Service>,
    /// Gateway mode: where requests outside Jeton's own paths go.
    pub gateway: Option<Arc<gateway::Gateway>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Jeton",
        description = "Personal API tokens, service users and OAuth2 client credentials: issue, verify, list, rotate, expire and revoke.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    tags(
        (name = "auth", description = "Login and the current credential"),
        (name = "tokens", description = "API and session tokens"),
        (name = "users", description = "Users, their tokens and token policies"),
        (name = "roles", description = "Roles and their token policies"),
        (name = "service users", description = "Service users and their API keys"),
        (name = "oauth", description = "OAuth2 token, introspection and revocation endpoints (RFC 6749, 7662, 7009, 8414)"),
        (name = "tenants", description = "Tenants (root only)"),
        (name = "audit", description = "The audit log"),
        (name = "sql", description = "The SQL-style command language"),
        (name = "operations", description = "Health, readiness, metrics and keys"),
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // The OAuth endpoints' client authentication (RFC 6749 §2.3.1): a service user's id and
        // API key as HTTP Basic (or as the form's `client_id` and `client_secret`).
        components.add_security_scheme(
            "client_credentials",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// The API router and its OpenAPI document, generated from the handlers' annotations.
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(tokens::router())
        .merge(users::router())
        .merge(service_users::router())
        .merge(oauth::router())
        .merge(sql::router())
        .merge(roles::router())
        .merge(tenants::router())
        .merge(audit::router())
        .merge(keys::router())
        .merge(ops::router())
        .split_for_parts();
    common_responses(&mut openapi);
    (router, openapi)
}

/// Adds the answers that every operation of a kind can give, whatever its handler does, to each
/// such operation whose annotation does not list them: 400 when a path parameter is not UTF-8
/// or the query string does not parse (`AppPath`, `AppQuery`), 413 when the body is larger than
/// `--max-body-bytes`, and 503 while the database cannot be reached. Each as `ErrorBody`.
fn common_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build(),
        )
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        // Served from memory, without the database.
        let in_memory = matches!(path.as_str(), "/api/v1/auth/verify" | "/api/v1/sql/ws");
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let has_parameters = path.contains('{')
                || operation
                    .parameters
                    .as_ref()
                    .is_some_and(|parameters| !parameters.is_empty());
            let has_body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            if has_parameters {
                responses
                    .entry("400".to_string())
                    .or_insert_with(|| error("Malformed path or query parameters"));
            }
            if has_body {
                responses
                    .entry("413".to_string())
                    .or_insert_with(|| error("The body is larger than the server accepts"));
            }
            if path.starts_with("/api/v1/") && !in_memory {
                responses
                    .entry("503".to_string())
                    .or_insert_with(|| error("The database is unavailable; try again shortly"));
            }
        }
    }
}

/// The whole application: API, OpenAPI document, layers, JSON 404 fallback. Every request gets
/// a request id, a log span and metrics (see `observe`).
pub fn app(service: Arc<Service>) -> Router {
    use tower_http::catch_panic::CatchPanicLayer;

    let config = service.config().clone();
    let feed = service.feed().clone();
    let (router, openapi) = api_router();
    let openapi = Arc::new(openapi);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        .merge(oauth::iceberg_routes())
        .merge(crate::ui::router(config.upstream.is_some()))
        // Jeton's own routes only: what gateway mode forwards is the upstream's to judge.
        .route_layer(axum::middleware::from_fn_with_state(
            config.max_body_bytes,
            control::refuse_control_characters,
        ))
        .fallback(gateway::fallback)
        .with_state(AppState {
            gateway: config
                .upstream
                .as_deref()
                .map(gateway::Gateway::new)
                .map(Arc::new),
            service,
        })
        .layer(axum::extract::DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            feed,
            poke_feed_after_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            config.request_timeout,
            time_limit,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a request handler panicked".to_string()).into_response()
        }))
        // Outermost of the layers `Router::layer` adds, which run after routing: it sees the
        // matched route, and every answer (a timeout, a panic) passes through it.
        .layer(axum::middleware::from_fn(observe::observe))
}

/// After a request that may have written (any method but GET, HEAD and OPTIONS) succeeded,
/// pokes the change-feed follower ([`Feed::poke`](crate::feed::Feed::poke)): where the database
/// sends no signal of its own (SQLite), the change reaches `GET /api/v1/changes` readers within
/// milliseconds rather than at the next poll.
async fn poke_feed_after_writes(
    axum::extract::State(feed): axum::extract::State<Arc<crate::feed::Feed>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let reads_only = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let response = next.run(request).await;
    if !reads_only && response.status().is_success() {
        feed.poke();
    }
    response
}

/// The client's address, when the server knows it.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string()),
        ))
    }
}

/// Where a request's credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Authorization: Bearer`.
    Authorization,
    /// `X-API-Key`.
    ApiKey,
    /// The web UI's `auth_token` cookie: an ambient credential, which a browser sends whatever
    /// page asks (see [`ambient`]).
    Cookie,
}

/// A credential as the client presented it, and where.
#[derive(Debug, Clone)]
pub struct Presented {
    /// The token or API key.
    pub value: String,
    /// Where it was found.
    pub source: Source,
}

/// Pulls the credential from `Authorization: Bearer`, then `X-API-Key`, then the `auth_token`
/// cookie. An `Authorization` header of another scheme is not Jeton's and is passed over.
pub fn presented(headers: &axum::http::HeaderMap) -> Option<Presented> {
    if let Some(token) = bearer(headers) {
        return Some(Presented {
            value: token,
            source: Source::Authorization,
        });
    }
    if let Some(value) = headers.get("x-api-key") {
        return value.to_str().ok().map(|v| Presented {
            value: v.trim().to_string(),
            source: Source::ApiKey,
        });
    }
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|c| Presented {
            value: c.value().to_string(),
            source: Source::Cookie,
        })
}

/// The credential of [`presented`], wherever it was found.
pub fn credential(headers: &axum::http::HeaderMap) -> Option<String> {
    presented(headers).map(|p| p.value)
}

/// The scheme of an `Authorization` value and what follows it, split at the first space or
/// tab, both trimmed of spaces and tabs. RFC 9110 writes one space; clients also send tabs or
/// several spaces. Whatever this reads as Jeton's credential the gateway removes, because it
/// asks the same function.
pub(crate) fn authorization_parts(value: &[u8]) -> (&[u8], &[u8]) {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let value = &value[start..];
    let end = value.iter().position(blank).unwrap_or(value.len());
    let (scheme, rest) = value.split_at(end);
    let rest_start = rest.iter().position(|b| !blank(b)).unwrap_or(rest.len());
    let rest = &rest[rest_start..];
    let rest_end = rest.iter().rposition(|b| !blank(b)).map_or(0, |i| i + 1);
    (scheme, &rest[..rest_end])
}

/// True when an `Authorization` value is of the `Bearer` scheme (any case), Jeton's.
pub(crate) fn is_bearer(value: &[u8]) -> bool {
    authorization_parts(value).0.eq_ignore_ascii_case(b"bearer")
}

/// The token of an `Authorization: Bearer` header (possibly empty, which verifies as nothing).
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    if !is_bearer(value) {
        return None;
    }
    // A token that is not UTF-8 is presented as an empty one: refused, not passed over.
    Some(
        std::str::from_utf8(authorization_parts(value).1)
            .unwrap_or_default()
            .to_string(),
    )
}

/// An authenticated request: handlers that take it cannot run without a valid credential.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Actor);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(addr) = ClientAddr::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientAddr(None));
        let service = &state.service;
        let now = service.now();
        let (presented, source) = match self::presented(&parts.headers) {
            Some(Presented { value, source }) => (value, Some(source)),
            None => (String::new(), None),
        };
        match service.verifier().verify(&presented, now) {
            Ok(mut actor) => {
                actor.client_addr = addr;
                if source == Some(Source::Cookie) {
                    ambient::check_cookie_request(service, parts, &actor)?;
                }
                // A first use of a new key that ended an old key's grace period is recorded
                // before anything is answered.
                service.settle_grace_ends().await?;
                Ok(Authenticated(actor))
            }
            Err(failure) => {
                if !presented.is_empty() {
                    service.audit().refused_credential(
                        failure,
                        addr.as_deref(),
                        parts.uri.path(),
                        now,
                    );
                }
                Err(ApiError::unauthenticated())
            }
        }
    }
}

/// A JSON body whose rejections use the API's error format.
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => json_object(value).map(AppJson),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A request body as `T`, which must have been sent as a JSON object: serde alone would also
/// read a struct from an array of its fields' values (`[null, null]`).
pub(crate) fn json_object<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "invalid JSON body: expected a JSON object".to_string(),
        ));
    }
    T::deserialize(value).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest(
            "expected a JSON body with 'Content-Type: application/json'".to_string(),
        ),
        JsonRejection::BytesRejection(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("request body is too large".to_string())
        }
        other => ApiError::BadRequest(format!("invalid JSON body: {}", other.body_text())),
    }
}

/// A body of a handler that reads the raw bytes (`Result<Bytes, BytesRejection>`) that could
/// not be read, in the API's error format rather than axum's plain text.
fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("request body is too large".to_string())
    } else {
        ApiError::BadRequest(format!(
            "the request body could not be read: {}",
            rejection.body_text()
        ))
    }
}

/// A query string whose rejections use the API's error format.
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(AppQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text()))
}

/// Path parameters whose rejections use the API's error format.
pub struct AppPath<T>(pub T);

impl<T, S> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(AppPath(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::BadRequest(format!("invalid path: {}", rejection.body_text()))
}

/// `204 No Content`.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Bounds the time a request may take to produce its response: past `limit`, a 408 in the
/// API's error format (tower-http's timeout layer answers with an empty body).
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            axum::Json(jeton_api::ErrorBody {
                error: jeton_api::ErrorDetail {
                    code: "request_timeout".to_string(),
                    message: format!(
                        "the request took longer than the server's limit of {} s; try again",
                        limit.as_secs()
                    ),
                },
            }),
        )
            .into_response(),
    }
}
