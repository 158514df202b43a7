//! The slot engine: which starts can be offered, and why a given start cannot.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::interval::{Interval, IntervalSet};
use super::rules::{DayRule, WeeklyRule};
use super::zone::{Zone, resolve_end, resolve_start};

/// A location's calendar: its time zone, its rooms' occupancy and its closures.
#[derive(Debug, Clone)]
pub struct LocationCalendar {
    pub id: Uuid,
    pub tz: Zone,
    /// One entry per active room at the location; each is that room's
    /// occupied intervals (bookings and live holds, any order). Empty vec = the location has no rooms
    /// = limited by therapists only.
    pub rooms: Vec<Vec<Interval>>,
    /// Closures, UTC, any order, may overlap each other. A closure takes its
    /// span out of every therapist's hours at the location: no occupied range
    /// (massage + buffer) may overlap one, and a start inside one is outside
    /// the schedule.
    pub closures: Vec<Interval>,
}

/// A therapist's calendar: weekly rules and date overrides, plus what is
/// already taken.
#[derive(Debug, Clone)]
pub struct TherapistCalendar {
    pub therapist_id: Uuid,
    pub rules: Vec<WeeklyRule>,
    /// Date overrides by local date: on a listed date these hours replace the
    /// weekly rules of its weekday (an empty list is a day off; a list on a
    /// weekday without rules adds hours). Each is read on that date in its
    /// location's zone, like a weekly rule.
    pub overrides: BTreeMap<NaiveDate, Vec<DayRule>>,
    /// Time off, UTC, any order, may overlap each other.
    pub time_off: Vec<Interval>,
    /// What already claims the therapist: confirmed bookings and live holds
    /// (a hold blocks exactly like a booking), each as
    /// `[start, end + that claim's buffer)`, any order.
    pub busy: Vec<Interval>,
}

/// Booking policy applied to every slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotPolicy {
    /// Slot grid in minutes, counted from each rule's start. `0` is treated
    /// as [`SlotPolicy::DEFAULT_STEP_MINUTES`].
    pub step_minutes: u32,
    /// Earliest start = now + min_notice (inclusive).
    pub min_notice: chrono::Duration,
    /// Latest start = now + horizon (inclusive).
    pub horizon: chrono::Duration,
}

impl SlotPolicy {
    pub const DEFAULT_STEP_MINUTES: u32 = 15;

    /// The grid step actually used (`0` → 15 minutes).
    pub fn step(&self) -> TimeDelta {
        let m = if self.step_minutes == 0 {
            Self::DEFAULT_STEP_MINUTES
        } else {
            self.step_minutes
        };
        TimeDelta::minutes(i64::from(m))
    }

    /// Earliest allowed start (`now + min_notice`, saturating).
    pub fn earliest_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        saturating_add(now, self.min_notice)
    }

    /// Latest allowed start (`now + horizon`, saturating).
    pub fn latest_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        saturating_add(now, self.horizon)
    }
}

impl Default for SlotPolicy {
    /// 15-minute grid, no minimum notice, 90-day horizon.
    fn default() -> Self {
        Self {
            step_minutes: Self::DEFAULT_STEP_MINUTES,
            min_notice: chrono::Duration::zero(),
            horizon: chrono::Duration::days(90),
        }
    }
}

/// A request for offered slots.
#[derive(Debug, Clone, Copy)]
pub struct SlotRequest<'a> {
    /// First local date (inclusive), interpreted in each rule's location zone.
    pub from: NaiveDate,
    /// Last local date (inclusive), interpreted in each rule's location zone.
    pub to: NaiveDate,
    pub duration_minutes: u32,
    /// The requested massage type's buffer after the massage.
    pub buffer_minutes: u32,
    pub now: DateTime<Utc>,
    pub policy: &'a SlotPolicy,
}

/// One offered slot: `[start, end)` is the massage itself (no buffer).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub therapist_id: Uuid,
    pub location_id: Uuid,
}

impl Slot {
    /// `[start, end)`.
    pub fn interval(&self) -> Interval {
        Interval::new(self.start, self.end)
    }
}

/// Why a specific start is not offered. Checks run in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Inside a rule's hours but not on its step grid (or the second
    /// occurrence of an ambiguous fall-back wall-clock time).
    OffGrid,
    /// Not inside any rule, or on a rule's grid but the massage + buffer
    /// does not fit before the rule's end.
    OutsideSchedule,
    /// Before `now + min_notice`.
    TooSoon,
    /// After `now + horizon`.
    TooFarAhead,
    /// Overlaps the therapist's time off.
    TimeOff,
    /// Overlaps one of the therapist's existing bookings (incl. its buffer).
    Taken,
    /// Every room at the location is occupied.
    NoRoom,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            Rejection::OffGrid => "start is not on the therapist's slot grid",
            Rejection::OutsideSchedule => "start is outside the therapist's working hours",
            Rejection::TooSoon => "start is sooner than the minimum notice",
            Rejection::TooFarAhead => "start is beyond the booking horizon",
            Rejection::TimeOff => "therapist is off at that time",
            Rejection::Taken => "therapist is already booked at that time",
            Rejection::NoRoom => "no room is free at that time",
        };
        f.write_str(msg)
    }
}

impl std::error::Error for Rejection {}

// ---------------------------------------------------------------------------
// helpers

fn saturating_add(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < TimeDelta::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

fn minutes(m: u32) -> TimeDelta {
    TimeDelta::minutes(i64::from(m))
}

/// One rule on one local date: its wall-clock window and the UTC end.
struct RuleDay {
    base: NaiveDateTime,
    end_local: NaiveDateTime,
    window_end: DateTime<Utc>,
}

fn rule_day(hours: DayRule, tz: &Zone, date: NaiveDate) -> Option<RuleDay> {
    if hours.start >= hours.end {
        return None;
    }
    let base = date.and_time(hours.start);
    let end_local = date.and_time(hours.end);
    let window_end = resolve_end(tz, end_local)?;
    Some(RuleDay {
        base,
        end_local,
        window_end,
    })
}

fn date_start_utc(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Hours with their location resolved to an index into `locations`.
type Placed = (DayRule, usize);

struct PreparedTherapist {
    therapist_id: Uuid,
    by_weekday: [Vec<Placed>; 7],
    /// The overrides of the searched dates (an empty list still replaces).
    overrides: BTreeMap<NaiveDate, Vec<Placed>>,
    blocked: IntervalSet,
}

impl PreparedTherapist {
    /// `None` when no rule or override of the therapist can produce anything.
    fn new(
        t: &TherapistCalendar,
        locations: &[LocationCalendar],
        window: &Interval,
        dates: (NaiveDate, NaiveDate),
    ) -> Option<Self> {
        let place = |h: DayRule| {
            if h.start >= h.end {
                return None;
            }
            let li = locations.iter().position(|l| l.id == h.location_id)?;
            Some((h, li))
        };
        let mut by_weekday: [Vec<Placed>; 7] = Default::default();
        for rule in &t.rules {
            if let Some(placed) = place(rule.hours()) {
                by_weekday[rule.weekday.num_days_from_monday() as usize].push(placed);
            }
        }
        let overrides: BTreeMap<NaiveDate, Vec<Placed>> = t
            .overrides
            .range(dates.0..=dates.1)
            .map(|(&date, hours)| (date, hours.iter().filter_map(|&h| place(h)).collect()))
            .collect();
        if by_weekday.iter().all(Vec::is_empty) && overrides.values().all(Vec::is_empty) {
            return None;
        }
        let blocked =
            IntervalSet::from_unsorted_within(t.time_off.iter().chain(t.busy.iter()), window);
        Some(Self {
            therapist_id: t.therapist_id,
            by_weekday,
            overrides,
            blocked,
        })
    }

    /// The therapist's hours on `date`: its override, else the weekly rules of its weekday.
    fn on(&self, date: NaiveDate) -> &[Placed] {
        self.overrides.get(&date).map_or_else(
            || &self.by_weekday[date.weekday().num_days_from_monday() as usize][..],
            Vec::as_slice,
        )
    }
}

/// A location's occupancy and closures near the window, built on first use.
#[derive(Clone)]
struct PreparedLocation {
    rooms: Vec<IntervalSet>,
    closed: IntervalSet,
}

/// The candidate starts of one rule shape at one location on one date that
/// pass every therapist-independent check (grid, DST, fit, notice, horizon,
/// no closure, a free room), each with the end of its occupied range, sorted
/// by start.
struct Plan {
    li: usize,
    start: chrono::NaiveTime,
    end: chrono::NaiveTime,
    cands: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Clone, Copy)]
struct PlanParams {
    step: TimeDelta,
    occ_len: TimeDelta,
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
}

impl Plan {
    fn new(
        hours: DayRule,
        li: usize,
        tz: &Zone,
        location: &PreparedLocation,
        date: NaiveDate,
        p: PlanParams,
    ) -> Self {
        let mut cands = Vec::new();
        // when the window ends by `earliest`, every fitting start is too soon
        if let Some(rd) = rule_day(hours, tz, date)
            && rd.window_end > p.earliest
        {
            let mut closed = location.closed.cursor();
            let mut room_cursors: Vec<_> = location.rooms.iter().map(IntervalSet::cursor).collect();
            let mut local = rd.base;
            while local < rd.end_local {
                if let Some(start) = resolve_start(tz, local)
                    && start >= p.earliest
                    && start <= p.latest
                    && let Some(occ_end) = start.checked_add_signed(p.occ_len)
                    && occ_end <= rd.window_end
                {
                    let occ = Interval::new(start, occ_end);
                    // the location is open, and it has no rooms or one is free
                    if !closed.overlaps(&occ)
                        && (room_cursors.is_empty()
                            || room_cursors.iter_mut().any(|c| !c.overlaps(&occ)))
                    {
                        cands.push((start, occ_end));
                    }
                }
                match local.checked_add_signed(p.step) {
                    Some(n) => local = n,
                    None => break,
                }
            }
        }
        // Already sorted for real zones (earliest-instant resolution is
        // monotonic); the sweep in compute_slots relies on it.
        if !cands.is_sorted() {
            cands.sort_unstable();
        }
        Self {
            li,
            start: hours.start,
            end: hours.end,
            cands,
        }
    }
}

// ---------------------------------------------------------------------------
// compute_slots

/// All offered slots, sorted by `(start, therapist_id)`, no duplicates.
///
/// For every local date `d` in `from..=to` and every rule of the therapist's
/// hours on `d` (the override of `d` if there is one, else the weekly rules
/// with `weekday == d.weekday()`) whose location is in `locations`, the
/// candidate wall-clock starts are `rule.start + k * step` (`< rule.end`) on
/// `d` in the location's zone; gap times are skipped, ambiguous ones use the
/// earliest instant. A candidate is offered when `start + duration + buffer`
/// is not after the rule's end (UTC), `[start, start + duration + buffer)`
/// overlaps neither time off, busy intervals nor a closure of the location, a
/// room is free (if the location has rooms), and
/// `now + min_notice <= start <= now + horizon`.
///
/// If several rules of one therapist yield the same start, it is emitted
/// once, with the smallest location id. A zero duration yields nothing.
pub fn compute_slots(
    req: &SlotRequest,
    therapists: &[TherapistCalendar],
    locations: &[LocationCalendar],
) -> Vec<Slot> {
    let mut out = Vec::new();
    if req.duration_minutes == 0 || req.from > req.to {
        return out;
    }
    let dur = minutes(req.duration_minutes);
    let occ_len = minutes(req.duration_minutes) + minutes(req.buffer_minutes);
    let step = req.policy.step();
    let earliest = req.policy.earliest_start(req.now);
    let latest = req.policy.latest_start(req.now);
    if earliest > latest {
        return out;
    }

    // Local date d covers UTC instants within (d - 2 days, d + 3 days) for
    // any real UTC offset, so dates far from [earliest, latest] can't help.
    let first_date = earliest
        .date_naive()
        .checked_sub_days(Days::new(3))
        .map_or(req.from, |d| d.max(req.from));
    let last_date = latest
        .date_naive()
        .checked_add_days(Days::new(2))
        .map_or(req.to, |d| d.min(req.to));
    if first_date > last_date {
        return out;
    }

    // Every occupied range [start, start + occ_len) lies inside `window`;
    // intervals outside it are dropped before sorting.
    let lo = saturating_add(date_start_utc(first_date), TimeDelta::days(-2)).max(earliest);
    let hi = saturating_add(date_start_utc(last_date), TimeDelta::days(3)).min(latest);
    let window = Interval::new(lo, saturating_add(hi, occ_len));

    // Room occupancy and closures per location, built on first use.
    let mut prepared_locations: Vec<Option<PreparedLocation>> = vec![None; locations.len()];

    // Per therapist: rules grouped by weekday and overrides by date, with
    // their location resolved, and time off + bookings merged into one set.
    let prepared: Vec<PreparedTherapist> = therapists
        .iter()
        .filter_map(|t| PreparedTherapist::new(t, locations, &window, (first_date, last_date)))
        .collect();

    // Candidate starts of one (location, rule start, rule end) on the current
    // date; therapists usually share rule shapes, so they share the tz work.
    let mut plans: Vec<Plan> = Vec::new();
    let mut date = first_date;
    loop {
        plans.clear();
        for pt in &prepared {
            for &(hours, li) in pt.on(date) {
                let pi = match plans
                    .iter()
                    .position(|p| p.li == li && p.start == hours.start && p.end == hours.end)
                {
                    Some(pi) => pi,
                    None => {
                        let location = prepared_locations[li].get_or_insert_with(|| {
                            let loc = &locations[li];
                            PreparedLocation {
                                rooms: loc
                                    .rooms
                                    .iter()
                                    .map(|r| IntervalSet::from_unsorted_within(r, &window))
                                    .collect(),
                                closed: IntervalSet::from_unsorted_within(&loc.closures, &window),
                            }
                        });
                        plans.push(Plan::new(
                            hours,
                            li,
                            &locations[li].tz,
                            location,
                            date,
                            PlanParams {
                                step,
                                occ_len,
                                earliest,
                                latest,
                            },
                        ));
                        plans.len() - 1
                    }
                };
                // Candidates are sorted: sweep the blocked spans alongside.
                let mut blocked = pt.blocked.cursor();
                let loc_id = locations[li].id;
                for &(start, occ_end) in &plans[pi].cands {
                    if !blocked.overlaps(&Interval::new(start, occ_end)) {
                        out.push(Slot {
                            start,
                            // no overflow: start + duration + buffer was checked
                            end: start + dur,
                            therapist_id: pt.therapist_id,
                            location_id: loc_id,
                        });
                    }
                }
            }
        }
        match date.succ_opt() {
            Some(n) if n <= last_date => date = n,
            _ => break,
        }
    }

    // `end` is start + duration for every slot, so this is
    // (start, therapist_id, location_id) order.
    out.sort_unstable();
    out.dedup_by(|b, a| a.start == b.start && a.therapist_id == b.therapist_id);
    out
}

// ---------------------------------------------------------------------------
// check_start

/// Checks one candidate start for one therapist with the same rules as
/// [`compute_slots`] (without its `from..=to` date filter). A start inside a
/// closure of a location is outside the therapist's hours there; one whose
/// massage + buffer would run into a closure does not fit its rule.
///
/// `Ok((location_id, room))`: `room` is the index of the first free room in
/// that location's `rooms` (`None` when the location has no rooms). When
/// several rules match (unvalidated rules), the smallest location id with a
/// free room wins, as in `compute_slots`.
///
/// Order of checks: `OffGrid` / `OutsideSchedule`, then `TooSoon`,
/// `TooFarAhead`, `TimeOff`, `Taken`, `NoRoom`.
pub fn check_start(
    start: DateTime<Utc>,
    duration_minutes: u32,
    buffer_minutes: u32,
    now: DateTime<Utc>,
    policy: &SlotPolicy,
    therapist: &TherapistCalendar,
    locations: &[LocationCalendar],
) -> Result<(Uuid, Option<usize>), Rejection> {
    let step_nanos = policy.step().num_nanoseconds().unwrap_or(i64::MAX);
    let occ_len = minutes(duration_minutes) + minutes(buffer_minutes);
    let occ_end = start.checked_add_signed(occ_len);

    let mut inside_any = false;
    let mut on_grid_no_fit = false;
    let mut fitting: Vec<usize> = Vec::new();

    for (li, loc) in locations.iter().enumerate() {
        // The first calendar of a location id counts, as in compute_slots.
        if locations[..li].iter().any(|l| l.id == loc.id) {
            continue;
        }
        let tz = &loc.tz;
        let local = start.with_timezone(tz).naive_local();
        // Hours never cross midnight, so only the start's own local date can hold it.
        let d = local.date();
        for hours in therapist.hours_on(d) {
            if hours.location_id != loc.id || hours.start >= hours.end {
                continue;
            }
            let base = d.and_time(hours.start);
            let end_local = d.and_time(hours.end);
            if local < base || local >= end_local {
                continue;
            }
            if loc.closures.iter().any(|c| c.contains(start)) {
                continue;
            }
            inside_any = true;
            let on_grid = (local - base)
                .num_nanoseconds()
                .is_some_and(|n| n % step_nanos == 0)
                && resolve_start(tz, local) == Some(start);
            if !on_grid {
                continue;
            }
            let fits = duration_minutes > 0
                && occ_end
                    .zip(resolve_end(tz, end_local))
                    .is_some_and(|(oe, we)| {
                        let occ = Interval::new(start, oe);
                        oe <= we && !loc.closures.iter().any(|c| c.overlaps(&occ))
                    });
            if fits {
                fitting.push(li);
            } else {
                on_grid_no_fit = true;
            }
        }
    }

    if fitting.is_empty() {
        return Err(if inside_any && !on_grid_no_fit {
            Rejection::OffGrid
        } else {
            Rejection::OutsideSchedule
        });
    }
    if start < policy.earliest_start(now) {
        return Err(Rejection::TooSoon);
    }
    if start > policy.latest_start(now) {
        return Err(Rejection::TooFarAhead);
    }
    let Some(occ_end) = occ_end else {
        return Err(Rejection::OutsideSchedule);
    };
    let occ = Interval::new(start, occ_end);
    // A single query: a linear scan beats sorting.
    if therapist.time_off.iter().any(|i| i.overlaps(&occ)) {
        return Err(Rejection::TimeOff);
    }
    if therapist.busy.iter().any(|i| i.overlaps(&occ)) {
        return Err(Rejection::Taken);
    }
    fitting.sort_unstable_by_key(|&li| locations[li].id);
    fitting.dedup();
    for li in fitting {
        let loc = &locations[li];
        if loc.rooms.is_empty() {
            return Ok((loc.id, None));
        }
        if let Some(ri) = loc
            .rooms
            .iter()
            .position(|r| !r.iter().any(|i| i.overlaps(&occ)))
        {
            return Ok((loc.id, Some(ri)));
        }
    }
    Err(Rejection::NoRoom)
}
