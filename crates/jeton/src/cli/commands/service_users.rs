//! `jeton service-user ...` and the seed documents' spellings (`create-service-user`,
//! `rotate-service-user-key`, `list-service-users`).

use jeton_api::{
    CreateServiceUserRequest, RotateKeyRequest, ServiceUser, ServiceUserListQuery,
    ServiceUserWithKey, UpdateServiceUserRequest,
};
use jeton_client::collect_pages;

use super::tokens::{PAGE_SIZE, Wording};
use crate::cli::args::{
    ServiceUserCommand, ServiceUserCreateArgs, ServiceUserRotateArgs, ServiceUserUpdateArgs,
};
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// Runs one `jeton service-user` command.
pub async fn run(ctx: &Context, command: ServiceUserCommand) -> Result<(), CliError> {
    match command {
        ServiceUserCommand::Create(args) => create(ctx, args, Wording::Plain).await,
        ServiceUserCommand::List(args) => list(ctx, args.tenant).await,
        ServiceUserCommand::Show(args) => {
            let service_user = ctx
                .client()?
                .get_service_user(&args.service_user)
                .await
                .map_err(|e| ctx.error(e))?;
            print_service_user(ctx, &service_user, None)
        }
        ServiceUserCommand::Update(args) => update(ctx, args).await,
        ServiceUserCommand::Disable(args) => {
            let service_user = ctx
                .client()?
                .disable_service_user(&args.service_user)
                .await
                .map_err(|e| ctx.error(e))?;
            let headline = format!(
                "Service user {} disabled: its API key and every token issued from it stop \
                 working at once.",
                service_user.name
            );
            print_service_user(ctx, &service_user, Some(headline))
        }
        ServiceUserCommand::Enable(args) => {
            let service_user = ctx
                .client()?
                .enable_service_user(&args.service_user)
                .await
                .map_err(|e| ctx.error(e))?;
            let headline = format!("Service user {} enabled.", service_user.name);
            print_service_user(ctx, &service_user, Some(headline))
        }
        ServiceUserCommand::Delete(args) => {
            ctx.client()?
                .delete_service_user(&args.service_user)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(());
            }
            Ok(Out::line(format!(
                "Service user {} deleted: its API key no longer works.",
                args.service_user
            ))?)
        }
        ServiceUserCommand::RotateKey(args) => rotate_key(ctx, args, Wording::Plain).await,
    }
}

/// `jeton service-user create` / `jeton create-service-user`. On a terminal: the id (the OAuth2
/// client_id), name, access level, expiry and the key once, with a warning. Piped: only the
/// key, so `KEY=$(jeton service-user create ...)` works.
pub async fn create(
    ctx: &Context,
    args: ServiceUserCreateArgs,
    wording: Wording,
) -> Result<(), CliError> {
    let request = CreateServiceUserRequest {
        name: args.name,
        description: args.description,
        access_level: args.access_level,
        expires_in: args.expires_in,
        expires_at: args.expires_at,
        scopes: args.scopes,
        tenant: args.tenant,
    };
    let created = ctx
        .client()?
        .create_service_user(&request)
        .await
        .map_err(|e| ctx.error(e))?;
    let headline = match wording {
        Wording::Plain => format!("✅ Service user {} created.", created.service_user.name),
        Wording::Seed => "✅ Service user created successfully!".to_string(),
    };
    print_key(ctx, &created, &headline, None)
}

/// `jeton service-user rotate-key` / `jeton rotate-service-user-key`: prints the new key like
/// [`create`], and on a terminal says until when the old key works.
pub async fn rotate_key(
    ctx: &Context,
    args: ServiceUserRotateArgs,
    wording: Wording,
) -> Result<(), CliError> {
    let request = RotateKeyRequest {
        grace: args.grace.clone(),
    };
    let rotated = ctx
        .client()?
        .rotate_service_user_key(args.target(), &request)
        .await
        .map_err(|e| ctx.error(e))?;
    let service_user = &rotated.service_user;
    let headline = match wording {
        Wording::Plain => format!("✅ API key of service user {} rotated.", service_user.name),
        Wording::Seed => "✅ Service user API key rotated successfully!".to_string(),
    };
    // The server's answer, not the flag, says what happens to the old key.
    let old_key = match &service_user.previous_key_valid_until {
        Some(until) => format!(
            "The old key keeps working until {} or until the new key is first used, whichever \
             comes first.",
            output::short_time(until)
        ),
        None => "The old key stopped working now.".to_string(),
    };
    print_key(ctx, &rotated, &headline, Some(old_key))
}

/// `jeton service-user list` / `jeton list-service-users`: every page, as one table.
pub async fn list(ctx: &Context, tenant: Option<String>) -> Result<(), CliError> {
    let client = ctx.client()?;
    let service_users = collect_pages(|cursor| {
        let query = ServiceUserListQuery {
            tenant: tenant.clone(),
            limit: Some(PAGE_SIZE),
            cursor,
        };
        let client = &client;
        async move { client.list_service_users(&query).await }
    })
    .await
    .map_err(|e| ctx.error(e))?;
    if ctx.json() {
        return Ok(Out::json(&service_users)?);
    }
    if service_users.is_empty() {
        return Ok(Out::line(
            "No service users. Create one with 'jeton service-user create --name NAME'.",
        )?);
    }
    // Only root sees several tenants at once; then each row says whose it is.
    let several_tenants = service_users
        .iter()
        .any(|s| s.tenant_id != service_users[0].tenant_id);
    let mut headers = vec!["NAME", "ID"];
    if several_tenants {
        headers.push("TENANT");
    }
    headers.extend(["ROLE", "ACTIVE", "LAST USED", "EXPIRES", "KEY"]);
    let mut table = output::table(headers);
    for service_user in &service_users {
        let mut row = vec![service_user.name.clone(), service_user.id.clone()];
        if several_tenants {
            row.push(service_user.tenant.clone());
        }
        row.extend([
            service_user.access_level.clone(),
            output::yes_no(service_user.active).to_string(),
            output::short_time_or(service_user.last_used_at.as_deref(), "never"),
            expiry(service_user, output::short_time),
            service_user.key_hint.clone(),
        ]);
        table.add_row(output::row(row));
    }
    Ok(Out::table(&table)?)
}

/// `jeton service-user update`.
async fn update(ctx: &Context, args: ServiceUserUpdateArgs) -> Result<(), CliError> {
    let scopes = if args.clear_scopes {
        Some(Vec::new())
    } else if args.scopes.is_empty() {
        None
    } else {
        Some(args.scopes)
    };
    let request = UpdateServiceUserRequest {
        name: args.name,
        description: args.description,
        access_level: args.access_level,
        active: None,
        expires_in: args.expires_in,
        scopes,
    };
    let service_user = ctx
        .client()?
        .update_service_user(&args.service_user, &request)
        .await
        .map_err(|e| ctx.error(e))?;
    let headline = format!("Service user {} updated.", service_user.name);
    print_service_user(ctx, &service_user, Some(headline))
}

/// Prints a service user with its new key: the whole answer as JSON; only the key when standard
/// output is not a terminal; otherwise the key with the facts needed to use it, then `note` and
/// the warning that it is shown once.
fn print_key(
    ctx: &Context,
    answer: &ServiceUserWithKey,
    headline: &str,
    note: Option<String>,
) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(answer)?);
    }
    if !Out::is_terminal() {
        return Ok(Out::line(&answer.api_key)?);
    }
    let service_user = &answer.service_user;
    let rule = "━".repeat(64);
    let mut lines = vec![
        headline.to_string(),
        rule.clone(),
        format!("API key:      {}", answer.api_key),
        format!("ID:           {} (OAuth2 client_id)", service_user.id),
        format!("Name:         {}", service_user.name),
        format!("Tenant:       {}", service_user.tenant),
        format!("Access level: {}", access_level(service_user)),
        format!("Expires:      {}", expiry(service_user, str::to_string)),
    ];
    if !service_user.scopes.is_empty() {
        lines.push(format!("Scopes:       {}", service_user.scopes.join(" ")));
    }
    lines.push(rule);
    lines.push(String::new());
    if let Some(note) = note {
        lines.push(note);
    }
    lines.push(
        "Send the key as the X-API-Key header, or use the ID and the key as OAuth2 client \
         credentials."
            .to_string(),
    );
    lines.push("⚠️  Copy the API key now: it will not be shown again.".to_string());
    Out::line(lines.join("\n"))?;
    Ok(())
}

fn print_service_user(
    ctx: &Context,
    service_user: &ServiceUser,
    headline: Option<String>,
) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(service_user)?);
    }
    if let Some(headline) = headline {
        Out::line(headline)?;
    }
    Out::table(&output::details([
        ("NAME", service_user.name.clone()),
        ("ID (CLIENT ID)", service_user.id.clone()),
        (
            "TENANT",
            format!("{} ({})", service_user.tenant, service_user.tenant_id),
        ),
        ("ACCESS LEVEL", access_level(service_user)),
        (
            "DESCRIPTION",
            output::or_dash(Some(&service_user.description)),
        ),
        ("SCOPES", output::list(&service_user.scopes)),
        ("ACTIVE", output::yes_no(service_user.active).to_string()),
        ("STATUS", service_user.status.clone()),
        ("EXPIRES", expiry(service_user, str::to_string)),
        ("CREATED", service_user.created_at.clone()),
        (
            "CREATED BY",
            output::or_dash(service_user.created_by.as_deref()),
        ),
        ("UPDATED", service_user.updated_at.clone()),
        (
            "LAST USED",
            service_user
                .last_used_at
                .clone()
                .unwrap_or_else(|| "never".into()),
        ),
        ("KEY", service_user.key_hint.clone()),
        ("KEY CREATED", service_user.key_created_at.clone()),
        (
            "OLD KEY WORKS UNTIL",
            output::or_dash(service_user.previous_key_valid_until.as_deref()),
        ),
    ]))?;
    Ok(())
}

/// `tenant-user (TenantUser)`: Jeton's spelling and the seed documents'.
fn access_level(service_user: &ServiceUser) -> String {
    if service_user.role.is_empty() || service_user.role == service_user.access_level {
        service_user.access_level.clone()
    } else {
        format!("{} ({})", service_user.access_level, service_user.role)
    }
}

/// The expiry as `format` shows a time, `never` when there is none, marked when it has passed.
fn expiry(service_user: &ServiceUser, format: impl Fn(&str) -> String) -> String {
    let Some(at) = service_user.expires_at.as_deref() else {
        return "never".to_string();
    };
    if service_user.status == "expired" {
        format!("{} (expired)", format(at))
    } else {
        format(at)
    }
}
