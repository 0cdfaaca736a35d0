//! What the process-level tests share: running `jeton serve` as a child process, fresh
//! PostgreSQL databases on the server `JETON_TEST_DATABASE_URL` names, and a throwaway
//! PostgreSQL server of a test's own (for stopping it under a running instance).

#![allow(dead_code)] // each test binary uses a part

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection};

/// The `jeton` binary under test.
pub const JETON: &str = env!("CARGO_BIN_EXE_jeton");
/// The variable naming a PostgreSQL server for tests.
pub const PG_URL_VAR: &str = "JETON_TEST_DATABASE_URL";

/// Variables that would leak the caller's settings into a server or CLI under test.
pub const JETON_VARS: &[&str] = &[
    "JETON_URL",
    "JETON_TOKEN",
    "JETON_PROFILE",
    "JETON_CONFIG_DIR",
    "JETON_LISTEN",
    "JETON_DATABASE_URL",
    "JETON_CONFIG",
    "JETON_BOOTSTRAP_PASSWORD",
    "JETON_ISSUER",
    "JETON_LOG",
    "JETON_LOGIN_ATTEMPTS",
    "JETON_API_KEY_PREFIX",
    "JETON_UPSTREAM",
    "JETON_TLS_CERT",
    "JETON_TLS_KEY",
    "JETON_LOG_FORMAT",
    "JETON_AUDIT_RETENTION",
    "JETON_MASTER_KEY_FILE",
];

/// The master key file of a PostgreSQL test database, made on first use: every instance on one
/// database must be given the same key (Jeton refuses to start on PostgreSQL without one).
/// `None` for SQLite, where Jeton keeps its key beside the database file. Removed by
/// [`on_fresh_database`] with the database.
pub fn master_key_for(database_url: &str) -> Option<PathBuf> {
    if !database_url.starts_with("postgres") {
        return None;
    }
    // FNV-1a of the URL: one file per database, the same for every instance of a test.
    let hash = database_url
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let path = std::env::temp_dir().join(format!("jeton-test-{hash:016x}.master-key"));
    if !path.exists() {
        let mut key = [0u8; 32];
        getrandom(&mut key);
        let text = format!("{}\n", base64_encode(&key));
        let mut open = fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        if let Ok(mut file) = open.open(&path) {
            std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        }
    }
    Some(path)
}

/// Standard base64 with padding (the master key file's format), without a dependency.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A free port on the loopback interface.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
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

/// A `jeton serve` child process, killed when dropped.
pub struct Serve {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its standard output and error.
    pub log: PathBuf,
    child: Child,
}

impl Serve {
    /// Starts `jeton serve` on a free port with these extra arguments; does not wait.
    pub fn spawn(database_url: &str, log: PathBuf, password: &str, args: &[&str]) -> Self {
        let addr = free_addr();
        let out = fs::File::create(&log).unwrap();
        let mut command = Command::new(JETON);
        for var in JETON_VARS {
            command.env_remove(var);
        }
        if let Some(key) = master_key_for(database_url) {
            command.env("JETON_MASTER_KEY_FILE", key);
        }
        let child = command
            .args(["serve", "--listen", &addr.to_string()])
            .args(["--database-url", database_url])
            .args(args)
            .env("JETON_BOOTSTRAP_PASSWORD", password)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("cannot start jeton serve");
        Self { addr, log, child }
    }

    /// Its base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until `/healthz` answers (panics with the log after 30 s or if it exits).
    pub async fn ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client
                .get(format!("{}/healthz", self.base()))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && response.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("jeton serve exited with {status}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "jeton serve did not become healthy:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything it printed.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `scenario` with the URL of a fresh database `{prefix}_<random>` on the server
/// `JETON_TEST_DATABASE_URL` names, dropped afterwards even when the scenario panics. Without
/// the variable, says so on stderr and returns.
pub async fn on_fresh_database<F, Fut>(test: &str, prefix: &str, scenario: F)
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
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
    let mut random = [0u8; 8];
    getrandom(&mut random);
    let name = format!("{prefix}_{:016x}", u64::from_le_bytes(random));
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {PG_URL_VAR}: {err}"));
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    let url = with_database(&admin_url, &name);
    let outcome = tokio::spawn(async move { scenario(url).await }).await;
    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        if let Err(err) = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await {
            eprintln!("could not drop test database {name}: {err}");
        }
        admin.close().await.ok();
    }
    if let Some(key) = master_key_for(&with_database(&admin_url, &name)) {
        let _ = fs::remove_file(key);
    }
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Random bytes from the clock and the process id, mixed (tests need distinct names, not
/// secrets).
fn getrandom(out: &mut [u8]) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut state = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    for byte in out {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        *byte = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
}

/// A PostgreSQL server of a test's own, in a temporary directory, on a free port; stopped and
/// deleted when dropped. Debian's server binaries (`/usr/lib/postgresql/*/bin`) are needed;
/// when running as root, the server runs as the `postgres` user.
pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl TempPostgres {
    /// Creates and starts one; `None` (with a note on stderr) when the binaries are missing.
    pub fn start(test: &str) -> Option<Self> {
        let bin = fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .max();
        let Some(bin) = bin else {
            eprintln!(
                "\n*** SKIPPED {test}: PostgreSQL's server binaries are not installed \
                 (apt-get install postgresql) ***\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the PostgreSQL directory failed");
        }
        let data = dir.path().join("data");
        let output = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let server = Self {
            port: free_addr().port(),
            dir,
            bin,
        };
        server.resume();
        Some(server)
    }

    /// Its URL, for database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let status = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-w", "-l"])
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &options, "start"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "pg_ctl start failed: {}",
            self.server_log()
        );
    }

    /// Stops the server at once (`immediate`: connections are cut, as in a crash).
    pub fn halt(&self) {
        let status = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl stop failed");
    }

    fn server_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A command run as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}
