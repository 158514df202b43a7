//! Which bookings a caller may see: clients their own, therapists theirs, admins all.

use super::error::BookingError;
use crate::auth::AuthUser;
use crate::db::DbConn;
use crate::models::booking::{self, Booking, BookingFilter};
use crate::models::therapist;
use crate::models::user::Role;

/// The therapist profile linked to a therapist's login, if any.
pub fn own_therapist_id(
    conn: &mut DbConn,
    caller: &AuthUser,
) -> Result<Option<String>, BookingError> {
    if caller.role != Role::Therapist {
        return Ok(None);
    }
    Ok(therapist::find_by_user(conn, caller.id())?.map(|t| t.id))
}

/// Whose bookings a caller may see: an admin all, a client their own, a therapist those with
/// their profile (none when their login has no profile).
pub enum Viewer {
    All,
    Client(String),
    Therapist(Option<String>),
}

impl Viewer {
    pub fn of(conn: &mut DbConn, caller: &AuthUser) -> Result<Self, BookingError> {
        Ok(match caller.role {
            Role::Admin => Self::All,
            Role::Client => Self::Client(caller.id().to_owned()),
            Role::Therapist => Self::Therapist(own_therapist_id(conn, caller)?),
        })
    }

    /// Whether a booking (or a series) of this client with this therapist is visible.
    pub fn sees(&self, client_id: &str, therapist_id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Client(own) => own == client_id,
            Self::Therapist(own) => own.as_deref() == Some(therapist_id),
        }
    }
}

/// Loads a booking the caller may see; anything else is `NotFound`, exactly like a missing
/// booking, so ids of other clients' bookings reveal nothing.
pub fn visible_booking(
    conn: &mut DbConn,
    caller: &AuthUser,
    id: &str,
) -> Result<Booking, BookingError> {
    let found = match booking::find(conn, id) {
        Err(diesel::result::Error::NotFound) => return Err(BookingError::NotFound),
        other => other?,
    };
    if Viewer::of(conn, caller)?.sees(&found.client_id, &found.therapist_id) {
        Ok(found)
    } else {
        Err(BookingError::NotFound)
    }
}

/// Narrows a list filter to what the caller may see; `None` when the filter asks for someone
/// else's bookings (or a therapist login has no profile), which lists nothing rather than
/// failing.
pub fn visible_filter(
    conn: &mut DbConn,
    caller: &AuthUser,
    mut filter: BookingFilter,
) -> Result<Option<BookingFilter>, BookingError> {
    match caller.role {
        Role::Admin => {}
        Role::Client => {
            if filter
                .client_id
                .as_deref()
                .is_some_and(|c| c != caller.id())
            {
                return Ok(None);
            }
            filter.client_id = Some(caller.id().to_owned());
        }
        Role::Therapist => {
            let Some(own) = own_therapist_id(conn, caller)? else {
                return Ok(None);
            };
            if filter.therapist_id.as_deref().is_some_and(|t| t != own) {
                return Ok(None);
            }
            filter.therapist_id = Some(own);
        }
    }
    Ok(Some(filter))
}
