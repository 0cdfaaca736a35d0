//! The boundary rule for control characters, applied once to every request that reaches one of
//! Jeton's own routes (not to what gateway mode forwards): the decoded path, every query
//! parameter, the client id and secret of HTTP Basic, and every string of a JSON or form body
//! (keys included) are held to [`jeton_core::text`]'s rules — free text for the fields that
//! hold it (`comment`, `description`, `password`, `sql`, ...), plain for everything else — and
//! any other body may not hold NUL or a control character other than tab and line breaks.
//!
//! One check on the common path rather than one per handler or extractor: handlers that read
//! raw bytes (OAuth forms, SQL scripts) and handlers written later are covered alike, so no NUL
//! reaches PostgreSQL (which refuses it in text) and no escape sequence reaches a terminal that
//! shows what was stored.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jeton_core::text::{TextKind, code_point, is_refused, kind_of_field, refused_char};
use percent_encoding::percent_decode_str;

use crate::error::ApiError;

/// Refuses, with 400 (RFC 6749's `invalid_request` on the OAuth endpoints), a request that
/// holds a control character where none belongs.
pub(super) async fn refuse_control_characters(
    State(max_body_bytes): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|route| route.as_str().to_string())
        .unwrap_or_default();
    let oauth = is_oauth_route(&route);
    let refusal = match check_head(&request) {
        Err(message) => Err(ApiError::BadRequest(message)),
        Ok(()) => check_body(request, max_body_bytes).await,
    };
    match refusal {
        Ok(request) => next.run(request).await,
        Err(err) if oauth => {
            let status = err.status_code();
            let message = match err {
                ApiError::BadRequest(message) | ApiError::PayloadTooLarge(message) => message,
                other => other.to_string(),
            };
            super::oauth::request_refused(status, message)
        }
        // The command language answers every request in one shape, refusals included.
        Err(err) if route == SQL_ROUTE => super::sql::script_refused(err),
        Err(err) => err.into_response(),
    }
}

/// The command language's endpoint, whose answers are all `SqlResponse`s.
const SQL_ROUTE: &str = "/api/v1/sql";

/// The OAuth endpoints, whose errors take RFC 6749's form.
fn is_oauth_route(route: &str) -> bool {
    route.starts_with("/oauth/") || route.ends_with("/oauth/tokens")
}

/// Why `text` (what `what` names) is refused, if it is.
fn refusal(what: &str, text: &str, kind: TextKind) -> Result<(), String> {
    match refused_char(text, kind) {
        None => Ok(()),
        Some(c) => Err(format!(
            "{what} must not contain control characters (found {})",
            code_point(c)
        )),
    }
}

/// The path, the query string and HTTP Basic credentials.
fn check_head(request: &Request) -> Result<(), String> {
    let uri = request.uri();
    refusal(
        "the path",
        &percent_decode_str(uri.path()).decode_utf8_lossy(),
        TextKind::Plain,
    )?;
    if let Some(query) = uri.query() {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let what = format!("query parameter '{}'", shown_name(&key));
            refusal(&what, &key, TextKind::Plain)?;
            refusal(&what, &value, TextKind::Plain)?;
        }
    }
    // The client id of OAuth client authentication is looked up and audited: a value, not only
    // a credential. RFC 6749 §2.3.1 form-encodes both parts before they are joined.
    if let Some(basic) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
    {
        let decoded = String::from_utf8_lossy(&basic);
        refusal(
            "the HTTP Basic credentials",
            &percent_decode_str(&decoded.replace('+', " ")).decode_utf8_lossy(),
            TextKind::Plain,
        )?;
    }
    Ok(())
}

/// A field name as an error message shows it: without what made it refused, and short.
fn shown_name(name: &str) -> String {
    name.chars()
        .filter(|&c| !is_refused(c, TextKind::Plain))
        .take(64)
        .collect()
}

/// Reads the body (within the server's limit) and checks it; answers the request rebuilt
/// around the bytes read.
async fn check_body(request: Request, max_body_bytes: usize) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, max_body_bytes)
        .await
        .map_err(|err| {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::PayloadTooLarge("request body is too large".to_string())
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {err}"))
            }
        })?;
    if !bytes.is_empty() {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let checked = if content_type.starts_with("application/json") {
            // A body that does not parse is the handler's to refuse, in its own words.
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(value) => check_json(None, &value),
                Err(_) => check_raw(&bytes),
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            form_urlencoded::parse(&bytes).try_for_each(|(key, value)| {
                let what = format!("field '{}'", shown_name(&key));
                refusal(&what, &key, TextKind::Plain)?;
                refusal(&what, &value, kind_of_field(&key))
            })
        } else {
            check_raw(&bytes)
        };
        checked.map_err(ApiError::BadRequest)?;
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Any other body (a SQL script as `text/plain`, say): free text.
fn check_raw(bytes: &[u8]) -> Result<(), String> {
    refusal(
        "the request body",
        &String::from_utf8_lossy(bytes),
        TextKind::FreeText,
    )
}

/// Every string of a JSON value, held to the rule of the field it is in (an array's items to
/// their array's); object keys are plain.
fn check_json(field: Option<&str>, value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    match value {
        Value::String(text) => {
            let (what, kind) = match field {
                Some(field) => (
                    format!("field '{}'", shown_name(field)),
                    kind_of_field(field),
                ),
                None => ("the request body".to_string(), TextKind::Plain),
            };
            refusal(&what, text, kind)
        }
        Value::Array(items) => items.iter().try_for_each(|item| check_json(field, item)),
        Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            refusal(
                &format!("field name '{}'", shown_name(key)),
                key,
                TextKind::Plain,
            )?;
            check_json(Some(key), item)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_strings_are_held_to_their_field_rule() {
        assert!(check_json(None, &json!({"comment": "one\ntwo\tthree"})).is_ok());
        assert!(check_json(None, &json!({"name": "one\ntwo"})).is_err());
        assert!(check_json(None, &json!({"comment": "a\u{0}"})).is_err());
        assert!(check_json(None, &json!({"comment": "a\u{1b}[2J"})).is_err());
        assert!(check_json(None, &json!({"scopes": ["read", "x\u{9b}"]})).is_err());
        assert!(check_json(None, &json!({"a": {"b\u{0}": 1}})).is_err());
        assert!(check_json(None, &json!({"a": [{"description": "x\ny"}]})).is_ok());
        let message = check_json(None, &json!({"username": "ad\u{0}min"})).unwrap_err();
        assert_eq!(
            message,
            "field 'username' must not contain control characters (found U+0000)"
        );
    }

    #[test]
    fn oauth_routes_are_told_apart() {
        for route in [
            "/oauth/token",
            "/v1/oauth/tokens",
            "/v1/{prefix}/v1/oauth/tokens",
        ] {
            assert!(is_oauth_route(route), "{route}");
        }
        assert!(!is_oauth_route("/api/v1/tokens"));
    }
}
