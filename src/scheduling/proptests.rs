//! Property tests: random valid schedules (weekly rules, date overrides and
//! location closures) around every DST transition of 2026–2030 in
//! America/Los_Angeles, Australia/Sydney and America/Vancouver (only 2026-03-08 there:
//! UTC−7 all year from 2026-11-01), checked against a brute-force
//! oracle written straight from the contract.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

/// Los Angeles and Sydney change clocks twice a year; Vancouver did once in 2026 (spring
/// forward on 2026-03-08) and keeps UTC−7 from 2026-11-01 (tzdata 2026a+).
const ZONE_NAMES: [&str; 3] = [
    "America/Los_Angeles",
    "Australia/Sydney",
    "America/Vancouver",
];

fn zones() -> &'static [Zone] {
    static CELL: OnceLock<Vec<Zone>> = OnceLock::new();
    CELL.get_or_init(|| ZONE_NAMES.iter().map(|n| n.parse().unwrap()).collect())
}

/// Every local date in 2026–2030 on which `zone`'s UTC offset changes,
/// found by scanning (a day whose midnight-to-midnight span is not 24 h).
fn transitions() -> &'static [(usize, NaiveDate)] {
    static CELL: OnceLock<Vec<(usize, NaiveDate)>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut out = Vec::new();
        for (zi, tz) in zones().iter().enumerate() {
            let mut d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
            let last = NaiveDate::from_ymd_opt(2030, 12, 31).unwrap();
            while d <= last {
                let next = d.succ_opt().unwrap();
                let a = tz
                    .from_local_datetime(&d.and_time(NaiveTime::MIN))
                    .earliest()
                    .unwrap();
                let b = tz
                    .from_local_datetime(&next.and_time(NaiveTime::MIN))
                    .earliest()
                    .unwrap();
                if b - a != Duration::hours(24) {
                    out.push((zi, d));
                }
                d = next;
            }
        }
        out
    })
}

#[test]
fn transition_scan_finds_two_per_year_per_zone() {
    let t = transitions();
    for (zi, expected) in [(0, 10), (1, 10), (2, 1)] {
        let dates: Vec<NaiveDate> = t.iter().filter(|x| x.0 == zi).map(|x| x.1).collect();
        assert_eq!(dates.len(), expected, "{:?}", dates);
        assert!(dates.iter().all(|d| d.weekday() == Weekday::Sun));
    }
    let la: Vec<NaiveDate> = t.iter().filter(|x| x.0 == 0).map(|x| x.1).collect();
    assert_eq!(la[0], NaiveDate::from_ymd_opt(2026, 3, 8).unwrap());
    assert_eq!(la[1], NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
    // Vancouver: the spring forward of 2026 only, no fall-back on 2026-11-01.
    let van: Vec<NaiveDate> = t.iter().filter(|x| x.0 == 2).map(|x| x.1).collect();
    assert_eq!(van, [NaiveDate::from_ymd_opt(2026, 3, 8).unwrap()]);
    let syd: Vec<NaiveDate> = t.iter().filter(|x| x.0 == 1).map(|x| x.1).collect();
    assert_eq!(syd[0], NaiveDate::from_ymd_opt(2026, 4, 5).unwrap());
    assert_eq!(syd[1], NaiveDate::from_ymd_opt(2026, 10, 4).unwrap());
}

// ---------------------------------------------------------------------------
// scenario generation

/// (weekday 0..7, sorted quarter-hour points, location choices)
type DayRules = (u8, Vec<u32>, Vec<u8>);
/// (offset from the scenario base in 5-minute units, length in 5-minute units)
type RawInterval = (i64, i64);

/// (date offset from `from - 2 days`, sorted quarter-hour points, location
/// choices); no points = a day off.
type RawOverride = (i64, Vec<u32>, Vec<u8>);

#[derive(Debug, Clone)]
struct RawTherapist {
    days: Vec<DayRules>,
    overrides: Vec<RawOverride>,
    busy: Vec<RawInterval>,
    time_off: Vec<RawInterval>,
}

#[derive(Debug, Clone)]
struct Raw {
    transition: usize,
    before: u64,
    after: u64,
    swap_ids: bool,
    therapists: Vec<RawTherapist>,
    rooms: [Vec<Vec<RawInterval>>; 2],
    closures: [Vec<RawInterval>; 2],
    now: i64,
    min_notice: i64,
    horizon: i64,
    step: u32,
    duration: u32,
    buffer: u32,
    probes: Vec<i64>,
}

const SPAN_5MIN: i64 = 8 * 24 * 12; // eight days of 5-minute units

fn raw_interval() -> impl Strategy<Value = RawInterval> {
    (0..SPAN_5MIN, 1i64..=48)
}

fn day_rules(weekday: u8) -> impl Strategy<Value = DayRules> {
    (1usize..=3).prop_flat_map(move |n| {
        (
            Just(weekday),
            prop::collection::vec(0u32..96, 2 * n),
            prop::collection::vec(0u8..8, n),
        )
    })
}

fn raw_override() -> impl Strategy<Value = RawOverride> {
    (0usize..=3).prop_flat_map(|n| {
        (
            0i64..8,
            prop::collection::vec(0u32..96, 2 * n),
            prop::collection::vec(0u8..8, n),
        )
    })
}

/// A closure: up to a day long.
fn raw_closure() -> impl Strategy<Value = RawInterval> {
    (0..SPAN_5MIN, 1i64..=288)
}

fn raw_therapist() -> impl Strategy<Value = RawTherapist> {
    let days: Vec<_> = (0u8..7).map(day_rules).collect();
    (
        days,
        prop::collection::vec(raw_override(), 0..4),
        prop::collection::vec(raw_interval(), 0..12),
        prop::collection::vec(raw_interval(), 0..4),
    )
        .prop_map(|(days, overrides, busy, time_off)| RawTherapist {
            days,
            overrides,
            busy,
            time_off,
        })
}

fn raw_scenario() -> impl Strategy<Value = Raw> {
    let n_transitions = transitions().len();
    (
        (0..n_transitions, 1u64..=2, 1u64..=2, any::<bool>()),
        prop::collection::vec(raw_therapist(), 1..=3),
        (
            prop::collection::vec(prop::collection::vec(raw_interval(), 0..5), 0..=2),
            prop::collection::vec(prop::collection::vec(raw_interval(), 0..5), 0..=2),
        ),
        (
            prop::collection::vec(raw_closure(), 0..3),
            prop::collection::vec(raw_closure(), 0..3),
        ),
        (0i64..=(4 * 24 * 4), 0i64..=(24 * 4), 1i64..=(7 * 24)),
        (
            prop::sample::select(vec![10u32, 15, 30]),
            prop::sample::select(vec![30u32, 60, 90]),
            prop::sample::select(vec![0u32, 10, 15]),
        ),
        prop::collection::vec(0i64..(SPAN_5MIN * 5 * 60), 40),
    )
        .prop_map(
            |(
                (transition, before, after, swap_ids),
                therapists,
                (r0, r1),
                (c0, c1),
                (now, min_notice, horizon),
                (step, duration, buffer),
                probes,
            )| Raw {
                transition,
                before,
                after,
                swap_ids,
                therapists,
                rooms: [r0, r1],
                closures: [c0, c1],
                now,
                min_notice,
                horizon,
                step,
                duration,
                buffer,
                probes,
            },
        )
}

struct Scenario {
    from: NaiveDate,
    to: NaiveDate,
    base: DateTime<Utc>,
    therapists: Vec<TherapistCalendar>,
    locations: Vec<LocationCalendar>,
    policy: SlotPolicy,
    now: DateTime<Utc>,
    duration: u32,
    buffer: u32,
    probes: Vec<DateTime<Utc>>,
}

fn weekday(i: u8) -> Weekday {
    Weekday::try_from(i).unwrap()
}

fn quarter(q: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(q / 4, (q % 4) * 15, 0).unwrap()
}

fn build(raw: &Raw) -> Scenario {
    let (zi, tdate) = transitions()[raw.transition];
    let from = tdate - Duration::days(raw.before as i64);
    let to = tdate + Duration::days(raw.after as i64);
    let base = (from - Duration::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    let ivl = |&(off, len): &RawInterval| {
        let s = base + Duration::minutes(off * 5);
        Interval::new(s, s + Duration::minutes(len * 5))
    };
    let (id0, id1) = if raw.swap_ids {
        (2000, 1000)
    } else {
        (1000, 2000)
    };
    let loc_ids = [Uuid::from_u128(id0), Uuid::from_u128(id1)];
    let missing = Uuid::from_u128(9999);
    let locations: Vec<LocationCalendar> = (0..2)
        .map(|i| LocationCalendar {
            id: loc_ids[i],
            tz: zones()[(zi + i) % ZONE_NAMES.len()].clone(),
            rooms: raw.rooms[i]
                .iter()
                .map(|r| r.iter().map(ivl).collect())
                .collect(),
            closures: raw.closures[i].iter().map(ivl).collect(),
        })
        .collect();
    let place = |choice: u8| match choice {
        0..=4 => loc_ids[0],
        5 | 6 => loc_ids[1],
        _ => missing,
    };
    // sorted points taken two by two: rules that touch at most, never overlap
    let spans = |points: &[u32], locs: &[u8]| -> Vec<DayRule> {
        let mut p = points.to_vec();
        p.sort_unstable();
        p.chunks(2)
            .enumerate()
            .filter(|(_, pair)| pair[0] != pair[1])
            .map(|(k, pair)| DayRule {
                start: quarter(pair[0]),
                end: quarter(pair[1]),
                location_id: place(locs[k]),
            })
            .collect()
    };
    let therapists = raw
        .therapists
        .iter()
        .enumerate()
        .map(|(ti, rt)| {
            let mut rules = Vec::new();
            for (wd, points, locs) in &rt.days {
                for h in spans(points, locs) {
                    rules.push(WeeklyRule {
                        weekday: weekday(*wd),
                        start: h.start,
                        end: h.end,
                        location_id: h.location_id,
                    });
                }
            }
            // a later override of the same date replaces an earlier one
            let overrides: BTreeMap<NaiveDate, Vec<DayRule>> = rt
                .overrides
                .iter()
                .map(|(off, points, locs)| (from - Duration::days(2 - off), spans(points, locs)))
                .collect();
            // ids deliberately not in input order
            TherapistCalendar {
                therapist_id: Uuid::from_u128(500 - ti as u128 * 7),
                rules,
                overrides,
                time_off: rt.time_off.iter().map(ivl).collect(),
                busy: rt.busy.iter().map(ivl).collect(),
            }
        })
        .collect();
    Scenario {
        from,
        to,
        base,
        therapists,
        locations,
        policy: SlotPolicy {
            step_minutes: raw.step,
            min_notice: Duration::minutes(raw.min_notice * 15),
            horizon: Duration::hours(raw.horizon),
        },
        now: base + Duration::minutes(raw.now * 15),
        duration: raw.duration,
        buffer: raw.buffer,
        probes: raw
            .probes
            .iter()
            .map(|s| base + Duration::seconds(*s))
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// brute-force oracle

fn ov(a: &Interval, b: &Interval) -> bool {
    a.start < a.end && b.start < b.end && a.start < b.end && b.start < a.end
}

/// Rule end per the contract, the gap case by a linear minute scan.
fn oracle_end(tz: &Zone, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, b) => a.max(b).with_timezone(&Utc),
        chrono::LocalResult::None => {
            let mut u = local.and_utc() - Duration::hours(16);
            while u.with_timezone(tz).naive_local() < local {
                u += Duration::minutes(1);
            }
            u
        }
    }
}

/// The therapist's hours on local date `d`, straight from the contract: the
/// override of `d` if it has one, else the weekly rules of its weekday.
fn hours(t: &TherapistCalendar, d: NaiveDate) -> Vec<(NaiveTime, NaiveTime, Uuid)> {
    match t.overrides.get(&d) {
        Some(list) => list
            .iter()
            .map(|h| (h.start, h.end, h.location_id))
            .collect(),
        None => t
            .rules
            .iter()
            .filter(|r| r.weekday == d.weekday())
            .map(|r| (r.start, r.end, r.location_id))
            .collect(),
    }
}

/// `t` lies in a closure of the location.
fn closed_at(loc: &LocationCalendar, t: DateTime<Utc>) -> bool {
    loc.closures.iter().any(|c| c.start <= t && t < c.end)
}

/// `occ` overlaps a closure of the location.
fn closure_overlaps(loc: &LocationCalendar, occ: &Interval) -> bool {
    loc.closures.iter().any(|c| ov(c, occ))
}

#[derive(Debug, Clone, Copy)]
struct Cand {
    loc: usize,
    fits: bool,
    date: NaiveDate,
}

struct Oracle<'a> {
    sc: &'a Scenario,
    /// (therapist index, start) → every (rule, date) producing that start.
    cands: HashMap<(usize, DateTime<Utc>), Vec<Cand>>,
    /// every wall-clock grid instant, including the 2nd occurrence of
    /// ambiguous times (which are not candidates)
    grid_instants: Vec<Vec<DateTime<Utc>>>,
}

impl<'a> Oracle<'a> {
    fn new(sc: &'a Scenario) -> Self {
        let occ = Duration::minutes(i64::from(sc.duration + sc.buffer));
        let step = sc.policy.step_minutes.max(1);
        let mut cands: HashMap<(usize, DateTime<Utc>), Vec<Cand>> = HashMap::new();
        let mut grid_instants = vec![Vec::new(); sc.therapists.len()];
        for (ti, t) in sc.therapists.iter().enumerate() {
            // probes and intervals lie in [base, base + 8 days), base = from - 1
            let mut d = sc.from - Duration::days(3);
            while d <= sc.from + Duration::days(9) {
                for (r_start, r_end, r_loc) in hours(t, d) {
                    let Some(li) = sc.locations.iter().position(|l| l.id == r_loc) else {
                        continue;
                    };
                    let loc = &sc.locations[li];
                    let tz = &loc.tz;
                    let end = oracle_end(tz, d.and_time(r_end));
                    let mut m = 0u32;
                    loop {
                        let local = d.and_time(r_start) + Duration::minutes(i64::from(m));
                        if local >= d.and_time(r_end) {
                            break;
                        }
                        let lr = tz.from_local_datetime(&local);
                        if let Some(s) = lr.clone().earliest() {
                            let s = s.with_timezone(&Utc);
                            // a start inside a closure is not in the hours at all
                            if !closed_at(loc, s) {
                                let fits = sc.duration > 0
                                    && s + occ <= end
                                    && !closure_overlaps(loc, &Interval::new(s, s + occ));
                                cands.entry((ti, s)).or_default().push(Cand {
                                    loc: li,
                                    fits,
                                    date: d,
                                });
                            }
                            grid_instants[ti].push(s);
                        }
                        if let Some(l) = lr.latest() {
                            grid_instants[ti].push(l.with_timezone(&Utc));
                        }
                        m += step;
                    }
                }
                d = d.succ_opt().unwrap();
            }
        }
        Oracle {
            sc,
            cands,
            grid_instants,
        }
    }

    fn occupied(&self, start: DateTime<Utc>) -> Interval {
        Interval::new(
            start,
            start + Duration::minutes(i64::from(self.sc.duration + self.sc.buffer)),
        )
    }

    fn earliest(&self) -> DateTime<Utc> {
        self.sc.now + self.sc.policy.min_notice
    }

    fn latest(&self) -> DateTime<Utc> {
        self.sc.now + self.sc.policy.horizon
    }

    /// First free room of location `li`: Some(None) = no rooms.
    fn room(&self, li: usize, occ: &Interval) -> Option<Option<usize>> {
        let rooms = &self.sc.locations[li].rooms;
        if rooms.is_empty() {
            return Some(None);
        }
        rooms
            .iter()
            .position(|r| !r.iter().any(|i| ov(i, occ)))
            .map(Some)
    }

    /// Checks shared by both oracles once a fitting candidate exists.
    fn after_schedule(
        &self,
        ti: usize,
        start: DateTime<Utc>,
        mut locs: Vec<usize>,
    ) -> Result<(Uuid, Option<usize>), Rejection> {
        let t = &self.sc.therapists[ti];
        if start < self.earliest() {
            return Err(Rejection::TooSoon);
        }
        if start > self.latest() {
            return Err(Rejection::TooFarAhead);
        }
        let occ = self.occupied(start);
        if t.time_off.iter().any(|i| ov(i, &occ)) {
            return Err(Rejection::TimeOff);
        }
        if t.busy.iter().any(|i| ov(i, &occ)) {
            return Err(Rejection::Taken);
        }
        locs.sort_by_key(|&li| self.sc.locations[li].id);
        for li in locs {
            if let Some(room) = self.room(li, &occ) {
                return Ok((self.sc.locations[li].id, room));
            }
        }
        Err(Rejection::NoRoom)
    }

    fn slots(&self) -> Vec<Slot> {
        let mut out = Vec::new();
        for (&(ti, start), cs) in &self.cands {
            let locs: Vec<usize> = cs
                .iter()
                .filter(|c| c.fits && c.date >= self.sc.from && c.date <= self.sc.to)
                .map(|c| c.loc)
                .collect();
            if locs.is_empty() {
                continue;
            }
            if let Ok((location_id, _)) = self.after_schedule(ti, start, locs) {
                out.push(Slot {
                    start,
                    end: start + Duration::minutes(i64::from(self.sc.duration)),
                    therapist_id: self.sc.therapists[ti].therapist_id,
                    location_id,
                });
            }
        }
        out.sort_by_key(|s| (s.start, s.therapist_id));
        out
    }

    fn check(&self, ti: usize, start: DateTime<Utc>) -> Result<(Uuid, Option<usize>), Rejection> {
        let cs = self.cands.get(&(ti, start)).cloned().unwrap_or_default();
        let fitting: Vec<usize> = cs.iter().filter(|c| c.fits).map(|c| c.loc).collect();
        if fitting.is_empty() {
            let on_grid_no_fit = !cs.is_empty();
            let t = &self.sc.therapists[ti];
            let inside_any = self.sc.locations.iter().any(|loc| {
                let local = start.with_timezone(&loc.tz).naive_local();
                !closed_at(loc, start)
                    && hours(t, local.date())
                        .iter()
                        .any(|&(r_start, r_end, r_loc)| {
                            r_loc == loc.id && local.time() >= r_start && local.time() < r_end
                        })
            });
            return Err(if inside_any && !on_grid_no_fit {
                Rejection::OffGrid
            } else {
                Rejection::OutsideSchedule
            });
        }
        self.after_schedule(ti, start, fitting)
    }

    /// `start`'s local date is within from..=to in every location's zone,
    /// so the date filter of compute_slots cannot matter.
    fn fully_in_range(&self, start: DateTime<Utc>) -> bool {
        self.sc.locations.iter().all(|l| {
            let d = start.with_timezone(&l.tz).date_naive();
            d >= self.sc.from && d <= self.sc.to
        })
    }
}

fn run(sc: &Scenario) -> Result<(), TestCaseError> {
    let req = SlotRequest {
        from: sc.from,
        to: sc.to,
        duration_minutes: sc.duration,
        buffer_minutes: sc.buffer,
        now: sc.now,
        policy: &sc.policy,
    };
    let slots = compute_slots(&req, &sc.therapists, &sc.locations);
    let oracle = Oracle::new(sc);
    let dur = Duration::minutes(i64::from(sc.duration));
    let tindex: HashMap<Uuid, usize> = sc
        .therapists
        .iter()
        .enumerate()
        .map(|(i, t)| (t.therapist_id, i))
        .collect();

    // sorted by (start, therapist) and unique
    for w in slots.windows(2) {
        prop_assert!(
            (w[0].start, w[0].therapist_id) < (w[1].start, w[1].therapist_id),
            "not sorted/unique: {:?} {:?}",
            w[0],
            w[1]
        );
    }

    for s in &slots {
        let ti = tindex[&s.therapist_id];
        let t = &sc.therapists[ti];
        prop_assert_eq!(s.end - s.start, dur);
        let occ = oracle.occupied(s.start);
        prop_assert!(!t.busy.iter().any(|i| ov(i, &occ)), "busy overlap {:?}", s);
        prop_assert!(
            !t.time_off.iter().any(|i| ov(i, &occ)),
            "time off overlap {:?}",
            s
        );
        prop_assert!(s.start >= oracle.earliest() && s.start <= oracle.latest());

        // no closure of its location overlaps it
        let loc = sc.locations.iter().find(|l| l.id == s.location_id).unwrap();
        prop_assert!(!closure_overlaps(loc, &occ), "slot in a closure {:?}", s);

        // inside a rule window of its location on that date (the override's
        // rules on an overridden date), on the rule's grid
        let local = s.start.with_timezone(&loc.tz).naive_local();
        let d = local.date();
        prop_assert!(d >= sc.from && d <= sc.to);
        let step = Duration::minutes(i64::from(sc.policy.step_minutes));
        let fits_in = |(r_start, r_end, r_loc): (NaiveTime, NaiveTime, Uuid)| {
            r_loc == loc.id
                && local.time() >= r_start
                && local.time() < r_end
                && (local - d.and_time(r_start)).num_seconds() % step.num_seconds() == 0
                && occ.end <= oracle_end(&loc.tz, d.and_time(r_end))
        };
        prop_assert!(
            hours(t, d).into_iter().any(fits_in),
            "slot outside every rule window: {:?}",
            s
        );
        // on an overridden date, nothing from the weekly hours it took away
        if let Some(list) = t.overrides.get(&d) {
            prop_assert!(
                list.iter()
                    .any(|h| fits_in((h.start, h.end, h.location_id))),
                "slot in an override's missing hours: {:?}",
                s
            );
        }
        prop_assert!(within_hours(t, loc.id, &loc.tz, &s.interval()));

        // passes check_start, with a truly free room
        let got = check_start(
            s.start,
            sc.duration,
            sc.buffer,
            sc.now,
            &sc.policy,
            t,
            &sc.locations,
        );
        let Ok((loc_id, room)) = got else {
            return Err(TestCaseError::fail(format!(
                "slot {s:?} rejected by check_start: {got:?}"
            )));
        };
        let li = sc.locations.iter().position(|l| l.id == loc_id).unwrap();
        match room {
            None => prop_assert!(sc.locations[li].rooms.is_empty()),
            Some(r) => {
                prop_assert!(!sc.locations[li].rooms[r].iter().any(|i| ov(i, &occ)));
            }
        }
        if oracle.fully_in_range(s.start) {
            prop_assert_eq!(loc_id, s.location_id);
        }
    }

    // exactly the oracle's slots
    let expected = oracle.slots();
    prop_assert_eq!(&slots, &expected);

    // check_start agrees with the oracle (and with compute_slots) on every
    // wall-clock grid instant of every rule and on random probes
    let offered: HashMap<(DateTime<Utc>, Uuid), &Slot> = slots
        .iter()
        .map(|s| ((s.start, s.therapist_id), s))
        .collect();
    for (ti, t) in sc.therapists.iter().enumerate() {
        // (the oracle enumerates every date that can reach [base, base + 8 days))
        let span_end = sc.base + Duration::days(8);
        let mut probes: Vec<DateTime<Utc>> = oracle.grid_instants[ti]
            .iter()
            .copied()
            .filter(|p| *p >= sc.base && *p < span_end)
            .collect();
        probes.extend(sc.probes.iter().copied());
        // and 5-minute-aligned versions of the random probes
        probes.extend(
            sc.probes
                .iter()
                .map(|p| sc.base + Duration::minutes((*p - sc.base).num_minutes() / 5 * 5)),
        );
        probes.sort_unstable();
        probes.dedup();
        for p in probes {
            let got = check_start(
                p,
                sc.duration,
                sc.buffer,
                sc.now,
                &sc.policy,
                t,
                &sc.locations,
            );
            let want = oracle.check(ti, p);
            prop_assert_eq!(got, want, "check_start({}) for therapist {}", p, ti);
            if oracle.fully_in_range(p) {
                prop_assert_eq!(
                    got.is_ok(),
                    offered.contains_key(&(p, t.therapist_id)),
                    "check_start vs compute_slots at {}: {:?}",
                    p,
                    got
                );
            }
        }
    }
    Ok(())
}

proptest! {
    // 96 cases by default (about a second in debug); PROPTEST_CASES=N for a deeper run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
        ..ProptestConfig::default()
    })]

    #[test]
    fn slots_match_contract_around_dst(raw in raw_scenario()) {
        let sc = build(&raw);
        // generated rules are valid by construction
        for t in &sc.therapists {
            prop_assert!(validate_rules(&t.rules).is_ok());
        }
        run(&sc)?;
    }
}

/// A live hold as the loader hands it to the engine: (therapist index, its span as a raw
/// interval, its room as (location index, room index) if the location has rooms).
type RawHold = (usize, RawInterval, Option<(usize, usize)>);
/// The same, placed: (therapist index, span, room).
type Held = (usize, Interval, Option<(usize, usize)>);

fn raw_hold() -> impl Strategy<Value = RawHold> {
    (
        0usize..3,
        raw_interval(),
        prop::option::of((0usize..2, 0usize..2)),
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    /// No offered slot (massage plus the requested buffer) overlaps a hold of its therapist,
    /// nor is it given a room a hold keeps at that time; and the whole contract still holds
    /// with the holds in place (the oracle sees them as the busy times they are).
    #[test]
    fn no_offered_slot_overlaps_a_hold(
        raw in raw_scenario(),
        holds in prop::collection::vec(raw_hold(), 1..8),
    ) {
        let mut sc = build(&raw);
        let base = sc.base;
        let span = |&(off, len): &RawInterval| {
            let s = base + Duration::minutes(off * 5);
            Interval::new(s, s + Duration::minutes(len * 5))
        };
        let mut held: Vec<Held> = Vec::new();
        for (ti, raw_span, room) in &holds {
            let Some(t) = sc.therapists.get_mut(*ti) else { continue };
            let interval = span(raw_span);
            t.busy.push(interval);
            let room = room.filter(|(li, ri)| *ri < sc.locations[*li].rooms.len());
            if let Some((li, ri)) = room {
                sc.locations[li].rooms[ri].push(interval);
            }
            held.push((*ti, interval, room));
        }
        let req = SlotRequest {
            from: sc.from,
            to: sc.to,
            duration_minutes: sc.duration,
            buffer_minutes: sc.buffer,
            now: sc.now,
            policy: &sc.policy,
        };
        let slots = compute_slots(&req, &sc.therapists, &sc.locations);
        let occupied = Duration::minutes(i64::from(sc.duration + sc.buffer));
        for slot in &slots {
            let ti = sc
                .therapists
                .iter()
                .position(|t| t.therapist_id == slot.therapist_id)
                .unwrap();
            let occ = Interval::new(slot.start, slot.start + occupied);
            for (hti, interval, _) in &held {
                prop_assert!(
                    *hti != ti || !ov(interval, &occ),
                    "{slot:?} overlaps a hold {interval:?} of its therapist"
                );
            }
            let (loc, room) = check_start(
                slot.start,
                sc.duration,
                sc.buffer,
                sc.now,
                &sc.policy,
                &sc.therapists[ti],
                &sc.locations,
            )
            .unwrap();
            let li = sc.locations.iter().position(|l| l.id == loc).unwrap();
            if let Some(r) = room {
                for (_, interval, hold_room) in &held {
                    prop_assert!(
                        *hold_room != Some((li, r)) || !ov(interval, &occ),
                        "{slot:?} given room {r} that a hold {interval:?} keeps"
                    );
                }
            }
        }
        run(&sc)?;
    }
}

fn minute_interval(base: DateTime<Utc>, (s, len): (i64, i64)) -> Interval {
    let start = base + Duration::minutes(s);
    Interval::new(start, start + Duration::minutes(len))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// IntervalSet (binary search) and its sweep cursor agree with a linear
    /// scan, for empty/inverted intervals and for out-of-order queries too.
    #[test]
    fn interval_set_matches_linear_scan(
        raw in prop::collection::vec((0i64..600, -5i64..90), 0..40),
        queries in prop::collection::vec((-30i64..700, -5i64..120), 1..60),
        sort_queries in any::<bool>(),
    ) {
        let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let ivs: Vec<Interval> = raw.iter().map(|&r| minute_interval(base, r)).collect();
        let set = IntervalSet::from_unsorted(ivs.clone());
        for w in set.spans().windows(2) {
            prop_assert!(w[0].end < w[1].start);
        }
        let mut qs: Vec<Interval> = queries.iter().map(|&q| minute_interval(base, q)).collect();
        if sort_queries {
            qs.sort();
        }
        let mut cursor = set.cursor();
        for q in &qs {
            let want = ivs.iter().any(|i| ov(i, q));
            prop_assert_eq!(ivs.iter().any(|i| i.overlaps(q)), want);
            prop_assert_eq!(set.overlaps(q), want);
            prop_assert_eq!(cursor.overlaps(q), want);
        }
    }
}
