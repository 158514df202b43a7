//! Holds: a client's claim on a therapist (and room) at one start for `HOLD_MINUTES`, while
//! they finish booking; then `POST /bookings {hold_id}` books exactly that time.
//!
//! # One guard for bookings and holds
//!
//! A hold claims the same resources as a booking, for the same span (start to end plus the
//! type's buffer), and it is checked by the same code: [`place`] runs `check_start` over busy
//! times that hold both confirmed bookings and *live* holds (`status = 'active'` and
//! `expires_at > now`, see `crate::availability`). So `/slots` never offers held time, and
//! every claim (a booking, a reschedule, a hold) is refused where another one already is.
//!
//! What keeps that check exact under concurrency is per backend:
//!
//! - **SQLite**: every claim is written inside `db::write_transaction`, `BEGIN IMMEDIATE`: the
//!   write lock is held from the first read, so no other writer can claim anything between the
//!   check and the insert.
//! - **PostgreSQL**: the database guards itself, whatever the application checked before. Two
//!   tables cannot share an exclusion constraint, and a constraint cannot compare with
//!   `now()`, so the migration (`2026-12-02-000005_holds`) adds `BEFORE` triggers on both
//!   tables. A write that makes or moves a claim (a hold inserted, a booking confirmed or
//!   moved) first takes transaction-scoped advisory locks on its therapist and then its room
//!   (`pg_advisory_xact_lock`, always in that order), and only then looks for an overlapping
//!   claim in the other table and, for a hold, among other live holds. The locks are held until
//!   commit, so a second writer of the same therapist or room waits for the first to commit and
//!   then, READ COMMITTED taking a new snapshot per statement, sees its row: the check is exact.
//!   [`place`] itself takes the therapist's lock before it reads anything (`crate::db::locks`),
//!   as do time off, date overrides and closures before they look for bookings they would
//!   strand, so a claim and such a change never both commit either.
//!   Bookings among themselves keep their exclusion constraints. A violation is raised as an
//!   exclusion violation named `*_no_overlap`, answered 409 `slot-unavailable` like any taken
//!   slot ([`overlap_is_conflict`]).
//!
//! # Expiry needs no action
//!
//! Whether a hold blocks is decided at check time by comparing `expires_at` with the present:
//! the application's clock in the check above, the database's clock in the PostgreSQL
//! triggers. Nothing has to run when a hold expires, and nothing is deleted. (Where the two
//! clocks differ, each side only refuses more, never less: a hold one side still counts makes
//! that side answer 409; the hold's own booking does not depend on either clock past the
//! moment it is consumed.) `status` records how a hold ended once that is known: `released`,
//! `consumed` (with `booking_id`), or `expired`, written when an expired hold is *noticed*:
//! when its client tries to book it, releases it, or makes a new hold.
//!
//! # The holder always gets their booking
//!
//! Booking a hold consumes it first, in the booking's transaction, so its own claim no longer
//! counts, then places the booking with the hold's terms: the minimum notice and horizon as
//! of the moment the hold was taken, and the very room the hold kept (nobody else could claim
//! it meanwhile; the first room that merely looks free might be someone's uncommitted
//! booking). While the hold was live no other claim on its therapist or room could be written,
//! so the booking fits.
//!
//! # One hold per client
//!
//! A client has one active hold of their own (`purpose = 'client'`, a partial unique index): a
//! new hold releases the previous one in the same transaction, before the new one is placed (so
//! moving a hold to an overlapping start works), and a failed new hold leaves the previous one
//! as it was. Holds with `purpose = 'waitlist'` (offers made to the waitlist) are outside
//! that rule.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::Shown;
use super::create::{self, NewBooking, Terms, check_client, check_therapist_right};
use super::error::BookingError;
use super::idempotency::Claim;
use super::offer::{Asked, bookable};
use super::placement::{Ask, overlap_is_conflict, place};
use crate::auth::AuthUser;
use crate::config::Config;
use crate::db::DbConn;
use crate::models::booking::{self, Booking};
use crate::models::hold::{self, Hold};
use crate::models::user::Role;
use crate::models::vocabulary::{HoldPurpose, HoldStatus};
use crate::models::{new_id, now};

/// A hold as asked for, its fields already parsed.
pub struct NewHold {
    pub therapist_id: Uuid,
    pub massage_type_id: Uuid,
    pub duration_minutes: u32,
    pub start: DateTime<Utc>,
    /// From [`create::client_for`].
    pub client_id: String,
}

/// A new hold, and how the client's previous hold ended if this one replaced it.
pub struct Made {
    pub hold: Hold,
    pub replaced: Option<HoldStatus>,
}

/// Holds the time for the client; run inside a write transaction.
pub fn create(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    asked: NewHold,
) -> Result<Made, BookingError> {
    let at = now();
    let present = at.and_utc();
    let therapist_id = asked.therapist_id.to_string();
    check_therapist_right(conn, caller, &therapist_id)?;
    let (massage_type, _) = bookable(
        conn,
        &therapist_id,
        &asked.massage_type_id.to_string(),
        asked.duration_minutes,
        Asked::Booking,
    )?;
    check_client(conn, caller, &asked.client_id)?;
    // A client who may not book more may not hold either; this also queues the client's
    // concurrent holds and bookings, so the one-hold rule below sees the others' outcome.
    create::lock_and_check_cap(conn, config, &asked.client_id)?;
    let previous = hold::active_of_client(conn, &asked.client_id)?;
    // The new hold claims this therapist's time and the time the previous one kept may go to
    // the waitlist (a claim on its therapist, perhaps in another room): all those locks now,
    // in order (see `db::locks`).
    if let Some(previous) = &previous {
        crate::db::locks::therapists_and_their_rooms(
            conn,
            &[&therapist_id, &previous.therapist_id],
        )?;
    }
    let replaced = match &previous {
        Some(previous) => {
            let ending = if previous.is_live(at) {
                HoldStatus::Released
            } else {
                HoldStatus::Expired
            };
            hold::end(conn, &previous.id, ending, at)?.then_some(ending)
        }
        None => None,
    };
    let placement = place(
        conn,
        config,
        &Ask {
            asked_at: present,
            now: present,
            ..Ask::now(
                &therapist_id,
                &massage_type,
                asked.duration_minutes,
                asked.start,
            )
        },
    )?;
    let expires_at = at
        .checked_add_signed(Duration::minutes(i64::from(config.hold_minutes)))
        .ok_or(BookingError::StartOutOfRange)?;
    let row = Hold {
        id: new_id(),
        client_id: asked.client_id,
        therapist_id,
        massage_type_id: massage_type.id,
        location_id: placement.location_id,
        room_id: placement.room_id,
        start_at: placement.start,
        end_at: placement.end,
        blocked_until: placement.blocked_until,
        duration_minutes: i32::try_from(asked.duration_minutes)
            .map_err(|_| BookingError::DurationNotOffered)?,
        purpose: HoldPurpose::Client,
        status: HoldStatus::Active,
        expires_at,
        created_at: at,
        ended_at: None,
        booking_id: None,
    };
    hold::insert(conn, &row).map_err(overlap_is_conflict)?;
    // What the previous hold kept and the new one does not is free: the waitlist may take it.
    if let (Some(previous), Some(HoldStatus::Released)) = (&previous, replaced) {
        super::waitlist::hold_released(conn, config, previous)?;
    }
    Ok(Made {
        hold: row,
        replaced,
    })
}

/// Keeps `start` of `therapist_id` for a waitlist entry's client: a hold of purpose `waitlist`
/// for `WAITLIST_OFFER_MINUTES`, placed and guarded like any claim; run inside the transaction
/// that freed the time. The insert runs in a savepoint, so a claim PostgreSQL refuses leaves
/// the freeing transaction usable (the caller tries the next start or entry).
pub fn offer(
    conn: &mut DbConn,
    config: &Config,
    entry: &crate::models::waitlist::Entry,
    therapist_id: &str,
    start: DateTime<Utc>,
    at: chrono::NaiveDateTime,
) -> Result<Hold, BookingError> {
    let present = at.and_utc();
    let duration =
        u32::try_from(entry.duration_minutes).map_err(|_| BookingError::DurationNotOffered)?;
    let (massage_type, _) = bookable(
        conn,
        therapist_id,
        &entry.massage_type_id,
        duration,
        Asked::Held,
    )?;
    let placement = place(
        conn,
        config,
        &Ask {
            asked_at: present,
            now: present,
            ..Ask::now(therapist_id, &massage_type, duration, start)
        },
    )?;
    if entry
        .location_id
        .as_ref()
        .is_some_and(|l| *l != placement.location_id)
    {
        return Err(BookingError::Rejected(
            crate::scheduling::Rejection::OutsideSchedule,
        ));
    }
    let expires_at = at
        .checked_add_signed(super::waitlist::offer_lifetime(config))
        .ok_or(BookingError::StartOutOfRange)?;
    let row = Hold {
        id: new_id(),
        client_id: entry.client_id.clone(),
        therapist_id: therapist_id.to_owned(),
        massage_type_id: massage_type.id,
        location_id: placement.location_id,
        room_id: placement.room_id,
        start_at: placement.start,
        end_at: placement.end,
        blocked_until: placement.blocked_until,
        duration_minutes: entry.duration_minutes,
        purpose: HoldPurpose::Waitlist,
        status: HoldStatus::Active,
        expires_at,
        created_at: at,
        ended_at: None,
        booking_id: None,
    };
    diesel::Connection::transaction(conn, |conn| hold::insert(conn, &row))
        .map_err(overlap_is_conflict)?;
    Ok(row)
}

/// A hold the caller may see: its client's, or any for staff. Anything else is `HoldNotFound`,
/// exactly like a missing hold.
pub fn visible(conn: &mut DbConn, caller: &AuthUser, id: &str) -> Result<Hold, BookingError> {
    let found = match hold::find(conn, id) {
        Err(diesel::result::Error::NotFound) => return Err(BookingError::HoldNotFound),
        other => other?,
    };
    if caller.role == Role::Client && found.client_id != caller.id() {
        return Err(BookingError::HoldNotFound);
    }
    Ok(found)
}

/// Releases a hold the caller may see, so that it stops blocking at once. Releasing one that
/// already ended changes nothing; one that was booked is refused (the booking is what keeps
/// the time now). Returns how the hold ended when this call ended it.
///
/// The freed time is offered to the waitlist in the same transaction; a released waitlist
/// offer returns its entry to `waiting` (see `super::waitlist`).
pub fn release(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    id: &str,
) -> Result<Option<HoldStatus>, BookingError> {
    let at = now();
    let found = visible(conn, caller, id)?;
    let ending = match (found.status, found.status_at(at)) {
        (HoldStatus::Consumed, _) => return Err(BookingError::HoldEnded(HoldStatus::Consumed)),
        (HoldStatus::Active, HoldStatus::Active) => HoldStatus::Released,
        (HoldStatus::Active, _) => HoldStatus::Expired,
        _ => return Ok(None),
    };
    let ended = hold::end(conn, id, ending, at)?;
    if ended && ending == HoldStatus::Released {
        super::waitlist::hold_released(conn, config, &found)?;
    }
    Ok(ended.then_some(ending))
}

/// The outcome of booking by a hold.
pub enum Booked {
    Done(Box<Booking>),
    /// The hold keeps no time any more: how it ended, and whether this call was the one that
    /// noticed it had expired (and wrote so).
    Ended {
        status: HoldStatus,
        noticed_expiry: bool,
    },
}

/// Books exactly the held time for the hold's client and consumes the hold; run inside a write
/// transaction. An ended hold is `Ok(Booked::Ended)`, not an error, so that the transaction
/// commits the noticed expiry; the caller answers it 409 (`BookingError::HoldEnded`).
pub fn book<W: Shown>(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    hold_id: &str,
    notes: String,
    claim: Option<&Claim>,
) -> Result<Booked, BookingError> {
    let at = now();
    let seen = visible(conn, caller, hold_id)?;
    // After the client's other bookings and holds; then read the hold again.
    booking::lock_client(conn, &seen.client_id)?;
    let found = hold::find(conn, hold_id)?;
    // A hold whose start has passed keeps nothing bookable: it counts as expired.
    let status = match found.status_at(at) {
        HoldStatus::Active if found.start_at <= at => HoldStatus::Expired,
        status => status,
    };
    if status != HoldStatus::Active {
        return ended(conn, &found, status);
    }
    if !hold::consume(conn, hold_id, at)? {
        // Released by staff a moment ago, between the read and the update.
        let found = hold::find(conn, hold_id)?;
        let status = found.status_at(now());
        return ended(conn, &found, status);
    }
    let parse = |id: &str| {
        id.parse::<Uuid>()
            .map_err(|e| BookingError::Internal(format!("hold {hold_id}: {e}")))
    };
    let asked = NewBooking {
        therapist_id: parse(&found.therapist_id)?,
        massage_type_id: parse(&found.massage_type_id)?,
        duration_minutes: u32::try_from(found.duration_minutes)
            .map_err(|e| BookingError::Internal(format!("hold {hold_id}: {e}")))?,
        start: found.start_at.and_utc(),
        notes,
        client_id: found.client_id.clone(),
    };
    let terms = Terms {
        asked: Asked::Held,
        asked_at: found.created_at.and_utc(),
        held_room: found.room_id.as_deref(),
    };
    let booked = create::book_on_terms::<W>(conn, config, caller, asked, &terms, claim)?;
    hold::link_booking(conn, hold_id, &booked.id)?;
    super::waitlist::booked(conn, hold_id)?;
    Ok(Booked::Done(Box::new(booked)))
}

/// An ended hold's outcome; an active one past its time is written `expired` here.
fn ended(conn: &mut DbConn, found: &Hold, status: HoldStatus) -> Result<Booked, BookingError> {
    let noticed_expiry = status == HoldStatus::Expired
        && found.status == HoldStatus::Active
        && hold::end(conn, &found.id, HoldStatus::Expired, now())?;
    Ok(Booked::Ended {
        status,
        noticed_expiry,
    })
}
