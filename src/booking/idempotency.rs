//! The Idempotency-Key protocol of booking creation (single bookings and series), minus HTTP: a key is claimed (pending)
//! before the work, holds the answer after it, and replays that answer to a retry with the
//! same body. The header itself and the replayed response belong to the handler.

use chrono::Duration;
use diesel::result::DatabaseErrorKind;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::BookingError;
use crate::db::DbConn;
use crate::models::booking::{self, IdempotencyKey};
use crate::models::now;

/// A pending key older than this belongs to a request that died; a retry may take it over.
const STALE_PENDING: Duration = Duration::seconds(60);

/// A key this request holds: the work it guards may run, and its answer is stored under it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub user_id: String,
    pub key: String,
}

pub enum Claimed {
    /// The key is ours: do the work, then [`store_answer`] or [`release`].
    Fresh(Claim),
    /// The key already holds the answer to this very request: status and body to send again.
    Replay(i32, String),
}

/// The fingerprint a key is bound to, so a key cannot be reused for a different request.
pub fn request_hash(request: &impl Serialize) -> Result<String, BookingError> {
    Ok(hex::encode(Sha256::digest(
        serde_json::to_vec(request).map_err(|e| BookingError::Internal(e.to_string()))?,
    )))
}

/// Claims `key` for the caller; run inside a write transaction.
pub fn claim(
    conn: &mut DbConn,
    user_id: &str,
    key: &str,
    hash: &str,
) -> Result<Claimed, BookingError> {
    let at = now();
    let fresh = || {
        Claimed::Fresh(Claim {
            user_id: user_id.to_owned(),
            key: key.to_owned(),
        })
    };
    match booking::find_key(conn, user_id, key)? {
        None => {
            booking::insert_key(
                conn,
                &IdempotencyKey {
                    user_id: user_id.to_owned(),
                    key: key.to_owned(),
                    request_hash: hash.to_owned(),
                    response_status: None,
                    response_body: None,
                    created_at: at,
                },
            )
            .map_err(|e| match e {
                // Another request with this key won the insert a moment ago (a foreign-key
                // violation, the caller's account deleted meanwhile, is answered alike).
                diesel::result::Error::DatabaseError(
                    DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation,
                    _,
                ) => BookingError::KeyInFlight,
                other => other.into(),
            })?;
            Ok(fresh())
        }
        Some(existing) if existing.request_hash != hash => Err(BookingError::KeyReused),
        Some(IdempotencyKey {
            response_status: Some(status),
            response_body: Some(body),
            ..
        }) => Ok(Claimed::Replay(status, body)),
        Some(_) => {
            if booking::take_over_stale_key(conn, user_id, key, at - STALE_PENDING, at)? {
                Ok(fresh())
            } else {
                Err(BookingError::KeyInFlight)
            }
        }
    }
}

/// Keeps `body` as the answer to the claimed request, for its retries to replay.
pub fn store_answer(
    conn: &mut DbConn,
    claim: &Claim,
    status: i32,
    body: &str,
) -> Result<(), BookingError> {
    booking::complete_key(conn, &claim.user_id, &claim.key, status, body)?;
    Ok(())
}

/// Keeps `created` (shown as the 201 answer) for the claimed request's retries to replay.
pub fn store_created(
    conn: &mut DbConn,
    claim: &Claim,
    created: &impl Serialize,
) -> Result<(), BookingError> {
    let json = serde_json::to_string(created).map_err(|e| BookingError::Internal(e.to_string()))?;
    store_answer(conn, claim, 201, &json)
}

/// Frees the key after a transient failure, so that the retry the client will make can run.
pub fn release(conn: &mut DbConn, claim: &Claim) -> Result<(), BookingError> {
    booking::delete_key(conn, &claim.user_id, &claim.key)?;
    Ok(())
}
