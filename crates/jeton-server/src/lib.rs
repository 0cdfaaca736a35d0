//! Jeton's server: the service layer (every rule that needs storage, written once and shared by
//! the HTTP API and the command language), credential verification served from memory, the JSON
//! API under `/api/v1`, JWKS and the operations endpoints.
//!
//! Pure rules live in `jeton-core`; persistence lives behind `jeton-store`'s `Store` trait. This
//! crate wires them together and maps every error to HTTP in exactly one place ([`error`]).

pub mod audit;
pub mod config;
pub mod directory;
pub mod error;
pub mod feed;
pub mod http;
pub mod keys;
mod listen;
pub mod master_key;
pub mod metrics;
mod passwords;
pub mod service;
pub mod sql;
pub mod throttle;
pub mod tls;
pub mod ui;
pub mod verify;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use jeton_core::apikey::KeyHasher;
use jeton_core::{AccessLevel, Secret, TenantId, UserId};
use jeton_store::{Store, StoreError, TenantRecord, UserRecord};
use tokio::net::TcpListener;

pub use config::{Config, TlsFiles};
use directory::Directory;
use error::ApiError;
use keys::KeyRing;
pub use listen::{MAX_HEADER_BYTES, serve_on};
use service::{Clock, Service, SystemClock};
use verify::Verifier;

/// Name of the tenant every new database starts with.
pub const DEFAULT_TENANT: &str = "default";
/// Username of the first root user.
pub const BOOTSTRAP_USER: &str = "admin";

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// Start-up failed for another reason.
    #[error("{0}")]
    Startup(String),
    /// Listening failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<ApiError> for ServeError {
    fn from(err: ApiError) -> Self {
        ServeError::Startup(err.to_string())
    }
}

/// A running service with its background tasks.
pub struct Running {
    /// The service.
    pub service: Arc<Service>,
    audit_task: tokio::task::JoinHandle<()>,
    maintenance: tokio::task::JoinHandle<()>,
    follower: tokio::task::JoinHandle<()>,
    /// Stops listening for change signals when dropped.
    _change_watch: Option<jeton_store::ChangeWatch>,
}

/// Opens the store, migrates it, bootstraps a new database, loads keys and the directory, and
/// starts the background tasks.
pub async fn start(config: Config) -> Result<Running, ServeError> {
    let store = jeton_store::open(&config.database_url).await?;
    store.migrate().await?;
    if store.backend() == "postgres" && config.issuer == format!("http://{}", config.listen) {
        tracing::warn!(
            issuer = %config.issuer,
            "the issuer is this instance's own address: instances that share a database must \
             share the issuer (set --issuer to the public URL), or they refuse each other's tokens"
        );
    }
    let unspecified = reqwest::Url::parse(&config.issuer)
        .ok()
        .and_then(|url| url.host_str().map(|h| h == "0.0.0.0" || h == "[::]"))
        .unwrap_or(false);
    if unspecified && config.allowed_origins.is_empty() {
        tracing::warn!(
            issuer = %config.issuer,
            "no browser reaches this issuer's address: the web UI's forms and other requests \
             authenticated by the session cookie will be refused as cross-origin; set --issuer \
             to the public URL, or --allowed-origin"
        );
    }
    start_with_store(config, store, Arc::new(SystemClock)).await
}

/// Like [`start`], over an already opened and migrated store and a given clock.
pub async fn start_with_store(
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Result<Running, ServeError> {
    // One spelling of the issuer everywhere (`iss`, metadata, the verifier's expectation):
    // `--issuer http://host:8080/` and `--issuer http://host:8080` are the same issuer.
    let mut config = config;
    config.issuer = jeton_core::token::normalize_issuer(&config.issuer);
    metrics::install();
    let now = clock.now();
    let master = Arc::new(master_key::load(&config, store.as_ref()).await?);
    // Before anything else is written: a wrong master key stops the start on an untouched
    // database, and a database from before sealing is sealed first.
    let hashing_secret = master_key::seal_and_open(store.as_ref(), &master).await?;
    bootstrap(store.as_ref(), &config, now).await?;
    let keys = KeyRing::load(
        store.as_ref(),
        &config.issuer,
        &config.audience,
        now,
        config.longest_token_secs(),
        &master,
    )
    .await?;
    // Read before the directory is loaded: rows written while it loads are applied again.
    let latest_change = store.latest_change().await?;
    let directory = Arc::new(Directory::load(store.as_ref(), now).await?);
    let hasher = KeyHasher::new(&hashing_secret);
    drop(hashing_secret);
    let verifier = Arc::new(Verifier::new(
        keys,
        directory.clone(),
        &config.api_key_prefix,
        hasher,
    ));
    let (audit, audit_task) = audit::AuditLog::start(store.clone(), clock.clone());
    let config = Arc::new(config);
    let service = Arc::new(Service::new(
        store,
        config.clone(),
        directory,
        verifier,
        audit,
        clock,
        master,
    ));
    let change_watch = service
        .store()
        .watch_changes(service.feed().waker())
        .await?;
    if change_watch.is_some() {
        service.feed().set_signalled();
    }
    let follower = tokio::spawn(feed::follow(
        Arc::downgrade(&service),
        service.feed().clone(),
        feed::Position::at_start(latest_change),
    ));
    let maintenance = tokio::spawn(maintain(Arc::downgrade(&service), config));
    Ok(Running {
        service,
        audit_task,
        maintenance,
        follower,
        _change_watch: change_watch,
    })
}

/// How long rows stay in the change feed. An HTTP feed client further behind starts over.
pub const CHANGE_RETENTION_SECS: i64 = 24 * 3600;

/// Periodic work: write last-use times, forget revocations of expired tokens, and record any
/// grace-period end a request path did not record itself.
async fn maintain(service: std::sync::Weak<Service>, config: Arc<Config>) {
    let mut flush = tokio::time::interval(config.last_used_flush);
    let mut purge = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = flush.tick() => {
                let Some(service) = service.upgrade() else { return };
                service.verifier().flush_last_used(service.store().as_ref()).await;
                if let Err(err) = service.record_key_expiries().await {
                    tracing::warn!(error = %err, "could not record a signing key's expiry; will retry");
                }
                if let Err(err) = service.settle_grace_ends().await {
                    tracing::warn!(error = %err, "could not record the end of a key's grace period; will retry");
                }
            }
            _ = purge.tick() => {
                let Some(service) = service.upgrade() else { return };
                let now = service.now();
                if let Err(err) = service.store().purge_revocations(now).await {
                    tracing::warn!(error = %err, "could not purge expired revocations");
                }
                service.directory().purge_revocations(now);
                if let Err(err) = service.store().purge_token_links(now).await {
                    tracing::warn!(error = %err, "could not purge expired token exchange links");
                }
                let day_ago_ms = now.saturating_sub(CHANGE_RETENTION_SECS).saturating_mul(1000);
                if let Err(err) = service.store().prune_changes(day_ago_ms).await {
                    tracing::warn!(error = %err, "could not prune the change feed");
                }
                // At start (the interval's first tick is immediate), then every hour.
                match service.prune_audit().await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "pruned audit events past --audit-retention"),
                    Err(err) => tracing::warn!(error = %err, "could not prune old audit events"),
                }
            }
        }
    }
}

impl Running {
    /// Writes what is pending (last-use times, queued audit events) and stops the tasks.
    pub async fn shutdown(self) {
        self.maintenance.abort();
        self.follower.abort();
        self.service
            .verifier()
            .flush_last_used(self.service.store().as_ref())
            .await;
        let Running {
            service,
            audit_task,
            ..
        } = self;
        drop(service);
        if tokio::time::timeout(std::time::Duration::from_secs(5), audit_task)
            .await
            .is_err()
        {
            tracing::warn!("audit writer did not finish in time");
        }
    }
}

/// Creates the `default` tenant and the first root user `admin` on a new database. The password
/// comes from the configuration (`JETON_BOOTSTRAP_PASSWORD`) or is generated and printed once.
async fn bootstrap(store: &dyn Store, config: &Config, now: i64) -> Result<(), ServeError> {
    let tenant = match store.get_tenant_by_name(DEFAULT_TENANT).await? {
        Some(tenant) => tenant,
        None => {
            let mut random = [0u8; 10];
            rand::fill(&mut random);
            let tenant = TenantRecord {
                id: TenantId::new_v7(u64::try_from(now).unwrap_or(0) * 1000, random),
                name: DEFAULT_TENANT.to_string(),
                created_at: now,
            };
            match store.create_tenant(&tenant).await {
                Ok(()) => tenant,
                // Another instance created it first.
                Err(StoreError::Conflict(_)) => store
                    .get_tenant_by_name(DEFAULT_TENANT)
                    .await?
                    .ok_or_else(|| ServeError::Startup("default tenant vanished".into()))?,
                Err(other) => return Err(other.into()),
            }
        }
    };
    if !store.all_users().await?.is_empty() {
        return Ok(());
    }
    let (password, generated) = match &config.bootstrap_password {
        Some(password) => (Secret::new(password.clone()), false),
        None => (generate_password(), true),
    };
    passwords::check_policy(&password)
        .map_err(|e| ServeError::Startup(format!("JETON_BOOTSTRAP_PASSWORD: {e}")))?;
    let hash = passwords::hash(password.clone()).await?;
    let mut random = [0u8; 10];
    rand::fill(&mut random);
    let admin = UserRecord {
        id: UserId::new_v7(u64::try_from(now).unwrap_or(0) * 1000, random),
        tenant_id: tenant.id,
        username: BOOTSTRAP_USER.to_string(),
        password_hash: Some(hash),
        access_level: AccessLevel::Root,
        active: true,
        token_max_secs: None,
        created_at: now,
        updated_at: now,
    };
    match store.create_user(&admin).await {
        Ok(()) => {
            if generated {
                // Printed once, to standard output, on the very first start.
                println!(
                    "Created the first root user '{BOOTSTRAP_USER}' with password: {}\nStore it now: it will not be shown again. Log in with: jeton login --username {BOOTSTRAP_USER}",
                    password.expose()
                );
            } else {
                tracing::info!(
                    "created the first root user '{BOOTSTRAP_USER}' with the password from JETON_BOOTSTRAP_PASSWORD"
                );
            }
            Ok(())
        }
        Err(StoreError::Conflict(_)) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

fn generate_password() -> Secret {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    Secret::new(
        bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect::<String>(),
    )
}

/// Runs the server until SIGINT or SIGTERM, then finishes the requests in progress, writes what
/// is pending and stops. See [`serve_on`] for the limits every connection is held to.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let listen = config.listen;
    // Certificate mistakes stop the start before the database is touched.
    if let Some(files) = &config.tls {
        tls::server_config(files)?;
    }
    let running = start(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: listen,
            source,
        })?;
    serve_on(listener, running, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
