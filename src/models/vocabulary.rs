//! The booking vocabulary, spelled once: where a booking stands, how it may move, and the event
//! each move announces (webhooks, metrics); and the same for holds (status, purpose, the events
//! their metric counts). Adding a state touches this file, a migration (if the
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
    /// Not a booking's move: a waitlist entry got an offer (its payload is the entry).
    #[serde(rename = "waitlist.offered")]
    WaitlistOffered,
}

impl BookingEvent {
    pub const ALL: [Self; 6] = [
        Self::Created,
        Self::Cancelled,
        Self::Rescheduled,
        Self::Completed,
        Self::NoShow,
        Self::WaitlistOffered,
    ];

    /// The wire name, e.g. `booking.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "booking.created",
            Self::Cancelled => "booking.cancelled",
            Self::Rescheduled => "booking.rescheduled",
            Self::Completed => "booking.completed",
            Self::NoShow => "booking.no_show",
            Self::WaitlistOffered => "waitlist.offered",
        }
    }

    /// The metrics label, e.g. `created`.
    pub fn label(self) -> &'static str {
        self.as_str().trim_start_matches("booking.")
    }
}

/// `ToSql`/`FromSql` for a closed vocabulary kept in a Text column through its `as_str` and
/// `parse`; a stored value the enum does not know is a read error.
macro_rules! text_column {
    ($ty:ident, $what:literal) => {
        impl<DB> ToSql<Text, DB> for $ty
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $ty
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                Self::parse(&text).ok_or_else(|| format!("unknown {} `{text}`", $what).into())
            }
        }
    };
}

// Stored in `holds.status`. Whether a hold blocks is not its status alone: an `Active` hold
// past its `expires_at` blocks nothing, and is written `Expired` only once someone notices.
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
pub enum HoldStatus {
    Active,
    /// Given up by its client or staff, or replaced by the client's next hold.
    Released,
    /// Booked: the hold became a booking.
    Consumed,
    /// Found past its expiry, unused.
    Expired,
}

impl HoldStatus {
    pub const ALL: [Self; 4] = [Self::Active, Self::Released, Self::Consumed, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Released => "released",
            Self::Consumed => "consumed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The event announcing a hold's end in `self`; None for `Active`, which is no end.
    pub fn ending(self) -> Option<HoldEvent> {
        match self {
            Self::Active => None,
            Self::Released => Some(HoldEvent::Released),
            Self::Consumed => Some(HoldEvent::Converted),
            Self::Expired => Some(HoldEvent::Expired),
        }
    }
}

text_column!(HoldStatus, "hold status");

// Stored in `holds.purpose`: whose rule a hold follows. A client's own holds are one at a time;
// a waitlist offer's hold is made for them and does not count against, or release, their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum HoldPurpose {
    Client,
    Waitlist,
}

impl HoldPurpose {
    pub const ALL: [Self; 2] = [Self::Client, Self::Waitlist];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Waitlist => "waitlist",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|purpose| purpose.as_str() == s)
    }
}

text_column!(HoldPurpose, "hold purpose");

// Stored in `waitlist_entries.status`. An entry still `waiting` after its `to_date` reads
// `expired` before the waitlist pass writes it so.
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
pub enum WaitlistStatus {
    Waiting,
    /// A hold is kept for the entry's client (its offer).
    Offered,
    /// The client booked the offer.
    Booked,
    /// Its dates passed.
    Expired,
    Cancelled,
}

impl WaitlistStatus {
    pub const ALL: [Self; 5] = [
        Self::Waiting,
        Self::Offered,
        Self::Booked,
        Self::Expired,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Offered => "offered",
            Self::Booked => "booked",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

text_column!(WaitlistStatus, "waitlist status");

/// What `inspine_holds_total{outcome}` counts: a hold made, and each way one ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldEvent {
    Created,
    /// Booked by its `hold_id`.
    Converted,
    /// Released by DELETE or by the client's next hold.
    Released,
    /// Found expired and unused (see `crate::booking::holds`): counted once, when first noticed.
    Expired,
}

impl HoldEvent {
    pub const ALL: [Self; 4] = [
        Self::Created,
        Self::Converted,
        Self::Released,
        Self::Expired,
    ];

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Converted => "converted",
            Self::Released => "released",
            Self::Expired => "expired",
        }
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
        for status in HoldStatus::ALL {
            assert_eq!(HoldStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        for purpose in HoldPurpose::ALL {
            assert_eq!(HoldPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(HoldStatus::parse("held"), None);
        for status in WaitlistStatus::ALL {
            assert_eq!(WaitlistStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
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
