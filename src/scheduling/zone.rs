//! Wall-clock ↔ UTC conversion with the DST conventions of the slot engine, and [`Zone`]: an
//! IANA time zone whose rules come from the tz database bundled by `jiff` (not chrono-tz, whose
//! tzdata predates British Columbia's permanent UTC−7, nor the host's `/usr/share/zoneinfo`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::Offset as _;
use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};

/// The tz database's zone for "no zone configured" (offset `-00`), not a place.
const PLACEHOLDER: &str = "Factory";

/// An IANA time zone from the tz database bundled in `jiff` (see the README). Cheap to clone.
#[derive(Clone)]
pub struct Zone {
    tz: jiff::tz::TimeZone,
    name: Arc<str>,
}

/// A [`Zone`]'s UTC offset at some instant; it carries the zone so chrono can rebuild it
/// ([`TimeZone::from_offset`]).
#[derive(Clone)]
pub struct ZoneOffset {
    zone: Zone,
    fixed: FixedOffset,
}

/// A name the bundled tz database does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown IANA time zone `{0}`")]
pub struct UnknownZone(pub String);

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            tz: jiff::tz::TimeZone::UTC,
            name: Arc::from("UTC"),
        }
    }

    /// The IANA name, e.g. `America/Vancouver`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every zone name the bundled database has (its exact spelling), but `Factory`, a
    /// placeholder meaning "no zone set" (chrono-tz left it out too: the same 597 names).
    pub fn names() -> impl Iterator<Item = &'static str> {
        known().iter().map(String::as_str)
    }

    /// Whether `name` is exactly (case included) one of [`Zone::names`].
    pub fn is_known(name: &str) -> bool {
        known().contains(name)
    }

    fn offset_at(&self, utc: &NaiveDateTime) -> FixedOffset {
        let secs = utc.and_utc().timestamp();
        let ts = jiff::Timestamp::from_second(secs).unwrap_or(if secs < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        fixed(self.tz.to_offset(ts))
    }

    fn wrap(&self, fixed: FixedOffset) -> ZoneOffset {
        ZoneOffset {
            zone: self.clone(),
            fixed,
        }
    }
}

/// The bundled database's names, read once.
fn known() -> &'static std::collections::BTreeSet<String> {
    static NAMES: std::sync::OnceLock<std::collections::BTreeSet<String>> =
        std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        jiff::tz::db()
            .available()
            .map(|n| n.as_str().to_owned())
            .filter(|n| n != PLACEHOLDER)
            .collect()
    })
}

fn fixed(offset: jiff::tz::Offset) -> FixedOffset {
    // jiff offsets are within ±25:59:59, chrono's within ±23:59:59; real zones are far inside.
    let seconds = offset.seconds().clamp(-86_399, 86_399);
    FixedOffset::east_opt(seconds).unwrap_or_else(|| Utc.fix())
}

/// `local` as a jiff civil datetime, clamped to jiff's years (−9999..=9999).
fn civil(local: &NaiveDateTime) -> jiff::civil::DateTime {
    let year = local.year();
    if year > 9999 {
        return jiff::civil::DateTime::MAX;
    }
    if year < -9999 {
        return jiff::civil::DateTime::MIN;
    }
    // chrono's fields are all in jiff's ranges (a leap second's nanoseconds folded into 59.999…).
    let nanos = local.nanosecond().min(999_999_999);
    jiff::civil::DateTime::new(
        year as i16,
        local.month() as i8,
        local.day() as i8,
        local.hour() as i8,
        local.minute() as i8,
        local.second() as i8,
        nanos as i32,
    )
    .unwrap_or(jiff::civil::DateTime::MIN)
}

impl TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Zone {
        offset.zone.clone()
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<ZoneOffset> {
        use jiff::tz::AmbiguousOffset;
        match self.tz.to_ambiguous_timestamp(civil(local)).offset() {
            AmbiguousOffset::Unambiguous { offset } => {
                LocalResult::Single(self.wrap(fixed(offset)))
            }
            AmbiguousOffset::Fold { before, after } => {
                LocalResult::Ambiguous(self.wrap(fixed(before)), self.wrap(fixed(after)))
            }
            AmbiguousOffset::Gap { .. } => LocalResult::None,
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        self.wrap(self.offset_at(utc))
    }
}

impl chrono::Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl fmt::Debug for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.fixed, self.zone.name)
    }
}

/// The numeric offset, `-07:00`, as chrono prints a `FixedOffset`.
impl fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fixed, f)
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Two zones are equal when they have the same IANA name.
impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl std::hash::Hash for Zone {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// Exactly a name of the bundled database (case included, as chrono-tz parsed); anything
/// else, the host's zoneinfo included, is an [`UnknownZone`].
impl FromStr for Zone {
    type Err = UnknownZone;

    fn from_str(s: &str) -> Result<Zone, UnknownZone> {
        if s == "UTC" {
            return Ok(Zone::utc());
        }
        if !Zone::is_known(s) {
            return Err(UnknownZone(s.to_owned()));
        }
        let tz = jiff::tz::db()
            .get(s)
            .map_err(|_| UnknownZone(s.to_owned()))?;
        Ok(Zone {
            tz,
            name: Arc::from(s),
        })
    }
}

/// The instant a wall-clock *start* time maps to.
///
/// * a time that does not exist (spring-forward gap) → `None` (skipped);
/// * an ambiguous time (fall-back) → the earliest instant, so it is offered once.
pub fn resolve_start(tz: &Zone, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// The instant a wall-clock *end* of a window maps to.
///
/// * a time in a spring-forward gap → the first instant after the gap
///   (the transition instant);
/// * an ambiguous time → the latest instant.
///
/// `None` only when the instant is outside chrono's representable range.
pub fn resolve_end(tz: &Zone, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.max(b).with_timezone(&Utc)),
        LocalResult::None => first_instant_at_or_after(tz, local),
    }
}

/// Smallest whole-second UTC instant whose wall-clock time in `tz` is
/// `>= local`. For a `local` inside a gap this is the instant the gap ends.
///
/// Binary search over ±30 h around `local` read as UTC (every real UTC offset
/// is well inside that); relies on wall-clock time being non-decreasing in
/// that span, which holds around any gap. Returns `None` if the bracket is
/// not valid (never for real tz data) or out of chrono's range.
pub fn first_instant_at_or_after(tz: &Zone, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const SPAN: i64 = 30 * 3600;
    let at_or_after = |secs: i64| -> Option<bool> {
        let u = DateTime::<Utc>::from_timestamp(secs, 0)?;
        Some(u.with_timezone(tz).naive_local() >= local)
    };
    let base = local.and_utc().timestamp();
    let mut lo = base.checked_sub(SPAN)?;
    let mut hi = base.checked_add(SPAN)?;
    // Invariant: P(lo) is false, P(hi) is true.
    if at_or_after(lo)? || !at_or_after(hi)? {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if at_or_after(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::<Utc>::from_timestamp(hi, 0)
}

/// The first instant of local date `date` in `tz`: local midnight, its earliest instant when
/// ambiguous, the end of the gap when midnight does not exist (zones that change at 00:00).
/// `None` only outside chrono's range.
pub fn start_of_day(tz: &Zone, date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    resolve_start(tz, midnight).or_else(|| first_instant_at_or_after(tz, midnight))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::{NaiveTime, Offset};

    use super::*;

    fn zone(name: &str) -> Zone {
        name.parse().unwrap()
    }

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_time(NaiveTime::from_hms_opt(h, min, 0).unwrap())
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        local(y, m, d, h, min).and_utc()
    }

    fn offset_hours(z: &Zone, t: DateTime<Utc>) -> i32 {
        t.with_timezone(z).offset().fix().local_minus_utc() / 3600
    }

    #[test]
    fn bundled_tzdb_is_2026_or_later() {
        // British Columbia's permanent UTC−7 is in tzdata 2026a and later.
        let van = zone("America/Vancouver");
        assert_eq!(offset_hours(&van, utc(2026, 12, 10, 12, 0)), -7);
        assert_eq!(offset_hours(&van, utc(2027, 7, 10, 12, 0)), -7);
        assert_eq!(offset_hours(&van, utc(2030, 1, 10, 12, 0)), -7);
    }

    #[test]
    fn vancouver_offsets_in_2026() {
        let van = zone("America/Vancouver");
        assert_eq!(offset_hours(&van, utc(2026, 1, 10, 12, 0)), -8);
        assert_eq!(offset_hours(&van, utc(2026, 7, 10, 12, 0)), -7);
        assert_eq!(offset_hours(&van, utc(2026, 12, 10, 12, 0)), -7);
        // 09:00 on 2026-12-10 is 16:00 UTC.
        assert_eq!(
            van.from_local_datetime(&local(2026, 12, 10, 9, 0))
                .single()
                .unwrap()
                .with_timezone(&Utc),
            utc(2026, 12, 10, 16, 0)
        );
        // No fall-back on 2026-11-01: 01:30 happens once.
        assert!(matches!(
            van.from_local_datetime(&local(2026, 11, 1, 1, 30)),
            LocalResult::Single(_)
        ));
    }

    #[test]
    fn vancouver_spring_forward_2026_is_a_gap() {
        let van = zone("America/Vancouver");
        assert_eq!(
            van.from_local_datetime(&local(2026, 3, 8, 2, 30)),
            LocalResult::None
        );
        assert_eq!(
            resolve_end(&van, local(2026, 3, 8, 2, 30)),
            Some(utc(2026, 3, 8, 10, 0))
        );
        // …and no gap in March 2027.
        assert!(matches!(
            van.from_local_datetime(&local(2027, 3, 14, 2, 30)),
            LocalResult::Single(_)
        ));
    }

    #[test]
    fn sydney_fold_in_april_2027_is_ambiguous_earlier_first() {
        let syd = zone("Australia/Sydney");
        // 2027-04-04 03:00 AEDT → 02:00 AEST: 02:30 happens at +11 then at +10.
        match syd.from_local_datetime(&local(2027, 4, 4, 2, 30)) {
            LocalResult::Ambiguous(a, b) => {
                assert_eq!(a.offset().fix().local_minus_utc(), 11 * 3600);
                assert_eq!(b.offset().fix().local_minus_utc(), 10 * 3600);
                assert_eq!(a.with_timezone(&Utc), utc(2027, 4, 3, 15, 30));
                assert_eq!(b.with_timezone(&Utc), utc(2027, 4, 3, 16, 30));
                assert!(a < b);
            }
            other => panic!("expected a fold, got {other:?}"),
        }
        // Spring forward on 2026-10-04: 02:30 does not exist.
        assert_eq!(
            syd.from_local_datetime(&local(2026, 10, 4, 2, 30)),
            LocalResult::None
        );
    }

    #[test]
    fn toronto_still_falls_back_in_november_2026() {
        let tor = zone("America/Toronto");
        match tor.from_local_datetime(&local(2026, 11, 1, 1, 30)) {
            LocalResult::Ambiguous(a, b) => {
                assert_eq!(a.with_timezone(&Utc), utc(2026, 11, 1, 5, 30));
                assert_eq!(b.with_timezone(&Utc), utc(2026, 11, 1, 6, 30));
            }
            other => panic!("expected a fold, got {other:?}"),
        }
        assert_eq!(
            resolve_start(&tor, local(2026, 11, 1, 1, 30)),
            Some(utc(2026, 11, 1, 5, 30))
        );
        assert_eq!(
            resolve_end(&tor, local(2026, 11, 1, 1, 30)),
            Some(utc(2026, 11, 1, 6, 30))
        );
        assert_eq!(offset_hours(&tor, utc(2026, 12, 10, 12, 0)), -5);
    }

    #[test]
    fn round_trips() {
        for name in [
            "America/Vancouver",
            "America/Toronto",
            "Australia/Sydney",
            "UTC",
        ] {
            let z = zone(name);
            let mut t = utc(2026, 1, 1, 0, 0);
            while t < utc(2028, 1, 1, 0, 0) {
                let there = t.with_timezone(&z);
                let back = z
                    .from_local_datetime(&there.naive_local())
                    .earliest()
                    .map(|x| x.with_timezone(&Utc));
                let latest = z
                    .from_local_datetime(&there.naive_local())
                    .latest()
                    .map(|x| x.with_timezone(&Utc));
                assert!(back == Some(t) || latest == Some(t), "{name} {t}");
                // The offset carries its zone.
                assert_eq!(Zone::from_offset(there.offset()), z);
                t += chrono::TimeDelta::minutes(37);
            }
        }
    }

    #[test]
    fn names_parse_and_display() {
        let van = zone("America/Vancouver");
        assert_eq!(van.to_string(), "America/Vancouver");
        assert_eq!(van.name(), "America/Vancouver");
        assert_eq!(Zone::utc().name(), "UTC");
        assert_eq!(zone("UTC"), Zone::utc());
        assert_eq!(
            utc(2026, 12, 10, 16, 0).with_timezone(&van).to_rfc3339(),
            "2026-12-10T09:00:00-07:00"
        );
        assert!("Mars/Olympus_Mons".parse::<Zone>().is_err());
        assert!("america/vancouver".parse::<Zone>().is_err());
        assert!("".parse::<Zone>().is_err());
        assert!("Factory".parse::<Zone>().is_err());
        assert!(Zone::is_known("Europe/London"));
        assert!(Zone::names().any(|n| n == "Australia/Sydney"));
    }
}
