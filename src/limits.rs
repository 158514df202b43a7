//! Abuse limits: per-IP rate limits (actix-governor), exponential back-off per account after
//! repeated failed logins, and a cap on concurrent password hashes so that a login flood queues
//! instead of exhausting memory (argon2 takes 19 MiB per hash).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{
    GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError,
};
use actix_web::dev::ServiceRequest;
use actix_web::{HttpResponse, HttpResponseBuilder};

use crate::error::ApiError;

/// The client's IP address (the connection's peer; deploy behind a proxy that the operator
/// trusts to set it). Requests without one share a single bucket.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp;

impl KeyExtractor for ClientIp {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        Ok(req
            .peer_addr()
            .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip()))
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

/// Login, registration and refresh: 10 a minute per IP (a burst of 10, one back every 6 s).
pub fn auth_limit() -> IpLimit {
    GovernorConfigBuilder::default()
        .seconds_per_request(6)
        .burst_size(10)
        .key_extractor(ClientIp)
        .finish()
        .unwrap_or_else(unreachable_config)
}

/// Everything else: 50 requests a second per IP with bursts of 200.
pub fn api_limit() -> IpLimit {
    GovernorConfigBuilder::default()
        .milliseconds_per_request(20)
        .burst_size(200)
        .key_extractor(ClientIp)
        .finish()
        .unwrap_or_else(unreachable_config)
}

fn unreachable_config() -> IpLimit {
    // Only reachable with a zero period or burst, which the constants above are not.
    panic!("invalid rate-limit constants")
}

const FREE_FAILURES: u32 = 5;
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// Failed logins per account (email), in this process's memory. After five failures in a row
/// each further failure doubles the wait (1 s, 2 s, 4 s … up to 15 minutes); a success resets it.
pub struct LoginGuard {
    failures: Mutex<HashMap<String, Failures>>,
    capacity: usize,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

impl LoginGuard {
    /// A guard that tracks at most about `capacity` accounts.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            failures: Mutex::default(),
            capacity,
        }
    }

    /// Err with the seconds to wait while the account is backed off.
    pub fn check(&self, email: &str) -> Result<(), ApiError> {
        let map = self
            .failures
            .lock()
            .map_err(|_| ApiError::internal("login guard poisoned"))?;
        if let Some(until) = map.get(email).and_then(|f| f.locked_until) {
            let now = Instant::now();
            if until > now {
                return Err(ApiError::TooManyRequests {
                    retry_after_secs: (until - now).as_secs() + 1,
                });
            }
        }
        Ok(())
    }

    pub fn failed(&self, email: &str) {
        if let Ok(mut map) = self.failures.lock() {
            // Bound memory under a flood of distinct emails: forget the oldest state wholesale.
            if map.len() > self.capacity {
                map.clear();
            }
            let entry = map.entry(email.to_owned()).or_default();
            entry.count += 1;
            if entry.count >= FREE_FAILURES {
                let exponent = (entry.count - FREE_FAILURES).min(20);
                let wait = Duration::from_secs(1u64 << exponent).min(MAX_LOCK);
                entry.locked_until = Some(Instant::now() + wait);
            }
        }
    }

    pub fn succeeded(&self, email: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(email);
        }
    }
}
