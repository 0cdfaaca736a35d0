//! The server's configuration: one typed struct, validated once at start-up and passed down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use jeton_core::Lifetime;
use jeton_core::policy::SystemPolicy;

/// Everything `jeton serve` needs, already validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://FILE` or `postgres://…`.
    pub database_url: String,
    /// The file of the master key that seals the signing keys and the API-key hashing secret
    /// in the database. `None`: with SQLite, `<database file>.master-key` (created on a new
    /// database); with PostgreSQL, start-up fails (see [`crate::master_key`]).
    pub master_key_file: Option<PathBuf>,
    /// The `iss` claim of issued tokens, and the issuer name in metadata.
    pub issuer: String,
    /// The `aud` claim of issued tokens.
    pub audience: String,
    /// Lifetime of a session token from a password login.
    pub session_lifetime: Lifetime,
    /// Default and maximum lifetimes of API tokens.
    pub policy: SystemPolicy,
    /// How often last-use times are written to the database.
    pub last_used_flush: Duration,
    /// How long audit events are kept; older ones are pruned every hour.
    pub audit_retention: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Time limit for handling one request.
    pub request_timeout: Duration,
    /// Time a client has to send a complete request head (request line and headers), counted
    /// from when the connection is ready for a request: a new connection, or a keep-alive
    /// connection after its previous response. The connection is closed when it runs out.
    pub header_read_timeout: Duration,
    /// A connection on which nothing is received or sent for this long while no request is
    /// being handled is closed (a client that stops reading a response, an idle keep-alive
    /// connection).
    pub idle_timeout: Duration,
    /// Failed logins (and OAuth client authentications) allowed per username (client id) at one
    /// client address in `login_window`; ten times as many per address, and per username from
    /// every address except those it logged in from lately (see [`crate::throttle`]).
    pub login_attempts: u32,
    /// The window over which failed logins are counted.
    pub login_window: Duration,
    /// Password of the first root user `admin` on a new database; generated when absent.
    pub bootstrap_password: Option<String>,
    /// The prefix of API keys (`jsk_`; a deployment may keep another, such as `pgl_`).
    pub api_key_prefix: String,
    /// Lifetime of access tokens from the OAuth2 token endpoint.
    pub oauth_token_lifetime: Lifetime,
    /// Gateway mode: every request outside Jeton's own paths is authenticated and forwarded
    /// to this base URL.
    pub upstream: Option<String>,
    /// How often the change feed is read even without a signal: the bound on how long a
    /// change made through another instance can go unnoticed if its signal was lost (or, on
    /// SQLite, where there is no signal).
    pub change_poll_interval: Duration,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Origins (`scheme://host[:port]`), besides the issuer's, under which browsers reach this
    /// server: their pages may make state-changing requests authenticated by the session
    /// cookie (`--allowed-origin`).
    pub allowed_origins: Vec<String>,
    /// Trust the client's `X-Forwarded-*` and `Forwarded` headers (a reverse proxy in front of
    /// Jeton sets them): forward them upstream in gateway mode, and believe
    /// `X-Forwarded-Proto: https`. Off by default: a client could say anything.
    pub trust_forwarded_headers: bool,
}

/// The PEM files of the server's TLS certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: PathBuf,
}

impl Config {
    /// A configuration with every default, for `database_url` and `listen`.
    pub fn new(database_url: impl Into<String>, listen: SocketAddr) -> Self {
        Self {
            listen,
            database_url: database_url.into(),
            master_key_file: None,
            issuer: format!("http://{listen}"),
            audience: String::from("jeton"),
            session_lifetime: Lifetime::hours(12),
            policy: SystemPolicy::default(),
            last_used_flush: Duration::from_secs(30),
            audit_retention: Duration::from_secs(400 * 24 * 3600),
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            login_attempts: 10,
            login_window: Duration::from_secs(60),
            bootstrap_password: None,
            api_key_prefix: jeton_core::apikey::DEFAULT_PREFIX.to_string(),
            oauth_token_lifetime: Lifetime::hours(1),
            upstream: None,
            change_poll_interval: Duration::from_millis(500),
            tls: None,
            allowed_origins: Vec::new(),
            trust_forwarded_headers: false,
        }
    }
}

impl Config {
    /// The origins whose pages may change anything with the session cookie: the issuer's
    /// origin, the same port under the other loopback names when the issuer is on loopback
    /// (`127.0.0.1`, `localhost`, `[::1]` reach the same server), and every `allowed_origins`
    /// entry. Each is normalised as a browser writes `Origin` (lower case, default port left
    /// out). An issuer that is not a URL contributes nothing.
    pub fn public_origins(&self) -> Vec<String> {
        let mut origins = Vec::new();
        if let Some(issuer) = normalise_origin(&self.issuer) {
            origins.push(issuer);
            if let Ok(url) = reqwest::Url::parse(&self.issuer)
                && let Some(host) = url.host_str()
                && ["127.0.0.1", "localhost", "[::1]"].contains(&host)
            {
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                for alias in ["127.0.0.1", "localhost", "[::1]"] {
                    origins.push(format!("{}://{alias}{port}", url.scheme()));
                }
            }
        }
        origins.extend(
            self.allowed_origins
                .iter()
                .filter_map(|origin| normalise_origin(origin)),
        );
        origins.sort();
        origins.dedup();
        origins
    }

    /// The longest any token this server issues may live, in seconds: how long a retired
    /// signing key stays published.
    pub fn longest_token_secs(&self) -> i64 {
        [
            self.policy.max_lifetime,
            self.session_lifetime,
            self.oauth_token_lifetime,
        ]
        .iter()
        .map(|lifetime| lifetime.as_secs_i64())
        .max()
        .unwrap_or(0)
    }
}

/// The origin of a URL (`https://Jeton.Example.com:443/x` → `https://jeton.example.com`), as a
/// browser serialises it in `Origin`; `None` for anything without a tuple origin (`null`, a
/// `file:` URL, garbage).
pub fn normalise_origin(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_origins_are_the_issuers_and_the_allowed_ones_normalised() {
        let mut config = Config::new("sqlite://x", "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            config.public_origins(),
            [
                "http://127.0.0.1:8080",
                "http://[::1]:8080",
                "http://localhost:8080"
            ]
        );
        config.issuer = "https://Jeton.Example.com:443/base/".to_string();
        config.allowed_origins = vec![
            "https://ui.example.com/".to_string(),
            "null".to_string(),
            "http://OTHER.example:8443".to_string(),
        ];
        assert_eq!(
            config.public_origins(),
            [
                "http://other.example:8443",
                "https://jeton.example.com",
                "https://ui.example.com"
            ]
        );
    }
}
