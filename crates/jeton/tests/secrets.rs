//! Issue 7, item 7: secrets never leak.
//!
//! One `jeton serve` (the real binary), on a fresh SQLite file and logging at `trace`, goes
//! through a full scenario over HTTP, with the CLI and through the web UI's forms: password logins
//! (right and wrong), personal API tokens, service users and their keys (rotation with and without
//! a grace period), OAuth2 client credentials, introspection and revocation, SQL statements that
//! issue credentials or carry passwords, and errors (bad and forged credentials, wrong secrets,
//! invalid bodies, unknown paths, a secret pasted where an id goes).
//!
//! Every secret that was issued or typed is collected. Then each one — its whole value, the
//! signature of a JWT, the body of an API key, and every piece of [`FRAGMENT`] characters of
//! those — is searched for in: every line the server logged (stdout and stderr), every response
//! (status, headers, body) except the one that issued it, every output of the CLI (likewise),
//! every audit event (over the API, paged, and the raw `audit_events` table), and the database
//! files (`j.db`, `-wal`, `-shm`, as bytes) while the server runs and after it stopped on SIGTERM.
//! The server's own secrets (its signing key and its API-key hashing secret) are searched for
//! everywhere but the database, where they live. URLs that Jeton generates (redirects, links and
//! form targets in pages, URLs in JSON) must not hold any secret, not even in the response that
//! issued it. The expected number of findings is 0; each finding is printed before the test
//! fails.
//!
//! The scenario runs twice, once with each log format (`--log-format text` and `json`). Both
//! times every response's `X-Request-Id` must appear in the logs; with JSON, every line must be
//! a JSON object, and the lines logged while a request is handled must carry its `request_id`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

const JETON: &str = env!("CARGO_BIN_EXE_jeton");

/// Shortest piece of a secret that counts as a leak. Twelve random base62 characters are about
/// 71 bits: no log line or page holds them by chance. (The hint Jeton shows of an API key is its
/// prefix and 4 characters, well below.)
const FRAGMENT: usize = 12;

/// The RFC 8693 grant and token type of the OAuth endpoint's token exchange.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

// --- secrets and where they are searched for ---------------------------------------------------

/// What a secret looks like, which decides the parts of it that are searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A password or another opaque string: all of it.
    Text,
    /// A JWT: the whole value, and pieces of its signature (header and claims are shared or
    /// public knowledge; `eyJ...` starts every token).
    Jwt,
    /// An API key: the whole value, and pieces of its body (without the `jsk_` prefix).
    ApiKey,
    /// HTTP Basic credentials, base64 of `client_id:client_secret`: the whole value, and pieces
    /// of what follows the 48 characters that encode the (public) 36-character client id.
    Basic,
    /// One encoding of a secret of the server itself: only the whole value. Not in the
    /// database files either: the database keeps them sealed under the master key.
    Server,
}

/// One secret that was issued or typed during the scenario.
struct Secret {
    /// What it is: `API key`, `wrong password`, ...
    kind: String,
    value: Vec<u8>,
    shape: Shape,
    /// The source (response or CLI run) that issued it, where it may appear once.
    creator: Option<usize>,
    /// For a forged or mistyped copy of another secret: that one. Most of their pieces are the
    /// same, so where the original is, a piece of the copy is not a finding of its own (and the
    /// other way round).
    derived_from: Option<usize>,
}

impl Secret {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }

    /// The part that pieces are taken from, and its name.
    fn core(&self) -> (&[u8], &'static str) {
        match self.shape {
            Shape::Jwt => {
                let start = self
                    .value
                    .iter()
                    .rposition(|&b| b == b'.')
                    .map_or(0, |i| i + 1);
                (
                    &self.value[start..],
                    "its signature (the JWT's third segment)",
                )
            }
            Shape::ApiKey => (
                self.value.strip_prefix(b"jsk_").unwrap_or(&self.value),
                "its body without the jsk_ prefix",
            ),
            Shape::Basic => (
                self.value.get(48..).unwrap_or(&self.value),
                "the part that encodes the client secret",
            ),
            Shape::Text | Shape::Server => (&self.value, "its whole value"),
        }
    }

    /// The byte strings whose presence is a leak.
    fn needles(&self) -> Vec<Vec<u8>> {
        let mut needles = vec![self.value.clone()];
        if self.shape != Shape::Server {
            let (core, _) = self.core();
            needles.push(core.to_vec());
            needles.extend(core.windows(FRAGMENT).map(<[u8]>::to_vec));
        }
        needles.retain(|n| n.len() >= 8);
        needles.sort();
        needles.dedup();
        needles
    }
}

/// Where a source comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Log,
    Response,
    Cli,
    AuditApi,
    AuditTable,
    DbFile,
}

/// Something searched: a log, one response, one CLI run, an audit record, a database file.
struct Source {
    place: Place,
    name: String,
    text: Vec<u8>,
    /// URLs Jeton generated in it: `Location`, links and form targets, URLs in JSON.
    urls: Vec<String>,
}

/// A multiplicative hasher for the 8-byte keys of [`Index`] (SipHash is slow in debug builds).
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// Every needle of every secret, found by its first 8 bytes: one pass over a text finds them all.
struct Index {
    /// Bytes that some needle starts with: every other position is skipped at once.
    first: [bool; 256],
    needles: Vec<(usize, Vec<u8>)>,
    by_prefix: HashMap<u64, Vec<usize>, BuildHasherDefault<Fx>>,
}

impl Index {
    fn new(secrets: &[Secret]) -> Self {
        let mut index = Index {
            first: [false; 256],
            needles: Vec::new(),
            by_prefix: HashMap::default(),
        };
        for (id, secret) in secrets.iter().enumerate() {
            for needle in secret.needles() {
                let key = u64::from_le_bytes(needle[..8].try_into().unwrap());
                index.first[usize::from(needle[0])] = true;
                index
                    .by_prefix
                    .entry(key)
                    .or_default()
                    .push(index.needles.len());
                index.needles.push((id, needle));
            }
        }
        index
    }

    /// Calls `hit(secret, position)` for every needle found in `text`.
    fn scan(&self, text: &[u8], mut hit: impl FnMut(usize, usize)) {
        if text.len() < 8 {
            return;
        }
        for pos in 0..=text.len() - 8 {
            if !self.first[usize::from(text[pos])] {
                continue;
            }
            let key = u64::from_le_bytes(text[pos..pos + 8].try_into().unwrap());
            if let Some(list) = self.by_prefix.get(&key) {
                for &n in list {
                    let (secret, needle) = &self.needles[n];
                    if text[pos..].starts_with(needle) {
                        hit(*secret, pos);
                    }
                }
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// JWTs (`eyJ...` with three segments) and API keys (`jsk_` and 49 base62 characters) in a text.
fn credentials_in(text: &[u8]) -> Vec<String> {
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut found = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let boundary = i == 0 || !b64(text[i - 1]);
        if boundary && text[i..].starts_with(b"eyJ") {
            let (mut j, mut dots) = (i, 0);
            loop {
                while j < text.len() && b64(text[j]) {
                    j += 1;
                }
                if dots < 2 && j + 1 < text.len() && text[j] == b'.' && b64(text[j + 1]) {
                    dots += 1;
                    j += 1;
                } else {
                    break;
                }
            }
            if dots == 2 {
                found.push(String::from_utf8_lossy(&text[i..j]).into_owned());
                i = j;
                continue;
            }
        }
        if boundary && text[i..].starts_with(b"jsk_") {
            let mut j = i + 4;
            while j < text.len() && text[j].is_ascii_alphanumeric() {
                j += 1;
            }
            if j - i - 4 == 49 {
                found.push(String::from_utf8_lossy(&text[i..j]).into_owned());
                i = j;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// The URLs Jeton generated in a response: `Location` and friends, `href`, `action`, `src` and
/// `formaction` attributes, and strings in a JSON body that look like URLs or paths.
fn generated_urls(headers: &HeaderMap, body: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for name in ["location", "content-location", "refresh", "link"] {
        for value in headers.get_all(name) {
            urls.push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
    }
    for attribute in ["href=\"", "action=\"", "src=\"", "formaction=\""] {
        let mut rest = body;
        while let Some(at) = rest.find(attribute) {
            let after = &rest[at + attribute.len()..];
            let end = after.find('"').unwrap_or(after.len());
            urls.push(after[..end].replace("&amp;", "&"));
            rest = &after[end..];
        }
    }
    fn walk(value: &Value, urls: &mut Vec<String>) {
        match value {
            Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => {
                urls.push(s.clone());
            }
            Value::String(s) if s.starts_with('/') => urls.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, urls)),
            Value::Object(map) => map.values().for_each(|v| walk(v, urls)),
            _ => {}
        }
    }
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        walk(&value, &mut urls);
    }
    urls
}

/// Searches every source for every secret; returns one line per finding.
fn findings(secrets: &[Secret], sources: &[Source]) -> Vec<String> {
    let index = Index::new(secrets);
    let mut out = Vec::new();
    // (source, secret) -> first position.
    let mut hits: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (si, source) in sources.iter().enumerate() {
        index.scan(&source.text, |secret, pos| {
            hits.entry((si, secret)).or_insert(pos);
        });
    }
    for (&(si, secret), &pos) in &hits {
        let (s, source) = (&secrets[secret], &sources[si]);
        if s.creator == Some(si) {
            continue;
        }
        let (core, core_name) = s.core();
        let (how, piece) = if contains(&source.text, &s.value) {
            ("its whole value".to_string(), false)
        } else if contains(&source.text, core) {
            (core_name.to_string(), false)
        } else {
            (format!("a piece of it ({FRAGMENT}+ characters)"), true)
        };
        if !reportable(secrets, secret, &source.text, piece) {
            continue;
        }
        out.push(format!(
            "{} ({}): {how} is in {}, {}",
            s.kind,
            created_by(s, sources),
            source.name,
            locate(source, pos, secrets)
        ));
    }
    // URLs Jeton generated: never a secret, not even in the response that issued it.
    for source in sources {
        for url in &source.urls {
            let mut seen = Vec::new();
            index.scan(url.as_bytes(), |secret, _| {
                if !seen.contains(&secret) {
                    seen.push(secret);
                }
            });
            for secret in seen {
                let whole = contains(url.as_bytes(), &secrets[secret].value);
                if !reportable(secrets, secret, url.as_bytes(), !whole) {
                    continue;
                }
                out.push(format!(
                    "{} ({}): in a URL Jeton generated, in {}: {}",
                    secrets[secret].kind,
                    created_by(&secrets[secret], sources),
                    source.name,
                    mask(url, secrets)
                ));
            }
        }
    }
    // A credential that the scenario never saw: issued somewhere it should not have been.
    for source in sources {
        for credential in credentials_in(&source.text) {
            if !secrets.iter().any(|s| s.value == credential.as_bytes()) {
                out.push(format!(
                    "an unknown credential-shaped value is in {}",
                    source.name
                ));
            }
        }
    }
    out
}

/// False for what a forged copy and its original share: the copy's pieces where the original is
/// whole, and the original's pieces where only the copy is.
fn reportable(secrets: &[Secret], secret: usize, text: &[u8], piece: bool) -> bool {
    if let Some(original) = secrets[secret].derived_from
        && contains(text, &secrets[original].value)
    {
        return false;
    }
    !(piece
        && secrets
            .iter()
            .any(|d| d.derived_from == Some(secret) && contains(text, &d.value)))
}

fn created_by(secret: &Secret, sources: &[Source]) -> String {
    match secret.creator {
        Some(i) => format!("issued by {}", sources[i].name),
        None => "typed or kept by the client".to_string(),
    }
}

/// Where `pos` is in a source: a line and its context (secrets masked), or a byte offset.
fn locate(source: &Source, pos: usize, secrets: &[Secret]) -> String {
    if source.place == Place::DbFile {
        return format!("at byte offset {pos}");
    }
    let text = &source.text;
    let line = text[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
    let start = text[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
        .max(pos.saturating_sub(80));
    let end = text[pos..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| pos + i)
        .min(pos + FRAGMENT + 80);
    let mut context = String::from_utf8_lossy(&text[start..pos]).into_owned();
    context.push_str("«SECRET»");
    context.push_str(&String::from_utf8_lossy(
        &text[(pos + FRAGMENT).min(end)..end],
    ));
    format!("line {line}: {}", mask(&context, secrets))
}

/// `text` with every known secret replaced by its kind.
fn mask(text: &str, secrets: &[Secret]) -> String {
    let mut text = text.to_string();
    for secret in secrets {
        let value = secret.text();
        if value.len() >= 8 {
            text = text.replace(&value, &format!("«{}»", secret.kind));
        }
    }
    text
}

// --- the server --------------------------------------------------------------------------------

/// `jeton serve`, stopped with SIGKILL when dropped (a failing test leaves nothing behind).
struct Server {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Removes every `JETON_*` variable of the caller's environment from a command.
fn clean_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("JETON_") {
            command.env_remove(key);
        }
    }
}

/// The server's `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl Server {
    fn start(dir: &Path, admin_password: &str, format: LogFormat) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut command = Command::new(JETON);
        clean_env(&mut command);
        let child = command
            .args(["serve", "--listen", &addr.to_string(), "--database-url"])
            .arg(format!("sqlite://{}", dir.join("j.db").display()))
            // The most verbose level there is, for every crate (sqlx, axum, ...), both ways.
            .args(["--log", "trace"])
            .env("JETON_LOG", "trace")
            .args(["--log-format", format.as_str()])
            // Many wrong passwords on purpose: the throttle is item 6, not this test.
            .args(["--login-attempts", "1000"])
            .args(["--last-used-flush", "1s"])
            .env("JETON_BOOTSTRAP_PASSWORD", admin_password)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("server.stdout")).unwrap())
            .stderr(fs::File::create(dir.join("server.stderr")).unwrap())
            .spawn()
            .expect("cannot start jeton serve");
        let mut server = Server {
            child,
            addr,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !healthy(addr) {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("jeton serve exited with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "jeton serve did not become healthy"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "jeton serve exited with {status} on SIGTERM"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "jeton serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The database files, as bytes.
    fn database_files(&self, when: &str) -> Vec<Source> {
        ["j.db", "j.db-wal", "j.db-shm"]
            .iter()
            .filter_map(|name| {
                fs::read(self.dir.join(name)).ok().map(|text| Source {
                    place: Place::DbFile,
                    name: format!("database file {name} ({when})"),
                    text,
                    urls: Vec::new(),
                })
            })
            .collect()
    }
}

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

// --- the scenario's recorder -------------------------------------------------------------------

/// A response, kept in full; `index` is its source.
struct Resp {
    index: usize,
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn str(&self, field: &str) -> String {
        self.json()[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string '{field}' in {}", self.body))
            .to_string()
    }

    /// Asserts the status.
    fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status (response #{}): {}",
            self.index,
            self.body
        );
        self
    }

    /// The value of `name` in the `Set-Cookie` headers.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }

    /// The value of the hidden form field `csrf` of a page.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no form token in response #{}", self.index));
        let rest = &self.body[at + marker.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

/// The output of one CLI run.
struct CliRun {
    index: usize,
    code: i32,
    stdout: String,
}

/// A CLI user: a private configuration directory.
struct Cli {
    config: TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
        }
    }

    /// The credential `jeton login` saved in the profile.
    fn saved_token(&self) -> String {
        let text = fs::read(self.config.path().join("config.toml")).unwrap();
        credentials_in(&text)
            .pop()
            .expect("no token in the profile")
    }
}

struct Scenario {
    base: String,
    http: reqwest::Client,
    secrets: Vec<Secret>,
    sources: Vec<Source>,
}

impl Scenario {
    fn new(base: String) -> Self {
        Self {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            secrets: Vec::new(),
            sources: Vec::new(),
        }
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    fn post(&self, path: &str) -> RequestBuilder {
        // As a browser on one of Jeton's pages sends it (the session cookie's writes need it).
        self.http
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
    }

    fn patch(&self, path: &str) -> RequestBuilder {
        // As a browser on one of Jeton's pages sends it (the session cookie's writes need it).
        self.http
            .patch(format!("{}{path}", self.base))
            .header("origin", &self.base)
    }

    fn delete(&self, path: &str) -> RequestBuilder {
        // As a browser on one of Jeton's pages sends it (the session cookie's writes need it).
        self.http
            .delete(format!("{}{path}", self.base))
            .header("origin", &self.base)
    }

    /// Sends a request and keeps its response.
    async fn send(&mut self, request: RequestBuilder) -> Resp {
        self.send_as(Place::Response, request).await
    }

    async fn send_as(&mut self, place: Place, request: RequestBuilder) -> Resp {
        let request = request.build().expect("bad request");
        let label = format!("{} {}", request.method(), request.url().path());
        let response = self
            .http
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        let mut text = format!("{status}\n");
        for (name, value) in &headers {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        text.push('\n');
        text.push_str(&body);
        let index = self.sources.len();
        self.sources.push(Source {
            place,
            name: format!("response #{index} to {label} ({})", status.as_u16()),
            text: text.into_bytes(),
            urls: generated_urls(&headers, &body),
        });
        Resp {
            index,
            status,
            headers,
            body,
        }
    }

    /// Runs `jeton args` as `cli` and keeps its output (stdout and stderr).
    fn cli(&mut self, cli: &Cli, args: &[&str], stdin: Option<&str>) -> CliRun {
        let mut command = Command::new(JETON);
        clean_env(&mut command);
        command
            .args(args)
            .env("JETON_CONFIG_DIR", cli.config.path())
            .env("JETON_URL", &self.base)
            .env("NO_COLOR", "1")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cannot start jeton");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).unwrap();
            pipe.write_all(b"\n").unwrap();
        }
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let index = self.sources.len();
        let mut label = format!("jeton {}", args.join(" "));
        if label.len() > 100 {
            let cut = (0..=100)
                .rev()
                .find(|&i| label.is_char_boundary(i))
                .unwrap();
            label.truncate(cut);
            label.push('…');
        }
        self.sources.push(Source {
            place: Place::Cli,
            name: format!("output #{index} of `{label}`"),
            text: format!("{stdout}\n{stderr}").into_bytes(),
            urls: Vec::new(),
        });
        CliRun {
            index,
            code: output.status.code().unwrap_or(-1),
            stdout,
        }
    }

    fn register(&mut self, kind: &str, value: &str, shape: Shape, creator: Option<usize>) {
        if self.secrets.iter().any(|s| s.value == value.as_bytes()) {
            return;
        }
        self.secrets.push(Secret {
            kind: kind.to_string(),
            value: value.as_bytes().to_vec(),
            shape,
            creator,
            derived_from: None,
        });
    }

    /// A forged or mistyped copy of the secret `original`, typed by a user.
    fn forged(&mut self, kind: &str, value: String, original: &str) -> String {
        let original = self
            .secrets
            .iter()
            .position(|s| s.value == original.as_bytes())
            .expect("the original is not a known secret");
        self.typed(kind, value.clone());
        let copy = self.secrets.last_mut().unwrap();
        assert_eq!(copy.value, value.as_bytes());
        copy.derived_from = Some(original);
        value
    }

    /// HTTP Basic credentials `client_id:client_secret`, as sent.
    fn basic(&mut self, kind: &str, client_id: &str, secret: &str) -> String {
        assert_eq!(client_id.len(), 36, "a client id is a UUID");
        let value = STANDARD.encode(format!("{client_id}:{secret}"));
        self.register(kind, &value, Shape::Basic, None);
        value
    }

    /// A secret typed by a user (a password, right or wrong; a made-up credential).
    fn typed(&mut self, kind: &str, value: String) -> String {
        let shape = if value.starts_with("eyJ") {
            Shape::Jwt
        } else if value.starts_with("jsk_") {
            Shape::ApiKey
        } else {
            Shape::Text
        };
        self.register(kind, &value, shape, None);
        value
    }

    /// The credentials that source `index` issued: every JWT or API key in it not seen before.
    fn issued(&mut self, index: usize, kind: &str) -> Vec<String> {
        let mut new = Vec::new();
        for credential in credentials_in(&self.sources[index].text) {
            if !new.contains(&credential)
                && !self
                    .secrets
                    .iter()
                    .any(|s| s.value == credential.as_bytes())
            {
                new.push(credential);
            }
        }
        for credential in &new {
            let shape = if credential.starts_with("jsk_") {
                Shape::ApiKey
            } else {
                Shape::Jwt
            };
            self.register(kind, credential, shape, Some(index));
        }
        new
    }

    /// The one credential that source `index` issued.
    fn issued_one(&mut self, index: usize, kind: &str) -> String {
        let mut new = self.issued(index, kind);
        assert_eq!(
            new.len(),
            1,
            "{} should issue exactly one {kind}",
            self.sources[index].name
        );
        new.pop().unwrap()
    }

    // --- shorthands ----------------------------------------------------------------------------

    async fn login(&mut self, username: &str, password: &str) -> Resp {
        self.send(
            self.post("/api/v1/auth/login")
                .json(&json!({"username": username, "password": password})),
        )
        .await
    }

    /// `POST /api/v1/sql` as `token`.
    async fn sql(&mut self, token: &str, script: &str) -> Resp {
        self.send(
            self.post("/api/v1/sql")
                .bearer_auth(token)
                .json(&json!({ "sql": script })),
        )
        .await
    }

    async fn status_with_key(&mut self, key: &str) -> u16 {
        self.send(self.get("/api/v1/auth/verify").header("x-api-key", key))
            .await
            .status
            .as_u16()
    }

    async fn status_with_bearer(&mut self, token: &str) -> u16 {
        self.send(self.get("/api/v1/me").bearer_auth(token))
            .await
            .status
            .as_u16()
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("cannot read /dev/urandom");
    bytes
}

/// A long random password: 40 base62 characters (no word of a page can contain it).
fn password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes::<128>()
        .iter()
        .filter(|&&b| b < 248)
        .map(|&b| char::from(ALPHABET[usize::from(b % 62)]))
        .take(40)
        .collect()
}

/// A well-formed API key (valid checksum) that Jeton never issued.
fn unknown_key() -> String {
    jeton_core::apikey::generate("jsk_", random_bytes::<32>())
        .expose()
        .to_string()
}

/// `value` with the character at `at` (from the end when negative) changed.
fn tampered(value: &str, from_end: usize) -> String {
    let mut bytes = value.as_bytes().to_vec();
    let at = bytes.len() - 1 - from_end;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

// --- the scenario ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaks_into_logs_responses_audit_or_database() {
    scenario(LogFormat::Text).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaks_with_json_logs_and_every_request_line_has_its_id() {
    scenario(LogFormat::Json).await;
}

async fn scenario(format: LogFormat) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let admin_password = password();
    let mut server = Server::start(dir.path(), &admin_password, format);
    let mut s = Scenario::new(format!("http://{}", server.addr));
    s.typed(
        "password (admin, from JETON_BOOTSTRAP_PASSWORD)",
        admin_password.clone(),
    );

    let mut phases = vec![("start", started.elapsed())];
    let (admin, analyst) = passwords_and_users(&mut s, &admin_password).await;
    phases.push(("passwords and users", started.elapsed()));
    personal_tokens(&mut s, &admin, &analyst).await;
    phases.push(("personal tokens", started.elapsed()));
    let robot = service_users_and_oauth(&mut s, &admin).await;
    phases.push(("service users and OAuth", started.elapsed()));
    sql_statements(&mut s, &admin).await;
    phases.push(("SQL", started.elapsed()));
    cli(&mut s, &admin_password);
    phases.push(("CLI", started.elapsed()));
    web_ui(&mut s, &admin_password, &admin).await;
    phases.push(("web UI", started.elapsed()));
    errors(&mut s, &admin, &robot).await;
    phases.push(("errors", started.elapsed()));

    // Let the background writer catch up with queued audit events, then read them all.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let audit_events = read_audit(&mut s, &admin).await;

    // The database while the server runs, then after a clean stop (without idle keep-alive
    // connections of ours, which would hold the server's shutdown).
    let running = server.database_files("while the server runs");
    s.http = reqwest::Client::new();
    s.sources.extend(running);
    phases.push(("audit", started.elapsed()));
    server.stop();
    phases.push(("SIGTERM", started.elapsed()));
    let stopped = server.database_files("after SIGTERM");
    s.sources.extend(stopped);
    let audit_rows = raw_database(&mut s, &dir.path().join("j.db")).await;

    // The server's logs, at trace level.
    let mut log_lines = 0;
    for (name, file) in [
        ("server stdout", "server.stdout"),
        ("server stderr", "server.stderr"),
    ] {
        let text = fs::read(dir.path().join(file)).unwrap();
        log_lines += text.iter().filter(|&&b| b == b'\n').count();
        s.sources.push(Source {
            place: Place::Log,
            name: name.to_string(),
            text,
            urls: Vec::new(),
        });
    }
    // Proof that the verbose levels were on: debug lines (sqlx logs every statement at debug).
    let log_text: String = s
        .sources
        .iter()
        .filter(|src| src.place == Place::Log)
        .map(|src| String::from_utf8_lossy(&src.text).into_owned())
        .collect();
    let mut levels: BTreeMap<&str, usize> = BTreeMap::new();
    for line in log_text.lines() {
        let level = match format {
            LogFormat::Text => line.split_whitespace().nth(1).map(str::to_string),
            LogFormat::Json => serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v["level"].as_str().map(str::to_string)),
        };
        for known in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] {
            if level.as_deref() == Some(known) {
                *levels.entry(known).or_default() += 1;
            }
        }
    }
    assert!(
        levels.get("DEBUG").copied().unwrap_or(0) > 100,
        "the server did not log at debug level: {levels:?}"
    );
    let request_ids = check_request_ids(&s.sources, &log_text, format);

    phases.push(("raw database and logs", started.elapsed()));
    let found = findings(&s.secrets, &s.sources);
    phases.push(("search", started.elapsed()));
    let elapsed = started.elapsed();

    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for secret in &s.secrets {
        *kinds.entry(secret.kind.as_str()).or_default() += 1;
    }
    let mut places: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for source in &s.sources {
        let entry = places.entry(format!("{:?}", source.place)).or_default();
        entry.0 += 1;
        entry.1 += source.text.len();
    }
    let urls: usize = s.sources.iter().map(|src| src.urls.len()).sum();
    println!("secrets searched for: {}", s.secrets.len());
    for (kind, count) in &kinds {
        println!("  {count:>3}  {kind}");
    }
    println!("searched:");
    for (place, (count, bytes)) in &places {
        println!("  {place:<10} {count:>4} sources, {bytes:>9} bytes");
    }
    println!(
        "  {log_lines} {} log lines {levels:?}, {request_ids} request ids found in them, {audit_events} audit events over the API, {audit_rows} rows of audit_events, {urls} generated URLs",
        format.as_str()
    );
    let phases: Vec<String> = phases
        .iter()
        .map(|(name, at)| format!("{name} {:.1}", at.as_secs_f64()))
        .collect();
    println!("timeline (s): {}", phases.join(", "));
    println!(
        "findings: {}; took {:.1} s",
        found.len(),
        elapsed.as_secs_f64()
    );
    for finding in &found {
        println!("FINDING: {finding}");
    }
    assert!(
        found.is_empty(),
        "{} secret leak(s):\n{}",
        found.len(),
        found.join("\n")
    );
}

/// Every response's `X-Request-Id` is a request id of the logs; with JSON logs, every line is a
/// JSON object, every request's completion line has its `request_id`, method, route, status
/// and latency, and the lines logged inside requests (sqlx's statements, say) carry the id too.
/// Returns how many response ids were found.
fn check_request_ids(sources: &[Source], log_text: &str, format: LogFormat) -> usize {
    let response_ids: Vec<String> = sources
        .iter()
        .filter(|src| src.place == Place::Response)
        .filter_map(|src| {
            String::from_utf8_lossy(&src.text)
                .lines()
                .find_map(|line| line.strip_prefix("x-request-id: ").map(str::to_string))
        })
        .collect();
    let responses = sources
        .iter()
        .filter(|src| src.place == Place::Response)
        .count();
    assert_eq!(
        response_ids.len(),
        responses,
        "responses without an X-Request-Id"
    );
    let logged: HashSet<String> = match format {
        LogFormat::Text => {
            // `request{request_id=... method=... route=...}: ...`
            log_text
                .split("request_id=")
                .skip(1)
                .filter_map(|rest| rest.split([' ', '}']).next())
                .map(str::to_string)
                .collect()
        }
        LogFormat::Json => {
            let mut logged = HashSet::new();
            let mut inside = 0;
            for (number, line) in log_text.lines().enumerate() {
                let value: Value = serde_json::from_str(line).unwrap_or_else(|err| {
                    panic!("log line {} is not JSON ({err}): {line}", number + 1)
                });
                assert!(
                    value.is_object(),
                    "log line {} is not an object: {line}",
                    number + 1
                );
                for field in ["timestamp", "level", "target"] {
                    assert!(value[field].is_string(), "no {field}: {line}");
                }
                let span = &value["span"];
                if value["message"] == "request completed" {
                    assert_eq!(span["name"], "request", "{line}");
                    for field in ["request_id", "method", "route"] {
                        assert!(span[field].is_string(), "no {field}: {line}");
                    }
                    assert!(value["status"].is_u64(), "no status: {line}");
                    assert!(value["latency_ms"].is_f64(), "no latency: {line}");
                    logged.insert(span["request_id"].as_str().unwrap().to_string());
                } else if value["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|s| s["name"] == "request"))
                {
                    let request = value["spans"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|s| s["name"] == "request")
                        .unwrap();
                    assert!(request["request_id"].is_string(), "{line}");
                    inside += 1;
                }
            }
            assert!(
                inside > 100,
                "only {inside} lines logged inside requests carry a request span"
            );
            logged
        }
    };
    let missing: Vec<&String> = response_ids
        .iter()
        .filter(|id| !logged.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} responses' X-Request-Id not in the {} logs, such as {:?}",
        missing.len(),
        response_ids.len(),
        format.as_str(),
        missing.iter().take(3).collect::<Vec<_>>()
    );
    response_ids.len()
}

/// Password logins (right and wrong), users created and their passwords changed. Returns the
/// session tokens of the admin and of a tenant user, `analyst`.
async fn passwords_and_users(s: &mut Scenario, admin_password: &str) -> (String, String) {
    let wrong = s.typed("wrong password (admin)", password());
    s.login("admin", &wrong).await.expect(401);
    let wrong = s.typed("wrong password (unknown user)", password());
    s.login("nobody-here", &wrong).await.expect(401);
    // Invalid bodies that carry a password: not JSON, cut short, wrong content type.
    let cut = s.typed("password in a malformed login body", password());
    let r = s
        .send(
            s.post("/api/v1/auth/login")
                .header("content-type", "application/json")
                .body(format!("{{\"username\": \"admin\", \"password\": \"{cut}")),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .send(
            s.post("/api/v1/auth/login")
                .header("content-type", "text/plain")
                .body(format!("admin:{cut}")),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = s.login("admin", admin_password).await;
    r.expect(200);
    let admin = s.issued_one(r.index, "session token (admin, password login)");
    s.send(s.get("/api/v1/me").bearer_auth(&admin))
        .await
        .expect(200);

    // A user with a password, who logs in, whose password an administrator changes.
    let analyst_pw = s.typed("password (analyst)", password());
    s.send(s.post("/api/v1/users").bearer_auth(&admin).json(&json!({
        "username": "analyst",
        "password": analyst_pw,
        "access_level": "tenant-user",
    })))
    .await
    .expect(201);
    let r = s.login("analyst", &analyst_pw).await;
    r.expect(200);
    s.issued_one(r.index, "session token (analyst)");
    let analyst_pw2 = s.typed("password (analyst, changed)", password());
    s.send(
        s.patch("/api/v1/users/analyst")
            .bearer_auth(&admin)
            .json(&json!({ "password": analyst_pw2 })),
    )
    .await
    .expect(200);
    let r = s.login("analyst", &analyst_pw2).await;
    r.expect(200);
    let analyst = s.issued_one(r.index, "session token (analyst)");
    // A password too long for the policy is refused, not echoed.
    let long = s.typed("password (too long)", password().repeat(30));
    let r = s
        .send(s.post("/api/v1/users").bearer_auth(&admin).json(&json!({
            "username": "longpass",
            "password": long,
        })))
        .await;
    assert!(r.status.is_client_error());
    s.send(s.get("/api/v1/users").bearer_auth(&admin))
        .await
        .expect(200);
    s.send(s.get("/api/v1/users/analyst").bearer_auth(&admin))
        .await
        .expect(200);
    (admin, analyst)
}

/// Personal API tokens over HTTP: create, use, comment, list, revoke, delete; at the end every
/// token of the user `analyst` (whose session is `session`) is revoked.
async fn personal_tokens(s: &mut Scenario, admin: &str, session: &str) {
    let r = s
        .send(
            s.post("/api/v1/tokens")
                .bearer_auth(session)
                .json(&json!({"name": "ci_pipeline", "comment": "CI", "expires_in": "30d"})),
        )
        .await;
    r.expect(201);
    let ci_id = r.str("id");
    let ci = s.issued_one(r.index, "API token (HTTP)");
    s.send(s.get("/api/v1/me").bearer_auth(&ci))
        .await
        .expect(200);
    s.send(s.get("/api/v1/auth/verify").bearer_auth(&ci))
        .await
        .expect(200);
    s.send(s.get("/api/v1/auth/verify").header("x-api-key", &ci))
        .await
        .expect(200);
    s.send(s.get("/api/v1/tokens").bearer_auth(&ci))
        .await
        .expect(200);
    s.send(s.get(&format!("/api/v1/tokens/{ci_id}")).bearer_auth(&ci))
        .await
        .expect(200);
    s.send(
        s.patch(&format!("/api/v1/tokens/{ci_id}"))
            .bearer_auth(&ci)
            .json(&json!({"comment": "CI, nightly"})),
    )
    .await
    .expect(200);

    // An administrator's token for another user, and the user's list.
    let r = s
        .send(
            s.post("/api/v1/tokens")
                .bearer_auth(admin)
                .json(&json!({"for_user": "analyst", "name": "report_bot", "expires_in": "7d"})),
        )
        .await;
    r.expect(201);
    let bot = s.issued_one(r.index, "API token (for another user)");
    s.send(s.get("/api/v1/users/analyst/tokens").bearer_auth(admin))
        .await
        .expect(200);
    s.send(s.get("/api/v1/tokens?all=true").bearer_auth(session))
        .await
        .expect(200);

    // Revoke by id, self-revoke, delete.
    s.send(
        s.post(&format!("/api/v1/tokens/revoke/{ci_id}"))
            .bearer_auth(session),
    )
    .await
    .expect(200);
    assert_eq!(s.status_with_bearer(&ci).await, 401);
    s.send(s.post("/api/v1/tokens/revoke/self").bearer_auth(&bot))
        .await
        .expect(200);
    assert_eq!(s.status_with_bearer(&bot).await, 401);
    let r = s
        .send(
            s.post("/api/v1/tokens")
                .bearer_auth(session)
                .json(&json!({"name": "scratch"})),
        )
        .await;
    r.expect(201);
    let scratch_id = r.str("id");
    let scratch = s.issued_one(r.index, "API token (HTTP)");
    let r = s
        .send(
            s.delete(&format!("/api/v1/tokens/{scratch_id}"))
                .bearer_auth(admin),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(s.status_with_bearer(&scratch).await, 401);
    // Bad input.
    let r = s
        .send(
            s.post("/api/v1/tokens")
                .bearer_auth(session)
                .json(&json!({"expires_in": "forever"})),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = s
        .send(
            s.post("/api/v1/tokens")
                .bearer_auth(session)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(r.status, 400);
    s.send(
        s.post("/api/v1/users/analyst/tokens/revoke")
            .bearer_auth(admin),
    )
    .await
    .expect(200);
}

/// A service user and its client id.
struct Robot {
    id: String,
    key: String,
}

/// Service users over HTTP, key rotation with and without grace, and OAuth2.
async fn service_users_and_oauth(s: &mut Scenario, admin: &str) -> Robot {
    let r = s
        .send(
            s.post("/api/v1/service-users")
                .bearer_auth(admin)
                .json(&json!({
                    "name": "etl-pipeline",
                    "access_level": "tenant-user",
                    "description": "nightly loads",
                })),
        )
        .await;
    r.expect(201);
    let id = r.str("id");
    let key1 = s.issued_one(r.index, "API key (HTTP)");
    assert_eq!(s.status_with_key(&key1).await, 200);
    assert_eq!(s.status_with_bearer(&key1).await, 200);
    s.send(s.get("/api/v1/service-users").bearer_auth(admin))
        .await
        .expect(200);
    s.send(
        s.get("/api/v1/service-users/etl-pipeline")
            .bearer_auth(admin),
    )
    .await
    .expect(200);

    // Rotation with a grace period: both work until the new one is used.
    let r = s
        .send(
            s.post("/api/v1/service-users/etl-pipeline/rotate-key")
                .bearer_auth(admin)
                .json(&json!({"grace": "1h"})),
        )
        .await;
    r.expect(200);
    let key2 = s.issued_one(r.index, "API key (rotated with grace, HTTP)");
    assert_eq!(s.status_with_key(&key1).await, 200);
    assert_eq!(s.status_with_key(&key2).await, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.status_with_key(&key1).await, 401);
    // Rotation without: the old key stops at once.
    let r = s
        .send(
            s.post(&format!("/api/v1/service-users/{id}/rotate-key"))
                .bearer_auth(admin),
        )
        .await;
    r.expect(200);
    let key3 = s.issued_one(r.index, "API key (rotated, HTTP)");
    assert_eq!(s.status_with_key(&key2).await, 401);
    assert_eq!(s.status_with_key(&key3).await, 200);
    s.send(
        s.patch("/api/v1/service-users/etl-pipeline")
            .bearer_auth(admin)
            .json(&json!({"description": "nightly loads, v2"})),
    )
    .await
    .expect(200);
    s.send(
        s.post("/api/v1/service-users/etl-pipeline/disable")
            .bearer_auth(admin),
    )
    .await
    .expect(200);
    assert_eq!(s.status_with_key(&key3).await, 401);
    s.send(
        s.post("/api/v1/service-users/etl-pipeline/enable")
            .bearer_auth(admin),
    )
    .await
    .expect(200);
    assert_eq!(s.status_with_key(&key3).await, 200);

    // OAuth2 client credentials: form fields, HTTP Basic, JSON, the Iceberg path.
    let r = s
        .send(
            s.post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &key3),
                ])),
        )
        .await;
    r.expect(200);
    let access1 = s.issued_one(r.index, "OAuth access token (form)");
    let basic = s.basic("HTTP Basic client credentials", &id, &key3);
    let r = s
        .send(
            s.post("/oauth/token")
                .header("authorization", format!("Basic {basic}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&scope="),
        )
        .await;
    r.expect(200);
    let access2 = s.issued_one(r.index, "OAuth access token (HTTP Basic)");
    let r = s
        .send(s.post("/oauth/token").json(&json!({
            "grant_type": "client_credentials",
            "client_id": id,
            "client_secret": key3,
        })))
        .await;
    r.expect(200);
    s.issued_one(r.index, "OAuth access token (JSON)");
    let r = s
        .send(
            s.post("/v1/oauth/tokens")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &key3),
                ])),
        )
        .await;
    r.expect(200);
    s.issued_one(r.index, "OAuth access token (Iceberg path)");
    // Token exchange of an access token for a fresh one.
    let r = s
        .send(
            s.post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token", &access1),
                    ("subject_token_type", ACCESS_TOKEN_TYPE),
                ])),
        )
        .await;
    r.expect(200);
    s.issued_one(r.index, "OAuth access token (token exchange)");

    // Use, introspect, revoke.
    s.send(s.get("/api/v1/auth/verify").bearer_auth(&access1))
        .await
        .expect(200);
    s.send(s.get("/api/v1/me").bearer_auth(&access1))
        .await
        .expect(200);
    let r = s
        .send(
            s.post("/oauth/introspect")
                .header("authorization", format!("Basic {basic}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", &access1)])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["active"], true);
    let r = s
        .send(
            s.post("/oauth/introspect")
                .bearer_auth(admin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", &key3), ("token_type_hint", "api_key")])),
        )
        .await;
    r.expect(200);
    s.send(
        s.post("/oauth/revoke")
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("token", &access2),
                ("token_type_hint", "access_token"),
            ])),
    )
    .await
    .expect(200);
    let r = s
        .send(
            s.post("/oauth/introspect")
                .bearer_auth(admin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", &access2)])),
        )
        .await;
    assert_eq!(r.json()["active"], false);
    assert_eq!(s.status_with_bearer(&access2).await, 401);
    // An API key cannot be revoked here: refused, not echoed.
    let r = s
        .send(
            s.post("/oauth/revoke")
                .bearer_auth(admin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", &key3)])),
        )
        .await;
    assert!(r.status.is_client_error() || r.status.is_success());

    // Wrong secrets: unknown key, superseded key, a key with one character changed, and the
    // fields swapped (the secret sent as the client id).
    let unknown = s.typed("wrong client secret (unknown API key)", unknown_key());
    let mistyped = s.forged(
        "wrong client secret (one character changed)",
        tampered(&key3, 10),
        &key3,
    );
    for secret in [&unknown, &key1, &mistyped] {
        s.send(
            s.post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", secret),
                ])),
        )
        .await
        .expect(401);
    }
    s.send(
        s.post("/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &key3),
                ("client_secret", &id),
            ])),
    )
    .await
    .expect(401);
    let wrong_basic = s.basic(
        "HTTP Basic client credentials (wrong secret)",
        &id,
        &unknown,
    );
    s.send(
        s.post("/oauth/token")
            .header("authorization", format!("Basic {wrong_basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
    )
    .await
    .expect(401);
    s.send(s.get("/.well-known/oauth-authorization-server"))
        .await
        .expect(200);
    s.send(s.get("/.well-known/jwks.json")).await.expect(200);
    Robot { id, key: key3 }
}

/// The command language over HTTP: statements that issue credentials, and passwords in
/// statements that work and that fail.
async fn sql_statements(s: &mut Scenario, admin: &str) {
    let r = s
        .sql(
            admin,
            "CREATE API TOKEN sql_token MAX DURATION '7d' COMMENT 'from SQL';",
        )
        .await;
    r.expect(200);
    let token = s.issued_one(r.index, "API token (SQL)");
    assert_eq!(s.status_with_bearer(&token).await, 200);
    let r = s
        .sql(
            admin,
            "CREATE SERVICE USER sql_robot ACCESS LEVEL 'tenant-user' DESCRIPTION 'from SQL';\nALTER SERVICE USER sql_robot ROTATE KEY GRACE '1h';",
        )
        .await;
    r.expect(200);
    let keys = s.issued(r.index, "API key (SQL)");
    assert_eq!(keys.len(), 2, "{}", r.body);
    let r = s
        .sql(admin, "ALTER SERVICE USER sql_robot ROTATE KEY;")
        .await;
    r.expect(200);
    let key = s.issued_one(r.index, "API key (SQL, rotated)");
    assert_eq!(s.status_with_key(&key).await, 200);
    // The same as a text/plain script.
    let r = s
        .send(
            s.post("/api/v1/sql")
                .bearer_auth(admin)
                .header("content-type", "text/plain")
                .body("CREATE API TOKEN sql_plain;"),
        )
        .await;
    r.expect(200);
    s.issued_one(r.index, "API token (SQL, text/plain)");

    // Passwords in statements.
    let pw1 = s.typed("password (CREATE USER ... PASSWORD)", password());
    s.sql(
        admin,
        &format!("CREATE USER sql_user PASSWORD '{pw1}' ACCESS LEVEL 'tenant-user';"),
    )
    .await
    .expect(200);
    let r = s.login("sql_user", &pw1).await;
    r.expect(200);
    s.issued_one(r.index, "session token (sql_user)");
    let pw2 = s.typed("password (ALTER USER ... SET PASSWORD)", password());
    s.sql(admin, &format!("ALTER USER sql_user SET PASSWORD '{pw2}';"))
        .await
        .expect(200);
    let r = s.login("sql_user", &pw2).await;
    r.expect(200);
    s.issued_one(r.index, "session token (sql_user)");
    // Failing statements that carry a password: a conflict, syntax errors with the password
    // where it belongs and where it does not, an unknown user, a later statement failing, and
    // a user who may not do it.
    let failing = [
        ("CREATE USER sql_user PASSWORD '{pw}';", 409),
        ("ALTER USER sql_user SET PASSWORD '{pw}' NOW;", 400),
        ("CREATE USER other_user PASSWORD {pw};", 400),
        ("CREATE USER other_user PASSWORD \"{pw}\";", 400),
        ("CREATE USER other_user '{pw}';", 400),
        ("ALTER USER nobody_here SET PASSWORD '{pw}';", 404),
        (
            "ALTER USER sql_user SET PASSWORD '{pw}'; SHOW NONSENSE;",
            400,
        ),
        (
            "SHOW USERS; ALTER USER sql_user SET PASSWORD '{pw}'; DROP ROLE no_such_role;",
            404,
        ),
        ("ALTER USER sql_user SET PASSWORD '{pw}", 400),
    ];
    for (template, status) in failing {
        let pw = s.typed("password (in a failing SQL statement)", password());
        let r = s.sql(admin, &template.replace("{pw}", &pw)).await;
        assert_eq!(r.status.as_u16(), status, "{template}: {}", r.body);
    }
    // A tenant user may not create users.
    let analyst_session = {
        let r = s
            .send(
                s.post("/api/v1/sql")
                    .bearer_auth(admin)
                    .json(&json!({"sql": "CREATE API TOKEN analyst_sql FOR USER analyst;"})),
            )
            .await;
        r.expect(200);
        s.issued_one(r.index, "API token (SQL, for another user)")
    };
    let pw = s.typed("password (in a forbidden SQL statement)", password());
    let r = s
        .sql(
            &analyst_session,
            &format!("CREATE USER forbidden_user PASSWORD '{pw}';"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    for script in [
        "SHOW API TOKENS ALL;",
        "SHOW API TOKENS FOR USER analyst ALL;",
        "SHOW SERVICE USERS;",
        "SHOW USERS;",
        "SHOW AUDIT LIMIT 1000;",
    ] {
        s.sql(admin, script).await.expect(200);
    }
}

/// The CLI, as its users run it: password login, tokens, service users, users, SQL, audit.
fn cli(s: &mut Scenario, admin_password: &str) {
    let admin = Cli::new();
    let wrong = s.typed("wrong password (CLI login)", password());
    let run = s.cli(
        &admin,
        &["login", "--username", "admin", "--password-stdin"],
        Some(&wrong),
    );
    assert_eq!(run.code, 1);
    let run = s.cli(
        &admin,
        &["login", "--username", "admin", "--password-stdin"],
        Some(admin_password),
    );
    assert_eq!(run.code, 0);
    let session = admin.saved_token();
    s.register(
        "session token (CLI login, in the profile)",
        &session,
        Shape::Jwt,
        None,
    );
    assert_eq!(s.cli(&admin, &["whoami"], None).code, 0);

    let run = s.cli(
        &admin,
        &[
            "token",
            "create",
            "--description",
            "GitHub Actions",
            "--expires-in",
            "7d",
        ],
        None,
    );
    assert_eq!(run.code, 0);
    let token = s.issued_one(run.index, "API token (CLI)");
    assert_eq!(token, run.stdout.trim());
    let run = s.cli(
        &admin,
        &[
            "token",
            "create",
            "--for-user",
            "analyst",
            "--name",
            "cli_for_analyst",
            "--description",
            "reports",
        ],
        None,
    );
    assert_eq!(run.code, 0);
    s.issued_one(run.index, "API token (CLI, for another user)");
    assert_eq!(s.cli(&admin, &["token", "list"], None).code, 0);
    assert_eq!(
        s.cli(&admin, &["token", "list", "--output", "json"], None)
            .code,
        0
    );

    let run = s.cli(
        &admin,
        &[
            "service-user",
            "create",
            "--name",
            "cli-robot",
            "--role",
            "TenantUser",
        ],
        None,
    );
    assert_eq!(run.code, 0);
    s.issued_one(run.index, "API key (CLI)");
    let run = s.cli(
        &admin,
        &["service-user", "rotate-key", "cli-robot", "--grace", "1h"],
        None,
    );
    assert_eq!(run.code, 0);
    s.issued_one(run.index, "API key (CLI, rotated with grace)");
    let run = s.cli(&admin, &["service-user", "rotate-key", "cli-robot"], None);
    assert_eq!(run.code, 0);
    s.issued_one(run.index, "API key (CLI, rotated)");
    assert_eq!(s.cli(&admin, &["service-user", "list"], None).code, 0);

    let pw = s.typed("password (CLI user create)", password());
    let run = s.cli(
        &admin,
        &[
            "user",
            "create",
            "--username",
            "cli_user",
            "--password-stdin",
        ],
        Some(&pw),
    );
    assert_eq!(run.code, 0);
    let pw = s.typed("password (CLI user update)", password());
    let run = s.cli(
        &admin,
        &["user", "update", "cli_user", "--password-stdin"],
        Some(&pw),
    );
    assert_eq!(run.code, 0);
    let run = s.cli(
        &admin,
        &[
            "sql",
            "CREATE API TOKEN cli_sql COMMENT 'via the CLI';",
            "--output",
            "json",
        ],
        None,
    );
    assert_eq!(run.code, 0);
    s.issued_one(run.index, "API token (CLI sql)");
    let pw = s.typed("password (CLI sql ALTER USER)", password());
    let run = s.cli(
        &admin,
        &["sql", &format!("ALTER USER cli_user SET PASSWORD '{pw}';")],
        None,
    );
    assert_eq!(run.code, 0);
    let pw = s.typed("password (CLI sql, syntax error)", password());
    let run = s.cli(
        &admin,
        &["sql", &format!("ALTER USER cli_user SET PASSWORD {pw};")],
        None,
    );
    assert_eq!(run.code, 1);
    assert_eq!(s.cli(&admin, &["audit"], None).code, 0);
    assert_eq!(s.cli(&admin, &["audit", "--output", "json"], None).code, 0);

    // Log in with the token, then log out (revokes it).
    let ci = Cli::new();
    assert_eq!(s.cli(&ci, &["login", "--with-token"], Some(&token)).code, 0);
    assert_eq!(s.cli(&ci, &["whoami"], None).code, 0);
    assert_eq!(s.cli(&ci, &["logout"], None).code, 0);
    assert_eq!(s.cli(&ci, &["whoami"], None).code, 1);
    // A forged token, and a token pasted where an id goes.
    let forged = s.forged("forged token (CLI)", tampered(&token, 5), &token);
    let other = Cli::new();
    assert_eq!(
        s.cli(&other, &["login", "--with-token"], Some(&forged))
            .code,
        1
    );
    let run = s.cli(&admin, &["revoke-token-by-id", "--id", &session], None);
    assert_ne!(run.code, 0);
    assert_eq!(s.cli(&admin, &["logout"], None).code, 0);
}

/// The web UI: login (wrong and right), the tokens page and its forms, the service users page
/// and its forms, the administration pages, logout.
async fn web_ui(s: &mut Scenario, admin_password: &str, admin: &str) {
    let r = s.send(s.get("/ui/login")).await;
    r.expect(200);
    let login_cookie = r.cookie("jeton_login_csrf").expect("no login cookie");
    let login_csrf = r.csrf();
    let wrong = s.typed("wrong password (web UI)", password());
    let r = s
        .send(
            s.post("/ui/login")
                .header("cookie", format!("jeton_login_csrf={login_cookie}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("csrf", &login_csrf),
                    ("next", "/ui/settings/tokens"),
                    ("username", "admin"),
                    ("password", &wrong),
                ])),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Without the form token: refused, the password not shown again.
    let r = s
        .send(
            s.post("/ui/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("username", "admin"), ("password", admin_password)])),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .send(
            s.post("/ui/login")
                .header("cookie", format!("jeton_login_csrf={login_cookie}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("csrf", &login_csrf),
                    ("next", "/ui/settings/tokens"),
                    ("username", "admin"),
                    ("password", admin_password),
                ])),
        )
        .await;
    r.expect(303);
    let cookie = r.cookie("auth_token").expect("no session cookie");
    let issued = s.issued_one(r.index, "session cookie (web UI)");
    assert_eq!(issued, cookie);
    let jar = format!("auth_token={cookie}");

    let r = s
        .send(s.get("/ui/settings/tokens").header("cookie", &jar))
        .await;
    r.expect(200);
    let csrf = r.csrf();
    let post = |s: &Scenario, path: &str, fields: &[(&str, &str)]| {
        s.post(path)
            .header("cookie", &jar)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields))
    };
    let r = s
        .send(post(
            s,
            "/ui/settings/tokens",
            &[
                ("csrf", &csrf),
                ("name", "ui_token"),
                ("expires", "30d"),
                ("expires_custom", ""),
                ("comment", "from the UI"),
                ("scopes", ""),
            ],
        ))
        .await;
    r.expect(200);
    let ui_token = s.issued_one(r.index, "API token (web UI)");
    assert_eq!(s.status_with_bearer(&ui_token).await, 200);
    // A form error re-shows the form, never a value.
    let r = s
        .send(post(
            s,
            "/ui/settings/tokens",
            &[("csrf", &csrf), ("name", "ui_bad"), ("expires", "custom")],
        ))
        .await;
    assert!(r.status.is_client_error());
    let r = s
        .send(post(s, "/ui/settings/tokens", &[("name", "no_csrf")]))
        .await;
    assert_eq!(r.status, 403);
    s.send(s.get("/ui/settings/tokens?all=1").header("cookie", &jar))
        .await
        .expect(200);
    let r = s
        .send(s.get("/api/v1/tokens?all=true").bearer_auth(admin))
        .await;
    let id = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ui_token")
        .map(|t| t["id"].as_str().unwrap().to_string())
        .expect("ui_token not listed");
    s.send(post(
        s,
        &format!("/ui/settings/tokens/{id}/comment"),
        &[("csrf", &csrf), ("comment", "edited in the UI")],
    ))
    .await
    .expect(303);
    s.send(post(
        s,
        &format!("/ui/settings/tokens/{id}/revoke"),
        &[("csrf", &csrf)],
    ))
    .await
    .expect(200);
    s.send(post(
        s,
        &format!("/ui/settings/tokens/{id}/revoke"),
        &[("csrf", &csrf), ("confirmed", "1")],
    ))
    .await
    .expect(303);
    assert_eq!(s.status_with_bearer(&ui_token).await, 401);

    // Service users: create (key shown once), rotate with and without grace.
    s.send(s.get("/ui/identity/service-users").header("cookie", &jar))
        .await
        .expect(200);
    let r = s
        .send(post(
            s,
            "/ui/identity/service-users",
            &[
                ("csrf", &csrf),
                ("name", "ui-robot"),
                ("role", "TenantUser"),
                ("expires", "30d"),
                ("expires_custom", ""),
                ("description", "from the UI"),
            ],
        ))
        .await;
    r.expect(200);
    let key = s.issued_one(r.index, "API key (web UI)");
    assert_eq!(s.status_with_key(&key).await, 200);
    let r = s
        .send(s.get("/api/v1/service-users/ui-robot").bearer_auth(admin))
        .await;
    let id = r.str("id");
    for (grace, kind) in [
        ("1h", "API key (web UI, rotated with grace)"),
        ("", "API key (web UI, rotated)"),
    ] {
        let r = s
            .send(post(
                s,
                &format!("/ui/identity/service-users/{id}/rotate"),
                &[("csrf", &csrf), ("grace", grace)],
            ))
            .await;
        r.expect(200);
        s.issued_one(r.index, kind);
    }
    s.send(post(
        s,
        &format!("/ui/identity/service-users/{id}/disable"),
        &[("csrf", &csrf)],
    ))
    .await
    .expect(303);

    for page in [
        "/",
        "/ui",
        "/ui/settings/tokens",
        "/ui/identity/service-users",
        "/ui/admin/users",
        "/ui/admin/users/analyst",
        "/ui/admin/roles",
        "/ui/audit",
        "/ui/audit?user=admin",
        "/ui/no-such-page",
    ] {
        let r = s.send(s.get(page).header("cookie", &jar)).await;
        assert!(r.status.as_u16() < 500, "{page}: {}", r.status);
    }
    // Without a session, and with a forged one: to the login page.
    s.send(s.get("/ui/settings/tokens?all=1")).await.expect(303);
    let forged = s.forged("forged session cookie", tampered(&cookie, 3), &cookie);
    s.send(
        s.get("/ui/settings/tokens")
            .header("cookie", format!("auth_token={forged}")),
    )
    .await
    .expect(303);
    s.send(s.get("/ui/login?next=/ui/audit").header("cookie", &jar))
        .await
        .expect(303);
    // Log out: the cookie stops working.
    s.send(post(s, "/ui/logout", &[("csrf", &csrf)]))
        .await
        .expect(303);
    s.send(s.get("/ui/settings/tokens").header("cookie", &jar))
        .await
        .expect(303);
}

/// Errors: forged, cut and mistyped credentials, secrets where an id goes, unknown paths,
/// invalid bodies.
async fn errors(s: &mut Scenario, admin: &str, robot: &Robot) {
    let forged_jwt = s.forged(
        "forged token (signature changed)",
        tampered(admin, 4),
        admin,
    );
    let cut_jwt = s.forged(
        "forged token (cut short)",
        admin[..admin.len() - 6].to_string(),
        admin,
    );
    let mistyped_key = s.forged(
        "mistyped API key (bad checksum)",
        tampered(&robot.key, 20),
        &robot.key,
    );
    let unknown = s.typed("unknown API key (valid checksum)", unknown_key());
    for credential in [&forged_jwt, &cut_jwt, &mistyped_key, &unknown] {
        assert_eq!(s.status_with_bearer(credential).await, 401);
        assert_eq!(s.status_with_key(credential).await, 401);
    }
    let padded = format!("{admin}AAAA");
    assert_eq!(s.status_with_bearer(&padded).await, 401);
    // A password where a token goes, a key where the username goes.
    let pw = s.typed("password sent as a bearer token", password());
    assert_eq!(s.status_with_bearer(&pw).await, 401);
    let wrong = s.typed("wrong password (API key as the username)", password());
    s.login(&robot.key, &wrong).await.expect(401);
    // A credential pasted where an id goes, with a good and with a bad credential. (Not a
    // password: pasted where a name goes, nothing tells it from a name.)
    let paths = [
        format!("/api/v1/tokens/{}", robot.key),
        format!("/api/v1/tokens/{admin}"),
        format!("/api/v1/service-users/{}", robot.key),
        format!("/api/v1/service-users/{admin}"),
        format!("/api/v1/users/{}", robot.key),
    ];
    for path in &paths {
        let r = s.send(s.get(path).bearer_auth(admin)).await;
        assert!(r.status.is_client_error(), "{}", r.status);
        let r = s.send(s.get(path).bearer_auth(&forged_jwt)).await;
        assert_eq!(r.status, 401);
    }
    let r = s
        .send(
            s.post(&format!("/api/v1/tokens/revoke/{}", robot.key))
                .bearer_auth(admin),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = s
        .send(
            s.post(&format!("/api/v1/service-users/{}/rotate-key", robot.key))
                .bearer_auth(admin),
        )
        .await;
    assert!(r.status.is_client_error());
    // Unknown paths, unknown ids, invalid bodies and queries.
    for path in [
        "/api/v1/nope",
        "/nope",
        "/api/v1/tokens/01900000-0000-7000-8000-000000000000",
    ] {
        let r = s.send(s.get(path).bearer_auth(admin)).await;
        assert!(r.status.is_client_error());
    }
    let r = s
        .send(
            s.post("/api/v1/service-users")
                .bearer_auth(admin)
                .json(&json!({"name": 42})),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = s
        .send(s.get("/api/v1/audit?limit=huge").bearer_auth(admin))
        .await;
    assert!(r.status.is_client_error());
    let r = s
        .send(
            s.post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "password"),
                    ("username", "admin"),
                    ("password", &pw),
                ])),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = s
        .send(
            s.post("/oauth/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", admin)])),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .send(
            s.post("/oauth/token")
                .header("content-type", "application/json")
                .body(format!(
                    "{{\"grant_type\":\"client_credentials\",\"client_id\":\"{}\",\"client_secret\":\"{}\"",
                    robot.id, robot.key
                )),
        )
        .await;
    assert!(r.status.is_client_error());
}

/// Every audit event over the API, as the root administrator, page by page. Returns how many.
async fn read_audit(s: &mut Scenario, admin: &str) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/audit?limit=500".to_string();
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&{}", form(&[("cursor", cursor)])));
        }
        let r = s
            .send_as(Place::AuditApi, s.get(&path).bearer_auth(admin))
            .await;
        r.expect(200);
        let page = r.json();
        count += page["items"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    for filter in [
        "user=analyst",
        "action=auth",
        "action=oauth",
        "action=api_key",
    ] {
        s.send_as(
            Place::AuditApi,
            s.get(&format!("/api/v1/audit?limit=500&{filter}"))
                .bearer_auth(admin),
        )
        .await
        .expect(200);
    }
    assert!(count > 50, "only {count} audit events");
    count
}

/// After the stop: the raw `audit_events` table, and the server's own secrets (its signing keys
/// and its API-key hashing secret, opened with the master key beside the database), to search
/// for everywhere, the database files included. Returns the number of audit rows.
async fn raw_database(s: &mut Scenario, path: &Path) -> usize {
    use sqlx::{Connection, Row};
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let mut db = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("cannot open the database");
    let rows = sqlx::query(
        "SELECT CAST(id AS TEXT), CAST(at AS TEXT), tenant_id, actor_id, actor_name, action, \
         target_type, target_id, target_name, outcome, client_addr, details \
         FROM audit_events ORDER BY id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for row in &rows {
        let values: Vec<String> = (0..12)
            .map(|i| row.get::<Option<String>, _>(i).unwrap_or_default())
            .collect();
        s.sources.push(Source {
            place: Place::AuditTable,
            name: format!("audit_events row id={} ({})", values[0], values[5]),
            text: values.join(" | ").into_bytes(),
            urls: Vec::new(),
        });
    }
    use jeton_server::master_key::{API_KEY_SECRET_CONTEXT, MasterKey, signing_key_context};
    let master = MasterKey::read(Path::new(&format!("{}.master-key", path.display())))
        .expect("the master key beside the database");
    let sealed: String =
        sqlx::query("SELECT value FROM settings WHERE key = 'api_key_hmac_secret'")
            .fetch_one(&mut db)
            .await
            .unwrap()
            .get(0);
    let hmac = master
        .open(API_KEY_SECRET_CONTEXT, &sealed, "API-key hashing secret")
        .unwrap();
    s.register(
        "server secret: API-key hashing secret",
        std::str::from_utf8(&hmac).unwrap(),
        Shape::Server,
        None,
    );
    let keys = sqlx::query("SELECT kid, private_key FROM signing_keys")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        let kid: String = key.get(0);
        let sealed: Vec<u8> = key.get(1);
        let der = master
            .open(
                &signing_key_context(&kid),
                std::str::from_utf8(&sealed).unwrap(),
                &kid,
            )
            .unwrap()
            .to_vec();
        // The 32-byte seed: the OCTET STRING inside the OCTET STRING of PKCS#8.
        let seed = der
            .windows(4)
            .position(|w| w == [0x04, 0x22, 0x04, 0x20])
            .map(|at| der[at + 4..at + 36].to_vec())
            .expect("no Ed25519 seed in the PKCS#8 key");
        for (what, bytes) in [("PKCS#8", &der), ("seed", &seed)] {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let debug = format!("{bytes:?}");
            let encodings = [
                ("raw", bytes.clone()),
                ("hex", hex.clone().into_bytes()),
                ("HEX", hex.to_uppercase().into_bytes()),
                ("base64", STANDARD.encode(bytes).into_bytes()),
                ("base64", STANDARD_NO_PAD.encode(bytes).into_bytes()),
                ("base64url", URL_SAFE.encode(bytes).into_bytes()),
                ("base64url", URL_SAFE_NO_PAD.encode(bytes).into_bytes()),
                ("Debug", debug.as_bytes()[1..debug.len() - 1].to_vec()),
            ];
            for (encoding, value) in encodings {
                if s.secrets.iter().any(|x| x.value == value) {
                    continue;
                }
                s.secrets.push(Secret {
                    kind: format!("server secret: signing key ({what}, {encoding})"),
                    value,
                    shape: Shape::Server,
                    creator: None,
                    derived_from: None,
                });
            }
        }
    }
    db.close().await.unwrap();
    rows.len()
}

// --- the search itself ---------------------------------------------------------------------------

#[test]
fn the_search_finds_whole_values_signatures_pieces_and_urls() {
    let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU";
    let key = "jsk_qGR4EbcEPY7tIwaSv2hrIIKEIVi4IKlmczaUG7mpZkq0eJmFo";
    let secrets = vec![
        Secret {
            kind: "token".into(),
            value: jwt.as_bytes().to_vec(),
            shape: Shape::Jwt,
            creator: Some(0),
            derived_from: None,
        },
        Secret {
            kind: "key".into(),
            value: key.as_bytes().to_vec(),
            shape: Shape::ApiKey,
            creator: None,
            derived_from: None,
        },
    ];
    let source = |place, text: &str, urls: Vec<String>| Source {
        place,
        name: "test".into(),
        text: text.as_bytes().to_vec(),
        urls,
    };
    // The creating response may hold the token; a key hint (prefix and 4 characters) is fine.
    let clean = vec![
        source(Place::Response, &format!("{{\"token\":\"{jwt}\"}}"), vec![]),
        source(Place::Log, "key_hint=jsk_qGR4… kid=abc", vec![]),
    ];
    assert_eq!(findings(&secrets, &clean), Vec::<String>::new());
    let leaky = [
        source(Place::Log, &format!("x {jwt} y"), vec![]),
        source(
            Place::Log,
            "sig=c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU",
            vec![],
        ),
        source(Place::Log, "part=bmF0dXJlLXNpZ25h!", vec![]),
        source(
            Place::Log,
            "body=qGR4EbcEPY7tIwaSv2hrIIKEIVi4IKlmczaUG7mpZkq0eJmFo",
            vec![],
        ),
        source(Place::DbFile, "\0\0EbcEPY7tIwaSv2hr\0", vec![]),
        source(Place::Response, "", vec![format!("/ui/x?t={jwt}")]),
        source(Place::Cli, "eyJ0.eyJ1.c2ln", vec![]),
    ];
    for leak in leaky {
        let name = String::from_utf8_lossy(&leak.text).into_owned();
        let sources = vec![source(Place::Response, "", vec![]), leak];
        assert_eq!(findings(&secrets, &sources).len(), 1, "{name}");
    }
}
