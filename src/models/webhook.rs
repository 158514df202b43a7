//! Webhook endpoints, their delivery outbox, and the log of delivery attempts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{webhook_attempts, webhook_deliveries, webhooks};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = webhooks, treat_none_as_default_value = false)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Comma-separated event types.
    pub events: String,
    pub secret: String,
    pub created_at: NaiveDateTime,
}

impl Webhook {
    pub fn event_list(&self) -> Vec<String> {
        self.events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = webhook_deliveries, treat_none_as_default_value = false)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = webhook_attempts, treat_none_as_default_value = false)]
pub struct Attempt {
    pub id: String,
    pub delivery_id: String,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

pub fn insert(conn: &mut DbConn, hook: &Webhook) -> QueryResult<()> {
    diesel::insert_into(webhooks::table)
        .values(hook)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Webhook> {
    webhooks::table.find(id).first(conn)
}

pub fn all(conn: &mut DbConn) -> QueryResult<Vec<Webhook>> {
    webhooks::table.order(webhooks::id.asc()).load(conn)
}

pub fn list(conn: &mut DbConn, after: Option<&str>, limit: i64) -> QueryResult<Vec<Webhook>> {
    let mut query = webhooks::table.into_boxed();
    if let Some(after) = after {
        query = query.filter(webhooks::id.gt(after.to_owned()));
    }
    query.order(webhooks::id.asc()).limit(limit).load(conn)
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(webhooks::table.find(id)).execute(conn)
}

pub fn insert_delivery(conn: &mut DbConn, delivery: &Delivery) -> QueryResult<()> {
    diesel::insert_into(webhook_deliveries::table)
        .values(delivery)
        .execute(conn)
        .map(|_| ())
}

/// The deliveries with these ids (claimed by [`crate::outbox::claim_due`]), oldest due first.
pub fn deliveries_by_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Delivery>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::id.eq_any(ids))
        .order(webhook_deliveries::next_attempt_at.asc())
        .load(conn)
}

#[derive(Debug, AsChangeset)]
#[diesel(table_name = webhook_deliveries, treat_none_as_null = true)]
pub struct DeliveryOutcome {
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub updated_at: NaiveDateTime,
}

pub fn record(
    conn: &mut DbConn,
    delivery_id: &str,
    outcome: &DeliveryOutcome,
    attempt: &Attempt,
) -> QueryResult<()> {
    diesel::insert_into(webhook_attempts::table)
        .values(attempt)
        .execute(conn)?;
    diesel::update(webhook_deliveries::table.find(delivery_id))
        .set(outcome)
        .execute(conn)
        .map(|_| ())
}

pub fn list_deliveries(
    conn: &mut DbConn,
    webhook_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id.to_owned()))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(webhook_deliveries::id.gt(after.to_owned()));
    }
    query
        .order(webhook_deliveries::id.asc())
        .limit(limit)
        .load(conn)
}

pub fn attempts_for(conn: &mut DbConn, delivery_ids: &[String]) -> QueryResult<Vec<Attempt>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(delivery_ids))
        .order((
            webhook_attempts::delivery_id.asc(),
            webhook_attempts::attempted_at.asc(),
        ))
        .load(conn)
}

pub fn count_pending(conn: &mut DbConn) -> QueryResult<i64> {
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(PENDING))
        .count()
        .get_result(conn)
}
