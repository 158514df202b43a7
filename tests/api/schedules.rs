use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn therapist_with_login(app: &TestApp, admin: &str) -> (String, String) {
    let (user_id, token) = app.user_with_role("sched@example.com", "therapist").await;
    let resp = app
        .post("/api/v1/therapists")
        .token(admin)
        .json(json!({"name": "Sam", "user_id": user_id}))
        .send()
        .await;
    (resp.expect(201)["id"].as_str().unwrap().to_owned(), token)
}

#[actix_web::test]
async fn schedule_replace_with_split_shifts() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (id, own_token) = therapist_with_login(&app, &admin).await;
    let locations = app.location_ids().await;
    let rules = json!({"rules": [
        {"weekday": "monday", "start": "09:00", "end": "13:00", "location_id": locations[0]},
        {"weekday": "monday", "start": "13:00", "end": "17:00", "location_id": locations[1]},
        {"weekday": "saturday", "start": "18:00", "end": "23:00", "location_id": locations[0]}
    ]});
    let resp = app
        .put(&format!("/api/v1/therapists/{id}/schedule"))
        .token(&own_token)
        .json(rules.clone())
        .send()
        .await;
    assert_eq!(resp.expect(200), &rules);
    let read = app
        .get(&format!("/api/v1/therapists/{id}/schedule"))
        .token(&admin)
        .send()
        .await;
    assert_eq!(read.expect(200), &rules);

    // Replaced as a whole.
    let fewer = json!({"rules": [{"weekday": "friday", "start": "10:00", "end": "12:30", "location_id": locations[1]}]});
    app.put(&format!("/api/v1/therapists/{id}/schedule"))
        .token(&admin)
        .json(fewer.clone())
        .send()
        .await
        .expect(200);
    let read = app
        .get(&format!("/api/v1/therapists/{id}/schedule"))
        .token(&admin)
        .send()
        .await;
    assert_eq!(read.expect(200), &fewer);

    // The filter by location follows the schedule.
    let at_first = app
        .get(&format!("/api/v1/therapists?location_id={}", locations[0]))
        .send()
        .await;
    assert_eq!(at_first.expect(200)["items"], json!([]));
    let at_second = app
        .get(&format!("/api/v1/therapists?location_id={}", locations[1]))
        .send()
        .await;
    assert_eq!(at_second.expect(200)["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn invalid_schedules_are_422_and_keep_the_old_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (id, _) = therapist_with_login(&app, &admin).await;
    let locations = app.location_ids().await;
    let good = json!({"rules": [{"weekday": "tuesday", "start": "09:00", "end": "17:00", "location_id": locations[0]}]});
    app.put(&format!("/api/v1/therapists/{id}/schedule"))
        .token(&admin)
        .json(good.clone())
        .send()
        .await
        .expect(200);

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"rules": [
                {"weekday": "monday", "start": "09:00", "end": "13:00", "location_id": locations[0]},
                {"weekday": "monday", "start": "12:00", "end": "17:00", "location_id": locations[1]}
            ]}),
            "rules[0]",
        ),
        (
            json!({"rules": [{"weekday": "monday", "start": "17:00", "end": "09:00", "location_id": locations[0]}]}),
            "rules[0].end",
        ),
        (
            json!({"rules": [{"weekday": "monday", "start": "9am", "end": "17:00", "location_id": locations[0]}]}),
            "rules[0].start",
        ),
        (
            json!({"rules": [{"weekday": "monday", "start": "09:00", "end": "17:00", "location_id": "00000000-0000-0000-0000-000000000000"}]}),
            "rules[0].location_id",
        ),
        (
            json!({"rules": [{"weekday": "funday", "start": "09:00", "end": "17:00", "location_id": locations[0]}]}),
            "rules[0].weekday",
        ),
    ];
    for (body, field) in cases {
        let resp = app
            .put(&format!("/api/v1/therapists/{id}/schedule"))
            .token(&admin)
            .json(body)
            .send()
            .await;
        resp.expect(422);
        assert_eq!(resp.body["errors"][0]["field"], field, "{}", resp.body);
    }
    let read = app
        .get(&format!("/api/v1/therapists/{id}/schedule"))
        .token(&admin)
        .send()
        .await;
    assert_eq!(read.expect(200), &good);
}

#[actix_web::test]
async fn only_admin_or_the_therapist_may_touch_a_schedule() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (id, _) = therapist_with_login(&app, &admin).await;
    let (_, other_therapist) = app.user_with_role("other@example.com", "therapist").await;
    let client = app.client_token("client@example.com").await;
    let path = format!("/api/v1/therapists/{id}/schedule");
    app.get(&path).send().await.expect(401);
    app.get(&path).token(&client).send().await.expect(403);
    app.get(&path)
        .token(&other_therapist)
        .send()
        .await
        .expect(403);
    app.put(&path)
        .token(&other_therapist)
        .json(json!({"rules": []}))
        .send()
        .await
        .expect(403);
    app.get("/api/v1/therapists/00000000-0000-0000-0000-000000000000/schedule")
        .token(&admin)
        .send()
        .await
        .expect(404);
}

#[actix_web::test]
async fn time_off_lifecycle() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (id, own) = therapist_with_login(&app, &admin).await;
    let path = format!("/api/v1/therapists/{id}/time-off");
    let resp = app
        .post(&path)
        .token(&own)
        .json(json!({"starts_at": "2026-12-24T09:00:00-08:00", "ends_at": "2026-12-27T09:00:00-08:00", "reason": "Holidays"}))
        .send()
        .await;
    let created = resp.expect(201).clone();
    assert_eq!(created["starts_at"], "2026-12-24T17:00:00Z");
    assert_eq!(created["ends_at"], "2026-12-27T17:00:00Z");
    let time_off_id = created["id"].as_str().unwrap();

    let bad = app
        .post(&path)
        .token(&own)
        .json(json!({"starts_at": "2026-12-27T09:00:00Z", "ends_at": "2026-12-24T09:00:00Z"}))
        .send()
        .await;
    bad.expect(422);
    assert_eq!(bad.body["errors"][0]["field"], "ends_at");
    let not_a_time = app
        .post(&path)
        .token(&own)
        .json(json!({"starts_at": "tomorrow", "ends_at": "2026-12-24T09:00:00Z"}))
        .send()
        .await;
    not_a_time.expect(422);
    assert_eq!(not_a_time.body["errors"][0]["field"], "starts_at");

    let list = app.get(&path).token(&admin).send().await;
    assert_eq!(list.expect(200)["items"].as_array().unwrap().len(), 1);
    app.delete(&format!("{path}/{time_off_id}"))
        .token(&own)
        .send()
        .await
        .expect(204);
    app.delete(&format!("{path}/{time_off_id}"))
        .token(&own)
        .send()
        .await
        .expect(404);
    assert_eq!(app.count("time_off").await, 0);
}
