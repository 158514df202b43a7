//! The outbox mechanism that webhooks and emails share: rows written in the same transaction as
//! the change that causes them, claimed by a worker with a lease (so several server processes
//! never work on the same row at once), attempted, and either finished or retried with back-off
//! until the attempts run out. Each channel keeps its own table and its own sending; this module
//! holds the claiming, the retry schedule and the worker loop.

use std::future::Future;
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use diesel::QueryableByName;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::ApiError;

/// How long a claim keeps other workers off a row; a worker that dies mid-attempt leaves it to
/// be claimed again once the lease runs out (delivery is at least once).
pub const LEASE: Duration = Duration::seconds(60);
/// Rows claimed per pass.
pub const BATCH: i64 = 32;

/// The outbox tables. Their names go into SQL text, so they come only from here.
#[derive(Clone, Copy, Debug)]
pub enum Queue {
    WebhookDeliveries,
    Notifications,
}

impl Queue {
    fn table(self) -> &'static str {
        match self {
            Self::WebhookDeliveries => "webhook_deliveries",
            Self::Notifications => "notifications",
        }
    }
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Claims up to `limit` pending rows of `queue` due at `at` whose lease (if any) has run out,
/// leasing them until `lease_until`; returns their ids, the most overdue first. On PostgreSQL
/// the rows are picked `FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint rows
/// without waiting; SQLite has one writer at a time and this runs inside its write transaction.
pub fn claim_due(
    conn: &mut DbConn,
    queue: Queue,
    at: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<String>> {
    use diesel::sql_types::{BigInt, Timestamp};
    let table = queue.table();
    let (lock, p_lease, p_at, p_limit) = match conn {
        DbConn::Postgresql(_) => ("FOR UPDATE SKIP LOCKED", "$1", "$2", "$3"),
        DbConn::Sqlite(_) => ("", "?1", "?2", "?3"),
    };
    let sql = format!(
        "UPDATE {table} SET locked_until = {p_lease} WHERE id IN ( \
            SELECT id FROM {table} \
            WHERE status = 'pending' AND next_attempt_at <= {p_at} \
              AND (locked_until IS NULL OR locked_until < {p_at}) \
            ORDER BY next_attempt_at LIMIT {p_limit} {lock}) \
         RETURNING id"
    );
    let query = diesel::sql_query(sql)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(at)
        .bind::<BigInt, _>(limit);
    let claimed: Vec<Claimed> = match conn {
        DbConn::Postgresql(pg) => query.load(pg)?,
        DbConn::Sqlite(lite) => query.load(lite)?,
    };
    Ok(claimed.into_iter().map(|c| c.id).collect())
}

/// Delays after each failed attempt; once they are used up, the row is given up on.
#[derive(Clone, Copy, Debug)]
pub struct Backoff(pub &'static [i64]);

/// What follows an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// It worked: the row is finished.
    Done,
    /// It failed: try again at this moment.
    RetryAt(NaiveDateTime),
    /// It failed for the last time.
    GiveUp,
}

impl Backoff {
    /// Attempts in all: the first one and one after each delay.
    pub const fn max_attempts(self) -> i32 {
        self.0.len() as i32 + 1
    }

    /// What follows attempt number `attempts` (1 for the first), made at `at`.
    pub fn next(self, attempts: i32, succeeded: bool, at: NaiveDateTime) -> Next {
        if succeeded {
            return Next::Done;
        }
        match usize::try_from(attempts - 1)
            .ok()
            .and_then(|i| self.0.get(i))
        {
            Some(&delay) => Next::RetryAt(at + Duration::seconds(delay)),
            None => Next::GiveUp,
        }
    }
}

/// What one pass of a worker did: the rows it attempted, and how many of those attempts failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub attempted: usize,
    pub failed: usize,
}

impl Pass {
    /// A pass of attempts that all succeeded (or of work that cannot fail to be sent).
    pub const fn succeeded(attempted: usize) -> Self {
        Self {
            attempted,
            failed: 0,
        }
    }

    /// Whether the next pass starts at once: this one took a whole `batch` (so more may be due)
    /// and most of its attempts succeeded (so the far side is taking them). A pass of mostly
    /// failures waits like a short one: a relay or endpoint that refuses everything is not run
    /// through the whole backlog at full speed, each row only to be rescheduled.
    fn goes_on(self, batch: Option<usize>) -> bool {
        batch.is_some_and(|batch| self.attempted >= batch) && self.failed * 2 < self.attempted
    }
}

/// A worker loop of `serve`: `pass` about once a second until `stop` turns true. A pass that
/// attempted `batch` rows (all it may claim), most of them successfully, is followed at once by
/// the next, so a backlog is worked off at the speed of delivery rather than a batch a second
/// (32 emails a second had left a burst of bookings' confirmations queued for minutes). A pass
/// in progress is finished before stopping; an interrupted one is safe anyway (its leases run
/// out and its rows are claimed again).
pub async fn run_passes<F, Fut>(
    name: &'static str,
    batch: Option<usize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Pass, ApiError>>,
{
    loop {
        let goes_on = match pass().await {
            Ok(done) if done.attempted == 0 => false,
            Ok(done) => {
                tracing::debug!(
                    worker = name,
                    attempted = done.attempted,
                    failed = done.failed,
                    "outbox pass"
                );
                done.goes_on(batch)
            }
            Err(e) => {
                tracing::warn!(worker = name, error = %e, "outbox pass failed");
                false
            }
        };
        if !goes_on {
            tokio::select! {
                _ = stop.changed() => break,
                () = actix_web::rt::time::sleep(StdDuration::from_secs(1)) => {}
            }
        }
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!(worker = name, "outbox worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full passes that mostly succeeded follow one another at once; a pass with less than a
    /// batch, an error, or a full pass with half or more of its attempts failed waits a second.
    /// On tokio's paused clock, so the times are exact.
    #[tokio::test(start_paused = true)]
    async fn a_full_pass_that_mostly_succeeded_is_followed_at_once_and_others_after_a_second() {
        let started = tokio::time::Instant::now();
        let batch = BATCH as usize;
        let results = [
            Ok(Pass::succeeded(batch)),
            Ok(Pass::succeeded(batch)),
            Ok(Pass::succeeded(3)),
            Err(ApiError::Internal("down".to_owned())),
            Ok(Pass::succeeded(batch)),
            Ok(Pass {
                attempted: batch,
                failed: batch,
            }),
            Ok(Pass {
                attempted: batch,
                failed: batch / 2,
            }),
            Ok(Pass {
                attempted: batch,
                failed: 1,
            }),
            Ok(Pass::default()),
        ];
        let results = std::sync::Mutex::new(results.into_iter());
        let at = std::sync::Mutex::new(Vec::new());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        run_passes("test", Some(BATCH as usize), stopped, || {
            let mut at = at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            at.push(started.elapsed().as_secs());
            let next = results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .next();
            if next.is_none() {
                let _ = stop.send(true);
            }
            async move { next.unwrap_or(Ok(Pass::default())) }
        })
        .await;
        let at = at
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(at, [0, 0, 0, 1, 2, 2, 3, 4, 4, 5]);
    }

    #[test]
    fn backoff_retries_then_gives_up() {
        let at = chrono::DateTime::UNIX_EPOCH.naive_utc();
        let b = Backoff(&[5, 60]);
        assert_eq!(b.max_attempts(), 3);
        assert_eq!(b.next(1, true, at), Next::Done);
        assert_eq!(
            b.next(1, false, at),
            Next::RetryAt(at + Duration::seconds(5))
        );
        assert_eq!(
            b.next(2, false, at),
            Next::RetryAt(at + Duration::seconds(60))
        );
        assert_eq!(b.next(3, false, at), Next::GiveUp);
    }
}
