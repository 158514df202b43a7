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
///
/// A passive checkpoint never lets the log start over under steady load: SQLite rewinds the log
/// only when a write begins with every frame already copied, and by the time a checkpoint ends
/// the writer has appended more (one benchmark run of 70,000 bookings left a 3 GB log). So when
/// a passive checkpoint finds the log longer than [`LogLimit::restart_at`] frames, the
/// checkpoint thread takes the writer's turn and runs a restarting one, which copies the few
/// frames left and waits (briefly) for readers to leave the log; the next write then starts at
/// its beginning, and the writer's `journal_size_limit` cuts the file back to its bound.
#[derive(Clone)]
pub(super) struct Writer {
    queue: std::sync::mpsc::Sender<Box<dyn Job>>,
}

/// The most writes one commit takes.
const GROUP: usize = 64;

/// When the log is rewound, and how large its file is left (see [`Writer`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct LogLimit {
    /// Frames (pages) of log past which a checkpoint restarts the log.
    pub restart_at: i64,
    /// Bytes the log's file is cut back to when the log starts over.
    pub file_bytes: i64,
    /// How long a restarting checkpoint waits for readers before it gives up until the next.
    pub wait_for_readers_ms: u32,
}

impl Default for LogLimit {
    /// 16,384 frames (64 MiB of 4 KiB pages, about 1,000 bookings); the file kept at 64 MiB.
    fn default() -> Self {
        Self {
            restart_at: 16_384,
            file_bytes: 64 << 20,
            wait_for_readers_ms: 200,
        }
    }
}

/// Writes since the last checkpoint began, and whether one is running.
struct Checkpoints {
    writes: std::sync::atomic::AtomicU32,
    running: std::sync::atomic::AtomicBool,
    limit: LogLimit,
}

/// About 1,000 pages of log at a booking's ~16 pages, as SQLite's automatic checkpoint.
const CHECKPOINT_EVERY: u32 = 64;

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName)]
struct Checkpointed {
    /// 1 when the checkpoint could not finish (a reader or writer was in the way).
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    /// Frames in the log.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
}

impl Checkpoints {
    fn new(limit: LogLimit) -> Self {
        Self {
            writes: Default::default(),
            running: Default::default(),
            limit,
        }
    }

    /// After a commit of `writes` writes: starts a passive checkpoint on a pooled connection
    /// when one is due and none is running. Passive: it copies what no reader still needs and
    /// never waits. When it leaves a log past the limit, a restarting one follows.
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
                let done = pool
                    .get()
                    .map_err(|e| e.to_string())
                    .and_then(|mut conn| this.checkpoint(&mut conn));
                if let Err(e) = done {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
                }
                this.running.store(false, Ordering::Release);
            });
        if started.is_err() {
            self.running.store(false, Ordering::Release);
        }
    }

    /// A passive checkpoint, then a restarting one if the log is still past the limit.
    fn checkpoint(&self, conn: &mut DbConn) -> Result<(), String> {
        let DbConn::Sqlite(conn) = conn else {
            return Err("the checkpoint's connection is not SQLite".to_owned());
        };
        let passive = wal_checkpoint(conn, "PASSIVE")?;
        if passive.log <= self.limit.restart_at {
            return Ok(());
        }
        // The writer's turn, so that the writer thread waits on this lock (and goes on the
        // moment it is free) rather than in SQLite's busy handler, which sleeps between tries.
        let _turn = SQLITE_WRITER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A reader in a long transaction must not hold the writes up: wait for readers only
        // briefly, and try again at the next checkpoint if one is still in the log.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}",
            self.limit.wait_for_readers_ms
        ))
        .map_err(|e| e.to_string())?;
        let restarted = wal_checkpoint(conn, "RESTART");
        conn.batch_execute(&format!("PRAGMA busy_timeout = {}", super::BUSY_TIMEOUT_MS))
            .map_err(|e| e.to_string())?;
        if restarted?.busy != 0 {
            tracing::debug!("a reader kept the SQLite log from starting over; trying again later");
        }
        Ok(())
    }
}

fn wal_checkpoint(conn: &mut SqliteConnection, mode: &str) -> Result<Checkpointed, String> {
    diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})"))
        .get_result::<Checkpointed>(conn)
        .map_err(|e| e.to_string())
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
    pub(super) fn new(manager: Manager, pool: Pool, limit: LogLimit) -> std::io::Result<Self> {
        let (queue, jobs) = std::sync::mpsc::channel::<Box<dyn Job>>();
        let mut thread = Thread {
            manager,
            pool,
            conn: None,
            checkpoints: std::sync::Arc::new(Checkpoints::new(limit)),
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
            let limit = self.checkpoints.limit.file_bytes;
            conn.batch_execute(&format!(
                "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {limit}"
            ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    /// Under steady writes, with readers about, the log's file stays near its bound instead of
    /// keeping every write since the server started (3 GB after one benchmark run before).
    #[actix_web::test]
    async fn the_log_starts_over_under_steady_writes() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("log.sqlite");
        let limit = LogLimit {
            restart_at: 256,
            file_bytes: 1 << 20,
            wait_for_readers_ms: 200,
        };
        let db = Db::connect_with(&format!("sqlite://{}", file.display()), 1, limit)?;
        db.get()?
            .batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")?;

        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (db, stop) = (db.clone(), stop.clone());
                std::thread::spawn(move || -> Result<u64, String> {
                    let mut reads = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let mut conn = db.get().map_err(|e| e.to_string())?;
                        diesel::sql_query("SELECT max(id) FROM t")
                            .execute(&mut **conn)
                            .map_err(|e| e.to_string())?;
                        reads += 1;
                    }
                    Ok(reads)
                })
            })
            .collect();

        // 8,000 writes of a 4 KiB row each, queued 500 at a time so that the writer never
        // idles: about 40 MB of log if it never started over.
        let log = dir.path().join("log.sqlite-wal");
        let mut largest = 0;
        for _ in 0..16 {
            let writes = (0..500).map(|_| {
                db.write(|conn| {
                    diesel::sql_query("INSERT INTO t (body) VALUES (randomblob(4096))")
                        .execute(conn)
                        .map_err(DbError::from)
                })
            });
            futures::future::try_join_all(writes).await?;
            largest = largest.max(std::fs::metadata(&log)?.len());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            let reads = reader.join().map_err(|_| "a reader panicked")??;
            assert!(reads > 0);
        }

        #[derive(diesel::QueryableByName)]
        struct Rows {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut pooled = db.get()?;
        let DbConn::Sqlite(conn) = &mut **pooled else {
            return Err("not SQLite".into());
        };
        let rows = diesel::sql_query("SELECT count(*) AS n FROM t").get_result::<Rows>(conn)?;
        assert_eq!(rows.n, 8_000, "every write is kept");
        assert!(
            largest < 12 << 20,
            "the log's file reached {largest} bytes; it should stay near 1 MiB"
        );
        Ok(())
    }
}
