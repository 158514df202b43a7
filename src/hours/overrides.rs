//! Date overrides: a therapist's hours on one local date, replacing that date's weekly rules. An
//! empty list is a day off; a list on a day without weekly rules adds hours (a Saturday).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::{check_rule_locations, refuse_stranded};
use crate::availability;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::booking::{self, Booking};
use crate::models::date_override::{self, DateOverride, OverrideRule, WithRules};
use crate::models::{catalog, new_id, schedule};
use crate::scheduling::{DayRule, Interval, TherapistCalendar, Zone, within_hours};

/// One rule of an override, parsed and checked (valid times, no overlaps) at the edge.
#[derive(Debug, Clone)]
pub struct Hours {
    /// Minutes after local midnight.
    pub start_minute: i32,
    pub end_minute: i32,
    pub location_id: String,
}

/// The therapist's overrides on dates `from..=to`, by date.
pub fn list(
    conn: &mut DbConn,
    therapist_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<WithRules>, ApiError> {
    Ok(date_override::between(
        conn,
        &[therapist_id.to_owned()],
        from,
        to,
    )?)
}

/// Sets the therapist's hours on `date`: 422 for an unknown location, 409 listing the confirmed
/// bookings (not over at `now`) the new hours would leave outside them.
pub fn put(
    conn: &mut DbConn,
    therapist_id: &str,
    date: NaiveDate,
    hours: &[Hours],
    now: DateTime<Utc>,
) -> Result<WithRules, ApiError> {
    // Queues with concurrent claims on the therapist, so `stranded` sees them (`db::locks`).
    crate::db::locks::therapist(conn, therapist_id)?;
    let location_ids: Vec<String> = hours.iter().map(|h| h.location_id.clone()).collect();
    check_rule_locations(conn, &location_ids)?;
    let date_override = DateOverride {
        id: new_id(),
        therapist_id: therapist_id.to_owned(),
        date,
        created_at: crate::models::now(),
    };
    let mut rules: Vec<OverrideRule> = hours
        .iter()
        .map(|h| OverrideRule {
            id: new_id(),
            override_id: date_override.id.clone(),
            start_minute: h.start_minute,
            end_minute: h.end_minute,
            location_id: h.location_id.clone(),
        })
        .collect();
    rules.sort_by_key(|r| r.start_minute);
    let day = rules
        .iter()
        .map(availability::day_rule)
        .collect::<Result<Vec<_>, _>>()?;
    let stranded = stranded(conn, therapist_id, date, Some(day), now)?;
    refuse_stranded(
        "bookings-outside-hours",
        |n| {
            format!(
                "These hours on {date} would leave {n} confirmed booking(s) outside the \
                 therapist's hours; cancel or move them first."
            )
        },
        &stranded,
    )?;
    date_override::replace(conn, &date_override, &rules)?;
    Ok(WithRules {
        date_override,
        rules,
    })
}

/// Removes the override of `date` (its weekly rules apply again): 404 when there is none, 409
/// listing the confirmed bookings (not over at `now`) the weekly rules would leave outside them.
pub fn remove(
    conn: &mut DbConn,
    therapist_id: &str,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    crate::db::locks::therapist(conn, therapist_id)?;
    if list(conn, therapist_id, date, date)?.is_empty() {
        return Err(ApiError::NotFound);
    }
    let stranded = stranded(conn, therapist_id, date, None, now)?;
    refuse_stranded(
        "bookings-outside-hours",
        |n| {
            format!(
                "Back on the weekly rules, {date} would leave {n} confirmed booking(s) outside \
                 the therapist's hours; cancel or move them first."
            )
        },
        &stranded,
    )?;
    date_override::delete(conn, therapist_id, date)?;
    Ok(())
}

/// The therapist's confirmed bookings on local `date` (in their location's zone), not over at
/// `now`, that would lie outside the therapist's hours if that date's override were `hours`
/// (`None`: no override, the weekly rules). Other dates are not this change's business.
fn stranded(
    conn: &mut DbConn,
    therapist_id: &str,
    date: NaiveDate,
    hours: Option<Vec<DayRule>>,
    now: DateTime<Utc>,
) -> Result<Vec<Booking>, ApiError> {
    // A local date lies within a day either side of the same UTC date, in every zone.
    let midnight = date.and_time(NaiveTime::MIN);
    let from = midnight
        .checked_sub_signed(Duration::days(1))
        .unwrap_or(midnight)
        .max(now.naive_utc());
    let to = midnight
        .checked_add_signed(Duration::days(2))
        .unwrap_or(midnight);
    if from >= to {
        return Ok(Vec::new());
    }
    let bookings = booking::confirmed_overlapping(conn, therapist_id, from, to)?;
    if bookings.is_empty() {
        return Ok(Vec::new());
    }
    let mut calendar = TherapistCalendar {
        therapist_id: therapist_id.parse().map_err(ApiError::internal)?,
        rules: schedule::rules_for(conn, &[therapist_id.to_owned()])?
            .iter()
            .map(availability::weekly_rule)
            .collect::<Result<_, _>>()?,
        overrides: BTreeMap::new(),
        time_off: Vec::new(),
        busy: Vec::new(),
    };
    if let Some(hours) = hours {
        calendar.overrides.insert(date, hours);
    }
    let mut location_ids: Vec<String> = bookings.iter().map(|b| b.location_id.clone()).collect();
    location_ids.sort();
    location_ids.dedup();
    let zones: HashMap<String, Zone> = catalog::locations_by_ids(conn, &location_ids)?
        .iter()
        .map(|l| Ok((l.id.clone(), availability::zone(l)?)))
        .collect::<Result<_, ApiError>>()?;
    let mut out = Vec::new();
    for b in bookings {
        let tz = zones
            .get(&b.location_id)
            .ok_or_else(|| ApiError::internal("a booking's location is missing"))?;
        let span = Interval::new(b.start_at.and_utc(), b.end_at.and_utc());
        if span.start.with_timezone(tz).date_naive() != date {
            continue;
        }
        let location_id = b.location_id.parse().map_err(ApiError::internal)?;
        if !within_hours(&calendar, location_id, tz, &span) {
            out.push(b);
        }
    }
    Ok(out)
}
