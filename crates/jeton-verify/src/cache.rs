//! Answers from Jeton, keyed by the SHA-256 of the credential (never the credential itself).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

use crate::{CredentialKind, Identity};

/// SHA-256 of a credential.
pub(crate) type Key = [u8; 32];

/// A cached answer.
pub(crate) enum Hit {
    /// Jeton accepted the credential.
    Valid(Identity),
    /// Jeton refused it.
    Refused,
}

struct Entry {
    identity: Option<Identity>,
    /// For a token issued by token exchange: the ids of its chain's root and parent, whose
    /// revocation ends it too.
    ancestors: Vec<String>,
    until: Instant,
}

struct State {
    entries: HashMap<Key, Entry>,
    /// Bumped by every invalidation: an answer obtained while one happened is not stored.
    epoch: u64,
}

pub(crate) struct Cache {
    state: RwLock<State>,
    capacity: usize,
}

/// What a change of the feed invalidates.
pub(crate) enum Invalidate<'a> {
    /// Every answer.
    All,
    /// Answers about this token or API key, and about tokens exchanged from it.
    Token(&'a str),
    /// Answers about credentials of this user or service user.
    Principal(&'a str),
    /// Answers about credentials of this tenant.
    Tenant(&'a str),
    /// Answers about JWTs (the signing keys changed).
    Jwts,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: RwLock::new(State {
                entries: HashMap::new(),
                epoch: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn get(&self, key: &Key, now: Instant) -> Option<Hit> {
        let state = self.state.read().expect("lock");
        let entry = state.entries.get(key).filter(|e| e.until > now)?;
        Some(match &entry.identity {
            Some(identity) => Hit::Valid(identity.clone()),
            None => Hit::Refused,
        })
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.state.read().expect("lock").epoch
    }

    pub(crate) fn len(&self) -> usize {
        self.state.read().expect("lock").entries.len()
    }

    /// Stores a positive answer obtained when the epoch was `epoch`, unless something was
    /// invalidated since (the answer may predate that change).
    pub(crate) fn insert_valid(
        &self,
        key: Key,
        identity: Identity,
        ancestors: Vec<String>,
        until: Instant,
        epoch: u64,
    ) {
        let mut state = self.state.write().expect("lock");
        if state.epoch != epoch {
            return;
        }
        self.insert(&mut state, key, Some(identity), ancestors, until);
    }

    pub(crate) fn insert_refused(&self, key: Key, until: Instant) {
        let mut state = self.state.write().expect("lock");
        self.insert(&mut state, key, None, Vec::new(), until);
    }

    fn insert(
        &self,
        state: &mut State,
        key: Key,
        identity: Option<Identity>,
        ancestors: Vec<String>,
        until: Instant,
    ) {
        if state.entries.len() >= self.capacity && !state.entries.contains_key(&key) {
            let now = Instant::now();
            state.entries.retain(|_, e| e.until > now);
            if state.entries.len() >= self.capacity {
                // Still full: forget about a tenth, in the map's (arbitrary) order.
                let evict: Vec<Key> = state
                    .entries
                    .keys()
                    .take(self.capacity.div_ceil(10))
                    .copied()
                    .collect();
                for key in evict {
                    state.entries.remove(&key);
                }
            }
        }
        state.entries.insert(
            key,
            Entry {
                identity,
                ancestors,
                until,
            },
        );
    }

    /// Drops what a change invalidates; refusals are kept except by `All` (they only ever
    /// refuse).
    pub(crate) fn drop_matching(&self, what: Invalidate<'_>) {
        let mut state = self.state.write().expect("lock");
        state.epoch += 1;
        if matches!(what, Invalidate::All) {
            state.entries.clear();
            return;
        }
        let keep = |entry: &Entry| {
            let Some(identity) = &entry.identity else {
                return true;
            };
            match what {
                Invalidate::All => false,
                Invalidate::Token(id) => {
                    identity.token_id != id && !entry.ancestors.iter().any(|a| a == id)
                }
                Invalidate::Principal(id) => identity.user_id != id,
                Invalidate::Tenant(id) => identity.tenant_id != id,
                Invalidate::Jwts => identity.kind == CredentialKind::ApiKey,
            }
        };
        state.entries.retain(|_, e| keep(e));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn identity(user: &str, token: &str, kind: CredentialKind) -> Identity {
        Identity {
            user_id: user.into(),
            username: None,
            service_user: false,
            tenant_id: "t".into(),
            tenant: None,
            access_level: "tenant-user".into(),
            scopes: vec![],
            token_id: token.into(),
            kind,
        }
    }

    #[test]
    fn drops_and_epochs() {
        let cache = Cache::new(10);
        let later = Instant::now() + Duration::from_secs(60);
        let e = cache.epoch();
        cache.insert_valid(
            [1; 32],
            identity("u1", "a", CredentialKind::ApiToken),
            Vec::new(),
            later,
            e,
        );
        cache.insert_valid(
            [2; 32],
            identity("u2", "b", CredentialKind::ApiKey),
            Vec::new(),
            later,
            e,
        );
        cache.insert_refused([3; 32], later);
        assert_eq!(cache.len(), 3);
        cache.drop_matching(Invalidate::Token("a"));
        assert!(cache.get(&[1; 32], Instant::now()).is_none());
        assert!(matches!(
            cache.get(&[2; 32], Instant::now()),
            Some(Hit::Valid(_))
        ));
        assert!(matches!(
            cache.get(&[3; 32], Instant::now()),
            Some(Hit::Refused)
        ));
        // An answer from before the invalidation is not stored.
        cache.insert_valid(
            [4; 32],
            identity("u1", "c", CredentialKind::ApiToken),
            Vec::new(),
            later,
            e,
        );
        assert!(cache.get(&[4; 32], Instant::now()).is_none());
        cache.drop_matching(Invalidate::Jwts);
        assert_eq!(cache.len(), 2);
        cache.drop_matching(Invalidate::Principal("u2"));
        assert_eq!(cache.len(), 1);
        // Expired entries are misses.
        assert!(
            cache
                .get(&[3; 32], later + Duration::from_secs(1))
                .is_none()
        );
    }

    #[test]
    fn a_revoked_token_drops_the_tokens_exchanged_from_it() {
        let cache = Cache::new(10);
        let later = Instant::now() + Duration::from_secs(60);
        let e = cache.epoch();
        let oauth = |token: &str| identity("svc", token, CredentialKind::OAuth);
        cache.insert_valid([1; 32], oauth("root"), Vec::new(), later, e);
        cache.insert_valid(
            [2; 32],
            oauth("child"),
            vec!["root".into(), "root".into()],
            later,
            e,
        );
        cache.insert_valid(
            [3; 32],
            oauth("grandchild"),
            vec!["root".into(), "child".into()],
            later,
            e,
        );
        cache.insert_valid([4; 32], oauth("other"), Vec::new(), later, e);
        // The middle of the chain: itself and its descendants go, its ancestor stays.
        cache.drop_matching(Invalidate::Token("child"));
        assert!(cache.get(&[2; 32], Instant::now()).is_none());
        assert!(cache.get(&[3; 32], Instant::now()).is_none());
        assert!(matches!(
            cache.get(&[1; 32], Instant::now()),
            Some(Hit::Valid(_))
        ));
        let e = cache.epoch();
        cache.insert_valid(
            [3; 32],
            oauth("grandchild"),
            vec!["root".into(), "child".into()],
            later,
            e,
        );
        cache.drop_matching(Invalidate::Token("root"));
        assert!(cache.get(&[1; 32], Instant::now()).is_none());
        assert!(cache.get(&[3; 32], Instant::now()).is_none());
        assert!(matches!(
            cache.get(&[4; 32], Instant::now()),
            Some(Hit::Valid(_))
        ));
    }

    #[test]
    fn stays_bounded() {
        let cache = Cache::new(10);
        let later = Instant::now() + Duration::from_secs(60);
        for i in 0..100u8 {
            cache.insert_refused([i; 32], later);
            assert!(cache.len() <= 10);
        }
        assert!(cache.get(&[99; 32], Instant::now()).is_some());
    }
}
