//! Token max-duration policies: which limit applies to a user, and whether a requested lifetime
//! fits under it.
//!
//! A limit may be set on the user and on any of its roles. When several apply, the **longest**
//! wins (the least restrictive); when none applies, the system maximum applies. No limit is ever
//! above the system maximum.

use std::fmt;

use crate::duration::Lifetime;

/// Where the limit that applies to a user comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitSource {
    /// The server's configured maximum.
    System,
    /// A limit set on the user itself.
    User(String),
    /// A limit set on one of the user's roles.
    Role(String),
}

impl fmt::Display for LimitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitSource::System => f.write_str("the system maximum"),
            LimitSource::User(name) => write!(f, "set on user {name}"),
            LimitSource::Role(name) => write!(f, "set on role {name}"),
        }
    }
}

/// The effective maximum lifetime of a new API token for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveLimit {
    /// The longest lifetime allowed.
    pub max: Lifetime,
    /// Where that limit comes from.
    pub source: LimitSource,
}

/// The server-wide defaults that policies refine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemPolicy {
    /// Lifetime of a new API token when none is asked for (90 days unless configured).
    pub default_lifetime: Lifetime,
    /// No API token may live longer than this (365 days unless configured).
    pub max_lifetime: Lifetime,
}

impl Default for SystemPolicy {
    fn default() -> Self {
        Self {
            default_lifetime: Lifetime::days(90),
            max_lifetime: Lifetime::days(365),
        }
    }
}

/// A request for a longer token than the policy allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("requested {requested} exceeds the maximum of {} {}", limit.max, limit.source)]
pub struct PolicyViolation {
    /// What was asked for.
    pub requested: Lifetime,
    /// The limit that refused it.
    pub limit: EffectiveLimit,
}

impl SystemPolicy {
    /// The limit that applies to a user with an optional personal limit and role limits
    /// (`(role name, limit)`); the longest wins, capped at the system maximum.
    pub fn effective_limit<'a>(
        &self,
        username: &str,
        user_limit: Option<Lifetime>,
        role_limits: impl IntoIterator<Item = (&'a str, Lifetime)>,
    ) -> EffectiveLimit {
        let mut best: Option<EffectiveLimit> = user_limit.map(|max| EffectiveLimit {
            max,
            source: LimitSource::User(username.to_string()),
        });
        for (role, max) in role_limits {
            if best.as_ref().is_none_or(|b| max > b.max) {
                best = Some(EffectiveLimit {
                    max,
                    source: LimitSource::Role(role.to_string()),
                });
            }
        }
        match best {
            Some(limit) if limit.max <= self.max_lifetime => limit,
            _ => EffectiveLimit {
                max: self.max_lifetime,
                source: LimitSource::System,
            },
        }
    }

    /// The lifetime a new token gets: the requested one if it fits, otherwise an error naming
    /// the limit; with no request, the default, shortened to the limit if the limit is shorter.
    pub fn lifetime_for(
        &self,
        requested: Option<Lifetime>,
        limit: &EffectiveLimit,
    ) -> Result<Lifetime, PolicyViolation> {
        match requested {
            Some(requested) if requested > limit.max => Err(PolicyViolation {
                requested,
                limit: limit.clone(),
            }),
            Some(requested) => Ok(requested),
            None => Ok(self.default_lifetime.min(limit.max)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system() -> SystemPolicy {
        SystemPolicy::default()
    }

    #[test]
    fn no_policy_means_the_system_maximum() {
        let limit = system().effective_limit("analyst", None, []);
        assert_eq!(limit.max, Lifetime::days(365));
        assert_eq!(limit.source, LimitSource::System);
    }

    #[test]
    fn the_longest_of_user_and_role_limits_wins() {
        let limit = system().effective_limit(
            "analyst",
            Some(Lifetime::hours(24)),
            [
                ("service_accounts", Lifetime::days(30)),
                ("bi", Lifetime::days(7)),
            ],
        );
        assert_eq!(limit.max, Lifetime::days(30));
        assert_eq!(limit.source, LimitSource::Role("service_accounts".into()));

        let limit = system().effective_limit(
            "analyst",
            Some(Lifetime::days(60)),
            [("r", Lifetime::days(30))],
        );
        assert_eq!(limit.source, LimitSource::User("analyst".into()));
    }

    #[test]
    fn a_limit_above_the_system_maximum_is_capped() {
        let limit = system().effective_limit("u", Some(Lifetime::days(1000)), []);
        assert_eq!(limit.max, Lifetime::days(365));
        assert_eq!(limit.source, LimitSource::System);
    }

    #[test]
    fn requests_above_the_limit_are_refused_with_the_source_named() {
        let limit = system().effective_limit("analyst", Some(Lifetime::hours(24)), []);
        let err = system()
            .lifetime_for(Some(Lifetime::days(90)), &limit)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "requested 90d exceeds the maximum of 1d set on user analyst"
        );
        assert_eq!(
            system().lifetime_for(Some(Lifetime::hours(24)), &limit),
            Ok(Lifetime::hours(24))
        );
    }

    #[test]
    fn the_default_shrinks_to_a_shorter_limit() {
        let limit = system().effective_limit("analyst", Some(Lifetime::hours(24)), []);
        assert_eq!(system().lifetime_for(None, &limit), Ok(Lifetime::hours(24)));
        let open = system().effective_limit("analyst", None, []);
        assert_eq!(system().lifetime_for(None, &open), Ok(Lifetime::days(90)));
    }
}
