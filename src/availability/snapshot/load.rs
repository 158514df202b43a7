//! Loading a snapshot's parts from the database: the catalog, therapists' hours, and the
//! claims of therapists' and rooms' months, each labelled with the counter read before it.

use super::*;

/// Loads the stale scopes into `next`, each labelled with the counter read before it.
pub(super) fn load_scopes(
    conn: &mut DbConn,
    next: &mut Snapshot,
    stale: &[Scope],
    read: &dyn Fn(&Scope) -> i64,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let since = now.checked_sub_signed(KEEP_PAST).unwrap_or(now);
    let mut hours = Vec::new();
    let mut therapist_months: HashMap<Month, Vec<String>> = HashMap::new();
    let mut room_months: HashMap<Month, Vec<String>> = HashMap::new();
    for scope in stale {
        match scope {
            Scope::Catalog => {
                next.catalog = Some(Arc::new(load_catalog(conn, read(scope), since)?));
            }
            Scope::Hours(t) => hours.push(t.clone()),
            Scope::Therapist(t, m) => therapist_months.entry(*m).or_default().push(t.clone()),
            Scope::Room(r, m) => room_months.entry(*m).or_default().push(r.clone()),
        }
    }
    if !hours.is_empty() {
        let mut rules: HashMap<String, Vec<ScheduleRule>> = HashMap::new();
        for rule in schedule::rules_for(conn, &hours)? {
            rules
                .entry(rule.therapist_id.clone())
                .or_default()
                .push(rule);
        }
        let mut overrides: HashMap<String, Vec<WithRules>> = HashMap::new();
        for o in date_override::between(
            conn,
            &hours,
            since.date(),
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX),
        )? {
            overrides
                .entry(o.date_override.therapist_id.clone())
                .or_default()
                .push(o);
        }
        let mut off = Busy::new();
        let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = time_off::table
            .filter(time_off::therapist_id.eq_any(&hours))
            .filter(time_off::ends_at.gt(since))
            .select((
                time_off::therapist_id,
                time_off::starts_at,
                time_off::ends_at,
            ))
            .load(conn)?;
        for (t, start, end) in rows {
            off.entry(t).or_default().push(interval(start, end));
        }
        for t in hours {
            let version = read(&Scope::Hours(t.clone()));
            next.hours.insert(
                t.clone(),
                Arc::new(Hours {
                    version,
                    rules: rules.remove(&t).unwrap_or_default(),
                    overrides: overrides.remove(&t).unwrap_or_default(),
                    time_off: off.remove(&t).unwrap_or_default(),
                }),
            );
        }
    }
    for (month, ids) in therapist_months {
        let mut loaded = load_claims(conn, month, &ids, Owner::Therapist)?;
        for t in ids {
            let version = read(&Scope::Therapist(t.clone(), month));
            let items = loaded.remove(&t).unwrap_or_default();
            next.therapist_claims
                .insert((t, month), Arc::new(Claims { version, items }));
        }
    }
    for (month, ids) in room_months {
        let mut loaded = load_claims(conn, month, &ids, Owner::Room)?;
        for r in ids {
            let version = read(&Scope::Room(r.clone(), month));
            let items = loaded.remove(&r).unwrap_or_default();
            next.room_claims
                .insert((r, month), Arc::new(Claims { version, items }));
        }
    }
    Ok(())
}

fn load_catalog(
    conn: &mut DbConn,
    version: i64,
    since: NaiveDateTime,
) -> Result<Catalog, ApiError> {
    let massage_types: HashMap<String, MassageType> = massage_types::table
        .load::<MassageType>(conn)?
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let mut options: HashMap<String, Vec<MassageOption>> = HashMap::new();
    for o in massage_type_options::table.load::<MassageOption>(conn)? {
        options
            .entry(o.massage_type_id.clone())
            .or_default()
            .push(o);
    }
    let offered: Vec<(String, String)> = therapist_massage_types::table
        .inner_join(therapists::table)
        .filter(therapists::active.eq(true))
        .select((
            therapist_massage_types::massage_type_id,
            therapist_massage_types::therapist_id,
        ))
        .order(therapist_massage_types::therapist_id.asc())
        .load(conn)?;
    let mut offering: HashMap<String, Vec<String>> = HashMap::new();
    for (type_id, therapist_id) in offered {
        offering.entry(type_id).or_default().push(therapist_id);
    }
    let active_therapists = therapists::table
        .filter(therapists::active.eq(true))
        .select(therapists::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let locations = crate::db::schema::locations::table
        .load::<Location>(conn)?
        .into_iter()
        .map(|l| (l.id.clone(), l))
        .collect();
    let rooms = rooms::table
        .filter(rooms::active.eq(true))
        .order(rooms::id.asc())
        .load::<Room>(conn)?;
    let mut closures: HashMap<String, Vec<Interval>> = HashMap::new();
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = location_closures::table
        .filter(location_closures::ends_at.gt(since))
        .select((
            location_closures::location_id,
            location_closures::starts_at,
            location_closures::ends_at,
        ))
        .load(conn)?;
    for (location, start, end) in rows {
        closures
            .entry(location)
            .or_default()
            .push(interval(start, end));
    }
    Ok(Catalog {
        version,
        massage_types,
        options,
        offering,
        active_therapists,
        locations,
        rooms,
        closures,
    })
}

#[derive(Clone, Copy)]
enum Owner {
    Therapist,
    Room,
}

/// Confirmed bookings and active holds starting in the month, by therapist or room, by start.
fn load_claims(
    conn: &mut DbConn,
    month: Month,
    ids: &[String],
    owner: Owner,
) -> Result<HashMap<String, Vec<Claim>>, ApiError> {
    let (from, to) = (month_start(month), month_start(month + 1));
    let booked: Vec<(String, Option<String>, NaiveDateTime, NaiveDateTime, String)> = {
        let query = bookings::table
            .filter(bookings::status.eq(BookingStatus::Confirmed))
            .filter(bookings::start_at.ge(from))
            .filter(bookings::start_at.lt(to))
            .select((
                bookings::therapist_id,
                bookings::room_id,
                bookings::start_at,
                bookings::blocked_until,
                bookings::id,
            ));
        match owner {
            Owner::Therapist => query
                .filter(bookings::therapist_id.eq_any(ids))
                .load(conn)?,
            Owner::Room => query
                .filter(bookings::room_id.eq_any(ids.iter().map(|r| Some(r.clone()))))
                .load(conn)?,
        }
    };
    let held: Vec<(
        String,
        Option<String>,
        NaiveDateTime,
        NaiveDateTime,
        NaiveDateTime,
    )> = {
        // A literal status, so SQLite can use the partial indexes on active holds.
        let query = holds::table
            .filter(crate::models::hold::Active)
            .filter(holds::start_at.ge(from))
            .filter(holds::start_at.lt(to))
            .select((
                holds::therapist_id,
                holds::room_id,
                holds::start_at,
                holds::blocked_until,
                holds::expires_at,
            ));
        match owner {
            Owner::Therapist => query.filter(holds::therapist_id.eq_any(ids)).load(conn)?,
            Owner::Room => query
                .filter(holds::room_id.eq_any(ids.iter().map(|r| Some(r.clone()))))
                .load(conn)?,
        }
    };
    let key = |therapist: String, room: Option<String>| match owner {
        Owner::Therapist => Some(therapist),
        Owner::Room => room,
    };
    let mut out: HashMap<String, Vec<Claim>> = HashMap::new();
    for (therapist, room, start, blocked_until, id) in booked {
        if let Some(k) = key(therapist, room) {
            out.entry(k).or_default().push(Claim {
                start,
                blocked_until,
                kind: ClaimKind::Booking(id.into_boxed_str()),
            });
        }
    }
    for (therapist, room, start, blocked_until, expires_at) in held {
        if let Some(k) = key(therapist, room) {
            out.entry(k).or_default().push(Claim {
                start,
                blocked_until,
                kind: ClaimKind::Hold { expires_at },
            });
        }
    }
    for claims in out.values_mut() {
        claims.sort_by_key(|c| c.start);
    }
    Ok(out)
}
