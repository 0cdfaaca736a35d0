//! A store that can hold one read until the test lets it go: to put a request's
//! read-modify-write around another request deterministically (read, then the other request runs
//! to its answer, then the write), rather than hoping a race falls that way.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jeton_core::{RoleId, ServiceUserId, TenantId, TokenId, TokenKind, UserId};
use jeton_store::{
    ApiKeyRecord, AuditFilter, AuditRecord, ChangeRecord, ChangeWatch, PoolStatus, Revocation,
    RoleRecord, ServiceUserPatch, ServiceUserRecord, SigningKeyRecord, Store, StoreResult,
    TenantRecord, TokenFilter, TokenLink, TokenRecord, UserPatch, UserRecord,
};
use tokio::sync::oneshot;

/// One armed hold: the read it waits for, who to tell it happened, and when to go on.
struct Hold {
    key: String,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// Delegates everything to the store inside; `get_service_user` (by id) and `get_user_by_name`
/// can be held after they have read, once, when a test arms them with [`GatedStore::hold`].
pub struct GatedStore {
    inner: Arc<dyn Store>,
    hold: Mutex<Option<Hold>>,
}

/// The test's side of an armed hold.
pub struct Held {
    /// Resolves when the read has happened (its result is then fixed, and waiting).
    pub reached: oneshot::Receiver<()>,
    /// Send (or drop) to let the read return.
    pub release: oneshot::Sender<()>,
}

impl GatedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            hold: Mutex::new(None),
        }
    }

    /// Arms a hold on the next read of `key` (a service user's id, or a username): that read
    /// happens, then waits until released.
    pub fn hold(&self, key: &str) -> Held {
        let (reached_tx, reached) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        *self.hold.lock().unwrap() = Some(Hold {
            key: key.to_string(),
            reached: reached_tx,
            release: release_rx,
        });
        Held { reached, release }
    }

    async fn pause_after_reading(&self, key: &str) {
        let hold = {
            let mut armed = self.hold.lock().unwrap();
            match armed.as_ref() {
                Some(hold) if hold.key == key => armed.take(),
                _ => None,
            }
        };
        if let Some(hold) = hold {
            let _ = hold.reached.send(());
            let _ = hold.release.await;
        }
    }
}

#[async_trait]
impl Store for GatedStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.inner.get_setting(key).await
    }

    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String> {
        self.inner.init_setting(key, value).await
    }

    async fn reseal(
        &self,
        signing_keys: &[jeton_store::Resealed<Vec<u8>>],
        settings: &[jeton_store::Resealed<String>],
    ) -> StoreResult<bool> {
        self.inner.reseal(signing_keys, settings).await
    }

    async fn scrub(&self) -> StoreResult<()> {
        self.inner.scrub().await
    }

    async fn create_tenant(&self, tenant: &TenantRecord) -> StoreResult<()> {
        self.inner.create_tenant(tenant).await
    }

    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<TenantRecord>> {
        self.inner.get_tenant(id).await
    }

    async fn get_tenant_by_name(&self, name: &str) -> StoreResult<Option<TenantRecord>> {
        self.inner.get_tenant_by_name(name).await
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantRecord>> {
        self.inner.list_tenants().await
    }

    async fn delete_tenant(&self, id: TenantId) -> StoreResult<()> {
        self.inner.delete_tenant(id).await
    }

    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        self.inner.create_user(user).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.inner.get_user(id).await
    }

    async fn get_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let found = self.inner.get_user_by_name(username).await;
        self.pause_after_reading(username).await;
        found
    }

    async fn list_users(
        &self,
        tenant: Option<TenantId>,
        after_username: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<UserRecord>> {
        self.inner.list_users(tenant, after_username, limit).await
    }

    async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.inner.all_users().await
    }

    async fn update_user(&self, id: UserId, patch: &UserPatch, at: i64) -> StoreResult<UserRecord> {
        self.inner.update_user(id, patch, at).await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<()> {
        self.inner.delete_user(id).await
    }

    async fn create_role(&self, role: &RoleRecord) -> StoreResult<()> {
        self.inner.create_role(role).await
    }

    async fn get_role(&self, id: RoleId) -> StoreResult<Option<RoleRecord>> {
        self.inner.get_role(id).await
    }

    async fn get_role_by_name(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> StoreResult<Option<RoleRecord>> {
        self.inner.get_role_by_name(tenant, name).await
    }

    async fn list_roles(&self, tenant: Option<TenantId>) -> StoreResult<Vec<RoleRecord>> {
        self.inner.list_roles(tenant).await
    }

    async fn set_role_token_max(&self, id: RoleId, max_secs: Option<i64>) -> StoreResult<()> {
        self.inner.set_role_token_max(id, max_secs).await
    }

    async fn delete_role(&self, id: RoleId) -> StoreResult<()> {
        self.inner.delete_role(id).await
    }

    async fn add_role_member(&self, role: RoleId, user: UserId) -> StoreResult<()> {
        self.inner.add_role_member(role, user).await
    }

    async fn remove_role_member(&self, role: RoleId, user: UserId) -> StoreResult<()> {
        self.inner.remove_role_member(role, user).await
    }

    async fn roles_of_user(&self, user: UserId) -> StoreResult<Vec<RoleRecord>> {
        self.inner.roles_of_user(user).await
    }

    async fn members_of_role(&self, role: RoleId) -> StoreResult<Vec<UserRecord>> {
        self.inner.members_of_role(role).await
    }

    async fn insert_token(&self, token: &TokenRecord, now: i64) -> StoreResult<()> {
        self.inner.insert_token(token, now).await
    }

    async fn get_token(&self, id: TokenId) -> StoreResult<Option<TokenRecord>> {
        self.inner.get_token(id).await
    }

    async fn find_active_token(
        &self,
        user: UserId,
        name: &str,
        now: i64,
    ) -> StoreResult<Option<TokenRecord>> {
        self.inner.find_active_token(user, name, now).await
    }

    async fn list_tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<TokenRecord>> {
        self.inner.list_tokens(filter).await
    }

    async fn set_token_comment(&self, id: TokenId, comment: &str) -> StoreResult<()> {
        self.inner.set_token_comment(id, comment).await
    }

    async fn revoke_token(
        &self,
        id: TokenId,
        by: Option<UserId>,
        at: i64,
    ) -> StoreResult<TokenRecord> {
        self.inner.revoke_token(id, by, at).await
    }

    async fn revoke_user_tokens(
        &self,
        user: UserId,
        by: Option<UserId>,
        at: i64,
    ) -> StoreResult<Vec<Revocation>> {
        self.inner.revoke_user_tokens(user, by, at).await
    }

    async fn delete_token(&self, id: TokenId, at: i64) -> StoreResult<TokenRecord> {
        self.inner.delete_token(id, at).await
    }

    async fn record_revocations(&self, revocations: &[Revocation], at: i64) -> StoreResult<()> {
        self.inner.record_revocations(revocations, at).await
    }

    async fn touch_tokens(&self, uses: &[(TokenId, i64)]) -> StoreResult<()> {
        self.inner.touch_tokens(uses).await
    }

    async fn list_revocations(&self, now: i64) -> StoreResult<Vec<Revocation>> {
        self.inner.list_revocations(now).await
    }

    async fn purge_revocations(&self, now: i64) -> StoreResult<u64> {
        self.inner.purge_revocations(now).await
    }

    async fn revoke_user_tokens_of_kind(
        &self,
        user: UserId,
        kind: TokenKind,
        by: Option<UserId>,
        at: i64,
    ) -> StoreResult<Vec<Revocation>> {
        self.inner
            .revoke_user_tokens_of_kind(user, kind, by, at)
            .await
    }

    async fn insert_token_link(&self, link: &TokenLink) -> StoreResult<()> {
        self.inner.insert_token_link(link).await
    }

    async fn token_children(&self, parents: &[TokenId]) -> StoreResult<Vec<TokenLink>> {
        self.inner.token_children(parents).await
    }

    async fn purge_token_links(&self, now: i64) -> StoreResult<u64> {
        self.inner.purge_token_links(now).await
    }

    async fn create_service_user(
        &self,
        user: &ServiceUserRecord,
        key: &ApiKeyRecord,
    ) -> StoreResult<()> {
        self.inner.create_service_user(user, key).await
    }

    async fn get_service_user(&self, id: ServiceUserId) -> StoreResult<Option<ServiceUserRecord>> {
        let found = self.inner.get_service_user(id).await;
        self.pause_after_reading(&id.to_string()).await;
        found
    }

    async fn get_service_user_by_name(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> StoreResult<Option<ServiceUserRecord>> {
        self.inner.get_service_user_by_name(tenant, name).await
    }

    async fn list_service_users(
        &self,
        tenant: Option<TenantId>,
        after_name: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ServiceUserRecord>> {
        self.inner
            .list_service_users(tenant, after_name, limit)
            .await
    }

    async fn all_service_users(&self) -> StoreResult<Vec<ServiceUserRecord>> {
        self.inner.all_service_users().await
    }

    async fn update_service_user(
        &self,
        id: ServiceUserId,
        patch: &ServiceUserPatch,
        at: i64,
    ) -> StoreResult<ServiceUserRecord> {
        self.inner.update_service_user(id, patch, at).await
    }

    async fn delete_service_user(&self, id: ServiceUserId) -> StoreResult<()> {
        self.inner.delete_service_user(id).await
    }

    async fn all_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        self.inner.all_api_keys().await
    }

    async fn api_keys_of(&self, id: ServiceUserId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.inner.api_keys_of(id).await
    }

    async fn rotate_api_key(
        &self,
        key: &ApiKeyRecord,
        grace_until: Option<i64>,
        at: i64,
    ) -> StoreResult<Vec<ApiKeyRecord>> {
        self.inner.rotate_api_key(key, grace_until, at).await
    }

    async fn end_api_key_grace(&self, id: ServiceUserId, at: i64) -> StoreResult<u64> {
        self.inner.end_api_key_grace(id, at).await
    }

    async fn touch_service_users(&self, uses: &[(ServiceUserId, i64)]) -> StoreResult<()> {
        self.inner.touch_service_users(uses).await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        self.inner.insert_signing_key(key).await
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.inner.list_signing_keys().await
    }

    async fn retire_signing_key(&self, kid: &str, at: i64) -> StoreResult<()> {
        self.inner.retire_signing_key(kid, at).await
    }

    async fn rotate_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        self.inner.rotate_signing_key(key).await
    }

    async fn revoke_signing_key(&self, kid: &str, at: i64) -> StoreResult<SigningKeyRecord> {
        self.inner.revoke_signing_key(kid, at).await
    }

    async fn expire_signing_key(&self, kid: &str, at: i64) -> StoreResult<()> {
        self.inner.expire_signing_key(kid, at).await
    }

    async fn latest_change(&self) -> StoreResult<i64> {
        self.inner.latest_change().await
    }

    async fn oldest_change(&self) -> StoreResult<Option<i64>> {
        self.inner.oldest_change().await
    }

    async fn changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>> {
        self.inner.changes_after(after, limit).await
    }

    async fn prune_changes(&self, before_ms: i64) -> StoreResult<u64> {
        self.inner.prune_changes(before_ms).await
    }

    async fn get_revocation(&self, token: TokenId) -> StoreResult<Option<Revocation>> {
        self.inner.get_revocation(token).await
    }

    async fn watch_changes(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> StoreResult<Option<ChangeWatch>> {
        self.inner.watch_changes(wake).await
    }

    fn pool_status(&self) -> PoolStatus {
        self.inner.pool_status()
    }

    async fn append_audit(&self, events: &[AuditRecord]) -> StoreResult<()> {
        self.inner.append_audit(events).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        self.inner.list_audit(filter).await
    }

    async fn prune_audit(&self, before: i64, limit: u32) -> StoreResult<u64> {
        self.inner.prune_audit(before, limit).await
    }
}
