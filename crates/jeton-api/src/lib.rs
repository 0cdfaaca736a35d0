//! The JSON bodies of Jeton's HTTP API (`/api/v1`), in one casing (snake_case), shared by the
//! server that produces them and the clients that read them, so the two cannot drift apart.
//!
//! Ids are UUID strings and times are RFC 3339 strings (`2026-07-20T09:00:00Z`). This crate holds
//! data shapes only: no validation rules (those live in `jeton-core`) and no IO.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The code and message of an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code: `bad_request`, `unauthenticated`, `forbidden`, `not_found`,
    /// `conflict`, `unprocessable`, `payload_too_large`, `too_many_requests`, `unavailable`,
    /// `internal`.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

/// A page of results; pass `next_cursor` back as `cursor` for the next page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Page<T> {
    /// The results.
    pub items: Vec<T>,
    /// Present when more results follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Answer to a login: a session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginResponse {
    /// The session token (a JWT). Shown once.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Id of the session token.
    pub token_id: String,
    /// Expiry of the session token.
    pub expires_at: String,
    /// Who logged in.
    pub user: User,
}

/// `POST /api/v1/tokens`: create an API token.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateTokenRequest {
    /// Name, unique among the owner's active tokens; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[\w.@-]+$")
    )]
    pub name: Option<String>,
    /// Free text describing the token's use (also accepted as `description`).
    #[serde(
        default,
        alias = "description",
        skip_serializing_if = "Option::is_none"
    )]
    pub comment: Option<String>,
    /// Lifetime such as `30d`, `24h`, `90m`, `1y`; a bare number means days. Default 90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// Scopes that narrow the token; absent or empty means the owner's full rights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Administrators: create the token for this user (id or username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_user: Option<String>,
}

/// Answer to token creation: the value, shown this once, and the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatedToken {
    /// The token value. It is not stored and cannot be shown again.
    pub token: String,
    /// The token's record.
    #[serde(flatten)]
    pub info: Token,
}

/// A token's record. Never contains the token value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Token {
    /// Id (the JWT's `jti`).
    pub id: String,
    /// Name.
    pub name: String,
    /// `session`, `api` or `oauth`.
    pub kind: String,
    /// Owner's user id.
    pub user_id: String,
    /// Owner's username.
    pub username: String,
    /// Owner's tenant id.
    pub tenant_id: String,
    /// Comment (empty when none).
    pub comment: String,
    /// Scopes (empty when not narrowed).
    pub scopes: Vec<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Creator's user id, when created by someone (absent for logins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Expiry time.
    pub expires_at: String,
    /// Last time a request used it (recorded within a minute).
    pub last_used_at: Option<String>,
    /// Revocation time.
    pub revoked_at: Option<String>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// `PATCH /api/v1/tokens/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateTokenRequest {
    /// The new comment.
    pub comment: String,
}

/// Query of `GET /api/v1/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
pub struct TokenListQuery {
    /// Include expired and revoked tokens.
    #[serde(default)]
    pub all: Option<bool>,
    /// Administrators: list this user's tokens (id or username).
    #[serde(default)]
    pub for_user: Option<String>,
    /// Only tokens of this kind (`session`, `api`, `oauth`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Page size (1–500, default 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Answer to revoking many tokens at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RevokedCount {
    /// How many tokens were revoked.
    pub revoked: u64,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct User {
    /// Id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant name.
    pub tenant: String,
    /// `root`, `tenant-admin` or `tenant-user`.
    pub access_level: String,
    /// Role names.
    pub roles: Vec<String>,
    /// False when deactivated.
    pub active: bool,
    /// Personal API-token max duration (`24h`), if set.
    pub token_max_duration: Option<String>,
    /// Creation time.
    pub created_at: String,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateUserRequest {
    /// Globally unique username.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[\w.@-]+$")
    )]
    pub username: String,
    /// Password (at least 8 characters); absent for a user who will only use tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: Option<String>,
    /// `tenant-user` (default), `tenant-admin` or `root`; never above the creator's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    /// Root only: the tenant (id or name); default the creator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Roles to grant (names in the user's tenant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// `PATCH /api/v1/users/{user}`: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateUserRequest {
    /// New password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: Option<String>,
    /// Activate or deactivate (deactivating invalidates all the user's tokens at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// New access level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    /// Your current password: required to change your own password (not when an
    /// administrator resets another user's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub current_password: Option<String>,
    /// With `password`: also revoke the user's API tokens (its sessions are always revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_tokens: Option<bool>,
}

/// A role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Role {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Tenant id.
    pub tenant_id: String,
    /// API-token max duration for holders (`30d`), if set.
    pub token_max_duration: Option<String>,
    /// Usernames of the holders.
    pub members: Vec<String>,
    /// Creation time.
    pub created_at: String,
}

/// `POST /api/v1/roles`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateRoleRequest {
    /// Name, unique in the tenant.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[\w.@-]+$")
    )]
    pub name: String,
    /// Root only: the tenant (id or name); default the creator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// `PUT /api/v1/users/{user}/token-policy` and `PUT /api/v1/roles/{role}/token-policy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SetPolicyRequest {
    /// The longest lifetime of a new API token (`24h`, `30d`).
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{1,6}[smhdwy]$"))]
    pub max_duration: String,
}

/// The API-token policy that applies to a user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EffectivePolicy {
    /// The user.
    pub username: String,
    /// The limit set on the user itself.
    pub user_max_duration: Option<String>,
    /// Limits set on the user's roles.
    pub role_max_durations: Vec<RolePolicy>,
    /// The limit that applies (the longest of the above, capped by the system maximum).
    pub effective_max_duration: String,
    /// Where it comes from: `system`, `user` or `role`.
    pub source: String,
    /// The user or role name it comes from (absent for `system`).
    pub source_name: Option<String>,
    /// The lifetime of a new token when none is asked for.
    pub default_duration: String,
}

/// A role's limit, inside [`EffectivePolicy`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RolePolicy {
    /// Role name.
    pub role: String,
    /// Its limit.
    pub max_duration: String,
}

/// A tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Tenant {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time.
    pub created_at: String,
}

/// `POST /api/v1/tenants` (root only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateTenantRequest {
    /// Globally unique name.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[\w.@-]+$")
    )]
    pub name: String,
}

/// `GET /api/v1/me`: who the presented credential belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Me {
    /// The user.
    pub user: User,
    /// The credential in use.
    pub token: CurrentToken,
}

/// The credential a request was made with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CurrentToken {
    /// Token id.
    pub id: String,
    /// `session`, `api`, `oauth` or `api_key`.
    pub kind: String,
    /// Scopes (empty when not narrowed).
    pub scopes: Vec<String>,
    /// Expiry; `null` for an API key of a service user without expiry.
    pub expires_at: Option<String>,
}

/// `GET /api/v1/auth/verify`: the identity behind a valid credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VerifiedIdentity {
    /// Username.
    pub user: String,
    /// User id.
    pub user_id: String,
    /// Tenant name.
    pub tenant: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Access level.
    pub access_level: String,
    /// Scopes (empty when not narrowed).
    pub scopes: Vec<String>,
    /// Id of the token or API key.
    pub token_id: String,
    /// `session`, `api`, `oauth` or `api_key`.
    pub kind: String,
    /// `user` or `service_user`.
    pub principal_type: String,
    /// Expiry; `null` for an API key of a service user without expiry.
    pub expires_at: Option<String>,
}

/// A service user: a programmatic identity of a tenant, authenticating with an API key or with
/// OAuth2 client credentials (`client_id` = its id, `client_secret` = its key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceUser {
    /// Id.
    pub id: String,
    /// OAuth2 `client_id` (the same as `id`).
    pub client_id: String,
    /// Name, unique inside the tenant.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant name.
    pub tenant: String,
    /// `root`, `tenant-admin` or `tenant-user`.
    pub access_level: String,
    /// The seed documents' spelling of the access level (`TenantUser`, `TenantAdmin`, `Root`).
    pub role: String,
    /// Scopes it may be given (empty when not narrowed).
    pub scopes: Vec<String>,
    /// False when disabled.
    pub active: bool,
    /// `active`, `disabled` or `expired`.
    pub status: String,
    /// When it stops working; `null` for never.
    pub expires_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Who created it (username).
    pub created_by: Option<String>,
    /// Last change.
    pub updated_at: String,
    /// Last time one of its credentials was used (recorded every few seconds).
    pub last_used_at: Option<String>,
    /// The current key's first characters, to tell keys apart (never the key).
    pub key_hint: String,
    /// When the current key was created.
    pub key_created_at: String,
    /// End of the grace period of the previous key, while it still works.
    pub previous_key_valid_until: Option<String>,
}

/// A service user with its API key, answered once on create and on rotate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceUserWithKey {
    /// The service user.
    #[serde(flatten)]
    pub service_user: ServiceUser,
    /// The API key. Shown once: store it now.
    pub api_key: String,
}

/// `POST /api/v1/service-users`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateServiceUserRequest {
    /// Name, unique inside the tenant.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[\w.@-]+$")
    )]
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `tenant-user` (default), `tenant-admin` or `root`; never above the creator's own. Also
    /// accepted as `role` with the seed documents' spelling (`TenantUser`).
    #[serde(default, alias = "role", skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    /// Lifetime (`90d`, `1y`); never expires when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// Expiry as an RFC 3339 time (instead of `expires_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Scopes it may be given; not narrowed when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Root only: the tenant (id or name); default the creator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// `PATCH /api/v1/service-users/{id}`: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateServiceUserRequest {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[\w.@-]+$")
    )]
    pub name: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New access level (also accepted as `role`).
    #[serde(default, alias = "role", skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    /// Enable or disable (disabling stops its key and every token issued from it at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// New lifetime from now (`30d`), or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// New scopes it may be given (an empty list removes the narrowing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// `POST /api/v1/service-users/{id}/rotate-key`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RotateKeyRequest {
    /// Keep the old key working for this long (`1h`), or until the new key is first used,
    /// whichever comes first. Without it, the old key stops at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{1,6}[smhdwy]$"))]
    pub grace: Option<String>,
}

/// Query of `GET /api/v1/service-users`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
pub struct ServiceUserListQuery {
    /// Root only: the tenant (id or name); default all tenants for root, the caller's otherwise.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Page size (1–500, default 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Answer of the OAuth2 token endpoint (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OAuthTokenResponse {
    /// The access token (a JWT of kind `oauth`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The granted scopes, space-separated (empty when not narrowed).
    pub scope: String,
    /// `urn:ietf:params:oauth:token-type:access_token` (RFC 8693).
    pub issued_token_type: String,
}

/// An OAuth2 error (RFC 6749 §5.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope` or `unsupported_token_type`.
    pub error: String,
    /// What went wrong, in plain words.
    pub error_description: String,
}

/// The parameters of `POST /oauth/token` (RFC 6749 §4.4, RFC 8693), sent as a form body
/// (`application/x-www-form-urlencoded`) or as a JSON object of strings. Client credentials may
/// come as HTTP Basic instead of `client_id` and `client_secret`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OAuthTokenRequest {
    /// `client_credentials`, or `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    pub grant_type: OAuthGrantType,
    /// The service user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The service user's API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Space-separated scopes to narrow the token to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Token exchange: the Jeton access token to exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_token: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:access_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_token_type: Option<String>,
}

/// The grants of the OAuth2 token endpoint.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum OAuthGrantType {
    /// A service user's id and API key for an access token (RFC 6749 §4.4).
    #[default]
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// A Jeton access token for another, possibly narrower one (RFC 8693).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

/// The parameters of `POST /oauth/introspect` (RFC 7662 §2.1) and `POST /oauth/revoke` (RFC 7009
/// §2.1), sent as a form body or as a JSON object of strings. The caller authenticates with
/// client credentials (HTTP Basic, or `client_id` and `client_secret` here) or a bearer token.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OAuthTokenParameters {
    /// The token in question.
    pub token: String,
    /// `access_token` or `refresh_token`: a hint, which Jeton does not need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<String>,
    /// The calling service user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The calling service user's API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// Answer of `POST /oauth/introspect` (RFC 7662 §2.2): `{"active": false}` alone for a token
/// that is not valid or not the caller's to see; the other members for an active one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IntrospectionResponse {
    /// Whether the token is valid now.
    pub active: bool,
    /// Granted scopes, space-separated (empty when not narrowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The service user's id, for tokens of service users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The owner's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Always `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, seconds since the epoch (absent for an API key without expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The owner's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `session`, `api`, `oauth` or `api_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `user` or `service_user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    /// Tenant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The owner's access level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    /// Expiry as RFC 3339 (absent for an API key without expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Answer of `GET /.well-known/oauth-authorization-server` (RFC 8414 §2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuthorizationServerMetadata {
    /// The issuer of Jeton's tokens.
    pub issuer: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The public keys.
    pub jwks_uri: String,
    /// The introspection endpoint (RFC 7662).
    pub introspection_endpoint: String,
    /// The revocation endpoint (RFC 7009).
    pub revocation_endpoint: String,
    /// `client_credentials` and token exchange.
    pub grant_types_supported: Vec<String>,
    /// Empty: Jeton has no authorization endpoint, so no `response_type` is supported (the
    /// member is REQUIRED by RFC 8414 §2, and an empty list is the truth).
    pub response_types_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post` (no JWT client authentication, so no
    /// `token_endpoint_auth_signing_alg_values_supported`).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// The same as for the token endpoint.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// The same as for the token endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// This OpenAPI document.
    pub service_documentation: String,
}

/// `POST /api/v1/sql` with a JSON body (a `text/plain` body is the script itself).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SqlRequest {
    /// One or more statements separated by `;`.
    #[serde(alias = "query")]
    pub sql: String,
}

/// The result of one statement: a table (`columns` and `rows`), or a count of affected objects
/// with a message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SqlResult {
    /// The kind of statement (`CREATE API TOKEN`).
    pub statement: String,
    /// The line it starts on.
    pub line: usize,
    /// Column names; empty for statements that return no table.
    pub columns: Vec<String>,
    /// Rows, each with one value per column (strings, booleans, numbers or null).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<Object>>))]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// How many objects the statement changed, for statements without a table.
    pub affected: Option<u64>,
    /// What the statement did, in words.
    pub message: Option<String>,
}

/// Where a script failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SqlErrorPosition {
    /// The failing statement's number (1-based); absent for syntax errors, where nothing ran.
    pub statement_index: Option<usize>,
    /// The failing statement's kind.
    pub statement: Option<String>,
    /// Line of the error (syntax errors) or of the failing statement.
    pub line: Option<usize>,
    /// Column of the error (syntax errors) or of the failing statement.
    pub column: Option<usize>,
}

/// Why a script stopped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SqlError {
    /// The same codes as the API's errors (`forbidden`, `unprocessable`, `bad_request`, ...).
    pub code: String,
    /// What went wrong, naming the statement.
    pub message: String,
    /// Where.
    #[serde(flatten)]
    pub position: SqlErrorPosition,
}

/// The answer of `POST /api/v1/sql`: the results of the statements that ran, in order, and the
/// error that stopped the script, if any (the HTTP status is then that error's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SqlResponse {
    /// One result per statement that ran.
    pub results: Vec<SqlResult>,
    /// Why the script stopped early.
    pub error: Option<SqlError>,
}

/// An audit event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditEvent {
    /// Sequence number.
    pub id: i64,
    /// When.
    pub at: String,
    /// Tenant it concerns.
    pub tenant_id: Option<String>,
    /// Acting user id.
    pub actor_id: Option<String>,
    /// Acting user name (for failed logins: the name tried).
    pub actor: Option<String>,
    /// Dotted action: `auth.login`, `token.create`, `token.revoke`, ...
    pub action: String,
    /// Kind of object.
    pub target_type: Option<String>,
    /// Object id.
    pub target_id: Option<String>,
    /// Object name.
    pub target_name: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Client address.
    pub client_addr: Option<String>,
    /// Extra details.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
pub struct AuditQuery {
    /// Only events by or about this user (id or username).
    #[serde(default)]
    pub user: Option<String>,
    /// Only this action, or a family (`token` matches `token.create`, `token.revoke`, ...).
    #[serde(default)]
    pub action: Option<String>,
    /// Only events at or after this time (RFC 3339, or a duration back from now such as `1h`).
    #[serde(default)]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// Page size (1–500, default 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Query of list endpoints that page by cursor only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
pub struct PageQuery {
    /// Page size (1–500, default 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Storage backend (`sqlite`, `postgres`), on `/readyz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// A JWT signing key (`GET /api/v1/signing-keys`, root only). Never the private key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SigningKey {
    /// Key id (the `kid` of the JWT header and the JWKS).
    pub kid: String,
    /// JOSE algorithm (`EdDSA`).
    pub algorithm: String,
    /// `signing` (signs new tokens), `verifying` (retired; still in the JWKS while tokens it
    /// signed may live), `expired` (no token it signed can still be valid) or `revoked`
    /// (withdrawn by an operator: no token it signed verifies).
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// When it stopped signing.
    pub retired_at: Option<String>,
    /// Until when a retired key stays in the JWKS.
    pub published_until: Option<String>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// When it was first seen expired (it stays expired, whatever the clock does later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<String>,
}

/// One row of the change feed: something that verification caches must reload or drop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Change {
    /// Position in the feed.
    pub seq: i64,
    /// `user`, `service_user` (id: the principal), `api_keys` (id: the service user whose keys
    /// changed), `revocation` (id: the token revoked or deleted), `tenant`, `signing_key`
    /// (id: the `kid`; fetch the JWKS again).
    pub entity: String,
    /// Which one.
    pub id: String,
}

/// `GET /api/v1/changes`: changes after a position.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangePage {
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// The position to ask from next (`after=`).
    pub next: i64,
    /// True when the position asked from is older than the feed keeps (24 h): changes may have
    /// been missed, so drop every cached verification and continue from `next`.
    pub reset: bool,
}

/// Query of `GET /api/v1/changes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
pub struct ChangeQuery {
    /// Changes after this position (a `next` from an earlier answer). Without it, the answer
    /// is the current position and no changes: where a new follower starts.
    pub after: Option<i64>,
    /// Seconds to wait for a change when there is none yet (long polling; 0 to 60, default 0).
    pub wait: Option<u64>,
}
