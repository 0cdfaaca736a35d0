//! What every request leaves behind for operators: a request id, a tracing span that every log
//! line of the request carries, one completion line, and the HTTP metrics.
//!
//! The request id is the client's `X-Request-Id` when it is sane (1 to 64 characters of
//! `A-Z a-z 0-9 . _ -`), otherwise a new UUID v4. It is answered in `X-Request-Id`, and set on
//! the request itself, so that gateway mode forwards the same id upstream.
//!
//! Nothing here reads a credential, a query string or the raw path: logs and metrics name the
//! route *template* (`/api/v1/tokens/{id}`), or `other` for requests no route matched, because a
//! path may hold a secret pasted in the wrong place and raw paths would grow the label set
//! without bound.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics;

/// The header that carries the request id both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-chosen request id that is kept.
const MAX_REQUEST_ID: usize = 64;

/// The label and log value of requests no route matched.
const UNMATCHED: &str = "other";

/// True for a client's request id worth keeping: 1 to 64 characters of `[A-Za-z0-9._-]`.
pub fn is_sane_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The middleware (added with `Router::layer`, so that it runs after routing and sees the
/// matched route): request id, span, completion line, metrics.
pub(super) async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = match request.headers().get(&REQUEST_ID) {
        Some(value) if is_sane_request_id(value.as_bytes()) => {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        }
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let header = HeaderValue::from_str(&id).expect("a sane request id is a valid header value");
    request.headers_mut().insert(REQUEST_ID, header.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_string(), |path| path.as_str().to_string());
    let method = metrics::method_label(request.method());
    // At ERROR level, so that the span exists whenever any event of the request is logged (an
    // `info` span would vanish under `--log warn`, and the warnings with it lose their id).
    let span = tracing::error_span!("request", request_id = %id, method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    let latency = started.elapsed();
    span.in_scope(|| {
        let status = status.as_u16();
        let latency_ms = latency.as_secs_f64() * 1000.0;
        // Probes and scrapes come every few seconds: at `debug`, so as not to drown the rest.
        if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") {
            tracing::debug!(status, latency_ms, "request completed");
        } else {
            tracing::info!(status, latency_ms, "request completed");
        }
    });
    response.headers_mut().insert(REQUEST_ID, header);
    ::metrics::counter!(
        metrics::HTTP_REQUESTS,
        "route" => route.clone(),
        "method" => method,
        "status" => status.as_str().to_string()
    )
    .increment(1);
    ::metrics::histogram!(metrics::HTTP_DURATION, "route" => route).record(latency.as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::is_sane_request_id;

    #[test]
    fn request_ids_clients_may_choose() {
        for good in [
            "a",
            "req-1",
            "A.b_c-9",
            &"x".repeat(64),
            "0f8fad5b-d9cb-469f",
        ] {
            assert!(is_sane_request_id(good.as_bytes()), "{good}");
        }
        for bad in [
            "",
            &"x".repeat(65),
            "has space",
            "semi;colon",
            "new\nline",
            "quote\"",
            "ünïcode",
            "a/b",
            "{}",
        ] {
            assert!(!is_sane_request_id(bad.as_bytes()), "{bad:?}");
        }
    }
}
