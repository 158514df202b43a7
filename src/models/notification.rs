//! The email outbox (`notifications`): one row a message, rendered when it is queued, delivered
//! by the worker with the mechanism webhooks use (`crate::outbox`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::db::schema::notifications;

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    BookingConfirmed,
    BookingRescheduled,
    BookingCancelled,
    BookingReminder,
    PasswordReset,
    WaitlistOffer,
    TherapistBookingChanged,
}

impl Kind {
    pub const ALL: [Self; 7] = [
        Self::BookingConfirmed,
        Self::BookingRescheduled,
        Self::BookingCancelled,
        Self::BookingReminder,
        Self::PasswordReset,
        Self::WaitlistOffer,
        Self::TherapistBookingChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingConfirmed => "booking_confirmed",
            Self::BookingRescheduled => "booking_rescheduled",
            Self::BookingCancelled => "booking_cancelled",
            Self::BookingReminder => "booking_reminder",
            Self::PasswordReset => "password_reset",
            Self::WaitlistOffer => "waitlist_offer",
            Self::TherapistBookingChanged => "therapist_booking_changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = notifications, treat_none_as_default_value = false)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub booking_id: Option<String>,
    pub kind: String,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    /// An RFC 5545 calendar sent as a `text/calendar` part.
    pub calendar: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// The template context (JSON) the text and HTML bodies are rendered from at delivery;
    /// `None` when `body_text` and `body_html` hold them already.
    pub context: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &Notification) -> QueryResult<()> {
    crate::db::per_backend!(conn, |c| diesel::insert_into(notifications::table)
        .values(row)
        .execute(c))
    .map(|_| ())
}

/// Several rows: on PostgreSQL in one statement (one round trip), on SQLite one by one (each
/// statement stays prepared, and there is no round trip to save).
pub fn insert_all(conn: &mut DbConn, rows: &[Notification]) -> QueryResult<()> {
    match conn {
        // A booking's two rows (confirmation and reminder) as an array: diesel keeps a statement
        // of fixed arity prepared, where a slice's is parsed and planned anew every time.
        DbConn::Postgresql(pg) => match rows {
            [first, second] => diesel::insert_into(notifications::table)
                .values([first.clone(), second.clone()])
                .execute(pg)
                .map(|_| ()),
            _ => diesel::insert_into(notifications::table)
                .values(rows)
                .execute(pg)
                .map(|_| ()),
        },
        DbConn::Sqlite(_) => rows.iter().try_for_each(|row| insert(conn, row)),
    }
}

pub fn by_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Notification>> {
    notifications::table
        .filter(notifications::id.eq_any(ids))
        .order(notifications::next_attempt_at.asc())
        .load(conn)
}

#[derive(Debug, Default)]
pub struct NotificationFilter {
    pub user_id: Option<String>,
    pub booking_id: Option<String>,
    pub status: Option<&'static str>,
}

/// A page in id order (ids are UUIDv7, so that is creation order).
pub fn list(
    conn: &mut DbConn,
    filter: &NotificationFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Notification>> {
    let mut query = notifications::table.into_boxed();
    if let Some(user_id) = &filter.user_id {
        query = query.filter(notifications::user_id.eq(user_id.clone()));
    }
    if let Some(booking_id) = &filter.booking_id {
        query = query.filter(notifications::booking_id.eq(booking_id.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(notifications::status.eq(status));
    }
    if let Some(after) = after {
        query = query.filter(notifications::id.gt(after.to_owned()));
    }
    query.order(notifications::id.asc()).limit(limit).load(conn)
}

/// Every message of a user, oldest first (for their data export).
pub fn for_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<Notification>> {
    notifications::table
        .filter(notifications::user_id.eq(user_id.to_owned()))
        .order(notifications::id.asc())
        .load(conn)
}

/// Drops the reminders of a booking not yet sent (it was cancelled or moved).
pub fn delete_pending_reminders(conn: &mut DbConn, booking_id: &str) -> QueryResult<usize> {
    diesel::delete(
        notifications::table
            .filter(notifications::booking_id.eq(booking_id.to_owned()))
            .filter(notifications::kind.eq(Kind::BookingReminder.as_str()))
            .filter(notifications::status.eq(PENDING)),
    )
    .execute(conn)
}

/// Drops a user's unsent messages other than password resets (they turned emails off).
pub fn delete_pending_optional_for_user(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
    diesel::delete(
        notifications::table
            .filter(notifications::user_id.eq(user_id.to_owned()))
            .filter(notifications::kind.ne(Kind::PasswordReset.as_str()))
            .filter(notifications::status.eq(PENDING)),
    )
    .execute(conn)
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(notifications::table.find(id)).execute(conn)
}

/// The result of an attempt.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = notifications, treat_none_as_null = true)]
pub struct Outcome {
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// Bodies replaced (and the context they are rendered from cleared) once a message is out, for
/// messages whose text must not stay stored (a password-reset link).
#[derive(Debug, AsChangeset)]
#[diesel(table_name = notifications, treat_none_as_null = true)]
pub struct Scrubbed<'a> {
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub context: Option<&'a str>,
}

/// Messages of one pass that went out at their first or a later attempt at `at` (recorded at
/// `finished`): their outcome in one statement, as [`record`] with [`SENT`] would write it row
/// by row. Only for rows of this pass's claim (their lease keeps `attempts` theirs).
pub fn record_sent(
    conn: &mut DbConn,
    ids: &[String],
    at: NaiveDateTime,
    finished: NaiveDateTime,
) -> QueryResult<usize> {
    use notifications::dsl as n;
    diesel::update(n::notifications.filter(n::id.eq_any(ids)))
        .set((
            n::status.eq(SENT),
            n::attempts.eq(n::attempts + 1),
            n::next_attempt_at.eq(at),
            n::locked_until.eq(None::<NaiveDateTime>),
            n::last_error.eq(None::<String>),
            n::updated_at.eq(finished),
            n::sent_at.eq(Some(finished)),
        ))
        .execute(conn)
}

pub fn record(
    conn: &mut DbConn,
    id: &str,
    outcome: &Outcome,
    scrub: Option<&Scrubbed<'_>>,
) -> QueryResult<()> {
    diesel::update(notifications::table.find(id))
        .set(outcome)
        .execute(conn)?;
    if let Some(scrub) = scrub {
        diesel::update(notifications::table.find(id))
            .set(scrub)
            .execute(conn)?;
    }
    Ok(())
}

/// Pending messages: (due by `at`, scheduled after it).
pub fn count_pending(conn: &mut DbConn, at: NaiveDateTime) -> QueryResult<(i64, i64)> {
    let pending = || notifications::table.filter(notifications::status.eq(PENDING));
    let due = pending()
        .filter(notifications::next_attempt_at.le(at))
        .count()
        .get_result(conn)?;
    let later = pending()
        .filter(notifications::next_attempt_at.gt(at))
        .count()
        .get_result(conn)?;
    Ok((due, later))
}
