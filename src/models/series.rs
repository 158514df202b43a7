//! Recurring series: the request that booked one local wall-clock time every few weeks. Its
//! bookings carry its id (`bookings.series_id`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::booking_series;

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = booking_series, treat_none_as_default_value = false)]
pub struct BookingSeries {
    pub id: String,
    pub client_id: String,
    pub therapist_id: String,
    pub massage_type_id: String,
    pub duration_minutes: i32,
    pub every_weeks: i32,
    /// The occurrences asked for, booked or skipped.
    pub count: i32,
    /// Who asked (the client, or staff on their behalf); `None` once that login is deleted.
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, series: &BookingSeries) -> QueryResult<()> {
    diesel::insert_into(booking_series::table)
        .values(series)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<BookingSeries> {
    booking_series::table.find(id).first(conn)
}
