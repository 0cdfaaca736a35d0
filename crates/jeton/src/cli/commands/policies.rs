//! `jeton policy ...`: API-token lifetime limits on users and roles.

use jeton_api::{EffectivePolicy, SetPolicyRequest};

use super::roles::print_role;
use crate::cli::args::{PolicyCommand, PolicyTarget};
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// Runs one `jeton policy` command.
pub async fn run(ctx: &Context, command: PolicyCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        PolicyCommand::Show(args) => {
            let policy = client
                .get_user_policy(&args.user)
                .await
                .map_err(|e| ctx.error(e))?;
            print_policy(ctx, &policy, None)
        }
        PolicyCommand::Set(args) => {
            let request = SetPolicyRequest {
                max_duration: args.max_duration,
            };
            match target(args.target)? {
                Target::User(user) => {
                    let policy = client
                        .set_user_policy(&user, &request)
                        .await
                        .map_err(|e| ctx.error(e))?;
                    let headline = format!(
                        "Limit set on user {}: {}. {}",
                        policy.username,
                        policy
                            .user_max_duration
                            .as_deref()
                            .unwrap_or(&request.max_duration),
                        effective(&policy)
                    );
                    print_policy(ctx, &policy, Some(headline))
                }
                Target::Role(role) => {
                    let role = client
                        .set_role_policy(&role, &request)
                        .await
                        .map_err(|e| ctx.error(e))?;
                    let headline = format!(
                        "Limit set on role {}: {}.",
                        role.name,
                        role.token_max_duration
                            .as_deref()
                            .unwrap_or(&request.max_duration)
                    );
                    print_role(ctx, &role, Some(headline))
                }
            }
        }
        PolicyCommand::Unset(args) => match target(args.target)? {
            Target::User(user) => {
                let policy = client
                    .unset_user_policy(&user)
                    .await
                    .map_err(|e| ctx.error(e))?;
                let headline = format!(
                    "Removed the limit set on user {}. {}",
                    policy.username,
                    effective(&policy)
                );
                print_policy(ctx, &policy, Some(headline))
            }
            Target::Role(role) => {
                let role = client
                    .unset_role_policy(&role)
                    .await
                    .map_err(|e| ctx.error(e))?;
                let headline = format!("Removed the limit set on role {}.", role.name);
                print_role(ctx, &role, Some(headline))
            }
        },
    }
}

enum Target {
    User(String),
    Role(String),
}

/// The one of `--user` / `--role` that was given (clap requires exactly one).
fn target(target: PolicyTarget) -> Result<Target, CliError> {
    match (target.user, target.role) {
        (Some(user), None) => Ok(Target::User(user)),
        (None, Some(role)) => Ok(Target::Role(role)),
        _ => Err(CliError::Usage(
            "give exactly one of --user and --role".into(),
        )),
    }
}

fn print_policy(
    ctx: &Context,
    policy: &EffectivePolicy,
    headline: Option<String>,
) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(policy)?);
    }
    if let Some(headline) = headline {
        Out::line(headline)?;
    }
    let source = source(policy);
    let role_limits: Vec<String> = policy
        .role_max_durations
        .iter()
        .map(|r| format!("{}: {}", r.role, r.max_duration))
        .collect();
    Out::table(&output::details([
        ("USER", policy.username.clone()),
        ("MAX DURATION", policy.effective_max_duration.clone()),
        ("SET BY", source),
        (
            "USER LIMIT",
            output::or_dash(policy.user_max_duration.as_deref()),
        ),
        ("ROLE LIMITS", output::list(&role_limits)),
        ("DEFAULT DURATION", policy.default_duration.clone()),
    ]))?;
    Ok(())
}

/// `role analysts`, `user alice` or `system maximum`.
fn source(policy: &EffectivePolicy) -> String {
    match (policy.source.as_str(), policy.source_name.as_deref()) {
        ("system", _) => "system maximum".to_string(),
        (kind, Some(name)) => format!("{kind} {name}"),
        (kind, None) => kind.to_string(),
    }
}

/// `The limit that applies is 30d (role analysts).`
fn effective(policy: &EffectivePolicy) -> String {
    format!(
        "The limit that applies is {} ({}).",
        policy.effective_max_duration,
        source(policy)
    )
}
