#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use uuid::Uuid;

use super::*;

// ---------------------------------------------------------------------------
// helpers

/// America/Vancouver: PST/PDT until 2026-11-01, then UTC−7 all year (tzdata 2026a+).
fn van() -> Zone {
    "America/Vancouver".parse().unwrap()
}

/// America/Los_Angeles, which still changes clocks: on the dates used here it has the rules
/// Vancouver had until 2026, so the DST tests keep their instants.
fn la() -> Zone {
    "America/Los_Angeles".parse().unwrap()
}

fn utc_zone() -> Zone {
    Zone::utc()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// UTC instant of a wall-clock time (earliest if ambiguous).
fn at(tz: &Zone, d: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    tz.from_local_datetime(&d.and_time(hm(h, m)))
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn iv(a: DateTime<Utc>, b: DateTime<Utc>) -> Interval {
    Interval::new(a, b)
}

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
}

fn rule(weekday: Weekday, s: (u32, u32), e: (u32, u32), loc: Uuid) -> WeeklyRule {
    WeeklyRule {
        weekday,
        start: hm(s.0, s.1),
        end: hm(e.0, e.1),
        location_id: loc,
    }
}

fn location(n: u128, tz: Zone, rooms: Vec<Vec<Interval>>) -> LocationCalendar {
    LocationCalendar {
        id: id(n),
        tz,
        rooms,
        closures: vec![],
    }
}

fn therapist(n: u128, rules: Vec<WeeklyRule>) -> TherapistCalendar {
    TherapistCalendar {
        therapist_id: id(n),
        rules,
        overrides: Default::default(),
        time_off: vec![],
        busy: vec![],
    }
}

fn policy(step: u32) -> SlotPolicy {
    SlotPolicy {
        step_minutes: step,
        min_notice: Duration::zero(),
        horizon: Duration::days(3650),
    }
}

/// A Monday far from any DST transition.
fn monday() -> NaiveDate {
    let d = date(2026, 6, 1);
    assert_eq!(d.weekday(), Weekday::Mon);
    d
}

/// "now" well before the test dates.
fn early_now() -> DateTime<Utc> {
    utc(2026, 1, 1, 0, 0)
}

struct Fixture {
    therapists: Vec<TherapistCalendar>,
    locations: Vec<LocationCalendar>,
    policy: SlotPolicy,
    now: DateTime<Utc>,
    from: NaiveDate,
    to: NaiveDate,
}

impl Fixture {
    /// One therapist (id 1), Monday 09:00–10:00 at location 100 (UTC, no rooms).
    fn simple() -> Self {
        Self {
            therapists: vec![therapist(
                1,
                vec![rule(Weekday::Mon, (9, 0), (10, 0), id(100))],
            )],
            locations: vec![location(100, utc_zone(), vec![])],
            policy: policy(15),
            now: early_now(),
            from: monday(),
            to: monday(),
        }
    }

    fn slots(&self, dur: u32, buf: u32) -> Vec<Slot> {
        let req = SlotRequest {
            from: self.from,
            to: self.to,
            duration_minutes: dur,
            buffer_minutes: buf,
            now: self.now,
            policy: &self.policy,
        };
        compute_slots(&req, &self.therapists, &self.locations)
    }

    fn starts(&self, dur: u32, buf: u32) -> Vec<DateTime<Utc>> {
        self.slots(dur, buf).into_iter().map(|s| s.start).collect()
    }

    fn check(
        &self,
        t: usize,
        start: DateTime<Utc>,
        dur: u32,
        buf: u32,
    ) -> Result<(Uuid, Option<usize>), Rejection> {
        check_start(
            start,
            dur,
            buf,
            self.now,
            &self.policy,
            &self.therapists[t],
            &self.locations,
        )
    }
}

fn mon_utc(h: u32, m: u32) -> DateTime<Utc> {
    at(&utc_zone(), monday(), h, m)
}

// ---------------------------------------------------------------------------
// Interval / IntervalSet

#[test]
fn interval_overlap_is_half_open() {
    let a = iv(mon_utc(9, 0), mon_utc(10, 0));
    assert!(a.overlaps(&iv(mon_utc(9, 30), mon_utc(11, 0))));
    assert!(a.overlaps(&iv(mon_utc(8, 0), mon_utc(9, 1))));
    assert!(a.overlaps(&iv(mon_utc(9, 10), mon_utc(9, 20))));
    assert!(!a.overlaps(&iv(mon_utc(10, 0), mon_utc(11, 0))));
    assert!(!a.overlaps(&iv(mon_utc(8, 0), mon_utc(9, 0))));
    // empty intervals overlap nothing
    assert!(!a.overlaps(&iv(mon_utc(9, 30), mon_utc(9, 30))));
    assert!(!a.overlaps(&iv(mon_utc(9, 40), mon_utc(9, 30))));
}

#[test]
fn interval_set_merges_and_queries() {
    let set = IntervalSet::from_unsorted(vec![
        iv(mon_utc(12, 0), mon_utc(13, 0)),
        iv(mon_utc(9, 0), mon_utc(10, 0)),
        iv(mon_utc(9, 30), mon_utc(10, 30)),
        iv(mon_utc(10, 30), mon_utc(11, 0)), // touching: merged
        iv(mon_utc(15, 0), mon_utc(14, 0)),  // empty: dropped
    ]);
    assert_eq!(
        set.spans(),
        &[
            iv(mon_utc(9, 0), mon_utc(11, 0)),
            iv(mon_utc(12, 0), mon_utc(13, 0))
        ]
    );
    assert!(!set.overlaps(&iv(mon_utc(11, 0), mon_utc(12, 0))));
    assert!(set.overlaps(&iv(mon_utc(10, 59), mon_utc(12, 0))));
    assert!(set.overlaps(&iv(mon_utc(11, 0), mon_utc(12, 1))));
    assert!(!set.overlaps(&iv(mon_utc(13, 0), mon_utc(20, 0))));
    assert!(!set.overlaps(&iv(mon_utc(0, 0), mon_utc(9, 0))));
    assert!(set.overlaps(&iv(mon_utc(0, 0), mon_utc(23, 0))));
}

// ---------------------------------------------------------------------------
// grid and fit

#[test]
fn grid_from_rule_start() {
    let f = Fixture::simple();
    assert_eq!(
        f.starts(30, 0),
        vec![mon_utc(9, 0), mon_utc(9, 15), mon_utc(9, 30)]
    );
    for s in f.slots(30, 0) {
        assert_eq!(s.end - s.start, mins(30));
        assert_eq!(s.therapist_id, id(1));
        assert_eq!(s.location_id, id(100));
    }
}

#[test]
fn grid_counts_from_rule_start_not_from_hour() {
    let mut f = Fixture::simple();
    f.therapists[0].rules = vec![rule(Weekday::Mon, (9, 10), (10, 30), id(100))];
    f.policy = policy(20);
    assert_eq!(
        f.starts(30, 0),
        vec![mon_utc(9, 10), mon_utc(9, 30), mon_utc(9, 50)]
    );
    assert_eq!(f.check(0, mon_utc(9, 15), 30, 0), Err(Rejection::OffGrid));
    assert_eq!(f.check(0, mon_utc(9, 30), 30, 0), Ok((id(100), None)));
    // on the grid but not fitting
    assert_eq!(
        f.check(0, mon_utc(10, 10), 30, 0),
        Err(Rejection::OutsideSchedule)
    );
    // sub-minute offsets are off grid
    assert_eq!(
        f.check(0, mon_utc(9, 30) + Duration::seconds(1), 30, 0),
        Err(Rejection::OffGrid)
    );
}

#[test]
fn zero_step_means_default_15() {
    let mut f = Fixture::simple();
    f.policy.step_minutes = 0;
    assert_eq!(f.starts(30, 0).len(), 3);
}

#[test]
fn fit_includes_requested_buffer() {
    let f = Fixture::simple();
    assert_eq!(f.starts(30, 15), vec![mon_utc(9, 0), mon_utc(9, 15)]);
    assert_eq!(f.starts(60, 0), vec![mon_utc(9, 0)]);
    assert!(f.starts(60, 5).is_empty());
    assert_eq!(
        f.check(0, mon_utc(9, 30), 30, 15),
        Err(Rejection::OutsideSchedule)
    );
    assert_eq!(f.check(0, mon_utc(9, 15), 30, 15), Ok((id(100), None)));
}

#[test]
fn outside_schedule_and_wrong_weekday() {
    let f = Fixture::simple();
    assert_eq!(
        f.check(0, mon_utc(8, 45), 30, 0),
        Err(Rejection::OutsideSchedule)
    );
    assert_eq!(
        f.check(0, mon_utc(10, 0), 30, 0),
        Err(Rejection::OutsideSchedule)
    );
    let tuesday = mon_utc(9, 0) + Duration::days(1);
    assert_eq!(f.check(0, tuesday, 30, 0), Err(Rejection::OutsideSchedule));
    assert_eq!(f.check(0, mon_utc(9, 5), 30, 0), Err(Rejection::OffGrid));
}

#[test]
fn zero_duration_and_empty_range_yield_nothing() {
    let mut f = Fixture::simple();
    assert!(f.starts(0, 0).is_empty());
    assert_eq!(
        f.check(0, mon_utc(9, 0), 0, 0),
        Err(Rejection::OutsideSchedule)
    );
    f.from = monday().succ_opt().unwrap();
    assert!(f.starts(30, 0).is_empty());
}

#[test]
fn unknown_location_yields_nothing() {
    let mut f = Fixture::simple();
    f.therapists[0].rules[0].location_id = id(999);
    assert!(f.starts(30, 0).is_empty());
    assert_eq!(
        f.check(0, mon_utc(9, 0), 30, 0),
        Err(Rejection::OutsideSchedule)
    );
}

#[test]
fn invalid_rule_is_ignored() {
    let mut f = Fixture::simple();
    f.therapists[0]
        .rules
        .push(rule(Weekday::Mon, (12, 0), (11, 0), id(100)));
    assert_eq!(f.starts(30, 0).len(), 3);
}

#[test]
fn multi_day_range() {
    let mut f = Fixture::simple();
    f.therapists[0].rules = [Weekday::Mon, Weekday::Wed]
        .into_iter()
        .map(|w| rule(w, (9, 0), (10, 0), id(100)))
        .collect();
    f.to = monday() + Duration::days(13);
    let starts = f.starts(60, 0);
    assert_eq!(
        starts,
        vec![
            mon_utc(9, 0),
            mon_utc(9, 0) + Duration::days(2),
            mon_utc(9, 0) + Duration::days(7),
            mon_utc(9, 0) + Duration::days(9),
        ]
    );
}

// ---------------------------------------------------------------------------
// busy and time off

#[test]
fn back_to_back_booking_allowed() {
    let mut f = Fixture::simple();
    f.therapists[0].busy = vec![iv(mon_utc(9, 0), mon_utc(9, 30))];
    assert_eq!(f.starts(30, 0), vec![mon_utc(9, 30)]);
    // and a booking right after the slot
    f.therapists[0].busy = vec![iv(mon_utc(9, 30), mon_utc(10, 0))];
    assert_eq!(f.starts(30, 0), vec![mon_utc(9, 0)]);
    assert_eq!(f.check(0, mon_utc(9, 15), 30, 0), Err(Rejection::Taken));
}

#[test]
fn busy_with_its_buffer_blocks() {
    let mut f = Fixture::simple();
    f.therapists[0].rules = vec![rule(Weekday::Mon, (9, 0), (12, 0), id(100))];
    // a 30 min booking at 9:00 with a 15 min buffer
    f.therapists[0].busy = vec![iv(mon_utc(9, 0), mon_utc(9, 45))];
    let starts = f.starts(60, 0);
    assert_eq!(starts.first(), Some(&mon_utc(9, 45)));
    assert_eq!(f.check(0, mon_utc(9, 30), 60, 0), Err(Rejection::Taken));
    assert_eq!(f.check(0, mon_utc(9, 45), 60, 0), Ok((id(100), None)));
}

#[test]
fn requested_buffer_must_not_overlap_next_booking() {
    let mut f = Fixture::simple();
    f.therapists[0].rules = vec![rule(Weekday::Mon, (9, 0), (12, 0), id(100))];
    f.therapists[0].busy = vec![iv(mon_utc(10, 0), mon_utc(11, 0))];
    assert_eq!(
        f.starts(30, 15),
        vec![
            mon_utc(9, 0),
            mon_utc(9, 15),
            mon_utc(11, 0),
            mon_utc(11, 15)
        ]
    );
    assert_eq!(f.check(0, mon_utc(9, 30), 30, 15), Err(Rejection::Taken));
    // without buffer 9:30 fits exactly before the booking
    assert_eq!(f.check(0, mon_utc(9, 30), 30, 0), Ok((id(100), None)));
}

#[test]
fn time_off_blocks() {
    let mut f = Fixture::simple();
    f.therapists[0].rules = vec![rule(Weekday::Mon, (9, 0), (12, 0), id(100))];
    f.therapists[0].time_off = vec![
        iv(mon_utc(10, 0), mon_utc(10, 40)),
        iv(mon_utc(10, 30), mon_utc(11, 0)), // overlapping entries
    ];
    assert_eq!(f.starts(60, 0), vec![mon_utc(9, 0), mon_utc(11, 0)]);
    assert_eq!(f.check(0, mon_utc(9, 15), 60, 0), Err(Rejection::TimeOff));
    // time off is reported before a booking
    f.therapists[0].busy = vec![iv(mon_utc(9, 0), mon_utc(12, 0))];
    assert_eq!(f.check(0, mon_utc(9, 15), 60, 0), Err(Rejection::TimeOff));
    assert_eq!(f.check(0, mon_utc(9, 0), 60, 0), Err(Rejection::Taken));
}

#[test]
fn long_interval_spanning_the_window_blocks() {
    let mut f = Fixture::simple();
    f.therapists[0].time_off = vec![iv(utc(2020, 1, 1, 0, 0), utc(2030, 1, 1, 0, 0))];
    assert!(f.starts(30, 0).is_empty());
    // intervals far away do not matter
    f.therapists[0].time_off = vec![iv(utc(2020, 1, 1, 0, 0), utc(2020, 2, 1, 0, 0))];
    f.therapists[0].busy = vec![iv(utc(2029, 1, 1, 0, 0), utc(2029, 2, 1, 0, 0))];
    assert_eq!(f.starts(30, 0).len(), 3);
}

/// A hold reaches the engine as the loader gives it: a busy interval of its therapist (its
/// massage plus its type's buffer) and an occupied interval of its room, like a booking.
#[test]
fn a_hold_blocks_its_therapist_and_room_like_a_booking() {
    let mut f = Fixture::simple();
    f.therapists[0].rules = vec![rule(Weekday::Mon, (9, 0), (12, 0), id(100))];
    f.therapists.push(therapist(
        2,
        vec![rule(Weekday::Mon, (9, 0), (12, 0), id(100))],
    ));
    // Therapist 1 holds 10:00–10:30 with a 10-minute buffer, in the only room.
    let held = iv(mon_utc(10, 0), mon_utc(10, 40));
    f.therapists[0].busy = vec![held];
    f.locations[0].rooms = vec![vec![held]];
    let slots = f.slots(30, 0);
    assert!(!slots.is_empty());
    for slot in &slots {
        assert!(
            !slot.interval().overlaps(&held),
            "{slot:?} overlaps the hold"
        );
    }
    // Neither therapist is offered the held time; both are offered the time after it.
    for t in 0..2 {
        assert!(f.check(t, mon_utc(10, 15), 30, 0).is_err());
        assert!(f.check(t, mon_utc(9, 45), 30, 0).is_err());
        assert_eq!(f.check(t, mon_utc(10, 45), 30, 0), Ok((id(100), Some(0))));
    }
    assert_eq!(f.check(0, mon_utc(10, 0), 30, 0), Err(Rejection::Taken));
    assert_eq!(f.check(1, mon_utc(10, 0), 30, 0), Err(Rejection::NoRoom));
    // The holder's own booking is checked without the hold (it is consumed first).
    f.therapists[0].busy.clear();
    f.locations[0].rooms = vec![vec![]];
    assert_eq!(f.check(0, mon_utc(10, 0), 30, 10), Ok((id(100), Some(0))));
}

// ---------------------------------------------------------------------------
// rooms

#[test]
fn single_room_busy_blocks() {
    let mut f = Fixture::simple();
    f.locations[0].rooms = vec![vec![iv(mon_utc(9, 0), mon_utc(9, 30))]];
    assert_eq!(f.starts(30, 0), vec![mon_utc(9, 30)]);
    assert_eq!(f.check(0, mon_utc(9, 0), 30, 0), Err(Rejection::NoRoom));
    assert_eq!(f.check(0, mon_utc(9, 30), 30, 0), Ok((id(100), Some(0))));
}

#[test]
fn two_rooms_one_busy_still_offered() {
    let mut f = Fixture::simple();
    f.locations[0].rooms = vec![vec![iv(mon_utc(9, 0), mon_utc(10, 0))], vec![]];
    assert_eq!(f.starts(30, 0).len(), 3);
    assert_eq!(f.check(0, mon_utc(9, 0), 30, 0), Ok((id(100), Some(1))));
}

#[test]
fn all_rooms_busy_not_offered() {
    let mut f = Fixture::simple();
    f.locations[0].rooms = vec![
        vec![iv(mon_utc(9, 0), mon_utc(9, 45))],
        vec![iv(mon_utc(9, 15), mon_utc(10, 0))],
    ];
    // 9:00 → room 1 free until 9:15? no, 30 min needs [9:00, 9:30): room 1 busy from 9:15
    assert!(f.starts(30, 0).is_empty());
    assert_eq!(f.check(0, mon_utc(9, 0), 30, 0), Err(Rejection::NoRoom));
    assert_eq!(f.check(0, mon_utc(9, 30), 30, 0), Err(Rejection::NoRoom));
    // 15 minutes at 9:00 fits in room 1
    assert_eq!(f.starts(15, 0), vec![mon_utc(9, 0), mon_utc(9, 45)]);
    assert_eq!(f.check(0, mon_utc(9, 45), 15, 0), Ok((id(100), Some(0))));
}

#[test]
fn room_occupancy_includes_requested_buffer() {
    let mut f = Fixture::simple();
    f.locations[0].rooms = vec![vec![iv(mon_utc(9, 45), mon_utc(10, 0))]];
    assert_eq!(f.starts(30, 0), vec![mon_utc(9, 0), mon_utc(9, 15)]);
    assert_eq!(f.starts(30, 15), vec![mon_utc(9, 0)]);
}

#[test]
fn taken_reported_before_no_room() {
    let mut f = Fixture::simple();
    f.locations[0].rooms = vec![vec![iv(mon_utc(9, 0), mon_utc(10, 0))]];
    f.therapists[0].busy = vec![iv(mon_utc(9, 0), mon_utc(9, 30))];
    assert_eq!(f.check(0, mon_utc(9, 0), 30, 0), Err(Rejection::Taken));
    assert_eq!(f.check(0, mon_utc(9, 30), 30, 0), Err(Rejection::NoRoom));
}

// ---------------------------------------------------------------------------
// policy

#[test]
fn min_notice_is_inclusive() {
    let mut f = Fixture::simple();
    f.now = mon_utc(8, 0);
    f.policy.min_notice = mins(75);
    assert_eq!(f.starts(30, 0), vec![mon_utc(9, 15), mon_utc(9, 30)]);
    assert_eq!(f.check(0, mon_utc(9, 0), 30, 0), Err(Rejection::TooSoon));
    assert_eq!(f.check(0, mon_utc(9, 15), 30, 0), Ok((id(100), None)));
    // TooSoon comes before TimeOff
    f.therapists[0].time_off = vec![iv(mon_utc(0, 0), mon_utc(23, 0))];
    assert_eq!(f.check(0, mon_utc(9, 0), 30, 0), Err(Rejection::TooSoon));
    // ...but after the schedule checks
    assert_eq!(f.check(0, mon_utc(9, 5), 30, 0), Err(Rejection::OffGrid));
}

#[test]
fn starts_in_the_past_are_too_soon() {
    let mut f = Fixture::simple();
    f.now = mon_utc(9, 20);
    assert_eq!(f.starts(30, 0), vec![mon_utc(9, 30)]);
    assert_eq!(f.check(0, mon_utc(9, 15), 30, 0), Err(Rejection::TooSoon));
}

#[test]
fn horizon_is_inclusive() {
    let mut f = Fixture::simple();
    f.now = mon_utc(8, 0);
    f.policy.horizon = mins(75);
    assert_eq!(f.starts(30, 0), vec![mon_utc(9, 0), mon_utc(9, 15)]);
    assert_eq!(
        f.check(0, mon_utc(9, 30), 30, 0),
        Err(Rejection::TooFarAhead)
    );
    assert_eq!(f.check(0, mon_utc(9, 15), 30, 0), Ok((id(100), None)));
}

#[test]
fn long_range_is_clamped_by_horizon() {
    let mut f = Fixture::simple();
    f.therapists[0].rules = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .map(|w| rule(w, (9, 0), (10, 0), id(100)))
    .collect();
    f.now = mon_utc(0, 0);
    f.policy.horizon = Duration::days(2);
    f.from = NaiveDate::MIN;
    f.to = NaiveDate::MAX;
    // Monday, Tuesday (9:00 Wednesday is past the horizon)
    assert_eq!(
        f.starts(60, 0),
        vec![mon_utc(9, 0), mon_utc(9, 0) + Duration::days(1)]
    );
}

// ---------------------------------------------------------------------------
// several rules / therapists

#[test]
fn split_shift_at_two_locations_same_day() {
    let a = id(100);
    let b = id(200);
    let f = Fixture {
        therapists: vec![therapist(
            1,
            vec![
                rule(Weekday::Mon, (13, 0), (15, 0), b),
                rule(Weekday::Mon, (9, 0), (11, 0), a),
            ],
        )],
        locations: vec![
            location(100, van(), vec![]),
            location(200, van(), vec![vec![]]),
        ],
        policy: policy(30),
        now: early_now(),
        from: monday(),
        to: monday(),
    };
    let slots = f.slots(60, 0);
    let got: Vec<(DateTime<Utc>, Uuid)> = slots.iter().map(|s| (s.start, s.location_id)).collect();
    let d = monday();
    assert_eq!(
        got,
        vec![
            (at(&van(), d, 9, 0), a),
            (at(&van(), d, 9, 30), a),
            (at(&van(), d, 10, 0), a),
            (at(&van(), d, 13, 0), b),
            (at(&van(), d, 13, 30), b),
            (at(&van(), d, 14, 0), b),
        ]
    );
    assert_eq!(f.check(0, at(&van(), d, 10, 0), 60, 0), Ok((a, None)));
    assert_eq!(f.check(0, at(&van(), d, 14, 0), 60, 0), Ok((b, Some(0))));
    assert_eq!(
        f.check(0, at(&van(), d, 11, 0), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
    assert_eq!(
        f.check(0, at(&van(), d, 10, 30), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
}

#[test]
fn back_to_back_rules_at_two_locations() {
    let f = Fixture {
        therapists: vec![therapist(
            1,
            vec![
                rule(Weekday::Mon, (9, 0), (10, 0), id(100)),
                rule(Weekday::Mon, (10, 0), (11, 0), id(200)),
            ],
        )],
        locations: vec![
            location(100, utc_zone(), vec![]),
            location(200, utc_zone(), vec![]),
        ],
        policy: policy(30),
        now: early_now(),
        from: monday(),
        to: monday(),
    };
    // a 60-minute massage cannot straddle the two rules
    let slots = f.slots(60, 0);
    assert_eq!(
        slots
            .iter()
            .map(|s| (s.start, s.location_id))
            .collect::<Vec<_>>(),
        vec![(mon_utc(9, 0), id(100)), (mon_utc(10, 0), id(200))]
    );
    assert_eq!(
        f.check(0, mon_utc(9, 30), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
}

#[test]
fn sorted_by_start_then_therapist() {
    let loc = id(100);
    let mut t9 = therapist(9, vec![rule(Weekday::Mon, (9, 0), (10, 0), loc)]);
    t9.busy = vec![iv(mon_utc(9, 0), mon_utc(9, 30))];
    let f = Fixture {
        therapists: vec![
            t9,
            therapist(5, vec![rule(Weekday::Mon, (9, 30), (10, 30), loc)]),
            therapist(7, vec![rule(Weekday::Mon, (9, 0), (10, 0), loc)]),
        ],
        locations: vec![location(100, utc_zone(), vec![])],
        policy: policy(30),
        now: early_now(),
        from: monday(),
        to: monday(),
    };
    let got: Vec<(DateTime<Utc>, Uuid)> = f
        .slots(30, 0)
        .iter()
        .map(|s| (s.start, s.therapist_id))
        .collect();
    assert_eq!(
        got,
        vec![
            (mon_utc(9, 0), id(7)),
            (mon_utc(9, 30), id(5)),
            (mon_utc(9, 30), id(7)),
            (mon_utc(9, 30), id(9)),
            (mon_utc(10, 0), id(5)),
        ]
    );
}

#[test]
fn rooms_shared_between_therapists() {
    let loc = id(100);
    let mut f = Fixture::simple();
    f.therapists
        .push(therapist(2, vec![rule(Weekday::Mon, (9, 0), (10, 0), loc)]));
    f.locations[0].rooms = vec![vec![iv(mon_utc(9, 0), mon_utc(9, 30))]];
    // the room is the bottleneck for both
    let got: Vec<_> = f
        .slots(30, 0)
        .iter()
        .map(|s| (s.start, s.therapist_id))
        .collect();
    assert_eq!(got, vec![(mon_utc(9, 30), id(1)), (mon_utc(9, 30), id(2))]);
}

#[test]
fn duplicate_rules_emit_once_smallest_location() {
    let f = Fixture {
        therapists: vec![therapist(
            1,
            vec![
                rule(Weekday::Mon, (9, 0), (10, 0), id(200)),
                rule(Weekday::Mon, (9, 0), (10, 0), id(100)),
                rule(Weekday::Mon, (9, 0), (10, 0), id(100)),
            ],
        )],
        locations: vec![
            location(200, utc_zone(), vec![]),
            location(
                100,
                utc_zone(),
                vec![vec![iv(mon_utc(9, 0), mon_utc(9, 30))]],
            ),
        ],
        policy: policy(30),
        now: early_now(),
        from: monday(),
        to: monday(),
    };
    let got: Vec<_> = f
        .slots(30, 0)
        .iter()
        .map(|s| (s.start, s.location_id))
        .collect();
    // 9:00: location 100's room is busy, so location 200; 9:30: location 100
    assert_eq!(
        got,
        vec![(mon_utc(9, 0), id(200)), (mon_utc(9, 30), id(100))]
    );
    assert_eq!(f.check(0, mon_utc(9, 0), 30, 0), Ok((id(200), None)));
    assert_eq!(f.check(0, mon_utc(9, 30), 30, 0), Ok((id(100), Some(0))));
}

#[test]
fn local_dates_are_per_location_zone() {
    // Monday 09:00 in Sydney is Sunday 23:00 UTC.
    let syd: Zone = "Australia/Sydney".parse().unwrap();
    let f = Fixture {
        therapists: vec![therapist(
            1,
            vec![rule(Weekday::Mon, (9, 0), (10, 0), id(100))],
        )],
        locations: vec![location(100, syd.clone(), vec![])],
        policy: policy(30),
        now: early_now(),
        from: monday(),
        to: monday(),
    };
    let starts = f.starts(30, 0);
    assert_eq!(
        starts,
        vec![at(&syd, monday(), 9, 0), at(&syd, monday(), 9, 30)]
    );
    assert_eq!(starts[0], utc(2026, 5, 31, 23, 0));
    assert_eq!(f.check(0, starts[0], 30, 0), Ok((id(100), None)));
}

// ---------------------------------------------------------------------------
// DST (America/Los_Angeles; Vancouver stopped changing clocks in 2026)

fn sunday_fixture(d: NaiveDate, s: (u32, u32), e: (u32, u32), step: u32) -> Fixture {
    assert_eq!(d.weekday(), Weekday::Sun);
    Fixture {
        therapists: vec![therapist(1, vec![rule(Weekday::Sun, s, e, id(100))])],
        locations: vec![location(100, la(), vec![])],
        policy: policy(step),
        now: early_now(),
        from: d,
        to: d,
    }
}

#[test]
fn dst_transition_days_business_hours() {
    let normal = sunday_fixture(date(2026, 3, 15), (9, 0), (17, 0), 15)
        .slots(60, 0)
        .len();
    assert_eq!(normal, 29);
    for d in [date(2026, 3, 8), date(2026, 11, 1)] {
        let f = sunday_fixture(d, (9, 0), (17, 0), 15);
        let slots = f.slots(60, 0);
        assert_eq!(slots.len(), normal, "{d}");
        assert_eq!(slots[0].start, at(&la(), d, 9, 0));
        assert_eq!(slots[slots.len() - 1].start, at(&la(), d, 16, 0));
        for s in &slots {
            assert_eq!(s.end - s.start, mins(60));
            let local = s.start.with_timezone(&la());
            assert_eq!(local.date_naive(), d);
        }
        for w in slots.windows(2) {
            assert_eq!(w[1].start - w[0].start, mins(15));
        }
    }
}

#[test]
fn dst_spring_forward_gap_skipped() {
    let d = date(2026, 3, 8);
    let f = sunday_fixture(d, (0, 0), (4, 0), 15);
    let slots = f.slots(60, 0);
    // 00:00 PST = 08:00 UTC .. 04:00 PDT = 11:00 UTC: three real hours.
    let expected: Vec<DateTime<Utc>> = (0..9)
        .map(|k| utc(2026, 3, 8, 8, 0) + mins(15 * k))
        .collect();
    assert_eq!(slots.iter().map(|s| s.start).collect::<Vec<_>>(), expected);
    let locals: Vec<String> = slots
        .iter()
        .map(|s| s.start.with_timezone(&la()).format("%H:%M").to_string())
        .collect();
    assert_eq!(
        locals,
        [
            "00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30", "01:45", "03:00"
        ]
    );
    for s in &slots {
        assert_eq!(s.end - s.start, mins(60));
        assert!(s.start.with_timezone(&la()).format("%H").to_string() != "02");
    }
    // 15-minute massages: every wall-clock start except the gap ones
    let short = f.slots(15, 0);
    assert_eq!(short.len(), 16 - 4);
    // 01:45 PST + 60 min = 03:45 PDT and 03:00 PDT is a valid start
    assert_eq!(
        f.check(0, utc(2026, 3, 8, 10, 0), 60, 0),
        Ok((id(100), None))
    );
    assert_eq!(
        f.check(0, utc(2026, 3, 8, 10, 15), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
}

#[test]
fn dst_fall_back_ambiguous_offered_once() {
    let d = date(2026, 11, 1);
    let f = sunday_fixture(d, (0, 0), (4, 0), 15);
    let slots = f.slots(60, 0);
    // 00:00 PDT = 07:00 UTC .. 04:00 PST = 12:00 UTC; wall-clock starts
    // 00:00..03:00, each once; 01:xx at the PDT (earliest) instant.
    assert_eq!(slots.len(), 13);
    let starts: Vec<DateTime<Utc>> = slots.iter().map(|s| s.start).collect();
    let mut expected: Vec<DateTime<Utc>> = (0..8)
        .map(|k| utc(2026, 11, 1, 7, 0) + mins(15 * k))
        .collect();
    expected.extend((0..5).map(|k| utc(2026, 11, 1, 10, 0) + mins(15 * k)));
    assert_eq!(starts, expected);
    for s in &slots {
        assert_eq!(s.end - s.start, mins(60));
    }
    let mut locals: Vec<String> = slots
        .iter()
        .map(|s| s.start.with_timezone(&la()).format("%H:%M").to_string())
        .collect();
    let n = locals.len();
    locals.dedup();
    assert_eq!(
        locals.len(),
        n,
        "an ambiguous wall-clock time was offered twice"
    );
    // The second 01:00 (PST, 09:00 UTC) is not on the grid.
    assert_eq!(
        f.check(0, utc(2026, 11, 1, 9, 0), 60, 0),
        Err(Rejection::OffGrid)
    );
    assert_eq!(
        f.check(0, utc(2026, 11, 1, 8, 0), 60, 0),
        Ok((id(100), None))
    );
}

#[test]
fn dst_rule_end_in_gap_is_end_of_gap() {
    let d = date(2026, 3, 8);
    // 02:30 does not exist: the window ends at 03:00 PDT = 10:00 UTC.
    let f = sunday_fixture(d, (0, 0), (2, 30), 15);
    let starts = f.starts(60, 0);
    assert_eq!(starts.last(), Some(&utc(2026, 3, 8, 9, 0)));
    assert_eq!(starts.len(), 5);
}

#[test]
fn dst_rule_end_ambiguous_is_latest() {
    let d = date(2026, 11, 1);
    // 01:30 is ambiguous: the window ends at 01:30 PST = 09:30 UTC.
    let f = sunday_fixture(d, (0, 0), (1, 30), 15);
    let starts = f.starts(60, 0);
    // wall-clock 00:00..01:15 (PDT), 01:15 PDT = 08:15 UTC ends 09:15 UTC
    assert_eq!(starts.len(), 6);
    assert_eq!(starts.last(), Some(&utc(2026, 11, 1, 8, 15)));
}

#[test]
fn dst_rule_starting_in_gap() {
    let d = date(2026, 3, 8);
    let f = sunday_fixture(d, (2, 0), (4, 0), 15);
    // 02:00..02:45 don't exist; 03:00 PDT is the first start.
    let starts = f.starts(30, 0);
    assert_eq!(starts.first(), Some(&utc(2026, 3, 8, 10, 0)));
    assert_eq!(starts.len(), 3);
}

/// Vancouver from November 2026: UTC−7 all year, so no fold on 2026-11-01 and no gap in 2027.
#[test]
fn vancouver_no_longer_changes_clocks() {
    for d in [date(2026, 11, 1), date(2027, 3, 14), date(2027, 11, 7)] {
        let mut f = sunday_fixture(d, (0, 0), (4, 0), 15);
        f.locations = vec![location(100, van(), vec![])];
        let starts = f.starts(60, 0);
        // wall-clock 00:00..03:00, each once, at −07:00: 07:00..10:00 UTC
        let expected: Vec<DateTime<Utc>> = (0..13)
            .map(|k| at(&utc_zone(), d, 7, 0) + mins(15 * k))
            .collect();
        assert_eq!(starts, expected, "{d}");
        assert_eq!(
            day_span(&van(), d).map(|s| s.end - s.start),
            Some(Duration::hours(24))
        );
    }
}

/// A Vancouver location open 09:00–17:00 offers its first slot on 2026-12-10 at 16:00 UTC
/// (09:00 −07:00; chrono-tz's tzdata 2025b said 17:00 UTC).
#[test]
fn vancouver_december_2026_opens_at_16_00_utc() {
    let d = date(2026, 12, 10);
    let f = Fixture {
        therapists: vec![therapist(
            1,
            vec![rule(d.weekday(), (9, 0), (17, 0), id(100))],
        )],
        locations: vec![location(100, van(), vec![])],
        policy: policy(60),
        now: early_now(),
        from: d,
        to: d,
    };
    let starts = f.starts(60, 0);
    assert_eq!(starts.first(), Some(&utc(2026, 12, 10, 16, 0)));
    assert_eq!(starts.last(), Some(&utc(2026, 12, 10, 23, 0)));
    assert_eq!(starts.len(), 8);
    assert_eq!(
        f.check(0, utc(2026, 12, 10, 16, 0), 60, 0),
        Ok((id(100), None))
    );
    assert_eq!(
        f.check(0, utc(2026, 12, 11, 0, 0), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
}

// ---------------------------------------------------------------------------
// validate_rules

#[test]
fn validate_rules_accepts_valid_and_back_to_back() {
    let a = id(1);
    let b = id(2);
    let rules = vec![
        rule(Weekday::Mon, (9, 0), (12, 0), a),
        rule(Weekday::Mon, (12, 0), (17, 0), b),
        rule(Weekday::Tue, (9, 0), (17, 0), a),
        rule(Weekday::Wed, (11, 0), (12, 0), a),
        rule(Weekday::Wed, (8, 0), (11, 0), a),
    ];
    assert_eq!(validate_rules(&rules), Ok(()));
    assert_eq!(validate_rules(&[]), Ok(()));
}

#[test]
fn validate_rules_rejects_overlap() {
    let a = id(1);
    let rules = vec![
        rule(Weekday::Mon, (9, 0), (12, 0), a),
        rule(Weekday::Tue, (9, 0), (12, 0), a),
        rule(Weekday::Mon, (11, 30), (13, 0), id(2)),
    ];
    let errs = validate_rules(&rules).unwrap_err();
    let idx: Vec<usize> = errs.iter().map(|e| e.0).collect();
    assert_eq!(idx, vec![0, 2]);
    assert!(errs[0].1.contains("overlaps rule 2"), "{}", errs[0].1);
    assert!(errs[1].1.contains("overlaps rule 0"), "{}", errs[1].1);
}

#[test]
fn validate_rules_rejects_start_not_before_end() {
    let a = id(1);
    let rules = vec![
        rule(Weekday::Mon, (9, 0), (9, 0), a),
        rule(Weekday::Mon, (9, 0), (12, 0), a),
        rule(Weekday::Fri, (17, 0), (9, 0), a),
        rule(Weekday::Sat, (9, 0), (0, 0), a),
    ];
    let errs = validate_rules(&rules).unwrap_err();
    let idx: Vec<usize> = errs.iter().map(|e| e.0).collect();
    assert_eq!(idx, vec![0, 2, 3]);
    assert!(errs.iter().all(|e| e.1.contains("must be before end")));
}

#[test]
fn rejection_messages() {
    assert_eq!(
        Rejection::TooSoon.to_string(),
        "start is sooner than the minimum notice"
    );
}

// ---------------------------------------------------------------------------
// zone helpers

#[test]
fn resolve_end_in_gap_is_exact_transition_instant() {
    let d = date(2026, 3, 8);
    let transition = utc(2026, 3, 8, 10, 0);
    for (h, m, s) in [(2, 0, 0), (2, 30, 0), (2, 59, 59)] {
        let local = d.and_hms_opt(h, m, s).unwrap();
        assert_eq!(
            zone::resolve_end(&van(), local),
            Some(transition),
            "{local}"
        );
        assert_eq!(zone::resolve_start(&van(), local), None, "{local}");
    }
    let frac = d.and_hms_milli_opt(2, 59, 59, 500).unwrap();
    assert_eq!(zone::resolve_end(&van(), frac), Some(transition));
    // Sydney spring-forward 2026-10-04 02:00 AEST → 03:00 AEDT (16:00 UTC the day before)
    let syd: Zone = "Australia/Sydney".parse().unwrap();
    let local = date(2026, 10, 4).and_hms_opt(2, 15, 0).unwrap();
    assert_eq!(
        zone::resolve_end(&syd, local),
        Some(utc(2026, 10, 3, 16, 0))
    );
}

#[test]
fn resolve_ambiguous_start_earliest_end_latest() {
    // Los Angeles falls back 02:00 PDT → 01:00 PST on 2026-11-01 (Vancouver no longer does).
    let local = date(2026, 11, 1).and_hms_opt(1, 30, 0).unwrap();
    assert_eq!(
        zone::resolve_start(&la(), local),
        Some(utc(2026, 11, 1, 8, 30))
    );
    assert_eq!(
        zone::resolve_end(&la(), local),
        Some(utc(2026, 11, 1, 9, 30))
    );
    let plain = date(2026, 11, 2).and_hms_opt(1, 30, 0).unwrap();
    assert_eq!(
        zone::resolve_start(&la(), plain),
        zone::resolve_end(&la(), plain)
    );
}

#[test]
fn gap_end_matches_the_tzdb_transition() {
    // every spring-forward gap of 2026–2030 in a few zones, every minute of it, against the
    // transition instant the bundled tz database gives (jiff's own transition list)
    let zones = [
        "America/Vancouver", // 2026-03-08 only: UTC−7 all year from 2026-11-01
        "America/Los_Angeles",
        "Australia/Sydney",
        "Europe/London",
        "Australia/Lord_Howe", // 30-minute DST shift
    ];
    let mut gaps = 0;
    let mut vancouver_gaps = 0;
    for name in zones {
        let tz: Zone = name.parse().unwrap();
        let jtz = jiff::tz::TimeZone::get(name).unwrap();
        let mut d = date(2026, 1, 1);
        while d <= date(2030, 12, 31) {
            let midnight = d.and_time(NaiveTime::MIN);
            let short_morning = zone::resolve_start(&tz, midnight + mins(6 * 60)).unwrap()
                - zone::resolve_start(&tz, midnight).unwrap()
                < mins(6 * 60);
            for minute in (0..(6 * 60)).filter(|_| short_morning) {
                let local = d.and_time(NaiveTime::MIN) + mins(minute);
                if zone::resolve_start(&tz, local).is_some() {
                    continue;
                }
                gaps += 1;
                if name == "America/Vancouver" {
                    vancouver_gaps += 1;
                }
                let civil = jiff::civil::date(
                    i16::try_from(d.year()).unwrap(),
                    i8::try_from(d.month()).unwrap(),
                    i8::try_from(d.day()).unwrap(),
                )
                .at(
                    i8::try_from(minute / 60).unwrap(),
                    i8::try_from(minute % 60).unwrap(),
                    0,
                    0,
                );
                let jiff::tz::AmbiguousOffset::Gap { before, .. } =
                    jtz.to_ambiguous_timestamp(civil).offset()
                else {
                    panic!("{name} {local} is not in a gap for jiff");
                };
                // `local` read with the offset before the gap is past the transition; the
                // transition is the last one at or before it.
                let past = before.to_timestamp(civil).unwrap();
                let transition = jtz
                    .preceding(past + jiff::SignedDuration::from_nanos(1))
                    .next()
                    .unwrap()
                    .timestamp();
                let expected = DateTime::<Utc>::from_timestamp(transition.as_second(), 0).unwrap();
                assert_eq!(
                    zone::resolve_end(&tz, local),
                    Some(expected),
                    "{name} {local}"
                );
            }
            d = d.succ_opt().unwrap();
        }
    }
    assert_eq!(vancouver_gaps, 60);
    // Vancouver's one gap, then 5 years x (60 + 60 + 60 + 30) gap minutes
    assert_eq!(gaps, 60 + 5 * (60 + 60 + 60 + 30));
}

// ---------------------------------------------------------------------------
// date overrides and closures

fn hours(s: (u32, u32), e: (u32, u32), loc: Uuid) -> DayRule {
    DayRule {
        start: hm(s.0, s.1),
        end: hm(e.0, e.1),
        location_id: loc,
    }
}

/// One therapist (id 1) working Monday–Friday 09:00–12:00 at location 100 (Vancouver), a week
/// of June 2026 searched.
fn week_fixture() -> Fixture {
    let rules = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ]
    .into_iter()
    .map(|wd| rule(wd, (9, 0), (12, 0), id(100)))
    .collect();
    Fixture {
        therapists: vec![therapist(1, rules)],
        locations: vec![location(100, van(), vec![])],
        policy: policy(60),
        now: early_now(),
        from: monday(),
        to: monday() + Duration::days(6),
    }
}

fn starts_on(f: &Fixture, d: NaiveDate) -> Vec<DateTime<Utc>> {
    f.starts(60, 0)
        .into_iter()
        .filter(|s| s.with_timezone(&van()).date_naive() == d)
        .collect()
}

#[test]
fn an_override_replaces_its_dates_weekly_rules_only() {
    let mut f = week_fixture();
    let tuesday = monday() + Duration::days(1);
    f.therapists[0]
        .overrides
        .insert(tuesday, vec![hours((13, 0), (15, 0), id(100))]);
    assert_eq!(
        starts_on(&f, tuesday),
        vec![at(&van(), tuesday, 13, 0), at(&van(), tuesday, 14, 0)]
    );
    // the other days keep their weekly hours
    assert_eq!(starts_on(&f, monday()).len(), 3);
    assert_eq!(starts_on(&f, tuesday + Duration::days(1)).len(), 3);
    // booking the replaced hours is outside the schedule, the new ones are fine
    assert_eq!(
        f.check(0, at(&van(), tuesday, 9, 0), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
    assert_eq!(
        f.check(0, at(&van(), tuesday, 13, 0), 60, 0),
        Ok((id(100), None))
    );
}

#[test]
fn an_empty_override_is_a_day_off_and_one_on_a_free_day_adds_hours() {
    let mut f = week_fixture();
    let wednesday = monday() + Duration::days(2);
    let saturday = monday() + Duration::days(5);
    f.therapists[0].overrides.insert(wednesday, vec![]);
    f.therapists[0].overrides.insert(
        saturday,
        vec![
            hours((10, 0), (11, 0), id(100)),
            hours((11, 0), (12, 0), id(200)),
        ],
    );
    f.locations.push(location(200, van(), vec![]));
    assert!(starts_on(&f, wednesday).is_empty());
    assert_eq!(
        f.check(0, at(&van(), wednesday, 10, 0), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
    let slots: Vec<Slot> = f
        .slots(60, 0)
        .into_iter()
        .filter(|s| s.start.with_timezone(&van()).date_naive() == saturday)
        .collect();
    assert_eq!(slots.len(), 2);
    assert_eq!(slots[0].location_id, id(100));
    assert_eq!(slots[1].location_id, id(200));
    assert_eq!(
        f.check(0, at(&van(), saturday, 11, 0), 60, 0),
        Ok((id(200), None))
    );
    // the following Saturday has no override and no hours
    assert_eq!(
        f.check(0, at(&van(), saturday + Duration::days(7), 10, 0), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
}

#[test]
fn a_therapist_with_only_overrides_is_searched() {
    let saturday = monday() + Duration::days(5);
    let mut t = therapist(1, vec![]);
    t.overrides
        .insert(saturday, vec![hours((9, 0), (10, 0), id(100))]);
    let f = Fixture {
        therapists: vec![t],
        locations: vec![location(100, van(), vec![])],
        policy: policy(60),
        now: early_now(),
        from: saturday,
        to: saturday,
    };
    assert_eq!(f.starts(60, 0), vec![at(&van(), saturday, 9, 0)]);
}

#[test]
fn a_closure_removes_what_overlaps_it_and_refuses_like_outside_hours() {
    let mut f = week_fixture();
    // closed 10:30–11:00 on Monday: 10:00 (would run into it) and nothing inside it
    f.locations[0].closures = vec![iv(
        at(&van(), monday(), 10, 30),
        at(&van(), monday(), 11, 0),
    )];
    assert_eq!(
        starts_on(&f, monday()),
        vec![at(&van(), monday(), 9, 0), at(&van(), monday(), 11, 0)]
    );
    assert_eq!(
        f.check(0, at(&van(), monday(), 10, 0), 60, 0),
        Err(Rejection::OutsideSchedule)
    );
    assert_eq!(
        f.check(0, at(&van(), monday(), 10, 30), 30, 0),
        Err(Rejection::OutsideSchedule)
    );
    // inside a closure even an off-grid start is simply outside the hours
    f.policy = policy(15);
    assert_eq!(
        f.check(0, at(&van(), monday(), 10, 40), 15, 0),
        Err(Rejection::OutsideSchedule)
    );
    // the buffer counts: 09:00 + 60 + 45 min runs into 10:30
    assert_eq!(
        f.check(0, at(&van(), monday(), 9, 0), 60, 45),
        Err(Rejection::OutsideSchedule)
    );
    // a closure of another location changes nothing here
    let mut other = week_fixture();
    other.locations.push(location(200, van(), vec![]));
    other.locations[1].closures = vec![iv(at(&van(), monday(), 0, 0), at(&van(), monday(), 23, 0))];
    assert_eq!(starts_on(&other, monday()).len(), 3);
}

#[test]
fn a_whole_day_closure_on_dst_days_covers_the_local_day() {
    // Los Angeles still changes clocks in 2027 (Vancouver does not: its days are 24 hours).
    for (d, hours_long) in [(date(2027, 3, 14), 23), (date(2027, 11, 7), 25)] {
        let span = day_span(&la(), d).unwrap();
        assert_eq!(span.end - span.start, Duration::hours(hours_long), "{d}");
        assert_eq!(span.start, at(&la(), d, 0, 0));
        assert_eq!(span.end, at(&la(), d + Duration::days(1), 0, 0));
        let span = day_span(&van(), d).unwrap();
        assert_eq!(span.end - span.start, Duration::hours(24), "{d}");
    }
    // a zone whose midnight falls into the gap: the day starts when the gap ends
    let havana: Zone = "America/Havana".parse().unwrap();
    // (Cuba kept daylight time through the winter of 2026–27 in tzdata 2026f, so its next
    // midnight gap after 2026-03-08 is 2028-03-12.)
    let gap_day = date(2028, 3, 12);
    assert!(
        havana
            .from_local_datetime(&gap_day.and_time(NaiveTime::MIN))
            .earliest()
            .is_none()
    );
    let span = day_span(&havana, gap_day).unwrap();
    assert_eq!(span.end - span.start, Duration::hours(23));
}

#[test]
fn within_hours_follows_the_override_of_the_booked_date() {
    let mut f = week_fixture();
    let t = &mut f.therapists[0];
    let booked = iv(at(&van(), monday(), 10, 0), at(&van(), monday(), 11, 0));
    assert!(within_hours(t, id(100), &van(), &booked));
    assert!(!within_hours(t, id(200), &van(), &booked));
    t.overrides
        .insert(monday(), vec![hours((9, 0), (10, 30), id(100))]);
    assert!(!within_hours(t, id(100), &van(), &booked));
    t.overrides
        .insert(monday(), vec![hours((9, 10), (11, 0), id(100))]);
    // off the old grid but inside the hours
    assert!(within_hours(t, id(100), &van(), &booked));
    t.overrides.insert(monday(), vec![]);
    assert!(!within_hours(t, id(100), &van(), &booked));
}
