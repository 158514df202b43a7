use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, at, local_date};

fn booking_body(therapist: &str, type_id: &str, start: &str) -> Value {
    json!({"therapist_id": therapist, "massage_type_id": type_id, "duration_minutes": 60, "start": start})
}

#[actix_web::test]
async fn a_client_books_a_slot_and_reads_it_back() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.register("ana@example.com").await;
    let token = client["access_token"].as_str().unwrap();
    let day = local_date(7);
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let resp = app
        .post("/api/v1/bookings")
        .token(token)
        // Any offset is accepted; the answer is in UTC.
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id, "duration_minutes": 90,
                     "start": chrono::DateTime::parse_from_rfc3339(&at(day, 10, 0)).unwrap()
                        .with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).unwrap()).to_rfc3339(),
                     "notes": "Sore shoulder"}))
        .send()
        .await;
    let booking = resp.expect(201).clone();
    let id = booking["id"].as_str().unwrap();
    assert_eq!(
        resp.header("location").unwrap(),
        format!("/api/v1/bookings/{id}")
    );
    assert_eq!(booking["start"], at(day, 10, 0));
    assert_eq!(booking["end"], at(day, 11, 30));
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["price_cents"], 15500);
    assert_eq!(booking["currency"], "CAD");
    assert_eq!(booking["location_id"], clinic.location_id.as_str());
    assert_eq!(booking["client_id"], client["user"]["id"]);
    assert_eq!(booking["room_id"], Value::Null);
    assert_eq!(booking["notes"], "Sore shoulder");

    let read = app
        .get(&format!("/api/v1/bookings/{id}"))
        .token(token)
        .send()
        .await;
    assert_eq!(read.expect(200), &booking);
    let list = app.get("/api/v1/bookings").token(token).send().await;
    assert_eq!(list.expect(200)["items"][0]["id"], id);
}

#[actix_web::test]
async fn the_price_comes_from_the_catalog_never_the_body() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("c@example.com").await;
    let mut body = booking_body(
        &clinic.therapist_id,
        clinic.swedish["id"].as_str().unwrap(),
        &at(local_date(7), 10, 0),
    );
    body["price_cents"] = json!(1);
    let resp = app
        .post("/api/v1/bookings")
        .token(&token)
        .json(body.clone())
        .send()
        .await;
    resp.expect(422);
    assert_eq!(resp.body["errors"][0]["field"], "price_cents");
    body.as_object_mut().unwrap().remove("price_cents");
    body["client_id"] = json!("00000000-0000-0000-0000-000000000000");
    let resp = app
        .post("/api/v1/bookings")
        .token(&token)
        .json(body)
        .send()
        .await;
    resp.expect(422);
    assert_eq!(resp.body["errors"][0]["field"], "client_id");
    assert_eq!(app.count("bookings").await, 0);
}

#[actix_web::test]
async fn starts_that_are_never_bookable_are_422_and_change_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("c@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let deep_only = app
        .post("/api/v1/therapists")
        .token(&clinic.admin)
        .json(json!({"name": "Deep only", "massage_type_ids": [app.massage_type("deep-tissue").await["id"]]}))
        .send()
        .await;
    let deep_only = deep_only.expect(201)["id"].as_str().unwrap().to_owned();
    let cases = vec![
        (
            booking_body(&clinic.therapist_id, type_id, &at(local_date(-1), 10, 0)),
            "start",
        ),
        (
            booking_body(&clinic.therapist_id, type_id, &at(day, 10, 5)),
            "start",
        ),
        (
            booking_body(&clinic.therapist_id, type_id, &at(day, 7, 0)),
            "start",
        ),
        (
            booking_body(&clinic.therapist_id, type_id, &at(day, 16, 0)),
            "start",
        ),
        (
            booking_body(&clinic.therapist_id, type_id, &at(local_date(120), 10, 0)),
            "start",
        ),
        (
            json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id, "duration_minutes": 45, "start": at(day, 10, 0)}),
            "duration_minutes",
        ),
        (
            booking_body(&deep_only, type_id, &at(day, 10, 0)),
            "massage_type_id",
        ),
        (
            booking_body(
                "00000000-0000-0000-0000-000000000000",
                type_id,
                &at(day, 10, 0),
            ),
            "therapist_id",
        ),
    ];
    for (body, field) in cases {
        let resp = app
            .post("/api/v1/bookings")
            .token(&token)
            .json(body.clone())
            .send()
            .await;
        resp.expect(422);
        assert_eq!(resp.body["errors"][0]["field"], field, "{body}");
    }
    app.post("/api/v1/bookings")
        .token(&token)
        .json(json!({"therapist_id": clinic.therapist_id}))
        .send()
        .await
        .expect(422);
    app.post("/api/v1/bookings")
        .token(&token)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id, "duration_minutes": 60, "start": "next tuesday"}))
        .send()
        .await
        .expect(422);
    assert_eq!(app.count("bookings").await, 0);
}

#[actix_web::test]
async fn taken_slots_and_time_off_are_409() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let first = app.client_token("a@example.com").await;
    let second = app.client_token("b@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    app.post("/api/v1/bookings")
        .token(&first)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0)))
        .send()
        .await
        .expect(201);
    // Same start, and a start inside the first booking's buffer (11:00–11:10).
    for start in [at(day, 10, 0), at(day, 10, 30), at(day, 9, 15)] {
        let resp = app
            .post("/api/v1/bookings")
            .token(&second)
            .json(booking_body(&clinic.therapist_id, type_id, &start))
            .send()
            .await;
        resp.expect(409);
        assert_eq!(resp.problem_type(), "slot-unavailable");
    }
    // Right after the buffer is fine.
    app.post("/api/v1/bookings")
        .token(&second)
        .json(booking_body(
            &clinic.therapist_id,
            type_id,
            &at(day, 11, 15),
        ))
        .send()
        .await
        .expect(201);

    app.post(&format!(
        "/api/v1/therapists/{}/time-off",
        clinic.therapist_id
    ))
    .token(&clinic.admin)
    .json(json!({"starts_at": at(day, 14, 0), "ends_at": at(day, 15, 0)}))
    .send()
    .await
    .expect(201);
    let resp = app
        .post("/api/v1/bookings")
        .token(&second)
        .json(booking_body(
            &clinic.therapist_id,
            type_id,
            &at(day, 13, 30),
        ))
        .send()
        .await;
    resp.expect(409);
    assert_eq!(resp.problem_type(), "slot-unavailable");
    assert_eq!(app.count("bookings").await, 2);
}

#[actix_web::test]
async fn time_off_over_confirmed_bookings_is_409_listing_them() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let day = local_date(7);
    let booked = app
        .post("/api/v1/bookings")
        .token(&token)
        .json(booking_body(
            &clinic.therapist_id,
            clinic.swedish["id"].as_str().unwrap(),
            &at(day, 10, 0),
        ))
        .send()
        .await;
    let id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    let resp = app
        .post(&format!(
            "/api/v1/therapists/{}/time-off",
            clinic.therapist_id
        ))
        .token(&clinic.admin)
        .json(json!({"starts_at": at(day, 9, 0), "ends_at": at(day, 12, 0)}))
        .send()
        .await;
    resp.expect(409);
    assert!(
        resp.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
    assert_eq!(app.count("time_off").await, 0);
}

#[actix_web::test]
async fn rooms_limit_a_location_to_one_booking_per_room() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let room = app
        .post(&format!("/api/v1/locations/{}/rooms", clinic.location_id))
        .token(&clinic.admin)
        .json(json!({"name": "Only room"}))
        .send()
        .await;
    let room_id = room.expect(201)["id"].as_str().unwrap().to_owned();
    let other = app
        .therapist(
            &clinic.admin,
            "Liam",
            &clinic.location_id,
            ("09:00", "17:00"),
        )
        .await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let a = app.client_token("a@example.com").await;
    let b = app.client_token("b@example.com").await;
    let first = app
        .post("/api/v1/bookings")
        .token(&a)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0)))
        .send()
        .await;
    assert_eq!(first.expect(201)["room_id"], room_id.as_str());
    let resp = app
        .post("/api/v1/bookings")
        .token(&b)
        .json(booking_body(&other, type_id, &at(day, 10, 0)))
        .send()
        .await;
    resp.expect(409);
    let slots = app
        .get(&format!("/api/v1/slots?massage_type_id={type_id}&duration_minutes=60&from={day}&to={day}&therapist_id={other}"))
        .send()
        .await;
    let slots = slots.expect(200)["items"].as_array().unwrap().clone();
    assert!(!slots.iter().any(|s| s["start"] == at(day, 10, 0).as_str()));
    assert!(slots.iter().any(|s| s["start"] == at(day, 11, 15).as_str()));
}

#[actix_web::test]
async fn sixty_four_concurrent_requests_for_one_slot_make_exactly_one_booking() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let clients = app.clients(64).await;
    let body = booking_body(
        &clinic.therapist_id,
        clinic.swedish["id"].as_str().unwrap(),
        &at(local_date(7), 10, 0),
    );
    let responses = join_all(clients.iter().map(|(_, token)| {
        app.post("/api/v1/bookings")
            .token(token)
            .json(body.clone())
            .send()
    }))
    .await;
    let created = responses
        .iter()
        .filter(|r| r.status.as_u16() == 201)
        .count();
    let conflicts = responses
        .iter()
        .filter(|r| r.status.as_u16() == 409)
        .count();
    assert_eq!(
        (created, conflicts),
        (1, 63),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.count("bookings").await, 1);
}

#[actix_web::test]
async fn concurrent_overlapping_starts_one_wins_and_back_to_back_both_win() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let plain = app
        .post("/api/v1/massage-types")
        .token(&clinic.admin)
        .json(json!({"slug": "plain", "name": "Plain", "buffer_minutes": 0,
                     "options": [{"duration_minutes": 60, "price_cents": 9000, "currency": "CAD"}]}))
        .send()
        .await;
    let plain = plain.expect(201)["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/api/v1/therapists/{}", clinic.therapist_id))
        .token(&clinic.admin)
        .json(json!({"massage_type_ids": [plain]}))
        .send()
        .await
        .expect(200);
    let clients = app.clients(4).await;
    let day = local_date(7);

    let overlapping = join_all(
        [(0, at(day, 10, 0)), (1, at(day, 10, 30))].map(|(i, start)| {
            app.post("/api/v1/bookings")
                .token(&clients[i].1)
                .json(booking_body(&clinic.therapist_id, &plain, &start))
                .send()
        }),
    )
    .await;
    let mut statuses: Vec<u16> = overlapping.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);

    let back_to_back = join_all(
        [(2, at(day, 13, 0)), (3, at(day, 14, 0))].map(|(i, start)| {
            app.post("/api/v1/bookings")
                .token(&clients[i].1)
                .json(booking_body(&clinic.therapist_id, &plain, &start))
                .send()
        }),
    )
    .await;
    assert!(back_to_back.iter().all(|r| r.status.as_u16() == 201));
    assert_eq!(app.count("bookings").await, 3);
}

#[actix_web::test]
async fn idempotency_key_replays_rejects_changed_bodies_and_reports_in_flight() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let body = booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0));
    let first = app
        .post("/api/v1/bookings")
        .token(&token)
        .header("Idempotency-Key", "key-1")
        .json(body.clone())
        .send()
        .await;
    first.expect(201);
    let again = app
        .post("/api/v1/bookings")
        .token(&token)
        .header("Idempotency-Key", "key-1")
        .json(body.clone())
        .send()
        .await;
    again.expect(201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(app.count("bookings").await, 1);

    let changed = app
        .post("/api/v1/bookings")
        .token(&token)
        .header("Idempotency-Key", "key-1")
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 12, 0)))
        .send()
        .await;
    changed.expect(422);
    assert_eq!(app.count("bookings").await, 1);

    // Another user's identical key is independent.
    let other = app.client_token("b@example.com").await;
    let theirs = app
        .post("/api/v1/bookings")
        .token(&other)
        .header("Idempotency-Key", "key-1")
        .json(body)
        .send()
        .await;
    theirs.expect(409);

    // A request still in flight (its key claimed, no answer stored yet).
    let me = app.get("/api/v1/me").token(&token).send().await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hash_of = |b: &Value| {
        use sha2::Digest;
        let typed: inspine::api::bookings::CreateBooking =
            serde_json::from_value(b.clone()).unwrap();
        hex::encode(sha2::Sha256::digest(serde_json::to_vec(&typed).unwrap()))
    };
    let pending_body = booking_body(&clinic.therapist_id, type_id, &at(day, 14, 0));
    app.sql(format!(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES ('{me}', 'key-2', '{}', '{}')",
        hash_of(&pending_body),
        chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S")
    ))
    .await;
    let in_flight = app
        .post("/api/v1/bookings")
        .token(&token)
        .header("Idempotency-Key", "key-2")
        .json(pending_body)
        .send()
        .await;
    in_flight.expect(409);
    assert_eq!(in_flight.problem_type(), "idempotency-key-in-flight");
    assert_eq!(app.count("bookings").await, 1);

    let too_long = "k".repeat(256);
    app.post("/api/v1/bookings")
        .token(&token)
        .header("Idempotency-Key", &too_long)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 15, 0)))
        .send()
        .await
        .expect(400);
}

#[actix_web::test]
async fn visibility_clients_see_their_own_only() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let a = app.client_token("a@example.com").await;
    let b = app.client_token("b@example.com").await;
    let day = local_date(7);
    let booked = app
        .post("/api/v1/bookings")
        .token(&a)
        .json(booking_body(
            &clinic.therapist_id,
            clinic.swedish["id"].as_str().unwrap(),
            &at(day, 10, 0),
        ))
        .send()
        .await;
    let id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    let resp = app
        .get(&format!("/api/v1/bookings/{id}"))
        .token(&b)
        .send()
        .await;
    resp.expect(404);
    app.post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&b)
        .send()
        .await
        .expect(404);
    let list = app.get("/api/v1/bookings").token(&b).send().await;
    assert_eq!(list.expect(200)["items"], json!([]));
    let admin_list = app
        .get("/api/v1/bookings")
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(admin_list.expect(200)["items"].as_array().unwrap().len(), 1);
    app.get("/api/v1/bookings").send().await.expect(401);
}

#[actix_web::test]
async fn cancel_rules_window_twice_and_admin_override() {
    let app = TestApp::spawn_with(Options {
        env: [("CANCELLATION_WINDOW_HOURS", "400".to_owned())].into(),
    })
    .await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let booked = app
        .post("/api/v1/bookings")
        .token(&token)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0)))
        .send()
        .await;
    let id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    // Seven days ahead is inside a 400-hour window: too late for the client.
    let late = app
        .post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&token)
        .send()
        .await;
    late.expect(409);
    assert_eq!(late.problem_type(), "late-cancellation");
    let still = app
        .get(&format!("/api/v1/bookings/{id}"))
        .token(&token)
        .send()
        .await;
    assert_eq!(still.expect(200)["status"], "confirmed");
    // The admin may.
    let cancelled = app
        .post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&clinic.admin)
        .json(json!({"reason": "Client called"}))
        .send()
        .await;
    let cancelled = cancelled.expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "Client called");
    assert!(cancelled["cancelled_at"].as_str().unwrap().ends_with('Z'));
    let twice = app
        .post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&clinic.admin)
        .send()
        .await;
    twice.expect(409);
    // The slot is free again.
    app.post("/api/v1/bookings")
        .token(&token)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0)))
        .send()
        .await
        .expect(201);
}

#[actix_web::test]
async fn a_client_cancels_outside_the_window() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let booked = app
        .post("/api/v1/bookings")
        .token(&token)
        .json(booking_body(
            &clinic.therapist_id,
            clinic.swedish["id"].as_str().unwrap(),
            &at(local_date(7), 10, 0),
        ))
        .send()
        .await;
    let id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    let resp = app
        .post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&token)
        .send()
        .await;
    assert_eq!(resp.expect(200)["status"], "cancelled");
    let twice = app
        .post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&token)
        .send()
        .await;
    twice.expect(409);
}

#[actix_web::test]
async fn reschedule_moves_atomically() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let a = app.client_token("a@example.com").await;
    let b = app.client_token("b@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let mine = app
        .post("/api/v1/bookings")
        .token(&a)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0)))
        .send()
        .await;
    let id = mine.expect(201)["id"].as_str().unwrap().to_owned();
    app.post("/api/v1/bookings")
        .token(&b)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 13, 0)))
        .send()
        .await
        .expect(201);

    // Onto someone else's time: refused, and the old time stays held.
    let clash = app
        .post(&format!("/api/v1/bookings/{id}/reschedule"))
        .token(&a)
        .json(json!({"start": at(day, 13, 0)}))
        .send()
        .await;
    clash.expect(409);
    let unchanged = app
        .get(&format!("/api/v1/bookings/{id}"))
        .token(&a)
        .send()
        .await;
    assert_eq!(unchanged.expect(200)["start"], at(day, 10, 0));

    // Overlapping its own old time is fine (the old time is released in the same step).
    let moved = app
        .post(&format!("/api/v1/bookings/{id}/reschedule"))
        .token(&a)
        .json(json!({"start": at(day, 10, 30)}))
        .send()
        .await;
    let moved = moved.expect(200);
    assert_eq!(moved["start"], at(day, 10, 30));
    assert_eq!(moved["end"], at(day, 11, 30));
    let off_grid = app
        .post(&format!("/api/v1/bookings/{id}/reschedule"))
        .token(&a)
        .json(json!({"start": at(day, 10, 31)}))
        .send()
        .await;
    off_grid.expect(422);
    // 09:30 would run into the moved booking; 09:15 fits only because 10:00 was released.
    app.post("/api/v1/bookings")
        .token(&b)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 9, 30)))
        .send()
        .await
        .expect(409);
    app.post("/api/v1/bookings")
        .token(&b)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 9, 15)))
        .send()
        .await
        .expect(201);
}

#[actix_web::test]
async fn rescheduling_what_is_no_longer_offered_is_409_a_wrong_therapist_422() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let made = app
        .post("/api/v1/bookings")
        .token(&client)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0)))
        .send()
        .await;
    let id = made.expect(201)["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/bookings/{id}/reschedule");

    // A therapist who does not offer Swedish massage: the caller named them, so 422 on that field.
    let only_deep = app
        .post("/api/v1/therapists")
        .token(&clinic.admin)
        .json(json!({"name": "Deep only", "massage_type_ids": [app.massage_type("deep-tissue").await["id"]]}))
        .send()
        .await;
    let only_deep = only_deep.expect(201)["id"].as_str().unwrap().to_owned();
    let wrong = app
        .post(&path)
        .token(&client)
        .json(json!({"start": at(day, 11, 0), "therapist_id": only_deep}))
        .send()
        .await;
    assert_eq!(wrong.expect(422)["errors"][0]["field"], "therapist_id");

    // The booking's own type retired since: nothing the caller sent is wrong; the state forbids it.
    app.patch(&format!("/api/v1/massage-types/{type_id}"))
        .token(&clinic.admin)
        .json(json!({"active": false}))
        .send()
        .await
        .expect(200);
    let retired = app
        .post(&path)
        .token(&client)
        .json(json!({"start": at(day, 11, 0)}))
        .send()
        .await;
    retired.expect(409);
    assert_eq!(retired.problem_type(), "no-longer-offered");
    let unchanged = app
        .get(&format!("/api/v1/bookings/{id}"))
        .token(&client)
        .send()
        .await;
    let unchanged = unchanged.expect(200);
    assert_eq!(unchanged["start"], at(day, 10, 0));
    assert_eq!(unchanged["status"], "confirmed");
}

#[actix_web::test]
async fn notes_and_cancel_reasons_count_their_length_as_sent() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let mut body = booking_body(&clinic.therapist_id, type_id, &at(local_date(7), 10, 0));
    body["notes"] = json!(format!("quiet room{}", "\u{c}".repeat(991)));
    app.post("/api/v1/bookings")
        .token(&client)
        .json(body.clone())
        .send()
        .await
        .expect(422);
    assert_eq!(app.count("bookings").await, 0);
    body["notes"] = json!("quiet room ");
    let made = app
        .post("/api/v1/bookings")
        .token(&client)
        .json(body)
        .send()
        .await;
    let made = made.expect(201);
    assert_eq!(made["notes"], "quiet room");
    let id = made["id"].as_str().unwrap().to_owned();

    let cancel = format!("/api/v1/bookings/{id}/cancel");
    let long = format!("sick{}", "\u{c}".repeat(497));
    app.post(&cancel)
        .token(&client)
        .json(json!({ "reason": long }))
        .send()
        .await
        .expect(422);
    let still = app
        .get(&format!("/api/v1/bookings/{id}"))
        .token(&client)
        .send()
        .await;
    assert_eq!(still.expect(200)["status"], "confirmed");
    let cancelled = app
        .post(&cancel)
        .token(&client)
        .json(json!({"reason": " sick "}))
        .send()
        .await;
    assert_eq!(cancelled.expect(200)["cancel_reason"], "sick");
}

#[actix_web::test]
async fn a_concurrent_cancel_and_reschedule_end_consistent() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let booked = app
        .post("/api/v1/bookings")
        .token(&token)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0)))
        .send()
        .await;
    let id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    let cancel_path = format!("/api/v1/bookings/{id}/cancel");
    let reschedule_path = format!("/api/v1/bookings/{id}/reschedule");
    let (cancel, reschedule) = futures::join!(
        app.post(&cancel_path).token(&token).send(),
        app.post(&reschedule_path)
            .token(&token)
            .json(json!({"start": at(day, 14, 0)}))
            .send()
    );
    cancel.expect(200);
    let final_state = app
        .get(&format!("/api/v1/bookings/{id}"))
        .token(&token)
        .send()
        .await;
    let final_state = final_state.expect(200).clone();
    assert_eq!(final_state["status"], "cancelled");
    match reschedule.status.as_u16() {
        200 => assert_eq!(final_state["start"], at(day, 14, 0)),
        409 => assert_eq!(final_state["start"], at(day, 10, 0)),
        other => panic!("unexpected reschedule status {other}"),
    }
    // Whatever the order, neither time is held any more.
    for start in [at(day, 10, 0), at(day, 14, 0)] {
        app.post("/api/v1/bookings")
            .token(&token)
            .json(booking_body(&clinic.therapist_id, type_id, &start))
            .send()
            .await
            .expect(201);
    }
}

#[actix_web::test]
async fn complete_and_no_show_only_after_the_start_by_staff() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let mut ids = Vec::new();
    for hour in [10, 12] {
        let booked = app
            .post("/api/v1/bookings")
            .token(&token)
            .json(booking_body(
                &clinic.therapist_id,
                type_id,
                &at(day, hour, 0),
            ))
            .send()
            .await;
        ids.push(booked.expect(201)["id"].as_str().unwrap().to_owned());
    }
    let early = app
        .post(&format!("/api/v1/bookings/{}/complete", ids[0]))
        .token(&clinic.admin)
        .send()
        .await;
    early.expect(409);
    assert_eq!(early.problem_type(), "not-started");
    app.post(&format!("/api/v1/bookings/{}/complete", ids[0]))
        .token(&token)
        .send()
        .await
        .expect(403);

    // Time passes: move both bookings into the past (a fixture the API rightly refuses).
    for (id, day) in ids.iter().zip(["05", "06"]) {
        app.sql(format!(
            "UPDATE bookings SET start_at = '2026-01-{day} 18:00:00', end_at = '2026-01-{day} 19:00:00', \
             blocked_until = '2026-01-{day} 19:10:00' WHERE id = '{id}'"
        ))
        .await;
    }
    let done = app
        .post(&format!("/api/v1/bookings/{}/complete", ids[0]))
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(done.expect(200)["status"], "completed");
    let missed = app
        .post(&format!("/api/v1/bookings/{}/no-show", ids[1]))
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(missed.expect(200)["status"], "no_show");
    app.post(&format!("/api/v1/bookings/{}/no-show", ids[0]))
        .token(&clinic.admin)
        .send()
        .await
        .expect(409);
    app.post(&format!("/api/v1/bookings/{}/cancel", ids[0]))
        .token(&clinic.admin)
        .send()
        .await
        .expect(409);
}

#[actix_web::test]
async fn therapists_see_and_manage_their_own_bookings() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (therapist_user, therapist_token) =
        app.user_with_role("maya@example.com", "therapist").await;
    app.patch(&format!("/api/v1/therapists/{}", clinic.therapist_id))
        .token(&clinic.admin)
        .json(json!({"user_id": therapist_user}))
        .send()
        .await
        .expect(200);
    let client = app.register("a@example.com").await;
    let client_id = client["user"]["id"].as_str().unwrap();
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    // The therapist books on the client's behalf.
    let mut body = booking_body(&clinic.therapist_id, type_id, &at(day, 10, 0));
    body["client_id"] = json!(client_id);
    let booked = app
        .post("/api/v1/bookings")
        .token(&therapist_token)
        .json(body.clone())
        .send()
        .await;
    assert_eq!(booked.expect(201)["client_id"], client_id);
    // Staff must name the client.
    body.as_object_mut().unwrap().remove("client_id");
    app.post("/api/v1/bookings")
        .token(&therapist_token)
        .json(body)
        .send()
        .await
        .expect(422);
    let list = app
        .get("/api/v1/bookings")
        .token(&therapist_token)
        .send()
        .await;
    assert_eq!(list.expect(200)["items"].as_array().unwrap().len(), 1);
    // Another therapist sees nothing of it.
    let (_, stranger) = app.user_with_role("liam@example.com", "therapist").await;
    let list = app.get("/api/v1/bookings").token(&stranger).send().await;
    assert_eq!(list.expect(200)["items"], json!([]));
}

#[actix_web::test]
async fn the_per_client_cap_holds() {
    let app = TestApp::spawn_with(Options {
        env: [("MAX_FUTURE_BOOKINGS_PER_CLIENT", "2".to_owned())].into(),
    })
    .await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    for hour in [9, 11] {
        app.post("/api/v1/bookings")
            .token(&token)
            .json(booking_body(
                &clinic.therapist_id,
                type_id,
                &at(day, hour, 0),
            ))
            .send()
            .await
            .expect(201);
    }
    let third = app
        .post("/api/v1/bookings")
        .token(&token)
        .json(booking_body(&clinic.therapist_id, type_id, &at(day, 13, 0)))
        .send()
        .await;
    third.expect(409);
    assert_eq!(third.problem_type(), "booking-limit");
}

#[actix_web::test]
async fn listing_filters_and_pages_by_start() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let clients = app.clients(5).await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    for (i, hour) in [13, 9, 15, 11, 10].into_iter().enumerate() {
        let minute = if hour == 10 { 15 } else { 0 };
        let start = if hour == 10 {
            at(local_date(8), 10, minute)
        } else {
            at(day, hour, minute)
        };
        app.post("/api/v1/bookings")
            .token(&clients[i].1)
            .json(booking_body(&clinic.therapist_id, type_id, &start))
            .send()
            .await
            .expect(201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/bookings?limit=2&cursor={c}"),
            None => "/api/v1/bookings?limit=2".to_owned(),
        };
        let page = app.get(&url).token(&clinic.admin).send().await;
        let page = page.expect(200).clone();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["start"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen, sorted);

    let on_day = app
        .get(&format!("/api/v1/bookings?from={day}&to={day}"))
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(on_day.expect(200)["items"].as_array().unwrap().len(), 4);
    let mine = app
        .get(&format!("/api/v1/bookings?client_id={}", clients[0].0))
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(mine.expect(200)["items"].as_array().unwrap().len(), 1);
    let cancelled = app
        .get("/api/v1/bookings?status=cancelled")
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(cancelled.expect(200)["items"], json!([]));
    app.get("/api/v1/bookings?status=maybe")
        .token(&clinic.admin)
        .send()
        .await
        .expect(400);
    app.get("/api/v1/bookings?from=yesterday")
        .token(&clinic.admin)
        .send()
        .await
        .expect(400);
}

#[actix_web::test]
async fn an_unknown_status_in_the_database_is_an_error_never_confirmed() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let resp = app
        .post("/api/v1/bookings")
        .token(&clinic.admin)
        .json(
            json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id,
                     "duration_minutes": 60, "start": at(local_date(7), 10, 0),
                     "client_id": app.register("c@example.com").await["user"]["id"]}),
        )
        .send()
        .await;
    let id = resp.expect(201)["id"].as_str().unwrap().to_owned();
    // A status written by a newer binary (the CHECK constraint set aside to simulate it).
    let update = format!("UPDATE bookings SET status = 'held' WHERE id = '{id}'");
    if app.database_url.starts_with("postgres") {
        app.sql("ALTER TABLE bookings DROP CONSTRAINT bookings_status_check".to_owned())
            .await;
        app.sql(update).await;
    } else {
        use diesel::{Connection, RunQueryDsl};
        let path = app.database_url.trim_start_matches("sqlite://");
        let mut other = diesel::SqliteConnection::establish(path).unwrap();
        diesel::sql_query("PRAGMA ignore_check_constraints = ON")
            .execute(&mut other)
            .unwrap();
        diesel::sql_query(update).execute(&mut other).unwrap();
    }
    let read = app
        .get(&format!("/api/v1/bookings/{id}"))
        .token(&clinic.admin)
        .send()
        .await;
    read.expect(500);
    assert!(!String::from_utf8_lossy(&read.raw).contains("confirmed"));
}
