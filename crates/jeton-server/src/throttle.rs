//! Fixed-window throttling of failed logins and client authentications, built so that nobody
//! can lock an account out by failing on purpose. An attempt counts against three counters:
//!
//! - the account (username or client id) *at this client address*: the configured limit — an
//!   attacker guessing one account from one address is stopped here, and only that address is;
//! - the client address, whatever the account: [`WIDE_FACTOR`] times the limit, to stop one
//!   address guessing across many accounts (wider, because many people may share an address);
//! - the account from every address: [`WIDE_FACTOR`] times the limit, to slow guessing spread
//!   over many addresses. It does not apply at an address where the account has logged in
//!   successfully in the last [`TRUST_SECS`], so that even that attack cannot keep the owner
//!   out from where they usually log in.
//!
//! A success clears the account's counter at that address and gives its attempt back to the
//! other two. A window always ends.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys tracked before old windows are swept.
const SWEEP_AT: usize = 50_000;

/// How many times the per-pair limit the per-address and per-account counters allow.
pub const WIDE_FACTOR: u32 = 10;

/// How long an address where an account logged in stays exempt from that account's
/// every-address limit: 30 days.
pub const TRUST_SECS: i64 = 30 * 86_400;

/// Trusted (account, address) pairs kept at most; beyond, new ones are not recorded (they then
/// only lose the exemption).
const TRUSTED_MAX: usize = 100_000;

/// The throttle key of a client address: an IPv4 address as it is; an IPv6 address by its /64
/// network, since one subscriber usually holds a whole /64 and could otherwise move to a fresh
/// address for every few guesses; an IPv4-mapped IPv6 address as its IPv4 address.
pub fn address_key(addr: Option<&str>) -> String {
    use std::net::IpAddr;
    match addr.map(|a| (a, a.parse::<IpAddr>())) {
        None => "addr:-".to_string(),
        Some((_, Ok(IpAddr::V6(v6)))) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("addr:{v4}"),
            None => {
                let s = v6.segments();
                format!("addr:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Some((text, _)) => format!("addr:{text}"),
    }
}

/// The counters one attempt touches: the account at the client's address, the address, and
/// the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pair: String,
    address: String,
    account: String,
}

impl Attempt {
    /// An attempt on `account` (already clipped and normalised by the caller) of a `kind`
    /// (`user`, `client`) from the client address `addr`.
    pub fn new(kind: &str, account: &str, addr: Option<&str>) -> Self {
        let address = address_key(addr);
        let account = format!("{kind}:{account}");
        Self {
            pair: format!("{account}|{address}"),
            address,
            account,
        }
    }
}

#[derive(Default)]
struct State {
    /// Key → (window start, attempts in it).
    windows: HashMap<String, (i64, u32)>,
    /// (account, address) pair → until when it is exempt from the account-wide limit.
    trusted: HashMap<String, i64>,
}

/// Counts attempts per key in fixed windows.
pub struct Throttle {
    limit: u32,
    window_secs: i64,
    state: Mutex<State>,
}

impl Throttle {
    /// At most `limit` failures per account and address every `window_secs`, and
    /// [`WIDE_FACTOR`] times that per address and per account.
    pub fn new(limit: u32, window_secs: i64) -> Self {
        Self {
            limit: limit.max(1),
            window_secs: window_secs.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// Takes one attempt from each of the attempt's counters, all or none: `Err(seconds to
    /// wait)` when one of them is used up in its current window. The attempt counts as it
    /// starts, before the password or secret is checked, so that guesses sent all at once
    /// cannot all pass before the first failure is recorded; a success gives it back
    /// ([`Throttle::succeeded`]).
    pub fn begin(&self, attempt: &Attempt, now: i64) -> Result<(), u64> {
        let mut state = self.state.lock().expect("lock");
        let wide = self.limit.saturating_mul(WIDE_FACTOR);
        let trusted = state
            .trusted
            .get(&attempt.pair)
            .is_some_and(|until| *until > now);
        let mut limits = vec![(&attempt.pair, self.limit), (&attempt.address, wide)];
        if !trusted {
            limits.push((&attempt.account, wide));
        }
        let wait = limits
            .iter()
            .filter_map(|(key, max)| {
                let &(start, count) = state.windows.get(*key)?;
                (now < start + self.window_secs && count >= *max).then(|| {
                    u64::try_from(start + self.window_secs - now)
                        .unwrap_or(1)
                        .max(1)
                })
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        if state.windows.len() >= SWEEP_AT {
            let window = self.window_secs;
            state.windows.retain(|_, (start, _)| now < *start + window);
        }
        for key in [&attempt.pair, &attempt.address, &attempt.account] {
            let entry = state.windows.entry(key.clone()).or_insert((now, 0));
            if now >= entry.0 + self.window_secs {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
        Ok(())
    }

    /// The attempt [`Throttle::begin`] let through succeeded: the account's failures at this
    /// address are forgotten, the attempt is given back to the address and the account, and
    /// the address is trusted for the account for [`TRUST_SECS`].
    pub fn succeeded(&self, attempt: &Attempt, now: i64) {
        let mut state = self.state.lock().expect("lock");
        state.windows.remove(&attempt.pair);
        for key in [&attempt.address, &attempt.account] {
            if let Some(entry) = state.windows.get_mut(key)
                && now < entry.0 + self.window_secs
            {
                entry.1 = entry.1.saturating_sub(1);
            }
        }
        if state.trusted.len() >= TRUSTED_MAX && !state.trusted.contains_key(&attempt.pair) {
            state.trusted.retain(|_, until| *until > now);
            if state.trusted.len() >= TRUSTED_MAX {
                return;
            }
        }
        state.trusted.insert(attempt.pair.clone(), now + TRUST_SECS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(account: &str, addr: &str) -> Attempt {
        Attempt::new("user", account, Some(addr))
    }

    #[test]
    fn one_address_guessing_one_account_stops_that_address_only() {
        let throttle = Throttle::new(3, 60);
        let attacker = from("alice", "192.0.2.1");
        for _ in 0..3 {
            assert!(throttle.begin(&attacker, 100).is_ok());
        }
        assert_eq!(throttle.begin(&attacker, 110), Err(50));
        // The owner, elsewhere, is not locked out; the attacker's address still reaches other
        // accounts (its own count is far from the wider limit).
        let owner = from("alice", "198.51.100.7");
        assert!(throttle.begin(&owner, 110).is_ok());
        throttle.succeeded(&owner, 110);
        assert!(throttle.begin(&from("bob", "192.0.2.1"), 110).is_ok());
        // Hammering does not extend the window, which ends.
        assert_eq!(throttle.begin(&attacker, 159), Err(1));
        assert!(throttle.begin(&attacker, 160).is_ok());
    }

    #[test]
    fn guessing_spread_over_addresses_meets_the_account_limit_except_where_the_owner_logs_in() {
        let throttle = Throttle::new(3, 60);
        let home = from("alice", "203.0.113.9");
        assert!(throttle.begin(&home, 100).is_ok());
        throttle.succeeded(&home, 100);
        // 30 failures from 30 addresses, one each: no pair and no address is used up.
        for i in 0..30 {
            let spread = from("alice", &format!("10.0.0.{i}"));
            assert!(throttle.begin(&spread, 101).is_ok(), "attempt {i}");
        }
        // The account is, from any other address, until its window ends...
        assert_eq!(throttle.begin(&from("alice", "10.0.1.1"), 102), Err(58));
        assert_eq!(throttle.begin(&from("alice", "10.0.0.0"), 102), Err(58));
        // ... but not from where alice logged in, nor for other accounts.
        assert!(throttle.begin(&home, 102).is_ok());
        throttle.succeeded(&home, 102);
        assert!(throttle.begin(&from("bob", "10.0.1.1"), 102).is_ok());
        // The exemption lasts TRUST_SECS from the last success.
        let expiry = 102 + TRUST_SECS;
        for i in 0..30 {
            let spread = from("alice", &format!("10.0.2.{i}"));
            assert!(throttle.begin(&spread, expiry - 1).is_ok(), "attempt {i}");
        }
        assert!(throttle.begin(&home, expiry - 1).is_ok());
        assert_eq!(throttle.begin(&home, expiry), Err(59));
    }

    #[test]
    fn one_address_guessing_many_accounts_meets_the_address_limit() {
        let throttle = Throttle::new(3, 60);
        for i in 0..30 {
            assert!(
                throttle
                    .begin(&from(&format!("u{i}"), "192.0.2.1"), 100)
                    .is_ok()
            );
        }
        assert_eq!(throttle.begin(&from("fresh", "192.0.2.1"), 100), Err(60));
        assert!(throttle.begin(&from("fresh", "192.0.2.2"), 100).is_ok());
    }

    #[test]
    fn attempts_count_as_they_begin_and_a_success_clears_its_pair() {
        let throttle = Throttle::new(2, 60);
        let attempt = from("alice", "192.0.2.1");
        // Two attempts in flight at once use up the pair before either has failed.
        assert!(throttle.begin(&attempt, 100).is_ok());
        assert!(throttle.begin(&attempt, 100).is_ok());
        assert_eq!(throttle.begin(&attempt, 101), Err(59));
        // All or none: a refused attempt takes nothing, so it cannot use up the address.
        for _ in 0..50 {
            assert!(throttle.begin(&attempt, 101).is_err());
        }
        assert!(throttle.begin(&from("bob", "192.0.2.1"), 101).is_ok());
        // A success (here the second attempt's) clears the pair's failures.
        throttle.succeeded(&attempt, 102);
        assert!(throttle.begin(&attempt, 102).is_ok());
        assert!(throttle.begin(&attempt, 102).is_ok());
        assert!(throttle.begin(&attempt, 102).is_err());
    }

    #[test]
    fn clients_and_users_are_counted_apart() {
        let throttle = Throttle::new(1, 60);
        assert!(
            throttle
                .begin(&Attempt::new("client", "x", Some("192.0.2.1")), 100)
                .is_ok()
        );
        assert!(
            throttle
                .begin(&Attempt::new("user", "x", Some("192.0.2.1")), 100)
                .is_ok()
        );
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_network() {
        assert_eq!(address_key(Some("192.0.2.7")), "addr:192.0.2.7");
        assert_eq!(address_key(None), "addr:-");
        assert_eq!(
            address_key(Some("2001:db8:1:2:aaaa::1")),
            address_key(Some("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_eq!(
            address_key(Some("2001:db8:1:2::9")),
            "addr:2001:db8:1:2::/64"
        );
        assert_ne!(
            address_key(Some("2001:db8:1:2::1")),
            address_key(Some("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(Some("::ffff:192.0.2.7")), "addr:192.0.2.7");
    }
}
