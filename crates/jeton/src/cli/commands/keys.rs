//! `jeton keys list|rotate|revoke` (root). `rewrap` and `new-master-key` do not talk to a
//! server: `crate::serve` runs them.

use jeton_api::SigningKey;

use crate::cli::args::KeysCommand;
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// Runs one `jeton keys` command.
pub async fn run(ctx: &Context, command: KeysCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        KeysCommand::List => {
            let keys = client.list_signing_keys().await.map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(Out::json(&keys)?);
            }
            print_keys(&keys)
        }
        KeysCommand::Rotate => {
            let key = client
                .rotate_signing_key()
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(Out::json(&key)?);
            }
            Ok(Out::line(format!(
                "Key {} signs from now on, on every instance. Retired keys stay in the JWKS \
                 until the tokens they signed have expired (see `jeton keys list`).",
                key.kid
            ))?)
        }
        KeysCommand::Revoke(args) => {
            let key = client
                .revoke_signing_key(&args.kid)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json() {
                return Ok(Out::json(&key)?);
            }
            Ok(Out::line(format!(
                "Key {} is revoked: it left the JWKS, and every token it signed is refused on \
                 every instance.",
                key.kid
            ))?)
        }
        KeysCommand::Rewrap(_) | KeysCommand::NewMasterKey(_) => Err(CliError::Failed(
            anyhow::anyhow!("this command does not talk to a server"),
        )),
    }
}

fn print_keys(keys: &[SigningKey]) -> Result<(), CliError> {
    let mut table = output::table([
        "KID",
        "ALGORITHM",
        "STATUS",
        "CREATED",
        "RETIRED",
        "PUBLISHED UNTIL",
    ]);
    for key in keys {
        table.add_row(output::row([
            key.kid.clone(),
            key.algorithm.clone(),
            key.status.clone(),
            output::short_time(&key.created_at),
            key.retired_at
                .as_deref()
                .map(output::short_time)
                .unwrap_or_else(|| "-".to_string()),
            key.published_until
                .as_deref()
                .map(output::short_time)
                .unwrap_or_else(|| "-".to_string()),
        ]));
    }
    Ok(Out::table(&table)?)
}
