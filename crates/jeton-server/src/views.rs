//! Records turned into the API's wire types.

use jeton_api as api;
use jeton_core::{AccessLevel, Lifetime, TokenStatus};
use jeton_store::{
    ApiKeyRecord, AuditRecord, RoleRecord, ServiceUserRecord, TenantRecord, TokenRecord, UserRecord,
};

use crate::directory::Directory;
use crate::service::{rfc3339, secs_to_lifetime};
use crate::verify::Actor;

fn lifetime_text(secs: Option<i64>) -> Option<String> {
    secs.and_then(secs_to_lifetime)
        .map(|l: Lifetime| l.to_string())
}

/// A token record as the API shows it (never the value).
pub fn token(directory: &Directory, record: &TokenRecord, now: i64) -> api::Token {
    api::Token {
        id: record.id.to_string(),
        name: record.name.clone(),
        kind: record.kind.as_str().to_string(),
        user_id: record.user_id.to_string(),
        username: directory.username(record.user_id),
        tenant_id: record.tenant_id.to_string(),
        comment: record.comment.clone(),
        scopes: record.scopes.clone(),
        status: TokenStatus::at(now, record.expires_at, record.revoked_at)
            .as_str()
            .to_string(),
        created_at: rfc3339(record.created_at),
        created_by: record.created_by.map(|u| u.to_string()),
        expires_at: rfc3339(record.expires_at),
        last_used_at: record.last_used_at.map(rfc3339),
        revoked_at: record.revoked_at.map(rfc3339),
        revoked_by: record.revoked_by.map(|u| u.to_string()),
    }
}

/// A token without a record (an OAuth access token), as the API shows it after it was revoked.
pub fn unrecorded_token(directory: &Directory, actor: &Actor, now: i64) -> api::Token {
    api::Token {
        id: actor.token_id.to_string(),
        name: String::new(),
        kind: actor.kind.as_str().to_string(),
        user_id: actor.principal.id.to_string(),
        username: directory.username(actor.principal.id),
        tenant_id: actor.principal.tenant_id.to_string(),
        comment: String::new(),
        scopes: actor.scopes.clone().unwrap_or_default(),
        status: TokenStatus::Revoked.as_str().to_string(),
        created_at: String::new(),
        created_by: None,
        expires_at: actor.expires_at.map(rfc3339).unwrap_or_default(),
        last_used_at: None,
        revoked_at: Some(rfc3339(now)),
        revoked_by: Some(actor.principal.id.to_string()),
    }
}

/// A service user as the API shows it (never a key, never a key hash).
pub fn service_user(
    directory: &Directory,
    record: &ServiceUserRecord,
    keys: &[ApiKeyRecord],
    now: i64,
) -> api::ServiceUser {
    let current = keys.iter().find(|k| k.superseded_at.is_none());
    let previous_until = keys
        .iter()
        .filter(|k| k.superseded_at.is_some() && k.works_at(now))
        .filter_map(|k| k.grace_until)
        .max();
    let status = if !record.active {
        "disabled"
    } else if record.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    };
    api::ServiceUser {
        id: record.id.to_string(),
        client_id: record.id.to_string(),
        name: record.name.clone(),
        description: record.description.clone(),
        tenant_id: record.tenant_id.to_string(),
        tenant: directory
            .tenant_name(record.tenant_id)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        access_level: record.access_level.as_str().to_string(),
        role: seed_level(record.access_level).to_string(),
        scopes: record.scopes.clone(),
        active: record.active,
        status: status.to_string(),
        expires_at: record.expires_at.map(rfc3339),
        created_at: rfc3339(record.created_at),
        created_by: record.created_by.map(|id| directory.username(id)),
        updated_at: rfc3339(record.updated_at),
        last_used_at: record.last_used_at.map(rfc3339),
        key_hint: current.map(|k| format!("{}…", k.hint)).unwrap_or_default(),
        key_created_at: current.map(|k| rfc3339(k.created_at)).unwrap_or_default(),
        previous_key_valid_until: previous_until.map(rfc3339),
    }
}

/// A service user in the shape of a user (for `GET /api/v1/me`).
pub fn service_user_as_user(directory: &Directory, record: &ServiceUserRecord) -> api::User {
    api::User {
        id: record.id.to_string(),
        username: record.name.clone(),
        tenant_id: record.tenant_id.to_string(),
        tenant: directory
            .tenant_name(record.tenant_id)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        access_level: record.access_level.as_str().to_string(),
        roles: Vec::new(),
        active: record.active,
        token_max_duration: None,
        created_at: rfc3339(record.created_at),
    }
}

/// The seed documents' spelling of an access level.
pub fn seed_level(level: AccessLevel) -> &'static str {
    match level {
        AccessLevel::Root => "Root",
        AccessLevel::TenantAdmin => "TenantAdmin",
        AccessLevel::TenantUser => "TenantUser",
    }
}

/// A user as the API shows it (never the password hash).
pub fn user(directory: &Directory, record: &UserRecord, roles: Vec<String>) -> api::User {
    api::User {
        id: record.id.to_string(),
        username: record.username.clone(),
        tenant_id: record.tenant_id.to_string(),
        tenant: directory
            .tenant_name(record.tenant_id)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        access_level: record.access_level.as_str().to_string(),
        roles,
        active: record.active,
        token_max_duration: lifetime_text(record.token_max_secs),
        created_at: rfc3339(record.created_at),
    }
}

/// A role as the API shows it.
pub fn role(record: &RoleRecord, members: Vec<String>) -> api::Role {
    api::Role {
        id: record.id.to_string(),
        name: record.name.clone(),
        tenant_id: record.tenant_id.to_string(),
        token_max_duration: lifetime_text(record.token_max_secs),
        members,
        created_at: rfc3339(record.created_at),
    }
}

/// A tenant as the API shows it.
pub fn tenant(record: &TenantRecord) -> api::Tenant {
    api::Tenant {
        id: record.id.to_string(),
        name: record.name.clone(),
        created_at: rfc3339(record.created_at),
    }
}

/// An audit event as the API shows it.
pub fn audit(record: &AuditRecord) -> api::AuditEvent {
    api::AuditEvent {
        id: record.id,
        at: rfc3339(record.at),
        tenant_id: record.tenant_id.map(|t| t.to_string()),
        actor_id: record.actor_id.map(|u| u.to_string()),
        actor: record.actor_name.clone(),
        action: record.action.clone(),
        target_type: record.target_type.clone(),
        target_id: record.target_id.clone(),
        target_name: record.target_name.clone(),
        outcome: record.outcome.clone(),
        client_addr: record.client_addr.clone(),
        details: record.details.clone(),
    }
}
