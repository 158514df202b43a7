//! The order in which PostgreSQL writers of one therapist's time take turns.
//!
//! A claim (a booking, a reschedule, a hold) checks the therapist's hours, time off, closures and
//! other claims and then writes; time off, a date override, a weekly schedule and a closure
//! check the confirmed bookings they would strand and then write. Each side reads what the
//! other has committed, so if both run at once neither sees the other and both commit. On
//! PostgreSQL every one of these writes therefore first takes the transaction-scoped advisory
//! lock of each therapist whose time it judges, the same lock the claim triggers take
//! (`inspine_lock_claims`, migration `2026-12-02-000005_holds`), before it reads anything it
//! judges by. The second writer waits until the first commits and then, READ COMMITTED giving
//! each statement a fresh snapshot, sees its row: one of the two is refused.
//!
//! Deadlocks: a claim locks one therapist and then (in the trigger) its room; a closure locks
//! the location's therapists in id order and no room. Every lock holder takes therapists
//! before rooms, and nobody holds two therapists, or two rooms, except in id order, so no
//! cycle can form. Writes that may claim twice take everything first
//! ([`therapists_and_their_rooms`]): a reschedule (its new time, then the old one offered to
//! the waitlist, perhaps another therapist's, perhaps another room), a client's new hold
//! replacing one (the same), a series (a room for each week, whichever is free), and the
//! cancellation of a series (an offer for each week). A single cancellation takes its
//! therapist before it changes the booking's row, as a reschedule of that booking does, so
//! the two do not each hold what the other waits for. Not covered: a room created while
//! such a write runs is locked when that write claims it, outside the order.
//!
//! On SQLite these are no-ops: every such write runs in `write_transaction`, which holds the
//! database's single write lock from its first statement.

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::DbConn;

/// Waits for (and then holds, until the transaction ends) the therapist's claim lock.
pub fn therapist(conn: &mut DbConn, therapist_id: &str) -> QueryResult<()> {
    if let DbConn::Postgresql(pg) = conn {
        LockClaims { therapist_id }.execute(pg)?;
    }
    Ok(())
}

/// `SELECT inspine_lock_claims($1, NULL)` as a type of its own, so that diesel keeps it
/// prepared (an `sql_query` is parsed and planned again on every booking).
struct LockClaims<'a> {
    therapist_id: &'a str,
}

impl diesel::query_builder::QueryId for LockClaims<'_> {
    type QueryId = LockClaims<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for LockClaims<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("SELECT inspine_lock_claims(");
        out.push_bind_param::<Text, _>(&self.therapist_id)?;
        out.push_sql(", NULL)");
        Ok(())
    }
}

impl diesel::RunQueryDsl<diesel::PgConnection> for LockClaims<'_> {}

/// The claim locks of several therapists, in id order (each once): for a write that claims one
/// therapist's time and may then offer another's (a reschedule to another therapist hands the
/// time it leaves to the waitlist). Taking them one by one as the work reaches them would let
/// two opposite reschedules each hold one and wait for the other.
pub fn therapists(conn: &mut DbConn, therapist_ids: &[&str]) -> QueryResult<()> {
    let mut ids = therapist_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        therapist(conn, id)?;
    }
    Ok(())
}

/// The claim locks of a write that may claim time in more than one room: the therapists', in
/// id order, then those of every room at a location where one of them has hours (weekly or
/// date-override rules), in id order. A series books its weeks in whatever rooms are free;
/// a reschedule claims its new room and then may offer the old one to the waitlist. Two such
/// writes taking rooms as their claims reach them could each hold a room the other waits for;
/// taken here, before any claim, every holder of two rooms took them in one order. (A claim
/// can only be placed where its therapist has hours, so these are all the rooms it may take.)
pub fn therapists_and_their_rooms(conn: &mut DbConn, therapist_ids: &[&str]) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        id: String,
    }
    therapists(conn, therapist_ids)?;
    let DbConn::Postgresql(pg) = conn else {
        return Ok(());
    };
    let owned: Vec<String> = therapist_ids.iter().map(|id| (*id).to_owned()).collect();
    let mut rooms: Vec<Row> = diesel::sql_query(
        "SELECT id FROM rooms WHERE location_id IN ( \
             SELECT location_id FROM schedule_rules WHERE therapist_id = ANY($1) \
             UNION \
             SELECT r.location_id FROM schedule_overrides o \
                 JOIN schedule_override_rules r ON r.override_id = o.id \
             WHERE o.therapist_id = ANY($1))",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(owned)
    .load(pg)?;
    rooms.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    for room in rooms {
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock(hashtextextended('inspine.claim.room:' || $1, 0))",
        )
        .bind::<Text, _>(&room.id)
        .execute(pg)?;
    }
    Ok(())
}

/// The claim locks of every therapist whose hours can place a booking at the location (weekly
/// rules or date-override rules there), in id order.
pub fn therapists_at_location(conn: &mut DbConn, location_id: &str) -> QueryResult<()> {
    therapists_with_hours(conn, Some(location_id))
}

/// The claim locks of every therapist with hours anywhere, in id order: for a change that
/// closes every location at once (`inspine holidays`), which must not take one location's
/// therapists and then another's (that order would not be the id order).
pub fn all_therapists(conn: &mut DbConn) -> QueryResult<()> {
    therapists_with_hours(conn, None)
}

fn therapists_with_hours(conn: &mut DbConn, location_id: Option<&str>) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        therapist_id: String,
    }
    let DbConn::Postgresql(pg) = conn else {
        return Ok(());
    };
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT therapist_id FROM schedule_rules WHERE $1::text IS NULL OR location_id = $1 \
         UNION \
         SELECT o.therapist_id FROM schedule_overrides o \
             JOIN schedule_override_rules r ON r.override_id = o.id \
         WHERE $1::text IS NULL OR r.location_id = $1 \
         ORDER BY therapist_id",
    )
    .bind::<diesel::sql_types::Nullable<Text>, _>(location_id)
    .load(pg)?;
    for row in rows {
        therapist(conn, &row.therapist_id)?;
    }
    Ok(())
}
