//! API tokens created per second (durably) on SQLite and PostgreSQL, in-process. The other
//! figures of BENCHMARKS.md come from `benches/verify.rs` (criterion), wrk against a `jeton
//! serve` process, and `examples/million.rs`; `bench/run` runs them all.
//!
//! Run: `cargo run --release -p jeton-server --example bench -- [postgres://…]`
//! (see BENCHMARKS.md). A benchmark, not a test: it asserts nothing about speed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jeton_core::Secret;
use jeton_server::service::{CreateTokenInput, Service};

const PASSWORD: &str = "bench-password-1";

async fn start(url: &str) -> (Arc<Service>, jeton_server::Running) {
    let mut config = jeton_server::Config::new(url, "127.0.0.1:0".parse().unwrap());
    config.bootstrap_password = Some(PASSWORD.to_string());
    config.login_attempts = 1_000_000;
    let running = jeton_server::start(config).await.expect("start");
    (running.service.clone(), running)
}

async fn admin_actor(service: &Service) -> jeton_server::verify::Actor {
    let (token, _, _) = service
        .login("admin", &Secret::new(PASSWORD), None)
        .await
        .expect("login");
    service
        .verifier()
        .verify(token.expose(), service.now())
        .expect("verify")
}

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

async fn create_tokens(service: &Arc<Service>, label: &str) {
    let actor = admin_actor(service).await;
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

#[tokio::main]
async fn main() {
    let postgres = std::env::args().nth(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}/bench.db", dir.path().display());
    let (service, running) = start(&sqlite).await;

    // API tokens created per second, each durable before it is returned.
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
