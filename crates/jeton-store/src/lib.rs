//! Jeton's storage: the [`Store`] trait every backend implements, the records it speaks in, and
//! two implementations — [`sqlite::SqliteStore`] (the embedded default, WAL, durable commits) and
//! [`postgres::PgStore`] (for many instances sharing one database).
//!
//! This crate owns persistence only. It makes no permission decisions and knows nothing of HTTP;
//! it never sees a secret in clear (password hashes, key hashes, and signing keys and the API-key
//! hashing secret sealed by the server under its master key). Times are
//! Unix seconds (`i64`); ids are stored as text.

use async_trait::async_trait;
use jeton_core::{
    AccessLevel, ApiKeyId, RoleId, ServiceUserId, TenantId, TokenId, TokenKind, UserId,
};

pub mod postgres;
mod sql;
pub mod sqlite;

/// Errors a store reports. Unique-constraint violations become [`StoreError::Conflict`], a lost
/// database connection [`StoreError::Unavailable`]; nothing a caller can cause is `Internal`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the string names what (`username`, `role name`, ...).
    #[error("{0} already exists")]
    Conflict(String),
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database URL or options are not usable.
    #[error("{0}")]
    Config(String),
    /// Anything else (a bug, corrupt data). Logged, never shown to clients.
    #[error("storage error: {0}")]
    Internal(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A tenant (organisation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Id.
    pub id: TenantId,
    /// Globally unique name.
    pub name: String,
    /// Creation time.
    pub created_at: i64,
}

/// A user (a human identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Globally unique username.
    pub username: String,
    /// Argon2id PHC string; `None` for a user that cannot log in with a password.
    pub password_hash: Option<String>,
    /// Built-in access level.
    pub access_level: AccessLevel,
    /// False when deactivated: no login, no token works.
    pub active: bool,
    /// Personal API-token max-duration policy, in seconds.
    pub token_max_secs: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A role inside a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    /// Id.
    pub id: RoleId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name, unique inside the tenant.
    pub name: String,
    /// API-token max-duration policy for holders of the role, in seconds.
    pub token_max_secs: Option<i64>,
    /// Creation time.
    pub created_at: i64,
}

/// The metadata of a token. The token value itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The JWT's `jti`.
    pub id: TokenId,
    /// Tenant of the owner.
    pub tenant_id: TenantId,
    /// Owner.
    pub user_id: UserId,
    /// Kind.
    pub kind: TokenKind,
    /// Name, unique among the owner's active tokens.
    pub name: String,
    /// Free text; empty when none.
    pub comment: String,
    /// Scopes; empty when the token is not narrowed.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: i64,
    /// Who created it (an admin may create for another user); `None` for logins.
    pub created_by: Option<UserId>,
    /// Expiry.
    pub expires_at: i64,
    /// Last time a request used it (recorded in batches).
    pub last_used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<UserId>,
}

/// A service user: a programmatic identity of a tenant, authenticating with an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUserRecord {
    /// Id; also the OAuth `client_id`.
    pub id: ServiceUserId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name, unique inside the tenant.
    pub name: String,
    /// Free text; empty when none.
    pub description: String,
    /// Built-in access level.
    pub access_level: AccessLevel,
    /// Scopes it may be given; empty when not narrowed.
    pub scopes: Vec<String>,
    /// False when disabled: its keys and tokens stop working.
    pub active: bool,
    /// When it stops working; `None` for never.
    pub expires_at: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Last change.
    pub updated_at: i64,
    /// Last time a request used one of its credentials (recorded in batches).
    pub last_used_at: Option<i64>,
}

/// A change to a user: the fields that are `Some` are written, the others stay as stored.
/// Writing only what changes keeps concurrent updates of one user from undoing each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New password hash.
    pub password_hash: Option<String>,
    /// New access level.
    pub access_level: Option<AccessLevel>,
    /// New active flag.
    pub active: Option<bool>,
    /// New API-token max-duration policy: `Some(None)` clears it.
    pub token_max_secs: Option<Option<i64>>,
}

/// A change to a service user: the fields that are `Some` are written, the others stay as
/// stored. Writing only what changes keeps concurrent updates of one service user from undoing
/// each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceUserPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New access level.
    pub access_level: Option<AccessLevel>,
    /// New scopes (empty: not narrowed).
    pub scopes: Option<Vec<String>>,
    /// New active flag.
    pub active: Option<bool>,
    /// New expiry: `Some(None)` for never.
    pub expires_at: Option<Option<i64>>,
}

/// One API key of a service user, as stored: a keyed hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Id (carried by OAuth tokens issued with the key).
    pub id: ApiKeyId,
    /// Owner.
    pub service_user_id: ServiceUserId,
    /// HMAC-SHA-256 of the key under the server's secret, hex.
    pub key_hash: String,
    /// The prefix and first characters of the key, to tell keys apart in listings.
    pub hint: String,
    /// Creation time.
    pub created_at: i64,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// When a newer key replaced it; `None` while it is the current key.
    pub superseded_at: Option<i64>,
    /// End of the grace period of a superseded key.
    pub grace_until: Option<i64>,
    /// When it stopped working for good (a superseded key without grace, or whose grace was
    /// ended by the first use of the new key).
    pub revoked_at: Option<i64>,
}

impl ApiKeyRecord {
    /// True when the key may be used at `now`.
    pub fn works_at(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && match self.superseded_at {
                None => true,
                Some(_) => self.grace_until.is_some_and(|until| until > now),
            }
    }
}

/// A revoked or deleted token that has not expired yet: verification must refuse it. Kept until
/// the token's own expiry, never less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// The token.
    pub token_id: TokenId,
    /// Its expiry; after this the revocation can be forgotten.
    pub expires_at: i64,
}

/// One link of a token exchange chain (RFC 8693): `token_id` was issued in exchange for
/// `parent_id`, whose chain began with `root_id`. Revoking a token revokes, by these links, every
/// token exchanged from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLink {
    /// The token issued by the exchange.
    pub token_id: TokenId,
    /// The subject token it was exchanged for.
    pub parent_id: TokenId,
    /// The first token of the chain (the parent itself when the parent was not exchanged).
    pub root_id: TokenId,
    /// The tenant of the tokens.
    pub tenant_id: TenantId,
    /// When the exchange happened.
    pub created_at: i64,
    /// The issued token's expiry; the link is forgotten after it.
    pub expires_at: i64,
}

/// A JWT signing key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (the JWT header's `kid`).
    pub kid: String,
    /// JOSE algorithm, `EdDSA`.
    pub algorithm: String,
    /// Private key, sealed under the server's master key (jeton-server's `master_key`). In a
    /// database from before migration 4, the PKCS#8 DER in clear until the first start seals it.
    pub private_key: Vec<u8>,
    /// Public key (32 raw bytes for Ed25519).
    pub public_key: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
    /// When it stopped signing; its public key stays published while tokens it signed live.
    pub retired_at: Option<i64>,
    /// When an operator revoked it: it never verifies again.
    pub revoked_at: Option<i64>,
    /// When an instance first saw that no token it signed can still be live: it never verifies
    /// again, even if a clock moves back.
    pub expired_at: Option<i64>,
}

impl SigningKeyRecord {
    /// True once the key was revoked or seen expired: withdrawn for good.
    pub fn withdrawn(&self) -> bool {
        self.revoked_at.is_some() || self.expired_at.is_some()
    }
}

/// A stored secret sealed again (a first sealing, or under a new master key): written only if
/// the stored value is still `old`, so that a change made meanwhile is never overwritten.
#[derive(Clone, PartialEq, Eq)]
pub struct Resealed<T> {
    /// Which row: a signing key's `kid`, or a setting's name.
    pub id: String,
    /// The value as read.
    pub old: T,
    /// The value to store.
    pub new: T,
}

impl<T> std::fmt::Debug for Resealed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resealed")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"***")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("revoked_at", &self.revoked_at)
            .field("expired_at", &self.expired_at)
            .finish()
    }
}

/// What kind of object a [`ChangeRecord`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeEntity {
    /// A user (id: the user).
    User,
    /// A service user (id: the service user).
    ServiceUser,
    /// The API keys of a service user (id: the service user).
    ApiKeys,
    /// A token revocation or deletion (id: the token).
    Revocation,
    /// A tenant (id: the tenant).
    Tenant,
    /// A signing key (id: its `kid`).
    SigningKey,
}

impl ChangeEntity {
    /// The spelling in the `changes` table and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChangeEntity::User => "user",
            ChangeEntity::ServiceUser => "service_user",
            ChangeEntity::ApiKeys => "api_keys",
            ChangeEntity::Revocation => "revocation",
            ChangeEntity::Tenant => "tenant",
            ChangeEntity::SigningKey => "signing_key",
        }
    }

    /// Parses [`ChangeEntity::as_str`]'s spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "user" => ChangeEntity::User,
            "service_user" => ChangeEntity::ServiceUser,
            "api_keys" => ChangeEntity::ApiKeys,
            "revocation" => ChangeEntity::Revocation,
            "tenant" => ChangeEntity::Tenant,
            "signing_key" => ChangeEntity::SigningKey,
            _ => return None,
        })
    }
}

/// One row of the change feed: something verification must reload. Written by database
/// triggers in the transaction of the change itself, so a committed change always has its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    /// Position in the feed (increasing in the order rows were written; a row can become
    /// visible after a later one when transactions commit out of order, and a rolled-back
    /// transaction leaves a gap).
    pub seq: i64,
    /// What changed.
    pub entity: ChangeEntity,
    /// Which one (see [`ChangeEntity`]).
    pub entity_id: String,
    /// When, by the database's clock, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// A running subscription to change signals (PostgreSQL `LISTEN`); dropping it stops listening.
#[derive(Debug)]
pub struct ChangeWatch {
    task: tokio::task::JoinHandle<()>,
}

impl ChangeWatch {
    /// Wraps the task that listens.
    pub fn new(task: tokio::task::JoinHandle<()>) -> Self {
        Self { task }
    }
}

impl Drop for ChangeWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One audit event. Append-only: the store has no way to change or delete one.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Sequence number assigned by the store (ignored on append).
    pub id: i64,
    /// When it happened.
    pub at: i64,
    /// Tenant it concerns; `None` for events before authentication (unknown user).
    pub tenant_id: Option<TenantId>,
    /// Who acted; `None` for anonymous requests.
    pub actor_id: Option<UserId>,
    /// The actor's name as given (for failed logins, the username tried).
    pub actor_name: Option<String>,
    /// Dotted action name: `auth.login`, `token.create`, `token.revoke`, `user.update`, ...
    pub action: String,
    /// Kind of object acted on: `token`, `user`, `role`, `tenant`, `policy`.
    pub target_type: Option<String>,
    /// Id of the object acted on.
    pub target_id: Option<String>,
    /// Name of the object acted on.
    pub target_name: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Client address.
    pub client_addr: Option<String>,
    /// Extra details as a JSON object (never a secret).
    pub details: serde_json::Value,
}

/// What a token listing selects. Results are ordered newest first (ids are UUIDv7).
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// Only tokens of this tenant.
    pub tenant_id: Option<TenantId>,
    /// Only tokens of this owner.
    pub user_id: Option<UserId>,
    /// Only tokens of this kind.
    pub kind: Option<TokenKind>,
    /// Include expired and revoked tokens; otherwise only those active at `now`.
    pub include_inactive: bool,
    /// The current time, for deciding what is active.
    pub now: i64,
    /// Only tokens with an id below this one (the previous page's last id).
    pub before: Option<TokenId>,
    /// At most this many.
    pub limit: u32,
}

/// What an audit query selects. Results are ordered newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events of this tenant.
    pub tenant_id: Option<TenantId>,
    /// Only events where this user is the actor or the target.
    pub user_id: Option<UserId>,
    /// Only events whose action equals this or starts with it followed by a dot
    /// (`token` matches `token.create` and `token.revoke`).
    pub action: Option<String>,
    /// Only events at or after this time.
    pub since: Option<i64>,
    /// Only events before this time.
    pub until: Option<i64>,
    /// Only events with an id below this one (the previous page's last id).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// How many connections a store's pool holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open, in use or idle.
    pub connections: u32,
    /// Open connections waiting in the pool, not in use.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max_connections: u32,
}

/// The storage port. Every method is one transaction: when it returns `Ok`, the change is
/// durable (a crash right after loses nothing).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations (idempotent; safe when several processes start together).
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// The backend's name: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The connection pool's current use, for the operations metrics.
    fn pool_status(&self) -> PoolStatus;

    // ---- settings (server-wide values such as the key-hashing secret) ----
    /// Reads a setting.
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Stores a setting unless one exists; returns the value now stored (the existing one wins,
    /// so concurrent first starts agree).
    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String>;
    /// In one transaction, writes every sealed value given — signing keys' `private_key` and
    /// settings' values — each only if its stored value is still the `old` one. Returns false,
    /// writing nothing, when one of them changed meanwhile (or is gone).
    async fn reseal(
        &self,
        signing_keys: &[Resealed<Vec<u8>>],
        settings: &[Resealed<String>],
    ) -> StoreResult<bool>;
    /// Makes sure no value overwritten or deleted so far lingers in the database's files (free
    /// pages, journal): SQLite rewrites the file (`VACUUM`) and empties its WAL. PostgreSQL
    /// needs nothing: a dump holds live rows only.
    async fn scrub(&self) -> StoreResult<()>;

    // ---- tenants ----
    /// Creates a tenant; `Conflict("tenant")` if the name is taken.
    async fn create_tenant(&self, tenant: &TenantRecord) -> StoreResult<()>;
    /// A tenant by id.
    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<TenantRecord>>;
    /// A tenant by name.
    async fn get_tenant_by_name(&self, name: &str) -> StoreResult<Option<TenantRecord>>;
    /// All tenants, by name.
    async fn list_tenants(&self) -> StoreResult<Vec<TenantRecord>>;
    /// Deletes a tenant and everything in it; `NotFound` if absent.
    async fn delete_tenant(&self, id: TenantId) -> StoreResult<()>;

    // ---- users ----
    /// Creates a user; `Conflict("username")` if the name is taken.
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// A user by id.
    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    /// A user by username.
    async fn get_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Users of a tenant (all tenants when `None`), ordered by username, after `after_username`.
    async fn list_users(
        &self,
        tenant: Option<TenantId>,
        after_username: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<UserRecord>>;
    /// Every user, for loading the in-memory directory at start.
    async fn all_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Writes the fields `patch` sets, and `updated_at = at`, to an existing user — no other
    /// column, so that concurrent changes of different fields all stay. Returns the user as
    /// stored afterwards; `NotFound` if absent.
    async fn update_user(&self, id: UserId, patch: &UserPatch, at: i64) -> StoreResult<UserRecord>;
    /// Deletes a user with its tokens and memberships; `NotFound` if absent.
    async fn delete_user(&self, id: UserId) -> StoreResult<()>;

    // ---- roles ----
    /// Creates a role; `Conflict("role")` if the tenant has one of that name.
    async fn create_role(&self, role: &RoleRecord) -> StoreResult<()>;
    /// A role by id.
    async fn get_role(&self, id: RoleId) -> StoreResult<Option<RoleRecord>>;
    /// A role by name inside a tenant.
    async fn get_role_by_name(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> StoreResult<Option<RoleRecord>>;
    /// Roles of a tenant (all when `None`), by name.
    async fn list_roles(&self, tenant: Option<TenantId>) -> StoreResult<Vec<RoleRecord>>;
    /// Sets or clears a role's token max duration; `NotFound` if absent.
    async fn set_role_token_max(&self, id: RoleId, max_secs: Option<i64>) -> StoreResult<()>;
    /// Deletes a role and its memberships; `NotFound` if absent.
    async fn delete_role(&self, id: RoleId) -> StoreResult<()>;
    /// Adds a user to a role (no error if already a member).
    async fn add_role_member(&self, role: RoleId, user: UserId) -> StoreResult<()>;
    /// Removes a user from a role; `NotFound` if not a member.
    async fn remove_role_member(&self, role: RoleId, user: UserId) -> StoreResult<()>;
    /// The roles a user holds, by name.
    async fn roles_of_user(&self, user: UserId) -> StoreResult<Vec<RoleRecord>>;
    /// The users holding a role, by username.
    async fn members_of_role(&self, role: RoleId) -> StoreResult<Vec<UserRecord>>;

    // ---- tokens ----
    /// Records a new token. `Conflict("token name")` when the owner has a token of that name that
    /// is active at `now` (neither revoked nor expired).
    async fn insert_token(&self, token: &TokenRecord, now: i64) -> StoreResult<()>;
    /// A token record by id.
    async fn get_token(&self, id: TokenId) -> StoreResult<Option<TokenRecord>>;
    /// The owner's token of this name that is active at `now`.
    async fn find_active_token(
        &self,
        user: UserId,
        name: &str,
        now: i64,
    ) -> StoreResult<Option<TokenRecord>>;
    /// Tokens matching a filter.
    async fn list_tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<TokenRecord>>;
    /// Changes a token's comment; `NotFound` if absent.
    async fn set_token_comment(&self, id: TokenId, comment: &str) -> StoreResult<()>;
    /// Revokes a token and records its revocation, in one transaction. Returns the record as
    /// stored afterwards; a token that was already revoked keeps its first `revoked_at`.
    /// `NotFound` if absent.
    async fn revoke_token(
        &self,
        id: TokenId,
        by: Option<UserId>,
        at: i64,
    ) -> StoreResult<TokenRecord>;
    /// Revokes every token of `user` that is not revoked yet, with their revocations, in one
    /// transaction; returns the revocations made.
    async fn revoke_user_tokens(
        &self,
        user: UserId,
        by: Option<UserId>,
        at: i64,
    ) -> StoreResult<Vec<Revocation>>;
    /// Deletes a token record, keeping a revocation until its expiry so that it stays refused.
    /// Returns the deleted record; `NotFound` if absent.
    async fn delete_token(&self, id: TokenId, at: i64) -> StoreResult<TokenRecord>;
    /// Records the revocations of tokens that have no record (OAuth access tokens), each until
    /// its expiry, in one transaction (a whole generation of an exchange chain costs one
    /// commit); a revocation already recorded stays as it is.
    async fn record_revocations(&self, revocations: &[Revocation], at: i64) -> StoreResult<()>;
    /// Records last-use times in one batch (a later time never goes backwards).
    async fn touch_tokens(&self, uses: &[(TokenId, i64)]) -> StoreResult<()>;
    /// Revocations whose tokens have not expired at `now`.
    async fn list_revocations(&self, now: i64) -> StoreResult<Vec<Revocation>>;
    /// Forgets revocations of tokens that expired before `now`; returns how many.
    async fn purge_revocations(&self, now: i64) -> StoreResult<u64>;
    /// Revokes every token of `user` of this kind that is not revoked yet (a password change
    /// ends the user's sessions), with their revocations, in one transaction; returns the
    /// revocations made.
    async fn revoke_user_tokens_of_kind(
        &self,
        user: UserId,
        kind: TokenKind,
        by: Option<UserId>,
        at: i64,
    ) -> StoreResult<Vec<Revocation>>;

    // ---- token exchange chains ----
    /// Records that a token was issued in exchange for another (committed when this returns).
    async fn insert_token_link(&self, link: &TokenLink) -> StoreResult<()>;
    /// The links whose parent is one of `parents`: the tokens exchanged directly from them.
    async fn token_children(&self, parents: &[TokenId]) -> StoreResult<Vec<TokenLink>>;
    /// Forgets links of tokens that expired before `now`; returns how many.
    async fn purge_token_links(&self, now: i64) -> StoreResult<u64>;

    // ---- service users and API keys ----
    /// Creates a service user with its first key, in one transaction; `Conflict("service
    /// user")` if the tenant has one of that name.
    async fn create_service_user(
        &self,
        user: &ServiceUserRecord,
        key: &ApiKeyRecord,
    ) -> StoreResult<()>;
    /// A service user by id.
    async fn get_service_user(&self, id: ServiceUserId) -> StoreResult<Option<ServiceUserRecord>>;
    /// A service user by name inside a tenant.
    async fn get_service_user_by_name(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> StoreResult<Option<ServiceUserRecord>>;
    /// Service users of a tenant (all when `None`), by name, after `after_name`.
    async fn list_service_users(
        &self,
        tenant: Option<TenantId>,
        after_name: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ServiceUserRecord>>;
    /// Every service user, for loading the in-memory directory.
    async fn all_service_users(&self) -> StoreResult<Vec<ServiceUserRecord>>;
    /// Writes the fields `patch` sets, and `updated_at = at`, to an existing service user — no
    /// other column, so that concurrent changes of different fields all stay (a change of the
    /// description never undoes a disable). Returns the service user as stored afterwards;
    /// `NotFound` if absent, `Conflict("service user")` on a taken name.
    async fn update_service_user(
        &self,
        id: ServiceUserId,
        patch: &ServiceUserPatch,
        at: i64,
    ) -> StoreResult<ServiceUserRecord>;
    /// Deletes a service user with its keys; `NotFound` if absent.
    async fn delete_service_user(&self, id: ServiceUserId) -> StoreResult<()>;
    /// Every API key (current and superseded), for loading the in-memory directory.
    async fn all_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// The keys of one service user, newest first.
    async fn api_keys_of(&self, id: ServiceUserId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Replaces a service user's key in one transaction: every key of it that still works is
    /// superseded at `at` — kept working until `grace_until` if given (a key already in a grace
    /// period from an earlier rotation stops at once), revoked otherwise — and `key` becomes
    /// current. Returns the keys as stored afterwards, newest first; `NotFound` if the service
    /// user is absent.
    async fn rotate_api_key(
        &self,
        key: &ApiKeyRecord,
        grace_until: Option<i64>,
        at: i64,
    ) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Ends the grace period of every superseded key of the service user that still works
    /// (called on the first use of the new key). Returns how many keys stopped.
    async fn end_api_key_grace(&self, id: ServiceUserId, at: i64) -> StoreResult<u64>;
    /// Records service users' last-use times in one batch (never going backwards).
    async fn touch_service_users(&self, uses: &[(ServiceUserId, i64)]) -> StoreResult<()>;

    // ---- signing keys ----
    /// Stores a new signing key.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// All signing keys, newest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Marks a key as no longer signing.
    async fn retire_signing_key(&self, kid: &str, at: i64) -> StoreResult<()>;
    /// Makes `key` the signer: in one transaction, retires every key still signing (at the new
    /// key's creation time) and stores the new one.
    async fn rotate_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Revokes a retired key at `at` (a key revoked already keeps its first time) and returns
    /// it as stored; a key still signing is returned unchanged (`revoked_at` empty): the signer
    /// is revoked only after a rotation. `NotFound` if absent.
    async fn revoke_signing_key(&self, kid: &str, at: i64) -> StoreResult<SigningKeyRecord>;
    /// Records that a key was seen expired at `at` (the first time recorded stays).
    /// `NotFound` if absent.
    async fn expire_signing_key(&self, kid: &str, at: i64) -> StoreResult<()>;

    // ---- change feed ----
    /// The highest `seq` in the change feed (0 when empty).
    async fn latest_change(&self) -> StoreResult<i64>;
    /// The lowest `seq` still in the change feed, if any.
    async fn oldest_change(&self) -> StoreResult<Option<i64>>;
    /// Feed rows with `seq > after`, in `seq` order, at most `limit`.
    async fn changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>>;
    /// Deletes feed rows written before `before_ms`, keeping the newest row (so that `seq`
    /// never restarts). Returns how many were deleted.
    async fn prune_changes(&self, before_ms: i64) -> StoreResult<u64>;
    /// The revocation of a token, if one is recorded.
    async fn get_revocation(&self, token: TokenId) -> StoreResult<Option<Revocation>>;
    /// Starts waking `wake` whenever another connection commits a change (PostgreSQL `LISTEN`),
    /// and also whenever the listening connection is lost and re-made (signals may have been
    /// missed). `None` where the backend has no such signal (SQLite): then only polling finds
    /// changes.
    async fn watch_changes(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> StoreResult<Option<ChangeWatch>>;

    // ---- audit ----
    /// Appends events (one transaction); returns nothing, ids are assigned by the store.
    async fn append_audit(&self, events: &[AuditRecord]) -> StoreResult<()>;
    /// Events matching a filter, newest first.
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes at most `limit` events recorded before `before` (Unix seconds), oldest first;
    /// returns how many were deleted. Bounded, so that pruning a large backlog never holds
    /// one long transaction: callers repeat it until it deletes fewer than `limit`.
    async fn prune_audit(&self, before: i64, limit: u32) -> StoreResult<u64>;
}

/// Opens the store a URL names: `sqlite://path` (created if missing; `sqlite::memory:` for tests)
/// or `postgres://…` / `postgresql://…`.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL scheme in '{}': use sqlite://FILE or postgres://…",
            url.split("://").next().unwrap_or(url)
        )))
    }
}
