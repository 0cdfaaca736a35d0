//! The SQL-style command language, executed through the service layer: each statement of a
//! script becomes one service call, so the language has exactly the rules, permission checks,
//! messages and audit records of the HTTP API — never a second copy of them.
//!
//! A script runs statement by statement and stops at the first failure; what ran before it
//! stays done (each statement is its own transaction, as over HTTP).

use jeton_api as api;
use jeton_core::{Secret, TokenKind, TokenStatus};
use jeton_sql::{Spanned, Statement};
use serde_json::Value;

use crate::error::ApiError;
use crate::service::{
    CreateServiceUserInput, CreateTokenInput, CreateUserInput, ListTokensInput, MAX_PAGE, Service,
    UpdateServiceUserInput, UpdateUserInput, rfc3339,
};
use crate::verify::Actor;

/// Longest script accepted, in bytes.
pub const MAX_SCRIPT_BYTES: usize = 256 * 1024;
/// Most statements in one script.
pub const MAX_STATEMENTS: usize = 1_000;
/// Most rows a `SHOW` statement returns.
const MAX_ROWS: usize = 10_000;

/// A script that stopped: the results of the statements that ran, and why the next one failed.
#[derive(Debug)]
pub struct ScriptFailure {
    /// Results of the statements that ran before the failure.
    pub results: Vec<api::SqlResult>,
    /// The error, with the failing statement named in its message.
    pub error: ApiError,
    /// Where it failed.
    pub at: api::SqlErrorPosition,
}

/// Runs a script as `actor`.
pub async fn execute(
    service: &Service,
    actor: &Actor,
    script: &str,
) -> Result<Vec<api::SqlResult>, Box<ScriptFailure>> {
    if script.len() > MAX_SCRIPT_BYTES {
        return Err(Box::new(ScriptFailure {
            results: Vec::new(),
            error: ApiError::PayloadTooLarge(format!(
                "the script is too long: at most {MAX_SCRIPT_BYTES} bytes"
            )),
            at: api::SqlErrorPosition::default(),
        }));
    }
    let statements = jeton_sql::parse_spanned(script).map_err(|err| {
        Box::new(ScriptFailure {
            results: Vec::new(),
            error: ApiError::BadRequest(format!("syntax error: {err}")),
            at: api::SqlErrorPosition {
                statement_index: None,
                statement: None,
                line: Some(err.line),
                column: Some(err.column),
            },
        })
    })?;
    if statements.len() > MAX_STATEMENTS {
        return Err(Box::new(ScriptFailure {
            results: Vec::new(),
            error: ApiError::BadRequest(format!(
                "too many statements: at most {MAX_STATEMENTS} per script"
            )),
            at: api::SqlErrorPosition::default(),
        }));
    }
    let mut results = Vec::with_capacity(statements.len());
    for (index, statement) in statements.into_iter().enumerate() {
        let Spanned {
            value,
            line,
            column,
            ..
        } = statement;
        let kind = value.kind();
        match run(service, actor, value).await {
            Ok(mut result) => {
                result.statement = kind.to_string();
                result.line = line;
                results.push(result);
            }
            Err(error) => {
                let error = error
                    .map_message(|m| format!("statement {} ({kind}, line {line}): {m}", index + 1));
                return Err(Box::new(ScriptFailure {
                    results,
                    error,
                    at: api::SqlErrorPosition {
                        statement_index: Some(index + 1),
                        statement: Some(kind.to_string()),
                        line: Some(line),
                        column: Some(column),
                    },
                }));
            }
        }
    }
    Ok(results)
}

fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> api::SqlResult {
    api::SqlResult {
        statement: String::new(),
        line: 0,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        affected: None,
        message: None,
    }
}

fn done(affected: u64, message: impl Into<String>) -> api::SqlResult {
    api::SqlResult {
        statement: String::new(),
        line: 0,
        columns: Vec::new(),
        rows: Vec::new(),
        affected: Some(affected),
        message: Some(message.into()),
    }
}

fn text(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

fn opt(value: Option<String>) -> Value {
    value.map(Value::String).unwrap_or(Value::Null)
}

async fn run(
    service: &Service,
    actor: &Actor,
    statement: Statement,
) -> Result<api::SqlResult, ApiError> {
    let now = service.now();
    match statement {
        Statement::CreateApiToken {
            name,
            for_user,
            max_duration,
            comment,
            scopes,
        } => {
            let (secret, record) = service
                .create_token(
                    actor,
                    CreateTokenInput {
                        name,
                        comment,
                        expires_in: max_duration,
                        scopes: scopes.unwrap_or_default(),
                        for_user,
                    },
                )
                .await?;
            Ok(table(
                &["name", "token", "expires_at"],
                vec![vec![
                    text(record.name),
                    text(secret.expose()),
                    text(rfc3339(record.expires_at)),
                ]],
            ))
        }
        Statement::ShowApiTokens { for_user, all } => {
            let admin = Service::is_admin(actor);
            let mut rows = Vec::new();
            let mut cursor = None;
            loop {
                let page = service
                    .list_tokens(
                        actor,
                        ListTokensInput {
                            for_user: for_user.clone(),
                            all,
                            kind: Some(TokenKind::Api),
                            limit: Some(MAX_PAGE),
                            cursor,
                        },
                    )
                    .await?;
                for record in &page.items {
                    let status = TokenStatus::at(now, record.expires_at, record.revoked_at);
                    let mut row = vec![
                        text(record.name.clone()),
                        text(record.id.to_string()),
                        text(record.kind.as_str()),
                        text(rfc3339(record.created_at)),
                        text(rfc3339(record.expires_at)),
                        opt(record.last_used_at.map(rfc3339)),
                        text(status.as_str()),
                        text(record.comment.clone()),
                    ];
                    if admin {
                        row.insert(0, text(service.directory().username(record.user_id)));
                    }
                    rows.push(row);
                }
                match page.next_cursor {
                    Some(next) if rows.len() < MAX_ROWS => cursor = Some(next),
                    _ => break,
                }
            }
            let mut columns = vec![
                "name",
                "id",
                "kind",
                "created_at",
                "expires_at",
                "last_used_at",
                "status",
                "comment",
            ];
            if admin {
                columns.insert(0, "owner");
            }
            Ok(table(&columns, rows))
        }
        Statement::SetApiTokenComment {
            name,
            for_user,
            comment,
        } => {
            let record = service
                .find_token_by_name(actor, for_user.as_deref(), &name)
                .await?;
            service
                .set_token_comment(actor, &record.id.to_string(), &comment)
                .await?;
            Ok(done(1, format!("comment of token {name} changed")))
        }
        Statement::DropApiToken { name, for_user } => {
            let record = service
                .find_token_by_name(actor, for_user.as_deref(), &name)
                .await?;
            service.revoke_token(actor, &record.id.to_string()).await?;
            Ok(done(1, format!("token {name} revoked")))
        }
        Statement::DropAllApiTokens { for_user } => {
            let count = service.revoke_all_tokens(actor, Some(&for_user)).await?;
            Ok(done(count, format!("{count} tokens of {for_user} revoked")))
        }
        Statement::SetUserTokenMaxDuration { user, duration } => {
            service
                .set_user_policy(actor, &user, Some(&duration))
                .await?;
            Ok(done(
                1,
                format!("API token max duration of user {user} set to {duration}"),
            ))
        }
        Statement::UnsetUserTokenMaxDuration { user } => {
            service.set_user_policy(actor, &user, None).await?;
            Ok(done(
                1,
                format!("API token max duration of user {user} removed"),
            ))
        }
        Statement::SetRoleTokenMaxDuration { role, duration } => {
            service
                .set_role_policy(actor, &role, Some(&duration))
                .await?;
            Ok(done(
                1,
                format!("API token max duration of role {role} set to {duration}"),
            ))
        }
        Statement::UnsetRoleTokenMaxDuration { role } => {
            service.set_role_policy(actor, &role, None).await?;
            Ok(done(
                1,
                format!("API token max duration of role {role} removed"),
            ))
        }
        Statement::CreateUser {
            user,
            password,
            access_level,
            tenant,
        } => {
            let created = service
                .create_user(
                    actor,
                    CreateUserInput {
                        username: user,
                        password: password.map(|p| Secret::new(p.into_inner())),
                        access_level,
                        tenant,
                        roles: Vec::new(),
                    },
                )
                .await?;
            Ok(done(1, format!("user {} created", created.username)))
        }
        Statement::SetUserPassword { user, password } => {
            service
                .update_user(
                    actor,
                    &user,
                    UpdateUserInput {
                        password: Some(Secret::new(password.into_inner())),
                        ..Default::default()
                    },
                )
                .await?;
            Ok(done(1, format!("password of user {user} changed")))
        }
        Statement::SetUserActive { user, active } => {
            service
                .update_user(
                    actor,
                    &user,
                    UpdateUserInput {
                        active: Some(active),
                        ..Default::default()
                    },
                )
                .await?;
            let what = if active { "activated" } else { "deactivated" };
            Ok(done(1, format!("user {user} {what}")))
        }
        Statement::SetUserAccessLevel { user, access_level } => {
            let updated = service
                .update_user(
                    actor,
                    &user,
                    UpdateUserInput {
                        access_level: Some(access_level),
                        ..Default::default()
                    },
                )
                .await?;
            Ok(done(
                1,
                format!(
                    "access level of user {user} set to {}",
                    updated.access_level
                ),
            ))
        }
        Statement::DropUser { user } => {
            service.delete_user(actor, &user).await?;
            Ok(done(1, format!("user {user} deleted")))
        }
        Statement::ShowUsers => {
            let mut rows = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let (users, next) = service
                    .list_users(actor, Some(MAX_PAGE), cursor.as_deref())
                    .await?;
                for user in &users {
                    let roles = service.role_names(user.id).await?;
                    let view = crate::views::user(service.directory(), user, roles);
                    rows.push(vec![
                        text(view.username),
                        text(view.id),
                        text(view.tenant),
                        text(view.access_level),
                        text(view.roles.join(", ")),
                        Value::Bool(view.active),
                        opt(view.token_max_duration),
                        text(view.created_at),
                    ]);
                }
                match next {
                    Some(next) if rows.len() < MAX_ROWS => cursor = Some(next),
                    _ => break,
                }
            }
            Ok(table(
                &[
                    "username",
                    "id",
                    "tenant",
                    "access_level",
                    "roles",
                    "active",
                    "token_max_duration",
                    "created_at",
                ],
                rows,
            ))
        }
        Statement::CreateRole { role } => {
            let created = service.create_role(actor, &role, None).await?;
            Ok(done(1, format!("role {} created", created.name)))
        }
        Statement::DropRole { role } => {
            service.delete_role(actor, &role).await?;
            Ok(done(1, format!("role {role} deleted")))
        }
        Statement::ShowRoles => {
            let roles = service.list_roles(actor).await?;
            let mut rows = Vec::with_capacity(roles.len());
            for role in &roles {
                let members = service.role_members(role.id).await?;
                let view = crate::views::role(role, members);
                rows.push(vec![
                    text(view.name),
                    text(view.id),
                    text(view.members.join(", ")),
                    opt(view.token_max_duration),
                    text(view.created_at),
                ]);
            }
            Ok(table(
                &["name", "id", "members", "token_max_duration", "created_at"],
                rows,
            ))
        }
        Statement::GrantRole { role, user } => {
            service
                .set_role_membership(actor, &user, &role, true)
                .await?;
            Ok(done(1, format!("role {role} granted to user {user}")))
        }
        Statement::RevokeRole { role, user } => {
            service
                .set_role_membership(actor, &user, &role, false)
                .await?;
            Ok(done(1, format!("role {role} revoked from user {user}")))
        }
        Statement::CreateServiceUser {
            service_user,
            access_level,
            description,
            expires_in,
            scopes,
        } => {
            let created = service
                .create_service_user(
                    actor,
                    CreateServiceUserInput {
                        name: service_user,
                        description,
                        access_level,
                        expires_in,
                        expires_at: None,
                        scopes: scopes.unwrap_or_default(),
                        tenant: None,
                    },
                )
                .await?;
            let user = &created.service_user;
            Ok(table(
                &["name", "id", "api_key", "access_level", "expires_at"],
                vec![vec![
                    text(user.name.clone()),
                    text(user.id.to_string()),
                    text(created.key.expose()),
                    text(user.access_level.as_str()),
                    opt(user.expires_at.map(rfc3339)),
                ]],
            ))
        }
        Statement::ShowServiceUsers => {
            let mut rows = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let (users, next) = service
                    .list_service_users(actor, None, Some(MAX_PAGE), cursor.as_deref())
                    .await?;
                for user in &users {
                    let keys = service.service_user_keys(user.id).await?;
                    let view = crate::views::service_user(service.directory(), user, &keys, now);
                    rows.push(vec![
                        text(view.name),
                        text(view.id),
                        text(view.tenant),
                        text(view.role),
                        Value::Bool(view.active),
                        text(view.status),
                        opt(view.last_used_at),
                        opt(view.expires_at),
                        text(view.description),
                    ]);
                }
                match next {
                    Some(next) if rows.len() < MAX_ROWS => cursor = Some(next),
                    _ => break,
                }
            }
            Ok(table(
                &[
                    "name",
                    "id",
                    "tenant",
                    "role",
                    "active",
                    "status",
                    "last_used_at",
                    "expires_at",
                    "description",
                ],
                rows,
            ))
        }
        Statement::RotateServiceUserKey {
            service_user,
            grace,
        } => {
            let rotated = service
                .rotate_service_user_key(actor, &service_user, grace.as_deref())
                .await?;
            let view = crate::views::service_user(
                service.directory(),
                &rotated.service_user,
                &rotated.keys,
                now,
            );
            Ok(table(
                &["name", "id", "api_key", "previous_key_valid_until"],
                vec![vec![
                    text(view.name),
                    text(view.id),
                    text(rotated.key.expose()),
                    opt(view.previous_key_valid_until),
                ]],
            ))
        }
        Statement::SetServiceUserActive {
            service_user,
            active,
        } => {
            service
                .set_service_user_active(actor, &service_user, active)
                .await?;
            let what = if active { "enabled" } else { "disabled" };
            Ok(done(1, format!("service user {service_user} {what}")))
        }
        Statement::SetServiceUserDescription {
            service_user,
            description,
        } => {
            service
                .update_service_user(
                    actor,
                    &service_user,
                    UpdateServiceUserInput {
                        description: Some(description),
                        ..Default::default()
                    },
                )
                .await?;
            Ok(done(
                1,
                format!("description of service user {service_user} changed"),
            ))
        }
        Statement::DropServiceUser { service_user } => {
            service.delete_service_user(actor, &service_user).await?;
            Ok(done(1, format!("service user {service_user} deleted")))
        }
        Statement::ShowAudit {
            for_user,
            action,
            limit,
        } => {
            let wanted = limit.unwrap_or(100) as usize;
            let mut rows = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page =
                    u32::try_from((wanted - rows.len()).min(MAX_PAGE as usize)).unwrap_or(MAX_PAGE);
                let (events, next) = service
                    .list_audit(
                        actor,
                        for_user.as_deref(),
                        action.as_deref(),
                        None,
                        None,
                        Some(page),
                        cursor.as_deref(),
                    )
                    .await?;
                for event in &events {
                    rows.push(vec![
                        Value::from(event.id),
                        text(rfc3339(event.at)),
                        opt(event.actor_name.clone()),
                        text(event.action.clone()),
                        opt(event
                            .target_name
                            .clone()
                            .or_else(|| event.target_id.clone())),
                        text(event.outcome.clone()),
                        opt(event.client_addr.clone()),
                        text(event.details.to_string()),
                    ]);
                }
                match next {
                    Some(next) if rows.len() < wanted => cursor = Some(next),
                    _ => break,
                }
            }
            Ok(table(
                &[
                    "id",
                    "at",
                    "actor",
                    "action",
                    "target",
                    "outcome",
                    "client_addr",
                    "details",
                ],
                rows,
            ))
        }
    }
}
