//! Webhooks: events are written to the outbox (`webhook_deliveries`) in the same transaction as
//! the booking change, then delivered at least once by a worker inside the server, signed per
//! the Standard Webhooks spec, retried with growing back-off for more than 24 hours.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::booking::BookingEvent;
use crate::db::Db;
use crate::db::{DbConn, write_transaction};
use crate::error::ApiError;
use crate::metrics::Metrics;
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

/// Whether a webhook may not be delivered to `ip` (unless private targets are allowed): anything
/// but a public unicast address. IPv6 forms that carry an IPv4 address (IPv4-mapped,
/// IPv4-compatible, NAT64, 6to4) are judged by the IPv4 address they lead to.
pub fn is_disallowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_disallowed_v4(v4),
        IpAddr::V6(v6) => is_disallowed_v6(v6),
    }
}

fn is_disallowed_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        // "This network" 0/8, CGNAT 100.64/10, IETF protocol assignments 192.0.0/24,
        // benchmarking 198.18/15, reserved 240/4.
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240
}

fn is_disallowed_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if v6.is_unspecified() || v6.is_loopback() {
        return true;
    }
    // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible, deprecated).
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return is_disallowed_v4(embedded_v4(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96: the last 32 bits are the IPv4 destination.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_disallowed_v4(embedded_v4(s[6], s[7]));
    }
    // 6to4 2002::/16: bits 16..48 are the IPv4 address of the relay site.
    if s[0] == 0x2002 {
        return is_disallowed_v4(embedded_v4(s[1], s[2]));
    }
    v6.is_multicast()
        // Local-use NAT64 64:ff9b:1::/48: its mapping to IPv4 is the operator's own.
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        // Unique local fc00::/7, link-local fe80::/10, deprecated site-local fec0::/10.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // Teredo 2001::/32 (tunnels to an obfuscated IPv4 address), documentation
        // 2001:db8::/32 and 3fff::/20, discard-only 100::/64.
        || (s[0] == 0x2001 && s[1] == 0)
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x3fff && (s[1] & 0xf000) == 0)
        || s[..4] == [0x100, 0, 0, 0]
}

/// Turns a host name into addresses. Blocking; the delivery worker calls it once per attempt,
/// on the blocking pool and under `LOOKUP_TIMEOUT`. Tests inject their own.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system resolver (`getaddrinfo`).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

/// How long a target's name may take to resolve.
const LOOKUP_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// Host and port of a target URL of the documented shape.
struct Target {
    host: String,
    port: u16,
}

fn parse_target(url: &str) -> Result<Target, String> {
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
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Ok(Target {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    })
}

const NOT_RESOLVED: &str = "names a host that does not resolve";
const PRIVATE: &str = "must not point to a loopback or private network address";

/// Every address must be allowed: a name that resolves to one public and one private address
/// could be connected to either.
fn vet(addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    if addrs.is_empty() {
        return Err(NOT_RESOLVED.to_owned());
    }
    if addrs.iter().any(|a| is_disallowed(a.ip())) {
        return Err(PRIVATE.to_owned());
    }
    Ok(addrs)
}

/// Resolves a target once, with a timeout, and checks every address it resolves to. Returns the
/// checked addresses, which are the only ones the delivery may connect to; `None` when private
/// targets are allowed (nothing to check: the client resolves the name itself).
pub async fn resolve_checked(
    lookup: Arc<dyn Lookup>,
    url: &str,
    allow_private: bool,
) -> Result<Option<Vec<SocketAddr>>, String> {
    let target = parse_target(url)?;
    if allow_private {
        return Ok(None);
    }
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return vet(vec![SocketAddr::new(ip, target.port)]).map(Some);
    }
    let Target { host, port } = target;
    let resolving = actix_web::web::block(move || lookup.lookup(&host, port));
    match tokio::time::timeout(LOOKUP_TIMEOUT, resolving).await {
        Ok(Ok(Ok(addrs))) => vet(addrs).map(Some),
        Ok(Ok(Err(_)) | Err(_)) => Err(NOT_RESOLVED.to_owned()),
        Err(_) => Err("names a host that did not resolve in time".to_owned()),
    }
}

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

/// Checks a webhook target: http(s) only, with a host; unless private targets are allowed,
/// every address the host resolves to must be public. Blocking (DNS): call from the blocking
/// pool. Deliveries use `resolve_checked`, which also returns the addresses to connect to.
pub fn check_target(url: &str, allow_private: bool) -> Result<(), String> {
    let target = parse_target(url)?;
    if allow_private {
        return Ok(());
    }
    let addrs = SystemLookup
        .lookup(&target.host, target.port)
        .map_err(|_| NOT_RESOLVED.to_owned())?;
    vet(addrs).map(drop)
}

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
    let naive = at.naive_utc();
    let claimed = state
        .db
        .run::<_, ApiError, _>(move |conn| {
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
        .run::<_, ApiError, _>(move |conn| {
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
pub async fn run_worker(state: Outbox, mut stop: tokio::sync::watch::Receiver<bool>) {
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

    fn disallowed(ip: &str) -> bool {
        is_disallowed(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges_that_are_not_public_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.1.2.3",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.200",
            "198.18.0.1",
            "198.19.255.1",
        ] {
            assert!(disallowed(ip), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "1.1.1.1",
        ] {
            assert!(!disallowed(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_that_are_not_public_are_refused() {
        for ip in [
            "::",
            "::1",
            "ff02::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "2001:db8::1",
            "3fff::1",
            "3fff:fff::1",
            "2001:0:4136:e378::1",
            "100::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::808:808",
        ] {
            assert!(disallowed(ip), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "3fff:1000::1",
        ] {
            assert!(!disallowed(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_their_ipv4_address() {
        for ip in [
            // IPv4-mapped
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            // IPv4-compatible
            "::127.0.0.1",
            "::192.168.0.1",
            "::100.64.0.1",
            // NAT64 well-known prefix
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            // 6to4
            "2002:7f00:1::1",
            "2002:a00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(disallowed(ip), "{ip}");
        }
        for ip in [
            "::ffff:93.184.216.34",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!disallowed(ip), "{ip}");
        }
    }

    /// Answers a fixed list, whatever the name.
    struct Fixed(Vec<SocketAddr>);

    impl Lookup for Fixed {
        fn lookup(&self, _: &str, _: u16) -> std::io::Result<Vec<SocketAddr>> {
            Ok(self.0.clone())
        }
    }

    #[actix_web::test]
    async fn a_name_is_refused_if_any_of_its_addresses_is_private() {
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let mixed = Arc::new(Fixed(vec![public, loopback]));
        let url = "https://hooks.example/x";
        assert!(resolve_checked(mixed.clone(), url, false).await.is_err());
        assert_eq!(resolve_checked(mixed, url, true).await, Ok(None));
        let only_public = Arc::new(Fixed(vec![public]));
        assert_eq!(
            resolve_checked(only_public, url, false).await,
            Ok(Some(vec![public]))
        );
        let none = Arc::new(Fixed(Vec::new()));
        assert!(resolve_checked(none, url, false).await.is_err());
    }

    #[test]
    fn backoff_spans_more_than_a_day() {
        let total: i64 = BACKOFF.iter().sum();
        assert!(total > 24 * 3600);
        assert_eq!(MAX_ATTEMPTS, 8);
    }
}
