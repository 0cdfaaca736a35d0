//! Credential verification, served from memory: a verified-token cache keyed by the token's
//! SHA-256, the signing keys, API keys by their keyed hash, and the [`Directory`]. No database
//! round trip, no password hash. Last-use times are collected here and written in batches by a
//! background task.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use jeton_core::access::Subject;
use jeton_core::apikey::{self, KeyHasher};
use jeton_core::scope::ADMIN_SCOPE;
use jeton_core::{ApiKeyId, ServiceUserId, TenantId, TokenId, TokenKind, UserId};
use jeton_store::Store;
use sha2::{Digest, Sha256};

use crate::directory::{Directory, Principal};
use crate::keys::{JwtRejection, KeyRing};

/// Longest credential accepted before any parsing (a JWT of ours is well under 1 KB).
pub const MAX_CREDENTIAL_LEN: usize = 4096;
/// Verified tokens kept in the cache before it is emptied and refilled.
const CACHE_CAPACITY: usize = 100_000;

/// What the cache keeps of a verified token: the claims the checks after the signature need.
/// Not the issuer and audience: they were checked at first sight and are the same for every
/// token this server accepts. Held inline in the map (no allocation of its own unless the token
/// is narrowed to scopes or was exchanged): at most 104 bytes, 136 with its key.
#[derive(Debug, Clone)]
struct Cached {
    sub: UserId,
    tid: TenantId,
    jti: TokenId,
    akid: Option<ApiKeyId>,
    exp: i64,
    nbf: i64,
    kind: TokenKind,
    /// Scopes and exchange chain; `None` for a token neither narrowed nor exchanged.
    extra: Option<Arc<Extra>>,
}

/// The rarer claims of a cached token, kept behind one pointer so that the common entry stays
/// small.
#[derive(Debug)]
struct Extra {
    /// Space-separated scopes; `None` when the token is not narrowed.
    scope: Option<Box<str>>,
    /// The exchange chain's first token, whose revocation ends this one.
    root_jti: Option<TokenId>,
    /// The token this one was exchanged for, whose revocation ends this one.
    parent: Option<TokenId>,
}

impl Cached {
    fn new(claims: jeton_core::token::Claims) -> Self {
        let extra =
            (!claims.scope.is_empty() || claims.root_jti.is_some() || claims.parent.is_some())
                .then(|| {
                    Arc::new(Extra {
                        scope: (!claims.scope.is_empty()).then(|| claims.scope.into_boxed_str()),
                        root_jti: claims.root_jti,
                        parent: claims.parent,
                    })
                });
        Self {
            sub: claims.sub,
            tid: claims.tid,
            jti: claims.jti,
            akid: claims.akid,
            exp: claims.exp,
            nbf: claims.nbf,
            kind: claims.kind,
            extra,
        }
    }

    fn scopes(&self) -> Option<Vec<String>> {
        self.extra
            .as_ref()
            .and_then(|extra| extra.scope.as_deref())
            .map(|s| s.split(' ').map(str::to_string).collect())
    }

    /// The tokens whose revocation ends this one: the exchange chain's root and parent.
    fn ancestors(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.extra
            .iter()
            .flat_map(|extra| extra.root_jti.into_iter().chain(extra.parent))
    }
}

/// Hashes a cache key, itself a SHA-256 digest, by taking 8 of its bytes: they are already
/// uniformly distributed, and only tokens whose signature verified are ever inserted, so no
/// caller can crowd a bucket. Spares a SipHash of 32 bytes on every verification.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // A `[u8; 32]` key arrives as its length, then its bytes.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

type Cache = HashMap<[u8; 32], Cached, BuildHasherDefault<DigestHasher>>;

/// What kind of credential a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A token (a JWT) of this kind.
    Token(TokenKind),
    /// A service user's API key.
    ApiKey,
}

impl CredentialKind {
    /// The wire spelling: `session`, `api`, `oauth` or `api_key`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Token(kind) => kind.as_str(),
            CredentialKind::ApiKey => "api_key",
        }
    }
}

/// Who a request acts as, once its credential verified.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The owner of the credential.
    pub principal: Arc<Principal>,
    /// The token used (for an API key: the key's id).
    pub token_id: TokenId,
    /// The kind of credential.
    pub kind: CredentialKind,
    /// Its scopes; `None` when not narrowed.
    pub scopes: Option<Vec<String>>,
    /// Its expiry; `None` for an API key that does not expire.
    pub expires_at: Option<i64>,
    /// For an OAuth token or an API key: the API key behind it.
    pub api_key: Option<jeton_core::ApiKeyId>,
    /// The client's address, for audit records.
    pub client_addr: Option<String>,
    /// For a token issued by token exchange: the first token of its exchange chain.
    pub chain_root: Option<TokenId>,
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
    /// The service user is past its expiry.
    OwnerExpired,
    /// Not an API key of this server: wrong shape or checksum (refused before any lookup).
    MalformedKey,
    /// A well-formed API key that no service user has.
    UnknownKey,
    /// An API key that was replaced by a newer one and whose grace period is over.
    SupersededKey,
    /// An OAuth token whose API key stopped working (rotated, or its owner changed).
    KeyRetired,
}

impl AuthFailure {
    /// Whether the refused credential is one this server knows: it was signed or issued here
    /// (signature or key hash matched) and is refused for what became of it (revoked, expired,
    /// superseded, its owner disabled). Such a refusal is worth its own audit record; one of an
    /// unknown or garbage credential is counted into an aggregated record, so that a flood of
    /// made-up credentials cannot flood the audit log.
    pub fn identifies_credential(self) -> bool {
        match self {
            AuthFailure::Missing
            | AuthFailure::TooLong
            | AuthFailure::MalformedKey
            | AuthFailure::UnknownKey => false,
            AuthFailure::Jwt(rejection) => matches!(
                rejection,
                // Checked only after the signature matched (`KeyRing::verify_at`).
                JwtRejection::Expired
                    | JwtRejection::NotYetValid
                    | JwtRejection::WrongIssuerOrAudience
            ),
            AuthFailure::Revoked
            | AuthFailure::OwnerUnknown
            | AuthFailure::OwnerInactive
            | AuthFailure::TenantMismatch
            | AuthFailure::OwnerExpired
            | AuthFailure::SupersededKey
            | AuthFailure::KeyRetired => true,
        }
    }

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
            AuthFailure::OwnerExpired => "owner_expired",
            AuthFailure::MalformedKey => "malformed_key",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::SupersededKey => "superseded_key",
            AuthFailure::KeyRetired => "key_retired",
        }
    }
}

/// The `kind` label of a verification: `none` without a credential, `token` for a token whose
/// claims could not be read, else the credential's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KindLabel {
    None,
    Token,
    Known(CredentialKind),
}

impl KindLabel {
    const COUNT: usize = 6;

    fn index(self) -> usize {
        match self {
            KindLabel::None => 0,
            KindLabel::Token => 1,
            KindLabel::Known(CredentialKind::Token(TokenKind::Session)) => 2,
            KindLabel::Known(CredentialKind::Token(TokenKind::Api)) => 3,
            KindLabel::Known(CredentialKind::Token(TokenKind::Oauth)) => 4,
            KindLabel::Known(CredentialKind::ApiKey) => 5,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            KindLabel::None => "none",
            KindLabel::Token => "token",
            KindLabel::Known(kind) => kind.as_str(),
        }
    }
}

/// The number of an outcome among [`OUTCOMES`]: 0 for `ok`, then one per refusal reason.
fn outcome_index(failure: Option<AuthFailure>) -> usize {
    let Some(failure) = failure else { return 0 };
    1 + match failure {
        AuthFailure::Missing => 0,
        AuthFailure::TooLong => 1,
        AuthFailure::Jwt(rejection) => {
            2 + match rejection {
                JwtRejection::Malformed => 0,
                JwtRejection::WrongAlgorithm => 1,
                JwtRejection::UnknownKey => 2,
                JwtRejection::BadSignature => 3,
                JwtRejection::Expired => 4,
                JwtRejection::NotYetValid => 5,
                JwtRejection::WrongIssuerOrAudience => 6,
            }
        }
        AuthFailure::Revoked => 9,
        AuthFailure::OwnerUnknown => 10,
        AuthFailure::OwnerInactive => 11,
        AuthFailure::TenantMismatch => 12,
        AuthFailure::OwnerExpired => 13,
        AuthFailure::MalformedKey => 14,
        AuthFailure::UnknownKey => 15,
        AuthFailure::SupersededKey => 16,
        AuthFailure::KeyRetired => 17,
    }
}

/// How many outcomes [`outcome_index`] numbers.
const OUTCOMES: usize = 19;

/// The handles of `jeton_verifications_total{kind,outcome}`, each made on its first use: an
/// array look-up on the hot path instead of the recorder's map of labelled series.
struct OutcomeCounters(Vec<OnceLock<metrics::Counter>>);

impl OutcomeCounters {
    fn new() -> Self {
        Self(
            std::iter::repeat_with(OnceLock::new)
                .take(KindLabel::COUNT * OUTCOMES)
                .collect(),
        )
    }

    fn count(&self, kind: KindLabel, failure: Option<AuthFailure>) {
        let outcome = failure.map_or("ok", AuthFailure::as_str);
        let make = || metrics::counter!(crate::metrics::VERIFICATIONS, "kind" => kind.as_str(), "outcome" => outcome);
        match self.0.get(kind.index() * OUTCOMES + outcome_index(failure)) {
            Some(slot) => slot.get_or_init(make).increment(1),
            // Unreachable while the numbering above is complete (a unit test checks it).
            None => make().increment(1),
        }
    }
}

/// Verifies credentials and remembers their last use.
pub struct Verifier {
    keys: RwLock<Arc<KeyRing>>,
    /// When a key of the ring is next past its time ([`KeyRing::next_expiry`]): one atomic
    /// load on the hot path decides whether the ring must drop it first.
    key_expiry: AtomicI64,
    /// Signing keys this instance saw expire, not yet recorded in the store.
    expired_keys: Mutex<Vec<(String, i64)>>,
    directory: Arc<Directory>,
    cache: RwLock<Cache>,
    last_used: Mutex<HashMap<TokenId, i64>>,
    service_last_used: Mutex<HashMap<ServiceUserId, i64>>,
    key_prefix: String,
    key_hasher: KeyHasher,
    /// Grace periods ended by a first use of a new key, not yet written to the store.
    grace_ended: Mutex<Vec<(ServiceUserId, i64)>>,
    /// True while `grace_ended` holds something: one atomic load on the hot path.
    grace_pending: AtomicBool,
    /// The unlabelled metrics' handles, resolved once rather than at every verification.
    cache_hits: metrics::Counter,
    cache_misses: metrics::Counter,
    duration: metrics::Histogram,
    outcomes: OutcomeCounters,
}

impl Verifier {
    /// A verifier over these signing keys and this directory, recognising API keys that start
    /// with `key_prefix` and hashing them with `key_hasher`.
    pub fn new(
        keys: KeyRing,
        directory: Arc<Directory>,
        key_prefix: &str,
        key_hasher: KeyHasher,
    ) -> Self {
        // Before the handles below are taken: taken without a recorder, they would count nothing.
        crate::metrics::install();
        Self {
            key_expiry: AtomicI64::new(keys.next_expiry()),
            expired_keys: Mutex::new(Vec::new()),
            keys: RwLock::new(Arc::new(keys)),
            directory,
            cache: RwLock::new(Cache::default()),
            last_used: Mutex::new(HashMap::new()),
            service_last_used: Mutex::new(HashMap::new()),
            key_prefix: key_prefix.to_string(),
            key_hasher,
            grace_ended: Mutex::new(Vec::new()),
            grace_pending: AtomicBool::new(false),
            cache_hits: metrics::counter!(crate::metrics::CACHE_HITS),
            cache_misses: metrics::counter!(crate::metrics::CACHE_MISSES),
            duration: metrics::histogram!(crate::metrics::VERIFICATION_DURATION),
            outcomes: OutcomeCounters::new(),
        }
    }

    /// Takes the grace periods that first uses of new keys ended since the last call. The
    /// caller writes them to the store before it answers the request that ended them, so that
    /// no acknowledged end is lost in a crash.
    pub fn take_grace_ends(&self) -> Vec<(ServiceUserId, i64)> {
        if !self.grace_pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut pending = self.grace_ended.lock().expect("lock");
        self.grace_pending.store(false, Ordering::Release);
        std::mem::take(&mut *pending)
    }

    /// Puts back grace ends that could not be written.
    pub fn return_grace_ends(&self, ends: Vec<(ServiceUserId, i64)>) {
        if ends.is_empty() {
            return;
        }
        let mut pending = self.grace_ended.lock().expect("lock");
        pending.extend(ends);
        self.grace_pending.store(true, Ordering::Release);
    }

    /// The prefix of API keys.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The keyed hash of an API key, as stored.
    pub fn hash_key(&self, key: &str) -> String {
        self.key_hasher.hash(key)
    }

    /// The current key ring.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().expect("lock").clone()
    }

    /// The key ring as it stands at `now`: without the keys past their time (see
    /// [`Verifier::expire_keys`]). What the JWKS publishes.
    pub fn keys_at(&self, now: i64) -> Arc<KeyRing> {
        self.expire_keys(now);
        self.keys()
    }

    /// Replaces the key ring (after a rotation, a revocation, an expiry) and forgets every
    /// cached verification: a token whose key left the ring must not be answered from memory.
    /// Cached tokens of the keys that stay are verified again on their next use, once.
    pub fn set_keys(&self, keys: KeyRing) {
        // The cache's lock first, as in `claims`: no verification made with the old ring can
        // be cached after this.
        let mut cache = self.cache.write().expect("lock");
        let mut ring = self.keys.write().expect("lock");
        self.key_expiry.store(keys.next_expiry(), Ordering::Release);
        *ring = Arc::new(keys);
        *cache = Cache::default();
    }

    /// Drops from the ring the keys past their time at `now` (a no-op, one atomic load, until
    /// the first of them is), and remembers them for [`Verifier::take_expired_keys`], so that
    /// the store records them and a clock moved back later does not bring them back.
    pub fn expire_keys(&self, now: i64) {
        if now < self.key_expiry.load(Ordering::Acquire) {
            return;
        }
        let ring = self.keys();
        if now < ring.next_expiry() {
            return;
        }
        match ring.without_expired(now) {
            Ok((kept, dropped)) => {
                let mut cache = self.cache.write().expect("lock");
                let mut current = self.keys.write().expect("lock");
                // Another thread replaced the ring meanwhile: it did this work, or reloaded.
                if !Arc::ptr_eq(&current, &ring) {
                    return;
                }
                self.key_expiry.store(kept.next_expiry(), Ordering::Release);
                *current = Arc::new(kept);
                *cache = Cache::default();
                drop((cache, current));
                for kid in &dropped {
                    tracing::info!(kid = %kid, "signing key expired: no token it signed can be live");
                }
                self.expired_keys
                    .lock()
                    .expect("lock")
                    .extend(dropped.into_iter().map(|kid| (kid, now)));
            }
            Err(err) => tracing::error!(error = %err, "could not drop expired signing keys"),
        }
    }

    /// Takes the signing keys seen expired since the last call, with when, for the store.
    pub fn take_expired_keys(&self) -> Vec<(String, i64)> {
        std::mem::take(&mut *self.expired_keys.lock().expect("lock"))
    }

    /// Puts back expiries that could not be recorded.
    pub fn return_expired_keys(&self, keys: Vec<(String, i64)>) {
        self.expired_keys.lock().expect("lock").extend(keys);
    }

    fn claims(&self, token: &str, now: i64) -> Result<Cached, AuthFailure> {
        self.expire_keys(now);
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self.cache.read().expect("lock").get(&digest).cloned();
        if let Some(claims) = cached {
            self.cache_hits.increment(1);
            // The same time rules as a first verification, at the same clock.
            crate::keys::check_window(claims.exp, claims.nbf, now).map_err(AuthFailure::Jwt)?;
            return Ok(claims);
        }
        self.cache_misses.increment(1);
        let ring = self.keys();
        let claims = Cached::new(ring.verify_at(token, now).map_err(AuthFailure::Jwt)?);
        let mut cache = self.cache.write().expect("lock");
        if !Arc::ptr_eq(&ring, &self.keys.read().expect("lock")) {
            // The ring changed while this token was checked (a key revoked or expired): the
            // answer stands for this request, but is not remembered.
            return Ok(claims);
        }
        if cache.len() >= CACHE_CAPACITY {
            // Dropping the table, not just its entries, gives its memory back.
            *cache = Cache::default();
        }
        cache.insert(digest, claims.clone());
        Ok(claims)
    }

    /// Verifies a credential: an API key when it starts with the key prefix, a token otherwise.
    ///
    /// A token must pass its signature and `kid`, `exp`/`nbf`, issuer and audience, not be
    /// revoked or deleted, and have its owner present, active and unexpired in the token's
    /// tenant; an OAuth token of a service user also needs the API key it was issued with to
    /// still work. An API key must have a valid checksum (checked before any lookup), be known,
    /// not be superseded past its grace period, and have its owner usable.
    ///
    /// Every call counts in `jeton_verifications_total{kind,outcome}` and
    /// `jeton_verification_duration_seconds`.
    pub fn verify(&self, credential: &str, now: i64) -> Result<Actor, AuthFailure> {
        // quanta reads the CPU's time-stamp counter: a few ns where `std::time::Instant`
        // costs tens (two reads per verification).
        let started = quanta::Instant::now();
        // Until a token's claims are read, its kind is unknown: `token`.
        let mut kind = if credential.is_empty() {
            KindLabel::None
        } else if credential.starts_with(self.key_prefix.as_str()) {
            KindLabel::Known(CredentialKind::ApiKey)
        } else {
            KindLabel::Token
        };
        let result = self.verify_credential(credential, now, &mut kind);
        self.outcomes.count(kind, result.as_ref().err().copied());
        self.duration.record(started.elapsed().as_secs_f64());
        result
    }

    /// [`Verifier::verify`] without the metrics; sets `kind` to the token's kind once known.
    fn verify_credential(
        &self,
        credential: &str,
        now: i64,
        kind: &mut KindLabel,
    ) -> Result<Actor, AuthFailure> {
        if credential.is_empty() {
            return Err(AuthFailure::Missing);
        }
        if credential.len() > MAX_CREDENTIAL_LEN {
            return Err(AuthFailure::TooLong);
        }
        if credential.starts_with(self.key_prefix.as_str()) {
            return self.verify_api_key(credential, now);
        }
        let claims = self.claims(credential, now)?;
        *kind = KindLabel::Known(CredentialKind::Token(claims.kind));
        // A token exchanged from a revoked token is revoked with it: its chain's root and parent
        // are read from the claims and checked here, from memory. (Revoking a token in the
        // middle of a chain also records revocations of its recorded descendants: see
        // `Service::revoke_descendants`.)
        if self.directory.is_revoked(claims.jti)
            || claims.ancestors().any(|id| self.directory.is_revoked(id))
        {
            return Err(AuthFailure::Revoked);
        }
        let principal = self.usable_principal(claims.sub, now)?;
        if principal.tenant_id != claims.tid {
            return Err(AuthFailure::TenantMismatch);
        }
        if let Some(owner) = principal.service_user_id() {
            // A service user's tokens live exactly as long as the key they came from.
            let key = claims.akid.ok_or(AuthFailure::KeyRetired)?;
            if !self.directory.key_works(key, now) {
                return Err(AuthFailure::KeyRetired);
            }
            self.note_service_use(owner, now);
        } else {
            self.note_use(claims.jti, now);
        }
        Ok(Actor {
            principal,
            token_id: claims.jti,
            kind: CredentialKind::Token(claims.kind),
            scopes: claims.scopes(),
            expires_at: Some(claims.exp),
            api_key: claims.akid,
            client_addr: None,
            chain_root: claims.extra.as_ref().and_then(|extra| extra.root_jti),
        })
    }

    fn usable_principal(
        &self,
        id: jeton_core::UserId,
        now: i64,
    ) -> Result<Arc<Principal>, AuthFailure> {
        let principal = self.directory.user(id).ok_or(AuthFailure::OwnerUnknown)?;
        if !principal.active {
            return Err(AuthFailure::OwnerInactive);
        }
        if !principal.usable_at(now) {
            return Err(AuthFailure::OwnerExpired);
        }
        if !self.directory.tenant_exists(principal.tenant_id) {
            return Err(AuthFailure::TenantMismatch);
        }
        Ok(principal)
    }

    /// Verifies an API key: checksum first (no lookup for a malformed key), then one keyed hash
    /// and one map look-up.
    fn verify_api_key(&self, key: &str, now: i64) -> Result<Actor, AuthFailure> {
        apikey::check_format(&self.key_prefix, key).map_err(|_| AuthFailure::MalformedKey)?;
        let hash = self.key_hasher.hash(key);
        let entry = self
            .directory
            .key_by_hash(&hash)
            .ok_or(AuthFailure::UnknownKey)?;
        if !apikey::hashes_equal(&entry.key_hash, &hash) {
            return Err(AuthFailure::UnknownKey);
        }
        if !entry.works_at(now) {
            return Err(if entry.superseded_at.is_some() {
                AuthFailure::SupersededKey
            } else {
                AuthFailure::Revoked
            });
        }
        let principal = self.usable_principal(entry.service_user_id.into(), now)?;
        if entry.superseded_at.is_none() && self.directory.end_grace(entry.service_user_id, now) {
            self.grace_ended
                .lock()
                .expect("lock")
                .push((entry.service_user_id, now));
            self.grace_pending.store(true, Ordering::Release);
        }
        self.note_service_use(entry.service_user_id, now);
        Ok(Actor {
            scopes: principal.allowed_scopes.clone(),
            expires_at: principal.expires_at,
            principal,
            token_id: TokenId(entry.id.0),
            kind: CredentialKind::ApiKey,
            api_key: Some(entry.id),
            client_addr: None,
            chain_root: None,
        })
    }

    fn note_service_use(&self, owner: ServiceUserId, now: i64) {
        let mut pending = self.service_last_used.lock().expect("lock");
        let entry = pending.entry(owner).or_insert(now);
        if *entry < now {
            *entry = now;
        }
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
        self.flush_token_uses(store).await;
        let batch: Vec<(ServiceUserId, i64)> = {
            let mut pending = self.service_last_used.lock().expect("lock");
            pending.drain().collect()
        };
        if batch.is_empty() {
            return;
        }
        if let Err(err) = store.touch_service_users(&batch).await {
            tracing::warn!(error = %err, count = batch.len(), "could not record service users' last-use times; will retry");
            let mut pending = self.service_last_used.lock().expect("lock");
            for (owner, at) in batch {
                let entry = pending.entry(owner).or_insert(at);
                if *entry < at {
                    *entry = at;
                }
            }
        }
    }

    async fn flush_token_uses(&self, store: &dyn Store) {
        // Taken, not drained: a burst of distinct tokens leaves no large empty map behind.
        let batch: Vec<(TokenId, i64)> = {
            let mut pending = self.last_used.lock().expect("lock");
            std::mem::take(&mut *pending).into_iter().collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_outcome_has_its_own_counter_slot() {
        let kinds = [
            KindLabel::None,
            KindLabel::Token,
            KindLabel::Known(CredentialKind::Token(TokenKind::Session)),
            KindLabel::Known(CredentialKind::Token(TokenKind::Api)),
            KindLabel::Known(CredentialKind::Token(TokenKind::Oauth)),
            KindLabel::Known(CredentialKind::ApiKey),
        ];
        let kind_indices: std::collections::BTreeSet<usize> =
            kinds.iter().map(|k| k.index()).collect();
        assert_eq!(kind_indices, (0..KindLabel::COUNT).collect());

        let rejections = [
            JwtRejection::Malformed,
            JwtRejection::WrongAlgorithm,
            JwtRejection::UnknownKey,
            JwtRejection::BadSignature,
            JwtRejection::Expired,
            JwtRejection::NotYetValid,
            JwtRejection::WrongIssuerOrAudience,
        ];
        let mut outcomes = vec![None];
        outcomes.extend(rejections.map(|r| Some(AuthFailure::Jwt(r))));
        outcomes.extend(
            [
                AuthFailure::Missing,
                AuthFailure::TooLong,
                AuthFailure::Revoked,
                AuthFailure::OwnerUnknown,
                AuthFailure::OwnerInactive,
                AuthFailure::TenantMismatch,
                AuthFailure::OwnerExpired,
                AuthFailure::MalformedKey,
                AuthFailure::UnknownKey,
                AuthFailure::SupersededKey,
                AuthFailure::KeyRetired,
            ]
            .map(Some),
        );
        let indices: std::collections::BTreeSet<usize> =
            outcomes.iter().map(|o| outcome_index(*o)).collect();
        assert_eq!(indices, (0..OUTCOMES).collect());
    }

    #[test]
    fn a_cache_entry_is_compact() {
        // BENCHMARKS.md's memory per cached token rests on this size: 32-byte key + entry.
        assert!(std::mem::size_of::<Cached>() <= 104);
    }

    #[test]
    fn a_cache_entry_keeps_what_verification_needs() {
        let claims = jeton_core::token::Claims {
            iss: "http://issuer".into(),
            aud: "jeton".into(),
            sub: UserId(uuid::Uuid::new_v4()),
            tid: TenantId(uuid::Uuid::new_v4()),
            jti: TokenId(uuid::Uuid::new_v4()),
            kind: TokenKind::Oauth,
            scope: "catalog catalog:read".into(),
            iat: 10,
            nbf: 10,
            exp: 100,
            akid: Some(ApiKeyId(uuid::Uuid::new_v4())),
            root_jti: None,
            parent: None,
        };
        let cached = Cached::new(claims.clone());
        assert_eq!(
            (cached.sub, cached.tid, cached.jti, cached.akid, cached.kind),
            (claims.sub, claims.tid, claims.jti, claims.akid, claims.kind)
        );
        assert_eq!((cached.exp, cached.nbf), (claims.exp, claims.nbf));
        assert_eq!(cached.scopes(), claims.scopes());
        assert_eq!(cached.ancestors().count(), 0);
        let exchanged_claims = jeton_core::token::Claims {
            root_jti: Some(TokenId(uuid::Uuid::new_v4())),
            parent: Some(TokenId(uuid::Uuid::new_v4())),
            ..claims.clone()
        };
        let exchanged = Cached::new(exchanged_claims.clone());
        assert_eq!(
            exchanged.ancestors().collect::<Vec<_>>(),
            exchanged_claims.ancestors().collect::<Vec<_>>()
        );
        assert_eq!(exchanged.ancestors().count(), 2);
        assert_eq!(exchanged.scopes(), claims.scopes());
        let unscoped = Cached::new(jeton_core::token::Claims {
            scope: String::new(),
            ..claims
        });
        assert_eq!(unscoped.scopes(), None);
    }

    #[test]
    fn digest_keys_spread_over_the_table() {
        let mut cache = Cache::default();
        for i in 0..10_000u32 {
            let digest: [u8; 32] = Sha256::digest(i.to_le_bytes()).into();
            cache.insert(digest, Cached::new(sample(i)));
        }
        for i in 0..10_000u32 {
            let digest: [u8; 32] = Sha256::digest(i.to_le_bytes()).into();
            assert_eq!(cache.get(&digest).map(|c| c.exp), Some(i64::from(i)));
        }
    }

    fn sample(exp: u32) -> jeton_core::token::Claims {
        jeton_core::token::Claims {
            iss: String::new(),
            aud: String::new(),
            sub: UserId(uuid::Uuid::nil()),
            tid: TenantId(uuid::Uuid::nil()),
            jti: TokenId(uuid::Uuid::nil()),
            kind: TokenKind::Api,
            scope: String::new(),
            iat: 0,
            nbf: 0,
            exp: i64::from(exp),
            akid: None,
            root_jti: None,
            parent: None,
        }
    }
}
