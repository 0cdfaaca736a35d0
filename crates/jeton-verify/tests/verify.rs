//! `jeton-verify` against a real Jeton server started in-process (SQLite), with the example
//! service (`examples/protected.rs`) in front of the verifier. A counting layer in front of
//! Jeton tells how often the verifier asked `GET /api/v1/auth/verify`.

#[path = "../examples/protected.rs"]
#[allow(dead_code)]
mod protected;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jeton_verify::{Config, CredentialKind, Verifier, VerifyError};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const ISSUER: &str = "https://jeton.test";
const ADMIN_PASSWORD: &str = "admin-password-1";
/// How fast a revocation must reach the protected service.
const PROPAGATION_BOUND: Duration = Duration::from_secs(1);

/// A Jeton server on a free port over a new SQLite file.
struct Jeton {
    base: String,
    http: Client,
    /// Requests to `/api/v1/auth/verify` so far.
    verify_calls: Arc<AtomicUsize>,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Jeton {
    async fn spawn(issuer: &str) -> Jeton {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/jeton.db", dir.path().display());
        let mut config = jeton_server::Config::new(url.clone(), "127.0.0.1:0".parse().unwrap());
        config.issuer = issuer.to_string();
        config.bootstrap_password = Some(ADMIN_PASSWORD.to_string());
        let store = jeton_store::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        let running = jeton_server::start_with_store(
            config,
            store,
            Arc::new(jeton_server::service::SystemClock),
        )
        .await
        .unwrap();
        let verify_calls = Arc::new(AtomicUsize::new(0));
        let counter = verify_calls.clone();
        let app =
            jeton_server::http::app(running.service.clone()).layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    if request.uri().path() == "/api/v1/auth/verify" {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(request)
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
            drop(running);
        });
        let mut jeton = Jeton {
            base: format!("http://{addr}"),
            http: Client::new(),
            verify_calls,
            admin: String::new(),
            _dir: dir,
        };
        let (status, body) = jeton
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "admin", "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        jeton.admin = body["token"].as_str().unwrap().to_string();
        jeton
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A personal API token of `admin`: (token, id).
    async fn token(&self) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v1/tokens",
                Some(&self.admin),
                json!({"name": format!("t{}", rand_suffix()), "expires_in": "1d"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["token"].as_str().unwrap().to_string(),
            body["id"].as_str().unwrap().to_string(),
        )
    }

    /// A service user: (API key, id).
    async fn service_user(&self, name: &str, level: &str, scopes: &[&str]) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v1/service-users",
                Some(&self.admin),
                json!({"name": name, "access_level": level, "scopes": scopes}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["api_key"].as_str().unwrap().to_string(),
            body["id"].as_str().unwrap().to_string(),
        )
    }

    /// Jeton's change-feed position: the current one, or the one after the changes that follow
    /// `after` (waiting for them to settle).
    async fn feed_next(&self, after: Option<i64>) -> i64 {
        let path = match after {
            Some(after) => format!("/api/v1/changes?after={after}&wait=5"),
            None => "/api/v1/changes".to_string(),
        };
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        page["next"].as_i64().unwrap()
    }

    fn verify_calls(&self) -> usize {
        self.verify_calls.load(Ordering::SeqCst)
    }
}

/// Creates a tenant-user service user, then waits until the protected service's feed has
/// passed its creation: the creation's own feed rows, arriving after the key's first use, would
/// (rightly) drop that first answer and make counts of calls to Jeton race.
async fn followed_service_user(
    jeton: &Jeton,
    service: &Protected,
    name: &str,
    scopes: &[&str],
) -> (String, String) {
    let before = jeton.feed_next(None).await;
    let created = jeton.service_user(name, "tenant-user", scopes).await;
    let after = jeton.feed_next(Some(before)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while service.verifier.feed_position().is_none_or(|p| p < after) {
        assert!(Instant::now() < deadline, "the feed did not follow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    created
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The example service in front of a verifier of `jeton`, following the feed.
struct Protected {
    base: String,
    http: Client,
    verifier: Verifier,
}

impl Protected {
    async fn spawn(jeton: &Jeton) -> Protected {
        let (feed_key, _) = jeton
            .service_user("resource-server", "root", &["feed"])
            .await;
        let verifier = Verifier::new(Config::new(&jeton.base, ISSUER, feed_key)).unwrap();
        assert!(
            verifier.ready(Duration::from_secs(5)).await,
            "feed not followed"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = protected::app(verifier.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Protected {
            base: format!("http://{addr}"),
            http: Client::new(),
            verifier,
        }
    }

    async fn whoami(&self, header: Option<(&str, &str)>) -> (StatusCode, Option<String>, Value) {
        let mut request = self.http.get(format!("{}/whoami", self.base));
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        (
            status,
            challenge,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn bearer(&self, credential: &str) -> (StatusCode, Value) {
        let (status, _, body) = self
            .whoami(Some(("authorization", &format!("Bearer {credential}"))))
            .await;
        (status, body)
    }

    /// Calls with `credential` until refused; answers how long that took.
    async fn until_refused(&self, credential: &str) -> Duration {
        let start = Instant::now();
        loop {
            let (status, body) = self.bearer(credential).await;
            if status == StatusCode::UNAUTHORIZED {
                return start.elapsed();
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "still accepted after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Asserts the answer is the layer's refusal (the handler would have answered 200).
fn assert_refused(status: StatusCode, challenge: Option<String>, body: &Value) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer")),
        "{challenge:?}"
    );
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
}

#[tokio::test]
async fn jwt_and_api_key_run_the_handler_and_are_asked_once() {
    let jeton = Jeton::spawn(ISSUER).await;
    let service = Protected::spawn(&jeton).await;
    let (token, token_id) = jeton.token().await;

    let (status, body) = service.bearer(&token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], "admin");
    assert_eq!(body["token_id"], token_id.as_str());
    assert_eq!(body["kind"], "api");
    assert_eq!(body["access_level"], "root");
    assert_eq!(body["service_user"], false);
    assert_eq!(body["tenant"], "default");
    assert_eq!(jeton.verify_calls(), 1);
    // Again: from the cache, Jeton is not asked.
    for _ in 0..3 {
        let (status, again) = service.bearer(&token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, body);
    }
    assert_eq!(jeton.verify_calls(), 1);

    let (key, id) = followed_service_user(&jeton, &service, "etl", &["read"]).await;
    let (status, _, body) = service.whoami(Some(("x-api-key", &key))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], id.as_str());
    assert_eq!(body["username"], "etl");
    assert_eq!(body["service_user"], true);
    assert_eq!(body["kind"], "api_key");
    assert_eq!(body["scopes"], json!(["read"]));
    // The same key as a bearer credential: the same cache entry.
    let (status, again) = service.bearer(&key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, body);
    assert_eq!(jeton.verify_calls(), 2);

    // The library on its own.
    let identity = service.verifier.verify(&key).await.unwrap();
    assert_eq!(identity.kind, CredentialKind::ApiKey);
    assert!(identity.allows("read") && !identity.allows("write"));
    assert_eq!(jeton.verify_calls(), 2);
}

#[tokio::test]
async fn invalid_credentials_are_refused_before_the_handler() {
    let jeton = Jeton::spawn(ISSUER).await;
    let service = Protected::spawn(&jeton).await;
    let (token, _) = jeton.token().await;

    // No credential; the open route stays open.
    let (status, challenge, body) = service.whoami(None).await;
    assert_refused(status, challenge, &body);
    let health = service.http.get(format!("{}/health", service.base));
    assert_eq!(health.send().await.unwrap().status(), StatusCode::OK);

    // Wrong signature: one character of the signature changed.
    let (head, signature) = token.rsplit_once('.').unwrap();
    let mut signature = signature.as_bytes().to_vec();
    signature[10] = if signature[10] == b'A' { b'B' } else { b'A' };
    let forged = format!("{head}.{}", String::from_utf8(signature).unwrap());
    // Claims changed under the original signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("00000000-0000-0000-0000-000000000000");
    let altered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    // `alg: none` with Jeton's kid.
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD
            .encode(json!({"alg": "none", "typ": "JWT", "kid": header["kid"]}).to_string()),
        parts[1]
    );
    // A token of another Jeton (another issuer and signing key, an unknown kid).
    let other = Jeton::spawn("https://other.test").await;
    let (foreign, _) = other.token().await;

    for credential in [&forged, &altered, &none, &foreign] {
        let (status, challenge, body) = service
            .whoami(Some(("authorization", &format!("Bearer {credential}"))))
            .await;
        assert_refused(status, challenge, &body);
    }
    // All refused offline: Jeton was never asked.
    assert_eq!(jeton.verify_calls(), 0);

    // Garbage is not a JWT, so it might be an API key: Jeton is asked once, then the refusal is
    // remembered for a while.
    for _ in 0..3 {
        let (status, challenge, body) = service.whoami(Some(("x-api-key", "garbage"))).await;
        assert_refused(status, challenge, &body);
    }
    assert_eq!(jeton.verify_calls(), 1);
    let (status, challenge, body) = service
        .whoami(Some(("authorization", "Bearer jsk_notakey")))
        .await;
    assert_refused(status, challenge, &body);
    assert_eq!(jeton.verify_calls(), 2);

    // The genuine token expected for another issuer or audience.
    let (feed_key, _) = jeton.service_user("rs2", "root", &["feed"]).await;
    for config in [
        Config::new(&jeton.base, "https://other.test", feed_key.clone()),
        Config::new(&jeton.base, ISSUER, feed_key).audience("someone-else"),
    ] {
        let verifier = Verifier::new(config).unwrap();
        assert!(matches!(
            verifier.verify(&token).await,
            Err(VerifyError::Invalid(_))
        ));
    }
    assert_eq!(jeton.verify_calls(), 2);
    // The genuine token passes.
    assert_eq!(service.bearer(&token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_token_is_refused_within_a_second() {
    let jeton = Jeton::spawn(ISSUER).await;
    let service = Protected::spawn(&jeton).await;
    let (token, token_id) = jeton.token().await;
    let (other, _) = jeton.token().await;
    assert_eq!(service.bearer(&token).await.0, StatusCode::OK);
    assert_eq!(service.bearer(&other).await.0, StatusCode::OK);
    assert_eq!(service.bearer(&token).await.0, StatusCode::OK);
    assert_eq!(jeton.verify_calls(), 2);

    let (status, body) = jeton
        .post(
            &format!("/api/v1/tokens/revoke/{token_id}"),
            Some(&jeton.admin),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let took = service.until_refused(&token).await;
    eprintln!("revoked token refused by the protected service after {took:?}");
    assert!(took < PROPAGATION_BOUND, "took {took:?}");
    // Still refused; the other token is unaffected and still cached.
    assert_eq!(service.bearer(&token).await.0, StatusCode::UNAUTHORIZED);
    let calls = jeton.verify_calls();
    assert_eq!(service.bearer(&other).await.0, StatusCode::OK);
    assert_eq!(jeton.verify_calls(), calls);
}

#[tokio::test]
async fn a_rotated_key_is_refused_within_a_second() {
    let jeton = Jeton::spawn(ISSUER).await;
    let service = Protected::spawn(&jeton).await;
    let (old, id) = followed_service_user(&jeton, &service, "etl", &[]).await;
    assert_eq!(service.bearer(&old).await.0, StatusCode::OK);
    assert_eq!(service.bearer(&old).await.0, StatusCode::OK);
    assert_eq!(jeton.verify_calls(), 1);

    let (status, body) = jeton
        .post(
            &format!("/api/v1/service-users/{id}/rotate-key"),
            Some(&jeton.admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let took = service.until_refused(&old).await;
    eprintln!("rotated-out API key refused by the protected service after {took:?}");
    assert!(took < PROPAGATION_BOUND, "took {took:?}");
    let new = body["api_key"].as_str().unwrap();
    let (status, body) = service.bearer(new).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], id.as_str());
}

#[tokio::test]
async fn without_the_feed_every_request_is_asked_and_without_jeton_refused() {
    let jeton = Jeton::spawn(ISSUER).await;
    // A feed key that is not a root service user's: the feed is refused (403).
    let (weak_key, _) = jeton.service_user("not-root", "tenant-user", &[]).await;
    let verifier = Verifier::new(Config::new(&jeton.base, ISSUER, weak_key)).unwrap();
    assert!(!verifier.ready(Duration::from_millis(500)).await);
    assert!(!verifier.following());
    let (token, _) = jeton.token().await;
    for round in 1..=3 {
        let identity = verifier.verify(&token).await.unwrap();
        assert_eq!(identity.username.as_deref(), Some("admin"));
        assert_eq!(jeton.verify_calls(), round, "a cached answer was trusted");
    }

    // Jeton unreachable: refused as unavailable, never accepted.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let verifier = Verifier::new(Config::new(base, ISSUER, "jsk_x")).unwrap();
    assert!(matches!(
        verifier.verify("jsk_something").await,
        Err(VerifyError::Unavailable(_))
    ));
    // A JWT cannot even be checked offline without the JWKS.
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Invalid(_))
    ));
}

/// An OAuth access token of a service user, then one exchanged from it.
async fn oauth_token(jeton: &Jeton, id: &str, key: &str) -> String {
    let (status, body) = jeton
        .post(
            "/oauth/token",
            None,
            json!({"grant_type": "client_credentials", "client_id": id, "client_secret": key}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn exchange(jeton: &Jeton, subject: &str) -> String {
    let (status, body) = jeton
        .post(
            "/oauth/token",
            None,
            json!({
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": subject,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn tokens_exchanged_from_a_revoked_token_are_refused_within_a_second() {
    let jeton = Jeton::spawn(ISSUER).await;
    let service = Protected::spawn(&jeton).await;
    let (key, id) = followed_service_user(&jeton, &service, "etl", &[]).await;
    let root = oauth_token(&jeton, &id, &key).await;
    let a = exchange(&jeton, &root).await;
    let b = exchange(&jeton, &a).await;
    let c = exchange(&jeton, &b).await;
    // Every answer cached by the service.
    for token in [&root, &a, &b, &c] {
        assert_eq!(service.bearer(token).await.0, StatusCode::OK);
    }
    let calls = jeton.verify_calls();
    for token in [&root, &a, &b, &c] {
        assert_eq!(service.bearer(token).await.0, StatusCode::OK);
    }
    assert_eq!(jeton.verify_calls(), calls, "answers were cached");

    // Revoking the middle of the chain: it and its descendants go, its ancestor stays.
    let response = jeton
        .http
        .post(format!("{}/oauth/revoke", jeton.base))
        .basic_auth(&id, Some(&key))
        .form(&[("token", a.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for token in [&a, &b, &c] {
        let took = service.until_refused(token).await;
        assert!(took < PROPAGATION_BOUND, "took {took:?}");
    }
    assert_eq!(service.bearer(&root).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_issuer_may_be_spelled_with_a_trailing_slash_on_either_side() {
    // Jeton configured with the slash, the verifier without (Protected uses `ISSUER`).
    let jeton = Jeton::spawn(&format!("{ISSUER}/")).await;
    let service = Protected::spawn(&jeton).await;
    let (token, _) = jeton.token().await;
    assert_eq!(service.bearer(&token).await.0, StatusCode::OK);

    // Jeton configured without the slash, the verifier with it.
    let jeton = Jeton::spawn(ISSUER).await;
    let (feed_key, _) = jeton
        .service_user("resource-server", "root", &["feed"])
        .await;
    let verifier = Verifier::new(Config::new(&jeton.base, format!("{ISSUER}/"), feed_key)).unwrap();
    assert!(verifier.ready(Duration::from_secs(5)).await);
    let (token, _) = jeton.token().await;
    assert!(verifier.verify(&token).await.is_ok());
}
