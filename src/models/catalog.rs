//! Locations, their rooms, and massage types with their duration options.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{locations, massage_type_options, massage_types, rooms};

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = locations, treat_none_as_default_value = false)]
pub struct Location {
    pub id: String,
    pub name: String,
    pub address: String,
    pub timezone: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = locations)]
pub struct LocationChanges {
    pub name: Option<String>,
    pub address: Option<String>,
    pub timezone: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = rooms, treat_none_as_default_value = false)]
pub struct Room {
    pub id: String,
    pub location_id: String,
    pub name: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = rooms)]
pub struct RoomChanges {
    pub name: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = massage_types, treat_none_as_default_value = false)]
pub struct MassageType {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub buffer_minutes: i32,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = massage_types)]
pub struct MassageTypeChanges {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub buffer_minutes: Option<i32>,
    pub active: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Insertable, PartialEq, Eq)]
#[diesel(table_name = massage_type_options, treat_none_as_default_value = false)]
pub struct MassageOption {
    pub massage_type_id: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
}

// ---- locations ----

pub fn insert_location(conn: &mut DbConn, location: &Location) -> QueryResult<()> {
    diesel::insert_into(locations::table)
        .values(location)
        .execute(conn)
        .map(|_| ())
}

pub fn find_location(conn: &mut DbConn, id: &str) -> QueryResult<Location> {
    locations::table.find(id).first(conn)
}

pub fn list_locations(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Location>> {
    let mut query = locations::table.into_boxed();
    if let Some(after) = after {
        query = query.filter(locations::id.gt(after.to_owned()));
    }
    query.order(locations::id.asc()).limit(limit).load(conn)
}

pub fn locations_by_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Location>> {
    load_where_in!(locations::table, locations::id, ids, conn)
}

pub fn update_location(
    conn: &mut DbConn,
    id: &str,
    changes: &LocationChanges,
) -> QueryResult<usize> {
    diesel::update(locations::table.find(id))
        .set(changes)
        .execute(conn)
}

pub fn delete_location(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(locations::table.find(id)).execute(conn)
}

pub fn count_locations(conn: &mut DbConn) -> QueryResult<i64> {
    locations::table.count().get_result(conn)
}

// ---- rooms ----

pub fn insert_room(conn: &mut DbConn, room: &Room) -> QueryResult<()> {
    diesel::insert_into(rooms::table)
        .values(room)
        .execute(conn)
        .map(|_| ())
}

pub fn find_room(conn: &mut DbConn, id: &str) -> QueryResult<Room> {
    rooms::table.find(id).first(conn)
}

pub fn list_rooms(
    conn: &mut DbConn,
    location_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Room>> {
    let mut query = rooms::table
        .filter(rooms::location_id.eq(location_id.to_owned()))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(rooms::id.gt(after.to_owned()));
    }
    query.order(rooms::id.asc()).limit(limit).load(conn)
}

pub fn active_rooms_at(conn: &mut DbConn, location_ids: &[String]) -> QueryResult<Vec<Room>> {
    load_where_in!(
        rooms::table
            .filter(rooms::active.eq(true))
            .order(rooms::id.asc()),
        rooms::location_id,
        location_ids,
        conn
    )
}

pub fn update_room(conn: &mut DbConn, id: &str, changes: &RoomChanges) -> QueryResult<usize> {
    diesel::update(rooms::table.find(id))
        .set(changes)
        .execute(conn)
}

pub fn delete_room(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(rooms::table.find(id)).execute(conn)
}

// ---- massage types ----

pub fn insert_massage_type(
    conn: &mut DbConn,
    massage_type: &MassageType,
    options: &[MassageOption],
) -> QueryResult<()> {
    diesel::insert_into(massage_types::table)
        .values(massage_type)
        .execute(conn)?;
    replace_options(conn, &massage_type.id, options)
}

pub fn replace_options(
    conn: &mut DbConn,
    massage_type_id: &str,
    options: &[MassageOption],
) -> QueryResult<()> {
    diesel::delete(
        massage_type_options::table
            .filter(massage_type_options::massage_type_id.eq(massage_type_id.to_owned())),
    )
    .execute(conn)?;
    for option in options {
        diesel::insert_into(massage_type_options::table)
            .values(option)
            .execute(conn)?;
    }
    Ok(())
}

pub fn find_massage_type(conn: &mut DbConn, id: &str) -> QueryResult<MassageType> {
    massage_types::table.find(id).first(conn)
}

pub fn list_massage_types(
    conn: &mut DbConn,
    after: Option<&str>,
    active_only: bool,
    limit: i64,
) -> QueryResult<Vec<MassageType>> {
    let mut query = massage_types::table.into_boxed();
    if let Some(after) = after {
        query = query.filter(massage_types::id.gt(after.to_owned()));
    }
    if active_only {
        query = query.filter(massage_types::active.eq(true));
    }
    query.order(massage_types::id.asc()).limit(limit).load(conn)
}

pub fn options_for(conn: &mut DbConn, type_ids: &[String]) -> QueryResult<Vec<MassageOption>> {
    load_where_in!(
        massage_type_options::table.order((
            massage_type_options::massage_type_id.asc(),
            massage_type_options::duration_minutes.asc(),
        )),
        massage_type_options::massage_type_id,
        type_ids,
        conn
    )
}

pub fn update_massage_type(
    conn: &mut DbConn,
    id: &str,
    changes: &MassageTypeChanges,
) -> QueryResult<usize> {
    diesel::update(massage_types::table.find(id))
        .set(changes)
        .execute(conn)
}

pub fn delete_massage_type(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(massage_types::table.find(id)).execute(conn)
}

pub fn count_massage_types(conn: &mut DbConn) -> QueryResult<i64> {
    massage_types::table.count().get_result(conn)
}

pub fn existing_massage_type_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<String>> {
    load_where_in!(
        massage_types::table.select(massage_types::id),
        massage_types::id,
        ids,
        conn
    )
}
