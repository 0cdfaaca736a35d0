//! `jeton completions bash|zsh|fish|...`.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::Cli;
use crate::cli::error::CliError;
use crate::output::Out;

/// Prints the completion script for `shell`.
pub fn print(shell: Shell) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "jeton", &mut script);
    Ok(Out::raw(&script)?)
}
