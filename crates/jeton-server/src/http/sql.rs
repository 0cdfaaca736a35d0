//! The command language over HTTP: `POST /api/v1/sql` runs a script, and
//! `GET /api/v1/sql/ws` upgrades to a WebSocket on which each text message is a script and each
//! answer a JSON [`api::SqlResponse`]. The WebSocket is authenticated during the upgrade by the
//! `Authorization` header (never by the URL), and the credential is checked again before every
//! script, so revoking it ends the session's rights at once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jeton_api as api;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, Authenticated, bytes_rejection, credential, json_object};
use crate::error::ApiError;
use crate::sql;
use crate::verify::Actor;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run_sql))
        .routes(routes!(sql_websocket))
}

/// Runs a script and turns the outcome into the answer's status and body.
async fn answer(state: &AppState, actor: &Actor, script: &str) -> (StatusCode, api::SqlResponse) {
    match sql::execute(&state.service, actor, script).await {
        Ok(results) => (
            StatusCode::OK,
            api::SqlResponse {
                results,
                error: None,
            },
        ),
        Err(failure) => {
            let sql::ScriptFailure { results, error, at } = *failure;
            let status = error.status_code();
            if let ApiError::Internal(detail) = &error {
                tracing::error!(%detail, "internal error in a SQL statement");
            }
            (
                status,
                api::SqlResponse {
                    results,
                    error: Some(api::SqlError {
                        code: error.code().to_string(),
                        message: error.to_string(),
                        position: at,
                    }),
                },
            )
        }
    }
}

/// The script of a request body: JSON `{"sql": "..."}`, or the body itself as text.
fn script_of(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        serde_json::from_slice::<serde_json::Value>(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
            .and_then(json_object::<api::SqlRequest>)
            .map(|r| r.sql)
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::BadRequest("the script is not valid UTF-8".to_string()))
    }
}

/// Run a script of the command language (`CREATE API TOKEN ...; SHOW API TOKENS;`). Statements
/// run in order and the script stops at the first failing one; the answer lists the results of
/// those that ran and names the one that failed. Send JSON `{"sql": "..."}` or the script as
/// `text/plain`.
#[utoipa::path(post, path = "/api/v1/sql", tag = "sql", security(("bearer" = [])),
    request_body(description = "The script: JSON `{\"sql\": \"...\"}`, or the script itself as text",
        content(
            (api::SqlRequest = "application/json"),
            (String = "text/plain"),
        )),
    responses(
        (status = 200, description = "Every statement ran", body = api::SqlResponse),
        (status = 400, description = "A malformed body or a syntax error (nothing ran), or a bad value", body = api::SqlResponse),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
        (status = 403, description = "A statement was not allowed", body = api::SqlResponse),
        (status = 404, description = "A statement named something that does not exist", body = api::SqlResponse),
        (status = 409, description = "A statement broke a uniqueness rule", body = api::SqlResponse),
        (status = 413, description = "The body or the script is too long", body = api::SqlResponse),
        (status = 422, description = "A statement was refused by a rule (policy limit, invalid value)", body = api::SqlResponse),
        (status = 503, description = "The database is unavailable; try again shortly", body = api::SqlResponse),
    ))]
async fn run_sql(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Every answer after authentication has the same shape: a body that cannot be used is a
    // script that stopped before its first statement.
    let script = match body
        .map_err(bytes_rejection)
        .and_then(|body| script_of(&headers, &body))
    {
        Ok(script) => script,
        Err(err) => return (err.status_code(), Json(error_reply(err))).into_response(),
    };
    let (status, response) = answer(&state, &actor, &script).await;
    (status, Json(response)).into_response()
}

/// The command language over a WebSocket. Authenticate the upgrade request with
/// `Authorization: Bearer <token>` (or `X-API-Key`); then send each script as a text message
/// (plain, or JSON `{"sql": "..."}`) and read one JSON `SqlResponse` message back per script.
#[utoipa::path(get, path = "/api/v1/sql/ws", tag = "sql", security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request", body = api::ErrorBody),
        (status = 401, description = "Not authenticated", body = api::ErrorBody),
    ))]
async fn sql_websocket(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::BadRequest(format!(
                "a WebSocket upgrade request is expected here: {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    // The credential, to check again before every script.
    let presented = credential(&headers).unwrap_or_default();
    let max = state.service.config().max_body_bytes;
    upgrade
        .max_message_size(max)
        .on_upgrade(move |socket| session(socket, state, actor, presented))
}

async fn session(mut socket: WebSocket, state: AppState, actor: Actor, presented: String) {
    let client_addr = actor.client_addr.clone();
    while let Some(Ok(message)) = socket.recv().await {
        let script = match message {
            Message::Text(text) => {
                let text = text.as_str();
                match serde_json::from_str::<api::SqlRequest>(text) {
                    Ok(request) if text.trim_start().starts_with('{') => request.sql,
                    _ => text.to_string(),
                }
            }
            Message::Close(_) => break,
            Message::Binary(_) => {
                let reply = error_reply(ApiError::BadRequest(
                    "send scripts as text messages".to_string(),
                ));
                if send(&mut socket, &reply).await.is_err() {
                    break;
                }
                continue;
            }
            _ => continue,
        };
        let current = match state
            .service
            .verifier()
            .verify(&presented, state.service.now())
        {
            Ok(mut current) => {
                current.client_addr = client_addr.clone();
                current
            }
            Err(_) => {
                let _ = send(&mut socket, &error_reply(ApiError::unauthenticated())).await;
                break;
            }
        };
        debug_assert_eq!(current.principal.id, actor.principal.id);
        if let Err(err) = state.service.settle_grace_ends().await {
            if send(&mut socket, &error_reply(err)).await.is_err() {
                break;
            }
            continue;
        }
        let (_, response) = answer(&state, &current, &script).await;
        if send(&mut socket, &response).await.is_err() {
            break;
        }
    }
}

/// A script refused before it was read (a control character in the body, say), in the shape of
/// every answer of `POST /api/v1/sql`: a script that stopped before its first statement.
pub(super) fn script_refused(error: ApiError) -> Response {
    (error.status_code(), Json(error_reply(error))).into_response()
}

fn error_reply(error: ApiError) -> api::SqlResponse {
    api::SqlResponse {
        results: Vec::new(),
        error: Some(api::SqlError {
            code: error.code().to_string(),
            message: error.to_string(),
            position: api::SqlErrorPosition::default(),
        }),
    }
}

async fn send(socket: &mut WebSocket, response: &api::SqlResponse) -> Result<(), axum::Error> {
    let text = serde_json::to_string(response).unwrap_or_else(|_| "{}".to_string());
    socket.send(Message::Text(text.into())).await
}
