//! `jeton role ...`.

use jeton_api::{CreateRoleRequest, PageQuery, Role};
use jeton_client::collect_pages;

use super::tokens::PAGE_SIZE;
use crate::cli::args::RoleCommand;
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// Runs one `jeton role` command.
pub async fn run(ctx: &Context, command: RoleCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        RoleCommand::List => {
            let roles = collect_pages(|cursor| {
                let query = PageQuery {
                    limit: Some(PAGE_SIZE),
                    cursor,
                };
                let client = &client;
                async move { client.list_roles(&query).await }
            })
            .await
            .map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(Out::json(&roles)?);
            }
            if roles.is_empty() {
                return Ok(Out::line("No roles.")?);
            }
            let mut table = output::table(["NAME", "ID", "TOKEN MAX", "MEMBERS", "CREATED"]);
            for role in &roles {
                table.add_row(output::row([
                    role.name.clone(),
                    role.id.clone(),
                    output::or_dash(role.token_max_duration.as_deref()),
                    output::list(&role.members),
                    output::short_time(&role.created_at),
                ]));
            }
            Ok(Out::table(&table)?)
        }
        RoleCommand::Create(args) => {
            let request = CreateRoleRequest {
                name: args.name,
                tenant: args.tenant,
            };
            let role = client
                .create_role(&request)
                .await
                .map_err(|e| ctx.error(e))?;
            print_role(ctx, &role, Some(format!("Role {} created.", role.name)))
        }
        RoleCommand::Show(args) => {
            let role = client
                .get_role(&args.name)
                .await
                .map_err(|e| ctx.error(e))?;
            print_role(ctx, &role, None)
        }
        RoleCommand::Delete(args) => {
            client
                .delete_role(&args.name)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(());
            }
            Ok(Out::line(format!("Role {} deleted.", args.name))?)
        }
    }
}

/// Prints one role, after an optional sentence.
pub fn print_role(ctx: &Context, role: &Role, headline: Option<String>) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(role)?);
    }
    if let Some(headline) = headline {
        Out::line(headline)?;
    }
    Out::table(&output::details([
        ("NAME", role.name.clone()),
        ("ID", role.id.clone()),
        ("TENANT ID", role.tenant_id.clone()),
        (
            "TOKEN MAX DURATION",
            output::or_dash(role.token_max_duration.as_deref()),
        ),
        ("MEMBERS", output::list(&role.members)),
        ("CREATED", role.created_at.clone()),
    ]))?;
    Ok(())
}
