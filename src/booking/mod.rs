//! Booking rules that know the database (`DbConn`) and the slot engine but nothing of HTTP.
//! Today: the vocabulary (statuses, their transitions and events).

pub mod vocabulary;

pub use vocabulary::{BookingEvent, BookingStatus};
