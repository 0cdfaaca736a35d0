//! Service users, API keys, rotation, the OAuth2 endpoints and gateway mode, against a real
//! server over a real SQLite file with a real HTTP client.

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::*;

/// Creates a service user; answers its id and key.
async fn service_user(server: &Server, by: &str, body: Value) -> (String, String) {
    let (status, created) = server.post("/api/v1/service-users", by, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["id"].as_str().unwrap().to_string(),
        created["api_key"].as_str().unwrap().to_string(),
    )
}

/// `GET /api/v1/auth/verify` with a key in `X-API-Key`.
async fn verify_key(server: &Server, key: &str) -> (StatusCode, reqwest::header::HeaderMap) {
    let response = server
        .http
        .get(format!("{}/api/v1/auth/verify", server.base))
        .header("X-API-Key", key)
        .send()
        .await
        .unwrap();
    (response.status(), response.headers().clone())
}

/// `GET /api/v1/auth/verify` with `Authorization: Bearer`.
async fn verify_bearer(server: &Server, token: &str) -> StatusCode {
    server.get("/api/v1/auth/verify", token).await.0
}

/// The token endpoint with form fields; answers status and body.
async fn oauth_form(server: &Server, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = server
        .http
        .post(format!("{}{path}", server.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn client_credentials(server: &Server, id: &str, key: &str) -> String {
    let (status, body) = oauth_form(
        server,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", key),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn audit_actions(server: &Server, admin: &str) -> Vec<(String, Value)> {
    // High-volume events are written by a background task; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, page) = server.get("/api/v1/audit?limit=500", admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["details"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn service_user_lifecycle_and_key_shown_once() {
    let server = spawn_with(|c| c.last_used_flush = Duration::from_millis(100)).await;
    let admin = server.admin().await;
    let (status, created) = server
        .post(
            "/api/v1/service-users",
            &admin,
            json!({"name": "etl-pipeline", "role": "TenantUser", "description": "nightly loads", "expires_in": "90d"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let key = created["api_key"].as_str().unwrap().to_string();
    assert_eq!(created["client_id"], created["id"]);
    assert_eq!(created["access_level"], "tenant-user");
    assert_eq!(created["role"], "TenantUser");
    assert_eq!(created["status"], "active");
    assert!(created["expires_at"].is_string());
    assert!(key.starts_with("jsk_") && key.len() == 4 + 43 + 6, "{key}");
    assert!(created["key_hint"].as_str().unwrap().starts_with("jsk_"));

    // The key works as X-API-Key and as a bearer credential.
    let (status, headers) = verify_key(&server, &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-jeton-user"], "etl-pipeline");
    assert_eq!(headers["x-jeton-tenant"], "default");
    assert_eq!(verify_bearer(&server, &key).await, StatusCode::OK);
    let (status, me) = server.get("/api/v1/me", &key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "etl-pipeline");
    assert_eq!(me["token"]["kind"], "api_key");

    // Listing and showing never carry the key; last use appears once recorded.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, page) = server.get("/api/v1/service-users", &admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let listed = &page["items"][0];
    assert_eq!(listed["name"], "etl-pipeline");
    assert!(listed.get("api_key").is_none());
    assert!(!page.to_string().contains(&key));
    assert!(listed["last_used_at"].is_string(), "{listed}");
    let (status, shown) = server
        .get(&format!("/api/v1/service-users/{id}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!shown.to_string().contains(&key));
    let (status, by_name) = server
        .get("/api/v1/service-users/etl-pipeline", &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_name["id"], shown["id"]);

    // A duplicate name in the tenant is a conflict.
    let (status, body) = server
        .post(
            "/api/v1/service-users",
            &admin,
            json!({"name": "etl-pipeline"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT);

    // Update, disable (key refused at once), enable (works again).
    let (status, updated) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/service-users/{id}"),
            Some(&admin),
            Some(json!({"description": "hourly loads"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "hourly loads");
    let (status, disabled) = server
        .post(
            &format!("/api/v1/service-users/{id}/disable"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(verify_key(&server, &key).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .post(
            &format!("/api/v1/service-users/{id}/enable"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verify_key(&server, &key).await.0, StatusCode::OK);

    // Delete: the key is refused at once.
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/service-users/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(verify_key(&server, &key).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = server
        .get(&format!("/api/v1/service-users/{id}"), &admin)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    let actions: Vec<String> = audit_actions(&server, &admin)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    for expected in [
        "service_user.create",
        "service_user.update",
        "service_user.disable",
        "service_user.enable",
        "service_user.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn malformed_and_unknown_keys_are_refused_differently_in_the_audit_log() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (_, key) = service_user(&server, &admin, json!({"name": "bi"})).await;
    // One character changed: the checksum fails, and no lookup happens.
    let mut altered = key.clone().into_bytes();
    altered[10] = if altered[10] == b'a' { b'b' } else { b'a' };
    let altered = String::from_utf8(altered).unwrap();
    assert_eq!(
        verify_key(&server, &altered).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A well-formed key with a valid checksum that nobody has.
    let unknown = jeton_core::apikey::generate("jsk_", [9; 32]);
    assert_eq!(
        verify_key(&server, unknown.expose()).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Truncated, padded, another prefix.
    for bad in [&key[..20], &format!("{key}x"), &key.replace("jsk_", "pgl_")] {
        assert_eq!(verify_key(&server, bad).await.0, StatusCode::UNAUTHORIZED);
    }
    end_denial_minute(&server).await;
    let reasons: Vec<String> = audit_actions(&server, &admin)
        .await
        .into_iter()
        .filter(|(a, _)| a == "auth.denied")
        .map(|(_, d)| d["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.contains(&"malformed_key".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"unknown_key".to_string()), "{reasons:?}");
}

#[tokio::test]
async fn rotation_stops_the_old_key_and_its_tokens_at_once() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, old_key) = service_user(&server, &admin, json!({"name": "etl"})).await;
    let old_token = client_credentials(&server, &id, &old_key).await;
    assert_eq!(verify_bearer(&server, &old_token).await, StatusCode::OK);

    let (status, rotated) = server
        .post(
            &format!("/api/v1/service-users/{id}/rotate-key"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_key = rotated["api_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, old_key);
    assert_eq!(
        verify_key(&server, &old_key).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        verify_bearer(&server, &old_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(verify_key(&server, &new_key).await.0, StatusCode::OK);
    let (status, body) = oauth_form(
        &server,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &old_key),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    // Using the superseded key is its own audit event.
    let actions = audit_actions(&server, &admin).await;
    assert!(actions.iter().any(|(a, _)| a == "api_key.rotate"));
    assert!(
        actions.iter().any(|(a, _)| a == "api_key.superseded_used"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn grace_period_ends_on_first_use_of_the_new_key_or_in_time() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, first) = service_user(&server, &admin, json!({"name": "etl"})).await;
    let rotate = |grace: &'static str| {
        let server = &server;
        let admin = admin.clone();
        let id = id.clone();
        async move {
            let (status, body) = server
                .post(
                    &format!("/api/v1/service-users/{id}/rotate-key"),
                    &admin,
                    json!({"grace": grace}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(body["previous_key_valid_until"].is_string(), "{body}");
            body["api_key"].as_str().unwrap().to_string()
        }
    };
    // The old key keeps working during the grace period...
    let second = rotate("1h").await;
    assert_eq!(verify_key(&server, &first).await.0, StatusCode::OK);
    assert_eq!(verify_key(&server, &first).await.0, StatusCode::OK);
    // ... until the new key is first used.
    assert_eq!(verify_key(&server, &second).await.0, StatusCode::OK);
    assert_eq!(
        verify_key(&server, &first).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Or until the period ends.
    let third = rotate("1h").await;
    assert_eq!(verify_key(&server, &second).await.0, StatusCode::OK);
    server.clock.advance(3_601);
    assert_eq!(
        verify_key(&server, &second).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(verify_key(&server, &third).await.0, StatusCode::OK);

    // A grace period is a duration, and not a long one.
    for (grace, expected) in [
        ("soon", StatusCode::BAD_REQUEST),
        ("90d", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, body) = server
            .post(
                &format!("/api/v1/service-users/{id}/rotate-key"),
                &admin,
                json!({"grace": grace}),
            )
            .await;
        assert_error(status, &body, expected);
    }
    // The end of the grace period by first use is recorded for the audit log and survives.
    let actions = audit_actions(&server, &admin).await;
    assert!(
        actions.iter().any(|(a, _)| a == "api_key.grace_end"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn expiry_and_disabling_stop_keys_and_oauth_tokens() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) =
        service_user(&server, &admin, json!({"name": "temp", "expires_in": "1h"})).await;
    let token = client_credentials(&server, &id, &key).await;
    assert_eq!(verify_bearer(&server, &token).await, StatusCode::OK);
    server.clock.advance(3_601);
    assert_eq!(verify_key(&server, &key).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        verify_bearer(&server, &token).await,
        StatusCode::UNAUTHORIZED
    );

    let (id, key) = service_user(&server, &admin, json!({"name": "etl"})).await;
    let token = client_credentials(&server, &id, &key).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/service-users/{id}/disable"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        verify_bearer(&server, &token).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = oauth_form(
        &server,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &key),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn tenant_admins_stay_in_their_tenant_and_below_their_level() {
    let server = spawn().await;
    let root = server.admin().await;
    let (status, _) = server
        .post("/api/v1/tenants", &root, json!({"name": "globex"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let acme_admin = server.user(&root, "acme-admin", "tenant-admin", None).await;
    let globex_admin = server
        .user(&root, "globex-admin", "tenant-admin", Some("globex"))
        .await;
    let alice = server.user(&root, "alice", "tenant-user", None).await;

    // No root service user from a tenant admin, nor a tenant-admin one from a tenant user.
    let (status, body) = server
        .post(
            "/api/v1/service-users",
            &acme_admin,
            json!({"name": "god", "access_level": "root"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server
        .post("/api/v1/service-users", &alice, json!({"name": "mine"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server.get("/api/v1/service-users", &alice).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    // Another tenant's service user is "not found", for reading, rotating, disabling, deleting.
    let (theirs, their_key) =
        service_user(&server, &globex_admin, json!({"name": "globex-etl"})).await;
    let (_, missing) = server
        .get(
            &format!("/api/v1/service-users/{}", uuid_like()),
            &acme_admin,
        )
        .await;
    let (status, body) = server
        .get(&format!("/api/v1/service-users/{theirs}"), &acme_admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&theirs, "X"),
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&uuid_like(), "X")
    );
    for (method, path) in [
        (
            Method::POST,
            format!("/api/v1/service-users/{theirs}/rotate-key"),
        ),
        (
            Method::POST,
            format!("/api/v1/service-users/{theirs}/disable"),
        ),
        (Method::DELETE, format!("/api/v1/service-users/{theirs}")),
    ] {
        let (status, body) = server
            .call(method, &path, Some(&acme_admin), Some(json!({})))
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    assert_eq!(verify_key(&server, &their_key).await.0, StatusCode::OK);
    let (status, page) = server.get("/api/v1/service-users", &acme_admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.to_string().contains("globex-etl"));

    // A root service user, made by root, cannot be rotated by a tenant admin of its tenant.
    let (god, _) = service_user(
        &server,
        &root,
        json!({"name": "god", "access_level": "root"}),
    )
    .await;
    let (status, body) = server
        .post(
            &format!("/api/v1/service-users/{god}/rotate-key"),
            &acme_admin,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    // A tenant-admin service user administers its own tenant only, and owns no personal tokens.
    let (_, admin_key) = service_user(
        &server,
        &acme_admin,
        json!({"name": "provisioner", "access_level": "TenantAdmin"}),
    )
    .await;
    let (status, page) = server.get("/api/v1/users", &admin_key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.to_string().contains("globex-admin"));
    let (status, body) = server
        .post("/api/v1/tokens", &admin_key, json!({"comment": "x"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("service users"),
        "{body}"
    );
    let (status, created) = server
        .post(
            "/api/v1/tokens",
            &admin_key,
            json!({"comment": "for alice", "for_user": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

fn uuid_like() -> String {
    "0190b5a2-0000-7000-8000-000000000000".to_string()
}

#[tokio::test]
async fn oauth_token_endpoint_speaks_rfc_6749() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) = service_user(
        &server,
        &admin,
        json!({"name": "etl", "scopes": ["catalog"]}),
    )
    .await;

    // Form fields, at every path an Iceberg client may use; Bearer headers are ignored.
    for path in [
        "/oauth/token",
        "/v1/oauth/tokens",
        "/v1/default/v1/oauth/tokens",
    ] {
        let response = server
            .http
            .post(format!("{}{path}", server.base))
            .bearer_auth("an-old-expired-token")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", key.as_str()),
                ("scope", "catalog"),
                ("audience", "ignored"),
                ("resource", "ignored"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "catalog");
        assert_eq!(
            body["issued_token_type"],
            "urn:ietf:params:oauth:token-type:access_token"
        );
        let token = body["access_token"].as_str().unwrap();
        let (status, me) = server.get("/api/v1/me", token).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["token"]["kind"], "oauth");
        assert_eq!(me["token"]["scopes"], json!(["catalog"]));
    }

    // HTTP Basic.
    let response = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .basic_auth(&id, Some(&key))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Errors, exactly in RFC 6749 §5.2 form.
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "jsk_wrong"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "not-a-uuid"),
                ("client_secret", &key),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", "x"),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", &id)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &key),
                ("scope", "warehouse"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &key),
                ("scope", "catalog catalog:x!"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &key),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (form, status, error) in cases {
        let (got, body) = oauth_form(&server, "/oauth/token", &form).await;
        assert_eq!(got, status, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}");
        assert!(body["error_description"].is_string());
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    }
    let response = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .basic_auth(&id, Some("jsk_nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    // A tenant-user client may not ask for `admin`.
    let (plain_id, plain_key) = service_user(&server, &admin, json!({"name": "plain"})).await;
    let (status, body) = oauth_form(
        &server,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &plain_id),
            ("client_secret", &plain_key),
            ("scope", "admin"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");

    // Token exchange refreshes an access token for the same client.
    let token = client_credentials(&server, &plain_id, &plain_key).await;
    let (status, body) = oauth_form(
        &server,
        "/v1/oauth/tokens",
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = oauth_form(
        &server,
        "/oauth/token",
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", "garbage"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn failed_client_authentication_is_throttled() {
    let server = spawn_with(|c| c.login_attempts = 3).await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, json!({"name": "etl"})).await;
    for _ in 0..3 {
        let (status, _) = oauth_form(
            &server,
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "jsk_guess"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", key.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string() && body["error_description"].is_string());
    // The window passes; the right secret works again.
    server.clock.advance(61);
    client_credentials(&server, &id, &key).await;
}

#[tokio::test]
async fn introspection_and_revocation() {
    let server = spawn().await;
    let root = server.admin().await;
    let (id, key) = service_user(&server, &root, json!({"name": "etl"})).await;
    let token = client_credentials(&server, &id, &key).await;
    let (status, _) = server
        .post("/api/v1/tenants", &root, json!({"name": "globex"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (other_id, other_key) = service_user(
        &server,
        &root,
        json!({"name": "globex-etl", "tenant": "globex"}),
    )
    .await;
    let other_token = client_credentials(&server, &other_id, &other_key).await;

    let introspect = |token: String| {
        let server = &server;
        let (id, key) = (id.clone(), key.clone());
        async move {
            let response = server
                .http
                .post(format!("{}/oauth/introspect", server.base))
                .basic_auth(&id, Some(&key))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let own = introspect(token.clone()).await;
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["client_id"], id.as_str());
    assert_eq!(own["tenant"], "default");
    assert!(own["exp"].is_i64());
    assert_eq!(introspect("garbage".into()).await, json!({"active": false}));
    assert_eq!(
        introspect(other_token.clone()).await,
        json!({"active": false})
    );

    // Bad client credentials for introspection.
    let response = server
        .http
        .post(format!("{}/oauth/introspect", server.base))
        .basic_auth(&id, Some("jsk_x"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // RFC 7009: revoke own token; another tenant's token is left alone (and looks the same).
    for target in [&other_token, &token] {
        let response = server
            .http
            .post(format!("{}/oauth/revoke", server.base))
            .basic_auth(&id, Some(&key))
            .form(&[
                ("token", target.as_str()),
                ("token_type_hint", "access_token"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        verify_bearer(&server, &token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(verify_bearer(&server, &other_token).await, StatusCode::OK);
    assert_eq!(introspect(token.clone()).await, json!({"active": false}));
    // API keys are rotated, not revoked here.
    let response = server
        .http
        .post(format!("{}/oauth/revoke", server.base))
        .basic_auth(&id, Some(&key))
        .form(&[("token", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_token_type");

    // Logout with an OAuth token revokes it, too.
    let fresh = client_credentials(&server, &id, &key).await;
    let (status, body) = server
        .post("/api/v1/tokens/revoke/self", &fresh, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "revoked");
    assert_eq!(
        verify_bearer(&server, &fresh).await,
        StatusCode::UNAUTHORIZED
    );

    // Metadata.
    let metadata: Value = server
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = metadata["issuer"].as_str().unwrap();
    assert_eq!(metadata["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(
        metadata["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json")
    );
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
}

#[tokio::test]
async fn custom_key_prefix() {
    let server = spawn_with(|c| c.api_key_prefix = "pgl_".to_string()).await;
    let admin = server.admin().await;
    let (_, key) = service_user(&server, &admin, json!({"name": "etl"})).await;
    assert!(key.starts_with("pgl_"), "{key}");
    assert_eq!(verify_key(&server, &key).await.0, StatusCode::OK);
    let jsk = jeton_core::apikey::generate("jsk_", [3; 32]);
    assert_eq!(
        verify_key(&server, jsk.expose()).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// A stand-in for an upstream API: echoes what it received.
async fn echo_upstream() -> String {
    use axum::extract::Request;
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(|request: Request| async move {
        let (parts, body) = request.into_parts();
        if let Some(code) = parts.uri.path().strip_prefix("/status/") {
            let code: u16 = code.parse().unwrap();
            return (StatusCode::from_u16(code).unwrap(), "teapot").into_response();
        }
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let headers: serde_json::Map<String, Value> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
            .collect();
        axum::Json(json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "headers": headers,
            "body_len": body.len(),
            "body_sum": body.iter().map(|b| u64::from(*b)).sum::<u64>(),
        }))
        .into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn gateway_forwards_authenticated_requests_without_the_credential() {
    let upstream = echo_upstream().await;
    let server = spawn_with(|c| {
        c.upstream = Some(upstream.clone());
        c.max_body_bytes = 64 * 1024;
    })
    .await;
    let admin = server.admin().await;
    let (_, key) = service_user(&server, &admin, json!({"name": "etl"})).await;

    // X-API-Key, as in the seed: method, path and query kept; credential gone; identity added.
    let response = server
        .http
        .get(format!("{}/api/v1/catalogs?page=2&q=a%20b", server.base))
        .header("X-API-Key", &key)
        .header("X-Jeton-User", "spoofed")
        .header("Cookie", "theme=dark; auth_token=secret-session")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["path"], "/api/v1/catalogs");
    assert_eq!(echoed["query"], "page=2&q=a%20b");
    let headers = &echoed["headers"];
    assert!(headers.get("x-api-key").is_none(), "{headers}");
    assert!(headers.get("authorization").is_none());
    assert_eq!(headers["x-jeton-user"], "etl");
    assert_eq!(headers["x-jeton-tenant"], "default");
    assert!(headers["x-jeton-token-id"].is_string());
    assert!(headers.get("x-jeton-scopes").is_some());
    assert_eq!(headers["cookie"], "theme=dark");
    // The upstream sees the request id the client gets back, for logs on both sides.
    assert_eq!(headers["x-request-id"], request_id.as_str());
    assert!(!echoed.to_string().contains(&key));

    // A bearer credential, a large body (larger than the API's own body limit) streamed intact.
    let body: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|b| u64::from(*b)).sum();
    let response = server
        .http
        .put(format!("{}/v1/namespaces/raw", server.base))
        .bearer_auth(&key)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["method"], "PUT");
    assert_eq!(echoed["body_len"], 1_048_576);
    assert_eq!(echoed["body_sum"], sum);
    assert!(echoed["headers"].get("authorization").is_none());

    // Status codes pass through.
    let response = server
        .http
        .get(format!("{}/status/418", server.base))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);

    // No credential, or a bad one: Jeton answers 401 and the upstream sees nothing.
    let response = server
        .http
        .get(format!("{}/api/v1/catalogs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");

    // Jeton's own paths are still Jeton's.
    let (status, _) = server.get("/api/v1/service-users", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let jwks = server
        .http
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
}

#[tokio::test]
async fn gateway_answers_502_when_the_upstream_is_down() {
    let server = spawn_with(|c| c.upstream = Some("http://127.0.0.1:9".to_string())).await;
    let admin = server.admin().await;
    let (status, body) = server.get("/anything", &admin).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "bad_gateway");
}

#[tokio::test]
async fn oauth_tokens_verify_offline_with_the_jwks() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, json!({"name": "etl"})).await;
    let token = client_credentials(&server, &id, &key).await;
    let jwks: Value = server
        .http
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .unwrap();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap();
    assert_eq!(x.len(), 32);
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["kind"], "oauth");
    assert_eq!(claims["sub"], id.as_str());
    assert!(claims["akid"].is_string());
}
