//! The `jeton` command: `jeton serve` and `jeton migrate` run the server; every other command is
//! a client of one (see `jeton --help`).
//!
//! `main` only parses the command line and maps the outcome to an exit code: 0 ok, 1 the server
//! said no, 2 usage error, 3 the server cannot be reached.

mod cli;
mod output;
mod profile;
mod serve;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // clap prints usage errors and exits with 2 itself (0 for --help and --version).
    let args = cli::args::Cli::parse();
    match cli::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if error.should_report() {
                output::report_error(&error);
            }
            ExitCode::from(error.exit_code())
        }
    }
}
