//! `jeton user ...`.

use jeton_api::{CreateUserRequest, PageQuery, UpdateUserRequest, User};
use jeton_client::collect_pages;

use super::tokens::PAGE_SIZE;
use super::{prompt_secret, read_secret};
use crate::cli::args::UserCommand;
use crate::cli::args::UserSetPasswordArgs;
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// Runs one `jeton user` command.
pub async fn run(ctx: &Context, command: UserCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        UserCommand::List => {
            let users = collect_pages(|cursor| {
                let query = PageQuery {
                    limit: Some(PAGE_SIZE),
                    cursor,
                };
                let client = &client;
                async move { client.list_users(&query).await }
            })
            .await
            .map_err(|e| ctx.error(e))?;
            print_users(ctx, &users)
        }
        UserCommand::Create(args) => {
            let password = if args.password_stdin {
                Some(read_secret("password")?.expose().to_string())
            } else {
                None
            };
            let request = CreateUserRequest {
                username: args.username,
                password,
                access_level: args.access_level,
                tenant: args.tenant,
                roles: args.roles,
            };
            let user = client
                .create_user(&request)
                .await
                .map_err(|e| ctx.error(e))?;
            let mut headline = format!("User {} created.", user.username);
            if request.password.is_none() {
                headline.push_str(
                    " It has no password: it can use tokens created for it with \
                     'jeton token create --for-user'.",
                );
            }
            print_user(ctx, &user, Some(headline))
        }
        UserCommand::Show(args) => {
            let user = client
                .get_user(&args.user)
                .await
                .map_err(|e| ctx.error(e))?;
            print_user(ctx, &user, None)
        }
        UserCommand::Update(args) => {
            let password = if args.password_stdin {
                Some(read_secret("new password")?.expose().to_string())
            } else {
                None
            };
            let request = UpdateUserRequest {
                password,
                active: args.active,
                access_level: args.access_level,
                ..Default::default()
            };
            let user = client
                .update_user(&args.user, &request)
                .await
                .map_err(|e| ctx.error(e))?;
            print_user(ctx, &user, Some(format!("User {} updated.", user.username)))
        }
        UserCommand::SetPassword(args) => set_password(ctx, &client, args).await,
        UserCommand::Disable(args) => {
            let user = set_active(ctx, &client, &args.user, false).await?;
            let headline = format!(
                "User {} disabled: their tokens stop working at once.",
                user.username
            );
            print_user(ctx, &user, Some(headline))
        }
        UserCommand::Enable(args) => {
            let user = set_active(ctx, &client, &args.user, true).await?;
            print_user(ctx, &user, Some(format!("User {} enabled.", user.username)))
        }
        UserCommand::Delete(args) => {
            client
                .delete_user(&args.user)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(());
            }
            Ok(Out::line(format!("User {} deleted.", args.user))?)
        }
        UserCommand::GrantRole(args) => {
            let user = client
                .grant_role(&args.user, &args.role)
                .await
                .map_err(|e| ctx.error(e))?;
            let headline = format!("Role {} granted to {}.", args.role, user.username);
            print_user(ctx, &user, Some(headline))
        }
        UserCommand::RevokeRole(args) => {
            let user = client
                .revoke_role(&args.user, &args.role)
                .await
                .map_err(|e| ctx.error(e))?;
            let headline = format!("Role {} taken from {}.", args.role, user.username);
            print_user(ctx, &user, Some(headline))
        }
    }
}

async fn set_active(
    ctx: &Context,
    client: &jeton_client::Client,
    user: &str,
    active: bool,
) -> Result<User, CliError> {
    let request = UpdateUserRequest {
        active: Some(active),
        ..UpdateUserRequest::default()
    };
    client
        .update_user(user, &request)
        .await
        .map_err(|e| ctx.error(e))
}

fn print_users(ctx: &Context, users: &[User]) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(users)?);
    }
    if users.is_empty() {
        return Ok(Out::line("No users.")?);
    }
    let mut table = output::table([
        "USERNAME",
        "ID",
        "TENANT",
        "ACCESS LEVEL",
        "ROLES",
        "ACTIVE",
        "TOKEN MAX",
        "CREATED",
    ]);
    for user in users {
        table.add_row(output::row([
            user.username.clone(),
            user.id.clone(),
            user.tenant.clone(),
            user.access_level.clone(),
            output::list(&user.roles),
            output::yes_no(user.active).to_string(),
            output::or_dash(user.token_max_duration.as_deref()),
            output::short_time(&user.created_at),
        ]));
    }
    Ok(Out::table(&table)?)
}

fn print_user(ctx: &Context, user: &User, headline: Option<String>) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(user)?);
    }
    if let Some(headline) = headline {
        Out::line(headline)?;
    }
    Out::table(&output::details([
        ("USERNAME", user.username.clone()),
        ("ID", user.id.clone()),
        ("TENANT", format!("{} ({})", user.tenant, user.tenant_id)),
        ("ACCESS LEVEL", user.access_level.clone()),
        ("ROLES", output::list(&user.roles)),
        ("ACTIVE", output::yes_no(user.active).to_string()),
        (
            "TOKEN MAX DURATION",
            output::or_dash(user.token_max_duration.as_deref()),
        ),
        ("CREATED", user.created_at.clone()),
    ]))?;
    Ok(())
}

/// `jeton user set-password`: one's own password, proven with the current one, or an
/// administrator's reset of another user's.
async fn set_password(
    ctx: &Context,
    client: &jeton_client::Client,
    args: UserSetPasswordArgs,
) -> Result<(), CliError> {
    let me = client.me().await.map_err(|e| ctx.error(e))?;
    let target = args.user.unwrap_or_else(|| me.user.username.clone());
    let is_self = target == me.user.username || target == me.user.id;
    if args.current_password_stdin && !is_self {
        return Err(CliError::Usage(
            "--current-password-stdin is for changing your own password".to_string(),
        ));
    }
    // Standard input holds, one per line, what is read from it: the current password first.
    let mut stdin_lines = if args.current_password_stdin || args.password_stdin {
        let both = args.current_password_stdin && args.password_stdin;
        let text = read_secret(if both { "passwords" } else { "password" })?;
        text.expose()
            .lines()
            .map(|line| line.trim_end_matches('\r').to_string())
            .collect::<Vec<_>>()
            .into_iter()
    } else {
        Vec::new().into_iter()
    };
    let mut from_stdin = |what: &str| {
        stdin_lines
            .next()
            .filter(|line| !line.is_empty())
            .ok_or_else(|| CliError::Usage(format!("no {what} on standard input")))
    };
    let current_password = if !is_self {
        None
    } else if args.current_password_stdin {
        Some(from_stdin("current password")?)
    } else {
        Some(prompt_secret("current password")?.expose().to_string())
    };
    let password = if args.password_stdin {
        from_stdin("new password")?
    } else {
        let first = prompt_secret("new password")?;
        let again = prompt_secret("new password again")?;
        if first.expose() != again.expose() {
            return Err(CliError::Usage("the two new passwords differ".to_string()));
        }
        first.expose().to_string()
    };
    let request = UpdateUserRequest {
        password: Some(password),
        current_password,
        revoke_tokens: args.revoke_tokens.then_some(true),
        ..Default::default()
    };
    let user = client
        .update_user(&target, &request)
        .await
        .map_err(|e| ctx.error(e))?;
    let ended = if args.revoke_tokens {
        "their sessions and API tokens are revoked"
    } else {
        "their sessions are revoked"
    };
    let mut headline = format!("Password of {} changed; {ended}.", user.username);
    if is_self {
        headline.push_str(" Log in again with 'jeton login' if you used a password session.");
    }
    print_user(ctx, &user, Some(headline))
}
