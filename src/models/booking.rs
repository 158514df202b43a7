//! Bookings and the idempotency keys of booking requests.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{bookings, idempotency_keys};
use crate::models::vocabulary::BookingStatus;

/// No booking lasts longer than this (8 h massage + 2 h buffer), so a range query can bound its
/// index scan on `start_at` from both sides.
pub const MAX_BLOCKED_SPAN: Duration = Duration::hours(10);

/// The earliest start a booking can have and still reach `from`; saturating, never panicking.
fn before_span(from: NaiveDateTime) -> NaiveDateTime {
    from.checked_sub_signed(MAX_BLOCKED_SPAN)
        .unwrap_or(NaiveDateTime::MIN)
}

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = bookings, treat_none_as_default_value = false)]
pub struct Booking {
    pub id: String,
    pub client_id: String,
    pub therapist_id: String,
    pub massage_type_id: String,
    pub location_id: String,
    pub room_id: Option<String>,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub blocked_until: NaiveDateTime,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub status: BookingStatus,
    pub notes: String,
    pub sequence: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub cancelled_at: Option<NaiveDateTime>,
    pub cancel_reason: Option<String>,
    /// The recurring series this booking was made by, if any (the last column: added later).
    pub series_id: Option<String>,
}

pub fn insert(conn: &mut DbConn, booking: &Booking) -> QueryResult<()> {
    crate::db::per_backend!(conn, |c| diesel::insert_into(bookings::table)
        .values(booking)
        .execute(c))
    .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Booking> {
    bookings::table.find(id).first(conn)
}

/// The bookings of one series, by start.
pub fn of_series(conn: &mut DbConn, series_id: &str) -> QueryResult<Vec<Booking>> {
    bookings::table
        .filter(bookings::series_id.eq(series_id.to_owned()))
        .order((bookings::start_at.asc(), bookings::id.asc()))
        .load(conn)
}

pub fn confirmed_overlapping(
    conn: &mut DbConn,
    therapist_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<Booking>> {
    bookings::table
        .filter(bookings::therapist_id.eq(therapist_id.to_owned()))
        .filter(bookings::status.eq(BookingStatus::Confirmed))
        .filter(bookings::start_at.lt(to))
        .filter(bookings::start_at.gt(before_span(from)))
        .filter(bookings::end_at.gt(from))
        .order(bookings::start_at.asc())
        .load(conn)
}

/// Confirmed bookings at a location whose massage meets [from, to), by start.
pub fn confirmed_at_location(
    conn: &mut DbConn,
    location_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<Booking>> {
    bookings::table
        .filter(bookings::location_id.eq(location_id.to_owned()))
        .filter(bookings::status.eq(BookingStatus::Confirmed))
        .filter(bookings::start_at.lt(to))
        .filter(bookings::start_at.gt(before_span(from)))
        .filter(bookings::end_at.gt(from))
        .order(bookings::start_at.asc())
        .load(conn)
}

pub fn count_upcoming_for_client(
    conn: &mut DbConn,
    client_id: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    crate::db::per_backend!(conn, |c| bookings::table
        .filter(bookings::client_id.eq(client_id.to_owned()))
        .filter(bookings::status.eq(BookingStatus::Confirmed))
        .filter(bookings::start_at.gt(now))
        .count()
        .get_result(c))
}

#[derive(Debug, Default)]
pub struct BookingFilter {
    pub status: Option<BookingStatus>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub therapist_id: Option<String>,
    pub client_id: Option<String>,
    /// Keyset: (start_at, id) of the last row of the previous page.
    pub after: Option<(NaiveDateTime, String)>,
}

pub fn list(conn: &mut DbConn, filter: &BookingFilter, limit: i64) -> QueryResult<Vec<Booking>> {
    let mut query = bookings::table.into_boxed();
    if let Some(status) = &filter.status {
        query = query.filter(bookings::status.eq(*status));
    }
    if let Some(from) = filter.from {
        query = query.filter(bookings::start_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(bookings::start_at.lt(to));
    }
    if let Some(therapist_id) = &filter.therapist_id {
        query = query.filter(bookings::therapist_id.eq(therapist_id.clone()));
    }
    if let Some(client_id) = &filter.client_id {
        query = query.filter(bookings::client_id.eq(client_id.clone()));
    }
    if let Some((start, id)) = &filter.after {
        query = query.filter(
            bookings::start_at.gt(*start).or(bookings::start_at
                .eq(*start)
                .and(bookings::id.gt(id.clone()))),
        );
    }
    query
        .order((bookings::start_at.asc(), bookings::id.asc()))
        .limit(limit)
        .load(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = bookings)]
pub struct BookingChanges {
    pub therapist_id: Option<String>,
    pub location_id: Option<String>,
    pub room_id: Option<Option<String>>,
    pub start_at: Option<NaiveDateTime>,
    pub end_at: Option<NaiveDateTime>,
    pub blocked_until: Option<NaiveDateTime>,
    pub status: Option<BookingStatus>,
    pub sequence: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
    pub cancelled_at: Option<Option<NaiveDateTime>>,
    pub cancel_reason: Option<Option<String>>,
}

/// Applies `changes` only while the booking is still in `expected_status`; returns whether it
/// did, so concurrent state changes cannot both win.
pub fn update_if_status(
    conn: &mut DbConn,
    id: &str,
    expected_status: BookingStatus,
    changes: &BookingChanges,
) -> QueryResult<bool> {
    diesel::update(
        bookings::table
            .find(id)
            .filter(bookings::status.eq(expected_status)),
    )
    .set(changes)
    .execute(conn)
    .map(|n| n == 1)
}

// ---- idempotency keys ----

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = idempotency_keys, treat_none_as_default_value = false)]
pub struct IdempotencyKey {
    pub user_id: String,
    pub key: String,
    pub request_hash: String,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn find_key(
    conn: &mut DbConn,
    user_id: &str,
    key: &str,
) -> QueryResult<Option<IdempotencyKey>> {
    idempotency_keys::table
        .find((user_id.to_owned(), key.to_owned()))
        .first(conn)
        .optional()
}

pub fn insert_key(conn: &mut DbConn, row: &IdempotencyKey) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn complete_key(
    conn: &mut DbConn,
    user_id: &str,
    key: &str,
    status: i32,
    body: &str,
) -> QueryResult<usize> {
    diesel::update(idempotency_keys::table.find((user_id.to_owned(), key.to_owned())))
        .set((
            idempotency_keys::response_status.eq(Some(status)),
            idempotency_keys::response_body.eq(Some(body.to_owned())),
        ))
        .execute(conn)
}

pub fn delete_key(conn: &mut DbConn, user_id: &str, key: &str) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.find((user_id.to_owned(), key.to_owned()))).execute(conn)
}

/// Takes over a pending key abandoned by a crashed request (older than `stale_before`).
pub fn take_over_stale_key(
    conn: &mut DbConn,
    user_id: &str,
    key: &str,
    stale_before: NaiveDateTime,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        idempotency_keys::table
            .find((user_id.to_owned(), key.to_owned()))
            .filter(idempotency_keys::response_status.is_null())
            .filter(idempotency_keys::created_at.lt(stale_before)),
    )
    .set(idempotency_keys::created_at.eq(at))
    .execute(conn)
    .map(|n| n == 1)
}

// ---- PostgreSQL specifics ----

/// On PostgreSQL, locks the client's user row until the transaction ends, so concurrent
/// bookings of one client run one after another (SQLite's write lock already does that).
/// `NO KEY UPDATE`: it queues the client's own bookings and holds, but not the foreign-key
/// checks of other transactions writing rows that merely reference the client (an email, a
/// waitlist offer made while a cancellation holds a therapist's lock), which would otherwise
/// wait here in a cycle with a booking waiting for that therapist: a deadlock, answered 503.
pub fn lock_client(conn: &mut DbConn, client_id: &str) -> QueryResult<()> {
    if let DbConn::Postgresql(pg) = conn {
        use crate::db::schema::users;
        users::table
            .select(users::id)
            .filter(users::id.eq(client_id))
            .for_no_key_update()
            .execute(pg)?;
    }
    Ok(())
}

/// Whether `error` is a violation of the `bookings_*_no_overlap` exclusion constraints or of the
/// hold guards (`holds_claim_no_overlap`, `bookings_hold_no_overlap`; PostgreSQL's migrations
/// name them): another booking or hold took the time or room first.
pub fn is_overlap(error: &diesel::result::Error) -> bool {
    matches!(error, diesel::result::Error::DatabaseError(_, info)
        if info
            .constraint_name()
            .is_some_and(|c| c.ends_with("_no_overlap"))
            || info.message().contains("_no_overlap"))
}

/// What a booking's emails name, in one round trip: its massage type, location, therapist,
/// client, and the therapist's login if it has one.
pub struct Described {
    pub massage: crate::models::catalog::MassageType,
    pub location: crate::models::catalog::Location,
    pub therapist: crate::models::therapist::Therapist,
    pub client: crate::models::user::User,
    pub therapist_user: Option<crate::models::user::User>,
}

pub fn describe(conn: &mut DbConn, booking: &Booking) -> QueryResult<Described> {
    use crate::db::schema::{locations, massage_types, therapists, users};
    let therapist_users = diesel::alias!(users as therapist_users);
    let (massage, location, therapist, client, therapist_user) =
        crate::db::per_backend!(conn, |c| massage_types::table
            .filter(massage_types::id.eq(booking.massage_type_id.clone()))
            .inner_join(locations::table.on(locations::id.eq(booking.location_id.clone())))
            .inner_join(therapists::table.on(therapists::id.eq(booking.therapist_id.clone())))
            .inner_join(users::table.on(users::id.eq(booking.client_id.clone())))
            .left_join(
                therapist_users
                    .on(therapists::user_id.eq(therapist_users.field(users::id).nullable())),
            )
            .select((
                massage_types::all_columns,
                locations::all_columns,
                therapists::all_columns,
                users::all_columns,
                therapist_users.fields(users::all_columns).nullable(),
            ))
            .first(c))?;
    Ok(Described {
        massage,
        location,
        therapist,
        client,
        therapist_user,
    })
}
