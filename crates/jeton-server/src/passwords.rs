//! Password hashing with Argon2id, off the async runtime's worker threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jeton_core::Secret;

use crate::error::{ApiError, ApiResult};

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (Argon2 accepts more; this bounds the work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A well-formed hash of a password nobody knows, verified against when a username does not
/// exist, so that unknown and known usernames take the same time to refuse.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Jw4RvdqUXFLqpx0ZfXhFyRNOu4Kf8A9H6ZJdqB8Ws0Q";

/// At most this many Argon2 computations run at once (each takes about 19 MiB and a core for
/// a while); more wait their turn. Without a bound, a flood of logins — which the throttle does
/// not stop when it comes from many addresses and names — could exhaust the memory.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores.clamp(2, 16))
    })
}

/// Runs one Argon2 computation on a blocking thread, once a slot is free.
async fn with_slot<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _slot = hashing_slots().acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// Checks a new password's length.
pub fn check_policy(password: &Secret) -> ApiResult<()> {
    let len = password.expose().chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(ApiError::Unprocessable(format!(
            "password is too short: use at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(ApiError::Unprocessable(format!(
            "password is too long: at most {MAX_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// Hashes a password (Argon2id, random salt) on a blocking thread.
pub async fn hash(password: Secret) -> ApiResult<String> {
    with_slot(move || {
        let mut salt = [0u8; 16];
        rand::fill(&mut salt);
        Argon2::default()
            .hash_password_with_salt(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing password: {e}")))
    })
    .await
    .ok_or_else(|| ApiError::Internal("hashing task failed".to_string()))?
}

/// Verifies a password against a stored hash on a blocking thread; with no hash, verifies
/// against a decoy and answers false, taking the same time.
pub async fn verify(password: Secret, hash: Option<String>) -> bool {
    if password.expose().len() > MAX_PASSWORD_LEN {
        return false;
    }
    let has_hash = hash.is_some();
    let hash = hash.unwrap_or_else(|| DECOY_HASH.to_string());
    with_slot(move || {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
        && has_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_is_a_well_formed_hash() {
        assert!(argon2::password_hash::phc::PasswordHash::new(DECOY_HASH).is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_do() {
        let hash = hash(Secret::new("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify(Secret::new("correct horse"), Some(hash.clone())).await);
        assert!(!verify(Secret::new("wrong horse"), Some(hash)).await);
        assert!(!verify(Secret::new("anything"), None).await);
    }
}
