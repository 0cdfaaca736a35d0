//! What verification needs, held in memory: who exists and is active (users and service users),
//! which tenants exist, which tokens are revoked, and the keyed hashes of API keys with their
//! state. Loaded at start and kept current on every change, so that verifying a credential never
//! waits for the database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use jeton_core::{AccessLevel, ApiKeyId, ServiceUserId, TenantId, TokenId, UserId};
use jeton_store::{
    ApiKeyRecord, Revocation, ServiceUserRecord, Store, StoreResult, TenantRecord, UserRecord,
};

/// Whether a principal is a human user or a service user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A human user (password login, personal tokens).
    User,
    /// A service user (API key, OAuth2 client credentials).
    Service,
}

impl PrincipalKind {
    /// The wire spelling: `user` or `service_user`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Service => "service_user",
        }
    }
}

/// A user or service user as verification sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Id (a service user's id as a [`UserId`]).
    pub id: UserId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Username, or the service user's name.
    pub username: String,
    /// Access level.
    pub access: AccessLevel,
    /// False when deactivated or disabled.
    pub active: bool,
    /// User or service user.
    pub kind: PrincipalKind,
    /// When a service user stops working.
    pub expires_at: Option<i64>,
    /// The scopes a service user may be given; `None` when not narrowed.
    pub allowed_scopes: Option<Vec<String>>,
}

impl Principal {
    /// True when active and not past its expiry at `now`.
    pub fn usable_at(&self, now: i64) -> bool {
        self.active && self.expires_at.is_none_or(|at| at > now)
    }

    /// True for a service user.
    pub fn is_service(&self) -> bool {
        self.kind == PrincipalKind::Service
    }

    /// The id as a service user's id.
    pub fn service_user_id(&self) -> Option<ServiceUserId> {
        self.is_service().then_some(ServiceUserId(self.id.0))
    }
}

impl From<&UserRecord> for Principal {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id,
            tenant_id: user.tenant_id,
            username: user.username.clone(),
            access: user.access_level,
            active: user.active,
            kind: PrincipalKind::User,
            expires_at: None,
            allowed_scopes: None,
        }
    }
}

impl From<&ServiceUserRecord> for Principal {
    fn from(user: &ServiceUserRecord) -> Self {
        Self {
            id: user.id.into(),
            tenant_id: user.tenant_id,
            username: user.name.clone(),
            access: user.access_level,
            active: user.active,
            kind: PrincipalKind::Service,
            expires_at: user.expires_at,
            allowed_scopes: (!user.scopes.is_empty()).then(|| user.scopes.clone()),
        }
    }
}

/// An API key as verification sees it: its keyed hash and its state, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// Id.
    pub id: ApiKeyId,
    /// Owner.
    pub service_user_id: ServiceUserId,
    /// The keyed hash (hex).
    pub key_hash: String,
    /// When it was superseded by a newer key.
    pub superseded_at: Option<i64>,
    /// End of its grace period.
    pub grace_until: Option<i64>,
    /// When it stopped working for good.
    pub revoked_at: Option<i64>,
}

impl KeyEntry {
    /// True when the key may be used at `now`.
    pub fn works_at(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && match self.superseded_at {
                None => true,
                Some(_) => self.grace_until.is_some_and(|until| until > now),
            }
    }
}

impl From<&ApiKeyRecord> for KeyEntry {
    fn from(key: &ApiKeyRecord) -> Self {
        Self {
            id: key.id,
            service_user_id: key.service_user_id,
            key_hash: key.key_hash.clone(),
            superseded_at: key.superseded_at,
            grace_until: key.grace_until,
            revoked_at: key.revoked_at,
        }
    }
}

#[derive(Default)]
struct Keys {
    by_hash: HashMap<String, Arc<KeyEntry>>,
    by_id: HashMap<ApiKeyId, Arc<KeyEntry>>,
    /// Service users with a superseded key still in its grace period.
    graced: HashSet<ServiceUserId>,
}

impl Keys {
    fn insert(&mut self, entry: KeyEntry, now: i64) {
        if entry.superseded_at.is_some() && entry.works_at(now) {
            self.graced.insert(entry.service_user_id);
        }
        let entry = Arc::new(entry);
        self.by_hash.insert(entry.key_hash.clone(), entry.clone());
        self.by_id.insert(entry.id, entry);
    }

    fn remove_owner(&mut self, owner: ServiceUserId) {
        self.by_hash.retain(|_, k| k.service_user_id != owner);
        self.by_id.retain(|_, k| k.service_user_id != owner);
        self.graced.remove(&owner);
    }
}

/// The in-memory directory.
#[derive(Default)]
pub struct Directory {
    users: RwLock<HashMap<UserId, Arc<Principal>>>,
    tenants: RwLock<HashMap<TenantId, Arc<str>>>,
    revoked: RwLock<HashMap<TokenId, i64>>,
    keys: RwLock<Keys>,
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
        let service_users = store.all_service_users().await?;
        let keys = store.all_api_keys().await?;
        let revocations = store.list_revocations(now).await?;
        *self.tenants.write().expect("lock") = tenants
            .iter()
            .map(|t| (t.id, Arc::from(t.name.as_str())))
            .collect();
        *self.users.write().expect("lock") = users
            .iter()
            .map(|u| (u.id, Arc::new(Principal::from(u))))
            .chain(
                service_users
                    .iter()
                    .map(|s| (UserId::from(s.id), Arc::new(Principal::from(s)))),
            )
            .collect();
        let mut loaded = Keys::default();
        for key in &keys {
            loaded.insert(KeyEntry::from(key), now);
        }
        *self.keys.write().expect("lock") = loaded;
        *self.revoked.write().expect("lock") = revocations
            .iter()
            .map(|r| (r.token_id, r.expires_at))
            .collect();
        Ok(())
    }

    /// A user or service user by id.
    pub fn user(&self, id: UserId) -> Option<Arc<Principal>> {
        self.users.read().expect("lock").get(&id).cloned()
    }

    /// A principal's name, for views (`"(deleted)"` when gone).
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

    /// Adds or replaces a service user.
    pub fn put_service_user(&self, user: &ServiceUserRecord) {
        self.users
            .write()
            .expect("lock")
            .insert(user.id.into(), Arc::new(Principal::from(user)));
    }

    /// Forgets a service user and its keys: its key and every token issued from it stop at once.
    pub fn remove_service_user(&self, id: ServiceUserId) {
        self.users.write().expect("lock").remove(&UserId::from(id));
        self.keys.write().expect("lock").remove_owner(id);
    }

    /// Replaces the keys of one service user with these records, unless the directory already
    /// holds a newer key of it (two rotations answered out of order: the later list wins).
    pub fn put_keys(&self, owner: ServiceUserId, keys: &[ApiKeyRecord], now: i64) {
        let mut all = self.keys.write().expect("lock");
        let newest_held = all
            .by_id
            .values()
            .filter(|k| k.service_user_id == owner)
            .map(|k| k.id)
            .max();
        let newest_given = keys.iter().map(|k| k.id).max();
        if newest_held > newest_given {
            return;
        }
        // A key's end is final: an end known here (a grace period ended by the new key's first
        // use, not yet written) survives a list read before it was written.
        let ended: HashMap<ApiKeyId, i64> = all
            .by_id
            .values()
            .filter(|k| k.service_user_id == owner)
            .filter_map(|k| k.revoked_at.map(|at| (k.id, at)))
            .collect();
        all.remove_owner(owner);
        for key in keys {
            let mut entry = KeyEntry::from(key);
            if entry.revoked_at.is_none() {
                entry.revoked_at = ended.get(&entry.id).copied();
            }
            all.insert(entry, now);
        }
    }

    /// An API key by its keyed hash.
    pub fn key_by_hash(&self, hash: &str) -> Option<Arc<KeyEntry>> {
        self.keys.read().expect("lock").by_hash.get(hash).cloned()
    }

    /// True when the key exists and works at `now`.
    pub fn key_works(&self, id: ApiKeyId, now: i64) -> bool {
        self.keys
            .read()
            .expect("lock")
            .by_id
            .get(&id)
            .is_some_and(|k| k.works_at(now))
    }

    /// The current key of a service user, if any.
    pub fn current_key(&self, owner: ServiceUserId) -> Option<Arc<KeyEntry>> {
        self.keys
            .read()
            .expect("lock")
            .by_id
            .values()
            .find(|k| k.service_user_id == owner && k.superseded_at.is_none())
            .cloned()
    }

    /// Called when a service user's current key is used: ends the grace period of its
    /// superseded keys. Returns true when some key stopped (the caller then records it).
    pub fn end_grace(&self, owner: ServiceUserId, at: i64) -> bool {
        if !self.keys.read().expect("lock").graced.contains(&owner) {
            return false;
        }
        let mut all = self.keys.write().expect("lock");
        if !all.graced.remove(&owner) {
            return false;
        }
        let ended: Vec<KeyEntry> = all
            .by_id
            .values()
            .filter(|k| k.service_user_id == owner && k.superseded_at.is_some())
            .filter(|k| k.revoked_at.is_none())
            .map(|k| KeyEntry {
                revoked_at: Some(at),
                ..KeyEntry::clone(k)
            })
            .collect();
        for entry in ended {
            all.insert(entry, at);
        }
        true
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

    /// Forgets a tenant with its users, service users and their keys.
    pub fn remove_tenant(&self, id: TenantId) {
        self.tenants.write().expect("lock").remove(&id);
        let mut users = self.users.write().expect("lock");
        let gone: Vec<ServiceUserId> = users
            .values()
            .filter(|p| p.tenant_id == id)
            .filter_map(|p| p.service_user_id())
            .collect();
        users.retain(|_, p| p.tenant_id != id);
        drop(users);
        let mut keys = self.keys.write().expect("lock");
        for owner in gone {
            keys.remove_owner(owner);
        }
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
