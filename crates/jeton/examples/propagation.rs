//! Revocation propagation between two `jeton serve` instances on one PostgreSQL database: for
//! each of N tokens, revoke it through instance A and poll instance B until it refuses it; the
//! time from A's acknowledgment to B's first refusal is the propagation time. Prints p50, p99
//! and max. Run by `bench/propagation` (release build, fresh database):
//!
//! ```sh
//! cargo run --release -p jeton --example propagation -- JETON_BINARY DATABASE_URL [N]
//! ```

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "propagation-bench-password";

struct Instance {
    base: String,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(binary: &str, database_url: &str) -> Instance {
    let port = free_port();
    let child = Command::new(binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", database_url])
        .args(["--issuer", "https://jeton.bench", "--log", "warn"])
        .env("JETON_BOOTSTRAP_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .spawn()
        .expect("cannot start jeton serve");
    Instance {
        base: format!("http://127.0.0.1:{port}"),
        child,
    }
}

async fn ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn verify(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    client
        .get(format!("{base}/api/v1/auth/verify"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(binary), Some(database_url)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: propagation JETON_BINARY DATABASE_URL [N]");
        std::process::exit(2);
    };
    let n: usize = args.get(3).map_or(1000, |n| n.parse().expect("N"));
    let a = start(binary, database_url);
    let b = start(binary, database_url);
    let client = reqwest::Client::new();
    ready(&client, &a.base).await;
    ready(&client, &b.base).await;
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", a.base))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["token"].as_str().unwrap().to_string();

    let mut lags = Vec::with_capacity(n);
    let mut polls = 0u64;
    for i in 0..n {
        let created: Value = client
            .post(format!("{}/api/v1/tokens", a.base))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("p{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = created["token"].as_str().unwrap();
        let id = created["id"].as_str().unwrap();
        // B knows it (and has it in its verification cache).
        while verify(&client, &b.base, token).await != 200 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let response = client
            .post(format!("{}/api/v1/tokens/revoke/{id}", a.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let acknowledged = Instant::now();
        loop {
            polls += 1;
            if verify(&client, &b.base, token).await == 401 {
                break;
            }
            assert!(
                acknowledged.elapsed() < Duration::from_secs(10),
                "revocation {i} never reached instance B"
            );
        }
        lags.push(acknowledged.elapsed());
    }
    lags.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "revocation propagation over {n} revocations: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         ({} verification polls of instance B)",
        ms(percentile(&lags, 50.0)),
        ms(percentile(&lags, 99.0)),
        ms(lags[lags.len() - 1]),
        polls
    );
}
