//! The command line as clap parses it. Values with a syntax of their own (durations, access
//! levels) are checked here, so a typo is a usage error (exit 2) before any request is sent.

use std::str::FromStr;

use clap::{ArgGroup, Args, Parser, Subcommand};
use clap_complete::Shell;
use jeton_core::{AccessLevel, Lifetime};

use crate::output::OutputFormat;
use crate::serve::{MigrateArgs, ServeArgs};

/// The profile used when `--profile` is not given.
pub const DEFAULT_PROFILE: &str = "default";

const CLIENT_OPTIONS: &str = "Client options";

/// Jeton: API tokens for your platform.
#[derive(Debug, Parser)]
#[command(
    name = "jeton",
    version,
    about = "Jeton: personal API tokens, service users and their audit trail.",
    long_about = "Jeton: personal API tokens, service users and their audit trail.\n\n\
        `jeton serve` runs the server; every other command is a client of a server whose \
        address comes from --url, JETON_URL or the saved profile (default \
        http://127.0.0.1:8080), and whose credential comes from --token, JETON_TOKEN or the \
        saved profile.\n\nExit codes: 0 ok, 1 the server said no, 2 usage error, 3 the server \
        cannot be reached.",
    after_help = "Examples:\n  \
        jeton serve\n  \
        jeton login --username admin\n  \
        TOKEN=$(jeton token create --description \"CI pipeline\" --expires-in 30d)\n  \
        jeton token list --all\n  \
        jeton logout"
)]
pub struct Cli {
    /// Options shared by the client commands.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the server is, how to authenticate, how to print.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Server URL [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, env = "JETON_URL", global = true, value_name = "URL", help_heading = CLIENT_OPTIONS)]
    pub url: Option<String>,
    /// Token or API key to present instead of the profile's (prefer JETON_TOKEN: flags are
    /// visible to other processes).
    #[arg(
        long,
        env = "JETON_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = CLIENT_OPTIONS
    )]
    pub token: Option<String>,
    /// Output format.
    #[arg(
        long,
        short = 'o',
        global = true,
        value_enum,
        default_value_t = OutputFormat::Table,
        help_heading = CLIENT_OPTIONS
    )]
    pub output: OutputFormat,
    /// Saved profile to use (see `jeton login`).
    #[arg(
        long,
        env = "JETON_PROFILE",
        global = true,
        default_value = DEFAULT_PROFILE,
        value_name = "NAME",
        help_heading = CLIENT_OPTIONS
    )]
    pub profile: String,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply database migrations, then exit.
    Migrate(MigrateArgs),
    /// The commands that talk to a server.
    #[command(flatten)]
    Client(ClientCommand),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

/// The commands that talk to a server.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Log in with a username and password, or with a token or API key, and save the
    /// credential in the profile.
    Login(LoginArgs),
    /// Revoke the current token on the server and forget it.
    #[command(after_help = "Example:\n  jeton logout")]
    Logout,
    /// Show who the current credential belongs to.
    #[command(after_help = "Examples:\n  jeton whoami\n  jeton whoami --output json")]
    Whoami,
    /// Create, list, show, comment, revoke and delete API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage users (administrators).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage roles (administrators).
    #[command(subcommand)]
    Role(RoleCommand),
    /// Show and set API-token lifetime limits of users and roles.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Manage tenants (root).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Query the audit log (administrators).
    Audit(AuditArgs),
    /// Create an API token (the seed CLI's spelling of `jeton token create`).
    GetToken(TokenCreateArgs),
    /// Revoke the current token and log out (the seed CLI's spelling of `jeton logout`).
    #[command(after_help = "Example:\n  jeton revoke-token")]
    RevokeToken,
    /// Revoke one token by id (the seed CLI's spelling of `jeton token revoke --id`).
    RevokeTokenById(RevokeTokenByIdArgs),
    /// List a user's tokens (the seed CLI's spelling of `jeton token list --user`).
    ListUserTokens(ListUserTokensArgs),
    /// Delete a token record (the seed CLI's spelling of `jeton token delete`).
    DeleteToken(DeleteTokenArgs),
}

/// `jeton login`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton login --username alice                       # prompts for the password\n  \
    printf '%s' \"$PASSWORD\" | jeton login --username alice --password-stdin\n  \
    echo \"$JETON_TOKEN\" | jeton login --with-token\n  \
    jeton --url https://jeton.example.com --profile prod login --username alice")]
pub struct LoginArgs {
    /// Username.
    #[arg(long, short = 'u', required_unless_present = "with_token")]
    pub username: Option<String>,
    /// Read the password from standard input.
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    /// The password (visible to other processes and kept in shell history: prefer the prompt
    /// or --password-stdin).
    #[arg(long, short = 'p')]
    pub password: Option<String>,
    /// Read a token or API key from standard input instead of logging in with a password.
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    pub with_token: bool,
}

/// API-token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints its value once.
    Create(TokenCreateArgs),
    /// List tokens (yours, or a user's with --user).
    List(TokenListArgs),
    /// Show one token's record.
    Show(TokenIdArgs),
    /// Change a token's comment.
    Comment(TokenCommentArgs),
    /// Revoke a token by id; without --id, revoke the current token and log out.
    Revoke(TokenRevokeArgs),
    /// Revoke every token of a user (administrators).
    RevokeAll(TokenRevokeAllArgs),
    /// Delete a token record (administrators).
    Delete(TokenIdArgs),
}

/// `jeton token create` and `jeton get-token`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton token create --description \"PyIceberg automation\" --expires-in 90\n  \
    TOKEN=$(jeton token create --description \"GitHub Actions\" --expires-in 365)\n  \
    jeton token create --description \"ETL\" --name etl --expires-in 24h --scope catalog:read\n  \
    jeton token create --description \"for Bob\" --for-user bob --output json")]
pub struct TokenCreateArgs {
    /// What the token is for (stored as its comment).
    #[arg(long, visible_alias = "comment")]
    pub description: String,
    /// Name, unique among your active tokens [default: generated].
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime: 90 (days), 90d, 24h, 30m, 1y [default: the server's, 90 days].
    #[arg(long, value_name = "DURATION", value_parser = expires_in)]
    pub expires_in: Option<String>,
    /// Narrow the token to this scope (repeat for several).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Administrators: create the token for this user (id or username).
    #[arg(long, value_name = "USER")]
    pub for_user: Option<String>,
}

/// `jeton token list`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton token list\n  \
    jeton token list --all --kind api\n  \
    jeton token list --user alice --output json")]
pub struct TokenListArgs {
    /// Administrators: list this user's tokens (id or username).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Include expired and revoked tokens.
    #[arg(long)]
    pub all: bool,
    /// Only tokens of this kind.
    #[arg(long, value_parser = ["session", "api", "oauth"])]
    pub kind: Option<String>,
}

/// A token id.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  jeton token show --id 0190c5e4-7c1a-7d3e-9a51-2f4b6c8d0e1f")]
pub struct TokenIdArgs {
    /// The token's id.
    #[arg(long)]
    pub id: String,
}

/// `jeton token comment`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  jeton token comment --id 0190c5e4-7c1a-7d3e-9a51-2f4b6c8d0e1f --comment \"nightly ETL\""
)]
pub struct TokenCommentArgs {
    /// The token's id.
    #[arg(long)]
    pub id: String,
    /// The new comment.
    #[arg(long, visible_alias = "description")]
    pub comment: String,
}

/// `jeton token revoke`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton token revoke --id 0190c5e4-7c1a-7d3e-9a51-2f4b6c8d0e1f\n  \
    jeton token revoke                  # the current token: logs you out")]
pub struct TokenRevokeArgs {
    /// The token's id [default: the current token].
    #[arg(long)]
    pub id: Option<String>,
}

/// `jeton token revoke-all`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  jeton token revoke-all --user alice")]
pub struct TokenRevokeAllArgs {
    /// The user (id or username).
    #[arg(long)]
    pub user: String,
}

/// `jeton revoke-token-by-id`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  jeton revoke-token-by-id --id \"compromised-token-uuid\"")]
pub struct RevokeTokenByIdArgs {
    /// The token's id.
    #[arg(long)]
    pub id: String,
}

/// `jeton list-user-tokens`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton list-user-tokens --user-id alice\n  \
    jeton list-user-tokens --user-id 0190c5e4-7c1a-7d3e-9a51-2f4b6c8d0e1f --all")]
pub struct ListUserTokensArgs {
    /// The user (id or username).
    #[arg(long)]
    pub user_id: String,
    /// Include expired and revoked tokens.
    #[arg(long)]
    pub all: bool,
}

/// `jeton delete-token`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  jeton delete-token --token-id \"token-uuid\"")]
pub struct DeleteTokenArgs {
    /// The token's id.
    #[arg(long)]
    pub token_id: String,
}

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users.
    #[command(after_help = "Examples:\n  jeton user list\n  jeton user list --output json")]
    List,
    /// Create a user.
    Create(UserCreateArgs),
    /// Show a user.
    #[command(after_help = "Example:\n  jeton user show alice")]
    Show(UserArg),
    /// Change a user's password, access level or active flag.
    Update(UserUpdateArgs),
    /// Deactivate a user: every token of theirs stops working at once.
    #[command(after_help = "Example:\n  jeton user disable alice")]
    Disable(UserArg),
    /// Reactivate a user.
    #[command(after_help = "Example:\n  jeton user enable alice")]
    Enable(UserArg),
    /// Delete a user and their tokens.
    #[command(after_help = "Example:\n  jeton user delete alice")]
    Delete(UserArg),
    /// Grant a role to a user.
    #[command(after_help = "Example:\n  jeton user grant-role alice analysts")]
    GrantRole(UserRoleArgs),
    /// Take a role away from a user.
    #[command(after_help = "Example:\n  jeton user revoke-role alice analysts")]
    RevokeRole(UserRoleArgs),
}

/// A user, by id or username.
#[derive(Debug, Args)]
pub struct UserArg {
    /// The user (id or username).
    pub user: String,
}

/// `jeton user create`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    printf '%s' \"$PASSWORD\" | jeton user create --username alice --password-stdin --role analysts\n  \
    jeton user create --username etl-bot --access-level tenant-user\n  \
    jeton user create --username ops --access-level tenant-admin --tenant acme --password-stdin")]
pub struct UserCreateArgs {
    /// Username (globally unique).
    #[arg(long)]
    pub username: String,
    /// Read the new user's password from standard input [default: no password: the user can
    /// only use tokens].
    #[arg(long)]
    pub password_stdin: bool,
    /// root, tenant-admin or tenant-user [default: tenant-user].
    #[arg(long, value_name = "LEVEL", value_parser = access_level)]
    pub access_level: Option<String>,
    /// Root only: the tenant (id or name) [default: yours].
    #[arg(long)]
    pub tenant: Option<String>,
    /// Grant this role (repeat for several).
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
}

/// `jeton user update`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton user update alice --access-level tenant-admin\n  \
    jeton user update alice --active false\n  \
    printf '%s' \"$NEW_PASSWORD\" | jeton user update alice --password-stdin")]
#[command(group(ArgGroup::new("change").required(true).multiple(true)
    .args(["active", "access_level", "password_stdin"])))]
pub struct UserUpdateArgs {
    /// The user (id or username).
    pub user: String,
    /// Activate (true) or deactivate (false).
    #[arg(long, value_name = "true|false")]
    pub active: Option<bool>,
    /// New access level: root, tenant-admin or tenant-user.
    #[arg(long, value_name = "LEVEL", value_parser = access_level)]
    pub access_level: Option<String>,
    /// Read a new password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// A user and a role.
#[derive(Debug, Args)]
pub struct UserRoleArgs {
    /// The user (id or username).
    pub user: String,
    /// The role's name.
    pub role: String,
}

/// Role commands.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List roles.
    #[command(after_help = "Example:\n  jeton role list")]
    List,
    /// Create a role.
    Create(RoleCreateArgs),
    /// Show a role and its members.
    #[command(after_help = "Example:\n  jeton role show analysts")]
    Show(RoleArg),
    /// Delete a role.
    #[command(after_help = "Example:\n  jeton role delete analysts")]
    Delete(RoleArg),
}

/// A role, by name.
#[derive(Debug, Args)]
pub struct RoleArg {
    /// The role's name.
    pub name: String,
}

/// `jeton role create`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  jeton role create analysts\n  jeton role create analysts --tenant acme"
)]
pub struct RoleCreateArgs {
    /// The role's name (unique in the tenant).
    pub name: String,
    /// Root only: the tenant (id or name) [default: yours].
    #[arg(long)]
    pub tenant: Option<String>,
}

/// Token-policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the API-token limit that applies to a user, and where it comes from.
    Show(PolicyShowArgs),
    /// Set the longest lifetime of new API tokens for a user or a role.
    Set(PolicySetArgs),
    /// Remove a user's or role's limit.
    Unset(PolicyUnsetArgs),
}

/// `jeton policy show`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  jeton policy show --user analyst")]
pub struct PolicyShowArgs {
    /// The user (id or username).
    #[arg(long)]
    pub user: String,
}

/// A user or a role whose policy changes.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["user", "role"])))]
pub struct PolicyTarget {
    /// The user (id or username).
    #[arg(long)]
    pub user: Option<String>,
    /// The role's name.
    #[arg(long)]
    pub role: Option<String>,
}

/// `jeton policy unset`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton policy unset --user analyst\n  \
    jeton policy unset --role service_accounts")]
pub struct PolicyUnsetArgs {
    /// Whose limit to remove.
    #[command(flatten)]
    pub target: PolicyTarget,
}

/// `jeton policy set`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton policy set --user analyst --max-duration 24h\n  \
    jeton policy set --role service_accounts --max-duration 30d")]
pub struct PolicySetArgs {
    /// Who the limit applies to.
    #[command(flatten)]
    pub target: PolicyTarget,
    /// The longest lifetime of a new API token: 24h, 30d, 1y.
    #[arg(long, value_name = "DURATION", value_parser = max_duration)]
    pub max_duration: String,
}

/// Tenant commands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// List tenants.
    #[command(after_help = "Example:\n  jeton tenant list")]
    List,
    /// Create a tenant.
    #[command(after_help = "Example:\n  jeton tenant create acme")]
    Create(TenantArg),
    /// Delete a tenant.
    #[command(after_help = "Example:\n  jeton tenant delete acme")]
    Delete(TenantArg),
}

/// A tenant, by name (or id).
#[derive(Debug, Args)]
pub struct TenantArg {
    /// The tenant's name.
    pub name: String,
}

/// `jeton audit`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton audit --since 1h\n  \
    jeton audit --user alice --action token --limit 20\n  \
    jeton audit --action auth.login --follow")]
pub struct AuditArgs {
    /// Only events by or about this user (id or username).
    #[arg(long)]
    pub user: Option<String>,
    /// Only this action (`token.revoke`) or family (`token`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only events at or after this time: RFC 3339, or a duration back from now (`1h`, `7d`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME", conflicts_with = "follow")]
    pub until: Option<String>,
    /// Show at most this many events.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Keep running and print new events as they happen (checks every 2 seconds).
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// `jeton completions`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton completions bash > /etc/bash_completion.d/jeton\n  \
    jeton completions zsh > \"${fpath[1]}/_jeton\"\n  \
    jeton completions fish > ~/.config/fish/completions/jeton.fish")]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: Shell,
}

/// `--expires-in`: a duration, where a bare number means days. The text is sent as given; the
/// server parses it the same way.
fn expires_in(text: &str) -> Result<String, String> {
    Lifetime::parse_days_default(text)
        .map(|_| text.trim().to_string())
        .map_err(|e| e.to_string())
}

/// `--max-duration`: a duration with a unit.
fn max_duration(text: &str) -> Result<String, String> {
    Lifetime::parse(text)
        .map(|_| text.trim().to_string())
        .map_err(|e| e.to_string())
}

/// `--access-level`, in any spelling the seeds use (`TenantUser`), sent in the API's.
fn access_level(text: &str) -> Result<String, String> {
    AccessLevel::from_str(text)
        .map(|level| level.as_str().to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command a user can run shows at least one example in its `--help`.
    #[test]
    fn every_command_shows_an_example() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            let has_subcommands = command.get_subcommands().any(|c| c.get_name() != "help");
            if !has_subcommands {
                let example = command
                    .get_after_help()
                    .is_some_and(|help| help.to_string().contains("Example"));
                if !example {
                    missing.push(path.clone());
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &path, missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }

    #[test]
    fn expires_in_accepts_bare_days_and_units() {
        assert_eq!(expires_in("90").unwrap(), "90");
        assert_eq!(expires_in(" 24h ").unwrap(), "24h");
        assert!(expires_in("soon").is_err());
        assert!(max_duration("90").is_err());
        assert_eq!(max_duration("30d").unwrap(), "30d");
    }

    #[test]
    fn access_levels_accept_the_seed_spelling() {
        assert_eq!(access_level("TenantUser").unwrap(), "tenant-user");
        assert_eq!(access_level("tenant-admin").unwrap(), "tenant-admin");
        assert!(access_level("superuser").is_err());
    }

    #[test]
    fn seed_commands_parse_with_their_flags() {
        let cli = Cli::try_parse_from([
            "jeton",
            "get-token",
            "--description",
            "PyIceberg automation",
            "--expires-in",
            "90",
        ])
        .unwrap();
        let Command::Client(ClientCommand::GetToken(args)) = cli.command else {
            panic!("get-token parsed as {:?}", cli.command);
        };
        assert_eq!(args.description, "PyIceberg automation");
        assert_eq!(args.expires_in.as_deref(), Some("90"));
        for args in [
            &["jeton", "revoke-token"][..],
            &["jeton", "revoke-token-by-id", "--id", "x"],
            &["jeton", "list-user-tokens", "--user-id", "alice"],
            &["jeton", "delete-token", "--token-id", "x"],
            &["jeton", "login", "--username", "admin", "--password", "pw"],
        ] {
            Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn global_flags_work_before_and_after_the_command() {
        let cli = Cli::try_parse_from(["jeton", "--output", "json", "token", "list"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        let cli = Cli::try_parse_from([
            "jeton",
            "token",
            "list",
            "--url",
            "http://h:1",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.global.url.as_deref(), Some("http://h:1"));
        assert_eq!(cli.global.output, OutputFormat::Json);
    }
}
