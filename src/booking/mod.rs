//! The booking domain: the rules of booking a massage, moving and closing bookings, who may see
//! which booking, and the Idempotency-Key protocol. It knows the database (`DbConn`), the slot
//! engine's loader (`crate::availability`) and the slot engine (`crate::scheduling`), but
//! nothing of HTTP: the handlers in `api::bookings` parse, authorise, call in here and map the
//! result. Failures are `BookingError`s, which `crate::error` (the one place statuses are
//! chosen) turns into `ApiError`s.
//!
//! - the vocabulary (statuses, their transitions and events) is `crate::models::vocabulary`,
//!   beside the column it maps; re-exported here;
//! - `error`: why an operation failed;
//! - `placement`: where a massage at a start goes, or why it cannot;
//! - `offer`: whether a therapist, type and duration can be booked together;
//! - `access`: which bookings a caller may see;
//! - `idempotency`: claiming a key, storing and replaying the answer;
//! - `create`: booking a slot;
//! - `holds`: keeping a slot for a few minutes, and booking it by the hold (the design of the
//!   guard shared by bookings and holds is described there);
//! - `transitions`: cancel, reschedule, complete, no-show;
//! - `series`: recurring series, booked, previewed, read and cancelled as a whole.
//!
//! Every write here expects to run inside `write_transaction`: on SQLite the write lock is held
//! from the first read, so the availability check and the insert cannot interleave with another
//! writer; on PostgreSQL the exclusion constraints (booking against booking) and the hold guard
//! triggers (holds against bookings and holds) reject any overlap the check could miss, and
//! that violation is answered like any other taken slot.

pub mod access;
pub mod create;
pub mod error;
pub mod holds;
pub mod idempotency;
pub mod offer;
pub mod placement;
pub mod search;
pub mod series;
pub mod transitions;
pub mod waitlist;

pub use crate::models::vocabulary::{BookingEvent, BookingStatus};
pub use error::BookingError;

use crate::models::booking::Booking;

/// How a booking is shown outside: webhook events carry it and idempotent replays keep it. The
/// API owns that wire type; the domain takes it as a type parameter so it never imports the API.
pub trait Shown: From<Booking> + serde::Serialize {}

impl<T: From<Booking> + serde::Serialize> Shown for T {}
