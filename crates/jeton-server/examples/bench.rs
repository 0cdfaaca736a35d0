//! Jeton's benchmark: credentials (JWTs and API keys) verified per second in-process and through
//! an authenticated HTTP endpoint, OAuth2 client-credentials tokens issued per second, and API
//! tokens created per second (durably) on SQLite and PostgreSQL.
//!
//! Run: `cargo run --release -p jeton-server --example bench -- [postgres://…]`
//! (see BENCHMARKS.md). A benchmark, not a test: it asserts nothing about speed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jeton_core::Secret;
use jeton_server::service::oauth::{ClientCredentials, TokenRequest};
use jeton_server::service::{CreateServiceUserInput, CreateTokenInput, Service};

const PASSWORD: &str = "bench-password-1";

async fn start(url: &str) -> (Arc<Service>, jeton_server::Running) {
    let mut config = jeton_server::Config::new(url, "127.0.0.1:0".parse().unwrap());
    config.bootstrap_password = Some(PASSWORD.to_string());
    config.login_attempts = 1_000_000;
    let running = jeton_server::start(config).await.expect("start");
    (running.service.clone(), running)
}

async fn admin_actor(service: &Service) -> (String, jeton_server::verify::Actor) {
    let (token, _, _) = service
        .login("admin", &Secret::new(PASSWORD), None)
        .await
        .expect("login");
    let actor = service
        .verifier()
        .verify(token.expose(), service.now())
        .expect("verify");
    (token.expose().to_string(), actor)
}

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

async fn create_tokens(service: &Arc<Service>, label: &str) {
    let (_, actor) = admin_actor(service).await;
    for concurrency in [1usize, 8] {
        let per_task = if concurrency == 1 { 300 } else { 150 };
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let service = service.clone();
            let actor = actor.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let t = Instant::now();
                    service
                        .create_token(&actor, CreateTokenInput::default())
                        .await
                        .expect("create");
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        latencies.sort();
        let p =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        println!(
            "create API token ({label}, {concurrency} concurrent): {:.0} tokens/s, p50 {:.2} ms, p99 {:.2} ms",
            per_sec(latencies.len() as u64, elapsed),
            p(0.50).as_secs_f64() * 1000.0,
            p(0.99).as_secs_f64() * 1000.0
        );
    }
}

/// Sends the request `make` builds from `connections` keep-alive clients for 5 seconds; answers
/// requests per second and the p50 and p99 latencies in milliseconds. Every answer must be 2xx.
async fn http_load<F>(connections: usize, make: F) -> (f64, f64, f64)
where
    F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Clone + Send + 'static,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let response = make(&client).send().await.unwrap();
                assert!(response.status().is_success());
                let _ = response.bytes().await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    (
        per_sec(latencies.len() as u64, elapsed),
        p(0.50).as_secs_f64() * 1000.0,
        p(0.99).as_secs_f64() * 1000.0,
    )
}

#[tokio::main]
async fn main() {
    let postgres = std::env::args().nth(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}/bench.db", dir.path().display());
    let (service, running) = start(&sqlite).await;
    let (token, _) = admin_actor(&service).await;

    // 1. In-process verification of a cached token, and of a token seen for the first time
    //    (Ed25519 signature check).
    let verifier = service.verifier().clone();
    let now = service.now();
    let n = 2_000_000u64;
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(verifier.verify(std::hint::black_box(&token), now).is_ok());
    }
    let elapsed = started.elapsed();
    println!(
        "verify cached JWT in-process: {:.0}/s ({:.0} ns each)",
        per_sec(n, elapsed),
        elapsed.as_nanos() as f64 / n as f64
    );
    let keys = verifier.keys();
    let n = 20_000u64;
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(keys.verify(std::hint::black_box(&token)).is_ok());
    }
    let elapsed = started.elapsed();
    println!(
        "verify JWT signature (first sight, Ed25519): {:.0}/s ({:.1} µs each)",
        per_sec(n, elapsed),
        elapsed.as_secs_f64() * 1e6 / n as f64
    );

    // 1b. API keys: checksum, one HMAC-SHA-256 and a map look-up; and a malformed key, refused
    //     on its checksum before any look-up.
    let (_, admin) = admin_actor(&service).await;
    let created = service
        .create_service_user(
            &admin,
            CreateServiceUserInput {
                name: "bench".into(),
                ..Default::default()
            },
        )
        .await
        .expect("service user");
    let api_key = created.key.expose().to_string();
    let client_id = created.service_user.id.to_string();
    let n = 2_000_000u64;
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(verifier.verify(std::hint::black_box(&api_key), now).is_ok());
    }
    let elapsed = started.elapsed();
    println!(
        "verify API key in-process: {:.0}/s ({:.0} ns each)",
        per_sec(n, elapsed),
        elapsed.as_nanos() as f64 / n as f64
    );
    let mut bad = api_key.clone().into_bytes();
    bad[8] = if bad[8] == b'a' { b'b' } else { b'a' };
    let bad = String::from_utf8(bad).unwrap();
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(verifier.verify(std::hint::black_box(&bad), now).is_err());
    }
    let elapsed = started.elapsed();
    println!(
        "refuse API key with a wrong checksum in-process: {:.0}/s ({:.0} ns each)",
        per_sec(n, elapsed),
        elapsed.as_nanos() as f64 / n as f64
    );

    // 1c. OAuth2 client credentials: authenticate the client, sign an access token.
    let request = TokenRequest {
        grant_type: "client_credentials".into(),
        client: Some(ClientCredentials {
            client_id: client_id.clone(),
            client_secret: Secret::new(api_key.clone()),
        }),
        ..Default::default()
    };
    let n = 20_000u64;
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(service.grant(&request, None).expect("grant"));
    }
    let elapsed = started.elapsed();
    println!(
        "issue client-credentials access token in-process: {:.0}/s ({:.1} µs each)",
        per_sec(n, elapsed),
        elapsed.as_secs_f64() * 1e6 / n as f64
    );

    // 2. Through HTTP: GET /api/v1/auth/verify with a valid token, from keep-alive clients in
    //    this same process (so client and server share the machine's 2 cores).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = jeton_server::http::app(service.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    for (label, credential, connections) in [
        ("JWT", token.clone(), 16usize),
        ("JWT", token.clone(), 64),
        ("API key", api_key.clone(), 16),
    ] {
        let url = format!("http://{addr}/api/v1/auth/verify");
        let (rate, p50, p99) = http_load(connections, move |client| {
            client.get(&url).bearer_auth(&credential)
        })
        .await;
        println!(
            "GET /api/v1/auth/verify over HTTP, {label} ({connections} connections): {rate:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms"
        );
    }

    // 2b. POST /oauth/token over HTTP (client credentials as form fields), 16 connections.
    let url = format!("http://{addr}/oauth/token");
    let form = [
        ("grant_type".to_string(), "client_credentials".to_string()),
        ("client_id".to_string(), client_id.clone()),
        ("client_secret".to_string(), api_key.clone()),
    ];
    let (rate, p50, p99) = http_load(16, move |client| client.post(&url).form(&form)).await;
    println!(
        "POST /oauth/token client credentials over HTTP (16 connections): {rate:.0} tokens/s, p50 {p50:.2} ms, p99 {p99:.2} ms"
    );

    // 3. API tokens created per second, each durable before it is returned.
    create_tokens(&service, "SQLite").await;
    running.shutdown().await;
    match postgres {
        Some(url) => {
            let (service, running) = start(&url).await;
            create_tokens(&service, "PostgreSQL").await;
            running.shutdown().await;
        }
        None => println!("create API token (PostgreSQL): skipped - pass a postgres:// URL"),
    }
}
