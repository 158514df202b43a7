//! One file per table (or a table and its small children): row structs and query functions
//! returning `QueryResult`. Conversion to `ApiError` happens in `api`.

pub mod booking;
pub mod catalog;
pub mod schedule;
pub mod therapist;
pub mod token;
pub mod user;
pub mod webhook;

use chrono::{NaiveDateTime, SubsecRound, Utc};

/// Current UTC time at microsecond precision, which both backends store exactly.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// Time-ordered ids (UUIDv7): their text form sorts by creation, so keyset pagination on `id`
/// lists objects oldest first without a second sort column.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
