//! The booking vocabulary, spelled once: where a booking stands, how it may move, and the event
//! each move announces (webhooks, metrics). Adding a state touches this file, a migration (if the
//! database should constrain it) and nothing else that spells statuses.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// Stored in `bookings.status` as text; a value this enum does not know is a read error, never
// silently `confirmed`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    AsExpression,
    FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
#[diesel(sql_type = Text)]
pub enum BookingStatus {
    Confirmed,
    Cancelled,
    Completed,
    NoShow,
}

impl BookingStatus {
    pub const ALL: [Self; 4] = [
        Self::Confirmed,
        Self::Cancelled,
        Self::Completed,
        Self::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Completed => "completed",
            Self::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The transition table: the event announcing a move from `self` to `next`, or None when
    /// the move is not allowed. A reschedule stays confirmed.
    pub fn transition(self, next: Self) -> Option<BookingEvent> {
        match (self, next) {
            (Self::Confirmed, Self::Confirmed) => Some(BookingEvent::Rescheduled),
            (Self::Confirmed, Self::Cancelled) => Some(BookingEvent::Cancelled),
            (Self::Confirmed, Self::Completed) => Some(BookingEvent::Completed),
            (Self::Confirmed, Self::NoShow) => Some(BookingEvent::NoShow),
            _ => None,
        }
    }
}

impl std::fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<DB> ToSql<Text, DB> for BookingStatus
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for BookingStatus
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = String::from_sql(bytes)?;
        Self::parse(&text).ok_or_else(|| format!("unknown booking status `{text}`").into())
    }
}

// What webhooks subscribe to and `inspine_bookings_total{event}` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[schema(as = WebhookEvent)]
pub enum BookingEvent {
    #[serde(rename = "booking.created")]
    Created,
    #[serde(rename = "booking.cancelled")]
    Cancelled,
    #[serde(rename = "booking.rescheduled")]
    Rescheduled,
    #[serde(rename = "booking.completed")]
    Completed,
    #[serde(rename = "booking.no_show")]
    NoShow,
}

impl BookingEvent {
    pub const ALL: [Self; 5] = [
        Self::Created,
        Self::Cancelled,
        Self::Rescheduled,
        Self::Completed,
        Self::NoShow,
    ];

    /// The wire name, e.g. `booking.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "booking.created",
            Self::Cancelled => "booking.cancelled",
            Self::Rescheduled => "booking.rescheduled",
            Self::Completed => "booking.completed",
            Self::NoShow => "booking.no_show",
        }
    }

    /// The metrics label, e.g. `created`.
    pub fn label(self) -> &'static str {
        self.as_str().trim_start_matches("booking.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for status in BookingStatus::ALL {
            assert_eq!(BookingStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(BookingStatus::parse("held"), None);
        for event in BookingEvent::ALL {
            assert_eq!(
                serde_json::to_value(event).unwrap(),
                serde_json::json!(event.as_str())
            );
        }
    }

    #[test]
    fn only_confirmed_bookings_move() {
        use BookingStatus::*;
        assert_eq!(
            Confirmed.transition(Cancelled),
            Some(BookingEvent::Cancelled)
        );
        for from in [Cancelled, Completed, NoShow] {
            for to in BookingStatus::ALL {
                assert_eq!(from.transition(to), None);
            }
        }
    }
}
