//! Races between writes that judge each other: a booking against time off, a date override or a
//! closure over its time, and many clients on two instances of the app (one database, two
//! pools, as two `inspine serve` processes) for one slot. Whoever commits second must see the
//! first: never both, never a server error. Run many times over, on whichever backend this run
//! uses; nothing here depends on timing.

use std::collections::HashMap;

use chrono::NaiveDate;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Options, Resp, TestApp, at, local_date};

const ROUNDS: i64 = 20;

fn booking_body(therapist: &str, type_id: &str, start: &str) -> Value {
    json!({"therapist_id": therapist, "massage_type_id": type_id, "duration_minutes": 60, "start": start})
}

/// One client may win every round.
async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        env: HashMap::from([
            ("MAX_FUTURE_BOOKINGS_PER_CLIENT", "1000".to_owned()),
            // A round of the series race uses a fortnight of its own.
            ("BOOKING_HORIZON_DAYS", "400".to_owned()),
        ]),
    })
    .await
}

/// Exactly one of the two won; the loser was refused as the contract says (409, or for a
/// booking whose hours were just taken away, 422 `start` outside the schedule).
fn one_won(kind: &str, round: i64, booking: &Resp, other: &Resp, other_ok: u16) {
    let (b, o) = (booking.status.as_u16(), other.status.as_u16());
    let detail = format!(
        "{kind}, round {round}: booking {b} {}, {kind} {o} {}",
        booking.body, other.body
    );
    assert!(b < 500 && o < 500, "server error: {detail}");
    match (b, o) {
        (201, 409) => {}
        (409, ok) if ok == other_ok => {}
        (422, ok) if ok == other_ok && kind != "time off" => {
            assert_eq!(booking.body["errors"][0]["field"], "start", "{detail}");
        }
        _ => panic!("not exactly one winner: {detail}"),
    }
}

#[actix_web::test]
async fn a_booking_racing_time_off_over_its_time_never_both_commit() {
    let app = spawn().await;
    let clinic = app.clinic().await;
    let other = app.twin().await;
    let token = app.client_token("racer@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    for round in 0..ROUNDS {
        let day = local_date(2 + round);
        let (booking, time_off) = futures::join!(
            app.post("/api/v1/bookings")
                .token(&token)
                .json(booking_body(
                    &clinic.therapist_id,
                    type_id,
                    &at(day, 10, 0)
                ))
                .send(),
            other
                .post(&format!(
                    "/api/v1/therapists/{}/time-off",
                    clinic.therapist_id
                ))
                .token(&clinic.admin)
                .json(json!({"starts_at": at(day, 10, 30), "ends_at": at(day, 11, 30), "reason": "Dentist"}))
                .send(),
        );
        one_won("time off", round, &booking, &time_off, 201);
    }
    let bookings = app.count_where("bookings", "status = 'confirmed'").await;
    assert_eq!(bookings + app.count("time_off").await, ROUNDS);
    drop(other);
}

#[actix_web::test]
async fn a_booking_racing_a_day_off_override_never_both_commit() {
    let app = spawn().await;
    let clinic = app.clinic().await;
    let other = app.twin().await;
    let token = app.client_token("racer@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    for round in 0..ROUNDS {
        let day = local_date(25 + round);
        let (booking, day_off) = futures::join!(
            app.post("/api/v1/bookings")
                .token(&token)
                .json(booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0)))
                .send(),
            other
                .put(&format!(
                    "/api/v1/therapists/{}/overrides/{day}",
                    clinic.therapist_id
                ))
                .token(&clinic.admin)
                .json(json!({"rules": []}))
                .send(),
        );
        one_won("override", round, &booking, &day_off, 200);
    }
    let bookings = app.count_where("bookings", "status = 'confirmed'").await;
    assert_eq!(bookings + app.count("schedule_overrides").await, ROUNDS);
    drop(other);
}

#[actix_web::test]
async fn a_booking_racing_a_closure_of_its_location_never_both_commit() {
    let app = spawn().await;
    let clinic = app.clinic().await;
    let other = app.twin().await;
    let token = app.client_token("racer@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    for round in 0..ROUNDS {
        let day = local_date(50 + round);
        let (booking, closure) = futures::join!(
            app.post("/api/v1/bookings")
                .token(&token)
                .json(booking_body(
                    &clinic.therapist_id,
                    type_id,
                    &at(day, 10, 0)
                ))
                .send(),
            other
                .post(&format!("/api/v1/locations/{}/closures", clinic.location_id))
                .token(&clinic.admin)
                .json(json!({"starts_at": at(day, 9, 0), "ends_at": at(day, 12, 0), "reason": "Burst pipe"}))
                .send(),
        );
        one_won("closure", round, &booking, &closure, 201);
    }
    let bookings = app.count_where("bookings", "status = 'confirmed'").await;
    assert_eq!(bookings + app.count("location_closures").await, ROUNDS);
    drop(other);
}

#[actix_web::test]
async fn sixty_four_clients_on_two_instances_one_slot_one_booking_the_rest_409() {
    let app = spawn().await;
    let clinic = app.clinic().await;
    let other = app.twin().await;
    let clients = app.clients(64).await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let rounds = 5;
    for round in 0..rounds {
        let body = booking_body(
            &clinic.therapist_id,
            type_id,
            &at(local_date(3 + round), 10, 0),
        );
        let responses = join_all(clients.iter().enumerate().map(|(i, (_, token))| {
            let instance = if i % 2 == 0 { &app } else { &other };
            instance
                .post("/api/v1/bookings")
                .token(token)
                .json(body.clone())
                .send()
        }))
        .await;
        let mut statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
        statuses.sort_unstable();
        let created = statuses.iter().filter(|s| **s == 201).count();
        let conflicts = statuses.iter().filter(|s| **s == 409).count();
        assert_eq!((created, conflicts), (1, 63), "round {round}: {statuses:?}");
        assert!(
            responses
                .iter()
                .filter(|r| r.status.as_u16() == 409)
                .all(|r| r.problem_type() == "slot-unavailable"),
            "round {round}"
        );
    }
    assert_eq!(app.count("bookings").await, rounds);
    drop(other);
}

/// Two reschedules in opposite directions between two therapists, on two instances at once,
/// each leaving time a waitlist entry waits for (so each, after claiming its new therapist's
/// time, offers its old therapist's): both move, never a 5xx (each takes both therapists'
/// locks, in one order, before either claim).
#[actix_web::test]
async fn opposite_reschedules_that_hand_time_to_the_waitlist_both_move() {
    let x = Crossing::new().await;
    let (app, other, t1, t2) = (&x.app, &x.other, &x.t1, &x.t2);
    let [c1, c2, _, _] = &x.tokens;
    for round in 0..ROUNDS {
        let day = local_date(3 + round);
        let a = x.book(c1, t1, day, 10, 0).await.expect(201).clone();
        let b = x.book(c2, t2, day, 13, 0).await.expect(201).clone();
        x.wait_for_both(day).await;
        let (path_a, path_b) = (reschedule_path(&a), reschedule_path(&b));
        let move_a = post_as(
            other,
            c1,
            &path_a,
            json!({"start": at(day, 15, 0), "therapist_id": t2}),
        );
        let move_b = post_as(
            app,
            c2,
            &path_b,
            json!({"start": at(day, 11, 30), "therapist_id": t1}),
        );
        let (moved_a, moved_b) = futures::join!(move_a, move_b);
        both(round, &moved_a, &moved_b, (200, 200));
        assert_eq!(moved_a.body["therapist_id"], json!(t2), "round {round}");
        assert_eq!(moved_b.body["therapist_id"], json!(t1), "round {round}");
    }
    x.each_freed_hour_offered(2).await;
}

/// Two clients, on two instances at once, each replacing their hold with one on the other's
/// therapist, each releasing time a waitlist entry waits for: both new holds are made, never a
/// 5xx (each takes both therapists' locks, in one order, before claiming).
#[actix_web::test]
async fn crossed_hold_replacements_that_hand_time_to_the_waitlist_both_hold() {
    let x = Crossing::new().await;
    let (app, other, t1, t2, type_id) = (&x.app, &x.other, &x.t1, &x.t2, x.type_id.as_str());
    let [c1, c2, _, _] = &x.tokens;
    for round in 0..ROUNDS {
        let day = local_date(3 + round);
        let body = |therapist: &str, hh: u32| booking_body(therapist, type_id, &at(day, hh, 0));
        hold_at(app, c1, body(t1, 10)).await.expect(201);
        hold_at(app, c2, body(t2, 13)).await.expect(201);
        x.wait_for_both(day).await;
        let (held_1, held_2) = futures::join!(
            hold_at(other, c1, body(t2, 15)),
            hold_at(app, c2, body(t1, 12)),
        );
        both(round, &held_1, &held_2, (201, 201));
    }
    x.each_freed_hour_offered(2).await;
}

/// Two reschedules of different therapists at a location with two rooms, on two instances at
/// once: each moves into the room the other leaves, then offers its old time to a waiting
/// client (a claim on the room the other moves into). Both move, never a 5xx: each takes the
/// location's rooms, in one order, before its first claim.
#[actix_web::test]
async fn reschedules_whose_rooms_cross_both_move() {
    let x = Crossing::new().await;
    let filler = x.rooms_and_filler().await;
    let (app, other, t1, t2) = (&x.app, &x.other, &x.t1, &x.t2);
    let [c1, c2, _, _] = &x.tokens;
    for round in 0..ROUNDS {
        let day = local_date(3 + round);
        // The filler keeps the first room at 13:00 and 15:00.
        let first = x.book(&x.filler, &filler, day, 13, 0).await.expect(201)["room_id"].clone();
        let taken = x.book(&x.filler, &filler, day, 15, 0).await.expect(201)["room_id"].clone();
        assert_eq!(taken, first, "round {round}");
        let a = x.book(c1, t1, day, 10, 0).await.expect(201).clone();
        let b = x.book(c2, t2, day, 13, 0).await.expect(201).clone();
        assert_eq!(a["room_id"], first, "round {round}");
        let second = b["room_id"].clone();
        assert_ne!(second, first, "round {round}");
        x.wait_for_both(day).await;
        // A: the first room at 10:00 -> the second at 15:00, offering 10:00 (the first room).
        // B: the second room at 13:00 -> the first at 11:30, offering 13:00 (the second).
        let (path_a, path_b) = (reschedule_path(&a), reschedule_path(&b));
        let (moved_a, moved_b) = futures::join!(
            post_as(other, c1, &path_a, json!({"start": at(day, 15, 0)})),
            post_as(app, c2, &path_b, json!({"start": at(day, 11, 30)})),
        );
        both(round, &moved_a, &moved_b, (200, 200));
        assert_eq!(moved_a.body["room_id"], second, "round {round}");
        assert_eq!(moved_b.body["room_id"], first, "round {round}");
    }
    x.each_freed_hour_offered(2).await;
}

/// Two weekly series of different therapists at a location with two rooms, on two instances
/// at once, the first free room of each week being the other's second: A books the first
/// room and then the second, B the second and then the first. Both are booked whole, never a
/// 5xx: each takes the location's rooms, in one order, before its first week. Then both are
/// cancelled at once with clients waiting for every week, so each cancellation offers its
/// weeks in the same crossing rooms: both are cancelled, every freed hour offered.
#[actix_web::test]
async fn series_taking_rooms_in_opposite_orders_book_and_cancel() {
    let x = Crossing::new().await;
    let filler = x.rooms_and_filler().await;
    let (app, other, t1, t2, type_id) = (&x.app, &x.other, &x.t1, &x.t2, x.type_id.as_str());
    let [c1, c2, _, _] = &x.tokens;
    for round in 0..ROUNDS {
        let week_1 = local_date(3 + 14 * round);
        let week_2 = week_1 + chrono::Days::new(7);
        let fill = |day, hh| x.book(&x.filler, &filler, day, hh, 0);
        let first = fill(week_2, 10).await.expect(201)["room_id"].clone();
        let taken = fill(week_1, 13).await.expect(201)["room_id"].clone();
        assert_eq!(taken, first, "round {round}");
        let series = |therapist: &str, hh: u32| {
            json!({"therapist_id": therapist, "massage_type_id": type_id,
                   "duration_minutes": 60, "start": at(week_1, hh, 0),
                   "every_weeks": 1, "count": 2})
        };
        let (a, b) = futures::join!(
            post_as(other, c1, "/api/v1/booking-series", series(t1, 10)),
            post_as(app, c2, "/api/v1/booking-series", series(t2, 13)),
        );
        both(round, &a, &b, (201, 201));
        let rooms = |created: &Value| -> Vec<Value> {
            let bookings = created["bookings"].as_array().expect("bookings");
            bookings.iter().map(|b| b["room_id"].clone()).collect()
        };
        let (rooms_a, rooms_b) = (rooms(&a.body), rooms(&b.body));
        assert_eq!(rooms_a.len(), 2, "round {round}: {}", a.body);
        assert_eq!(rooms_a[0], first, "round {round}");
        assert_eq!(rooms_b[1], first, "round {round}");
        assert_eq!(rooms_a[1], rooms_b[0], "round {round}");
        assert_ne!(rooms_a[1], first, "round {round}");
        x.wait_for_both(week_1).await;
        x.wait_for_both(week_2).await;
        let cancel_path = |created: &Value| {
            let id = created["id"].as_str().expect("series id");
            format!("/api/v1/booking-series/{id}/cancel")
        };
        let (path_a, path_b) = (cancel_path(&a.body), cancel_path(&b.body));
        let (cancelled_a, cancelled_b) = futures::join!(
            post_as(other, c1, &path_a, json!({})),
            post_as(app, c2, &path_b, json!({})),
        );
        both(round, &cancelled_a, &cancelled_b, (200, 200));
        for done in [&cancelled_a.body, &cancelled_b.body] {
            let count = done["cancelled"].as_array().map(Vec::len);
            assert_eq!(count, Some(2), "round {round}: {done}");
        }
    }
    x.each_freed_hour_offered(4).await;
}

/// A booking rescheduled on one instance and cancelled on the other at once, a waiting client
/// wanting its time (so the cancellation, after changing the booking, claims the therapist's
/// time for the offer): one order or the other, never a 5xx. Both take the therapist's lock
/// before the booking's row.
#[actix_web::test]
async fn a_booking_rescheduled_and_cancelled_at_once_ends_one_way() {
    let x = Crossing::new().await;
    let (app, other, t1, type_id) = (&x.app, &x.other, &x.t1, x.type_id.as_str());
    let [c1, ..] = &x.tokens;
    for round in 0..ROUNDS {
        let day = local_date(3 + round);
        let booked = post_as(
            app,
            c1,
            "/api/v1/bookings",
            booking_body(t1, type_id, &at(day, 10, 0)),
        )
        .await
        .expect(201)
        .clone();
        x.wait_for_both(day).await;
        let cancel_path = format!("/api/v1/bookings/{}/cancel", booked["id"].as_str().unwrap());
        let move_path = reschedule_path(&booked);
        let (moved, cancelled) = futures::join!(
            post_as(other, c1, &move_path, json!({"start": at(day, 15, 0)})),
            post_as(app, c1, &cancel_path, json!({})),
        );
        let detail = format!("round {round}: {} / {}", moved.body, cancelled.body);
        assert_eq!(cancelled.status.as_u16(), 200, "{detail}");
        assert!(matches!(moved.status.as_u16(), 200 | 409), "{detail}");
        assert_eq!(cancelled.body["status"], "cancelled", "{detail}");
    }
}

/// Both answered as expected in this round, or the two answers are shown.
fn both(round: i64, a: &Resp, b: &Resp, expected: (u16, u16)) {
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16()),
        expected,
        "round {round}: {} / {}",
        a.body,
        b.body
    );
}

fn reschedule_path(booking: &Value) -> String {
    let id = booking["id"].as_str().expect("booking id");
    format!("/api/v1/bookings/{id}/reschedule")
}

async fn post_as(instance: &TestApp, token: &str, path: &str, body: Value) -> Resp {
    instance.post(path).token(token).json(body).send().await
}

async fn hold_at(instance: &TestApp, token: &str, body: Value) -> Resp {
    instance
        .post("/api/v1/holds")
        .token(token)
        .json(body)
        .send()
        .await
}

/// Two therapists at one location, two instances on one database, and four clients: two who
/// move (tokens 0 and 1) and two who wait, one for each therapist (2 and 3).
struct Crossing {
    /// Declared first so that it is dropped before the instance it shares the database with.
    other: TestApp,
    app: TestApp,
    t1: String,
    t2: String,
    type_id: String,
    tokens: [String; 4],
    /// A fifth client, who books for [`Crossing::rooms_and_filler`]'s therapist.
    filler: String,
    admin: String,
    location_id: String,
}

impl Crossing {
    async fn new() -> Self {
        let app = spawn().await;
        let clinic = app.clinic().await;
        let other = app.twin().await;
        let t2 = app
            .therapist(
                &clinic.admin,
                "Noor",
                &clinic.location_id,
                ("09:00", "17:00"),
            )
            .await;
        let clients = app.clients(5).await;
        let tokens = std::array::from_fn(|i| clients[i].1.clone());
        Self {
            filler: clients[4].1.clone(),
            admin: clinic.admin.clone(),
            location_id: clinic.location_id.clone(),
            t1: clinic.therapist_id.clone(),
            t2,
            type_id: clinic.swedish["id"].as_str().unwrap().to_owned(),
            app,
            other,
            tokens,
        }
    }

    /// Two rooms at the location, and a third therapist there whose bookings (by the filler
    /// client) keep a room busy; returns that therapist.
    async fn rooms_and_filler(&self) -> String {
        for name in ["Cedar", "Fir"] {
            self.app
                .post(&format!("/api/v1/locations/{}/rooms", self.location_id))
                .token(&self.admin)
                .json(json!({ "name": name }))
                .send()
                .await
                .expect(201);
        }
        self.app
            .therapist(&self.admin, "Ines", &self.location_id, ("09:00", "17:00"))
            .await
    }

    /// A booking on the first instance at `hh:mm` local on `day`.
    async fn book(&self, token: &str, therapist: &str, day: NaiveDate, hh: u32, mm: u32) -> Resp {
        let body = booking_body(therapist, &self.type_id, &at(day, hh, mm));
        post_as(&self.app, token, "/api/v1/bookings", body).await
    }

    /// Every round freed (or released) `per_round` hours, each wanted by its own waiting
    /// entry, and each was offered once.
    async fn each_freed_hour_offered(&self, per_round: i64) {
        let offered = self
            .app
            .count_where("waitlist_entries", "status = 'offered'")
            .await;
        assert_eq!(offered, per_round * ROUNDS, "each freed hour offered once");
    }

    /// The waiting clients join the waitlist for `day`, one for each therapist.
    async fn wait_for_both(&self, day: chrono::NaiveDate) {
        for (token, therapist) in [(&self.tokens[2], &self.t1), (&self.tokens[3], &self.t2)] {
            self.app
                .post("/api/v1/waitlist")
                .token(token)
                .json(
                    json!({"massage_type_id": self.type_id, "duration_minutes": 60,
                             "from": day.to_string(), "to": day.to_string(),
                             "therapist_id": therapist}),
                )
                .send()
                .await
                .expect(201);
        }
    }
}
