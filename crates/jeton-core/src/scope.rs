//! Scopes: strings such as `catalog`, `catalog:read` or `admin` carried by a token.
//!
//! A token without scopes acts with everything its owner may do. A token with scopes is
//! narrowed: it can create only tokens whose scopes it covers, and administers only if it
//! carries [`ADMIN_SCOPE`]. `catalog` covers `catalog:read` and `catalog:write`.

/// The scope that lets a narrowed token use its owner's administrative rights.
pub const ADMIN_SCOPE: &str = "admin";

/// Longest accepted scope string.
pub const MAX_SCOPE_LEN: usize = 128;

/// Most scopes one token may carry.
pub const MAX_SCOPES: usize = 32;

/// A scope that is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// Empty, too long or with characters outside `A-Za-z0-9_-.:/*`.
    #[error("invalid scope '{0}': use 1 to 128 characters from letters, digits and _ - . : / *")]
    Malformed(String),
    /// More than [`MAX_SCOPES`].
    #[error("too many scopes: at most {MAX_SCOPES} are allowed")]
    TooMany,
    /// The request asks for a scope the credential does not cover.
    #[error("scope '{0}' is not covered by the scopes of the credential in use")]
    NotCovered(String),
}

/// Validates and normalises a list of scopes (sorted, duplicates removed). Space-separated items
/// inside one string are split, as OAuth's `scope` parameter does.
pub fn normalize<I, S>(scopes: I) -> Result<Vec<String>, ScopeError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<String> = Vec::new();
    for item in scopes {
        for scope in item.as_ref().split_whitespace() {
            let ok = !scope.is_empty()
                && scope.len() <= MAX_SCOPE_LEN
                && scope.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/' | '*')
                });
            if !ok {
                return Err(ScopeError::Malformed(
                    scope.chars().take(MAX_SCOPE_LEN).collect(),
                ));
            }
            out.push(scope.to_string());
        }
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_SCOPES {
        return Err(ScopeError::TooMany);
    }
    Ok(out)
}

/// Does `granted` cover `wanted`? Equal, or `granted` is a prefix ending at a `:` boundary, or
/// `granted` is `*` and `wanted` is not [`ADMIN_SCOPE`]: administration is never implied, it is
/// only granted by name.
pub fn covers(granted: &str, wanted: &str) -> bool {
    (granted == "*" && wanted != ADMIN_SCOPE)
        || granted == wanted
        || wanted
            .strip_prefix(granted)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// Checks that every scope in `wanted` is covered by `granted`; `granted = None` means the
/// credential is not narrowed and covers everything.
pub fn check_covered(granted: Option<&[String]>, wanted: &[String]) -> Result<(), ScopeError> {
    let Some(granted) = granted else {
        return Ok(());
    };
    for scope in wanted {
        if !granted.iter().any(|g| covers(g, scope)) {
            return Err(ScopeError::NotCovered(scope.clone()));
        }
    }
    Ok(())
}

/// The scopes a new token gets when it is created by a credential with `granted` scopes and asks
/// for `wanted`: a narrowed credential's children are at most as narrow as itself.
pub fn for_child(
    granted: Option<&[String]>,
    wanted: Vec<String>,
) -> Result<Vec<String>, ScopeError> {
    check_covered(granted, &wanted)?;
    match granted {
        Some(granted) if wanted.is_empty() => Ok(granted.to_vec()),
        _ => Ok(wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_validates() {
        assert_eq!(
            normalize(["catalog:read admin", "catalog:read"]).unwrap(),
            vec!["admin".to_string(), "catalog:read".to_string()]
        );
        assert!(matches!(
            normalize(["bad scope;"]),
            Err(ScopeError::Malformed(_))
        ));
        assert!(matches!(
            normalize(["x".repeat(200)]),
            Err(ScopeError::Malformed(_))
        ));
        let many: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        assert_eq!(normalize(many), Err(ScopeError::TooMany));
    }

    #[test]
    fn coverage_respects_segment_boundaries() {
        assert!(covers("catalog", "catalog:read"));
        assert!(covers("catalog", "catalog"));
        assert!(!covers("catalog", "catalogue"));
        assert!(!covers("catalog:read", "catalog"));
        assert!(covers("*", "anything"));
        assert!(!covers("*", ADMIN_SCOPE));
        assert!(covers(ADMIN_SCOPE, ADMIN_SCOPE));
        let star = vec!["*".to_string()];
        assert_eq!(
            for_child(Some(&star), vec![ADMIN_SCOPE.into()]),
            Err(ScopeError::NotCovered(ADMIN_SCOPE.into()))
        );
    }

    #[test]
    fn narrowed_credentials_only_create_narrower_children() {
        let granted = vec!["catalog".to_string()];
        assert_eq!(
            for_child(Some(&granted), vec![]).unwrap(),
            vec!["catalog".to_string()]
        );
        assert!(for_child(Some(&granted), vec!["catalog:read".into()]).is_ok());
        assert_eq!(
            for_child(Some(&granted), vec!["admin".into()]),
            Err(ScopeError::NotCovered("admin".into()))
        );
        assert_eq!(for_child(None, vec![]).unwrap(), Vec::<String>::new());
    }
}
