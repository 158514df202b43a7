//! Why a booking operation failed, in the domain's words. `crate::error` turns each into an
//! `ApiError` (and so a status); nothing here knows about HTTP.

use crate::error::ApiError;
use crate::scheduling::Rejection;

use super::BookingStatus;

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// No such booking, or one the caller may not see (the two are not told apart).
    #[error("no such booking")]
    NotFound,
    /// A therapist booking or moving a booking to another therapist.
    #[error("not the caller's therapist")]
    NotOwnTherapist,
    #[error("a client named a client")]
    ClientNotSettable,
    #[error("staff booked without naming a client")]
    ClientRequired,
    #[error("no such client")]
    NoSuchClient,
    #[error("no active therapist")]
    NoActiveTherapist,
    #[error("no active massage type")]
    NoActiveMassageType,
    #[error("duration not offered")]
    DurationNotOffered,
    #[error("massage type not offered by the therapist")]
    TypeNotOfferedByTherapist,
    /// A reschedule naming a therapist who does not offer the booking's type.
    #[error("named therapist cannot take the booking")]
    TherapistCannotTake,
    /// A reschedule of a booking whose therapist, type or duration was retired.
    #[error("no longer offered")]
    NoLongerOffered,
    /// The slot engine turned the start down.
    #[error("start rejected: {0:?}")]
    Rejected(Rejection),
    /// A start so far out that its end leaves the representable range.
    #[error("start out of range")]
    StartOutOfRange,
    /// PostgreSQL's exclusion constraints caught an overlap the check could not see.
    #[error("slot just taken")]
    SlotJustTaken,
    #[error("booking limit of {cap} reached")]
    BookingLimit { cap: i64 },
    #[error("booking is {0}")]
    NotConfirmed(BookingStatus),
    /// A client changing a booking within the cancellation window.
    #[error("within the {window_hours} h cancellation window")]
    TooLate { window_hours: u32 },
    #[error("booking not started")]
    NotStarted,
    #[error("idempotency key in flight")]
    KeyInFlight,
    #[error("idempotency key reused with another body")]
    KeyReused,
    /// A bug or an impossible state; logged, never shown.
    #[error("internal: {0}")]
    Internal(String),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    /// A failure of a layer below that already speaks the crate's error vocabulary (the slot
    /// engine's loader, the webhook queue).
    #[error(transparent)]
    Other(#[from] ApiError),
}
