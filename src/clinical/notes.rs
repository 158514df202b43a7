//! Treatment notes (SOAP: subjective, objective, assessment, plan), one per booking: written by
//! the booking's therapist once the booking has started, read by the readers of the client's
//! records (`super::check_reader`). The four texts are sealed together.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::crypto::{HealthKey, Kind};
use crate::auth::AuthUser;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::booking::{self, Booking};
use crate::models::new_id;
use crate::models::treatment_note::{self, NoteRow};
use crate::models::user::Role;
use crate::models::vocabulary::BookingStatus;

/// The sealed text of a note.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Soap {
    pub subjective: String,
    pub objective: String,
    pub assessment: String,
    pub plan: String,
}

/// A note, opened.
#[derive(Debug, Clone)]
pub struct Note {
    pub booking_id: String,
    pub client_id: String,
    pub therapist_id: String,
    pub author_id: String,
    pub soap: Soap,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

fn booking_or_404(conn: &mut DbConn, id: &str) -> Result<Booking, ApiError> {
    match booking::find(conn, id) {
        Err(diesel::result::Error::NotFound) => Err(ApiError::NotFound),
        other => Ok(other?),
    }
}

/// Writes (or rewrites) the note of a booking, inside the caller's transaction. Only the
/// therapist whose login is linked to the booking's therapist may, and only once the booking
/// has started (409 `not-started`) and unless it was cancelled or a no-show (409
/// `not-treated`). A client or an admin who can see the booking is refused (403); anyone else
/// is told it does not exist (404).
pub fn write(
    conn: &mut DbConn,
    key: &HealthKey,
    caller: &AuthUser,
    booking_id: &str,
    soap: Soap,
    at: NaiveDateTime,
) -> Result<Note, ApiError> {
    let found = booking_or_404(conn, booking_id)?;
    match caller.role {
        Role::Therapist => {
            let own = crate::models::therapist::find_by_user(conn, caller.id())?;
            if own.is_none_or(|t| t.id != found.therapist_id) {
                return Err(ApiError::NotFound);
            }
        }
        Role::Admin => return Err(ApiError::Forbidden),
        Role::Client if found.client_id == caller.id() => return Err(ApiError::Forbidden),
        Role::Client => return Err(ApiError::NotFound),
    }
    if matches!(
        found.status,
        BookingStatus::Cancelled | BookingStatus::NoShow
    ) {
        return Err(ApiError::conflict(
            "not-treated",
            "The booking was cancelled or a no-show: there is no treatment to note.",
        ));
    }
    if found.start_at > at {
        return Err(ApiError::conflict(
            "not-started",
            "Treatment notes can be written once the booking has started.",
        ));
    }
    let plaintext = serde_json::to_vec(&soap).map_err(ApiError::internal)?;
    let row = match treatment_note::for_booking(conn, booking_id)? {
        Some(existing) => {
            let sealed = key
                .seal(Kind::TreatmentNote, &existing.id, &plaintext)
                .map_err(ApiError::internal)?;
            treatment_note::rewrite(
                conn,
                &existing.id,
                caller.id(),
                at,
                &sealed.key_id,
                &sealed.nonce,
                &sealed.ciphertext,
            )?;
            NoteRow {
                author_id: caller.id().to_owned(),
                updated_at: at,
                key_id: sealed.key_id,
                nonce: sealed.nonce,
                ciphertext: sealed.ciphertext,
                ..existing
            }
        }
        None => {
            let id = new_id();
            let sealed = key
                .seal(Kind::TreatmentNote, &id, &plaintext)
                .map_err(ApiError::internal)?;
            let row = NoteRow {
                id,
                booking_id: found.id,
                client_id: found.client_id,
                therapist_id: found.therapist_id,
                author_id: caller.id().to_owned(),
                created_at: at,
                updated_at: at,
                key_id: sealed.key_id,
                nonce: sealed.nonce,
                ciphertext: sealed.ciphertext,
            };
            treatment_note::insert(conn, &row)?;
            row
        }
    };
    open(key, row)
}

/// The note of a booking, for a reader of its client's records; 404 when there is none yet or
/// the caller may not read it.
pub fn read(
    conn: &mut DbConn,
    key: &HealthKey,
    caller: &AuthUser,
    booking_id: &str,
) -> Result<Note, ApiError> {
    let found = booking_or_404(conn, booking_id)?;
    super::check_reader(conn, caller, &found.client_id)?;
    let row = treatment_note::for_booking(conn, booking_id)?.ok_or(ApiError::NotFound)?;
    open(key, row)
}

/// Every note about a client (the export).
pub fn about_client(
    conn: &mut DbConn,
    key: &HealthKey,
    client_id: &str,
) -> Result<Vec<Note>, ApiError> {
    treatment_note::for_client(conn, client_id)?
        .into_iter()
        .map(|row| open(key, row))
        .collect()
}

/// Opens a stored note; a record the key does not open is a 500 (logged), never garbage.
pub fn open(key: &HealthKey, row: NoteRow) -> Result<Note, ApiError> {
    let plaintext = key
        .open(Kind::TreatmentNote, &row.id, &super::note_sealed(&row))
        .map_err(ApiError::internal)?;
    let soap: Soap = serde_json::from_slice(&plaintext).map_err(|e| {
        ApiError::internal(format!("treatment note {} does not parse: {e}", row.id))
    })?;
    Ok(Note {
        booking_id: row.booking_id,
        client_id: row.client_id,
        therapist_id: row.therapist_id,
        author_id: row.author_id,
        soap,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
