//! Availability engine: which appointment starts can be offered.
//!
//! Pure computation — no I/O, no HTTP, no SQL. Callers load the calendars
//! (rules, time off, bookings, room occupancy) near the requested window and
//! pass them in; every instant is UTC, every rule is in its location's
//! wall-clock time.
//!
//! * [`compute_slots`] lists the offered slots for a date range.
//! * [`check_start`] validates one requested start with the same rules and
//!   says why it is refused ([`Rejection`]), e.g. to pick 409 vs 422
//!   (see [`Rejection::is_conflict`]).
//! * [`validate_rules`] checks a therapist's weekly rules before saving.
//!
//! DST: a wall-clock start in a spring-forward gap is skipped; an ambiguous
//! (fall-back) start is offered once, at its earliest instant; a rule end in
//! a gap means the end of the gap, an ambiguous end its latest instant.
//! Slots always last exactly `duration` minutes of real time.

pub mod interval;
pub mod rules;
pub mod slots;
pub mod zone;

pub use interval::{Interval, IntervalSet};
pub use rules::{WeeklyRule, validate_rules};
pub use slots::{
    LocationCalendar, Rejection, Slot, SlotPolicy, SlotRequest, TherapistCalendar, check_start,
    compute_slots,
};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
