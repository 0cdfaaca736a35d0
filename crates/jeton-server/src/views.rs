//! Records turned into the API's wire types.

use jeton_api as api;
use jeton_core::{Lifetime, TokenStatus};
use jeton_store::{AuditRecord, RoleRecord, TenantRecord, TokenRecord, UserRecord};

use crate::directory::Directory;
use crate::service::{rfc3339, secs_to_lifetime};

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
