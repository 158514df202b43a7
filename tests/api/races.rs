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
