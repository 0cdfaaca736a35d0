//! OAuth2 for service users: the client-credentials grant (RFC 6749 §4.4) and the token-exchange
//! refresh some clients send (RFC 8693), introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Client authentication is the API-key check of [`crate::verify::Verifier`], served from memory.
//! Access tokens are JWTs of kind `oauth` carrying the id of the key they were issued with: they
//! stop working the moment that key does (rotation, disabling, deletion, expiry). They have no
//! database record; their issuance is audited in batches.

use jeton_core::scope::{self, ADMIN_SCOPE};
use jeton_core::token::Claims;
use jeton_core::{ServiceUserId, TokenId, TokenKind};
use jeton_store::{Revocation, TokenLink};

use super::Service;
use crate::audit::Event;
use crate::error::ApiError;
use crate::throttle::Attempt;
use crate::verify::{Actor, AuthFailure, CredentialKind};

/// RFC 8693's name of an access token, as `issued_token_type` and `subject_token_type`.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693's grant type.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The error codes of RFC 6749 §5.2 and RFC 7009 §2.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// A parameter is missing, repeated or malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (a subject token) is invalid, expired or revoked.
    InvalidGrant,
    /// The client may not use this grant or act on this token.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// A requested scope is outside what the client may have.
    InvalidScope,
    /// Revocation of this kind of token is not supported.
    UnsupportedTokenType,
    /// Too many failures; try later (answered as 429).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error: a code, a description, and for throttling the seconds to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The code.
    pub code: OAuthErrorCode,
    /// Plain words for the client.
    pub description: String,
    /// For [`OAuthErrorCode::TemporarilyUnavailable`]: seconds until a retry can succeed.
    pub retry_after: Option<u64>,
    /// Set when the server itself failed (answered as 500/503, not as a client error).
    pub server: Option<ApiErrorKind>,
}

/// A server-side failure behind an OAuth request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The database is unavailable (503).
    Unavailable,
    /// A bug (500).
    Internal,
}

impl OAuthError {
    /// An error with this code and description.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
            server: None,
        }
    }

    fn invalid_client() -> Self {
        Self::new(
            OAuthErrorCode::InvalidClient,
            "client authentication failed: unknown client, wrong secret, or the client is disabled",
        )
    }
}

impl From<ApiError> for OAuthError {
    fn from(err: ApiError) -> Self {
        let server = match &err {
            ApiError::Unavailable(_) => Some(ApiErrorKind::Unavailable),
            _ => Some(ApiErrorKind::Internal),
        };
        if matches!(err, ApiError::Internal(_)) {
            tracing::error!(error = %err, "OAuth request failed");
        }
        Self {
            code: OAuthErrorCode::InvalidRequest,
            description: err.to_string(),
            retry_after: None,
            server,
        }
    }
}

/// Client credentials as presented: from HTTP Basic or the form.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// `client_id`: a service user's id.
    pub client_id: String,
    /// `client_secret`: its API key.
    pub client_secret: jeton_core::Secret,
}

/// A grant request to the token endpoint.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// `grant_type`.
    pub grant_type: String,
    /// The client's credentials, when it sent some.
    pub client: Option<ClientCredentials>,
    /// `scope`, space-separated.
    pub scope: Option<String>,
    /// For token exchange: `subject_token`.
    pub subject_token: Option<jeton_core::Secret>,
    /// For token exchange: `subject_token_type`.
    pub subject_token_type: Option<String>,
}

/// An access token just issued.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The JWT.
    pub token: jeton_core::Secret,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// Where a token issued by token exchange sits in its chain, and how long it may live.
#[derive(Debug, Clone, Copy)]
struct ExchangeLink {
    /// The subject token.
    parent: TokenId,
    /// The chain's first token.
    root: TokenId,
    /// The latest expiry allowed: the subject's, unless the client authenticated.
    not_after: Option<i64>,
}

/// What introspection says of a token (RFC 7662 §2.2); `None` means `{"active": false}`.
#[derive(Debug, Clone)]
pub struct Introspection {
    /// The verified credential.
    pub actor: Actor,
    /// Its tenant's name.
    pub tenant: String,
}

impl Service {
    /// Authenticates a client by its credentials: `client_id` must be a service user's id and
    /// `client_secret` its working API key. Failures are throttled per client id at the client's
    /// address, per address, and per client id from every address (see [`crate::throttle`]: a
    /// client cannot be locked out from where it authenticates), and audited.
    pub fn authenticate_client(
        &self,
        client: &ClientCredentials,
        addr: Option<&str>,
    ) -> Result<Actor, OAuthError> {
        let now = self.now();
        // Clipped: a key as long as the body would let failures fill the throttle's memory.
        let attempt = Attempt::new(
            "client",
            &client.client_id.chars().take(64).collect::<String>(),
            addr,
        );
        // Counted as it begins; a success gives the attempt back.
        if let Err(retry_after) = self.throttle.begin(&attempt, now) {
            self.audit.queue(
                Event::new("oauth.client_auth", now)
                    .actor_parts(None, &client.client_id, addr)
                    .outcome("denied")
                    .detail("reason", "throttled"),
            );
            return Err(OAuthError {
                retry_after: Some(retry_after),
                ..OAuthError::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    format!(
                        "too many failed client authentications; try again in {retry_after} seconds"
                    ),
                )
            });
        }
        let result = match client.client_id.trim().parse::<ServiceUserId>() {
            Err(_) => Err(AuthFailure::OwnerUnknown),
            Ok(id) => self
                .verifier
                .verify(client.client_secret.expose(), now)
                .and_then(|actor| {
                    // The key must be an API key, and this client's.
                    if actor.kind == CredentialKind::ApiKey
                        && actor.principal.service_user_id() == Some(id)
                    {
                        Ok(actor)
                    } else {
                        Err(AuthFailure::UnknownKey)
                    }
                }),
        };
        match result {
            Ok(mut actor) => {
                self.throttle.succeeded(&attempt, now);
                actor.client_addr = addr.map(str::to_string);
                Ok(actor)
            }
            Err(failure) => {
                let action = if failure == AuthFailure::SupersededKey {
                    "api_key.superseded_used"
                } else {
                    "oauth.client_auth"
                };
                self.audit.queue(
                    Event::new(action, now)
                        .actor_parts(None, &client.client_id, addr)
                        .outcome("failure")
                        .detail("reason", failure.as_str()),
                );
                Err(OAuthError::invalid_client())
            }
        }
    }

    /// The token endpoint: `client_credentials`, and token exchange of a Jeton access token for
    /// a fresh one.
    pub async fn grant(
        &self,
        request: &TokenRequest,
        addr: Option<&str>,
    ) -> Result<AccessToken, OAuthError> {
        match request.grant_type.as_str() {
            "" => Err(OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "missing grant_type: use grant_type=client_credentials",
            )),
            "client_credentials" => {
                let client = request.client.as_ref().ok_or_else(|| {
                    OAuthError::new(
                        OAuthErrorCode::InvalidClient,
                        "client authentication required: send client_id and client_secret as HTTP Basic or form fields",
                    )
                })?;
                let actor = self.authenticate_client(client, addr)?;
                self.issue_access_token(
                    &actor,
                    request.scope.as_deref(),
                    "client_credentials",
                    None,
                )
                .map(|(token, _)| token)
            }
            TOKEN_EXCHANGE_GRANT => self.exchange(request, addr).await,
            other => Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!(
                    "grant type '{}' is not supported: use client_credentials",
                    super::clip(other)
                ),
            )),
        }
    }

    /// Token exchange (RFC 8693): a valid Jeton access token of a service user buys a fresh one
    /// for the same service user and key, with the same or narrower scopes.
    ///
    /// A credential can only beget credentials narrower and shorter-lived than itself: without
    /// client authentication the new token expires no later than the subject token (so a
    /// stolen token cannot be refreshed forever); with the service user's own client
    /// authentication (its id and API key) it gets a fresh lifetime, as a `client_credentials`
    /// grant would. Either way the new token belongs to the subject's exchange chain: it
    /// carries the chain's root and its parent as claims, and the link is recorded in the store
    /// before the token is returned, so that revoking any token of the chain revokes every token
    /// exchanged from it.
    async fn exchange(
        &self,
        request: &TokenRequest,
        addr: Option<&str>,
    ) -> Result<AccessToken, OAuthError> {
        let subject = request.subject_token.as_ref().ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "missing subject_token for token exchange",
            )
        })?;
        if let Some(kind) = request.subject_token_type.as_deref()
            && kind != ACCESS_TOKEN_TYPE
        {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                format!("subject_token_type must be {ACCESS_TOKEN_TYPE}"),
            ));
        }
        let client = match &request.client {
            Some(client) => Some(self.authenticate_client(client, addr)?),
            None => None,
        };
        let now = self.now();
        let subject = self.verifier.verify(subject.expose(), now).map_err(|_| {
            OAuthError::new(
                OAuthErrorCode::InvalidGrant,
                "the subject token is invalid, expired or revoked",
            )
        })?;
        if !subject.principal.is_service() || subject.kind == CredentialKind::ApiKey {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidGrant,
                "only access tokens of service users can be exchanged",
            ));
        }
        if let Some(client) = &client
            && client.principal.id != subject.principal.id
        {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidGrant,
                "the subject token belongs to another client",
            ));
        }
        let wanted = request
            .scope
            .clone()
            .or_else(|| subject.scopes.as_ref().map(|s| s.join(" ")));
        // Scopes only narrow: the new token cannot exceed the old one.
        if let (Some(held), Some(wanted)) = (&subject.scopes, &wanted) {
            let wanted = scope::normalize([wanted.as_str()])
                .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidScope, e.to_string()))?;
            scope::check_covered(Some(held), &wanted)
                .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidScope, e.to_string()))?;
        }
        let link = ExchangeLink {
            parent: subject.token_id,
            root: subject.chain_root.unwrap_or(subject.token_id),
            // Only the client's own authentication renews the lifetime.
            not_after: if client.is_some() {
                None
            } else {
                subject.expires_at
            },
        };
        let mut actor = subject;
        actor.client_addr = addr.map(str::to_string);
        let (token, claims) =
            self.issue_access_token(&actor, wanted.as_deref(), "token_exchange", Some(link))?;
        // Recorded before the token is returned, then the parent checked again in the store: a
        // revocation that walked the chain before this link was written has recorded the
        // parent's revocation before it read the parent's children (see `revoke_descendants`),
        // so one of the two always sees the other and no token escapes a concurrent revocation.
        self.store
            .insert_token_link(&TokenLink {
                token_id: claims.jti,
                parent_id: link.parent,
                root_id: link.root,
                tenant_id: claims.tid,
                created_at: claims.iat,
                expires_at: claims.exp,
            })
            .await
            .map_err(ApiError::from)?;
        let parent_revoked = self
            .store
            .get_revocation(link.parent)
            .await
            .map_err(ApiError::from)?
            .is_some();
        if parent_revoked || self.directory.is_revoked(link.root) {
            let revocation = Revocation {
                token_id: claims.jti,
                expires_at: claims.exp,
            };
            // Not returned, and refused everywhere should it ever be presented.
            self.store
                .record_revocation(revocation, now)
                .await
                .map_err(ApiError::from)?;
            self.directory.revoke(revocation);
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidGrant,
                "the subject token is invalid, expired or revoked",
            ));
        }
        Ok(token)
    }

    /// Signs an `oauth` access token for a service user authenticated with an API key (or an
    /// earlier access token from one).
    fn issue_access_token(
        &self,
        actor: &Actor,
        requested: Option<&str>,
        grant: &str,
        link: Option<ExchangeLink>,
    ) -> Result<(AccessToken, Claims), OAuthError> {
        let principal = &actor.principal;
        let key = actor.api_key.ok_or_else(OAuthError::invalid_client)?;
        let requested = scope::normalize(requested)
            .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidScope, e.to_string()))?;
        if let Some(allowed) = principal.allowed_scopes.as_deref() {
            scope::check_covered(Some(allowed), &requested).map_err(|_| {
                OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!(
                        "scope '{}' is outside what this client may have ({})",
                        requested
                            .iter()
                            .find(|s| !allowed.iter().any(|a| scope::covers(a, s)))
                            .map(String::as_str)
                            .unwrap_or_default(),
                        allowed.join(" ")
                    ),
                )
            })?;
        }
        if requested.iter().any(|s| s == ADMIN_SCOPE) && !principal.access.is_admin() {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "scope 'admin' is outside what this client may have: its access level is tenant-user",
            ));
        }
        let granted = if requested.is_empty() {
            principal.allowed_scopes.clone().unwrap_or_default()
        } else {
            requested
        };
        let now = self.now();
        let mut exp = now.saturating_add(self.config.oauth_token_lifetime.as_secs_i64());
        if let Some(until) = principal.expires_at {
            exp = exp.min(until);
        }
        if let Some(until) = link.and_then(|link| link.not_after) {
            exp = exp.min(until);
        }
        if exp <= now {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidGrant,
                "the subject token is invalid, expired or revoked",
            ));
        }
        let jti = self.new_id(TokenId::new_v7);
        let claims = Claims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: principal.id,
            tid: principal.tenant_id,
            jti,
            kind: TokenKind::Oauth,
            scope: granted.join(" "),
            iat: now,
            nbf: now,
            exp,
            akid: Some(key),
            root_jti: link.map(|link| link.root),
            parent: link.map(|link| link.parent),
        };
        let token = self.verifier.keys().sign(&claims)?;
        let mut event = Event::new("oauth.token", now)
            .actor(actor)
            .target("token", jti, &principal.username)
            .detail("grant_type", grant)
            .detail("scope", claims.scope.clone())
            .detail("key_id", key.to_string());
        if let Some(link) = link {
            event = event
                .detail("parent", link.parent.to_string())
                .detail("root", link.root.to_string());
        }
        self.audit.queue(event);
        Ok((
            AccessToken {
                token: jeton_core::Secret::new(token),
                expires_in: exp - now,
                scope: claims.scope.clone(),
            },
            claims,
        ))
    }

    /// RFC 7662: what the caller may learn of `token`. Only tokens of the caller's own tenant
    /// (any tenant for root) are reported active; everything else is `None`, exactly like an
    /// invalid token.
    pub fn introspect(&self, caller: &Actor, token: &str) -> Option<Introspection> {
        let now = self.now();
        let actor = self.verifier.verify(token, now).ok()?;
        if !caller.subject().sees_tenant(actor.principal.tenant_id) {
            return None;
        }
        let tenant = self
            .directory
            .tenant_name(actor.principal.tenant_id)?
            .to_string();
        Some(Introspection { actor, tenant })
    }

    /// RFC 7009: revokes `token` if the caller may (its own token, or as an administrator any
    /// token of its tenant). An invalid or unknown token, or one of another tenant, is not an
    /// error (the answer is the same as for success).
    pub async fn revoke_by_value(&self, caller: &Actor, token: &str) -> Result<(), OAuthError> {
        let now = self.now();
        if token.starts_with(self.verifier.key_prefix()) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedTokenType,
                "API keys are not revoked here: rotate the key, or disable the service user",
            ));
        }
        let Ok(target) = self.verifier.verify(token, now) else {
            return Ok(());
        };
        if !caller.subject().sees_tenant(target.principal.tenant_id) {
            return Ok(());
        }
        if jeton_core::access::Decision::Allow
            != caller
                .subject()
                .act_on_owned(target.principal.id, target.principal.tenant_id)
        {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "this token was not issued to you",
            ));
        }
        if !caller.principal.access.at_least(target.principal.access) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "the token's owner has an access level above your own",
            ));
        }
        self.revoke_verified(caller, &target).await?;
        Ok(())
    }

    /// Revokes every token exchanged from `token`, transitively, after `token`'s own revocation
    /// was recorded. Generation by generation, each generation's revocations are committed
    /// before its children are read: an exchange that links a new child after that read finds
    /// its parent revoked when it checks (see [`Service::exchange`]). Every revocation goes to
    /// the store (and so through the change feed to every instance and to `jeton-verify`) and
    /// to this instance's directory at once. Answers how many descendants were revoked.
    pub(crate) async fn revoke_descendants(
        &self,
        caller: &Actor,
        token: TokenId,
        tenant: jeton_core::TenantId,
    ) -> Result<usize, ApiError> {
        let now = self.now();
        let mut generation = vec![token];
        let mut seen = std::collections::HashSet::from([token]);
        let mut revoked = 0;
        while !generation.is_empty() {
            let children = self.store.token_children(&generation).await?;
            generation.clear();
            for link in children {
                // Links only join tokens of one tenant; one that does not is skipped, not
                // followed, so that no revocation can reach across tenants.
                if link.tenant_id != tenant || !seen.insert(link.token_id) {
                    continue;
                }
                let revocation = Revocation {
                    token_id: link.token_id,
                    expires_at: link.expires_at,
                };
                if link.expires_at > now {
                    self.store.record_revocation(revocation, now).await?;
                    self.directory.revoke(revocation);
                    revoked += 1;
                }
                generation.push(link.token_id);
            }
        }
        if revoked > 0 {
            self.audit
                .write(
                    Event::new("token.revoke_chain", now)
                        .actor(caller)
                        .tenant(tenant)
                        .target("token", token, "")
                        .detail("revoked", revoked),
                )
                .await;
        }
        Ok(revoked)
    }

    /// Revokes a verified token: through its record when it has one, otherwise (OAuth access
    /// tokens) by recording its revocation until its expiry.
    pub(crate) async fn revoke_verified(
        &self,
        caller: &Actor,
        target: &Actor,
    ) -> Result<(), ApiError> {
        if target.kind == CredentialKind::ApiKey {
            return Err(ApiError::Unprocessable(
                "an API key is not a token: rotate it, or disable its service user".to_string(),
            ));
        }
        if let Some(record) = self.store.get_token(target.token_id).await? {
            self.revoke_record(caller, record).await?;
            return Ok(());
        }
        let now = self.now();
        let revocation = Revocation {
            token_id: target.token_id,
            expires_at: target.expires_at.unwrap_or(now),
        };
        self.store.record_revocation(revocation, now).await?;
        self.directory.revoke(revocation);
        self.revoke_descendants(caller, target.token_id, target.principal.tenant_id)
            .await?;
        self.audit
            .write(
                Event::new("token.revoke", now)
                    .actor(caller)
                    .tenant(target.principal.tenant_id)
                    .target("token", target.token_id, &target.principal.username)
                    .detail("kind", target.kind.as_str()),
            )
            .await;
        Ok(())
    }
}
