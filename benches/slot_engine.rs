//! Slot engine benchmark: 10 therapists working weekdays 09:00–17:00 at two
//! locations, ~1500 existing bookings spread over 60 days.
//!
//! Run: `cargo bench --bench slot_engine`

use std::hint::black_box;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use inspine::scheduling::{
    Interval, LocationCalendar, SlotPolicy, SlotRequest, TherapistCalendar, WeeklyRule, Zone,
    check_start, compute_slots,
};
use uuid::Uuid;

/// America/Vancouver, from the tz database bundled by jiff.
fn tz() -> Zone {
    "America/Vancouver".parse().unwrap_or_else(|_| Zone::utc())
}
const THERAPISTS: usize = 10;
const DAYS: i64 = 60;
const BOOKINGS: usize = 1500;

/// Tiny deterministic LCG so the bench needs no extra dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct World {
    therapists: Vec<TherapistCalendar>,
    locations: Vec<LocationCalendar>,
    first_day: NaiveDate,
    now: DateTime<Utc>,
    bookings: usize,
}

fn local(d: NaiveDate, h: u32, m: u32) -> Option<DateTime<Utc>> {
    tz().from_local_datetime(&d.and_time(NaiveTime::from_hms_opt(h, m, 0)?))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn world() -> World {
    let first_day = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default(); // a Monday
    let loc_ids = [Uuid::from_u128(0xA), Uuid::from_u128(0xB)];
    let mut locations: Vec<LocationCalendar> = loc_ids
        .iter()
        .zip([4usize, 3])
        .map(|(&id, rooms)| LocationCalendar {
            id,
            tz: tz(),
            rooms: vec![Vec::new(); rooms],
            closures: Vec::new(),
        })
        .collect();
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
    let five = NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default();
    let mut therapists: Vec<TherapistCalendar> = (0..THERAPISTS)
        .map(|i| TherapistCalendar {
            therapist_id: Uuid::from_u128(0x1000 + i as u128),
            rules: weekdays
                .iter()
                .enumerate()
                .map(|(k, &weekday)| WeeklyRule {
                    weekday,
                    start: nine,
                    end: five,
                    location_id: loc_ids[(i + k) % 2],
                })
                .collect(),
            overrides: Default::default(),
            time_off: Vec::new(),
            busy: Vec::new(),
        })
        .collect();

    // Place bookings at random grid starts until BOOKINGS are placed.
    let mut rng = Lcg(42);
    let mut placed = 0;
    let mut attempts = 0;
    while placed < BOOKINGS && attempts < BOOKINGS * 20 {
        attempts += 1;
        let ti = rng.below(THERAPISTS as u64) as usize;
        let day = first_day + Duration::days(rng.below(DAYS as u64) as i64);
        let Some(rule) = therapists[ti]
            .rules
            .iter()
            .find(|r| r.weekday == day.weekday())
            .cloned()
        else {
            continue;
        };
        let q = rng.below(29) as u32; // 09:00 .. 16:00
        let Some(start) = local(day, 9 + q / 4, (q % 4) * 15) else {
            continue;
        };
        let minutes = [30, 60, 60, 90][rng.below(4) as usize];
        let occ = Interval::new(start, start + Duration::minutes(minutes + 15));
        if occ.end > local(day, 17, 0).unwrap_or(start)
            || therapists[ti].busy.iter().any(|b| b.overlaps(&occ))
        {
            continue;
        }
        let Some(loc) = locations.iter_mut().find(|l| l.id == rule.location_id) else {
            continue;
        };
        let Some(room) = loc
            .rooms
            .iter_mut()
            .find(|r| !r.iter().any(|b| b.overlaps(&occ)))
        else {
            continue;
        };
        room.push(occ);
        therapists[ti].busy.push(occ);
        placed += 1;
    }
    // A week of time off for one therapist, a day for another.
    therapists[3].time_off.push(Interval::new(
        local(first_day + Duration::days(14), 0, 0).unwrap_or_default(),
        local(first_day + Duration::days(21), 0, 0).unwrap_or_default(),
    ));
    therapists[7].time_off.push(Interval::new(
        local(first_day + Duration::days(2), 0, 0).unwrap_or_default(),
        local(first_day + Duration::days(3), 0, 0).unwrap_or_default(),
    ));
    let now = local(first_day, 7, 0).unwrap_or_default();
    World {
        therapists,
        locations,
        first_day,
        now,
        bookings: placed,
    }
}

fn bench(c: &mut Criterion) {
    let w = world();
    let policy = SlotPolicy {
        step_minutes: 15,
        min_notice: Duration::hours(2),
        horizon: Duration::days(90),
    };
    let mut group = c.benchmark_group(format!("compute_slots ({} bookings)", w.bookings));
    for (name, n_therapists, days) in [
        ("1 therapist x 1 day", 1usize, 1i64),
        ("10 therapists x 7 days", 10, 7),
        ("10 therapists x 31 days", 10, 31),
    ] {
        let from = w.first_day + Duration::days(7);
        let req = SlotRequest {
            from,
            to: from + Duration::days(days - 1),
            duration_minutes: 60,
            buffer_minutes: 15,
            now: w.now,
            policy: &policy,
        };
        let therapists = &w.therapists[..n_therapists];
        let n_slots = compute_slots(&req, therapists, &w.locations).len();
        group.throughput(Throughput::Elements(n_therapists as u64 * days as u64));
        group.bench_with_input(
            BenchmarkId::new(name, format!("{n_slots} slots")),
            &req,
            |b, req| b.iter(|| compute_slots(black_box(req), black_box(therapists), &w.locations)),
        );
    }
    group.finish();

    // One booking validation: a start that is free (checks everything).
    let from = w.first_day + Duration::days(7);
    let req = SlotRequest {
        from,
        to: from + Duration::days(6),
        duration_minutes: 60,
        buffer_minutes: 15,
        now: w.now,
        policy: &policy,
    };
    if let Some(slot) = compute_slots(&req, &w.therapists, &w.locations).first() {
        let Some(t) = w
            .therapists
            .iter()
            .find(|t| t.therapist_id == slot.therapist_id)
        else {
            return;
        };
        c.bench_function("check_start (free start, 150 bookings)", |b| {
            b.iter(|| {
                check_start(
                    black_box(slot.start),
                    60,
                    15,
                    w.now,
                    &policy,
                    black_box(t),
                    &w.locations,
                )
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
