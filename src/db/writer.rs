//! How SQLite's writes take turns: the process's writer turn (`write_transaction`, on any
//! connection), and the thread and connection that commit `Db::write`'s writes in groups, with
//! their checkpoints ([`Writer`]).

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

/// SQLite's writes on one connection of their own, on a thread of their own, committed in
/// groups. SQLite takes one writer at a time anyway; on one connection, what it read for the last
/// write is still in its page cache for the next, and no pooled connection or blocking thread
/// waits for its turn.
///
/// Group commit: the thread takes every write queued while it was busy (up to [`GROUP`]) and
/// runs them in one transaction, each inside a savepoint of its own, so a write that fails is
/// rolled back alone and the others stand; one commit then writes the log once for all of them,
/// and no caller hears of its write before that commit. If the commit fails, or a write leaves
/// the transaction unusable (a panic, SQLite rolling it back itself), the whole group is rolled
/// back and every write in it answers an error: nothing is half-written, nothing is reported
/// done that is not.
///
/// Checkpoints (copying the write-ahead log into the database file) are not left to SQLite's
/// automatic ones either, which run inside the commit that crosses 1,000 log pages, while every
/// other writer waits (a tenth of the writer's time under load): the writer's connection has
/// them off, and every [`CHECKPOINT_EVERY`] writes a passive checkpoint runs on a pooled
/// connection in a thread of its own, beside the writes that go on meanwhile.
#[derive(Clone)]
pub(super) struct Writer {
    queue: std::sync::mpsc::Sender<Box<dyn Job>>,
}

/// The most writes one commit takes.
const GROUP: usize = 64;

/// Writes since the last checkpoint began, and whether one is running.
#[derive(Default)]
struct Checkpoints {
    writes: std::sync::atomic::AtomicU32,
    running: std::sync::atomic::AtomicBool,
}

/// About 1,000 pages of log at a booking's ~16 pages, as SQLite's automatic checkpoint.
const CHECKPOINT_EVERY: u32 = 64;

impl Checkpoints {
    /// After a commit of `writes` writes: starts a passive checkpoint on a pooled connection
    /// when one is due and none is running. Passive: it copies what no reader still needs and
    /// never waits.
    fn after_commit(self: &std::sync::Arc<Self>, pool: &Pool, writes: u32) {
        use std::sync::atomic::Ordering;
        if self.writes.fetch_add(writes, Ordering::Relaxed) + writes < CHECKPOINT_EVERY
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.writes.store(0, Ordering::Relaxed);
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

/// A queued write, its types erased so writes of every kind share one queue.
trait Job: Send {
    /// Runs the write inside its savepoint; what it returns is told to the caller after the
    /// group's commit.
    fn run(self: Box<Self>, conn: &mut DbConn) -> Box<dyn Done>;
    /// Answers `error` without running the write.
    fn refuse(self: Box<Self>, error: &str);
}

/// A write that ran, waiting for its group's commit.
trait Done: Send {
    /// `committed`: `Ok` when the group committed; else why it was rolled back.
    fn tell(self: Box<Self>, committed: Result<(), &str>);
}

type Answer<T, E> = tokio::sync::oneshot::Sender<Result<T, E>>;

struct Queued<F, T, E> {
    write: F,
    answer: Answer<T, E>,
}

struct Ran<T, E> {
    outcome: Result<T, E>,
    answer: Answer<T, E>,
}

impl<F, T, E> Job for Queued<F, T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send,
    T: Send + 'static,
    E: From<DbError> + From<diesel::result::Error> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut DbConn) -> Box<dyn Done> {
        // A savepoint inside the group's transaction: an error rolls back this write alone.
        let outcome = conn.transaction(self.write);
        Box::new(Ran {
            outcome,
            answer: self.answer,
        })
    }

    fn refuse(self: Box<Self>, error: &str) {
        let _ = self
            .answer
            .send(Err(DbError::Unavailable(error.to_owned()).into()));
    }
}

impl<T, E> Done for Ran<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    fn tell(self: Box<Self>, committed: Result<(), &str>) {
        let answer = match (committed, self.outcome) {
            // A write that failed changed nothing either way; its own error stands.
            (_, Err(e)) => Err(e),
            (Ok(()), Ok(value)) => Ok(value),
            (Err(why), Ok(_)) => Err(DbError::Unavailable(why.to_owned()).into()),
        };
        let _ = self.answer.send(answer);
    }
}

impl Writer {
    /// Starts the writer's thread; it ends when the last `Writer` is dropped.
    pub(super) fn new(manager: Manager, pool: Pool) -> std::io::Result<Self> {
        let (queue, jobs) = std::sync::mpsc::channel::<Box<dyn Job>>();
        let mut thread = Thread {
            manager,
            pool,
            conn: None,
            checkpoints: Default::default(),
        };
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || {
                while let Ok(first) = jobs.recv() {
                    let mut group = vec![first];
                    group.extend(jobs.try_iter().take(GROUP - 1));
                    thread.run_group(group);
                }
            })?;
        Ok(Self { queue })
    }

    /// `f` in a write transaction on the writer's connection (see [`Writer`]), answered once
    /// its group is committed or rolled back.
    pub(super) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Box<dyn Job> = Box::new(Queued { write: f, answer });
        self.queue
            .send(job)
            .map_err(|_| DbError::Unavailable("the SQLite writer has stopped".to_owned()))?;
        answered.await.map_err(|_| {
            // The write panicked (its answer was dropped while unwinding).
            DbError::Task("the write panicked; its group was rolled back".to_owned())
        })?
    }
}

/// What the writer's thread owns.
struct Thread {
    manager: Manager,
    pool: Pool,
    /// Opened when first needed; closed when a group leaves it unusable.
    conn: Option<DbConn>,
    checkpoints: std::sync::Arc<Checkpoints>,
}

impl Thread {
    fn run_group(&mut self, group: Vec<Box<dyn Job>>) {
        if let Err(e) = self.manager.check_file() {
            let why = e.to_string();
            group.into_iter().for_each(|job| job.refuse(&why));
            return;
        }
        let _turn = SQLITE_WRITER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let conn = match self.open() {
            Ok(conn) => conn,
            Err(why) => {
                group.into_iter().for_each(|job| job.refuse(&why));
                return;
            }
        };
        let writes = group.len() as u32;
        let mut done = Vec::with_capacity(group.len());
        let mut group = group.into_iter();
        let mut failed = None;
        for job in group.by_ref() {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn))) {
                Ok(ran) => done.push(ran),
                Err(_) => {
                    failed = Some("an earlier write in its group panicked".to_owned());
                    break;
                }
            }
            if !in_group_transaction(conn) {
                failed = Some("the database rolled the transaction back".to_owned());
                break;
            }
        }
        let outcome = match failed {
            None => commit(conn),
            Some(why) => Err(why),
        };
        if outcome.is_err() && !self.rolled_back() {
            // Closing a connection rolls back whatever it still has open.
            self.conn = None;
        }
        drop(_turn);
        for ran in done {
            ran.tell(outcome.as_ref().map(|_| ()).map_err(String::as_str));
        }
        // Writes not run because the group failed early go into a group of their own.
        let rest: Vec<_> = group.collect();
        if outcome.is_ok() {
            self.checkpoints.after_commit(&self.pool, writes);
        } else if !rest.is_empty() {
            self.run_group(rest);
        }
    }

    /// Rolls back the group's transaction; whether the connection is clean again.
    fn rolled_back(&mut self) -> bool {
        let Some(DbConn::Sqlite(inner)) = self.conn.as_mut() else {
            return false;
        };
        if AnsiTransactionManager::rollback_transaction(inner).is_err() {
            return false;
        }
        matches!(
            AnsiTransactionManager::transaction_manager_status_mut(inner).transaction_depth(),
            Ok(None)
        )
    }

    /// The writer's connection inside `BEGIN IMMEDIATE`.
    fn open(&mut self) -> Result<&mut DbConn, String> {
        if self.conn.is_none() {
            let mut conn = self.manager.open().map_err(|e| e.to_string())?;
            conn.batch_execute("PRAGMA wal_autocheckpoint = 0")
                .map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        let Some(DbConn::Sqlite(inner)) = self.conn.as_mut() else {
            return Err("the writer's connection is not SQLite".to_owned());
        };
        if let Err(e) = AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE") {
            use diesel::r2d2::R2D2Connection;
            if self.conn.as_mut().is_some_and(|c| c.is_broken()) {
                self.conn = None;
            }
            return Err(e.to_string());
        }
        self.conn
            .as_mut()
            .ok_or_else(|| "the writer's connection is gone".to_owned())
    }
}

/// Whether the group's transaction is still open at its own level (each write's savepoint
/// released or rolled back), as diesel tracks it.
fn in_group_transaction(conn: &mut DbConn) -> bool {
    let DbConn::Sqlite(inner) = conn else {
        return false;
    };
    matches!(
        AnsiTransactionManager::transaction_manager_status_mut(inner).transaction_depth(),
        Ok(Some(depth)) if depth.get() == 1
    )
}

fn commit(conn: &mut DbConn) -> Result<(), String> {
    let DbConn::Sqlite(inner) = conn else {
        return Err("the writer's connection is not SQLite".to_owned());
    };
    AnsiTransactionManager::commit_transaction(inner).map_err(|e| e.to_string())
}
