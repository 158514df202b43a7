//! Loads what the slot engine needs for a set of therapists and a UTC window: rules, date
//! overrides, location zones, rooms, closures, time off, and what is taken: confirmed bookings
//! and holds live at `now` (active, unexpired), both busy until their end plus their type's
//! buffer. Range queries only, so the cost follows the window, not the size of the tables.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use uuid::Uuid;

use crate::config::Config;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::models::date_override::{self, OverrideRule};
use crate::models::schedule::{self, ScheduleRule};
use crate::models::{booking, catalog, closure, hold};
use crate::scheduling::{
    DayRule, Interval, LocationCalendar, SlotPolicy, TherapistCalendar, WeeklyRule,
};

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

/// The location's time zone (rules from the tz database bundled by jiff); a stored name that
/// database does not know is a server fault.
pub fn zone(location: &catalog::Location) -> Result<crate::scheduling::Zone, ApiError> {
    location
        .timezone
        .parse()
        .map_err(|_| ApiError::internal(format!("location {} has a bad zone", location.id)))
}

pub fn weekly_rule(rule: &ScheduleRule) -> Result<WeeklyRule, ApiError> {
    Ok(WeeklyRule {
        weekday: weekday(rule.weekday),
        start: time(rule.start_minute),
        end: time(rule.end_minute),
        location_id: uuid(&rule.location_id)?,
    })
}

pub fn day_rule(rule: &OverrideRule) -> Result<DayRule, ApiError> {
    Ok(DayRule {
        start: time(rule.start_minute),
        end: time(rule.end_minute),
        location_id: uuid(&rule.location_id)?,
    })
}

/// The local dates whose hours can reach [from, to) in any zone: a day either side.
fn local_dates(from: NaiveDateTime, to: NaiveDateTime) -> (NaiveDate, NaiveDate) {
    let (from, to) = (from.date(), to.date());
    (from.pred_opt().unwrap_or(from), to.succ_opt().unwrap_or(to))
}

/// `exclude_booking` leaves one booking out of the busy times (a reschedule may overlap its own
/// old time); `location_id` keeps only rules at that location; holds count while live at `now`.
pub fn load(
    conn: &mut DbConn,
    therapist_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    exclude_booking: Option<&str>,
    location_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<Calendars, ApiError> {
    let mut rules = schedule::rules_for(conn, therapist_ids)?;
    let (first_date, last_date) = local_dates(from, to);
    let mut overrides = date_override::between(conn, therapist_ids, first_date, last_date)?;
    if let Some(location_id) = location_id {
        rules.retain(|r| r.location_id == location_id);
        // An override still replaces its date's weekly rules when none of it is here.
        for o in &mut overrides {
            o.rules.retain(|r| r.location_id == location_id);
        }
    }
    let mut location_ids: Vec<String> = rules
        .iter()
        .map(|r| r.location_id.clone())
        .chain(
            overrides
                .iter()
                .flat_map(|o| o.rules.iter().map(|r| r.location_id.clone())),
        )
        .collect();
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
        for (room_id, start, end) in hold::busy_for_rooms(conn, &all_room_ids, from, to, now)? {
            if let Some(room_id) = room_id {
                room_busy
                    .entry(room_id)
                    .or_default()
                    .push(interval(start, end));
            }
        }
    }

    let mut closures: HashMap<String, Vec<Interval>> = HashMap::new();
    if !location_ids.is_empty() {
        for c in closure::between(conn, &location_ids, from, to)? {
            closures
                .entry(c.location_id)
                .or_default()
                .push(interval(c.starts_at, c.ends_at));
        }
    }

    let mut locations = Vec::new();
    let mut room_ids = HashMap::new();
    for location in catalog::locations_by_ids(conn, &location_ids)? {
        let tz = zone(&location)?;
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
            closures: closures.remove(&location.id).unwrap_or_default(),
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
    for (therapist_id, start, end) in hold::busy_for_therapists(conn, therapist_ids, from, to, now)?
    {
        busy.entry(therapist_id)
            .or_default()
            .push(interval(start, end));
    }

    let mut therapists = Vec::with_capacity(therapist_ids.len());
    for therapist_id in therapist_ids {
        let weekly = rules
            .iter()
            .filter(|r| &r.therapist_id == therapist_id)
            .map(weekly_rule)
            .collect::<Result<_, _>>()?;
        let mut by_date = BTreeMap::new();
        for o in overrides
            .iter()
            .filter(|o| &o.date_override.therapist_id == therapist_id)
        {
            let hours = o.rules.iter().map(day_rule).collect::<Result<_, _>>()?;
            by_date.insert(o.date_override.date, hours);
        }
        therapists.push(TherapistCalendar {
            therapist_id: uuid(therapist_id)?,
            rules: weekly,
            overrides: by_date,
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
