//! Instants and dates from requests, bounded at the edge: a year from 0000 to 9999 as written
//! (what RFC 3339 can spell), so no later date arithmetic can leave chrono's range. chrono alone
//! also reads `+262142-12-31T23:00:00Z`, whose arithmetic overflowed inside write transactions.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Deserializer};

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
    fn a_leap_second_is_the_end_of_its_minute() {
        let t = read("2016-12-31T23:59:60Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2016-12-31T23:59:59.999999999+00:00");
    }
}
