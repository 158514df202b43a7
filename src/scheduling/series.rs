//! Recurring series: one local wall-clock time every few weeks, as UTC instants.
//!
//! A series keeps its wall-clock time across daylight-saving changes, so its instants are not
//! equally spaced in UTC: a weekly 10:00 in Toronto is 15:00 UTC in winter and 14:00 UTC in
//! summer (in Vancouver, UTC−7 all year since 2026-11-01, it is 17:00 UTC). The zone is that of the location whose hours hold the first start
//! ([`series_zone`]); occurrence `k` is the first start's local date plus `7 · every_weeks · k`
//! days at the same local time ([`occurrences`]). DST conventions are the slot engine's (see
//! `zone`): an ambiguous (fall-back) time is its earliest instant; a time in a spring-forward
//! gap does not exist that day, so that occurrence cannot be booked.

use chrono::{DateTime, Days, NaiveDateTime, Offset, TimeDelta, Utc};

use super::slots::{LocationCalendar, TherapistCalendar};
use super::zone::{Zone, first_instant_at_or_after, resolve_start};

/// One occurrence of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The wall-clock time asked for, in the series' zone.
    pub local: NaiveDateTime,
    /// The instant of `local`. For a time in a spring-forward gap, which has none, `local` read
    /// with the UTC offset in force before the gap (RFC 5545's reading of a nonexistent
    /// `DTSTART`): an instant just after the gap, to show, never to book.
    pub start: DateTime<Utc>,
    /// `local` does not exist on its date (a spring-forward gap).
    pub in_gap: bool,
}

/// The occurrences of a series whose first start is `first`, in `tz`: occurrence `k` (from 0 to
/// `count - 1`) is the local date of `first` plus `7 · every_weeks · k` days at `first`'s local
/// time. Occurrence 0 is `first` itself, exactly as asked. The list ends early only where
/// chrono's calendar does (never for a start before year 10000).
pub fn occurrences(
    tz: &Zone,
    first: DateTime<Utc>,
    every_weeks: u32,
    count: u32,
) -> Vec<Occurrence> {
    let local = first.with_timezone(tz).naive_local();
    let mut out = Vec::with_capacity(count as usize);
    for k in 0..u64::from(count) {
        let Some(local) = local.checked_add_days(Days::new(7 * u64::from(every_weeks) * k)) else {
            break;
        };
        let occurrence = if k == 0 {
            Some(Occurrence {
                local,
                start: first,
                in_gap: false,
            })
        } else {
            match resolve_start(tz, local) {
                Some(start) => Some(Occurrence {
                    local,
                    start,
                    in_gap: false,
                }),
                None => gap_reading(tz, local).map(|start| Occurrence {
                    local,
                    start,
                    in_gap: true,
                }),
            }
        };
        match occurrence {
            Some(o) => out.push(o),
            None => break,
        }
    }
    out
}

/// A wall-clock time inside a spring-forward gap, read with the offset before the gap.
fn gap_reading(tz: &Zone, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let gap_end = first_instant_at_or_after(tz, local)?;
    let before = gap_end.checked_sub_signed(TimeDelta::seconds(1))?;
    let offset = before.with_timezone(tz).offset().fix().local_minus_utc();
    Some(
        local
            .checked_sub_signed(TimeDelta::seconds(i64::from(offset)))?
            .and_utc(),
    )
}

/// The zone a series starting at `first` keeps its wall-clock time in: that of the location
/// whose hours (the therapist's date override or weekly rules on `first`'s local date there)
/// hold `first`; the smallest location id when several do, as [`super::check_start`] chooses.
/// `None` when `first` is outside the therapist's hours everywhere.
pub fn series_zone(
    first: DateTime<Utc>,
    therapist: &TherapistCalendar,
    locations: &[LocationCalendar],
) -> Option<Zone> {
    locations
        .iter()
        .filter(|loc| {
            let local = first.with_timezone(&loc.tz).naive_local();
            let date = local.date();
            therapist.hours_on(date).iter().any(|h| {
                h.location_id == loc.id
                    && local >= date.and_time(h.start)
                    && local < date.and_time(h.end)
            })
        })
        .min_by_key(|loc| loc.id)
        .map(|loc| loc.tz.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;
    use crate::scheduling::{DayRule, WeeklyRule};

    /// America/Vancouver: UTC−7 all year from 2026-11-01 (tzdata 2026a+).
    fn van() -> Zone {
        "America/Vancouver".parse().unwrap()
    }

    /// America/Los_Angeles: the rules Vancouver had until 2026, still in force.
    fn la() -> Zone {
        "America/Los_Angeles".parse().unwrap()
    }

    fn syd() -> Zone {
        "Australia/Sydney".parse().unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    /// The instant of a wall-clock time that exists (the earliest when ambiguous).
    fn at(tz: &Zone, d: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
        tz.from_local_datetime(&d.and_time(hm(h, m)))
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn offset_at(tz: &Zone, t: DateTime<Utc>) -> Duration {
        Duration::seconds(i64::from(
            t.with_timezone(tz).offset().fix().local_minus_utc(),
        ))
    }

    type Ymd = (i32, u32, u32);

    /// Every daylight-saving change of 2026–2030, spelled out: Los Angeles springs forward on
    /// the second Sunday of March and falls back on the first Sunday of November (as Vancouver
    /// did until 2026: it now keeps UTC−7, see `vancouver_changed_clocks_once_in_2026`); Sydney
    /// falls back on the first Sunday of April and springs forward on the first Sunday of
    /// October.
    const CHANGES: [(&str, [Ymd; 10]); 2] = [
        (
            "America/Los_Angeles",
            [
                (2026, 3, 8),
                (2026, 11, 1),
                (2027, 3, 14),
                (2027, 11, 7),
                (2028, 3, 12),
                (2028, 11, 5),
                (2029, 3, 11),
                (2029, 11, 4),
                (2030, 3, 10),
                (2030, 11, 3),
            ],
        ),
        (
            "Australia/Sydney",
            [
                (2026, 4, 5),
                (2026, 10, 4),
                (2027, 4, 4),
                (2027, 10, 3),
                (2028, 4, 2),
                (2028, 10, 1),
                (2029, 4, 1),
                (2029, 10, 7),
                (2030, 4, 7),
                (2030, 10, 6),
            ],
        ),
    ];

    fn changes() -> impl Iterator<Item = (Zone, NaiveDate)> {
        CHANGES.iter().flat_map(|(name, days)| {
            days.iter()
                .map(move |&(y, m, d)| (name.parse().unwrap(), date(y, m, d)))
        })
    }

    /// The local dates in 2026–2030 that are not 24 hours long in `tz`.
    fn changes_found(tz: &Zone) -> Vec<Ymd> {
        let mut found = Vec::new();
        let mut d = date(2026, 1, 1);
        while d <= date(2030, 12, 31) {
            let next = d.succ_opt().unwrap();
            if at(tz, next, 0, 0) - at(tz, d, 0, 0) != Duration::hours(24) {
                found.push((d.year(), d.month(), d.day()));
            }
            d = next;
        }
        found
    }

    /// Whether the clocks go forward on `d` (a gap) rather than back (an overlap).
    fn springs_forward(tz: &Zone, d: NaiveDate) -> bool {
        let before = offset_at(tz, at(tz, d.pred_opt().unwrap(), 12, 0));
        let after = offset_at(tz, at(tz, d.succ_opt().unwrap(), 12, 0));
        after > before
    }

    #[test]
    fn the_list_of_changes_is_every_change_the_zone_data_has() {
        for (name, listed) in CHANGES {
            assert_eq!(changes_found(&name.parse().unwrap()), listed, "{name}");
        }
    }

    #[test]
    fn vancouver_changed_clocks_once_in_2026() {
        // Spring forward on 2026-03-08, then UTC−7 for good: no fall-back on 2026-11-01.
        assert_eq!(changes_found(&van()), [(2026, 3, 8)]);
    }

    #[test]
    fn a_vancouver_series_across_2026_11_01_keeps_its_utc_time() {
        // Weekly 09:00 from Thursday 2026-10-22: 16:00 UTC before and after 2026-11-01 (with
        // the old rules the occurrences from 2026-11-05 were 17:00 UTC).
        let first = at(&van(), date(2026, 10, 22), 9, 0);
        assert_eq!(first, date(2026, 10, 22).and_time(hm(16, 0)).and_utc());
        let got = occurrences(&van(), first, 1, 6);
        assert_eq!(got.len(), 6);
        for (k, o) in got.iter().enumerate() {
            let day = date(2026, 10, 22) + Duration::weeks(k as i64);
            assert_eq!(o.local, day.and_time(hm(9, 0)));
            assert!(!o.in_gap);
            assert_eq!(o.start, day.and_time(hm(16, 0)).and_utc(), "k={k}");
        }
        for w in got.windows(2) {
            assert_eq!(w[1].start - w[0].start, Duration::weeks(1));
        }
    }

    #[test]
    fn a_weekly_10_00_keeps_10_00_local_across_every_change() {
        for (tz, change) in changes() {
            for every_weeks in 1..=4u32 {
                let step = Days::new(7 * u64::from(every_weeks));
                // Two occurrences before the change, one on its day, two after.
                let first_day = change
                    .checked_sub_days(step)
                    .unwrap()
                    .checked_sub_days(step)
                    .unwrap();
                let first = at(&tz, first_day, 10, 0);
                let got = occurrences(&tz, first, every_weeks, 5);
                assert_eq!(got.len(), 5);
                for (k, o) in got.iter().enumerate() {
                    let day = first_day
                        .checked_add_days(Days::new(7 * u64::from(every_weeks) * k as u64))
                        .unwrap();
                    assert_eq!(o.local, day.and_time(hm(10, 0)), "{tz} {change} k={k}");
                    assert!(!o.in_gap);
                    assert_eq!(o.start, at(&tz, day, 10, 0));
                    assert_eq!(o.start.with_timezone(&tz).time(), hm(10, 0));
                    assert_eq!(o.start.with_timezone(&tz).weekday(), Weekday::Sun);
                }
                // In UTC terms the time moves by the change: one hour.
                let (before, after) = (offset_at(&tz, got[1].start), offset_at(&tz, got[2].start));
                assert_eq!((after - before).num_minutes().abs(), 60, "{tz} {change}");
                assert_eq!(after > before, springs_forward(&tz, change));
                assert_eq!(
                    got[2].start - got[1].start,
                    Duration::weeks(i64::from(every_weeks)) - (after - before)
                );
                assert_eq!(
                    got[3].start - got[2].start,
                    Duration::weeks(i64::from(every_weeks))
                );
            }
        }
    }

    #[test]
    fn a_time_in_the_gap_is_not_a_start_on_the_spring_forward_date_only() {
        for (tz, change) in changes().filter(|(tz, d)| springs_forward(tz, *d)) {
            // Both zones spring forward from 02:00 to 03:00.
            let first_day = change - Duration::weeks(1);
            let got = occurrences(&tz, at(&tz, first_day, 2, 30), 1, 3);
            assert!(!got[0].in_gap && !got[2].in_gap, "{tz} {change}");
            assert!(got[1].in_gap, "{tz} {change}");
            assert_eq!(got[1].local, change.and_time(hm(2, 30)));
            assert!(tz.from_local_datetime(&got[1].local).single().is_none());
            // Shown as 02:30 read in standard time: 03:30 daylight time, just after the gap.
            assert_eq!(got[1].start, at(&tz, change, 3, 30));
            assert_eq!(got[2].start.with_timezone(&tz).time(), hm(2, 30));
            assert_eq!(got[0].start.with_timezone(&tz).time(), hm(2, 30));
        }
    }

    #[test]
    fn a_repeated_time_on_the_fall_back_date_is_its_first_instant() {
        for (tz, change) in changes().filter(|(tz, d)| !springs_forward(tz, *d)) {
            // Los Angeles repeats 01:00–02:00, Sydney 02:00–03:00.
            let hour = if tz == la() { 1 } else { 2 };
            let first_day = change - Duration::weeks(2);
            let got = occurrences(&tz, at(&tz, first_day, hour, 30), 2, 2);
            let repeated = tz.from_local_datetime(&change.and_time(hm(hour, 30)));
            let early = repeated.clone().earliest().unwrap().with_timezone(&Utc);
            let late = repeated.latest().unwrap().with_timezone(&Utc);
            assert_eq!(late - early, Duration::hours(1), "{tz} {change}");
            assert!(!got[1].in_gap);
            assert_eq!(got[1].start, early);
        }
    }

    #[test]
    fn the_first_occurrence_is_the_start_as_given() {
        // The second 01:30 of Los Angeles' 2026-11-01 is not what later occurrences would
        // pick, but it is what was asked: the booking code then refuses it like any single
        // booking.
        let day = date(2026, 11, 1);
        let second = la()
            .from_local_datetime(&day.and_time(hm(1, 30)))
            .latest()
            .unwrap()
            .with_timezone(&Utc);
        let got = occurrences(&la(), second, 1, 2);
        assert_eq!(got[0].start, second);
        assert_eq!(got[1].start, at(&la(), date(2026, 11, 8), 1, 30));
    }

    #[test]
    fn counts_and_spacing() {
        let first = at(&van(), date(2027, 1, 5), 9, 15);
        assert!(occurrences(&van(), first, 1, 0).is_empty());
        let got = occurrences(&van(), first, 3, 12);
        assert_eq!(got.len(), 12);
        assert_eq!(got[11].local.date(), date(2027, 1, 5) + Duration::weeks(33));
    }

    fn location(n: u128, tz: Zone) -> LocationCalendar {
        LocationCalendar {
            id: Uuid::from_u128(n),
            tz,
            rooms: Vec::new(),
            closures: Vec::new(),
        }
    }

    fn therapist(rules: Vec<WeeklyRule>) -> TherapistCalendar {
        TherapistCalendar {
            therapist_id: Uuid::from_u128(99),
            rules,
            overrides: BTreeMap::new(),
            time_off: Vec::new(),
            busy: Vec::new(),
        }
    }

    fn rule(weekday: Weekday, from: u32, to: u32, loc: u128) -> WeeklyRule {
        WeeklyRule {
            weekday,
            start: hm(from, 0),
            end: hm(to, 0),
            location_id: Uuid::from_u128(loc),
        }
    }

    #[test]
    fn the_zone_is_that_of_the_hours_holding_the_first_start() {
        let locations = [location(1, van()), location(2, syd())];
        // Tuesdays: mornings in Vancouver; in Sydney 09:00–17:00 (Monday evening in Vancouver).
        let mut t = therapist(vec![
            rule(Weekday::Tue, 9, 12, 1),
            rule(Weekday::Tue, 9, 17, 2),
        ]);
        let tuesday = date(2027, 1, 5);
        assert_eq!(
            series_zone(at(&van(), tuesday, 10, 0), &t, &locations),
            Some(van())
        );
        assert_eq!(
            series_zone(at(&syd(), tuesday, 10, 0), &t, &locations),
            Some(syd())
        );
        // Outside every rule: no zone.
        assert_eq!(
            series_zone(at(&van(), tuesday, 13, 0), &t, &locations),
            None
        );
        // A date override replaces the weekly rules of its date.
        t.overrides.insert(
            tuesday,
            vec![DayRule {
                start: hm(12, 0),
                end: hm(18, 0),
                location_id: Uuid::from_u128(1),
            }],
        );
        assert_eq!(
            series_zone(at(&van(), tuesday, 10, 0), &t, &locations),
            None
        );
        assert_eq!(
            series_zone(at(&van(), tuesday, 13, 0), &t, &locations),
            Some(van())
        );
        // Hours at two locations holding the start: the smaller id, as check_start chooses.
        let both = therapist(vec![
            rule(Weekday::Tue, 9, 12, 2),
            rule(Weekday::Tue, 9, 12, 1),
        ]);
        let two = [location(2, syd()), location(1, van())];
        assert_eq!(
            series_zone(at(&van(), tuesday, 10, 0), &both, &two),
            Some(van())
        );
    }

    proptest! {
        /// Whatever the zone, date, time and cadence: occurrences are whole weeks apart in local
        /// dates, each at the asked wall-clock time when it exists, in the gap only when it
        /// does not.
        #[test]
        fn occurrences_keep_the_wall_clock_time(
            which in 0usize..3,
            day in 0u64..(5 * 365),
            quarter in 0u32..96,
            every_weeks in 1u32..=4,
            count in 2u32..=12,
        ) {
            let tz = [van(), la(), syd()][which].clone();
            let local = date(2026, 1, 1)
                .checked_add_days(Days::new(day))
                .unwrap()
                .and_time(hm(quarter / 4, (quarter % 4) * 15));
            let Some(first) = resolve_start(&tz, local) else {
                return Ok(()); // the first start itself must exist
            };
            let got = occurrences(&tz, first, every_weeks, count);
            prop_assert_eq!(got.len(), count as usize);
            for (k, o) in got.iter().enumerate() {
                let expected = local + Duration::weeks(i64::from(every_weeks) * k as i64);
                prop_assert_eq!(o.local, expected);
                match tz.from_local_datetime(&o.local) {
                    chrono::LocalResult::None => {
                        prop_assert!(o.in_gap);
                        prop_assert!(o.start.with_timezone(&tz).naive_local() > o.local);
                    }
                    found => {
                        prop_assert!(!o.in_gap);
                        prop_assert_eq!(o.start.with_timezone(&tz).naive_local(), o.local);
                        prop_assert_eq!(Some(o.start), found.earliest().map(|t| t.with_timezone(&Utc)));
                    }
                }
            }
        }
    }
}
