//! Criterion benchmarks of in-process verification, next to the primitives it is built from:
//! one HMAC-SHA-256 (the API-key path's keyed hash: the same `hmac`/`sha2` crates, a 64-byte key
//! and a 53-byte key as input) and one SHA-256 of a JWT (the verification cache's key).
//!
//! Times are the benchmarking thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: the
//! development VM's two cores are shared with builds and fuzzers, and time spent preempted would
//! otherwise count. (Caches shared with other processes still do.)
//!
//! Run: `cargo bench -p jeton-server --bench verify` (bench/run does, and reads the estimates
//! from `target/criterion/`). A benchmark, not a test: it asserts nothing about speed.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use jeton_core::Secret;
use jeton_server::service::oauth::{ClientCredentials, TokenRequest};
use jeton_server::service::{CreateServiceUserInput, CreateTokenInput, Service};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "bench-password-1";

/// What the benchmarks verify: a running service on a temporary SQLite file, an API token, a
/// service user's API key and its id.
struct Fixture {
    service: Arc<Service>,
    token: String,
    api_key: String,
    client_id: String,
    _running: jeton_server::Running,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let (running, token, api_key, client_id) = runtime.block_on(async {
        let mut config = jeton_server::Config::new(url, "127.0.0.1:0".parse().unwrap());
        config.bootstrap_password = Some(PASSWORD.to_string());
        let running = jeton_server::start(config).await.expect("start");
        let service = running.service.clone();
        let (session, _, _) = service
            .login("admin", &Secret::new(PASSWORD), None)
            .await
            .expect("login");
        let admin = service
            .verifier()
            .verify(session.expose(), service.now())
            .expect("verify");
        let (token, _) = service
            .create_token(&admin, CreateTokenInput::default())
            .await
            .expect("create token");
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
        (
            running,
            token.expose().to_string(),
            created.key.expose().to_string(),
            created.service_user.id.to_string(),
        )
    });
    Fixture {
        service: running.service.clone(),
        token,
        api_key,
        client_id,
        _running: running,
        _dir: dir,
        _runtime: runtime,
    }
}

/// The calling thread's CPU time, in nanoseconds.
struct ThreadCpuTime;

/// Formats like wall time (nanoseconds).
static NANOSECONDS: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }

    fn end(&self, started: Self::Intermediate) -> Self::Value {
        started.elapsed()
    }

    fn add(&self, a: &Self::Value, b: &Self::Value) -> Self::Value {
        *a + *b
    }

    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        NANOSECONDS.formatter()
    }
}

fn benches(c: &mut Criterion<ThreadCpuTime>) {
    let f = fixture();
    let verifier = f.service.verifier().clone();
    let now = f.service.now();
    println!(
        "fixture: JWT of {} bytes, API key of {} bytes",
        f.token.len(),
        f.api_key.len()
    );

    let mut group = c.benchmark_group("verify");
    // Warm the cache: the first verification checks the signature, the rest hit the cache.
    assert!(verifier.verify(&f.token, now).is_ok());
    group.bench_function("cached_jwt", |b| {
        b.iter(|| verifier.verify(black_box(&f.token), now).is_ok())
    });
    group.bench_function("api_key", |b| {
        b.iter(|| verifier.verify(black_box(&f.api_key), now).is_ok())
    });
    let mut bad = f.api_key.clone().into_bytes();
    bad[8] = if bad[8] == b'a' { b'b' } else { b'a' };
    let bad = String::from_utf8(bad).unwrap();
    group.bench_function("refuse_bad_checksum", |b| {
        b.iter(|| verifier.verify(black_box(&bad), now).is_err())
    });
    let keys = verifier.keys();
    group.bench_function("first_sight_jwt_ed25519", |b| {
        b.iter(|| keys.verify_at(black_box(&f.token), now).is_ok())
    });
    group.finish();

    // The primitives, with the inputs the paths above use.
    let mut group = c.benchmark_group("primitive");
    // The server's key-hashing secret is 64 hex characters, used as bytes (see lib.rs).
    let secret = [b'7'; 64];
    let keyed = Hmac::<Sha256>::new_from_slice(&secret).expect("any key length");
    // As `KeyHasher::hash` does: clone the pre-keyed state, hash the key, finalize.
    group.bench_function("hmac_sha256_api_key", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(f.api_key.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    // The same with the key set up each time (two more compressions).
    group.bench_function("hmac_sha256_api_key_unkeyed", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(black_box(&secret)).expect("key");
            mac.update(black_box(f.api_key.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    group.bench_function("sha256_jwt", |b| {
        b.iter(|| Sha256::digest(black_box(f.token.as_bytes())))
    });
    group.finish();

    let mut group = c.benchmark_group("oauth");
    let request = TokenRequest {
        grant_type: "client_credentials".into(),
        client: Some(ClientCredentials {
            client_id: f.client_id.clone(),
            client_secret: Secret::new(f.api_key.clone()),
        }),
        ..Default::default()
    };
    group.bench_function("grant_client_credentials", |b| {
        b.iter(|| {
            f._runtime
                .block_on(f.service.grant(black_box(&request), None))
                .is_ok()
        })
    });
    group.finish();
}

fn config() -> Criterion<ThreadCpuTime> {
    Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = verify;
    config = config();
    targets = benches
}
criterion_main!(verify);
