//! What other software consumes: calendar feeds and webhooks.

pub mod calendar;
pub mod webhooks;
