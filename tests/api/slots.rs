use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{LOS_ANGELES, Options, TestApp, Zone, at, at_in, local_date};

fn starts(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_day_of_slots_respects_grid_duration_and_buffer() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let day = local_date(7);
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let resp = app
        .get(&format!(
            "/api/v1/slots?massage_type_id={type_id}&duration_minutes=60&from={day}&to={day}"
        ))
        .send()
        .await;
    let body = resp.expect(200).clone();
    let got = starts(&body);
    // 09:00 … 15:45: the last start leaves 60 min + 10 min buffer before 17:00.
    assert_eq!(got.len(), 28);
    assert_eq!(got[0], at(day, 9, 0));
    assert_eq!(got[27], at(day, 15, 45));
    for slot in body["items"].as_array().unwrap() {
        assert_eq!(slot["therapist_id"], clinic.therapist_id.as_str());
        assert_eq!(slot["location_id"], clinic.location_id.as_str());
        let start = chrono::DateTime::parse_from_rfc3339(slot["start"].as_str().unwrap()).unwrap();
        let end = chrono::DateTime::parse_from_rfc3339(slot["end"].as_str().unwrap()).unwrap();
        assert_eq!(end - start, chrono::Duration::minutes(60));
        assert!(slot["start"].as_str().unwrap().ends_with('Z'));
    }
}

#[actix_web::test]
async fn bookings_and_time_off_remove_slots() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.client_token("c@example.com").await;
    let day = local_date(7);
    let type_id = clinic.swedish["id"].as_str().unwrap().to_owned();
    app.post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id, "duration_minutes": 60, "start": at(day, 10, 0)}))
        .send()
        .await
        .expect(201);
    app.post(&format!(
        "/api/v1/therapists/{}/time-off",
        clinic.therapist_id
    ))
    .token(&clinic.admin)
    .json(json!({"starts_at": at(day, 14, 0), "ends_at": at(day, 17, 0), "reason": "Dentist"}))
    .send()
    .await
    .expect(201);
    let resp = app
        .get(&format!(
            "/api/v1/slots?massage_type_id={type_id}&duration_minutes=60&from={day}&to={day}"
        ))
        .send()
        .await;
    let got = starts(resp.expect(200));
    // Booked 10:00–11:00 plus 10 min buffer: a new 60+10 min occupancy may start at 08:50 at
    // the latest before it (none on the grid) or at 11:10 after it (first grid point 11:15).
    // Time off from 14:00: the last start is 12:45 (12:45 + 70 min = 13:55).
    assert!(
        !got.contains(&at(day, 9, 0)),
        "09:00 would run into the 10:00 booking"
    );
    assert_eq!(got.first(), Some(&at(day, 11, 15)));
    assert_eq!(got.last(), Some(&at(day, 12, 45)));
    assert_eq!(got.len(), 7);
}

#[actix_web::test]
async fn several_therapists_sorted_by_start_then_therapist_and_filters() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let second_location = app.location_ids().await[1].clone();
    let other = app
        .therapist(&clinic.admin, "Liam", &second_location, ("09:00", "12:00"))
        .await;
    let day = local_date(8);
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let url =
        format!("/api/v1/slots?massage_type_id={type_id}&duration_minutes=30&from={day}&to={day}");
    let body = app.get(&url).send().await.expect(200).clone();
    let items = body["items"].as_array().unwrap();
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|s| {
            (
                s["start"].as_str().unwrap().to_owned(),
                s["therapist_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let per: HashMap<String, usize> = keys.iter().fold(HashMap::new(), |mut m, (_, t)| {
        *m.entry(t.clone()).or_default() += 1;
        m
    });
    // 30 + 10 buffer: 09:00…16:15 (30 starts) and 09:00…11:15 (10 starts).
    assert_eq!(per[&clinic.therapist_id], 30);
    assert_eq!(per[&other], 10);

    let only = app.get(&format!("{url}&therapist_id={other}")).send().await;
    assert!(
        only.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["therapist_id"] == other.as_str())
    );
    let at_second = app
        .get(&format!("{url}&location_id={second_location}"))
        .send()
        .await;
    let at_second = at_second.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(at_second.len(), 10);
    assert!(
        at_second
            .iter()
            .all(|s| s["location_id"] == second_location.as_str())
    );
}

#[actix_web::test]
async fn slot_queries_are_validated() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let from = local_date(3);
    let base = format!("/api/v1/slots?massage_type_id={type_id}&duration_minutes=60");

    let long = app
        .get(&format!(
            "{base}&from={from}&to={}",
            from + chrono::Duration::days(3650)
        ))
        .send()
        .await;
    long.expect(422);
    assert_eq!(long.body["errors"][0]["field"], "to");
    app.get(&format!(
        "{base}&from={from}&to={}",
        from + chrono::Duration::days(31)
    ))
    .send()
    .await
    .expect(422);
    app.get(&format!(
        "{base}&from={from}&to={}",
        from + chrono::Duration::days(30)
    ))
    .send()
    .await
    .expect(200);
    app.get(&format!(
        "{base}&from={from}&to={}",
        from - chrono::Duration::days(1)
    ))
    .send()
    .await
    .expect(422);
    app.get(&format!("{base}&from=2026-13-45&to={from}"))
        .send()
        .await
        .expect(400);
    app.get(&format!(
        "/api/v1/slots?duration_minutes=60&from={from}&to={from}"
    ))
    .send()
    .await
    .expect(400);
    let bad_duration = app
        .get(&format!(
            "/api/v1/slots?massage_type_id={type_id}&duration_minutes=45&from={from}&to={from}"
        ))
        .send()
        .await;
    bad_duration.expect(422);
    assert_eq!(bad_duration.body["errors"][0]["field"], "duration_minutes");
    app.get(&format!(
        "/api/v1/slots?massage_type_id=00000000-0000-0000-0000-000000000000&duration_minutes=60&from={from}&to={from}"
    ))
    .send()
    .await
    .expect(422);
}

#[actix_web::test]
async fn past_dates_and_dates_beyond_the_horizon_offer_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    for day in [local_date(-3), local_date(95)] {
        let resp = app
            .get(&format!(
                "/api/v1/slots?massage_type_id={type_id}&duration_minutes=60&from={day}&to={day}"
            ))
            .send()
            .await;
        assert_eq!(resp.expect(200)["items"], json!([]));
    }
}

/// The daylight-saving changes of 2027 through the API, at a location in Los Angeles (whose
/// clocks change on 2027-03-14 and 2027-11-07 as Vancouver's did until 2026; Vancouver keeps
/// UTC−7 all year now): a 09:00–17:00 rule still yields 09:00…16:00 wall-clock, each slot
/// exactly 60 minutes.
#[actix_web::test]
async fn daylight_saving_days_keep_wall_clock_hours() {
    let app = TestApp::spawn_with(Options {
        env: [("BOOKING_HORIZON_DAYS", "400".to_owned())].into(),
    })
    .await;
    let admin = app.admin().await;
    let location = app.location_ids().await[0].clone();
    app.move_location(&admin, &location, LOS_ANGELES).await;
    let la: Zone = LOS_ANGELES.parse().unwrap();
    let at = |d, h, m| at_in(&la, d, h, m);
    let therapist = app
        .therapist(&admin, "Dana", &location, ("09:00", "17:00"))
        .await;
    // A type with no buffer makes the arithmetic plain.
    let created = app
        .post("/api/v1/massage-types")
        .token(&admin)
        .json(json!({"slug": "plain", "name": "Plain", "buffer_minutes": 0,
                     "options": [{"duration_minutes": 60, "price_cents": 10000, "currency": "CAD"}]}))
        .send()
        .await;
    let type_id = created.expect(201)["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/api/v1/therapists/{therapist}"))
        .token(&admin)
        .json(json!({"massage_type_ids": [type_id]}))
        .send()
        .await
        .expect(200);
    for (day, offset_before, offset_after) in [("2027-03-14", 8, 7), ("2027-11-07", 7, 8)] {
        let date: chrono::NaiveDate = day.parse().unwrap();
        let resp = app
            .get(&format!(
                "/api/v1/slots?massage_type_id={type_id}&duration_minutes=60&from={day}&to={day}"
            ))
            .send()
            .await;
        let body = resp.expect(200).clone();
        let got = starts(&body);
        assert_eq!(got.len(), 29, "09:00…16:00 every 15 min on {day}");
        assert_eq!(got[0], at(date, 9, 0));
        assert_eq!(got[28], at(date, 16, 0));
        // The change happened at 02:00, so the whole working day is on the new offset.
        assert_eq!(got[0], format!("{day}T{:02}:00:00Z", 9 + offset_after));
        assert_ne!(offset_before, offset_after);
        for slot in body["items"].as_array().unwrap() {
            let start =
                chrono::DateTime::parse_from_rfc3339(slot["start"].as_str().unwrap()).unwrap();
            let end = chrono::DateTime::parse_from_rfc3339(slot["end"].as_str().unwrap()).unwrap();
            assert_eq!(end - start, chrono::Duration::minutes(60));
        }
        // And a booking at 09:00 local lands at that instant.
        let client = app.client_token(&format!("dst-{day}@example.com")).await;
        let booked = app
            .post("/api/v1/bookings")
            .token(&client)
            .json(json!({"therapist_id": therapist, "massage_type_id": type_id, "duration_minutes": 60, "start": format!("{day}T09:00:00-0{offset_after}:00")}))
            .send()
            .await;
        assert_eq!(booked.expect(201)["start"], at(date, 9, 0));
    }
}

/// British Columbia keeps UTC−7 all year from 2026-11-01 (tzdata 2026a+): a Vancouver location
/// open 09:00–17:00 offers its first slot at 16:00 UTC in winter as in summer (chrono-tz's
/// tzdata 2025b said 17:00 UTC from 2026-11-01 to 2027-03-14).
#[actix_web::test]
async fn vancouver_opens_at_16_00_utc_all_year() {
    let app = TestApp::spawn_with(Options {
        env: [("BOOKING_HORIZON_DAYS", "400".to_owned())].into(),
    })
    .await;
    let clinic = app.clinic().await;
    let type_id = clinic.swedish["id"].as_str().unwrap().to_owned();
    let december_10: chrono::NaiveDate = "2026-12-10".parse().unwrap();
    let mut days = vec![local_date(7), local_date(100), local_date(200)];
    if december_10 > local_date(1) {
        days.push(december_10);
    }
    for day in days {
        let got = app.slot_starts(&type_id, 60, day, "").await;
        assert_eq!(got.first(), Some(&format!("{day}T16:00:00Z")), "{day}");
        assert_eq!(got.first(), Some(&at(day, 9, 0)), "{day}");
    }
}
