//! Recurring series over the public API: booked, previewed, refused or skipped, read and
//! cancelled; the same local time across a daylight-saving change.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    LOS_ANGELES, Options, TestApp, Zone, at, at_in, local_date, next_dst_change, vancouver,
};

fn series_body(therapist: &str, type_id: &str, start: &str, every_weeks: u32, count: u32) -> Value {
    json!({"therapist_id": therapist, "massage_type_id": type_id, "duration_minutes": 60,
           "start": start, "every_weeks": every_weeks, "count": count})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

/// The local date `weeks` weeks after `day`.
fn weeks_after(day: NaiveDate, weeks: u32) -> NaiveDate {
    day + chrono::Duration::weeks(i64::from(weeks))
}

fn starts(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["start"].as_str().unwrap())
        .collect()
}

fn utc_offset_hours(zone: &Zone, start: &str) -> i32 {
    use chrono::Offset;
    let t: DateTime<Utc> = start.parse().unwrap();
    t.with_timezone(zone).offset().fix().local_minus_utc() / 3600
}

#[actix_web::test]
async fn a_weekly_series_books_every_occurrence_at_the_same_local_time() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.register("ana@example.com").await;
    let token = client["access_token"].as_str().unwrap();
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let resp = app
        .post("/api/v1/booking-series")
        .token(token)
        .json(with(
            series_body(&clinic.therapist_id, type_id, &at(day, 10, 0), 1, 4),
            "notes",
            json!("Lower back"),
        ))
        .send()
        .await;
    let series = resp.expect(201).clone();
    let id = series["id"].as_str().unwrap();
    assert_eq!(
        resp.header("location").unwrap(),
        format!("/api/v1/booking-series/{id}")
    );
    assert_eq!(series["client_id"], client["user"]["id"]);
    assert_eq!(series["every_weeks"], 1);
    assert_eq!(series["count"], 4);
    assert_eq!(series["skipped"], json!([]));
    let expected: Vec<String> = (0..4).map(|k| at(weeks_after(day, k), 10, 0)).collect();
    assert_eq!(starts(&series["bookings"]), expected);
    for booking in series["bookings"].as_array().unwrap() {
        assert_eq!(booking["series_id"], id);
        assert_eq!(booking["status"], "confirmed");
        assert_eq!(booking["notes"], "Lower back");
        let option = clinic.swedish["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["duration_minutes"] == 60)
            .unwrap();
        assert_eq!(booking["price_cents"], option["price_cents"]);
    }
    assert_eq!(app.count("bookings").await, 4);
    assert_eq!(app.count("booking_series").await, 1);
    // Each occurrence is announced like a single booking.
    assert_eq!(
        app.count("notifications WHERE kind = 'booking_confirmed'")
            .await,
        4
    );

    // Read back: the series, and each booking with its series.
    let read = app
        .get(&format!("/api/v1/booking-series/{id}"))
        .token(token)
        .send()
        .await;
    let read = read.expect(200);
    assert_eq!(read["bookings"], series["bookings"]);
    assert!(read.get("skipped").is_none());
    let first = series["bookings"][0]["id"].as_str().unwrap();
    let one = app
        .get(&format!("/api/v1/bookings/{first}"))
        .token(token)
        .send()
        .await;
    assert_eq!(one.expect(200)["series_id"], id);

    // A single booking has no series.
    let single = app
        .book(token, &clinic.therapist_id, type_id, 60, &at(day, 14, 0))
        .await;
    assert_eq!(single.expect(201)["series_id"], Value::Null);
}

#[actix_web::test]
async fn every_two_weeks_and_on_a_clients_behalf() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.register("ben@example.com").await;
    let client_id = client["user"]["id"].as_str().unwrap();
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(3);
    let resp = app
        .post("/api/v1/booking-series")
        .token(&clinic.admin)
        .json(with(
            series_body(&clinic.therapist_id, type_id, &at(day, 11, 15), 2, 3),
            "client_id",
            json!(client_id),
        ))
        .send()
        .await;
    let series = resp.expect(201);
    assert_eq!(series["client_id"], client_id);
    assert_eq!(series["every_weeks"], 2);
    assert_eq!(
        starts(&series["bookings"]),
        [0, 2, 4].map(|w| at(weeks_after(day, w), 11, 15))
    );
    // The client sees the series staff booked for them.
    let token = client["access_token"].as_str().unwrap();
    app.get(&format!(
        "/api/v1/booking-series/{}",
        series["id"].as_str().unwrap()
    ))
    .token(token)
    .send()
    .await
    .expect(200);
}

#[actix_web::test]
async fn a_preview_shows_each_occurrence_and_books_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let other = app.client_token("b@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(5);
    app.book(
        &other,
        &clinic.therapist_id,
        type_id,
        60,
        &at(weeks_after(day, 1), 10, 30),
    )
    .await
    .expect(201);
    let resp = app
        .post("/api/v1/booking-series/preview")
        .token(&token)
        .json(series_body(
            &clinic.therapist_id,
            type_id,
            &at(day, 10, 0),
            1,
            3,
        ))
        .send()
        .await;
    let preview = resp.expect(200);
    let want: Vec<Value> = (0..3)
        .map(|k| {
            let start = at(weeks_after(day, k), 10, 0);
            let end = at(weeks_after(day, k), 11, 0);
            if k == 1 {
                json!({"start": start, "end": end, "available": false, "reason": "taken"})
            } else {
                json!({"start": start, "end": end, "available": true})
            }
        })
        .collect();
    assert_eq!(preview["occurrences"], json!(want));
    assert_eq!(app.count("bookings").await, 1);
    assert_eq!(app.count("booking_series").await, 0);
}

#[actix_web::test]
async fn a_taken_occurrence_fails_the_whole_series_or_is_skipped() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let other = app.client_token("b@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(4);
    let taken = at(weeks_after(day, 2), 10, 0);
    app.book(&other, &clinic.therapist_id, type_id, 60, &taken)
        .await
        .expect(201);
    let body = series_body(&clinic.therapist_id, type_id, &at(day, 10, 0), 1, 4);

    // `fail` is the default: 409 listing the occurrence, and nothing booked.
    for body in [
        body.clone(),
        with(body.clone(), "on_conflict", json!("fail")),
    ] {
        let resp = app
            .post("/api/v1/booking-series")
            .token(&token)
            .json(body)
            .send()
            .await;
        let problem = resp.expect(409);
        assert_eq!(resp.problem_type(), "series-conflict");
        assert_eq!(
            problem["occurrences"],
            json!([{"start": taken, "reason": "taken"}])
        );
        assert!(problem["detail"].as_str().unwrap().contains(&taken));
        assert_eq!(app.count("bookings").await, 1);
        assert_eq!(app.count("booking_series").await, 0);
        assert_eq!(
            app.count("notifications WHERE kind = 'booking_confirmed'")
                .await,
            1
        );
    }

    // `skip`: the rest are booked and the taken one listed.
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(with(body, "on_conflict", json!("skip")))
        .send()
        .await;
    let series = resp.expect(201);
    assert_eq!(
        starts(&series["bookings"]),
        [0, 1, 3].map(|w| at(weeks_after(day, w), 10, 0))
    );
    assert_eq!(
        series["skipped"],
        json!([{"start": taken, "reason": "taken"}])
    );
    assert_eq!(series["count"], 4);
    assert_eq!(app.count("bookings").await, 4);
}

#[actix_web::test]
async fn the_per_client_cap_counts_every_occurrence() {
    let app = TestApp::spawn_with(Options {
        env: [("MAX_FUTURE_BOOKINGS_PER_CLIENT", "3".to_owned())].into(),
    })
    .await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(2);
    app.book(&token, &clinic.therapist_id, type_id, 60, &at(day, 9, 0))
        .await
        .expect(201);
    let body = series_body(&clinic.therapist_id, type_id, &at(day, 13, 0), 1, 3);

    // One booking held, three asked, a cap of three: refused like a single booking over it.
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(body.clone())
        .send()
        .await;
    resp.expect(409);
    assert_eq!(resp.problem_type(), "booking-limit");
    assert_eq!(app.count("bookings").await, 1);

    let last = at(weeks_after(day, 2), 13, 0);
    let preview = app
        .post("/api/v1/booking-series/preview")
        .token(&token)
        .json(body.clone())
        .send()
        .await;
    let preview = preview.expect(200);
    assert_eq!(preview["occurrences"][1]["available"], true);
    assert_eq!(
        preview["occurrences"][2],
        json!({"start": last, "end": at(weeks_after(day, 2), 14, 0), "available": false, "reason": "booking_limit"})
    );

    // `skip` books up to the cap and lists the occurrence past it.
    let skip = with(body, "on_conflict", json!("skip"));
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(skip.clone())
        .send()
        .await;
    let series = resp.expect(201);
    assert_eq!(series["bookings"].as_array().unwrap().len(), 2);
    assert_eq!(
        series["skipped"],
        json!([{"start": last, "reason": "booking_limit"}])
    );
    assert_eq!(app.count("bookings").await, 3);

    // At the cap, nothing can be booked: a conflict listing every occurrence.
    let later = with(skip, "start", json!(at(weeks_after(day, 5), 13, 0)));
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(later)
        .send()
        .await;
    let problem = resp.expect(409);
    assert_eq!(resp.problem_type(), "series-conflict");
    let reasons: Vec<&Value> = problem["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["reason"])
        .collect();
    assert_eq!(reasons, [&json!("booking_limit"); 3]);
    assert_eq!(app.count("bookings").await, 3);
    assert_eq!(app.count("booking_series").await, 1);
}

#[actix_web::test]
async fn invalid_series_are_422_and_book_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.register("a@example.com").await;
    let token = client["access_token"].as_str().unwrap();
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let body = series_body(&clinic.therapist_id, type_id, &at(day, 10, 0), 1, 4);
    let cases = [
        ("every_weeks", with(body.clone(), "every_weeks", json!(0))),
        ("every_weeks", with(body.clone(), "every_weeks", json!(5))),
        ("count", with(body.clone(), "count", json!(1))),
        ("count", with(body.clone(), "count", json!(13))),
        ("price_cents", with(body.clone(), "price_cents", json!(100))),
        (
            "on_conflict",
            with(body.clone(), "on_conflict", json!("retry")),
        ),
        (
            "client_id",
            with(body.clone(), "client_id", client["user"]["id"].clone()),
        ),
        // The first start is what a single booking would refuse as never bookable.
        ("start", with(body.clone(), "start", json!(at(day, 10, 5)))),
        ("start", with(body.clone(), "start", json!(at(day, 20, 0)))),
        (
            "start",
            with(body.clone(), "start", json!(at(local_date(-7), 10, 0))),
        ),
        (
            "duration_minutes",
            with(body.clone(), "duration_minutes", json!(45)),
        ),
    ];
    for path in ["/api/v1/booking-series", "/api/v1/booking-series/preview"] {
        for (field, case) in &cases {
            let resp = app.post(path).token(token).json(case.clone()).send().await;
            let problem = resp.expect(422);
            assert_eq!(problem["errors"][0]["field"], *field, "{path} {case}");
        }
    }
    // Staff must name the client.
    let resp = app
        .post("/api/v1/booking-series")
        .token(&clinic.admin)
        .json(body)
        .send()
        .await;
    assert_eq!(resp.expect(422)["errors"][0]["field"], "client_id");
    assert_eq!(app.count("bookings").await, 0);
    assert_eq!(app.count("booking_series").await, 0);
    // No token, no series.
    app.post("/api/v1/booking-series/preview")
        .json(series_body(
            &clinic.therapist_id,
            type_id,
            &at(day, 10, 0),
            1,
            2,
        ))
        .send()
        .await
        .expect(401);
}

#[actix_web::test]
async fn an_idempotency_key_replays_the_series() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(6);
    let body = series_body(&clinic.therapist_id, type_id, &at(day, 10, 0), 1, 2);
    let send = |body: Value| {
        app.post("/api/v1/booking-series")
            .token(&token)
            .header("Idempotency-Key", "series-1")
            .json(body)
            .send()
    };
    let first = send(body.clone()).await;
    first.expect(201);
    let again = send(body.clone()).await;
    again.expect(201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(app.count("bookings").await, 2);
    assert_eq!(app.count("booking_series").await, 1);
    send(with(body, "count", json!(3))).await.expect(422);
    assert_eq!(app.count("bookings").await, 2);
}

#[actix_web::test]
async fn cancelling_a_series_keeps_a_clients_occurrences_inside_the_window() {
    // Ten days: the first occurrence (a week ahead) is inside it, the others are not.
    let app = TestApp::spawn_with(Options {
        env: [("CANCELLATION_WINDOW_HOURS", "240".to_owned())].into(),
    })
    .await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let day = local_date(7);
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(series_body(
            &clinic.therapist_id,
            type_id,
            &at(day, 10, 0),
            1,
            4,
        ))
        .send()
        .await;
    let series = resp.expect(201).clone();
    let id = series["id"].as_str().unwrap();
    let ids: Vec<&str> = series["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    // One occurrence cancelled on its own beforehand is left alone.
    app.post(&format!("/api/v1/bookings/{}/cancel", ids[3]))
        .token(&clinic.admin)
        .send()
        .await
        .expect(200);

    let resp = app
        .post(&format!("/api/v1/booking-series/{id}/cancel"))
        .token(&token)
        .json(json!({"reason": "Moving away"}))
        .send()
        .await;
    let done = resp.expect(200).clone();
    assert_eq!(done["id"], id);
    let cancelled: Vec<&str> = done["cancelled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(cancelled, [ids[1], ids[2]]);
    for b in done["cancelled"].as_array().unwrap() {
        assert_eq!(b["status"], "cancelled");
        assert_eq!(b["cancel_reason"], "Moving away");
    }
    assert_eq!(done["kept"].as_array().unwrap().len(), 1);
    assert_eq!(done["kept"][0]["id"], ids[0]);
    assert_eq!(done["kept"][0]["status"], "confirmed");
    // Each cancel is announced like a single one.
    assert_eq!(
        app.count("notifications WHERE kind = 'booking_cancelled'")
            .await,
        3
    );
    let read = app
        .get(&format!("/api/v1/booking-series/{id}"))
        .token(&token)
        .send()
        .await;
    let statuses: Vec<&Value> = read.expect(200)["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!("confirmed"),
            &json!("cancelled"),
            &json!("cancelled"),
            &json!("cancelled")
        ]
    );

    // Staff are not held by the window.
    let resp = app
        .post(&format!("/api/v1/booking-series/{id}/cancel"))
        .token(&clinic.admin)
        .send()
        .await;
    let done = resp.expect(200);
    assert_eq!(done["cancelled"][0]["id"], ids[0]);
    assert_eq!(done["kept"], json!([]));
    // Nothing left to cancel.
    let resp = app
        .post(&format!("/api/v1/booking-series/{id}/cancel"))
        .token(&token)
        .send()
        .await;
    assert_eq!(
        resp.expect(200),
        &json!({"id": id, "cancelled": [], "kept": []})
    );
}

#[actix_web::test]
async fn another_clients_series_is_not_found() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let owner = app.client_token("a@example.com").await;
    let stranger = app.client_token("b@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let resp = app
        .post("/api/v1/booking-series")
        .token(&owner)
        .json(series_body(
            &clinic.therapist_id,
            type_id,
            &at(local_date(5), 10, 0),
            1,
            2,
        ))
        .send()
        .await;
    let id = resp.expect(201)["id"].as_str().unwrap().to_owned();
    for (method_path, body) in [
        (format!("/api/v1/booking-series/{id}"), None),
        (
            format!("/api/v1/booking-series/{id}/cancel"),
            Some(json!({})),
        ),
    ] {
        let req = match body {
            None => app.get(&method_path),
            Some(b) => app.post(&method_path).json(b),
        };
        let resp = req.token(&stranger).send().await;
        resp.expect(404);
    }
    assert_eq!(app.count("bookings WHERE status = 'confirmed'").await, 2);
    // Staff see it; an unknown or malformed id names nothing.
    app.get(&format!("/api/v1/booking-series/{id}"))
        .token(&clinic.admin)
        .send()
        .await
        .expect(200);
    let unknown = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/booking-series/{unknown}"))
        .token(&owner)
        .send()
        .await
        .expect(404);
    app.get("/api/v1/booking-series/not-a-uuid")
        .token(&owner)
        .send()
        .await
        .expect(404);
}

/// A horizon reaching `date` plus a few weeks (the default 90 days may fall short of the next
/// change).
fn horizon_past(date: NaiveDate) -> Options {
    let days = (date - local_date(0)).num_days() + 60;
    Options {
        env: [("BOOKING_HORIZON_DAYS", days.max(90).to_string())].into(),
    }
}

/// In Los Angeles: Vancouver keeps UTC−7 all year from 2026-11-01 (see
/// `a_vancouver_series_keeps_its_utc_time_through_march_and_november`).
#[actix_web::test]
async fn a_series_across_a_dst_change_keeps_its_local_time() {
    let la: Zone = LOS_ANGELES.parse().unwrap();
    let change = next_dst_change(&la, local_date(8), None);
    let app = TestApp::spawn_with(horizon_past(change)).await;
    let clinic = app.clinic().await;
    app.move_location(&clinic.admin, &clinic.location_id, LOS_ANGELES)
        .await;
    let at = |d, h, m| at_in(&la, d, h, m);
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    // Two weekly occurrences before the change (when far enough ahead), then its day and after.
    let before = if change - chrono::Duration::weeks(2) > local_date(1) {
        2
    } else {
        1
    };
    let first = change - chrono::Duration::weeks(before);
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(series_body(
            &clinic.therapist_id,
            type_id,
            &at(first, 10, 0),
            1,
            4,
        ))
        .send()
        .await;
    let series = resp.expect(201);
    let got = starts(&series["bookings"]);
    let want: Vec<String> = (0..4).map(|k| at(weeks_after(first, k), 10, 0)).collect();
    assert_eq!(got, want);
    // Ten o'clock local each time, so in UTC the start moves by the hour the clocks moved.
    for start in &got {
        let local = start.parse::<DateTime<Utc>>().unwrap().with_timezone(&la);
        assert_eq!(local.format("%H:%M").to_string(), "10:00");
    }
    let (offset_before, offset_after) = (
        utc_offset_hours(&la, got[before as usize - 1]),
        utc_offset_hours(&la, got[before as usize]),
    );
    assert_eq!((offset_after - offset_before).abs(), 1);
    let hour = |s: &str| s.parse::<DateTime<Utc>>().unwrap().format("%H").to_string();
    assert_ne!(hour(got[0]), hour(got[3]));
}

/// In Los Angeles, whose clocks still spring forward (Vancouver's no longer do).
#[actix_web::test]
async fn a_time_the_clocks_skip_is_listed_on_the_spring_forward_date() {
    let la: Zone = LOS_ANGELES.parse().unwrap();
    let change = next_dst_change(&la, local_date(8), Some(true));
    let app = TestApp::spawn_with(horizon_past(change)).await;
    let admin = app.admin().await;
    let location_id = app.location_ids().await[0].clone();
    app.move_location(&admin, &location_id, LOS_ANGELES).await;
    let at = |d, h, m| at_in(&la, d, h, m);
    let night = app
        .therapist(&admin, "Night owl", &location_id, ("01:00", "06:00"))
        .await;
    let token = app.client_token("a@example.com").await;
    let type_id = app.massage_type("swedish").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = change - chrono::Duration::weeks(1);
    let body = series_body(&night, &type_id, &at(first, 2, 30), 1, 3);
    // 02:30 does not exist on the change's date; it is shown read in standard time (03:30 PDT).
    let skipped = json!([{"start": at(change, 3, 30), "reason": "nonexistent_local_time"}]);
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(body.clone())
        .send()
        .await;
    assert_eq!(resp.expect(409)["occurrences"], skipped);
    assert_eq!(app.count("bookings").await, 0);
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(with(body, "on_conflict", json!("skip")))
        .send()
        .await;
    let series = resp.expect(201);
    assert_eq!(series["skipped"], skipped);
    assert_eq!(
        starts(&series["bookings"]),
        [at(first, 2, 30), at(weeks_after(first, 2), 2, 30)]
    );
}

#[actix_web::test]
async fn concurrent_series_for_the_same_times_book_each_time_once() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let clients = app.clients(8).await;
    let day = local_date(3);
    let body = with(
        series_body(&clinic.therapist_id, type_id, &at(day, 15, 0), 1, 3),
        "on_conflict",
        json!("skip"),
    );
    let answers = futures::future::join_all(clients.iter().map(|(_, token)| {
        app.post("/api/v1/booking-series")
            .token(token)
            .json(body.clone())
            .send()
    }))
    .await;
    let mut booked = 0;
    for answer in &answers {
        match answer.status.as_u16() {
            201 => booked += answer.body["bookings"].as_array().unwrap().len(),
            409 => assert_eq!(answer.problem_type(), "series-conflict"),
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    assert_eq!(booked, 3);
    assert_eq!(app.count("bookings").await, 3);
}

/// Vancouver keeps UTC−7 all year from 2026-11-01 (tzdata 2026a+): a weekly 10:00 across the
/// second Sunday of March (where clocks used to spring forward) stays at 17:00 UTC. With the
/// old rules (chrono-tz's tzdata 2025b) the occurrences before it were 18:00 UTC.
#[actix_web::test]
async fn a_vancouver_series_keeps_its_utc_time_through_march_and_november() {
    use chrono::Datelike;
    // The first second-Sunday-of-March at least three weeks ahead.
    let mut year = local_date(0).year();
    let march = loop {
        let first = NaiveDate::from_ymd_opt(year, 3, 1).unwrap();
        let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
        let second_sunday = first + chrono::Duration::days(i64::from(to_sunday) + 7);
        if second_sunday >= local_date(21) {
            break second_sunday;
        }
        year += 1;
    };
    assert!(next_dst_change(&LOS_ANGELES.parse().unwrap(), march, None) == march);
    let app = TestApp::spawn_with(horizon_past(march)).await;
    let clinic = app.clinic().await;
    let token = app.client_token("a@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let first = march - chrono::Duration::weeks(2);
    let resp = app
        .post("/api/v1/booking-series")
        .token(&token)
        .json(series_body(
            &clinic.therapist_id,
            type_id,
            &at(first, 10, 0),
            1,
            4,
        ))
        .send()
        .await;
    let series = resp.expect(201);
    let got = starts(&series["bookings"]);
    let want: Vec<String> = (0..4)
        .map(|k| format!("{}T17:00:00Z", weeks_after(first, k)))
        .collect();
    assert_eq!(got, want);
    for start in &got {
        assert_eq!(utc_offset_hours(&vancouver(), start), -7);
    }
}
