//! Token kinds, statuses and the claims every Jeton JWT carries.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{ApiKeyId, TenantId, TokenId, UserId};

/// What a token was issued for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// From a password login; hours.
    Session,
    /// A personal or API token created explicitly; days.
    Api,
    /// An access token from the OAuth2 token endpoint; minutes to an hour.
    Oauth,
}

impl TokenKind {
    /// The wire and database spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
            TokenKind::Oauth => "oauth",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token kind that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token kind '{0}'")]
pub struct UnknownTokenKind(pub String);

impl FromStr for TokenKind {
    type Err = UnknownTokenKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "session" => Ok(TokenKind::Session),
            "api" => Ok(TokenKind::Api),
            "oauth" => Ok(TokenKind::Oauth),
            other => Err(UnknownTokenKind(other.to_string())),
        }
    }
}

/// Where a token stands at a given moment.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked by its owner or an administrator.
    Revoked,
}

impl TokenStatus {
    /// The status of a token with these times at `now` (Unix seconds). Revocation wins over
    /// expiry.
    pub fn at(now: i64, expires_at: i64, revoked_at: Option<i64>) -> Self {
        if revoked_at.is_some() {
            TokenStatus::Revoked
        } else if expires_at <= now {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JOSE header `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The JOSE header `typ` of Jeton's other tokens (sessions and API tokens).
pub const JWT_TYP: &str = "JWT";

/// The header `typ` a token of `kind` carries: [`ACCESS_TOKEN_TYP`] for `oauth`, [`JWT_TYP`]
/// otherwise.
pub const fn typ_of(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Oauth => ACCESS_TOKEN_TYP,
        TokenKind::Session | TokenKind::Api => JWT_TYP,
    }
}

/// The issuer as Jeton uses it everywhere (the `iss` claim, RFC 8414 metadata, the verifiers'
/// expected issuer): without trailing slashes, so that `http://host:8080/` and
/// `http://host:8080` name one issuer and strict clients, which compare exactly, agree.
pub fn normalize_issuer(issuer: &str) -> String {
    issuer.trim().trim_end_matches('/').to_string()
}

/// The claims of a Jeton JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the server's configured issuer URL.
    pub iss: String,
    /// Audience: `jeton` unless configured.
    pub aud: String,
    /// Subject: the owner's user id.
    pub sub: UserId,
    /// Tenant id of the owner.
    pub tid: TenantId,
    /// Token id; the key of its database record.
    pub jti: TokenId,
    /// Kind of token.
    pub kind: TokenKind,
    /// Space-separated scopes; empty when the token is not narrowed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// For `oauth` tokens: the API key they were issued with. The token works only while that
    /// key does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub akid: Option<ApiKeyId>,
    /// For a token issued by token exchange: the first token of its exchange chain. Verifiers
    /// refuse the token once that one is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_jti: Option<TokenId>,
    /// For a token issued by token exchange: the subject token it was exchanged for. Verifiers
    /// refuse the token once that one is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<TokenId>,
}

impl Claims {
    /// The JOSE header `typ` a token of this kind carries: `at+jwt` for OAuth access tokens
    /// (RFC 9068), `JWT` for the others. Verifiers refuse a token whose `typ` differs.
    pub fn typ(&self) -> &'static str {
        typ_of(self.kind)
    }

    /// The tokens whose revocation also ends this one: its exchange chain's root and parent.
    pub fn ancestors(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.root_jti.into_iter().chain(self.parent)
    }

    /// The scopes as a list; `None` when the token is not narrowed.
    pub fn scopes(&self) -> Option<Vec<String>> {
        if self.scope.is_empty() {
            None
        } else {
            Some(self.scope.split(' ').map(str::to_string).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_lose_trailing_slashes_only() {
        assert_eq!(normalize_issuer("http://h:8080/"), "http://h:8080");
        assert_eq!(normalize_issuer("http://h:8080"), "http://h:8080");
        assert_eq!(normalize_issuer("https://h/auth//"), "https://h/auth");
    }

    #[test]
    fn access_tokens_are_typed_apart() {
        assert_eq!(typ_of(TokenKind::Oauth), "at+jwt");
        assert_eq!(typ_of(TokenKind::Api), "JWT");
        assert_eq!(typ_of(TokenKind::Session), "JWT");
    }

    #[test]
    fn status_follows_times() {
        assert_eq!(TokenStatus::at(100, 200, None), TokenStatus::Active);
        assert_eq!(TokenStatus::at(200, 200, None), TokenStatus::Expired);
        assert_eq!(TokenStatus::at(100, 200, Some(50)), TokenStatus::Revoked);
        assert_eq!(TokenStatus::at(300, 200, Some(50)), TokenStatus::Revoked);
    }
}
