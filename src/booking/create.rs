//! Booking a slot: who the client is, whether the caller may book that therapist, the
//! per-client cap on upcoming bookings, the price, the insert and its event.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::own_therapist_id;
use super::error::BookingError;
use super::idempotency::{self, Claim};
use super::offer::{Asked, bookable};
use super::placement::{Ask, overlap_is_conflict, place};
use super::{BookingEvent, BookingStatus, Shown};
use crate::auth::AuthUser;
use crate::config::Config;
use crate::db::DbConn;
use crate::integrations::webhooks;
use crate::models::booking::{self, Booking};
use crate::models::user::{self, Role};
use crate::models::{new_id, now};
use crate::notify;

/// A booking as asked for, its fields already parsed and validated.
pub struct NewBooking {
    pub therapist_id: Uuid,
    pub massage_type_id: Uuid,
    pub duration_minutes: u32,
    pub start: DateTime<Utc>,
    pub notes: String,
    /// From [`client_for`].
    pub client_id: String,
}

/// The client a booking is for: clients book for themselves and may not name anyone; staff
/// must name the client. Checked before any Idempotency-Key is claimed.
pub fn client_for(caller: &AuthUser, named: Option<Uuid>) -> Result<String, BookingError> {
    match (caller.role, named) {
        (Role::Client, None) => Ok(caller.id().to_owned()),
        (Role::Client, Some(_)) => Err(BookingError::ClientNotSettable),
        (_, Some(client)) => Ok(client.to_string()),
        (_, None) => Err(BookingError::ClientRequired),
    }
}

/// Whether the caller may claim this therapist's time: a therapist only their own. Shared by
/// bookings and holds.
pub fn check_therapist_right(
    conn: &mut DbConn,
    caller: &AuthUser,
    therapist_id: &str,
) -> Result<(), BookingError> {
    if let Some(own) = own_therapist_id(conn, caller)? {
        if own != therapist_id {
            return Err(BookingError::NotOwnTherapist);
        }
    } else if caller.role == Role::Therapist {
        return Err(BookingError::NotOwnTherapist);
    }
    Ok(())
}

/// The client staff named must exist and be a client (a client names only themselves).
pub fn check_client(
    conn: &mut DbConn,
    caller: &AuthUser,
    client_id: &str,
) -> Result<(), BookingError> {
    if caller.role != Role::Client {
        match user::find(conn, client_id) {
            Ok(u) if u.role() == Role::Client => {}
            Ok(_) | Err(diesel::result::Error::NotFound) => {
                return Err(BookingError::NoSuchClient);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Queues the client's concurrent bookings and holds one after another (so the cap holds
/// exactly), then refuses a client already at the cap of upcoming bookings.
pub fn lock_and_check_cap(
    conn: &mut DbConn,
    config: &Config,
    client_id: &str,
) -> Result<(), BookingError> {
    booking::lock_client(conn, client_id)?;
    let cap = i64::from(config.max_future_bookings_per_client);
    if booking::count_upcoming_for_client(conn, client_id, now())? >= cap {
        return Err(BookingError::BookingLimit { cap });
    }
    Ok(())
}

/// How a booking request is judged: a fresh one now; the booking of a hold on the hold's terms.
pub struct Terms<'a> {
    pub asked: Asked,
    /// See [`Ask::asked_at`].
    pub asked_at: DateTime<Utc>,
    /// See [`Ask::held_room`].
    pub held_room: Option<&'a str>,
}

/// Books the slot; run inside a write transaction. The booking is shown as `W` in its webhook
/// event and, when a key is claimed, in the stored answer (201) that retries replay.
pub fn create<W: Shown>(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    asked: NewBooking,
    claim: Option<&Claim>,
) -> Result<Booking, BookingError> {
    let terms = Terms {
        asked: Asked::Booking,
        asked_at: Utc::now(),
        held_room: None,
    };
    book::<W>(conn, config, caller, asked, &terms, claim)
}

/// [`create`] on the given terms.
pub fn book<W: Shown>(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    asked: NewBooking,
    terms: &Terms,
    claim: Option<&Claim>,
) -> Result<Booking, BookingError> {
    let NewBooking {
        therapist_id,
        massage_type_id,
        duration_minutes,
        start,
        notes,
        client_id,
    } = asked;
    let therapist_id = therapist_id.to_string();
    check_therapist_right(conn, caller, &therapist_id)?;
    let (massage_type, option) = bookable(
        conn,
        &therapist_id,
        &massage_type_id.to_string(),
        duration_minutes,
        terms.asked,
    )?;
    check_client(conn, caller, &client_id)?;
    lock_and_check_cap(conn, config, &client_id)?;
    let placement = place(
        conn,
        config,
        &Ask {
            asked_at: terms.asked_at,
            held_room: terms.held_room,
            ..Ask::now(&therapist_id, &massage_type, duration_minutes, start)
        },
    )?;
    let at = now();
    let row = Booking {
        id: new_id(),
        client_id,
        therapist_id,
        massage_type_id: massage_type.id,
        location_id: placement.location_id,
        room_id: placement.room_id,
        start_at: placement.start,
        end_at: placement.end,
        blocked_until: placement.blocked_until,
        duration_minutes: option.duration_minutes,
        price_cents: option.price_cents,
        currency: option.currency,
        status: BookingStatus::Confirmed,
        notes,
        sequence: 0,
        created_at: at,
        updated_at: at,
        cancelled_at: None,
        cancel_reason: None,
    };
    booking::insert(conn, &row).map_err(overlap_is_conflict)?;
    let shown = W::from(row.clone());
    webhooks::enqueue(conn, BookingEvent::Created, &shown)?;
    notify::booking_changed(conn, config, BookingEvent::Created, &row, None)?;
    if let Some(claim) = claim {
        let json =
            serde_json::to_string(&shown).map_err(|e| BookingError::Internal(e.to_string()))?;
        idempotency::store_answer(conn, claim, 201, &json)?;
    }
    Ok(row)
}
