//! Weekly schedule rules and time off of therapists.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{schedule_rules, time_off};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = schedule_rules, treat_none_as_default_value = false)]
pub struct ScheduleRule {
    pub id: String,
    pub therapist_id: String,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: i32,
    /// Minutes after local midnight.
    pub start_minute: i32,
    pub end_minute: i32,
    pub location_id: String,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = time_off, treat_none_as_default_value = false)]
pub struct TimeOff {
    pub id: String,
    pub therapist_id: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub reason: String,
    pub created_at: NaiveDateTime,
}

pub fn rules_for(conn: &mut DbConn, therapist_ids: &[String]) -> QueryResult<Vec<ScheduleRule>> {
    load_where_in!(
        schedule_rules::table.order((
            schedule_rules::therapist_id.asc(),
            schedule_rules::weekday.asc(),
            schedule_rules::start_minute.asc(),
        )),
        schedule_rules::therapist_id,
        therapist_ids,
        conn
    )
}

pub fn replace_rules(
    conn: &mut DbConn,
    therapist_id: &str,
    rules: &[ScheduleRule],
) -> QueryResult<()> {
    diesel::delete(
        schedule_rules::table.filter(schedule_rules::therapist_id.eq(therapist_id.to_owned())),
    )
    .execute(conn)?;
    for rule in rules {
        diesel::insert_into(schedule_rules::table)
            .values(rule)
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert_time_off(conn: &mut DbConn, entry: &TimeOff) -> QueryResult<()> {
    diesel::insert_into(time_off::table)
        .values(entry)
        .execute(conn)
        .map(|_| ())
}

/// Time off of the given therapists that overlaps [from, to).
pub fn time_off_between(
    conn: &mut DbConn,
    therapist_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<TimeOff>> {
    load_where_in!(
        time_off::table
            .filter(time_off::starts_at.lt(to))
            .filter(time_off::ends_at.gt(from))
            .order(time_off::starts_at.asc()),
        time_off::therapist_id,
        therapist_ids,
        conn
    )
}

pub fn list_time_off(
    conn: &mut DbConn,
    therapist_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<TimeOff>> {
    let mut query = time_off::table
        .filter(time_off::therapist_id.eq(therapist_id.to_owned()))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(time_off::id.gt(after.to_owned()));
    }
    query.order(time_off::id.asc()).limit(limit).load(conn)
}

pub fn find_time_off(
    conn: &mut DbConn,
    therapist_id: &str,
    id: &str,
) -> QueryResult<Option<TimeOff>> {
    time_off::table
        .filter(time_off::id.eq(id.to_owned()))
        .filter(time_off::therapist_id.eq(therapist_id.to_owned()))
        .first(conn)
        .optional()
}

pub fn delete_time_off(conn: &mut DbConn, therapist_id: &str, id: &str) -> QueryResult<usize> {
    diesel::delete(
        time_off::table
            .filter(time_off::id.eq(id.to_owned()))
            .filter(time_off::therapist_id.eq(therapist_id.to_owned())),
    )
    .execute(conn)
}
