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
//! before rooms, and nobody holds two therapists except in id order, so no cycle can form: a
//! reschedule to another therapist, and a client's new hold replacing one with another
//! therapist, take both (the time left behind may be offered to the waitlist, which claims
//! the old therapist's) before either.
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
        diesel::sql_query("SELECT inspine_lock_claims($1, NULL)")
            .bind::<Text, _>(therapist_id)
            .execute(pg)?;
    }
    Ok(())
}

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
