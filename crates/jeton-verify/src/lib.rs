//! Verify Jeton credentials in-process, in a resource server protected by Jeton.
//!
//! A [`Verifier`] answers, usually in microseconds and without a network round trip, who a
//! presented credential belongs to:
//!
//! - **JWTs** (personal API tokens, session tokens, OAuth2 client-credentials tokens) are
//!   checked offline against the server's JWKS (`GET {base}/.well-known/jwks.json`): `EdDSA`
//!   (Ed25519) only, `kid` required, signature, `iss`, `aud`, `exp` and `nbf` with 5 s of
//!   leeway, and a header `typ` matching the token's kind (`at+jwt` for OAuth access tokens,
//!   RFC 9068; `JWT` for the others). A `kid` that is not in the JWKS makes the verifier fetch
//!   it again, at most once every [`Config::jwks_refresh_interval`], before the token is
//!   refused. The configured issuer may end with a slash: Jeton's `iss` never does.
//! - **The first time** a credential is seen (a JWT that passed those checks, or an API key
//!   `jsk_…`), the verifier asks Jeton once (`GET {base}/api/v1/auth/verify`) whether it is
//!   revoked and whose it is, and caches the answer under the SHA-256 of the credential (the
//!   credential itself is never stored, nor logged): a positive answer until the JWT expires,
//!   for at most [`Config::max_age`]; a refusal for [`Config::negative_ttl`], so that an
//!   invalid credential reaches Jeton at most once per interval.
//! - **A background task follows Jeton's change feed** (`GET {base}/api/v1/changes`, long
//!   polling) and drops cached answers as soon as what they depend on changes: a revoked token,
//!   a disabled, changed or deleted user or service user, a rotated API key, a tenant, a
//!   signing key. A dropped answer is simply asked again, so a revoked token is refused as soon
//!   as the feed has reported it (well under a second).
//!
//! **Failing closed.** When the feed cannot be read for longer than [`Config::stale_after`]
//! (Jeton unreachable, the feed credential refused), cached answers are no longer trusted: every
//! request is verified through Jeton again until the feed is followed again. When Jeton cannot
//! be asked either, requests are refused with `503` ([`VerifyError::Unavailable`]); nothing is
//! ever accepted on doubt.
//!
//! **The feed credential.** Following the feed needs the API key of a *root* service user. It
//! can be narrowed to a scope that grants nothing else (the feed itself needs no scope); a root
//! user creates it once:
//!
//! ```sh
//! jeton service-user create --name resource-server --role root --scope feed
//! ```
//!
//! # Example
//!
//! ```no_run
//! use axum::{Json, Router, routing::get};
//! use jeton_verify::{Config, Identity, Verifier, VerifyLayer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new(
//!     "http://127.0.0.1:8080",         // where Jeton answers
//!     "http://127.0.0.1:8080",         // the `iss` of its tokens (`jeton serve --issuer`)
//!     std::env::var("JETON_FEED_KEY")?, // the root service user's API key
//! );
//! let verifier = Verifier::new(config)?;
//!
//! async fn whoami(identity: Identity) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "user": identity.username, "tenant": identity.tenant_id }))
//! }
//!
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(VerifyLayer::new(verifier));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! A complete service is `examples/protected.rs` (see the crate's README).

mod cache;
mod feed;
mod jwks;
mod layer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

pub use layer::{VerifyLayer, VerifyService};

/// How a [`Verifier`] reaches Jeton and how long it trusts what it learnt.
#[derive(Clone)]
pub struct Config {
    /// Jeton's base URL, such as `https://jeton.example.com` (no trailing path).
    pub base_url: String,
    /// The `iss` claim Jeton puts in its tokens (its `--issuer`).
    pub issuer: String,
    /// The `aud` claim Jeton puts in its tokens (default `jeton`).
    pub audience: String,
    /// API key of a root service user, used only to follow the change feed.
    pub feed_key: String,
    /// Most cached answers kept (default 100 000).
    pub cache_capacity: usize,
    /// Longest time a positive answer is used without asking Jeton again, whatever the feed
    /// says (default 60 s). Bounds what the feed does not announce, such as the end of a
    /// rotated key's grace period.
    pub max_age: Duration,
    /// How long a refusal from Jeton is remembered (default 5 s).
    pub negative_ttl: Duration,
    /// Cached answers are not trusted when the feed has not been read for this long (default
    /// 30 s; each long poll waits at most two thirds of it).
    pub stale_after: Duration,
    /// Long-poll wait of one feed request (default 20 s).
    pub feed_wait: Duration,
    /// Least time between two JWKS fetches caused by an unknown `kid` (default 5 s).
    pub jwks_refresh_interval: Duration,
    /// Time limit of one verification request to Jeton (default 5 s).
    pub request_timeout: Duration,
}

impl Config {
    /// A configuration with every default.
    pub fn new(
        base_url: impl Into<String>,
        issuer: impl Into<String>,
        feed_key: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            issuer: issuer.into(),
            audience: "jeton".to_string(),
            feed_key: feed_key.into(),
            cache_capacity: 100_000,
            max_age: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            stale_after: Duration::from_secs(30),
            feed_wait: Duration::from_secs(20),
            jwks_refresh_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        }
    }

    /// Sets the expected audience.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("feed_key", &"<redacted>")
            .field("cache_capacity", &self.cache_capacity)
            .field("max_age", &self.max_age)
            .field("negative_ttl", &self.negative_ttl)
            .field("stale_after", &self.stale_after)
            .field("feed_wait", &self.feed_wait)
            .field("jwks_refresh_interval", &self.jwks_refresh_interval)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// What kind of credential was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A session token from a password login.
    Session,
    /// A personal API token.
    ApiToken,
    /// An OAuth2 client-credentials access token.
    OAuth,
    /// A service user's API key.
    ApiKey,
}

impl CredentialKind {
    fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "session" => Self::Session,
            "api" => Self::ApiToken,
            "oauth" => Self::OAuth,
            "api_key" => Self::ApiKey,
            _ => return None,
        })
    }

    /// Jeton's name of the kind: `session`, `api`, `oauth` or `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::ApiToken => "api",
            Self::OAuth => "oauth",
            Self::ApiKey => "api_key",
        }
    }
}

/// Who a verified credential belongs to; put into the request's extensions by [`VerifyLayer`]
/// and taken out by the axum extractor (a handler argument of type `Identity`, which answers
/// 401 when the request carries none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Id of the user or service user.
    pub user_id: String,
    /// Username (or service user name), when Jeton gave one.
    pub username: Option<String>,
    /// Whether the principal is a service user.
    pub service_user: bool,
    /// Id of its tenant.
    pub tenant_id: String,
    /// Name of its tenant, when Jeton gave one.
    pub tenant: Option<String>,
    /// `root`, `tenant-admin` or `tenant-user`.
    pub access_level: String,
    /// Scopes the credential is narrowed to; empty when it is not narrowed.
    pub scopes: Vec<String>,
    /// Id of the token or API key (a JWT's `jti`).
    pub token_id: String,
    /// What was presented.
    pub kind: CredentialKind,
}

impl Identity {
    /// Whether the credential allows `scope`: it is not narrowed, or lists it.
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a credential was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    /// No credential in the request.
    #[error("no credential presented")]
    Missing,
    /// The credential is invalid, expired, revoked or not for this service.
    #[error("invalid credential: {0}")]
    Invalid(&'static str),
    /// Jeton could not be asked and nothing trustworthy is cached: refused.
    #[error("credential verification is unavailable: {0}")]
    Unavailable(String),
}

/// Could not build a [`Verifier`].
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The base URL does not parse.
    #[error("invalid Jeton base URL: {0}")]
    BaseUrl(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// Not called inside a Tokio runtime.
    #[error("Verifier::new must be called inside a Tokio runtime")]
    NoRuntime,
}

/// Verifies Jeton credentials; cheap to clone (the clones share one cache and one feed
/// follower, which stops when the last clone is dropped).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("base_url", &self.inner.config.base_url)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: Config,
    http: reqwest::Client,
    jwks: jwks::Jwks,
    cache: cache::Cache,
    /// When a feed request last succeeded; `None` before the first.
    feed_ok: Mutex<Option<Instant>>,
    /// The feed position every change up to which has been applied; -1 before the first read.
    position: std::sync::atomic::AtomicI64,
    /// Wakes [`Verifier::ready`] waiters.
    ready: tokio::sync::Notify,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().map(|mut t| t.take()).ok().flatten() {
            task.abort();
        }
    }
}

/// Credentials longer than this are refused without asking Jeton.
const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

impl Verifier {
    /// Builds a verifier and starts following the change feed in the background (call it
    /// inside a Tokio runtime). Jeton need not be reachable yet: until the feed has been read
    /// once, every credential is verified through Jeton.
    pub fn new(config: Config) -> Result<Self, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        reqwest::Url::parse(&config.base_url).map_err(|e| BuildError::BaseUrl(e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| BuildError::Client(e.to_string()))?;
        let inner = Arc::new(Inner {
            jwks: jwks::Jwks::new(&config),
            cache: cache::Cache::new(config.cache_capacity),
            http,
            feed_ok: Mutex::new(None),
            position: std::sync::atomic::AtomicI64::new(-1),
            ready: tokio::sync::Notify::new(),
            task: Mutex::new(None),
            config,
        });
        let task = runtime.spawn(feed::follow(Arc::downgrade(&inner)));
        *inner.task.lock().expect("lock") = Some(task.abort_handle());
        Ok(Self { inner })
    }

    /// Waits until the feed has been read and the JWKS fetched, up to `timeout`; answers
    /// whether it happened. Verification works before (through Jeton), so this is optional.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.ready.notified();
            if self.inner.feed_fresh() && self.inner.jwks.loaded() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.inner.feed_fresh() && self.inner.jwks.loaded();
            }
        }
    }

    /// Verifies a credential: a JWT or an API key, as presented (without `Bearer `).
    pub async fn verify(&self, credential: &str) -> Result<Identity, VerifyError> {
        let inner = &self.inner;
        if credential.is_empty() {
            return Err(VerifyError::Missing);
        }
        if credential.len() > MAX_CREDENTIAL_LEN
            || !credential.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(VerifyError::Invalid("malformed"));
        }
        let key: cache::Key = Sha256::digest(credential.as_bytes()).into();
        let trusted = inner.feed_fresh();
        match inner.cache.get(&key, Instant::now()) {
            Some(cache::Hit::Refused) => return Err(VerifyError::Invalid("refused by Jeton")),
            Some(cache::Hit::Valid(identity)) if trusted => return Ok(identity),
            _ => {}
        }
        let is_jwt = looks_like_jwt(credential);
        let (jwt_exp, ancestors) = if is_jwt {
            let checked = inner
                .jwks
                .verify(&inner.http, credential)
                .await
                .map_err(VerifyError::Invalid)?;
            (Some(checked.exp), checked.ancestors)
        } else {
            (None, Vec::new())
        };
        let epoch = inner.cache.epoch();
        match inner.ask(credential, is_jwt).await? {
            Some((identity, expires_at)) => {
                if trusted && inner.feed_fresh() {
                    let now_unix = unix_now();
                    let mut ttl = inner.config.max_age;
                    for until in [jwt_exp, expires_at].into_iter().flatten() {
                        let left = u64::try_from(until.saturating_sub(now_unix)).unwrap_or(0);
                        ttl = ttl.min(Duration::from_secs(left));
                    }
                    // With the token's exchange chain: the revocation of an ancestor, reported
                    // by the feed, drops this answer too.
                    inner.cache.insert_valid(
                        key,
                        identity.clone(),
                        ancestors,
                        Instant::now() + ttl,
                        epoch,
                    );
                }
                Ok(identity)
            }
            None => {
                inner
                    .cache
                    .insert_refused(key, Instant::now() + inner.config.negative_ttl);
                Err(VerifyError::Invalid("refused by Jeton"))
            }
        }
    }

    /// Number of answers cached now (positive and negative).
    pub fn cached(&self) -> usize {
        self.inner.cache.len()
    }

    /// The change-feed position up to which every change has been applied (`next` of Jeton's
    /// `GET /api/v1/changes`); `None` before the feed was first read.
    pub fn feed_position(&self) -> Option<i64> {
        let position = self
            .inner
            .position
            .load(std::sync::atomic::Ordering::Acquire);
        (position >= 0).then_some(position)
    }

    /// Whether cached answers are trusted now: the feed was read within
    /// [`Config::stale_after`].
    pub fn following(&self) -> bool {
        self.inner.feed_fresh()
    }
}

impl Inner {
    fn feed_fresh(&self) -> bool {
        self.feed_ok
            .lock()
            .expect("lock")
            .is_some_and(|at| at.elapsed() < self.config.stale_after)
    }

    /// Asks Jeton. `Ok(None)`: refused (401). The identity comes with the credential's expiry
    /// in Unix seconds, when Jeton gave one.
    async fn ask(
        &self,
        credential: &str,
        is_jwt: bool,
    ) -> Result<Option<(Identity, Option<i64>)>, VerifyError> {
        let url = format!("{}/api/v1/auth/verify", self.config.base_url);
        let request = self.http.get(url).timeout(self.config.request_timeout);
        let request = if is_jwt {
            request.bearer_auth(credential)
        } else {
            request.header("x-api-key", credential)
        };
        let response = request.send().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "jeton-verify: Jeton unreachable");
            VerifyError::Unavailable("Jeton unreachable".into())
        })?;
        match response.status() {
            reqwest::StatusCode::OK => {}
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => return Ok(None),
            status => {
                tracing::warn!(%status, "jeton-verify: unexpected answer from Jeton");
                return Err(VerifyError::Unavailable(format!("Jeton answered {status}")));
            }
        }
        let body: jeton_api::VerifiedIdentity = response.json().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "jeton-verify: unreadable answer from Jeton");
            VerifyError::Unavailable("unreadable answer from Jeton".into())
        })?;
        let kind = CredentialKind::parse(&body.kind)
            .ok_or_else(|| VerifyError::Unavailable(format!("unknown kind {}", body.kind)))?;
        let expires_at =
            match body.expires_at.as_deref() {
                None => None,
                Some(at) => Some(parse_rfc3339(at).ok_or_else(|| {
                    VerifyError::Unavailable("unreadable expiry from Jeton".into())
                })?),
            };
        let identity = Identity {
            user_id: body.user_id,
            username: Some(body.user).filter(|u| !u.is_empty()),
            service_user: body.principal_type == "service_user",
            tenant_id: body.tenant_id,
            tenant: Some(body.tenant).filter(|t| !t.is_empty()),
            access_level: body.access_level,
            scopes: body.scopes,
            token_id: body.token_id,
            kind,
        };
        Ok(Some((identity, expires_at)))
    }
}

/// Compact JWS shape: three base64url parts, the header a JSON object (`eyJ`).
fn looks_like_jwt(credential: &str) -> bool {
    credential.starts_with("eyJ") && credential.bytes().filter(|&b| b == b'.').count() == 2
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Parses an RFC 3339 time into Unix seconds.
fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-08-19T09:00:00Z"),
            parse_rfc3339("2026-08-19T11:00:00.123+02:00")
        );
        assert_eq!(parse_rfc3339("2026-08-19 09:00:00"), None);
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn tells_jwts_from_keys() {
        assert!(looks_like_jwt("eyJhbGciOi.eyJzdWIi.c2ln"));
        assert!(!looks_like_jwt("jsk_abcdef"));
        assert!(!looks_like_jwt("eyJ.only-one"));
    }
}
