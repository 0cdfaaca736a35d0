//! Fixed-window throttling of failed logins, per username and per client address. A window
//! always ends, so the throttle slows guessing without locking an account out for good.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys tracked before old windows are swept.
const SWEEP_AT: usize = 50_000;

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

/// Counts failures per key in fixed windows.
pub struct Throttle {
    max_failures: u32,
    window_secs: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl Throttle {
    /// At most `max_failures` per key every `window_secs`.
    pub fn new(max_failures: u32, window_secs: i64) -> Self {
        Self {
            max_failures,
            window_secs: window_secs.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when the key has used up its failures in the current window.
    pub fn check(&self, key: &str, now: i64) -> Result<(), u64> {
        let windows = self.windows.lock().expect("lock");
        match windows.get(key) {
            Some(&(start, count))
                if now < start + self.window_secs && count >= self.max_failures =>
            {
                Err(u64::try_from(start + self.window_secs - now)
                    .unwrap_or(1)
                    .max(1))
            }
            _ => Ok(()),
        }
    }

    /// Takes one attempt from every key, all or none: `Err(seconds to wait)` when a key has
    /// used up its attempts in the current window. The attempt is counted as it starts, before
    /// the password or secret is checked, so that guesses sent all at once cannot all pass the
    /// check before the first failure is recorded; a success gives it back ([`Throttle::give_back`]).
    pub fn begin(&self, keys: &[&str], now: i64) -> Result<(), u64> {
        let mut windows = self.windows.lock().expect("lock");
        let mut wait = None;
        for key in keys {
            if let Some(&(start, count)) = windows.get(*key)
                && now < start + self.window_secs
                && count >= self.max_failures
            {
                let seconds = u64::try_from(start + self.window_secs - now)
                    .unwrap_or(1)
                    .max(1);
                wait = Some(wait.map_or(seconds, |w: u64| w.max(seconds)));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        if windows.len() >= SWEEP_AT {
            let window = self.window_secs;
            windows.retain(|_, (start, _)| now < *start + window);
        }
        for key in keys {
            let entry = windows.entry((*key).to_string()).or_insert((now, 0));
            if now >= entry.0 + self.window_secs {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
        Ok(())
    }

    /// Gives back an attempt that [`Throttle::begin`] took for `key` and that succeeded.
    pub fn give_back(&self, key: &str, now: i64) {
        let mut windows = self.windows.lock().expect("lock");
        if let Some(entry) = windows.get_mut(key)
            && now < entry.0 + self.window_secs
        {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    /// Counts one failure.
    pub fn fail(&self, key: &str, now: i64) {
        let mut windows = self.windows.lock().expect("lock");
        if windows.len() >= SWEEP_AT {
            let window = self.window_secs;
            windows.retain(|_, (start, _)| now < *start + window);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now >= entry.0 + self.window_secs {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Forgets a key's failures (after a successful login).
    pub fn reset(&self, key: &str) {
        self.windows.lock().expect("lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_within_a_window_and_recovers_after_it() {
        let throttle = Throttle::new(3, 60);
        for _ in 0..3 {
            assert!(throttle.check("u:alice", 100).is_ok());
            throttle.fail("u:alice", 100);
        }
        assert_eq!(throttle.check("u:alice", 110), Err(50));
        assert!(throttle.check("u:bob", 110).is_ok());
        assert!(throttle.check("u:alice", 160).is_ok());
        throttle.fail("u:alice", 160);
        assert!(throttle.check("u:alice", 161).is_ok());
        throttle.reset("u:alice");
        assert!(throttle.check("u:alice", 161).is_ok());
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

    #[test]
    fn attempts_count_as_they_begin_and_successes_are_given_back() {
        let throttle = Throttle::new(2, 60);
        // Two attempts in flight at once use up the window before either has failed.
        assert!(throttle.begin(&["u:alice", "a:1"], 100).is_ok());
        assert!(throttle.begin(&["u:alice", "a:1"], 100).is_ok());
        assert_eq!(throttle.begin(&["u:alice", "a:2"], 101), Err(59));
        // All or none: the refused attempt took nothing from the other key.
        assert!(throttle.begin(&["u:bob", "a:2"], 101).is_ok());
        assert!(throttle.begin(&["u:carol", "a:2"], 101).is_ok());
        assert!(throttle.begin(&["u:dave", "a:2"], 101).is_err());
        // A success gives its attempt back.
        throttle.give_back("u:alice", 102);
        assert!(throttle.begin(&["u:alice", "a:3"], 102).is_ok());
        assert!(throttle.begin(&["u:alice", "a:3"], 102).is_err());
        // The window ends.
        assert!(throttle.begin(&["u:alice", "a:1"], 160).is_ok());
    }
}
