//! Refresh tokens: opaque, stored as SHA-256 hashes, grouped in a family per login so that
//! reuse of a rotated token can revoke the whole login.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::refresh_tokens;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
pub struct RefreshToken {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub token_hash: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, token: &RefreshToken) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(token)
        .execute(conn)
        .map(|_| ())
}

pub fn find_by_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .first(conn)
        .optional()
}

/// Marks the token rotated only if nobody else rotated it first; returns whether we won.
pub fn mark_rotated(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(Some(at)))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn revoke_family(conn: &mut DbConn, family_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(at)))
    .execute(conn)
}

pub fn revoke_user(conn: &mut DbConn, user_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(at)))
    .execute(conn)
}

// ---- script (API) tokens ----

use crate::db::schema::{api_tokens, calendar_tokens};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = api_tokens, treat_none_as_default_value = false)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
}

pub fn insert_api_token(conn: &mut DbConn, token: &ApiToken) -> QueryResult<()> {
    diesel::insert_into(api_tokens::table)
        .values(token)
        .execute(conn)
        .map(|_| ())
}

/// A live (not revoked, not expired) script token by its hash.
pub fn live_api_token(
    conn: &mut DbConn,
    hash: &str,
    at: NaiveDateTime,
) -> QueryResult<Option<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::token_hash.eq(hash))
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(at)),
        )
        .first(conn)
        .optional()
}

pub fn list_api_tokens(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ApiToken>> {
    let mut query = api_tokens::table
        .filter(api_tokens::revoked_at.is_null())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(api_tokens::id.gt(after.to_owned()));
    }
    query.order(api_tokens::id.asc()).limit(limit).load(conn)
}

pub fn revoke_api_token(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        api_tokens::table
            .find(id)
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(at)))
    .execute(conn)
}

// ---- calendar feed tokens ----

/// Replaces the subject's feed token (rotation): the old one stops working at once.
pub fn set_calendar_token(conn: &mut DbConn, subject: &str, hash: &str) -> QueryResult<()> {
    diesel::delete(calendar_tokens::table.find(subject)).execute(conn)?;
    diesel::insert_into(calendar_tokens::table)
        .values((
            calendar_tokens::subject.eq(subject),
            calendar_tokens::token_hash.eq(hash),
            calendar_tokens::created_at.eq(crate::models::now()),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The subject a feed token belongs to.
pub fn calendar_subject(conn: &mut DbConn, hash: &str) -> QueryResult<Option<String>> {
    calendar_tokens::table
        .filter(calendar_tokens::token_hash.eq(hash))
        .select(calendar_tokens::subject)
        .first(conn)
        .optional()
}

/// Deletes the feed tokens of these subjects; their URLs stop working at once.
pub fn delete_calendar_tokens(conn: &mut DbConn, subjects: &[String]) -> QueryResult<usize> {
    diesel::delete(calendar_tokens::table.filter(calendar_tokens::subject.eq_any(subjects)))
        .execute(conn)
}

/// Calendar-feed subjects: a login's own feed, and a therapist's feed.
pub fn therapist_subject(id: &str) -> String {
    format!("therapist:{id}")
}

pub fn user_subject(id: &str) -> String {
    format!("user:{id}")
}

/// A login stops being a therapist's (unlinked, linked to another login, or deleted): the feeds
/// it may hold for that therapist die with the link. That is its own `me` feed, which showed the
/// therapist's bookings, and the therapist's feed, which the linked login may have minted itself
/// (nothing records who minted it, so an admin re-issues it after the change).
pub fn end_login_feeds(
    conn: &mut DbConn,
    user_id: &str,
    therapist_id: Option<&str>,
) -> diesel::QueryResult<usize> {
    let mut subjects = vec![user_subject(user_id)];
    subjects.extend(therapist_id.map(therapist_subject));
    delete_calendar_tokens(conn, &subjects)
}
