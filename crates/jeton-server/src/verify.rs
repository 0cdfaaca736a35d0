//! Credential verification, served from memory: a verified-token cache keyed by the token's
//! SHA-256, the signing keys, and the [`Directory`]. No database round trip, no password hash.
//! Last-use times are collected here and written in batches by a background task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use jeton_core::access::Subject;
use jeton_core::scope::ADMIN_SCOPE;
use jeton_core::token::Claims;
use jeton_core::{TokenId, TokenKind};
use jeton_store::Store;
use sha2::{Digest, Sha256};

use crate::directory::{Directory, Principal};
use crate::keys::{JwtRejection, KeyRing};

/// Longest credential accepted before any parsing (a JWT of ours is well under 1 KB).
pub const MAX_CREDENTIAL_LEN: usize = 4096;
/// Verified tokens kept in the cache before it is emptied and refilled.
const CACHE_CAPACITY: usize = 100_000;

/// Who a request acts as, once its credential verified.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The owner of the credential.
    pub principal: Arc<Principal>,
    /// The token used.
    pub token_id: TokenId,
    /// Its kind.
    pub kind: TokenKind,
    /// Its scopes; `None` when not narrowed.
    pub scopes: Option<Vec<String>>,
    /// Its expiry.
    pub expires_at: i64,
    /// The client's address, for audit records.
    pub client_addr: Option<String>,
}

impl Actor {
    /// The view of this actor that permission decisions take.
    pub fn subject(&self) -> Subject {
        Subject {
            user_id: self.principal.id,
            tenant_id: self.principal.tenant_id,
            access: self.principal.access,
            may_administer: self
                .scopes
                .as_ref()
                .is_none_or(|s| s.iter().any(|scope| scope == ADMIN_SCOPE)),
        }
    }
}

/// Why a credential was refused; recorded in the audit log, never told to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential was presented.
    Missing,
    /// Longer than [`MAX_CREDENTIAL_LEN`].
    TooLong,
    /// The JWT itself was refused.
    Jwt(JwtRejection),
    /// Revoked or deleted.
    Revoked,
    /// The owner no longer exists.
    OwnerUnknown,
    /// The owner is deactivated.
    OwnerInactive,
    /// The owner's tenant is gone, or differs from the token's.
    TenantMismatch,
}

impl AuthFailure {
    /// Short reason for audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::TooLong => "too_long",
            AuthFailure::Jwt(rejection) => rejection.as_str(),
            AuthFailure::Revoked => "revoked",
            AuthFailure::OwnerUnknown => "owner_unknown",
            AuthFailure::OwnerInactive => "owner_inactive",
            AuthFailure::TenantMismatch => "tenant_mismatch",
        }
    }
}

/// Verifies credentials and remembers their last use.
pub struct Verifier {
    keys: RwLock<Arc<KeyRing>>,
    directory: Arc<Directory>,
    cache: RwLock<HashMap<[u8; 32], Arc<Claims>>>,
    last_used: Mutex<HashMap<TokenId, i64>>,
}

impl Verifier {
    /// A verifier over these keys and this directory.
    pub fn new(keys: KeyRing, directory: Arc<Directory>) -> Self {
        Self {
            keys: RwLock::new(Arc::new(keys)),
            directory,
            cache: RwLock::new(HashMap::new()),
            last_used: Mutex::new(HashMap::new()),
        }
    }

    /// The current key ring.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().expect("lock").clone()
    }

    /// Replaces the key ring (after a key rotation).
    pub fn set_keys(&self, keys: KeyRing) {
        *self.keys.write().expect("lock") = Arc::new(keys);
    }

    fn claims(&self, token: &str, now: i64) -> Result<Arc<Claims>, AuthFailure> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.cache.read().expect("lock").get(&digest) {
            if claims.exp <= now {
                return Err(AuthFailure::Jwt(JwtRejection::Expired));
            }
            if claims.nbf > now + 5 {
                return Err(AuthFailure::Jwt(JwtRejection::NotYetValid));
            }
            return Ok(claims.clone());
        }
        let claims = Arc::new(self.keys().verify(token).map_err(AuthFailure::Jwt)?);
        let mut cache = self.cache.write().expect("lock");
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(digest, claims.clone());
        Ok(claims)
    }

    /// Verifies a token: signature and `kid`, `exp`/`nbf`, issuer and audience, not revoked or
    /// deleted, owner present and active, tenant present and the owner's.
    pub fn verify(&self, token: &str, now: i64) -> Result<Actor, AuthFailure> {
        if token.is_empty() {
            return Err(AuthFailure::Missing);
        }
        if token.len() > MAX_CREDENTIAL_LEN {
            return Err(AuthFailure::TooLong);
        }
        let claims = self.claims(token, now)?;
        if self.directory.is_revoked(claims.jti) {
            return Err(AuthFailure::Revoked);
        }
        let principal = self
            .directory
            .user(claims.sub)
            .ok_or(AuthFailure::OwnerUnknown)?;
        if !principal.active {
            return Err(AuthFailure::OwnerInactive);
        }
        if principal.tenant_id != claims.tid || !self.directory.tenant_exists(principal.tenant_id) {
            return Err(AuthFailure::TenantMismatch);
        }
        self.note_use(claims.jti, now);
        Ok(Actor {
            principal,
            token_id: claims.jti,
            kind: claims.kind,
            scopes: claims.scopes(),
            expires_at: claims.exp,
            client_addr: None,
        })
    }

    fn note_use(&self, token: TokenId, now: i64) {
        let mut pending = self.last_used.lock().expect("lock");
        let entry = pending.entry(token).or_insert(now);
        if *entry < now {
            *entry = now;
        }
    }

    /// Writes the collected last-use times; on failure they are kept for the next attempt.
    pub async fn flush_last_used(&self, store: &dyn Store) {
        let batch: Vec<(TokenId, i64)> = {
            let mut pending = self.last_used.lock().expect("lock");
            pending.drain().collect()
        };
        if batch.is_empty() {
            return;
        }
        if let Err(err) = store.touch_tokens(&batch).await {
            tracing::warn!(error = %err, count = batch.len(), "could not record last-use times; will retry");
            let mut pending = self.last_used.lock().expect("lock");
            for (token, at) in batch {
                let entry = pending.entry(token).or_insert(at);
                if *entry < at {
                    *entry = at;
                }
            }
        }
    }
}
