//! Operations (issue 6): `GET /metrics` in Prometheus' text format — what each metric counts,
//! with exact differences between two scrapes, labels that name route templates and never a
//! path or a credential — and the request id every answer carries.
//!
//! One test per process for the metrics (this file's binary), so that nothing else moves the
//! process-wide counters between two scrapes.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::json;

mod common;
use common::*;

/// One scrape: each sample by name and its sorted labels.
struct Scrape {
    text: String,
    samples: BTreeMap<(String, BTreeSet<(String, String)>), f64>,
}

impl Scrape {
    async fn take(server: &Server) -> Self {
        let response = server
            .http
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        let text = response.text().await.unwrap();
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').expect("labels end with }");
                    let labels = split_labels(rest);
                    (name.to_string(), labels)
                }
                None => (series.to_string(), BTreeSet::new()),
            };
            samples.insert((name, labels), value);
        }
        Scrape { text, samples }
    }

    /// The value of a sample, 0 when absent.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .get(&(name.to_string(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// The label values of `label` across the samples of `name`.
    fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.samples
            .keys()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, labels)| labels.iter())
            .filter(|(k, _)| k == label)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// `a="x",b="y"` (values here never hold a quote or a comma).
fn split_labels(text: &str) -> BTreeSet<(String, String)> {
    text.split("\",")
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
            (key.to_string(), value.trim_end_matches('"').to_string())
        })
        .collect()
}

/// `after - before` for one sample.
fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.get(name, labels) - before.get(name, labels)
}

#[tokio::test]
async fn metrics_count_requests_verifications_cache_and_pool_without_secrets() {
    let served = spawn_served(|_| {}).await;
    let server = &served.server;
    let admin = server.admin().await;
    let (status, created) = server
        .create_token(&admin, json!({"name": "metrics", "expires_in": "1d"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let api_token = created["token"].as_str().unwrap().to_string();
    let token_id = created["id"].as_str().unwrap().to_string();
    // The admin's header and claims with the API token's signature: a bad signature.
    let forged = format!(
        "{}.{}",
        admin.rsplit_once('.').unwrap().0,
        api_token.rsplit_once('.').unwrap().1
    );

    let before = Scrape::take(server).await;

    // Two uses of a token never verified before: one cache miss, then one hit.
    for _ in 0..2 {
        let (status, body) = server.get("/api/v1/me", &api_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A token read by id, one that does not exist, and a secret pasted where an id goes.
    let (status, _) = server
        .get(&format!("/api/v1/tokens/{token_id}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .get(
            "/api/v1/tokens/0190a0c4-0000-7000-8000-000000000000",
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (pasted, _) = server
        .get(&format!("/api/v1/tokens/{api_token}"), &admin)
        .await;
    assert!(
        matches!(pasted.as_u16(), 400 | 404),
        "a token as an id: {pasted}"
    );
    // Refused credentials: a forged token, a malformed API key, none at all.
    let (status, _) = server.get("/api/v1/me", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.get("/api/v1/me", "jsk_not-a-key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // No route: a path with a would-be secret in it, and a made-up method.
    let (status, _) = server
        .call(
            Method::GET,
            "/no/such/s3cr3t-in-a-path?token=s3cr3t-in-a-query",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let brew = Method::from_bytes(b"BREW").unwrap();
    let (status, _) = server.call(brew, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    let after = Scrape::take(server).await;
    let requests = "jeton_http_requests_total";
    let verifications = "jeton_verifications_total";
    let me = [("route", "/api/v1/me"), ("method", "GET")];
    assert_eq!(
        delta(
            &before,
            &after,
            requests,
            &[me[0], me[1], ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            requests,
            &[me[0], me[1], ("status", "401")]
        ),
        3.0
    );
    let by_id = [("route", "/api/v1/tokens/{id}"), ("method", "GET")];
    let pasted = pasted.as_u16().to_string();
    for (status, count) in [("200", 1.0), ("404", 1.0), (pasted.as_str(), 1.0)] {
        let count = if status == "404" && pasted == "404" {
            2.0
        } else {
            count
        };
        assert_eq!(
            delta(
                &before,
                &after,
                requests,
                &[by_id[0], by_id[1], ("status", status)]
            ),
            count,
            "GET /api/v1/tokens/{{id}} {status}"
        );
    }
    assert_eq!(
        delta(
            &before,
            &after,
            requests,
            &[("route", "other"), ("method", "GET"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            requests,
            &[
                ("route", "/healthz"),
                ("method", "other"),
                ("status", "405")
            ]
        ),
        1.0
    );
    // The scrape itself counts (the first one, seen by the second).
    assert_eq!(
        delta(
            &before,
            &after,
            requests,
            &[("route", "/metrics"), ("method", "GET"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "jeton_http_request_duration_seconds_count",
            &[me[0]]
        ),
        5.0
    );
    // Routes are templates, methods a fixed set.
    let routes = after.label_values(requests, "route");
    assert!(
        routes.iter().all(|r| r == "other" || r.starts_with('/')),
        "{routes:?}"
    );
    assert!(
        !routes
            .iter()
            .any(|r| r.contains("0190a0c4") || r.contains("/no/")),
        "{routes:?}"
    );

    // Verifications: 3 admin session uses, 2 API token uses, 3 refusals.
    let verified = |kind: &str, outcome: &str| {
        delta(
            &before,
            &after,
            verifications,
            &[("kind", kind), ("outcome", outcome)],
        )
    };
    assert_eq!(verified("api", "ok"), 2.0);
    assert_eq!(verified("session", "ok"), 3.0);
    assert_eq!(verified("token", "bad_signature"), 1.0);
    assert_eq!(verified("api_key", "malformed_key"), 1.0);
    assert_eq!(verified("none", "missing"), 1.0);
    assert_eq!(
        delta(
            &before,
            &after,
            "jeton_verification_duration_seconds_count",
            &[]
        ),
        8.0
    );
    // The API token: missed once, then hit; the admin's session: 3 hits; the forgery: a miss.
    assert_eq!(
        delta(&before, &after, "jeton_verify_cache_misses_total", &[]),
        2.0
    );
    assert_eq!(
        delta(&before, &after, "jeton_verify_cache_hits_total", &[]),
        4.0
    );

    // The pool, sampled at the scrape.
    let connections = after.get("jeton_db_pool_connections", &[]);
    let idle = after.get("jeton_db_pool_idle_connections", &[]);
    assert!((1.0..=4.0).contains(&connections), "{connections}");
    assert!(
        (0.0..=connections).contains(&idle),
        "{idle} of {connections}"
    );

    // Described, histograms as histograms.
    for (name, kind) in [
        ("jeton_http_requests_total", "counter"),
        ("jeton_http_request_duration_seconds", "histogram"),
        ("jeton_verifications_total", "counter"),
        ("jeton_verification_duration_seconds", "histogram"),
        ("jeton_verify_cache_hits_total", "counter"),
        ("jeton_verify_cache_misses_total", "counter"),
        ("jeton_db_pool_connections", "gauge"),
        ("jeton_db_pool_idle_connections", "gauge"),
        // The follower applied the new database's first rows (and each write's) at once.
        ("jeton_propagation_lag_seconds", "histogram"),
        ("jeton_changes_applied_total", "counter"),
    ] {
        assert!(
            after.text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
        assert!(
            after.text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} is not a {kind}"
        );
    }
    assert!(
        after
            .text
            .contains("jeton_verification_duration_seconds_bucket{le=\"0.00001\"}")
    );

    // Nothing a client sent shows: no credential, no piece of one, no path, no query.
    let signature = api_token.rsplit_once('.').unwrap().1;
    for secret in [
        api_token.as_str(),
        &signature[..16],
        admin.rsplit_once('.').unwrap().1,
        ADMIN_PASSWORD,
        "s3cr3t",
        "not-a-key",
        &token_id,
    ] {
        assert!(!after.text.contains(secret), "/metrics shows {secret}");
    }

    served.shut_down().await.unwrap();
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let server = spawn().await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string()
    };
    // Generated when absent: a UUID, a new one each time.
    let first = server
        .http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    let second = server
        .http
        .get(format!("{}/nope", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::NOT_FOUND);
    let (a, b) = (id_of(&first), id_of(&second));
    assert_ne!(a, b);
    for id in [&a, &b] {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    // A client's sane id is kept, on errors too.
    for (path, status) in [("/healthz", 200), ("/api/v1/me", 401)] {
        let response = server
            .http
            .get(format!("{}{path}", server.base))
            .header("x-request-id", "client-chosen.id_42")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(id_of(&response), "client-chosen.id_42");
    }
    // Anything else is replaced.
    for insane in ["", "has space", "semi;colon", &"x".repeat(65), "ünï"] {
        let response = server
            .http
            .get(format!("{}/healthz", server.base))
            .header("x-request-id", insane)
            .send()
            .await
            .unwrap();
        let id = id_of(&response);
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "{insane:?} became {id:?}"
        );
    }
}
