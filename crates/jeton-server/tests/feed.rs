//! The change feed as resource servers read it (`GET /api/v1/changes`), and signing-key
//! rotation (`/api/v1/signing-keys`), on one server. Several instances: `crates/jeton/tests/
//! cluster.rs`.

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

fn entities(page: &Value) -> Vec<(String, String)> {
    page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["entity"].as_str().unwrap().to_string(),
                c["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Reads the feed from `after` until a change of `entity` about `id` appears (the settled mark
/// follows within the poll interval); returns the position after it.
async fn until_change(
    server: &common::Server,
    token: &str,
    mut after: i64,
    entity: &str,
    id: &str,
) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, page) = server
            .get(&format!("/api/v1/changes?after={after}&wait=2"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["reset"], json!(false));
        let next = page["next"].as_i64().unwrap();
        assert!(
            next >= after,
            "the position never goes back: {after} -> {next}"
        );
        after = next;
        if entities(&page).iter().any(|(e, i)| e == entity && i == id) {
            return after;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {entity} change about {id}"
        );
    }
}

#[tokio::test]
async fn feed_tells_of_revocations_deactivations_and_key_rotations() {
    let server = common::spawn().await;
    let root = server.admin().await;

    // Without a position: the current one, and nothing else.
    let (status, start) = server.get("/api/v1/changes", &root).await;
    assert_eq!(status, StatusCode::OK, "{start}");
    assert_eq!(entities(&start), vec![]);
    let after = start["next"].as_i64().unwrap();

    // A revoked token.
    let (_, token) = server.create_token(&root, json!({"name": "ci"})).await;
    let token_id = token["id"].as_str().unwrap();
    let (status, _) = server
        .post(
            &format!("/api/v1/tokens/revoke/{token_id}"),
            &root,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let after = until_change(&server, &root, after, "revocation", token_id).await;

    // A deactivated user.
    let alice = server.user(&root, "alice", "tenant-user", None).await;
    let (_, me) = server.get("/api/v1/me", &alice).await;
    let alice_id = me["id"]
        .as_str()
        .or(me["user"]["id"].as_str())
        .unwrap()
        .to_string();
    let (status, _) = server
        .call(
            reqwest::Method::PATCH,
            "/api/v1/users/alice",
            Some(&root),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let after = until_change(&server, &root, after, "user", &alice_id).await;

    // A service user's key rotated; a root service user narrowed to another scope reads the
    // feed too (it is what a resource server uses), without being able to administer.
    let (status, svc) = server
        .post(
            "/api/v1/service-users",
            &root,
            json!({"name": "resource-server", "access_level": "root", "scopes": ["feed"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{svc}");
    let svc_id = svc["id"].as_str().unwrap().to_string();
    let key = svc["api_key"].as_str().unwrap().to_string();
    let (status, rotated) = server
        .post(
            &format!("/api/v1/service-users/{svc_id}/rotate-key"),
            &root,
            json!({"grace": "1h"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let after = until_change(&server, &root, after, "api_keys", &svc_id).await;
    let (status, page) = server
        .get(&format!("/api/v1/changes?after={after}"), &key)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, _) = server.get("/api/v1/tenants", &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "narrowed: no administration");

    // Long polling with nothing new answers after the wait, at the same position. (First read
    // what is left: a rotation writes two rows.)
    let mut after = after;
    loop {
        let (_, page) = server
            .get(&format!("/api/v1/changes?after={after}&wait=1"), &root)
            .await;
        if entities(&page).is_empty() {
            break;
        }
        after = page["next"].as_i64().unwrap();
    }
    let started = std::time::Instant::now();
    let (status, page) = server
        .get(&format!("/api/v1/changes?after={after}&wait=1"), &root)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entities(&page), vec![]);
    assert_eq!(page["next"].as_i64(), Some(after));
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Bad queries are 400s; tenant admins and users are refused.
    for query in ["after=-1", "wait=61", "after=abc", "wait=-1"] {
        let (status, body) = server.get(&format!("/api/v1/changes?{query}"), &root).await;
        common::assert_error(status, &body, StatusCode::BAD_REQUEST);
    }
    let dora = server.user(&root, "dora", "tenant-admin", None).await;
    let (status, body) = server.get("/api/v1/changes", &dora).await;
    common::assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server.get("/api/v1/changes", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn signing_key_rotation_keeps_old_tokens_verifying() {
    let server = common::spawn().await;
    let root = server.admin().await;
    let (_, before) = server.create_token(&root, json!({"name": "before"})).await;
    let old_token = before["token"].as_str().unwrap().to_string();

    let (status, keys) = server.get("/api/v1/signing-keys", &root).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["status"], json!("signing"));
    let old_kid = keys[0]["kid"].as_str().unwrap().to_string();

    let (status, key) = server
        .post("/api/v1/signing-keys/rotate", &root, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let new_kid = key["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert_eq!(key["status"], json!("signing"));

    let (status, keys) = server.get("/api/v1/signing-keys", &root).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys[0]["kid"], json!(new_kid));
    assert_eq!(keys[1]["kid"], json!(old_kid));
    assert_eq!(keys[1]["status"], json!("verifying"));
    assert!(keys[1]["published_until"].is_string());
    for key in keys.as_array().unwrap() {
        assert!(key.get("private_key").is_none());
    }

    // New tokens carry the new kid; the old token still verifies; both are in the JWKS.
    let (_, after) = server.create_token(&root, json!({"name": "after"})).await;
    let new_token = after["token"].as_str().unwrap();
    for (token, kid) in [(new_token, &new_kid), (old_token.as_str(), &old_kid)] {
        let header = token.split('.').next().unwrap();
        use base64::Engine;
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["kid"].as_str(), Some(kid.as_str()));
        let (status, _) = server.get("/api/v1/auth/verify", token).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, jwks) = server
        .call(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

    // Once the longest token lifetime has passed, the retired key is no longer published.
    server.clock.advance(366 * 24 * 3600);
    let root = server.admin().await;
    let (status, _) = server
        .post("/api/v1/signing-keys/rotate", &root, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, jwks) = server
        .call(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(!kids.contains(&old_kid.as_str()), "{jwks}");
    assert!(kids.contains(&new_kid.as_str()), "{jwks}");

    // Only root.
    let dora = server.user(&root, "dora", "tenant-admin", None).await;
    let (status, body) = server
        .post("/api/v1/signing-keys/rotate", &dora, json!({}))
        .await;
    common::assert_error(status, &body, StatusCode::FORBIDDEN);
}
