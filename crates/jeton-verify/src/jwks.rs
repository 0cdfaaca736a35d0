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
