//! The same limits kept in PostgreSQL, so that every instance on one database spends one
//! budget: N instances behind a load balancer give a client what one instance would, not N
//! times as much. One row per (bucket, key) in `rate_limits` (migration
//! `2026-12-03-000001_rate_limits`), changed by one atomic upsert per check, timed by the
//! database's clock (so instances whose clocks differ still agree):
//!
//! - the per-client rate limits are the same GCRA as the in-memory limiter (`until` is the
//!   theoretical arrival time): a burst of `burst`, then one request back every `interval_ms`;
//! - failed logins count in a row per (account, client) and per client, with the same back-off
//!   as `login::MemoryGuard`. Accounts are keyed by an HMAC of the email under the JWT secret,
//!   which every instance shares: no emails in the table, the same key on every instance.
//!
//! Every thousandth check of a process also deletes the rows that mean nothing any more.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use diesel::{PgConnection, QueryableByName};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Rate;
use super::login::{FORGET_AFTER, MAX_LOCK, PAIR_FREE_FAILURES, SOURCE_FREE_FAILURES};
use crate::db::{Db, DbConn, DbError};
use crate::error::ApiError;

const PRUNE_EVERY: u64 = 1000;

const PAIR: &str = "login.pair";
const SOURCE: &str = "login.source";

#[derive(Clone)]
pub struct SharedLimits {
    db: Db,
    account_key: Arc<[u8]>,
    checks: Arc<AtomicU64>,
}

#[derive(QueryableByName)]
struct Wait {
    #[diesel(sql_type = Double)]
    secs: f64,
}

/// Seconds to wait as `Retry-After` says them (what is left, rounded up past the second).
fn retry_after(secs: f64) -> Option<u64> {
    (secs > 0.0).then(|| secs as u64 + 1)
}

impl SharedLimits {
    /// `secret` keys the account hashes; every instance must have the same (the JWT secret).
    pub fn new(db: Db, secret: &[u8]) -> Self {
        Self {
            db,
            account_key: secret.into(),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts a request of `client` against `rate`: `Err(TooManyRequests)` when over it. When
    /// the database cannot be asked the request goes on (logged): a limit must not turn an
    /// outage of the table into an outage of `/health`.
    pub async fn take(&self, rate: Rate, client: IpAddr) -> Result<(), ApiError> {
        let prune = self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1;
        let key = client.to_string();
        let outcome = self
            .db
            .run(move |conn| -> Result<Option<u64>, DbError> {
                let DbConn::Postgresql(pg) = conn else {
                    return Ok(None);
                };
                if prune {
                    prune_stale(pg)?;
                }
                Ok(take_on(pg, rate, &key)?)
            })
            .await;
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(retry_after_secs)) => Err(ApiError::TooManyRequests { retry_after_secs }),
            Err(error) => {
                tracing::warn!(%error, bucket = rate.bucket, "shared rate limit not checked");
                Ok(())
            }
        }
    }

    fn pair_key(&self, email: &str, client: IpAddr) -> String {
        let account = match Hmac::<Sha256>::new_from_slice(&self.account_key) {
            Ok(mut mac) => {
                mac.update(email.as_bytes());
                hex::encode(&mac.finalize().into_bytes()[..16])
            }
            // HMAC takes keys of any length; kept total anyway.
            Err(_) => String::new(),
        };
        format!("{account}/{client}")
    }

    /// Err with the seconds to wait while `client` is backed off for this account.
    pub async fn login_check(&self, email: &str, client: IpAddr) -> Result<(), ApiError> {
        let (pair, source) = (self.pair_key(email, client), client.to_string());
        let wait = self
            .db
            .run(move |conn| -> Result<f64, DbError> {
                let DbConn::Postgresql(pg) = conn else {
                    return Ok(0.0);
                };
                let wait: Wait = diesel::sql_query(
                    "SELECT COALESCE(MAX(EXTRACT(EPOCH FROM until - now())), 0)::float8 AS secs \
                     FROM rate_limits \
                     WHERE ((bucket = $1 AND key = $2) OR (bucket = $3 AND key = $4)) \
                       AND until > now()",
                )
                .bind::<Text, _>(PAIR)
                .bind::<Text, _>(pair)
                .bind::<Text, _>(SOURCE)
                .bind::<Text, _>(source)
                .get_result(pg)?;
                Ok(wait.secs)
            })
            .await
            .map_err(ApiError::from)?;
        match retry_after(wait) {
            Some(retry_after_secs) => Err(ApiError::TooManyRequests { retry_after_secs }),
            None => Ok(()),
        }
    }

    /// One more failed login of `client` against the account, and against any account.
    pub async fn login_failed(&self, email: &str, client: IpAddr) {
        let (pair, source) = (self.pair_key(email, client), client.to_string());
        let outcome = self
            .db
            .run(move |conn| -> Result<(), DbError> {
                if let DbConn::Postgresql(pg) = conn {
                    fail_on(pg, PAIR, &pair, PAIR_FREE_FAILURES)?;
                    fail_on(pg, SOURCE, &source, SOURCE_FREE_FAILURES)?;
                }
                Ok(())
            })
            .await;
        if let Err(error) = outcome {
            tracing::warn!(%error, "failed login not recorded");
        }
    }

    /// The client got into the account: its failures there are forgotten.
    pub async fn login_succeeded(&self, email: &str, client: IpAddr) {
        let pair = self.pair_key(email, client);
        let outcome = self
            .db
            .run(move |conn| -> Result<(), DbError> {
                if let DbConn::Postgresql(pg) = conn {
                    diesel::sql_query("DELETE FROM rate_limits WHERE bucket = $1 AND key = $2")
                        .bind::<Text, _>(PAIR)
                        .bind::<Text, _>(pair)
                        .execute(pg)?;
                }
                Ok(())
            })
            .await;
        if let Err(error) = outcome {
            tracing::warn!(%error, "successful login not recorded");
        }
    }
}

/// GCRA in one statement: the request is let through (and the row moved on) when the
/// theoretical arrival time is no further ahead than the burst allows; otherwise nothing is
/// written and the wait is read back. `None`: go on; `Some(seconds)`: refused.
fn take_on(pg: &mut PgConnection, rate: Rate, key: &str) -> QueryResult<Option<u64>> {
    let interval = i64::try_from(rate.interval_ms).unwrap_or(i64::MAX);
    let tolerance = interval.saturating_mul(i64::from(rate.burst.saturating_sub(1)));
    let taken = Take {
        bucket: rate.bucket,
        key,
        interval,
        tolerance,
    }
    .execute(pg)?;
    if taken == 1 {
        return Ok(None);
    }
    let wait: Wait = diesel::sql_query(
        "SELECT COALESCE(EXTRACT(EPOCH FROM \
             until - now() - $3::float8 * interval '1 millisecond'), 0)::float8 AS secs \
         FROM rate_limits WHERE bucket = $1 AND key = $2",
    )
    .bind::<Text, _>(rate.bucket)
    .bind::<Text, _>(key)
    .bind::<BigInt, _>(tolerance)
    .get_result(pg)?;
    Ok(Some(retry_after(wait.secs).unwrap_or(1)))
}

/// The GCRA upsert of [`take_on`], a statement of its own type so that it stays prepared on
/// the connection (an `sql_query` is parsed and planned on every request). The interval and
/// the tolerance are in milliseconds.
struct Take<'a> {
    bucket: &'a str,
    key: &'a str,
    interval: i64,
    tolerance: i64,
}

impl diesel::query_builder::QueryId for Take<'_> {
    type QueryId = Take<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for Take<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("INSERT INTO rate_limits AS r (bucket, key, until, touched_at) VALUES (");
        out.push_bind_param::<Text, _>(&self.bucket)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.key)?;
        out.push_sql(", now() + ");
        out.push_bind_param::<BigInt, _>(&self.interval)?;
        out.push_sql(
            "::float8 * interval '1 millisecond', now()) \
             ON CONFLICT (bucket, key) DO UPDATE \
             SET until = GREATEST(r.until, now()) + ",
        );
        out.push_bind_param::<BigInt, _>(&self.interval)?;
        out.push_sql(
            "::float8 * interval '1 millisecond', touched_at = now() \
             WHERE GREATEST(r.until, now()) <= now() + ",
        );
        out.push_bind_param::<BigInt, _>(&self.tolerance)?;
        out.push_sql("::float8 * interval '1 millisecond'");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for Take<'_> {}

/// One more failure in a row (a record untouched for `FORGET_AFTER` with no back-off running
/// starts again from one); from `free` failures on, each one doubles the back-off (1 s, 2 s,
/// 4 s … up to `MAX_LOCK`).
fn fail_on(pg: &mut PgConnection, bucket: &str, key: &str, free: u32) -> QueryResult<()> {
    const COUNT: &str = "(CASE WHEN COALESCE(r.until <= now(), TRUE) \
                              AND r.touched_at <= now() - $4::float8 * interval '1 second' \
                         THEN 1 ELSE LEAST(r.hits, 1000000) + 1 END)";
    let statement = format!(
        "INSERT INTO rate_limits AS r (bucket, key, hits, until, touched_at) \
         VALUES ($1, $2, 1, CASE WHEN 1 >= $3 THEN now() + interval '1 second' END, now()) \
         ON CONFLICT (bucket, key) DO UPDATE \
         SET hits = {COUNT}, \
             until = CASE WHEN {COUNT} >= $3 THEN now() + LEAST( \
                 power(2, LEAST({COUNT} - $3, 20)) * interval '1 second', \
                 $5::float8 * interval '1 second') END, \
             touched_at = now()"
    );
    diesel::sql_query(statement)
        .bind::<Text, _>(bucket)
        .bind::<Text, _>(key)
        .bind::<diesel::sql_types::Integer, _>(i32::try_from(free).unwrap_or(i32::MAX))
        .bind::<BigInt, _>(i64::try_from(FORGET_AFTER.as_secs()).unwrap_or(i64::MAX))
        .bind::<BigInt, _>(i64::try_from(MAX_LOCK.as_secs()).unwrap_or(i64::MAX))
        .execute(pg)?;
    Ok(())
}

/// Rows that no longer hold anything back: no back-off or arrival time ahead, untouched for
/// `FORGET_AFTER`.
fn prune_stale(pg: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(
        "DELETE FROM rate_limits \
         WHERE touched_at < now() - $1::float8 * interval '1 second' \
           AND (until IS NULL OR until < now())",
    )
    .bind::<BigInt, _>(i64::try_from(FORGET_AFTER.as_secs()).unwrap_or(i64::MAX))
    .execute(pg)?;
    Ok(())
}
