//! The `jeton` command line: parsing ([`args`]), the settings every client command shares
//! ([`context`]), one module per resource under [`commands`], and the one error type with its
//! exit codes ([`error`]).

pub mod args;
mod commands;
mod context;
pub mod error;

use args::{Cli, ClientCommand, Command, TokenCommand};
use commands::{
    audit, auth, completions, keys, policies, roles, service_users, shell, sql, tenants, tokens,
    users,
};
use context::Context;
pub use error::CliError;

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let Cli { global, command } = cli;
    match command {
        Command::Serve(args) => crate::serve::serve(*args).await.map_err(CliError::Failed),
        Command::Migrate(args) => crate::serve::migrate(args).await.map_err(CliError::Failed),
        Command::Completions(args) => completions::print(args.shell),
        // The master-key commands work on the database and files, not through a server.
        Command::Client(ClientCommand::Keys(args::KeysCommand::Rewrap(args))) => {
            crate::serve::rewrap(args).await.map_err(CliError::Failed)
        }
        Command::Client(ClientCommand::Keys(args::KeysCommand::NewMasterKey(args))) => {
            crate::serve::new_master_key(&args.file).map_err(CliError::Failed)
        }
        Command::Client(command) => {
            let mut ctx = Context::resolve(global)?;
            run_client(&mut ctx, command).await
        }
    }
}

async fn run_client(ctx: &mut Context, command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::Login(args) => auth::login(ctx, args).await,
        ClientCommand::Logout => auth::logout(ctx, auth::LogoutWording::Plain).await,
        ClientCommand::RevokeToken => auth::logout(ctx, auth::LogoutWording::Seed).await,
        ClientCommand::Whoami => auth::whoami(ctx).await,
        ClientCommand::Token(command) => match command {
            TokenCommand::Create(args) => tokens::create(ctx, args, tokens::Wording::Plain).await,
            TokenCommand::List(args) => {
                tokens::list(ctx, args.user.as_deref(), args.all, args.kind).await
            }
            TokenCommand::Show(args) => tokens::show(ctx, &args.id).await,
            TokenCommand::Comment(args) => tokens::comment(ctx, &args.id, args.comment).await,
            TokenCommand::Revoke(args) => match args.id {
                Some(id) => tokens::revoke(ctx, &id, tokens::Wording::Plain).await,
                None => auth::logout(ctx, auth::LogoutWording::Plain).await,
            },
            TokenCommand::RevokeAll(args) => tokens::revoke_all(ctx, &args.user).await,
            TokenCommand::Delete(args) => tokens::delete(ctx, &args.id).await,
        },
        ClientCommand::GetToken(args) => tokens::create(ctx, args, tokens::Wording::Seed).await,
        ClientCommand::RevokeTokenById(args) => {
            tokens::revoke(ctx, &args.id, tokens::Wording::Seed).await
        }
        ClientCommand::ListUserTokens(args) => {
            tokens::list(ctx, Some(&args.user_id), args.all, None).await
        }
        ClientCommand::DeleteToken(args) => tokens::delete(ctx, &args.token_id).await,
        ClientCommand::User(command) => users::run(ctx, command).await,
        ClientCommand::Role(command) => roles::run(ctx, command).await,
        ClientCommand::Policy(command) => policies::run(ctx, command).await,
        ClientCommand::Tenant(command) => tenants::run(ctx, command).await,
        ClientCommand::Keys(command) => keys::run(ctx, command).await,
        ClientCommand::ServiceUser(command) => service_users::run(ctx, command).await,
        ClientCommand::CreateServiceUser(args) => {
            service_users::create(ctx, args, tokens::Wording::Seed).await
        }
        ClientCommand::RotateServiceUserKey(args) => {
            service_users::rotate_key(ctx, args, tokens::Wording::Seed).await
        }
        ClientCommand::ListServiceUsers(args) => service_users::list(ctx, args.tenant).await,
        ClientCommand::Audit(args) => audit::run(ctx, args).await,
        ClientCommand::Sql(args) => sql::run(ctx, args).await,
        ClientCommand::Shell => shell::run(ctx).await,
    }
}
