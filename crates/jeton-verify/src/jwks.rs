//! Jeton's public keys (`/.well-known/jwks.json`) and offline JWT checks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::Config;

/// Leeway of the `exp` and `nbf` checks, in seconds.
const LEEWAY_SECS: u64 = 5;

pub(crate) struct Jwks {
    url: String,
    keys: RwLock<Option<Arc<HashMap<String, DecodingKey>>>>,
    /// When a fetch was last started; held while fetching, so that fetches never overlap.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    min_interval: Duration,
    timeout: Duration,
    validation: Validation,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x: Option<String>,
}

/// The claims read from a token that passed the checks.
#[derive(Deserialize)]
struct Claims {
    exp: i64,
    /// `session`, `api` or `oauth`: decides the header `typ` the token must carry.
    kind: String,
    /// For a token issued by token exchange: its chain's first token.
    #[serde(default)]
    root_jti: Option<String>,
    /// For a token issued by token exchange: the token it was exchanged for.
    #[serde(default)]
    parent: Option<String>,
}

/// What the offline checks learnt of a token.
pub(crate) struct Checked {
    /// Its expiry (Unix seconds).
    pub(crate) exp: i64,
    /// The tokens whose revocation also ends this one (its exchange chain's root and parent).
    pub(crate) ancestors: Vec<String>,
}

/// The header `typ` a Jeton token of `kind` carries: `at+jwt` for OAuth access tokens (RFC
/// 9068), `JWT` for sessions and API tokens; the same rule as the server's.
fn typ_of(kind: &str) -> &'static str {
    if kind == "oauth" { "at+jwt" } else { "JWT" }
}

impl Jwks {
    pub(crate) fn new(config: &Config) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Normalised as Jeton normalises its own (no trailing slash), so that either spelling
        // of `--issuer` configured here matches the `iss` of its tokens exactly.
        validation.set_issuer(&[config.issuer.trim().trim_end_matches('/')]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            url: format!("{}/.well-known/jwks.json", config.base_url),
            keys: RwLock::new(None),
            last_fetch: tokio::sync::Mutex::new(None),
            min_interval: config.jwks_refresh_interval,
            timeout: config.request_timeout,
            validation,
        }
    }

    pub(crate) fn loaded(&self) -> bool {
        self.keys.read().expect("lock").is_some()
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys
            .read()
            .expect("lock")
            .as_ref()
            .and_then(|keys| keys.get(kid).cloned())
    }

    /// Fetches the JWKS; unless `force`, not when the last fetch started less than the minimum
    /// interval ago. A failed fetch keeps the keys known so far.
    pub(crate) async fn refresh(&self, http: &reqwest::Client, force: bool) {
        let mut last = self.last_fetch.lock().await;
        if !force && last.is_some_and(|at| at.elapsed() < self.min_interval) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch(http).await {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "jeton-verify: JWKS fetched");
                *self.keys.write().expect("lock") = Some(Arc::new(keys));
            }
            Err(error) => tracing::warn!(%error, "jeton-verify: could not fetch the JWKS"),
        }
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<HashMap<String, DecodingKey>, String> {
        let response = http
            .get(&self.url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("Jeton answered {}", response.status()));
        }
        let document: Document = response
            .json()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let mut keys = HashMap::new();
        for jwk in document.keys {
            let ed25519 = jwk.kty == "OKP"
                && jwk.crv.as_deref() == Some("Ed25519")
                && jwk.alg.as_deref().is_none_or(|alg| alg == "EdDSA");
            let (Some(kid), Some(x), true) = (jwk.kid, jwk.x, ed25519) else {
                continue;
            };
            match DecodingKey::from_ed_components(&x) {
                Ok(key) => {
                    keys.insert(kid, key);
                }
                Err(e) => tracing::warn!(%kid, error = %e, "jeton-verify: unusable JWKS key"),
            }
        }
        Ok(keys)
    }

    /// Checks a JWT offline: `EdDSA` with a `kid` of the JWKS (fetched again, rate-limited, when
    /// unknown), signature, `iss`, `aud`, `exp`, `nbf`, and a header `typ` that is the one of
    /// the token's `kind`. Answers its `exp` and its exchange chain.
    pub(crate) async fn verify(
        &self,
        http: &reqwest::Client,
        token: &str,
    ) -> Result<Checked, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        if header.alg != Algorithm::EdDSA {
            return Err("algorithm not allowed");
        }
        let typ = header.typ;
        let kid = header.kid.ok_or("no kid")?;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.refresh(http, false).await;
                self.key(&kid).ok_or("unknown signing key")?
            }
        };
        let claims =
            jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                match error.kind() {
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::ImmatureSignature => "not yet valid",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAudience => "wrong audience",
                    _ => "malformed token",
                }
            })?;
        let claims = claims.claims;
        if typ.as_deref() != Some(typ_of(&claims.kind)) {
            return Err("token type does not match its kind");
        }
        Ok(Checked {
            exp: claims.exp,
            ancestors: claims.root_jti.into_iter().chain(claims.parent).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// A JWKS that knows one key, and a function signing claims with it under a given `typ`.
    fn known_key() -> (Jwks, impl Fn(Option<&str>, &serde_json::Value) -> String) {
        let master = jeton_server::master_key::MasterKey::from_bytes([5; 32], "test");
        let record = jeton_server::keys::generate_key([3; 32], 1, &master).unwrap();
        let der = jeton_server::keys::open_private_key(&record, &master).unwrap();
        let jwks = Jwks::new(&Config::new(
            "http://127.0.0.1:9",
            "https://jeton.test/",
            "k",
        ));
        let decoding =
            DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(&record.public_key)).unwrap();
        *jwks.keys.write().unwrap() =
            Some(Arc::new(HashMap::from([(record.kid.clone(), decoding)])));
        let encoding = jsonwebtoken::EncodingKey::from_ed_der(&der);
        let sign = move |typ: Option<&str>, claims: &serde_json::Value| {
            let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
            header.kid = Some(record.kid.clone());
            header.typ = typ.map(str::to_string);
            jsonwebtoken::encode(&header, claims, &encoding).unwrap()
        };
        (jwks, sign)
    }

    #[tokio::test]
    async fn a_token_whose_typ_is_not_its_kinds_is_refused() {
        let (jwks, sign) = known_key();
        let http = reqwest::Client::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = |kind: &str| {
            serde_json::json!({
                // The configured issuer had a trailing slash; Jeton's `iss` has none.
                "iss": "https://jeton.test", "aud": "jeton", "sub": "u", "kind": kind,
                "jti": "j", "iat": now, "nbf": now, "exp": now + 600,
                "root_jti": "r", "parent": "p",
            })
        };
        for (typ, kind, ok) in [
            (Some("JWT"), "api", true),
            (Some("JWT"), "session", true),
            (Some("at+jwt"), "oauth", true),
            (Some("at+jwt"), "api", false),
            (Some("at+jwt"), "session", false),
            (Some("JWT"), "oauth", false),
            (None, "oauth", false),
            (None, "api", false),
            (Some("AT+JWT"), "oauth", false),
        ] {
            let result = jwks.verify(&http, &sign(typ, &claims(kind))).await;
            assert_eq!(result.is_ok(), ok, "typ {typ:?}, kind {kind}");
            if let Ok(checked) = result {
                assert_eq!(checked.ancestors, ["r", "p"]);
            }
        }
        // Without a kind, no type can be checked: refused.
        let mut no_kind = claims("api");
        no_kind.as_object_mut().unwrap().remove("kind");
        assert!(
            jwks.verify(&http, &sign(Some("JWT"), &no_kind))
                .await
                .is_err()
        );
    }
}
