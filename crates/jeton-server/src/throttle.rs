//! Fixed-window throttling of failed logins, per username and per client address. A window
//! always ends, so the throttle slows guessing without locking an account out for good.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys tracked before old windows are swept.
const SWEEP_AT: usize = 50_000;

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
}
