//! One file per table (or a table and its small children): row structs and query functions
//! returning `QueryResult`. Conversion to `ApiError` happens in `api`.

/// Loads `$query` filtered to rows whose `$column` is one of `$ids`: `column = ?` when there is
/// one id (the common case: one therapist, one massage type), `column IN (?, ...)` otherwise.
/// Diesel cannot cache an `IN` list's statement on SQLite (its text changes with the length), so
/// every call re-prepared it; the one-id form is prepared once per connection.
macro_rules! load_where_in {
    ($query:expr, $column:expr, $ids:expr, $conn:expr) => {
        match $ids {
            [one] => $crate::db::per_backend!($conn, |c| $query.filter($column.eq(one)).load(c)),
            many => {
                $crate::db::per_backend!($conn, |c| $query.filter($column.eq_any(many)).load(c))
            }
        }
    };
}

pub mod audit_event;
pub mod booking;
pub mod catalog;
pub mod claims;
pub mod closure;
pub mod date_override;
pub mod hold;
pub mod intake;
pub mod notification;
pub mod password_reset;
pub mod schedule;
pub mod series;
pub mod therapist;
pub mod token;
pub mod treatment_note;
pub mod user;
pub mod vocabulary;
pub mod waitlist;
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
