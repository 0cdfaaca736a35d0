//! Following the change feed, so that every instance on one database honours a change made
//! through any of them.
//!
//! Database triggers append a row to the `changes` table for every write that verification
//! depends on (users, service users, API keys, revocations, tenants, signing keys), in the
//! transaction of the write itself. Each instance reads the rows it has not seen — at once when
//! PostgreSQL signals a commit (`LISTEN`/`NOTIFY`), and every
//! [`Config::change_poll_interval`](crate::Config::change_poll_interval) in any case, so a lost
//! signal or a reconnect cannot leave it stale — and reloads each named object from the
//! database into its in-memory [`Directory`](crate::directory::Directory). Applying a row means
//! reading the object's current state, so applying one twice, or late, does no harm.
//!
//! Rows can become visible out of order (a transaction that took seq 9 commits after the one
//! that took seq 10) and a rolled-back transaction leaves a hole. The follower therefore keeps
//! a *settled* mark: every row at or below it has been applied, or its hole has stayed empty
//! for [`GAP_WAIT`]. Rows above the mark are applied as soon as they are seen and skipped when
//! read again; the mark is what the HTTP feed (`GET /api/v1/changes`) serves up to, so that its
//! clients, which only remember a position, cannot miss a row that appears late.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use jeton_store::{ChangeRecord, StoreResult};
use tokio::sync::{Notify, watch};

use crate::service::Service;

/// How long a hole in the sequence is waited for before it is taken for a rolled-back write.
pub const GAP_WAIT: Duration = Duration::from_secs(5);
/// Least time between two reads of the feed prompted by local writes.
pub const POKE_GAP: Duration = Duration::from_millis(20);
/// Rows read per query.
const BATCH: u32 = 1000;
/// How many of the newest rows a starting instance applies again: writes that were in flight
/// while it loaded its directory.
const START_OVERLAP: i64 = 100;

/// The feed's shared state: the signal that wakes the follower, and the settled mark.
#[derive(Debug)]
pub struct Feed {
    wake: Arc<Notify>,
    /// Wakes the follower after a local write, where the database sends no signal.
    poked: Notify,
    /// True when the store signals commits itself (PostgreSQL): local writes need no poke.
    signalled: std::sync::atomic::AtomicBool,
    settled: watch::Sender<i64>,
    poll_interval: Duration,
}

impl Feed {
    /// A feed read at least every `poll_interval`.
    pub fn new(poll_interval: Duration) -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            poked: Notify::new(),
            signalled: std::sync::atomic::AtomicBool::new(false),
            settled: watch::Sender::new(0),
            poll_interval,
        }
    }

    /// What wakes the follower (handed to the store's change signal).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Notes that the store signals every commit (its change watch is running), so that local
    /// writes need no [`Feed::poke`].
    pub fn set_signalled(&self) {
        self.signalled
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Asks the follower to read the feed soon after a local write, so that HTTP feed clients
    /// hear of it without waiting for the next poll. A no-op where the database signals commits
    /// itself; otherwise reads prompted this way are at least [`POKE_GAP`] apart, so a stream of
    /// writes (or of token requests) cannot keep the follower querying without a pause.
    pub fn poke(&self) {
        if !self.signalled.load(std::sync::atomic::Ordering::Relaxed) {
            self.poked.notify_one();
        }
    }

    /// Every row at or below this has been applied here (or its hole given up on).
    pub fn settled(&self) -> i64 {
        *self.settled.borrow()
    }

    /// Waits until the settled mark passes `after`, or `timeout` runs out; returns the mark.
    pub async fn wait_past(&self, after: i64, timeout: Duration) -> i64 {
        let mut receiver = self.settled.subscribe();
        let _ = tokio::time::timeout(timeout, receiver.wait_for(|settled| *settled > after)).await;
        *receiver.borrow()
    }
}

/// The follower's position in the feed.
#[derive(Debug)]
pub(crate) struct Position {
    /// Every row at or below this is settled.
    settled: i64,
    /// Rows above `settled` already applied.
    applied: BTreeSet<i64>,
    /// Holes above `settled`, with when each was first noticed.
    holes: BTreeMap<i64, Instant>,
}

impl Position {
    /// A follower that starts after `seq`.
    pub(crate) fn after(seq: i64) -> Self {
        Self {
            settled: seq.max(0),
            applied: BTreeSet::new(),
            holes: BTreeMap::new(),
        }
    }

    /// The position of an instance starting when the newest row is `latest`: the last
    /// [`START_OVERLAP`] rows are applied again.
    pub(crate) fn at_start(latest: i64) -> Self {
        Self::after(latest - START_OVERLAP)
    }

    /// True when the row still has to be applied.
    fn is_new(&self, seq: i64) -> bool {
        seq > self.settled && !self.applied.contains(&seq)
    }

    /// Notes a row as applied.
    fn mark(&mut self, seq: i64) {
        if seq > self.settled {
            self.applied.insert(seq);
            self.holes.remove(&seq);
        }
    }

    /// Moves the settled mark past every applied row and every hole older than `wait`.
    fn settle(&mut self, now: Instant, wait: Duration) {
        let Some(&highest) = self.applied.last() else {
            return;
        };
        let mut seq = self.settled + 1;
        while seq < highest {
            if !self.applied.contains(&seq) {
                self.holes.entry(seq).or_insert(now);
            }
            seq += 1;
        }
        loop {
            let next = self.settled + 1;
            if self.applied.remove(&next) {
                self.settled = next;
            } else if self
                .holes
                .get(&next)
                .is_some_and(|since| now.duration_since(*since) >= wait)
            {
                self.holes.remove(&next);
                self.settled = next;
            } else {
                break;
            }
        }
    }
}

/// Reads the feed and applies what is new, until nothing is left; returns how many rows were
/// applied.
pub(crate) async fn catch_up(service: &Service, position: &mut Position) -> StoreResult<usize> {
    let store = service.store().clone();
    let mut cursor = position.settled;
    let mut applied = 0;
    loop {
        let rows = store.changes_after(cursor, BATCH).await?;
        let full = rows.len() == BATCH as usize;
        for row in &rows {
            cursor = row.seq;
            if position.is_new(row.seq) {
                service.apply_change(row).await?;
                record_lag(row);
                position.mark(row.seq);
                applied += 1;
            }
        }
        if !full {
            break;
        }
    }
    position.settle(Instant::now(), GAP_WAIT);
    Ok(applied)
}

/// How long after its write a row was applied here, by the database's clock and ours.
fn record_lag(row: &ChangeRecord) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let lag_ms = (now_ms - row.at_ms).max(0);
    metrics::histogram!(crate::metrics::PROPAGATION_LAG).record(lag_ms as f64 / 1000.0);
    metrics::counter!(crate::metrics::CHANGES_APPLIED, "entity" => row.entity.as_str())
        .increment(1);
    tracing::trace!(
        seq = row.seq,
        entity = row.entity.as_str(),
        lag_ms,
        "applied change"
    );
}

/// The follower task: reads the feed when woken and at every poll interval, until the service
/// is gone. A failed read (the database is down) is retried at the next poll.
pub(crate) async fn follow(service: Weak<Service>, feed: Arc<Feed>, mut position: Position) {
    let mut failing = false;
    loop {
        {
            let Some(service) = service.upgrade() else {
                return;
            };
            match catch_up(&service, &mut position).await {
                Ok(_) => {
                    if failing {
                        tracing::info!("change feed readable again");
                        failing = false;
                    }
                    feed.settled.send_if_modified(|settled| {
                        let moved = *settled != position.settled;
                        *settled = position.settled;
                        moved
                    });
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "cannot read the change feed; retrying");
                        failing = true;
                    }
                }
            }
        }
        let read_at = tokio::time::Instant::now();
        tokio::select! {
            () = feed.wake.notified() => {}
            () = feed.poked.notified() => {
                tokio::time::sleep_until(read_at + POKE_GAP).await;
            }
            () = tokio::time::sleep(feed.poll_interval) => {}
        }
    }
}

impl Service {
    /// Reloads what one feed row names from the database into memory.
    pub(crate) async fn apply_change(&self, change: &ChangeRecord) -> StoreResult<()> {
        use jeton_store::{ChangeEntity, StoreError};
        let id = change.entity_id.as_str();
        let bad_id = || {
            StoreError::Internal(format!(
                "change {}: '{id}' is not a {} id",
                change.seq,
                change.entity.as_str()
            ))
        };
        let now = self.now();
        // Reading and putting under the lock that local writes of principals hold across their
        // store write and directory update: a read made before such a write cannot be put
        // after it (which would undo it in memory until the next change).
        let _writing = match change.entity {
            ChangeEntity::User | ChangeEntity::ServiceUser | ChangeEntity::Tenant => {
                Some(self.principal_writes.lock().await)
            }
            _ => None,
        };
        match change.entity {
            ChangeEntity::User => {
                let id = id.parse().map_err(|_| bad_id())?;
                match self.store.get_user(id).await? {
                    Some(user) => self.directory.put_user(&user),
                    None => self.directory.remove_user(id),
                }
            }
            ChangeEntity::ServiceUser => {
                let id = id.parse().map_err(|_| bad_id())?;
                match self.store.get_service_user(id).await? {
                    Some(user) => self.directory.put_service_user(&user),
                    None => self.directory.remove_service_user(id),
                }
            }
            ChangeEntity::ApiKeys => {
                let owner = id.parse().map_err(|_| bad_id())?;
                let keys = self.store.api_keys_of(owner).await?;
                self.directory.put_keys(owner, &keys, now);
            }
            ChangeEntity::Revocation => {
                let token = id.parse().map_err(|_| bad_id())?;
                if let Some(revocation) = self.store.get_revocation(token).await? {
                    self.directory.revoke(revocation);
                }
            }
            ChangeEntity::Tenant => {
                let tenant = id.parse().map_err(|_| bad_id())?;
                match self.store.get_tenant(tenant).await? {
                    Some(record) => self.directory.put_tenant(&record),
                    None => self.directory.remove_tenant(tenant),
                }
            }
            ChangeEntity::SigningKey => self.reload_signing_keys().await?,
        }
        Ok(())
    }

    /// Reads the signing keys again: the newest active one signs, and every key that may still
    /// have live tokens, and was neither revoked nor seen expired, verifies. Keys found past
    /// their time are recorded as expired.
    pub(crate) async fn reload_signing_keys(&self) -> StoreResult<()> {
        let now = self.now();
        let longest = self.config.longest_token_secs();
        let records = self.store.list_signing_keys().await?;
        for kid in crate::keys::newly_expired(&records, now, longest) {
            self.store.expire_signing_key(&kid, now).await?;
        }
        let records = crate::keys::published(records, now, longest);
        match crate::keys::KeyRing::from_records(
            &records,
            &self.config.issuer,
            &self.config.audience,
            &self.master,
            longest,
        ) {
            Ok(ring) => {
                self.verifier.set_keys(ring);
                Ok(())
            }
            Err(err) => Err(jeton_store::StoreError::Internal(err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_over_applied_rows() {
        let mut position = Position::after(10);
        for seq in [11, 12, 13] {
            assert!(position.is_new(seq));
            position.mark(seq);
        }
        position.settle(Instant::now(), GAP_WAIT);
        assert_eq!(position.settled, 13);
        assert!(!position.is_new(12));
    }

    #[test]
    fn waits_for_a_hole_then_gives_up_on_it() {
        let start = Instant::now();
        let mut position = Position::after(0);
        position.mark(1);
        position.mark(3);
        position.settle(start, GAP_WAIT);
        assert_eq!(position.settled, 1, "row 2 may still commit");
        assert!(!position.is_new(3), "row 3 is not applied twice");
        assert!(position.is_new(2));
        // Row 2 commits late: applied, and the mark moves past 3.
        position.mark(2);
        position.settle(start, GAP_WAIT);
        assert_eq!(position.settled, 3);

        position.mark(5);
        position.settle(start, GAP_WAIT);
        assert_eq!(position.settled, 3);
        position.settle(start + GAP_WAIT, GAP_WAIT);
        assert_eq!(
            position.settled, 5,
            "a hole older than GAP_WAIT is a rollback"
        );
    }

    #[test]
    fn start_overlap_never_goes_below_zero() {
        assert_eq!(Position::at_start(5).settled, 0);
        assert_eq!(Position::at_start(1000).settled, 1000 - START_OVERLAP);
    }
}
