//! State changes of an existing booking: cancel, reschedule, complete, no-show. Each moves the
//! booking along the transition table with a conditional update and queues the move's event.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::access::visible_booking;
use super::error::BookingError;
use super::offer::{Asked, bookable};
use super::placement::{Ask, overlap_is_conflict, place};
use super::{BookingEvent, BookingStatus, Shown};
use crate::auth::AuthUser;
use crate::config::Config;
use crate::db::DbConn;
use crate::integrations::webhooks;
use crate::models::booking::{self, Booking, BookingChanges};
use crate::models::now;
use crate::models::user::Role;
use crate::notify;

pub fn not_confirmed(found: &Booking) -> BookingError {
    BookingError::NotConfirmed(found.status)
}

/// Moves a booking the caller may see to `next` if the transition table allows it from its
/// current status, after `prepare` (which checks the move and says what else changes); the
/// update is conditional on the status still being the one read, so concurrent changes cannot
/// both win. Queues the move's event with the booking shown as `W`. Returns the booking as it
/// was, as it is now, and the event.
pub fn change_status<W: Shown>(
    conn: &mut DbConn,
    caller: &AuthUser,
    id: &str,
    next: BookingStatus,
    prepare: impl FnOnce(&mut DbConn, &Booking) -> Result<BookingChanges, BookingError>,
) -> Result<(Booking, Booking, BookingEvent), BookingError> {
    let found = visible_booking(conn, caller, id)?;
    let Some(event) = found.status.transition(next) else {
        return Err(not_confirmed(&found));
    };
    let changes = BookingChanges {
        status: Some(next),
        sequence: Some(found.sequence + 1),
        ..prepare(conn, &found)?
    };
    if !booking::update_if_status(conn, id, found.status, &changes).map_err(overlap_is_conflict)? {
        return Err(not_confirmed(&booking::find(conn, id)?));
    }
    let changed = booking::find(conn, id)?;
    webhooks::enqueue(conn, event, &W::from(changed.clone()))?;
    Ok((found, changed, event))
}

/// Clients may change a booking only up to the cancellation window before its start.
pub fn check_window(
    config: &Config,
    caller: &AuthUser,
    found: &Booking,
) -> Result<(), BookingError> {
    let window = Duration::hours(i64::from(config.cancellation_window_hours));
    if caller.role == Role::Client && found.start_at - now() < window {
        return Err(BookingError::TooLate {
            window_hours: config.cancellation_window_hours,
        });
    }
    Ok(())
}

/// Cancels a confirmed booking, keeping the (already validated) reason.
pub fn cancel<W: Shown>(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    id: &str,
    reason: Option<String>,
) -> Result<Booking, BookingError> {
    let at = now();
    let (before, cancelled, event) =
        change_status::<W>(conn, caller, id, BookingStatus::Cancelled, |conn, found| {
            check_window(config, caller, found)?;
            // The freed time may go to the waitlist (a claim on this therapist): the lock
            // before the booking's row, as a reschedule of it takes them (see `db::locks`).
            crate::db::locks::therapist(conn, &found.therapist_id)?;
            Ok(BookingChanges {
                updated_at: Some(at),
                cancelled_at: Some(Some(at)),
                cancel_reason: Some(reason),
                ..Default::default()
            })
        })?;
    notify::booking_changed(conn, config, event, &cancelled, Some(&before))?;
    super::waitlist::offer_freed(
        conn,
        config,
        &before.therapist_id,
        before.start_at,
        before.blocked_until,
    )?;
    Ok(cancelled)
}

/// Moves a confirmed booking to `start`, and to `therapist_id` if named; the old time is
/// released only if the new one is taken, since both happen in one update.
pub fn reschedule<W: Shown>(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    id: &str,
    start: DateTime<Utc>,
    therapist_id: Option<Uuid>,
) -> Result<Booking, BookingError> {
    let (before, moved, event) =
        change_status::<W>(conn, caller, id, BookingStatus::Confirmed, |conn, found| {
            check_window(config, caller, found)?;
            let therapist_named = therapist_id.is_some();
            let therapist_id =
                therapist_id.map_or_else(|| found.therapist_id.clone(), |t| t.to_string());
            if caller.role == Role::Therapist && therapist_id != found.therapist_id {
                return Err(BookingError::NotOwnTherapist);
            }
            // The new therapist's time is claimed and the old one's may go to the waitlist,
            // in other rooms perhaps: all those locks now, in order (see `db::locks`).
            crate::db::locks::therapists_and_their_rooms(
                conn,
                &[&therapist_id, &found.therapist_id],
            )?;
            let duration = found.duration_minutes.max(0) as u32;
            let (massage_type, _) = bookable(
                conn,
                &therapist_id,
                &found.massage_type_id,
                duration,
                Asked::Reschedule { therapist_named },
            )?;
            let placement = place(
                conn,
                config,
                &Ask {
                    moving: Some(&found.id),
                    ..Ask::now(&therapist_id, &massage_type, duration, start)
                },
            )?;
            Ok(BookingChanges {
                therapist_id: Some(therapist_id),
                location_id: Some(placement.location_id),
                room_id: Some(placement.room_id),
                start_at: Some(placement.start),
                end_at: Some(placement.end),
                blocked_until: Some(placement.blocked_until),
                updated_at: Some(now()),
                ..Default::default()
            })
        })?;
    notify::booking_changed(conn, config, event, &moved, Some(&before))?;
    if before.therapist_id != moved.therapist_id || before.start_at != moved.start_at {
        super::waitlist::offer_freed(
            conn,
            config,
            &before.therapist_id,
            before.start_at,
            before.blocked_until,
        )?;
    }
    Ok(moved)
}

/// Marks a started booking `Completed` or `NoShow`; returns it with the event that was queued.
pub fn finish<W: Shown>(
    conn: &mut DbConn,
    caller: &AuthUser,
    id: &str,
    status: BookingStatus,
) -> Result<(Booking, BookingEvent), BookingError> {
    change_status::<W>(conn, caller, id, status, |_, found| {
        if now() < found.start_at {
            return Err(BookingError::NotStarted);
        }
        Ok(BookingChanges {
            updated_at: Some(now()),
            ..Default::default()
        })
    })
    .map(|(_, finished, event)| (finished, event))
}
