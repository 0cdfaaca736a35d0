//! Identity operations: tenants, users, roles, role membership, token policies, audit queries.

use jeton_core::access::Decision;
use jeton_core::names::validate_name;
use jeton_core::policy::EffectiveLimit;
use jeton_core::{AccessLevel, Lifetime, RoleId, Secret, TenantId, UserId};
use jeton_store::{AuditFilter, AuditRecord, RoleRecord, TenantRecord, UserPatch, UserRecord};

use super::{Service, clip, next_cursor, page_limit, parse_time, require};
use crate::audit::Event;
use crate::error::{ApiError, ApiResult};
use crate::passwords;
use crate::verify::Actor;

/// What `create_user` takes.
#[derive(Debug, Default, Clone)]
pub struct CreateUserInput {
    /// Username.
    pub username: String,
    /// Password, if the user logs in with one.
    pub password: Option<Secret>,
    /// Access level as text; `tenant-user` when absent.
    pub access_level: Option<String>,
    /// Tenant id or name (root only).
    pub tenant: Option<String>,
    /// Roles to grant.
    pub roles: Vec<String>,
}

/// What `update_user` takes.
#[derive(Debug, Default, Clone)]
pub struct UpdateUserInput {
    /// New password.
    pub password: Option<Secret>,
    /// New active flag.
    pub active: Option<bool>,
    /// New access level as text.
    pub access_level: Option<String>,
    /// The actor's current password: required when it changes its own password.
    pub current_password: Option<Secret>,
    /// With a new password: also revoke the user's API tokens (its sessions are always
    /// revoked).
    pub revoke_tokens: bool,
}

/// A name already taken, said in words; other store errors as usual.
pub(super) fn named_conflict(err: jeton_store::StoreError, what: &str, name: &str) -> ApiError {
    match err {
        jeton_store::StoreError::Conflict(_) => {
            ApiError::Conflict(format!("a {what} named '{name}' already exists"))
        }
        other => other.into(),
    }
}

pub(super) fn parse_level(text: &str) -> ApiResult<AccessLevel> {
    text.parse::<AccessLevel>()
        .map_err(|e| ApiError::Unprocessable(e.to_string()))
}

fn parse_policy(text: &str, system_max: Lifetime) -> ApiResult<Lifetime> {
    let lifetime = Lifetime::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if lifetime > system_max {
        return Err(ApiError::Unprocessable(format!(
            "max duration {lifetime} exceeds the system maximum of {system_max}"
        )));
    }
    Ok(lifetime)
}

impl Service {
    /// Writes a change to `user` (as read before) and puts the record as stored afterwards into
    /// the directory, under the lock that orders principal writes: when two changes of one user
    /// race, the directory ends as the database does.
    async fn write_user(
        &self,
        user: &UserRecord,
        patch: &UserPatch,
        at: i64,
    ) -> ApiResult<UserRecord> {
        let _writing = self.principal_writes.lock().await;
        let stored = self
            .store
            .update_user(user.id, patch, at)
            .await
            .map_err(|e| match e {
                jeton_store::StoreError::NotFound => {
                    ApiError::NotFound(format!("user '{}' no longer exists", user.username))
                }
                other => other.into(),
            })?;
        self.directory.put_user(&stored);
        Ok(stored)
    }

    fn admin_of(&self, actor: &Actor, tenant: TenantId, what: &str) -> ApiResult<()> {
        require(
            actor.subject().administer(tenant),
            what,
            "administrator access required",
        )
    }

    // ---------------------------------------------------------------- tenants

    /// Root users (with the `admin` scope) only; `what` completes "only root users may ...".
    pub(super) fn require_root(actor: &Actor, what: &str) -> ApiResult<()> {
        if actor.subject().is_root() {
            Ok(())
        } else {
            Err(ApiError::forbidden(&format!("only root users may {what}")))
        }
    }

    /// Finds a tenant by id or name, as `actor` may see it.
    pub(crate) async fn find_tenant(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> ApiResult<TenantRecord> {
        let found = match reference.parse::<TenantId>() {
            Ok(id) => self.store.get_tenant(id).await?,
            Err(_) => self.store.get_tenant_by_name(reference).await?,
        };
        match found {
            Some(t) if actor.subject().sees_tenant(t.id) => Ok(t),
            _ => Err(ApiError::NotFound(format!(
                "tenant '{}' not found",
                clip(reference)
            ))),
        }
    }

    /// All tenants (root).
    pub async fn list_tenants(&self, actor: &Actor) -> ApiResult<Vec<TenantRecord>> {
        Self::require_root(actor, "manage tenants")?;
        Ok(self.store.list_tenants().await?)
    }

    /// Creates a tenant (root).
    pub async fn create_tenant(&self, actor: &Actor, name: &str) -> ApiResult<TenantRecord> {
        Self::require_root(actor, "manage tenants")?;
        validate_name("tenant name", name).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let tenant = TenantRecord {
            id: self.new_id(TenantId::new_v7),
            name: name.to_string(),
            created_at: self.now(),
        };
        self.store
            .create_tenant(&tenant)
            .await
            .map_err(|e| named_conflict(e, "tenant", name))?;
        self.directory.put_tenant(&tenant);
        self.audit
            .write(
                Event::new("tenant.create", self.now())
                    .actor(actor)
                    .tenant(tenant.id)
                    .target("tenant", tenant.id, &tenant.name),
            )
            .await;
        Ok(tenant)
    }

    /// Deletes a tenant with everything in it (root; never the root user's own tenant).
    pub async fn delete_tenant(&self, actor: &Actor, reference: &str) -> ApiResult<()> {
        Self::require_root(actor, "manage tenants")?;
        let tenant = self.find_tenant(actor, reference).await?;
        if tenant.id == actor.principal.tenant_id {
            return Err(ApiError::Unprocessable(
                "you cannot delete your own tenant".to_string(),
            ));
        }
        {
            let _writing = self.principal_writes.lock().await;
            self.store.delete_tenant(tenant.id).await?;
            self.directory.remove_tenant(tenant.id);
        }
        self.audit
            .write(
                Event::new("tenant.delete", self.now())
                    .actor(actor)
                    .tenant(tenant.id)
                    .target("tenant", tenant.id, &tenant.name),
            )
            .await;
        Ok(())
    }

    // ---------------------------------------------------------------- users

    /// Users the actor administers, by username, paged by username.
    pub async fn list_users(
        &self,
        actor: &Actor,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> ApiResult<(Vec<UserRecord>, Option<String>)> {
        self.admin_of(actor, actor.principal.tenant_id, "user")?;
        let limit = page_limit(limit)?;
        let tenant = if actor.subject().is_root() {
            None
        } else {
            Some(actor.principal.tenant_id)
        };
        let mut users = self
            .store
            .list_users(tenant, cursor.filter(|c| !c.is_empty()), limit + 1)
            .await?;
        let next = next_cursor(&mut users, limit, |u| u.username.clone());
        Ok((users, next))
    }

    /// A user: the actor itself, or any in its tenant for administrators.
    pub async fn get_user(&self, actor: &Actor, reference: &str) -> ApiResult<UserRecord> {
        let user = self.find_user(actor, reference).await?;
        require(
            actor.subject().act_on_owned(user.id, user.tenant_id),
            "user",
            "see this user",
        )?;
        Ok(user)
    }

    /// The role names of a user.
    pub async fn role_names(&self, user: UserId) -> ApiResult<Vec<String>> {
        Ok(self
            .store
            .roles_of_user(user)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect())
    }

    /// Creates a user (administrators; never above the creator's own level).
    pub async fn create_user(
        &self,
        actor: &Actor,
        input: CreateUserInput,
    ) -> ApiResult<UserRecord> {
        let tenant = match input.tenant.as_deref() {
            None | Some("") => actor.principal.tenant_id,
            Some(reference) => self.find_tenant(actor, reference).await?.id,
        };
        self.admin_of(actor, tenant, "tenant")?;
        let username = input.username.trim();
        validate_name("username", username).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let level = match input.access_level.as_deref() {
            None | Some("") => AccessLevel::TenantUser,
            Some(text) => parse_level(text)?,
        };
        require(
            actor.subject().grant_level(tenant, level),
            "tenant",
            &format!("you cannot give access level {level}, which is above your own"),
        )?;
        let password_hash = match input.password {
            Some(password) => {
                passwords::check_policy(&password)?;
                Some(passwords::hash(password).await?)
            }
            None => None,
        };
        let mut roles = Vec::new();
        for name in &input.roles {
            roles.push(
                self.store
                    .get_role_by_name(tenant, name)
                    .await?
                    .ok_or_else(|| {
                        ApiError::NotFound(format!("role '{}' not found", clip(name)))
                    })?,
            );
        }
        let now = self.now();
        let user = UserRecord {
            id: self.new_id(UserId::new_v7),
            tenant_id: tenant,
            username: username.to_string(),
            password_hash,
            access_level: level,
            active: true,
            token_max_secs: None,
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_user(&user)
            .await
            .map_err(|e| named_conflict(e, "user", username))?;
        for role in &roles {
            self.store.add_role_member(role.id, user.id).await?;
        }
        self.directory.put_user(&user);
        self.audit
            .write(
                Event::new("user.create", now)
                    .actor(actor)
                    .tenant(tenant)
                    .target("user", user.id, &user.username)
                    .detail("access_level", level.as_str()),
            )
            .await;
        Ok(user)
    }

    /// Changes a user's password, active flag or access level. Users may change their own
    /// password, given their current one; an administrator resets the password only of users
    /// strictly below its own level (root: anyone); everything else needs an administrator at
    /// least as powerful as the target. A new password revokes the user's sessions, and with
    /// `revoke_tokens` its API tokens too.
    pub async fn update_user(
        &self,
        actor: &Actor,
        reference: &str,
        input: UpdateUserInput,
    ) -> ApiResult<UserRecord> {
        let user = self.find_user(actor, reference).await?;
        let is_self = user.id == actor.principal.id;
        let only_password = input.active.is_none() && input.access_level.is_none();
        if !(is_self && only_password) {
            require(
                actor.subject().act_on_owned(user.id, user.tenant_id),
                "user",
                "manage this user",
            )?;
            self.admin_of(actor, user.tenant_id, "user")?;
            if !actor.principal.access.at_least(user.access_level) {
                return Err(ApiError::forbidden(
                    "the user's access level is above your own",
                ));
            }
        }
        // Only what the request changes is written: the record read above may be stale by the
        // time the write happens, and writing it back whole would undo a concurrent change.
        let mut patch = UserPatch::default();
        let mut changes = Vec::new();
        if let Some(text) = input.access_level.as_deref() {
            let level = parse_level(text)?;
            if is_self && level != user.access_level {
                return Err(ApiError::Unprocessable(
                    "you cannot change your own access level".to_string(),
                ));
            }
            require(
                actor.subject().grant_level(user.tenant_id, level),
                "user",
                &format!("you cannot give access level {level}, which is above your own"),
            )?;
            patch.access_level = Some(level);
            changes.push("access_level");
        }
        if let Some(active) = input.active {
            if is_self && !active {
                return Err(ApiError::Unprocessable(
                    "you cannot deactivate yourself".to_string(),
                ));
            }
            patch.active = Some(active);
            changes.push(if active { "activated" } else { "deactivated" });
        }
        let new_password = input.password.is_some();
        if !new_password && input.revoke_tokens {
            return Err(ApiError::Unprocessable(
                "revoke_tokens goes with a new password; to revoke a user's tokens alone, revoke all of them".to_string(),
            ));
        }
        if let Some(password) = input.password {
            if is_self {
                self.check_current_password(actor, &user, input.current_password)
                    .await?;
            } else {
                require(
                    actor
                        .subject()
                        .act_for_user(user.tenant_id, user.access_level),
                    "user",
                    "only root may reset the password of a user at your own access level",
                )?;
            }
            passwords::check_policy(&password)?;
            patch.password_hash = Some(passwords::hash(password).await?);
            changes.push("password");
        }
        let now = self.now();
        let user = self.write_user(&user, &patch, now).await?;
        let mut event = Event::new("user.update", now)
            .actor(actor)
            .tenant(user.tenant_id)
            .target("user", user.id, &user.username)
            .detail("changes", changes.join(","));
        if new_password {
            // Whoever held a session from the old password loses it.
            let mut revoked = self
                .store
                .revoke_user_tokens_of_kind(
                    user.id,
                    jeton_core::TokenKind::Session,
                    Some(actor.principal.id),
                    now,
                )
                .await?;
            let sessions = revoked.len();
            if input.revoke_tokens {
                revoked.extend(
                    self.store
                        .revoke_user_tokens(user.id, Some(actor.principal.id), now)
                        .await?,
                );
            }
            for revocation in &revoked {
                self.directory.revoke(*revocation);
            }
            event = event
                .detail("sessions_revoked", sessions)
                .detail("tokens_revoked", revoked.len() - sessions);
        }
        self.audit.write(event).await;
        Ok(user)
    }

    /// A user changing its own password proves it knows the current one. Throttled like a
    /// login (the same per-name and per-address counters), so that a stolen session cannot
    /// be used to guess the password; a failure is audited and answered 403.
    async fn check_current_password(
        &self,
        actor: &Actor,
        user: &UserRecord,
        current: Option<Secret>,
    ) -> ApiResult<()> {
        let Some(current) = current.filter(|p| !p.expose().is_empty()) else {
            return Err(ApiError::Unprocessable(
                "changing your own password needs your current password: send current_password \
                 (jeton user set-password prompts for it)"
                    .to_string(),
            ));
        };
        let now = self.now();
        let addr = actor.client_addr.as_deref();
        let attempt = crate::throttle::Attempt::new("user", &user.username.to_lowercase(), addr);
        if let Err(retry_after) = self.throttle.begin(&attempt, now) {
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "too many wrong current passwords; try again in {retry_after} seconds"
                ),
                retry_after,
            });
        }
        if passwords::verify(current, user.password_hash.clone()).await {
            self.throttle.succeeded(&attempt, now);
            return Ok(());
        }
        self.audit.queue(
            Event::new("user.password_check", now)
                .actor(actor)
                .tenant(user.tenant_id)
                .target("user", user.id, &user.username)
                .outcome("failure")
                .detail("reason", "bad_password"),
        );
        Err(ApiError::forbidden("the current password is wrong"))
    }

    /// Deletes a user with its tokens (administrators; never oneself).
    pub async fn delete_user(&self, actor: &Actor, reference: &str) -> ApiResult<()> {
        let user = self.find_user(actor, reference).await?;
        require(
            actor.subject().act_on_owned(user.id, user.tenant_id),
            "user",
            "manage this user",
        )?;
        self.admin_of(actor, user.tenant_id, "user")?;
        if user.id == actor.principal.id {
            return Err(ApiError::Unprocessable(
                "you cannot delete yourself".to_string(),
            ));
        }
        if !actor.principal.access.at_least(user.access_level) {
            return Err(ApiError::forbidden(
                "the user's access level is above your own",
            ));
        }
        {
            let _writing = self.principal_writes.lock().await;
            self.store.delete_user(user.id).await?;
            self.directory.remove_user(user.id);
        }
        self.audit
            .write(
                Event::new("user.delete", self.now())
                    .actor(actor)
                    .tenant(user.tenant_id)
                    .target("user", user.id, &user.username),
            )
            .await;
        Ok(())
    }

    // ---------------------------------------------------------------- roles

    /// Finds a role by id, or by name in the actor's tenant.
    pub(crate) async fn find_role(
        &self,
        actor: &Actor,
        tenant: TenantId,
        reference: &str,
    ) -> ApiResult<RoleRecord> {
        let found = match reference.parse::<RoleId>() {
            Ok(id) => self.store.get_role(id).await?,
            Err(_) => self.store.get_role_by_name(tenant, reference).await?,
        };
        match found {
            Some(role) if actor.subject().sees_tenant(role.tenant_id) => Ok(role),
            _ => Err(ApiError::NotFound(format!(
                "role '{}' not found",
                clip(reference)
            ))),
        }
    }

    /// Roles of the actor's tenant (all tenants for root).
    pub async fn list_roles(&self, actor: &Actor) -> ApiResult<Vec<RoleRecord>> {
        self.admin_of(actor, actor.principal.tenant_id, "role")?;
        let tenant = if actor.subject().is_root() {
            None
        } else {
            Some(actor.principal.tenant_id)
        };
        Ok(self.store.list_roles(tenant).await?)
    }

    /// A role (administrators of its tenant).
    pub async fn get_role(&self, actor: &Actor, reference: &str) -> ApiResult<RoleRecord> {
        let role = self
            .find_role(actor, actor.principal.tenant_id, reference)
            .await?;
        self.admin_of(actor, role.tenant_id, "role")?;
        Ok(role)
    }

    /// Usernames holding a role.
    pub async fn role_members(&self, role: RoleId) -> ApiResult<Vec<String>> {
        Ok(self
            .store
            .members_of_role(role)
            .await?
            .into_iter()
            .map(|u| u.username)
            .collect())
    }

    /// Creates a role.
    pub async fn create_role(
        &self,
        actor: &Actor,
        name: &str,
        tenant: Option<&str>,
    ) -> ApiResult<RoleRecord> {
        let tenant = match tenant {
            None | Some("") => actor.principal.tenant_id,
            Some(reference) => self.find_tenant(actor, reference).await?.id,
        };
        self.admin_of(actor, tenant, "tenant")?;
        let name = name.trim();
        validate_name("role name", name).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let role = RoleRecord {
            id: self.new_id(RoleId::new_v7),
            tenant_id: tenant,
            name: name.to_string(),
            token_max_secs: None,
            created_at: self.now(),
        };
        self.store
            .create_role(&role)
            .await
            .map_err(|e| named_conflict(e, "role", name))?;
        self.audit
            .write(
                Event::new("role.create", self.now())
                    .actor(actor)
                    .tenant(tenant)
                    .target("role", role.id, &role.name),
            )
            .await;
        Ok(role)
    }

    /// Deletes a role.
    pub async fn delete_role(&self, actor: &Actor, reference: &str) -> ApiResult<()> {
        let role = self.get_role(actor, reference).await?;
        self.store.delete_role(role.id).await?;
        self.audit
            .write(
                Event::new("role.delete", self.now())
                    .actor(actor)
                    .tenant(role.tenant_id)
                    .target("role", role.id, &role.name),
            )
            .await;
        Ok(())
    }

    /// Grants a role to a user, or takes it away.
    pub async fn set_role_membership(
        &self,
        actor: &Actor,
        user: &str,
        role: &str,
        member: bool,
    ) -> ApiResult<UserRecord> {
        let user = self.find_user(actor, user).await?;
        require(
            actor.subject().act_on_owned(user.id, user.tenant_id),
            "user",
            "manage this user",
        )?;
        self.admin_of(actor, user.tenant_id, "user")?;
        if !actor.principal.access.at_least(user.access_level) {
            return Err(ApiError::forbidden(
                "the user's access level is above your own",
            ));
        }
        let role = self.find_role(actor, user.tenant_id, role).await?;
        if role.tenant_id != user.tenant_id {
            return Err(ApiError::NotFound(format!(
                "role '{}' not found",
                clip(&role.name)
            )));
        }
        if member {
            self.store.add_role_member(role.id, user.id).await?;
        } else {
            self.store
                .remove_role_member(role.id, user.id)
                .await
                .map_err(|e| match e {
                    jeton_store::StoreError::NotFound => ApiError::NotFound(format!(
                        "user {} does not hold role {}",
                        user.username, role.name
                    )),
                    other => other.into(),
                })?;
        }
        self.audit
            .write(
                Event::new(
                    if member { "role.grant" } else { "role.revoke" },
                    self.now(),
                )
                .actor(actor)
                .tenant(user.tenant_id)
                .target("user", user.id, &user.username)
                .detail("role", role.name.clone()),
            )
            .await;
        Ok(user)
    }

    // ---------------------------------------------------------------- policies

    /// The API-token policy that applies to a user (the user itself, or administrators).
    pub async fn effective_policy(
        &self,
        actor: &Actor,
        reference: Option<&str>,
    ) -> ApiResult<(
        UserRecord,
        Option<Lifetime>,
        Vec<(String, Lifetime)>,
        EffectiveLimit,
    )> {
        let user = self.target_user(actor, reference).await?;
        let (user_limit, role_limits) = self.limits_of(&user).await?;
        let limit = self.config.policy.effective_limit(
            &user.username,
            user_limit,
            role_limits.iter().map(|(n, l)| (n.as_str(), *l)),
        );
        Ok((user, user_limit, role_limits, limit))
    }

    /// Sets (`Some`) or clears (`None`) a user's API-token max duration.
    pub async fn set_user_policy(
        &self,
        actor: &Actor,
        reference: &str,
        max_duration: Option<&str>,
    ) -> ApiResult<UserRecord> {
        let user = self.find_user(actor, reference).await?;
        require(
            actor.subject().act_on_owned(user.id, user.tenant_id),
            "user",
            "manage this user",
        )?;
        self.admin_of(actor, user.tenant_id, "user")?;
        if !actor.principal.access.at_least(user.access_level) {
            return Err(ApiError::forbidden(
                "the user's access level is above your own",
            ));
        }
        let limit = max_duration
            .map(|text| parse_policy(text, self.config.policy.max_lifetime))
            .transpose()?;
        // The policy column only: a deactivation that lands meanwhile stays.
        let patch = UserPatch {
            token_max_secs: Some(limit.map(Lifetime::as_secs_i64)),
            ..UserPatch::default()
        };
        let user = self.write_user(&user, &patch, self.now()).await?;
        self.audit
            .write(
                Event::new(
                    if limit.is_some() {
                        "policy.set"
                    } else {
                        "policy.unset"
                    },
                    self.now(),
                )
                .actor(actor)
                .tenant(user.tenant_id)
                .target("user", user.id, &user.username)
                .detail("max_duration", limit.map(|l| l.to_string())),
            )
            .await;
        Ok(user)
    }

    /// Sets (`Some`) or clears (`None`) a role's API-token max duration.
    pub async fn set_role_policy(
        &self,
        actor: &Actor,
        reference: &str,
        max_duration: Option<&str>,
    ) -> ApiResult<RoleRecord> {
        let mut role = self.get_role(actor, reference).await?;
        let limit = max_duration
            .map(|text| parse_policy(text, self.config.policy.max_lifetime))
            .transpose()?;
        role.token_max_secs = limit.map(Lifetime::as_secs_i64);
        self.store
            .set_role_token_max(role.id, role.token_max_secs)
            .await?;
        self.audit
            .write(
                Event::new(
                    if limit.is_some() {
                        "policy.set"
                    } else {
                        "policy.unset"
                    },
                    self.now(),
                )
                .actor(actor)
                .tenant(role.tenant_id)
                .target("role", role.id, &role.name)
                .detail("max_duration", limit.map(|l| l.to_string())),
            )
            .await;
        Ok(role)
    }

    // ---------------------------------------------------------------- audit

    /// Audit events the actor administers, newest first.
    #[allow(clippy::too_many_arguments)] // Mirrors the query's filters one to one.
    pub async fn list_audit(
        &self,
        actor: &Actor,
        user: Option<&str>,
        action: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> ApiResult<(Vec<AuditRecord>, Option<String>)> {
        self.admin_of(actor, actor.principal.tenant_id, "audit")?;
        let now = self.now();
        let user_id = match user.filter(|u| !u.is_empty()) {
            Some(reference) => Some(self.find_user(actor, reference).await?.id),
            None => None,
        };
        let limit = page_limit(limit)?;
        let before = match cursor.filter(|c| !c.is_empty()) {
            Some(c) => Some(
                c.parse::<i64>()
                    .map_err(|_| ApiError::BadRequest("invalid cursor".to_string()))?,
            ),
            None => None,
        };
        let filter = AuditFilter {
            tenant_id: if actor.subject().is_root() {
                None
            } else {
                Some(actor.principal.tenant_id)
            },
            user_id,
            action: action.filter(|a| !a.is_empty()).map(str::to_string),
            since: since
                .filter(|s| !s.is_empty())
                .map(|s| parse_time(s, now))
                .transpose()?,
            until: until
                .filter(|s| !s.is_empty())
                .map(|s| parse_time(s, now))
                .transpose()?,
            before,
            limit: limit + 1,
        };
        let mut events = self.store.list_audit(&filter).await?;
        let next = next_cursor(&mut events, limit, |e| e.id.to_string());
        Ok((events, next))
    }

    /// True when the actor administers its tenant (for UI and SQL decisions).
    pub fn is_admin(actor: &Actor) -> bool {
        actor.subject().administer(actor.principal.tenant_id) == Decision::Allow
    }
}
