//! Holds: a client's short claim on a therapist (and room) at a start, while they finish
//! booking. The rules are in `crate::booking::holds`; this is the table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::holds;
use crate::models::vocabulary::{HoldPurpose, HoldStatus};

/// `status = 'active'` as a literal: the partial indexes on active holds (`WHERE status =
/// 'active'`) serve only a query whose own text says so; with the status as a bound parameter
/// SQLite scans the whole table (every hold ever made) and PostgreSQL's generic plans do too.
/// A type of its own rather than `dsl::sql`, whose raw text makes diesel prepare the whole
/// statement again on every use.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
pub struct Active;

impl diesel::Expression for Active {
    type SqlType = diesel::sql_types::Bool;
}

impl diesel::AppearsOnTable<holds::table> for Active {}

impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for Active {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql("holds.status = 'active'");
        Ok(())
    }
}

fn active() -> Active {
    Active
}

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = holds, treat_none_as_default_value = false)]
pub struct Hold {
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
    pub purpose: HoldPurpose,
    pub status: HoldStatus,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub booking_id: Option<String>,
}

impl Hold {
    /// Whether the hold still keeps its time at `now`: active and not yet expired.
    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.status == HoldStatus::Active && self.expires_at > now
    }

    /// Its status as of `now`: an active hold past its expiry is expired, written or not.
    pub fn status_at(&self, now: NaiveDateTime) -> HoldStatus {
        match self.status {
            HoldStatus::Active if self.expires_at <= now => HoldStatus::Expired,
            status => status,
        }
    }
}

pub fn insert(conn: &mut DbConn, hold: &Hold) -> QueryResult<()> {
    diesel::insert_into(holds::table)
        .values(hold)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Hold> {
    holds::table.find(id).first(conn)
}

/// The client's own active hold (of purpose `client`), expired or not; at most one exists.
pub fn active_of_client(conn: &mut DbConn, client_id: &str) -> QueryResult<Option<Hold>> {
    holds::table
        .filter(holds::client_id.eq(client_id.to_owned()))
        .filter(holds::purpose.eq(HoldPurpose::Client))
        .filter(holds::status.eq(HoldStatus::Active))
        .first(conn)
        .optional()
}

/// Clients' own holds still written `active` whose expiry has come by `at` (oldest first, at
/// most `limit`): the waitlist pass writes them `expired` and offers their time on.
pub fn run_out(conn: &mut DbConn, at: NaiveDateTime, limit: i64) -> QueryResult<Vec<Hold>> {
    holds::table
        .filter(active())
        .filter(holds::purpose.eq(HoldPurpose::Client))
        .filter(holds::expires_at.le(at))
        .order(holds::expires_at.asc())
        .limit(limit)
        .load(conn)
}

/// Ends an active hold as `status` at `at`; returns whether it did (false: it had already
/// ended), so two requests ending one hold cannot both count it.
pub fn end(
    conn: &mut DbConn,
    id: &str,
    status: HoldStatus,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(holds::table.find(id).filter(active()))
        .set((holds::status.eq(status), holds::ended_at.eq(Some(at))))
        .execute(conn)
        .map(|n| n == 1)
}

/// Consumes a hold that is live at `now`; returns whether it did.
pub fn consume(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        holds::table
            .find(id)
            .filter(active())
            .filter(holds::expires_at.gt(now)),
    )
    .set((
        holds::status.eq(HoldStatus::Consumed),
        holds::ended_at.eq(Some(now)),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Records the booking a consumed hold became.
pub fn link_booking(conn: &mut DbConn, id: &str, booking_id: &str) -> QueryResult<()> {
    diesel::update(holds::table.find(id))
        .set(holds::booking_id.eq(Some(booking_id.to_owned())))
        .execute(conn)
        .map(|_| ())
}
