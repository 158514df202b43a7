//! Whether a therapist, massage type and duration can be booked together.

use super::error::BookingError;
use crate::db::DbConn;
use crate::models::catalog::{self, MassageOption, MassageType};
use crate::models::therapist;

/// An active massage type and its option of this duration.
pub fn offered_option(
    conn: &mut DbConn,
    massage_type_id: &str,
    duration_minutes: u32,
) -> Result<(MassageType, MassageOption), BookingError> {
    let massage_type = match catalog::find_massage_type(conn, massage_type_id) {
        Ok(t) if t.active => t,
        Ok(_) | Err(diesel::result::Error::NotFound) => {
            return Err(BookingError::NoActiveMassageType);
        }
        Err(e) => return Err(e.into()),
    };
    let option = catalog::options_for(conn, std::slice::from_ref(&massage_type.id))?
        .into_iter()
        .find(|o| i64::from(o.duration_minutes) == i64::from(duration_minutes))
        .ok_or(BookingError::DurationNotOffered)?;
    Ok((massage_type, option))
}

/// Who named the therapist, type and duration being checked by [`bookable`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// A new booking: the request named all three.
    Booking,
    /// A reschedule: the type and duration are the booking's own; the request may name a new
    /// therapist (`true`) or keep the booking's (`false`).
    Reschedule { therapist_named: bool },
    /// The booking of a hold: the hold named all three, the request none.
    Held,
}

/// Checks the therapist, type and duration of a booking. What the caller named and can never
/// book is 422 on that field. What the booking already had and is no longer offered (a
/// reschedule of a booking whose type was retired) is 409: the state forbids the move.
pub fn bookable(
    conn: &mut DbConn,
    therapist_id: &str,
    massage_type_id: &str,
    duration_minutes: u32,
    asked: Asked,
) -> Result<(MassageType, MassageOption), BookingError> {
    let retired = || BookingError::NoLongerOffered;
    let therapist_named = !matches!(
        asked,
        Asked::Held
            | Asked::Reschedule {
                therapist_named: false
            }
    );
    let therapist = match therapist::find(conn, therapist_id) {
        Ok(t) if t.active => t,
        Ok(_) | Err(diesel::result::Error::NotFound) if !therapist_named => return Err(retired()),
        Ok(_) | Err(diesel::result::Error::NotFound) => {
            return Err(BookingError::NoActiveTherapist);
        }
        Err(e) => return Err(e.into()),
    };
    let (massage_type, option) = match offered_option(conn, massage_type_id, duration_minutes) {
        Err(BookingError::NoActiveMassageType | BookingError::DurationNotOffered)
            if asked != Asked::Booking =>
        {
            return Err(retired());
        }
        other => other?,
    };
    let offers = therapist::massage_type_ids(conn, std::slice::from_ref(&therapist.id))?
        .iter()
        .any(|(_, t)| *t == massage_type.id);
    if !offers {
        return Err(match asked {
            Asked::Booking => BookingError::TypeNotOfferedByTherapist,
            Asked::Reschedule {
                therapist_named: true,
            } => BookingError::TherapistCannotTake,
            Asked::Reschedule {
                therapist_named: false,
            }
            | Asked::Held => retired(),
        });
    }
    Ok((massage_type, option))
}
