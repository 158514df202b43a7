//! The waitlist: clients waiting for a massage between two local dates, and the offers made to
//! them when time frees up.
//!
//! # Offers are made where time is freed
//!
//! Every change that frees a therapist's time (a booking cancelled or moved away, time off
//! deleted, a hold released) calls [`offer_freed`] inside its own write transaction. It asks the
//! slot engine (`super::search`) which starts of that therapist are offered now inside the freed
//! window, for each waiting entry in turn, oldest first (entries naming another therapist, a
//! location the slot is not at, another type or duration, or dates that do not reach the start
//! find nothing), and gives the first fit an offer: a hold in the entry's client's name with
//! purpose `waitlist` for `WAITLIST_OFFER_MINUTES`, guarded like any other claim
//! (`super::holds`). The entry reads `offered`, the email and the `waitlist.offered` webhook
//! event are queued, all in the same transaction: the change's answer comes after its commit,
//! so the entry already reads `offered` then. One freed time makes one offer.
//!
//! # Offers that run out
//!
//! An offer's hold stops blocking at its expiry by itself (`super::holds`). What remains is to
//! hand the time on: [`pass`], run each second by a worker of `serve` (and by tests directly),
//! returns entries whose offer is no longer live to `waiting`, records the time they let go in
//! `waitlist_passed` (an entry is never offered that same time again), and offers it to the
//! next entry. The same pass writes `expired` on entries whose dates are over; reads compute
//! both states already, so nothing depends on when the pass runs. Booking by the offer's hold
//! sets the entry `booked` in the booking's transaction ([`booked`]).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::create::{check_client, room_under_cap};
use super::error::BookingError;
use super::offer::{Asked, bookable, offered_option};
use super::search::{SlotSearch, offered_slots};
use crate::auth::AuthUser;
use crate::config::Config;
use crate::db::DbConn;
use crate::integrations::webhooks;
use crate::models::hold::{self, Hold};
use crate::models::user::Role;
use crate::models::vocabulary::{BookingEvent, HoldPurpose, HoldStatus, WaitlistStatus};
use crate::models::waitlist::{self, Entry, Filter};
use crate::models::{catalog, new_id, now};
use crate::notify;

/// `from` and `to` may be at most this many days apart.
pub const MAX_SPAN_DAYS: i64 = 31;

/// A waitlist entry as the API shows it (and as the `waitlist.offered` event carries it).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WaitlistEntry)]
pub struct EntryView {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub client_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub massage_type_id: String,
    pub duration_minutes: i32,
    /// First local date the client can come (inclusive).
    pub from: NaiveDate,
    /// Last local date the client can come (inclusive).
    pub to: NaiveDate,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub therapist_id: Option<String>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub location_id: Option<String>,
    pub status: WaitlistStatus,
    /// The time kept for the client while `status` is `offered`; null otherwise.
    pub offer: Option<OfferView>,
    pub created_at: DateTime<Utc>,
}

/// A time kept for a waiting client: book it with `POST /bookings {"hold_id": …}` before
/// `expires_at`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WaitlistOffer)]
pub struct OfferView {
    #[schema(value_type = String, format = Uuid)]
    pub hold_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[schema(value_type = String, format = Uuid)]
    pub therapist_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: String,
    pub expires_at: DateTime<Utc>,
}

/// An entry as asked for, its fields already parsed.
pub struct NewEntry {
    pub massage_type_id: Uuid,
    pub duration_minutes: u32,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub therapist_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    /// From `create::client_for`.
    pub client_id: String,
}

/// The earliest local date now at any of the clinic's locations (UTC's with none): a date
/// before it is in the past everywhere.
pub fn today(conn: &mut DbConn) -> Result<NaiveDate, BookingError> {
    let present = Utc::now();
    let earliest = catalog::list_locations(conn, None, i64::MAX)?
        .iter()
        .filter_map(|l| l.timezone.parse::<crate::scheduling::Zone>().ok())
        .map(|tz| present.with_timezone(&tz).date_naive())
        .min();
    Ok(earliest.unwrap_or_else(|| present.date_naive()))
}

/// The entry as it reads at `at` (`today` being [`today`]): a waiting entry past its dates is
/// `expired`; an offered one whose hold no longer keeps its time is `waiting` again.
pub fn show(
    conn: &mut DbConn,
    entry: Entry,
    today: NaiveDate,
    at: NaiveDateTime,
) -> Result<EntryView, BookingError> {
    let mut status = entry.status;
    let mut offer = None;
    if status == WaitlistStatus::Offered {
        let live = match &entry.hold_id {
            Some(id) => Some(hold::find(conn, id)?).filter(|h| h.is_live(at)),
            None => None,
        };
        match live {
            Some(h) => offer = Some(offer_view(&h)),
            None => status = WaitlistStatus::Waiting,
        }
    }
    if status == WaitlistStatus::Waiting && entry.to_date < today {
        status = WaitlistStatus::Expired;
    }
    Ok(EntryView {
        id: entry.id,
        client_id: entry.client_id,
        massage_type_id: entry.massage_type_id,
        duration_minutes: entry.duration_minutes,
        from: entry.from_date,
        to: entry.to_date,
        therapist_id: entry.therapist_id,
        location_id: entry.location_id,
        status,
        offer,
        created_at: entry.created_at.and_utc(),
    })
}

fn offer_view(h: &Hold) -> OfferView {
    OfferView {
        hold_id: h.id.clone(),
        start: h.start_at.and_utc(),
        end: h.end_at.and_utc(),
        therapist_id: h.therapist_id.clone(),
        location_id: h.location_id.clone(),
        expires_at: h.expires_at.and_utc(),
    }
}

fn dates_error(field: &'static str, message: &str) -> BookingError {
    BookingError::WaitlistDates {
        field,
        message: message.to_owned(),
    }
}

/// Puts the client on the waitlist; run inside a write transaction.
pub fn create(
    conn: &mut DbConn,
    caller: &AuthUser,
    asked: NewEntry,
) -> Result<EntryView, BookingError> {
    let today = today(conn)?;
    if asked.from < today {
        return Err(dates_error("from", "is in the past"));
    }
    if asked.to < asked.from {
        return Err(dates_error("to", "is before from"));
    }
    if (asked.to - asked.from).num_days() > MAX_SPAN_DAYS {
        return Err(dates_error("to", "is more than 31 days after from"));
    }
    let massage_type_id = asked.massage_type_id.to_string();
    offered_option(conn, &massage_type_id, asked.duration_minutes)?;
    let therapist_id = asked.therapist_id.map(|t| t.to_string());
    if let Some(therapist_id) = &therapist_id {
        bookable(
            conn,
            therapist_id,
            &massage_type_id,
            asked.duration_minutes,
            Asked::Booking,
        )?;
    }
    let location_id = asked.location_id.map(|l| l.to_string());
    if let Some(location_id) = &location_id {
        match catalog::find_location(conn, location_id) {
            Ok(_) => {}
            Err(diesel::result::Error::NotFound) => return Err(BookingError::NoSuchLocation),
            Err(e) => return Err(e.into()),
        }
    }
    check_client(conn, caller, &asked.client_id)?;
    let at = now();
    let entry = Entry {
        id: new_id(),
        client_id: asked.client_id,
        massage_type_id,
        duration_minutes: i32::try_from(asked.duration_minutes)
            .map_err(|_| BookingError::DurationNotOffered)?,
        from_date: asked.from,
        to_date: asked.to,
        therapist_id,
        location_id,
        status: WaitlistStatus::Waiting,
        hold_id: None,
        created_at: at,
        updated_at: at,
    };
    waitlist::insert(conn, &entry)?;
    show(conn, entry, today, at)
}

/// An entry the caller may see: their own, or any for staff; anything else is
/// `WaitlistNotFound`, exactly like a missing entry.
pub fn visible(conn: &mut DbConn, caller: &AuthUser, id: &str) -> Result<Entry, BookingError> {
    let found = match waitlist::find(conn, id) {
        Err(diesel::result::Error::NotFound) => return Err(BookingError::WaitlistNotFound),
        other => other?,
    };
    if caller.role == Role::Client && found.client_id != caller.id() {
        return Err(BookingError::WaitlistNotFound);
    }
    Ok(found)
}

/// One entry the caller may see, as it reads now.
pub fn get(conn: &mut DbConn, caller: &AuthUser, id: &str) -> Result<EntryView, BookingError> {
    let found = visible(conn, caller, id)?;
    let today = today(conn)?;
    show(conn, found, today, now())
}

/// Entries the caller may see (a client their own), oldest first, up to `limit`.
pub fn list(
    conn: &mut DbConn,
    caller: &AuthUser,
    mut filter: Filter,
    limit: i64,
) -> Result<Vec<(Entry, EntryView)>, BookingError> {
    if caller.role == Role::Client {
        filter.client_id = Some(caller.id().to_owned());
    }
    let today = today(conn)?;
    let at = now();
    let rows = waitlist::list(conn, &filter, today, limit)?;
    rows.into_iter()
        .map(|e| Ok((e.clone(), show(conn, e, today, at)?)))
        .collect()
}

/// Every entry of a client, as it reads now (the account export).
pub fn of_client(conn: &mut DbConn, client_id: &str) -> Result<Vec<EntryView>, BookingError> {
    let filter = Filter {
        client_id: Some(client_id.to_owned()),
        ..Default::default()
    };
    let today = today(conn)?;
    let at = now();
    waitlist::list(conn, &filter, today, i64::MAX)?
        .into_iter()
        .map(|e| show(conn, e, today, at))
        .collect()
}

/// Takes the entry off the waitlist (`cancelled`); its live offer's hold is released and the
/// time offered to the next entry. An entry already booked, expired or cancelled is left as it
/// is. Run inside a write transaction; returns how the offer's hold ended, if this ended it.
pub fn cancel(
    conn: &mut DbConn,
    config: &Config,
    caller: &AuthUser,
    id: &str,
) -> Result<Option<HoldStatus>, BookingError> {
    let found = visible(conn, caller, id)?;
    let at = now();
    if !matches!(
        found.status,
        WaitlistStatus::Waiting | WaitlistStatus::Offered
    ) {
        return Ok(None);
    }
    if !waitlist::set_status(
        conn,
        id,
        found.status,
        WaitlistStatus::Cancelled,
        found.hold_id.as_deref(),
        at,
    )? {
        return Ok(None);
    }
    let Some(hold_id) = found
        .hold_id
        .filter(|_| found.status == WaitlistStatus::Offered)
    else {
        return Ok(None);
    };
    let held = hold::find(conn, &hold_id)?;
    let ending = match held.status_at(at) {
        HoldStatus::Active => HoldStatus::Released,
        HoldStatus::Expired if held.status == HoldStatus::Active => HoldStatus::Expired,
        _ => return Ok(None),
    };
    if !hold::end(conn, &hold_id, ending, at)? {
        return Ok(None);
    }
    if ending == HoldStatus::Released {
        offer_freed(
            conn,
            config,
            &held.therapist_id,
            held.start_at,
            held.blocked_until,
        )?;
    }
    Ok(Some(ending))
}

/// A hold was released: if it was a waitlist offer, its entry let that time go (back to
/// `waiting`, never offered it again); then the time is offered to the next entry. Run in the
/// release's transaction.
pub fn hold_released(conn: &mut DbConn, config: &Config, held: &Hold) -> Result<(), BookingError> {
    if held.purpose == HoldPurpose::Waitlist {
        let_go(conn, held)?;
    }
    offer_freed(
        conn,
        config,
        &held.therapist_id,
        held.start_at,
        held.blocked_until,
    )?;
    Ok(())
}

/// The offered entry of `held` returns to `waiting`, with that time recorded as passed.
fn let_go(conn: &mut DbConn, held: &Hold) -> Result<(), BookingError> {
    if let Some(entry) = waitlist::by_hold(conn, &held.id)?
        && entry.status == WaitlistStatus::Offered
    {
        waitlist::record_passed(conn, &entry.id, &held.therapist_id, held.start_at)?;
        waitlist::set_status(
            conn,
            &entry.id,
            WaitlistStatus::Offered,
            WaitlistStatus::Waiting,
            None,
            now(),
        )?;
    }
    Ok(())
}

/// The hold `hold_id` was booked: its entry, if it was a waitlist offer, is `booked`. Run in
/// the booking's transaction.
pub fn booked(conn: &mut DbConn, hold_id: &str) -> Result<(), BookingError> {
    if let Some(entry) = waitlist::by_hold(conn, hold_id)?
        && entry.status == WaitlistStatus::Offered
    {
        waitlist::set_status(
            conn,
            &entry.id,
            WaitlistStatus::Offered,
            WaitlistStatus::Booked,
            Some(hold_id),
            now(),
        )?;
    }
    Ok(())
}

/// Time of `therapist_id` in [`from`, `to`) was freed: offers it to the oldest waiting entry
/// that fits a start offered now inside it (see the module's description). Returns the entry
/// that got the offer, if any. Run inside the transaction that freed the time.
pub fn offer_freed(
    conn: &mut DbConn,
    config: &Config,
    therapist_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Option<EntryView>, BookingError> {
    let at = now();
    let present = at.and_utc();
    let today = today(conn)?;
    // Local dates lie within a day of the UTC date for every real zone.
    let window_from = from.date().pred_opt().unwrap_or(from.date());
    let window_to = to.date().succ_opt().unwrap_or(to.date());
    for entry in waitlist::waiting_for(conn, therapist_id, today)? {
        let first = entry.from_date.max(window_from).max(today);
        let last = entry.to_date.min(window_to);
        if first > last {
            continue;
        }
        if room_under_cap(conn, config, &entry.client_id, false)? == 0 {
            continue;
        }
        let search = SlotSearch {
            massage_type_id: entry.massage_type_id.clone(),
            duration_minutes: entry.duration_minutes.max(0) as u32,
            from: first,
            to: last,
            therapist_id: Some(therapist_id.to_owned()),
            location_id: entry.location_id.clone(),
        };
        let slots = match offered_slots(conn, config, &search, present, None) {
            Ok(slots) => slots,
            // The type or duration is no longer offered: nothing fits this entry.
            Err(BookingError::NoActiveMassageType | BookingError::DurationNotOffered) => continue,
            Err(e) => return Err(e),
        };
        let passed = waitlist::passed(conn, &entry.id, therapist_id)?;
        let fits = slots.slots.iter().filter(|s| {
            let start = s.start.naive_utc();
            s.therapist_id.to_string() == therapist_id
                && start >= from
                && start < to
                && !passed.contains(&start)
        });
        for slot in fits {
            match super::holds::offer(conn, config, &entry, therapist_id, slot.start, at) {
                Ok(made) => return make_offer(conn, config, entry, &made, today).map(Some),
                Err(
                    BookingError::Rejected(_)
                    | BookingError::SlotJustTaken
                    | BookingError::NoLongerOffered,
                ) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}

/// The entry reads `offered` with `made`; its email and event are queued.
fn make_offer(
    conn: &mut DbConn,
    config: &Config,
    entry: Entry,
    made: &Hold,
    today: NaiveDate,
) -> Result<EntryView, BookingError> {
    let at = now();
    waitlist::set_status(
        conn,
        &entry.id,
        WaitlistStatus::Waiting,
        WaitlistStatus::Offered,
        Some(&made.id),
        at,
    )?;
    let entry = Entry {
        status: WaitlistStatus::Offered,
        hold_id: Some(made.id.clone()),
        updated_at: at,
        ..entry
    };
    notify::waitlist_offer(conn, config, &entry.id, made)?;
    let view = show(conn, entry, today, at)?;
    webhooks::enqueue(conn, BookingEvent::WaitlistOffered, &view)?;
    Ok(view)
}

/// What one [`pass`] changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Passed {
    /// Entries whose offer ended or whose dates are over.
    pub entries: usize,
    /// Clients' own holds that ran out unused, now written `expired` (their time offered on).
    pub holds_expired: usize,
}

/// How many clients' expired holds one pass hands on at most (the rest wait a second).
const EXPIRED_HOLDS_PER_PASS: i64 = 100;

/// One waitlist pass at `at`: offers no longer live go back to `waiting` (their time recorded
/// as passed for the entry) and their time to the next entry; clients' own holds that ran out
/// are written `expired` and their time offered to the waitlist; entries past their dates are
/// written `expired`. Run inside a write transaction.
pub fn pass(conn: &mut DbConn, config: &Config, at: NaiveDateTime) -> Result<Passed, BookingError> {
    let mut holds_expired = 0;
    for held in hold::run_out(conn, at, EXPIRED_HOLDS_PER_PASS)? {
        if hold::end(conn, &held.id, HoldStatus::Expired, at)? {
            holds_expired += 1;
            offer_freed(
                conn,
                config,
                &held.therapist_id,
                held.start_at,
                held.blocked_until,
            )?;
        }
    }
    let mut changed = 0;
    for entry in waitlist::offered(conn)? {
        let Some(hold_id) = &entry.hold_id else {
            continue;
        };
        let held = hold::find(conn, hold_id)?;
        if held.is_live(at) {
            continue;
        }
        match held.status {
            HoldStatus::Consumed => {
                booked(conn, hold_id)?;
            }
            HoldStatus::Active | HoldStatus::Expired => {
                if held.status == HoldStatus::Active {
                    hold::end(conn, hold_id, HoldStatus::Expired, at)?;
                }
                let_go(conn, &held)?;
                offer_freed(
                    conn,
                    config,
                    &held.therapist_id,
                    held.start_at,
                    held.blocked_until,
                )?;
            }
            HoldStatus::Released => {
                let_go(conn, &held)?;
            }
        }
        changed += 1;
    }
    let today = today(conn)?;
    changed += waitlist::expire_before(conn, today, at)?;
    Ok(Passed {
        entries: changed,
        holds_expired,
    })
}

/// How long an offer keeps its time.
pub fn offer_lifetime(config: &Config) -> Duration {
    Duration::minutes(i64::from(config.waitlist_offer_minutes))
}

/// One [`pass`] now, in its own write transaction; what the worker runs each second. Counts
/// the holds it found expired in the holds metric.
pub async fn run_once(
    state: &crate::state::AppState,
    at: DateTime<Utc>,
) -> Result<Passed, crate::error::ApiError> {
    let config = state.config.clone();
    let passed = state
        .write(move |conn| Ok(pass(conn, &config, at.naive_utc())?))
        .await?;
    for _ in 0..passed.holds_expired {
        state
            .metrics
            .hold_event(crate::models::vocabulary::HoldEvent::Expired);
    }
    Ok(passed)
}

/// The waitlist worker of `serve`: a pass a second until `stop` turns true.
pub async fn run_worker(
    state: actix_web::web::Data<crate::state::AppState>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    crate::outbox::run_passes("waitlist", None, stop, || async {
        run_once(&state, Utc::now())
            .await
            .map(|p| crate::outbox::Pass::succeeded(p.entries + p.holds_expired))
    })
    .await;
}
