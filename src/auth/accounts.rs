//! Rules for changing an account that hold whoever asks: an email stays unique, the last admin
//! keeps the role, a new password or role ends every login made under the old one (and a new
//! password every outstanding reset link), and turning emails off drops the ones still queued.
//! Also what an account holder may take away with them (`export`).

use chrono::NaiveDateTime;

use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::booking::{self, Booking, BookingFilter};
use crate::models::user::{self, Role, User, UserChanges};
use crate::models::{notification, now, password_reset, therapist, token};

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
    let new_password = changes.password_hash.is_some();
    user::update(conn, id, &changes)?;
    let at = now();
    if new_password || role_changes {
        token::revoke_user(conn, id, at)?;
    }
    if new_password {
        password_reset::use_all_for_user(conn, id, at)?;
    }
    if changes.email_notifications == Some(false) {
        notification::delete_pending_optional_for_user(conn, id)?;
    }
    Ok(user::find(conn, id)?)
}

/// The account holder's own password change, inside the caller's write transaction, after the
/// caller verified the current password against `verified_hash`. Every login of the account
/// ends (the caller then issues the one new login) and outstanding reset links stop working. If
/// the password changed since it was verified, the current password given is no longer right.
pub fn change_password(
    conn: &mut DbConn,
    id: &str,
    verified_hash: &str,
    new_hash: &str,
    at: NaiveDateTime,
) -> Result<User, ApiError> {
    if !user::set_password_if(conn, id, verified_hash, new_hash, at)? {
        return Err(ApiError::WrongPassword);
    }
    token::revoke_user(conn, id, at)?;
    password_reset::use_all_for_user(conn, id, at)?;
    Ok(user::find(conn, id)?)
}

/// Everything stored about an account that is theirs to take away. Never secrets: the caller
/// maps it to wire types that carry no password or token material.
pub struct AccountData {
    pub user: User,
    /// Their bookings as the client, whoever made them.
    pub bookings: Vec<Booking>,
    /// For a login linked to a therapist profile, the bookings with that therapist (the same
    /// bookings `GET /bookings` shows them); empty otherwise.
    pub therapist_bookings: Vec<Booking>,
    /// Their waitlist entries, as they read now.
    pub waitlist: Vec<crate::booking::waitlist::EntryView>,
    /// Emails sent or queued for them (the rows; callers show no bodies).
    pub notifications: Vec<crate::models::notification::Notification>,
}

pub fn export(conn: &mut DbConn, id: &str) -> Result<AccountData, ApiError> {
    let user = user::find(conn, id)?;
    let all = |filter: BookingFilter, conn: &mut DbConn| booking::list(conn, &filter, i64::MAX);
    let bookings = all(
        BookingFilter {
            client_id: Some(id.to_owned()),
            ..Default::default()
        },
        conn,
    )?;
    let therapist_bookings = match therapist::find_by_user(conn, id)? {
        Some(profile) => all(
            BookingFilter {
                therapist_id: Some(profile.id),
                ..Default::default()
            },
            conn,
        )?,
        None => Vec::new(),
    };
    let waitlist = crate::booking::waitlist::of_client(conn, id).map_err(ApiError::from)?;
    Ok(AccountData {
        waitlist,
        notifications: crate::models::notification::for_user(conn, id)?,
        user,
        bookings,
        therapist_bookings,
    })
}
