//! Exceptions to the weekly hours, and the rule that they never strand a booking:
//!
//! - `overrides`: a therapist's hours on one date, replacing that date's weekly rules;
//! - `closures`: spans during which a location offers nothing, and the statutory-holiday
//!   closures of `inspine holidays`.
//!
//! The slot engine reads both (`crate::availability` loads them), so `/slots` and the booking
//! check agree. No HTTP here: the handlers in `api::overrides` and `api::closures` parse,
//! authorize, call in here and map. Every change expects to run inside `write_transaction`: on
//! SQLite the write lock is held from the look at confirmed bookings to the write.

pub mod closures;
pub mod overrides;

use crate::db::DbConn;
use crate::error::{ApiError, FieldError};
use crate::models::booking::Booking;
use crate::models::catalog;
use crate::validation::check;

/// A change that would strand confirmed bookings is refused: 409 of `kind`, each booking listed
/// under `bookings` as "<id> starts <instant>". Time off, closures and date overrides answer
/// alike, so a front desk can show the list and move those bookings first.
pub fn refuse_stranded(
    kind: &'static str,
    detail: impl FnOnce(usize) -> String,
    stranded: &[Booking],
) -> Result<(), ApiError> {
    if stranded.is_empty() {
        return Ok(());
    }
    Err(ApiError::Conflict {
        kind,
        detail: detail(stranded.len()),
        errors: stranded
            .iter()
            .map(|b| {
                FieldError::new(
                    "bookings",
                    format!("{} starts {}", b.id, b.start_at.and_utc().to_rfc3339()),
                )
            })
            .collect(),
    })
}

/// Rules (the weekly schedule's or a date override's) name existing locations: 422 on
/// `rules[i].location_id` for each one that does not.
pub fn check_rule_locations(conn: &mut DbConn, location_ids: &[String]) -> Result<(), ApiError> {
    let mut distinct = location_ids.to_vec();
    distinct.sort();
    distinct.dedup();
    let known = catalog::locations_by_ids(conn, &distinct)?;
    check(
        location_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| !known.iter().any(|l| &l.id == *id))
            .map(|(i, _)| {
                FieldError::new(
                    format!("rules[{i}].location_id"),
                    "names an unknown location",
                )
            })
            .collect(),
    )
}
