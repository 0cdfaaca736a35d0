//! The tower layer that verifies each request's credential, and the axum extractor of the
//! [`Identity`] it leaves in the request's extensions.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header, request::Parts};
use tower::{Layer, Service};

use crate::{Identity, Verifier, VerifyError};

/// A tower [`Layer`] that lets a request through only with a valid Jeton credential
/// (`Authorization: Bearer <JWT or API key>` or `X-API-Key: <API key>`), and puts its
/// [`Identity`] into the request's extensions. Otherwise it answers `401` with
/// `WWW-Authenticate: Bearer` and a JSON error body (`{"error":{"code":"unauthenticated",
/// "message":…}}`), or `503` when the credential cannot be verified now; the inner service is
/// not called.
#[derive(Debug, Clone)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    /// A layer verifying with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service of [`VerifyLayer`].
#[derive(Debug, Clone)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> Service<Request<B>> for VerifyService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let result = match credential(request.headers()) {
                Some(credential) => verifier.verify(credential).await,
                None => Err(VerifyError::Missing),
            };
            match result {
                Ok(identity) => {
                    request.extensions_mut().insert(identity);
                    inner.call(request).await
                }
                Err(error) => {
                    tracing::debug!(%error, "jeton-verify: request refused");
                    Ok(refusal(&error))
                }
            }
        })
    }
}

/// The credential of a request: `Authorization: Bearer …`, else `X-API-Key`.
pub(crate) fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(token.trim());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The answer to a refused request.
fn refusal(error: &VerifyError) -> Response<Body> {
    let (status, code, message, challenge) = match error {
        VerifyError::Missing => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a Jeton credential is required (Authorization: Bearer, or X-API-Key)",
            "Bearer",
        ),
        VerifyError::Invalid(_) => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "invalid, expired or revoked credential",
            "Bearer error=\"invalid_token\"",
        ),
        VerifyError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "credentials cannot be verified now; try again shortly",
            "",
        ),
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if challenge.is_empty() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    } else {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// The identity put there by [`VerifyLayer`]; `401` when there is none (a route the layer does
/// not cover).
impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Response<Body>;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or_else(|| refusal(&VerifyError::Missing))
    }
}

/// `Option<Identity>`: the identity when [`VerifyLayer`] put one there.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Identity>().cloned())
    }
}
