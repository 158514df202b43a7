//! Why a booking operation failed, in the domain's words, and which `ApiError` each one is
//! (`crate::error` alone turns an `ApiError` into a status); nothing here knows about HTTP.

use crate::error::ApiError;
use crate::scheduling::Rejection;

use super::BookingStatus;
use super::series::Skipped;
use crate::models::vocabulary::HoldStatus;

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
    /// Occurrences of a recurring series that cannot be booked (with `fail`, any; with
    /// `skip`, all of them).
    #[error("{} occurrence(s) of the series cannot be booked", .0.len())]
    SeriesUnavailable(Vec<Skipped>),
    #[error("booking limit of {cap} reached")]
    BookingLimit { cap: i64 },
    #[error("booking is {0}")]
    NotConfirmed(BookingStatus),
    /// A client changing a booking within the cancellation window.
    #[error("within the {window_hours} h cancellation window")]
    TooLate { window_hours: u32 },
    #[error("booking not started")]
    NotStarted,
    /// No such hold, or one the caller may not see (the two are not told apart).
    #[error("no such hold")]
    HoldNotFound,
    /// The hold no longer keeps its time: it expired, was released, or was booked already.
    #[error("hold is {}", .0.as_str())]
    HoldEnded(HoldStatus),
    /// No such waitlist entry, or one the caller may not see.
    #[error("no such waitlist entry")]
    WaitlistNotFound,
    /// A waitlist entry's dates that can never be waited for.
    #[error("{field} {message}")]
    WaitlistDates {
        field: &'static str,
        message: String,
    },
    #[error("no such location")]
    NoSuchLocation,
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

impl From<BookingError> for ApiError {
    /// Never bookable (what the caller named) is 422 on the field; bookable in principle but
    /// not now (taken, limits, the booking's state, the clock) is 409.
    fn from(error: BookingError) -> Self {
        use crate::scheduling::Rejection;
        use BookingError as E;
        let slot_unavailable = |detail: &str| ApiError::conflict("slot-unavailable", detail);
        match error {
            E::NotFound => ApiError::NotFound,
            E::NotOwnTherapist => ApiError::Forbidden,
            E::ClientNotSettable => ApiError::validation("client_id", "may only be set by staff"),
            E::ClientRequired => ApiError::validation(
                "client_id",
                "is required when staff book on a client's behalf",
            ),
            E::NoSuchClient => ApiError::validation("client_id", "names no client"),
            E::NoActiveTherapist => {
                ApiError::validation("therapist_id", "names no active therapist")
            }
            E::NoActiveMassageType => {
                ApiError::validation("massage_type_id", "names no active massage type")
            }
            E::DurationNotOffered => {
                ApiError::validation("duration_minutes", "is not offered for this massage type")
            }
            E::TypeNotOfferedByTherapist => {
                ApiError::validation("massage_type_id", "is not offered by this therapist")
            }
            E::TherapistCannotTake => ApiError::validation(
                "therapist_id",
                "names a therapist who does not offer this booking's massage type",
            ),
            E::NoLongerOffered => ApiError::conflict(
                "no-longer-offered",
                "This booking's therapist, massage type or duration is no longer offered; \
                 cancel it and book again.",
            ),
            E::Rejected(rejection) => match rejection {
                Rejection::OffGrid => {
                    ApiError::validation("start", "is not on the therapist's slot grid")
                }
                Rejection::OutsideSchedule => ApiError::validation(
                    "start",
                    "is outside the therapist's schedule for this massage",
                ),
                Rejection::TooSoon => ApiError::validation(
                    "start",
                    "is in the past or sooner than the minimum notice",
                ),
                Rejection::TooFarAhead => {
                    ApiError::validation("start", "is beyond the booking horizon")
                }
                Rejection::TimeOff => slot_unavailable("The therapist is away at that time."),
                Rejection::Taken => {
                    slot_unavailable("The therapist is already booked at that time.")
                }
                Rejection::NoRoom => slot_unavailable("No room is free at that time."),
            },
            E::StartOutOfRange => ApiError::validation("start", "is out of range"),
            E::SlotJustTaken => slot_unavailable("The slot was just taken."),
            E::SeriesUnavailable(occurrences) => ApiError::SeriesConflict {
                detail: format!(
                    "{} occurrence(s) of the series cannot be booked: {}. Nothing was booked.",
                    occurrences.len(),
                    occurrences
                        .iter()
                        .map(|o| format!(
                            "{} ({})",
                            o.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            o.reason.describe()
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                occurrences,
            },
            E::BookingLimit { cap } => ApiError::conflict(
                "booking-limit",
                format!("A client may hold at most {cap} upcoming bookings."),
            ),
            E::NotConfirmed(status) => ApiError::conflict(
                "booking-not-confirmed",
                format!("The booking is {status}, not confirmed."),
            ),
            E::TooLate { window_hours } => ApiError::conflict(
                "late-cancellation",
                format!(
                    "Bookings can be changed by clients only up to {window_hours} hours before the start; please call the clinic."
                ),
            ),
            E::NotStarted => ApiError::conflict(
                "not-started",
                "A booking can be marked only after its start.",
            ),
            E::HoldNotFound => ApiError::NotFound,
            E::HoldEnded(status) => ApiError::conflict(
                "hold-expired",
                match status {
                    HoldStatus::Consumed => "The hold was already used for a booking.",
                    HoldStatus::Released => {
                        "The hold was released; look for the time again in the offered slots."
                    }
                    HoldStatus::Active | HoldStatus::Expired => {
                        "The hold expired; look for the time again in the offered slots."
                    }
                },
            ),
            E::WaitlistNotFound => ApiError::NotFound,
            E::WaitlistDates { field, message } => ApiError::validation(field, message),
            E::NoSuchLocation => ApiError::validation("location_id", "names no location"),
            E::KeyInFlight => ApiError::conflict(
                "idempotency-key-in-flight",
                "A request with this Idempotency-Key is still being processed.",
            ),
            E::KeyReused => ApiError::validation(
                "Idempotency-Key",
                "was already used with a different request body",
            ),
            E::Internal(cause) => ApiError::Internal(cause),
            E::Db(e) => e.into(),
            E::Other(e) => e,
        }
    }
}
