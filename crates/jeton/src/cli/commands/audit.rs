//! `jeton audit`: query the audit log, or follow it as events happen.

use std::time::Duration;

use jeton_api::{AuditEvent, AuditQuery};
use jeton_client::Client;

use super::tokens::PAGE_SIZE;
use crate::cli::args::AuditArgs;
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};

/// How often `--follow` asks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

/// Runs `jeton audit`.
pub async fn run(ctx: &Context, args: AuditArgs) -> Result<(), CliError> {
    let client = ctx.client()?;
    let query = AuditQuery {
        user: args.user,
        action: args.action,
        since: args.since,
        until: args.until,
        limit: None,
        cursor: None,
    };
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let events = fetch(ctx, &client, query.clone(), limit).await?;
    if args.follow {
        follow(ctx, &client, query, events).await
    } else {
        print_table(ctx, &events)
    }
}

/// Prints `initial`, then every 2 seconds the events newer than the newest one printed, one
/// line (or one JSON object) each, until interrupted.
async fn follow(
    ctx: &Context,
    client: &Client,
    query: AuditQuery,
    mut initial: Vec<AuditEvent>,
) -> Result<(), CliError> {
    initial.sort_by_key(|event| event.id);
    print_stream(ctx, &initial)?;
    let mut newest = initial.last().map(|e| (e.id, e.at.clone()));
    loop {
        tokio::time::sleep(FOLLOW_INTERVAL).await;
        // `since` is inclusive and times may repeat: ask from the newest time seen and drop
        // what was already printed by id.
        let since = newest.as_ref().map(|(_, at)| at.clone());
        let poll = AuditQuery {
            since: since.or_else(|| query.since.clone()),
            ..query.clone()
        };
        let mut events = fetch(ctx, client, poll, usize::MAX).await?;
        if let Some((id, _)) = &newest {
            events.retain(|event| event.id > *id);
        }
        events.sort_by_key(|event| event.id);
        print_stream(ctx, &events)?;
        if let Some(event) = events.last() {
            newest = Some((event.id, event.at.clone()));
        }
    }
}

/// Up to `max` events, following cursors.
async fn fetch(
    ctx: &Context,
    client: &Client,
    query: AuditQuery,
    max: usize,
) -> Result<Vec<AuditEvent>, CliError> {
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let remaining = max.saturating_sub(events.len());
        let page_size = u32::try_from(remaining).unwrap_or(u32::MAX).min(PAGE_SIZE);
        let page = client
            .audit(&AuditQuery {
                limit: Some(page_size),
                cursor: cursor.take(),
                ..query.clone()
            })
            .await
            .map_err(|e| ctx.error(e))?;
        events.extend(page.items);
        match page.next_cursor {
            Some(next) if !next.is_empty() && events.len() < max => cursor = Some(next),
            _ => break,
        }
    }
    events.truncate(max);
    Ok(events)
}

fn print_table(ctx: &Context, events: &[AuditEvent]) -> Result<(), CliError> {
    if ctx.json() {
        return Ok(Out::json(events)?);
    }
    if events.is_empty() {
        return Ok(Out::line("No audit events.")?);
    }
    let mut table = output::table(["TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "CLIENT"]);
    for event in events {
        table.add_row(output::row([
            output::audit_time(&event.at),
            output::or_dash(event.actor.as_deref()),
            event.action.clone(),
            event.outcome.clone(),
            target(event),
            output::or_dash(event.client_addr.as_deref()),
        ]));
    }
    Ok(Out::table(&table)?)
}

fn print_stream(ctx: &Context, events: &[AuditEvent]) -> Result<(), CliError> {
    for event in events {
        if ctx.json() {
            Out::json_line(event)?;
        } else {
            // One line per event, whatever the fields hold: their line breaks shown too.
            Out::line(output::visible(&format!(
                "{}  {:<7}  {}  {}  {}  from {}",
                output::audit_time(&event.at),
                event.outcome,
                output::or_dash(event.actor.as_deref()),
                event.action,
                target(event),
                output::or_dash(event.client_addr.as_deref()),
            )))?;
        }
    }
    Ok(())
}

/// `token ci_pipeline (0190...)`, `user alice`, or `-`.
fn target(event: &AuditEvent) -> String {
    let kind = event.target_type.as_deref().unwrap_or("");
    let text = match (event.target_name.as_deref(), event.target_id.as_deref()) {
        (Some(name), Some(id)) if name != id => format!("{kind} {name} ({id})"),
        (Some(name), _) => format!("{kind} {name}"),
        (None, Some(id)) => format!("{kind} {id}"),
        (None, None) => kind.to_string(),
    };
    output::or_dash(Some(text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            id: 1,
            at: "2026-07-20T09:00:05Z".into(),
            tenant_id: None,
            actor_id: None,
            actor: Some("admin".into()),
            action: "token.create".into(),
            target_type: Some("token".into()),
            target_id: Some("0190".into()),
            target_name: Some("ci".into()),
            outcome: "success".into(),
            client_addr: None,
            details: serde_json::Value::Null,
        }
    }

    #[test]
    fn targets_read_as_kind_name_and_id() {
        assert_eq!(target(&event()), "token ci (0190)");
        let no_name = AuditEvent {
            target_name: None,
            ..event()
        };
        assert_eq!(target(&no_name), "token 0190");
        let nothing = AuditEvent {
            target_type: None,
            target_id: None,
            target_name: None,
            ..event()
        };
        assert_eq!(target(&nothing), "-");
    }
}
