//! Claims on time read together: the confirmed bookings and the live holds of some therapists
//! (or rooms) that meet a window, in one statement (`UNION ALL`) instead of one per table.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::db::DbConn;
use crate::db::schema::{bookings, holds};
use crate::models::booking::MAX_BLOCKED_SPAN;
use crate::models::hold::Active;
use crate::models::vocabulary::BookingStatus;

/// (owner: the therapist or room, start, blocked until, the booking's id or `None` for a hold).
pub type Claim = (Option<String>, NaiveDateTime, NaiveDateTime, Option<String>);

/// Both tables' rows for owners `$ids` by `$booking_owner` / `$hold_owner`; bookings by their
/// blocked range, holds also while live at `$now`. The start is bounded from both sides so the
/// index scan on `start_at` stays short.
macro_rules! claims_of {
    ($conn:expr, $booking_owner:expr, $hold_owner:expr, $ids:expr, $from:expr, $to:expr, $now:expr) => {{
        let (from, to, now) = ($from, $to, $now);
        let earliest = from
            .checked_sub_signed(MAX_BLOCKED_SPAN)
            .unwrap_or(NaiveDateTime::MIN);
        let booked = bookings::table
            .filter(bookings::status.eq(BookingStatus::Confirmed))
            .filter(bookings::start_at.lt(to))
            .filter(bookings::start_at.gt(earliest))
            .filter(bookings::blocked_until.gt(from));
        let held = holds::table
            .filter(Active)
            .filter(holds::expires_at.gt(now))
            .filter(holds::start_at.lt(to))
            .filter(holds::start_at.gt(earliest))
            .filter(holds::blocked_until.gt(from));
        let none = None::<String>.into_sql::<Nullable<Text>>();
        match $ids {
            [one] => crate::db::per_backend!($conn, |c| booked
                .filter($booking_owner.eq(one))
                .select((
                    $booking_owner.nullable(),
                    bookings::start_at,
                    bookings::blocked_until,
                    bookings::id.nullable(),
                ))
                .union_all(held.filter($hold_owner.eq(one)).select((
                    $hold_owner.nullable(),
                    holds::start_at,
                    holds::blocked_until,
                    none,
                )))
                .load(c)),
            many => crate::db::per_backend!($conn, |c| booked
                .filter($booking_owner.eq_any(many))
                .select((
                    $booking_owner.nullable(),
                    bookings::start_at,
                    bookings::blocked_until,
                    bookings::id.nullable(),
                ))
                .union_all(held.filter($hold_owner.eq_any(many)).select((
                    $hold_owner.nullable(),
                    holds::start_at,
                    holds::blocked_until,
                    none,
                )))
                .load(c)),
        }
    }};
}

/// Claims of these therapists meeting [from, to); holds while live at `now`.
pub fn of_therapists(
    conn: &mut DbConn,
    therapist_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Vec<Claim>> {
    claims_of!(
        conn,
        bookings::therapist_id,
        holds::therapist_id,
        therapist_ids,
        from,
        to,
        now
    )
}

/// Claims of these rooms meeting [from, to); holds while live at `now`.
pub fn of_rooms(
    conn: &mut DbConn,
    room_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Vec<Claim>> {
    claims_of!(
        conn,
        bookings::room_id,
        holds::room_id,
        room_ids,
        from,
        to,
        now
    )
}
