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
        let booked_columns = (
            $booking_owner.nullable(),
            bookings::start_at,
            bookings::blocked_until,
            bookings::id.nullable(),
        );
        let held_columns = (
            $hold_owner.nullable(),
            holds::start_at,
            holds::blocked_until,
            None::<String>.into_sql::<Nullable<Text>>(),
        );
        match $ids {
            [one] => crate::db::per_backend!($conn, |c| booked
                .filter($booking_owner.eq(one))
                .select(booked_columns)
                .union_all(held.filter($hold_owner.eq(one)).select(held_columns))
                .load(c)),
            many => crate::db::per_backend!($conn, |c| booked
                .filter($booking_owner.eq_any(many))
                .select(booked_columns)
                .union_all(held.filter($hold_owner.eq_any(many)).select(held_columns))
                .load(c)),
        }
    }};
}

/// Whose claims are read.
#[derive(Debug, Clone, Copy)]
pub enum Owners {
    Therapists,
    Rooms,
}

/// Claims of these therapists (or rooms) meeting [from, to); holds while live at `now`.
pub fn of(
    conn: &mut DbConn,
    owners: Owners,
    ids: &[String],
    (from, to): (NaiveDateTime, NaiveDateTime),
    now: NaiveDateTime,
) -> QueryResult<Vec<Claim>> {
    match owners {
        Owners::Therapists => {
            claims_of!(
                conn,
                bookings::therapist_id,
                holds::therapist_id,
                ids,
                from,
                to,
                now
            )
        }
        Owners::Rooms => claims_of!(conn, bookings::room_id, holds::room_id, ids, from, to, now),
    }
}
