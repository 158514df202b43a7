//! Booking a slot: who the client is, whether the caller may book that therapist, the
//! per-client cap on upcoming bookings, the price, the insert and its event. A recurring series
//! (`super::series`) books each occurrence with the same pieces: [`order`] once, then
//! [`room_under_cap`], and [`book`] (or [`check`] for a preview) per occurrence; the booking of a
//! hold (`super::holds`) goes through [`book_on_terms`], judged on the hold's terms.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::own_therapist_id;
use super::error::BookingError;
use super::idempotency::{self, Claim};
use super::offer::{Asked, bookable};
use super::placement::{Ask, Placement, overlap_is_conflict, place};
use super::{BookingEvent, BookingStatus, Shown};
use crate::auth::AuthUser;
use crate::config::Config;
use crate::db::DbConn;
use crate::integrations::webhooks;
use crate::models::booking::{self, Booking};
use crate::models::catalog::{MassageOption, MassageType};
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

/// How a booking request is judged: a fresh one now; the booking of a hold on the hold's terms.
pub struct Terms<'a> {
    pub asked: Asked,
    /// See [`Ask::asked_at`].
    pub asked_at: DateTime<Utc>,
    /// See [`Ask::held_room`].
    pub held_room: Option<&'a str>,
}

impl Terms<'_> {
    /// A new booking, judged now.
    pub fn now() -> Self {
        Self {
            asked: Asked::Booking,
            asked_at: Utc::now(),
            held_room: None,
        }
    }
}

/// What a booking is of and for, checked once: the caller may book this therapist, who offers
/// this active type in this duration, for an existing client. A series checks it once for all
/// its occurrences.
pub struct Order {
    pub client_id: String,
    pub therapist_id: String,
    pub massage_type: MassageType,
    pub option: MassageOption,
}

/// Checks who books what for whom (see [`Order`]), as a new booking.
pub fn order(
    conn: &mut DbConn,
    caller: &AuthUser,
    therapist_id: Uuid,
    massage_type_id: Uuid,
    duration_minutes: u32,
    client_id: String,
) -> Result<Order, BookingError> {
    order_as(
        conn,
        caller,
        therapist_id,
        massage_type_id,
        duration_minutes,
        client_id,
        Asked::Booking,
    )
}

fn order_as(
    conn: &mut DbConn,
    caller: &AuthUser,
    therapist_id: Uuid,
    massage_type_id: Uuid,
    duration_minutes: u32,
    client_id: String,
    asked: Asked,
) -> Result<Order, BookingError> {
    let therapist_id = therapist_id.to_string();
    check_therapist_right(conn, caller, &therapist_id)?;
    let (massage_type, option) = bookable(
        conn,
        &therapist_id,
        &massage_type_id.to_string(),
        duration_minutes,
        asked,
    )?;
    check_client(conn, caller, &client_id)?;
    Ok(Order {
        client_id,
        therapist_id,
        massage_type,
        option,
    })
}

/// How many more upcoming bookings the client may hold under the per-client cap (never
/// negative). With `lock`, concurrent bookings (and holds) of one client queue here until the
/// transaction ends, so the count stays true until the caller's inserts commit.
pub fn room_under_cap(
    conn: &mut DbConn,
    config: &Config,
    client_id: &str,
    lock: bool,
) -> Result<i64, BookingError> {
    if lock {
        booking::lock_client(conn, client_id)?;
    }
    let upcoming = booking::count_upcoming_for_client(conn, client_id, now())?;
    Ok((i64::from(config.max_future_bookings_per_client) - upcoming).max(0))
}

/// The cap [`room_under_cap`] measures against, as the error that reports it.
pub fn booking_limit(config: &Config) -> BookingError {
    BookingError::BookingLimit {
        cap: i64::from(config.max_future_bookings_per_client),
    }
}

/// Queues the client's concurrent bookings and holds one after another (so the cap holds
/// exactly), then refuses a client already at the cap of upcoming bookings.
pub fn lock_and_check_cap(
    conn: &mut DbConn,
    config: &Config,
    client_id: &str,
) -> Result<(), BookingError> {
    if room_under_cap(conn, config, client_id, true)? == 0 {
        return Err(booking_limit(config));
    }
    Ok(())
}

/// Whether `start` can be booked for `order` now, and where it would go.
pub fn check(
    conn: &mut DbConn,
    config: &Config,
    order: &Order,
    start: DateTime<Utc>,
) -> Result<Placement, BookingError> {
    check_on(conn, config, order, start, &Terms::now())
}

fn check_on(
    conn: &mut DbConn,
    config: &Config,
    order: &Order,
    start: DateTime<Utc>,
    terms: &Terms,
) -> Result<Placement, BookingError> {
    let duration = order.option.duration_minutes.max(0) as u32;
    place(
        conn,
        config,
        &Ask {
            asked_at: terms.asked_at,
            held_room: terms.held_room,
            ..Ask::now(&order.therapist_id, &order.massage_type, duration, start)
        },
    )
}

/// Books `order` at `start` (placed, inserted, its webhook event and emails queued); run inside
/// a write transaction, after the cap is checked. The booking is shown as `W` in its event.
pub fn book<W: Shown>(
    conn: &mut DbConn,
    config: &Config,
    order: &Order,
    start: DateTime<Utc>,
    notes: String,
    series_id: Option<&str>,
) -> Result<Booking, BookingError> {
    insert::<W>(conn, config, order, start, notes, series_id, &Terms::now())
}

fn insert<W: Shown>(
    conn: &mut DbConn,
    config: &Config,
    order: &Order,
    start: DateTime<Utc>,
    notes: String,
    series_id: Option<&str>,
    terms: &Terms,
) -> Result<Booking, BookingError> {
    let placement = check_on(conn, config, order, start, terms)?;
    let at = now();
    let row = Booking {
        id: new_id(),
        client_id: order.client_id.clone(),
        therapist_id: order.therapist_id.clone(),
        massage_type_id: order.massage_type.id.clone(),
        location_id: placement.location_id,
        room_id: placement.room_id,
        start_at: placement.start,
        end_at: placement.end,
        blocked_until: placement.blocked_until,
        duration_minutes: order.option.duration_minutes,
        price_cents: order.option.price_cents,
        currency: order.option.currency.clone(),
        status: BookingStatus::Confirmed,
        notes,
        sequence: 0,
        created_at: at,
        updated_at: at,
        cancelled_at: None,
        cancel_reason: None,
        series_id: series_id.map(str::to_owned),
    };
    booking::insert(conn, &row).map_err(overlap_is_conflict)?;
    webhooks::enqueue(conn, BookingEvent::Created, &W::from(row.clone()))?;
    notify::booking_changed(conn, config, BookingEvent::Created, &row, None)?;
    Ok(row)
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
    book_on_terms::<W>(conn, config, caller, asked, &Terms::now(), claim)
}

/// [`create`] on the given terms (the booking of a hold is judged as of the hold).
pub fn book_on_terms<W: Shown>(
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
    let order = order_as(
        conn,
        caller,
        therapist_id,
        massage_type_id,
        duration_minutes,
        client_id,
        terms.asked,
    )?;
    lock_and_check_cap(conn, config, &order.client_id)?;
    let row = insert::<W>(conn, config, &order, start, notes, None, terms)?;
    if let Some(claim) = claim {
        idempotency::store_created(conn, claim, &W::from(row.clone()))?;
    }
    Ok(row)
}
