//! Loads what the slot engine needs for a set of therapists and a UTC window: rules, location
//! zones, rooms, time off and confirmed bookings. Range queries only, so the cost follows the
//! window, not the size of the bookings table.

use std::collections::HashMap;

use chrono::{NaiveDateTime, NaiveTime, Weekday};
use uuid::Uuid;

use crate::config::Config;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::{booking, catalog, schedule};
use crate::scheduling::{Interval, LocationCalendar, SlotPolicy, TherapistCalendar, WeeklyRule};

pub struct Calendars {
    pub therapists: Vec<TherapistCalendar>,
    pub locations: Vec<LocationCalendar>,
    /// Room ids per location, in the same order as `LocationCalendar::rooms`.
    pub room_ids: HashMap<Uuid, Vec<String>>,
}

pub fn policy(config: &Config) -> SlotPolicy {
    SlotPolicy {
        step_minutes: config.slot_step_minutes,
        min_notice: chrono::Duration::minutes(i64::from(config.min_notice_minutes)),
        horizon: chrono::Duration::days(i64::from(config.booking_horizon_days)),
    }
}

fn uuid(s: &str) -> Result<Uuid, ApiError> {
    s.parse().map_err(ApiError::internal)
}

pub fn weekday(index: i32) -> Weekday {
    match index {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

pub fn time(minutes: i32) -> NaiveTime {
    let minutes = minutes.clamp(0, 1439) as u32;
    NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap_or(NaiveTime::MIN)
}

fn interval(start: NaiveDateTime, end: NaiveDateTime) -> Interval {
    Interval::new(start.and_utc(), end.and_utc())
}

/// `exclude_booking` leaves one booking out of the busy times (a reschedule may overlap its own
/// old time); `location_id` keeps only rules at that location.
pub fn load(
    conn: &mut DbConn,
    therapist_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    exclude_booking: Option<&str>,
    location_id: Option<&str>,
) -> Result<Calendars, ApiError> {
    let mut rules = schedule::rules_for(conn, therapist_ids)?;
    if let Some(location_id) = location_id {
        rules.retain(|r| r.location_id == location_id);
    }
    let mut location_ids: Vec<String> = rules.iter().map(|r| r.location_id.clone()).collect();
    location_ids.sort();
    location_ids.dedup();

    let rooms = catalog::active_rooms_at(conn, &location_ids)?;
    let all_room_ids: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    let mut room_busy: HashMap<String, Vec<Interval>> = HashMap::new();
    if !all_room_ids.is_empty() {
        for (room_id, start, end, id) in booking::busy_for_rooms(conn, &all_room_ids, from, to)? {
            if Some(id.as_str()) != exclude_booking
                && let Some(room_id) = room_id
            {
                room_busy
                    .entry(room_id)
                    .or_default()
                    .push(interval(start, end));
            }
        }
    }

    let mut locations = Vec::new();
    let mut room_ids = HashMap::new();
    for location in catalog::locations_by_ids(conn, &location_ids)? {
        let tz = location
            .timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| ApiError::internal(format!("location {} has a bad zone", location.id)))?;
        let id = uuid(&location.id)?;
        let here: Vec<&catalog::Room> = rooms
            .iter()
            .filter(|r| r.location_id == location.id)
            .collect();
        locations.push(LocationCalendar {
            id,
            tz,
            rooms: here
                .iter()
                .map(|r| room_busy.remove(&r.id).unwrap_or_default())
                .collect(),
        });
        room_ids.insert(id, here.iter().map(|r| r.id.clone()).collect());
    }

    let mut time_off: HashMap<String, Vec<Interval>> = HashMap::new();
    for t in schedule::time_off_between(conn, therapist_ids, from, to)? {
        time_off
            .entry(t.therapist_id)
            .or_default()
            .push(interval(t.starts_at, t.ends_at));
    }
    let mut busy: HashMap<String, Vec<Interval>> = HashMap::new();
    for (therapist_id, start, end, id) in
        booking::busy_for_therapists(conn, therapist_ids, from, to)?
    {
        if Some(id.as_str()) != exclude_booking {
            busy.entry(therapist_id)
                .or_default()
                .push(interval(start, end));
        }
    }

    let mut therapists = Vec::with_capacity(therapist_ids.len());
    for therapist_id in therapist_ids {
        let mut weekly = Vec::new();
        for rule in rules.iter().filter(|r| &r.therapist_id == therapist_id) {
            weekly.push(WeeklyRule {
                weekday: weekday(rule.weekday),
                start: time(rule.start_minute),
                end: time(rule.end_minute),
                location_id: uuid(&rule.location_id)?,
            });
        }
        therapists.push(TherapistCalendar {
            therapist_id: uuid(therapist_id)?,
            rules: weekly,
            time_off: time_off.remove(therapist_id).unwrap_or_default(),
            busy: busy.remove(therapist_id).unwrap_or_default(),
        });
    }
    Ok(Calendars {
        therapists,
        locations,
        room_ids,
    })
}
