//! Races between writes that judge each other: a booking against time off, a date override or a
//! closure over its time, and many clients on two instances of the app (one database, two
//! pools, as two `inspine serve` processes) for one slot. Whoever commits second must see the
//! first: never both, never a server error. Run many times over, on whichever backend this run
//! uses; nothing here depends on timing.

use std::collections::HashMap;

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
        env: HashMap::from([("MAX_FUTURE_BOOKINGS_PER_CLIENT", "1000".to_owned())]),
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
    let (app, other, t1, t2, type_id) = (&x.app, &x.other, &x.t1, &x.t2, x.type_id.as_str());
    let [c1, c2, _, _] = &x.tokens;
    for round in 0..ROUNDS {
        let day = local_date(3 + round);
        let book = |token: &str, therapist: &str, hh: u32, mm: u32| {
            app.post("/api/v1/bookings")
                .token(token)
                .json(booking_body(therapist, type_id, &at(day, hh, mm)))
                .send()
        };
        let a = book(c1, t1, 10, 0).await.expect(201)["id"].clone();
        let b = book(c2, t2, 13, 0).await.expect(201)["id"].clone();
        x.wait_for_both(day).await;
        let move_a = other
            .post(&format!(
                "/api/v1/bookings/{}/reschedule",
                a.as_str().unwrap()
            ))
            .token(c1)
            .json(json!({"start": at(day, 15, 0), "therapist_id": t2}))
            .send();
        let move_b = app
            .post(&format!(
                "/api/v1/bookings/{}/reschedule",
                b.as_str().unwrap()
            ))
            .token(c2)
            .json(json!({"start": at(day, 11, 30), "therapist_id": t1}))
            .send();
        let (moved_a, moved_b) = futures::join!(move_a, move_b);
        assert_eq!(
            (moved_a.status.as_u16(), moved_b.status.as_u16()),
            (200, 200),
            "round {round}: {} / {}",
            moved_a.body,
            moved_b.body
        );
        assert_eq!(moved_a.body["therapist_id"], json!(t2), "round {round}");
        assert_eq!(moved_b.body["therapist_id"], json!(t1), "round {round}");
    }
    // Every freed hour went to its waiting entry.
    let offered = app
        .count_where("waitlist_entries", "status = 'offered'")
        .await;
    assert_eq!(offered, 2 * ROUNDS, "each freed hour offered once");
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
        assert_eq!(
            (held_1.status.as_u16(), held_2.status.as_u16()),
            (201, 201),
            "round {round}: {} / {}",
            held_1.body,
            held_2.body
        );
    }
    // Every released hour went to its waiting entry.
    let offered = app
        .count_where("waitlist_entries", "status = 'offered'")
        .await;
    assert_eq!(offered, 2 * ROUNDS, "each released hour offered once");
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
        let clients = app.clients(4).await;
        let tokens = std::array::from_fn(|i| clients[i].1.clone());
        Self {
            t1: clinic.therapist_id.clone(),
            t2,
            type_id: clinic.swedish["id"].as_str().unwrap().to_owned(),
            app,
            other,
            tokens,
        }
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
