//! The one error type of the client commands, its one-line message and its exit code.

use std::fmt;

use jeton_client::ClientError;

use crate::output::PrintError;
use crate::profile::ProfileError;

/// Exit code: the server refused (or failed), or a local operation failed.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: the command line or local input is wrong (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the server could not be reached.
pub const EXIT_UNREACHABLE: u8 = 3;

/// Why a command failed. [`fmt::Display`] is the line printed after `error: `.
#[derive(Debug)]
pub enum CliError {
    /// Bad command-line or local input (exit 2).
    Usage(String),
    /// The server answered with an error status (exit 1).
    Server {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// No answer from the server (exit 3).
    Unreachable {
        /// The server's URL.
        url: String,
    },
    /// The server's answer was not what the API promises (exit 1).
    InvalidResponse {
        /// The server's URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// A local operation (the profile file, the terminal) failed (exit 1).
    Local(String),
    /// Standard output was closed by its reader: stop quietly (exit 0).
    StdoutClosed,
    /// `jeton serve` or `jeton migrate` failed (exit 1).
    Failed(anyhow::Error),
    /// An error with lines to show under it (the source line of a syntax error with a caret
    /// under the column); its exit code is the inner error's.
    WithContext {
        /// The error.
        error: Box<CliError>,
        /// The lines shown after the error's line.
        context: String,
    },
}

impl CliError {
    /// Turns a client error into the command's error, with the hint that fits the status.
    /// `sent_credential` tells a missing login from a refused one.
    pub fn from_client(error: ClientError, url: &str, sent_credential: bool) -> Self {
        match error {
            ClientError::Api {
                status, message, ..
            } => CliError::Server {
                status,
                message,
                hint: default_hint(status, sent_credential).map(str::to_string),
            },
            ClientError::Unreachable(_) => CliError::Unreachable {
                url: url.to_string(),
            },
            ClientError::InvalidResponse(detail) => CliError::InvalidResponse {
                url: url.to_string(),
                detail,
            },
            ClientError::InvalidInput(message) => CliError::Usage(message),
        }
    }

    /// Replaces the hint of a [`CliError::Server`] error.
    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            CliError::Server {
                status, message, ..
            } => CliError::Server {
                status,
                message,
                hint: Some(hint.into()),
            },
            other => other,
        }
    }

    /// The same error with `context` shown on the lines under it.
    pub fn with_context(self, context: impl Into<String>) -> Self {
        CliError::WithContext {
            error: Box::new(self),
            context: context.into(),
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::WithContext { error, .. } => error.exit_code(),
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } => EXIT_UNREACHABLE,
            CliError::StdoutClosed => 0,
            CliError::Server { .. }
            | CliError::InvalidResponse { .. }
            | CliError::Local(_)
            | CliError::Failed(_) => EXIT_REFUSED,
        }
    }

    /// False when nothing should be printed (the reader of standard output went away).
    pub fn should_report(&self) -> bool {
        match self {
            CliError::WithContext { error, .. } => error.should_report(),
            other => !matches!(other, CliError::StdoutClosed),
        }
    }
}

fn default_hint(status: u16, sent_credential: bool) -> Option<&'static str> {
    Some(match status {
        401 if sent_credential => "run 'jeton login' again",
        401 => "run 'jeton login' first",
        403 => "your access level does not allow this",
        404 => "check the id or name",
        429 => "wait a minute and try again",
        500..=599 => "the server failed; its log has the details",
        _ => return None,
    })
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) | CliError::Local(message) => f.write_str(message),
            CliError::Server {
                status,
                message,
                hint,
            } => {
                write!(f, "{message} ({status})")?;
                if let Some(hint) = hint {
                    write!(f, " - {hint}")?;
                }
                Ok(())
            }
            CliError::Unreachable { url } => {
                write!(
                    f,
                    "cannot reach the server at {url} - is 'jeton serve' running?"
                )
            }
            CliError::InvalidResponse { url, detail } => {
                write!(f, "unexpected answer from the server at {url}: {detail}")
            }
            CliError::StdoutClosed => f.write_str("standard output closed"),
            CliError::Failed(error) => write!(f, "{error:#}"),
            CliError::WithContext { error, context } => write!(f, "{error}\n{context}"),
        }
    }
}

impl From<PrintError> for CliError {
    fn from(error: PrintError) -> Self {
        match error {
            PrintError::Closed(_) => CliError::StdoutClosed,
            PrintError::Io(e) => CliError::Local(format!("cannot write to standard output: {e}")),
        }
    }
}

impl From<ProfileError> for CliError {
    fn from(error: ProfileError) -> Self {
        match error {
            // A file the user can fix by hand is bad local input.
            ProfileError::Invalid { .. } | ProfileError::NoDirectory => {
                CliError::Usage(error.to_string())
            }
            ProfileError::Io { .. } => CliError::Local(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> ClientError {
        ClientError::Api {
            status,
            code: "x".into(),
            message: message.into(),
        }
    }

    #[test]
    fn server_errors_are_one_line_with_status_and_hint() {
        let err = CliError::from_client(api(401, "not authenticated"), "http://h", false);
        assert_eq!(
            err.to_string(),
            "not authenticated (401) - run 'jeton login' first"
        );
        assert_eq!(err.exit_code(), 1);
        let err = CliError::from_client(api(403, "forbidden"), "http://h", true);
        assert_eq!(
            err.to_string(),
            "forbidden (403) - your access level does not allow this"
        );
        let err = CliError::from_client(api(404, "token not found"), "http://h", true);
        assert_eq!(
            err.to_string(),
            "token not found (404) - check the id or name"
        );
        let err = CliError::from_client(api(422, "requested 90d exceeds 24h"), "http://h", true);
        assert_eq!(err.to_string(), "requested 90d exceeds 24h (422)");
        assert_eq!(
            err.with_hint("ask an admin").to_string(),
            "requested 90d exceeds 24h (422) - ask an admin"
        );
    }

    #[test]
    fn exit_codes_follow_the_kind_of_failure() {
        let unreachable = CliError::from_client(
            ClientError::Unreachable("refused".into()),
            "http://h:1",
            true,
        );
        assert_eq!(unreachable.exit_code(), 3);
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the server at http://h:1 - is 'jeton serve' running?"
        );
        let usage = CliError::from_client(ClientError::InvalidInput("bad".into()), "u", true);
        assert_eq!(usage.exit_code(), 2);
        let invalid = CliError::from_client(ClientError::InvalidResponse("x".into()), "u", true);
        assert_eq!(invalid.exit_code(), 1);
        assert_eq!(CliError::StdoutClosed.exit_code(), 0);
        assert!(!CliError::StdoutClosed.should_report());
    }

    #[test]
    fn context_lines_follow_the_error_and_keep_its_exit_code() {
        let err = CliError::from_client(api(400, "syntax error: line 1, column 5: ..."), "u", true)
            .with_context("1 | SHO USERS;\n  | ^");
        assert_eq!(
            err.to_string(),
            "syntax error: line 1, column 5: ... (400)\n1 | SHO USERS;\n  | ^"
        );
        assert_eq!(err.exit_code(), 1);
        assert!(err.should_report());
        assert!(!CliError::StdoutClosed.with_context("x").should_report());
    }
}
