//! Rules for changing an account that hold whoever asks: an email stays unique, the last admin
//! keeps the role, and a new password or role ends every login made under the old one.

use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::now;
use crate::models::token;
use crate::models::user::{self, Role, User, UserChanges};

/// Applies `changes` to the account `id` inside the caller's write transaction.
pub fn update(conn: &mut DbConn, id: &str, changes: UserChanges) -> Result<User, ApiError> {
    let current = user::find(conn, id)?;
    if let Some(email) = &changes.email
        && *email != current.email
        && user::find_by_email(conn, email)?.is_some()
    {
        return Err(ApiError::conflict(
            "email-taken",
            "An account with this email already exists.",
        ));
    }
    let demoted = changes
        .role
        .as_deref()
        .is_some_and(|r| r != Role::Admin.as_str());
    if current.role() == Role::Admin && demoted && user::count_admins(conn)? <= 1 {
        return Err(ApiError::conflict(
            "last-admin",
            "The last admin cannot lose the admin role.",
        ));
    }
    let role_changes = changes.role.as_ref().is_some_and(|r| *r != current.role);
    let ends_logins = changes.password_hash.is_some() || role_changes;
    user::update(conn, id, &changes)?;
    if ends_logins {
        token::revoke_user(conn, id, now())?;
    }
    Ok(user::find(conn, id)?)
}
