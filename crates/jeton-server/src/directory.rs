//! What verification needs, held in memory: who exists and is active, which tenants exist, which
//! tokens are revoked. Loaded at start and kept current on every change, so that verifying a
//! credential never waits for the database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jeton_core::{AccessLevel, TenantId, TokenId, UserId};
use jeton_store::{Revocation, Store, StoreResult, TenantRecord, UserRecord};

/// A user as verification sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Id.
    pub id: UserId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Username.
    pub username: String,
    /// Access level.
    pub access: AccessLevel,
    /// False when deactivated.
    pub active: bool,
}

impl From<&UserRecord> for Principal {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id,
            tenant_id: user.tenant_id,
            username: user.username.clone(),
            access: user.access_level,
            active: user.active,
        }
    }
}

/// The in-memory directory.
#[derive(Default)]
pub struct Directory {
    users: RwLock<HashMap<UserId, Arc<Principal>>>,
    tenants: RwLock<HashMap<TenantId, Arc<str>>>,
    revoked: RwLock<HashMap<TokenId, i64>>,
}

impl Directory {
    /// Loads everything from the store.
    pub async fn load(store: &dyn Store, now: i64) -> StoreResult<Self> {
        let directory = Self::default();
        directory.reload(store, now).await?;
        Ok(directory)
    }

    /// Replaces the contents with the store's current state.
    pub async fn reload(&self, store: &dyn Store, now: i64) -> StoreResult<()> {
        let tenants = store.list_tenants().await?;
        let users = store.all_users().await?;
        let revocations = store.list_revocations(now).await?;
        *self.tenants.write().expect("lock") = tenants
            .iter()
            .map(|t| (t.id, Arc::from(t.name.as_str())))
            .collect();
        *self.users.write().expect("lock") = users
            .iter()
            .map(|u| (u.id, Arc::new(Principal::from(u))))
            .collect();
        *self.revoked.write().expect("lock") = revocations
            .iter()
            .map(|r| (r.token_id, r.expires_at))
            .collect();
        Ok(())
    }

    /// A user by id.
    pub fn user(&self, id: UserId) -> Option<Arc<Principal>> {
        self.users.read().expect("lock").get(&id).cloned()
    }

    /// A user's name, for views (`"(deleted)"` when gone).
    pub fn username(&self, id: UserId) -> String {
        self.user(id)
            .map(|p| p.username.clone())
            .unwrap_or_else(|| "(deleted)".to_string())
    }

    /// Adds or replaces a user.
    pub fn put_user(&self, user: &UserRecord) {
        self.users
            .write()
            .expect("lock")
            .insert(user.id, Arc::new(Principal::from(user)));
    }

    /// Forgets a user: its tokens stop verifying at once.
    pub fn remove_user(&self, id: UserId) {
        self.users.write().expect("lock").remove(&id);
    }

    /// True when the tenant exists.
    pub fn tenant_exists(&self, id: TenantId) -> bool {
        self.tenants.read().expect("lock").contains_key(&id)
    }

    /// A tenant's name.
    pub fn tenant_name(&self, id: TenantId) -> Option<Arc<str>> {
        self.tenants.read().expect("lock").get(&id).cloned()
    }

    /// Adds a tenant.
    pub fn put_tenant(&self, tenant: &TenantRecord) {
        self.tenants
            .write()
            .expect("lock")
            .insert(tenant.id, Arc::from(tenant.name.as_str()));
    }

    /// Forgets a tenant and its users.
    pub fn remove_tenant(&self, id: TenantId) {
        self.tenants.write().expect("lock").remove(&id);
        self.users
            .write()
            .expect("lock")
            .retain(|_, p| p.tenant_id != id);
    }

    /// Marks a token revoked until its expiry.
    pub fn revoke(&self, revocation: Revocation) {
        self.revoked
            .write()
            .expect("lock")
            .insert(revocation.token_id, revocation.expires_at);
    }

    /// True when the token is revoked or deleted.
    pub fn is_revoked(&self, id: TokenId) -> bool {
        self.revoked.read().expect("lock").contains_key(&id)
    }

    /// Forgets revocations of tokens that have expired anyway.
    pub fn purge_revocations(&self, now: i64) {
        self.revoked
            .write()
            .expect("lock")
            .retain(|_, expires_at| *expires_at > now);
    }
}
