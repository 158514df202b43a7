//! Password resets by email. A request makes a single-use token of 256 random bits, keeps only
//! its SHA-256 and hands the raw token to the email; confirming it sets a new password and ends
//! every login of the account. Nothing here tells whether an email belongs to an account: a
//! request for an unknown address, or a repeat within a minute, quietly does nothing.

use chrono::{Duration, NaiveDateTime};

use crate::auth::accounts;
use crate::auth::tokens::{random_secret, sha256_hex};
use crate::config::Config;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::new_id;
use crate::models::password_reset::{self, PasswordReset};
use crate::models::user::{self, User, UserChanges};

/// At most one reset email per account in this span, so the endpoint cannot flood a mailbox.
pub const MIN_INTERVAL: Duration = Duration::seconds(60);

/// Random bytes in a reset token (256 bits; 43 characters of URL-safe base64).
const TOKEN_BYTES: usize = 32;

/// Starts a reset for the account with `email` (normalized) inside the caller's write
/// transaction: stores the token's hash and queues the email carrying the token.
pub fn request(
    conn: &mut DbConn,
    config: &Config,
    email: &str,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let Some(account) = user::find_by_email(conn, email)? else {
        return Ok(());
    };
    // Two requests at once must not both find no recent reset.
    user::lock(conn, &account.id)?;
    if password_reset::created_since(conn, &account.id, at - MIN_INTERVAL)? {
        return Ok(());
    }
    let token = random_secret(TOKEN_BYTES);
    let ttl = Duration::from_std(config.password_reset_ttl).unwrap_or(Duration::hours(1));
    let expires_at = at + ttl;
    password_reset::insert(
        conn,
        &PasswordReset {
            id: new_id(),
            user_id: account.id.clone(),
            token_hash: sha256_hex(&token),
            created_at: at,
            expires_at,
            used_at: None,
        },
    )?;
    crate::notify::password_reset(conn, config, &account, &token, expires_at)
}

/// The account a still usable reset token belongs to. Read before the new password is checked,
/// so that the check can count the account's own words as common, and a refused password does
/// not use the token up.
pub fn account_for(conn: &mut DbConn, token: &str, at: NaiveDateTime) -> Result<User, ApiError> {
    let reset = password_reset::find_usable(conn, &sha256_hex(token), at)?
        .ok_or(ApiError::ResetTokenInvalid)?;
    Ok(user::find(conn, &reset.user_id)?)
}

/// Completes a reset inside the caller's write transaction: the token is used up (only one of
/// two concurrent confirmations wins), the password replaced, and every login and every other
/// outstanding reset of the account ended (`accounts::update`).
pub fn confirm(
    conn: &mut DbConn,
    token: &str,
    password_hash: String,
    at: NaiveDateTime,
) -> Result<User, ApiError> {
    let reset = password_reset::find_usable(conn, &sha256_hex(token), at)?
        .ok_or(ApiError::ResetTokenInvalid)?;
    if !password_reset::mark_used(conn, &reset.id, at)? {
        return Err(ApiError::ResetTokenInvalid);
    }
    accounts::update(
        conn,
        &reset.user_id,
        UserChanges {
            password_hash: Some(password_hash),
            updated_at: Some(at),
            ..Default::default()
        },
    )
}
