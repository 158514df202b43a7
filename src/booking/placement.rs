//! Where a massage at a given start goes (location, room, end, buffer), or why it cannot. This
//! is the one check every claim on a therapist's time passes: a new booking, a reschedule, a
//! hold and the booking of a hold. It sees confirmed bookings and live holds alike
//! (`crate::availability`); see `crate::booking::holds` for how the check stays exact under
//! concurrency on each backend.

use chrono::{DateTime, Duration, NaiveDateTime, TimeDelta, Utc};

use super::error::BookingError;
use crate::availability::{self, snapshot};
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

/// What is to be placed, and on whose terms.
pub struct Ask<'a> {
    pub therapist_id: &'a str,
    pub massage_type: &'a MassageType,
    pub duration_minutes: u32,
    pub start: DateTime<Utc>,
    /// The moment the minimum notice and the horizon count from: now, or for the booking of a
    /// hold the moment the hold was taken (the time it kept was judged then).
    pub asked_at: DateTime<Utc>,
    /// The present, for which holds still count.
    pub now: DateTime<Utc>,
    /// The booking being moved, whose own time does not block it.
    pub moving: Option<&'a str>,
    /// The room a hold being booked kept: the booking takes that room, which nobody else could
    /// claim meanwhile, rather than the first one that looks free now.
    pub held_room: Option<&'a str>,
}

impl<'a> Ask<'a> {
    /// A claim judged now, moving nothing and keeping no room.
    pub fn now(
        therapist_id: &'a str,
        massage_type: &'a MassageType,
        duration_minutes: u32,
        start: DateTime<Utc>,
    ) -> Self {
        let now = Utc::now();
        Self {
            therapist_id,
            massage_type,
            duration_minutes,
            start,
            asked_at: now,
            now,
            moving: None,
            held_room: None,
        }
    }
}

/// PostgreSQL's exclusion constraints and hold guards are the last line of defence; their
/// violation is a taken slot, not a server error.
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

/// Decides where (location, room) a massage at `ask.start` would go, or why it cannot.
pub fn place(conn: &mut DbConn, config: &Config, ask: &Ask) -> Result<Placement, BookingError> {
    // Before anything is read: a concurrent time off, date override or closure of this
    // therapist then either committed already (and is seen below) or waits for this claim.
    crate::db::locks::therapist(conn, ask.therapist_id)?;
    let buffer = ask.massage_type.buffer_minutes.max(0) as u32;
    let start_naive = ask.start.naive_utc();
    let therapist_ids = [ask.therapist_id.to_owned()];
    let (from, to) = (
        shifted(start_naive, -Duration::days(1))?,
        shifted(start_naive, Duration::days(1))?,
    );
    let now = ask.now.naive_utc();
    let cal = match snapshot::settled(conn, &therapist_ids)? {
        Some(view) => availability::load(
            &mut snapshot::Checked { view, conn },
            &therapist_ids,
            from,
            to,
            ask.moving,
            None,
            now,
        )?,
        None => availability::load(conn, &therapist_ids, from, to, ask.moving, None, now)?,
    };
    let therapist_cal = cal
        .therapists
        .first()
        .ok_or_else(|| BookingError::Internal("calendar missing".to_owned()))?;
    let policy = availability::policy(config);
    let (location, room) = scheduling::check_start(
        ask.start,
        ask.duration_minutes,
        buffer,
        ask.asked_at,
        &policy,
        therapist_cal,
        &cal.locations,
    )
    .map_err(BookingError::Rejected)?;
    let rooms_here = cal.room_ids.get(&location);
    let held_here = ask
        .held_room
        .filter(|held| rooms_here.is_some_and(|ids| ids.iter().any(|id| id == held)));
    let room_id = match held_here {
        Some(held) => Some(held.to_owned()),
        None => room.and_then(|index| rooms_here.and_then(|ids| ids.get(index)).cloned()),
    };
    let end = shifted(
        start_naive,
        Duration::minutes(i64::from(ask.duration_minutes)),
    )?;
    Ok(Placement {
        location_id: location.to_string(),
        room_id,
        start: start_naive,
        end,
        blocked_until: shifted(end, Duration::minutes(i64::from(buffer)))?,
    })
}
