//! The service layer: every operation of Jeton, with its permission checks, policy rules and
//! audit records, written once. The HTTP API and the command language both call these methods;
//! neither has rules of its own.

mod identity;
pub mod keys;
pub mod oauth;
mod service_users;
mod tokens;

use std::sync::Arc;

use jeton_core::access::Decision;
use jeton_core::{Lifetime, UserId};
use jeton_store::{Store, UserRecord};

use crate::audit::AuditLog;
use crate::config::Config;
use crate::directory::Directory;
use crate::error::{ApiError, ApiResult};
use crate::throttle::Throttle;
use crate::verify::{Actor, Verifier};

pub use identity::{CreateUserInput, UpdateUserInput};
pub use service_users::{CreateServiceUserInput, ServiceUserWithKey, UpdateServiceUserInput};
pub use tokens::{CreateTokenInput, ListTokensInput, TokenPage};

/// Default and largest page sizes of list operations.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page size a client may ask for.
pub const MAX_PAGE: u32 = 500;

/// The source of the current time (Unix seconds), injectable for tests.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix seconds.
    fn now(&self) -> i64;
    /// Now, in Unix milliseconds.
    fn now_millis(&self) -> u64 {
        u64::try_from(self.now()).unwrap_or(0) * 1000
    }
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
    fn now_millis(&self) -> u64 {
        u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
            .unwrap_or(0)
    }
}

/// Jeton's operations.
pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<Config>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) audit: AuditLog,
    pub(crate) throttle: Throttle,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) feed: Arc<crate::feed::Feed>,
    /// Seals new signing keys and opens stored ones.
    pub(crate) master: Arc<crate::master_key::MasterKey>,
    /// Held while a user or service user is written (changed or deleted) together with its
    /// copy in the directory, so that the directory applies racing writes of one principal in
    /// the order the database did.
    pub(crate) principal_writes: tokio::sync::Mutex<()>,
}

impl Service {
    /// Assembles the service.
    pub fn new(
        store: Arc<dyn Store>,
        config: Arc<Config>,
        directory: Arc<Directory>,
        verifier: Arc<Verifier>,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        master: Arc<crate::master_key::MasterKey>,
    ) -> Self {
        let throttle = Throttle::new(
            config.login_attempts,
            i64::try_from(config.login_window.as_secs()).unwrap_or(60),
        );
        let feed = Arc::new(crate::feed::Feed::new(config.change_poll_interval));
        Self {
            store,
            config,
            directory,
            verifier,
            audit,
            throttle,
            clock,
            feed,
            master,
            principal_writes: tokio::sync::Mutex::new(()),
        }
    }

    /// The change feed this instance follows.
    pub fn feed(&self) -> &Arc<crate::feed::Feed> {
        &self.feed
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The verifier.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The directory.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Deletes the audit events older than `--audit-retention` (what the hourly maintenance
    /// runs); answers how many were deleted.
    pub async fn prune_audit(&self) -> Result<u64, jeton_store::StoreError> {
        let retention = i64::try_from(self.config.audit_retention.as_secs()).unwrap_or(i64::MAX);
        crate::audit::prune(self.store.as_ref(), self.now().saturating_sub(retention)).await
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    fn random<const N: usize>() -> [u8; N] {
        let mut bytes = [0u8; N];
        rand::fill(&mut bytes);
        bytes
    }

    fn new_id<T>(&self, make: fn(u64, [u8; 10]) -> T) -> T {
        make(self.clock.now_millis(), Self::random())
    }

    /// Finds a user by id or username, as `actor` may see it: a user of another tenant is
    /// reported exactly like a missing one.
    pub(crate) async fn find_user(&self, actor: &Actor, reference: &str) -> ApiResult<UserRecord> {
        let found = match reference.parse::<UserId>() {
            Ok(id) => self.store.get_user(id).await?,
            Err(_) => self.store.get_user_by_name(reference).await?,
        };
        match found {
            Some(user) if actor.subject().sees_tenant(user.tenant_id) => Ok(user),
            _ => Err(ApiError::NotFound(format!(
                "user '{}' not found",
                clip(reference)
            ))),
        }
    }

    /// The user an operation targets: the actor itself when `reference` is absent or names the
    /// actor; another user only for administrators (403 for others, before any lookup, so a
    /// non-administrator learns nothing about who exists).
    pub(crate) async fn target_user(
        &self,
        actor: &Actor,
        reference: Option<&str>,
    ) -> ApiResult<UserRecord> {
        let me = &actor.principal;
        let names_me =
            |r: &str| r == me.username || r.parse::<UserId>().is_ok_and(|id| id == me.id);
        match reference {
            None => self.own_record(actor).await,
            Some(r) if names_me(r) => self.own_record(actor).await,
            Some(r) => {
                if !actor
                    .subject()
                    .administer(me.tenant_id)
                    .eq(&Decision::Allow)
                {
                    return Err(ApiError::Forbidden(
                        "insufficient permissions: only administrators may act for other users"
                            .to_string(),
                    ));
                }
                let user = self.find_user(actor, r).await?;
                require(
                    actor.subject().administer(user.tenant_id),
                    "user",
                    "manage this user",
                )?;
                if !actor.principal.access.at_least(user.access_level) {
                    return Err(ApiError::forbidden(
                        "the user's access level is above your own",
                    ));
                }
                Ok(user)
            }
        }
    }

    async fn own_record(&self, actor: &Actor) -> ApiResult<UserRecord> {
        if actor.principal.is_service() {
            return Err(ApiError::forbidden(
                "service users do not own API tokens; they authenticate with their API key or OAuth2 client credentials (name a user with for_user to act for one)",
            ));
        }
        self.store
            .get_user(actor.principal.id)
            .await?
            .ok_or_else(ApiError::unauthenticated)
    }

    /// The API-token max durations that apply to a user, for policy decisions.
    pub(crate) async fn limits_of(
        &self,
        user: &UserRecord,
    ) -> ApiResult<(Option<Lifetime>, Vec<(String, Lifetime)>)> {
        let roles = self.store.roles_of_user(user.id).await?;
        let user_limit = user.token_max_secs.and_then(secs_to_lifetime);
        let role_limits = roles
            .into_iter()
            .filter_map(|r| {
                r.token_max_secs
                    .and_then(secs_to_lifetime)
                    .map(|l| (r.name, l))
            })
            .collect();
        Ok((user_limit, role_limits))
    }
}

/// Turns a permission decision into the error a client sees.
pub(crate) fn require(decision: Decision, what: &str, action: &str) -> ApiResult<()> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Forbidden => Err(ApiError::forbidden(action)),
        Decision::NotFound => Err(ApiError::not_found(what)),
    }
}

/// Parses a cursor or page size.
pub(crate) fn page_limit(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit {n} is out of range: use 1 to {MAX_PAGE}"
        ))),
    }
}

/// Cuts a page fetched with `limit + 1` rows down to `limit`, and returns the cursor of the
/// next page when there is one.
pub(crate) fn next_cursor<T>(
    items: &mut Vec<T>,
    limit: u32,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(cursor)
    } else {
        None
    }
}

pub(crate) fn secs_to_lifetime(secs: i64) -> Option<Lifetime> {
    u64::try_from(secs)
        .ok()
        .filter(|s| *s > 0)
        .map(Lifetime::from_secs)
}

/// What is shown or recorded instead of a credential typed where a name, an id or a path goes.
pub(crate) const HIDDEN: &str = "***";

/// True when `text` has the shape of a credential: a JWT (`eyJ`, then a `.`), or an API key,
/// well-formed or mistyped and whatever the configured prefix (letters, digits and `_`, ending in
/// at least the 43 letters and digits of a key's body). Such a text, typed by mistake where a
/// name or id goes (`client_id`, a username, a URL), is never quoted back in a message nor
/// written to the audit log: it is most likely a working secret. Ids (UUIDs) never have this
/// shape, and names only if they end in 43 letters or digits in a row.
pub(crate) fn looks_like_credential(text: &str) -> bool {
    let text = text.trim();
    if text.starts_with("eyJ") && text.contains('.') {
        return true;
    }
    let tail = text
        .bytes()
        .rev()
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    tail >= jeton_core::apikey::BODY_LEN
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Shortens user input quoted back in messages, and hides a credential typed in its place.
pub(crate) fn clip(text: &str) -> String {
    if looks_like_credential(text) {
        return HIDDEN.to_string();
    }
    text.chars().take(64).collect()
}

/// Formats a Unix time as RFC 3339.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// Parses an RFC 3339 time, or a duration back from `now` (`1h` = an hour ago).
pub fn parse_time(text: &str, now: i64) -> ApiResult<i64> {
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return Ok(t.unix_timestamp());
    }
    match Lifetime::parse(text) {
        Ok(ago) => Ok(now - ago.as_secs_i64()),
        Err(_) => Err(ApiError::BadRequest(format!(
            "invalid time '{}': use RFC 3339 (2026-01-31T12:00:00Z) or a duration ago such as '1h' or '7d'",
            clip(text)
        ))),
    }
}
