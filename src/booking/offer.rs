//! Whether a therapist, massage type and duration can be booked together.

use super::error::BookingError;
use crate::availability::snapshot;
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
        Ok(t) => Some(t),
        Err(diesel::result::Error::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let options = match &massage_type {
        Some(t) => catalog::options_for(conn, std::slice::from_ref(&t.id))?,
        None => Vec::new(),
    };
    option_of(massage_type, &options, duration_minutes)
}

/// The type's option of this duration, if the type exists and is active.
fn option_of(
    massage_type: Option<MassageType>,
    options: &[MassageOption],
    duration_minutes: u32,
) -> Result<(MassageType, MassageOption), BookingError> {
    let massage_type = massage_type
        .filter(|t| t.active)
        .ok_or(BookingError::NoActiveMassageType)?;
    let option = options
        .iter()
        .find(|o| i64::from(o.duration_minutes) == i64::from(duration_minutes))
        .cloned()
        .ok_or(BookingError::DurationNotOffered)?;
    Ok((massage_type, option))
}

/// What [`bookable`] judges: read from the write's snapshot when it is current, else from the
/// database.
struct Facts {
    therapist_active: bool,
    /// The type's option of the duration, or why there is none.
    offered: Result<(MassageType, MassageOption), BookingError>,
    /// Whether the (active) therapist offers the type.
    offers: bool,
}

fn facts(
    conn: &mut DbConn,
    therapist_id: &str,
    massage_type_id: &str,
    duration_minutes: u32,
) -> Result<Facts, BookingError> {
    if let Some(view) = snapshot::settled(conn, &[therapist_id.to_owned()])? {
        let (therapist_active, offers) = view.therapist_offers(therapist_id, massage_type_id)?;
        let (massage_type, options) = match view.massage_type(massage_type_id)? {
            Some((t, options)) => (Some(t.clone()), options),
            None => (None, &[][..]),
        };
        return Ok(Facts {
            therapist_active,
            offered: option_of(massage_type, options, duration_minutes),
            offers,
        });
    }
    let therapist_active = match therapist::find(conn, therapist_id) {
        Ok(t) => t.active,
        Err(diesel::result::Error::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    if !therapist_active {
        return Ok(Facts {
            therapist_active,
            offered: Err(BookingError::NoActiveTherapist),
            offers: false,
        });
    }
    let offered = match offered_option(conn, massage_type_id, duration_minutes) {
        Err(e @ (BookingError::NoActiveMassageType | BookingError::DurationNotOffered)) => Err(e),
        other => Ok(other?),
    };
    let offers = therapist::massage_type_ids(conn, &[therapist_id.to_owned()])?
        .iter()
        .any(|(_, t)| t == massage_type_id);
    Ok(Facts {
        therapist_active,
        offered,
        offers,
    })
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
    let facts = facts(conn, therapist_id, massage_type_id, duration_minutes)?;
    if !facts.therapist_active {
        return Err(if therapist_named {
            BookingError::NoActiveTherapist
        } else {
            retired()
        });
    }
    let (massage_type, option) = match facts.offered {
        Err(BookingError::NoActiveMassageType | BookingError::DurationNotOffered)
            if asked != Asked::Booking =>
        {
            return Err(retired());
        }
        other => other?,
    };
    let offers = facts.offers;
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
