//! Clinical records: the intake (health-history) form and its versions, treatment notes, who
//! may read them, and their encryption at rest. No HTTP here: `api::clinical` parses, calls in
//! and maps. Every write and every read is audited by the caller through `crate::audit` inside
//! the same transaction.

pub mod crypto;

use crypto::{HealthKey, Kind, OpenError, Sealed};

use crate::db::DbConn;
use crate::models::{intake, treatment_note};

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
    if let Some(row) = intake::any(conn)? {
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

fn intake_sealed(row: &intake::IntakeRow) -> Sealed {
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
