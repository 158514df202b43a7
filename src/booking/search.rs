//! Slot search: the offered starts of one massage type and duration, across the therapists who
//! offer it, over a window of local dates. Loads what the window needs and asks the pure engine.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::BookingError;
use crate::availability::{self, SlotCache, snapshot::Wanted};
use crate::config::Config;
use crate::db::DbConn;
use crate::models::therapist::{self, TherapistFilter};
use crate::scheduling::{self, Slot, SlotRequest};

/// What is searched; ids as stored (canonical UUID text).
pub struct SlotSearch {
    pub massage_type_id: String,
    pub duration_minutes: u32,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub therapist_id: Option<String>,
    pub location_id: Option<String>,
}

/// Answered from `cache` (checked against the database first) when there is one, else from
/// the database alone; both give the same answer.
pub fn offered_slots(
    conn: &mut DbConn,
    config: &Config,
    search: &SlotSearch,
    now: DateTime<Utc>,
    cache: Option<&SlotCache>,
) -> Result<Vec<Slot>, BookingError> {
    let (from, to) = utc_window(search);
    let Some(cache) = cache else {
        return from_database(conn, config, search, now, from, to);
    };
    let wanted = Wanted {
        massage_type_id: &search.massage_type_id,
        therapist_id: search.therapist_id.as_deref(),
        from,
        to,
        now: now.naive_utc(),
    };
    let mut view = cache.view(conn, &wanted)?;
    let buffer_minutes = match view.massage_type(&search.massage_type_id)? {
        Some((t, options)) if t.active => {
            if !options
                .iter()
                .any(|o| i64::from(o.duration_minutes) == i64::from(search.duration_minutes))
            {
                return Err(BookingError::DurationNotOffered);
            }
            t.buffer_minutes
        }
        _ => return Err(BookingError::NoActiveMassageType),
    };
    // Therapists without hours at the location (if one is asked for) are kept: their rules
    // there are none, so they offer nothing, as the database's narrower list gives.
    let therapist_ids = view.therapists(&wanted)?;
    if therapist_ids.is_empty() {
        return Ok(Vec::new());
    }
    let cal = availability::load(
        &mut view,
        &therapist_ids,
        from,
        to,
        None,
        search.location_id.as_deref(),
        now.naive_utc(),
    )?;
    Ok(compute(config, search, buffer_minutes, now, &cal))
}

/// Local dates map to UTC within a day either side for every real zone. Dates are bounded at
/// the edge (years 0000–9999), so the shifted instants stay in chrono's range; saturate anyway
/// rather than panic.
fn utc_window(search: &SlotSearch) -> (NaiveDateTime, NaiveDateTime) {
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
    let from = midnight(search.from)
        .checked_sub_signed(Duration::days(1))
        .unwrap_or(NaiveDateTime::MIN);
    let to = midnight(search.to)
        .checked_add_signed(Duration::days(2))
        .unwrap_or(NaiveDateTime::MAX);
    (from, to)
}

fn compute(
    config: &Config,
    search: &SlotSearch,
    buffer_minutes: i32,
    now: DateTime<Utc>,
    cal: &availability::Calendars,
) -> Vec<Slot> {
    let policy = availability::policy(config);
    let request = SlotRequest {
        from: search.from,
        to: search.to,
        duration_minutes: search.duration_minutes,
        buffer_minutes: buffer_minutes.max(0) as u32,
        now,
        policy: &policy,
    };
    scheduling::compute_slots(&request, &cal.therapists, &cal.locations)
}

fn from_database(
    conn: &mut DbConn,
    config: &Config,
    search: &SlotSearch,
    now: DateTime<Utc>,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<Slot>, BookingError> {
    let (massage_type, _) =
        super::offer::offered_option(conn, &search.massage_type_id, search.duration_minutes)?;
    // Extra hours of a date override at the location count, not only the weekly rules.
    let filter = TherapistFilter {
        massage_type_id: Some(search.massage_type_id.clone()),
        location_id: search.location_id.clone(),
        override_dates: Some((
            search.from.pred_opt().unwrap_or(search.from),
            search.to.succ_opt().unwrap_or(search.to),
        )),
        active_only: true,
    };
    let mut therapist_ids: Vec<String> = therapist::list(conn, &filter, None, i64::MAX)?
        .into_iter()
        .map(|t| t.id)
        .collect();
    if let Some(only) = &search.therapist_id {
        therapist_ids.retain(|t| t == only);
    }
    if therapist_ids.is_empty() {
        return Ok(Vec::new());
    }
    let cal = availability::load(
        conn,
        &therapist_ids,
        from,
        to,
        None,
        search.location_id.as_deref(),
        now.naive_utc(),
    )?;
    Ok(compute(
        config,
        search,
        massage_type.buffer_minutes,
        now,
        &cal,
    ))
}
