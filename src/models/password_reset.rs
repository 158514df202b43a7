//! Password resets: a single-use token per request, stored only as its SHA-256 hash.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::password_resets;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = password_resets, treat_none_as_default_value = false)]
pub struct PasswordReset {
    pub id: String,
    pub user_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, reset: &PasswordReset) -> QueryResult<()> {
    diesel::insert_into(password_resets::table)
        .values(reset)
        .execute(conn)
        .map(|_| ())
}

/// The reset with this token hash if it is still usable at `at`: not used, not expired.
pub fn find_usable(
    conn: &mut DbConn,
    hash: &str,
    at: NaiveDateTime,
) -> QueryResult<Option<PasswordReset>> {
    password_resets::table
        .filter(password_resets::token_hash.eq(hash))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(at))
        .first(conn)
        .optional()
}

/// Marks the reset used only if it is still usable; returns whether we won, so two concurrent
/// confirmations of one token cannot both succeed.
pub fn mark_used(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        password_resets::table
            .find(id)
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(at)),
    )
    .set(password_resets::used_at.eq(Some(at)))
    .execute(conn)
    .map(|n| n == 1)
}

/// Ends every outstanding reset of the user.
pub fn use_all_for_user(conn: &mut DbConn, user_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(Some(at)))
    .execute(conn)
}

/// Whether a reset for the user was created after `since`.
pub fn created_since(conn: &mut DbConn, user_id: &str, since: NaiveDateTime) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::created_at.gt(since)),
    ))
    .get_result(conn)
}
