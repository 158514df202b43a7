use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{
    schedule_override_rules, schedule_overrides, schedule_rules, therapist_massage_types,
    therapists,
};

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = therapists, treat_none_as_default_value = false)]
pub struct Therapist {
    pub id: String,
    pub name: String,
    pub bio: String,
    pub active: bool,
    pub user_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = therapists)]
pub struct TherapistChanges {
    pub name: Option<String>,
    pub bio: Option<String>,
    pub active: Option<bool>,
    pub user_id: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Default)]
pub struct TherapistFilter {
    pub massage_type_id: Option<String>,
    /// Therapists with weekly rules at this location…
    pub location_id: Option<String>,
    /// …or, when set, with date-override rules there on one of these dates (inclusive).
    pub override_dates: Option<(NaiveDate, NaiveDate)>,
    pub active_only: bool,
}

pub fn insert(conn: &mut DbConn, therapist: &Therapist) -> QueryResult<()> {
    diesel::insert_into(therapists::table)
        .values(therapist)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Therapist> {
    therapists::table.find(id).first(conn)
}

pub fn find_by_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<Therapist>> {
    therapists::table
        .filter(therapists::user_id.eq(user_id.to_owned()))
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConn,
    filter: &TherapistFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Therapist>> {
    let mut query = therapists::table.into_boxed();
    if let Some(after) = after {
        query = query.filter(therapists::id.gt(after.to_owned()));
    }
    if filter.active_only {
        query = query.filter(therapists::active.eq(true));
    }
    if let Some(type_id) = &filter.massage_type_id {
        query = query.filter(
            therapists::id.eq_any(
                therapist_massage_types::table
                    .filter(therapist_massage_types::massage_type_id.eq(type_id.clone()))
                    .select(therapist_massage_types::therapist_id),
            ),
        );
    }
    if let Some(location_id) = &filter.location_id {
        let weekly = therapists::id.eq_any(
            schedule_rules::table
                .filter(schedule_rules::location_id.eq(location_id.clone()))
                .select(schedule_rules::therapist_id),
        );
        query = match filter.override_dates {
            None => query.filter(weekly),
            Some((from, to)) => query.filter(
                weekly.or(therapists::id.eq_any(
                    schedule_override_rules::table
                        .inner_join(schedule_overrides::table)
                        .filter(schedule_override_rules::location_id.eq(location_id.clone()))
                        .filter(schedule_overrides::date.between(from, to))
                        .select(schedule_overrides::therapist_id),
                )),
            ),
        };
    }
    query.order(therapists::id.asc()).limit(limit).load(conn)
}

pub fn update(conn: &mut DbConn, id: &str, changes: &TherapistChanges) -> QueryResult<usize> {
    diesel::update(therapists::table.find(id))
        .set(changes)
        .execute(conn)
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(therapists::table.find(id)).execute(conn)
}

pub fn massage_type_ids(
    conn: &mut DbConn,
    therapist_ids: &[String],
) -> QueryResult<Vec<(String, String)>> {
    load_where_in!(
        therapist_massage_types::table
            .select((
                therapist_massage_types::therapist_id,
                therapist_massage_types::massage_type_id,
            ))
            .order((
                therapist_massage_types::therapist_id.asc(),
                therapist_massage_types::massage_type_id.asc(),
            )),
        therapist_massage_types::therapist_id,
        therapist_ids,
        conn
    )
}

pub fn set_massage_types(
    conn: &mut DbConn,
    therapist_id: &str,
    type_ids: &[String],
) -> QueryResult<()> {
    diesel::delete(
        therapist_massage_types::table
            .filter(therapist_massage_types::therapist_id.eq(therapist_id.to_owned())),
    )
    .execute(conn)?;
    for type_id in type_ids {
        diesel::insert_into(therapist_massage_types::table)
            .values((
                therapist_massage_types::therapist_id.eq(therapist_id),
                therapist_massage_types::massage_type_id.eq(type_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    therapists::table.count().get_result(conn)
}
