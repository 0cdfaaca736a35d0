//! Jeton's domain: identifiers, durations, token policies, scopes, API key format, access levels
//! and the permission decisions built on them.
//!
//! This crate owns the rules and nothing else. It performs no IO: it never reads the clock, never
//! draws randomness and never touches a database or the network. Callers pass the current time
//! (as Unix seconds) and random bytes in, which keeps every rule testable without sleeping.

pub mod access;
pub mod apikey;
pub mod duration;
pub mod ids;
pub mod names;
pub mod policy;
pub mod scope;
pub mod secret;
pub mod text;
pub mod token;

pub use access::AccessLevel;
pub use duration::Lifetime;
pub use ids::{ApiKeyId, RoleId, ServiceUserId, TenantId, TokenId, UserId};
pub use secret::Secret;
pub use token::{TokenKind, TokenStatus};
