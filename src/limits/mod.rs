//! Abuse limits, per client: rate limits (actix-governor), 10 a minute on login, registration
//! and refresh and 50 a second on everything else; and exponential back-off after repeated
//! failed logins, per (account, client) and per client across accounts (`LoginGuard`, in
//! `login`). `RATE_LIMIT_ENABLED=false` turns both off. On SQLite they live in this process's
//! memory; on PostgreSQL in the database (`shared`), so that instances sharing it share them.
//!
//! The client (`client`) is the connection's peer address, or, when the peer is one of the
//! operator's `TRUSTED_PROXIES`, the address those proxies recorded in `X-Forwarded-For` /
//! `Forwarded`. IPv6 clients are bucketed by their /64 prefix (one subscriber's allocation).
//!
//! Concurrent password hashing is bounded elsewhere, by the hashing pool in `auth::password`.

mod client;
mod login;
mod shared;

use std::net::IpAddr;
use std::sync::Arc;

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{
    GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError,
};
use actix_web::dev::ServiceRequest;
use actix_web::{HttpResponse, HttpResponseBuilder};
use ipnet::IpNet;

use crate::error::ApiError;

pub use client::{bucket, client_addr, client_key};
pub use login::LoginGuard;
pub use shared::SharedLimits;

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

/// A per-client rate: a burst of `burst` requests, then one back every `interval_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Its name in the shared table.
    pub bucket: &'static str,
    pub interval_ms: u64,
    pub burst: u32,
}

/// Login, registration and refresh: 10 a minute per client (a burst of 10, one back every 6 s).
pub const AUTH_RATE: Rate = Rate {
    bucket: "auth",
    interval_ms: 6_000,
    burst: 10,
};

/// Everything else: 50 requests a second per client with bursts of 200.
pub const API_RATE: Rate = Rate {
    bucket: "api",
    interval_ms: 20,
    burst: 200,
};

fn in_memory(rate: Rate, trusted: &[IpNet]) -> IpLimit {
    GovernorConfigBuilder::default()
        .milliseconds_per_request(rate.interval_ms)
        .burst_size(rate.burst)
        .key_extractor(ClientIp::new(trusted))
        .finish()
        .unwrap_or_else(unreachable_config)
}

/// `AUTH_RATE` in this process's memory.
pub fn auth_limit(trusted: &[IpNet]) -> IpLimit {
    in_memory(AUTH_RATE, trusted)
}

/// `API_RATE` in this process's memory.
pub fn api_limit(trusted: &[IpNet]) -> IpLimit {
    in_memory(API_RATE, trusted)
}

fn unreachable_config() -> IpLimit {
    // Only reachable with a zero period or burst, which the constants above are not.
    panic!("invalid rate-limit constants")
}
