//! Waitlist entries and the times each one let go (`waitlist_passed`). The rules are in
//! `crate::booking::waitlist`; this is the table.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{waitlist_entries, waitlist_passed};
use crate::models::vocabulary::WaitlistStatus;

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = waitlist_entries, treat_none_as_default_value = false)]
pub struct Entry {
    pub id: String,
    pub client_id: String,
    pub massage_type_id: String,
    pub duration_minutes: i32,
    pub from_date: NaiveDate,
    pub to_date: NaiveDate,
    pub therapist_id: Option<String>,
    pub location_id: Option<String>,
    pub status: WaitlistStatus,
    /// The hold of the current (or last accepted) offer.
    pub hold_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, entry: &Entry) -> QueryResult<()> {
    diesel::insert_into(waitlist_entries::table)
        .values(entry)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Entry> {
    waitlist_entries::table.find(id).first(conn)
}

/// The entry whose offer is this hold, if any.
pub fn by_hold(conn: &mut DbConn, hold_id: &str) -> QueryResult<Option<Entry>> {
    waitlist_entries::table
        .filter(waitlist_entries::hold_id.eq(hold_id.to_owned()))
        .first(conn)
        .optional()
}

/// Moves an entry from `from` to `to` (with its offer's hold, or none); returns whether it did.
pub fn set_status(
    conn: &mut DbConn,
    id: &str,
    from: WaitlistStatus,
    to: WaitlistStatus,
    hold_id: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        waitlist_entries::table
            .find(id)
            .filter(waitlist_entries::status.eq(from)),
    )
    .set((
        waitlist_entries::status.eq(to),
        waitlist_entries::hold_id.eq(hold_id.map(str::to_owned)),
        waitlist_entries::updated_at.eq(at),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Waiting entries whose dates still reach `today`, that could take time of `therapist_id`
/// (theirs or any therapist), oldest first.
pub fn waiting_for(
    conn: &mut DbConn,
    therapist_id: &str,
    today: NaiveDate,
) -> QueryResult<Vec<Entry>> {
    waitlist_entries::table
        .filter(waitlist_entries::status.eq(WaitlistStatus::Waiting))
        .filter(waitlist_entries::to_date.ge(today))
        .filter(
            waitlist_entries::therapist_id
                .is_null()
                .or(waitlist_entries::therapist_id.eq(therapist_id.to_owned())),
        )
        .order((
            waitlist_entries::created_at.asc(),
            waitlist_entries::id.asc(),
        ))
        .load(conn)
}

/// Offered entries, for the pass that looks for offers that ran out.
pub fn offered(conn: &mut DbConn) -> QueryResult<Vec<Entry>> {
    waitlist_entries::table
        .filter(waitlist_entries::status.eq(WaitlistStatus::Offered))
        .order((
            waitlist_entries::created_at.asc(),
            waitlist_entries::id.asc(),
        ))
        .load(conn)
}

/// Writes `expired` on waiting entries whose last date is before `today`; returns how many.
pub fn expire_before(conn: &mut DbConn, today: NaiveDate, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        waitlist_entries::table
            .filter(waitlist_entries::status.eq(WaitlistStatus::Waiting))
            .filter(waitlist_entries::to_date.lt(today)),
    )
    .set((
        waitlist_entries::status.eq(WaitlistStatus::Expired),
        waitlist_entries::updated_at.eq(at),
    ))
    .execute(conn)
}

/// What a list asks for.
#[derive(Default)]
pub struct Filter {
    pub client_id: Option<String>,
    pub therapist_id: Option<String>,
    /// The status as read (an entry past its dates reads `expired` before it is written so).
    pub status: Option<WaitlistStatus>,
    /// Entries created after this (created_at, id).
    pub after: Option<(NaiveDateTime, String)>,
}

pub fn list(
    conn: &mut DbConn,
    filter: &Filter,
    today: NaiveDate,
    limit: i64,
) -> QueryResult<Vec<Entry>> {
    use waitlist_entries as w;
    let mut query = w::table.into_boxed();
    if let Some(client) = &filter.client_id {
        query = query.filter(w::client_id.eq(client.clone()));
    }
    if let Some(therapist) = &filter.therapist_id {
        query = query.filter(w::therapist_id.eq(therapist.clone()));
    }
    match filter.status {
        Some(WaitlistStatus::Expired) => {
            query = query.filter(
                w::status.eq(WaitlistStatus::Expired).or(w::status
                    .eq(WaitlistStatus::Waiting)
                    .and(w::to_date.lt(today))),
            );
        }
        Some(WaitlistStatus::Waiting) => {
            query = query
                .filter(w::status.eq(WaitlistStatus::Waiting))
                .filter(w::to_date.ge(today));
        }
        Some(status) => query = query.filter(w::status.eq(status)),
        None => {}
    }
    if let Some((at, id)) = &filter.after {
        query = query.filter(
            w::created_at
                .gt(*at)
                .or(w::created_at.eq(*at).and(w::id.gt(id.clone()))),
        );
    }
    query
        .order((w::created_at.asc(), w::id.asc()))
        .limit(limit)
        .load(conn)
}

/// Records that `entry_id` let the time at (`therapist_id`, `start_at`) go.
pub fn record_passed(
    conn: &mut DbConn,
    entry_id: &str,
    therapist_id: &str,
    start_at: NaiveDateTime,
) -> QueryResult<()> {
    let seen = waitlist_passed::table
        .find((entry_id.to_owned(), therapist_id.to_owned(), start_at))
        .count()
        .get_result::<i64>(conn)?;
    if seen == 0 {
        diesel::insert_into(waitlist_passed::table)
            .values((
                waitlist_passed::entry_id.eq(entry_id.to_owned()),
                waitlist_passed::therapist_id.eq(therapist_id.to_owned()),
                waitlist_passed::start_at.eq(start_at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The starts of `therapist_id` that `entry_id` let go.
pub fn passed(
    conn: &mut DbConn,
    entry_id: &str,
    therapist_id: &str,
) -> QueryResult<Vec<NaiveDateTime>> {
    waitlist_passed::table
        .filter(waitlist_passed::entry_id.eq(entry_id.to_owned()))
        .filter(waitlist_passed::therapist_id.eq(therapist_id.to_owned()))
        .select(waitlist_passed::start_at)
        .load(conn)
}
