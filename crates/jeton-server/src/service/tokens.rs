//! Token operations: login, create, list, show, comment, revoke, revoke all, delete.

use jeton_core::access::Decision;
use jeton_core::names::{generated_name, validate_name};
use jeton_core::policy::PolicyViolation;
use jeton_core::token::Claims;
use jeton_core::{Lifetime, Secret, TokenId, TokenKind, TokenStatus, UserId, scope};
use jeton_store::{Revocation, StoreError, TokenFilter, TokenRecord, UserRecord};

use super::{Service, clip, next_cursor, page_limit, require};
use crate::audit::Event;
use crate::error::{ApiError, ApiResult};
use crate::passwords;
use crate::throttle::Attempt;
use crate::verify::{Actor, CredentialKind};

/// Longest accepted token comment.
pub const MAX_COMMENT_LEN: usize = 1024;

/// What `create_token` takes.
#[derive(Debug, Default, Clone)]
pub struct CreateTokenInput {
    /// Name; generated when absent.
    pub name: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Lifetime as text (`30d`; a bare number means days); the default when absent.
    pub expires_in: Option<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Another user (administrators only).
    pub for_user: Option<String>,
}

/// What `list_tokens` takes.
#[derive(Debug, Default, Clone)]
pub struct ListTokensInput {
    /// Another user (administrators only).
    pub for_user: Option<String>,
    /// Include expired and revoked.
    pub all: bool,
    /// Only this kind.
    pub kind: Option<TokenKind>,
    /// Page size.
    pub limit: Option<u32>,
    /// Previous page's cursor.
    pub cursor: Option<String>,
}

/// A page of token records.
#[derive(Debug, Clone)]
pub struct TokenPage {
    /// The records.
    pub items: Vec<TokenRecord>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

impl Service {
    /// Password login: a session token. Throttled per username at the client's address, per
    /// address, and per username from every address (see [`crate::throttle`]: nobody can lock
    /// an account out); every outcome is audited. The answer never says which check failed.
    pub async fn login(
        &self,
        username: &str,
        password: &Secret,
        client_addr: Option<String>,
    ) -> ApiResult<(Secret, TokenRecord, UserRecord)> {
        let now = self.now();
        // Clipped: usernames are at most 64 characters, and a key as long as the body would let
        // failed logins with huge names fill the throttle's memory.
        let attempt = Attempt::new(
            "user",
            &username
                .chars()
                .take(128)
                .collect::<String>()
                .to_lowercase(),
            client_addr.as_deref(),
        );
        // The attempt counts from here (a success gives it back), so that guesses sent all at
        // once cannot all reach the password check before the first failure is recorded.
        if let Err(retry_after) = self.throttle.begin(&attempt, now) {
            self.audit.queue(
                Event::new("auth.login", now)
                    .actor_parts(None, username, client_addr.as_deref())
                    .outcome("denied")
                    .detail("reason", "throttled"),
            );
            return Err(ApiError::TooManyRequests {
                message: format!("too many failed logins; try again in {retry_after} seconds"),
                retry_after,
            });
        }
        let user = self.store.get_user_by_name(username).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let password_ok = passwords::verify(password.clone(), hash).await;
        let failure = match &user {
            None => Some("unknown_user"),
            Some(_) if !password_ok => Some("bad_password"),
            Some(u) if !u.active => Some("inactive"),
            Some(u) if !self.directory.tenant_exists(u.tenant_id) => Some("tenant_missing"),
            Some(_) => None,
        };
        if let Some(reason) = failure {
            // Already counted by `begin`.
            let mut event = Event::new("auth.login", now)
                .actor_parts(
                    user.as_ref().map(|u| u.id),
                    username,
                    client_addr.as_deref(),
                )
                .outcome("failure")
                .detail("reason", reason);
            if let Some(u) = &user {
                event = event.tenant(u.tenant_id);
            }
            self.audit.queue(event);
            return Err(ApiError::Unauthenticated(
                "invalid username or password".to_string(),
            ));
        }
        let user = user.expect("checked above");
        self.throttle.succeeded(&attempt, now);
        let (secret, record) = self
            .issue(
                &user,
                TokenKind::Session,
                None,
                String::new(),
                Vec::new(),
                self.config.session_lifetime,
                None,
            )
            .await?;
        self.audit
            .write(
                Event::new("auth.login", now)
                    .actor_parts(Some(user.id), &user.username, client_addr.as_deref())
                    .tenant(user.tenant_id)
                    .target("token", record.id, &record.name),
            )
            .await;
        Ok((secret, record, user))
    }

    /// Signs a token for `owner` and records it (durably, before returning). A generated name
    /// is retried on the unlikely collision.
    #[allow(clippy::too_many_arguments)] // One private constructor; a struct would only rename them.
    pub(crate) async fn issue(
        &self,
        owner: &UserRecord,
        kind: TokenKind,
        name: Option<String>,
        comment: String,
        scopes: Vec<String>,
        lifetime: Lifetime,
        created_by: Option<UserId>,
    ) -> ApiResult<(Secret, TokenRecord)> {
        let now = self.now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let token_name = name
                .clone()
                .unwrap_or_else(|| generated_name(kind.as_str(), Self::random()));
            let id = self.new_id(TokenId::new_v7);
            let record = TokenRecord {
                id,
                tenant_id: owner.tenant_id,
                user_id: owner.id,
                kind,
                name: token_name,
                comment: comment.clone(),
                scopes: scopes.clone(),
                created_at: now,
                created_by,
                expires_at: now.saturating_add(lifetime.as_secs_i64()),
                last_used_at: None,
                revoked_at: None,
                revoked_by: None,
            };
            let claims = Claims {
                iss: self.config.issuer.clone(),
                aud: self.config.audience.clone(),
                sub: owner.id,
                tid: owner.tenant_id,
                jti: id,
                kind,
                scope: scopes.join(" "),
                iat: now,
                nbf: now,
                exp: record.expires_at,
                akid: None,
                root_jti: None,
                parent: None,
            };
            let token = self.verifier.keys().sign(&claims)?;
            match self.store.insert_token(&record, now).await {
                Ok(()) => return Ok((Secret::new(token), record)),
                Err(StoreError::Conflict(_)) if name.is_none() && attempts < 3 => continue,
                Err(StoreError::Conflict(_)) => {
                    return Err(ApiError::Conflict(format!(
                        "a token named '{}' already exists for user {}; choose another name or revoke that token first",
                        record.name, owner.username
                    )));
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// Creates an API token for the actor, or for another user (administrators).
    pub async fn create_token(
        &self,
        actor: &Actor,
        input: CreateTokenInput,
    ) -> ApiResult<(Secret, TokenRecord)> {
        let now = self.now();
        let owner = self.target_user(actor, input.for_user.as_deref()).await?;
        if owner.id != actor.principal.id {
            // Minting a token for someone is acting as them: only below one's own level.
            require(
                actor
                    .subject()
                    .act_for_user(owner.tenant_id, owner.access_level),
                "user",
                "only root may create tokens for a user at your own access level",
            )?;
        }
        let name = match input.name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(
                validate_name("token name", name)
                    .map_err(|e| ApiError::Unprocessable(e.to_string()))?
                    .to_string(),
            ),
        };
        let comment = input.comment.unwrap_or_default();
        if comment.chars().count() > MAX_COMMENT_LEN {
            return Err(ApiError::Unprocessable(format!(
                "comment is too long: at most {MAX_COMMENT_LEN} characters"
            )));
        }
        let requested = match input.expires_in.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                Lifetime::parse_days_default(text)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?,
            ),
        };
        let scopes =
            scope::normalize(&input.scopes).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let scopes = scope::for_child(actor.scopes.as_deref(), scopes)
            .map_err(|e| ApiError::Forbidden(e.to_string()))?;
        let (user_limit, role_limits) = self.limits_of(&owner).await?;
        let limit = self.config.policy.effective_limit(
            &owner.username,
            user_limit,
            role_limits.iter().map(|(n, l)| (n.as_str(), *l)),
        );
        let lifetime = self
            .config
            .policy
            .lifetime_for(requested, &limit)
            .map_err(|e: PolicyViolation| ApiError::Unprocessable(e.to_string()))?;
        let lifetime = child_lifetime(actor, now, lifetime, requested.is_some())?;
        let (secret, record) = self
            .issue(
                &owner,
                TokenKind::Api,
                name,
                comment,
                scopes,
                lifetime,
                Some(actor.principal.id),
            )
            .await?;
        let mut event = Event::new("token.create", now)
            .actor(actor)
            .tenant(owner.tenant_id)
            .target("token", record.id, &record.name)
            .detail("owner", owner.username.clone())
            .detail("expires_at", record.expires_at);
        if !record.scopes.is_empty() {
            event = event.detail("scopes", record.scopes.join(" "));
        }
        self.audit.write(event).await;
        Ok((secret, record))
    }

    /// Lists the actor's tokens, or another user's (administrators).
    pub async fn list_tokens(&self, actor: &Actor, input: ListTokensInput) -> ApiResult<TokenPage> {
        let owner = self.target_user(actor, input.for_user.as_deref()).await?;
        let limit = page_limit(input.limit)?;
        let before = match input.cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(
                cursor
                    .parse::<TokenId>()
                    .map_err(|_| ApiError::BadRequest("invalid cursor".to_string()))?,
            ),
        };
        let mut items = self
            .store
            .list_tokens(&TokenFilter {
                tenant_id: Some(owner.tenant_id),
                user_id: Some(owner.id),
                kind: input.kind,
                include_inactive: input.all,
                now: self.now(),
                before,
                limit: limit + 1,
            })
            .await?;
        let next_cursor = next_cursor(&mut items, limit, |t| t.id.to_string());
        Ok(TokenPage { items, next_cursor })
    }

    /// A token the actor may see: its own, or any in its tenant for administrators.
    pub async fn get_token(&self, actor: &Actor, id: &str) -> ApiResult<TokenRecord> {
        let id = parse_token_id(id)?;
        let record = self
            .store
            .get_token(id)
            .await?
            .ok_or_else(|| ApiError::not_found("token"))?;
        require(
            actor
                .subject()
                .act_on_owned(record.user_id, record.tenant_id),
            "token",
            "act on this token",
        )?;
        if let Some(owner) = self.directory.user(record.user_id)
            && !actor.principal.access.at_least(owner.access)
        {
            return Err(ApiError::forbidden(
                "the token's owner has an access level above your own",
            ));
        }
        Ok(record)
    }

    /// The actor's (or, for administrators, the named user's) active token with this name.
    pub async fn find_token_by_name(
        &self,
        actor: &Actor,
        for_user: Option<&str>,
        name: &str,
    ) -> ApiResult<TokenRecord> {
        let owner = self.target_user(actor, for_user).await?;
        self.store
            .find_active_token(owner.id, name, self.now())
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no active token named '{}' for user {}",
                    clip(name),
                    owner.username
                ))
            })
    }

    /// Changes a token's comment.
    pub async fn set_token_comment(
        &self,
        actor: &Actor,
        id: &str,
        comment: &str,
    ) -> ApiResult<TokenRecord> {
        let record = self.get_token(actor, id).await?;
        if comment.chars().count() > MAX_COMMENT_LEN {
            return Err(ApiError::Unprocessable(format!(
                "comment is too long: at most {MAX_COMMENT_LEN} characters"
            )));
        }
        self.store.set_token_comment(record.id, comment).await?;
        self.audit
            .write(
                Event::new("token.comment", self.now())
                    .actor(actor)
                    .tenant(record.tenant_id)
                    .target("token", record.id, &record.name),
            )
            .await;
        Ok(TokenRecord {
            comment: comment.to_string(),
            ..record
        })
    }

    /// Revokes a token by id (own, or any in the tenant for administrators). Revoking a token
    /// that is already revoked answers with its record unchanged.
    pub async fn revoke_token(&self, actor: &Actor, id: &str) -> ApiResult<TokenRecord> {
        let record = self.get_token(actor, id).await?;
        self.revoke_record(actor, record).await
    }

    /// Revokes the token the request was made with (logout). Answers the token's record; an
    /// OAuth access token, which has none, is revoked all the same and answers `None`.
    pub async fn revoke_current(&self, actor: &Actor) -> ApiResult<Option<TokenRecord>> {
        match self.store.get_token(actor.token_id).await? {
            Some(record) => Ok(Some(self.revoke_record(actor, record).await?)),
            None => {
                self.revoke_verified(actor, actor).await?;
                Ok(None)
            }
        }
    }

    pub(crate) async fn revoke_record(
        &self,
        actor: &Actor,
        record: TokenRecord,
    ) -> ApiResult<TokenRecord> {
        if record.revoked_at.is_some() {
            return Ok(record);
        }
        let now = self.now();
        let revoked = self
            .store
            .revoke_token(record.id, Some(actor.principal.id), now)
            .await?;
        self.directory.revoke(Revocation {
            token_id: revoked.id,
            expires_at: revoked.expires_at,
        });
        // Tokens exchanged from this one go with it (today only service users' access tokens
        // are exchanged, and they have no record; kept so that the rule holds for every token).
        self.revoke_descendants(actor, revoked.id, revoked.tenant_id)
            .await?;
        self.audit
            .write(
                Event::new("token.revoke", now)
                    .actor(actor)
                    .tenant(revoked.tenant_id)
                    .target("token", revoked.id, &revoked.name)
                    .detail("owner", self.directory.username(revoked.user_id)),
            )
            .await;
        Ok(revoked)
    }

    /// Revokes every token of a user (the actor's own, or any user's for administrators).
    pub async fn revoke_all_tokens(&self, actor: &Actor, user: Option<&str>) -> ApiResult<u64> {
        let owner = self.target_user(actor, user).await?;
        let now = self.now();
        let revocations = self
            .store
            .revoke_user_tokens(owner.id, Some(actor.principal.id), now)
            .await?;
        for revocation in &revocations {
            self.directory.revoke(*revocation);
        }
        self.audit
            .write(
                Event::new("token.revoke_all", now)
                    .actor(actor)
                    .tenant(owner.tenant_id)
                    .target("user", owner.id, &owner.username)
                    .detail("revoked", revocations.len()),
            )
            .await;
        Ok(revocations.len() as u64)
    }

    /// Deletes a token record (administrators); the token stays refused until its expiry.
    pub async fn delete_token(&self, actor: &Actor, id: &str) -> ApiResult<TokenRecord> {
        let record = self.get_token(actor, id).await?;
        if actor.subject().administer(record.tenant_id) != Decision::Allow {
            return Err(ApiError::forbidden(
                "only administrators may delete token records; revoke the token instead",
            ));
        }
        let now = self.now();
        let deleted = self.store.delete_token(record.id, now).await?;
        self.directory.revoke(Revocation {
            token_id: deleted.id,
            expires_at: deleted.expires_at,
        });
        self.audit
            .write(
                Event::new("token.delete", now)
                    .actor(actor)
                    .tenant(deleted.tenant_id)
                    .target("token", deleted.id, &deleted.name)
                    .detail("owner", self.directory.username(deleted.user_id)),
            )
            .await;
        Ok(deleted)
    }

    /// The status of a token record now.
    pub fn token_status(&self, record: &TokenRecord) -> TokenStatus {
        TokenStatus::at(self.now(), record.expires_at, record.revoked_at)
    }
}

/// The lifetime of a token created by `actor`: a credential can only beget credentials that
/// expire no later than itself. An API or OAuth token, or a service user's key that expires, is
/// such a credential; a password login's session is not: it proved the password, and creating
/// a longer-lived API token from it is the product's core flow (within the token policies).
/// An explicit request for longer is refused with the limit in words; the default lifetime is
/// shortened to the credential's own expiry.
fn child_lifetime(
    actor: &Actor,
    now: i64,
    lifetime: Lifetime,
    explicit: bool,
) -> ApiResult<Lifetime> {
    let parent_expiry = match actor.kind {
        CredentialKind::Token(TokenKind::Session) => None,
        CredentialKind::Token(TokenKind::Api | TokenKind::Oauth) | CredentialKind::ApiKey => {
            actor.expires_at
        }
    };
    let Some(parent_expiry) = parent_expiry else {
        return Ok(lifetime);
    };
    if now.saturating_add(lifetime.as_secs_i64()) <= parent_expiry {
        return Ok(lifetime);
    }
    let left = u64::try_from(parent_expiry.saturating_sub(now)).unwrap_or(0);
    if explicit || left == 0 {
        return Err(ApiError::Unprocessable(format!(
            "a token can only create tokens that expire no later than itself: the credential in \
             use expires at {} ({} from now); ask for at most that",
            super::rfc3339(parent_expiry),
            Lifetime::from_secs(left)
        )));
    }
    Ok(Lifetime::from_secs(left))
}

fn parse_token_id(id: &str) -> ApiResult<TokenId> {
    id.trim()
        .parse::<TokenId>()
        .map_err(|_| ApiError::NotFound("token not found".to_string()))
}
