//! Recurring series: one local wall-clock time every `every_weeks` weeks, `count` times, booked
//! in one write transaction with the single booking's own pieces (`super::create`), previewed,
//! read and cancelled as a whole.
//!
//! - The wall-clock time is kept in the zone of the location whose hours hold the first start
//!   (`scheduling::series_zone`); occurrence `k` is that local date plus `7 · every_weeks · k`
//!   days at the same local time (`scheduling::occurrences`). A time that does not exist on a
//!   spring-forward date cannot be booked that day.
//! - The first start is what the caller named: a start a single booking would refuse as never
//!   bookable (off the grid, outside the schedule, too soon, beyond the horizon) is refused the
//!   same way (422). Every other occurrence that is not an offered slot is listed with why.
//! - `fail` (the default) books all occurrences or none: any listed occurrence makes the whole
//!   request a conflict, and the transaction rolls back. `skip` books what it can and lists the
//!   rest; a series of which nothing can be booked is a conflict too.
//! - The per-client cap counts every occurrence: with `fail`, a series that would take the
//!   client over it is refused like a single booking over it; with `skip`, occurrences past the
//!   cap are listed as `booking_limit`.

use chrono::{DateTime, Duration, Utc};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::Viewer;
use super::create::{self, Order};
use super::error::BookingError;
use super::idempotency::{self, Claim};
use super::{BookingStatus, Shown, transitions};
use crate::auth::AuthUser;
use crate::availability;
use crate::config::Config;
use crate::db::DbConn;
use crate::models::booking::{self, Booking};
use crate::models::series::{self, BookingSeries};
use crate::models::{new_id, now};
use crate::scheduling::{self, Occurrence, Rejection};

/// What to do when some occurrences cannot be booked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// Book all of them or none.
    #[default]
    Fail,
    /// Book those that can be, list the rest.
    Skip,
}

/// Why an occurrence cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unavailable {
    /// The wall-clock time does not exist that day: the clocks spring forward over it.
    NonexistentLocalTime,
    /// Not on the slot grid of that day's hours.
    OffGrid,
    /// Outside the therapist's hours that day (a day off, a closure, changed hours).
    OutsideSchedule,
    /// Sooner than the minimum notice.
    TooSoon,
    /// Beyond the booking horizon.
    TooFarAhead,
    /// The therapist is away.
    TimeOff,
    /// The therapist is already booked.
    Taken,
    /// Every room at the location is taken.
    NoRoom,
    /// Booking it would take the client over the cap on upcoming bookings.
    BookingLimit,
}

impl Unavailable {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NonexistentLocalTime => {
                "that local time does not exist that day (clocks go forward)"
            }
            Self::OffGrid => "the start is not on the slot grid that day",
            Self::OutsideSchedule => "the therapist does not work then",
            Self::TooSoon => "sooner than the minimum notice",
            Self::TooFarAhead => "beyond the booking horizon",
            Self::TimeOff => "the therapist is away",
            Self::Taken => "the therapist is already booked",
            Self::NoRoom => "no room is free",
            Self::BookingLimit => "over the client's limit of upcoming bookings",
        }
    }
}

impl From<Rejection> for Unavailable {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::OffGrid => Self::OffGrid,
            Rejection::OutsideSchedule => Self::OutsideSchedule,
            Rejection::TooSoon => Self::TooSoon,
            Rejection::TooFarAhead => Self::TooFarAhead,
            Rejection::TimeOff => Self::TimeOff,
            Rejection::Taken => Self::Taken,
            Rejection::NoRoom => Self::NoRoom,
        }
    }
}

/// An occurrence that was not (or would not be) booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Skipped {
    /// The occurrence's start. For a local time that does not exist that day: that time read
    /// with the UTC offset before the clocks went forward (RFC 5545), i.e. just after the gap.
    pub start: DateTime<Utc>,
    pub reason: Unavailable,
}

/// A series as asked for, its fields already parsed and validated.
pub struct NewSeries {
    pub therapist_id: Uuid,
    pub massage_type_id: Uuid,
    pub duration_minutes: u32,
    /// The first occurrence.
    pub start: DateTime<Utc>,
    /// 1 to 4.
    pub every_weeks: u32,
    /// 2 to 12.
    pub count: u32,
    pub notes: String,
    /// From [`super::create::client_for`].
    pub client_id: String,
    pub on_conflict: OnConflict,
}

/// A series just booked: its row, the bookings made and the occurrences skipped, by start.
#[derive(Debug, Clone)]
pub struct CreatedSeries {
    pub series: BookingSeries,
    pub bookings: Vec<Booking>,
    pub skipped: Vec<Skipped>,
}

/// One occurrence of a preview: `reason` is `None` when it can be booked.
#[derive(Debug, Clone, Copy)]
pub struct Previewed {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: Option<Unavailable>,
}

/// The rejections a single booking answers 422: its start could never be booked. Said of the
/// first start, they refuse the request; of a later occurrence, they are listed.
fn never_bookable(rejection: Rejection) -> bool {
    matches!(
        rejection,
        Rejection::OffGrid
            | Rejection::OutsideSchedule
            | Rejection::TooSoon
            | Rejection::TooFarAhead
    )
}

/// The occurrences of the series asked for, in the zone of the hours that hold its first start.
fn occurrences(
    conn: &mut DbConn,
    order: &Order,
    asked: &NewSeries,
) -> Result<Vec<Occurrence>, BookingError> {
    let first = asked.start.naive_utc();
    let day = Duration::days(1);
    let (Some(from), Some(to)) = (first.checked_sub_signed(day), first.checked_add_signed(day))
    else {
        return Err(BookingError::StartOutOfRange);
    };
    let cal = availability::load(
        conn,
        std::slice::from_ref(&order.therapist_id),
        from,
        to,
        None,
        None,
        crate::models::now(),
    )?;
    let therapist = cal
        .therapists
        .first()
        .ok_or_else(|| BookingError::Internal("calendar missing".to_owned()))?;
    let tz = scheduling::series_zone(asked.start, therapist, &cal.locations)
        .ok_or(BookingError::Rejected(Rejection::OutsideSchedule))?;
    Ok(scheduling::occurrences(
        &tz,
        asked.start,
        asked.every_weeks,
        asked.count,
    ))
}

/// Books one occurrence at its start.
type Book<'a> = &'a mut dyn FnMut(&mut DbConn, DateTime<Utc>) -> Result<Booking, BookingError>;

/// Whether each occurrence can be booked and, with `book`, books it: a booking, or why not.
/// `room` is how many more upcoming bookings the client may hold.
fn go_through(
    conn: &mut DbConn,
    config: &Config,
    order: &Order,
    occurrences: &[Occurrence],
    mut room: i64,
    mut book: Option<Book<'_>>,
) -> Result<Vec<Result<Option<Booking>, Unavailable>>, BookingError> {
    let mut out = Vec::with_capacity(occurrences.len());
    for (k, occurrence) in occurrences.iter().enumerate() {
        if occurrence.in_gap {
            out.push(Err(Unavailable::NonexistentLocalTime));
            continue;
        }
        let start = occurrence.start;
        let tried = match book.as_mut() {
            Some(book) if room > 0 => book(conn, start).map(Some),
            _ => create::check(conn, config, order, start).map(|_| None),
        };
        out.push(match tried {
            Ok(_) if room == 0 => Err(Unavailable::BookingLimit),
            Ok(booked) => {
                room -= 1;
                Ok(booked)
            }
            Err(BookingError::Rejected(r)) if k == 0 && never_bookable(r) => {
                return Err(BookingError::Rejected(r));
            }
            Err(BookingError::Rejected(r)) => Err(r.into()),
            Err(BookingError::SlotJustTaken) => Err(Unavailable::Taken),
            Err(other) => return Err(other),
        });
    }
    Ok(out)
}

/// Books the series; run inside a write transaction. Each booking is shown as `W` in its webhook
/// event; when a key is claimed, the answer (201) is stored as `S` for retries to replay.
pub fn create<W: Shown, S: From<CreatedSeries> + Serialize>(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    asked: NewSeries,
    claim: Option<&Claim>,
) -> Result<CreatedSeries, BookingError> {
    let order = create::order(
        conn,
        caller,
        asked.therapist_id,
        asked.massage_type_id,
        asked.duration_minutes,
        asked.client_id.clone(),
    )?;
    let room = create::room_under_cap(conn, config, &order.client_id, true)?;
    if asked.on_conflict == OnConflict::Fail && room < i64::from(asked.count) {
        return Err(create::booking_limit(config));
    }
    let occurrences = occurrences(conn, &order, &asked)?;
    // Each week takes whichever room is free: every room the series may claim, in order,
    // before the first claim (see `db::locks`).
    crate::db::locks::therapists_and_their_rooms(conn, &[&order.therapist_id])?;
    let at = now();
    let row = BookingSeries {
        id: new_id(),
        client_id: order.client_id.clone(),
        therapist_id: order.therapist_id.clone(),
        massage_type_id: order.massage_type.id.clone(),
        duration_minutes: order.option.duration_minutes,
        every_weeks: asked.every_weeks as i32,
        count: asked.count as i32,
        created_by: Some(caller.id().to_owned()),
        created_at: at,
    };
    series::insert(conn, &row)?;
    // Each occurrence in a savepoint: on PostgreSQL an exclusion violation (a booking that
    // committed after the check) aborts only that occurrence, which `skip` then lists.
    let mut book = |conn: &mut DbConn, start: DateTime<Utc>| {
        conn.transaction(|conn| {
            create::book::<W>(
                conn,
                config,
                &order,
                start,
                asked.notes.clone(),
                Some(&row.id),
            )
        })
    };
    let outcomes = go_through(conn, config, &order, &occurrences, room, Some(&mut book))?;
    let mut bookings = Vec::new();
    let mut skipped = Vec::new();
    for (occurrence, outcome) in occurrences.iter().zip(outcomes) {
        match outcome {
            Ok(Some(booked)) => bookings.push(booked),
            Ok(None) => return Err(BookingError::Internal("occurrence not booked".to_owned())),
            Err(reason) => skipped.push(Skipped {
                start: occurrence.start,
                reason,
            }),
        }
    }
    if !skipped.is_empty() && (asked.on_conflict == OnConflict::Fail || bookings.is_empty()) {
        // Returning the error rolls back what was booked.
        return Err(BookingError::SeriesUnavailable(skipped));
    }
    let created = CreatedSeries {
        series: row,
        bookings,
        skipped,
    };
    if let Some(claim) = claim {
        idempotency::store_created(conn, claim, &S::from(created.clone()))?;
    }
    Ok(created)
}

/// What [`create`] would book now, occurrence by occurrence, booking nothing. The cap is
/// counted as `skip` counts it, whatever `on_conflict` says.
pub fn preview(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    asked: NewSeries,
) -> Result<Vec<Previewed>, BookingError> {
    let order = create::order(
        conn,
        caller,
        asked.therapist_id,
        asked.massage_type_id,
        asked.duration_minutes,
        asked.client_id.clone(),
    )?;
    let room = create::room_under_cap(conn, config, &order.client_id, false)?;
    let occurrences = occurrences(conn, &order, &asked)?;
    let length = Duration::minutes(i64::from(order.option.duration_minutes));
    let outcomes = go_through(conn, config, &order, &occurrences, room, None)?;
    Ok(occurrences
        .iter()
        .zip(outcomes)
        .map(|(occurrence, outcome)| Previewed {
            start: occurrence.start,
            end: occurrence.start + length,
            reason: outcome.err(),
        })
        .collect())
}

/// A series the caller may see (its client, its therapist, an admin) with those of its
/// bookings they may see, by start; anything else is `NotFound`.
pub fn visible(
    conn: &mut DbConn,
    caller: &AuthUser,
    id: &str,
) -> Result<(BookingSeries, Vec<Booking>), BookingError> {
    let found = match series::find(conn, id) {
        Err(diesel::result::Error::NotFound) => return Err(BookingError::NotFound),
        other => other?,
    };
    let viewer = Viewer::of(conn, caller)?;
    if !viewer.sees(&found.client_id, &found.therapist_id) {
        return Err(BookingError::NotFound);
    }
    let mut bookings = booking::of_series(conn, id)?;
    // A booking moved to another therapist is no longer the series' therapist's to see.
    bookings.retain(|b| viewer.sees(&b.client_id, &b.therapist_id));
    Ok((found, bookings))
}

/// A series after [`cancel`]: the occurrences cancelled, and those a client may no longer cancel
/// (inside the cancellation window), still confirmed.
pub struct CancelledSeries {
    pub series: BookingSeries,
    pub cancelled: Vec<Booking>,
    pub kept: Vec<Booking>,
}

/// Cancels every confirmed occurrence still ahead, each as a single cancel would (its event,
/// its emails), keeping for a client those inside the cancellation window; run inside a write
/// transaction.
pub fn cancel<W: Shown>(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    id: &str,
    reason: Option<String>,
) -> Result<CancelledSeries, BookingError> {
    let (found, bookings) = visible(conn, caller, id)?;
    let at = now();
    let ahead: Vec<Booking> = bookings
        .into_iter()
        .filter(|b| b.status == BookingStatus::Confirmed && b.start_at > at)
        .collect();
    // Each cancellation may offer its time to the waitlist (a claim on its therapist, in a
    // room): every lock those offers may take, in order, before the first (see `db::locks`).
    let therapists: Vec<&str> = ahead.iter().map(|b| b.therapist_id.as_str()).collect();
    crate::db::locks::therapists_and_their_rooms(conn, &therapists)?;
    let mut cancelled = Vec::new();
    let mut kept = Vec::new();
    for b in ahead {
        match transitions::check_window(config, caller, &b) {
            Err(BookingError::TooLate { .. }) => kept.push(b),
            Err(other) => return Err(other),
            Ok(()) => cancelled.push(transitions::cancel::<W>(
                conn,
                config,
                caller,
                &b.id,
                reason.clone(),
            )?),
        }
    }
    Ok(CancelledSeries {
        series: found,
        cancelled,
        kept,
    })
}
