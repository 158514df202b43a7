//! RFC 5545 calendars built with the `icalendar` crate: one VEVENT per booking with a stable UID,
//! a SEQUENCE that grows with every change, and cancelled bookings kept as STATUS:CANCELLED so
//! subscribed calendars remove them.

use std::collections::HashMap;

use icalendar::{Calendar, Component, EventLike, EventStatus};

use crate::models::booking::Booking;
use crate::models::catalog::{Location, MassageType};

/// UIDs must be globally unique and stable: the booking id at a domain of ours.
pub const UID_DOMAIN: &str = "inspine.example";

/// Names the feed needs to describe bookings.
#[derive(Default)]
pub struct Names {
    pub massage_types: HashMap<String, MassageType>,
    pub locations: HashMap<String, Location>,
    /// Client names, filled only for a therapist's own feed.
    pub clients: HashMap<String, String>,
    pub therapists: HashMap<String, String>,
}

/// Texts in a feed are single lines of printable text: requests cannot store control or bidi
/// characters any more, but rows written before that rule may hold them, and a bare CR or a NUL
/// would break the calendar apps that read the feed. Each such character becomes a space.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if crate::validation::is_forbidden(c, crate::validation::Lines::One) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn event(booking: &Booking, names: &Names) -> icalendar::Event {
    let type_name = names
        .massage_types
        .get(&booking.massage_type_id)
        .map_or("Massage", |t| t.name.as_str());
    let mut summary = format!("{type_name} ({} min)", booking.duration_minutes);
    if let Some(client) = names.clients.get(&booking.client_id) {
        summary.push_str(&format!(" — {client}"));
    } else if let Some(therapist) = names.therapists.get(&booking.therapist_id) {
        summary.push_str(&format!(" with {therapist}"));
    }
    let location = names
        .locations
        .get(&booking.location_id)
        .map(|l| format!("Inspine Therapy {}, {}", l.name, l.address))
        .unwrap_or_default();
    let mut event = icalendar::Event::new();
    event
        .uid(&format!("{}@{UID_DOMAIN}", booking.id))
        .timestamp(booking.updated_at.and_utc())
        .starts(booking.start_at.and_utc())
        .ends(booking.end_at.and_utc())
        .summary(&one_line(&summary))
        .location(&one_line(&location))
        .sequence(u32::try_from(booking.sequence).unwrap_or(0))
        .status(
            if booking.status == crate::models::vocabulary::BookingStatus::Cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            },
        );
    event.done()
}

pub fn render(name: &str, bookings: &[Booking], names: &Names) -> String {
    let mut calendar = Calendar::new();
    calendar.name(&one_line(name));
    for booking in bookings {
        calendar.push(event(booking, names));
    }
    calendar.done().to_string()
}

/// One booking as an email's calendar part (`METHOD:PUBLISH`, the same UID and growing
/// SEQUENCE as in the feeds, so a calendar that added it updates or, once cancelled, removes
/// the event).
pub fn invitation(booking: &Booking, names: &Names) -> String {
    let mut calendar = Calendar::new();
    calendar.append_property(icalendar::Property::new("METHOD", "PUBLISH"));
    calendar.push(event(booking, names));
    calendar.done().to_string()
}
