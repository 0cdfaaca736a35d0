//! `jeton tenant ...` (root only).

use jeton_api::{CreateTenantRequest, PageQuery, Tenant};
use jeton_client::collect_pages;

use super::tokens::PAGE_SIZE;
use crate::cli::args::TenantCommand;
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// Runs one `jeton tenant` command.
pub async fn run(ctx: &Context, command: TenantCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        TenantCommand::List => {
            let tenants = collect_pages(|cursor| {
                let query = PageQuery {
                    limit: Some(PAGE_SIZE),
                    cursor,
                };
                let client = &client;
                async move { client.list_tenants(&query).await }
            })
            .await
            .map_err(|e| ctx.error(e))?;
            print_tenants(ctx, &tenants)
        }
        TenantCommand::Create(args) => {
            let tenant = client
                .create_tenant(&CreateTenantRequest { name: args.name })
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(Out::json(&tenant)?);
            }
            Ok(Out::line(format!(
                "Tenant {} created (id {}).",
                tenant.name, tenant.id
            ))?)
        }
        TenantCommand::Delete(args) => {
            client
                .delete_tenant(&args.name)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(());
            }
            Ok(Out::line(format!("Tenant {} deleted.", args.name))?)
        }
    }
}

fn print_tenants(ctx: &Context, tenants: &[Tenant]) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(tenants)?);
    }
    if tenants.is_empty() {
        return Ok(Out::line("No tenants.")?);
    }
    let mut table = output::table(["NAME", "ID", "CREATED"]);
    for tenant in tenants {
        table.add_row(output::row([
            tenant.name.clone(),
            tenant.id.clone(),
            output::short_time(&tenant.created_at),
        ]));
    }
    Ok(Out::table(&table)?)
}
