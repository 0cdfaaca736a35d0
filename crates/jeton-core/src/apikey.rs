//! The API key format: `jsk_` + 43 base62 characters (256 bits of randomness) + a 6-character
//! base62 CRC32 checksum of everything before it.
//!
//! The prefix lets secret scanners find leaked keys; the checksum lets Jeton refuse a mistyped or
//! made-up key without any lookup. Keys are stored only as a keyed hash ([`KeyHasher`]).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The default prefix of Jeton API keys.
pub const DEFAULT_PREFIX: &str = "jsk_";
/// Base62 characters carrying the key's randomness (43 × log2(62) ≈ 256 bits).
pub const BODY_LEN: usize = 43;
/// Base62 characters of the checksum.
pub const CHECKSUM_LEN: usize = 6;

/// Why a string is not a well-formed API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// Does not start with the configured prefix.
    #[error("not an API key: wrong prefix")]
    Prefix,
    /// Wrong length or a character outside base62.
    #[error("not an API key: malformed")]
    Malformed,
    /// The checksum does not match.
    #[error("not an API key: checksum mismatch")]
    Checksum,
}

fn base62_fixed(mut value: u64, len: usize) -> String {
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out).expect("base62 is ASCII")
}

fn checksum(prefix_and_body: &str) -> String {
    base62_fixed(
        u64::from(crc32fast::hash(prefix_and_body.as_bytes())),
        CHECKSUM_LEN,
    )
}

/// Builds a new key from 32 random bytes (at least 256 bits of entropy: each body character is
/// drawn from the bytes by rejection-free base conversion of a 256-bit number).
pub fn generate(prefix: &str, random: [u8; 32]) -> Secret {
    // Convert the 256-bit number to base62, most significant digit first.
    let mut digits = [0u8; BODY_LEN];
    let mut number = random;
    for slot in digits.iter_mut().rev() {
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        *slot = BASE62[remainder as usize];
    }
    let mut key = String::with_capacity(prefix.len() + BODY_LEN + CHECKSUM_LEN);
    key.push_str(prefix);
    key.push_str(std::str::from_utf8(&digits).expect("base62 is ASCII"));
    let sum = checksum(&key);
    key.push_str(&sum);
    Secret::new(key)
}

/// Checks a presented key's prefix, shape and checksum. No lookup, no secret comparison: a key
/// that passes may still be unknown.
pub fn check_format(prefix: &str, key: &str) -> Result<(), KeyFormatError> {
    let rest = key.strip_prefix(prefix).ok_or(KeyFormatError::Prefix)?;
    if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Malformed);
    }
    let (signed, sum) = key.split_at(key.len() - CHECKSUM_LEN);
    if checksum(signed) != sum {
        return Err(KeyFormatError::Checksum);
    }
    Ok(())
}

/// Hashes API keys with HMAC-SHA-256 under a server secret, so that a stolen database alone does
/// not allow testing guesses offline.
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
}

impl KeyHasher {
    /// A hasher keyed with the server's secret.
    pub fn new(server_secret: &[u8]) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(server_secret)
                .expect("HMAC accepts any key length"),
        }
    }

    /// The hex-encoded keyed hash of `key`, used as its index in the store.
    pub fn hash(&self, key: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(key.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xF)]));
        }
        hex
    }
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(***)")
    }
}

/// Compares two hashes in constant time.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = generate(DEFAULT_PREFIX, [7; 32]);
        let key = key.expose();
        assert!(key.starts_with("jsk_"));
        assert_eq!(key.len(), 4 + BODY_LEN + CHECKSUM_LEN);
        assert_eq!(check_format(DEFAULT_PREFIX, key), Ok(()));
        assert_ne!(generate(DEFAULT_PREFIX, [8; 32]).expose(), key);
        // The largest 256-bit number still fits in 43 base62 digits.
        assert_eq!(
            check_format("pgl_", generate("pgl_", [0xFF; 32]).expose()),
            Ok(())
        );
    }

    #[test]
    fn one_changed_character_fails_the_checksum() {
        let key = generate(DEFAULT_PREFIX, [42; 32]).expose().to_string();
        let mut bytes = key.clone().into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            check_format(DEFAULT_PREFIX, &altered),
            Err(KeyFormatError::Checksum)
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(check_format("jsk_", "pgl_abc"), Err(KeyFormatError::Prefix));
        assert_eq!(
            check_format("jsk_", "jsk_short"),
            Err(KeyFormatError::Malformed)
        );
        let key = generate("jsk_", [1; 32]).expose().replace('A', "-");
        let key = if key.contains('-') {
            key
        } else {
            format!("{}-", &key[..key.len() - 1])
        };
        assert_eq!(check_format("jsk_", &key), Err(KeyFormatError::Malformed));
    }

    #[test]
    fn keyed_hashes_depend_on_the_server_secret() {
        let a = KeyHasher::new(b"one").hash("jsk_x");
        let b = KeyHasher::new(b"two").hash("jsk_x");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(hashes_equal(&a, &KeyHasher::new(b"one").hash("jsk_x")));
        assert!(!hashes_equal(&a, &b));
    }
}
