//! The million-token store: fills a database with 1,000,000 API-token records (1,000 users ×
//! 1,000 tokens, bulk-inserted with SQL in batches), then measures through the real HTTP API of
//! a separate `jeton serve` process: creating, listing and revoking a token (p50/p99),
//! verification throughput with wrk next to a server on an empty database, the server's
//! resident memory, and the memory each token held in the verification cache costs.
//!
//! Run (bench/run does): `cargo run --release -p jeton-server --example million --
//! JETON_BINARY WRK_SCRIPT DATABASE_URL EMPTY_DATABASE_URL` where both databases are new and
//! empty (`postgres://…` or `sqlite://FILE`): the first is filled, the second stays empty for
//! the baseline. A benchmark, not a test: it asserts that every request succeeded, nothing about
//! speed.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jeton_core::token::{Claims, TokenKind};
use jeton_core::{TenantId, TokenId, UserId};
use serde_json::Value;

const PASSWORD: &str = "bench-password-1";
const ISSUER: &str = "http://jeton-bench";
const USERS: usize = 1_000;
const TOKENS_PER_USER: usize = 1_000;
/// Rows per INSERT statement of the fill.
const BATCH: usize = 20_000;
/// Distinct tokens verified for the cache's memory figure: below the cache's capacity
/// (100,000, emptied when full), leaving room for the few other tokens the run verifies.
const DISTINCT: usize = 99_000;
/// Requests per latency figure (create, list, revoke).
const SAMPLES: usize = 1_000;
/// wrk's connections and duration for the verification throughput, and how many times each
/// store is measured (alternately, so that both see the same load from the shared machine).
const WRK_CONNECTIONS: u32 = 64;
const WRK_SECONDS: u32 = 6;
const WRK_ROUNDS: usize = 3;

enum Db {
    Pg(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Db {
    async fn open(url: &str) -> Db {
        if url.starts_with("postgres") {
            Db::Pg(sqlx::PgPool::connect(url).await.expect("connect"))
        } else {
            Db::Sqlite(sqlx::SqlitePool::connect(url).await.expect("connect"))
        }
    }

    async fn scalar(&self, sql: &'static str) -> String {
        match self {
            Db::Pg(pool) => sqlx::query_scalar::<_, String>(sql)
                .fetch_one(pool)
                .await
                .expect(sql),
            Db::Sqlite(pool) => sqlx::query_scalar::<_, String>(sql)
                .fetch_one(pool)
                .await
                .expect(sql),
        }
    }

    async fn count(&self, sql: &'static str) -> i64 {
        match self {
            Db::Pg(pool) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .expect(sql),
            Db::Sqlite(pool) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .expect(sql),
        }
    }

    async fn execute(&self, sql: &'static str) {
        match self {
            Db::Pg(pool) => {
                sqlx::query(sql).execute(pool).await.expect(sql);
            }
            Db::Sqlite(pool) => {
                sqlx::query(sql).execute(pool).await.expect(sql);
            }
        }
    }

    /// The plan of a query, one line per node. `sql` is this program's own text (the values in
    /// it are ids it made).
    async fn plan(&self, sql: &str) -> Vec<String> {
        match self {
            Db::Pg(pool) => {
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                    .fetch_all(pool)
                    .await
                    .expect(sql)
            }
            Db::Sqlite(pool) => {
                use sqlx::Row;
                sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(pool)
                    .await
                    .expect(sql)
                    .iter()
                    .map(|row| row.get::<String, _>("detail"))
                    .collect()
            }
        }
    }

    /// Inserts users (`rows`: id, username) of the tenant, as tenant users without a password.
    async fn insert_users(&self, tenant: &str, rows: &[(String, String)], now: i64) {
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        match self {
            Db::Pg(pool) => {
                sqlx::query(
                    "INSERT INTO users (id, tenant_id, username, access_level, active, \
                     created_at, updated_at) \
                     SELECT id, $3, name, 'tenant-user', TRUE, $4, $4 \
                     FROM UNNEST($1::text[], $2::text[]) AS u (id, name)",
                )
                .bind(&ids)
                .bind(&names)
                .bind(tenant)
                .bind(now)
                .execute(pool)
                .await
                .expect("insert users");
            }
            Db::Sqlite(pool) => {
                let json = serde_json::to_string(&rows).unwrap();
                sqlx::query(
                    "INSERT INTO users (id, tenant_id, username, access_level, active, \
                     created_at, updated_at) \
                     SELECT json_extract(value, '$[0]'), ?2, json_extract(value, '$[1]'), \
                     'tenant-user', 1, ?3, ?3 FROM json_each(?1)",
                )
                .bind(json)
                .bind(tenant)
                .bind(now)
                .execute(pool)
                .await
                .expect("insert users");
            }
        }
    }

    /// Inserts token records (`rows`: id, user id, name, created_at), all active API tokens.
    async fn insert_tokens(&self, tenant: &str, rows: &[Row], expires_at: i64) {
        match self {
            Db::Pg(pool) => {
                let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                let users: Vec<&str> = rows.iter().map(|r| r.user.as_str()).collect();
                let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
                let created: Vec<i64> = rows.iter().map(|r| r.created_at).collect();
                sqlx::query(
                    "INSERT INTO tokens (id, tenant_id, user_id, kind, name, comment, scopes, \
                     created_at, created_by, expires_at) \
                     SELECT id, $5, user_id, 'api', name, '', '', created_at, user_id, $6 \
                     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
                     AS t (id, user_id, name, created_at)",
                )
                .bind(&ids)
                .bind(&users)
                .bind(&names)
                .bind(&created)
                .bind(tenant)
                .bind(expires_at)
                .execute(pool)
                .await
                .expect("insert tokens");
            }
            Db::Sqlite(pool) => {
                let json = serde_json::to_string(
                    &rows
                        .iter()
                        .map(|r| (&r.id, &r.user, &r.name, r.created_at))
                        .collect::<Vec<_>>(),
                )
                .unwrap();
                sqlx::query(
                    "INSERT INTO tokens (id, tenant_id, user_id, kind, name, comment, scopes, \
                     created_at, created_by, expires_at) \
                     SELECT json_extract(value, '$[0]'), ?2, json_extract(value, '$[1]'), 'api', \
                     json_extract(value, '$[2]'), '', '', json_extract(value, '$[3]'), \
                     json_extract(value, '$[1]'), ?3 FROM json_each(?1)",
                )
                .bind(json)
                .bind(tenant)
                .bind(expires_at)
                .execute(pool)
                .await
                .expect("insert tokens");
            }
        }
    }
}

struct Row {
    id: String,
    user: String,
    name: String,
    created_at: i64,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn random_id(millis: u64) -> TokenId {
    let mut random = [0u8; 10];
    rand::fill(&mut random);
    TokenId::new_v7(millis, random)
}

/// A `jeton serve` process of this run (killed on drop).
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(binary: &str, url: &str) -> (Server, Duration) {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let started = Instant::now();
        let child = Command::new(binary)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                url,
                "--issuer",
                ISSUER,
                "--last-used-flush",
                "5s",
                "--login-attempts",
                "1000000",
            ])
            .env("JETON_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start jeton serve");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        loop {
            if let Ok(response) = client.get(format!("{}/readyz", server.base)).send().await
                && response.status().is_success()
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "server start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ready = started.elapsed();
        (server, ready)
    }

    /// Resident memory (VmRSS) in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs wrk against GET /api/v1/auth/verify with `token`; answers (req/s, p50 ms, p99 ms).
fn wrk_verify(script: &str, base: &str, token: &str) -> (f64, f64, f64) {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{WRK_CONNECTIONS}"),
            &format!("-d{WRK_SECONDS}s"),
            "--latency",
            "-s",
            script,
            &format!("{base}/api/v1/auth/verify"),
        ])
        .env("WRK_AUTH", format!("Bearer {token}"))
        .output()
        .expect("wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("wrk printed no RESULT: {text}"));
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {line}"))
    };
    assert_eq!(field("errors"), 0.0, "wrk saw errors: {line}");
    (field("rps"), field("p50_ms"), field("p99_ms"))
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let p = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e3
    };
    (p(0.50), p(0.99))
}

/// Verifies each token once, from `connections` keep-alive clients; every answer must be 200.
async fn verify_each(base: &str, tokens: Arc<Vec<String>>, connections: usize) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let tokens = tokens.clone();
        let url = format!("{base}/api/v1/auth/verify");
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for token in tokens.iter().skip(c).step_by(connections) {
                let response = client.get(&url).bearer_auth(token).send().await.unwrap();
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, binary, script, url, empty_url] = &args[..] else {
        panic!("usage: million JETON_BINARY WRK_SCRIPT DATABASE_URL EMPTY_DATABASE_URL");
    };
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    // 1. Bootstrap both new databases in-process (schema, root user, signing key, key secret),
    //    with the issuer the served processes will use.
    for url in [url, empty_url] {
        let mut config = jeton_server::Config::new(url.as_str(), "127.0.0.1:0".parse().unwrap());
        config.issuer = ISSUER.to_string();
        config.bootstrap_password = Some(PASSWORD.to_string());
        // bench/run exports the master key file that the served processes read too.
        config.master_key_file = std::env::var_os("JETON_MASTER_KEY_FILE").map(Into::into);
        jeton_server::start(config)
            .await
            .expect("bootstrap")
            .shutdown()
            .await;
    }
    let db = Db::open(url).await;
    let tenant = db
        .scalar("SELECT id FROM tenants WHERE name = 'default'")
        .await;

    // 2. The baseline: a server on the other database, which stays (almost) empty, with the root
    //    user's API token. Measured alternately with the filled one below.
    let client = reqwest::Client::new();
    let (empty, _) = Server::start(binary, empty_url).await;
    let empty_token = {
        let login: Value = client
            .post(format!("{}/api/v1/auth/login", empty.base))
            .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = login["token"].as_str().unwrap().to_string();
        let created: Value = client
            .post(format!("{}/api/v1/tokens", empty.base))
            .bearer_auth(&session)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["token"].as_str().unwrap().to_string()
    };

    // 3. Fill: 1,000 users × 1,000 API tokens, ids made as the server makes them (UUIDv7),
    //    inserted with multi-row SQL statements of BATCH rows.
    let now = now();
    let started = Instant::now();
    let users: Vec<(String, String)> = (0..USERS)
        .map(|i| {
            (
                UserId(uuid::Uuid::new_v4()).to_string(),
                format!("bench-user-{i}"),
            )
        })
        .collect();
    db.insert_users(&tenant, &users, now).await;
    let base_millis = (now as u64 - 86_400) * 1000;
    let mut rows = Vec::with_capacity(BATCH);
    // (user, token id) of the tokens signed below: the first 100 users' tokens.
    let mut signed = Vec::with_capacity(100 * TOKENS_PER_USER);
    let mut n = 0u64;
    for j in 0..TOKENS_PER_USER {
        for (u, (user, _)) in users.iter().enumerate() {
            let millis = base_millis + n;
            n += 1;
            let id = random_id(millis);
            if u < 100 {
                signed.push((u, id));
            }
            rows.push(Row {
                id: id.to_string(),
                user: user.clone(),
                name: format!("bench-{j}"),
                created_at: (millis / 1000) as i64,
            });
            if rows.len() == BATCH {
                db.insert_tokens(&tenant, &rows, now + 30 * 86_400).await;
                rows.clear();
            }
        }
    }
    if !rows.is_empty() {
        db.insert_tokens(&tenant, &rows, now + 30 * 86_400).await;
    }
    let fill = started.elapsed();
    let started = Instant::now();
    db.execute("ANALYZE").await;
    let analyze = started.elapsed();
    let total = db.count("SELECT COUNT(*) FROM tokens").await;
    println!(
        "million {backend}: filled {total} tokens ({USERS} users × {TOKENS_PER_USER}) in {:.1} s ({:.0} rows/s, batches of {BATCH}), ANALYZE {:.1} s",
        fill.as_secs_f64(),
        (USERS * TOKENS_PER_USER) as f64 / fill.as_secs_f64(),
        analyze.as_secs_f64()
    );

    // 4. The plans of the queries behind list and revoke (the server's SQL, with values).
    let user0 = &users[0].0;
    let some_id = signed[0].1;
    for (what, sql) in [
        (
            "list a user's active tokens",
            format!(
                "SELECT id FROM tokens WHERE 1 = 1 AND tenant_id = '{tenant}' AND user_id = '{user0}' \
                 AND revoked_at IS NULL AND expires_at > {now} ORDER BY id DESC LIMIT 51"
            ),
        ),
        (
            "name check of create",
            format!(
                "SELECT 1 FROM tokens WHERE user_id = '{user0}' AND name = 'x' \
                 AND revoked_at IS NULL AND expires_at > {now}"
            ),
        ),
        (
            "revoke",
            format!(
                "UPDATE tokens SET revoked_at = {now}, revoked_by = NULL \
                 WHERE id = '{some_id}' AND revoked_at IS NULL"
            ),
        ),
    ] {
        let plan = db.plan(&sql).await;
        let uses_index = plan
            .iter()
            .any(|l| l.contains("Index") || l.contains("USING INDEX") || l.contains("PRIMARY"));
        println!(
            "million {backend}: plan of {what}: {} [{}]",
            if uses_index { "index" } else { "NO INDEX" },
            plan.join(" | ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
    }

    // 5. JWTs for the first 100 users' tokens, signed with the server's key.
    let store = jeton_store::open(url).await.expect("store");
    let mut config = jeton_server::Config::new(url, "127.0.0.1:0".parse().unwrap());
    config.master_key_file = std::env::var_os("JETON_MASTER_KEY_FILE").map(Into::into);
    let longest = config.longest_token_secs();
    let master = jeton_server::master_key::load(&config, store.as_ref())
        .await
        .expect("master key");
    let keys =
        jeton_server::keys::KeyRing::load(store.as_ref(), ISSUER, "jeton", now, longest, &master)
            .await
            .expect("keys");
    let tenant_id: TenantId = tenant.parse().expect("tenant id");
    let sign = |user: usize, jti: TokenId| {
        keys.sign(&Claims {
            iss: ISSUER.to_string(),
            aud: "jeton".to_string(),
            sub: users[user].0.parse().unwrap(),
            tid: tenant_id,
            jti,
            kind: TokenKind::Api,
            scope: String::new(),
            iat: now,
            nbf: now,
            exp: now + 30 * 86_400,
            akid: None,
            root_jti: None,
            parent: None,
        })
        .expect("sign")
    };
    // User 0 acts (create, list, revoke); users 1..=99 give the distinct tokens.
    let actor_id = signed[0].1;
    let actor = sign(0, actor_id);
    let revocable: Vec<TokenId> = signed
        .iter()
        .filter(|(u, id)| *u == 0 && *id != actor_id)
        .map(|(_, id)| *id)
        .take(SAMPLES)
        .collect();
    let distinct: Vec<String> = signed
        .iter()
        .filter(|(u, _)| *u != 0)
        .take(DISTINCT)
        .map(|(u, id)| sign(*u, *id))
        .collect();
    assert_eq!(distinct.len(), DISTINCT);
    let distinct = Arc::new(distinct);

    // 6. Serve the filled store.
    let (server, ready) = Server::start(binary, url).await;
    let rss_start = server.rss_kib();
    println!(
        "million {backend}: jeton serve ready in {:.2} s, VmRSS {} KiB",
        ready.as_secs_f64(),
        rss_start
    );

    // 7. Memory per cached token: warm up with one token over the same 16 connections, then
    //    verify DISTINCT tokens once each.
    let warm = Arc::new(vec![actor.clone(); 16_000]);
    verify_each(&server.base, warm, 16).await;
    let rss_warm = server.rss_kib();
    let took = verify_each(&server.base, distinct.clone(), 16).await;
    let rss_cached = server.rss_kib();
    println!(
        "million {backend}: verified {DISTINCT} distinct tokens (first sight: Ed25519 each) over 16 connections in {:.2} s ({:.0}/s)",
        took.as_secs_f64(),
        DISTINCT as f64 / took.as_secs_f64()
    );
    // Their last-use times are pending until the next flush (every 5 s here); wait for it.
    let started = Instant::now();
    let expected = i64::try_from(DISTINCT).unwrap() + 1;
    while db
        .count("SELECT COUNT(*) FROM tokens WHERE last_used_at IS NOT NULL")
        .await
        < expected
    {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "last-use flush"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_flushed = server.rss_kib();
    let per = |after: u64| (after as f64 - rss_warm as f64) * 1024.0 / DISTINCT as f64;
    println!(
        "million {backend}: VmRSS warm {rss_warm} KiB, after {DISTINCT} distinct tokens {rss_cached} KiB ({:.0} bytes/token with their pending last-use times), after the last-use flush {rss_flushed} KiB ({:.0} bytes/token)",
        per(rss_cached),
        per(rss_flushed)
    );

    // 8. Verification throughput with the million tokens against the empty store, alternately
    //    (empty, filled, empty, filled) so that both see the same load from the machine.
    let (mut empty_runs, mut full_runs) = (Vec::new(), Vec::new());
    for _ in 0..WRK_ROUNDS {
        empty_runs.push(wrk_verify(script, &empty.base, &empty_token));
        full_runs.push(wrk_verify(script, &server.base, &actor));
    }
    // The median run of each (by throughput).
    let median = |v: &mut Vec<(f64, f64, f64)>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v[v.len() / 2]
    };
    let mut medians = Vec::new();
    for (label, v) in [
        ("(almost) empty store", &mut empty_runs),
        ("1,000,000 tokens", &mut full_runs),
    ] {
        let all = v
            .iter()
            .map(|r| format!("{:.0}", r.0))
            .collect::<Vec<_>>()
            .join(", ");
        let (rps, p50, p99) = median(v);
        println!(
            "million {backend}: verify, {label}, {WRK_CONNECTIONS} connections, median of {WRK_ROUNDS} × {WRK_SECONDS} s alternating runs: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms (all runs: {all} req/s)"
        );
        medians.push(rps);
    }
    println!(
        "million {backend}: verification throughput with 1,000,000 tokens vs the empty store: {:+.1}% (target within 10%)",
        (medians[1] / medians[0] - 1.0) * 100.0
    );
    drop(empty);

    // 9. Create, list and revoke through the HTTP API, one request at a time on one
    //    keep-alive connection, as user 0 (who holds 1,000 tokens).
    let mut create = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let response = client
            .post(format!("{}/api/v1/tokens", server.base))
            .bearer_auth(&actor)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "create");
        let _ = response.bytes().await;
        create.push(t.elapsed());
    }
    let mut list = Vec::with_capacity(SAMPLES);
    let mut listed = 0;
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let response = client
            .get(format!("{}/api/v1/tokens", server.base))
            .bearer_auth(&actor)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "list");
        let page: Value = response.json().await.unwrap();
        list.push(t.elapsed());
        listed = page["items"].as_array().map_or(0, Vec::len);
    }
    let mut revoke = Vec::with_capacity(SAMPLES);
    for id in &revocable {
        let t = Instant::now();
        let response = client
            .post(format!("{}/api/v1/tokens/revoke/{id}", server.base))
            .bearer_auth(&actor)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "revoke");
        let _ = response.bytes().await;
        revoke.push(t.elapsed());
    }
    for (what, samples) in [
        ("create API token", create),
        (
            &*format!("list own tokens (first page, {listed} items)"),
            list,
        ),
        ("revoke a token", revoke),
    ] {
        let count = samples.len();
        let (p50, p99) = percentiles(samples);
        println!(
            "million {backend}: {what} over HTTP, {count} sequential requests: p50 {p50:.2} ms, p99 {p99:.2} ms"
        );
    }
    println!(
        "million {backend}: VmRSS at the end {} KiB",
        server.rss_kib()
    );
}
