//! All settings, read once from the environment (and `.env`). No globals: the struct is handed
//! to `app::build` and the CLI.

use std::path::PathBuf;
use std::time::Duration;

mod mail;
mod secrets;

pub use mail::{MailConfig, MailTransport, SmtpSettings, SmtpTls, lead_times, smtp_settings};
use mail::{mail_from, public_base_url};
pub use secrets::{HEALTH_KEY_FILE, write_private};
use secrets::{generated_health_key, generated_secret};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("could not read or write the generated JWT secret at {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not read or write the health-data key at {path}: {reason}")]
    HealthKeyFile { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    /// `LOG_FORMAT` as far as it can be read before the configuration is checked (which then
    /// refuses a bad value with an error).
    pub fn from_env_lenient() -> Self {
        match std::env::var("LOG_FORMAT").as_deref().map(str::trim) {
            Ok("json") => Self::Json,
            _ => Self::Pretty,
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub bind_addr: String,
    pub jwt_secret: Vec<u8>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub slot_step_minutes: u32,
    /// `/slots` answers from the in-memory availability snapshot (`SLOT_CACHE`, default on);
    /// off, every search reads the database.
    pub slot_cache: bool,
    pub min_notice_minutes: u32,
    pub booking_horizon_days: u32,
    pub cancellation_window_hours: u32,
    pub max_future_bookings_per_client: u32,
    pub rate_limit_enabled: bool,
    pub webhook_allow_private_targets: bool,
    pub cors_allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` name the client (empty: none).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub log_format: LogFormat,
    pub data_dir: PathBuf,
    /// How long a client may take to send a request's head (line and headers).
    pub request_head_timeout: Duration,
    /// How long a client may take to send a request's body, once its head has arrived.
    pub request_body_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    pub keep_alive: Duration,
    /// Open connections the server serves at once, over all workers; more wait to be accepted.
    pub max_connections: u32,
    /// Origin used in links in emails (and feed URLs), without a trailing slash.
    pub public_base_url: String,
    /// Where and how emails go.
    pub mail: MailConfig,
    /// Lead times before a booking's start at which its reminders are sent, longest first.
    pub reminder_before: Vec<chrono::Duration>,
    /// How long a password-reset token stays usable.
    pub password_reset_ttl: Duration,
    /// How long a hold keeps its slot, in minutes.
    pub hold_minutes: u32,
    /// The key that seals intake answers and treatment notes (`HEALTH_DATA_KEY`).
    pub health_data_key: [u8; crate::clinical::crypto::KEY_LEN],
    /// Where the key is kept when `HEALTH_DATA_KEY` is unset (generated on first start); `None`
    /// when it comes from the environment.
    pub health_key_file: Option<PathBuf>,
    /// How long a waitlist offer keeps its slot for the entry's client, in minutes.
    pub waitlist_offer_minutes: u32,
    /// The clinic's name as the booking page shows it (`CLINIC_NAME`).
    pub clinic_name: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("bind_addr", &self.bind_addr)
            .field("jwt_secret", &"<redacted>")
            .field("health_data_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://inspine.db";
pub(crate) const MIN_SECRET_LEN: usize = 32;

impl Config {
    /// Reads the process environment (after loading `.env` if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same parsing over any lookup, so tests can build configs without touching the
    /// process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| ".".to_owned()));
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let jwt_secret = match get("JWT_SECRET") {
            Some(secret) if secret.len() < MIN_SECRET_LEN => {
                return Err(ConfigError::Invalid {
                    name: "JWT_SECRET",
                    reason: format!("must be at least {MIN_SECRET_LEN} bytes"),
                });
            }
            Some(secret) => secret.into_bytes(),
            None => generated_secret(&data_dir)?,
        };
        let (health_data_key, health_key_file) = match get("HEALTH_DATA_KEY") {
            Some(raw) => (
                crate::clinical::crypto::HealthKey::parse(&raw).map_err(|reason| {
                    ConfigError::Invalid {
                        name: "HEALTH_DATA_KEY",
                        reason,
                    }
                })?,
                None,
            ),
            None => {
                let path = data_dir.join(HEALTH_KEY_FILE);
                (generated_health_key(&data_dir, &path)?, Some(path))
            }
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "LOG_FORMAT",
                    reason: format!("expected `pretty` or `json`, got `{other}`"),
                });
            }
        };
        let trusted_proxies = trusted_proxies(get("TRUSTED_PROXIES").as_deref())?;
        let bind_addr = get("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let public_base_url = public_base_url(get("PUBLIC_BASE_URL").as_deref(), &bind_addr)?;
        let mail = MailConfig {
            from: mail_from(get("MAIL_FROM").as_deref())?,
            transport: match get("SMTP_URL") {
                Some(url) => MailTransport::Smtp(smtp_settings(&url)?),
                None => MailTransport::Spool(
                    get("MAIL_SPOOL_DIR").map_or_else(|| data_dir.join("mail"), PathBuf::from),
                ),
            },
        };
        let clinic_name = clinic_name(get("CLINIC_NAME").as_deref())?;
        let reminder_before = lead_times(get("REMINDER_BEFORE").as_deref().unwrap_or("24h"))?;
        Ok(Self {
            database_url,
            bind_addr,
            jwt_secret,
            access_token_ttl: Duration::from_secs(
                60 * u64::from(number(&get, "ACCESS_TOKEN_TTL_MINUTES", 15, 1)?),
            ),
            refresh_token_ttl: Duration::from_secs(
                86_400 * u64::from(number(&get, "REFRESH_TOKEN_TTL_DAYS", 30, 1)?),
            ),
            slot_step_minutes: number(&get, "SLOT_STEP_MINUTES", 15, 1)?,
            slot_cache: boolean(&get, "SLOT_CACHE", true)?,
            min_notice_minutes: number(&get, "MIN_NOTICE_MINUTES", 120, 0)?,
            booking_horizon_days: number(&get, "BOOKING_HORIZON_DAYS", 90, 1)?,
            cancellation_window_hours: number(&get, "CANCELLATION_WINDOW_HOURS", 24, 0)?,
            max_future_bookings_per_client: number(&get, "MAX_FUTURE_BOOKINGS_PER_CLIENT", 5, 1)?,
            rate_limit_enabled: boolean(&get, "RATE_LIMIT_ENABLED", true)?,
            webhook_allow_private_targets: boolean(&get, "WEBHOOK_ALLOW_PRIVATE_TARGETS", false)?,
            cors_allowed_origins: get("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            trusted_proxies,
            log_format,
            data_dir,
            request_head_timeout: seconds(&get, "REQUEST_HEAD_TIMEOUT_SECS", 10)?,
            request_body_timeout: seconds(&get, "REQUEST_BODY_TIMEOUT_SECS", 30)?,
            keep_alive: seconds(&get, "KEEP_ALIVE_SECS", 5)?,
            max_connections: number(&get, "MAX_CONNECTIONS", 10_000, 1)?,
            public_base_url,
            mail,
            reminder_before,
            password_reset_ttl: Duration::from_secs(
                60 * u64::from(number(&get, "PASSWORD_RESET_TTL_MINUTES", 60, 1)?),
            ),
            hold_minutes: bounded(&get, "HOLD_MINUTES", 10, 1, 24 * 60)?,
            health_data_key,
            health_key_file,
            waitlist_offer_minutes: bounded(&get, "WAITLIST_OFFER_MINUTES", 60, 1, 7 * 24 * 60)?,
            clinic_name,
        })
    }
}

/// The name the booking page shows when `CLINIC_NAME` is unset: neutral, so that no clinic's
/// name is built into the binary.
pub const DEFAULT_CLINIC_NAME: &str = "Massage clinic";
const MAX_CLINIC_NAME_CHARS: usize = 100;

/// `CLINIC_NAME`: one line of at most 100 characters, trimmed; unset means the neutral default.
fn clinic_name(raw: Option<&str>) -> Result<String, ConfigError> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(DEFAULT_CLINIC_NAME.to_owned());
    };
    if raw.chars().count() > MAX_CLINIC_NAME_CHARS || raw.chars().any(char::is_control) {
        return Err(ConfigError::Invalid {
            name: "CLINIC_NAME",
            reason: format!(
                "expected one line of at most {MAX_CLINIC_NAME_CHARS} characters, got `{}`",
                raw.escape_debug()
            ),
        });
    }
    Ok(raw.to_owned())
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
    min: u32,
) -> Result<u32, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    match raw.trim().parse::<u32>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("expected a whole number of at least {min}, got `{raw}`"),
        }),
    }
}

/// A whole number within `min..=max`.
fn bounded(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    match number(get, name, default, min)? {
        v if v <= max => Ok(v),
        v => Err(ConfigError::Invalid {
            name,
            reason: format!("expected a whole number from {min} to {max}, got `{v}`"),
        }),
    }
}

/// A comma-separated list of CIDR blocks (a bare address is its own /32 or /128).
fn trusted_proxies(raw: Option<&str>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| ConfigError::Invalid {
                    name: "TRUSTED_PROXIES",
                    reason: format!(
                        "expected comma-separated CIDR blocks such as `10.0.0.0/8, ::1/128`, got `{item}`"
                    ),
                })
        })
        .collect()
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
) -> Result<Duration, ConfigError> {
    number(get, name, default, 1).map(|secs| Duration::from_secs(u64::from(secs)))
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("expected `true` or `false`, got `{other}`"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let mut env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.insert("DATA_DIR".to_owned(), dir.path().display().to_string());
        let result = Config::from_lookup(|k| env.get(k).cloned());
        drop(dir);
        result
    }

    #[test]
    fn a_short_jwt_secret_refuses_to_start() {
        let err = config(&[("JWT_SECRET", "too-short")]).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET"));
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = config(&[("JWT_SECRET", "0123456789abcdef0123456789abcdef")]).unwrap();
        assert_eq!(c.database_url, "sqlite://inspine.db");
        assert_eq!(c.bind_addr, "127.0.0.1:8080");
        assert_eq!(c.access_token_ttl.as_secs(), 15 * 60);
        assert_eq!(c.refresh_token_ttl.as_secs(), 30 * 86_400);
        assert_eq!(
            (
                c.slot_step_minutes,
                c.min_notice_minutes,
                c.booking_horizon_days
            ),
            (15, 120, 90)
        );
        assert_eq!(
            (
                c.cancellation_window_hours,
                c.max_future_bookings_per_client
            ),
            (24, 5)
        );
        assert!(c.rate_limit_enabled && !c.webhook_allow_private_targets);
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(
            (
                c.request_head_timeout.as_secs(),
                c.request_body_timeout.as_secs(),
                c.keep_alive.as_secs(),
                c.max_connections
            ),
            (10, 30, 5, 10_000)
        );
    }

    #[test]
    fn connection_limits_are_configurable_and_never_zero() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let c = config(&[
            secret,
            ("REQUEST_HEAD_TIMEOUT_SECS", "2"),
            ("REQUEST_BODY_TIMEOUT_SECS", "3"),
            ("KEEP_ALIVE_SECS", "4"),
            ("MAX_CONNECTIONS", "8"),
        ])
        .unwrap();
        assert_eq!(
            (
                c.request_head_timeout.as_secs(),
                c.request_body_timeout.as_secs(),
                c.keep_alive.as_secs(),
                c.max_connections
            ),
            (2, 3, 4, 8)
        );
        for name in [
            "REQUEST_HEAD_TIMEOUT_SECS",
            "REQUEST_BODY_TIMEOUT_SECS",
            "KEEP_ALIVE_SECS",
            "MAX_CONNECTIONS",
        ] {
            assert!(config(&[secret, (name, "0")]).is_err(), "{name}=0");
            assert!(config(&[secret, (name, "soon")]).is_err(), "{name}=soon");
        }
    }

    #[test]
    fn an_unset_secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().display().to_string();
        let lookup = |k: &str| (k == "DATA_DIR").then(|| data_dir.clone());
        let first = Config::from_lookup(lookup).unwrap();
        let second = Config::from_lookup(lookup).unwrap();
        assert!(first.jwt_secret.len() >= 32);
        assert_eq!(first.jwt_secret, second.jwt_secret);
    }

    #[test]
    fn the_health_key_is_parsed_or_generated_once_and_kept() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let hex = "ab".repeat(32);
        let c = config(&[secret, ("HEALTH_DATA_KEY", &hex)]).unwrap();
        assert_eq!(c.health_data_key, [0xab; 32]);
        assert!(c.health_key_file.is_none());
        let err = config(&[secret, ("HEALTH_DATA_KEY", "not-a-key")]).unwrap_err();
        assert!(err.to_string().contains("HEALTH_DATA_KEY"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().display().to_string();
        let lookup = |k: &str| (k == "DATA_DIR").then(|| data_dir.clone());
        let first = Config::from_lookup(lookup).unwrap();
        let second = Config::from_lookup(lookup).unwrap();
        assert_eq!(first.health_data_key, second.health_data_key);
        let file = first.health_key_file.unwrap();
        assert!(file.starts_with(dir.path()));
        // A damaged key file is never replaced: the data sealed under it would be lost.
        std::fs::write(&file, "garbage").unwrap();
        assert!(Config::from_lookup(lookup).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "garbage");
    }

    #[test]
    fn bad_numbers_and_flags_are_rejected() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        assert!(config(&[secret, ("SLOT_STEP_MINUTES", "0")]).is_err());
        assert!(config(&[secret, ("BOOKING_HORIZON_DAYS", "soon")]).is_err());
        assert!(config(&[secret, ("RATE_LIMIT_ENABLED", "maybe")]).is_err());
        assert!(config(&[secret, ("LOG_FORMAT", "xml")]).is_err());
        let c = config(&[
            secret,
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, https://b.example",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.cors_allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn mail_settings_default_to_the_spool_and_parse_smtp_urls() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let c = config(&[secret, ("DATA_DIR", "/srv/inspine")]).unwrap();
        assert_eq!(c.public_base_url, "http://127.0.0.1:8080");
        assert_eq!(
            c.mail.from.to_string(),
            "Inspine Therapy <no-reply@localhost>"
        );
        assert!(matches!(c.mail.transport, MailTransport::Spool(_)));
        assert_eq!(c.reminder_before, [chrono::Duration::hours(24)]);
        assert_eq!(c.password_reset_ttl.as_secs(), 3600);

        let s = smtp_settings("smtp://me%40x.org:p%2Bss@mail.example.org:2525").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.org", 2525, SmtpTls::StartTls)
        );
        assert_eq!(
            s.credentials,
            Some(("me@x.org".to_owned(), "p+ss".to_owned()))
        );
        let s = smtp_settings("smtps://relay.example.org").unwrap();
        assert_eq!(
            (s.port, s.tls, s.credentials),
            (465, SmtpTls::Implicit, None)
        );
        let s = smtp_settings("smtp://127.0.0.1:25?tls=none&timeout=3").unwrap();
        assert_eq!((s.port, s.tls, s.timeout.as_secs()), (25, SmtpTls::None, 3));
        for bad in [
            "mail.example.org",
            "http://mail.example.org",
            "smtp://",
            "smtps://relay?tls=none",
            "smtp://relay?tls=maybe",
            "smtp://relay?timeout=0",
            "smtp://relay?color=blue",
        ] {
            let err = config(&[secret, ("SMTP_URL", bad)]).expect_err(bad);
            assert!(err.to_string().contains("SMTP_URL"), "{err}");
        }
        assert!(config(&[secret, ("MAIL_FROM", "not an address")]).is_err());
        assert!(config(&[secret, ("PUBLIC_BASE_URL", "book.example.com")]).is_err());
        let c = config(&[secret, ("PUBLIC_BASE_URL", "https://book.example.com/")]).unwrap();
        assert_eq!(c.public_base_url, "https://book.example.com");
    }

    #[test]
    fn holds_last_hold_minutes_ten_by_default() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        assert_eq!(config(&[secret]).unwrap().hold_minutes, 10);
        assert_eq!(
            config(&[secret, ("HOLD_MINUTES", "25")])
                .unwrap()
                .hold_minutes,
            25
        );
        for bad in ["0", "-5", "ten", "1441"] {
            let err = config(&[secret, ("HOLD_MINUTES", bad)]).expect_err(bad);
            assert!(err.to_string().contains("HOLD_MINUTES"), "{err}");
        }
    }

    #[test]
    fn waitlist_offers_last_an_hour_by_default() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        assert_eq!(config(&[secret]).unwrap().waitlist_offer_minutes, 60);
        assert_eq!(
            config(&[secret, ("WAITLIST_OFFER_MINUTES", "90")])
                .unwrap()
                .waitlist_offer_minutes,
            90
        );
        for bad in ["0", "-5", "an hour", "10081"] {
            let err = config(&[secret, ("WAITLIST_OFFER_MINUTES", bad)]).expect_err(bad);
            assert!(err.to_string().contains("WAITLIST_OFFER_MINUTES"), "{err}");
        }
    }

    #[test]
    fn the_clinic_name_comes_from_clinic_name_with_a_neutral_default() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        assert_eq!(config(&[secret]).unwrap().clinic_name, "Massage clinic");
        assert_eq!(
            config(&[secret, ("CLINIC_NAME", "  Harbour & Pine <Massage>  ")])
                .unwrap()
                .clinic_name,
            "Harbour & Pine <Massage>"
        );
        let long = "x".repeat(101);
        for bad in ["Two\nlines", "tab\there", long.as_str()] {
            let err = config(&[secret, ("CLINIC_NAME", bad)]).expect_err(bad);
            assert!(err.to_string().contains("CLINIC_NAME"), "{err}");
        }
    }

    #[test]
    fn trusted_proxies_are_a_cidr_list() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let c = config(&[
            secret,
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1"),
        ])
        .unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8", "::1/128"]
        );
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.0/8; 10.1.0.0/16"] {
            let err = config(&[secret, ("TRUSTED_PROXIES", bad)]).unwrap_err();
            assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
        }
    }
}
