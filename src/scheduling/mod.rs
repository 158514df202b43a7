//! Slot engine: which appointment starts can be offered.
//!
//! Pure computation — no I/O, no HTTP, no SQL. [`crate::availability`] loads the calendars
//! (weekly rules, date overrides, time off, bookings and live holds, room occupancy, closures)
//! near the requested window and they are passed in (a hold is busy time like a booking); every instant is UTC, every rule is in its
//! location's wall-clock time.
//!
//! * [`compute_slots`] lists the offered slots for a date range.
//! * [`check_start`] checks one requested start with the same rules and returns the location and
//!   free room it would take, or why it is refused ([`Rejection`]); the booking handlers decide
//!   which rejections are a 409 and which a 422.
//! * [`validate_rules`] checks a therapist's weekly rules (or one date's override rules, all
//!   given one weekday) before saving.
//! * [`TherapistCalendar::hours_on`] says which hours apply on a date: a date override
//!   replaces that date's weekly rules; [`within_hours`] says whether a booked span still lies
//!   inside them; [`day_span`] is a whole local day in UTC (a closure for a holiday).
//! * A location's closures take their spans out of every therapist's hours there.
//! * [`occurrences`] turns a recurring series (one local wall-clock time every few weeks) into
//!   UTC instants, in the zone [`series_zone`] picks for its first start.
//! * [`Interval`] / [`IntervalSet`] are the half-open UTC spans the checks are made of, and
//!   `zone` converts wall-clock times to instants.
//!
//! DST: a wall-clock start in a spring-forward gap is skipped; an ambiguous
//! (fall-back) start is offered once, at its earliest instant; a rule end in
//! a gap means the end of the gap, an ambiguous end its latest instant.
//! Slots always last exactly `duration` minutes of real time.

pub mod hours;
pub mod interval;
pub mod rules;
pub mod series;
pub mod slots;
pub mod zone;

pub use hours::{day_span, within_hours};
pub use interval::{Interval, IntervalSet};
pub use rules::{DayRule, WeeklyRule, validate_rules};
pub use series::{Occurrence, occurrences, series_zone};
pub use slots::{
    LocationCalendar, Rejection, Slot, SlotPolicy, SlotRequest, TherapistCalendar, check_start,
    compute_slots,
};
pub use zone::{UnknownZone, Zone};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
