//! `jeton token ...` and the seed documents' spellings (`get-token`, `revoke-token-by-id`,
//! `list-user-tokens`, `delete-token`).

use jeton_api::{CreateTokenRequest, Token, TokenListQuery, UpdateTokenRequest};
use jeton_client::collect_pages;

use crate::cli::args::TokenCreateArgs;
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// Page size used when fetching every page of a list.
pub const PAGE_SIZE: u32 = 500;

/// Whether a command speaks like Jeton or like the seed documents' CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// `jeton token ...`.
    Plain,
    /// `get-token`, `revoke-token-by-id`.
    Seed,
}

/// `jeton token create` / `jeton get-token`. On a terminal: the value once, with its name, id,
/// expiry and a warning. Piped: only the value, so `TOKEN=$(jeton token create ...)` works.
pub async fn create(
    ctx: &Context,
    args: TokenCreateArgs,
    wording: Wording,
) -> Result<(), CliError> {
    let request = CreateTokenRequest {
        name: args.name,
        comment: Some(args.description),
        expires_in: args.expires_in,
        scopes: args.scopes,
        for_user: args.for_user,
    };
    let created = ctx
        .client()?
        .create_token(&request)
        .await
        .map_err(|e| ctx.error(e))?;
    if ctx.json() {
        return Ok(Out::json(&created)?);
    }
    if !Out::is_terminal() {
        return Ok(Out::line(&created.token)?);
    }
    let info = &created.info;
    let rule = "━".repeat(64);
    let mut lines = vec![
        match wording {
            Wording::Plain => "✅ Token created.".to_string(),
            Wording::Seed => "✅ Token generated successfully!".to_string(),
        },
        rule.clone(),
        format!("Token:   {}", created.token),
        format!("Name:    {}", info.name),
        format!("ID:      {}", info.id),
        format!("Expires: {}", info.expires_at),
    ];
    if request.for_user.is_some() {
        lines.push(format!("User:    {}", info.username));
    }
    if !info.scopes.is_empty() {
        lines.push(format!("Scopes:  {}", info.scopes.join(" ")));
    }
    lines.push(rule);
    lines.push(String::new());
    lines.push("⚠️  Save this token securely. It will not be shown again.".to_string());
    Out::line(lines.join("\n"))?;
    Ok(())
}

/// `jeton token list` / `jeton list-user-tokens`: every page, as one table.
pub async fn list(
    ctx: &Context,
    user: Option<&str>,
    all: bool,
    kind: Option<String>,
) -> Result<(), CliError> {
    let client = ctx.client()?;
    let tokens = collect_pages(|cursor| {
        let query = TokenListQuery {
            all: all.then_some(true),
            for_user: None,
            kind: kind.clone(),
            limit: Some(PAGE_SIZE),
            cursor,
        };
        let client = &client;
        async move {
            match user {
                Some(user) => client.list_user_tokens(user, &query).await,
                None => client.list_tokens(&query).await,
            }
        }
    })
    .await
    .map_err(|e| ctx.error(e))?;
    if ctx.json() {
        return Ok(Out::json(&tokens)?);
    }
    if tokens.is_empty() {
        let hint = if all {
            ""
        } else {
            " (add --all to include expired and revoked ones)"
        };
        return Ok(Out::line(format!("No tokens{hint}."))?);
    }
    let mut headers = vec!["NAME"];
    if user.is_some() {
        headers.push("USER");
    }
    headers.extend([
        "ID",
        "KIND",
        "STATUS",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "COMMENT",
    ]);
    let mut table = output::table(headers);
    for token in &tokens {
        let mut row = vec![token.name.clone()];
        if user.is_some() {
            row.push(token.username.clone());
        }
        row.extend([
            token.id.clone(),
            token.kind.clone(),
            token.status.clone(),
            output::short_time(&token.created_at),
            output::short_time(&token.expires_at),
            output::short_time_or(token.last_used_at.as_deref(), "never"),
            token.comment.clone(),
        ]);
        table.add_row(output::row(row));
    }
    Ok(Out::table(&table)?)
}

/// `jeton token show`.
pub async fn show(ctx: &Context, id: &str) -> Result<(), CliError> {
    let token = ctx
        .client()?
        .get_token(id)
        .await
        .map_err(|e| ctx.error(e))?;
    print_token(ctx, &token, None)
}

/// `jeton token comment`.
pub async fn comment(ctx: &Context, id: &str, comment: String) -> Result<(), CliError> {
    let token = ctx
        .client()?
        .update_token(id, &UpdateTokenRequest { comment })
        .await
        .map_err(|e| ctx.error(e))?;
    let headline = format!("Comment of token {} ({}) updated.", token.name, token.id);
    print_token(ctx, &token, Some(headline))
}

/// `jeton token revoke --id` / `jeton revoke-token-by-id`.
pub async fn revoke(ctx: &Context, id: &str, wording: Wording) -> Result<(), CliError> {
    let token = ctx
        .client()?
        .revoke_token(id)
        .await
        .map_err(|e| ctx.error(e))?;
    if ctx.json() {
        return Ok(Out::json(&token)?);
    }
    Ok(Out::line(match wording {
        Wording::Plain => format!("Token {} ({}) revoked.", token.name, token.id),
        Wording::Seed => format!("✅ Token {id} revoked successfully!"),
    })?)
}

/// `jeton token revoke-all`.
pub async fn revoke_all(ctx: &Context, user: &str) -> Result<(), CliError> {
    let count = ctx
        .client()?
        .revoke_user_tokens(user)
        .await
        .map_err(|e| ctx.error(e))?;
    if ctx.json() {
        return Ok(Out::json(&count)?);
    }
    let plural = if count.revoked == 1 { "" } else { "s" };
    Ok(Out::line(format!(
        "Revoked {} token{plural} of {user}.",
        count.revoked
    ))?)
}

/// `jeton token delete` / `jeton delete-token`.
pub async fn delete(ctx: &Context, id: &str) -> Result<(), CliError> {
    let token = ctx
        .client()?
        .delete_token(id)
        .await
        .map_err(|e| ctx.error(e))?;
    if ctx.json() {
        return Ok(Out::json(&token)?);
    }
    Ok(Out::line(format!(
        "Token record {} ({}) of {} deleted.",
        token.name, token.id, token.username
    ))?)
}

fn print_token(ctx: &Context, token: &Token, headline: Option<String>) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(token)?);
    }
    if let Some(headline) = headline {
        Out::line(headline)?;
    }
    Out::table(&output::details([
        ("NAME", token.name.clone()),
        ("ID", token.id.clone()),
        ("KIND", token.kind.clone()),
        ("STATUS", token.status.clone()),
        ("USER", token.username.clone()),
        ("USER ID", token.user_id.clone()),
        ("TENANT ID", token.tenant_id.clone()),
        ("COMMENT", output::or_dash(Some(&token.comment))),
        ("SCOPES", output::list(&token.scopes)),
        ("CREATED", token.created_at.clone()),
        ("CREATED BY", output::or_dash(token.created_by.as_deref())),
        ("EXPIRES", token.expires_at.clone()),
        (
            "LAST USED",
            token.last_used_at.clone().unwrap_or_else(|| "never".into()),
        ),
        ("REVOKED", output::or_dash(token.revoked_at.as_deref())),
        ("REVOKED BY", output::or_dash(token.revoked_by.as_deref())),
    ]))?;
    Ok(())
}
