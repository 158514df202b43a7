//! Slot search: the offered starts of one massage type and duration, across the therapists who
//! offer it, over a window of local dates. Loads what the window needs and asks the pure engine.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::BookingError;
use crate::availability::snapshot::{Offered, Wanted};
use crate::availability::{self, SlotCache};
use crate::config::Config;
use crate::db::DbConn;
use crate::models::therapist::{self, TherapistFilter};
use crate::scheduling::{self, Slot, SlotPolicy, SlotRequest};

/// What is searched; ids as stored (canonical UUID text).
pub struct SlotSearch {
    pub massage_type_id: String,
    pub duration_minutes: u32,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub therapist_id: Option<String>,
    pub location_id: Option<String>,
}

impl SlotSearch {
    /// The question as the cache's kept answers are named.
    fn question(&self) -> String {
        let none = String::new();
        format!(
            "{} {} {} {} {} {}",
            self.massage_type_id,
            self.duration_minutes,
            self.from,
            self.to,
            self.therapist_id.as_ref().unwrap_or(&none),
            self.location_id.as_ref().unwrap_or(&none),
        )
    }
}

/// Answered from `cache` (checked against the database first) when there is one, else from
/// the database alone; both give the same answer. With a cache, an answer computed before is
/// given again while nothing it was computed from has changed (`snapshot::memo`).
pub fn offered_slots(
    conn: &mut DbConn,
    config: &Config,
    search: &SlotSearch,
    now: DateTime<Utc>,
    cache: Option<&SlotCache>,
) -> Result<Arc<Offered>, BookingError> {
    let (from, to) = utc_window(search);
    let Some(cache) = cache else {
        let slots = from_database(conn, config, search, now, from, to)?;
        return Ok(Arc::new(Offered::once(slots)));
    };
    let wanted = Wanted {
        massage_type_id: &search.massage_type_id,
        therapist_id: search.therapist_id.as_deref(),
        from,
        to,
        now: now.naive_utc(),
    };
    let mut view = cache.view(conn, &wanted)?;
    let question = search.question();
    if let Some(kept) = cache.recall(&question, &view, wanted.now) {
        return Ok(kept);
    }
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
    let window = (from, to);
    let slots = offered_by(
        &mut view,
        config,
        search,
        &therapist_ids,
        buffer_minutes,
        now,
        window,
    )?;
    let policy = availability::policy(config);
    Ok(
        match holds_until(&policy, search.to, now, view.claims_change_at(), &slots) {
            Some(until) => cache.remember(question, &view, wanted.now, until, slots),
            None => Arc::new(Offered::once(slots)),
        },
    )
}

/// Until when (exclusive) the passing of time alone leaves this answer as it is: the first
/// offered start stays outside the minimum notice and the holds counted stay live. `None` when
/// the horizon ends inside the window: as it moves on, later starts would be offered.
fn holds_until(
    policy: &SlotPolicy,
    last_date: NaiveDate,
    now: DateTime<Utc>,
    claims_change_at: Option<NaiveDateTime>,
    slots: &[Slot],
) -> Option<NaiveDateTime> {
    // Past the last UTC instant a local date of the window reaches in any zone (as the engine
    // bounds it).
    let window_end =
        (last_date.and_time(NaiveTime::MIN).and_utc()).checked_add_signed(Duration::days(3))?;
    if policy.latest_start(now) < window_end {
        return None;
    }
    let mut until = NaiveDateTime::MAX;
    // Slots are sorted by start: the first is the earliest.
    if let Some(first) = slots.first() {
        let last_now = first.start.checked_sub_signed(policy.min_notice)?;
        until = until.min(last_now.naive_utc() + Duration::nanoseconds(1));
    }
    if let Some(expiry) = claims_change_at {
        until = until.min(expiry);
    }
    Some(until)
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
    let buffer_minutes = massage_type.buffer_minutes;
    offered_by(
        conn,
        config,
        search,
        &therapist_ids,
        buffer_minutes,
        now,
        (from, to),
    )
}

/// What `therapist_ids` offer for `search`, their calendars over the UTC `window` read from
/// `source` (nothing to read when there are none).
fn offered_by<S: availability::Source + ?Sized>(
    source: &mut S,
    config: &Config,
    search: &SlotSearch,
    therapist_ids: &[String],
    buffer_minutes: i32,
    now: DateTime<Utc>,
    (from, to): (NaiveDateTime, NaiveDateTime),
) -> Result<Vec<Slot>, BookingError> {
    if therapist_ids.is_empty() {
        return Ok(Vec::new());
    }
    let cal = availability::load(
        source,
        therapist_ids,
        from,
        to,
        None,
        search.location_id.as_deref(),
        now.naive_utc(),
    )?;
    Ok(compute(config, search, buffer_minutes, now, &cal))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn policy() -> SlotPolicy {
        SlotPolicy {
            step_minutes: 15,
            min_notice: Duration::minutes(120),
            horizon: Duration::days(90),
        }
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, day, hour, 0, 0)
            .single()
            .expect("a time")
    }

    fn slot(start: DateTime<Utc>) -> Slot {
        Slot {
            start,
            end: start + Duration::hours(1),
            therapist_id: Uuid::nil(),
            location_id: Uuid::nil(),
        }
    }

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 3, day).expect("a date")
    }

    #[test]
    fn an_answer_holds_until_its_first_start_enters_the_notice() {
        let until = holds_until(&policy(), date(12), at(1, 8), None, &[slot(at(10, 17))]);
        // 17:00 is offered while now + 2 h <= 17:00, i.e. through 15:00 itself.
        let last = at(10, 15).naive_utc();
        assert_eq!(until, Some(last + Duration::nanoseconds(1)));
    }

    #[test]
    fn an_answer_holds_until_a_counted_hold_expires() {
        let expiry = at(1, 8).naive_utc() + Duration::minutes(10);
        let until = holds_until(
            &policy(),
            date(12),
            at(1, 8),
            Some(expiry),
            &[slot(at(10, 17))],
        );
        assert_eq!(until, Some(expiry));
        let empty = holds_until(&policy(), date(12), at(1, 8), None, &[]);
        assert_eq!(
            empty,
            Some(NaiveDateTime::MAX),
            "nothing time alone can change"
        );
    }

    #[test]
    fn an_answer_the_horizon_cuts_is_not_kept() {
        // The horizon (90 days after 1 March) ends before 30 May's last local instant.
        let cut = NaiveDate::from_ymd_opt(2027, 5, 30).expect("a date");
        assert_eq!(holds_until(&policy(), cut, at(1, 8), None, &[]), None);
        let inside = NaiveDate::from_ymd_opt(2027, 5, 26).expect("a date");
        assert!(holds_until(&policy(), inside, at(1, 8), None, &[]).is_some());
    }
}
