//! Statutory holidays by region, computed (no I/O, no table to keep up to date): the dates the
//! `inspine holidays` command closes every location on.

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// A region whose statutory holidays are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// British Columbia, Canada.
    CaBc,
}

impl Region {
    pub const ALL: [Region; 1] = [Region::CaBc];

    /// ISO 3166-2 code, e.g. `CA-BC`.
    pub fn code(self) -> &'static str {
        match self {
            Region::CaBc => "CA-BC",
        }
    }

    pub fn parse(code: &str) -> Result<Self, HolidayError> {
        Self::ALL
            .into_iter()
            .find(|r| r.code().eq_ignore_ascii_case(code.trim()))
            .ok_or_else(|| HolidayError::UnknownRegion(code.to_owned()))
    }

    /// The years this region's current list holds for.
    fn years(self) -> std::ops::RangeInclusive<i32> {
        match self {
            // National Day for Truth and Reconciliation became a B.C. statutory holiday in 2023;
            // the rest of the list is older.
            Region::CaBc => 2023..=9999,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolidayError {
    #[error("unknown region `{0}`; known regions: CA-BC")]
    UnknownRegion(String),
    #[error("the {region} holidays are known for the years {first} to {last}, not {year}")]
    YearOutOfRange {
        region: &'static str,
        year: i32,
        first: i32,
        last: i32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: &'static str,
}

/// The region's statutory holidays of `year`, in date order.
pub fn statutory(region: Region, year: i32) -> Result<Vec<Holiday>, HolidayError> {
    let years = region.years();
    let out_of_range = || HolidayError::YearOutOfRange {
        region: region.code(),
        year,
        first: *years.start(),
        last: *years.end(),
    };
    if !years.contains(&year) {
        return Err(out_of_range());
    }
    match region {
        Region::CaBc => british_columbia(year).ok_or_else(out_of_range),
    }
}

fn british_columbia(year: i32) -> Option<Vec<Holiday>> {
    let day = |month, day| NaiveDate::from_ymd_opt(year, month, day);
    let mut holidays = vec![
        Holiday {
            date: day(1, 1)?,
            name: "New Year's Day",
        },
        Holiday {
            date: nth_weekday(year, 2, Weekday::Mon, 3)?,
            name: "Family Day",
        },
        Holiday {
            date: easter_sunday(year)?.checked_sub_days(Days::new(2))?,
            name: "Good Friday",
        },
        Holiday {
            date: monday_before(day(5, 25)?)?,
            name: "Victoria Day",
        },
        Holiday {
            date: day(7, 1)?,
            name: "Canada Day",
        },
        Holiday {
            date: nth_weekday(year, 8, Weekday::Mon, 1)?,
            name: "B.C. Day",
        },
        Holiday {
            date: nth_weekday(year, 9, Weekday::Mon, 1)?,
            name: "Labour Day",
        },
        Holiday {
            date: day(9, 30)?,
            name: "National Day for Truth and Reconciliation",
        },
        Holiday {
            date: nth_weekday(year, 10, Weekday::Mon, 2)?,
            name: "Thanksgiving",
        },
        Holiday {
            date: day(11, 11)?,
            name: "Remembrance Day",
        },
        Holiday {
            date: day(12, 25)?,
            name: "Christmas Day",
        },
    ];
    holidays.sort_by_key(|h| h.date);
    Some(holidays)
}

/// Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm, also known as
/// Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The `n`th (1-based) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The last Monday strictly before `date`.
fn monday_before(date: NaiveDate) -> Option<NaiveDate> {
    let back = date.weekday().num_days_from_monday();
    let back = if back == 0 { 7 } else { back };
    date.checked_sub_days(Days::new(u64::from(back)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn easter_matches_known_dates() {
        for (year, easter) in [
            (2000, "2000-04-23"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2028, "2028-04-16"),
            (2030, "2030-04-21"),
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ] {
            assert_eq!(easter_sunday(year), Some(d(easter)), "{year}");
        }
    }

    #[test]
    fn good_friday_known_years() {
        let good_friday = |year| {
            statutory(Region::CaBc, year)
                .unwrap()
                .into_iter()
                .find(|h| h.name == "Good Friday")
                .unwrap()
                .date
        };
        assert_eq!(good_friday(2026), d("2026-04-03"));
        assert_eq!(good_friday(2027), d("2027-03-26"));
        assert_eq!(good_friday(2030), d("2030-04-19"));
        assert_eq!(good_friday(2024), d("2024-03-29"));
    }

    fn dates(year: i32) -> Vec<(NaiveDate, &'static str)> {
        statutory(Region::CaBc, year)
            .unwrap()
            .into_iter()
            .map(|h| (h.date, h.name))
            .collect()
    }

    #[test]
    fn british_columbia_2027() {
        assert_eq!(
            dates(2027),
            vec![
                (d("2027-01-01"), "New Year's Day"),
                (d("2027-02-15"), "Family Day"),
                (d("2027-03-26"), "Good Friday"),
                (d("2027-05-24"), "Victoria Day"),
                (d("2027-07-01"), "Canada Day"),
                (d("2027-08-02"), "B.C. Day"),
                (d("2027-09-06"), "Labour Day"),
                (d("2027-09-30"), "National Day for Truth and Reconciliation"),
                (d("2027-10-11"), "Thanksgiving"),
                (d("2027-11-11"), "Remembrance Day"),
                (d("2027-12-25"), "Christmas Day"),
            ]
        );
    }

    #[test]
    fn british_columbia_other_years() {
        // As published by the B.C. government for 2024–2026.
        let only = |year: i32| -> Vec<NaiveDate> { dates(year).into_iter().map(|x| x.0).collect() };
        assert_eq!(
            only(2024),
            [
                "2024-01-01",
                "2024-02-19",
                "2024-03-29",
                "2024-05-20",
                "2024-07-01",
                "2024-08-05",
                "2024-09-02",
                "2024-09-30",
                "2024-10-14",
                "2024-11-11",
                "2024-12-25"
            ]
            .map(d)
        );
        assert_eq!(
            only(2025),
            [
                "2025-01-01",
                "2025-02-17",
                "2025-04-18",
                "2025-05-19",
                "2025-07-01",
                "2025-08-04",
                "2025-09-01",
                "2025-09-30",
                "2025-10-13",
                "2025-11-11",
                "2025-12-25"
            ]
            .map(d)
        );
        assert_eq!(
            only(2026),
            [
                "2026-01-01",
                "2026-02-16",
                "2026-04-03",
                "2026-05-18",
                "2026-07-01",
                "2026-08-03",
                "2026-09-07",
                "2026-09-30",
                "2026-10-12",
                "2026-11-11",
                "2026-12-25"
            ]
            .map(d)
        );
    }

    #[test]
    fn victoria_day_is_the_monday_before_may_25() {
        // May 25 itself a Monday (2026): the week before.
        assert_eq!(monday_before(d("2026-05-25")), Some(d("2026-05-18")));
        // May 24 a Monday (2027): that day.
        assert_eq!(monday_before(d("2027-05-25")), Some(d("2027-05-24")));
        for year in 2023..2100 {
            let victoria = dates(year)
                .into_iter()
                .find(|h| h.1 == "Victoria Day")
                .unwrap()
                .0;
            assert_eq!(victoria.weekday(), Weekday::Mon);
            assert!(
                (d(&format!("{year}-05-18"))..=d(&format!("{year}-05-24"))).contains(&victoria)
            );
        }
    }

    #[test]
    fn every_year_has_eleven_distinct_dates_in_order() {
        for year in 2023..2200 {
            let all = dates(year);
            assert_eq!(all.len(), 11, "{year}");
            assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "{year}: {all:?}");
            assert!(all.iter().all(|(date, _)| date.year() == year));
        }
    }

    #[test]
    fn regions_and_years_are_checked() {
        assert_eq!(Region::parse("CA-BC"), Ok(Region::CaBc));
        assert_eq!(Region::parse("ca-bc"), Ok(Region::CaBc));
        assert_eq!(
            Region::parse("CA-ON"),
            Err(HolidayError::UnknownRegion("CA-ON".to_owned()))
        );
        assert!(matches!(
            statutory(Region::CaBc, 2022),
            Err(HolidayError::YearOutOfRange { year: 2022, .. })
        ));
        assert!(statutory(Region::CaBc, 9999).is_ok());
        assert!(statutory(Region::CaBc, 10_000).is_err());
    }
}
