//! Date overrides of a therapist's hours and closures of a location, through the HTTP API: what
//! /slots offers, what a booking may take, who may change them, and the `holidays` command.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::{Value, json};

use crate::helpers::{Clinic, Options, TestApp, at, local_date};

fn type_id(clinic: &Clinic) -> String {
    clinic.swedish["id"].as_str().unwrap().to_owned()
}

fn overrides_path(therapist_id: &str) -> String {
    format!("/api/v1/therapists/{therapist_id}/overrides")
}

fn closures_path(location_id: &str) -> String {
    format!("/api/v1/locations/{location_id}/closures")
}

fn hours(start: &str, end: &str, location_id: &str) -> Value {
    json!({"start": start, "end": end, "location_id": location_id})
}

/// The first `weekday` at least `days` ahead (Vancouver).
fn next(weekday: Weekday, days: i64) -> NaiveDate {
    let mut d = local_date(days);
    while d.weekday() != weekday {
        d += Duration::days(1);
    }
    d
}

/// Every 15 minutes from `from` to `to` (inclusive), as UTC instants of `day` in Vancouver.
fn every_quarter(day: NaiveDate, from: (u32, u32), to: (u32, u32)) -> Vec<String> {
    let (mut h, mut m) = from;
    let mut out = Vec::new();
    while (h, m) <= to {
        out.push(at(day, h, m));
        m += 15;
        if m == 60 {
            h += 1;
            m = 0;
        }
    }
    out
}

/// A therapist with a login, working Monday to Friday 09:00–17:00 at the first location.
async fn weekday_therapist(app: &TestApp, admin: &str, email: &str) -> (String, String) {
    let (user_id, token) = app.user_with_role(email, "therapist").await;
    let location = app.location_ids().await[0].clone();
    let types: Vec<Value> = app.get("/api/v1/massage-types").send().await.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    let created = app
        .post("/api/v1/therapists")
        .token(admin)
        .json(json!({"name": "Robin", "user_id": user_id, "massage_type_ids": types}))
        .send()
        .await;
    let id = created.expect(201)["id"].as_str().unwrap().to_owned();
    let rules: Vec<Value> = ["monday", "tuesday", "wednesday", "thursday", "friday"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00", "location_id": location}))
        .collect();
    app.put(&format!("/api/v1/therapists/{id}/schedule"))
        .token(admin)
        .json(json!({ "rules": rules }))
        .send()
        .await
        .expect(200);
    (id, token)
}

#[actix_web::test]
async fn an_override_replaces_that_dates_hours_and_delete_restores_them() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = type_id(&clinic);
    let day = local_date(7);
    let path = format!("{}/{day}", overrides_path(&clinic.therapist_id));
    let before = app.slot_starts(&type_id, 60, day, "").await;
    assert_eq!(before.len(), 28);

    let body = json!({"rules": [hours("12:00", "14:00", &clinic.location_id)]});
    let put = app.put(&path).token(&clinic.admin).json(body).send().await;
    assert_eq!(
        put.expect(200),
        &json!({"date": day.to_string(), "rules": [hours("12:00", "14:00", &clinic.location_id)]})
    );
    // 60 min + 10 min buffer inside 12:00–14:00.
    assert_eq!(
        app.slot_starts(&type_id, 60, day, "").await,
        every_quarter(day, (12, 0), (12, 45))
    );
    // The days around it keep their weekly hours.
    for other in [day - Duration::days(1), day + Duration::days(1)] {
        assert_eq!(app.slot_starts(&type_id, 60, other, "").await.len(), 28);
    }
    // A booking follows the override: the old hours are outside the schedule, the new ones fine.
    let client = app.client_token("c@example.com").await;
    let refused = app
        .book(&client, &clinic.therapist_id, &type_id, 60, &at(day, 9, 0))
        .await;
    refused.expect(422);
    assert_eq!(refused.body["errors"][0]["field"], "start");
    app.book(&client, &clinic.therapist_id, &type_id, 60, &at(day, 12, 0))
        .await
        .expect(201);

    // Listed by date.
    let list = app
        .get(&format!(
            "{}?from={}&to={}",
            overrides_path(&clinic.therapist_id),
            day - Duration::days(3),
            day + Duration::days(3)
        ))
        .token(&clinic.admin)
        .send()
        .await;
    let items = list.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["date"], day.to_string());
    let elsewhere = app
        .get(&format!(
            "{}?from={}&to={}",
            overrides_path(&clinic.therapist_id),
            day + Duration::days(1),
            day + Duration::days(30)
        ))
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(elsewhere.expect(200)["items"], json!([]));

    // Replaced again as a whole: 12:00–15:00 still holds the 12:00 booking.
    app.put(&path)
        .token(&clinic.admin)
        .json(json!({"rules": [hours("12:00", "15:00", &clinic.location_id)]}))
        .send()
        .await
        .expect(200);

    // Deleting restores the weekly hours (less the booked hour and its buffer).
    app.delete(&path)
        .token(&clinic.admin)
        .send()
        .await
        .expect(204);
    let restored = app.slot_starts(&type_id, 60, day, "").await;
    assert_eq!(restored.first(), Some(&at(day, 9, 0)));
    assert_eq!(restored.last(), Some(&at(day, 15, 45)));
    app.delete(&path)
        .token(&clinic.admin)
        .send()
        .await
        .expect(404);
    assert_eq!(app.count("schedule_overrides").await, 0);
    assert_eq!(app.count("schedule_override_rules").await, 0);
}

#[actix_web::test]
async fn an_empty_override_is_a_day_off() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = type_id(&clinic);
    let day = local_date(8);
    app.put(&format!("{}/{day}", overrides_path(&clinic.therapist_id)))
        .token(&clinic.admin)
        .json(json!({"rules": []}))
        .send()
        .await
        .expect(200);
    assert!(app.slot_starts(&type_id, 60, day, "").await.is_empty());
    assert_eq!(
        app.slot_starts(&type_id, 60, day + Duration::days(1), "")
            .await
            .len(),
        28
    );
    let client = app.client_token("c@example.com").await;
    let refused = app
        .book(&client, &clinic.therapist_id, &type_id, 60, &at(day, 10, 0))
        .await;
    refused.expect(422);
    assert_eq!(refused.body["errors"][0]["field"], "start");
    assert_eq!(app.count("bookings").await, 0);
}

#[actix_web::test]
async fn an_override_on_a_day_without_weekly_hours_adds_them_even_at_another_location() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (therapist, _) = weekday_therapist(&app, &admin, "robin@example.com").await;
    let locations = app.location_ids().await;
    let type_id = app.massage_type("swedish").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let saturday = next(Weekday::Sat, 3);
    assert!(app.slot_starts(&type_id, 60, saturday, "").await.is_empty());
    app.put(&format!("{}/{saturday}", overrides_path(&therapist)))
        .token(&admin)
        .json(json!({"rules": [
            hours("10:00", "12:00", &locations[0]),
            hours("13:00", "15:00", &locations[1]),
        ]}))
        .send()
        .await
        .expect(200);
    let mut expected = every_quarter(saturday, (10, 0), (10, 45));
    expected.extend(every_quarter(saturday, (13, 0), (13, 45)));
    assert_eq!(app.slot_starts(&type_id, 60, saturday, "").await, expected);
    // The location filter finds the therapist by the override's hours there.
    assert_eq!(
        app.slot_starts(
            &type_id,
            60,
            saturday,
            &format!("&location_id={}", locations[1])
        )
        .await,
        every_quarter(saturday, (13, 0), (13, 45))
    );
    let client = app.client_token("c@example.com").await;
    let booked = app
        .book(&client, &therapist, &type_id, 60, &at(saturday, 13, 0))
        .await;
    assert_eq!(booked.expect(201)["location_id"], locations[1].as_str());
    // The next Saturday has no override and so no hours.
    assert!(
        app.slot_starts(&type_id, 60, saturday + Duration::days(7), "")
            .await
            .is_empty()
    );
}

#[actix_web::test]
async fn invalid_overrides_are_422_naming_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let day = local_date(7);
    let path = format!("{}/{day}", overrides_path(&clinic.therapist_id));
    let loc = clinic.location_id.as_str();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"rules": [hours("09:00", "13:00", loc), hours("12:00", "17:00", loc)]}),
            "rules[0]",
        ),
        (
            json!({"rules": [hours("17:00", "09:00", loc)]}),
            "rules[0].end",
        ),
        (
            json!({"rules": [hours("9am", "17:00", loc)]}),
            "rules[0].start",
        ),
        (
            json!({"rules": [hours("09:00", "25:00", loc)]}),
            "rules[0].end",
        ),
        (
            json!({"rules": [hours("09:00", "12:00", loc), hours("13:00", "17:00", "00000000-0000-0000-0000-000000000000")]}),
            "rules[1].location_id",
        ),
        (
            json!({"rules": [{"weekday": "monday", "start": "09:00", "end": "12:00", "location_id": loc}]}),
            "rules[0].weekday",
        ),
        (json!({}), "rules"),
    ];
    for (body, field) in cases {
        let resp = app
            .put(&path)
            .token(&clinic.admin)
            .json(body.clone())
            .send()
            .await;
        resp.expect(422);
        assert_eq!(
            resp.body["errors"][0]["field"], field,
            "{body}: {}",
            resp.body
        );
    }
    // The overlap names both rules.
    let overlap = app
        .put(&path)
        .token(&clinic.admin)
        .json(json!({"rules": [hours("09:00", "13:00", loc), hours("12:00", "17:00", loc)]}))
        .send()
        .await;
    let fields: Vec<&str> = overlap.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["rules[0]", "rules[1]"]);
    // …on the date's own weekday.
    let message = overlap.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&day.weekday().to_string()), "{message}");
    assert_eq!(app.count("schedule_overrides").await, 0);

    // A path that is not a date names nothing.
    for bad in ["2027-02-30", "tomorrow", "2027-3-1", "+12027-01-01"] {
        app.put(&format!("{}/{bad}", overrides_path(&clinic.therapist_id)))
            .token(&clinic.admin)
            .json(json!({"rules": []}))
            .send()
            .await
            .expect(404);
    }
    // The listing's window is checked.
    let list = overrides_path(&clinic.therapist_id);
    let backwards = app
        .get(&format!("{list}?from={day}&to={}", day - Duration::days(1)))
        .token(&clinic.admin)
        .send()
        .await;
    backwards.expect(422);
    assert_eq!(backwards.body["errors"][0]["field"], "to");
    app.get(&format!(
        "{list}?from={day}&to={}",
        day + Duration::days(367)
    ))
    .token(&clinic.admin)
    .send()
    .await
    .expect(422);
    app.get(&format!("{list}?from={day}"))
        .token(&clinic.admin)
        .send()
        .await
        .expect(400);
}

#[actix_web::test]
async fn an_override_that_strands_a_confirmed_booking_is_409_listing_it() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = type_id(&clinic);
    let day = local_date(7);
    let client = app.client_token("c@example.com").await;
    let booked = app
        .book(&client, &clinic.therapist_id, &type_id, 60, &at(day, 15, 0))
        .await;
    let booking_id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    let path = format!("{}/{day}", overrides_path(&clinic.therapist_id));
    let second_location = app.location_ids().await[1].clone();
    for rules in [
        json!([]),
        json!([hours("09:00", "15:30", &clinic.location_id)]),
        // the same hours, but at the other location
        json!([hours("09:00", "17:00", &second_location)]),
    ] {
        let resp = app
            .put(&path)
            .token(&clinic.admin)
            .json(json!({ "rules": rules }))
            .send()
            .await;
        resp.expect(409);
        assert_eq!(resp.problem_type(), "bookings-outside-hours");
        assert_eq!(resp.body["errors"][0]["field"], "bookings");
        assert!(
            resp.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(&booking_id),
            "{}",
            resp.body
        );
    }
    assert_eq!(app.count("schedule_overrides").await, 0);
    // Hours that still hold the massage are fine (off the old grid too).
    app.put(&path)
        .token(&clinic.admin)
        .json(json!({"rules": [hours("14:50", "16:00", &clinic.location_id)]}))
        .send()
        .await
        .expect(200);
    // Once the booking is cancelled, the day can be taken off.
    app.post(&format!("/api/v1/bookings/{booking_id}/cancel"))
        .token(&clinic.admin)
        .json(json!({}))
        .send()
        .await
        .expect(200);
    app.put(&path)
        .token(&clinic.admin)
        .json(json!({"rules": []}))
        .send()
        .await
        .expect(200);
}

#[actix_web::test]
async fn deleting_an_override_that_gave_a_booked_hour_is_409() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (therapist, _) = weekday_therapist(&app, &admin, "robin@example.com").await;
    let location = app.location_ids().await[0].clone();
    let type_id = app.massage_type("swedish").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let saturday = next(Weekday::Sat, 3);
    let path = format!("{}/{saturday}", overrides_path(&therapist));
    app.put(&path)
        .token(&admin)
        .json(json!({"rules": [hours("10:00", "12:00", &location)]}))
        .send()
        .await
        .expect(200);
    let client = app.client_token("c@example.com").await;
    let booked = app
        .book(&client, &therapist, &type_id, 60, &at(saturday, 10, 0))
        .await;
    let booking_id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    let resp = app.delete(&path).token(&admin).send().await;
    resp.expect(409);
    assert!(
        resp.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&booking_id)
    );
    assert_eq!(app.count("schedule_overrides").await, 1);
}

#[actix_web::test]
async fn a_therapist_manages_their_own_overrides_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (own, own_token) = weekday_therapist(&app, &admin, "robin@example.com").await;
    let (other, other_token) = weekday_therapist(&app, &admin, "sam@example.com").await;
    let client = app.client_token("c@example.com").await;
    let location = app.location_ids().await[0].clone();
    let day = local_date(9);
    let body = json!({"rules": [hours("10:00", "12:00", &location)]});
    let own_path = format!("{}/{day}", overrides_path(&own));
    let other_path = format!("{}/{day}", overrides_path(&other));
    let window = format!("?from={day}&to={day}");

    app.put(&own_path)
        .token(&own_token)
        .json(body.clone())
        .send()
        .await
        .expect(200);
    let mine = app
        .get(&format!("{}{window}", overrides_path(&own)))
        .token(&own_token)
        .send()
        .await;
    assert_eq!(mine.expect(200)["items"].as_array().unwrap().len(), 1);

    // Another therapist's: 403, as for the weekly schedule.
    app.put(&other_path)
        .token(&own_token)
        .json(body.clone())
        .send()
        .await
        .expect(403);
    app.delete(&other_path)
        .token(&own_token)
        .send()
        .await
        .expect(403);
    app.get(&format!("{}{window}", overrides_path(&other)))
        .token(&own_token)
        .send()
        .await
        .expect(403);
    app.delete(&own_path)
        .token(&other_token)
        .send()
        .await
        .expect(403);
    // Clients may not, nor may anyone without a token.
    app.put(&own_path)
        .token(&client)
        .json(body.clone())
        .send()
        .await
        .expect(403);
    app.get(&format!("{}{window}", overrides_path(&own)))
        .token(&client)
        .send()
        .await
        .expect(403);
    app.put(&own_path)
        .json(body.clone())
        .send()
        .await
        .expect(401);
    // No such therapist.
    app.put(&format!(
        "{}/{day}",
        overrides_path("00000000-0000-0000-0000-000000000000")
    ))
    .token(&admin)
    .json(body)
    .send()
    .await
    .expect(404);

    app.delete(&own_path)
        .token(&own_token)
        .send()
        .await
        .expect(204);
    assert_eq!(app.count("schedule_overrides").await, 0);
}

#[actix_web::test]
async fn a_closure_removes_the_slots_it_overlaps_and_refuses_bookings_into_it() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = type_id(&clinic);
    let second_location = app.location_ids().await[1].clone();
    let other = app
        .therapist(&clinic.admin, "Liam", &second_location, ("09:00", "17:00"))
        .await;
    let day = local_date(7);
    let created = app
        .post(&closures_path(&clinic.location_id))
        .token(&clinic.admin)
        .json(json!({"starts_at": at(day, 12, 0), "ends_at": at(day, 14, 0), "reason": "Staff meeting"}))
        .send()
        .await;
    let closure = created.expect(201).clone();
    let closure_id = closure["id"].as_str().unwrap().to_owned();
    assert_eq!(closure["location_id"], clinic.location_id.as_str());
    assert_eq!(closure["starts_at"], at(day, 12, 0));
    assert_eq!(closure["ends_at"], at(day, 14, 0));
    assert_eq!(closure["reason"], "Staff meeting");
    assert_eq!(
        created.header("location").unwrap(),
        format!("{}/{closure_id}", closures_path(&clinic.location_id))
    );

    // 60 min + 10 min buffer may not reach into 12:00–14:00.
    let here = format!("&therapist_id={}", clinic.therapist_id);
    let mut expected = every_quarter(day, (9, 0), (10, 45));
    expected.extend(every_quarter(day, (14, 0), (15, 45)));
    assert_eq!(app.slot_starts(&type_id, 60, day, &here).await, expected);
    // The other location is open.
    let there = format!("&therapist_id={other}");
    assert_eq!(app.slot_starts(&type_id, 60, day, &there).await.len(), 28);

    // A booking inside it, or running into it, is refused as outside the hours.
    let client = app.client_token("c@example.com").await;
    for start in [at(day, 12, 30), at(day, 11, 0), at(day, 13, 45)] {
        let refused = app
            .book(&client, &clinic.therapist_id, &type_id, 60, &start)
            .await;
        refused.expect(422);
        assert_eq!(refused.body["errors"][0]["field"], "start");
    }
    assert_eq!(app.count("bookings").await, 0);

    // Anyone may read the closures of a location, by local dates.
    let list = app
        .get(&format!(
            "{}?from={day}&to={day}",
            closures_path(&clinic.location_id)
        ))
        .send()
        .await;
    assert_eq!(list.expect(200)["items"], json!([closure]));
    let next_day = day + Duration::days(1);
    let later = app
        .get(&format!(
            "{}?from={next_day}&to={next_day}",
            closures_path(&clinic.location_id)
        ))
        .send()
        .await;
    assert_eq!(later.expect(200)["items"], json!([]));

    // Deleting it restores the slots.
    let path = format!("{}/{closure_id}", closures_path(&clinic.location_id));
    app.delete(&path)
        .token(&clinic.admin)
        .send()
        .await
        .expect(204);
    assert_eq!(app.slot_starts(&type_id, 60, day, &here).await.len(), 28);
    app.delete(&path)
        .token(&clinic.admin)
        .send()
        .await
        .expect(404);
    app.book(
        &client,
        &clinic.therapist_id,
        &type_id,
        60,
        &at(day, 12, 30),
    )
    .await
    .expect(201);
}

#[actix_web::test]
async fn a_whole_day_closure_offers_nothing_that_day() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = type_id(&clinic);
    let day = local_date(10);
    app.post(&closures_path(&clinic.location_id))
        .token(&clinic.admin)
        .json(json!({"starts_at": format!("{day}T00:00:00-08:00"), "ends_at": format!("{}T00:00:00-08:00", day + Duration::days(1)), "reason": "Inventory"}))
        .send()
        .await
        .expect(201);
    assert!(app.slot_starts(&type_id, 30, day, "").await.is_empty());
    assert_eq!(
        app.slot_starts(&type_id, 60, day + Duration::days(1), "")
            .await
            .len(),
        28
    );
}

#[actix_web::test]
async fn a_closure_over_a_confirmed_booking_is_409_listing_it() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = type_id(&clinic);
    let day = local_date(7);
    let client = app.client_token("c@example.com").await;
    let booked = app
        .book(&client, &clinic.therapist_id, &type_id, 60, &at(day, 10, 0))
        .await;
    let booking_id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    let resp = app
        .post(&closures_path(&clinic.location_id))
        .token(&clinic.admin)
        .json(json!({"starts_at": at(day, 10, 30), "ends_at": at(day, 17, 0)}))
        .send()
        .await;
    resp.expect(409);
    assert_eq!(resp.problem_type(), "bookings-overlap");
    assert_eq!(resp.body["errors"][0]["field"], "bookings");
    assert!(
        resp.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&booking_id)
    );
    assert_eq!(app.count("location_closures").await, 0);
    // Back to back with the massage is fine.
    app.post(&closures_path(&clinic.location_id))
        .token(&clinic.admin)
        .json(json!({"starts_at": at(day, 11, 0), "ends_at": at(day, 17, 0)}))
        .send()
        .await
        .expect(201);
}

#[actix_web::test]
async fn closures_are_written_by_admins_only_and_validated() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (_, therapist) = app.user_with_role("t@example.com", "therapist").await;
    let client = app.client_token("c@example.com").await;
    let day = local_date(7);
    let path = closures_path(&clinic.location_id);
    let body = json!({"starts_at": at(day, 12, 0), "ends_at": at(day, 14, 0)});
    app.post(&path).json(body.clone()).send().await.expect(401);
    for token in [&therapist, &client] {
        app.post(&path)
            .token(token)
            .json(body.clone())
            .send()
            .await
            .expect(403);
    }
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"starts_at": at(day, 14, 0), "ends_at": at(day, 12, 0)}),
            "ends_at",
        ),
        (
            json!({"starts_at": at(day, 12, 0), "ends_at": at(day + Duration::days(400), 12, 0)}),
            "ends_at",
        ),
        (
            json!({"starts_at": "soon", "ends_at": at(day, 12, 0)}),
            "starts_at",
        ),
        (
            json!({"starts_at": "+10000-01-01T00:00:00Z", "ends_at": at(day, 12, 0)}),
            "starts_at",
        ),
        (
            json!({"starts_at": at(day, 12, 0), "ends_at": at(day, 14, 0), "reason": "a\u{202e}b"}),
            "reason",
        ),
        (
            json!({"starts_at": at(day, 12, 0), "ends_at": at(day, 14, 0), "room": "A"}),
            "room",
        ),
    ];
    for (body, field) in cases {
        let resp = app
            .post(&path)
            .token(&clinic.admin)
            .json(body.clone())
            .send()
            .await;
        resp.expect(422);
        assert_eq!(resp.body["errors"][0]["field"], field, "{body}");
    }
    let nowhere = closures_path("00000000-0000-0000-0000-000000000000");
    app.post(&nowhere)
        .token(&clinic.admin)
        .json(body)
        .send()
        .await
        .expect(404);
    app.get(&format!("{nowhere}?from={day}&to={day}"))
        .send()
        .await
        .expect(404);
    let created = app
        .post(&path)
        .token(&clinic.admin)
        .json(json!({"starts_at": at(day, 12, 0), "ends_at": at(day, 14, 0)}))
        .send()
        .await;
    let id = created.expect(201)["id"].as_str().unwrap().to_owned();
    app.delete(&format!("{path}/{id}"))
        .token(&therapist)
        .send()
        .await
        .expect(403);
    // A closure is deleted only under its own location.
    let second = app.location_ids().await[1].clone();
    app.delete(&format!("{}/{id}", closures_path(&second)))
        .token(&clinic.admin)
        .send()
        .await
        .expect(404);
    assert_eq!(app.count("location_closures").await, 1);
}

/// Overrides on the daylight-saving days of 2027 at a location in Los Angeles (the rules
/// Vancouver had until 2026; Vancouver keeps UTC−7 all year now): the wall-clock hours land on
/// the instants of that day's offset, and hours across the change count real time.
#[actix_web::test]
async fn overrides_on_daylight_saving_days_give_the_right_instants() {
    let app = TestApp::spawn_with(Options {
        env: [("BOOKING_HORIZON_DAYS", "400".to_owned())].into(),
    })
    .await;
    let clinic = app.clinic().await;
    app.move_location(
        &clinic.admin,
        &clinic.location_id,
        crate::helpers::LOS_ANGELES,
    )
    .await;
    let plain = app
        .post("/api/v1/massage-types")
        .token(&clinic.admin)
        .json(json!({"slug": "plain", "name": "Plain", "buffer_minutes": 0,
                     "options": [{"duration_minutes": 60, "price_cents": 10000, "currency": "CAD"}]}))
        .send()
        .await;
    let plain = plain.expect(201)["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/api/v1/therapists/{}", clinic.therapist_id))
        .token(&clinic.admin)
        .json(json!({"massage_type_ids": [plain]}))
        .send()
        .await
        .expect(200);
    let put = |day: &str, start: &str, end: &str| {
        app.put(&format!("{}/{day}", overrides_path(&clinic.therapist_id)))
            .token(&clinic.admin)
            .json(json!({"rules": [hours(start, end, &clinic.location_id)]}))
            .send()
    };
    let starts = |day: &'static str| {
        let plain = plain.clone();
        let app = &app;
        async move { app.slot_starts(&plain, 60, day.parse().unwrap(), "").await }
    };

    // Spring forward (02:00 PST → 03:00 PDT): 01:00–04:00 is two real hours.
    put("2027-03-14", "01:00", "04:00").await.expect(200);
    assert_eq!(
        starts("2027-03-14").await,
        [
            "2027-03-14T09:00:00Z", // 01:00 PST
            "2027-03-14T09:15:00Z",
            "2027-03-14T09:30:00Z",
            "2027-03-14T09:45:00Z",
            "2027-03-14T10:00:00Z", // 03:00 PDT, ending at 04:00 PDT
        ]
    );
    // Fall back (02:00 PDT → 01:00 PST): 10:00 is on the new offset.
    put("2027-11-07", "10:00", "12:00").await.expect(200);
    let fall = starts("2027-11-07").await;
    assert_eq!(fall.first().unwrap(), "2027-11-07T18:00:00Z");
    assert_eq!(fall.last().unwrap(), "2027-11-07T19:00:00Z");
    assert_eq!(fall.len(), 5);
    // And the day after the spring change is back on its weekly 09:00–17:00, now in PDT.
    assert_eq!(
        starts("2027-03-15").await.first().unwrap(),
        "2027-03-15T16:00:00Z"
    );

    let client = app.client_token("c@example.com").await;
    let booked = app
        .book(
            &client,
            &clinic.therapist_id,
            &plain,
            60,
            "2027-11-07T10:00:00-08:00",
        )
        .await;
    assert_eq!(booked.expect(201)["start"], "2027-11-07T18:00:00Z");
    let booked = app
        .book(
            &client,
            &clinic.therapist_id,
            &plain,
            60,
            "2027-03-14T03:00:00-07:00",
        )
        .await;
    assert_eq!(booked.expect(201)["end"], "2027-03-14T11:00:00Z");
    // 03:15 PDT would end after 04:00 PDT.
    let late = app
        .book(
            &client,
            &clinic.therapist_id,
            &plain,
            60,
            "2027-03-14T03:15:00-07:00",
        )
        .await;
    late.expect(422);
}

fn run_holidays(app: &TestApp, dir: &std::path::Path, region: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_inspine"))
        .args(["holidays", "--region", region, "--year"])
        .arg(next_year().to_string())
        .current_dir(dir)
        .env("DATABASE_URL", &app.database_url)
        .env("DATA_DIR", dir)
        .env("JWT_SECRET", "test-secret-test-secret-test-secret-0123")
        .env("RUST_LOG", "warn")
        .env_remove("LOG_FORMAT")
        .output()
        .unwrap()
}

fn next_year() -> i32 {
    local_date(0).year() + 1
}

/// `inspine holidays` against the test's own database, twice: every holiday closes every
/// location once, from local midnight to local midnight, and slots that day disappear.
#[actix_web::test]
async fn the_holidays_command_closes_every_location_once_per_holiday() {
    let app = TestApp::spawn_with(Options {
        env: [("BOOKING_HORIZON_DAYS", "400".to_owned())].into(),
    })
    .await;
    let clinic = app.clinic().await;
    let type_id = type_id(&clinic);
    let year = next_year();
    let new_year = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
    assert_eq!(app.slot_starts(&type_id, 60, new_year, "").await.len(), 28);
    let dir = tempfile::tempdir().unwrap();

    let first = run_holidays(&app, dir.path(), "CA-BC");
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{first:?}");
    let locations = app.location_ids().await;
    assert_eq!(
        out.lines().filter(|l| l.starts_with("added ")).count(),
        11 * locations.len()
    );
    assert!(out.contains("New Year's Day"), "{out}");

    let second = run_holidays(&app, dir.path(), "CA-BC");
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{second:?}");
    assert!(!out.lines().any(|l| l.starts_with("added ")), "{out}");
    assert!(
        out.contains(&format!(
            "0 closure(s) added, {} already present",
            11 * locations.len()
        )),
        "{out}"
    );

    let expected = inspine::holidays::statutory(inspine::holidays::Region::CaBc, year).unwrap();
    for location in &locations {
        let list = app
            .get(&format!(
                "{}?from={year}-01-01&to={year}-12-31",
                closures_path(location)
            ))
            .send()
            .await;
        let items = list.expect(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), expected.len(), "{items:?}");
        for (item, holiday) in items.iter().zip(&expected) {
            assert_eq!(item["starts_at"], at(holiday.date, 0, 0));
            assert_eq!(item["ends_at"], at(holiday.date + Duration::days(1), 0, 0));
            assert!(
                item["reason"].as_str().unwrap().contains(holiday.name),
                "{item}"
            );
        }
    }
    assert!(app.slot_starts(&type_id, 60, new_year, "").await.is_empty());
    assert_eq!(
        app.slot_starts(&type_id, 60, new_year + Duration::days(1), "")
            .await
            .len(),
        28
    );

    // An unknown region is refused plainly, adding nothing.
    let unknown = run_holidays(&app, dir.path(), "CA-XX");
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unknown region `CA-XX`"),
        "{unknown:?}"
    );
    assert_eq!(
        app.count("location_closures").await,
        (11 * locations.len()) as i64
    );
}
