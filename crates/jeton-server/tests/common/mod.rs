//! What the HTTP test files share: a real server on 127.0.0.1 over a real SQLite file, a real
//! HTTP client, and a clock the tests can move.
#![allow(dead_code)] // Each test file uses a different part.

pub mod gated;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct Server {
    pub base: String,
    pub http: Client,
    pub clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

/// A clock that starts at the real time and moves only when a test says so.
pub struct TestClock(AtomicI64);

impl TestClock {
    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl jeton_server::service::Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub async fn spawn() -> Server {
    spawn_with(|_| {}).await
}

/// Starts a server whose configuration `adjust` may change first.
pub async fn spawn_with(adjust: impl FnOnce(&mut jeton_server::Config)) -> Server {
    spawn_with_service(adjust).await.0
}

impl Server {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// The directory of its SQLite database (`jeton.db`, and its `jeton.db.master-key`).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Creates a user and returns a session token for it.
    pub async fn user(
        &self,
        by: &str,
        username: &str,
        level: &str,
        tenant: Option<&str>,
    ) -> String {
        let mut body =
            json!({"username": username, "password": "password-123", "access_level": level});
        if let Some(tenant) = tenant {
            body["tenant"] = json!(tenant);
        }
        let (status, created) = self.post("/api/v1/users", by, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        self.login(username, "password-123").await
    }

    pub async fn create_token(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.post("/api/v1/tokens", token, body).await
    }
}

pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// A server run by `jeton_server::serve_on` — the loop `jeton serve` runs, with its timeouts,
/// header limit and graceful shutdown — and the means to stop it.
pub struct Served {
    pub server: Server,
    /// Send (or drop) to shut the server down.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Ends when the server has shut down.
    pub task: tokio::task::JoinHandle<Result<(), jeton_server::ServeError>>,
}

/// Starts a server with `jeton_server::serve_on` on a free port, over a new SQLite file.
pub async fn spawn_served(adjust: impl FnOnce(&mut jeton_server::Config)) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jeton.db", dir.path().display());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    serve_database(url, dir, now, adjust).await
}

/// Starts a second server over the database of `first`: the same signing keys, users, tokens
/// and API keys, but its own configuration (issuer, audience, ...) and its own clock, which
/// starts at the time `first`'s clock shows.
pub async fn spawn_beside(
    first: &Server,
    adjust: impl FnOnce(&mut jeton_server::Config),
) -> Served {
    use jeton_server::service::Clock;
    let url = format!("sqlite://{}/jeton.db", first._dir.path().display());
    serve_database(url, tempfile::tempdir().unwrap(), first.clock.now(), adjust).await
}

async fn serve_database(
    url: String,
    dir: tempfile::TempDir,
    now: i64,
    adjust: impl FnOnce(&mut jeton_server::Config),
) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = test_config(&url, addr, adjust);
    let store = jeton_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(TestClock(AtomicI64::new(now)));
    let running = jeton_server::start_with_store(config, store, clock.clone())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(jeton_server::serve_on(listener, running, async move {
        let _ = stopped.await;
    }));
    Served {
        server: Server {
            base: format!("http://{addr}"),
            http: Client::new(),
            clock,
            _dir: dir,
        },
        stop: Some(stop),
        task,
    }
}

impl Served {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server
            .base
            .trim_start_matches("http://")
            .parse()
            .unwrap()
    }

    /// Shuts the server down and waits until it has stopped.
    pub async fn shut_down(mut self) -> Result<(), jeton_server::ServeError> {
        drop(self.stop.take());
        self.task.await.unwrap()
    }

    /// Shuts the server down, and keeps its database directory (deleted when the answer is
    /// dropped) for a test that opens the files afterwards.
    pub async fn shut_down_keeping_dir(mut self) -> tempfile::TempDir {
        drop(self.stop.take());
        let Served { server, task, .. } = self;
        task.await.unwrap().unwrap();
        server._dir
    }
}

impl std::ops::Deref for Served {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

/// An HTTP client whose connections come from `source` (any 127.x.y.z address works on
/// Linux's loopback), to act as another client address.
pub fn client_from(source: [u8; 4]) -> Client {
    Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .build()
        .unwrap()
}

/// Like [`spawn_with`], and also answers the service behind the server, so that a test can run
/// what the background tasks do (the hourly purge of expired revocations) when it chooses.
pub async fn spawn_with_service(
    adjust: impl FnOnce(&mut jeton_server::Config),
) -> (Server, Arc<jeton_server::service::Service>) {
    spawn_over(adjust, |store| store).await
}

/// Like [`spawn_with_service`], over a [`gated::GatedStore`] around the real store, so that a
/// test can hold one request's read until another request has been answered.
pub async fn spawn_gated(
    adjust: impl FnOnce(&mut jeton_server::Config),
) -> (
    Server,
    Arc<jeton_server::service::Service>,
    Arc<gated::GatedStore>,
) {
    let mut gated = None;
    let adjust = |config: &mut jeton_server::Config| {
        // The change feed's follower reads principals too: only at start here, so that the
        // reads a test holds are the requests' own.
        config.change_poll_interval = std::time::Duration::from_secs(3600);
        adjust(config);
    };
    let (server, service) = spawn_over(adjust, |store| {
        let store = Arc::new(gated::GatedStore::new(store));
        gated = Some(store.clone());
        store
    })
    .await;
    (server, service, gated.unwrap())
}

/// Waits until the change-feed follower has applied every row written so far, so that its
/// reads cannot take a hold a test arms next.
pub async fn feed_idle(service: &jeton_server::service::Service) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let latest = service.store().latest_change().await.unwrap();
        if service.feed().settled() >= latest {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change feed follower did not catch up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The configuration of a test server that will listen on `addr`: the issuer stays
/// `http://127.0.0.1:0` (servers over one database share it), and the address the tests reach
/// the server at is an allowed origin, as `--allowed-origin` would make it, so that requests
/// authenticated by the session cookie can come "from Jeton's own pages" (`Origin: base`).
fn test_config(
    url: &str,
    addr: SocketAddr,
    adjust: impl FnOnce(&mut jeton_server::Config),
) -> jeton_server::Config {
    let mut config = jeton_server::Config::new(url.to_string(), "127.0.0.1:0".parse().unwrap());
    config.bootstrap_password = Some(ADMIN_PASSWORD.to_string());
    config.max_body_bytes = 64 * 1024;
    config.allowed_origins.push(format!("http://{addr}"));
    adjust(&mut config);
    config
}

/// Like [`spawn_with_service`], with the store `wrap` makes of the real one.
pub async fn spawn_over(
    adjust: impl FnOnce(&mut jeton_server::Config),
    wrap: impl FnOnce(Arc<dyn jeton_store::Store>) -> Arc<dyn jeton_store::Store>,
) -> (Server, Arc<jeton_server::service::Service>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jeton.db", dir.path().display());
    spawn_at(url, dir, adjust, wrap).await
}

/// Like [`spawn_over`], over the database at `url` (`dir` is kept as long as the server).
async fn spawn_at(
    url: String,
    dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut jeton_server::Config),
    wrap: impl FnOnce(Arc<dyn jeton_store::Store>) -> Arc<dyn jeton_store::Store>,
) -> (Server, Arc<jeton_server::service::Service>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = test_config(&url, addr, adjust);
    if url.starts_with("postgres") && config.master_key_file.is_none() {
        // PostgreSQL needs a master key: one of the test's own, in its directory.
        let file = dir.path().join("master.key");
        jeton_server::master_key::MasterKey::create_file(&file).unwrap();
        config.master_key_file = Some(file);
    }
    let store = jeton_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let store = wrap(store);
    let clock = Arc::new(TestClock(AtomicI64::new(
        time::OffsetDateTime::now_utc().unix_timestamp(),
    )));
    let running = jeton_server::start_with_store(config, store, clock.clone())
        .await
        .unwrap();
    let service = running.service.clone();
    let app = jeton_server::http::app(running.service.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
        drop(running);
    });
    let server = Server {
        base: format!("http://{addr}"),
        http: Client::new(),
        clock,
        _dir: dir,
    };
    (server, service)
}

/// The variable naming a PostgreSQL server for tests.
pub const PG_URL_VAR: &str = "JETON_TEST_DATABASE_URL";

/// Runs `scenario` against a server (as [`spawn_with_service`] starts it) over a fresh
/// PostgreSQL database `jeton_http_<random>` on the server `JETON_TEST_DATABASE_URL` names,
/// dropped afterwards even when the scenario panics. Without the variable, says so on stderr
/// and returns.
pub async fn on_postgres<F, Fut>(
    test: &str,
    adjust: impl FnOnce(&mut jeton_server::Config) + Send + 'static,
    scenario: F,
) where
    F: FnOnce(Server, Arc<jeton_server::service::Service>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use sqlx::{AssertSqlSafe, Connection};
    let admin_url = match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            eprintln!(
                "\n*** SKIPPED {test}: set {PG_URL_VAR} (e.g. \
                 postgres://postgres@127.0.0.1:5432/postgres) to run it on PostgreSQL ***\n"
            );
            return;
        }
    };
    let name = format!("jeton_http_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {PG_URL_VAR}: {err}"));
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    let url = with_database(&admin_url, &name);
    let outcome = tokio::spawn(async move {
        let (server, service) =
            spawn_at(url, tempfile::tempdir().unwrap(), adjust, |store| store).await;
        scenario(server, service).await;
    })
    .await;
    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        if let Err(err) = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await {
            eprintln!("could not drop test database {name}: {err}");
        }
        admin.close().await.ok();
    }
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// The same server URL naming another database.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Ends the current minute on the test clock and waits for the audit writer's next pass:
/// refusals of unknown credentials are counted per (reason, address, minute) and written as
/// one record once their minute is over.
pub async fn end_denial_minute(server: &Server) {
    server.clock.advance(60);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
}
