//! Following Jeton's change feed (`GET /api/v1/changes`), dropping the cached answers each
//! change invalidates.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use jeton_api::ChangePage;

use crate::Inner;
use crate::cache::Invalidate;

/// First and longest pause after a failed feed request.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Most changes Jeton answers in one page.
const FULL_PAGE: usize = 1000;

/// Runs until the last [`Verifier`](crate::Verifier) clone is dropped.
pub(crate) async fn follow(inner: Weak<Inner>) {
    let mut position: Option<i64> = None;
    let mut backoff = BACKOFF_MIN;
    let mut failing_since: Option<Instant> = None;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if !strong.jwks.loaded() {
            strong.jwks.refresh(&strong.http, false).await;
        }
        // The request holds no reference to the verifier: dropping it ends the loop.
        let request = request(&strong, position);
        drop(strong);
        let result = read(request).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        match result {
            Ok(page) => {
                apply(&strong, position, &page).await;
                position = Some(page.next);
                strong
                    .position
                    .store(page.next, std::sync::atomic::Ordering::Release);
                // A full page means more is waiting: current only once it has been read.
                if page.changes.len() < FULL_PAGE {
                    *strong.feed_ok.lock().expect("lock") = Some(Instant::now());
                    strong.ready.notify_waiters();
                }
                if failing_since.take().is_some() {
                    tracing::info!("jeton-verify: following the change feed again");
                }
                backoff = BACKOFF_MIN;
            }
            Err(error) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                tracing::warn!(
                    %error,
                    failing_for_ms = since.elapsed().as_millis() as u64,
                    "jeton-verify: cannot read the change feed; retrying"
                );
                drop(strong);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

fn request(inner: &Inner, position: Option<i64>) -> reqwest::RequestBuilder {
    let url = format!("{}/api/v1/changes", inner.config.base_url);
    // An answer at least every two thirds of `stale_after`, so that a healthy feed never looks
    // stale.
    let wait = inner
        .config
        .feed_wait
        .min(inner.config.stale_after * 2 / 3)
        .as_secs()
        .clamp(1, 60);
    let request = inner
        .http
        .get(url)
        .header("x-api-key", &inner.config.feed_key);
    match position {
        // Where a new follower starts: the current position, at once.
        None => request.timeout(inner.config.request_timeout),
        Some(after) => request
            .query(&[("after", after), ("wait", wait as i64)])
            .timeout(Duration::from_secs(wait) + inner.config.request_timeout),
    }
}

async fn read(request: reqwest::RequestBuilder) -> Result<ChangePage, String> {
    let response = request
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(match status.as_u16() {
            401 => "the feed key was refused (401)".to_string(),
            403 => "the feed key is not a root service user's (403)".to_string(),
            _ => format!("Jeton answered {status}"),
        });
    }
    response
        .json::<ChangePage>()
        .await
        .map_err(|e| e.without_url().to_string())
}

async fn apply(inner: &Arc<Inner>, position: Option<i64>, page: &ChangePage) {
    if page.reset {
        tracing::info!("jeton-verify: the change feed was reset; dropping every cached answer");
        inner.cache.drop_matching(Invalidate::All);
    }
    if position.is_none() {
        return;
    }
    let mut keys_changed = false;
    for change in &page.changes {
        let id = change.id.as_str();
        let what = match change.entity.as_str() {
            "revocation" => Invalidate::Token(id),
            "user" | "service_user" | "api_keys" => Invalidate::Principal(id),
            "tenant" => Invalidate::Tenant(id),
            "signing_key" => {
                keys_changed = true;
                Invalidate::Jwts
            }
            other => {
                tracing::warn!(entity = other, "jeton-verify: unknown change; dropping all");
                Invalidate::All
            }
        };
        inner.cache.drop_matching(what);
    }
    if keys_changed {
        inner.jwks.refresh(&inner.http, true).await;
    }
}
