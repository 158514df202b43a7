//! Wall-clock ↔ UTC conversion with the DST conventions of the slot engine.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant a wall-clock *start* time maps to.
///
/// * a time that does not exist (spring-forward gap) → `None` (skipped);
/// * an ambiguous time (fall-back) → the earliest instant, so it is offered once.
pub fn resolve_start(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
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
pub fn resolve_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
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
pub fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const SPAN: i64 = 30 * 3600;
    let at_or_after = |secs: i64| -> Option<bool> {
        let u = DateTime::<Utc>::from_timestamp(secs, 0)?;
        Some(u.with_timezone(&tz).naive_local() >= local)
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
pub fn start_of_day(tz: Tz, date: chrono::NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    resolve_start(tz, midnight).or_else(|| first_instant_at_or_after(tz, midnight))
}
