//! Clinical records: the intake (health-history) form and its versions, treatment notes, who
//! may read them, and their encryption at rest. No HTTP here: `api::clinical` parses, calls in
//! and maps. Every write and every read is audited by the caller through `crate::audit` inside
//! the same transaction.

pub mod crypto;
pub mod intake;
pub mod notes;

use crypto::{HealthKey, Kind, OpenError, Sealed};

use diesel::prelude::*;

use crate::auth::AuthUser;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::intake as intake_rows;
use crate::models::user::Role;
use crate::models::{therapist, treatment_note, user};

/// Who may read a client's intake and treatment notes: the client, an admin, and a therapist
/// who has or had a booking (in any status) with that client. Anyone else is told the client
/// does not exist (404), exactly like an unknown id, so ids reveal nothing.
pub fn check_reader(conn: &mut DbConn, caller: &AuthUser, client_id: &str) -> Result<(), ApiError> {
    let allowed = match caller.role {
        _ if caller.id() == client_id => true,
        Role::Admin => user::find(conn, client_id).optional()?.is_some(),
        Role::Therapist => match therapist::find_by_user(conn, caller.id())? {
            Some(profile) => has_booked(conn, &profile.id, client_id)?,
            None => false,
        },
        Role::Client => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// Whether the therapist has or had any booking with the client.
fn has_booked(conn: &mut DbConn, therapist_id: &str, client_id: &str) -> QueryResult<bool> {
    use crate::db::schema::bookings;
    diesel::select(diesel::dsl::exists(
        bookings::table
            .filter(bookings::therapist_id.eq(therapist_id.to_owned()))
            .filter(bookings::client_id.eq(client_id.to_owned())),
    ))
    .get_result(conn)
}

/// Why the health data cannot be used with the configured key.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error("{0}")]
    Database(#[from] diesel::result::Error),
    #[error("{table} row {id}: {source}")]
    Open {
        table: &'static str,
        id: String,
        source: OpenError,
    },
}

/// At start-up: the key must open an existing record, if there is one (one of each kind), so a
/// wrong key stops the server before it answers anything.
pub fn check_key(conn: &mut DbConn, key: &HealthKey) -> Result<(), KeyCheckError> {
    if let Some(row) = intake_rows::any(conn)? {
        key.open(Kind::Intake, &row.id, &intake_sealed(&row))
            .map_err(|source| KeyCheckError::Open {
                table: "intake_versions",
                id: row.id.clone(),
                source,
            })?;
    }
    if let Some(row) = treatment_note::any(conn)? {
        key.open(Kind::TreatmentNote, &row.id, &note_sealed(&row))
            .map_err(|source| KeyCheckError::Open {
                table: "treatment_notes",
                id: row.id.clone(),
                source,
            })?;
    }
    Ok(())
}

fn intake_sealed(row: &intake_rows::IntakeRow) -> Sealed {
    Sealed {
        key_id: row.key_id.clone(),
        nonce: row.nonce.clone(),
        ciphertext: row.ciphertext.clone(),
    }
}

fn note_sealed(row: &treatment_note::NoteRow) -> Sealed {
    Sealed {
        key_id: row.key_id.clone(),
        nonce: row.nonce.clone(),
        ciphertext: row.ciphertext.clone(),
    }
}

/// How many records a rotation re-sealed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotated {
    pub intake_versions: usize,
    pub treatment_notes: usize,
}

/// Re-seals every intake version and treatment note under `new`, inside the caller's
/// transaction: all or nothing. A record `old` does not open stops the rotation with an error
/// naming it; records already under `new` are left as they are (so a rotation that is run again
/// changes nothing).
pub fn rotate(
    conn: &mut DbConn,
    old: &HealthKey,
    new: &HealthKey,
) -> Result<Rotated, KeyCheckError> {
    let mut rotated = Rotated::default();
    for row in intake_rows::all(conn)? {
        if row.key_id == new.id() {
            continue;
        }
        let open = |source| KeyCheckError::Open {
            table: "intake_versions",
            id: row.id.clone(),
            source,
        };
        let plaintext = old
            .open(Kind::Intake, &row.id, &intake_sealed(&row))
            .map_err(open)?;
        let sealed = new
            .seal(Kind::Intake, &row.id, &plaintext)
            .map_err(|_| open(OpenError::Inauthentic))?;
        intake_rows::reseal(
            conn,
            &row.id,
            &sealed.key_id,
            &sealed.nonce,
            &sealed.ciphertext,
        )?;
        rotated.intake_versions += 1;
    }
    for row in treatment_note::all(conn)? {
        if row.key_id == new.id() {
            continue;
        }
        let open = |source| KeyCheckError::Open {
            table: "treatment_notes",
            id: row.id.clone(),
            source,
        };
        let plaintext = old
            .open(Kind::TreatmentNote, &row.id, &note_sealed(&row))
            .map_err(open)?;
        let sealed = new
            .seal(Kind::TreatmentNote, &row.id, &plaintext)
            .map_err(|_| open(OpenError::Inauthentic))?;
        treatment_note::reseal(
            conn,
            &row.id,
            &sealed.key_id,
            &sealed.nonce,
            &sealed.ciphertext,
        )?;
        rotated.treatment_notes += 1;
    }
    Ok(rotated)
}
