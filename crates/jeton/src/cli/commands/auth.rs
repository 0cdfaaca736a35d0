//! `jeton login`, `jeton logout` (and `revoke-token`, `token revoke` without an id) and
//! `jeton whoami`.

use jeton_api::{LoginRequest, Me};
use jeton_client::ClientError;
use serde::Serialize;

use super::{prompt_secret, read_secret};
use crate::cli::args::LoginArgs;
use crate::cli::context::{Context, TokenSource};
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// Prefix of Jeton API keys (`jsk_...`).
const API_KEY_PREFIX: &str = "jsk_";

/// What `jeton login --output json` prints: who, where, until when; never the credential.
#[derive(Serialize)]
struct LoginOutput<'a> {
    profile: &'a str,
    url: &'a str,
    username: &'a str,
    tenant: &'a str,
    access_level: &'a str,
    token_id: &'a str,
    token_kind: &'a str,
    /// `null` for an API key of a service user without expiry.
    expires_at: Option<&'a str>,
}

/// `jeton login`.
pub async fn login(ctx: &mut Context, args: LoginArgs) -> Result<(), CliError> {
    if args.with_token {
        return login_with_token(ctx).await;
    }
    let Some(username) = args.username else {
        return Err(CliError::Usage(
            "--username is required (or use --with-token)".into(),
        ));
    };
    let password = match args.password {
        Some(password) => {
            eprintln!(
                "warning: --password is visible to other processes and kept in shell history; \
                 prefer the prompt or --password-stdin"
            );
            jeton_core::Secret::new(password)
        }
        None if args.password_stdin => read_secret("password")?,
        None => prompt_secret(&format!("password for {username}"))?,
    };
    let request = LoginRequest {
        username,
        password: password.expose().to_string(),
    };
    let response = ctx.anonymous_client()?.login(&request).await.map_err(|e| {
        let unauthorized = e.status() == Some(401);
        let error = CliError::from_client(e, &ctx.url, false);
        if unauthorized {
            error.with_hint("check the username and password")
        } else {
            error
        }
    })?;
    ctx.save_login(&response.token, &response.user.username)?;
    let user = &response.user;
    if ctx.json() {
        return Ok(Out::json(&LoginOutput {
            profile: &ctx.profile_name,
            url: &ctx.url,
            username: &user.username,
            tenant: &user.tenant,
            access_level: &user.access_level,
            token_id: &response.token_id,
            token_kind: "session",
            expires_at: Some(&response.expires_at),
        })?);
    }
    Out::line(format!(
        "Logged in to {} as {} ({}, tenant {}). The session expires {}.",
        ctx.url,
        user.username,
        user.access_level,
        user.tenant,
        output::short_time(&response.expires_at),
    ))?;
    Out::line(format!(
        "Saved to profile '{}' in {}.",
        ctx.profile_name,
        ctx.profile_path()
    ))?;
    Ok(())
}

/// `jeton login --with-token`: checks the token or API key with `GET /api/v1/me`, then saves it.
async fn login_with_token(ctx: &mut Context) -> Result<(), CliError> {
    let token = read_secret("token or API key")?;
    let token = token.expose().trim();
    let is_api_key = token.starts_with(API_KEY_PREFIX);
    let me = ctx
        .anonymous_client()?
        .with_token(token)
        .me()
        .await
        .map_err(|e| refused_credential(ctx, e, is_api_key))?;
    ctx.save_login(token, &me.user.username)?;
    if ctx.json() {
        return Ok(Out::json(&LoginOutput {
            profile: &ctx.profile_name,
            url: &ctx.url,
            username: &me.user.username,
            tenant: &me.user.tenant,
            access_level: &me.user.access_level,
            token_id: &me.token.id,
            token_kind: &me.token.kind,
            expires_at: me.token.expires_at.as_deref(),
        })?);
    }
    let what = if is_api_key {
        "an API key".to_string()
    } else {
        format!("{} token", article(&me.token.kind))
    };
    let expiry = match me.token.expires_at.as_deref() {
        Some(at) => format!("expires {}", output::short_time(at)),
        None => "never expires".to_string(),
    };
    Out::line(format!(
        "Logged in to {} as {} ({}, tenant {}) with {what} that {expiry}.",
        ctx.url, me.user.username, me.user.access_level, me.user.tenant,
    ))?;
    Out::line(format!(
        "Saved to profile '{}' in {}.",
        ctx.profile_name,
        ctx.profile_path()
    ))?;
    Ok(())
}

/// `a session` / `an api` / `an oauth`.
fn article(kind: &str) -> String {
    let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if an { "an" } else { "a" })
}

/// The error of a refused `--with-token` credential: a 401 says what kind of credential was
/// refused and the likely reasons, since the server does not tell.
fn refused_credential(ctx: &Context, error: ClientError, is_api_key: bool) -> CliError {
    match error {
        ClientError::Api { status: 401, .. } if is_api_key => CliError::Server {
            status: 401,
            message: "the server did not accept this API key".into(),
            hint: Some(
                "check that it is the current key (rotating a key invalidates the old one) and \
                 that its service user is active and not expired"
                    .into(),
            ),
        },
        ClientError::Api { status: 401, .. } => CliError::Server {
            status: 401,
            message: "the server did not accept this token".into(),
            hint: Some(
                "it may be expired, revoked or issued by another server; create a new one or \
                 run 'jeton login --username NAME'"
                    .into(),
            ),
        },
        other => CliError::from_client(other, &ctx.url, true),
    }
}

/// How `logout` words its success.
#[derive(Debug, Clone, Copy)]
pub enum LogoutWording {
    /// `jeton logout`, `jeton token revoke`.
    Plain,
    /// `jeton revoke-token`, as in the seed documents.
    Seed,
}

/// `jeton logout`: revokes the current token on the server, then forgets it. A 401 for the
/// saved token means it no longer works anyway: it is forgotten and the user is told.
pub async fn logout(ctx: &mut Context, wording: LogoutWording) -> Result<(), CliError> {
    match ctx.client()?.revoke_self().await {
        Ok(token) => {
            ctx.forget_token()?;
            if ctx.json() {
                return Ok(Out::json(&token)?);
            }
            Out::line(match wording {
                LogoutWording::Plain => "Token revoked. You have been logged out.",
                LogoutWording::Seed => {
                    "✅ Token revoked successfully!\n\
                     You have been logged out. Please login again to continue."
                }
            })?;
            Ok(())
        }
        Err(ClientError::Api { status: 401, .. }) if ctx.token_source() == TokenSource::Profile => {
            ctx.forget_token()?;
            eprintln!(
                "The server no longer accepts the saved token (401): it had already expired or \
                 been revoked. Forgot it from profile '{}'; you are logged out.",
                ctx.profile_name
            );
            Ok(())
        }
        Err(e) => Err(ctx.error(e)),
    }
}

/// `jeton whoami`.
pub async fn whoami(ctx: &Context) -> Result<(), CliError> {
    let me: Me = ctx.client()?.me().await.map_err(|e| ctx.error(e))?;
    if ctx.json() {
        return Ok(Out::json(&me)?);
    }
    let user = &me.user;
    Out::table(&output::details([
        ("USERNAME", user.username.clone()),
        ("USER ID", user.id.clone()),
        ("TENANT", user.tenant.clone()),
        ("ACCESS LEVEL", user.access_level.clone()),
        ("ROLES", output::list(&user.roles)),
        ("TOKEN ID", me.token.id.clone()),
        ("TOKEN KIND", me.token.kind.clone()),
        ("TOKEN SCOPES", output::list(&me.token.scopes)),
        (
            "TOKEN EXPIRES",
            me.token
                .expires_at
                .clone()
                .unwrap_or_else(|| "never".into()),
        ),
        ("SERVER", ctx.url.clone()),
        ("PROFILE", ctx.profile_name.clone()),
    ]))?;
    Ok(())
}
