//! The rule for the ambient credential, the `auth_token` cookie: a browser attaches it to any
//! request to Jeton, whichever page asks, so a request authenticated by it that changes
//! anything must show that it comes from one of Jeton's own pages. Checked once, where the
//! credential is taken ([`super::Authenticated`]), so every API route, the SQL WebSocket, the
//! gateway and the UI's forms pass through it. Requests with `Authorization` or `X-API-Key` are
//! not concerned: no browser sends those on its own.
//!
//! **Origin.** A state-changing request (any method but GET, HEAD and OPTIONS) or a WebSocket
//! upgrade must carry an `Origin` that is one of [`Config::public_origins`]. Every browser in
//! use sends `Origin` on such requests (fetch, XHR and form posts with a method other than
//! GET/HEAD, and every WebSocket handshake), so a missing `Origin` is not a browser on one of
//! our pages: refused, like `Origin: null` (sandboxed frames, `data:` pages, and pages that ask
//! for no referrer, which an attacker can do). Jeton's own pages say
//! `Referrer-Policy: same-origin` so that their form posts name their origin.
//!
//! **Sec-Fetch-Site**, where the browser sends it, is a second witness pages cannot forge: it
//! must say `same-origin`. Jeton's pages are served by Jeton, under the origin they post to
//! (`--allowed-origin` names the other origins Jeton itself is reached under, such as another
//! host name), so nothing else is ever legitimate: `same-site` is a page on another port or a
//! sibling host (which `SameSite=Strict` lets the cookie through to), `cross-site` never
//! comes with the cookie from a browser that honours `SameSite=Strict`, and `none` (a URL typed
//! by the user) never changes anything.
//!
//! **Body type.** Such a request carries JSON (`application/json` or `application/*+json`),
//! or nothing; the UI's form posts (see [`FormPosts`]) may also send
//! `application/x-www-form-urlencoded`. `text/plain`, `multipart/form-data` and other types
//! are what a cross-site page can send without a CORS preflight; they are refused with 415,
//! so that even a browser that sent no `Origin` could not use them. `POST /api/v1/sql` with
//! `text/plain` stays available to callers with a `Authorization` or `X-API-Key` header.

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::audit::Event;
use crate::config::{Config, normalise_origin};
use crate::error::ApiError;
use crate::service::Service;
use crate::verify::Actor;

/// The message of the 403 every cross-origin refusal answers.
pub const CROSS_ORIGIN_REFUSED: &str = "cross-origin request refused";

/// A marker a handler puts in the request's extensions before authenticating it: its
/// cookie-authenticated posts may be HTML form posts (`application/x-www-form-urlencoded`).
/// Only the web UI's form extractor sets it.
#[derive(Debug, Clone, Copy)]
pub struct FormPosts;

/// True when the request changes something, for the purpose of this rule: any method but GET,
/// HEAD and OPTIONS, and any upgrade (a WebSocket handshake is a GET that opens a session).
pub fn changes_state(method: &Method, headers: &HeaderMap) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || headers.contains_key(header::UPGRADE)
        || headers.contains_key(header::SEC_WEBSOCKET_KEY)
}

/// Why a request is not from one of Jeton's own pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossOrigin {
    /// No `Origin` header.
    MissingOrigin,
    /// `Origin: null`, or a value that is not an origin.
    OpaqueOrigin,
    /// An origin that is not Jeton's.
    ForeignOrigin,
    /// `Sec-Fetch-Site` says the request comes from elsewhere.
    FetchSite,
}

impl CrossOrigin {
    /// The reason, as written in the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            CrossOrigin::MissingOrigin => "missing_origin",
            CrossOrigin::OpaqueOrigin => "opaque_origin",
            CrossOrigin::ForeignOrigin => "foreign_origin",
            CrossOrigin::FetchSite => "sec_fetch_site",
        }
    }
}

/// Whether the request comes from one of Jeton's own pages (see the module's documentation):
/// the one origin check of the server, used for cookie-authenticated requests and for the
/// login form.
pub fn from_own_origin(headers: &HeaderMap, config: &Config) -> Result<(), CrossOrigin> {
    let origin = headers
        .get(header::ORIGIN)
        .ok_or(CrossOrigin::MissingOrigin)?
        .to_str()
        .map_err(|_| CrossOrigin::OpaqueOrigin)?;
    let origin = normalise_origin(origin).ok_or(CrossOrigin::OpaqueOrigin)?;
    if !config.public_origins().contains(&origin) {
        return Err(CrossOrigin::ForeignOrigin);
    }
    if let Some(site) = headers.get("sec-fetch-site")
        && !site
            .to_str()
            .is_ok_and(|site| site.trim().eq_ignore_ascii_case("same-origin"))
    {
        return Err(CrossOrigin::FetchSite);
    }
    Ok(())
}

/// The checks of a request authenticated by the session cookie, once `actor` is known:
/// nothing for a request that changes nothing; otherwise the origin (a refusal is audited as
/// `auth.cross_origin_refused` and answers 403) and the body type (415).
pub fn check_cookie_request(
    service: &Service,
    parts: &Parts,
    actor: &Actor,
) -> Result<(), ApiError> {
    if !changes_state(&parts.method, &parts.headers) {
        return Ok(());
    }
    if let Err(reason) = from_own_origin(&parts.headers, service.config()) {
        let header_text = |name: &str| -> String {
            parts
                .headers
                .get(name)
                .map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .chars()
                        .take(200)
                        .collect()
                })
                .unwrap_or_default()
        };
        service.audit().queue(
            Event::new("auth.cross_origin_refused", service.now())
                .actor(actor)
                .outcome("denied")
                .detail("reason", reason.as_str())
                .detail("origin", header_text("origin"))
                .detail("sec_fetch_site", header_text("sec-fetch-site"))
                .detail("method", parts.method.as_str())
                .detail("path", route(parts)),
        );
        return Err(ApiError::Forbidden(CROSS_ORIGIN_REFUSED.to_string()));
    }
    let forms = parts.extensions.get::<FormPosts>().is_some();
    if !acceptable_body(&parts.headers, forms) {
        return Err(ApiError::UnsupportedMediaType(
            "a request authenticated by the session cookie must send its body as JSON \
             (Content-Type: application/json); other clients authenticate with an \
             Authorization or X-API-Key header"
                .to_string(),
        ));
    }
    Ok(())
}

/// The route template the request matched (`/api/v1/service-users/{id}/disable`), for the
/// audit record: the raw path is the sender's text, and may name another tenant's object,
/// which this tenant's audit log must not show. Gateway requests match no route: their path
/// (sanitised) is the upstream's, not Jeton's objects.
fn route(parts: &Parts) -> String {
    match parts.extensions.get::<axum::extract::MatchedPath>() {
        Some(matched) => matched.as_str().to_string(),
        None => crate::audit::path_detail(parts.uri.path()),
    }
}

/// A JSON body, no body at all, or (with `forms`) an HTML form.
fn acceptable_body(headers: &HeaderMap, forms: bool) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        // No type: acceptable only without a body.
        let empty = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0");
        return empty && !headers.contains_key(header::TRANSFER_ENCODING);
    };
    let essence = content_type
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    json || (forms && essence == "application/x-www-form-urlencoded")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn config() -> Config {
        let mut config = Config::new("sqlite://x", "127.0.0.1:8080".parse().unwrap());
        config.issuer = "https://jeton.example.com".to_string();
        config.allowed_origins = vec!["https://ui.example.com".to_string()];
        config
    }

    #[test]
    fn only_jetons_own_origins_pass() {
        let config = config();
        let check =
            |pairs: &[(&'static str, &'static str)]| from_own_origin(&headers(pairs), &config);
        assert_eq!(check(&[("origin", "https://jeton.example.com")]), Ok(()));
        assert_eq!(
            check(&[("origin", "https://JETON.example.com:443")]),
            Ok(())
        );
        assert_eq!(
            check(&[
                ("origin", "https://jeton.example.com"),
                ("sec-fetch-site", "same-origin")
            ]),
            Ok(())
        );
        assert_eq!(
            check(&[
                ("origin", "https://ui.example.com"),
                ("sec-fetch-site", "same-origin")
            ]),
            Ok(())
        );
        for site in ["same-site", "cross-site"] {
            let mut map = headers(&[("origin", "https://ui.example.com")]);
            map.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert_eq!(
                from_own_origin(&map, &config),
                Err(CrossOrigin::FetchSite),
                "{site}"
            );
        }
        assert_eq!(check(&[]), Err(CrossOrigin::MissingOrigin));
        assert_eq!(
            check(&[("sec-fetch-site", "same-origin")]),
            Err(CrossOrigin::MissingOrigin)
        );
        assert_eq!(check(&[("origin", "null")]), Err(CrossOrigin::OpaqueOrigin));
        assert_eq!(
            check(&[("origin", "garbage")]),
            Err(CrossOrigin::OpaqueOrigin)
        );
        for foreign in [
            "https://evil.example",
            "http://jeton.example.com",
            "https://jeton.example.com:8443",
            "https://jeton.example.com.evil.example",
        ] {
            let mut map = HeaderMap::new();
            map.insert(header::ORIGIN, HeaderValue::from_static(foreign));
            assert_eq!(
                from_own_origin(&map, &config),
                Err(CrossOrigin::ForeignOrigin),
                "{foreign}"
            );
        }
        // Our origin, but the browser says the page is elsewhere (or the user typed the URL).
        for site in ["same-site", "cross-site", "none", "bogus"] {
            let mut map = headers(&[("origin", "https://jeton.example.com")]);
            map.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert_eq!(
                from_own_origin(&map, &config),
                Err(CrossOrigin::FetchSite),
                "{site}"
            );
        }
    }

    #[test]
    fn cookie_writes_carry_json_or_nothing() {
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        assert!(acceptable_body(&json, false));
        assert!(acceptable_body(
            &headers(&[("content-type", "application/merge-patch+json")]),
            false
        ));
        assert!(acceptable_body(&headers(&[]), false));
        assert!(acceptable_body(&headers(&[("content-length", "0")]), false));
        assert!(!acceptable_body(
            &headers(&[("content-length", "12")]),
            false
        ));
        assert!(!acceptable_body(
            &headers(&[("transfer-encoding", "chunked")]),
            false
        ));
        for other in [
            "text/plain",
            "multipart/form-data; boundary=x",
            "text/json",
            "application/jsonx",
            "",
        ] {
            let mut map = HeaderMap::new();
            map.insert(header::CONTENT_TYPE, HeaderValue::from_static(other));
            assert!(!acceptable_body(&map, false), "{other}");
        }
        let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        assert!(!acceptable_body(&form, false));
        assert!(acceptable_body(&form, true));
    }
}
