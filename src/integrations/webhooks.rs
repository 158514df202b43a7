//! Webhooks: events are written to the outbox (`webhook_deliveries`) in the same transaction as
//! the booking change, then delivered at least once by a worker inside the server, signed per
//! the Standard Webhooks spec, retried with growing back-off for more than 24 hours.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::app::AppState;
use crate::booking::BookingEvent;
use crate::db::{DbConn, write_transaction};
use crate::error::ApiError;
use crate::models::webhook::{self, Attempt, Delivery, DeliveryOutcome};
use crate::models::{new_id, now};

/// Delays after each failed attempt (Standard Webhooks' suggested schedule): the last attempt
/// is made about 27.6 hours after the first, then the delivery is marked failed.
const BACKOFF: [i64; 7] = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];
pub const MAX_ATTEMPTS: i32 = BACKOFF.len() as i32 + 1;
const LEASE: Duration = Duration::seconds(60);
const BATCH: i64 = 32;

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    r#type: &'a str,
    timestamp: DateTime<Utc>,
    data: &'a T,
}

/// Queues `event` for every endpoint subscribed to it; call inside the transaction that makes
/// the change, so the event exists exactly when the change does.
pub fn enqueue<T: Serialize>(
    conn: &mut DbConn,
    event: BookingEvent,
    data: &T,
) -> Result<(), ApiError> {
    let event = event.as_str();
    let hooks = webhook::all(conn)?;
    let subscribed: Vec<_> = hooks
        .iter()
        .filter(|h| h.event_list().iter().any(|e| e == event))
        .collect();
    if subscribed.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_string(&Envelope {
        r#type: event,
        timestamp: Utc::now(),
        data,
    })
    .map_err(ApiError::internal)?;
    let at = now();
    for hook in subscribed {
        webhook::insert_delivery(
            conn,
            &Delivery {
                id: format!("msg_{}", new_id()),
                webhook_id: hook.id.clone(),
                event_type: event.to_owned(),
                payload: payload.clone(),
                status: webhook::PENDING.to_owned(),
                attempts: 0,
                next_attempt_at: at,
                locked_until: None,
                last_status_code: None,
                last_error: None,
                created_at: at,
                updated_at: at,
            },
        )?;
    }
    Ok(())
}

/// `whsec_` + base64 of 32 random bytes, as Standard Webhooks libraries expect.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the decoded secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Checks a webhook target: http(s) only, with a host; unless private targets are allowed,
/// every address the host resolves to must be public (no loopback, private, link-local…).
/// Blocking (DNS): call from the blocking pool.
/// The URL form the OpenAPI document promises (`CreateWebhook.url`'s pattern):
/// `http(s)://host[:port][path/query/fragment]`, a host of letters, digits, dots and hyphens (no
/// user info, no IPv6 literal), a port of 1 to 5 digits, and only URL-safe characters after it.
fn documented_shape(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:/?#@!$&'()*+,;=%-".contains(&b))
}

pub fn check_target(url: &str, allow_private: bool) -> Result<(), String> {
    if !documented_shape(url) {
        return Err(
            "must be an http or https URL with a plain host name or IPv4 address".to_owned(),
        );
    }
    let uri: awc::http::Uri = url.parse().map_err(|_| "is not a valid URL".to_owned())?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err("must be an http or https URL".to_owned());
    }
    let host = uri.host().ok_or("must name a host")?;
    if url.len() > 2000 {
        return Err("must be at most 2000 characters".to_owned());
    }
    if allow_private {
        return Ok(());
    }
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| "names a host that does not resolve".to_owned())?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| is_private(a.ip())) {
        return Err("must not point to a loopback or private network address".to_owned());
    }
    Ok(())
}

pub fn client() -> awc::Client {
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
    client: &awc::Client,
    state: &AppState,
    delivery: &Delivery,
    hook: &webhook::Webhook,
) -> Sent {
    let started = Instant::now();
    let timestamp = Utc::now().timestamp();
    let elapsed =
        |started: Instant| i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let allow_private = state.config.webhook_allow_private_targets;
    let url = hook.url.clone();
    // Checked again at delivery: DNS may have changed since the endpoint was registered.
    let target = actix_web::web::block(move || check_target(&url, allow_private)).await;
    if let Err(reason) = target.unwrap_or_else(|e| Err(e.to_string())) {
        return Sent {
            status_code: None,
            error: Some(format!("target refused: URL {reason}")),
            elapsed_ms: elapsed(started),
        };
    }
    let Some(signature) = sign(&hook.secret, &delivery.id, timestamp, &delivery.payload) else {
        return Sent {
            status_code: None,
            error: Some("the endpoint's secret is unusable".to_owned()),
            elapsed_ms: elapsed(started),
        };
    };
    let result = client
        .post(&hook.url)
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
    let succeeded = sent.error.is_none();
    let (status, next) = if succeeded {
        (webhook::DELIVERED, at)
    } else if attempts >= MAX_ATTEMPTS {
        (webhook::FAILED, at)
    } else {
        let delay = BACKOFF[usize::try_from(attempts - 1)
            .unwrap_or(0)
            .min(BACKOFF.len() - 1)];
        (webhook::PENDING, at + Duration::seconds(delay))
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

/// One pass of the worker at time `at`: claims due deliveries, sends them concurrently, and
/// records each attempt. Returns how many it attempted. Tests call it with a chosen `at` to step
/// through the back-off without waiting.
pub async fn run_once(
    state: &AppState,
    client: &awc::Client,
    at: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let naive = at.naive_utc();
    let claimed = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let deliveries = webhook::claim_due(conn, naive, naive + LEASE, BATCH)?;
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
            })
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
    state
        .db
        .run(move |conn| {
            for (id, outcome, attempt) in &records {
                webhook::record(conn, id, outcome, attempt)?;
            }
            Ok(())
        })
        .await?;
    Ok(count)
}

/// The worker loop of `serve`: a pass a second until `stop` turns true. A pass in progress is
/// finished before stopping; an interrupted one is safe anyway (its leases expire and the
/// deliveries are retried: at least once).
pub async fn run_worker(
    state: actix_web::web::Data<AppState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = client();
    loop {
        match run_once(&state, &client, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(attempted = n, "webhook deliveries attempted"),
            Err(e) => tracing::warn!(error = %e, "webhook worker pass failed"),
        }
        tokio::select! {
            _ = stop.changed() => break,
            () = actix_web::rt::time::sleep(StdDuration::from_secs(1)) => {}
        }
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!("webhook worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_have_the_documented_shape() {
        for good in [
            "https://crm.example.com/hooks/inspine",
            "http://127.0.0.1:8080",
            "https://a-b.example?x=1&y=%20#frag",
        ] {
            assert!(documented_shape(good), "{good}");
        }
        for bad in [
            "http://6B2zz*",
            "https://user:pw@example.com/",
            "https://[::1]/hook",
            "ftp://example.com/",
            "HTTP://example.com/",
            "https://:443/",
            "https://example.com:123456/",
            "https://example.com/a b",
        ] {
            assert!(!documented_shape(bad), "{bad}");
        }
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // From the Standard Webhooks specification's test vectors.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/hook",
        ] {
            assert!(check_target(url, false).is_err(), "{url}");
            assert!(check_target(url, true).is_ok(), "{url}");
        }
        // IPv6 literals are outside the documented URL form, private or not.
        assert!(check_target("http://[::1]/hook", true).is_err());
        assert!(check_target("ftp://example.com/x", true).is_err());
        assert!(check_target("not a url", true).is_err());
        assert!(check_target("https://93.184.216.34/hook", false).is_ok());
    }

    #[test]
    fn backoff_spans_more_than_a_day() {
        let total: i64 = BACKOFF.iter().sum();
        assert!(total > 24 * 3600);
        assert_eq!(MAX_ATTEMPTS, 8);
    }
}
