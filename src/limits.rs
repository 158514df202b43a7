//! Abuse limits: per-client rate limits (actix-governor), exponential back-off after repeated
//! failed logins per (account, client) and per client, and a cap on concurrent password hashes
//! so that a login flood queues instead of exhausting memory (argon2 takes 19 MiB per hash).
//!
//! The client is the connection's peer address, or, when the peer is one of the operator's
//! `TRUSTED_PROXIES`, the address those proxies recorded in `X-Forwarded-For` / `Forwarded`.
//! IPv6 clients are bucketed by their /64 prefix (one subscriber's allocation).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{
    GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError,
};
use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::{HttpResponse, HttpResponseBuilder};
use ipnet::IpNet;

use crate::error::ApiError;

// ---- The client address -----------------------------------------------------------------------

/// The rate-limit key of a request: the client's address (see the module documentation), with
/// IPv6 addresses cut to their /64. Requests without a peer address share one bucket.
pub fn client_key(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    bucket(client_addr(peer, headers, trusted))
}

/// The client's address. Only a trusted peer's forwarding headers are read, and they are walked
/// from the right (the hop nearest to us) past trusted proxies: the first address that is not a
/// trusted proxy is the client. Values further left were written by the client itself and are
/// never believed. `X-Forwarded-For` is used when present, else RFC 7239 `Forwarded`.
pub fn client_addr(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let Some(peer) = peer.map(canonical) else {
        return IpAddr::from([0, 0, 0, 0]);
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            // A trusted proxy wrote a value it did not know (`unknown`, an obfuscated name):
            // the nearest trusted hop is the best we know.
            None => return client,
            Some(ip) => {
                client = canonical(*ip);
                if !is_trusted(&client) {
                    return client;
                }
            }
        }
    }
    client
}

/// The hops recorded by proxies, leftmost (claimed original client) first; `None` for a value
/// that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: HeaderName| -> Vec<String> {
        headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect()
    };
    let xff = values(HeaderName::from_static("x-forwarded-for"));
    if !xff.is_empty() {
        return xff.iter().map(|v| parse_node(v)).collect();
    }
    values(HeaderName::from_static("forwarded"))
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(value.trim()))
            })
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, optionally in double quotes (RFC 7239).
fn parse_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    // IPv4 with a port.
    let (ip, port) = value.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's view of IPv4 clients) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// IPv4 addresses as they are; IPv6 addresses cut to their /64, the smallest block a subscriber
/// is usually given (one client can otherwise rotate through 2^64 addresses).
pub fn bucket(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

// ---- Per-client rate limits -------------------------------------------------------------------

/// The governor's key: the client's bucket as `client_key` computes it.
#[derive(Debug, Clone)]
pub struct ClientIp {
    trusted: Arc<[IpNet]>,
}

impl ClientIp {
    pub fn new(trusted: &[IpNet]) -> Self {
        Self {
            trusted: trusted.into(),
        }
    }
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        Ok(client_key(
            req.peer_addr().map(|a| a.ip()),
            req.headers(),
            &self.trusted,
        ))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative
            .wait_time_from(DefaultClock::default().now())
            .as_secs()
            + 1;
        actix_web::ResponseError::error_response(&ApiError::TooManyRequests {
            retry_after_secs: wait,
        })
    }
}

pub type IpLimit = GovernorConfig<ClientIp, NoOpMiddleware>;

/// Login, registration and refresh: 10 a minute per client (a burst of 10, one back every 6 s).
pub fn auth_limit(trusted: &[IpNet]) -> IpLimit {
    GovernorConfigBuilder::default()
        .seconds_per_request(6)
        .burst_size(10)
        .key_extractor(ClientIp::new(trusted))
        .finish()
        .unwrap_or_else(unreachable_config)
}

/// Everything else: 50 requests a second per client with bursts of 200.
pub fn api_limit(trusted: &[IpNet]) -> IpLimit {
    GovernorConfigBuilder::default()
        .milliseconds_per_request(20)
        .burst_size(200)
        .key_extractor(ClientIp::new(trusted))
        .finish()
        .unwrap_or_else(unreachable_config)
}

fn unreachable_config() -> IpLimit {
    // Only reachable with a zero period or burst, which the constants above are not.
    panic!("invalid rate-limit constants")
}

// ---- Login back-off ---------------------------------------------------------------------------

/// Failures in a row one client may make against one account before each further one doubles
/// the wait.
const PAIR_FREE_FAILURES: u32 = 5;
/// Failures one client may make across all accounts (credential stuffing) before the same.
const SOURCE_FREE_FAILURES: u32 = 20;
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// A record with no failure for this long (and no lock running) is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

impl Failures {
    fn locked_at(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    fn expired_at(&self, now: Instant) -> bool {
        self.locked_at(now).is_none() && now.saturating_duration_since(self.last) >= FORGET_AFTER
    }

    /// Which records to give up first when full: expired ones, then those not locked, then
    /// those with the fewest failures, then the oldest.
    fn keep_priority(&self, now: Instant) -> (bool, bool, u32, Instant) {
        (
            !self.expired_at(now),
            self.locked_at(now).is_some(),
            self.count,
            self.last,
        )
    }
}

/// Failure records in a bounded map. When full, expired records go first, then a batch of the
/// least valuable (see `keep_priority`): a flood of one-off failures replaces other one-off
/// failures, not running back-offs.
struct Tracker<K> {
    entries: HashMap<K, Failures>,
    capacity: usize,
    free_failures: u32,
}

impl<K: Eq + Hash + Copy> Tracker<K> {
    fn new(capacity: usize, free_failures: u32) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            free_failures,
        }
    }

    fn locked(&self, key: &K, now: Instant) -> Option<Duration> {
        self.entries.get(key).and_then(|f| f.locked_at(now))
    }

    fn fail(&mut self, key: K, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let entry = self.entries.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if entry.expired_at(now) {
            entry.count = 0;
            entry.locked_until = None;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count >= self.free_failures {
            let exponent = (entry.count - self.free_failures).min(20);
            let wait = Duration::from_secs(1u64 << exponent).min(MAX_LOCK);
            entry.locked_until = Some(now + wait);
        }
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, f| !f.expired_at(now));
        if self.entries.len() < self.capacity {
            return;
        }
        // Still full: give up the least valuable eighth in one pass, so that a flood costs one
        // scan per many insertions.
        let mut ranked: Vec<(K, (bool, bool, u32, Instant))> = self
            .entries
            .iter()
            .map(|(k, f)| (*k, f.keep_priority(now)))
            .collect();
        let evict = (self.capacity / 8).max(1).min(ranked.len());
        ranked.select_nth_unstable_by(evict - 1, |a, b| a.1.cmp(&b.1));
        for (key, _) in ranked.into_iter().take(evict) {
            self.entries.remove(&key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

struct Trackers {
    /// Per (account, client): the back-off that answers password guessing.
    pairs: Tracker<(u64, IpAddr)>,
    /// Per client across accounts: the budget that answers credential stuffing.
    sources: Tracker<IpAddr>,
}

/// Failed logins, in this process's memory, per (account, client) and per client; the client
/// is the bucket from `client_key`. After five failures in a row against one account, each
/// further failure from that client doubles its wait there (1 s, 2 s, 4 s … up to 15 minutes);
/// after twenty failures across accounts the client waits the same way for every account. A
/// success resets the (account, client) record. Clients without failures of their own are never
/// held back, so nobody can lock an owner out by knowing their email.
pub struct LoginGuard {
    trackers: Mutex<Trackers>,
    /// Accounts are kept as keyed hashes of the email: fixed-size keys, no emails in memory.
    hasher: RandomState,
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl LoginGuard {
    /// A guard that remembers at most `capacity` (account, client) records and as many clients.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_clock(capacity, Instant::now)
    }

    /// The same, reading the time from `clock` (tests stop or move time with it).
    pub fn with_clock(
        capacity: usize,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Self {
        Self {
            trackers: Mutex::new(Trackers {
                pairs: Tracker::new(capacity, PAIR_FREE_FAILURES),
                sources: Tracker::new(capacity, SOURCE_FREE_FAILURES),
            }),
            hasher: RandomState::new(),
            clock: Box::new(clock),
        }
    }

    fn account(&self, email: &str) -> u64 {
        self.hasher.hash_one(email)
    }

    /// Err with the seconds to wait while this client is backed off for this account.
    pub fn check(&self, email: &str, client: IpAddr) -> Result<(), ApiError> {
        self.check_at(email, client, (self.clock)())
    }

    pub fn failed(&self, email: &str, client: IpAddr) {
        self.failed_at(email, client, (self.clock)());
    }

    pub fn succeeded(&self, email: &str, client: IpAddr) {
        let key = (self.account(email), client);
        if let Ok(mut trackers) = self.trackers.lock() {
            trackers.pairs.forget(&key);
        }
    }

    fn check_at(&self, email: &str, client: IpAddr, now: Instant) -> Result<(), ApiError> {
        let key = (self.account(email), client);
        let trackers = self
            .trackers
            .lock()
            .map_err(|_| ApiError::internal("login guard poisoned"))?;
        let wait = [
            trackers.pairs.locked(&key, now),
            trackers.sources.locked(&client, now),
        ]
        .into_iter()
        .flatten()
        .max();
        match wait {
            Some(wait) => Err(ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs() + 1,
            }),
            None => Ok(()),
        }
    }

    fn failed_at(&self, email: &str, client: IpAddr, now: Instant) {
        let key = (self.account(email), client);
        if let Ok(mut trackers) = self.trackers.lock() {
            trackers.pairs.fail(key, now);
            trackers.sources.fail(client, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                actix_web::http::header::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(
            client_addr(Some(ip("203.0.113.1")), &h, &trusted),
            ip("203.0.113.1")
        );
        assert_eq!(
            client_addr(Some(ip("10.1.2.3")), &h, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_addr(Some(ip("fd00::1")), &h, &trusted),
            ip("198.51.100.1")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_addr(Some(ip("10.1.2.3")), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
        // No peer at all: one shared bucket.
        assert_eq!(client_addr(None, &h, &trusted), ip("0.0.0.0"));
    }

    #[test]
    fn forwarded_chains_are_walked_from_the_right() {
        let trusted = nets(&["10.0.0.0/8"]);
        let proxy = Some(ip("10.0.0.1"));
        let cases = [
            (("x-forwarded-for", "1.1.1.1, 198.51.100.1"), "198.51.100.1"),
            (
                ("x-forwarded-for", "1.1.1.1, 198.51.100.1, 10.9.9.9"),
                "198.51.100.1",
            ),
            (("x-forwarded-for", "10.0.0.7, 10.9.9.9"), "10.0.0.7"),
            (("x-forwarded-for", "198.51.100.1, unknown"), "10.0.0.1"),
            (("x-forwarded-for", "198.51.100.1:4711"), "198.51.100.1"),
            (("x-forwarded-for", "[2001:db8::1]:4711"), "2001:db8::1"),
            (("x-forwarded-for", "2001:db8::1"), "2001:db8::1"),
            (
                ("forwarded", r#"for="[2001:db8::1]:4711";proto=https"#),
                "2001:db8::1",
            ),
            (
                ("forwarded", "for=1.1.1.1, For=198.51.100.1;by=10.0.0.1"),
                "198.51.100.1",
            ),
            (("forwarded", "for=198.51.100.1, for=_hidden"), "10.0.0.1"),
            (("forwarded", "proto=https"), "10.0.0.1"),
        ];
        for ((name, value), expected) in cases {
            assert_eq!(
                client_addr(proxy, &headers(&[(name, value)]), &trusted),
                ip(expected),
                "{name}: {value}"
            );
        }
        // Several header lines form one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(client_addr(proxy, &h, &trusted), ip("198.51.100.1"));
    }

    #[test]
    fn ipv6_is_bucketed_by_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(bucket(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket(ip("192.0.2.1")), ip("192.0.2.1"));
    }

    fn locked(guard: &LoginGuard, email: &str, client: &str, now: Instant) -> bool {
        guard.check_at(email, ip(client), now).is_err()
    }

    #[test]
    fn back_off_is_per_account_and_client() {
        let guard = LoginGuard::with_capacity(100);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(!locked(&guard, "a@x.example", "192.0.2.1", t0));
            guard.failed_at(
                "a@x.example",
                ip("192.0.2.1"),
                t0 + Duration::from_millis(i),
            );
        }
        let t = t0 + Duration::from_millis(10);
        assert!(locked(&guard, "a@x.example", "192.0.2.1", t));
        assert!(!locked(&guard, "a@x.example", "192.0.2.2", t));
        assert!(!locked(&guard, "b@x.example", "192.0.2.1", t));
        // The first lock is a second; each further failure doubles it, up to 15 minutes.
        assert!(!locked(
            &guard,
            "a@x.example",
            "192.0.2.1",
            t0 + Duration::from_secs(2)
        ));
        let mut now = t0 + Duration::from_secs(2);
        for _ in 0..30 {
            guard.failed_at("a@x.example", ip("192.0.2.1"), now);
            now += MAX_LOCK + Duration::from_secs(1);
        }
        let last = now - MAX_LOCK - Duration::from_secs(1);
        assert!(locked(
            &guard,
            "a@x.example",
            "192.0.2.1",
            last + MAX_LOCK - Duration::from_secs(1)
        ));
        assert!(!locked(&guard, "a@x.example", "192.0.2.1", last + MAX_LOCK));
    }

    #[test]
    fn a_success_clears_the_pair_but_not_the_clients_budget() {
        let guard = LoginGuard::with_capacity(100);
        let t0 = Instant::now();
        for _ in 0..PAIR_FREE_FAILURES {
            guard.failed_at("a@x.example", ip("192.0.2.1"), t0);
        }
        guard.succeeded("a@x.example", ip("192.0.2.1"));
        guard.failed_at("a@x.example", ip("192.0.2.1"), t0);
        assert!(!locked(&guard, "a@x.example", "192.0.2.1", t0));
        // Logging in to an account of one's own does not refill the budget across accounts.
        for i in 0..SOURCE_FREE_FAILURES {
            guard.failed_at(&format!("u{i}@x.example"), ip("192.0.2.1"), t0);
        }
        guard.succeeded("a@x.example", ip("192.0.2.1"));
        assert!(locked(&guard, "a@x.example", "192.0.2.1", t0));
    }

    #[test]
    fn quiet_records_are_forgotten() {
        let guard = LoginGuard::with_capacity(100);
        let t0 = Instant::now();
        for _ in 0..5 {
            guard.failed_at("a@x.example", ip("192.0.2.1"), t0);
        }
        let later = t0 + FORGET_AFTER;
        assert!(!locked(&guard, "a@x.example", "192.0.2.1", later));
        // The streak starts over: one failure after the quiet hour does not lock.
        guard.failed_at("a@x.example", ip("192.0.2.1"), later);
        assert!(!locked(&guard, "a@x.example", "192.0.2.1", later));
    }

    #[test]
    fn one_client_failing_across_many_accounts_is_backed_off_everywhere() {
        let guard = LoginGuard::with_capacity(1000);
        let t0 = Instant::now();
        for i in 0..SOURCE_FREE_FAILURES {
            assert!(!locked(&guard, "victim@x.example", "192.0.2.9", t0));
            guard.failed_at(&format!("user{i}@x.example"), ip("192.0.2.9"), t0);
        }
        assert!(locked(&guard, "victim@x.example", "192.0.2.9", t0));
        assert!(!locked(&guard, "victim@x.example", "192.0.2.10", t0));
    }

    #[test]
    fn a_flood_of_one_off_failures_does_not_evict_a_running_back_off() {
        let guard = LoginGuard::with_capacity(64);
        let t0 = Instant::now();
        for _ in 0..PAIR_FREE_FAILURES + 5 {
            guard.failed_at("admin@x.example", ip("192.0.2.1"), t0);
        }
        for i in 0..10_000u32 {
            let client = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            guard.failed_at(&format!("flood{i}@x.example"), client, t0);
        }
        assert!(locked(&guard, "admin@x.example", "192.0.2.1", t0));
        let trackers = guard.trackers.lock().unwrap();
        assert!(trackers.pairs.len() <= 64 && trackers.sources.len() <= 64);
    }
}
