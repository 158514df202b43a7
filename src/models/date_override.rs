//! Date overrides of therapists' weekly rules, with their rules (none for a day off).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{schedule_override_rules, schedule_overrides};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = schedule_overrides, treat_none_as_default_value = false)]
pub struct DateOverride {
    pub id: String,
    pub therapist_id: String,
    /// A local date: each rule is read on it in its location's zone.
    pub date: NaiveDate,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = schedule_override_rules, treat_none_as_default_value = false)]
pub struct OverrideRule {
    pub id: String,
    pub override_id: String,
    /// Minutes after local midnight.
    pub start_minute: i32,
    pub end_minute: i32,
    pub location_id: String,
}

/// An override with its rules, sorted by start.
#[derive(Debug, Clone)]
pub struct WithRules {
    pub date_override: DateOverride,
    pub rules: Vec<OverrideRule>,
}

/// The overrides of these therapists on dates `from..=to`, by therapist then date: two range
/// queries (the overrides, then the rules of the same overrides), whatever their number.
pub fn between(
    conn: &mut DbConn,
    therapist_ids: &[String],
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<WithRules>> {
    let overrides: Vec<DateOverride> = load_where_in!(
        schedule_overrides::table
            .filter(schedule_overrides::date.between(from, to))
            .order((
                schedule_overrides::therapist_id.asc(),
                schedule_overrides::date.asc(),
            )),
        schedule_overrides::therapist_id,
        therapist_ids,
        conn
    )?;
    if overrides.is_empty() {
        return Ok(Vec::new());
    }
    let rules: Vec<OverrideRule> = load_where_in!(
        schedule_override_rules::table
            .inner_join(schedule_overrides::table)
            .filter(schedule_overrides::date.between(from, to))
            .select(schedule_override_rules::all_columns)
            .order(schedule_override_rules::start_minute.asc()),
        schedule_overrides::therapist_id,
        therapist_ids,
        conn
    )?;
    let mut by_override: HashMap<String, Vec<OverrideRule>> = HashMap::new();
    for rule in rules {
        by_override
            .entry(rule.override_id.clone())
            .or_default()
            .push(rule);
    }
    Ok(overrides
        .into_iter()
        .map(|date_override| WithRules {
            rules: by_override.remove(&date_override.id).unwrap_or_default(),
            date_override,
        })
        .collect())
}

/// Replaces the therapist's override of `date` (if any) with `new` and its rules.
pub fn replace(conn: &mut DbConn, new: &DateOverride, rules: &[OverrideRule]) -> QueryResult<()> {
    delete(conn, &new.therapist_id, new.date)?;
    diesel::insert_into(schedule_overrides::table)
        .values(new)
        .execute(conn)?;
    for rule in rules {
        diesel::insert_into(schedule_override_rules::table)
            .values(rule)
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes the therapist's override of `date` and its rules; how many overrides went (0 or 1).
pub fn delete(conn: &mut DbConn, therapist_id: &str, date: NaiveDate) -> QueryResult<usize> {
    let of_date = schedule_overrides::table
        .filter(schedule_overrides::therapist_id.eq(therapist_id.to_owned()))
        .filter(schedule_overrides::date.eq(date));
    // Explicitly rather than by ON DELETE CASCADE, so the rules go on every backend and pragma.
    diesel::delete(schedule_override_rules::table.filter(
        schedule_override_rules::override_id.eq_any(of_date.clone().select(schedule_overrides::id)),
    ))
    .execute(conn)?;
    diesel::delete(of_date).execute(conn)
}
