//! A resource server protected by Jeton: `GET /whoami` answers the caller's identity, verified
//! in-process by `jeton-verify`; `GET /health` is open.
//!
//! ```sh
//! # A root user creates the feed credential once (a root service user, narrowed to a scope):
//! export JETON_FEED_KEY=$(jeton service-user create --name resource-server --role root --scope feed)
//! JETON_URL=http://127.0.0.1:8080 JETON_ISSUER=http://127.0.0.1:8080 LISTEN=127.0.0.1:3000 \
//!     cargo run -p jeton-verify --example protected
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/whoami
//! curl -H "X-API-Key: $KEY" http://127.0.0.1:3000/whoami
//! ```
//!
//! `JETON_ISSUER` defaults to `JETON_URL`, `JETON_AUDIENCE` to `jeton`, `LISTEN` to
//! `127.0.0.1:3000`.

use axum::routing::get;
use axum::{Json, Router};
use jeton_verify::{Config, Identity, Verifier, VerifyLayer};
use serde_json::{Value, json};

/// The service: `/whoami` behind the layer, `/health` in front of it.
pub fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .layer(VerifyLayer::new(verifier))
        .route("/health", get(|| async { "ok" }))
}

async fn whoami(identity: Identity) -> Json<Value> {
    Json(json!({
        "user_id": identity.user_id,
        "username": identity.username,
        "service_user": identity.service_user,
        "tenant_id": identity.tenant_id,
        "tenant": identity.tenant,
        "access_level": identity.access_level,
        "scopes": identity.scopes,
        "token_id": identity.token_id,
        "kind": identity.kind.as_str(),
    }))
}

#[allow(dead_code)] // The tests include this file for `app` only.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let url = std::env::var("JETON_URL").map_err(|_| "set JETON_URL (Jeton's base URL)")?;
    let issuer = std::env::var("JETON_ISSUER").unwrap_or_else(|_| url.clone());
    let feed_key = std::env::var("JETON_FEED_KEY")
        .map_err(|_| "set JETON_FEED_KEY (a root service user's API key)")?;
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_string());
    let mut config = Config::new(url, issuer, feed_key);
    if let Ok(audience) = std::env::var("JETON_AUDIENCE") {
        config = config.audience(audience);
    }
    let verifier = Verifier::new(config)?;
    if !verifier.ready(std::time::Duration::from_secs(5)).await {
        tracing::warn!("Jeton's change feed is not followed yet; verifying through Jeton");
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "protected service listening");
    axum::serve(listener, app(verifier)).await?;
    Ok(())
}
