#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Black-box tests over the HTTP API. Run on SQLite by default; with
//! TEST_DATABASE_URL=postgres://… every test gets its own PostgreSQL database instead.

mod accounts;
mod audit_writes;
mod auth;
mod bookings;
mod catalog;
mod clinical;
mod database_errors;
mod errors;
mod helpers;
mod holds;
mod integrations;
mod mail;
mod migrations;
mod openapi;
mod operations;
mod overrides;
mod page;
mod races;
mod reliability;
mod schedules;
mod security_auth;
mod security_data;
mod security_net;
mod series;
mod shared_limits;
mod slot_cache;
mod slots;
mod waitlist;
