//! Writing audit events: security-relevant changes are written before the answer is sent;
//! high-volume events (refused credentials, failed logins) go through a bounded queue that a
//! background task writes in batches, so a flood of bad requests cannot stall the database.

use std::sync::Arc;

use jeton_core::{TenantId, UserId};
use jeton_store::{AuditRecord, Store};
use tokio::sync::mpsc;

use crate::service::{HIDDEN, looks_like_credential};
use crate::verify::Actor;

/// Most events waiting in the queue; beyond this, queued events are dropped and counted.
const QUEUE_CAPACITY: usize = 10_000;
/// Most events written in one transaction by the background task.
const BATCH: usize = 500;

/// A builder for one audit event.
#[derive(Debug, Clone)]
pub struct Event(AuditRecord);

impl Event {
    /// An event with this dotted action (`token.create`), `success` by default.
    pub fn new(action: &str, now: i64) -> Self {
        Self(AuditRecord {
            id: 0,
            at: now,
            tenant_id: None,
            actor_id: None,
            actor_name: None,
            action: action.to_string(),
            target_type: None,
            target_id: None,
            target_name: None,
            outcome: "success".to_string(),
            client_addr: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        })
    }

    /// Who acted.
    pub fn actor(mut self, actor: &Actor) -> Self {
        self.0.actor_id = Some(actor.principal.id);
        self.0.actor_name = Some(actor.principal.username.clone());
        self.0.tenant_id.get_or_insert(actor.principal.tenant_id);
        self.0.client_addr = actor.client_addr.clone();
        self
    }

    /// Who acted, given piecewise (logins, before an actor exists). A name typed there that is
    /// a credential (an API key sent as the username or the `client_id`) is not written.
    pub fn actor_parts(mut self, id: Option<UserId>, name: &str, addr: Option<&str>) -> Self {
        self.0.actor_id = id;
        self.0.actor_name = Some(if looks_like_credential(name) {
            HIDDEN.to_string()
        } else {
            name.chars().take(128).collect()
        });
        self.0.client_addr = addr.map(str::to_string);
        self
    }

    /// The tenant the event concerns (defaults to the actor's).
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.0.tenant_id = Some(tenant);
        self
    }

    /// The object acted on.
    pub fn target(mut self, kind: &str, id: impl ToString, name: &str) -> Self {
        self.0.target_type = Some(kind.to_string());
        self.0.target_id = Some(id.to_string());
        self.0.target_name = Some(name.to_string());
        self
    }

    /// `failure` or `denied` instead of `success`.
    pub fn outcome(mut self, outcome: &str) -> Self {
        self.0.outcome = outcome.to_string();
        self
    }

    /// Adds a detail (never a secret).
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.0.details {
            map.insert(key.to_string(), value.into());
        }
        self
    }
}

/// A request path as an audit detail: at most 256 characters, and a segment that is a credential
/// (a token or key pasted into the URL) replaced by `***`.
pub fn path_detail(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if looks_like_credential(segment) {
                HIDDEN
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
        .chars()
        .take(256)
        .collect()
}

/// How many times (one second apart) the writer tries a batch while the database is
/// unreachable: an hour.
const MAX_RETRIES: u32 = 3600;

/// The audit log.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
    queue: mpsc::Sender<AuditRecord>,
}

impl AuditLog {
    /// An audit log writing to `store`, with its background writer task started.
    pub fn start(store: Arc<dyn Store>) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, mut rx) = mpsc::channel::<AuditRecord>(QUEUE_CAPACITY);
        let writer_store = store.clone();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                // While the database is unreachable the batch is kept and tried again every
                // second; meanwhile new events wait in the bounded queue.
                let mut failures = 0u32;
                while let Err(err) = writer_store.append_audit(&batch).await {
                    failures += 1;
                    let retry = matches!(err, jeton_store::StoreError::Unavailable(_))
                        && !rx.is_closed()
                        && failures < MAX_RETRIES;
                    if !retry {
                        tracing::error!(error = %err, count = batch.len(), "could not write audit events");
                        break;
                    }
                    if failures == 1 {
                        tracing::warn!(error = %err, count = batch.len(), "cannot write audit events yet; retrying every second");
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                batch.clear();
            }
        });
        (Self { store, queue }, task)
    }

    /// Writes an event now, before the caller answers. A failure is logged, not returned: the
    /// change it records has already happened.
    pub async fn write(&self, event: Event) {
        if let Err(err) = self
            .store
            .append_audit(std::slice::from_ref(&event.0))
            .await
        {
            tracing::error!(error = %err, action = %event.0.action, "could not write audit event");
        }
    }

    /// Queues a high-volume event for the background writer.
    pub fn queue(&self, event: Event) {
        if self.queue.try_send(event.0).is_err() {
            tracing::warn!("audit queue full; dropping a high-volume audit event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "jsk_qGR4EbcEPY7tIwaSv2hrIIKEIVi4IKlmczaUG7mpZkq0eJmFo";
    const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

    #[test]
    fn credentials_typed_as_names_or_paths_are_not_recorded() {
        for credential in [
            KEY,
            &KEY[..KEY.len() - 1],
            JWT,
            "pgl_qGR4EbcEPY7tIwaSv2hrIIKEIVi4IKlmczaUG7mpZkq0eJmFo",
        ] {
            let event = Event::new("oauth.client_auth", 0).actor_parts(None, credential, None);
            assert_eq!(event.0.actor_name.as_deref(), Some("***"), "{credential}");
            assert_eq!(
                path_detail(&format!("/api/v1/service-users/{credential}/rotate-key")),
                "/api/v1/service-users/***/rotate-key"
            );
        }
        for name in [
            "admin",
            "01a20696-9fe0-727c-8c18-89c602940b70",
            "etl-pipeline",
            "jsk_bot",
        ] {
            let event = Event::new("auth.login", 0).actor_parts(None, name, None);
            assert_eq!(event.0.actor_name.as_deref(), Some(name));
            let path = format!("/api/v1/service-users/{name}");
            assert_eq!(path_detail(&path), path);
        }
    }
}
