//! Protection of the UI's forms against cross-site request forgery.
//!
//! **The choice.** Every state-changing form carries a hidden `csrf` field whose value is
//! HMAC-SHA256, keyed with the session token (the value of the `auth_token` cookie), over a fixed
//! label. The session token is a secret that pages cannot read (the cookie is HttpOnly) and that
//! another site cannot learn, so another site cannot compute the field either; the server
//! recomputes it from the cookie that came with the request and compares in constant time.
//! Nothing is stored and no key needs sharing, so it works unchanged across any number of
//! `jeton serve` instances, and it dies with the session (a new login gives a new value). The
//! cookie's `SameSite=Strict` and the `Origin` / `Sec-Fetch-Site` check every cookie-authenticated
//! post goes through first ([`crate::http::ambient`]) are further layers, not the only one.
//!
//! The login form has no session yet: it uses a double-submit cookie (`jeton_login_csrf`,
//! random, HttpOnly, `SameSite=Strict`, scoped to `/ui/login`) whose value the form repeats.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The name of the hidden form field.
pub const FIELD: &str = "csrf";
/// The double-submit cookie of the login form.
pub const LOGIN_COOKIE: &str = "jeton_login_csrf";

const LABEL: &[u8] = b"jeton web ui csrf v1";

/// The form token of a session.
pub fn for_session(session_token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(LABEL);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A fresh random value for the login form's double-submit cookie.
pub fn fresh() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// True when `presented` is the expected token (constant-time; an empty expectation never
/// matches).
pub fn matches(expected: &str, presented: Option<&str>) -> bool {
    match presented {
        Some(presented) if !expected.is_empty() => {
            expected.as_bytes().ct_eq(presented.as_bytes()).into()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_bound_to_the_session() {
        let a = for_session("session-a");
        assert_eq!(a, for_session("session-a"));
        assert_ne!(a, for_session("session-b"));
        assert!(matches(&a, Some(&a)));
        assert!(!matches(&a, Some("wrong")));
        assert!(!matches(&a, None));
        assert!(!matches("", Some("")));
    }
}
