//! `jeton serve` and `jeton migrate`: flags, `JETON_*` environment variables and an optional TOML
//! file, merged in that order of precedence into one validated [`jeton_server::Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use jeton_core::Lifetime;
use serde::Deserialize;

/// Options of `jeton serve`. Each may also come from its `JETON_*` variable or from the
/// `--config` file (same names, with `_` instead of `-`); flags win over variables, variables
/// over the file, the file over the defaults.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  jeton serve\n  jeton serve --listen 0.0.0.0:8080 --database-url postgres://jeton@db/jeton\n  JETON_BOOTSTRAP_PASSWORD=s3cret jeton serve --config /etc/jeton.toml"
)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "JETON_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Database: `sqlite://FILE` (created if missing) or `postgres://USER@HOST/DB`
    /// [default: sqlite://jeton.db].
    #[arg(long, env = "JETON_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// File with the master key that seals the signing keys and the API-key hashing secret in
    /// the database (32 random bytes in base64; make one with `jeton keys new-master-key`).
    /// Required with PostgreSQL, the same file on every instance. With SQLite it defaults to
    /// DATABASE.master-key, created (mode 0600) on the first start. Change it with `jeton keys
    /// rewrap`.
    #[arg(long, env = "JETON_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// TOML file with any of these options (e.g. `listen = "0.0.0.0:8080"`).
    #[arg(long, env = "JETON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Issuer (`iss`) of issued tokens [default: http://LISTEN].
    #[arg(long, env = "JETON_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,
    /// Audience (`aud`) of issued tokens [default: jeton].
    #[arg(long, env = "JETON_AUDIENCE")]
    pub audience: Option<String>,
    /// Lifetime of session tokens from a password login [default: 12h].
    #[arg(long, env = "JETON_SESSION_LIFETIME", value_name = "DURATION")]
    pub session_lifetime: Option<String>,
    /// Lifetime of a new API token when none is asked for [default: 90d].
    #[arg(long, env = "JETON_TOKEN_DEFAULT_LIFETIME", value_name = "DURATION")]
    pub token_default_lifetime: Option<String>,
    /// Longest lifetime any API token may have [default: 365d].
    #[arg(long, env = "JETON_TOKEN_MAX_LIFETIME", value_name = "DURATION")]
    pub token_max_lifetime: Option<String>,
    /// How often last-use times are written to the database [default: 30s].
    #[arg(long, env = "JETON_LAST_USED_FLUSH", value_name = "DURATION")]
    pub last_used_flush: Option<String>,
    /// How long audit events are kept: older ones are deleted at start and then every hour, a
    /// bounded batch at a time; at least 1d [default: 400d].
    #[arg(long, env = "JETON_AUDIT_RETENTION", value_name = "DURATION")]
    pub audit_retention: Option<String>,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "JETON_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Time limit for one request [default: 30s].
    #[arg(long, env = "JETON_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// Time a client has to send a request's line and headers, counted from when the connection
    /// is ready for a request (just opened, or after a keep-alive response); then the connection
    /// is closed. Stops slow clients that trickle headers [default: 10s].
    #[arg(long, env = "JETON_HEADER_READ_TIMEOUT", value_name = "DURATION")]
    pub header_read_timeout: Option<String>,
    /// A connection on which nothing is received or sent for this long while no request is
    /// being handled is closed, such as a client that stops reading a response [default: 60s].
    #[arg(long, env = "JETON_IDLE_TIMEOUT", value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Failed password logins allowed per minute for one username from one client address
    /// [default: 10]; each address gets 10× that across usernames, and each username 10× that
    /// across addresses, except from addresses where it logged in within 30 days (so guessing
    /// cannot lock an account out). The same for OAuth client ids.
    #[arg(long, env = "JETON_LOGIN_ATTEMPTS", value_name = "N")]
    pub login_attempts: Option<u32>,
    /// Log filter, e.g. `info` or `jeton_server=debug` [default: info].
    #[arg(long, env = "JETON_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log line format: `text` for people, `json` for log collectors (one JSON object per line;
    /// a request's lines carry its `request_id` in `span`) [default: text].
    #[arg(long, env = "JETON_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Serve HTTPS: PEM file with the certificate chain, the server's certificate first. Needs
    /// --tls-key; the default issuer becomes https://LISTEN.
    #[arg(long, env = "JETON_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the private key of --tls-cert (PKCS#8, RSA or EC).
    #[arg(long, env = "JETON_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Gateway mode: authenticate every request outside Jeton's own paths and forward it to this
    /// base URL, without the credential and with `X-Jeton-User`, `X-Jeton-Tenant`,
    /// `X-Jeton-Scopes` and `X-Jeton-Token-Id` added (e.g. an Iceberg REST catalog).
    #[arg(long, env = "JETON_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,
    /// Prefix of new API keys, so that secret scanners can find leaked ones; keys with another
    /// prefix are refused [default: jsk_].
    #[arg(long, env = "JETON_API_KEY_PREFIX", value_name = "PREFIX")]
    pub api_key_prefix: Option<String>,
    /// Lifetime of access tokens from the OAuth2 token endpoint [default: 1h].
    #[arg(long, env = "JETON_OAUTH_TOKEN_LIFETIME", value_name = "DURATION")]
    pub oauth_token_lifetime: Option<String>,
    /// Another origin (`https://host[:port]`) under which browsers reach this server's web UI,
    /// besides the issuer's own origin (another host name, or a proxy's address); repeat for
    /// several (comma-separated in JETON_ALLOWED_ORIGIN). Requests authenticated by the
    /// session cookie that change anything from any other origin are refused with 403.
    #[arg(
        long = "allowed-origin",
        env = "JETON_ALLOWED_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Trust the client's X-Forwarded-For/-Host/-Proto and Forwarded headers: set this only
    /// behind a reverse proxy that sets them itself. Without it, gateway mode sends the
    /// upstream Jeton's own values, and X-Forwarded-Proto does not make the session cookie
    /// Secure.
    #[arg(long, env = "JETON_TRUST_FORWARDED_HEADERS")]
    pub trust_forwarded_headers: bool,
}

/// Options of `jeton migrate`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  jeton migrate --database-url postgres://jeton@db/jeton")]
pub struct MigrateArgs {
    /// Database to migrate [default: sqlite://jeton.db].
    #[arg(long, env = "JETON_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

/// The `--config` file: the same options, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    issuer: Option<String>,
    audience: Option<String>,
    session_lifetime: Option<String>,
    token_default_lifetime: Option<String>,
    token_max_lifetime: Option<String>,
    last_used_flush: Option<String>,
    audit_retention: Option<String>,
    max_body_bytes: Option<usize>,
    request_timeout: Option<String>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    login_attempts: Option<u32>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    upstream: Option<String>,
    api_key_prefix: Option<String>,
    oauth_token_lifetime: Option<String>,
    allowed_origins: Option<Vec<String>>,
    trust_forwarded_headers: Option<bool>,
}

const DEFAULT_DATABASE_URL: &str = "sqlite://jeton.db";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where and how the server logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    /// The `tracing-subscriber` filter, such as `info`.
    pub filter: String,
    /// The line format.
    pub format: LogFormat,
}

fn lifetime(name: &str, value: Option<String>, default: Lifetime) -> anyhow::Result<Lifetime> {
    match value {
        None => Ok(default),
        Some(text) => Lifetime::parse(&text).with_context(|| format!("--{name}")),
    }
}

fn duration(name: &str, value: Option<String>, default: Duration) -> anyhow::Result<Duration> {
    lifetime(name, value, Lifetime::from_secs(default.as_secs()))
        .map(|l| Duration::from_secs(l.as_secs()))
}

impl ServeArgs {
    /// Merges flags/variables, the file and defaults into a validated configuration, and
    /// returns the logging settings beside it.
    pub fn into_config(self) -> anyhow::Result<(jeton_server::Config, Logging)> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let database_url = self
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        let mut config = jeton_server::Config::new(database_url, listen);
        config.master_key_file = self.master_key_file.or(file.master_key_file);
        config.tls = match (
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => {
                // Tokens name the address clients reach, with the scheme they reach it by.
                config.issuer = format!("https://{listen}");
                Some(jeton_server::TlsFiles { cert, key })
            }
            (None, None) => None,
            (Some(_), None) => bail!("--tls-cert needs --tls-key (the certificate's private key)"),
            (None, Some(_)) => bail!("--tls-key needs --tls-cert (the certificate chain)"),
        };
        if let Some(issuer) = self.issuer.or(file.issuer) {
            config.issuer = issuer;
        }
        if let Some(audience) = self.audience.or(file.audience) {
            config.audience = audience;
        }
        config.session_lifetime = lifetime(
            "session-lifetime",
            self.session_lifetime.or(file.session_lifetime),
            config.session_lifetime,
        )?;
        config.policy.default_lifetime = lifetime(
            "token-default-lifetime",
            self.token_default_lifetime.or(file.token_default_lifetime),
            config.policy.default_lifetime,
        )?;
        config.policy.max_lifetime = lifetime(
            "token-max-lifetime",
            self.token_max_lifetime.or(file.token_max_lifetime),
            config.policy.max_lifetime,
        )?;
        if config.policy.default_lifetime > config.policy.max_lifetime {
            bail!(
                "--token-default-lifetime ({}) must not exceed --token-max-lifetime ({})",
                config.policy.default_lifetime,
                config.policy.max_lifetime
            );
        }
        config.last_used_flush = duration(
            "last-used-flush",
            self.last_used_flush.or(file.last_used_flush),
            config.last_used_flush,
        )?;
        config.audit_retention = duration(
            "audit-retention",
            self.audit_retention.or(file.audit_retention),
            config.audit_retention,
        )?;
        if config.audit_retention < Duration::from_secs(24 * 3600) {
            bail!("--audit-retention must be at least 1d");
        }
        config.request_timeout = duration(
            "request-timeout",
            self.request_timeout.or(file.request_timeout),
            config.request_timeout,
        )?;
        config.header_read_timeout = duration(
            "header-read-timeout",
            self.header_read_timeout.or(file.header_read_timeout),
            config.header_read_timeout,
        )?;
        config.idle_timeout = duration(
            "idle-timeout",
            self.idle_timeout.or(file.idle_timeout),
            config.idle_timeout,
        )?;
        for (name, value) in [
            ("request-timeout", config.request_timeout),
            ("header-read-timeout", config.header_read_timeout),
            ("idle-timeout", config.idle_timeout),
        ] {
            if value.is_zero() {
                bail!("--{name} must be at least 1s");
            }
        }
        if let Some(bytes) = self.max_body_bytes.or(file.max_body_bytes) {
            if bytes < 1024 {
                bail!("--max-body-bytes must be at least 1024");
            }
            config.max_body_bytes = bytes;
        }
        if let Some(attempts) = self.login_attempts.or(file.login_attempts) {
            if attempts == 0 {
                bail!("--login-attempts must be at least 1");
            }
            config.login_attempts = attempts;
        }
        if let Some(upstream) = self.upstream.or(file.upstream) {
            let url = reqwest::Url::parse(&upstream)
                .with_context(|| format!("--upstream '{upstream}' is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                bail!(
                    "--upstream must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8181"
                );
            }
            if url.query().is_some() || url.fragment().is_some() {
                bail!("--upstream must not have a query or fragment");
            }
            config.upstream = Some(upstream);
        }
        if let Some(prefix) = self.api_key_prefix.or(file.api_key_prefix) {
            let ok = (2..=16).contains(&prefix.len())
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !prefix.starts_with("eyJ");
            if !ok {
                bail!(
                    "--api-key-prefix must be 2 to 16 letters, digits or '_' (such as jsk_ or pgl_), and must not start like a JWT (eyJ)"
                );
            }
            config.api_key_prefix = prefix;
        }
        let oauth_lifetime = lifetime(
            "oauth-token-lifetime",
            self.oauth_token_lifetime.or(file.oauth_token_lifetime),
            config.oauth_token_lifetime,
        )?;
        if oauth_lifetime.as_secs() < 60 || oauth_lifetime.as_secs() > 86_400 {
            bail!("--oauth-token-lifetime must be between 1m and 24h, not {oauth_lifetime}");
        }
        config.oauth_token_lifetime = oauth_lifetime;
        let origins = if self.allowed_origins.is_empty() {
            file.allowed_origins.unwrap_or_default()
        } else {
            self.allowed_origins
        };
        for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            let normalised = jeton_server::config::normalise_origin(origin);
            let bare = reqwest::Url::parse(origin)
                .is_ok_and(|u| u.path() == "/" && u.query().is_none() && u.username().is_empty());
            match normalised {
                Some(normalised) if bare => config.allowed_origins.push(normalised),
                _ => bail!(
                    "--allowed-origin '{origin}' is not an origin: write scheme://host[:port], e.g. https://jeton.example.com"
                ),
            }
        }
        config.trust_forwarded_headers =
            self.trust_forwarded_headers || file.trust_forwarded_headers.unwrap_or(false);
        config.bootstrap_password = std::env::var("JETON_BOOTSTRAP_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        let logging = Logging {
            filter: self.log.or(file.log).unwrap_or_else(|| "info".to_string()),
            format: self.log_format.or(file.log_format).unwrap_or_default(),
        };
        Ok((config, logging))
    }
}

/// Runs `jeton serve` until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (config, logging) = args.into_config()?;
    init_logging(&logging)?;
    jeton_server::serve(config).await?;
    Ok(())
}

/// Runs `jeton migrate`.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let url = args
        .database_url
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
    let store = jeton_store::open(&url).await?;
    store.migrate().await?;
    println!("migrations applied to the {} database", store.backend());
    Ok(())
}

/// Options of `jeton keys rewrap`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  jeton keys rewrap --new-master-key-file /etc/jeton/master.key.new\n  \
    jeton keys rewrap --database-url postgres://jeton@db/jeton \\\n    \
    --master-key-file /etc/jeton/master.key --new-master-key-file /etc/jeton/master.key.new"
)]
pub struct RewrapArgs {
    /// The database [default: sqlite://jeton.db].
    #[arg(long, env = "JETON_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// The master key in use now [default with SQLite: DATABASE.master-key].
    #[arg(long, env = "JETON_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// The new master key; a new random key is written there (mode 0600) if the file does not
    /// exist.
    #[arg(long, value_name = "FILE")]
    pub new_master_key_file: PathBuf,
}

/// Runs `jeton keys rewrap`: seals every secret of the database again under a new master key,
/// in one transaction. Reads the database directly (it needs both keys): run it where the
/// server runs, then restart every instance with the new file.
pub async fn rewrap(args: RewrapArgs) -> anyhow::Result<()> {
    use jeton_server::master_key::{MasterKey, default_path, rewrap};
    let url = args
        .database_url
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
    let old_path = match args.master_key_file {
        Some(path) => path,
        None => default_path(&url).context(
            "give the master key in use with --master-key-file (or JETON_MASTER_KEY_FILE)",
        )?,
    };
    let old = MasterKey::read(&old_path)?;
    let new = if args.new_master_key_file.exists() {
        MasterKey::read(&args.new_master_key_file)?
    } else {
        let made = MasterKey::create_file(&args.new_master_key_file)?;
        eprintln!(
            "wrote a new master key to {} (mode 0600)",
            args.new_master_key_file.display()
        );
        made
    };
    if old.id() == new.id() {
        bail!(
            "{} and {} hold the same key: nothing to do",
            old_path.display(),
            args.new_master_key_file.display()
        );
    }
    let store = jeton_store::open(&url).await?;
    store.migrate().await?;
    let done = rewrap(store.as_ref(), &old, &new).await?;
    println!(
        "sealed {} signing key(s){} under the master key in {} (id {}); {} opens nothing in \
         this database any more. Restart every instance with --master-key-file {}.",
        done.signing_keys,
        if done.hashing_secret {
            " and the API-key hashing secret"
        } else {
            ""
        },
        args.new_master_key_file.display(),
        new.id(),
        old_path.display(),
        args.new_master_key_file.display(),
    );
    Ok(())
}

/// Runs `jeton keys new-master-key FILE`: writes a new random master key (mode 0600).
pub fn new_master_key(path: &std::path::Path) -> anyhow::Result<()> {
    let key = jeton_server::master_key::MasterKey::create_file(path)?;
    println!(
        "wrote a new master key to {} (id {}): keep it secret and back it up apart from the \
         database",
        path.display(),
        key.id()
    );
    Ok(())
}

fn init_logging(logging: &Logging) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&logging.filter)
        .with_context(|| format!("invalid log filter '{}'", logging.filter))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match logging.format {
        LogFormat::Text => builder.init(),
        // The event's fields at the top level beside `timestamp`, `level` and `target`; the
        // fields of the innermost span (a request's `request_id`, `method`, `route`) under
        // `span`, and of all spans under `spans`.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<jeton_server::Config> {
        let cli = Cli::try_parse_from(std::iter::once("jeton").chain(args.iter().copied()))?;
        cli.serve.into_config().map(|(config, _)| config)
    }

    fn logging(args: &[&str]) -> anyhow::Result<Logging> {
        let cli = Cli::try_parse_from(std::iter::once("jeton").chain(args.iter().copied()))?;
        cli.serve.into_config().map(|(_, logging)| logging)
    }

    /// True when the caller's environment sets one of these variables (they would win over
    /// the file, and some tests assume defaults).
    fn env_sets(names: &[&str]) -> bool {
        names.iter().any(|name| std::env::var_os(name).is_some())
    }

    #[test]
    fn tls_files_go_together_and_make_the_issuer_https() {
        if env_sets(&[
            "JETON_TLS_CERT",
            "JETON_TLS_KEY",
            "JETON_ISSUER",
            "JETON_LISTEN",
        ]) {
            return;
        }
        let listen = ["--listen", "127.0.0.1:9443"];
        let plain = config(&listen).unwrap();
        assert_eq!(plain.tls, None);
        assert_eq!(plain.issuer, "http://127.0.0.1:9443");

        let tls_args = [&listen[..], &["--tls-cert", "c.pem", "--tls-key", "k.pem"]].concat();
        let tls = config(&tls_args).unwrap();
        assert_eq!(
            tls.tls,
            Some(jeton_server::TlsFiles {
                cert: PathBuf::from("c.pem"),
                key: PathBuf::from("k.pem"),
            })
        );
        assert_eq!(tls.issuer, "https://127.0.0.1:9443");
        // An explicit issuer wins.
        let issuer = [&tls_args[..], &["--issuer", "https://auth.example"]].concat();
        assert_eq!(config(&issuer).unwrap().issuer, "https://auth.example");

        let only_cert = config(&["--tls-cert", "c.pem"]).unwrap_err().to_string();
        assert!(
            only_cert.contains("--tls-cert needs --tls-key"),
            "{only_cert}"
        );
        let only_key = config(&["--tls-key", "k.pem"]).unwrap_err().to_string();
        assert!(
            only_key.contains("--tls-key needs --tls-cert"),
            "{only_key}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jeton.toml");
        std::fs::write(
            &file,
            "tls_cert = \"/etc/jeton/cert.pem\"\ntls_key = \"/etc/jeton/key.pem\"\n",
        )
        .unwrap();
        let from_file = config(&["--config", file.to_str().unwrap()]).unwrap();
        assert_eq!(
            from_file.tls.map(|files| (files.cert, files.key)),
            Some((
                PathBuf::from("/etc/jeton/cert.pem"),
                PathBuf::from("/etc/jeton/key.pem")
            ))
        );
        // The file's key without its certificate is as wrong as the flag alone.
        std::fs::write(&file, "tls_key = \"/etc/jeton/key.pem\"\n").unwrap();
        assert!(config(&["--config", file.to_str().unwrap()]).is_err());
    }

    #[test]
    fn log_format_from_flag_file_and_default() {
        if env_sets(&["JETON_LOG_FORMAT", "JETON_LOG"]) {
            return;
        }
        let default = logging(&[]).unwrap();
        assert_eq!(default.format, LogFormat::Text);
        assert_eq!(default.filter, "info");
        assert_eq!(
            logging(&["--log-format", "json"]).unwrap().format,
            LogFormat::Json
        );
        assert_eq!(
            logging(&["--log-format", "text"]).unwrap().format,
            LogFormat::Text
        );
        let bad = logging(&["--log-format", "xml"]).unwrap_err().to_string();
        assert!(bad.contains("xml") && bad.contains("json"), "{bad}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jeton.toml");
        std::fs::write(&file, "log_format = \"json\"\nlog = \"debug\"\n").unwrap();
        let path = file.to_str().unwrap();
        let from_file = logging(&["--config", path]).unwrap();
        assert_eq!(from_file.format, LogFormat::Json);
        assert_eq!(from_file.filter, "debug");
        assert_eq!(
            logging(&["--config", path, "--log-format", "text"])
                .unwrap()
                .format,
            LogFormat::Text
        );
        std::fs::write(&file, "log_format = \"xml\"\n").unwrap();
        assert!(logging(&["--config", path]).is_err());
    }

    #[test]
    fn master_key_file_from_flag_file_or_none() {
        if env_sets(&["JETON_MASTER_KEY_FILE"]) {
            return;
        }
        assert_eq!(config(&[]).unwrap().master_key_file, None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jeton.toml");
        std::fs::write(&file, "master_key_file = \"/etc/jeton/master.key\"\n").unwrap();
        let path = file.to_str().unwrap();
        assert_eq!(
            config(&["--config", path]).unwrap().master_key_file,
            Some(PathBuf::from("/etc/jeton/master.key"))
        );
        assert_eq!(
            config(&["--config", path, "--master-key-file", "k.key"])
                .unwrap()
                .master_key_file,
            Some(PathBuf::from("k.key"))
        );
    }

    #[test]
    fn connection_timeouts_from_flags_file_and_defaults() {
        // Skipped where the environment sets them: the variables would win over the file.
        if std::env::var_os("JETON_HEADER_READ_TIMEOUT").is_some()
            || std::env::var_os("JETON_IDLE_TIMEOUT").is_some()
        {
            return;
        }
        let defaults = config(&[]).unwrap();
        assert_eq!(defaults.header_read_timeout, Duration::from_secs(10));
        assert_eq!(defaults.idle_timeout, Duration::from_secs(60));

        let flags = config(&["--header-read-timeout", "3s", "--idle-timeout", "2m"]).unwrap();
        assert_eq!(flags.header_read_timeout, Duration::from_secs(3));
        assert_eq!(flags.idle_timeout, Duration::from_secs(120));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jeton.toml");
        std::fs::write(
            &file,
            "header_read_timeout = \"5s\"\nidle_timeout = \"90s\"\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let from_file = config(&["--config", path]).unwrap();
        assert_eq!(from_file.header_read_timeout, Duration::from_secs(5));
        assert_eq!(from_file.idle_timeout, Duration::from_secs(90));
        // Flags win over the file.
        let both = config(&["--config", path, "--idle-timeout", "7s"]).unwrap();
        assert_eq!(both.idle_timeout, Duration::from_secs(7));
        assert_eq!(both.header_read_timeout, Duration::from_secs(5));

        for bad in [
            vec!["--header-read-timeout", "soon"],
            vec!["--idle-timeout", "0s"],
            vec!["--header-read-timeout", "0s"],
        ] {
            assert!(config(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn allowed_origins_and_forwarded_headers_from_flags_file_and_defaults() {
        if env_sets(&["JETON_ALLOWED_ORIGIN", "JETON_TRUST_FORWARDED_HEADERS"]) {
            return;
        }
        let defaults = config(&[]).unwrap();
        assert!(defaults.allowed_origins.is_empty());
        assert!(!defaults.trust_forwarded_headers);

        let flags = config(&[
            "--allowed-origin",
            "https://UI.example.com",
            "--allowed-origin",
            "http://127.0.0.1:3000/",
            "--trust-forwarded-headers",
        ])
        .unwrap();
        assert_eq!(
            flags.allowed_origins,
            ["https://ui.example.com", "http://127.0.0.1:3000"]
        );
        assert!(flags.trust_forwarded_headers);
        let listed = config(&[
            "--allowed-origin",
            "https://a.example,https://b.example:8443",
        ]);
        assert_eq!(
            listed.unwrap().allowed_origins,
            ["https://a.example", "https://b.example:8443"]
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jeton.toml");
        std::fs::write(
            &file,
            "allowed_origins = [\"https://ui.example.com:443\"]\ntrust_forwarded_headers = true\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let from_file = config(&["--config", path]).unwrap();
        assert_eq!(from_file.allowed_origins, ["https://ui.example.com"]);
        assert!(from_file.trust_forwarded_headers);
        // Flags win over the file.
        let both = config(&["--config", path, "--allowed-origin", "https://x.example"]).unwrap();
        assert_eq!(both.allowed_origins, ["https://x.example"]);

        for bad in [
            "null",
            "ui.example.com",
            "https://ui.example.com/path",
            "ftp://ui.example.com",
            "https://ui.example.com/?q=1",
        ] {
            let err = config(&["--allowed-origin", bad]).unwrap_err().to_string();
            assert!(err.contains("--allowed-origin"), "{bad}: {err}");
        }
    }

    #[test]
    fn audit_retention_from_flag_file_and_default() {
        if env_sets(&["JETON_AUDIT_RETENTION"]) {
            return;
        }
        let day = 24 * 3600;
        assert_eq!(
            config(&[]).unwrap().audit_retention,
            Duration::from_secs(400 * day)
        );
        let flag = config(&["--audit-retention", "30d"]).unwrap();
        assert_eq!(flag.audit_retention, Duration::from_secs(30 * day));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jeton.toml");
        std::fs::write(&file, "audit_retention = \"2y\"\n").unwrap();
        let path = file.to_str().unwrap();
        let from_file = config(&["--config", path]).unwrap();
        assert_eq!(from_file.audit_retention, Duration::from_secs(730 * day));
        let both = config(&["--config", path, "--audit-retention", "90d"]).unwrap();
        assert_eq!(both.audit_retention, Duration::from_secs(90 * day));
        for bad in ["forever", "0d", "12h"] {
            assert!(config(&["--audit-retention", bad]).is_err(), "{bad}");
        }
    }
}
