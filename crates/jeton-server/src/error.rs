//! The one error type of the server, [`ApiError`], and the one place it becomes an HTTP answer.
//!
//! Messages in `ApiError` are for clients and say what to fix. Internal causes are logged with
//! the request's context and replaced on the wire by a generic sentence.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jeton_api::{ErrorBody, ErrorDetail};
use jeton_store::StoreError;

/// The generic sentence every failed authentication gets; the audit log keeps the reason.
pub const UNAUTHENTICATED: &str = "authentication required: present a valid token or API key";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed input.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credential, or one that does not verify.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: absent, or in another tenant.
    #[error("{0}")]
    NotFound(String),
    /// 409: a uniqueness rule.
    #[error("{0}")]
    Conflict(String),
    /// 413: body too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: a body of a type this request may not send.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but refused by a rule (policy limit, invalid value).
    #[error("{0}")]
    Unprocessable(String),
    /// 429: throttled; retry after this many seconds.
    #[error("{message}")]
    TooManyRequests {
        /// Sentence for the client.
        message: String,
        /// Seconds until a retry can succeed.
        retry_after: u64,
    },
    /// 503: the database cannot be reached.
    #[error("the database is unavailable; try again shortly")]
    Unavailable(String),
    /// 500: a bug. The detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The status this error answers with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// A 401 with the generic message.
    pub fn unauthenticated() -> Self {
        ApiError::Unauthenticated(UNAUTHENTICATED.to_string())
    }

    /// A 404 naming the kind of object (`token`, `user`, ...).
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// The same error with its client message rewritten (internal and unavailable errors keep
    /// their generic wording, which `f` does not see).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            ApiError::BadRequest(m) => ApiError::BadRequest(f(m)),
            ApiError::Unauthenticated(m) => ApiError::Unauthenticated(f(m)),
            ApiError::Forbidden(m) => ApiError::Forbidden(f(m)),
            ApiError::NotFound(m) => ApiError::NotFound(f(m)),
            ApiError::Conflict(m) => ApiError::Conflict(f(m)),
            ApiError::PayloadTooLarge(m) => ApiError::PayloadTooLarge(f(m)),
            ApiError::UnsupportedMediaType(m) => ApiError::UnsupportedMediaType(f(m)),
            ApiError::Unprocessable(m) => ApiError::Unprocessable(f(m)),
            ApiError::TooManyRequests {
                message,
                retry_after,
            } => ApiError::TooManyRequests {
                message: f(message),
                retry_after,
            },
            other @ (ApiError::Unavailable(_) | ApiError::Internal(_)) => other,
        }
    }

    /// A 403 for an action the caller's access level does not allow.
    pub fn forbidden(action: &str) -> Self {
        ApiError::Forbidden(format!("insufficient permissions: {action}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("not found".to_string()),
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Unavailable(detail) => tracing::warn!(%detail, "database unavailable"),
            _ => {}
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// Result alias for handlers and the service layer.
pub type ApiResult<T> = Result<T, ApiError>;
