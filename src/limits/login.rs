//! Back-off after failed logins, per (account, client) and per client: in this process's memory
//! (`MemoryGuard`), or in PostgreSQL shared by every instance (`super::shared`).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::shared::SharedLimits;
use crate::error::ApiError;

/// Failures in a row one client may make against one account before each further one doubles
/// the wait.
pub(super) const PAIR_FREE_FAILURES: u32 = 5;
/// Failures one client may make across all accounts (credential stuffing) before the same.
pub(super) const SOURCE_FREE_FAILURES: u32 = 20;
pub(super) const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// A record with no failure for this long (and no lock running) is forgotten.
pub(super) const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
const DEFAULT_CAPACITY: usize = 100_000;

/// The login back-off the app consults: in memory (SQLite, or a test that stops the clock), or
/// shared through PostgreSQL. Same rules either way (see `MemoryGuard`).
pub struct LoginGuard(Kind);

enum Kind {
    Memory(MemoryGuard),
    Shared(SharedLimits),
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self(Kind::Memory(MemoryGuard::default()))
    }
}

impl LoginGuard {
    /// In memory, at most `capacity` records (see `MemoryGuard::with_capacity`).
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Kind::Memory(MemoryGuard::with_capacity(capacity)))
    }

    /// In memory, reading the time from `clock` (tests stop or move time with it).
    pub fn with_clock(
        capacity: usize,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Self {
        Self(Kind::Memory(MemoryGuard::with_clock(capacity, clock)))
    }

    /// Kept in PostgreSQL, shared with every instance on the database.
    pub fn shared(limits: SharedLimits) -> Self {
        Self(Kind::Shared(limits))
    }

    /// Err with the seconds to wait while this client is backed off for this account.
    pub async fn check(&self, email: &str, client: IpAddr) -> Result<(), ApiError> {
        match &self.0 {
            Kind::Memory(guard) => guard.check(email, client),
            Kind::Shared(limits) => limits.login_check(email, client).await,
        }
    }

    pub async fn failed(&self, email: &str, client: IpAddr) {
        match &self.0 {
            Kind::Memory(guard) => guard.failed(email, client),
            Kind::Shared(limits) => limits.login_failed(email, client).await,
        }
    }

    pub async fn succeeded(&self, email: &str, client: IpAddr) {
        match &self.0 {
            Kind::Memory(guard) => guard.succeeded(email, client),
            Kind::Shared(limits) => limits.login_succeeded(email, client).await,
        }
    }
}

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
pub struct MemoryGuard {
    trackers: Mutex<Trackers>,
    /// Accounts are kept as keyed hashes of the email: fixed-size keys, no emails in memory.
    hasher: RandomState,
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
}

impl Default for MemoryGuard {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl MemoryGuard {
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

    fn locked(guard: &MemoryGuard, email: &str, client: &str, now: Instant) -> bool {
        guard.check_at(email, ip(client), now).is_err()
    }

    #[test]
    fn back_off_is_per_account_and_client() {
        let guard = MemoryGuard::with_capacity(100);
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
        let guard = MemoryGuard::with_capacity(100);
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
        let guard = MemoryGuard::with_capacity(100);
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
        let guard = MemoryGuard::with_capacity(1000);
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
        let guard = MemoryGuard::with_capacity(64);
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
