//! The command language against a real server: the seed 003 session statement by statement
//! through `POST /api/v1/sql`, errors that name the failing statement, and the WebSocket.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;
use common::*;

async fn sql(server: &Server, token: &str, script: &str) -> (StatusCode, Value) {
    server
        .post("/api/v1/sql", token, json!({ "sql": script }))
        .await
}

/// Runs a script that must succeed; answers its results.
async fn ok(server: &Server, token: &str, script: &str) -> Vec<Value> {
    let (status, body) = sql(server, token, script).await;
    assert_eq!(status, StatusCode::OK, "{script}: {body}");
    assert!(body["error"].is_null(), "{body}");
    body["results"].as_array().unwrap().clone()
}

fn column<'a>(result: &'a Value, name: &str) -> Vec<&'a Value> {
    let index = result["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name} in {result}"));
    result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row[index])
        .collect()
}

#[tokio::test]
async fn seed_003_session() {
    let server = spawn().await;
    let admin = server.admin().await;
    ok(
        &server,
        &admin,
        "CREATE USER analyst PASSWORD 'password-123'; CREATE ROLE service_accounts;",
    )
    .await;
    let analyst = server.login("analyst", "password-123").await;

    // Issuing a token, exactly as the seed writes it.
    let results = ok(
        &server,
        &analyst,
        "CREATE API TOKEN ci_pipeline\nMAX DURATION '30d'\nCOMMENT 'Токен для сборочного конвейера';",
    )
    .await;
    let created = &results[0];
    assert_eq!(created["statement"], "CREATE API TOKEN");
    assert_eq!(created["columns"], json!(["name", "token", "expires_at"]));
    assert_eq!(created["rows"][0][0], "ci_pipeline");
    let token = created["rows"][0][1].as_str().unwrap().to_string();
    // The token authenticates a request as its owner.
    let (status, me) = server.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], "analyst");

    // No name, no expiry: a generated name and the default expiry.
    let results = ok(&server, &analyst, "CREATE API TOKEN;").await;
    assert!(!results[0]["rows"][0][0].as_str().unwrap().is_empty());

    // Viewing, changing a comment, revoking.
    let results = ok(&server, &analyst, "SHOW API TOKENS;").await;
    assert_eq!(results[0]["rows"].as_array().unwrap().len(), 2);
    assert!(column(&results[0], "name").contains(&&json!("ci_pipeline")));
    ok(
        &server,
        &analyst,
        "ALTER API TOKEN ci_pipeline SET COMMENT 'Перенесен на новый раннер';",
    )
    .await;
    let results = ok(&server, &analyst, "SHOW API TOKENS;").await;
    assert!(column(&results[0], "comment").contains(&&json!("Перенесен на новый раннер")));
    ok(&server, &analyst, "DROP API TOKEN ci_pipeline;").await;
    let (status, _) = server.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let results = ok(&server, &analyst, "SHOW API TOKENS;").await;
    assert_eq!(results[0]["rows"].as_array().unwrap().len(), 1);
    let results = ok(&server, &analyst, "SHOW API TOKENS ALL;").await;
    assert!(column(&results[0], "status").contains(&&json!("revoked")));

    // Policies: the user's limit refuses a 30-day token...
    ok(
        &server,
        &admin,
        "ALTER USER analyst SET API TOKEN MAX DURATION '24h';",
    )
    .await;
    let (status, body) = sql(
        &server,
        &admin,
        "CREATE API TOKEN report_bot FOR USER analyst MAX DURATION '30d';",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("exceeds the maximum of 1d set on user analyst"),
        "{message}"
    );
    assert!(
        message.starts_with("statement 1 (CREATE API TOKEN, line 1)"),
        "{message}"
    );
    // ... until a role the user holds allows longer: the longer limit wins.
    ok(
        &server,
        &admin,
        "ALTER ROLE service_accounts SET API TOKEN MAX DURATION '30d'; GRANT ROLE service_accounts TO USER analyst;",
    )
    .await;
    let results = ok(
        &server,
        &admin,
        "CREATE API TOKEN report_bot FOR USER analyst MAX DURATION '30d' COMMENT 'Сервисный токен для выгрузки отчетов';",
    )
    .await;
    let report_bot = results[0]["rows"][0][1].as_str().unwrap().to_string();
    let results = ok(&server, &admin, "SHOW API TOKENS FOR USER analyst;").await;
    assert_eq!(results[0]["columns"][0], "owner");
    assert!(column(&results[0], "name").contains(&&json!("report_bot")));
    ok(
        &server,
        &admin,
        "DROP API TOKEN report_bot FOR USER analyst;",
    )
    .await;
    let (status, _) = server.get("/api/v1/me", &report_bot).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Revoking everything of a user.
    let results = ok(&server, &analyst, "CREATE API TOKEN a; CREATE API TOKEN b;").await;
    let tokens: Vec<String> = results
        .iter()
        .map(|r| r["rows"][0][1].as_str().unwrap().to_string())
        .collect();
    let results = ok(&server, &admin, "DROP ALL API TOKENS FOR USER analyst;").await;
    assert!(results[0]["affected"].as_u64().unwrap() >= 2);
    for token in tokens {
        let (status, _) = server.get("/api/v1/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    // A standard user cannot use FOR USER: the same rule and message as over HTTP.
    let analyst = server.login("analyst", "password-123").await;
    let (status, body) = sql(&server, &analyst, "SHOW API TOKENS FOR USER admin;").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (http_status, http_body) = server.get("/api/v1/tokens?for_user=admin", &analyst).await;
    assert_eq!(http_status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with(http_body["error"]["message"].as_str().unwrap())
    );
}

#[tokio::test]
async fn scripts_stop_at_the_first_failure_and_syntax_errors_run_nothing() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (status, body) = sql(
        &server,
        &admin,
        "CREATE ROLE one;\nCREATE ROLE one;\nCREATE ROLE two;",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    assert_eq!(body["error"]["statement_index"], 2);
    assert_eq!(body["error"]["line"], 2);
    assert_eq!(body["error"]["statement"], "CREATE ROLE");
    let results = ok(&server, &admin, "SHOW ROLES;").await;
    assert_eq!(column(&results[0], "name"), vec![&json!("one")]);

    let (status, body) = sql(
        &server,
        &admin,
        "CREATE ROLE three;\nCREATE API TOKEN x DURATON '1d';",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["message"],
        "syntax error: line 2, column 20: expected MAX DURATION, COMMENT, FOR USER, SCOPES or ';', found 'DURATON'"
    );
    assert_eq!(body["error"]["line"], 2);
    assert_eq!(body["error"]["column"], 20);
    assert_eq!(body["results"], json!([]));
    let results = ok(&server, &admin, "SHOW ROLES;").await;
    assert_eq!(results[0]["rows"].as_array().unwrap().len(), 1);

    // A text/plain body is the script itself.
    let response = server
        .http
        .post(format!("{}/api/v1/sql", server.base))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("SHOW USERS;")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Without a credential: 401.
    let (status, _) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/sql",
            None,
            Some(json!({"sql": "SHOW USERS"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn service_users_through_the_language() {
    let server = spawn().await;
    let admin = server.admin().await;
    let results = ok(
        &server,
        &admin,
        "CREATE SERVICE USER etl ACCESS LEVEL 'TenantUser' DESCRIPTION 'nightly' EXPIRES IN '90d';",
    )
    .await;
    let key = results[0]["rows"][0][2].as_str().unwrap().to_string();
    assert!(key.starts_with("jsk_"));
    let (status, _) = server.get("/api/v1/auth/verify", &key).await;
    assert_eq!(status, StatusCode::OK);
    let results = ok(&server, &admin, "ALTER SERVICE USER etl ROTATE KEY;").await;
    let new_key = results[0]["rows"][0][2].as_str().unwrap().to_string();
    assert_eq!(
        server.get("/api/v1/auth/verify", &key).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get("/api/v1/auth/verify", &new_key).await.0,
        StatusCode::OK
    );
    ok(
        &server,
        &admin,
        "ALTER SERVICE USER etl SET ACTIVE = false;",
    )
    .await;
    assert_eq!(
        server.get("/api/v1/auth/verify", &new_key).await.0,
        StatusCode::UNAUTHORIZED
    );
    let results = ok(&server, &admin, "SHOW SERVICE USERS;").await;
    assert_eq!(column(&results[0], "status"), vec![&json!("disabled")]);
    ok(
        &server,
        &admin,
        "DROP SERVICE USER etl; SHOW AUDIT LIMIT 5;",
    )
    .await;
}

#[tokio::test]
async fn websocket_runs_scripts_and_honours_revocation() {
    let server = spawn().await;
    let admin = server.admin().await;
    let results = ok(&server, &admin, "CREATE API TOKEN ws;").await;
    let token = results[0]["rows"][0][1].as_str().unwrap().to_string();
    let url = format!("{}/api/v1/sql/ws", server.base.replace("http://", "ws://"));

    // Without a credential the upgrade is refused.
    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(refused.is_err());

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            url.as_str(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use tokio_tungstenite::tungstenite::Message;
    socket
        .send(Message::text("SHOW API TOKENS;"))
        .await
        .unwrap();
    let reply: Value = match socket.next().await.unwrap().unwrap() {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("unexpected {other:?}"),
    };
    assert!(reply["error"].is_null(), "{reply}");
    assert_eq!(reply["results"][0]["statement"], "SHOW API TOKENS");

    // Revoked elsewhere: the next script is refused and the session ends.
    ok(&server, &admin, "DROP API TOKEN ws;").await;
    socket
        .send(Message::text(r#"{"sql": "SHOW USERS"}"#))
        .await
        .unwrap();
    let reply: Value = match socket.next().await.unwrap().unwrap() {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(reply["error"]["code"], "unauthenticated", "{reply}");
}
