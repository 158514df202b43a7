//! Closures of locations: spans (UTC) during which a location offers nothing.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::location_closures;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = location_closures, treat_none_as_default_value = false)]
pub struct Closure {
    pub id: String,
    pub location_id: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub reason: String,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, closure: &Closure) -> QueryResult<()> {
    diesel::insert_into(location_closures::table)
        .values(closure)
        .execute(conn)
        .map(|_| ())
}

/// Closures of these locations that overlap [from, to), by start.
pub fn between(
    conn: &mut DbConn,
    location_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<Closure>> {
    load_where_in!(
        location_closures::table
            .filter(location_closures::starts_at.lt(to))
            .filter(location_closures::ends_at.gt(from))
            .order((
                location_closures::starts_at.asc(),
                location_closures::id.asc()
            )),
        location_closures::location_id,
        location_ids,
        conn
    )
}

/// Whether the location already has a closure of exactly this span.
pub fn exists(
    conn: &mut DbConn,
    location_id: &str,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        location_closures::table
            .filter(location_closures::location_id.eq(location_id.to_owned()))
            .filter(location_closures::starts_at.eq(starts_at))
            .filter(location_closures::ends_at.eq(ends_at)),
    ))
    .get_result(conn)
}

pub fn delete(conn: &mut DbConn, location_id: &str, id: &str) -> QueryResult<usize> {
    diesel::delete(
        location_closures::table
            .filter(location_closures::id.eq(id.to_owned()))
            .filter(location_closures::location_id.eq(location_id.to_owned())),
    )
    .execute(conn)
}
