//! Where a massage at a given start goes (location, room, end, buffer), or why it cannot.

use chrono::{DateTime, Duration, NaiveDateTime, TimeDelta, Utc};

use super::error::BookingError;
use crate::availability;
use crate::config::Config;
use crate::db::DbConn;
use crate::models::booking;
use crate::models::catalog::MassageType;
use crate::scheduling;

pub struct Placement {
    pub location_id: String,
    pub room_id: Option<String>,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub blocked_until: NaiveDateTime,
}

/// PostgreSQL's exclusion constraints are the last line of defence; their violation is a taken
/// slot, not a server error.
pub fn overlap_is_conflict(error: diesel::result::Error) -> BookingError {
    if booking::is_overlap(&error) {
        return BookingError::SlotJustTaken;
    }
    error.into()
}

/// `at + delta`, unless that leaves chrono's range (a start too far out).
fn shifted(at: NaiveDateTime, delta: TimeDelta) -> Result<NaiveDateTime, BookingError> {
    at.checked_add_signed(delta)
        .ok_or(BookingError::StartOutOfRange)
}

/// Decides where (location, room) a massage at `start` would go, or why it cannot.
/// `exclude_booking` is the booking being moved, whose own time does not block it.
pub fn place(
    conn: &mut DbConn,
    config: &Config,
    therapist_id: &str,
    massage_type: &MassageType,
    duration_minutes: u32,
    start: DateTime<Utc>,
    exclude_booking: Option<&str>,
) -> Result<Placement, BookingError> {
    let buffer = massage_type.buffer_minutes.max(0) as u32;
    let start_naive = start.naive_utc();
    let cal = availability::load(
        conn,
        &[therapist_id.to_owned()],
        shifted(start_naive, -Duration::days(1))?,
        shifted(start_naive, Duration::days(1))?,
        exclude_booking,
        None,
    )?;
    let therapist_cal = cal
        .therapists
        .first()
        .ok_or_else(|| BookingError::Internal("calendar missing".to_owned()))?;
    let policy = availability::policy(config);
    let (location, room) = scheduling::check_start(
        start,
        duration_minutes,
        buffer,
        Utc::now(),
        &policy,
        therapist_cal,
        &cal.locations,
    )
    .map_err(BookingError::Rejected)?;
    let room_id = room.and_then(|index| {
        cal.room_ids
            .get(&location)
            .and_then(|ids| ids.get(index))
            .cloned()
    });
    let end = shifted(start_naive, Duration::minutes(i64::from(duration_minutes)))?;
    Ok(Placement {
        location_id: location.to_string(),
        room_id,
        start: start_naive,
        end,
        blocked_until: shifted(end, Duration::minutes(i64::from(buffer)))?,
    })
}
