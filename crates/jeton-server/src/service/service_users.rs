//! Service users and their API keys: create, list, show, update, disable / enable, delete and
//! rotate. Tenant administrators and root only; another tenant's service user is reported exactly
//! like a missing one, and nobody gives a service user more than their own access level.

use jeton_core::apikey;
use jeton_core::names::validate_name;
use jeton_core::scope;
use jeton_core::{AccessLevel, ApiKeyId, Lifetime, Secret, ServiceUserId, TenantId};
use jeton_store::{ApiKeyRecord, ServiceUserPatch, ServiceUserRecord, StoreError};

use super::identity::{named_conflict, parse_level};
use super::{Service, clip, next_cursor, page_limit, require};
use crate::audit::Event;
use crate::error::{ApiError, ApiResult};
use crate::verify::Actor;

/// What `create_service_user` takes.
#[derive(Debug, Default, Clone)]
pub struct CreateServiceUserInput {
    /// Name, unique inside the tenant.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Access level as text (`TenantUser`, `tenant-admin`, ...); `tenant-user` when absent.
    pub access_level: Option<String>,
    /// Lifetime from now (`90d`); never expires when absent.
    pub expires_in: Option<String>,
    /// Expiry as RFC 3339 (instead of `expires_in`).
    pub expires_at: Option<String>,
    /// Scopes it may be given; not narrowed when empty.
    pub scopes: Vec<String>,
    /// Tenant id or name (root only).
    pub tenant: Option<String>,
}

/// What `update_service_user` takes; absent fields stay as they are.
#[derive(Debug, Default, Clone)]
pub struct UpdateServiceUserInput {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New access level as text.
    pub access_level: Option<String>,
    /// Enable or disable.
    pub active: Option<bool>,
    /// New lifetime from now, or `never`.
    pub expires_in: Option<String>,
    /// New scopes (empty: not narrowed).
    pub scopes: Option<Vec<String>>,
}

/// A service user with the API key just made for it. The key is shown once.
#[derive(Debug)]
pub struct ServiceUserWithKey {
    /// The service user as stored.
    pub service_user: ServiceUserRecord,
    /// Its keys as stored, newest (current) first.
    pub keys: Vec<ApiKeyRecord>,
    /// The new key.
    pub key: Secret,
}

/// Longest description accepted.
const MAX_DESCRIPTION: usize = 1024;

fn check_description(text: &str) -> ApiResult<()> {
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::Unprocessable(format!(
            "description is too long: at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(())
}

fn normalize_scopes(scopes: &[String]) -> ApiResult<Vec<String>> {
    scope::normalize(scopes).map_err(|e| ApiError::Unprocessable(e.to_string()))
}

impl Service {
    /// Makes a new API key for `owner`: the key (shown once) and its stored record.
    fn new_key(&self, owner: ServiceUserId, actor: &Actor, now: i64) -> (Secret, ApiKeyRecord) {
        let key = apikey::generate(&self.config.api_key_prefix, Self::random());
        let hint: String = key
            .expose()
            .chars()
            .take(self.config.api_key_prefix.chars().count() + 4)
            .collect();
        let record = ApiKeyRecord {
            id: self.new_id(ApiKeyId::new_v7),
            service_user_id: owner,
            key_hash: self.verifier.hash_key(key.expose()),
            hint,
            created_at: now,
            created_by: Some(actor.principal.id),
            superseded_at: None,
            grace_until: None,
            revoked_at: None,
        };
        (key, record)
    }

    /// Parses an expiry: a lifetime from now, an RFC 3339 time, or neither.
    fn service_user_expiry(
        &self,
        expires_in: Option<&str>,
        expires_at: Option<&str>,
        now: i64,
    ) -> ApiResult<Option<i64>> {
        let expiry = match (
            expires_in.filter(|s| !s.is_empty()),
            expires_at.filter(|s| !s.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "give either expires_in or expires_at, not both".to_string(),
                ));
            }
            (Some(text), None) if text.eq_ignore_ascii_case("never") => None,
            (Some(text), None) => {
                let lifetime = Lifetime::parse(text)
                    .map_err(|e| ApiError::BadRequest(format!("expires_in: {e}")))?;
                Some(now.saturating_add(lifetime.as_secs_i64()))
            }
            (None, Some(text)) => {
                let at = time::OffsetDateTime::parse(
                    text,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "expires_at '{}' is not an RFC 3339 time such as 2027-01-31T00:00:00Z",
                        clip(text)
                    ))
                })?
                .unix_timestamp();
                Some(at)
            }
            (None, None) => None,
        };
        if let Some(at) = expiry
            && at <= now
        {
            return Err(ApiError::Unprocessable(
                "the expiry must be in the future".to_string(),
            ));
        }
        Ok(expiry)
    }

    /// Finds a service user by id, or by name in `tenant` (the actor's own when `None`), as the
    /// actor may see it: administrators of its tenant only; anything else is "not found".
    pub async fn find_service_user(
        &self,
        actor: &Actor,
        reference: &str,
        tenant: Option<TenantId>,
    ) -> ApiResult<ServiceUserRecord> {
        let found = match reference.parse::<ServiceUserId>() {
            Ok(id) => self.store.get_service_user(id).await?,
            Err(_) => {
                let tenant = tenant.unwrap_or(actor.principal.tenant_id);
                self.store
                    .get_service_user_by_name(tenant, reference)
                    .await?
            }
        };
        let not_found =
            || ApiError::NotFound(format!("service user '{}' not found", clip(reference)));
        let user = found.ok_or_else(not_found)?;
        if !actor.subject().sees_tenant(user.tenant_id) {
            return Err(not_found());
        }
        require(
            actor.subject().administer(user.tenant_id),
            "service user",
            "administrator access required to manage service users",
        )?;
        Ok(user)
    }

    /// Like [`Service::find_service_user`], and the actor's level must be at least the service
    /// user's: a tenant admin cannot change, rotate or delete a root service user.
    async fn manageable_service_user(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> ApiResult<ServiceUserRecord> {
        let user = self.find_service_user(actor, reference, None).await?;
        if !actor.principal.access.at_least(user.access_level) {
            return Err(ApiError::forbidden(
                "the service user's access level is above your own",
            ));
        }
        Ok(user)
    }

    /// Creates a service user with its first API key (tenant administrators; never above the
    /// creator's own level).
    pub async fn create_service_user(
        &self,
        actor: &Actor,
        input: CreateServiceUserInput,
    ) -> ApiResult<ServiceUserWithKey> {
        let tenant = match input.tenant.as_deref() {
            None | Some("") => actor.principal.tenant_id,
            Some(reference) => self.find_tenant(actor, reference).await?.id,
        };
        require(
            actor.subject().administer(tenant),
            "tenant",
            "administrator access required to create service users",
        )?;
        let name = input.name.trim();
        validate_name("service user name", name)
            .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let level = match input.access_level.as_deref() {
            None | Some("") => AccessLevel::TenantUser,
            Some(text) => parse_level(text)?,
        };
        require(
            actor.subject().grant_level(tenant, level),
            "tenant",
            &format!("you cannot give access level {level}, which is above your own"),
        )?;
        let description = input.description.unwrap_or_default();
        check_description(&description)?;
        let scopes = normalize_scopes(&input.scopes)?;
        scope::check_covered(actor.scopes.as_deref(), &scopes)
            .map_err(|e| ApiError::Forbidden(e.to_string()))?;
        let now = self.now();
        let expires_at = self.service_user_expiry(
            input.expires_in.as_deref(),
            input.expires_at.as_deref(),
            now,
        )?;
        let id = self.new_id(ServiceUserId::new_v7);
        let user = ServiceUserRecord {
            id,
            tenant_id: tenant,
            name: name.to_string(),
            description,
            access_level: level,
            scopes,
            active: true,
            expires_at,
            created_at: now,
            created_by: Some(actor.principal.id),
            updated_at: now,
            last_used_at: None,
        };
        let (key, key_record) = self.new_key(id, actor, now);
        self.store
            .create_service_user(&user, &key_record)
            .await
            .map_err(|e| named_conflict(e, "service user", name))?;
        self.directory.put_service_user(&user);
        self.directory
            .put_keys(id, std::slice::from_ref(&key_record), now);
        self.audit
            .write(
                Event::new("service_user.create", now)
                    .actor(actor)
                    .tenant(tenant)
                    .target("service_user", id, &user.name)
                    .detail("access_level", level.as_str())
                    .detail("key_id", key_record.id.to_string()),
            )
            .await;
        Ok(ServiceUserWithKey {
            service_user: user,
            keys: vec![key_record],
            key,
        })
    }

    /// Service users the actor administers, by name: its tenant's, or for root every tenant's
    /// (or one named tenant's).
    pub async fn list_service_users(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> ApiResult<(Vec<ServiceUserRecord>, Option<String>)> {
        let tenant = match tenant.filter(|t| !t.is_empty()) {
            Some(reference) => Some(self.find_tenant(actor, reference).await?.id),
            None if actor.subject().is_root() => None,
            None => Some(actor.principal.tenant_id),
        };
        require(
            actor
                .subject()
                .administer(tenant.unwrap_or(actor.principal.tenant_id)),
            "tenant",
            "administrator access required to list service users",
        )?;
        let limit = page_limit(limit)?;
        let mut users = self
            .store
            .list_service_users(tenant, cursor.filter(|c| !c.is_empty()), limit + 1)
            .await?;
        let next = next_cursor(&mut users, limit, |u| u.name.clone());
        Ok((users, next))
    }

    /// One service user.
    pub async fn get_service_user(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> ApiResult<ServiceUserRecord> {
        self.find_service_user(actor, reference, None).await
    }

    /// The keys of a service user, newest (current) first.
    pub async fn service_user_keys(&self, user: ServiceUserId) -> ApiResult<Vec<ApiKeyRecord>> {
        Ok(self.store.api_keys_of(user).await?)
    }

    /// Changes a service user. Disabling, or an expiry in the past, stops its key and every
    /// token issued from it at once.
    pub async fn update_service_user(
        &self,
        actor: &Actor,
        reference: &str,
        input: UpdateServiceUserInput,
    ) -> ApiResult<ServiceUserRecord> {
        let user = self.manageable_service_user(actor, reference).await?;
        let now = self.now();
        // Only what the request changes is written: the record read above may be stale by the
        // time the write happens, and writing it back whole would undo a concurrent change (a
        // disable acknowledged meanwhile would be silently re-enabled).
        let mut patch = ServiceUserPatch::default();
        let mut changes = serde_json::Map::new();
        if let Some(name) = input.name.as_deref().map(str::trim)
            && name != user.name
        {
            validate_name("service user name", name)
                .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
            changes.insert("name".into(), name.into());
            patch.name = Some(name.to_string());
        }
        if let Some(description) = input.description {
            check_description(&description)?;
            changes.insert("description".into(), true.into());
            patch.description = Some(description);
        }
        if let Some(text) = input.access_level.as_deref() {
            let level = parse_level(text)?;
            require(
                actor.subject().grant_level(user.tenant_id, level),
                "service user",
                &format!("you cannot give access level {level}, which is above your own"),
            )?;
            changes.insert("access_level".into(), level.as_str().into());
            patch.access_level = Some(level);
        }
        if let Some(active) = input.active {
            changes.insert("active".into(), active.into());
            patch.active = Some(active);
        }
        if let Some(text) = input.expires_in.as_deref() {
            let expires_at = self.service_user_expiry(Some(text), None, now)?;
            changes.insert("expires_at".into(), expires_at.map(super::rfc3339).into());
            patch.expires_at = Some(expires_at);
        }
        if let Some(scopes) = input.scopes {
            let scopes = normalize_scopes(&scopes)?;
            scope::check_covered(actor.scopes.as_deref(), &scopes)
                .map_err(|e| ApiError::Forbidden(e.to_string()))?;
            changes.insert("scopes".into(), scopes.join(" ").into());
            patch.scopes = Some(scopes);
        }
        let user = {
            let _writing = self.principal_writes.lock().await;
            let stored = self
                .store
                .update_service_user(user.id, &patch, now)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => {
                        ApiError::NotFound(format!("service user '{}' no longer exists", user.name))
                    }
                    other => named_conflict(
                        other,
                        "service user",
                        patch.name.as_deref().unwrap_or(&user.name),
                    ),
                })?;
            // The record as stored, with every concurrent change in it, not a merged copy.
            self.directory.put_service_user(&stored);
            stored
        };
        let action = match input.active {
            Some(false) if changes.len() == 1 => "service_user.disable",
            Some(true) if changes.len() == 1 => "service_user.enable",
            _ => "service_user.update",
        };
        self.audit
            .write(
                Event::new(action, now)
                    .actor(actor)
                    .tenant(user.tenant_id)
                    .target("service_user", user.id, &user.name)
                    .detail("changes", serde_json::Value::Object(changes)),
            )
            .await;
        Ok(user)
    }

    /// Disables or enables a service user.
    pub async fn set_service_user_active(
        &self,
        actor: &Actor,
        reference: &str,
        active: bool,
    ) -> ApiResult<ServiceUserRecord> {
        self.update_service_user(
            actor,
            reference,
            UpdateServiceUserInput {
                active: Some(active),
                ..Default::default()
            },
        )
        .await
    }

    /// Deletes a service user with its keys: they and every token issued from them stop at once.
    pub async fn delete_service_user(&self, actor: &Actor, reference: &str) -> ApiResult<()> {
        let user = self.manageable_service_user(actor, reference).await?;
        {
            let _writing = self.principal_writes.lock().await;
            match self.store.delete_service_user(user.id).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(other) => return Err(other.into()),
            }
            self.directory.remove_service_user(user.id);
        }
        self.audit
            .write(
                Event::new("service_user.delete", self.now())
                    .actor(actor)
                    .tenant(user.tenant_id)
                    .target("service_user", user.id, &user.name),
            )
            .await;
        Ok(())
    }

    /// Replaces a service user's API key; the new key is shown once. Without `grace` the old key
    /// stops at once; with it, the old key keeps working until the grace period ends or the new
    /// key is first used, whichever comes first. Tokens issued from the old key stop with it.
    pub async fn rotate_service_user_key(
        &self,
        actor: &Actor,
        reference: &str,
        grace: Option<&str>,
    ) -> ApiResult<ServiceUserWithKey> {
        let user = self.manageable_service_user(actor, reference).await?;
        let grace = match grace.filter(|g| !g.is_empty()) {
            None => None,
            Some(text) => {
                let lifetime = Lifetime::parse(text)
                    .map_err(|e| ApiError::BadRequest(format!("grace: {e}")))?;
                if lifetime > Lifetime::days(30) {
                    return Err(ApiError::Unprocessable(format!(
                        "a grace period of {lifetime} is too long: at most 30d"
                    )));
                }
                Some(lifetime)
            }
        };
        let now = self.now();
        let grace_until = grace.map(|g| now.saturating_add(g.as_secs_i64()));
        let (key, record) = self.new_key(user.id, actor, now);
        let keys = match self.store.rotate_api_key(&record, grace_until, now).await {
            Ok(keys) => keys,
            Err(StoreError::NotFound) => {
                return Err(ApiError::NotFound(format!(
                    "service user '{}' not found",
                    clip(reference)
                )));
            }
            Err(other) => return Err(other.into()),
        };
        self.directory.put_keys(user.id, &keys, now);
        let mut event = Event::new("api_key.rotate", now)
            .actor(actor)
            .tenant(user.tenant_id)
            .target("service_user", user.id, &user.name)
            .detail("key_id", record.id.to_string());
        if let Some(until) = grace_until {
            event = event.detail("grace_until", super::rfc3339(until));
        }
        self.audit.write(event).await;
        let user = self.store.get_service_user(user.id).await?.unwrap_or(user);
        Ok(ServiceUserWithKey {
            service_user: user,
            keys,
            key,
        })
    }

    /// Writes the grace-period ends that first uses of new keys caused (see
    /// [`crate::verify::Verifier::take_grace_ends`]). Request paths call this before they answer,
    /// so an acknowledged first use cannot be undone by a crash; on failure the ends are kept for
    /// the next call and the request answers 503.
    pub async fn settle_grace_ends(&self) -> Result<(), ApiError> {
        let ends = self.verifier.take_grace_ends();
        for (index, &(owner, at)) in ends.iter().enumerate() {
            match self.store.end_api_key_grace(owner, at).await {
                Ok(0) => {}
                Ok(_) => {
                    let name = self.directory.username(owner.into());
                    let tenant = self.directory.user(owner.into()).map(|p| p.tenant_id);
                    let mut event = Event::new("api_key.grace_end", at)
                        .target("service_user", owner, &name)
                        .detail("reason", "new key used");
                    if let Some(tenant) = tenant {
                        event = event.tenant(tenant);
                    }
                    self.audit.write(event).await;
                }
                Err(err) => {
                    self.verifier.return_grace_ends(ends[index..].to_vec());
                    return Err(err.into());
                }
            }
        }
        Ok(())
    }
}
