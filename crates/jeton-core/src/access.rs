//! Built-in access levels and the permission decisions made from them.
//!
//! Every decision here is a pure function of who acts and on what, so it can be tested without a
//! server. An object in another tenant is reported as [`Decision::NotFound`], never as
//! [`Decision::Forbidden`]: a caller must not learn that it exists.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};

/// The fixed, built-in access levels, from most to least powerful.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessLevel {
    /// Manages tenants and everything in them.
    Root,
    /// Manages users, roles, service users, tokens and policies of its tenant.
    TenantAdmin,
    /// Manages only its own tokens.
    TenantUser,
}

impl AccessLevel {
    /// The wire and database spelling: `root`, `tenant-admin`, `tenant-user`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Root => "root",
            AccessLevel::TenantAdmin => "tenant-admin",
            AccessLevel::TenantUser => "tenant-user",
        }
    }

    fn rank(self) -> u8 {
        match self {
            AccessLevel::Root => 2,
            AccessLevel::TenantAdmin => 1,
            AccessLevel::TenantUser => 0,
        }
    }

    /// True when this level may act as an administrator (of its tenant, or of everything).
    pub fn is_admin(self) -> bool {
        self.rank() >= 1
    }

    /// True when `self` is at least as powerful as `other`.
    pub fn at_least(self, other: AccessLevel) -> bool {
        self.rank() >= other.rank()
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An access level that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown access level '{0}': use root, tenant-admin or tenant-user")]
pub struct UnknownAccessLevel(pub String);

impl FromStr for AccessLevel {
    type Err = UnknownAccessLevel;

    /// Accepts `tenant-admin`, `tenant_admin`, `TenantAdmin`, `TENANT-ADMIN` and the like, so the
    /// seed documents' `--role TenantUser` works.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        match folded.as_str() {
            "root" => Ok(AccessLevel::Root),
            "tenantadmin" | "admin" => Ok(AccessLevel::TenantAdmin),
            "tenantuser" | "user" => Ok(AccessLevel::TenantUser),
            _ => Err(UnknownAccessLevel(s.to_string())),
        }
    }
}

/// The principal a request acts as, as far as permission decisions need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    /// The acting user or service user.
    pub user_id: UserId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its access level.
    pub access: AccessLevel,
    /// False when the credential's scopes exclude administration (a token narrowed to other
    /// scopes cannot administer, even if its owner could).
    pub may_administer: bool,
}

/// The outcome of a permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// The subject can see the object but may not do this (answered as 403).
    Forbidden,
    /// The subject may not know the object exists (answered as 404).
    NotFound,
}

impl Subject {
    /// True for root acting with an unnarrowed credential.
    pub fn is_root(&self) -> bool {
        self.access == AccessLevel::Root && self.may_administer
    }

    /// May this subject see objects of `tenant` at all?
    pub fn sees_tenant(&self, tenant: TenantId) -> bool {
        self.access == AccessLevel::Root || self.tenant_id == tenant
    }

    /// May this subject administer `tenant` (users, roles, other users' tokens, policies)?
    pub fn administer(&self, tenant: TenantId) -> Decision {
        if !self.sees_tenant(tenant) {
            Decision::NotFound
        } else if self.access.is_admin() && self.may_administer {
            Decision::Allow
        } else {
            Decision::Forbidden
        }
    }

    /// May this subject act on a token (or other object) owned by `owner` in `tenant`? Owners
    /// may act on their own; administrators on any in their tenant.
    pub fn act_on_owned(&self, owner: UserId, tenant: TenantId) -> Decision {
        if !self.sees_tenant(tenant) {
            Decision::NotFound
        } else if owner == self.user_id {
            Decision::Allow
        } else {
            match self.administer(tenant) {
                // A tenant user learns nothing about other users' objects.
                Decision::Forbidden if !self.access.is_admin() => Decision::NotFound,
                other => other,
            }
        }
    }

    /// May this subject act *as* another user of `tenant` at `level`: reset its password or
    /// mint tokens for it? Only strictly below its own level, so that a tenant admin cannot
    /// take over a peer; root may act for anyone.
    pub fn act_for_user(&self, tenant: TenantId, level: AccessLevel) -> Decision {
        match self.administer(tenant) {
            Decision::Allow if self.access == AccessLevel::Root => Decision::Allow,
            Decision::Allow if self.access.rank() > level.rank() => Decision::Allow,
            Decision::Allow => Decision::Forbidden,
            other => other,
        }
    }

    /// May this subject give `level` to a user or service user? Never above its own.
    pub fn grant_level(&self, tenant: TenantId, level: AccessLevel) -> Decision {
        match self.administer(tenant) {
            Decision::Allow if self.access.at_least(level) => Decision::Allow,
            Decision::Allow => Decision::Forbidden,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn subject(access: AccessLevel, tenant: u128, user: u128) -> Subject {
        Subject {
            user_id: UserId(Uuid::from_u128(user)),
            tenant_id: TenantId(Uuid::from_u128(tenant)),
            access,
            may_administer: true,
        }
    }

    const A: TenantId = TenantId(Uuid::from_u128(1));
    const B: TenantId = TenantId(Uuid::from_u128(2));

    #[test]
    fn parses_the_seed_spellings() {
        for (s, level) in [
            ("TenantUser", AccessLevel::TenantUser),
            ("tenant-user", AccessLevel::TenantUser),
            ("TENANT_ADMIN", AccessLevel::TenantAdmin),
            ("TenantAdmin", AccessLevel::TenantAdmin),
            ("root", AccessLevel::Root),
        ] {
            assert_eq!(s.parse::<AccessLevel>().unwrap(), level);
        }
        assert!("superuser".parse::<AccessLevel>().is_err());
    }

    #[test]
    fn other_tenants_are_invisible() {
        let admin_a = subject(AccessLevel::TenantAdmin, 1, 10);
        assert_eq!(admin_a.administer(B), Decision::NotFound);
        assert_eq!(
            admin_a.act_on_owned(UserId(Uuid::from_u128(20)), B),
            Decision::NotFound
        );
        assert_eq!(admin_a.administer(A), Decision::Allow);
        let root = subject(AccessLevel::Root, 1, 1);
        assert_eq!(root.administer(B), Decision::Allow);
    }

    #[test]
    fn users_act_only_on_their_own() {
        let user = subject(AccessLevel::TenantUser, 1, 10);
        assert_eq!(
            user.act_on_owned(UserId(Uuid::from_u128(10)), A),
            Decision::Allow
        );
        assert_eq!(
            user.act_on_owned(UserId(Uuid::from_u128(11)), A),
            Decision::NotFound
        );
        assert_eq!(user.administer(A), Decision::Forbidden);
    }

    #[test]
    fn nobody_grants_above_their_own_level() {
        let admin = subject(AccessLevel::TenantAdmin, 1, 10);
        assert_eq!(admin.grant_level(A, AccessLevel::Root), Decision::Forbidden);
        assert_eq!(
            admin.grant_level(A, AccessLevel::TenantAdmin),
            Decision::Allow
        );
        assert_eq!(
            admin.grant_level(B, AccessLevel::TenantUser),
            Decision::NotFound
        );
        let root = subject(AccessLevel::Root, 1, 1);
        assert_eq!(root.grant_level(B, AccessLevel::Root), Decision::Allow);
    }

    #[test]
    fn only_root_acts_for_a_peer() {
        let admin = subject(AccessLevel::TenantAdmin, 1, 10);
        assert_eq!(
            admin.act_for_user(A, AccessLevel::TenantUser),
            Decision::Allow
        );
        assert_eq!(
            admin.act_for_user(A, AccessLevel::TenantAdmin),
            Decision::Forbidden
        );
        assert_eq!(
            admin.act_for_user(A, AccessLevel::Root),
            Decision::Forbidden
        );
        assert_eq!(
            admin.act_for_user(B, AccessLevel::TenantUser),
            Decision::NotFound
        );
        let user = subject(AccessLevel::TenantUser, 1, 11);
        assert_eq!(
            user.act_for_user(A, AccessLevel::TenantUser),
            Decision::Forbidden
        );
        let root = subject(AccessLevel::Root, 1, 1);
        for level in [
            AccessLevel::Root,
            AccessLevel::TenantAdmin,
            AccessLevel::TenantUser,
        ] {
            assert_eq!(root.act_for_user(B, level), Decision::Allow);
        }
    }

    #[test]
    fn narrowed_credentials_cannot_administer() {
        let mut admin = subject(AccessLevel::TenantAdmin, 1, 10);
        admin.may_administer = false;
        assert_eq!(admin.administer(A), Decision::Forbidden);
        assert_eq!(
            admin.act_on_owned(UserId(Uuid::from_u128(10)), A),
            Decision::Allow
        );
    }
}
