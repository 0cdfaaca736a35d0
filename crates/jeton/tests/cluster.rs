//! Several `jeton serve` processes on one PostgreSQL database: a change made through one is
//! honoured by the others within a second (the change feed: triggers, `LISTEN`/`NOTIFY` and a
//! catch-up poll), instances that start together create the schema once, and a PostgreSQL that
//! goes away under a running instance is survived: writes answer 503, credentials already known
//! keep verifying, `/readyz` follows, and everything works again when it is back.
//!
//! Needs `JETON_TEST_DATABASE_URL` (the cluster tests) and PostgreSQL's server binaries (the
//! outage test runs a server of its own, so that it can stop it); `./scripts/test` provides both.

mod common;

use std::time::{Duration, Instant};

use common::{Serve, TempPostgres, on_fresh_database};
use serde_json::{Value, json};
use sqlx::Connection;

const PASSWORD: &str = "cluster-test-bootstrap-password";
/// Instances behind one load balancer share the issuer (the public URL).
const ISSUER_ARGS: &[&str] = &["--issuer", "https://jeton.cluster.test"];
/// The bound the feed promises.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(1);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// One instance seen by a client, with the admin session token it issued.
struct Node {
    base: String,
    admin: String,
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login of {username} at {base}");
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

/// The status `/api/v1/auth/verify` gives a credential (an API key when it starts with the
/// key prefix, a bearer token otherwise).
async fn verify(client: &reqwest::Client, base: &str, credential: &str) -> u16 {
    let request = client.get(format!("{base}/api/v1/auth/verify"));
    let request = if credential.starts_with("jsk_") {
        request.header("X-API-Key", credential)
    } else {
        request.bearer_auth(credential)
    };
    request.send().await.unwrap().status().as_u16()
}

/// Polls until `verify` gives `want`; returns how long that took, failing past the limit.
async fn until_verify(
    client: &reqwest::Client,
    base: &str,
    credential: &str,
    want: u16,
    since: Instant,
    what: &str,
) -> Duration {
    loop {
        let status = verify(client, base, credential).await;
        let elapsed = since.elapsed();
        if status == want {
            return elapsed;
        }
        assert!(
            elapsed < PROPAGATION_LIMIT,
            "{what}: still {status} (want {want}) on the other instance after {elapsed:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn start_pair(url: &str, dir: &std::path::Path) -> (Serve, Serve) {
    let client = client();
    // Both start at the same moment on an empty database.
    let mut a = Serve::spawn(url, dir.join("a.log"), PASSWORD, ISSUER_ARGS);
    let mut b = Serve::spawn(url, dir.join("b.log"), PASSWORD, ISSUER_ARGS);
    a.ready(&client).await;
    b.ready(&client).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_one_postgres() {
    on_fresh_database("instances_share_one_postgres", "jeton_cluster", |url| async move {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = start_pair(&url, dir.path()).await;
        let client = client();

        // The schema was created once, and the first tenant and root user too.
        let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
        let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut db)
            .await
            .unwrap();
        let versions: i64 =
            sqlx::query_scalar("SELECT COUNT(DISTINCT version) FROM _sqlx_migrations")
                .fetch_one(&mut db)
                .await
                .unwrap();
        assert_eq!(migrations, versions, "a migration was recorded twice");
        // Every migration of the PostgreSQL folder, once.
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../jeton-store/migrations/postgres");
        let files = std::fs::read_dir(folder)
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
            })
            .count();
        assert_eq!(migrations, i64::try_from(files).unwrap());
        let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(admins, 1, "one bootstrap user");
        let signers: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL")
                .fetch_one(&mut db)
                .await
                .unwrap();
        assert!(signers >= 1);
        db.close().await.ok();

        let a = Node {
            admin: login(&client, &a.base(), "admin", PASSWORD).await,
            base: a.base(),
        };
        let b = Node {
            admin: login(&client, &b.base(), "admin", PASSWORD).await,
            base: b.base(),
        };
        let mut lags = Vec::new();

        // A token made through A verifies on B; revoked through A, B refuses it within 1 s.
        for round in 0..5 {
            let (status, created) = call(
                &client,
                reqwest::Method::POST,
                format!("{}/api/v1/tokens", a.base),
                &a.admin,
                Some(json!({"name": format!("ci-{round}")})),
            )
            .await;
            assert_eq!(status, 201, "{created}");
            let token = created["token"].as_str().unwrap().to_string();
            let id = created["id"].as_str().unwrap().to_string();
            assert_eq!(verify(&client, &b.base, &token).await, 200);
            let since = Instant::now();
            let (status, _) = call(
                &client,
                reqwest::Method::POST,
                format!("{}/api/v1/tokens/revoke/{id}", a.base),
                &a.admin,
                None,
            )
            .await;
            assert_eq!(status, 200);
            lags.push(until_verify(&client, &b.base, &token, 401, since, "revocation").await);
        }
        // Deleting a token is a revocation too (the other way round: through B, seen by A).
        let (_, created) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/tokens", b.base),
            &b.admin,
            Some(json!({"name": "to-delete"})),
        )
        .await;
        let token = created["token"].as_str().unwrap().to_string();
        assert_eq!(verify(&client, &a.base, &token).await, 200);
        let since = Instant::now();
        let (status, _) = call(
            &client,
            reqwest::Method::DELETE,
            format!("{}/api/v1/tokens/{}", b.base, created["id"].as_str().unwrap()),
            &b.admin,
            None,
        )
        .await;
        assert_eq!(status, 200);
        lags.push(until_verify(&client, &a.base, &token, 401, since, "deletion").await);

        // A service user made through A: its key works on B; rotated through A, the old key
        // (and the OAuth token it got from B) stop on B, and the new key works there.
        let (status, created) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/service-users", a.base),
            &a.admin,
            Some(json!({"name": "etl", "role": "TenantUser"})),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let old_key = created["api_key"].as_str().unwrap().to_string();
        let client_id = created["id"].as_str().unwrap().to_string();
        let since = Instant::now();
        lags.push(until_verify(&client, &b.base, &old_key, 200, since, "new service user").await);
        let oauth: Value = client
            .post(format!("{}/oauth/token", b.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", old_key.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access_token = oauth["access_token"].as_str().unwrap().to_string();
        assert_eq!(verify(&client, &b.base, &access_token).await, 200);
        let since = Instant::now();
        let (status, rotated) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/service-users/{client_id}/rotate-key", a.base),
            &a.admin,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 200, "{rotated}");
        let new_key = rotated["api_key"].as_str().unwrap().to_string();
        lags.push(until_verify(&client, &b.base, &old_key, 401, since, "key rotation").await);
        assert_eq!(verify(&client, &b.base, &access_token).await, 401);
        assert_eq!(verify(&client, &b.base, &new_key).await, 200);

        // A user deactivated through A: the session and API token B issued stop on B.
        let (status, _) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/users", a.base),
            &a.admin,
            Some(json!({"username": "bob", "password": "bob-password-1"})),
        )
        .await;
        assert_eq!(status, 201);
        let bob_session = login(&client, &b.base, "bob", "bob-password-1").await;
        let (_, bob_token) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/tokens", b.base),
            &bob_session,
            Some(json!({"name": "notebook"})),
        )
        .await;
        let bob_token = bob_token["token"].as_str().unwrap().to_string();
        assert_eq!(verify(&client, &a.base, &bob_token).await, 200);
        let since = Instant::now();
        let (status, _) = call(
            &client,
            reqwest::Method::PATCH,
            format!("{}/api/v1/users/bob", a.base),
            &a.admin,
            Some(json!({"active": false})),
        )
        .await;
        assert_eq!(status, 200);
        lags.push(until_verify(&client, &b.base, &bob_token, 401, since, "deactivation").await);
        assert_eq!(verify(&client, &b.base, &bob_session).await, 401);

        // A policy set through A limits tokens created through B.
        let (status, _) = call(
            &client,
            reqwest::Method::PATCH,
            format!("{}/api/v1/users/bob", a.base),
            &a.admin,
            Some(json!({"active": true})),
        )
        .await;
        assert_eq!(status, 200);
        let (status, body) = call(
            &client,
            reqwest::Method::PUT,
            format!("{}/api/v1/users/bob/token-policy", a.base),
            &a.admin,
            Some(json!({"max_duration": "7d"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let since = Instant::now();
        loop {
            let (status, _) = call(
                &client,
                reqwest::Method::POST,
                format!("{}/api/v1/tokens", b.base),
                &bob_session,
                Some(json!({"name": format!("long-{}", since.elapsed().as_nanos()), "expires_in": "30d"})),
            )
            .await;
            if status == 422 || status == 400 {
                break;
            }
            assert!(since.elapsed() < PROPAGATION_LIMIT, "policy not applied on B: {status}");
        }

        // Signing-key rotation through A: B signs with the new key within a second, and
        // tokens signed by the old key keep verifying on both.
        // (Two instances that started together on an empty database may each have made a first
        // key; both verify, and every instance picks the same one to sign.)
        let old_token = bob_session.clone();
        let published = |jwks: &Value| jwks["keys"].as_array().unwrap().len();
        let jwks_before: Value = client
            .get(format!("{}/.well-known/jwks.json", b.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (status, key) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/signing-keys/rotate", a.base),
            &a.admin,
            None,
        )
        .await;
        assert_eq!(status, 201, "{key}");
        let new_kid = key["kid"].as_str().unwrap().to_string();
        let since = Instant::now();
        loop {
            let session = login(&client, &b.base, "admin", PASSWORD).await;
            if kid_of(&session) == new_kid {
                break;
            }
            assert!(since.elapsed() < PROPAGATION_LIMIT, "B still signs with the old key");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let jwks: Value = client
            .get(format!("{}/.well-known/jwks.json", b.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(published(&jwks), published(&jwks_before) + 1, "{jwks}");
        assert_eq!(verify(&client, &a.base, &old_token).await, 200);
        assert_eq!(verify(&client, &b.base, &old_token).await, 200);
        let (status, keys) = call(
            &client,
            reqwest::Method::GET,
            format!("{}/api/v1/signing-keys", b.base),
            &b.admin,
            None,
        )
        .await;
        assert_eq!(status, 200);
        let statuses: Vec<&str> = keys
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses[0], "signing", "{keys}");
        assert!(statuses.len() >= 2, "{keys}");
        assert!(statuses[1..].iter().all(|s| *s == "verifying"), "{keys}");

        // Revocation of the old key through A (a leaked key): B, which has just verified a
        // token it signed (and cached the answer), refuses it within a second, and its JWKS
        // drops the key. The signer cannot be revoked before a rotation.
        let old_kid = kid_of(&old_token);
        let (status, revoked) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/signing-keys/{old_kid}/revoke", a.base),
            &a.admin,
            None,
        )
        .await;
        assert_eq!(status, 200, "{revoked}");
        assert_eq!(revoked["status"], "revoked", "{revoked}");
        let since = Instant::now();
        lags.push(until_verify(&client, &b.base, &old_token, 401, since, "key revocation").await);
        assert_eq!(verify(&client, &a.base, &old_token).await, 401);
        let jwks: Value = client
            .get(format!("{}/.well-known/jwks.json", b.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["kid"] != old_kid.as_str()),
            "{jwks}"
        );
        let fresh = login(&client, &b.base, "admin", PASSWORD).await;
        assert_eq!(verify(&client, &a.base, &fresh).await, 200);
        let (status, refused) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/signing-keys/{new_kid}/revoke", b.base),
            &fresh,
            None,
        )
        .await;
        assert_eq!(status, 409, "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("rotate first"),
            "{refused}"
        );

        lags.sort();
        eprintln!(
            "propagation between two instances over {} changes: median {:?}, max {:?}",
            lags.len(),
            lags[lags.len() / 2],
            lags[lags.len() - 1]
        );
    })
    .await;
}

fn kid_of(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_survived() {
    let Some(postgres) = TempPostgres::start("postgres_outage_is_survived") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let client = client();
    let mut server = Serve::spawn(
        &postgres.url(),
        dir.path().join("serve.log"),
        PASSWORD,
        ISSUER_ARGS,
    );
    server.ready(&client).await;
    let base = server.base();
    let admin = login(&client, &base, "admin", PASSWORD).await;
    let (_, created) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/tokens"),
        &admin,
        Some(json!({"name": "before"})),
    )
    .await;
    let token = created["token"].as_str().unwrap().to_string();
    let (_, service_user) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/service-users"),
        &admin,
        Some(json!({"name": "etl"})),
    )
    .await;
    let key = service_user["api_key"].as_str().unwrap().to_string();
    assert_eq!(verify(&client, &base, &token).await, 200);
    assert_eq!(verify(&client, &base, &key).await, 200);
    assert_eq!(ready(&client, &base).await, 200);

    postgres.halt();

    // Known credentials keep verifying from memory.
    for credential in [&token, &key, &admin] {
        assert_eq!(verify(&client, &base, credential).await, 200);
    }
    // A write answers 503 with a clear message, not a 500.
    let (status, body) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/tokens"),
        &admin,
        Some(json!({"name": "during"})),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unavailable")),
        "{body}"
    );
    assert_eq!(ready(&client, &base).await, 503);
    assert_eq!(verify(&client, &base, &token).await, 200);

    postgres.resume();

    // Recovers by itself: ready, writable, and following the feed again.
    let since = Instant::now();
    while ready(&client, &base).await != 200 {
        assert!(since.elapsed() < Duration::from_secs(20), "not ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, after) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/tokens"),
        &admin,
        Some(json!({"name": "after"})),
    )
    .await;
    assert_eq!(status, 201, "{after}");
    let after_token = after["token"].as_str().unwrap().to_string();
    assert_eq!(verify(&client, &base, &after_token).await, 200);

    // A second instance starting now sees the same state, and a revocation through it
    // reaches the first one (its change listener reconnected).
    let mut second = Serve::spawn(
        &postgres.url(),
        dir.path().join("second.log"),
        PASSWORD,
        ISSUER_ARGS,
    );
    second.ready(&client).await;
    let second_admin = login(&client, &second.base(), "admin", PASSWORD).await;
    let since = Instant::now();
    let (status, _) = call(
        &client,
        reqwest::Method::POST,
        format!(
            "{}/api/v1/tokens/revoke/{}",
            second.base(),
            created["id"].as_str().unwrap()
        ),
        &second_admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    until_verify(
        &client,
        &base,
        &token,
        401,
        since,
        "revocation after the outage",
    )
    .await;
    drop(server);
}

async fn ready(client: &reqwest::Client, base: &str) -> u16 {
    client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Runs `jeton serve` on `url` with `key_file` (none: no master key at all) and expects it to
/// stop at start: answers what it printed.
fn refused_start(url: &str, key_file: Option<&std::path::Path>) -> String {
    let mut command = std::process::Command::new(common::JETON);
    for var in common::JETON_VARS {
        command.env_remove(var);
    }
    command
        .args(["serve", "--listen", &common::free_addr().to_string()])
        .args(["--database-url", url])
        .env("JETON_BOOTSTRAP_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(file) = key_file {
        command.arg("--master-key-file").arg(file);
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("jeton serve kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "jeton serve started");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// On PostgreSQL a master key is required (no instance makes its own: they must share it),
/// and an instance given another key than the one the database is sealed under stops at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_need_the_shared_master_key() {
    on_fresh_database(
        "postgres_instances_need_the_shared_master_key",
        "jeton_master",
        |url| async move {
            let printed = refused_start(&url, None);
            assert!(
                printed.contains("--master-key-file") && printed.contains("JETON_MASTER_KEY_FILE"),
                "{printed}"
            );
            let dir = tempfile::tempdir().unwrap();
            let mut first = Serve::spawn(&url, dir.path().join("a.log"), PASSWORD, ISSUER_ARGS);
            first.ready(&client()).await;
            let other = dir.path().join("other.key");
            std::fs::write(&other, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n").unwrap();
            let printed = refused_start(&url, Some(&other));
            assert!(
                printed.contains("wrong key?") && printed.contains("other.key"),
                "{printed}"
            );
            // The instance with the right key still serves.
            let token = login(&client(), &first.base(), "admin", PASSWORD).await;
            assert_eq!(verify(&client(), &first.base(), &token).await, 200);
        },
    )
    .await;
}
