//! One module per resource; each prints for people (`--output table`) or programs
//! (`--output json`). Shared here: reading secrets from standard input or the terminal.

pub mod audit;
pub mod auth;
pub mod completions;
pub mod keys;
pub mod policies;
pub mod roles;
pub mod service_users;
pub mod shell;
pub mod sql;
pub mod tenants;
pub mod tokens;
pub mod users;

use std::io::{self, IsTerminal, Read};

use jeton_core::Secret;

use super::error::CliError;

/// Reads a secret for `--password-stdin` or `--with-token`: all of standard input without its
/// final line break, or, when standard input is a terminal, a prompt that does not echo.
fn read_secret(what: &str) -> Result<Secret, CliError> {
    if io::stdin().is_terminal() {
        return prompt_secret(what);
    }
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read the {what} from standard input: {e}")))?;
    let secret = Secret::new(text.trim_end_matches(['\n', '\r']));
    if secret.expose().is_empty() {
        return Err(CliError::Usage(format!("no {what} on standard input")));
    }
    Ok(secret)
}

/// Asks for a secret on the terminal without echoing it.
fn prompt_secret(what: &str) -> Result<Secret, CliError> {
    let mut prompt = what.to_string();
    if let Some(first) = prompt.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let value = rpassword::prompt_password(format!("{prompt}: ")).map_err(|e| {
        CliError::Usage(format!(
            "cannot prompt for the {what} without a terminal ({e}): pipe it in on standard input"
        ))
    })?;
    if value.is_empty() {
        return Err(CliError::Usage(format!("no {what} given")));
    }
    Ok(Secret::new(value))
}
