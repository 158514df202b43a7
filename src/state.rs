//! What every request shares: the configuration, the database, keys, metrics and limits. A leaf:
//! it imports no handler and no router, so everything above can import it.

use std::sync::Arc;

use actix_web::web;

use crate::auth::tokens::JwtKeys;
use crate::config::Config;
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::limits::{IpLimit, LoginGuard, SharedLimits};
use crate::metrics::Metrics;

pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub jwt: JwtKeys,
    pub metrics: Metrics,
    pub login_guard: LoginGuard,
    /// All argon2 work runs here: one thread per core, a bounded queue (each hash takes 19 MiB).
    pub hashing: crate::auth::password::HashPool,
    /// The per-client rate limits in this process's memory (SQLite)...
    pub auth_limit: IpLimit,
    pub api_limit: IpLimit,
    /// ...or, on PostgreSQL with limits on, in the database, shared by every instance on it
    /// (the login back-off in `login_guard` then too).
    pub shared_limits: Option<SharedLimits>,
    /// Verified against when a login names an unknown email, so both failures cost the same.
    pub dummy_password_hash: String,
    /// Where emails go (`SMTP_URL`, or the spool directory).
    pub mailer: crate::notify::Mailer,
    /// Seals and opens intake answers and treatment notes (`HEALTH_DATA_KEY`).
    pub health_key: crate::clinical::crypto::HealthKey,
    /// What `/slots` keeps in memory (`SLOT_CACHE`), checked against the database on every search.
    pub slot_cache: Option<Arc<crate::availability::SlotCache>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Database(#[from] db::ConnectError),
    #[error("cannot prepare the database: {0}")]
    Setup(String),
    #[error("cannot set up mail: {0}")]
    Mail(String),
    #[error(
        "refusing to start: {0}. Set HEALTH_DATA_KEY to the key the health data was written with (see the README on keeping it)"
    )]
    HealthKey(String),
}

impl AppState {
    /// Connects, migrates, seeds the catalog on first start, and precomputes what requests share.
    pub fn prepare(config: Config) -> Result<web::Data<Self>, StartError> {
        let db = Db::connect(&config.database_url)?;
        let health_key = crate::clinical::crypto::HealthKey::new(&config.health_data_key);
        {
            let mut conn = db.get().map_err(|e| StartError::Setup(e.to_string()))?;
            let applied =
                db::run_migrations(&mut conn).map_err(|e| StartError::Setup(e.to_string()))?;
            if applied > 0 {
                tracing::info!(applied, "migrations applied");
            }
            crate::seed::seed_catalog(&mut conn, &crate::audit::AuditContext::system())
                .map_err(|e| StartError::Setup(e.to_string()))?;
            crate::clinical::check_key(&mut conn, &health_key).map_err(|e| match e {
                crate::clinical::KeyCheckError::Database(e) => StartError::Setup(e.to_string()),
                open => StartError::HealthKey(open.to_string()),
            })?;
        }
        let dummy_password_hash = crate::auth::password::hash("not-a-real-password")
            .map_err(|e| StartError::Setup(e.to_string()))?;
        let mailer = crate::notify::Mailer::new(&config.mail).map_err(StartError::Mail)?;
        let metrics = Metrics::new().map_err(|e| StartError::Setup(e.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hashing = crate::auth::password::HashPool::new(cores, 256)
            .map_err(|e| StartError::Setup(e.to_string()))?;
        let shared_limits = (config.rate_limit_enabled
            && db::parse_url(&config.database_url).0 == db::Backend::Postgres)
            .then(|| SharedLimits::new(db.clone(), &config.jwt_secret));
        let login_guard = shared_limits
            .clone()
            .map_or_else(LoginGuard::default, LoginGuard::shared);
        Ok(web::Data::new(Self {
            jwt: JwtKeys::new(&config.jwt_secret, config.access_token_ttl),
            metrics,
            login_guard,
            shared_limits,
            hashing,
            auth_limit: crate::limits::auth_limit(&config.trusted_proxies),
            api_limit: crate::limits::api_limit(&config.trusted_proxies),
            slot_cache: config
                .slot_cache
                .then(|| Arc::new(crate::availability::SlotCache::new())),
            config: Arc::new(config),
            db,
            dummy_password_hash,
            mailer,
            health_key,
        }))
    }
}

impl AppState {
    /// `Db::run` for handlers, whose errors are `ApiError`s.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut db::DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.run(f).await
    }

    /// `Db::write` (on SQLite in the writer's next group, on PostgreSQL a `write_transaction` on
    /// the blocking pool) for handlers, with the slot
    /// snapshot lent to the booking checks inside it (`availability::snapshot::settled`). Parts
    /// of it found stale there are reloaded after the commit, outside the transaction.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut db::DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.slot_cache.clone();
        let (answer, stale) = self
            .db
            .write(move |conn| {
                let (answer, stale) = crate::availability::snapshot::lend(cache, || f(conn));
                answer.map(|answer| (answer, stale))
            })
            .await?;
        if let Some(cache) = self.slot_cache.clone().filter(|_| !stale.is_empty()) {
            let refreshed = self
                .db
                .run(move |conn| cache.refresh_hours(conn, &stale, crate::models::now()))
                .await;
            if let Err(e) = refreshed {
                // The write stands; the next write or search loads the part again.
                tracing::warn!(error = %e, "slot snapshot not refreshed after a write");
            }
        }
        Ok(answer)
    }
}
