//! How SQLite's writes take turns: the process's writer turn (`write_transaction`, on any
//! connection), and the connection kept for `Db::write` with its checkpoints ([`Writer`]).

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;

use super::{DbConn, DbError, Manager, Pool};

/// One writer at a time per process for SQLite (see `write_transaction`). Process-wide rather
/// than per file: a process serves one database, and tests with many databases only lose a
/// little parallelism.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A transaction that holds the write lock from its first statement. On SQLite a deferred
/// transaction that reads and then writes can interleave with another writer's read, which is
/// exactly the check-then-insert race; `BEGIN IMMEDIATE` takes the lock up front (waiting up to
/// busy_timeout). PostgreSQL relies on its constraints and row locks instead.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    // Writers of this process queue here, handing over at once, instead of waiting in SQLite's
    // busy handler, which sleeps 1–100 ms between retries and gave booking requests a 0.5 s
    // p99 under contention. SQLite allows one writer per file anyway; other processes are
    // still held off by busy_timeout.
    let _turn = matches!(conn, DbConn::Sqlite(_)).then(|| {
        SQLITE_WRITER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    immediate_transaction(conn, f)
}

/// `f` inside `BEGIN IMMEDIATE` … `COMMIT` (rolled back on error), for a caller that holds the
/// process's writer turn; on PostgreSQL an ordinary transaction.
fn immediate_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let DbConn::Sqlite(inner) = conn else {
        return conn.transaction(f);
    };
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    let outcome = f(conn);
    let DbConn::Sqlite(inner) = conn else {
        return Err(diesel::result::Error::BrokenTransactionManager.into());
    };
    match outcome {
        Ok(value) => {
            if let Err(e) = AnsiTransactionManager::commit_transaction(inner) {
                let _ = AnsiTransactionManager::rollback_transaction(inner);
                return Err(e.into());
            }
            Ok(value)
        }
        Err(e) => {
            AnsiTransactionManager::rollback_transaction(inner)?;
            Err(e)
        }
    }
}

/// SQLite's writes on one connection of their own, opened when first needed. SQLite takes one
/// writer at a time anyway; on one connection, what it read for the last write is still in its
/// page cache for the next (a connection must drop its cache whenever another one wrote, so on
/// pooled connections taken in turn every write re-read its pages), and writers waiting their
/// turn no longer hold pooled connections that reads need.
///
/// Checkpoints (copying the write-ahead log into the database file) are not left to SQLite's
/// automatic ones either, which run inside the commit that crosses 1,000 log pages, while every
/// other writer waits (a tenth of the writer's time under load): the writer's connection has
/// them off, and every [`CHECKPOINT_EVERY`] commits a passive checkpoint runs on a pooled
/// connection in a thread of its own, beside the writes that go on meanwhile.
#[derive(Clone)]
pub(super) struct Writer {
    manager: Manager,
    conn: std::sync::Arc<std::sync::Mutex<Option<DbConn>>>,
    checkpoints: std::sync::Arc<Checkpoints>,
}

/// Commits since the last checkpoint began, and whether one is running.
#[derive(Default)]
struct Checkpoints {
    commits: std::sync::atomic::AtomicU32,
    running: std::sync::atomic::AtomicBool,
}

/// About 1,000 pages of log at a booking's ~16 pages, as SQLite's automatic checkpoint.
const CHECKPOINT_EVERY: u32 = 64;

impl Checkpoints {
    /// After a commit: starts a passive checkpoint on a pooled connection when one is due and
    /// none is running. Passive: it copies what no reader still needs and never waits.
    fn after_commit(self: &std::sync::Arc<Self>, pool: &Pool) {
        use std::sync::atomic::Ordering;
        if self.commits.fetch_add(1, Ordering::Relaxed) + 1 < CHECKPOINT_EVERY
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.commits.store(0, Ordering::Relaxed);
        let (this, pool) = (self.clone(), pool.clone());
        let started = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                let done = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                    conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
                        .map_err(|e| e.to_string())
                });
                if let Err(e) = done {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
                }
                this.running.store(false, Ordering::Release);
            });
        if started.is_err() {
            self.running.store(false, Ordering::Release);
        }
    }
}

impl Writer {
    pub(super) fn new(manager: Manager) -> Self {
        Self {
            manager,
            conn: Default::default(),
            checkpoints: Default::default(),
        }
    }

    /// `f` in a write transaction on the writer's connection, after the process's writer turn
    /// (`SQLITE_WRITER`). A connection left broken (its transaction manager in error, or a
    /// panic inside `f`) is closed; the next write opens another.
    pub(super) fn write<T, E, F>(&self, pool: &Pool, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        let outcome = self.write_in_turn(f);
        if outcome.is_ok() {
            self.checkpoints.after_commit(pool);
        }
        outcome
    }

    fn write_in_turn<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        use diesel::r2d2::R2D2Connection;
        self.manager
            .check_file()
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let _turn = SQLITE_WRITER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut slot = self.conn.lock().unwrap_or_else(|poisoned| {
            // A panic inside the last write: its connection may be inside a transaction.
            self.conn.clear_poison();
            let mut slot = poisoned.into_inner();
            *slot = None;
            slot
        });
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => {
                let mut conn = self
                    .manager
                    .open()
                    .map_err(|e| DbError::Unavailable(e.to_string()))?;
                conn.batch_execute("PRAGMA wal_autocheckpoint = 0")?;
                empty.insert(conn)
            }
        };
        let outcome = immediate_transaction(conn, f);
        if conn.is_broken() {
            *slot = None;
        }
        outcome
    }
}
