//! Writing audit events: security-relevant changes are written before the answer is sent;
//! high-volume events (refused credentials, failed logins) go through a bounded queue that a
//! background task writes in batches, so a flood of bad requests cannot stall the database.
//!
//! Three rules keep the log whole and its size bounded:
//! - a batch the database refuses is written again event by event, so that one bad event
//!   loses only itself (counted in `jeton_audit_events_dropped_total`), never its batch;
//! - refusals of unknown or garbage credentials (nothing this server issued) are counted in
//!   memory per (action, reason, client address, minute) and written as one record with a
//!   `count` once the minute is over, so that a million made-up tokens make a handful of rows;
//!   a refusal of a known credential (revoked, expired, superseded) keeps its own record;
//! - events older than `--audit-retention` are deleted every hour ([`prune`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use jeton_core::{TenantId, UserId};
use jeton_store::{AuditRecord, Store, StoreError};
use tokio::sync::mpsc;

use crate::metrics::{AUDIT_AGGREGATED, AUDIT_DROPPED, AUDIT_PRUNED, AUDIT_WRITE_FAILURES};
use crate::service::{Clock, HIDDEN, looks_like_credential};
use crate::verify::{Actor, AuthFailure};

/// Most events waiting in the queue; beyond this, queued events are dropped and counted.
const QUEUE_CAPACITY: usize = 10_000;
/// Most events written in one transaction by the background task.
const BATCH: usize = 500;

/// A builder for one audit event.
#[derive(Debug, Clone)]
pub struct Event(AuditRecord);

impl Event {
    /// An event with this dotted action (`token.create`), `success` by default.
    pub fn new(action: &str, now: i64) -> Self {
        Self(AuditRecord {
            id: 0,
            at: now,
            tenant_id: None,
            actor_id: None,
            actor_name: None,
            action: action.to_string(),
            target_type: None,
            target_id: None,
            target_name: None,
            outcome: "success".to_string(),
            client_addr: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        })
    }

    /// Who acted.
    pub fn actor(mut self, actor: &Actor) -> Self {
        self.0.actor_id = Some(actor.principal.id);
        self.0.actor_name = Some(actor.principal.username.clone());
        self.0.tenant_id.get_or_insert(actor.principal.tenant_id);
        self.0.client_addr = actor.client_addr.clone();
        self
    }

    /// Who acted, given piecewise (logins, before an actor exists). A name typed there that is
    /// a credential (an API key sent as the username or the `client_id`) is not written.
    pub fn actor_parts(mut self, id: Option<UserId>, name: &str, addr: Option<&str>) -> Self {
        self.0.actor_id = id;
        self.0.actor_name = Some(if looks_like_credential(name) {
            HIDDEN.to_string()
        } else {
            name.chars().take(128).collect()
        });
        self.0.client_addr = addr.map(str::to_string);
        self
    }

    /// The tenant the event concerns (defaults to the actor's).
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.0.tenant_id = Some(tenant);
        self
    }

    /// The object acted on.
    pub fn target(mut self, kind: &str, id: impl ToString, name: &str) -> Self {
        self.0.target_type = Some(kind.to_string());
        self.0.target_id = Some(id.to_string());
        self.0.target_name = Some(name.to_string());
        self
    }

    /// `failure` or `denied` instead of `success`.
    pub fn outcome(mut self, outcome: &str) -> Self {
        self.0.outcome = outcome.to_string();
        self
    }

    /// Adds a detail (never a secret).
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.0.details {
            map.insert(key.to_string(), value.into());
        }
        self
    }
}

/// A request path as an audit detail: at most 256 characters, and a segment that is a credential
/// (a token or key pasted into the URL) replaced by `***`.
pub fn path_detail(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if looks_like_credential(segment) {
                HIDDEN
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
        .chars()
        .take(256)
        .collect()
}

/// How many times (one second apart) the writer tries a batch while the database is
/// unreachable: an hour.
const MAX_RETRIES: u32 = 3600;

/// Most (action, reason, address, minute) counters held at once. Past it, refusals from new
/// addresses share one counter whose address is [`MANY_ADDRESSES`], so that a flood from
/// countless addresses cannot fill the memory.
const MAX_DENIAL_KEYS: usize = 10_000;

/// The client address of the counter that takes refusals once 10,000 counters are held.
pub const MANY_ADDRESSES: &str = "(many)";

/// How often the writer looks for aggregated refusals whose minute is over.
const DENIAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// Seconds after which another "audit queue full" warning may be logged.
const WARN_EVERY_SECS: i64 = 60;

/// What refusals of unknown credentials are counted by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DenialKey {
    action: &'static str,
    reason: &'static str,
    client_addr: Option<String>,
    /// Unix time divided by 60.
    minute: i64,
}

/// The count of one [`DenialKey`] so far.
#[derive(Debug, Clone)]
struct DenialCount {
    count: u64,
    first_at: i64,
    last_at: i64,
    /// The request path of the first refusal (see [`path_detail`]), as an example.
    path: String,
}

/// Refusals of unknown credentials counted but not yet written.
#[derive(Debug, Default)]
struct Denials(HashMap<DenialKey, DenialCount>);

impl Denials {
    fn add(&mut self, mut key: DenialKey, at: i64, path: &str) {
        if self.0.len() >= MAX_DENIAL_KEYS && !self.0.contains_key(&key) {
            key.client_addr = Some(MANY_ADDRESSES.to_string());
        }
        let entry = self.0.entry(key).or_insert_with(|| DenialCount {
            count: 0,
            first_at: at,
            last_at: at,
            path: path_detail(path),
        });
        entry.count += 1;
        entry.first_at = entry.first_at.min(at);
        entry.last_at = entry.last_at.max(at);
    }

    /// Takes the counters of minutes before `now`'s (all of them with `None`), as records.
    fn take(&mut self, now: Option<i64>) -> Vec<AuditRecord> {
        let current = now.map(|now| now.div_euclid(60));
        let done: Vec<DenialKey> = self
            .0
            .keys()
            .filter(|key| current.is_none_or(|current| key.minute < current))
            .cloned()
            .collect();
        done.into_iter()
            .filter_map(|key| self.0.remove_entry(&key))
            .map(|(key, count)| {
                Event::new(key.action, count.first_at)
                    .actor_parts(None, "(anonymous)", key.client_addr.as_deref())
                    .outcome("failure")
                    .detail("reason", key.reason)
                    .detail("count", count.count)
                    .detail("last_at", count.last_at)
                    .detail("path", count.path)
                    .0
            })
            .collect()
    }
}

/// The audit log.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
    queue: mpsc::Sender<AuditRecord>,
    denials: Arc<Mutex<Denials>>,
    /// When the last "queue full" warning was logged (Unix seconds).
    warned_at: Arc<AtomicI64>,
    clock: Arc<dyn Clock>,
}

impl AuditLog {
    /// An audit log writing to `store`, with its background writer task started; `clock`
    /// tells it when a minute of aggregated refusals is over.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::channel::<AuditRecord>(QUEUE_CAPACITY);
        let denials = Arc::new(Mutex::new(Denials::default()));
        let task = tokio::spawn(write_queued(
            store.clone(),
            rx,
            denials.clone(),
            clock.clone(),
        ));
        let log = Self {
            store,
            queue,
            denials,
            warned_at: Arc::new(AtomicI64::new(i64::MIN)),
            clock,
        };
        (log, task)
    }

    /// Writes an event now, before the caller answers. A failure is logged and counted, not
    /// returned: the change it records has already happened.
    pub async fn write(&self, event: Event) {
        if let Err(err) = self
            .store
            .append_audit(std::slice::from_ref(&event.0))
            .await
        {
            metrics::counter!(AUDIT_WRITE_FAILURES).increment(1);
            let reason = if matches!(err, StoreError::Unavailable(_)) {
                "unavailable"
            } else {
                "refused"
            };
            metrics::counter!(AUDIT_DROPPED, "reason" => reason).increment(1);
            tracing::error!(error = %err, action = %event.0.action, "could not write audit event");
        }
    }

    /// Queues a high-volume event for the background writer. When the queue is full the event
    /// is dropped and counted; a warning is logged at most once a minute.
    pub fn queue(&self, event: Event) {
        if self.queue.try_send(event.0).is_err() {
            metrics::counter!(AUDIT_DROPPED, "reason" => "queue_full").increment(1);
            let now = self.clock.now();
            let last = self.warned_at.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= WARN_EVERY_SECS
                && self
                    .warned_at
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    "audit queue full; dropping high-volume audit events (counted in {AUDIT_DROPPED})"
                );
            }
        }
    }

    /// Records a refused credential: its own event when this server knows the credential
    /// ([`AuthFailure::identifies_credential`]), else one more in the count of its (reason,
    /// client address, minute). A superseded key in use gets `api_key.superseded_used`:
    /// someone still holds it.
    pub fn refused_credential(
        &self,
        failure: AuthFailure,
        client_addr: Option<&str>,
        path: &str,
        now: i64,
    ) {
        if failure.identifies_credential() {
            let action = if failure == AuthFailure::SupersededKey {
                "api_key.superseded_used"
            } else {
                "auth.denied"
            };
            self.queue(
                Event::new(action, now)
                    .actor_parts(None, "(anonymous)", client_addr)
                    .outcome("failure")
                    .detail("reason", failure.as_str())
                    .detail("path", path_detail(path)),
            );
            return;
        }
        metrics::counter!(AUDIT_AGGREGATED).increment(1);
        let key = DenialKey {
            action: "auth.denied",
            reason: failure.as_str(),
            client_addr: client_addr.map(str::to_string),
            minute: now.div_euclid(60),
        };
        // A poisoned lock only means another thread panicked while counting; the counts are
        // still usable.
        let mut denials = self.denials.lock().unwrap_or_else(|e| e.into_inner());
        denials.add(key, now, path);
    }
}

/// The background writer: writes queued events in batches, and aggregated refusals once their
/// minute is over (all of them when the log is dropped).
async fn write_queued(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<AuditRecord>,
    denials: Arc<Mutex<Denials>>,
    clock: Arc<dyn Clock>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(DENIAL_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let open = tokio::select! {
            received = rx.recv_many(&mut batch, BATCH) => received > 0,
            _ = tick.tick() => true,
        };
        let now = open.then(|| clock.now());
        batch.extend(denials.lock().unwrap_or_else(|e| e.into_inner()).take(now));
        for chunk in batch.chunks(BATCH) {
            write_batch(store.as_ref(), chunk, || rx.is_closed()).await;
        }
        batch.clear();
        if !open {
            return;
        }
    }
}

/// Writes one batch. While the database is unreachable the batch is kept and tried again
/// every second (meanwhile new events wait in the bounded queue); a batch the database refuses
/// is written event by event, so that only the events it refuses are lost.
async fn write_batch(store: &dyn Store, batch: &[AuditRecord], closed: impl Fn() -> bool) {
    if batch.is_empty() {
        return;
    }
    let mut failures = 0u32;
    loop {
        let Err(err) = store.append_audit(batch).await else {
            return;
        };
        metrics::counter!(AUDIT_WRITE_FAILURES).increment(1);
        failures += 1;
        if !matches!(err, StoreError::Unavailable(_)) {
            tracing::warn!(error = %err, count = batch.len(), "the database refused a batch of audit events; writing them one by one");
            break;
        }
        if closed() || failures >= MAX_RETRIES {
            metrics::counter!(AUDIT_DROPPED, "reason" => "unavailable")
                .increment(u64::try_from(batch.len()).unwrap_or(u64::MAX));
            tracing::error!(error = %err, count = batch.len(), "could not write audit events");
            return;
        }
        if failures == 1 {
            tracing::warn!(error = %err, count = batch.len(), "cannot write audit events yet; retrying every second");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    for event in batch {
        let mut failures = 0u32;
        while let Err(err) = store.append_audit(std::slice::from_ref(event)).await {
            metrics::counter!(AUDIT_WRITE_FAILURES).increment(1);
            failures += 1;
            let unavailable = matches!(err, StoreError::Unavailable(_));
            if unavailable && !closed() && failures < MAX_RETRIES {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            let reason = if unavailable {
                "unavailable"
            } else {
                "refused"
            };
            metrics::counter!(AUDIT_DROPPED, "reason" => reason).increment(1);
            tracing::error!(error = %err, action = %event.action, "the database refused an audit event; dropped it");
            break;
        }
    }
}

/// Most audit events deleted in one statement by [`prune`].
const PRUNE_BATCH: u32 = 10_000;

/// Deletes the audit events recorded before `before` (Unix seconds), 10,000 at a
/// time so that no statement holds the table for long; answers how many were deleted.
pub async fn prune(store: &dyn Store, before: i64) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let deleted = store.prune_audit(before, PRUNE_BATCH).await?;
        total += deleted;
        metrics::counter!(AUDIT_PRUNED).increment(deleted);
        if deleted < u64::from(PRUNE_BATCH) {
            return Ok(total);
        }
        // Lets other work at the database between batches.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "jsk_qGR4EbcEPY7tIwaSv2hrIIKEIVi4IKlmczaUG7mpZkq0eJmFo";
    const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

    #[test]
    fn denials_are_counted_per_reason_address_and_minute_within_bounds() {
        let key = |reason, addr: &str, minute| DenialKey {
            action: "auth.denied",
            reason,
            client_addr: Some(addr.to_string()),
            minute,
        };
        let mut denials = Denials::default();
        for n in 0..100 {
            denials.add(
                key("malformed", "192.0.2.1", 10),
                600 + n % 60,
                "/api/v1/me",
            );
        }
        denials.add(key("bad_signature", "192.0.2.1", 10), 601, "/api/v1/me");
        denials.add(key("malformed", "192.0.2.1", 11), 660, "/api/v1/me");
        // The minute of `now` is not over: only minute 10 is taken.
        let mut taken = denials.take(Some(665));
        taken.sort_by_key(|record| record.details["reason"].as_str().map(str::to_string));
        let counts: Vec<(String, u64, i64)> = taken
            .iter()
            .map(|record| {
                (
                    record.details["reason"].as_str().unwrap_or("").to_string(),
                    record.details["count"].as_u64().unwrap_or(0),
                    record.at,
                )
            })
            .collect();
        assert_eq!(
            counts,
            vec![
                ("bad_signature".to_string(), 1, 601),
                ("malformed".to_string(), 100, 600)
            ]
        );
        assert_eq!(taken[1].details["last_at"], 659);
        assert_eq!(denials.0.len(), 1);
        assert_eq!(
            denials.take(None).len(),
            1,
            "all of them when the log stops"
        );
        // Countless addresses share one counter past the bound.
        for n in 0..MAX_DENIAL_KEYS + 500 {
            denials.add(
                key("malformed", &format!("10.0.{}.{}", n / 256, n % 256), 10),
                600,
                "/",
            );
        }
        assert_eq!(denials.0.len(), MAX_DENIAL_KEYS + 1);
        let many = denials
            .take(None)
            .into_iter()
            .find(|record| record.client_addr.as_deref() == Some(MANY_ADDRESSES))
            .map(|record| record.details["count"].clone());
        assert_eq!(many, Some(serde_json::json!(500)));
    }

    #[test]
    fn only_refusals_of_known_credentials_are_recorded_one_by_one() {
        use crate::keys::JwtRejection;
        let unknown = [
            AuthFailure::TooLong,
            AuthFailure::MalformedKey,
            AuthFailure::UnknownKey,
            AuthFailure::Jwt(JwtRejection::Malformed),
            AuthFailure::Jwt(JwtRejection::WrongAlgorithm),
            AuthFailure::Jwt(JwtRejection::UnknownKey),
            AuthFailure::Jwt(JwtRejection::BadSignature),
        ];
        let known = [
            AuthFailure::Revoked,
            AuthFailure::OwnerUnknown,
            AuthFailure::OwnerInactive,
            AuthFailure::TenantMismatch,
            AuthFailure::OwnerExpired,
            AuthFailure::SupersededKey,
            AuthFailure::KeyRetired,
            AuthFailure::Jwt(JwtRejection::Expired),
            AuthFailure::Jwt(JwtRejection::NotYetValid),
            AuthFailure::Jwt(JwtRejection::WrongIssuerOrAudience),
        ];
        assert!(unknown.iter().all(|f| !f.identifies_credential()));
        assert!(known.iter().all(|f| f.identifies_credential()));
    }

    #[test]
    fn credentials_typed_as_names_or_paths_are_not_recorded() {
        for credential in [
            KEY,
            &KEY[..KEY.len() - 1],
            JWT,
            "pgl_qGR4EbcEPY7tIwaSv2hrIIKEIVi4IKlmczaUG7mpZkq0eJmFo",
        ] {
            let event = Event::new("oauth.client_auth", 0).actor_parts(None, credential, None);
            assert_eq!(event.0.actor_name.as_deref(), Some("***"), "{credential}");
            assert_eq!(
                path_detail(&format!("/api/v1/service-users/{credential}/rotate-key")),
                "/api/v1/service-users/***/rotate-key"
            );
        }
        for name in [
            "admin",
            "01a20696-9fe0-727c-8c18-89c602940b70",
            "etl-pipeline",
            "jsk_bot",
        ] {
            let event = Event::new("auth.login", 0).actor_parts(None, name, None);
            assert_eq!(event.0.actor_name.as_deref(), Some(name));
            let path = format!("/api/v1/service-users/{name}");
            assert_eq!(path_detail(&path), path);
        }
    }
}
