//! OAuth2 endpoints: the token endpoint (RFC 6749, also at the paths an Apache Iceberg REST
//! client uses), introspection (RFC 7662), revocation (RFC 7009) and server metadata (RFC 8414).
//! Errors here are RFC 6749 §5.2 objects, `{"error": "...", "error_description": "..."}`, which
//! is what OAuth client libraries parse.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jeton_api as api;
use jeton_core::Secret;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, ClientAddr, Source, presented};
use crate::service::oauth::{
    ACCESS_TOKEN_TYPE, ApiErrorKind, ClientCredentials, OAuthError, OAuthErrorCode,
    TOKEN_EXCHANGE_GRANT, TokenRequest,
};
use crate::service::rfc3339;
use crate::verify::Actor;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(introspect))
        .routes(routes!(revoke))
        .routes(routes!(metadata))
}

/// The token endpoint's other paths: `/v1/oauth/tokens` and `/v1/{prefix}/v1/oauth/tokens`, as
/// an Iceberg REST catalog serves it, so that PyIceberg configured as in its documentation works
/// unchanged.
pub(super) fn iceberg_routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1/oauth/tokens", axum::routing::post(token))
        .route(
            "/v1/{prefix}/v1/oauth/tokens",
            axum::routing::post(token_under_prefix),
        )
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match (self.server, self.code) {
            (Some(ApiErrorKind::Unavailable), _) => StatusCode::SERVICE_UNAVAILABLE,
            (Some(ApiErrorKind::Internal), _) => StatusCode::INTERNAL_SERVER_ERROR,
            (None, OAuthErrorCode::InvalidClient) => StatusCode::UNAUTHORIZED,
            (None, OAuthErrorCode::TemporarilyUnavailable) => StatusCode::TOO_MANY_REQUESTS,
            (None, _) => StatusCode::BAD_REQUEST,
        };
        let (error, description) = match self.server {
            Some(ApiErrorKind::Unavailable) => (
                "temporarily_unavailable",
                "the database is unavailable; try again shortly".to_string(),
            ),
            Some(ApiErrorKind::Internal) => (
                "server_error",
                "internal error; see the server log".to_string(),
            ),
            None => (self.code.as_str(), self.description),
        };
        let mut response = (
            status,
            Json(api::OAuthError {
                error: error.to_string(),
                error_description: description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"jeton\", charset=\"UTF-8\""),
            );
        }
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn invalid_request(description: impl Into<String>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidRequest, description)
}

/// The request's parameters: a form body (`application/x-www-form-urlencoded`), or a JSON object
/// of strings. A parameter given twice is an error (RFC 6749 §3.2).
fn parameters(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let pairs: Vec<(String, String)> = if content_type.starts_with("application/json") {
        let object: HashMap<String, serde_json::Value> = serde_json::from_slice(body)
            .map_err(|e| invalid_request(format!("invalid JSON body: {e}")))?;
        object
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect()
    } else {
        serde_urlencoded::from_bytes(body)
            .map_err(|e| invalid_request(format!("invalid form body: {e}")))?
    };
    let mut out = HashMap::with_capacity(pairs.len());
    for (key, value) in pairs {
        if out.insert(key.clone(), value).is_some() {
            return Err(invalid_request(format!(
                "parameter '{}' is given more than once",
                key.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(out)
}

/// Percent-decodes a Basic credential part (RFC 6749 §2.3.1 form-encodes them first).
fn form_decode(part: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={part}"))
        .ok()
        .and_then(|mut pairs| pairs.pop())
        .map(|(_, v)| v)
        .unwrap_or_else(|| part.to_string())
}

/// Client credentials from `Authorization: Basic` or from the form's `client_id` and
/// `client_secret`. A `Bearer` header is ignored here: some clients send their old token when
/// they come for a new one. Two different sets of credentials are an error.
fn client_credentials(
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Option<ClientCredentials>, OAuthError> {
    let basic = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(value) => match value.split_once(' ') {
            Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| {
                        OAuthError::new(
                            OAuthErrorCode::InvalidClient,
                            "malformed HTTP Basic credentials",
                        )
                    })?;
                let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                    OAuthError::new(
                        OAuthErrorCode::InvalidClient,
                        "malformed HTTP Basic credentials: expected client_id:client_secret",
                    )
                })?;
                Some(ClientCredentials {
                    client_id: form_decode(id),
                    client_secret: Secret::new(form_decode(secret)),
                })
            }
            _ => None,
        },
        None => None,
    };
    let form = match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Some(ClientCredentials {
            client_id: id.clone(),
            client_secret: Secret::new(secret.clone()),
        }),
        (Some(_), None) if basic.is_none() => {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "client_secret is missing",
            ));
        }
        (None, Some(_)) if basic.is_none() => {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "client_id is missing",
            ));
        }
        _ => None,
    };
    match (basic, form) {
        (Some(basic), Some(form))
            if basic.client_id != form.client_id
                || basic.client_secret.expose() != form.client_secret.expose() =>
        {
            Err(invalid_request(
                "client credentials were given twice and differ: use HTTP Basic or form fields, not both",
            ))
        }
        (Some(basic), _) => Ok(Some(basic)),
        (None, form) => Ok(form),
    }
}

/// The caller of introspection and revocation: a client authenticated with its credentials
/// (HTTP Basic or form), or any valid bearer credential.
fn caller(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    addr: Option<&str>,
) -> Result<Actor, OAuthError> {
    let service = &state.service;
    if let Some(client) = client_credentials(headers, params)? {
        return service.authenticate_client(&client, addr);
    }
    // The session cookie is not a client credential: these endpoints are for programs, and a
    // cookie would make them answer whichever page a browser was on.
    let presented = presented(headers)
        .filter(|p| p.source != Source::Cookie)
        .map(|p| p.value)
        .unwrap_or_default();
    service
        .verifier()
        .verify(&presented, service.now())
        .map(|mut actor| {
            actor.client_addr = addr.map(str::to_string);
            actor
        })
        .map_err(|_| {
            OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "authenticate with client credentials (HTTP Basic) or a bearer token",
            )
        })
}

async fn grant(state: &AppState, addr: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Response {
    let request = (|| {
        let params = parameters(headers, body)?;
        let grant_type = params.get("grant_type").cloned().unwrap_or_default();
        if grant_type.is_empty() {
            return Err(invalid_request(
                "missing grant_type: use grant_type=client_credentials",
            ));
        }
        let request = TokenRequest {
            grant_type,
            client: client_credentials(headers, &params)?,
            scope: params
                .get("scope")
                .cloned()
                .filter(|s| !s.trim().is_empty()),
            subject_token: params.get("subject_token").cloned().map(Secret::new),
            subject_token_type: params.get("subject_token_type").cloned(),
        };
        Ok(request)
    })();
    let result = match request {
        Ok(request) => state.service.grant(&request, addr).await,
        Err(err) => Err(err),
    };
    let result = match result {
        Ok(issued) => match state.service.settle_grace_ends().await {
            Ok(()) => Ok(issued),
            Err(err) => Err(OAuthError::from(err)),
        },
        Err(err) => Err(err),
    };
    match result {
        Ok(issued) => {
            let mut response = Json(api::OAuthTokenResponse {
                access_token: issued.token.expose().to_string(),
                token_type: "Bearer".to_string(),
                expires_in: issued.expires_in,
                scope: issued.scope,
                issued_token_type: ACCESS_TOKEN_TYPE.to_string(),
            })
            .into_response();
            no_store(response.headers_mut());
            response
        }
        Err(err) => err.into_response(),
    }
}

/// OAuth2 token endpoint: `grant_type=client_credentials` with `client_id` (a service user's id)
/// and `client_secret` (its API key), as HTTP Basic or form fields; optional `scope`. Also
/// accepts RFC 8693 token exchange of a Jeton access token. Also served at `/v1/oauth/tokens`
/// and `/v1/{prefix}/v1/oauth/tokens`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth", security((), ("client_credentials" = [])),
    request_body(description = "grant_type=client_credentials&client_id=…&client_secret=…&scope=…",
        content(
            (api::OAuthTokenRequest = "application/x-www-form-urlencoded"),
            (api::OAuthTokenRequest = "application/json"),
        )),
    responses(
        (status = 200, description = "An access token", body = api::OAuthTokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_scope or invalid_grant", body = api::OAuthError),
        (status = 401, description = "invalid_client", body = api::OAuthError,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"jeton\"`"))),
        (status = 413, description = "invalid_request: the body is too large", body = api::OAuthError),
        (status = 429, description = "Too many failed client authentications", body = api::OAuthError,
            headers(("Retry-After" = String, description = "Seconds until a new attempt can succeed"))),
    ))]
async fn token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) => grant(&state, addr.as_deref(), &headers, &body).await,
        Err(rejection) => body_rejection(rejection),
    }
}

async fn token_under_prefix(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) => grant(&state, addr.as_deref(), &headers, &body).await,
        Err(rejection) => body_rejection(rejection),
    }
}

/// A body that could not be read (too large, or cut off) as an RFC 6749 error, not axum's text.
fn body_rejection(rejection: BytesRejection) -> Response {
    let status = rejection.status();
    let description = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "request body is too large".to_string()
    } else {
        format!(
            "the request body could not be read: {}",
            rejection.body_text()
        )
    };
    request_refused(status, description)
}

/// An `invalid_request` answer (RFC 6749 §5.2) with `status` when it is a client error, else
/// 400: a request refused before its parameters were read.
pub(super) fn request_refused(status: StatusCode, description: String) -> Response {
    let mut response = (
        if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_REQUEST
        },
        Json(api::OAuthError {
            error: OAuthErrorCode::InvalidRequest.as_str().to_string(),
            error_description: description,
        }),
    )
        .into_response();
    no_store(response.headers_mut());
    response
}

/// RFC 7662 token introspection. The caller authenticates with a service user's client
/// credentials (HTTP Basic) or a bearer token, and learns only about tokens of its own tenant:
/// anything else is `{"active": false}`.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth", security(("client_credentials" = []), ("bearer" = [])),
    request_body(description = "token=…&token_type_hint=…",
        content(
            (api::OAuthTokenParameters = "application/x-www-form-urlencoded"),
            (api::OAuthTokenParameters = "application/json"),
        )),
    responses(
        (status = 200, description = "What the token is, or {\"active\": false}", body = api::IntrospectionResponse),
        (status = 400, description = "invalid_request", body = api::OAuthError),
        (status = 401, description = "invalid_client", body = api::OAuthError,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"jeton\"`"))),
        (status = 413, description = "invalid_request: the body is too large", body = api::OAuthError),
        (status = 429, description = "Too many failed client authentications", body = api::OAuthError,
            headers(("Retry-After" = String, description = "Seconds until a new attempt can succeed"))),
    ))]
async fn introspect(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejection(rejection),
    };
    let result = (|| {
        let params = parameters(&headers, &body)?;
        let caller = caller(&state, &headers, &params, addr.as_deref())?;
        let token = params
            .get("token")
            .ok_or_else(|| invalid_request("missing token"))?;
        Ok::<_, OAuthError>(state.service.introspect(&caller, token))
    })();
    if let Err(err) = state.service.settle_grace_ends().await {
        return OAuthError::from(err).into_response();
    }
    let answer = match result {
        Err(err) => return err.into_response(),
        Ok(None) => api::IntrospectionResponse::default(),
        Ok(Some(found)) => {
            let actor = &found.actor;
            let config = state.service.config();
            api::IntrospectionResponse {
                active: true,
                scope: Some(actor.scopes.clone().unwrap_or_default().join(" ")),
                client_id: actor
                    .principal
                    .is_service()
                    .then(|| actor.principal.id.to_string()),
                username: Some(actor.principal.username.clone()),
                token_type: Some("Bearer".to_string()),
                exp: actor.expires_at,
                sub: Some(actor.principal.id.to_string()),
                aud: Some(config.audience.clone()),
                iss: Some(config.issuer.clone()),
                jti: Some(actor.token_id.to_string()),
                kind: Some(actor.kind.as_str().to_string()),
                principal_type: Some(actor.principal.kind.as_str().to_string()),
                tenant: Some(found.tenant),
                tenant_id: Some(actor.principal.tenant_id.to_string()),
                access_level: Some(actor.principal.access.as_str().to_string()),
                expires_at: actor.expires_at.map(rfc3339),
            }
        }
    };
    let mut response = Json(answer).into_response();
    no_store(response.headers_mut());
    response
}

/// RFC 7009 token revocation. The caller authenticates like for introspection and may revoke
/// its own tokens (administrators: any token of their tenant). An invalid or unknown token is
/// not an error. API keys are not revoked here: rotate them or disable their service user.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth", security(("client_credentials" = []), ("bearer" = [])),
    request_body(description = "token=…&token_type_hint=…",
        content(
            (api::OAuthTokenParameters = "application/x-www-form-urlencoded"),
            (api::OAuthTokenParameters = "application/json"),
        )),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "invalid_request, unauthorized_client or unsupported_token_type", body = api::OAuthError),
        (status = 401, description = "invalid_client", body = api::OAuthError,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"jeton\"`"))),
        (status = 413, description = "invalid_request: the body is too large", body = api::OAuthError),
        (status = 429, description = "Too many failed client authentications", body = api::OAuthError,
            headers(("Retry-After" = String, description = "Seconds until a new attempt can succeed"))),
    ))]
async fn revoke(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejection(rejection),
    };
    let params = match parameters(&headers, &body) {
        Ok(params) => params,
        Err(err) => return err.into_response(),
    };
    let caller = match caller(&state, &headers, &params, addr.as_deref()) {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    let Some(token) = params.get("token") else {
        return invalid_request("missing token").into_response();
    };
    if let Err(err) = state.service.settle_grace_ends().await {
        return OAuthError::from(err).into_response();
    }
    match state.service.revoke_by_value(&caller, token).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(err) => err.into_response(),
    }
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "Server metadata", body = api::AuthorizationServerMetadata)))]
async fn metadata(State(state): State<AppState>) -> Json<api::AuthorizationServerMetadata> {
    // Exactly the `iss` of the tokens (RFC 8414 §3.3): the issuer was normalised once, at
    // start-up.
    let issuer = state.service.config().issuer.clone();
    let strings = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    let auth_methods = strings(&["client_secret_basic", "client_secret_post"]);
    Json(api::AuthorizationServerMetadata {
        token_endpoint: format!("{issuer}/oauth/token"),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        introspection_endpoint: format!("{issuer}/oauth/introspect"),
        revocation_endpoint: format!("{issuer}/oauth/revoke"),
        grant_types_supported: strings(&["client_credentials", TOKEN_EXCHANGE_GRANT]),
        // No authorization endpoint: no response type (RFC 8414 §2 requires the member).
        response_types_supported: Vec::new(),
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint_auth_methods_supported: auth_methods,
        service_documentation: format!("{issuer}/openapi.json"),
        issuer,
    })
}
