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
    Serve(Box<ServeArgs>),
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
    /// List, rotate and revoke the server's JWT signing keys (root); change the master key.
    #[command(
        subcommand,
        long_about = "List, rotate and revoke the server's JWT signing keys (root); change the \
            master key they are sealed under.\n\n\
            `rotate` makes a new Ed25519 key the signer on every instance within a second. The \
            old key stays in /.well-known/jwks.json, and tokens it signed keep verifying, until \
            the longest-lived token it may have signed has expired; then it is dropped for good. \
            `revoke KID` drops a retired key at once, on every instance. `rewrap` and \
            `new-master-key` work on the database and files directly, not through a server.",
        after_help = "Examples:\n  jeton keys list\n  jeton keys rotate\n  jeton keys revoke KID\n  \
            jeton keys rewrap --new-master-key-file /etc/jeton/master.key.new"
    )]
    Keys(KeysCommand),
    /// Manage service users and their API keys (administrators).
    #[command(
        subcommand,
        long_about = "Manage service users and their API keys (administrators).\n\n\
            A service user is a programmatic identity of a tenant (an ETL pipeline, a CI job, a \
            BI tool) with an access level, an optional expiry and one current API key. The key \
            is sent as `X-API-Key: <key>` (or `Authorization: Bearer <key>`); for OAuth2 client \
            credentials the service user's id is the client_id and its key the client_secret.",
        after_help = "Examples:\n  \
            KEY=$(jeton service-user create --name etl-pipeline --role TenantUser)\n  \
            curl -H \"X-API-Key: $KEY\" http://127.0.0.1:8080/api/v1/me\n  \
            jeton service-user list\n  \
            jeton service-user rotate-key etl-pipeline --grace 1h\n  \
            jeton service-user disable etl-pipeline"
    )]
    ServiceUser(ServiceUserCommand),
    /// Query the audit log (administrators).
    Audit(AuditArgs),
    /// Run statements of the SQL-style command language (`CREATE API TOKEN ...;`).
    #[command(long_about = "Run statements of the SQL-style command language.\n\n\
            The script is the argument, the file given with -f, or standard input (when there is \
            no argument and standard input is not a terminal; `-` as the argument or the file also \
            means standard input). Statements end with `;` and run in order; the first failing \
            one stops the script, the results of those before it are printed, then the error on \
            standard error.\n\n\
            Each result prints as a boxed table with `(N rows)` under it, or as a sentence for \
            statements that return no table (`token ci_pipeline revoked`). Values are shown in \
            full, never cut: the token of CREATE API TOKEN and the key of CREATE SERVICE USER \
            are shown once and cannot be shown again. An empty cell is a missing value (null), \
            e.g. `last_used_at` of a token never used. --output json prints the server's answer \
            as it is: {\"results\": [{\"statement\", \"line\", \"columns\", \"rows\", \
            \"affected\", \"message\"}], \"error\": null or {\"code\", \"message\", \
            \"statement_index\", \"statement\", \"line\", \"column\"}}.\n\n\
            Exit codes: 0 every statement ran, 1 the server refused one (or a syntax error: \
            nothing ran), 2 usage error, 3 the server cannot be reached.")]
    Sql(SqlArgs),
    /// Interactive shell for the SQL-style command language, with history and completion.
    #[command(
        long_about = "Interactive shell for the SQL-style command language.\n\n\
            Type statements ending in `;` (they may span lines: the prompt `jeton> ` becomes \
            `   ...> ` until the statement is complete), `\\help` for the statements, `\\q` \
            or Ctrl-D to quit. Ctrl-C clears the current input. Tab completes keywords (in \
            upper case unless you type them in lower case). Results print as in `jeton sql`; \
            a failing statement prints its error and the shell goes on.\n\n\
            History is kept in the configuration directory, in the file `history` (mode \
            0600); statements containing PASSWORD are never written to it.\n\n\
            When standard input is not a terminal, statements are read from it and each \
            complete one is run in turn; the first failing statement stops the shell with \
            the exit code of `jeton sql`.",
        after_help = "Examples:\n  \
            jeton shell\n  \
            jeton --profile prod shell\n  \
            printf 'SHOW API TOKENS;\\n\\\\q\\n' | jeton shell"
    )]
    Shell,
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
    /// Create a service user with an API key (the seed CLI's spelling of `jeton service-user
    /// create`).
    CreateServiceUser(ServiceUserCreateArgs),
    /// Rotate a service user's API key (the seed CLI's spelling of `jeton service-user
    /// rotate-key`).
    RotateServiceUserKey(ServiceUserRotateArgs),
    /// List service users (the seed CLI's spelling of `jeton service-user list`).
    ListServiceUsers(ServiceUserListArgs),
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
    /// Change your own password (asks for the current one), or, as an administrator, reset
    /// the password of a user below your level. Ends the user's sessions.
    SetPassword(UserSetPasswordArgs),
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

/// `jeton user set-password`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton user set-password                       # yours: prompts for the current and the new one\n  \
    printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | jeton user set-password --current-password-stdin --password-stdin\n  \
    printf '%s' \"$NEW\" | jeton user set-password alice --password-stdin --revoke-tokens")]
pub struct UserSetPasswordArgs {
    /// The user (id or username) [default: yourself].
    pub user: Option<String>,
    /// Read the new password from standard input (after the current one, on its own line,
    /// with --current-password-stdin) instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read your current password from standard input (its first line) instead of prompting.
    #[arg(long)]
    pub current_password_stdin: bool,
    /// Also revoke the user's API tokens (their sessions are always revoked).
    #[arg(long)]
    pub revoke_tokens: bool,
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

/// Signing-key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys: the one that signs, and retired ones still published.
    #[command(after_help = "Example:\n  jeton keys list")]
    List,
    /// Make a new key the signer; the old one keeps verifying the tokens it signed.
    #[command(after_help = "Example:\n  jeton keys rotate")]
    Rotate,
    /// Withdraw a retired key at once (a leaked one): it leaves the JWKS and every token it
    /// signed is refused on every instance. The current signer must be rotated out first.
    #[command(after_help = "Example:\n  jeton keys rotate\n  jeton keys revoke 3q2-7wEJ_B1xY0mK")]
    Revoke(KidArg),
    /// Seal the signing keys and the API-key hashing secret under a new master key, in one
    /// transaction (runs against the database, like `jeton migrate`).
    Rewrap(crate::serve::RewrapArgs),
    /// Write a new random master key to FILE (mode 0600), for --master-key-file.
    #[command(after_help = "Example:\n  jeton keys new-master-key /etc/jeton/master.key")]
    NewMasterKey(MasterKeyFileArg),
}

/// A signing key, by `kid`.
#[derive(Debug, Args)]
pub struct KidArg {
    /// The key's id (`jeton keys list`).
    pub kid: String,
}

/// A master key file to create.
#[derive(Debug, Args)]
pub struct MasterKeyFileArg {
    /// The file; it must not exist.
    pub file: std::path::PathBuf,
}

/// A tenant, by name (or id).
#[derive(Debug, Args)]
pub struct TenantArg {
    /// The tenant's name.
    pub name: String,
}

/// Service-user commands.
#[derive(Debug, Subcommand)]
pub enum ServiceUserCommand {
    /// Create a service user; prints its API key once.
    Create(ServiceUserCreateArgs),
    /// List service users, with when each was last used.
    List(ServiceUserListArgs),
    /// Show one service user (never its key).
    #[command(after_help = "Examples:\n  \
        jeton service-user show etl-pipeline\n  \
        jeton service-user show 0190c5e4-7c1a-7d3e-9a51-2f4b6c8d0e1f --output json")]
    Show(ServiceUserArg),
    /// Change a service user's name, description, access level, expiry or scopes.
    Update(ServiceUserUpdateArgs),
    /// Disable a service user: its API key and every token issued from it stop working at once.
    #[command(after_help = "Example:\n  jeton service-user disable etl-pipeline")]
    Disable(ServiceUserArg),
    /// Enable a disabled service user again (its current key works again).
    #[command(after_help = "Example:\n  jeton service-user enable etl-pipeline")]
    Enable(ServiceUserArg),
    /// Delete a service user: its API key and every token issued from it stop working.
    #[command(after_help = "Example:\n  jeton service-user delete etl-pipeline")]
    Delete(ServiceUserArg),
    /// Replace a service user's API key; prints the new key once.
    RotateKey(ServiceUserRotateArgs),
}

/// A service user, by id or name.
#[derive(Debug, Args)]
pub struct ServiceUserArg {
    /// The service user: its id, or its name in your tenant.
    #[arg(value_name = "ID|NAME")]
    pub service_user: String,
}

/// `jeton service-user create` and `jeton create-service-user`.
#[derive(Debug, Args)]
#[command(
    after_help = "On a terminal the service user's id (its OAuth2 client_id) and the key \
    are shown once, with a warning; when standard output is not a terminal, only the key is \
    printed, so KEY=$(jeton service-user create ...) works.\n\n\
    Examples:\n  \
    jeton service-user create --name etl-pipeline --role TenantUser\n  \
    KEY=$(jeton service-user create --name ci --description \"GitHub Actions\" --expires-in 90d)\n  \
    jeton service-user create --name bi --scope catalog:read --expires-at 2026-12-31\n  \
    jeton create-service-user --name \"etl-pipeline\" --role \"TenantUser\"\n  \
    jeton service-user create --name ops --role tenant-admin --tenant acme --output json"
)]
pub struct ServiceUserCreateArgs {
    /// Name, unique in the tenant.
    #[arg(long)]
    pub name: String,
    /// Access level: tenant-user, tenant-admin or root, also in the seed spelling (TenantUser,
    /// TenantAdmin, Root); never above your own [default: tenant-user].
    #[arg(
        long = "role",
        visible_alias = "access-level",
        value_name = "LEVEL",
        value_parser = access_level
    )]
    pub access_level: Option<String>,
    /// What the service user is for.
    #[arg(long)]
    pub description: Option<String>,
    /// Lifetime: 90 (days), 90d, 24h, 1y [default: never expires].
    #[arg(long, value_name = "DURATION", value_parser = lifetime_days_default)]
    pub expires_in: Option<String>,
    /// Expiry as a date (2026-12-31, midnight UTC) or an RFC 3339 time, instead of
    /// --expires-in.
    #[arg(long, value_name = "TIME", value_parser = expiry_time, conflicts_with = "expires_in")]
    pub expires_at: Option<String>,
    /// Narrow what the service user may do to this scope (repeat for several) [default: not
    /// narrowed].
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Root only: the tenant (id or name) [default: yours].
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `jeton service-user list` and `jeton list-service-users`.
#[derive(Debug, Args)]
#[command(after_help = "Every page is fetched and shown as one table.\n\n\
    Examples:\n  \
    jeton service-user list\n  \
    jeton list-service-users --output json\n  \
    jeton service-user list --tenant acme            # root")]
pub struct ServiceUserListArgs {
    /// Root only: only this tenant's service users (id or name) [default: every tenant for
    /// root, yours otherwise].
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `jeton service-user update`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jeton service-user update etl-pipeline --description \"nightly ETL\"\n  \
    jeton service-user update etl-pipeline --role TenantAdmin --expires-in 30d\n  \
    jeton service-user update etl-pipeline --expires-in never\n  \
    jeton service-user update etl-pipeline --scope catalog:read --scope catalog:write\n  \
    jeton service-user update etl-pipeline --clear-scopes --name etl")]
#[command(group(ArgGroup::new("change").required(true).multiple(true)
    .args(["name", "description", "access_level", "expires_in", "scopes", "clear_scopes"])))]
pub struct ServiceUserUpdateArgs {
    /// The service user: its id, or its name in your tenant.
    #[arg(value_name = "ID|NAME")]
    pub service_user: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// New access level: tenant-user, tenant-admin or root (TenantUser, ... also accepted).
    #[arg(
        long = "role",
        visible_alias = "access-level",
        value_name = "LEVEL",
        value_parser = access_level
    )]
    pub access_level: Option<String>,
    /// New lifetime counted from now (90, 90d, 24h, 1y), or `never`.
    #[arg(long, value_name = "DURATION|never", value_parser = lifetime_or_never)]
    pub expires_in: Option<String>,
    /// Replace the scopes with these (repeat for several).
    #[arg(long = "scope", value_name = "SCOPE", conflicts_with = "clear_scopes")]
    pub scopes: Vec<String>,
    /// Remove the scopes: the service user is no longer narrowed.
    #[arg(long)]
    pub clear_scopes: bool,
}

/// `jeton service-user rotate-key` and `jeton rotate-service-user-key`.
#[derive(Debug, Args)]
#[command(
    after_help = "The new key is printed once, like at creation (only the key when \
    standard output is not a terminal). Without --grace the old key stops working at once; \
    with it, the old key keeps working until the grace period ends or the new key is first \
    used, whichever comes first.\n\n\
    Examples:\n  \
    jeton service-user rotate-key etl-pipeline\n  \
    jeton rotate-service-user-key --id 0190c5e4-7c1a-7d3e-9a51-2f4b6c8d0e1f\n  \
    NEW_KEY=$(jeton service-user rotate-key --id etl-pipeline --grace 1h)"
)]
#[command(group(ArgGroup::new("target").required(true).args(["service_user", "id"])))]
pub struct ServiceUserRotateArgs {
    /// The service user: its id, or its name in your tenant.
    #[arg(value_name = "ID|NAME")]
    pub service_user: Option<String>,
    /// The service user (the seed CLI's spelling of the argument).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Keep the old key working for this long (30m, 1h, 7d), or until the new key is first
    /// used [default: the old key stops at once].
    #[arg(long, value_name = "DURATION", value_parser = max_duration)]
    pub grace: Option<String>,
}

impl ServiceUserRotateArgs {
    /// The service user named by the positional argument or by `--id` (clap requires one).
    pub fn target(&self) -> &str {
        self.service_user
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or_default()
    }
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

/// `jeton sql`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
        jeton sql \"CREATE API TOKEN ci_pipeline MAX DURATION '30d' COMMENT 'CI';\"\n  \
        jeton sql \"SHOW API TOKENS ALL;\"\n  \
        jeton sql -f offboarding.sql\n  \
        echo \"SHOW API TOKENS FOR USER analyst;\" | jeton sql\n\n\
        Only the value, for scripts (the table is printed even when piped; take the token \
        column, or the api_key column of CREATE SERVICE USER, from the JSON instead):\n  \
        TOKEN=$(jeton sql \"CREATE API TOKEN ci;\" -o json | jq -r '.results[0].rows[0][1]')\n  \
        KEY=$(jeton sql \"CREATE SERVICE USER etl;\" -o json | jq -r '.results[0].rows[0][2]')")]
pub struct SqlArgs {
    /// The statements (`-`: read them from standard input).
    #[arg(value_name = "SCRIPT", conflicts_with = "file")]
    pub script: Option<String>,
    /// Read the statements from this file (`-`: standard input).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
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

/// `--expires-in` of service users: a duration, where a bare number means days, sent with its
/// unit (`90` becomes `90d`) so the server never has to guess.
fn lifetime_days_default(text: &str) -> Result<String, String> {
    Lifetime::parse_days_default(text).map_err(|e| e.to_string())?;
    let text = text.trim();
    Ok(if text.chars().all(|c| c.is_ascii_digit()) {
        format!("{text}d")
    } else {
        text.to_string()
    })
}

/// `--expires-in` of `service-user update`: a lifetime as above, or `never`.
fn lifetime_or_never(text: &str) -> Result<String, String> {
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok("never".to_string());
    }
    lifetime_days_default(text).map_err(|e| format!("{e}, or 'never'"))
}

/// `--expires-at`: an RFC 3339 time, or a date meaning midnight UTC, sent as RFC 3339.
fn expiry_time(text: &str) -> Result<String, String> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if time::OffsetDateTime::parse(text, &Rfc3339).is_ok() {
        return Ok(text.to_string());
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &date_format)
        .map(|date| format!("{date}T00:00:00Z"))
        .map_err(|_| {
            format!("invalid time '{text}': write a date (2026-12-31) or an RFC 3339 time")
        })
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
    fn service_user_lifetimes_are_sent_with_a_unit() {
        assert_eq!(lifetime_days_default("90").unwrap(), "90d");
        assert_eq!(lifetime_days_default(" 24h ").unwrap(), "24h");
        assert!(lifetime_days_default("never").is_err());
        assert_eq!(lifetime_or_never("Never").unwrap(), "never");
        assert_eq!(lifetime_or_never("1y").unwrap(), "1y");
        assert!(lifetime_or_never("soon").unwrap_err().contains("'never'"));
        assert_eq!(expiry_time("2026-12-31").unwrap(), "2026-12-31T00:00:00Z");
        assert_eq!(
            expiry_time("2026-12-31T09:00:00+02:00").unwrap(),
            "2026-12-31T09:00:00+02:00"
        );
        assert!(expiry_time("tomorrow").is_err());
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
            &["jeton", "list-service-users"],
            &["jeton", "service-user", "delete", "etl"],
            &["jeton", "login", "--username", "admin", "--password", "pw"],
        ] {
            Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn seed_service_user_commands_parse_with_their_flags() {
        let cli = Cli::try_parse_from([
            "jeton",
            "create-service-user",
            "--name",
            "etl-pipeline",
            "--role",
            "TenantUser",
        ])
        .unwrap();
        let Command::Client(ClientCommand::CreateServiceUser(args)) = cli.command else {
            panic!("create-service-user parsed as {:?}", cli.command);
        };
        assert_eq!(args.name, "etl-pipeline");
        assert_eq!(args.access_level.as_deref(), Some("tenant-user"));

        let cli =
            Cli::try_parse_from(["jeton", "rotate-service-user-key", "--id", "su-uuid"]).unwrap();
        let Command::Client(ClientCommand::RotateServiceUserKey(args)) = cli.command else {
            panic!("rotate-service-user-key parsed as {:?}", cli.command);
        };
        assert_eq!(args.target(), "su-uuid");
        assert_eq!(args.grace, None);

        // Jeton's own spelling takes the service user positionally, too.
        let cli = Cli::try_parse_from([
            "jeton",
            "service-user",
            "rotate-key",
            "etl",
            "--grace",
            "1h",
        ])
        .unwrap();
        let Command::Client(ClientCommand::ServiceUser(ServiceUserCommand::RotateKey(args))) =
            cli.command
        else {
            panic!("rotate-key parsed as {:?}", cli.command);
        };
        assert_eq!(args.target(), "etl");
        assert_eq!(args.grace.as_deref(), Some("1h"));

        for args in [
            &["jeton", "service-user", "rotate-key"][..],
            &["jeton", "service-user", "rotate-key", "a", "--id", "b"],
            &["jeton", "service-user", "update", "etl"],
            &["jeton", "service-user", "create", "--role", "TenantUser"],
            &[
                "jeton",
                "service-user",
                "update",
                "etl",
                "--scope",
                "a",
                "--clear-scopes",
            ],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} parsed");
        }
    }

    #[test]
    fn sql_takes_a_script_or_a_file_but_not_both() {
        let cli = Cli::try_parse_from(["jeton", "sql", "SHOW USERS;"]).unwrap();
        let Command::Client(ClientCommand::Sql(args)) = cli.command else {
            panic!("sql parsed as {:?}", cli.command);
        };
        assert_eq!(args.script.as_deref(), Some("SHOW USERS;"));
        let cli = Cli::try_parse_from(["jeton", "sql", "-f", "-", "-o", "json"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        let Command::Client(ClientCommand::Sql(args)) = cli.command else {
            panic!("sql -f parsed as {:?}", cli.command);
        };
        assert_eq!(args.file.as_deref(), Some(std::path::Path::new("-")));
        assert!(Cli::try_parse_from(["jeton", "sql", "SHOW USERS;", "-f", "x.sql"]).is_err());
        assert!(Cli::try_parse_from(["jeton", "shell", "SHOW USERS;"]).is_err());
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
