//! The HTTP surface: one router built from per-resource routers, the extractors that
//! authenticate (the extractor *is* the permission to proceed) and turn bad input into clear
//! 4xx answers, and the layers that bound every request.

mod audit;
mod auth;
mod gateway;
mod oauth;
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
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::Event;
use crate::error::ApiError;
use crate::service::Service;
use crate::verify::Actor;

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
        (name = "operations", description = "Health, readiness and keys"),
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
    }
}

/// The API router and its OpenAPI document, generated from the handlers' annotations.
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(tokens::router())
        .merge(users::router())
        .merge(service_users::router())
        .merge(oauth::router())
        .merge(sql::router())
        .merge(roles::router())
        .merge(tenants::router())
        .merge(audit::router())
        .merge(ops::router())
        .split_for_parts()
}

/// The whole application: API, OpenAPI document, layers, JSON 404 fallback.
pub fn app(service: Arc<Service>) -> Router {
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::timeout::TimeoutLayer;

    let config = service.config().clone();
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
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a request handler panicked".to_string()).into_response()
        }))
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

/// Pulls the credential from `Authorization: Bearer`, then `X-API-Key`, then the `auth_token`
/// cookie. An `Authorization` header of another scheme is not Jeton's and is passed over.
pub fn credential(parts: &Parts) -> Option<String> {
    if let Some(token) = bearer(&parts.headers) {
        return Some(token);
    }
    if let Some(value) = parts.headers.get("x-api-key") {
        return value.to_str().ok().map(|v| v.trim().to_string());
    }
    CookieJar::from_headers(&parts.headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
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
        let presented = credential(parts).unwrap_or_default();
        match service.verifier().verify(&presented, now) {
            Ok(mut actor) => {
                actor.client_addr = addr;
                Ok(Authenticated(actor))
            }
            Err(failure) => {
                if !presented.is_empty() {
                    // A superseded key in use is worth its own event: someone still holds it.
                    let action = if failure == crate::verify::AuthFailure::SupersededKey {
                        "api_key.superseded_used"
                    } else {
                        "auth.denied"
                    };
                    service.audit().queue(
                        Event::new(action, now)
                            .actor_parts(None, "(anonymous)", addr.as_deref())
                            .outcome("failure")
                            .detail("reason", failure.as_str())
                            .detail(
                                "path",
                                parts.uri.path().chars().take(256).collect::<String>(),
                            ),
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
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
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
