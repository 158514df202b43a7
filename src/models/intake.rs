//! Intake (health-history) versions: one row per submission, answers sealed (see
//! `clinical::crypto`); the consent record beside them in plain columns.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::intake_versions;

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = intake_versions, treat_none_as_default_value = false)]
pub struct IntakeRow {
    pub id: String,
    pub client_id: String,
    pub version: i32,
    pub form_version: String,
    pub consent_treatment: bool,
    pub privacy_policy_version: String,
    pub submitted_at: NaiveDateTime,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

pub fn insert(conn: &mut DbConn, row: &IntakeRow) -> QueryResult<()> {
    diesel::insert_into(intake_versions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn latest_version(conn: &mut DbConn, client_id: &str) -> QueryResult<Option<i32>> {
    intake_versions::table
        .filter(intake_versions::client_id.eq(client_id.to_owned()))
        .select(diesel::dsl::max(intake_versions::version))
        .first(conn)
}

pub fn latest(conn: &mut DbConn, client_id: &str) -> QueryResult<Option<IntakeRow>> {
    intake_versions::table
        .filter(intake_versions::client_id.eq(client_id.to_owned()))
        .order(intake_versions::version.desc())
        .first(conn)
        .optional()
}

/// Every version of a client's intake, oldest first.
pub fn all_for(conn: &mut DbConn, client_id: &str) -> QueryResult<Vec<IntakeRow>> {
    intake_versions::table
        .filter(intake_versions::client_id.eq(client_id.to_owned()))
        .order(intake_versions::version.asc())
        .load(conn)
}

/// Which of these clients have an intake on file.
pub fn clients_with_intake(conn: &mut DbConn, client_ids: &[String]) -> QueryResult<Vec<String>> {
    if client_ids.is_empty() {
        return Ok(Vec::new());
    }
    load_where_in!(
        intake_versions::table
            .select(intake_versions::client_id)
            .distinct(),
        intake_versions::client_id,
        client_ids,
        conn
    )
}

/// Every row (for key rotation and the start-up key check), oldest first.
pub fn all(conn: &mut DbConn) -> QueryResult<Vec<IntakeRow>> {
    intake_versions::table
        .order(intake_versions::id.asc())
        .load(conn)
}

pub fn any(conn: &mut DbConn) -> QueryResult<Option<IntakeRow>> {
    intake_versions::table.first(conn).optional()
}

pub fn reseal(
    conn: &mut DbConn,
    id: &str,
    key_id: &str,
    nonce: &[u8],
    ciphertext: &[u8],
) -> QueryResult<usize> {
    diesel::update(intake_versions::table.find(id.to_owned()))
        .set((
            intake_versions::key_id.eq(key_id.to_owned()),
            intake_versions::nonce.eq(nonce.to_vec()),
            intake_versions::ciphertext.eq(ciphertext.to_vec()),
        ))
        .execute(conn)
}
