//! HTTP tests: a real server on 127.0.0.1 over a real SQLite file, driven with a real HTTP
//! client. Each test starts its own server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::*;

#[tokio::test]
async fn seed_000_token_lifecycle() {
    let server = spawn().await;
    let admin = server.admin().await;
    let alice = server.user(&admin, "alice", "tenant-user", None).await;

    // An ordinary user creates a token for herself, with the description kept.
    let (status, created) = server
        .create_token(
            &alice,
            json!({"description": "PyIceberg automation", "expires_in": "90"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    assert_eq!(created["comment"], "PyIceberg automation");
    assert_eq!(created["kind"], "api");
    assert_eq!(created["status"], "active");
    assert!(created["name"].as_str().unwrap().starts_with("api-"));

    // The token authenticates.
    let (status, me) = server.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["token"]["id"], created["id"]);

    // Listings never contain the value.
    let (status, list) = server.get("/api/v1/tokens", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.to_string().contains(&token));
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == created["id"])
    );

    // Self-revocation (logout) with the seed's path; the token then fails.
    let (status, revoked) = server
        .post("/api/v1/tokens/revoke/self", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    let (status, body) = server.get("/api/v1/me", &token).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    // Active listing hides it; all=true shows it.
    let (_, list) = server.get("/api/v1/tokens?kind=api", &alice).await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    let (_, list) = server.get("/api/v1/tokens?kind=api&all=true", &alice).await;
    assert_eq!(list["items"][0]["status"], "revoked");
}

#[tokio::test]
async fn admin_revokes_lists_and_deletes_other_users_tokens() {
    let server = spawn().await;
    let admin = server.admin().await;
    let bob = server.user(&admin, "bob", "tenant-user", None).await;
    let (_, created) = server.create_token(&bob, json!({"name": "etl"})).await;
    let id = created["id"].as_str().unwrap();
    let token = created["token"].as_str().unwrap();

    let (status, list) = server.get("/api/v1/users/bob/tokens", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id)
    );

    let (status, body) = server
        .post(&format!("/api/v1/tokens/revoke/{id}"), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["revoked_by"].is_string());
    let (status, _) = server.get("/api/v1/me", token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An unknown id is a 404, not a 200.
    let (status, body) = server
        .post(
            "/api/v1/tokens/revoke/0190d2a4-0000-7000-8000-000000000000",
            &admin,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = server
        .post("/api/v1/tokens/revoke/not-a-uuid", &admin, json!({}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    // Bob cannot delete records; the admin can, and the token stays refused.
    let (_, second) = server.create_token(&bob, json!({"name": "second"})).await;
    let second_id = second["id"].as_str().unwrap();
    let (status, body) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{second_id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{second_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server
        .get("/api/v1/me", second["token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .get(&format!("/api/v1/tokens/{second_id}"), &admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revoke all of a user's tokens.
    let (_, third) = server.create_token(&bob, json!({})).await;
    let (status, body) = server
        .post("/api/v1/users/bob/tokens/revoke", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["revoked"].as_u64().unwrap() >= 2, "{body}");
    for t in [third["token"].as_str().unwrap(), bob.as_str()] {
        let (status, _) = server.get("/api/v1/me", t).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn names_comments_and_for_user() {
    let server = spawn().await;
    let admin = server.admin().await;
    let carol = server.user(&admin, "carol", "tenant-user", None).await;
    server.user(&admin, "dave", "tenant-user", None).await;

    let (status, first) = server
        .create_token(
            &carol,
            json!({"name": "ci_pipeline", "expires_in": "30d", "comment": "Токен"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .create_token(&carol, json!({"name": "ci_pipeline"}))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ci_pipeline")
    );

    // After revocation the name is free again.
    let id = first["id"].as_str().unwrap();
    server
        .post(&format!("/api/v1/tokens/revoke/{id}"), &carol, json!({}))
        .await;
    let (status, _) = server
        .create_token(&carol, json!({"name": "ci_pipeline"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Comments change; value and expiry stay.
    let (_, second) = server.create_token(&carol, json!({"name": "x"})).await;
    let path = format!("/api/v1/tokens/{}", second["id"].as_str().unwrap());
    let (status, changed) = server
        .call(
            Method::PATCH,
            &path,
            Some(&carol),
            Some(json!({"comment": "moved to new runner"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["comment"], "moved to new runner");
    assert_eq!(changed["expires_at"], second["expires_at"]);

    // for_user: 403 for a non-admin (even for a user that does not exist), allowed for the admin.
    let (status, body) = server
        .create_token(&carol, json!({"for_user": "dave"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server
        .create_token(&carol, json!({"for_user": "nobody"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server.get("/api/v1/tokens?for_user=dave", &carol).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, created) = server
        .create_token(
            &admin,
            json!({"name": "report_bot", "for_user": "dave", "expires_in": "90d"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["username"], "dave");
    let (status, body) = server
        .create_token(&admin, json!({"for_user": "nobody"}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    // Carol cannot see Dave's token: same answer as a missing one.
    let path = format!("/api/v1/tokens/{}", created["id"].as_str().unwrap());
    let (status, body) = server.get(&path, &carol).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn policies_longest_wins_and_names_the_limit() {
    let server = spawn().await;
    let admin = server.admin().await;
    let analyst = server.user(&admin, "analyst", "tenant-user", None).await;

    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/users/analyst/token-policy",
            Some(&admin),
            Some(json!({"max_duration": "24h"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["effective_max_duration"], "1d");

    let (status, body) = server
        .create_token(&analyst, json!({"expires_in": "30d"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["message"],
        "requested 30d exceeds the maximum of 1d set on user analyst"
    );
    // The default shrinks to the limit.
    let (status, body) = server.create_token(&analyst, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A role with a longer limit wins.
    let (status, _) = server
        .post("/api/v1/roles", &admin, json!({"name": "service_accounts"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/roles/service_accounts/token-policy",
            Some(&admin),
            Some(json!({"max_duration": "30d"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/users/analyst/roles/service_accounts",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .create_token(&analyst, json!({"expires_in": "30d"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .create_token(&analyst, json!({"expires_in": "31d"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set on role service_accounts")
    );

    let (_, policy) = server
        .get("/api/v1/users/analyst/token-policy", &admin)
        .await;
    assert_eq!(policy["source"], "role");
    assert_eq!(policy["effective_max_duration"], "30d");

    // The system maximum.
    let (status, body) = server
        .create_token(&admin, json!({"expires_in": "400d"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the system maximum")
    );
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/users/analyst/token-policy",
            Some(&admin),
            Some(json!({"max_duration": "2y"})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // Only admins set policies.
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/users/analyst/token-policy",
            Some(&analyst),
            Some(json!({"max_duration": "1y"})),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn deactivating_or_deleting_a_user_invalidates_its_tokens_at_once() {
    let server = spawn().await;
    let admin = server.admin().await;
    let erin = server.user(&admin, "erin", "tenant-user", None).await;
    let (_, api_token) = server.create_token(&erin, json!({})).await;
    let api_token = api_token["token"].as_str().unwrap().to_string();

    let (status, _) = server
        .call(
            Method::PATCH,
            "/api/v1/users/erin",
            Some(&admin),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for t in [&erin, &api_token] {
        let (status, _) = server.get("/api/v1/me", t).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A deactivated user cannot log in either.
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "erin", "password": "password-123"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Reactivated: the API token works again (it was never revoked), then deletion ends it.
    server
        .call(
            Method::PATCH,
            "/api/v1/users/erin",
            Some(&admin),
            Some(json!({"active": true})),
        )
        .await;
    let (status, _) = server.get("/api/v1/me", &api_token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/users/erin", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/api/v1/me", &api_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tenants_are_isolated_from_both_sides() {
    let server = spawn().await;
    let root = server.admin().await;
    let (status, _) = server
        .post("/api/v1/tenants", &root, json!({"name": "acme"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .post("/api/v1/tenants", &root, json!({"name": "acme"}))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT);

    let acme_admin = server
        .user(&root, "acme-admin", "tenant-admin", Some("acme"))
        .await;
    let acme_user = server
        .user(&acme_admin, "acme-user", "tenant-user", None)
        .await;
    let default_admin = server
        .user(&root, "default-admin", "tenant-admin", None)
        .await;
    let default_user = server
        .user(&default_admin, "default-user", "tenant-user", None)
        .await;
    let (_, acme_token) = server.create_token(&acme_user, json!({"name": "t"})).await;
    let acme_token_id = acme_token["id"].as_str().unwrap().to_string();
    let (_, default_token) = server
        .create_token(&default_user, json!({"name": "t"}))
        .await;
    let default_token_id = default_token["id"].as_str().unwrap().to_string();

    for (admin, other_user, other_token) in [
        (&acme_admin, "default-user", &default_token_id),
        (&default_admin, "acme-user", &acme_token_id),
    ] {
        // Every way of naming the other tenant's objects answers like a missing object.
        // (the message only echoes the name asked for, exactly as for a name that never existed).
        let (missing_status, missing) = server.get("/api/v1/users/nobody-at-all", admin).await;
        let (status, body) = server
            .get(&format!("/api/v1/users/{other_user}"), admin)
            .await;
        assert_eq!(status, missing_status);
        assert_eq!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .replace(other_user, "NAME"),
            missing["error"]["message"]
                .as_str()
                .unwrap()
                .replace("nobody-at-all", "NAME")
        );
        let (status, _) = server
            .get(&format!("/api/v1/users/{other_user}/tokens"), admin)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = server
            .get(&format!("/api/v1/tokens/{other_token}"), admin)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = server
            .post(
                &format!("/api/v1/tokens/revoke/{other_token}"),
                admin,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = server
            .create_token(admin, json!({"for_user": other_user}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = server
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{other_user}"),
                Some(admin),
                Some(json!({"active": false})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, users) = server.get("/api/v1/users", admin).await;
        assert!(!users.to_string().contains(other_user), "{users}");
        let (_, audit) = server.get("/api/v1/audit", admin).await;
        assert!(!audit.to_string().contains(other_user), "{audit}");
        // Tenants are root's business.
        let (status, _) = server.get("/api/v1/tenants", admin).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // A tenant admin cannot create root users, nor users in another tenant.
    let (status, body) = server
        .post(
            "/api/v1/users",
            &acme_admin,
            json!({"username": "evil", "password": "password-123", "access_level": "root"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, _) = server
        .post(
            "/api/v1/users",
            &acme_admin,
            json!({"username": "evil", "password": "password-123", "tenant": "default"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A tenant admin cannot act on root's tokens in its own tenant.
    let (status, _) = server
        .get("/api/v1/users/admin/tokens", &default_admin)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Tenant users administer nothing.
    let (status, _) = server.get("/api/v1/users", &acme_user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.get("/api/v1/audit", &acme_user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Root sees everything; deleting a tenant ends its tokens.
    let (status, _) = server
        .get(&format!("/api/v1/tokens/{acme_token_id}"), &root)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/tenants/acme", Some(&root), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .get("/api/v1/me", acme_token["token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_credentials_get_one_generic_401() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (_, created) = server.create_token(&admin, json!({})).await;
    let token = created["token"].as_str().unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let truncated = &token[..token.len() - 5];
    parts[2] = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let bad_signature = parts.join(".");
    let huge = "a".repeat(64 * 1024);
    let cases: Vec<&str> = vec![
        "garbage",
        "a.b.c",
        truncated,
        &alg_none,
        &bad_signature,
        &huge,
        "",
    ];
    let mut messages = std::collections::BTreeSet::new();
    for credential in cases {
        let response = server
            .http
            .get(format!("{}/api/v1/me", server.base))
            .header("Authorization", format!("Bearer {credential}"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status == StatusCode::UNAUTHORIZED
                || status == StatusCode::BAD_REQUEST
                || status.as_u16() == 431,
            "{status}"
        );
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.unwrap();
            messages.insert(body["error"]["message"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(messages.len(), 1, "{messages:?}");
    // No credential at all.
    let (status, body) = server.call(Method::GET, "/api/v1/me", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    // The cookie works like the header.
    let response = server
        .http
        .get(format!("{}/api/v1/me", server.base))
        .header("Cookie", format!("auth_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Refusals are audited with their reason.
    end_denial_minute(&server).await;
    let (_, audit) = server.get("/api/v1/audit?action=auth.denied", &admin).await;
    let text = audit.to_string();
    assert!(
        text.contains("bad_signature") && text.contains("wrong_algorithm")
            || text.contains("malformed"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let server = spawn().await;
    let admin = server.admin().await;
    let url = format!("{}/api/v1/tokens", server.base);
    // Malformed JSON.
    let response = server
        .http
        .post(&url)
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    // Wrong content type.
    let response = server
        .http
        .post(&url)
        .bearer_auth(&admin)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Unknown durations.
    for bad in ["5x", "forever", "-1d", "0d", "1.5d"] {
        let (status, body) = server
            .create_token(&admin, json!({"expires_in": bad}))
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
    }
    // Bad names and scopes.
    let (status, body) = server.create_token(&admin, json!({"name": "a b"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = server
        .create_token(&admin, json!({"scopes": ["bad;scope"]}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    // A 10 MB body.
    let big = format!("{{\"comment\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let response = server
        .http
        .post(&url)
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // Bad query and paging values.
    let (status, body) = server.get("/api/v1/tokens?limit=0", &admin).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = server.get("/api/v1/tokens?all=maybe", &admin).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = server.get("/api/v1/tokens?cursor=xyz", &admin).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = server.get("/api/v1/audit?since=yesterday", &admin).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    // Unknown routes answer JSON 404.
    let (status, body) = server.get("/api/v1/nothing-here", &admin).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // Short passwords and unknown access levels.
    let (status, body) = server
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "p", "password": "short"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = server
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "p", "access_level": "god"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = server
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "admin", "password": "password-123"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT);
}

#[tokio::test]
async fn login_is_throttled_and_audited() {
    let server = spawn().await;
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        let (status, _) = server
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "admin", "password": "wrong-password"})),
            )
            .await;
        last = status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let response = server
        .http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn audit_records_who_did_what_and_pages() {
    let server = spawn().await;
    let admin = server.admin().await;
    server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "nope-nope"})),
        )
        .await;
    for i in 0..3 {
        server
            .create_token(&admin, json!({"name": format!("t{i}")}))
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, page) = server
        .get("/api/v1/audit?action=token&limit=2", &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["action"], "token.create");
    assert_eq!(page["items"][0]["target_name"], "t2");
    assert_eq!(page["items"][0]["actor"], "admin");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = server
        .get(
            &format!("/api/v1/audit?action=token&limit=2&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(next["items"][0]["target_name"], "t0");
    let (_, failures) = server
        .get("/api/v1/audit?action=auth.login&user=admin", &admin)
        .await;
    let outcomes: Vec<&str> = failures["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"failure") && outcomes.contains(&"success"),
        "{failures}"
    );
    assert!(!failures.to_string().contains("nope-nope"));
}

#[tokio::test]
async fn operations_endpoints_and_openapi() {
    let server = spawn().await;
    let (status, body) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "sqlite");
    let (status, jwks) = server
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    let (status, doc) = server.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/tokens",
        "/api/v1/tokens/revoke/self",
        "/api/v1/tokens/revoke/{id}",
        "/api/v1/users/{user}/token-policy",
        "/api/v1/audit",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    // The token's header names the key in the JWKS.
    let admin = server.admin().await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(admin.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
}

#[tokio::test]
async fn scoped_tokens_only_narrow() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (status, narrow) = server
        .create_token(&admin, json!({"scopes": ["catalog"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let narrow = narrow["token"].as_str().unwrap();
    // A narrowed admin token cannot administer, nor mint broader tokens.
    let (status, _) = server.get("/api/v1/users", narrow).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .create_token(narrow, json!({"scopes": ["admin"]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, child) = server.create_token(narrow, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(child["scopes"], json!(["catalog"]));
    let (status, _) = server
        .create_token(narrow, json!({"scopes": ["catalog:read"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn forward_auth_answers_with_identity_headers() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (_, created) = server
        .create_token(&admin, json!({"scopes": ["catalog:read"]}))
        .await;
    let token = created["token"].as_str().unwrap();
    let response = server
        .http
        .get(format!("{}/api/v1/auth/verify", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-jeton-user"], "admin");
    assert_eq!(response.headers()["x-jeton-tenant"], "default");
    assert_eq!(response.headers()["x-jeton-scopes"], "catalog:read");
    assert_eq!(
        response.headers()["x-jeton-token-id"],
        created["id"].as_str().unwrap()
    );
    server
        .post("/api/v1/tokens/revoke/self", token, json!({}))
        .await;
    let (status, _) = server.get("/api/v1/auth/verify", token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
