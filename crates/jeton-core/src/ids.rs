//! Newtype identifiers, so that a token id can never be passed where a user id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Builds an id from 16 random bytes and the current time in milliseconds, as a
            /// UUIDv7, so that ids sort by creation time and make stable paging cursors.
            pub fn new_v7(unix_millis: u64, random: [u8; 10]) -> Self {
                Self(Uuid::from_u128(v7_bits(unix_millis, random)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

/// Lays out a version-7 UUID: 48 bits of milliseconds, version, 74 random bits, variant.
fn v7_bits(unix_millis: u64, random: [u8; 10]) -> u128 {
    let mut rand_bits: u128 = 0;
    for byte in random {
        rand_bits = (rand_bits << 8) | u128::from(byte);
    }
    let millis = u128::from(unix_millis & 0xFFFF_FFFF_FFFF);
    let rand_a = (rand_bits >> 68) & 0xFFF; // 12 bits
    let rand_b = rand_bits & ((1u128 << 62) - 1); // 62 bits
    (millis << 80) | (0x7u128 << 76) | (rand_a << 64) | (0b10u128 << 62) | rand_b
}

id_type!(
    /// Identifies a tenant (an organisation).
    TenantId
);
id_type!(
    /// Identifies a user or a service user (both are principals that own tokens).
    UserId
);
id_type!(
    /// Identifies a role inside a tenant.
    RoleId
);
id_type!(
    /// Identifies a token: the JWT's `jti`.
    TokenId
);
id_type!(
    /// Identifies a service user.
    ServiceUserId
);
id_type!(
    /// Identifies one API key of a service user (not the key itself).
    ApiKeyId
);

impl From<ServiceUserId> for UserId {
    /// A service user acts as a principal under the same UUID.
    fn from(id: ServiceUserId) -> Self {
        UserId(id.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_are_valid_and_sort_by_time() {
        let a = TokenId::new_v7(1_700_000_000_000, [0xFF; 10]);
        let b = TokenId::new_v7(1_700_000_000_001, [0x00; 10]);
        assert_eq!(a.0.get_version_num(), 7);
        assert_eq!(a.0.get_variant(), uuid::Variant::RFC4122);
        assert!(a < b);
        assert_eq!(a.to_string().parse::<TokenId>().unwrap(), a);
    }
}
