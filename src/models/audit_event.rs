//! The audit trail: appended, never changed (no update or delete function exists, and the
//! database refuses them too).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::audit_events;

#[derive(Debug, Clone, Queryable, Insertable, Identifiable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct AuditEvent {
    pub id: String,
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub actor_role: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

pub fn insert(conn: &mut DbConn, event: &AuditEvent) -> QueryResult<()> {
    crate::db::per_backend!(conn, |c| diesel::insert_into(audit_events::table)
        .values(event)
        .execute(c))
    .map(|_| ())
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Keyset position: events after this id (ids are time-ordered UUIDv7).
    pub after: Option<String>,
}

/// Events matching `filter`, oldest first.
pub fn list(conn: &mut DbConn, filter: &AuditFilter, limit: i64) -> QueryResult<Vec<AuditEvent>> {
    let mut query = audit_events::table.into_boxed();
    if let Some(actor) = &filter.actor_id {
        query = query.filter(audit_events::actor_id.eq(actor.clone()));
    }
    if let Some(subject) = &filter.subject_id {
        query = query.filter(audit_events::subject_id.eq(subject.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::at.lt(to));
    }
    if let Some(after) = &filter.after {
        query = query.filter(audit_events::id.gt(after.clone()));
    }
    query.order(audit_events::id.asc()).limit(limit).load(conn)
}
