//! Crash durability (PRODUCT.md section 5: "a token or key that was returned to a client is
//! durable: a crash right after the response loses nothing"; issue 7, item 1).
//!
//! One test per backend, SQLite (a file in a temporary directory) and PostgreSQL (a fresh
//! database `jeton_crash_<random>` on the server `JETON_TEST_DATABASE_URL` names, dropped
//! afterwards; without that variable the PostgreSQL test says so on stderr and passes). Each:
//!
//! 1. starts the real `jeton serve` and logs in as `admin` over HTTP;
//! 2. runs [`WORKERS`] concurrent clients creating API tokens, creating service users, rotating
//!    their keys without grace period, revoking tokens and spot-checking credentials, while a
//!    controller kills the server with SIGKILL every 0.25–1 s of load ([`KILLS`] times) and
//!    restarts it on the same database (waiting for `/healthz`). The clients carry on with the
//!    session of the last login, which must survive the kills; after every [`LOGIN_EVERY`]th
//!    restart the controller logs in again, under load (not after every one: a login's Argon2
//!    hash costs most of a second of CPU in a debug build);
//! 3. after the last kill, restarts it once more and checks every credential against what the
//!    clients were *told*: only a complete 2xx answer counts as acknowledged. A request that was
//!    in flight at a kill is in doubt and may or may not have happened.
//!
//! What is accepted, credential by credential:
//! - API token whose creation was acknowledged and whose revocation was never attempted: must
//!   verify (`GET /api/v1/auth/verify` → 200, as itself), else it is *lost*.
//! - token whose revocation was acknowledged: must be refused (401), else *resurrected*.
//! - token whose revocation was attempted but never acknowledged: either answer is fine.
//! - service user: its keys whose rotation was acknowledged must be refused (else
//!   *resurrected*). Its last acknowledged key ("current") must verify as that service user,
//!   unless a later rotation is in doubt (else *lost*). Exactly one key works: when the current
//!   key works the server shows its hint as the current key; when it is refused (a rotation in
//!   doubt happened after all), the server shows another current key, i.e. a newer,
//!   unacknowledged one — and no key is in a grace period.
//! - session tokens of the controller's logins (acknowledged): must verify, else *lost*.
//!
//! The database is then checked for consistency: listings page without errors and show every
//! acknowledged token with the right status and every acknowledged service user; and in the
//! database itself, every service user has exactly one current key, no superseded key works,
//! revoked tokens and revocation records agree (plus `PRAGMA integrity_check` on SQLite).
//!
//! Spot checks during the load hold settled credentials to the same rules between kills.
//!
//! Figures (acknowledged, in doubt, lost, resurrected, kills, run time) go to stderr (see them
//! with `cargo test -p jeton --test crash -- --nocapture`); the test fails unless lost and
//! resurrected are both 0, and on any answer other than 2xx from a running server.
//! `JETON_CRASH_KILLS` (default [`KILLS`], at least 20) and `JETON_CRASH_SEED` change the run;
//! the seed is printed.
//!
//! Rotations *with* a grace period are tested apart, by `grace_end_survives_a_kill_*`: the end of
//! a grace period caused by the new key's first use must be durable before that use is answered.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{JETON, JETON_VARS, PG_URL_VAR, free_addr, with_database};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::watch;

const ADMIN_PASSWORD: &str = "crash-test-bootstrap-password";
/// Fixed, so that tokens stay valid if a restart has to move to another port.
const ISSUER: &str = "http://jeton-crash-test";
/// Concurrent clients.
const WORKERS: usize = 8;
/// Kills per backend (the issue asks for at least 20).
const KILLS: usize = 22;
const MIN_KILLS: usize = 20;
/// Load between two kills: uniform in this range, in milliseconds.
const LOAD_MS: (u64, u64) = (250, 1000);
/// The controller logs in again after every this many restarts (and after the last one).
const LOGIN_EVERY: u64 = 5;
/// Once this much time has gone by, stop killing as soon as [`MIN_KILLS`] is reached (unless
/// `JETON_CRASH_KILLS` asks for a number).
const SOFT_DEADLINE: Duration = Duration::from_secs(35);

// --- tests -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_durability_sqlite() {
    on_sqlite(async |url, log| run("sqlite", &url, log).await.assert_ok()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_durability_postgres() {
    on_postgres("crash_durability_postgres", |url, log| async move {
        run("postgres", &url, log).await.assert_ok();
    })
    .await;
}

/// A rotation with a grace period ends it at the new key's first use; a kill right after that
/// answer must not bring the old key back. Runs [`GRACE_TRIALS`] times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_end_survives_a_kill_sqlite() {
    on_sqlite(async |url, log| grace_end(&url, log).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_end_survives_a_kill_postgres() {
    on_postgres(
        "grace_end_survives_a_kill_postgres",
        |url, log| async move {
            grace_end(&url, log).await;
        },
    )
    .await;
}

/// The scenarios run one at a time: each has the machine's cores to itself (8 clients and a
/// debug-build server already keep two busy), so its figures and run time are its own.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `scenario` on a fresh SQLite file (and a server log) in a temporary directory.
async fn on_sqlite(scenario: impl AsyncFnOnce(String, PathBuf)) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jeton.db").display());
    scenario(url, dir.path().join("server.log")).await;
}

/// Runs `scenario` on a fresh PostgreSQL database `jeton_crash_<random>` on the server
/// `JETON_TEST_DATABASE_URL` names, dropped afterwards even when the scenario panics (it runs in
/// a task of its own; its server process is killed by its guard while the task unwinds). Without
/// the variable, says so on stderr and returns.
async fn on_postgres<F, Fut>(test: &str, scenario: F)
where
    F: FnOnce(String, PathBuf) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let _alone = ONE_AT_A_TIME.lock().await;
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
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut rng = Rng::new(seed() ^ (nanos as u64) ^ u64::from(std::process::id()));
    let name = format!("jeton_crash_{:016x}", rng.next());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {PG_URL_VAR}: {err}"));
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    let url = with_database(&admin_url, &name);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let outcome = tokio::spawn(async move { scenario(url, log).await }).await;
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

// --- randomness ------------------------------------------------------------------------------

/// The run's seed: `JETON_CRASH_SEED`, or the clock.
fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        std::env::var("JETON_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
            })
    })
}

/// xorshift64*: enough to pick operations and moments, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

// --- the server process ----------------------------------------------------------------------

/// `jeton serve` on one database, restarted at will; killed when dropped.
struct Server {
    database_url: String,
    log: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
    starts: usize,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Server {
    fn new(database_url: &str, log: PathBuf) -> Self {
        Self {
            database_url: database_url.to_string(),
            log,
            addr: free_addr(),
            child: None,
            starts: 0,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(JETON);
        for var in JETON_VARS {
            command.env_remove(var);
        }
        if let Some(key) = common::master_key_for(&self.database_url) {
            command.env("JETON_MASTER_KEY_FILE", key);
        }
        let child = command
            .args(["serve", "--listen", &self.addr.to_string()])
            .args(["--database-url", &self.database_url])
            .args(["--issuer", ISSUER, "--login-attempts", "100000"])
            .env("JETON_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start jeton serve");
        self.child = Some(child);
        self.starts += 1;
    }

    /// Starts the server (on the same port as before when possible) and waits for `/healthz`.
    async fn start(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut moved = 0;
        self.spawn();
        loop {
            let url = format!("{}/healthz", self.base());
            if let Ok(response) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && response.status().is_success()
            {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                let log = self.log_tail();
                // Something else took the port between a kill and this start: move.
                if log
                    .lines()
                    .last()
                    .is_some_and(|l| l.contains("cannot listen"))
                    && moved < 3
                {
                    moved += 1;
                    self.child = None;
                    self.addr = free_addr();
                    self.spawn();
                    continue;
                }
                panic!("jeton serve exited with {status}:\n{log}");
            }
            if Instant::now() > deadline {
                panic!("jeton serve did not become healthy:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaps the process.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

// --- HTTP ------------------------------------------------------------------------------------

/// One generation of the server: its address, a client of its own (no pooled connection
/// outlives a kill) and the admin session token of the login made after its start.
struct Conn {
    base: String,
    client: reqwest::Client,
    token: String,
    generation: u64,
    /// Requests under way (shared by every generation of one run), to tell how many a kill
    /// interrupted.
    in_flight: Arc<AtomicUsize>,
}

/// What a request came to.
enum Outcome {
    /// A complete 2xx answer with a JSON body.
    Acked(Value),
    /// No complete answer: the request may or may not have taken effect.
    InDoubt,
    /// A complete answer with another status.
    Refused(u16, String),
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

async fn call(conn: &Conn, method: reqwest::Method, path: &str, body: Option<Value>) -> Outcome {
    conn.in_flight.fetch_add(1, Ordering::SeqCst);
    let outcome = call_inner(conn, method, path, body).await;
    conn.in_flight.fetch_sub(1, Ordering::SeqCst);
    outcome
}

async fn call_inner(
    conn: &Conn,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Outcome {
    let mut request = conn
        .client
        .request(method, format!("{}{path}", conn.base))
        .bearer_auth(&conn.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let Ok(response) = request.send().await else {
        return Outcome::InDoubt;
    };
    let status = response.status();
    let Ok(bytes) = response.bytes().await else {
        return Outcome::InDoubt;
    };
    if !status.is_success() {
        return Outcome::Refused(status.as_u16(), String::from_utf8_lossy(&bytes).into());
    }
    match serde_json::from_slice(&bytes) {
        Ok(value) => Outcome::Acked(value),
        Err(err) => Outcome::Refused(status.as_u16(), format!("not JSON ({err})")),
    }
}

/// A credential presented to `GET /api/v1/auth/verify`.
#[derive(Clone)]
enum Credential {
    Bearer(String),
    ApiKey(String),
}

/// The status and body of `GET /api/v1/auth/verify`, or `None` without a complete answer.
async fn verify(conn: &Conn, credential: &Credential) -> Option<(u16, Value)> {
    let request = conn.client.get(format!("{}/api/v1/auth/verify", conn.base));
    let request = match credential {
        Credential::Bearer(token) => request.bearer_auth(token),
        Credential::ApiKey(key) => request.header("X-API-Key", key),
    };
    conn.in_flight.fetch_add(1, Ordering::SeqCst);
    let result = async {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.ok()?;
        Some((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
    .await;
    conn.in_flight.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Like [`verify`], retried while the (running) server gives no complete answer.
async fn verify_settled(conn: &Conn, credential: &Credential) -> (u16, Value) {
    for _ in 0..5 {
        if let Some(answer) = verify(conn, credential).await {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the restarted server gives no answer to GET /api/v1/auth/verify");
}

/// `POST /api/v1/auth/login` as `admin`, once.
async fn try_login(client: &reqwest::Client, base: &str) -> Outcome {
    let request = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}));
    let Ok(response) = request.send().await else {
        return Outcome::InDoubt;
    };
    let status = response.status();
    let Ok(bytes) = response.bytes().await else {
        return Outcome::InDoubt;
    };
    if !status.is_success() {
        return Outcome::Refused(status.as_u16(), String::from_utf8_lossy(&bytes).into());
    }
    match serde_json::from_slice(&bytes) {
        Ok(value) => Outcome::Acked(value),
        Err(err) => Outcome::Refused(status.as_u16(), format!("not JSON ({err})")),
    }
}

/// Logs in to a running server (retrying while it gives no answer); the session token.
async fn login(client: &reqwest::Client, base: &str) -> String {
    for _ in 0..10 {
        match try_login(client, base).await {
            Outcome::Acked(value) => return text(&value, "token"),
            Outcome::Refused(status, body) => panic!("login refused ({status}): {body}"),
            Outcome::InDoubt => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("cannot log in to the restarted server");
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no '{field}' in {value}"))
        .to_string()
}

// --- what the clients were told --------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TokenState {
    /// Creation acknowledged, no revocation attempted.
    Active,
    /// A revocation was attempted and not acknowledged (yet).
    RevokeInDoubt,
    /// A revocation was acknowledged.
    Revoked,
}

#[derive(Clone)]
struct TokenEntry {
    id: String,
    value: String,
    state: TokenState,
}

#[derive(Clone)]
struct Key {
    value: String,
    hint: String,
}

#[derive(Clone)]
struct ServiceUser {
    id: String,
    /// The last key the client was given (by the creation or an acknowledged rotation).
    current: Key,
    /// Keys whose replacement was acknowledged: must be refused.
    retired: Vec<Key>,
    /// A rotation after `current` was not acknowledged: the server may have a newer key.
    in_doubt: bool,
}

/// Operation kinds, for the figures.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    CreateToken,
    CreateServiceUser,
    RotateKey,
    RevokeToken,
    Login,
    SpotCheck,
}

const KINDS: [Kind; 6] = [
    Kind::CreateToken,
    Kind::CreateServiceUser,
    Kind::RotateKey,
    Kind::RevokeToken,
    Kind::Login,
    Kind::SpotCheck,
];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::CreateToken => "token creations",
            Kind::CreateServiceUser => "service-user creations",
            Kind::RotateKey => "key rotations",
            Kind::RevokeToken => "token revocations",
            Kind::Login => "logins",
            Kind::SpotCheck => "spot checks",
        }
    }
}

#[derive(Default)]
struct Counts {
    acked: HashMap<Kind, u64>,
    in_doubt: HashMap<Kind, u64>,
}

/// Everything the clients were told, shared by the workers. Tokens and service users are taken
/// out of their pools while a worker acts on them, so each has one operation at a time.
#[derive(Default)]
struct Ledger {
    tokens: Mutex<Vec<TokenEntry>>,
    revoked: Mutex<Vec<TokenEntry>>,
    service_users: Mutex<Vec<ServiceUser>>,
    sessions: Mutex<Vec<String>>,
    counts: Mutex<Counts>,
    /// Answers no operation should get (4xx/5xx from a running server), and failed spot checks.
    problems: Mutex<Vec<String>>,
    spot_lost: AtomicU64,
    spot_resurrected: AtomicU64,
    names: AtomicU64,
}

impl Ledger {
    fn count(&self, kind: Kind, acked: bool) {
        let mut counts = self.counts.lock().unwrap();
        let map = if acked {
            &mut counts.acked
        } else {
            &mut counts.in_doubt
        };
        *map.entry(kind).or_default() += 1;
    }

    fn problem(&self, text: String) {
        let mut problems = self.problems.lock().unwrap();
        if problems.len() < 50 {
            problems.push(text);
        }
    }

    fn take<T>(pool: &Mutex<Vec<T>>, rng: &mut Rng, accept: impl Fn(&T) -> bool) -> Option<T> {
        let mut pool = pool.lock().unwrap();
        if pool.is_empty() {
            return None;
        }
        // A few tries at random, so that a large pool costs no scan.
        for _ in 0..4 {
            let index = rng.below(pool.len());
            if accept(&pool[index]) {
                return Some(pool.swap_remove(index));
            }
        }
        None
    }
}

// --- the load --------------------------------------------------------------------------------

async fn worker(
    index: usize,
    ledger: Arc<Ledger>,
    mut session: watch::Receiver<Option<Arc<Conn>>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng::new(seed().wrapping_add(index as u64 + 1));
    while !stop.load(Ordering::SeqCst) {
        let conn = session.borrow_and_update().clone();
        let Some(conn) = conn else {
            // The server is down: wait for the next start (or a stop).
            let _ = tokio::time::timeout(Duration::from_millis(200), session.changed()).await;
            continue;
        };
        let acked = match rng.below(100) {
            // Fewer tokens than keys: a token's first verification (Ed25519) is what costs
            // most in a debug build, at creation and in the final check.
            0..22 => create_token(&conn, &ledger).await,
            22..36 => create_service_user(&conn, &ledger).await,
            36..64 => rotate_key(&conn, &ledger, &mut rng).await,
            64..82 => revoke_token(&conn, &ledger, &mut rng).await,
            _ => spot_check(&conn, &ledger, &mut rng).await,
        };
        if !acked {
            // Most likely killed: wait for the next generation rather than spin on errors.
            let _ = tokio::time::timeout(Duration::from_millis(500), async {
                while session.borrow().as_ref().map(|c| c.generation) == Some(conn.generation) {
                    if session.changed().await.is_err() {
                        return;
                    }
                }
            })
            .await;
        }
    }
}

/// Answers true when the operation was acknowledged (or had nothing to do).
async fn create_token(conn: &Conn, ledger: &Ledger) -> bool {
    let n = ledger.names.fetch_add(1, Ordering::SeqCst);
    let body = json!({"comment": format!("crash test {n}"), "expires_in": "1d"});
    match call(conn, reqwest::Method::POST, "/api/v1/tokens", Some(body)).await {
        Outcome::Acked(value) => {
            ledger.tokens.lock().unwrap().push(TokenEntry {
                id: text(&value, "id"),
                value: text(&value, "token"),
                state: TokenState::Active,
            });
            ledger.count(Kind::CreateToken, true);
            true
        }
        Outcome::InDoubt => {
            ledger.count(Kind::CreateToken, false);
            false
        }
        Outcome::Refused(status, body) => {
            ledger.problem(format!("POST /api/v1/tokens: {status} {body}"));
            false
        }
    }
}

async fn create_service_user(conn: &Conn, ledger: &Ledger) -> bool {
    let n = ledger.names.fetch_add(1, Ordering::SeqCst);
    let body = json!({"name": format!("crash-{:x}-{n}", seed() & 0xffff_ffff)});
    match call(
        conn,
        reqwest::Method::POST,
        "/api/v1/service-users",
        Some(body),
    )
    .await
    {
        Outcome::Acked(value) => {
            ledger.service_users.lock().unwrap().push(ServiceUser {
                id: text(&value, "id"),
                current: Key {
                    value: text(&value, "api_key"),
                    hint: text(&value, "key_hint"),
                },
                retired: Vec::new(),
                in_doubt: false,
            });
            ledger.count(Kind::CreateServiceUser, true);
            true
        }
        Outcome::InDoubt => {
            ledger.count(Kind::CreateServiceUser, false);
            false
        }
        Outcome::Refused(status, body) => {
            ledger.problem(format!("POST /api/v1/service-users: {status} {body}"));
            false
        }
    }
}

async fn rotate_key(conn: &Conn, ledger: &Ledger, rng: &mut Rng) -> bool {
    let Some(mut user) = Ledger::take(&ledger.service_users, rng, |_| true) else {
        return create_service_user(conn, ledger).await;
    };
    let path = format!("/api/v1/service-users/{}/rotate-key", user.id);
    let acked = match call(conn, reqwest::Method::POST, &path, None).await {
        Outcome::Acked(value) => {
            assert_eq!(
                text(&value, "id"),
                user.id,
                "rotation answered another user"
            );
            let new = Key {
                value: text(&value, "api_key"),
                hint: text(&value, "key_hint"),
            };
            user.retired.push(std::mem::replace(&mut user.current, new));
            user.in_doubt = false;
            ledger.count(Kind::RotateKey, true);
            true
        }
        Outcome::InDoubt => {
            user.in_doubt = true;
            ledger.count(Kind::RotateKey, false);
            false
        }
        Outcome::Refused(status, body) => {
            // The state is unknown after an error answer: treat it as in doubt.
            user.in_doubt = true;
            ledger.problem(format!("POST {path}: {status} {body}"));
            false
        }
    };
    ledger.service_users.lock().unwrap().push(user);
    acked
}

async fn revoke_token(conn: &Conn, ledger: &Ledger, rng: &mut Rng) -> bool {
    let Some(mut token) = Ledger::take(&ledger.tokens, rng, |_| true) else {
        return create_token(conn, ledger).await;
    };
    let path = format!("/api/v1/tokens/revoke/{}", token.id);
    match call(conn, reqwest::Method::POST, &path, None).await {
        Outcome::Acked(value) => {
            assert_eq!(text(&value, "id"), token.id);
            assert_eq!(
                text(&value, "status"),
                "revoked",
                "revocation answer: {value}"
            );
            token.state = TokenState::Revoked;
            ledger.revoked.lock().unwrap().push(token);
            ledger.count(Kind::RevokeToken, true);
            true
        }
        Outcome::InDoubt => {
            token.state = TokenState::RevokeInDoubt;
            ledger.tokens.lock().unwrap().push(token);
            ledger.count(Kind::RevokeToken, false);
            false
        }
        Outcome::Refused(status, body) => {
            token.state = TokenState::RevokeInDoubt;
            ledger.tokens.lock().unwrap().push(token);
            ledger.problem(format!("POST {path}: {status} {body}"));
            false
        }
    }
}

/// Verifies one settled credential against what the clients were told.
async fn spot_check(conn: &Conn, ledger: &Ledger, rng: &mut Rng) -> bool {
    let (credential, expect_ok, what, put_back): (
        Credential,
        bool,
        String,
        Box<dyn FnOnce() + Send + '_>,
    ) = match rng.below(4) {
        0 => {
            let Some(token) = Ledger::take(&ledger.tokens, rng, |t| t.state == TokenState::Active)
            else {
                return true;
            };
            let credential = Credential::Bearer(token.value.clone());
            let what = format!("token {} (creation acknowledged)", token.id);
            (
                credential,
                true,
                what,
                Box::new(move || ledger.tokens.lock().unwrap().push(token)),
            )
        }
        1 => {
            let token = {
                let revoked = ledger.revoked.lock().unwrap();
                if revoked.is_empty() {
                    return true;
                }
                revoked[rng.below(revoked.len())].clone()
            };
            let what = format!("token {} (revocation acknowledged)", token.id);
            (
                Credential::Bearer(token.value),
                false,
                what,
                Box::new(|| {}),
            )
        }
        _ => {
            let Some(user) = Ledger::take(&ledger.service_users, rng, |_| true) else {
                return true;
            };
            let retired = !user.retired.is_empty() && rng.below(2) == 0;
            if !retired && user.in_doubt {
                ledger.service_users.lock().unwrap().push(user);
                return true;
            }
            let (key, what) = if retired {
                let key = &user.retired[rng.below(user.retired.len())];
                (
                    key.value.clone(),
                    format!("retired key {} of {}", key.hint, user.id),
                )
            } else {
                let key = &user.current;
                (
                    key.value.clone(),
                    format!("current key {} of {}", key.hint, user.id),
                )
            };
            (
                Credential::ApiKey(key),
                !retired,
                what,
                Box::new(move || ledger.service_users.lock().unwrap().push(user)),
            )
        }
    };
    let answer = verify(conn, &credential).await;
    put_back();
    match answer {
        None => {
            ledger.count(Kind::SpotCheck, false);
            false
        }
        Some((status, body)) => {
            ledger.count(Kind::SpotCheck, true);
            match (expect_ok, status) {
                (true, 200) | (false, 401) => {}
                (true, _) => {
                    ledger.spot_lost.fetch_add(1, Ordering::SeqCst);
                    ledger.problem(format!("spot check: {what} refused ({status}): {body}"));
                }
                (false, _) => {
                    ledger.spot_resurrected.fetch_add(1, Ordering::SeqCst);
                    ledger.problem(format!("spot check: {what} answered {status}: {body}"));
                }
            }
            true
        }
    }
}

// --- grace periods and kills -----------------------------------------------------------------

const GRACE_TRIALS: usize = 10;

async fn grace_end(database_url: &str, log: PathBuf) {
    let mut server = Server::new(database_url, log);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let connect = async |server: &mut Server| {
        let client = client();
        server.start(&client).await;
        let token = login(&client, &server.base()).await;
        Conn {
            base: server.base(),
            client,
            token,
            generation: 0,
            in_flight: in_flight.clone(),
        }
    };
    let mut conn = connect(&mut server).await;
    let acked = |outcome: Outcome, what: &str| match outcome {
        Outcome::Acked(value) => value,
        Outcome::InDoubt => panic!("{what}: no answer"),
        Outcome::Refused(status, body) => panic!("{what}: {status} {body}"),
    };
    let mut resurrected = 0;
    for trial in 0..GRACE_TRIALS {
        let body = json!({"name": format!("grace-{trial}")});
        let path = "/api/v1/service-users";
        let user = acked(
            call(&conn, reqwest::Method::POST, path, Some(body)).await,
            path,
        );
        let old = Credential::ApiKey(text(&user, "api_key"));
        let path = format!("/api/v1/service-users/{}/rotate-key", text(&user, "id"));
        let body = json!({"grace": "1h"});
        let rotated = acked(
            call(&conn, reqwest::Method::POST, &path, Some(body)).await,
            &path,
        );
        let new = Credential::ApiKey(text(&rotated, "api_key"));
        assert_eq!(
            verify_settled(&conn, &old).await.0,
            200,
            "old key in its grace period"
        );
        // The first use of the new key ends the grace period: the old key stops at once, and
        // must stay stopped after a crash right after that answer.
        assert_eq!(verify_settled(&conn, &new).await.0, 200, "new key");
        server.kill();
        conn = connect(&mut server).await;
        let status = verify_settled(&conn, &old).await.0;
        eprintln!("grace trial {trial}: old key after a kill and a restart: {status}");
        if status != 401 {
            resurrected += 1;
        }
    }
    assert_eq!(
        resurrected, 0,
        "the old key worked again after a kill in {resurrected} of {GRACE_TRIALS} trials"
    );
}

// --- one run ---------------------------------------------------------------------------------

/// The figures of one backend's run.
struct Report {
    backend: &'static str,
    lost: u64,
    resurrected: u64,
    inconsistencies: Vec<String>,
    problems: Vec<String>,
    text: String,
    log_tail: String,
}

impl Report {
    fn assert_ok(&self) {
        eprintln!("{}", self.text);
        let failed = self.lost != 0
            || self.resurrected != 0
            || !self.inconsistencies.is_empty()
            || !self.problems.is_empty();
        if failed {
            eprintln!("--- server log (tail) ---\n{}", self.log_tail);
        }
        assert!(
            self.problems.is_empty(),
            "{}: unexpected answers during the load:\n{}",
            self.backend,
            self.problems.join("\n")
        );
        assert!(
            self.inconsistencies.is_empty(),
            "{}: inconsistent state after the last restart:\n{}",
            self.backend,
            self.inconsistencies.join("\n")
        );
        assert_eq!(
            self.lost, 0,
            "{}: acknowledged credentials lost",
            self.backend
        );
        assert_eq!(
            self.resurrected, 0,
            "{}: acknowledged revocations or rotations undone",
            self.backend
        );
    }
}

async fn run(backend: &'static str, database_url: &str, log: PathBuf) -> Report {
    let started = Instant::now();
    let asked: Option<usize> = std::env::var("JETON_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok());
    let kills_wanted = asked.unwrap_or(KILLS).max(MIN_KILLS);
    // A number asked for is honoured; the default gives way to the time budget.
    let soft_deadline = asked.map_or(SOFT_DEADLINE, |_| Duration::MAX);
    let mut rng = Rng::new(seed());
    let mut server = Server::new(database_url, log);
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (publish, session) = watch::channel::<Option<Arc<Conn>>>(None);
    let publish = Arc::new(publish);

    let in_flight = Arc::new(AtomicUsize::new(0));
    let conn = |server: &Server, client: &reqwest::Client, token: &str, generation: u64| {
        Arc::new(Conn {
            base: server.base(),
            client: client.clone(),
            token: token.to_string(),
            generation,
            in_flight: in_flight.clone(),
        })
    };
    let mut generation = 0;
    let client = self::client();
    server.start(&client).await;
    let token = login(&client, &server.base()).await;
    ledger.sessions.lock().unwrap().push(token.clone());
    ledger.count(Kind::Login, true);
    publish.send_replace(Some(conn(&server, &client, &token, generation)));

    let workers: Vec<_> = (0..WORKERS)
        .map(|i| tokio::spawn(worker(i, ledger.clone(), session.clone(), stop.clone())))
        .collect();

    let mut kills = 0;
    let mut interrupted = 0;
    let mut restarts = Duration::ZERO;
    let mut logins = Duration::ZERO;
    let token = loop {
        let load = rng.between(LOAD_MS.0, LOAD_MS.1);
        tokio::time::sleep(Duration::from_millis(load)).await;
        let last = kills + 1 >= kills_wanted
            || (kills + 1 >= MIN_KILLS && started.elapsed() > soft_deadline);
        if last {
            // Workers stop after the operation the kill interrupts.
            stop.store(true, Ordering::SeqCst);
        }
        interrupted += in_flight.load(Ordering::SeqCst);
        server.kill();
        kills += 1;
        let down = Instant::now();
        let token = publish
            .send_replace(None)
            .map(|conn| conn.token.clone())
            .expect("a session");
        if last {
            break token;
        }
        generation += 1;
        let client = self::client();
        server.start(&client).await;
        restarts += down.elapsed();
        // The load resumes at once with the session of the last login, which must survive the
        // kills too. After every few restarts the controller logs in again meanwhile (Argon2 is
        // slow in a debug build) and the next kill waits for that login.
        let current = conn(&server, &client, &token, generation);
        publish.send_replace(Some(current.clone()));
        if generation % LOGIN_EVERY == 0 {
            let login = Instant::now();
            log_in_again(current, ledger.clone(), publish.clone()).await;
            logins += login.elapsed();
        }
    };
    for worker in workers {
        worker.await.expect("a worker panicked");
    }
    let load_time = started.elapsed();
    assert!(kills >= MIN_KILLS);

    // The last restart and a login, then every credential against what the clients were told.
    generation += 1;
    let client = self::client();
    server.start(&client).await;
    let conn = conn(&server, &client, &token, generation);
    log_in_again(conn.clone(), ledger.clone(), publish.clone()).await;
    let mut check = Check::default();
    let mut phases = vec![("restart", load_time)];
    let mut phase = |name: &'static str| phases.push((name, started.elapsed()));
    phase("restart");
    check_tokens(&conn, &ledger, &mut check).await;
    phase("tokens");
    check_service_users(&conn, &ledger, &mut check).await;
    phase("service users");
    check_sessions(&conn, &ledger, &mut check).await;
    check_listings(&conn, &ledger, &mut check).await;
    phase("listings");
    let log_tail = server.log_tail();
    let starts = server.starts;
    server.kill();
    check_database(database_url, &mut check).await;
    phase("database");
    let phases: Vec<String> = phases
        .windows(2)
        .map(|w| format!("{} {:.1} s", w[1].0, (w[1].1 - w[0].1).as_secs_f64()))
        .collect();

    let spot_lost = ledger.spot_lost.load(Ordering::SeqCst);
    let spot_resurrected = ledger.spot_resurrected.load(Ordering::SeqCst);
    let counts = ledger.counts.lock().unwrap();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n=== crash durability, {backend}: {kills} SIGKILLs, {starts} starts, {:.1} s in all \
         ({:.1} s of load, of which {:.1} s restarting after kills and {:.1} s in logins), \
         seed {} ===",
        started.elapsed().as_secs_f64(),
        load_time.as_secs_f64(),
        restarts.as_secs_f64(),
        logins.as_secs_f64(),
        seed()
    );
    let _ = writeln!(
        text,
        "  {WORKERS} concurrent clients; requests in flight at the kills: {interrupted}; \
         final checks: {}",
        phases.join(", ")
    );
    let _ = writeln!(
        text,
        "  operations acknowledged / in doubt (interrupted by a kill):"
    );
    for kind in KINDS {
        let _ = writeln!(
            text,
            "    {:<24} {:>6} / {}",
            kind.label(),
            counts.acked.get(&kind).copied().unwrap_or(0),
            counts.in_doubt.get(&kind).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(
        text,
        "  checked after the last restart: {} tokens that must verify, {} revoked tokens, {} \
         revocations in doubt ({} took effect), {} service users ({} current keys that must \
         verify, {} rotations in doubt of which {} took effect, {} retired keys), {} login \
         sessions",
        check.active,
        check.revoked,
        check.revoke_doubt,
        check.revoke_doubt_took,
        check.service_users,
        check.current_keys,
        check.rotate_doubt,
        check.rotate_doubt_took,
        check.retired_keys,
        check.sessions
    );
    let _ = writeln!(
        text,
        "  spot checks during the load: {} lost, {} resurrected",
        spot_lost, spot_resurrected
    );
    let lost = check.lost + spot_lost;
    let resurrected = check.resurrected + spot_resurrected;
    let _ = writeln!(
        text,
        "  LOST (acknowledged, missing after a restart): {lost}    RESURRECTED (acknowledged \
         revocation/rotation undone): {resurrected}    inconsistencies: {}",
        check.inconsistencies.len()
    );
    for line in check.details.iter().take(20) {
        let _ = writeln!(text, "    {line}");
    }
    Report {
        backend,
        lost,
        resurrected,
        inconsistencies: check.inconsistencies,
        problems: ledger.problems.lock().unwrap().clone(),
        text,
        log_tail,
    }
}

/// Logs in as `admin` on the server `current` talks to; when acknowledged, records the session
/// and hands it to the workers (unless the server was killed meanwhile).
async fn log_in_again(
    current: Arc<Conn>,
    ledger: Arc<Ledger>,
    publish: Arc<watch::Sender<Option<Arc<Conn>>>>,
) {
    match try_login(&current.client, &current.base).await {
        Outcome::Acked(value) => {
            let token = text(&value, "token");
            ledger.sessions.lock().unwrap().push(token.clone());
            ledger.count(Kind::Login, true);
            publish.send_if_modified(|published| {
                let same = published
                    .as_ref()
                    .is_some_and(|c| c.generation == current.generation);
                if same {
                    *published = Some(Arc::new(Conn {
                        base: current.base.clone(),
                        client: current.client.clone(),
                        token,
                        generation: current.generation,
                        in_flight: current.in_flight.clone(),
                    }));
                }
                same
            });
        }
        Outcome::InDoubt => ledger.count(Kind::Login, false),
        Outcome::Refused(status, body) => {
            ledger.problem(format!("POST /api/v1/auth/login: {status} {body}"));
        }
    }
}

// --- the checks after the last restart -------------------------------------------------------

#[derive(Default)]
struct Check {
    active: u64,
    revoked: u64,
    revoke_doubt: u64,
    revoke_doubt_took: u64,
    service_users: u64,
    current_keys: u64,
    retired_keys: u64,
    rotate_doubt: u64,
    rotate_doubt_took: u64,
    sessions: u64,
    lost: u64,
    resurrected: u64,
    details: Vec<String>,
    inconsistencies: Vec<String>,
}

impl Check {
    fn lost(&mut self, what: String) {
        self.lost += 1;
        self.details.push(format!("lost: {what}"));
    }

    fn resurrected(&mut self, what: String) {
        self.resurrected += 1;
        self.details.push(format!("resurrected: {what}"));
    }

    fn inconsistent(&mut self, what: String) {
        if self.inconsistencies.len() < 50 {
            self.inconsistencies.push(what);
        }
    }
}

/// Verifies many credentials, [`WORKERS`] at a time, answers in the same order.
async fn verify_all(conn: &Arc<Conn>, credentials: Vec<Credential>) -> Vec<(u16, Value)> {
    let chunk = credentials.len().div_ceil(WORKERS).max(1);
    let tasks: Vec<_> = credentials
        .chunks(chunk)
        .map(|part| {
            let conn = conn.clone();
            let part = part.to_vec();
            tokio::spawn(async move {
                let mut answers = Vec::with_capacity(part.len());
                for credential in &part {
                    answers.push(verify_settled(&conn, credential).await);
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(credentials.len());
    for task in tasks {
        answers.extend(task.await.unwrap());
    }
    answers
}

async fn check_tokens(conn: &Arc<Conn>, ledger: &Ledger, check: &mut Check) {
    let tokens: Vec<TokenEntry> = {
        let mut all = ledger.tokens.lock().unwrap().clone();
        all.extend(ledger.revoked.lock().unwrap().iter().cloned());
        all
    };
    let credentials = tokens
        .iter()
        .map(|t| Credential::Bearer(t.value.clone()))
        .collect();
    let answers = verify_all(conn, credentials).await;
    for (token, (status, body)) in tokens.iter().zip(answers) {
        if status == 200 && body["token_id"] != token.id.as_str() {
            check.inconsistent(format!("token {} verified as {body}", token.id));
        }
        if status != 200 && status != 401 {
            check.inconsistent(format!("token {} answered {status}: {body}", token.id));
        }
        match token.state {
            TokenState::Active => {
                check.active += 1;
                if status != 200 {
                    check.lost(format!("token {} refused ({status})", token.id));
                }
            }
            TokenState::Revoked => {
                check.revoked += 1;
                if status != 401 {
                    check.resurrected(format!("revoked token {} answered {status}", token.id));
                }
            }
            TokenState::RevokeInDoubt => {
                check.revoke_doubt += 1;
                if status == 401 {
                    check.revoke_doubt_took += 1;
                }
            }
        }
    }
}

async fn check_service_users(conn: &Arc<Conn>, ledger: &Ledger, check: &mut Check) {
    let users = ledger.service_users.lock().unwrap().clone();
    let mut credentials = Vec::new();
    for user in &users {
        credentials.push(Credential::ApiKey(user.current.value.clone()));
        for key in &user.retired {
            credentials.push(Credential::ApiKey(key.value.clone()));
        }
    }
    let mut answers = verify_all(conn, credentials).await.into_iter();
    for user in &users {
        check.service_users += 1;
        let (status, body) = answers.next().unwrap();
        let current_works = status == 200;
        if current_works && body["user_id"] != user.id.as_str() {
            check.inconsistent(format!("key of {} verified as {body}", user.id));
        }
        if user.in_doubt {
            check.rotate_doubt += 1;
            if !current_works {
                check.rotate_doubt_took += 1;
            }
        } else {
            check.current_keys += 1;
            if !current_works {
                check.lost(format!(
                    "current key {} of service user {} refused ({status})",
                    user.current.hint, user.id
                ));
            }
        }
        for key in &user.retired {
            check.retired_keys += 1;
            let (status, _) = answers.next().unwrap();
            if status != 401 {
                check.resurrected(format!(
                    "retired key {} of service user {} answered {status}",
                    key.hint, user.id
                ));
            }
        }
        // Exactly one working key: the server's current key is the one that works.
        let path = format!("/api/v1/service-users/{}", user.id);
        let Outcome::Acked(view) = call(conn, reqwest::Method::GET, &path, None).await else {
            check.inconsistent(format!("GET {path} failed"));
            continue;
        };
        let hint = text(&view, "key_hint");
        if current_works && hint != user.current.hint {
            check.inconsistent(format!(
                "service user {}: key {} works but the current key is {hint}",
                user.id, user.current.hint
            ));
        }
        if !current_works && hint == user.current.hint {
            check.inconsistent(format!(
                "service user {}: its current key {hint} is refused",
                user.id
            ));
        }
        if !view["previous_key_valid_until"].is_null() {
            check.inconsistent(format!(
                "service user {}: a previous key is in a grace period: {view}",
                user.id
            ));
        }
    }
}

async fn check_sessions(conn: &Arc<Conn>, ledger: &Ledger, check: &mut Check) {
    let sessions = ledger.sessions.lock().unwrap().clone();
    let credentials = sessions.iter().cloned().map(Credential::Bearer).collect();
    for (i, (status, _)) in verify_all(conn, credentials).await.into_iter().enumerate() {
        check.sessions += 1;
        if status != 200 {
            check.lost(format!("login session #{i} refused ({status})"));
        }
    }
}

/// Pages through a listing; every page must answer 200.
async fn list_all(conn: &Conn, path: &str, check: &mut Check) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut page = format!("{path}{sep}limit=500");
        if let Some(cursor) = &cursor {
            page.push_str(&format!("&cursor={cursor}"));
        }
        let value = match call(conn, reqwest::Method::GET, &page, None).await {
            Outcome::Acked(value) => value,
            Outcome::InDoubt => {
                check.inconsistent(format!("GET {page}: no answer"));
                return items;
            }
            Outcome::Refused(status, body) => {
                check.inconsistent(format!("GET {page}: {status} {body}"));
                return items;
            }
        };
        items.extend(value["items"].as_array().cloned().unwrap_or_default());
        match value["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return items,
        }
    }
}

async fn check_listings(conn: &Arc<Conn>, ledger: &Ledger, check: &mut Check) {
    let listed = list_all(conn, "/api/v1/tokens?all=true", check).await;
    let mut status_of = HashMap::new();
    for item in &listed {
        let id = text(item, "id");
        if status_of.insert(id.clone(), text(item, "status")).is_some() {
            check.inconsistent(format!("token {id} listed twice"));
        }
    }
    let tokens = ledger.tokens.lock().unwrap().clone();
    let revoked = ledger.revoked.lock().unwrap().clone();
    for token in tokens.iter().chain(&revoked) {
        let expected = match token.state {
            TokenState::Active => Some("active"),
            TokenState::Revoked => Some("revoked"),
            TokenState::RevokeInDoubt => None,
        };
        match (status_of.get(&token.id), expected) {
            (None, _) => check.inconsistent(format!("token {} is not listed", token.id)),
            (Some(status), Some(expected)) if status != expected => check.inconsistent(format!(
                "token {} is listed as {status}, expected {expected}",
                token.id
            )),
            _ => {}
        }
    }
    let listed = list_all(conn, "/api/v1/service-users", check).await;
    let mut ids = HashSet::new();
    for item in &listed {
        let id = text(item, "id");
        if !ids.insert(id.clone()) {
            check.inconsistent(format!("service user {id} listed twice"));
        }
    }
    for user in ledger.service_users.lock().unwrap().iter() {
        if !ids.contains(&user.id) {
            check.inconsistent(format!("service user {} is not listed", user.id));
        }
    }
}

/// Invariants of the stored state (each query counts violations).
const INVARIANTS: &[(&str, &str)] = &[
    (
        "service users without exactly one current, working key",
        "SELECT COUNT(*) FROM service_users s WHERE (SELECT COUNT(*) FROM api_keys k \
         WHERE k.service_user_id = s.id AND k.superseded_at IS NULL AND k.revoked_at IS NULL) <> 1",
    ),
    (
        "current keys that are revoked",
        "SELECT COUNT(*) FROM api_keys WHERE superseded_at IS NULL AND revoked_at IS NOT NULL",
    ),
    (
        "superseded keys still working (no grace period was asked for)",
        "SELECT COUNT(*) FROM api_keys WHERE superseded_at IS NOT NULL AND revoked_at IS NULL",
    ),
    (
        "API keys of missing service users",
        "SELECT COUNT(*) FROM api_keys k WHERE NOT EXISTS \
         (SELECT 1 FROM service_users s WHERE s.id = k.service_user_id)",
    ),
    (
        "revoked tokens without a revocation record",
        "SELECT COUNT(*) FROM tokens t WHERE t.revoked_at IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM revocations r WHERE r.token_id = t.id)",
    ),
    (
        "revocation records of tokens that are not revoked",
        "SELECT COUNT(*) FROM revocations r JOIN tokens t ON t.id = r.token_id \
         WHERE t.revoked_at IS NULL",
    ),
];

/// Checks the stored state directly, with the server stopped.
async fn check_database(url: &str, check: &mut Check) {
    let mut counts = Vec::new();
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if integrity != "ok" {
            check.inconsistent(format!("PRAGMA integrity_check: {integrity}"));
        }
        for (what, sql) in INVARIANTS {
            let n: i64 = sqlx::query_scalar(*sql).fetch_one(&mut conn).await.unwrap();
            counts.push((*what, n));
        }
        conn.close().await.ok();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for (what, sql) in INVARIANTS {
            let n: i64 = sqlx::query_scalar(*sql).fetch_one(&mut conn).await.unwrap();
            counts.push((*what, n));
        }
        conn.close().await.ok();
    }
    for (what, n) in counts {
        if n != 0 {
            check.inconsistent(format!("database: {n} {what}"));
        }
    }
}
