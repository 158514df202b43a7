//! Instants and dates from requests, bounded at the edge: a year from 0000 to 9999 as written
//! (what RFC 3339 can spell), so no later date arithmetic can leave chrono's range. chrono alone
//! also reads `+262142-12-31T23:00:00Z`, whose arithmetic overflowed inside write transactions.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, FieldError};

/// Prefix of the serde error these deserializers raise; the extractors turn it into a 422
/// naming the field, with the text after it as the message.
pub const OUT_OF_RANGE: &str = "out of range: ";

const YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

fn out_of_range<E: serde::de::Error>(what: &str) -> E {
    E::custom(format!(
        "{OUT_OF_RANGE}{what} must have a year from 0000 to 9999"
    ))
}

/// Checks an instant as written (with its own offset). A leap second (`23:59:60`) is read as
/// the last moment of its minute, since stored instants have no leap seconds.
pub fn check_instant<E: serde::de::Error>(
    written: DateTime<FixedOffset>,
) -> Result<DateTime<Utc>, E> {
    if !YEARS.contains(&written.year()) {
        return Err(out_of_range("an instant"));
    }
    let utc = written.with_timezone(&Utc);
    if utc.nanosecond() >= 1_000_000_000 {
        return utc
            .with_nanosecond(999_999_999)
            .ok_or_else(|| out_of_range("an instant"));
    }
    Ok(utc)
}

pub fn check_date<E: serde::de::Error>(date: NaiveDate) -> Result<NaiveDate, E> {
    if YEARS.contains(&date.year()) {
        Ok(date)
    } else {
        Err(out_of_range("a date"))
    }
}

/// `#[serde(deserialize_with = "bounds::instant")]`
pub fn instant<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    check_instant(DateTime::<FixedOffset>::deserialize(deserializer)?)
}

/// `#[serde(default, deserialize_with = "bounds::optional_instant")]`
pub fn optional_instant<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<DateTime<FixedOffset>>::deserialize(deserializer)?
        .map(check_instant)
        .transpose()
}

/// `#[serde(deserialize_with = "bounds::date")]`
pub fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    check_date(NaiveDate::deserialize(deserializer)?)
}

/// `#[serde(default, deserialize_with = "bounds::optional_date")]`
pub fn optional_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    Option::<NaiveDate>::deserialize(deserializer)?
        .map(check_date)
        .transpose()
}

/// A date as written in a path: exactly `YYYY-MM-DD` with a year from 0000 to 9999.
pub fn path_date(written: &str) -> Option<NaiveDate> {
    let b = written.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(written, "%Y-%m-%d").ok()
}

/// The longest span a stored range (time off, a closure) may have.
pub const MAX_SPAN_DAYS: i64 = 366;

/// `ends_at` must follow `starts_at`, by at most [`MAX_SPAN_DAYS`]; the error names `ends_at`.
pub fn check_span(errors: &mut Vec<FieldError>, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) {
    if ends_at <= starts_at {
        errors.push(FieldError::new("ends_at", "must be after starts_at"));
    } else if ends_at - starts_at > chrono::Duration::days(MAX_SPAN_DAYS) {
        errors.push(FieldError::new(
            "ends_at",
            format!("must be at most {MAX_SPAN_DAYS} days after starts_at"),
        ));
    }
}

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`: inclusive local dates, at most [`MAX_SPAN_DAYS`] apart.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DateWindow {
    /// First date, inclusive (`YYYY-MM-DD`).
    #[param(value_type = String, format = Date)]
    #[serde(deserialize_with = "date")]
    pub from: NaiveDate,
    /// Last date, inclusive; not before `from`, at most 366 days after it.
    #[param(value_type = String, format = Date)]
    #[serde(deserialize_with = "date")]
    pub to: NaiveDate,
}

impl DateWindow {
    /// 422 on `to` when it is before `from` or too far after it.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.to < self.from {
            return Err(ApiError::validation("to", "must not be before `from`"));
        }
        if (self.to - self.from).num_days() > MAX_SPAN_DAYS {
            return Err(ApiError::validation(
                "to",
                format!("must be at most {MAX_SPAN_DAYS} days after `from`"),
            ));
        }
        Ok(())
    }
}

/// The field's message when `message` is one of ours.
pub fn out_of_range_message(message: &str) -> Option<&str> {
    message.strip_prefix(OUT_OF_RANGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<DateTime<Utc>, serde_json::Error> {
        instant(&mut serde_json::Deserializer::from_str(&format!("\"{s}\"")))
    }

    #[test]
    fn four_digit_years_pass_and_others_do_not() {
        assert!(read("2026-12-02T10:00:00Z").is_ok());
        assert!(read("0000-01-01T00:00:00+05:00").is_ok());
        assert!(read("9999-12-31T23:00:00-05:00").is_ok());
        assert!(read("+262142-12-31T23:00:00Z").is_err());
        assert!(read("-0001-01-01T00:00:00Z").is_err());
        assert!(read("+10000-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn path_dates_are_exactly_year_month_day() {
        assert_eq!(
            path_date("2027-03-14"),
            NaiveDate::from_ymd_opt(2027, 3, 14)
        );
        for bad in [
            "2027-3-14",
            "2027-02-30",
            "+2027-03-14",
            "12027-03-1",
            "2027/03/14",
            "",
        ] {
            assert_eq!(path_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_leap_second_is_the_end_of_its_minute() {
        let t = read("2016-12-31T23:59:60Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2016-12-31T23:59:59.999999999+00:00");
    }
}
