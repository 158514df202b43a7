//! Closures of a location: spans (UTC) during which it offers nothing, whichever therapist's
//! hours they cut; and the whole-day closures for statutory holidays.

use chrono::{DateTime, NaiveDate, Utc};

use super::refuse_stranded;
use crate::availability;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::holidays::Holiday;
use crate::models::booking::{self, Booking};
use crate::models::catalog::{self, Location};
use crate::models::closure::{self, Closure};
use crate::models::new_id;
use crate::scheduling::{Interval, day_span};

/// The location's closures that meet local dates `from..=to` (in its zone), by start; 404 for
/// no such location.
pub fn list(
    conn: &mut DbConn,
    location_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Closure>, ApiError> {
    let location = catalog::find_location(conn, location_id)?;
    let tz = availability::zone(&location)?;
    let (Some(first), Some(last)) = (day_span(&tz, from), day_span(&tz, to)) else {
        return Err(ApiError::validation("to", "is out of range"));
    };
    Ok(closure::between(
        conn,
        &[location.id],
        first.start.naive_utc(),
        last.end.naive_utc(),
    )?)
}

/// Closes the location: 404 for no such location, 409 listing the confirmed bookings there that
/// the closure would overlap (those over at `now` do not count).
pub fn add(conn: &mut DbConn, new: &Closure, now: DateTime<Utc>) -> Result<(), ApiError> {
    catalog::find_location(conn, &new.location_id)?;
    // Queues with concurrent claims on the therapists who work there (`db::locks`), so the look
    // at bookings below sees every booking committed before this closure.
    crate::db::locks::therapists_at_location(conn, &new.location_id)?;
    refuse_stranded(
        "bookings-overlap",
        |n| format!("The closure overlaps {n} confirmed booking(s); cancel or move them first."),
        &in_the_way(conn, new, now)?,
    )?;
    closure::insert(conn, new)?;
    Ok(())
}

fn in_the_way(
    conn: &mut DbConn,
    closure: &Closure,
    now: DateTime<Utc>,
) -> Result<Vec<Booking>, ApiError> {
    let from = closure.starts_at.max(now.naive_utc());
    if from >= closure.ends_at {
        return Ok(Vec::new());
    }
    Ok(booking::confirmed_at_location(
        conn,
        &closure.location_id,
        from,
        closure.ends_at,
    )?)
}

/// What closing for holidays did, location by location.
#[derive(Debug, Default)]
pub struct HolidayClosures {
    pub added: Vec<(Holiday, Location, Closure)>,
    /// Closures of exactly that day that were already there.
    pub present: usize,
    /// Days not closed because confirmed bookings fall on them.
    pub refused: Vec<(Holiday, Location, Vec<Booking>)>,
}

/// Closes every location for each holiday, from its local midnight to the next, skipping the
/// days already closed exactly so (so a second run adds nothing) and the days with confirmed
/// bookings still to come there (reported, not closed).
pub fn close_for_holidays(
    conn: &mut DbConn,
    holidays: &[Holiday],
    now: DateTime<Utc>,
) -> Result<HolidayClosures, ApiError> {
    let mut outcome = HolidayClosures::default();
    // Every location's therapists at once, in id order (`db::locks`), before any look at bookings.
    crate::db::locks::all_therapists(conn)?;
    for location in catalog::list_locations(conn, None, i64::MAX)? {
        let tz = availability::zone(&location)?;
        for holiday in holidays {
            let Some(Interval { start, end }) = day_span(&tz, holiday.date) else {
                return Err(ApiError::internal("a holiday out of range"));
            };
            let (starts_at, ends_at) = (start.naive_utc(), end.naive_utc());
            if closure::exists(conn, &location.id, starts_at, ends_at)? {
                outcome.present += 1;
                continue;
            }
            let new = Closure {
                id: new_id(),
                location_id: location.id.clone(),
                starts_at,
                ends_at,
                reason: format!("{} (statutory holiday)", holiday.name),
                created_at: crate::models::now(),
            };
            let clashes = in_the_way(conn, &new, now)?;
            if clashes.is_empty() {
                closure::insert(conn, &new)?;
                outcome.added.push((*holiday, location.clone(), new));
            } else {
                outcome.refused.push((*holiday, location.clone(), clashes));
            }
        }
    }
    Ok(outcome)
}
