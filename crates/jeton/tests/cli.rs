//! The `jeton` binary as a user runs it: exit codes, messages, the profile file, and the seed
//! documents' workflows against a real `jeton serve` on a free local port.
//!
//! Every test runs the binary with its own configuration directory (`JETON_CONFIG_DIR`) and
//! without any `JETON_*` variable from the caller's environment. Tests that need a server start
//! their own with [`spawn_server`], on a fresh SQLite database.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const JETON: &str = env!("CARGO_BIN_EXE_jeton");

/// Variables that would leak the caller's settings into a test.
const JETON_VARS: &[&str] = &[
    "JETON_URL",
    "JETON_TOKEN",
    "JETON_PROFILE",
    "JETON_CONFIG_DIR",
    "JETON_LISTEN",
    "JETON_DATABASE_URL",
    "JETON_CONFIG",
    "JETON_BOOTSTRAP_PASSWORD",
    "JETON_TLS_CERT",
    "JETON_TLS_KEY",
    "JETON_LOG_FORMAT",
    "JETON_AUDIT_RETENTION",
];

// --- harness ---------------------------------------------------------------------------------

/// A user of the CLI: a private configuration directory and the environment to run `jeton` in.
struct User {
    config: TempDir,
    env: Vec<(String, String)>,
}

impl User {
    fn new() -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    /// The same user, with `JETON_URL` pointing at `url`.
    fn at(url: &str) -> Self {
        let mut user = Self::new();
        user.env.push(("JETON_URL".into(), url.into()));
        user
    }

    fn profile_path(&self) -> PathBuf {
        self.config.path().join("config.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(JETON);
        command.args(args);
        for var in JETON_VARS {
            command.env_remove(var);
        }
        command
            .env("JETON_CONFIG_DIR", self.config.path())
            .env("NO_COLOR", "1");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs `jeton args` with nothing on standard input.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(self.command(args), None)
    }

    /// Runs `jeton args` with `stdin` piped in.
    fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with(self.command(args), Some(stdin))
    }

    /// Runs `jeton args` with extra environment variables.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (key, value) in env {
            command.env(key, value);
        }
        self.run_with(command, None)
    }

    fn run_with(&self, mut command: Command, stdin: Option<&str>) -> Run {
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cannot start jeton");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        Run::from(child.wait_with_output().unwrap())
    }

    /// `jeton login --username admin --password-stdin` (against a [`spawn_server`] server).
    fn login_admin(&self) {
        self.run_stdin(
            &["login", "--username", "admin", "--password-stdin"],
            ADMIN_PASSWORD,
        )
        .ok();
    }
}

/// What one run of `jeton` did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().expect("jeton was killed by a signal"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }
}

impl Run {
    /// Asserts exit code 0 and returns the run.
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Asserts `code` and returns the run.
    fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "expected exit code {code}: {self:#?}");
        self
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// A URL where nothing listens: a port the OS just handed out and took back.
fn closed_url() -> String {
    format!("http://{}", free_addr())
}

fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Password of the bootstrap `admin` user of servers started by [`spawn_server`].
const ADMIN_PASSWORD: &str = "bootstrap-password-for-tests";

/// A `jeton serve` child process on a fresh SQLite database; killed when dropped.
struct Server {
    url: String,
    child: Child,
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

/// Starts `jeton serve --listen 127.0.0.1:PORT --database-url sqlite://DIR/j.db` with
/// `JETON_BOOTSTRAP_PASSWORD` set, and waits until `GET /healthz` answers 200.
fn spawn_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let log = fs::File::create(dir.path().join("server.log")).unwrap();
    let mut command = Command::new(JETON);
    for var in JETON_VARS {
        command.env_remove(var);
    }
    let child = command
        .args(["serve", "--listen", &addr.to_string(), "--database-url"])
        .arg(format!("sqlite://{}", dir.path().join("j.db").display()))
        .env("JETON_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("cannot start jeton serve");
    let mut server = Server {
        url: format!("http://{addr}"),
        child,
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if healthy(addr) {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("jeton serve exited with {status}:\n{}", server.log());
        }
        if Instant::now() > deadline {
            panic!("jeton serve did not become healthy:\n{}", server.log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status of `GET /api/v1/auth/verify` presenting `key` as `X-API-Key`, as a plain HTTP
/// client (curl, requests, a reverse proxy) would send it: 200 when the key works, else 401.
fn status_with_api_key(server: &Server, key: &str) -> u16 {
    let addr = server.url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "GET /api/v1/auth/verify HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

/// Asserts that `text` is one Jeton API key: `jsk_` and 49 base62 characters.
fn assert_api_key(text: &str) {
    let body = text
        .strip_prefix("jsk_")
        .unwrap_or_else(|| panic!("not an API key: {text:?}"));
    assert!(
        body.len() == 49 && body.chars().all(|c| c.is_ascii_alphanumeric()),
        "not an API key: {text:?}"
    );
}

/// `GET /healthz` answers 200.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

// --- without a server --------------------------------------------------------------------------

#[test]
fn serve_refuses_unusable_tls_files_and_log_formats_before_touching_the_database() {
    let user = User::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let cert = dir.path().join("missing-cert.pem");
    let key = dir.path().join("server.key");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let listen = free_addr().to_string();
    let database = format!("sqlite://{}", db.display());
    let serve = ["serve", "--listen", &listen, "--database-url", &database];
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());

    let flags = [&serve[..], &["--tls-cert", cert, "--tls-key", key]].concat();
    let run = user.run(&flags).code(1);
    assert!(
        run.stderr.contains("TLS certificate file") && run.stderr.contains(cert),
        "{run:#?}"
    );
    let run = user
        .run_env(&serve, &[("JETON_TLS_CERT", cert), ("JETON_TLS_KEY", key)])
        .code(1);
    assert!(run.stderr.contains(cert), "{run:#?}");
    // The certificate readable, the key not a key.
    let made = dir.path().join("made.pem");
    std::fs::write(
        &made,
        "-----BEGIN CERTIFICATE-----\nMAo=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let made = made.to_str().unwrap();
    let run = user
        .run(&[&serve[..], &["--tls-cert", made, "--tls-key", made]].concat())
        .code(1);
    assert!(
        run.stderr.contains("TLS key file") && run.stderr.contains("no private key"),
        "{run:#?}"
    );

    let run = user
        .run(&[&serve[..], &["--tls-cert", cert]].concat())
        .code(1);
    assert!(
        run.stderr.contains("--tls-cert needs --tls-key"),
        "{run:#?}"
    );
    let run = user
        .run(&[&serve[..], &["--log-format", "xml"]].concat())
        .code(2);
    assert!(run.stderr.contains("json"), "{run:#?}");
    assert!(!db.exists(), "the database was created before the checks");
}

#[test]
fn usage_errors_exit_2() {
    let user = User::at(&closed_url());
    for args in [
        &["frobnicate"][..],
        &["token", "create"],
        &[
            "token",
            "create",
            "--description",
            "x",
            "--expires-in",
            "soon",
        ],
        &["token", "list", "--kind", "banana"],
        &["--output", "yaml", "whoami"],
        &["login"],
        &[
            "login",
            "--username",
            "a",
            "--password",
            "b",
            "--password-stdin",
        ],
        &["login", "--with-token", "--username", "a"],
        &[
            "user",
            "create",
            "--username",
            "a",
            "--access-level",
            "superuser",
        ],
        &["user", "update", "alice"],
        &["policy", "set", "--max-duration", "24h"],
        &[
            "policy",
            "set",
            "--user",
            "a",
            "--role",
            "r",
            "--max-duration",
            "24h",
        ],
        &["policy", "set", "--user", "a", "--max-duration", "90"],
        &["audit", "--limit", "0"],
        &["completions", "tcsh"],
        &["service-user", "create"],
        &["create-service-user", "--role", "TenantUser"],
        &[
            "service-user",
            "create",
            "--name",
            "etl",
            "--role",
            "superuser",
        ],
        &[
            "service-user",
            "create",
            "--name",
            "etl",
            "--expires-in",
            "soon",
        ],
        &["service-user", "update", "etl"],
        &["service-user", "rotate-key"],
        &["rotate-service-user-key"],
        &["service-user", "rotate-key", "etl", "--grace", "soon"],
        &["sql"],
        &["sql", "   "],
        &["sql", "-f", "/nonexistent/script.sql"],
        &["sql", "SHOW USERS;", "-f", "script.sql"],
        &["shell", "SHOW USERS;"],
    ] {
        let run = user.run(args);
        assert_eq!(run.code, 2, "jeton {args:?}: {run:#?}");
        assert!(run.stderr.starts_with("error:"), "jeton {args:?}: {run:#?}");
    }
}

#[test]
fn bad_local_input_exits_2() {
    let user = User::new();
    let run = user.run(&["--url", "ftp://example.com", "whoami"]).code(2);
    assert!(run.stderr.contains("use http:// or https://"), "{run:#?}");

    let run = user
        .run(&["--url", &closed_url(), "user", "show", ".."])
        .code(2);
    assert!(run.stderr.contains("not a valid id or name"), "{run:#?}");

    let run = user
        .run_stdin(&["--url", &closed_url(), "login", "--with-token"], "\n")
        .code(2);
    assert!(run.stderr.contains("no token"), "{run:#?}");
}

#[test]
fn an_unreachable_server_exits_3_with_one_clear_line() {
    let url = closed_url();
    let user = User::at(&url);
    for args in [
        &["whoami"][..],
        &["token", "list"],
        &["token", "create", "--description", "x"],
        &["get-token", "--description", "x", "--expires-in", "90"],
        &["logout"],
        &["audit"],
        &["service-user", "list"],
        &[
            "create-service-user",
            "--name",
            "etl",
            "--role",
            "TenantUser",
        ],
        &["rotate-service-user-key", "--id", "etl"],
        &["sql", "SHOW API TOKENS;"],
    ] {
        let run = user.run(args).code(3);
        assert_eq!(
            run.stderr,
            format!("error: cannot reach the server at {url} - is 'jeton serve' running?\n"),
            "jeton {args:?}"
        );
        assert_eq!(run.stdout, "", "jeton {args:?}");
    }
}

#[test]
fn the_url_comes_from_the_flag_then_the_environment_then_the_profile() {
    let (flag, env, saved) = (closed_url(), closed_url(), closed_url());
    let user = User::new();
    fs::write(
        user.profile_path(),
        format!("[profiles.default]\nurl = \"{saved}\"\n"),
    )
    .unwrap();
    let names_url = |run: Run, url: &str| {
        assert!(
            run.stderr.contains(&format!("server at {url} ")),
            "{url}: {run:#?}"
        );
    };
    names_url(user.run(&["whoami"]).code(3), &saved);
    names_url(
        user.run_env(&["whoami"], &[("JETON_URL", &env)]).code(3),
        &env,
    );
    names_url(
        user.run_env(&["--url", &flag, "whoami"], &[("JETON_URL", &env)])
            .code(3),
        &flag,
    );
}

#[test]
fn login_with_token_against_an_unreachable_server_saves_nothing() {
    let user = User::at(&closed_url());
    user.run_stdin(&["login", "--with-token"], "jsk_not_checked\n")
        .code(3);
    assert!(!user.profile_path().exists());
}

#[test]
fn the_password_flag_warns_that_it_is_visible() {
    let user = User::at(&closed_url());
    let run = user
        .run(&["login", "--username", "admin", "--password", "pw"])
        .code(3);
    assert!(
        run.stderr
            .starts_with("warning: --password is visible to other processes"),
        "{run:#?}"
    );
}

#[test]
fn a_corrupt_profile_file_is_a_usage_error_naming_the_file() {
    let user = User::at(&closed_url());
    fs::write(user.profile_path(), "[profiles.default\n").unwrap();
    let run = user.run(&["whoami"]).code(2);
    assert!(run.stderr.contains("config.toml"), "{run:#?}");
}

#[cfg(unix)]
#[test]
fn a_profile_file_readable_by_others_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let user = User::new();
    let path = user.profile_path();
    fs::write(
        &path,
        format!(
            "[profiles.default]\nurl = \"{}\"\ntoken = \"t\"\n",
            closed_url()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    user.run(&["whoami"]).code(3);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn completions_print_for_each_shell() {
    let user = User::new();
    for (shell, marker) in [
        ("bash", "_jeton()"),
        ("zsh", "#compdef jeton"),
        ("fish", "complete -c jeton"),
    ] {
        let run = user.run(&["completions", shell]).ok();
        assert!(run.stdout.contains(marker), "{shell}: {run:#?}");
        assert!(run.stdout.contains("get-token"), "{shell}");
    }
}

#[test]
fn help_shows_examples_and_never_the_token() {
    let user = User::new();
    for args in [
        &["--help"][..],
        &["token", "create", "--help"],
        &["get-token", "--help"],
        &["login", "--help"],
        &["audit", "--help"],
        &["revoke-token", "--help"],
        &["service-user", "--help"],
        &["service-user", "create", "--help"],
        &["service-user", "rotate-key", "--help"],
        &["create-service-user", "--help"],
        &["list-service-users", "--help"],
        &["sql", "--help"],
        &["shell", "--help"],
    ] {
        let run = user
            .run_env(args, &[("JETON_TOKEN", "super-secret-value")])
            .ok();
        assert!(run.stdout.contains("Example"), "jeton {args:?}: {run:#?}");
        assert!(!run.stdout.contains("super-secret-value"), "jeton {args:?}");
    }
}

// --- against a server --------------------------------------------------------------------------

#[test]
fn login_with_password_stdin_saves_a_private_profile() {
    let server = spawn_server();
    let user = User::at(&server.url);
    let run = user
        .run_stdin(
            &["login", "--username", "admin", "--password-stdin"],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .ok();
    assert!(run.stdout.contains("as admin"), "{run:#?}");
    let saved = fs::read_to_string(user.profile_path()).unwrap();
    assert!(saved.contains("username = \"admin\""), "{saved}");
    assert!(
        saved.contains(&format!("url = \"{}\"", server.url)),
        "{saved}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&user.profile_path()), 0o600);

    // The saved credential works, and its value is never printed.
    let me = user.run(&["whoami", "--output", "json"]).ok().json();
    assert_eq!(me["user"]["username"], "admin");
    assert_eq!(me["token"]["kind"], "session");
    let token = saved
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(!run.stdout.contains(token));
}

#[test]
fn a_wrong_password_is_refused_with_a_hint() {
    let server = spawn_server();
    let user = User::at(&server.url);
    let run = user
        .run_stdin(
            &["login", "--username", "admin", "--password-stdin"],
            "wrong",
        )
        .code(1);
    assert!(
        run.stderr
            .contains("(401) - check the username and password"),
        "{run:#?}"
    );
    assert!(!user.profile_path().exists());
}

#[test]
fn piped_token_create_prints_only_the_token() {
    let server = spawn_server();
    let user = User::at(&server.url);
    user.login_admin();
    let run = user
        .run(&[
            "token",
            "create",
            "--description",
            "CI pipeline",
            "--expires-in",
            "30",
        ])
        .ok();
    let token = run.stdout.strip_suffix('\n').expect("one line");
    assert!(!token.contains('\n') && !token.contains(' '), "{run:#?}");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    // The value works on its own, as `TOKEN=$(jeton token create ...)` users will use it.
    let me = user
        .run_env(&["whoami", "-o", "json"], &[("JETON_TOKEN", token)])
        .ok()
        .json();
    assert_eq!(me["token"]["kind"], "api");

    // The seed's spelling does the same.
    let run = user
        .run(&[
            "get-token",
            "--description",
            "GitHub Actions",
            "--expires-in",
            "365",
        ])
        .ok();
    assert_eq!(run.stdout.trim().split('.').count(), 3, "{run:#?}");
}

#[test]
fn token_list_shows_created_tokens() {
    let server = spawn_server();
    let user = User::at(&server.url);
    user.login_admin();
    user.run(&[
        "token",
        "create",
        "--description",
        "nightly ETL",
        "--name",
        "etl",
        "--expires-in",
        "24h",
    ])
    .ok();
    let run = user.run(&["token", "list"]).ok();
    let header = run.stdout.lines().nth(1).unwrap();
    for column in [
        "NAME",
        "ID",
        "KIND",
        "STATUS",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "COMMENT",
    ] {
        assert!(header.contains(column), "{column}: {run:#?}");
    }
    assert!(run.stdout.contains("etl"), "{run:#?}");
    assert!(run.stdout.contains("nightly ETL"), "{run:#?}");

    let tokens = user.run(&["token", "list", "-o", "json"]).ok().json();
    let etl = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "etl")
        .expect("etl listed");
    assert_eq!(etl["comment"], "nightly ETL");
    assert_eq!(etl["kind"], "api");
    assert!(etl.get("token").is_none(), "listings never carry values");

    // An administrator's view of a user's tokens, by the seed's command.
    let run = user.run(&["list-user-tokens", "--user-id", "admin"]).ok();
    assert!(run.stdout.contains("USER"), "{run:#?}");
    assert!(run.stdout.contains("etl"), "{run:#?}");
}

#[test]
fn revoke_by_id_stops_the_token() {
    let server = spawn_server();
    let user = User::at(&server.url);
    user.login_admin();
    let created = user
        .run(&[
            "token",
            "create",
            "--description",
            "compromised",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let token = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();

    let run = user.run(&["revoke-token-by-id", "--id", id]).ok();
    assert_eq!(run.stdout, format!("✅ Token {id} revoked successfully!\n"));

    let run = user.run_env(&["whoami"], &[("JETON_TOKEN", token)]).code(1);
    assert!(run.stderr.contains("(401)"), "{run:#?}");

    let tokens = user
        .run(&["token", "list", "--all", "-o", "json"])
        .ok()
        .json();
    let revoked = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .expect("listed with --all");
    assert_eq!(revoked["status"], "revoked");

    // Unknown ids are not silently accepted.
    let run = user
        .run(&[
            "token",
            "revoke",
            "--id",
            "00000000-0000-0000-0000-000000000000",
        ])
        .code(1);
    assert!(
        run.stderr.contains("(404) - check the id or name"),
        "{run:#?}"
    );

    // The record can be deleted by an administrator.
    user.run(&["delete-token", "--token-id", id]).ok();
    user.run(&["token", "show", "--id", id]).code(1);
}

#[test]
fn logout_then_the_next_command_is_refused() {
    let server = spawn_server();
    let user = User::at(&server.url);
    user.login_admin();
    let run = user.run(&["logout"]).ok();
    assert_eq!(run.stdout, "Token revoked. You have been logged out.\n");
    let saved = fs::read_to_string(user.profile_path()).unwrap();
    assert!(!saved.contains("token"), "{saved}");

    let run = user.run(&["token", "list"]).code(1);
    assert_eq!(run.stderr.lines().count(), 1, "one line of error: {run:#?}");
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains("(401) - run 'jeton login' first"),
        "{run:#?}"
    );

    // The seed's spelling.
    user.login_admin();
    let run = user.run(&["revoke-token"]).ok();
    assert_eq!(
        run.stdout,
        "✅ Token revoked successfully!\nYou have been logged out. Please login again to continue.\n"
    );
}

#[test]
fn a_saved_token_revoked_elsewhere_is_forgotten_at_logout() {
    let server = spawn_server();
    let user = User::at(&server.url);
    user.login_admin();
    let me = user.run(&["whoami", "-o", "json"]).ok().json();
    let id = me["token"]["id"].as_str().unwrap().to_string();
    user.run(&["token", "revoke", "--id", &id]).ok();
    let run = user.run(&["logout"]).ok();
    assert!(run.stderr.contains("(401)"), "{run:#?}");
    let saved = fs::read_to_string(user.profile_path()).unwrap();
    assert!(!saved.contains("token"), "{saved}");
}

#[test]
fn login_with_token_checks_and_saves_it() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let token = admin
        .run(&["token", "create", "--description", "laptop"])
        .ok()
        .stdout;

    let user = User::at(&server.url);
    let run = user
        .run_stdin(&["--profile", "ci", "login", "--with-token"], &token)
        .ok();
    assert!(run.stdout.contains("as admin"), "{run:#?}");
    let me = user
        .run(&["--profile", "ci", "whoami", "-o", "json"])
        .ok()
        .json();
    assert_eq!(me["token"]["kind"], "api");

    // A refused API key is explained, not just "401".
    let run = user
        .run_stdin(
            &["login", "--with-token"],
            "jsk_0000000000000000000000000000000000000000000_aaaaaa",
        )
        .code(1);
    assert!(run.stderr.contains("API key"), "{run:#?}");
}

#[test]
fn a_token_longer_than_the_policy_allows_is_refused_with_the_limit() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    admin
        .run_stdin(
            &[
                "user",
                "create",
                "--username",
                "analyst",
                "--password-stdin",
            ],
            "analyst-password",
        )
        .ok();
    admin
        .run(&[
            "policy",
            "set",
            "--user",
            "analyst",
            "--max-duration",
            "24h",
        ])
        .ok();
    let policy = admin
        .run(&["policy", "show", "--user", "analyst", "-o", "json"])
        .ok()
        .json();
    assert_eq!(policy["source"], "user");

    let run = admin
        .run(&[
            "token",
            "create",
            "--description",
            "too long",
            "--for-user",
            "analyst",
            "--expires-in",
            "90",
        ])
        .code(1);
    assert!(run.stderr.contains("(422)"), "{run:#?}");
    assert!(run.stderr.contains("analyst"), "{run:#?}");
}

// --- service users -----------------------------------------------------------------------------

impl User {
    /// `jeton <args> --output json` for a command that creates a service user or rotates its key;
    /// returns the answer (the service user and its `api_key`).
    fn service_user_json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        let answer = self.run(&args).ok().json();
        assert_api_key(answer["api_key"].as_str().expect("an api_key"));
        answer
    }
}

#[test]
fn piped_service_user_create_prints_only_the_key_and_the_key_works() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let run = admin
        .run(&[
            "service-user",
            "create",
            "--name",
            "etl-pipeline",
            "--description",
            "nightly ETL",
        ])
        .ok();
    let key = run.stdout.strip_suffix('\n').expect("one line");
    assert_api_key(key);

    // Plain HTTP clients send it as X-API-Key, as in the seed document.
    assert_eq!(status_with_api_key(&server, key), 200);
    let mut wrong = key.to_string();
    wrong.replace_range(10..11, if &key[10..11] == "A" { "B" } else { "A" });
    assert_eq!(status_with_api_key(&server, &wrong), 401);
}

#[test]
fn an_api_key_is_a_credential_for_the_cli_too() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let run = admin
        .run(&[
            "create-service-user",
            "--name",
            "etl",
            "--role",
            "TenantUser",
        ])
        .ok();
    let key = run.stdout.trim_end();

    // A key without expiry says so.
    let me = admin
        .run_env(&["whoami", "-o", "json"], &[("JETON_TOKEN", key)])
        .ok()
        .json();
    assert_eq!(me["token"]["kind"], "api_key");
    assert!(me["token"]["expires_at"].is_null(), "{me}");
    let run = admin.run_env(&["whoami"], &[("JETON_TOKEN", key)]).ok();
    assert!(run.stdout.contains("never"), "{run:#?}");

    // `login --with-token` takes an API key, as PRODUCT.md promises.
    let bot = User::at(&server.url);
    let run = bot.run_stdin(&["login", "--with-token"], key).ok();
    assert!(
        run.stdout.contains("an API key that never expires"),
        "{run:#?}"
    );
}

#[test]
fn service_user_create_json_prints_the_record_and_the_key() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let created = admin.service_user_json(&[
        "service-user",
        "create",
        "--name",
        "ci",
        "--access-level",
        "tenant-admin",
        "--expires-in",
        "30",
        "--scope",
        "catalog:read",
    ]);
    assert_eq!(created["name"], "ci");
    assert_eq!(created["client_id"], created["id"]);
    assert_eq!(created["access_level"], "tenant-admin");
    assert_eq!(created["role"], "TenantAdmin");
    assert_eq!(created["tenant"], "default");
    assert_eq!(created["active"], true);
    assert_eq!(created["scopes"], serde_json::json!(["catalog:read"]));
    assert!(created["expires_at"].is_string(), "{created}");
    // The hint tells keys apart without revealing them: the key's first characters.
    let key_hint = created["key_hint"].as_str().unwrap().trim_end_matches('…');
    assert!(key_hint.len() < 16, "{created}");
    assert!(
        created["api_key"].as_str().unwrap().starts_with(key_hint),
        "{created}"
    );

    // Without --expires-in it never expires; the seed's --role spelling works.
    let created = admin.service_user_json(&[
        "service-user",
        "create",
        "--name",
        "etl",
        "--role",
        "TenantUser",
    ]);
    assert_eq!(created["access_level"], "tenant-user");
    assert!(created["expires_at"].is_null(), "{created}");

    // The key is shown once: never in a show or a list.
    let shown = admin
        .run(&["service-user", "show", "etl", "-o", "json"])
        .ok();
    assert!(shown.json().get("api_key").is_none(), "{shown:#?}");
    let listed = admin.run(&["service-user", "list", "-o", "json"]).ok();
    assert!(
        !listed.stdout.contains(created["api_key"].as_str().unwrap()),
        "{listed:#?}"
    );
}

#[test]
fn service_user_list_fills_every_column() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let etl = admin.service_user_json(&["service-user", "create", "--name", "etl"]);
    admin
        .run(&[
            "service-user",
            "create",
            "--name",
            "ci",
            "--expires-in",
            "90d",
        ])
        .ok();

    for args in [&["service-user", "list"][..], &["list-service-users"]] {
        let run = admin.run(args).ok();
        let lines: Vec<&str> = run.stdout.lines().collect();
        let header = lines[1];
        for column in [
            "NAME",
            "ID",
            "ROLE",
            "ACTIVE",
            "LAST USED",
            "EXPIRES",
            "KEY",
        ] {
            assert!(header.contains(column), "{column}: {run:#?}");
        }
        let columns = header.split('|').count();
        let row = lines
            .iter()
            .find(|line| line.contains(etl["id"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("etl listed: {run:#?}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells.len(), columns, "{run:#?}");
        assert!(
            cells[1..cells.len() - 1]
                .iter()
                .all(|cell| !cell.is_empty()),
            "every column filled in: {row}"
        );
        assert_eq!(cells[1], "etl", "{row}");
        assert!(cells.contains(&"tenant-user"), "{row}");
        assert!(cells.contains(&"yes"), "{row}");
        // Never used, never expires.
        assert_eq!(cells.iter().filter(|c| **c == "never").count(), 2, "{row}");
        let ci = lines.iter().find(|line| line.contains("| ci ")).unwrap();
        assert_eq!(ci.matches("never").count(), 1, "expires: {ci}");
    }

    let listed = admin.run(&["list-service-users", "-o", "json"]).ok().json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"etl") && names.contains(&"ci"), "{listed}");
}

#[test]
fn service_user_show_disable_and_enable() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let created = admin.service_user_json(&[
        "service-user",
        "create",
        "--name",
        "etl",
        "--description",
        "nightly ETL",
    ]);
    let id = created["id"].as_str().unwrap();
    let key = created["api_key"].as_str().unwrap();

    // By name or by id.
    for service_user in ["etl", id] {
        let run = admin.run(&["service-user", "show", service_user]).ok();
        assert!(run.stdout.contains(id), "{run:#?}");
        assert!(run.stdout.contains("nightly ETL"), "{run:#?}");
        assert!(run.stdout.contains("tenant-user"), "{run:#?}");
        assert!(!run.stdout.contains(key), "{run:#?}");
    }

    let run = admin.run(&["service-user", "disable", "etl"]).ok();
    assert!(run.stdout.contains("disabled"), "{run:#?}");
    assert_eq!(status_with_api_key(&server, key), 401);
    let shown = admin
        .run(&["service-user", "show", id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(shown["active"], false);
    assert_eq!(shown["status"], "disabled");

    let run = admin.run(&["service-user", "enable", id]).ok();
    assert!(run.stdout.contains("enabled"), "{run:#?}");
    assert_eq!(status_with_api_key(&server, key), 200);
    let shown = admin
        .run(&["service-user", "enable", "etl", "-o", "json"])
        .ok()
        .json();
    assert_eq!(shown["active"], true);
}

#[test]
fn rotate_key_prints_a_new_key_and_stops_the_old_one() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let created = admin.service_user_json(&["service-user", "create", "--name", "etl"]);
    let first = created["api_key"].as_str().unwrap();

    let run = admin.run(&["service-user", "rotate-key", "etl"]).ok();
    let second = run.stdout.strip_suffix('\n').expect("one line");
    assert_api_key(second);
    assert_ne!(second, first);
    assert_eq!(status_with_api_key(&server, first), 401);
    assert_eq!(status_with_api_key(&server, second), 200);

    // With a grace period the old key keeps working for now, and the answer says until when.
    let rotated = admin.service_user_json(&[
        "service-user",
        "rotate-key",
        "--id",
        created["id"].as_str().unwrap(),
        "--grace",
        "1h",
    ]);
    let third = rotated["api_key"].as_str().unwrap();
    assert_ne!(third, second);
    assert!(rotated["previous_key_valid_until"].is_string(), "{rotated}");
    assert_eq!(status_with_api_key(&server, second), 200);
    assert_eq!(status_with_api_key(&server, third), 200);
    // ... until the new key is first used.
    assert_eq!(status_with_api_key(&server, second), 401);
}

#[test]
fn the_seed_service_user_commands_work() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let run = admin
        .run(&[
            "create-service-user",
            "--name",
            "etl",
            "--role",
            "TenantUser",
        ])
        .ok();
    let key = run.stdout.trim_end().to_string();
    assert_api_key(&key);

    let run = admin.run(&["list-service-users"]).ok();
    assert!(run.stdout.contains("etl"), "{run:#?}");
    assert!(run.stdout.contains("tenant-user"), "{run:#?}");

    let shown = admin
        .run(&["service-user", "show", "etl", "-o", "json"])
        .ok()
        .json();
    let id = shown["id"].as_str().unwrap();
    let run = admin.run(&["rotate-service-user-key", "--id", id]).ok();
    let new_key = run.stdout.trim_end();
    assert_api_key(new_key);
    assert_ne!(new_key, key);
    // The seed document: "the old key is immediately invalidated".
    assert_eq!(status_with_api_key(&server, &key), 401);
    assert_eq!(status_with_api_key(&server, new_key), 200);
}

#[test]
fn service_user_update_and_delete() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let created = admin.service_user_json(&["service-user", "create", "--name", "etl"]);
    let key = created["api_key"].as_str().unwrap();

    let updated = admin
        .run(&[
            "service-user",
            "update",
            "etl",
            "--description",
            "nightly ETL",
            "--role",
            "TenantAdmin",
            "--expires-in",
            "30d",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(updated["description"], "nightly ETL");
    assert_eq!(updated["access_level"], "tenant-admin");
    assert!(updated["expires_at"].is_string(), "{updated}");

    let updated = admin
        .run(&[
            "service-user",
            "update",
            "etl",
            "--expires-in",
            "never",
            "--name",
            "etl-pipeline",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert!(updated["expires_at"].is_null(), "{updated}");
    assert_eq!(updated["name"], "etl-pipeline");

    let run = admin.run(&["service-user", "delete", "etl-pipeline"]).ok();
    assert!(run.stdout.contains("deleted"), "{run:#?}");
    assert_eq!(status_with_api_key(&server, key), 401);
    let run = admin.run(&["service-user", "show", "etl-pipeline"]).code(1);
    assert!(run.stderr.contains("(404)"), "{run:#?}");
}

#[test]
fn a_tenant_user_cannot_create_service_users() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    admin
        .run_stdin(
            &[
                "user",
                "create",
                "--username",
                "analyst",
                "--password-stdin",
            ],
            "analyst-password",
        )
        .ok();
    let analyst = User::at(&server.url);
    analyst
        .run_stdin(
            &["login", "--username", "analyst", "--password-stdin"],
            "analyst-password",
        )
        .ok();
    for args in [
        &["service-user", "create", "--name", "etl"][..],
        &[
            "create-service-user",
            "--name",
            "etl",
            "--role",
            "TenantUser",
        ],
    ] {
        let run = analyst.run(args).code(1);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:#?}");
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains("(403)"),
            "{run:#?}"
        );
        assert_eq!(run.stdout, "", "{run:#?}");
    }
}

// --- the command language: `jeton sql` and `jeton shell` ---------------------------------------

/// The first boxed table in `text`: its header cells and its rows' cells. Asserts that it is
/// boxed exactly like the seed's tables: `+---+---+` rules above, under the header and below,
/// `| a | b |` lines, every line as wide as the rules.
fn boxed_table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let lines: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("+-")).collect();
    assert!(lines.len() >= 4, "no boxed table in:\n{text}");
    let rule = lines[0];
    assert!(
        rule.chars().all(|c| c == '+' || c == '-') && rule.ends_with("-+"),
        "{text}"
    );
    assert_eq!(lines[2], rule, "a rule under the header:\n{text}");
    let width = rule.chars().count();
    let cells = |line: &str| -> Vec<String> {
        assert!(line.starts_with("| ") && line.ends_with(" |"), "{line}");
        assert_eq!(line.chars().count(), width, "not aligned:\n{text}");
        line[1..line.len() - 1]
            .split(" | ")
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = cells(lines[1]);
    let mut rows = Vec::new();
    for line in &lines[3..] {
        if *line == rule {
            return (header, rows);
        }
        rows.push(cells(line));
    }
    panic!("the table is not closed:\n{text}");
}

/// The value of `column` in the table's only row.
fn only_row_value(text: &str, column: &str) -> String {
    let (header, rows) = boxed_table(text);
    assert_eq!(rows.len(), 1, "{text}");
    let at = header.iter().position(|h| h == column).expect(column);
    rows[0][at].clone()
}

impl User {
    /// `jeton sql SCRIPT`.
    fn sql(&self, script: &str) -> Run {
        self.run(&["sql", script])
    }

    /// A user with a password, created by this administrator, and logged in.
    fn create_user(&self, url: &str, username: &str, password: &str) -> User {
        self.sql(&format!("CREATE USER {username} PASSWORD '{password}';"))
            .ok();
        let user = User::at(url);
        user.run_stdin(
            &["login", "--username", username, "--password-stdin"],
            password,
        )
        .ok();
        user
    }
}

#[test]
fn the_seed_003_session_runs_through_jeton_sql() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let analyst = admin.create_user(&server.url, "analyst", "analyst-password");

    // Issuing a token, exactly as the seed writes it.
    let run = analyst
        .sql(
            "CREATE API TOKEN ci_pipeline\n\
             MAX DURATION '30d'\n\
             COMMENT 'Токен для сборочного конвейера';",
        )
        .ok();
    let (header, _) = boxed_table(&run.stdout);
    assert_eq!(header, ["name", "token", "expires_at"], "{run:#?}");
    assert_eq!(only_row_value(&run.stdout, "name"), "ci_pipeline");
    assert!(run.stdout.ends_with("+\n(1 row)\n"), "{run:#?}");
    // The whole value, never cut, even though standard output is not a terminal.
    let token = only_row_value(&run.stdout, "token");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    assert!(!token.ends_with("..."), "{token}");
    let expires_at = only_row_value(&run.stdout, "expires_at");

    // The token authenticates as analyst, with the CLI and over plain HTTP.
    let me = analyst
        .run(&["whoami", "--token", &token, "-o", "json"])
        .ok()
        .json();
    assert_eq!(me["user"]["username"], "analyst");
    assert_eq!(me["token"]["kind"], "api");
    let token_id = me["token"]["id"].as_str().unwrap().to_string();
    assert_eq!(me["token"]["expires_at"], expires_at.as_str());
    assert_eq!(status_with_api_key(&server, &token), 200);

    // No name, no expiry: a generated name and the default lifetime (the same as
    // `jeton token create` without --expires-in).
    let run = analyst.sql("CREATE API TOKEN;").ok();
    let generated = only_row_value(&run.stdout, "name");
    assert!(!generated.is_empty(), "{run:#?}");
    let default_expiry = only_row_value(&run.stdout, "expires_at");
    let created = analyst
        .run(&["token", "create", "--description", "x", "-o", "json"])
        .ok()
        .json();
    let parse = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    let gap = parse(created["expires_at"].as_str().unwrap()) - parse(&default_expiry);
    assert!(
        gap.abs() < time::Duration::minutes(1),
        "{default_expiry} vs {created}"
    );
    analyst
        .run(&["token", "revoke", "--id", created["id"].as_str().unwrap()])
        .ok();

    // Viewing: a boxed table with the header row, without an owner column for a non-admin.
    let run = analyst.sql("SHOW API TOKENS;").ok();
    let (header, rows) = boxed_table(&run.stdout);
    assert_eq!(
        header,
        [
            "name",
            "id",
            "kind",
            "created_at",
            "expires_at",
            "last_used_at",
            "status",
            "comment"
        ],
        "{run:#?}"
    );
    assert_eq!(rows.len(), 2, "{run:#?}");
    assert!(run.stdout.ends_with("(2 rows)\n"), "{run:#?}");
    let ci = rows.iter().find(|r| r[0] == "ci_pipeline").expect("listed");
    assert_eq!(ci[1], token_id);
    assert_eq!(ci[6], "active");
    assert_eq!(ci[7], "Токен для сборочного конвейера");
    assert!(rows.iter().any(|r| r[0] == generated), "{run:#?}");

    // Changing the comment, then revoking.
    let run = analyst
        .sql("ALTER API TOKEN ci_pipeline SET COMMENT 'Перенесен на новый раннер';")
        .ok();
    assert_eq!(run.stdout, "comment of token ci_pipeline changed\n");
    let run = analyst.sql("SHOW API TOKENS;").ok();
    assert!(
        run.stdout.contains("| Перенесен на новый раннер |"),
        "{run:#?}"
    );
    let run = analyst.sql("DROP API TOKEN ci_pipeline;").ok();
    assert_eq!(run.stdout, "token ci_pipeline revoked\n");
    analyst.run(&["whoami", "--token", &token]).code(1);
    assert_eq!(status_with_api_key(&server, &token), 401);

    // A standard user cannot use FOR USER: exit 1 and one 403 line.
    let run = analyst.sql("SHOW API TOKENS FOR USER admin;").code(1);
    assert_eq!(run.stdout, "", "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(
        run.stderr
            .starts_with("error: statement 1 (SHOW API TOKENS, line 1): ")
            && run.stderr.contains("(403)"),
        "{run:#?}"
    );
    let run = analyst
        .sql("CREATE API TOKEN report_bot FOR USER admin;")
        .code(1);
    assert!(run.stderr.contains("(403)"), "{run:#?}");

    // Administration: a personal limit of one day refuses a 30-day token, naming the limit.
    admin.sql("CREATE ROLE service_accounts;").ok();
    let run = admin
        .sql("ALTER USER analyst SET API TOKEN MAX DURATION '24h';")
        .ok();
    assert_eq!(
        run.stdout,
        "API token max duration of user analyst set to 24h\n"
    );
    let report_bot = "CREATE API TOKEN report_bot FOR USER analyst MAX DURATION '30d' \
                      COMMENT 'Сервисный токен для выгрузки отчетов';";
    let run = admin.sql(report_bot).code(1);
    assert_eq!(run.stdout, "", "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(
        run.stderr
            .starts_with("error: statement 1 (CREATE API TOKEN, line 1): ")
            // The limit, in the server's normal form (24h is shown as 1d).
            && (run.stderr.contains("maximum of 1d") || run.stderr.contains("maximum of 24h"))
            && run.stderr.contains("user analyst")
            && run.stderr.contains("(422)"),
        "{run:#?}"
    );

    // A role limit of 30 days that analyst holds: the longer limit wins.
    let run = admin
        .sql(
            "ALTER ROLE service_accounts SET API TOKEN MAX DURATION '30d';\n\
             GRANT ROLE service_accounts TO USER analyst;",
        )
        .ok();
    assert_eq!(
        run.stdout,
        "API token max duration of role service_accounts set to 30d\n\
         role service_accounts granted to user analyst\n"
    );
    let run = admin.sql(report_bot).ok();
    assert_eq!(only_row_value(&run.stdout, "name"), "report_bot");
    let bot_token = only_row_value(&run.stdout, "token");
    assert_eq!(status_with_api_key(&server, &bot_token), 200);

    // The admin sees analyst's tokens, with their owner.
    let run = admin.sql("SHOW API TOKENS FOR USER analyst;").ok();
    let (header, rows) = boxed_table(&run.stdout);
    assert_eq!(header[0], "owner", "{run:#?}");
    let bot = rows.iter().find(|r| r[1] == "report_bot").expect("listed");
    assert_eq!(bot[0], "analyst");
    assert_eq!(bot[8], "Сервисный токен для выгрузки отчетов");

    // Offboarding: every token of analyst stops working.
    let run = admin.sql("DROP ALL API TOKENS FOR USER analyst;").ok();
    assert!(
        run.stdout.ends_with(" tokens of analyst revoked\n"),
        "{run:#?}"
    );
    assert_eq!(status_with_api_key(&server, &bot_token), 401);
    let run = admin.sql("SHOW API TOKENS FOR USER analyst;").ok();
    assert!(!run.stdout.contains("report_bot"), "{run:#?}");
    assert!(run.stdout.ends_with("(0 rows)\n"), "{run:#?}");
}

#[test]
fn a_failing_statement_prints_what_ran_then_one_error_line() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let run = admin
        .sql("CREATE ROLE one;\nCREATE ROLE one;\nCREATE ROLE two;")
        .code(1);
    assert_eq!(run.stdout, "role one created\n");
    assert_eq!(
        run.stderr,
        "error: statement 2 (CREATE ROLE, line 2): a role named 'one' already exists (409)\n"
    );
    // The statement after the failing one did not run.
    let run = admin.sql("SHOW ROLES;").ok();
    assert!(!run.stdout.contains("two"), "{run:#?}");

    // A statement naming nothing gets the API's hint.
    let run = admin.sql("SHOW ROLES;\nDROP ROLE nope;").code(1);
    assert!(run.stdout.ends_with("(1 row)\n"), "{run:#?}");
    assert!(
        run.stderr.ends_with("(404) - check the id or name\n"),
        "{run:#?}"
    );
}

#[test]
fn a_syntax_error_names_the_line_and_column_and_runs_nothing() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let run = admin
        .sql("CREATE ROLE one;\nCREATE API TOKEN ci MAX DURATON '30d';")
        .code(1);
    assert_eq!(run.stdout, "", "{run:#?}");
    assert_eq!(
        run.stderr,
        "error: syntax error: line 2, column 25: expected DURATION, found 'DURATON' (400)\n",
        "one line when standard error is not a terminal"
    );
    let run = admin.sql("SHOW ROLES;").ok();
    assert!(!run.stdout.contains("one"), "nothing ran: {run:#?}");

    // Not logged in: the usual 401 line, not a script error.
    let run = User::at(&server.url).sql("SHOW ROLES;").code(1);
    assert!(
        run.stderr.contains("(401) - run 'jeton login' first"),
        "{run:#?}"
    );
}

#[test]
fn sql_reads_a_file_or_standard_input_and_prints_json() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roles.sql");
    fs::write(
        &file,
        "-- roles for the pipelines\nCREATE ROLE etl;\n\nCREATE ROLE bi;\nSHOW ROLES;\n",
    )
    .unwrap();
    let run = admin.run(&["sql", "-f", file.to_str().unwrap()]).ok();
    assert!(
        run.stdout
            .starts_with("role etl created\nrole bi created\n\n+-"),
        "{run:#?}"
    );
    let (_, rows) = boxed_table(&run.stdout);
    assert_eq!(rows.len(), 2, "{run:#?}");

    // Standard input: without an argument, with `-`, and with `-f -`.
    for args in [&["sql"][..], &["sql", "-"], &["sql", "-f", "-"]] {
        let run = admin.run_stdin(args, "SHOW ROLES;\n").ok();
        assert!(run.stdout.ends_with("(2 rows)\n"), "{args:?}: {run:#?}");
    }

    // JSON: the server's answer as it is.
    let answer = admin
        .run(&["sql", "SHOW ROLES; DROP ROLE bi;", "--output", "json"])
        .ok()
        .json();
    assert!(answer["error"].is_null(), "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["statement"], "SHOW ROLES");
    assert_eq!(results[0]["columns"][0], "name");
    assert_eq!(results[0]["rows"].as_array().unwrap().len(), 2);
    assert_eq!(results[1]["affected"], 1);
    assert_eq!(results[1]["message"], "role bi deleted");

    // ... also for a failing script, with the error line on standard error and exit 1.
    let run = admin
        .run(&["sql", "-o", "json", "SHOW ROLES;\nDROP ROLE bi;"])
        .code(1);
    let answer = run.json();
    assert_eq!(answer["results"].as_array().unwrap().len(), 1);
    assert_eq!(answer["error"]["code"], "not_found");
    assert_eq!(answer["error"]["statement_index"], 2);
    assert_eq!(answer["error"]["line"], 2);
    assert!(
        run.stderr
            .starts_with("error: statement 2 (DROP ROLE, line 2)"),
        "{run:#?}"
    );

    // The value alone, as `--help` shows with jq.
    let answer = admin
        .run(&["sql", "CREATE API TOKEN ci;", "-o", "json"])
        .ok()
        .json();
    let token = answer["results"][0]["rows"][0][1].as_str().unwrap();
    assert_eq!(status_with_api_key(&server, token), 200);
}

#[test]
fn shell_runs_piped_statements_until_quit() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    let run = admin
        .run_stdin(
            &["shell"],
            "SHOW ROLES\n  -- a comment\n;\n\\help\nCREATE ROLE\n  multi_line;\n\n\
             CREATE ROLE two; CREATE ROLE three;\n\\q\nCREATE ROLE after_quit;\n",
        )
        .ok();
    assert!(run.stdout.starts_with("+-"), "{run:#?}");
    assert!(run.stdout.contains("(0 rows)\n"), "{run:#?}");
    assert!(
        run.stdout.contains("CREATE API TOKEN [name]"),
        "\\help: {run:#?}"
    );
    assert!(
        run.stdout
            .ends_with("role multi_line created\nrole two created\nrole three created\n"),
        "{run:#?}"
    );
    let run = admin.sql("SHOW ROLES;").ok();
    assert!(run.stdout.contains("| multi_line |"), "{run:#?}");
    assert!(!run.stdout.contains("after_quit"), "{run:#?}");

    // Without \q it ends with the input, and the last `;` may be missing.
    let run = admin.run_stdin(&["shell"], "DROP ROLE two").ok();
    assert_eq!(run.stdout, "role two deleted\n");

    // The first failing statement stops it, with `jeton sql`'s exit code.
    let run = admin
        .run_stdin(&["shell"], "CREATE ROLE three;\nCREATE ROLE four;\n")
        .code(1);
    assert!(run.stderr.contains("already exists (409)"), "{run:#?}");
    assert!(!admin.sql("SHOW ROLES;").ok().stdout.contains("four"));

    // Piped input is not a session: no history is written.
    assert!(!admin.config.path().join("history").exists());

    let run = User::at(&closed_url())
        .run_stdin(&["shell"], "SHOW ROLES;\n")
        .code(3);
    assert!(run.stderr.contains("cannot reach the server"), "{run:#?}");
}

/// `jeton shell` on a pseudo-terminal (util-linux `script`), as a person types: statements are
/// remembered in a private history file, except those holding a password.
#[cfg(unix)]
#[test]
fn shell_on_a_terminal_keeps_a_private_history_without_passwords() {
    let script_ok = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !script_ok {
        eprintln!("skipped: util-linux `script` is needed for a pseudo-terminal");
        return;
    }
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    // `script` runs the command with $SHELL on a new pseudo-terminal.
    let mut script = Command::new("script");
    script.args(["-q", "-e", "-c", &format!("{JETON} shell"), "/dev/null"]);
    for var in JETON_VARS {
        script.env_remove(var);
    }
    script
        .env("JETON_CONFIG_DIR", admin.config.path())
        .env("JETON_URL", &server.url)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("SHELL", "/bin/sh");
    let run = admin.run_with(
        script,
        Some(
            "SHOW\n ROLES;\nCREATE USER bob PASSWORD 'bob-password-1';\nCREATE ROLE tty_role;\n\\q\n",
        ),
    );
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("jeton> "), "{run:#?}");
    assert!(run.stdout.contains("   ...> "), "{run:#?}");
    assert!(run.stdout.contains("role tty_role created"), "{run:#?}");

    let history = admin.config.path().join("history");
    assert_eq!(mode(&history), 0o600);
    let text = fs::read_to_string(&history).unwrap();
    assert_eq!(text, "SHOW\\n ROLES;\nCREATE ROLE tty_role;\n");
    assert!(!text.contains("bob-password-1"));
}

// --- signing keys and the master key -----------------------------------------------------------

#[test]
fn keys_revoke_new_master_key_and_rewrap_from_the_command_line() {
    let mut server = spawn_server();
    let user = User::at(&server.url);
    user.login_admin();
    let listed = user.run(&["keys", "list", "--output", "json"]).ok().json();
    let first_kid = listed[0]["kid"].as_str().unwrap().to_string();

    // The signer cannot be revoked: one clear line, exit 1.
    let run = user.run(&["keys", "revoke", &first_kid]).code(1);
    assert!(
        run.stderr.contains("rotate first") && run.stderr.contains("409"),
        "{run:#?}"
    );
    user.run(&["keys", "rotate"]).ok();
    let run = user.run(&["keys", "revoke", &first_kid]).ok();
    assert!(run.stdout.contains("revoked"), "{run:#?}");
    // The saved session was signed by that key: it stopped with it.
    user.run(&["whoami"]).code(1);
    user.login_admin();
    let listed = user.run(&["keys", "list", "--output", "json"]).ok().json();
    let revoked = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == first_kid.as_str())
        .unwrap();
    assert_eq!(revoked["status"], "revoked", "{listed}");

    // A new master key file: private, never overwritten.
    let keys_dir = tempfile::tempdir().unwrap();
    let new_key = keys_dir.path().join("new.key");
    let new_key_arg = new_key.to_str().unwrap();
    let run = user.run(&["keys", "new-master-key", new_key_arg]).ok();
    assert!(run.stdout.contains(new_key_arg), "{run:#?}");
    #[cfg(unix)]
    assert_eq!(mode(&new_key), 0o600);
    let before = fs::read(&new_key).unwrap();
    user.run(&["keys", "new-master-key", new_key_arg]).code(1);
    assert_eq!(fs::read(&new_key).unwrap(), before);

    // Rewrap against the database (the server stopped), from the default key beside it.
    let _ = server.child.kill();
    let _ = server.child.wait();
    let database = format!("sqlite://{}", server.dir.path().join("j.db").display());
    let run = user
        .run(&[
            "keys",
            "rewrap",
            "--database-url",
            &database,
            "--new-master-key-file",
            new_key_arg,
        ])
        .ok();
    assert!(
        run.stdout
            .contains("sealed 2 signing key(s) and the API-key hashing secret"),
        "{run:#?}"
    );
    // The old key opens nothing any more.
    let run = user
        .run(&[
            "keys",
            "rewrap",
            "--database-url",
            &database,
            "--new-master-key-file",
            keys_dir.path().join("third.key").to_str().unwrap(),
        ])
        .code(1);
    assert!(run.stderr.contains("wrong key?"), "{run:#?}");
}

// --- control characters on the operator's terminal (issue 12 §6) ------------------------------

/// Runs one statement on the SQLite file of `server`, binding `values`: how text stored before
/// Jeton refused control characters at its boundary (or written by anything else) gets there.
fn write_database(server: &Server, sql: &str, values: &[&str]) {
    use sqlx::Connection;
    let path = server.dir.path().join("j.db");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
            let mut db = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("cannot open the database");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
            for value in values {
                query = query.bind(*value);
            }
            let done = query.execute(&mut db).await.unwrap();
            assert_eq!(done.rows_affected(), 1, "{sql}");
            db.close().await.ok();
        });
}

/// Whether `text` holds a control character other than the line breaks between lines.
fn holds_control(text: &str) -> bool {
    text.chars()
        .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}'))
}

/// A comment, a username in the audit log and a SQL result holding an OSC 52 clipboard write,
/// a screen clear and a C1 CSI reach no terminal: tables (`token list`, `jeton sql`, `jeton
/// audit`, `token show`) show them as `\e` and `\u{..}`, tab and newline (allowed in a comment)
/// too; `-o json` gives the exact text.
#[test]
fn control_characters_from_the_server_are_shown_visibly_and_json_stays_exact() {
    let server = spawn_server();
    let user = User::at(&server.url);
    user.login_admin();
    let multi_line = "line one\nline\ttwo";
    user.run(&[
        "token",
        "create",
        "--name",
        "multi",
        "--description",
        multi_line,
    ])
    .ok();
    // The server refuses escape sequences now: a comment sent with one is a 400.
    let refused = user
        .run(&[
            "token",
            "create",
            "--name",
            "refused",
            "--description",
            "a\u{1b}[2J",
        ])
        .code(1);
    assert!(refused.stderr.contains("(400)"), "{refused:#?}");
    assert!(!holds_control(&refused.stderr), "{refused:#?}");

    let osc52 = "\u{1b}]52;c;ZXZpbA==\u{7}";
    let clear = "\u{1b}[2J";
    let csi = "\u{9b}31m";
    let evil = format!("copy{osc52} clear{clear} csi{csi}");
    let shown = "copy\\e]52;c;ZXZpbA==\\u{7} clear\\e[2J csi\\u{9b}31m";
    user.run(&[
        "token",
        "create",
        "--name",
        "evil",
        "--description",
        "placeholder",
    ])
    .ok();
    write_database(
        &server,
        "UPDATE tokens SET comment = ? WHERE name = 'evil'",
        &[&evil],
    );
    let mallory = format!("mallory{osc52}{clear}");
    write_database(
        &server,
        "INSERT INTO audit_events (at, actor_name, action, outcome, client_addr, details) \
         VALUES (CAST(strftime('%s', 'now') AS INTEGER), ?, 'auth.login', 'failure', \
         '192.0.2.1', '{}')",
        &[&mallory],
    );

    let list = user.run(&["token", "list"]).ok();
    assert!(!holds_control(&list.stdout), "{list:#?}");
    assert!(list.stdout.contains(shown), "{list:#?}");
    assert!(
        list.stdout.contains("line one\\u{a}line\\u{9}two"),
        "{list:#?}"
    );
    let sql = user.run(&["sql", "SHOW API TOKENS;"]).ok();
    assert!(!holds_control(&sql.stdout), "{sql:#?}");
    assert!(sql.stdout.contains(shown), "{sql:#?}");
    let audit = user.run(&["audit"]).ok();
    assert!(!holds_control(&audit.stdout), "{audit:#?}");
    assert!(
        audit
            .stdout
            .contains("mallory\\e]52;c;ZXZpbA==\\u{7}\\e[2J"),
        "{audit:#?}"
    );
    let id = user.run(&["token", "list", "-o", "json"]).ok().json();
    let evil_record = id
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "evil")
        .expect("evil listed")
        .clone();
    // JSON: the exact text, as the server answered it.
    assert_eq!(evil_record["comment"], evil.as_str());
    let show = user
        .run(&["token", "show", "--id", evil_record["id"].as_str().unwrap()])
        .ok();
    assert!(!holds_control(&show.stdout), "{show:#?}");
    assert!(show.stdout.contains(shown), "{show:#?}");
    let sql_json = user.run(&["sql", "SHOW API TOKENS;", "-o", "json"]).ok();
    assert!(sql_json.stdout.contains(csi), "{sql_json:#?}");
    assert!(
        sql_json
            .json()
            .to_string()
            .contains(&serde_json::to_string(&evil).unwrap()),
        "{sql_json:#?}"
    );
    let audit_json = user.run(&["audit", "-o", "json"]).ok().json();
    assert!(
        audit_json
            .to_string()
            .contains(&serde_json::to_string(&mallory).unwrap()),
        "{audit_json}"
    );
}

#[test]
fn set_password_asks_for_the_current_one_and_ends_the_sessions() {
    let server = spawn_server();
    let admin = User::at(&server.url);
    admin.login_admin();
    admin
        .run_stdin(
            &["user", "create", "--username", "carol", "--password-stdin"],
            "carol-password-1",
        )
        .ok();
    let carol = User::at(&server.url);
    carol
        .run_stdin(
            &["login", "--username", "carol", "--password-stdin"],
            "carol-password-1",
        )
        .ok();
    // A wrong current password: refused, nothing changed.
    let run = carol
        .run_stdin(
            &[
                "user",
                "set-password",
                "--current-password-stdin",
                "--password-stdin",
            ],
            "not-her-password\ncarol-password-2\n",
        )
        .code(1);
    assert!(run.stderr.contains("(403)"), "{run:#?}");
    // Without the current password (`user update` sends none): refused with the way to do it.
    let run = carol
        .run_stdin(
            &["user", "update", "carol", "--password-stdin"],
            "carol-password-2",
        )
        .code(1);
    assert!(run.stderr.contains("set-password"), "{run:#?}");
    carol.run(&["whoami"]).ok();

    let run = carol
        .run_stdin(
            &[
                "user",
                "set-password",
                "--current-password-stdin",
                "--password-stdin",
            ],
            "carol-password-1\ncarol-password-2\n",
        )
        .ok();
    assert!(run.stdout.contains("sessions are revoked"), "{run:#?}");
    // Her session (the saved profile's) ended with the change.
    carol.run(&["whoami"]).code(1);
    let again = User::at(&server.url);
    again
        .run_stdin(
            &["login", "--username", "carol", "--password-stdin"],
            "carol-password-2",
        )
        .ok();
    // An administrator resets it without the current one.
    admin
        .run_stdin(
            &[
                "user",
                "set-password",
                "carol",
                "--password-stdin",
                "--revoke-tokens",
            ],
            "carol-password-3",
        )
        .ok();
    again.run(&["whoami"]).code(1);
}
