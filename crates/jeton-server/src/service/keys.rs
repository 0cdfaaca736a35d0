//! Signing-key rotation and revocation, and the change feed, as the API offers them (root
//! only).

use jeton_store::{ChangeRecord, SigningKeyRecord};

use super::Service;
use crate::audit::Event;
use crate::error::{ApiError, ApiResult};
use crate::verify::Actor;

/// Most changes one feed request returns.
pub const MAX_CHANGES_PER_PAGE: u32 = 1000;

/// A page of the change feed.
#[derive(Debug)]
pub struct ChangePage {
    /// The rows.
    pub changes: Vec<ChangeRecord>,
    /// Where to continue.
    pub next: i64,
    /// The position asked from was pruned already.
    pub reset: bool,
}

impl Service {
    /// Every signing key: the signer first, then retired ones, latest retired first.
    pub async fn list_signing_keys(&self, actor: &Actor) -> ApiResult<Vec<SigningKeyRecord>> {
        Self::require_root(actor, "manage signing keys")?;
        // What this instance saw expire is stored first, so that the listing says so.
        self.record_key_expiries().await?;
        let mut keys = self.store.list_signing_keys().await?;
        // The signer first, then retired keys from the latest retired; creation time breaks ties.
        keys.sort_by(|a, b| {
            let rank = |k: &SigningKeyRecord| (k.retired_at.is_none(), k.retired_at, k.created_at);
            rank(b).cmp(&rank(a))
        });
        Ok(keys)
    }

    /// Makes a new key the signer on every instance; the old one stays published while tokens
    /// it signed may live.
    pub async fn rotate_signing_key(&self, actor: &Actor) -> ApiResult<SigningKeyRecord> {
        Self::require_root(actor, "manage signing keys")?;
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let now = self.now();
        let record = crate::keys::generate_key(seed, now, &self.master)?;
        zeroize::Zeroize::zeroize(&mut seed);
        self.store.rotate_signing_key(&record).await?;
        self.reload_signing_keys().await?;
        self.audit
            .write(Event::new("signing_key.rotate", now).actor(actor).target(
                "signing_key",
                &record.kid,
                &record.kid,
            ))
            .await;
        Ok(record)
    }

    /// Withdraws a retired key at once, on every instance: it leaves the JWKS and every token
    /// it signed is refused, cached verifications included (the feed carries the change to
    /// the other instances). The signer is refused with a 409: rotate first. Revoking a key
    /// revoked already changes nothing.
    pub async fn revoke_signing_key(
        &self,
        actor: &Actor,
        kid: &str,
    ) -> ApiResult<SigningKeyRecord> {
        Self::require_root(actor, "manage signing keys")?;
        let now = self.now();
        let record = match self.store.revoke_signing_key(kid, now).await {
            Err(jeton_store::StoreError::NotFound) => {
                return Err(ApiError::NotFound(format!("no signing key '{kid}'")));
            }
            other => other?,
        };
        if record.retired_at.is_none() {
            return Err(ApiError::Conflict(format!(
                "signing key '{kid}' is the current signer: rotate first (jeton keys rotate, or \
                 POST /api/v1/signing-keys/rotate), then revoke it"
            )));
        }
        self.reload_signing_keys().await?;
        self.feed.poke();
        self.audit
            .write(Event::new("signing_key.revoke", now).actor(actor).target(
                "signing_key",
                &record.kid,
                &record.kid,
            ))
            .await;
        Ok(record)
    }

    /// Records in the store the signing keys this instance saw expire, so that no instance,
    /// and no clock moved back, brings them back. Called by the maintenance task.
    pub async fn record_key_expiries(&self) -> ApiResult<()> {
        let now = self.now();
        self.verifier.expire_keys(now);
        let expired = self.verifier.take_expired_keys();
        for (index, (kid, at)) in expired.iter().enumerate() {
            match self.store.expire_signing_key(kid, *at).await {
                Ok(()) | Err(jeton_store::StoreError::NotFound) => {}
                Err(err) => {
                    self.verifier.return_expired_keys(expired[index..].to_vec());
                    return Err(err.into());
                }
            }
        }
        Ok(())
    }

    /// Until when a key stays in the JWKS (`None` while it signs).
    pub fn published_until(&self, key: &SigningKeyRecord) -> Option<i64> {
        crate::keys::published_until(key, self.config.longest_token_secs())
    }

    /// Changes after `after`, up to the settled mark; waits up to `wait` for one when there is
    /// none. Without `after`, answers at once with the current position. Root access level
    /// (the `admin` scope is not needed: a resource server's service user can be narrowed).
    pub async fn changes(
        &self,
        actor: &Actor,
        after: Option<i64>,
        wait: std::time::Duration,
    ) -> ApiResult<ChangePage> {
        if actor.principal.access != jeton_core::AccessLevel::Root {
            return Err(ApiError::Forbidden(
                "the change feed is for root users and root service users".into(),
            ));
        }
        let settled = self.feed.settled();
        let Some(after) = after else {
            return Ok(ChangePage {
                changes: Vec::new(),
                next: settled,
                reset: false,
            });
        };
        if after < 0 {
            return Err(ApiError::BadRequest("after must be 0 or more".into()));
        }
        let reset = match self.store.oldest_change().await? {
            Some(oldest) => after < oldest - 1,
            None => false,
        };
        let settled = if settled <= after && !reset {
            self.feed.wait_past(after, wait).await
        } else {
            settled
        };
        let from = if reset { settled } else { after };
        let mut changes = if settled > from {
            self.store.changes_after(from, MAX_CHANGES_PER_PAGE).await?
        } else {
            Vec::new()
        };
        changes.retain(|c| c.seq <= settled);
        let next = match changes.last() {
            // A full page below the mark: more may follow.
            Some(last) if changes.len() == MAX_CHANGES_PER_PAGE as usize => last.seq,
            // Everything up to the mark was returned (a missing row was rolled back).
            _ => settled.max(from),
        };
        Ok(ChangePage {
            changes,
            next,
            reset,
        })
    }
}
