//! The snapshot inside a write transaction: a booking's check (the therapist, type and duration
//! offered; the hours, rooms, closures and time off around the start) reads the catalog and the
//! therapist's hours from memory when their counters, read in the transaction after its locks,
//! say that memory holds what the transaction would read. Claims (bookings and holds) are always
//! read from the database: every booking moves its therapist's month, so they are rarely current.
//!
//! What a transaction reads is never put into the shared snapshot: it may include the
//! transaction's own uncommitted writes, or be rolled back. A part found stale is noted instead,
//! and reloaded from committed data after the transaction ([`SlotCache::refresh_hours`]).

use std::cell::RefCell;

use super::*;

thread_local! {
    /// The snapshot lent to the write transaction running on this thread (see [`lend`]).
    static LENT: RefCell<Option<Lent>> = const { RefCell::new(None) };
}

struct Lent {
    cache: Arc<SlotCache>,
    /// Therapists whose catalog or hours were found stale, to reload after the commit.
    stale: Vec<String>,
}

/// Puts back what was lent before, also when the transaction's body panics.
struct Restore(Option<Option<Lent>>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            LENT.with(|l| *l.borrow_mut() = previous);
        }
    }
}

/// Runs `body` (a write transaction's body, on this thread) with `cache` lent to the checks
/// inside it ([`settled`]). Returns its answer and the therapists whose parts were stale.
pub fn lend<T>(cache: Option<Arc<SlotCache>>, body: impl FnOnce() -> T) -> (T, Vec<String>) {
    let lent = cache.map(|cache| Lent {
        cache,
        stale: Vec::new(),
    });
    let mut restore = Restore(Some(LENT.with(|l| l.replace(lent))));
    let answer = body();
    let ours = restore
        .0
        .take()
        .and_then(|previous| LENT.with(|l| l.replace(previous)));
    let mut stale = ours.map(|l| l.stale).unwrap_or_default();
    stale.sort_unstable();
    stale.dedup();
    (answer, stale)
}

/// The catalog and these therapists' hours from the lent snapshot, if they are current for this
/// transaction (one indexed read of their counters); `None` when nothing is lent or a part
/// moved: the caller reads the database, and the part is reloaded after the commit. Checked
/// anew on every call, after whatever locks the caller holds by then: the hours a booking is
/// placed in are read after its therapist's lock, which every change of hours takes too.
pub fn settled(conn: &mut DbConn, therapist_ids: &[String]) -> Result<Option<View>, ApiError> {
    let Some(cache) = LENT.with(|l| l.borrow().as_ref().map(|l| l.cache.clone())) else {
        return Ok(None);
    };
    let snapshot = cache.current();
    let scopes = hours_scopes(therapist_ids);
    // On SQLite a write bumps its counters at once, so this transaction's own changes show in
    // what it reads; on PostgreSQL they are bumped at commit and meanwhile noted in a setting,
    // read in the same statement as the counters.
    let (versions, changed_here) = match conn {
        DbConn::Postgresql(pg) => {
            let keys = scopes.iter().map(Scope::key).collect();
            let (pending, counters) =
                CountersAndPending { keys }.get_result::<(String, String)>(pg)?;
            let versions = counters
                .lines()
                .filter_map(|line| line.rsplit_once(' '))
                .filter_map(|(scope, version)| Some((scope.to_owned(), version.parse().ok()?)))
                .collect();
            (versions, pending)
        }
        DbConn::Sqlite(_) => (read_versions(conn, &scopes)?, String::new()),
    };
    let current = scopes.iter().all(|s| {
        let key = s.key();
        !changed_here.lines().any(|pending| pending == key)
            && snapshot
                .version(s)
                .is_some_and(|v| v >= versions.get(&key).copied().unwrap_or(0))
    });
    if current {
        return Ok(Some(View {
            snapshot,
            labels: Vec::new(),
            next_expiry: None,
        }));
    }
    LENT.with(|l| {
        if let Some(lent) = l.borrow_mut().as_mut() {
            lent.stale.extend(therapist_ids.iter().cloned());
        }
    });
    Ok(None)
}

/// On PostgreSQL, in one statement: the scopes this transaction changed so far, one per line,
/// whose counters it bumps at commit (migration `2026-12-04-000001_availability_versions`),
/// and the counters of `keys` as `scope version` lines. A type of its own so that the
/// statement stays prepared. (Scope keys hold no spaces or line breaks.)
struct CountersAndPending {
    keys: Vec<String>,
}

impl diesel::query_builder::QueryId for CountersAndPending {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for CountersAndPending {
    type SqlType = (diesel::sql_types::Text, diesel::sql_types::Text);
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for CountersAndPending {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT COALESCE(current_setting('inspine.availability_pending', true), ''), \
             COALESCE((SELECT string_agg(scope || ' ' || version, E'\\n') \
             FROM availability_versions WHERE scope = ANY(",
        );
        out.push_bind_param::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&self.keys)?;
        out.push_sql(")), '')");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for CountersAndPending {}

fn hours_scopes(therapist_ids: &[String]) -> Vec<Scope> {
    std::iter::once(Scope::Catalog)
        .chain(therapist_ids.iter().map(|t| Scope::Hours(t.clone())))
        .collect()
}

impl SlotCache {
    /// Reloads the catalog and these therapists' hours where they moved, from committed data
    /// (outside any transaction), for the next writes and searches.
    pub fn refresh_hours(
        &self,
        conn: &mut DbConn,
        therapist_ids: &[String],
        now: NaiveDateTime,
    ) -> Result<(), ApiError> {
        let scopes = hours_scopes(therapist_ids);
        let versions = read_versions(conn, &scopes)?;
        let read = |s: &Scope| versions.get(&s.key()).copied().unwrap_or(0);
        self.load_stale(conn, &scopes, &read, now).map(drop)
    }
}

/// What a booking check reads inside its transaction: the catalog and hours from a [`View`]
/// found current by [`settled`], claims from the transaction's connection.
pub struct Checked<'a> {
    pub view: View,
    pub conn: &'a mut DbConn,
}

impl Source for Checked<'_> {
    fn rules(&mut self, therapist_ids: &[String]) -> Result<Vec<ScheduleRule>, ApiError> {
        self.view.rules(therapist_ids)
    }

    fn overrides(
        &mut self,
        therapist_ids: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<WithRules>, ApiError> {
        self.view.overrides(therapist_ids, from, to)
    }

    fn active_rooms(&mut self, location_ids: &[String]) -> Result<Vec<Room>, ApiError> {
        self.view.active_rooms(location_ids)
    }

    fn locations(&mut self, location_ids: &[String]) -> Result<Vec<Location>, ApiError> {
        self.view.locations(location_ids)
    }

    fn closures(
        &mut self,
        location_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        self.view.closures(location_ids, window, out)
    }

    fn time_off(
        &mut self,
        therapist_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        self.view.time_off(therapist_ids, window, out)
    }

    fn room_claims(
        &mut self,
        room_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        self.conn.room_claims(room_ids, window, out)
    }

    fn therapist_claims(
        &mut self,
        therapist_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        self.conn.therapist_claims(therapist_ids, window, out)
    }
}
