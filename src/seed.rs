//! The clinic's catalog, written on first start, and demo therapists for `seed --demo`. Each
//! row written is recorded in the audit trail under the given context (`system`).

use chrono::{NaiveTime, Timelike, Weekday};
use diesel::QueryResult;

use crate::audit::{self, Action, AuditContext, Subject};
use crate::db::DbConn;
use crate::models::catalog::{self, Location, MassageOption, MassageType, Room};
use crate::models::schedule::{self, ScheduleRule};
use crate::models::therapist::{self, Therapist};
use crate::models::{new_id, now};

const VANCOUVER: &str = "America/Vancouver";

struct TypeSeed {
    slug: &'static str,
    name: &'static str,
    description: &'static str,
    buffer_minutes: i32,
    prices: [(i32, i64); 3],
}

const TYPES: [TypeSeed; 3] = [
    TypeSeed {
        slug: "swedish",
        name: "Swedish massage",
        description: "Long, flowing strokes for relaxation and circulation.",
        buffer_minutes: 10,
        prices: [(30, 6500), (60, 11000), (90, 15500)],
    },
    TypeSeed {
        slug: "trigger-point",
        name: "Trigger point therapy",
        description: "Focused pressure on tight knots that refer pain elsewhere.",
        buffer_minutes: 15,
        prices: [(30, 7000), (60, 12000), (90, 16500)],
    },
    TypeSeed {
        slug: "deep-tissue",
        name: "Deep tissue massage",
        description: "Slow, firm work on the deeper layers of muscle and fascia.",
        buffer_minutes: 15,
        prices: [(30, 7500), (60, 12500), (90, 17500)],
    },
];

/// Idempotent: adds the two clinics and the three massage types only to an empty catalog.
pub fn seed_catalog(conn: &mut DbConn, ctx: &AuditContext) -> QueryResult<()> {
    let at = now();
    if catalog::count_locations(conn)? == 0 {
        for (name, address) in [
            ("Port Moody", "3003 St Johns St, Port Moody, BC V3H 2C4"),
            ("Coquitlam", "1163 Pinetree Way, Coquitlam, BC V3B 8A9"),
        ] {
            let id = new_id();
            catalog::insert_location(
                conn,
                &Location {
                    id: id.clone(),
                    name: name.to_owned(),
                    address: address.to_owned(),
                    timezone: VANCOUVER.to_owned(),
                    created_at: at,
                    updated_at: at,
                },
            )?;
            audit::record(
                conn,
                ctx,
                Action::LocationCreate,
                Subject::Location,
                Some(&id),
            )?;
        }
    }
    if catalog::count_massage_types(conn)? == 0 {
        for seed in &TYPES {
            let id = new_id();
            let options: Vec<MassageOption> = seed
                .prices
                .iter()
                .map(|&(duration_minutes, price_cents)| MassageOption {
                    massage_type_id: id.clone(),
                    duration_minutes,
                    price_cents,
                    currency: "CAD".to_owned(),
                })
                .collect();
            catalog::insert_massage_type(
                conn,
                &MassageType {
                    id: id.clone(),
                    slug: seed.slug.to_owned(),
                    name: seed.name.to_owned(),
                    description: seed.description.to_owned(),
                    buffer_minutes: seed.buffer_minutes,
                    active: true,
                    created_at: at,
                    updated_at: at,
                },
                &options,
            )?;
            audit::record(
                conn,
                ctx,
                Action::MassageTypeCreate,
                Subject::MassageType,
                Some(&id),
            )?;
        }
    }
    Ok(())
}

/// Adds rooms and three therapists with weekly schedules, unless therapists already exist.
/// Returns how many therapists it created.
pub fn seed_demo(conn: &mut DbConn, ctx: &AuditContext) -> QueryResult<usize> {
    seed_catalog(conn, ctx)?;
    if therapist::count(conn)? > 0 {
        return Ok(0);
    }
    let at = now();
    let locations = catalog::list_locations(conn, None, 10)?;
    let types = catalog::list_massage_types(conn, None, true, 10)?;
    let type_ids: Vec<String> = types.iter().map(|t| t.id.clone()).collect();
    for location in &locations {
        for n in 1..=2 {
            let id = new_id();
            catalog::insert_room(
                conn,
                &Room {
                    id: id.clone(),
                    location_id: location.id.clone(),
                    name: format!("Room {n}"),
                    active: true,
                    created_at: at,
                },
            )?;
            audit::record(conn, ctx, Action::RoomCreate, Subject::Room, Some(&id))?;
        }
    }
    let (Some(first), Some(second)) = (locations.first(), locations.get(1)) else {
        return Ok(0);
    };
    let hm = |h: u32, m: u32| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
    let minutes = |t: NaiveTime| (t.hour() * 60 + t.minute()) as i32;
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let demo = [
        (
            "Maya Chen",
            "Registered massage therapist; Swedish and deep tissue.",
            &type_ids[..],
        ),
        (
            "Liam Patel",
            "Sports injuries and trigger point work.",
            &type_ids[..],
        ),
        (
            "Sofia Rossi",
            "Relaxation-focused Swedish massage.",
            &type_ids[..1],
        ),
    ];
    for (index, (name, bio, offered)) in demo.iter().enumerate() {
        let id = new_id();
        therapist::insert(
            conn,
            &Therapist {
                id: id.clone(),
                name: (*name).to_owned(),
                bio: (*bio).to_owned(),
                active: true,
                user_id: None,
                created_at: at,
                updated_at: at,
            },
        )?;
        therapist::set_massage_types(conn, &id, offered)?;
        audit::record(
            conn,
            ctx,
            Action::TherapistCreate,
            Subject::Therapist,
            Some(&id),
        )?;
        let mut rules = Vec::new();
        for weekday in weekdays {
            // Split shift for the first therapist: mornings in one clinic, afternoons in the other.
            let shifts: Vec<(NaiveTime, NaiveTime, &Location)> = match index {
                0 => vec![(hm(9, 0), hm(13, 0), first), (hm(14, 0), hm(18, 0), second)],
                1 => vec![(hm(10, 0), hm(18, 0), second)],
                _ => vec![(hm(9, 0), hm(17, 0), first)],
            };
            for (start, end, location) in shifts {
                rules.push(ScheduleRule {
                    id: new_id(),
                    therapist_id: id.clone(),
                    weekday: weekday.num_days_from_monday() as i32,
                    start_minute: minutes(start),
                    end_minute: minutes(end),
                    location_id: location.id.clone(),
                });
            }
        }
        schedule::replace_rules(conn, &id, &rules)?;
        audit::record(
            conn,
            ctx,
            Action::ScheduleUpdate,
            Subject::Therapist,
            Some(&id),
        )?;
    }
    Ok(demo.len())
}
