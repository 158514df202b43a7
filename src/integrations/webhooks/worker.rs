//! The delivery worker: claims due deliveries from the outbox, sends them signed to the checked
//! address of their endpoint, and records each attempt with its back-off.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};

use super::sign;
use super::targets::{Lookup, SystemLookup, resolve_checked};
use crate::db::Db;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::models::webhook::{self, Attempt, Delivery, DeliveryOutcome};
use crate::models::{new_id, now};
use crate::outbox::{self, BATCH, Backoff, LEASE, Next, Queue};

/// Delays after each failed attempt (Standard Webhooks' suggested schedule): the last attempt
/// is made about 27.6 hours after the first, then the delivery is marked failed.
const BACKOFF: Backoff = Backoff(&[5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]);
pub const MAX_ATTEMPTS: i32 = BACKOFF.max_attempts();

/// The delivery worker's HTTP client and the resolver it checks targets with.
pub struct WebhookClient {
    http: awc::Client,
    lookup: Arc<dyn Lookup>,
}

/// The client deliveries use, resolving names with the system resolver.
pub fn client() -> WebhookClient {
    client_with_lookup(Arc::new(SystemLookup))
}

/// A client resolving names with `lookup` (tests inject one that answers what they need).
pub fn client_with_lookup(lookup: Arc<dyn Lookup>) -> WebhookClient {
    WebhookClient {
        http: http_client(),
        lookup,
    }
}

fn http_client() -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().timeout(StdDuration::from_secs(5)))
        .timeout(StdDuration::from_secs(10))
        .disable_redirects()
        .finish()
}

struct Sent {
    status_code: Option<i32>,
    error: Option<String>,
    elapsed_ms: i32,
}

async fn send(
    client: &WebhookClient,
    state: &Outbox,
    delivery: &Delivery,
    hook: &webhook::Webhook,
) -> Sent {
    let started = Instant::now();
    let timestamp = Utc::now().timestamp();
    let elapsed =
        |started: Instant| i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let allow_private = state.allow_private_targets;
    // Checked again at delivery, as DNS may have changed since the endpoint was registered; and
    // resolved only this once: the request connects to the checked address (the URL's host still
    // goes in `Host` and TLS SNI), so a name that flips to a private address between the check
    // and the connection (DNS rebinding) cannot reach it.
    let addrs = match resolve_checked(client.lookup.clone(), &hook.url, allow_private).await {
        Ok(addrs) => addrs,
        Err(reason) => {
            return Sent {
                status_code: None,
                error: Some(format!("target refused: URL {reason}")),
                elapsed_ms: elapsed(started),
            };
        }
    };
    let Some(signature) = sign(&hook.secret, &delivery.id, timestamp, &delivery.payload) else {
        return Sent {
            status_code: None,
            error: Some("the endpoint's secret is unusable".to_owned()),
            elapsed_ms: elapsed(started),
        };
    };
    let mut request = client.http.post(&hook.url);
    if let Some(addr) = addrs.as_ref().and_then(|a| a.first()) {
        request = request.address(*addr);
    }
    let result = request
        .insert_header(("content-type", "application/json"))
        .insert_header(("webhook-id", delivery.id.as_str()))
        .insert_header(("webhook-timestamp", timestamp.to_string()))
        .insert_header(("webhook-signature", signature))
        .insert_header(("user-agent", "Inspine-Webhooks/1"))
        .send_body(delivery.payload.clone())
        .await;
    match result {
        Ok(mut response) => {
            // Read (and cap) the body so the connection can be reused; its content is ignored.
            let _ = response.body().limit(64 * 1024).await;
            let code = i32::from(response.status().as_u16());
            Sent {
                status_code: Some(code),
                error: (!response.status().is_success()).then(|| format!("HTTP {code}")),
                elapsed_ms: elapsed(started),
            }
        }
        Err(e) => Sent {
            status_code: None,
            error: Some(e.to_string()),
            elapsed_ms: elapsed(started),
        },
    }
}

fn outcome(delivery: &Delivery, sent: &Sent, at: chrono::NaiveDateTime) -> DeliveryOutcome {
    let attempts = delivery.attempts + 1;
    let (status, next) = match BACKOFF.next(attempts, sent.error.is_none(), at) {
        Next::Done => (webhook::DELIVERED, at),
        Next::RetryAt(next) => (webhook::PENDING, next),
        Next::GiveUp => (webhook::FAILED, at),
    };
    DeliveryOutcome {
        status: status.to_owned(),
        attempts,
        next_attempt_at: next,
        locked_until: None,
        last_status_code: sent.status_code,
        last_error: sent.error.clone(),
        updated_at: at,
    }
}

/// What the delivery worker works with: the outbox's database, the attempt counters, and whether
/// private targets are allowed.
#[derive(Clone)]
pub struct Outbox {
    pub db: Db,
    pub metrics: Metrics,
    pub allow_private_targets: bool,
}

impl Outbox {
    pub fn of(state: &crate::state::AppState) -> Self {
        Self {
            db: state.db.clone(),
            metrics: state.metrics.clone(),
            allow_private_targets: state.config.webhook_allow_private_targets,
        }
    }
}

/// One pass of the worker at time `at`: claims due deliveries, sends them concurrently, and
/// records each attempt. Returns how many it attempted. Tests call it with a chosen `at` to step
/// through the back-off without waiting.
pub async fn run_once(
    state: &Outbox,
    client: &WebhookClient,
    at: DateTime<Utc>,
) -> Result<usize, ApiError> {
    pass(state, client, at).await.map(|done| done.attempted)
}

/// [`run_once`], also counting the attempts that were not delivered.
async fn pass(
    state: &Outbox,
    client: &WebhookClient,
    at: DateTime<Utc>,
) -> Result<outbox::Pass, ApiError> {
    let naive = at.naive_utc();
    let claimed = state
        .db
        .write::<_, ApiError, _>(move |conn| {
            {
                let ids =
                    outbox::claim_due(conn, Queue::WebhookDeliveries, naive, naive + LEASE, BATCH)?;
                let deliveries = webhook::deliveries_by_ids(conn, &ids)?;
                if deliveries.is_empty() {
                    return Ok(Vec::new());
                }
                // One query for the endpoints (a handful of rows), not one per delivery.
                let hooks: std::collections::HashMap<String, webhook::Webhook> =
                    webhook::all(conn)?
                        .into_iter()
                        .map(|h| (h.id.clone(), h))
                        .collect();
                // Deliveries of a deleted endpoint are deleted with it (ON DELETE CASCADE).
                Ok(deliveries
                    .into_iter()
                    .filter_map(|d| hooks.get(&d.webhook_id).cloned().map(|h| (d, h)))
                    .collect::<Vec<_>>())
            }
        })
        .await?;
    let count = claimed.len();
    let sends = claimed
        .iter()
        .map(|(delivery, hook)| send(client, state, delivery, hook));
    let results = futures_util::future::join_all(sends).await;
    let records: Vec<_> = claimed
        .into_iter()
        .zip(results)
        .map(|((delivery, _), sent)| {
            let finished = now().max(naive);
            let attempt = Attempt {
                id: new_id(),
                delivery_id: delivery.id.clone(),
                attempted_at: finished,
                status_code: sent.status_code,
                error: sent.error.clone(),
                duration_ms: sent.elapsed_ms,
            };
            let outcome = outcome(&delivery, &sent, naive);
            let label = match outcome.status.as_str() {
                webhook::DELIVERED => "delivered",
                webhook::FAILED => "failed",
                _ => "retry",
            };
            state
                .metrics
                .webhook_attempts
                .with_label_values(&[label])
                .inc();
            (delivery.id.clone(), outcome, attempt)
        })
        .collect();
    let failed = records
        .iter()
        .filter(|(_, outcome, _)| outcome.status != webhook::DELIVERED)
        .count();
    // One transaction for the pass's records (on SQLite with the other writes, never
    // contending with them for the lock).
    state
        .db
        .write::<_, ApiError, _>(move |conn| {
            for (id, outcome, attempt) in &records {
                webhook::record(conn, id, outcome, attempt)?;
            }
            Ok(())
        })
        .await?;
    Ok(outbox::Pass {
        attempted: count,
        failed,
    })
}

/// The webhook worker of `serve`: passes until `stop` turns true, a second apart unless the last
/// one was full and mostly delivered ([`outbox::run_passes`]).
pub async fn run_worker(state: Outbox, stop: tokio::sync::watch::Receiver<bool>) {
    let client = client();
    outbox::run_passes("webhooks", Some(BATCH as usize), stop, || {
        pass(&state, &client, Utc::now())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spans_more_than_a_day() {
        let total: i64 = BACKOFF.0.iter().sum();
        assert!(total > 24 * 3600);
        assert_eq!(MAX_ATTEMPTS, 8);
    }
}
