//! Operations metrics, served in Prometheus' text format at `GET /metrics`.
//!
//! Code records through the [`metrics`] facade's macros; one Prometheus recorder per process
//! collects them ([`install`], idempotent, so that several servers in one test process share
//! it). Every name starts with `jeton_`. Labels only ever hold values from small fixed sets — a
//! route *template*, a method, a status code, a credential kind, a failure reason — never a
//! path, a credential or anything else a client chose.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `jeton_http_requests_total` | counter | `route`, `method`, `status` |
//! | `jeton_http_request_duration_seconds` | histogram | `route` |
//! | `jeton_verifications_total` | counter | `kind`, `outcome` |
//! | `jeton_verification_duration_seconds` | histogram | |
//! | `jeton_verify_cache_hits_total`, `jeton_verify_cache_misses_total` | counter | |
//! | `jeton_db_pool_connections`, `jeton_db_pool_idle_connections` | gauge | |
//! | `jeton_audit_events_dropped_total` | counter | `reason` (`queue_full`, `refused`, `unavailable`) |
//! | `jeton_audit_write_failures_total` | counter | |
//! | `jeton_audit_denials_aggregated_total` | counter | |
//! | `jeton_audit_events_pruned_total` | counter | |

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::service::Service;

/// Requests served, by route template, method and status.
pub const HTTP_REQUESTS: &str = "jeton_http_requests_total";
/// Time from a request's routing to its response head, by route template.
pub const HTTP_DURATION: &str = "jeton_http_request_duration_seconds";
/// Credentials verified, by kind and outcome (`ok` or the failure reason).
pub const VERIFICATIONS: &str = "jeton_verifications_total";
/// Time one credential verification takes.
pub const VERIFICATION_DURATION: &str = "jeton_verification_duration_seconds";
/// Tokens found in the verified-token cache.
pub const CACHE_HITS: &str = "jeton_verify_cache_hits_total";
/// Tokens not found in the verified-token cache (verified from scratch).
pub const CACHE_MISSES: &str = "jeton_verify_cache_misses_total";
/// Open database connections.
pub const DB_CONNECTIONS: &str = "jeton_db_pool_connections";
/// Open database connections not in use.
pub const DB_IDLE: &str = "jeton_db_pool_idle_connections";
/// Histogram: time from a change's commit (by the database's clock) to its application on this
/// instance through the change feed.
pub const PROPAGATION_LAG: &str = "jeton_propagation_lag_seconds";
/// Counter: change-feed rows applied.
pub const CHANGES_APPLIED: &str = "jeton_changes_applied_total";
/// Counter: audit events lost, by reason: `queue_full` (the background writer's queue was
/// full), `refused` (the database refused that one event), `unavailable` (the database stayed
/// unreachable past the writer's retries).
pub const AUDIT_DROPPED: &str = "jeton_audit_events_dropped_total";
/// Counter: writes of audit events (a batch, or one event) the database refused or could not
/// take.
pub const AUDIT_WRITE_FAILURES: &str = "jeton_audit_write_failures_total";
/// Counter: refusals of unknown or garbage credentials counted into an aggregated audit
/// record instead of one record each.
pub const AUDIT_AGGREGATED: &str = "jeton_audit_denials_aggregated_total";
/// Counter: audit events deleted because they were older than `--audit-retention`.
pub const AUDIT_PRUNED: &str = "jeton_audit_events_pruned_total";

/// Histogram buckets, in seconds, of request durations (and of any other duration histogram
/// without buckets of its own): 0.5 ms to 10 s.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Histogram buckets, in seconds, of verifications: a verification from memory takes
/// microseconds, one of an uncached token tens of microseconds.
const VERIFICATION_BUCKETS: &[f64] = &[
    0.000_002, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.0025,
    0.01,
];

/// How often histograms' samples are folded in when nobody scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's Prometheus recorder, once; later calls return the same handle. The
/// recorder becomes the facade's global recorder unless another one was installed first (then
/// `/metrics` shows only the pool gauges, and a warning says why).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(REQUEST_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(VERIFICATION_DURATION.to_string()),
                    VERIFICATION_BUCKETS,
                )
            })
            .expect("the bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if let Err(err) = metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %err, "another metrics recorder is installed; /metrics will miss Jeton's own metrics");
        }
        describe();
        // Shown from the start, so that a rate over the first scrapes is defined.
        metrics::counter!(CACHE_HITS).increment(0);
        metrics::counter!(CACHE_MISSES).increment(0);
        // Histograms buffer their samples until a scrape or an upkeep folds them in: without a
        // scraper they would grow forever. A thread, not a task: it outlives any one runtime.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("jeton-metrics-upkeep".to_string())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP);
                    upkeep.run_upkeep();
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "could not start the metrics upkeep thread");
        }
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status code."
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (until the response head), by route template."
    );
    metrics::describe_counter!(
        VERIFICATIONS,
        "Credentials verified, by credential kind and outcome (ok, or the reason it was refused)."
    );
    metrics::describe_histogram!(
        VERIFICATION_DURATION,
        Unit::Seconds,
        "Time to verify one credential (from memory)."
    );
    metrics::describe_counter!(
        CACHE_HITS,
        "Token verifications answered from the verified-token cache."
    );
    metrics::describe_counter!(
        CACHE_MISSES,
        "Token verifications that checked the signature (not in the verified-token cache)."
    );
    metrics::describe_counter!(
        AUDIT_DROPPED,
        "Audit events lost, by reason (queue_full, refused by the database, unavailable)."
    );
    metrics::describe_counter!(
        AUDIT_WRITE_FAILURES,
        "Audit writes (a batch or one event) that the database refused or could not take."
    );
    metrics::describe_counter!(
        AUDIT_AGGREGATED,
        "Refusals of unknown or garbage credentials counted into a per-minute audit record."
    );
    metrics::describe_counter!(
        AUDIT_PRUNED,
        "Audit events deleted for being older than --audit-retention."
    );
    metrics::describe_gauge!(
        DB_CONNECTIONS,
        "Open connections in the database pool (in use or idle), when /metrics was read."
    );
    metrics::describe_histogram!(
        PROPAGATION_LAG,
        Unit::Seconds,
        "Time from a change's commit to its application here through the change feed (changes \
         made through this instance included)."
    );
    metrics::describe_counter!(
        CHANGES_APPLIED,
        "Change-feed rows applied, by entity (user, service_user, api_keys, revocation, tenant, \
         signing_key)."
    );
    metrics::describe_gauge!(
        DB_IDLE,
        "Idle connections in the database pool, when /metrics was read."
    );
}

/// The metrics in Prometheus' text format, after sampling the database pool of `service`.
pub fn render(service: &Service) -> String {
    let handle = install();
    let pool = service.store().pool_status();
    metrics::gauge!(DB_CONNECTIONS).set(f64::from(pool.connections));
    metrics::gauge!(DB_IDLE).set(f64::from(pool.idle));
    handle.render()
}

/// The label value of an HTTP method: the standard ones by name, anything else `other` (a
/// client may send any token as a method; it must not grow the label set).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
