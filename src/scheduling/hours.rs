//! A therapist's hours on a given date (date overrides over weekly rules), and whole local days
//! as UTC spans.

use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

use super::interval::Interval;
use super::rules::{DayRule, WeeklyRule};
use super::slots::TherapistCalendar;
use super::zone::{Zone, resolve_end, start_of_day};

impl TherapistCalendar {
    /// The hours that apply on local date `date`: its override when it has one (possibly
    /// none: a day off), else the weekly rules of its weekday.
    pub fn hours_on(&self, date: NaiveDate) -> Vec<DayRule> {
        match self.overrides.get(&date) {
            Some(hours) => hours.clone(),
            None => self
                .rules
                .iter()
                .filter(|r| r.weekday == date.weekday())
                .map(WeeklyRule::hours)
                .collect(),
        }
    }
}

/// Whether `span` lies inside the therapist's hours at `location_id` (zone `tz`) on the local
/// date its start falls on: from a rule's start to its end, whatever the slot grid. Time off,
/// bookings and closures are not hours and do not count here.
pub fn within_hours(
    therapist: &TherapistCalendar,
    location_id: Uuid,
    tz: &Zone,
    span: &Interval,
) -> bool {
    let local = span.start.with_timezone(tz).naive_local();
    let date = local.date();
    therapist.hours_on(date).iter().any(|h| {
        let (base, end_local) = (date.and_time(h.start), date.and_time(h.end));
        h.location_id == location_id
            && local >= base
            && local < end_local
            && resolve_end(tz, end_local).is_some_and(|end| span.end <= end)
    })
}

/// Local date `date` in `tz` as UTC, from its first instant to the next date's: 23 or 25 hours
/// on a daylight-saving change. `None` only outside chrono's range.
pub fn day_span(tz: &Zone, date: NaiveDate) -> Option<Interval> {
    let start = start_of_day(tz, date)?;
    let end = start_of_day(tz, date.succ_opt()?)?;
    Some(Interval::new(start, end))
}
