//! The bodies of the booking requests: create (a slot's fields or a hold), cancel, reschedule;
//! parsed, checked field by field, and described for the spec.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::{check, free_text};
use crate::booking::create::NewBooking;
use crate::error::{ApiError, FieldError};

/// The body of `POST /bookings` as parsed: the slot's fields, or `hold_id`. The spec shows it
/// as one of [`BookSlot`] and [`BookHold`]; it is parsed flat so that each missing or extra
/// field is named in the 422 (see [`CreateBooking::form`]), and so that a slot booking's
/// Idempotency-Key fingerprint is what it was before holds (`hold_id` is left out when absent).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBooking {
    #[serde(default)]
    pub therapist_id: Option<Uuid>,
    #[serde(default)]
    pub massage_type_id: Option<Uuid>,
    #[serde(default)]
    pub duration_minutes: Option<u32>,
    #[serde(default, deserialize_with = "crate::api::bounds::optional_instant")]
    pub start: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub client_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<Uuid>,
}

/// What a `POST /bookings` asks for, as the body says it.
pub enum BookingForm {
    Slot {
        therapist_id: Uuid,
        massage_type_id: Uuid,
        duration_minutes: u32,
        start: DateTime<Utc>,
    },
    Hold(Uuid),
}

/// What a `POST /bookings` asks for, ready for the domain.
pub(super) enum Asked {
    Slot(NewBooking),
    Hold { hold_id: String, notes: String },
}

impl CreateBooking {
    /// One form or the other: `hold_id` alone (with `notes`), or every slot field.
    pub fn form(&self) -> Result<BookingForm, ApiError> {
        let slot_fields = [
            ("therapist_id", self.therapist_id.is_some()),
            ("massage_type_id", self.massage_type_id.is_some()),
            ("duration_minutes", self.duration_minutes.is_some()),
            ("start", self.start.is_some()),
            ("client_id", self.client_id.is_some()),
        ];
        if let Some(hold_id) = self.hold_id {
            let extra: Vec<FieldError> = slot_fields
                .iter()
                .filter(|(_, sent)| *sent)
                .map(|(field, _)| {
                    FieldError::new(*field, "may not be sent with hold_id (the hold decides it)")
                })
                .collect();
            check(extra)?;
            return Ok(BookingForm::Hold(hold_id));
        }
        match (
            self.therapist_id,
            self.massage_type_id,
            self.duration_minutes,
            self.start,
        ) {
            (Some(therapist_id), Some(massage_type_id), Some(duration_minutes), Some(start)) => {
                Ok(BookingForm::Slot {
                    therapist_id,
                    massage_type_id,
                    duration_minutes,
                    start,
                })
            }
            _ => Err(ApiError::validation_many(
                slot_fields[..4]
                    .iter()
                    .filter(|(_, sent)| !*sent)
                    .map(|(field, _)| FieldError::new(*field, "is required (or send hold_id)"))
                    .collect(),
            )),
        }
    }
}

/// Book a slot by its fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // The spec's shape only; `CreateBooking` parses.
pub struct BookSlot {
    #[schema(value_type = String, format = Uuid)]
    therapist_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    massage_type_id: Uuid,
    /// One of the massage type's options.
    #[schema(example = 60, minimum = 5, maximum = 480, multiple_of = 5)]
    duration_minutes: u32,
    /// RFC 3339, any offset; must be an offered slot.
    start: DateTime<Utc>,
    #[schema(
        max_length = 1000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    notes: Option<String>,
    /// Admins and therapists book on a client's behalf; clients may not set it.
    #[schema(value_type = Option<String>, format = Uuid)]
    client_id: Option<Uuid>,
}

/// Book exactly the time a hold keeps, for the hold's client; the hold is consumed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // The spec's shape only; `CreateBooking` parses.
pub struct BookHold {
    /// A live hold of the caller (staff: of any client).
    #[schema(value_type = String, format = Uuid)]
    hold_id: Uuid,
    #[schema(
        max_length = 1000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    notes: Option<String>,
}

/// A booking request: a slot's fields, or a hold.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = CreateBooking)]
#[allow(dead_code)] // The spec's shape only; `CreateBooking` parses.
pub enum CreateBookingBody {
    Slot(BookSlot),
    Hold(BookHold),
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub reason: Option<String>,
}

/// The reason of a cancel request, checked; `None` when absent or blank. The limit counts the
/// text as sent, as the spec's maxLength does; it is stored trimmed.
pub(in crate::api) fn cancel_reason(body: CancelRequest) -> Result<Option<String>, ApiError> {
    let mut errors = Vec::new();
    let reason = body
        .reason
        .map(|r| free_text(&mut errors, "reason", &r, 500))
        .filter(|r| !r.is_empty());
    check(errors)?;
    Ok(reason)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    #[serde(deserialize_with = "crate::api::bounds::instant")]
    pub start: DateTime<Utc>,
    /// Move to another therapist (who must offer the type and duration).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub therapist_id: Option<Uuid>,
}
