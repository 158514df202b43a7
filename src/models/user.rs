use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::db::schema::users;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Therapist,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Therapist => "therapist",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client" => Some(Self::Client),
            "therapist" => Some(Self::Therapist),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub name: String,
    pub phone: Option<String>,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Emails other than password resets are sent only while this is on.
    pub email_notifications: bool,
}

impl User {
    /// A new account: a fresh id, created and updated now.
    pub fn new(
        email: String,
        name: String,
        password_hash: String,
        phone: Option<String>,
        role: Role,
    ) -> Self {
        let at = super::now();
        Self {
            id: super::new_id(),
            email,
            password_hash,
            name,
            phone,
            role: role.as_str().to_owned(),
            created_at: at,
            updated_at: at,
            email_notifications: true,
        }
    }

    /// Unknown role text cannot be written (CHECK constraint); reading treats it as least
    /// privileged.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Client)
    }
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub name: Option<String>,
    pub phone: Option<Option<String>>,
    pub role: Option<String>,
    pub email_notifications: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Emails compare case-insensitively; we store them lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn insert(conn: &mut DbConn, user: &User) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<User> {
    users::table.find(id).first(conn)
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(normalize_email(email)))
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConn,
    after: Option<&str>,
    role: Option<Role>,
    limit: i64,
) -> QueryResult<Vec<User>> {
    let mut query = users::table.into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after.to_owned()));
    }
    if let Some(role) = role {
        query = query.filter(users::role.eq(role.as_str()));
    }
    query.order(users::id.asc()).limit(limit).load(conn)
}

pub fn update(conn: &mut DbConn, id: &str, changes: &UserChanges) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(changes)
        .execute(conn)
}

/// Replaces the password only while it is still `expected` (the hash the caller's current
/// password was verified against); returns whether it did, so a change that raced another one
/// fails instead of silently overwriting it.
pub fn set_password_if(
    conn: &mut DbConn,
    id: &str,
    expected: &str,
    password_hash: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::password_hash.eq(expected)),
    )
    .set((
        users::password_hash.eq(password_hash),
        users::updated_at.eq(at),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// On PostgreSQL, locks the user's row until the transaction ends, so that concurrent requests
/// about one account take turns (SQLite's write transactions already do).
pub fn lock(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    if let DbConn::Postgresql(pg) = conn {
        diesel::sql_query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(pg)?;
    }
    Ok(())
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(id)).execute(conn)
}

pub fn count_admins(conn: &mut DbConn) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)
}

pub fn by_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<User>> {
    users::table.filter(users::id.eq_any(ids)).load(conn)
}
