//! The slot search's availability, kept in this process's memory and never stale.
//!
//! What a search reads is split into scopes, each with a counter in `availability_versions`
//! that every write of that scope bumps in the write's own transaction (database triggers,
//! migration `2026-12-04-000001_availability_versions`, so no write path can forget):
//!
//! * `catalog`: massage types and options, therapists and what they offer, locations, active
//!   rooms, location closures;
//! * `t:THERAPIST`: weekly rules, date overrides, time off;
//! * `b:THERAPIST:YYYY-MM` and `r:ROOM:YYYY-MM`: confirmed bookings and active holds of the
//!   therapist (room) starting in that UTC month.
//!
//! A search reads the counters of the scopes it needs, in one indexed query, and uses what it
//! holds for every scope whose counter has not moved since it was loaded; it loads again only
//! the scopes that moved (or that it never loaded). The counters are read *before* the rows they
//! cover, so a part is never labelled newer than what it holds: a write that commits in between
//! makes the label older than the rows, and the next search loads that part once more. A write
//! whose answer a client has seen has committed its counter, so any search begun after it, on
//! any instance, sees the counter move and never offers the time it took.
//!
//! A hold's expiry needs no write: holds are kept with their expiry and count while live at the
//! search's `now`. Rows far in the past are not kept (overrides, time off and closures that ended
//! two days before a part was loaded): they cannot touch a slot offered from now on.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::{Busy, Source, Window, interval};
use crate::db::DbConn;
use crate::db::schema::{
    bookings, holds, location_closures, massage_type_options, massage_types, rooms,
    therapist_massage_types, therapists, time_off,
};
use crate::error::ApiError;
use crate::models::booking::MAX_BLOCKED_SPAN;
use crate::models::catalog::{Location, MassageOption, MassageType, Room};
use crate::models::date_override::{self, WithRules};
use crate::models::schedule::{self, ScheduleRule};
use crate::models::vocabulary::BookingStatus;
use crate::scheduling::Interval;

/// How far back rows are kept when a part is loaded (see the module's last paragraph).
const KEEP_PAST: Duration = Duration::days(2);

mod load;
mod memo;
mod settled;
mod view;
use load::load_scopes;
pub use memo::Offered;
pub use settled::{Checked, lend, settled};
pub use view::View;

/// One process's snapshot, shared by its searches.
#[derive(Default)]
pub struct SlotCache {
    current: RwLock<Arc<Snapshot>>,
    /// One refresher at a time; searches that find everything current never take it.
    refresh: Mutex<()>,
    /// Answers of searches, given again while nothing they read changed (`memo`).
    answers: Mutex<memo::Answers>,
}

#[derive(Clone, Default)]
struct Snapshot {
    catalog: Option<Arc<Catalog>>,
    hours: HashMap<String, Arc<Hours>>,
    therapist_claims: HashMap<(String, Month), Arc<Claims>>,
    room_claims: HashMap<(String, Month), Arc<Claims>>,
}

/// A UTC month as `year * 12 + month0`.
type Month = i32;

struct Catalog {
    version: i64,
    massage_types: HashMap<String, MassageType>,
    options: HashMap<String, Vec<MassageOption>>,
    /// Active therapists offering each massage type, in id order.
    offering: HashMap<String, Vec<String>>,
    /// Every active therapist, offering anything or not.
    active_therapists: HashSet<String>,
    locations: HashMap<String, Location>,
    /// Active rooms, in id order.
    rooms: Vec<Room>,
    closures: HashMap<String, Vec<Interval>>,
}

struct Hours {
    version: i64,
    rules: Vec<ScheduleRule>,
    overrides: Vec<WithRules>,
    time_off: Vec<Interval>,
}

struct Claims {
    version: i64,
    items: Vec<Claim>,
}

struct Claim {
    start: NaiveDateTime,
    blocked_until: NaiveDateTime,
    kind: ClaimKind,
}

enum ClaimKind {
    Booking(Box<str>),
    Hold { expires_at: NaiveDateTime },
}

/// What a search asks for: its massage type, perhaps one therapist, and its UTC window.
pub struct Wanted<'a> {
    pub massage_type_id: &'a str,
    pub therapist_id: Option<&'a str>,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub now: NaiveDateTime,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Scope {
    Catalog,
    Hours(String),
    Therapist(String, Month),
    Room(String, Month),
}

impl Scope {
    fn key(&self) -> String {
        let month = |m: &Month| format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1);
        match self {
            Self::Catalog => "catalog".to_owned(),
            Self::Hours(t) => format!("t:{t}"),
            Self::Therapist(t, m) => format!("b:{t}:{}", month(m)),
            Self::Room(r, m) => format!("r:{r}:{}", month(m)),
        }
    }
}

fn month_of(at: NaiveDateTime) -> Month {
    at.year() * 12 + at.month0() as i32
}

fn month_start(month: Month) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(month.div_euclid(12), month.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(NaiveDate::MAX)
        .and_time(chrono::NaiveTime::MIN)
}

/// The months whose claims can meet [from, to): a claim spans at most `MAX_BLOCKED_SPAN`.
fn months(from: NaiveDateTime, to: NaiveDateTime) -> std::ops::RangeInclusive<Month> {
    month_of(from.checked_sub_signed(MAX_BLOCKED_SPAN).unwrap_or(from))..=month_of(to)
}

impl Snapshot {
    fn version(&self, scope: &Scope) -> Option<i64> {
        match scope {
            Scope::Catalog => self.catalog.as_ref().map(|c| c.version),
            Scope::Hours(t) => self.hours.get(t).map(|h| h.version),
            Scope::Therapist(t, m) => self
                .therapist_claims
                .get(&(t.clone(), *m))
                .map(|c| c.version),
            Scope::Room(r, m) => self.room_claims.get(&(r.clone(), *m)).map(|c| c.version),
        }
    }

    /// The scopes a search needs beyond the catalog (which must be loaded).
    fn scopes(&self, catalog: &Catalog, wanted: &Wanted) -> Vec<Scope> {
        let therapists = catalog.therapists_for(wanted);
        let months = months(wanted.from, wanted.to);
        let mut scopes = vec![Scope::Catalog];
        for t in therapists {
            scopes.push(Scope::Hours(t.clone()));
            scopes.extend(months.clone().map(|m| Scope::Therapist(t.clone(), m)));
        }
        for room in &catalog.rooms {
            scopes.extend(months.clone().map(|m| Scope::Room(room.id.clone(), m)));
        }
        scopes
    }
}

impl Catalog {
    fn therapists_for<'a>(&'a self, wanted: &Wanted) -> impl Iterator<Item = &'a String> {
        let only = wanted.therapist_id.map(str::to_owned);
        self.offering
            .get(wanted.massage_type_id)
            .into_iter()
            .flatten()
            .filter(move |t| only.as_ref().is_none_or(|o| o == *t))
    }
}

fn read_versions(conn: &mut DbConn, scopes: &[Scope]) -> Result<HashMap<String, i64>, ApiError> {
    let keys: Vec<String> = scopes.iter().map(Scope::key).collect();
    let rows: Vec<(String, i64)> = match conn {
        DbConn::Sqlite(c) => {
            let keys = serde_json::to_string(&keys).map_err(ApiError::internal)?;
            SqliteVersions(keys).load(c)?
        }
        DbConn::Postgresql(c) => PgVersions(keys).load(c)?,
    };
    Ok(rows.into_iter().collect())
}

// The counters of some scopes, as one statement of fixed text whatever their number, so that
// each connection prepares it once (an `IN` list of binds is parsed and planned every time).

/// On SQLite: the keys as a JSON array, read back with `json_each`.
#[derive(diesel::query_builder::QueryId)]
struct SqliteVersions(String);

/// On PostgreSQL: the keys as an array.
#[derive(diesel::query_builder::QueryId)]
struct PgVersions(Vec<String>);

type VersionRow = (diesel::sql_types::Text, diesel::sql_types::BigInt);

impl diesel::query_builder::Query for SqliteVersions {
    type SqlType = VersionRow;
}

impl diesel::query_builder::Query for PgVersions {
    type SqlType = VersionRow;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for SqliteVersions {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT scope, version FROM availability_versions \
             WHERE scope IN (SELECT value FROM json_each(",
        );
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.0)?;
        out.push_sql("))");
        Ok(())
    }
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgVersions {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("SELECT scope, version FROM availability_versions WHERE scope = ANY(");
        out.push_bind_param::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&self.0)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<diesel::SqliteConnection> for SqliteVersions {}
impl RunQueryDsl<diesel::PgConnection> for PgVersions {}

impl SlotCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// A view of the availability that is current for a search begun before this call: every
    /// part it needs has been checked against its counter, and loaded again where that moved.
    pub fn view(&self, conn: &mut DbConn, wanted: &Wanted) -> Result<View, ApiError> {
        // The catalog decides which other scopes are needed; if it moved, the second round
        // asks again with the new one. A third round is only needed if it moved again meanwhile.
        for _ in 0..3 {
            let snapshot = self.current();
            let scopes = match &snapshot.catalog {
                Some(catalog) => snapshot.scopes(catalog, wanted),
                None => vec![Scope::Catalog],
            };
            let versions = read_versions(conn, &scopes)?;
            let read = |s: &Scope| versions.get(&s.key()).copied().unwrap_or(0);
            let current =
                |snap: &Snapshot, s: &Scope| snap.version(s).is_some_and(|v| v >= read(s));
            let catalog_moved = !current(&snapshot, &Scope::Catalog);
            if scopes.iter().all(|s| current(&snapshot, s)) {
                return Ok(View::new(snapshot, &scopes));
            }
            let next = self.load_stale(conn, &scopes, &read, wanted.now)?;
            if !catalog_moved {
                // Another search may have loaded a newer catalog meanwhile: label what is held.
                let scopes = match &next.catalog {
                    Some(catalog) => next.scopes(catalog, wanted),
                    None => scopes,
                };
                return Ok(View::new(next, &scopes));
            }
        }
        Err(ApiError::Unavailable(
            "the catalog kept changing while the slot search read it".to_owned(),
        ))
    }

    /// Loads those of `scopes` that the latest snapshot holds older than `read` says, and makes
    /// the result the latest. One loader at a time: another may have loaded them meanwhile.
    fn load_stale(
        &self,
        conn: &mut DbConn,
        scopes: &[Scope],
        read: &dyn Fn(&Scope) -> i64,
        now: NaiveDateTime,
    ) -> Result<Arc<Snapshot>, ApiError> {
        let _turn = self.refresh.lock().unwrap_or_else(PoisonError::into_inner);
        let latest = self.current();
        let stale: Vec<Scope> = scopes
            .iter()
            .filter(|s| latest.version(s).is_none_or(|v| v < read(s)))
            .cloned()
            .collect();
        if stale.is_empty() {
            return Ok(latest);
        }
        let mut next = (*latest).clone();
        load_scopes(conn, &mut next, &stale, read, now)?;
        let next = Arc::new(next);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = next.clone();
        Ok(next)
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_keys_match_what_the_triggers_write() {
        let t = "0b0c".to_owned();
        let m = month_of(
            NaiveDate::from_ymd_opt(2027, 1, 31)
                .and_then(|d| d.and_hms_opt(23, 0, 0))
                .expect("a date"),
        );
        assert_eq!(Scope::Therapist(t.clone(), m).key(), "b:0b0c:2027-01");
        assert_eq!(Scope::Room(t.clone(), m - 1).key(), "r:0b0c:2026-12");
        assert_eq!(Scope::Hours(t).key(), "t:0b0c");
        assert_eq!(Scope::Catalog.key(), "catalog");
        assert_eq!(month_start(m + 1).to_string(), "2027-02-01 00:00:00");
    }

    #[test]
    fn a_loaded_hold_stops_counting_at_its_expiry_and_a_booking_can_be_left_out() {
        let at = |h: u32, m: u32| {
            NaiveDate::from_ymd_opt(2027, 3, 10)
                .and_then(|d| d.and_hms_opt(h, m, 0))
                .expect("a date")
        };
        let month = month_of(at(0, 0));
        let claims = Claims {
            version: 1,
            items: vec![
                Claim {
                    start: at(17, 0),
                    blocked_until: at(18, 10),
                    kind: ClaimKind::Hold {
                        expires_at: at(9, 10),
                    },
                },
                Claim {
                    start: at(19, 0),
                    blocked_until: at(20, 10),
                    kind: ClaimKind::Booking("b1".into()),
                },
            ],
        };
        let map = HashMap::from([(("t1".to_owned(), month), Arc::new(claims))]);
        let busy = |now: NaiveDateTime, exclude: Option<&str>| {
            let window = Window {
                from: at(0, 0),
                to: at(23, 0),
                now,
                exclude_booking: exclude,
            };
            let mut out = Busy::new();
            let mut expiry = None;
            View::claims(&map, &["t1".to_owned()], &window, &mut out, &mut expiry).expect("claims");
            (out.remove("t1").unwrap_or_default().len(), expiry)
        };
        assert_eq!(
            busy(at(9, 0), None),
            (2, Some(at(9, 10))),
            "live hold and booking"
        );
        assert_eq!(
            busy(at(9, 10), None),
            (1, None),
            "the hold ran out at 09:10"
        );
        assert_eq!(
            busy(at(9, 0), Some("b1")),
            (1, Some(at(9, 10))),
            "the booking left out"
        );
        let missing = Window {
            from: at(0, 0),
            to: at(23, 0) + Duration::days(30),
            now: at(9, 0),
            exclude_booking: None,
        };
        assert!(
            View::claims(
                &map,
                &["t1".to_owned()],
                &missing,
                &mut Busy::new(),
                &mut None
            )
            .is_err(),
            "a month never loaded is an error, never an empty calendar"
        );
    }

    #[test]
    fn a_window_reaches_back_to_the_month_of_a_claim_that_still_blocks_it() {
        let at = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2027, 3, d)
                .and_then(|d| d.and_hms_opt(h, 0, 0))
                .expect("a date")
        };
        assert_eq!(
            months(at(1, 5), at(3, 0)).count(),
            2,
            "February's last claims"
        );
        assert_eq!(months(at(1, 12), at(3, 0)).count(), 1);
    }
}
