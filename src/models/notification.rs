//! The email outbox (`notifications`).

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::notifications;

/// Deletes the user's queued emails that `email_notifications: false` stops: every pending one
/// except password resets, which are always sent.
pub fn delete_pending_optional_for_user(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
    diesel::delete(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::status.eq("pending"))
            .filter(notifications::kind.ne("password_reset")),
    )
    .execute(conn)
}
