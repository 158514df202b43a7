//! Inspine Booking API: a JSON REST back end for massage-therapy clinics.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod availability;
pub mod booking;
pub mod cli;
pub mod clinical;
pub mod config;
pub mod db;
pub mod error;
pub mod holidays;
pub mod hours;
pub mod integrations;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod models;
pub mod notify;
pub mod openapi;
pub mod outbox;
pub mod scheduling;
pub mod seed;
pub mod server;
pub mod state;
pub mod validation;
