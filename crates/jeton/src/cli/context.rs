//! What every client command starts from: the server URL and credential, resolved once from the
//! flags, the environment and the saved profile (in that order), and the output format.

use jeton_client::{Client, ClientError};
use jeton_core::Secret;

use super::args::GlobalArgs;
use super::error::CliError;
use crate::output::OutputFormat;
use crate::profile::{self, Profile, Profiles};

/// The server used when neither a flag, the environment nor the profile names one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Where the credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `--token` or `JETON_TOKEN`.
    Override,
    /// The saved profile.
    Profile,
    /// Nowhere: requests go out without a credential.
    None,
}

/// The resolved settings of one client command.
#[derive(Debug)]
pub struct Context {
    /// How to print.
    pub output: OutputFormat,
    /// The server's base URL.
    pub url: String,
    /// The profile's name.
    pub profile_name: String,
    token: Option<Secret>,
    token_source: TokenSource,
    profiles: Profiles,
}

impl Context {
    /// Resolves URL and credential: flag, then environment (clap merges those two), then the
    /// saved profile, then [`DEFAULT_URL`] / no credential.
    pub fn resolve(global: GlobalArgs) -> Result<Self, CliError> {
        let profiles = Profiles::load(&profile::config_dir()?)?;
        let saved = profiles.get(&global.profile).cloned().unwrap_or_default();
        let non_empty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());

        let url = non_empty(global.url)
            .or_else(|| non_empty(saved.url))
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let (token, token_source) = match (non_empty(global.token), non_empty(saved.token)) {
            (Some(token), _) => (Some(token), TokenSource::Override),
            (None, Some(token)) => (Some(token), TokenSource::Profile),
            (None, None) => (None, TokenSource::None),
        };
        Ok(Self {
            output: global.output,
            url: url.trim().trim_end_matches('/').to_string(),
            profile_name: global.profile,
            token: token.map(|t| Secret::new(t.trim())),
            token_source,
            profiles,
        })
    }

    /// True when printing JSON.
    pub fn json(&self) -> bool {
        self.output == OutputFormat::Json
    }

    /// Where the credential came from.
    pub fn token_source(&self) -> TokenSource {
        self.token_source
    }

    /// A client presenting the resolved credential (if any).
    pub fn client(&self) -> Result<Client, CliError> {
        let client = self.anonymous_client()?;
        Ok(match &self.token {
            Some(token) => client.with_token(token.expose()),
            None => client,
        })
    }

    /// A client presenting no credential.
    pub fn anonymous_client(&self) -> Result<Client, CliError> {
        Client::new(&self.url).map_err(|e| self.error(e))
    }

    /// Turns a client error into the command's error, hinting by status.
    pub fn error(&self, error: ClientError) -> CliError {
        CliError::from_client(error, &self.url, self.token.is_some())
    }

    /// The saved profile of this command, if any.
    pub fn saved_profile(&self) -> Option<&Profile> {
        self.profiles.get(&self.profile_name)
    }

    /// Path of the profile file, for messages.
    pub fn profile_path(&self) -> String {
        self.profiles.path().display().to_string()
    }

    /// Saves `token` (and this command's URL and `username`) as the profile's credential.
    pub fn save_login(&mut self, token: &str, username: &str) -> Result<(), CliError> {
        self.profiles.set(
            &self.profile_name,
            Profile {
                url: Some(self.url.clone()),
                token: Some(token.to_string()),
                username: Some(username.to_string()),
            },
        );
        self.profiles.save()?;
        Ok(())
    }

    /// Forgets the profile's credential if it is the one this command used (a `--token` of
    /// another credential leaves the profile alone). Returns whether something was forgotten.
    pub fn forget_token(&mut self) -> Result<bool, CliError> {
        let used = self.token.as_ref().map(Secret::expose);
        let saved = self
            .saved_profile()
            .and_then(|p| p.token.as_deref())
            .map(str::trim);
        if used.is_none() || saved != used {
            return Ok(false);
        }
        self.profiles.forget_token(&self.profile_name);
        self.profiles.save()?;
        Ok(true)
    }
}
