//! Database access: one connection enum over SQLite and PostgreSQL, an r2d2 pool that picks the
//! backend from the URL scheme itself, per-connection SQLite pragmas, embedded migrations, and
//! `run` to keep every diesel call off the async executor.

pub mod schema;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::ApiError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

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

/// busy_timeout first, so that even the pragma statements wait for a lock instead of failing.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    target: String,
}

impl Manager {
    pub fn new(database_url: &str) -> Self {
        let (backend, target) = parse_url(database_url);
        Self { backend, target }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match self.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.target)
                .map(DbConn::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<Manager>;

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
}

impl Db {
    pub fn connect(database_url: &str) -> Result<Self, r2d2::PoolError> {
        let manager = Manager::new(database_url);
        let backend = manager.backend;
        let size = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(std::time::Duration::from_secs(5))
            .build(manager)?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn get(&self) -> Result<r2d2::PooledConnection<Manager>, ApiError> {
        Ok(self.pool.get()?)
    }

    pub fn state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// Runs blocking diesel work on actix's blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }
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

/// One writer at a time per process for SQLite (see `write_transaction`). Process-wide rather
/// than per file: a process serves one database, and tests with many databases only lose a
/// little parallelism.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A transaction that holds the write lock from its first statement. On SQLite a deferred
/// transaction that reads and then writes can interleave with another writer's read, which is
/// exactly the check-then-insert race; `BEGIN IMMEDIATE` takes the lock up front (waiting up to
/// busy_timeout). PostgreSQL relies on its constraints and row locks instead.
pub fn write_transaction<T, F>(conn: &mut DbConn, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError>,
{
    match conn {
        DbConn::Postgresql(_) => conn.transaction(f),
        DbConn::Sqlite(inner) => {
            // Writers of this process queue here, handing over at once, instead of waiting in
            // SQLite's busy handler, which sleeps 1–100 ms between retries and gave booking
            // requests a 0.5 s p99 under contention. SQLite allows one writer per file anyway;
            // other processes are still held off by busy_timeout.
            let _writer = SQLITE_WRITER
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            let outcome = f(conn);
            let DbConn::Sqlite(inner) = conn else {
                return Err(ApiError::internal("connection changed backend"));
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
    }
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
