//! Names for tokens and other objects: validation, and generated names when none is given.

/// Longest accepted object name.
pub const MAX_NAME_LEN: usize = 64;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty after trimming.
    #[error("{what} must not be empty")]
    Empty {
        /// What kind of name ("token name", "username", ...).
        what: &'static str,
    },
    /// Longer than [`MAX_NAME_LEN`].
    #[error("{what} must be at most {MAX_NAME_LEN} characters")]
    TooLong {
        /// What kind of name.
        what: &'static str,
    },
    /// Contains a character outside letters, digits, `_`, `-`, `.`, `@`.
    #[error("{what} '{name}' may contain only letters, digits, '_', '-', '.' and '@'")]
    BadCharacter {
        /// What kind of name.
        what: &'static str,
        /// The refused name.
        name: String,
    },
}

/// Checks a name of an object (token, user, role, tenant, service user): 1 to 64 characters from
/// letters (any script), digits, `_`, `-`, `.` and `@`. Returns the name unchanged.
pub fn validate_name<'a>(what: &'static str, name: &'a str) -> Result<&'a str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(NameError::TooLong { what });
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    {
        return Err(NameError::BadCharacter {
            what,
            name: name.chars().take(MAX_NAME_LEN).collect(),
        });
    }
    Ok(name)
}

const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A generated token name such as `token-k3p9xq2m`: `prefix-` and eight characters drawn from
/// the given random bytes (an alphabet without look-alike characters).
pub fn generated_name(prefix: &str, random: [u8; 8]) -> String {
    let mut name = String::with_capacity(prefix.len() + 9);
    name.push_str(prefix);
    name.push('-');
    for byte in random {
        name.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "ci_pipeline",
            "report-bot",
            "a",
            "alice@example.com",
            "v1.2",
            "аналитик",
        ] {
            assert_eq!(validate_name("token name", name), Ok(name));
        }
    }

    #[test]
    fn refuses_empty_long_and_odd_names() {
        assert!(matches!(
            validate_name("token name", ""),
            Err(NameError::Empty { .. })
        ));
        assert!(matches!(
            validate_name("token name", &"x".repeat(65)),
            Err(NameError::TooLong { .. })
        ));
        for name in ["a b", "a;b", "x'y", "a/b", "tab\t"] {
            assert!(
                matches!(
                    validate_name("token name", name),
                    Err(NameError::BadCharacter { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn generated_names_are_valid_and_differ_with_randomness() {
        let a = generated_name("token", [1, 2, 3, 4, 5, 6, 7, 8]);
        let b = generated_name("token", [9, 2, 3, 4, 5, 6, 7, 8]);
        assert_ne!(a, b);
        assert!(a.starts_with("token-"));
        assert_eq!(a.len(), 14);
        assert!(validate_name("token name", &a).is_ok());
    }
}
