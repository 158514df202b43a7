//! Database access: one connection enum over SQLite and PostgreSQL, an r2d2 pool that picks the
//! backend from the URL scheme itself, per-connection SQLite pragmas, embedded migrations, and
//! `run` to keep every diesel call off the async executor.

pub mod locks;
pub mod schema;
mod writer;

use writer::Writer;
pub use writer::write_transaction;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Runs `$body` with `$c` bound to the connection of the backend inside a `DbConn`. Through
/// `DbConn` itself diesel writes a statement's SQL out again on every use (to hand it to the
/// backend's connection), even when the statement is prepared already; on the backend's own
/// connection a statement of static type is found in the cache by its type alone. For the
/// statements of the busiest paths (a booking's, whose profile had 11 % of the SQLite writer
/// in that writing out).
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Postgresql($c) => $body,
        }
    };
}
pub(crate) use per_backend;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Which backend a `DATABASE_URL` names, and the string the driver wants. Chosen explicitly:
/// letting `MultiConnection::establish` guess hides the real connection error.
pub fn parse_url(url: &str) -> (Backend, String) {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (Backend::Postgres, url.to_owned())
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        (Backend::Sqlite, path.to_owned())
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        (Backend::Sqlite, path.to_owned())
    } else {
        (Backend::Sqlite, url.to_owned())
    }
}

/// How long a SQLite connection waits for a lock before it answers busy.
macro_rules! busy_timeout_ms {
    () => {
        5000
    };
}
const BUSY_TIMEOUT_MS: u32 = busy_timeout_ms!();

/// busy_timeout first, so that even the pragma statements wait for a lock instead of failing.
/// `mmap_size`: pages are read from a mapping of the file instead of copied in by `pread`
/// (a connection re-reads its pages after another one wrote). `temp_store = MEMORY`: the
/// statement journals of the writer's savepoints (one per write in a group) are kept in memory
/// instead of written to a temporary file (8 % of the writer's time in a booking's profile);
/// they only ever undo a statement of a transaction still open, never survive a crash.
const SQLITE_PRAGMAS: &str = concat!(
    "PRAGMA busy_timeout = ",
    busy_timeout_ms!(),
    "; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
     PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;"
);

#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    target: String,
    /// The SQLite file as first opened; every later connection must find the same file.
    sqlite_file: Option<SqliteFile>,
}

impl Manager {
    /// For SQLite, creates the database file (owner-only) if it does not exist yet and records
    /// which file it is; connections then open it without the right to create it, so a file
    /// removed under a running server is noticed instead of silently recreated empty.
    pub fn new(database_url: &str) -> Result<Self, r2d2::Error> {
        let (backend, target) = parse_url(database_url);
        let sqlite_file = match backend {
            Backend::Sqlite => Some(SqliteFile::create_or_open(&target)?),
            Backend::Postgres => None,
        };
        Ok(Self {
            backend,
            target,
            sqlite_file,
        })
    }

    /// Err when the SQLite file this pool serves has been removed or replaced since start.
    pub fn check_file(&self) -> Result<(), FileGone> {
        match &self.sqlite_file {
            Some(file) => file.check(),
            None => Ok(()),
        }
    }
}

/// The database file was removed or replaced under the running server.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the SQLite database file {0} was removed or replaced while the server was running")]
pub struct FileGone(String);

/// Identity (device, inode) of the SQLite database file, to detect its removal or replacement.
#[derive(Debug, Clone)]
struct SqliteFile {
    path: std::path::PathBuf,
    /// `file:` URI opening the existing file read-write without creating it.
    uri: String,
    identity: Option<(u64, u64)>,
}

impl SqliteFile {
    fn create_or_open(target: &str) -> Result<Self, r2d2::Error> {
        let path = std::path::PathBuf::from(target.split('?').next().unwrap_or(target));
        let in_memory = target == ":memory:" || target.starts_with("file::memory:");
        if in_memory {
            return Ok(Self {
                path,
                uri: target.to_owned(),
                identity: None,
            });
        }
        let io = |e: std::io::Error| {
            r2d2::Error::ConnectionError(ConnectionError::BadConnection(format!(
                "cannot create the database file {}: {e}",
                path.display()
            )))
        };
        create_private_file(&path).map_err(io)?;
        let identity = file_identity(&path).map_err(io)?;
        Ok(Self {
            uri: sqlite_uri(&path),
            path,
            identity,
        })
    }

    fn check(&self) -> Result<(), FileGone> {
        let Some(expected) = self.identity else {
            return Ok(());
        };
        match file_identity(&self.path) {
            Ok(Some(found)) if found == expected => Ok(()),
            _ => Err(FileGone(self.path.display().to_string())),
        }
    }
}

/// Creates `path` readable and writable by its owner only, unless it exists already.
pub fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn file_identity(path: &std::path::Path) -> std::io::Result<Option<(u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok(Some((meta.dev(), meta.ino())))
}

#[cfg(not(unix))]
fn file_identity(path: &std::path::Path) -> std::io::Result<Option<(u64, u64)>> {
    std::fs::metadata(path).map(|_| None)
}

/// `file:` URI for an existing file, opened read-write but never created (`mode=rw`).
fn sqlite_uri(path: &std::path::Path) -> String {
    let mut uri = String::from("file:");
    for byte in path.display().to_string().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' | b'~' => {
                uri.push(char::from(byte));
            }
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    uri.push_str("?mode=rw");
    uri
}

/// A connection in the pool, with when it was last proved alive. It is used as a `DbConn`.
pub struct Pooled {
    conn: DbConn,
    proved: std::time::Instant,
}

/// A connection is proved alive (`SELECT 1`) when it is handed out at most once per this
/// interval, not on every checkout: under load every request paid a round trip for it (two per
/// booking, counted on PostgreSQL). A connection the server closed meanwhile fails the queries
/// of this interval (503, the database unavailable) and is then found dead and replaced.
const PROOF_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl std::ops::Deref for Pooled {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        Ok(Pooled {
            conn: self.open()?,
            proved: std::time::Instant::now(),
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        use diesel::r2d2::R2D2Connection;
        if pooled.conn.is_broken() {
            return Err(r2d2::Error::QueryError(
                diesel::result::Error::BrokenTransactionManager,
            ));
        }
        if pooled.proved.elapsed() < PROOF_INTERVAL {
            return Ok(());
        }
        pooled
            .conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)?;
        pooled.proved = std::time::Instant::now();
        Ok(())
    }

    /// A connection given back while unwinding from a panic, inside a transaction, or with its
    /// transaction manager in an error state is closed, never reused: reusing it would run
    /// later requests inside a transaction nobody commits.
    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        use diesel::r2d2::R2D2Connection;
        std::thread::panicking() || pooled.conn.is_broken() || self.check_file().is_err()
    }
}

impl Manager {
    fn open(&self) -> Result<DbConn, r2d2::Error> {
        match self.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.target)
                .map(DbConn::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let target = match &self.sqlite_file {
                    Some(file) => {
                        file.check().map_err(|e| {
                            r2d2::Error::ConnectionError(ConnectionError::BadConnection(
                                e.to_string(),
                            ))
                        })?;
                        file.uri.as_str()
                    }
                    None => self.target.as_str(),
                };
                let mut conn = diesel::SqliteConnection::establish(target)
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

pub type Pool = r2d2::Pool<Manager>;

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    sqlite_file: Option<SqliteFile>,
    /// SQLite: the one connection [`Db::write`] runs on (see [`Writer`]); `None` on PostgreSQL.
    writer: Option<Writer>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Open(#[from] r2d2::Error),
    #[error("{0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("cannot start the SQLite writer: {0}")]
    Writer(String),
}

impl Db {
    /// The server's pool: one connection kept open even when idle.
    pub fn connect(database_url: &str) -> Result<Self, ConnectError> {
        Self::connect_keeping(database_url, 1)
    }

    /// For a command that runs once and exits: no idle connection is kept, so the pool never
    /// opens one in the background. (With one kept, taking it made the pool open a replacement
    /// on its own thread; a process exiting meanwhile tore down OpenSSL under that thread's TLS
    /// handshake with PostgreSQL, and the command died of a segmentation fault now and then.)
    pub fn connect_for_command(database_url: &str) -> Result<Self, ConnectError> {
        Self::connect_keeping(database_url, 0)
    }

    fn connect_keeping(database_url: &str, min_idle: u32) -> Result<Self, ConnectError> {
        Self::connect_with(database_url, min_idle, writer::LogLimit::default())
    }

    fn connect_with(
        database_url: &str,
        min_idle: u32,
        log_limit: writer::LogLimit,
    ) -> Result<Self, ConnectError> {
        let manager = Manager::new(database_url)?;
        let backend = manager.backend;
        let sqlite_file = manager.sqlite_file.clone();
        let size = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(min_idle))
            .connection_timeout(std::time::Duration::from_secs(5))
            .build(manager.clone())?;
        let writer = match backend {
            Backend::Sqlite => Some(
                Writer::new(manager, pool.clone(), log_limit)
                    .map_err(|e| ConnectError::Writer(e.to_string()))?,
            ),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            sqlite_file,
            writer,
        })
    }

    /// A pooled connection; `Unavailable` at once (without waiting for the pool) when the SQLite
    /// file has been removed or replaced, since writes to it would be lost.
    pub fn get(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        checked_get(&self.pool, self.sqlite_file.as_ref())
    }

    pub fn state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// Runs blocking diesel work on actix's blocking thread pool. The caller's error type only
    /// has to take the database's errors.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let file = self.sqlite_file.clone();
        actix_web::web::block(move || {
            let mut conn = checked_get(&pool, file.as_ref())?;
            f(&mut conn)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// `run` inside a `write_transaction`: the usual shape of a request that changes something.
    /// On SQLite it runs on the writer's own connection and thread, committed with the writes
    /// queued beside it (see [`Writer`]).
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        match self.writer.clone() {
            Some(writer) => writer.write(f).await,
            None => self.run(move |conn| write_transaction(conn, f)).await,
        }
    }
}

/// Why the database could not be asked at all (query errors stay diesel's own).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// No connection: the pool timed out, or the SQLite file is gone.
    #[error("{0}")]
    Unavailable(String),
    /// The blocking task failed (it panicked); its connection was discarded.
    #[error("the database task failed: {0}")]
    Task(String),
}

impl From<r2d2::PoolError> for DbError {
    fn from(error: r2d2::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

fn checked_get(
    pool: &Pool,
    file: Option<&SqliteFile>,
) -> Result<r2d2::PooledConnection<Manager>, DbError> {
    if let Some(file) = file {
        file.check()
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
    }
    Ok(pool.get()?)
}

/// Proves the database takes writes: a row written and rolled back (PostgreSQL also refuses it
/// on a read-only standby), and on SQLite the file still being the one the pool opened.
pub fn probe_write(conn: &mut DbConn) -> diesel::QueryResult<()> {
    conn.transaction::<(), diesel::result::Error, _>(|conn| {
        diesel::sql_query("INSERT INTO readiness_probe (id) VALUES (1)").execute(conn)?;
        Err(diesel::result::Error::RollbackTransaction)
    })
    .or_else(|e| match e {
        diesel::result::Error::RollbackTransaction => Ok(()),
        other => Err(other),
    })
}

type MigrationError = Box<dyn std::error::Error + Send + Sync>;

fn migrations_for(conn: &DbConn) -> EmbeddedMigrations {
    match conn {
        DbConn::Sqlite(_) => SQLITE_MIGRATIONS,
        DbConn::Postgresql(_) => POSTGRES_MIGRATIONS,
    }
}

pub fn run_migrations(conn: &mut DbConn) -> Result<usize, MigrationError> {
    let migrations = migrations_for(conn);
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(migrations)?.len(),
        DbConn::Postgresql(c) => c.run_pending_migrations(migrations)?.len(),
    };
    Ok(applied)
}

pub fn has_pending_migrations(conn: &mut DbConn) -> Result<bool, MigrationError> {
    let migrations = migrations_for(conn);
    match conn {
        DbConn::Sqlite(c) => c.has_pending_migration(migrations),
        DbConn::Postgresql(c) => c.has_pending_migration(migrations),
    }
}

pub fn revert_all_migrations(conn: &mut DbConn) -> Result<usize, MigrationError> {
    let migrations = migrations_for(conn);
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(migrations)?.len(),
        DbConn::Postgresql(c) => c.revert_all_migrations(migrations)?.len(),
    };
    Ok(reverted)
}

pub fn revert_last_migration(conn: &mut DbConn) -> Result<(), MigrationError> {
    let migrations = migrations_for(conn);
    match conn {
        DbConn::Sqlite(c) => c.revert_last_migration(migrations).map(|_| ()),
        DbConn::Postgresql(c) => c.revert_last_migration(migrations).map(|_| ()),
    }
}

/// A consistent online copy of a SQLite database (`VACUUM INTO`): readers and writers carry on
/// while it runs. PostgreSQL has its own tools (`pg_dump`).
pub fn backup_sqlite(conn: &mut DbConn, target: &std::path::Path) -> Result<(), String> {
    use diesel::RunQueryDsl;
    if target.exists() {
        return Err(format!("{} already exists", target.display()));
    }
    match conn {
        DbConn::Sqlite(c) => diesel::sql_query("VACUUM INTO ?")
            .bind::<diesel::sql_types::Text, _>(target.display().to_string())
            .execute(c)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        DbConn::Postgresql(_) => {
            Err("backup copies SQLite databases; for PostgreSQL use pg_dump".to_owned())
        }
    }
}
