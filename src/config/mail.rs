//! The mail settings: the sender, the transport (`SMTP_URL` or the spool directory), the origin
//! of links in emails, and the reminder lead times. Parsed once at start-up; a malformed value
//! stops the start with a message naming the variable.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;

/// The mail settings: the sender and the transport.
#[derive(Clone)]
pub struct MailConfig {
    pub from: lettre::message::Mailbox,
    pub transport: MailTransport,
}

/// `SMTP_URL`, checked at start-up; or, without it, the spool directory.
#[derive(Clone)]
pub enum MailTransport {
    /// RFC 5322 `.eml` files written into this directory.
    Spool(PathBuf),
    Smtp(SmtpSettings),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://` (the default): the connection must be upgraded with STARTTLS.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://…?tls=none`: plain text, for a relay on the same host or network.
    None,
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
    pub timeout: Duration,
}

pub(super) fn public_base_url(raw: Option<&str>, bind_addr: &str) -> Result<String, ConfigError> {
    let raw = raw.map_or_else(|| format!("http://{bind_addr}"), str::to_owned);
    match url::Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(raw.trim_end_matches('/').to_owned())
        }
        _ => Err(ConfigError::Invalid {
            name: "PUBLIC_BASE_URL",
            reason: format!(
                "expected an http(s) origin such as `https://book.example.com`, got `{raw}`"
            ),
        }),
    }
}

pub(super) fn mail_from(raw: Option<&str>) -> Result<lettre::message::Mailbox, ConfigError> {
    let raw = raw.unwrap_or("Inspine Therapy <no-reply@localhost>");
    raw.parse().map_err(|e| ConfigError::Invalid {
        name: "MAIL_FROM",
        reason: format!("expected `Name <address>` or an address, got `{raw}` ({e})"),
    })
}

/// `smtp://user:pass@host:port` (STARTTLS required), `smtps://…` (implicit TLS),
/// `smtp://host:port?tls=none` (plain, for a local relay); `timeout=SECONDS` optional.
pub fn smtp_settings(raw: &str) -> Result<SmtpSettings, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "SMTP_URL",
        reason,
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| {
        invalid(format!(
            "not a URL ({e}); expected smtp://user:pass@host:port"
        ))
    })?;
    let implicit = match url.scheme() {
        "smtp" => false,
        "smtps" => true,
        other => {
            return Err(invalid(format!(
                "the scheme must be smtp or smtps, got `{other}`"
            )));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("the URL names no host".to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let mut tls = if implicit {
        SmtpTls::Implicit
    } else {
        SmtpTls::StartTls
    };
    let mut timeout = Duration::from_secs(10);
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("tls", "none") if !implicit => tls = SmtpTls::None,
            ("tls", "starttls" | "required") if !implicit => tls = SmtpTls::StartTls,
            ("tls", other) => {
                return Err(invalid(format!(
                    "tls must be `none` or `starttls` with smtp:// (smtps:// is always TLS), got `{other}`"
                )));
            }
            ("timeout", secs) => match secs.parse::<u64>() {
                Ok(secs) if secs > 0 => timeout = Duration::from_secs(secs),
                _ => {
                    return Err(invalid(format!(
                        "timeout must be a whole number of seconds, got `{secs}`"
                    )));
                }
            },
            (other, _) => return Err(invalid(format!("unknown parameter `{other}`"))),
        }
    }
    let port = url.port().unwrap_or(if implicit { 465 } else { 587 });
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| invalid("the user or password is not valid UTF-8".to_owned()))
    };
    let credentials = if url.username().is_empty() {
        None
    } else {
        Some((
            decode(url.username())?,
            decode(url.password().unwrap_or(""))?,
        ))
    };
    Ok(SmtpSettings {
        host,
        port,
        tls,
        credentials,
        timeout,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// `24h`, `2h,30m`, `90m`, `1d`: a comma list of positive lead times, longest first, no repeats.
pub fn lead_times(raw: &str) -> Result<Vec<chrono::Duration>, ConfigError> {
    let mut leads = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (digits, unit) = item.split_at(
            item.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(item.len()),
        );
        let minutes = match (digits.parse::<i64>(), unit) {
            (Ok(n), "m") => Some(n),
            (Ok(n), "h") => n.checked_mul(60),
            (Ok(n), "d") => n.checked_mul(24 * 60),
            _ => None,
        };
        match minutes {
            Some(m) if m > 0 && m <= 60 * 24 * 366 => leads.push(chrono::Duration::minutes(m)),
            _ => {
                return Err(ConfigError::Invalid {
                    name: "REMINDER_BEFORE",
                    reason: format!(
                        "expected a comma list of lead times such as `24h,2h` or `90m` (m, h or d), got `{item}`"
                    ),
                });
            }
        }
    }
    leads.sort_by(|a, b| b.cmp(a));
    leads.dedup();
    Ok(leads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_lead_times_are_a_list() {
        assert_eq!(
            lead_times("2h, 24h,90m,2h").unwrap(),
            [
                chrono::Duration::hours(24),
                chrono::Duration::hours(2),
                chrono::Duration::minutes(90)
            ]
        );
        assert_eq!(lead_times("1d").unwrap(), [chrono::Duration::days(1)]);
        for bad in ["0m", "soon", "2 h", "-1h", "24", "h"] {
            assert!(lead_times(bad).is_err(), "{bad}");
        }
    }
}
