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
use crate::models::{catalog, claims, closure};

pub mod snapshot;

use crate::scheduling::{
    DayRule, Interval, LocationCalendar, SlotPolicy, TherapistCalendar, WeeklyRule,
};
pub use snapshot::SlotCache;

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

/// What [`load`] asks of where the calendars come from: the database ([`DbConn`]), or the
/// search's in-memory [`snapshot`] once it has checked that what it holds is current. Ranges
/// are UTC, half-open; busy ranges run from a claim's start to its end plus its buffer.
pub trait Source {
    /// Weekly rules of these therapists.
    fn rules(&mut self, therapist_ids: &[String]) -> Result<Vec<ScheduleRule>, ApiError>;
    /// Date overrides (with their rules) of these therapists on local dates `from..=to`.
    fn overrides(
        &mut self,
        therapist_ids: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<date_override::WithRules>, ApiError>;
    fn active_rooms(&mut self, location_ids: &[String]) -> Result<Vec<catalog::Room>, ApiError>;
    fn locations(&mut self, location_ids: &[String]) -> Result<Vec<catalog::Location>, ApiError>;
    /// Closures of these locations meeting the window, by location id.
    fn closures(
        &mut self,
        location_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError>;
    /// Time off of these therapists meeting the window, by therapist id.
    fn time_off(
        &mut self,
        therapist_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError>;
    /// Busy ranges of confirmed bookings (but `window.exclude_booking`) and of holds live at
    /// `window.now` in these rooms, meeting the window, by room id.
    fn room_claims(
        &mut self,
        room_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError>;
    /// The same for these therapists, by therapist id.
    fn therapist_claims(
        &mut self,
        therapist_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError>;
}

/// Busy ranges by therapist, room or location id.
pub type Busy = HashMap<String, Vec<Interval>>;

/// The UTC window a calendar is loaded for, and what counts as taken in it.
pub struct Window<'a> {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    /// Holds count while live at this instant.
    pub now: NaiveDateTime,
    /// Left out of the busy times (a reschedule may overlap its own old time).
    pub exclude_booking: Option<&'a str>,
}

impl Source for DbConn {
    fn rules(&mut self, therapist_ids: &[String]) -> Result<Vec<ScheduleRule>, ApiError> {
        Ok(schedule::rules_for(self, therapist_ids)?)
    }

    fn overrides(
        &mut self,
        therapist_ids: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<date_override::WithRules>, ApiError> {
        Ok(date_override::between(self, therapist_ids, from, to)?)
    }

    fn active_rooms(&mut self, location_ids: &[String]) -> Result<Vec<catalog::Room>, ApiError> {
        Ok(catalog::active_rooms_at(self, location_ids)?)
    }

    fn locations(&mut self, location_ids: &[String]) -> Result<Vec<catalog::Location>, ApiError> {
        Ok(catalog::locations_by_ids(self, location_ids)?)
    }

    fn closures(
        &mut self,
        location_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        for c in closure::between(self, location_ids, window.from, window.to)? {
            push(out, c.location_id, c.starts_at, c.ends_at);
        }
        Ok(())
    }

    fn time_off(
        &mut self,
        therapist_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        for t in schedule::time_off_between(self, therapist_ids, window.from, window.to)? {
            push(out, t.therapist_id, t.starts_at, t.ends_at);
        }
        Ok(())
    }

    fn room_claims(
        &mut self,
        room_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        let span = (window.from, window.to);
        let found = claims::of(self, claims::Owners::Rooms, room_ids, span, window.now)?;
        push_claims(out, found, window);
        Ok(())
    }

    fn therapist_claims(
        &mut self,
        therapist_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        let span = (window.from, window.to);
        let found = claims::of(
            self,
            claims::Owners::Therapists,
            therapist_ids,
            span,
            window.now,
        )?;
        push_claims(out, found, window);
        Ok(())
    }
}

/// Claims as busy times of their owners, but for the booking the window leaves out.
fn push_claims(out: &mut Busy, found: Vec<claims::Claim>, window: &Window) {
    for (owner, start, end, booking_id) in found {
        if booking_id.is_some() && booking_id.as_deref() == window.exclude_booking {
            continue;
        }
        if let Some(owner) = owner {
            push(out, owner, start, end);
        }
    }
}

fn push(out: &mut Busy, id: String, start: NaiveDateTime, end: NaiveDateTime) {
    out.entry(id).or_default().push(interval(start, end));
}

/// `exclude_booking` leaves one booking out of the busy times (a reschedule may overlap its own
/// old time); `location_id` keeps only rules at that location; holds count while live at `now`.
pub fn load<S: Source + ?Sized>(
    source: &mut S,
    therapist_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    exclude_booking: Option<&str>,
    location_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<Calendars, ApiError> {
    let window = Window {
        from,
        to,
        now,
        exclude_booking,
    };
    let mut rules = source.rules(therapist_ids)?;
    let (first_date, last_date) = local_dates(from, to);
    let mut overrides = source.overrides(therapist_ids, first_date, last_date)?;
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

    let rooms = source.active_rooms(&location_ids)?;
    let all_room_ids: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    let mut room_busy = Busy::new();
    if !all_room_ids.is_empty() {
        source.room_claims(&all_room_ids, &window, &mut room_busy)?;
    }

    let mut closures = Busy::new();
    if !location_ids.is_empty() {
        source.closures(&location_ids, &window, &mut closures)?;
    }

    let mut locations = Vec::new();
    let mut room_ids = HashMap::new();
    for location in source.locations(&location_ids)? {
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

    let mut time_off = Busy::new();
    source.time_off(therapist_ids, &window, &mut time_off)?;
    let mut busy = Busy::new();
    source.therapist_claims(therapist_ids, &window, &mut busy)?;

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
