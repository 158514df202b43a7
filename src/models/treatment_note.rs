//! Treatment notes: one per booking, its SOAP text sealed (see `clinical::crypto`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::treatment_notes;

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = treatment_notes, treat_none_as_default_value = false)]
pub struct NoteRow {
    pub id: String,
    pub booking_id: String,
    pub client_id: String,
    pub therapist_id: String,
    pub author_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

pub fn insert(conn: &mut DbConn, row: &NoteRow) -> QueryResult<()> {
    diesel::insert_into(treatment_notes::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn for_booking(conn: &mut DbConn, booking_id: &str) -> QueryResult<Option<NoteRow>> {
    treatment_notes::table
        .filter(treatment_notes::booking_id.eq(booking_id.to_owned()))
        .first(conn)
        .optional()
}

/// Every note about a client, oldest first.
pub fn for_client(conn: &mut DbConn, client_id: &str) -> QueryResult<Vec<NoteRow>> {
    treatment_notes::table
        .filter(treatment_notes::client_id.eq(client_id.to_owned()))
        .order(treatment_notes::created_at.asc())
        .load(conn)
}

/// A note's new text (sealed again, with a fresh nonce) by `author_id`.
pub fn rewrite(
    conn: &mut DbConn,
    id: &str,
    author_id: &str,
    at: NaiveDateTime,
    key_id: &str,
    nonce: &[u8],
    ciphertext: &[u8],
) -> QueryResult<usize> {
    diesel::update(treatment_notes::table.find(id.to_owned()))
        .set((
            treatment_notes::author_id.eq(author_id.to_owned()),
            treatment_notes::updated_at.eq(at),
            treatment_notes::key_id.eq(key_id.to_owned()),
            treatment_notes::nonce.eq(nonce.to_vec()),
            treatment_notes::ciphertext.eq(ciphertext.to_vec()),
        ))
        .execute(conn)
}

pub fn all(conn: &mut DbConn) -> QueryResult<Vec<NoteRow>> {
    treatment_notes::table
        .order(treatment_notes::id.asc())
        .load(conn)
}

pub fn any(conn: &mut DbConn) -> QueryResult<Option<NoteRow>> {
    treatment_notes::table.first(conn).optional()
}

pub fn reseal(
    conn: &mut DbConn,
    id: &str,
    key_id: &str,
    nonce: &[u8],
    ciphertext: &[u8],
) -> QueryResult<usize> {
    diesel::update(treatment_notes::table.find(id.to_owned()))
        .set((
            treatment_notes::key_id.eq(key_id.to_owned()),
            treatment_notes::nonce.eq(nonce.to_vec()),
            treatment_notes::ciphertext.eq(ciphertext.to_vec()),
        ))
        .execute(conn)
}
