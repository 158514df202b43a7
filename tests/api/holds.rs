//! Holds through the public API: a hold keeps its time from everyone else (slots, bookings,
//! other holds) until it expires, is released or is booked by its `hold_id`; on both backends,
//! whatever the concurrency.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Clinic, Resp, TestApp, at, local_date};

fn slot_body(therapist: &str, type_id: &str, duration: u32, start: &str) -> Value {
    json!({"therapist_id": therapist, "massage_type_id": type_id,
           "duration_minutes": duration, "start": start})
}

fn swedish(clinic: &Clinic) -> String {
    clinic.swedish["id"].as_str().unwrap().to_owned()
}

impl TestApp {
    async fn hold(&self, token: &str, body: Value) -> Resp {
        self.post("/api/v1/holds")
            .token(token)
            .json(body)
            .send()
            .await
    }

    async fn book_hold(&self, token: &str, hold_id: &str) -> Resp {
        self.post("/api/v1/bookings")
            .token(token)
            .json(json!({ "hold_id": hold_id }))
            .send()
            .await
    }

    async fn hold_status(&self, token: &str, hold_id: &str) -> String {
        let resp = self
            .get(&format!("/api/v1/holds/{hold_id}"))
            .token(token)
            .send()
            .await;
        resp.expect(200)["status"].as_str().unwrap().to_owned()
    }

    /// The metrics text, for the holds counters.
    async fn metrics_text(&self) -> String {
        let resp = self.get("/metrics").send().await;
        resp.expect(200);
        String::from_utf8(resp.raw.clone()).unwrap()
    }

    /// Live claims on the clinic's time: confirmed bookings plus active holds not yet expired.
    async fn claims(&self) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let now = chrono::Utc::now()
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        self.state
            .run(move |conn| {
                use diesel::RunQueryDsl;
                let row: Count = diesel::sql_query(format!(
                    "SELECT (SELECT COUNT(*) FROM bookings WHERE status = 'confirmed') + \
                     (SELECT COUNT(*) FROM holds WHERE status = 'active' AND expires_at > '{now}') AS n"
                ))
                .get_result(conn)?;
                Ok(row.n)
            })
            .await
            .expect("claims")
    }
}

fn assert_problem(resp: &Resp, status: u16, kind: &str) {
    resp.expect(status);
    assert_eq!(resp.problem_type(), kind, "{}", resp.body);
}

#[actix_web::test]
async fn a_hold_hides_its_slot_and_books_by_hold_id() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.register("ana@example.com").await;
    let token = client["access_token"].as_str().unwrap();
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let before = app.slot_starts(&type_id, 60, day, "").await;
    assert!(before.contains(&at(day, 10, 0)) && before.contains(&at(day, 9, 0)));

    let resp = app
        .hold(
            token,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let hold = resp.expect(201).clone();
    let id = hold["id"].as_str().unwrap();
    assert_eq!(
        resp.header("location").unwrap(),
        format!("/api/v1/holds/{id}")
    );
    assert_eq!(hold["client_id"], client["user"]["id"]);
    assert_eq!(hold["therapist_id"], clinic.therapist_id.as_str());
    assert_eq!(hold["massage_type_id"], type_id.as_str());
    assert_eq!(hold["duration_minutes"], 60);
    assert_eq!(hold["start"], at(day, 10, 0));
    assert_eq!(hold["end"], at(day, 11, 0));
    assert_eq!(hold["location_id"], clinic.location_id.as_str());
    assert_eq!(hold["room_id"], Value::Null);
    assert_eq!(hold["status"], "active");
    let expires = chrono::DateTime::parse_from_rfc3339(hold["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let lead = expires - chrono::Utc::now();
    assert!(
        lead > chrono::Duration::minutes(9) && lead <= chrono::Duration::minutes(10),
        "{lead}"
    );
    let read = app
        .get(&format!("/api/v1/holds/{id}"))
        .token(token)
        .send()
        .await;
    assert_eq!(read.expect(200), &hold);

    // The held hour and its 10-minute buffer are offered to nobody: every start whose massage
    // and buffer would meet 10:00–11:10 is gone, the rest stays.
    let during = app.slot_starts(&type_id, 60, day, "").await;
    for gone in [(9, 0), (9, 45), (10, 0), (10, 30), (11, 0)] {
        assert!(
            !during.contains(&at(day, gone.0, gone.1)),
            "{gone:?} offered"
        );
    }
    assert!(during.contains(&at(day, 11, 15)));

    let booked = app
        .post("/api/v1/bookings")
        .token(token)
        .json(json!({"hold_id": id, "notes": "Left shoulder"}))
        .send()
        .await;
    let booking = booked.expect(201).clone();
    let booking_id = booking["id"].as_str().unwrap();
    assert_eq!(
        booked.header("location").unwrap(),
        format!("/api/v1/bookings/{booking_id}")
    );
    assert_eq!(booking["start"], at(day, 10, 0));
    assert_eq!(booking["end"], at(day, 11, 0));
    assert_eq!(booking["client_id"], client["user"]["id"]);
    assert_eq!(booking["therapist_id"], clinic.therapist_id.as_str());
    assert_eq!(booking["price_cents"], 11000);
    assert_eq!(booking["notes"], "Left shoulder");
    assert_eq!(booking["status"], "confirmed");

    let consumed = app
        .get(&format!("/api/v1/holds/{id}"))
        .token(token)
        .send()
        .await;
    assert_eq!(consumed.expect(200)["status"], "consumed");
    assert_eq!(consumed.body["booking_id"], booking_id);
    // A consumed hold books nothing more and cannot be released.
    assert_problem(&app.book_hold(token, id).await, 409, "hold-expired");
    let release = app
        .delete(&format!("/api/v1/holds/{id}"))
        .token(token)
        .send()
        .await;
    assert_problem(&release, 409, "hold-expired");
    assert_eq!(app.count("bookings").await, 1);
    assert_eq!(app.claims().await, 1);
    let after = app.slot_starts(&type_id, 60, day, "").await;
    assert_eq!(after, during);

    let text = app.metrics_text().await;
    for needle in [
        r#"inspine_holds_total{outcome="created"} 1"#,
        r#"inspine_holds_total{outcome="converted"} 1"#,
        r#"inspine_holds_total{outcome="released"} 0"#,
        r#"inspine_holds_total{outcome="expired"} 0"#,
        r#"inspine_bookings_total{event="created"} 1"#,
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
}

#[actix_web::test]
async fn held_time_is_taken_for_everyone_but_the_holder() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let ana = app.client_token("ana@example.com").await;
    let ben = app.client_token("ben@example.com").await;
    let hold = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();

    // The same start, an overlapping one, and one inside the buffer: taken, for bookings and
    // holds alike.
    for (h, m) in [(10, 0), (10, 30), (9, 15), (11, 0)] {
        let body = slot_body(&clinic.therapist_id, &type_id, 60, &at(day, h, m));
        assert_problem(
            &app.book(&ben, &clinic.therapist_id, &type_id, 60, &at(day, h, m))
                .await,
            409,
            "slot-unavailable",
        );
        assert_problem(&app.hold(&ben, body).await, 409, "slot-unavailable");
    }
    // An admin booking for Ben is refused too.
    let ben_id = app.get("/api/v1/me").token(&ben).send().await.expect(200)["id"].clone();
    let mut for_ben = slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0));
    for_ben["client_id"] = ben_id;
    let resp = app
        .post("/api/v1/bookings")
        .token(&clinic.admin)
        .json(for_ben)
        .send()
        .await;
    assert_problem(&resp, 409, "slot-unavailable");
    // Ben's booking elsewhere cannot be moved into the held time either.
    let elsewhere = app
        .book(&ben, &clinic.therapist_id, &type_id, 60, &at(day, 14, 0))
        .await;
    let elsewhere = elsewhere.expect(201)["id"].as_str().unwrap().to_owned();
    let moved = app
        .post(&format!("/api/v1/bookings/{elsewhere}/reschedule"))
        .token(&ben)
        .json(json!({ "start": at(day, 10, 15) }))
        .send()
        .await;
    assert_problem(&moved, 409, "slot-unavailable");
    // Back to back after the buffer is free.
    app.hold(
        &ben,
        slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 11, 15)),
    )
    .await
    .expect(201);

    // Neither Ana's own hold nor anything else stops her booking it.
    app.book_hold(&ana, &hold_id).await.expect(201);
    assert_eq!(app.count("bookings").await, 2);
}

#[actix_web::test]
async fn a_new_hold_releases_the_clients_previous_one() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let ana = app.client_token("ana@example.com").await;
    let ben = app.client_token("ben@example.com").await;
    let first = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let first = first.expect(201)["id"].as_str().unwrap().to_owned();
    assert!(
        !app.slot_starts(&type_id, 60, day, "")
            .await
            .contains(&at(day, 10, 0))
    );

    // Moving the hold half an hour later overlaps the first: the first is released before the
    // new one is checked, so it does not stand in its way.
    let second = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 30)),
        )
        .await;
    let second = second.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(app.hold_status(&ana, &first).await, "released");
    assert_eq!(app.hold_status(&ana, &second).await, "active");

    let third = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 14, 0)),
        )
        .await;
    let third = third.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(app.hold_status(&ana, &second).await, "released");
    let offered = app.slot_starts(&type_id, 60, day, "").await;
    assert!(offered.contains(&at(day, 10, 0)) && offered.contains(&at(day, 10, 30)));
    assert!(!offered.contains(&at(day, 14, 0)));
    assert_problem(&app.book_hold(&ana, &first).await, 409, "hold-expired");

    // A hold that fails leaves the previous one as it was.
    app.book(&ben, &clinic.therapist_id, &type_id, 60, &at(day, 10, 0))
        .await
        .expect(201);
    let refused = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    assert_problem(&refused, 409, "slot-unavailable");
    assert_eq!(app.hold_status(&ana, &third).await, "active");
    assert_eq!(app.claims().await, 2);

    let text = app.metrics_text().await;
    for needle in [
        r#"inspine_holds_total{outcome="created"} 3"#,
        r#"inspine_holds_total{outcome="released"} 2"#,
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
}

#[actix_web::test]
async fn delete_releases_a_hold_at_once() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let ana = app.client_token("ana@example.com").await;
    let ben = app.client_token("ben@example.com").await;
    let hold = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();
    let release = app
        .delete(&format!("/api/v1/holds/{hold_id}"))
        .token(&ana)
        .send()
        .await;
    assert_eq!(release.status.as_u16(), 204);
    assert!(release.raw.is_empty());
    assert_eq!(app.hold_status(&ana, &hold_id).await, "released");
    assert!(
        app.slot_starts(&type_id, 60, day, "")
            .await
            .contains(&at(day, 10, 0))
    );
    // Released twice is still released; booking by it is refused.
    let again = app
        .delete(&format!("/api/v1/holds/{hold_id}"))
        .token(&ana)
        .send()
        .await;
    assert_eq!(again.status.as_u16(), 204);
    assert_problem(&app.book_hold(&ana, &hold_id).await, 409, "hold-expired");
    app.book(&ben, &clinic.therapist_id, &type_id, 60, &at(day, 10, 0))
        .await
        .expect(201);

    // Staff may release a client's hold.
    let other = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 14, 0)),
        )
        .await;
    let other = other.expect(201)["id"].as_str().unwrap().to_owned();
    let by_admin = app
        .delete(&format!("/api/v1/holds/{other}"))
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(by_admin.status.as_u16(), 204);
    assert_eq!(app.hold_status(&ana, &other).await, "released");
    let text = app.metrics_text().await;
    assert!(
        text.contains(r#"inspine_holds_total{outcome="released"} 2"#),
        "{text}"
    );
}

#[actix_web::test]
async fn an_expired_hold_frees_its_time_and_books_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let ana = app.client_token("ana@example.com").await;
    let ben = app.client_token("ben@example.com").await;
    let hold = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f");
    app.sql(format!(
        "UPDATE holds SET expires_at = '{past}' WHERE id = '{hold_id}'"
    ))
    .await;

    // Nothing was written at expiry, and yet the time is offered again and the hold reads
    // expired.
    assert!(
        app.slot_starts(&type_id, 60, day, "")
            .await
            .contains(&at(day, 10, 0))
    );
    assert_eq!(app.hold_status(&ana, &hold_id).await, "expired");
    assert_problem(&app.book_hold(&ana, &hold_id).await, 409, "hold-expired");
    assert_problem(&app.book_hold(&ana, &hold_id).await, 409, "hold-expired");
    assert_eq!(app.count("bookings").await, 0);
    // Counted once, when first noticed.
    let text = app.metrics_text().await;
    assert!(
        text.contains(r#"inspine_holds_total{outcome="expired"} 1"#),
        "{text}"
    );

    // Someone else may hold and book the time; so may Ana again, with a new hold.
    let ben_hold = app
        .hold(
            &ben,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let ben_hold = ben_hold.expect(201)["id"].as_str().unwrap().to_owned();
    app.book_hold(&ben, &ben_hold).await.expect(201);

    // An expired hold a new hold replaces, and one released after expiry, count as expired.
    let second = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 13, 0)),
        )
        .await;
    let second = second.expect(201)["id"].as_str().unwrap().to_owned();
    app.sql(format!(
        "UPDATE holds SET expires_at = '{past}' WHERE id = '{second}'"
    ))
    .await;
    let third = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 13, 0)),
        )
        .await;
    let third = third.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(app.hold_status(&ana, &second).await, "expired");
    app.sql(format!(
        "UPDATE holds SET expires_at = '{past}' WHERE id = '{third}'"
    ))
    .await;
    let release = app
        .delete(&format!("/api/v1/holds/{third}"))
        .token(&ana)
        .send()
        .await;
    assert_eq!(release.status.as_u16(), 204);
    assert_eq!(app.hold_status(&ana, &third).await, "expired");
    let text = app.metrics_text().await;
    assert!(
        text.contains(r#"inspine_holds_total{outcome="expired"} 3"#),
        "{text}"
    );
}

#[actix_web::test]
async fn someone_elses_hold_is_not_found() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let ana = app.client_token("ana@example.com").await;
    let ben = app.client_token("ben@example.com").await;
    let hold = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/holds/{hold_id}");
    assert_problem(&app.get(&path).token(&ben).send().await, 404, "not-found");
    assert_problem(
        &app.delete(&path).token(&ben).send().await,
        404,
        "not-found",
    );
    assert_problem(&app.book_hold(&ben, &hold_id).await, 404, "not-found");
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_problem(&app.book_hold(&ana, &unknown).await, 404, "not-found");
    assert_problem(
        &app.get(&format!("/api/v1/holds/{unknown}"))
            .token(&ana)
            .send()
            .await,
        404,
        "not-found",
    );
    app.get(&path).send().await.expect(401);
    // Untouched by all that.
    assert_eq!(app.hold_status(&ana, &hold_id).await, "active");
    assert_eq!(app.count("bookings").await, 0);
    // Staff see it.
    app.get(&path).token(&clinic.admin).send().await.expect(200);
}

#[actix_web::test]
async fn staff_hold_for_a_client_who_then_books_it() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let client = app.register("ana@example.com").await;
    let ana = client["access_token"].as_str().unwrap();
    let ana_id = client["user"]["id"].as_str().unwrap();

    let mut body = slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0));
    let missing = app.hold(&clinic.admin, body.clone()).await;
    assert_problem(&missing, 422, "validation");
    assert_eq!(missing.body["errors"][0]["field"], "client_id");
    body["client_id"] = json!(ana_id);
    let by_client = app.hold(ana, body.clone()).await;
    assert_problem(&by_client, 422, "validation");
    assert_eq!(by_client.body["errors"][0]["field"], "client_id");
    let mut not_a_client = body.clone();
    not_a_client["client_id"] = json!(uuid::Uuid::new_v4());
    assert_problem(
        &app.hold(&clinic.admin, not_a_client).await,
        422,
        "validation",
    );

    let resp = app.hold(&clinic.admin, body.clone()).await;
    let hold = resp.expect(201).clone();
    assert_eq!(hold["client_id"], ana_id);
    let hold_id = hold["id"].as_str().unwrap();
    // The client sees the hold made for them and books it.
    assert_eq!(app.hold_status(ana, hold_id).await, "active");
    let booking = app.book_hold(ana, hold_id).await;
    assert_eq!(booking.expect(201)["client_id"], ana_id);

    // A therapist holds their own time for a client (and staff may book it for them), but not
    // another therapist's.
    let (user_id, therapist_token) = app
        .user_with_role("maya@inspine.example", "therapist")
        .await;
    app.patch(&format!("/api/v1/therapists/{}", clinic.therapist_id))
        .token(&clinic.admin)
        .json(json!({ "user_id": user_id }))
        .send()
        .await
        .expect(200);
    let other = app
        .therapist(
            &clinic.admin,
            "Liam",
            &clinic.location_id,
            ("09:00", "17:00"),
        )
        .await;
    let mut theirs = slot_body(&other, &type_id, 60, &at(day, 10, 0));
    theirs["client_id"] = json!(ana_id);
    assert_problem(&app.hold(&therapist_token, theirs).await, 403, "forbidden");
    let mut own = slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 13, 0));
    own["client_id"] = json!(ana_id);
    let own = app.hold(&therapist_token, own).await;
    let own = own.expect(201)["id"].as_str().unwrap().to_owned();
    let booked = app.book_hold(&therapist_token, &own).await;
    assert_eq!(booked.expect(201)["client_id"], ana_id);
    assert_eq!(booked.body["start"], at(day, 13, 0));
}

#[actix_web::test]
async fn holds_follow_the_booking_rules_and_hold_id_goes_alone() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let ana = app.client_token("ana@example.com").await;
    let deep = app.massage_type("deep-tissue").await;
    let never = [
        // off the grid, outside the schedule, in the past, beyond the horizon
        slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 5)),
        slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 16, 30)),
        slot_body(
            &clinic.therapist_id,
            &type_id,
            60,
            &at(local_date(-2), 10, 0),
        ),
        slot_body(
            &clinic.therapist_id,
            &type_id,
            60,
            &at(local_date(200), 10, 0),
        ),
        // a duration the type does not offer, an unknown type and therapist
        slot_body(&clinic.therapist_id, &type_id, 45, &at(day, 10, 0)),
        slot_body(
            &clinic.therapist_id,
            &uuid::Uuid::new_v4().to_string(),
            60,
            &at(day, 10, 0),
        ),
        slot_body(
            &uuid::Uuid::new_v4().to_string(),
            deep["id"].as_str().unwrap(),
            60,
            &at(day, 10, 0),
        ),
    ];
    for body in never {
        assert_problem(&app.hold(&ana, body.clone()).await, 422, "validation");
    }
    let mut extra = slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0));
    extra["notes"] = json!("no notes on a hold");
    assert_problem(&app.hold(&ana, extra).await, 422, "validation");
    assert_eq!(app.count("holds").await, 0);

    let hold = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();
    // hold_id with any slot field (or a client) is 422 naming each one.
    let mut both = slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0));
    both["hold_id"] = json!(hold_id);
    let resp = app
        .post("/api/v1/bookings")
        .token(&ana)
        .json(both)
        .send()
        .await;
    assert_problem(&resp, 422, "validation");
    let fields: Vec<&str> = resp.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "therapist_id",
            "massage_type_id",
            "duration_minutes",
            "start"
        ]
    );
    let resp = app
        .post("/api/v1/bookings")
        .token(&clinic.admin)
        .json(json!({"hold_id": hold_id, "client_id": uuid::Uuid::new_v4()}))
        .send()
        .await;
    assert_problem(&resp, 422, "validation");
    // Neither form: every slot field is named.
    let resp = app
        .post("/api/v1/bookings")
        .token(&ana)
        .json(json!({"notes": "hello"}))
        .send()
        .await;
    assert_problem(&resp, 422, "validation");
    assert_eq!(resp.body["errors"].as_array().unwrap().len(), 4);
    let resp = app
        .post("/api/v1/bookings")
        .token(&ana)
        .json(json!({"hold_id": "not-a-uuid"}))
        .send()
        .await;
    assert!(resp.status.is_client_error());
    assert_eq!(resp.status.as_u16() / 100, 4, "{}", resp.body);
    assert_ne!(resp.status.as_u16(), 404);
    assert_eq!(app.count("bookings").await, 0);
    assert_eq!(app.hold_status(&ana, &hold_id).await, "active");

    // The slot form works as it always did.
    app.book(&ana, &clinic.therapist_id, &type_id, 60, &at(day, 14, 0))
        .await
        .expect(201);
}

#[actix_web::test]
async fn booking_by_hold_honours_the_idempotency_key() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let ana = app.client_token("ana@example.com").await;
    let hold = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();
    let send = |key: &'static str, body: Value| {
        app.post("/api/v1/bookings")
            .token(&ana)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };
    let first = send("k-1", json!({ "hold_id": hold_id })).await;
    first.expect(201);
    let again = send("k-1", json!({ "hold_id": hold_id })).await;
    again.expect(201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(app.count("bookings").await, 1);
    let changed = send("k-1", json!({"hold_id": hold_id, "notes": "other"})).await;
    assert_problem(&changed, 422, "validation");
    // Without the key, the consumed hold is refused.
    assert_problem(&app.book_hold(&ana, &hold_id).await, 409, "hold-expired");
    // A refusal is replayed too.
    let refused = send("k-2", json!({ "hold_id": hold_id })).await;
    assert_problem(&refused, 409, "hold-expired");
    let replayed = send("k-2", json!({ "hold_id": hold_id })).await;
    assert_problem(&replayed, 409, "hold-expired");
    assert_eq!(
        replayed.header("idempotent-replayed").as_deref(),
        Some("true")
    );
}

#[actix_web::test]
async fn the_booking_of_a_hold_takes_the_held_room() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let mut rooms = Vec::new();
    for name in ["Room A", "Room B"] {
        let room = app
            .post(&format!("/api/v1/locations/{}/rooms", clinic.location_id))
            .token(&clinic.admin)
            .json(json!({ "name": name }))
            .send()
            .await;
        rooms.push(room.expect(201)["id"].as_str().unwrap().to_owned());
    }
    let liam = app
        .therapist(
            &clinic.admin,
            "Liam",
            &clinic.location_id,
            ("09:00", "17:00"),
        )
        .await;
    let ana = app.client_token("ana@example.com").await;
    let ben = app.client_token("ben@example.com").await;
    let cy = app.client_token("cy@example.com").await;
    // Ben takes Room A with Liam, so Ana's hold with Maya keeps Room B.
    let ben_booking = app.book(&ben, &liam, &type_id, 60, &at(day, 10, 0)).await;
    assert_eq!(ben_booking.expect(201)["room_id"], rooms[0].as_str());
    let hold = app
        .hold(
            &ana,
            slot_body(&clinic.therapist_id, &type_id, 60, &at(day, 10, 0)),
        )
        .await;
    let hold = hold.expect(201).clone();
    assert_eq!(hold["room_id"], rooms[1].as_str());
    // The location is full: nobody else gets a room then.
    let third = app
        .therapist(
            &clinic.admin,
            "Noor",
            &clinic.location_id,
            ("09:00", "17:00"),
        )
        .await;
    assert_problem(
        &app.book(&cy, &third, &type_id, 60, &at(day, 10, 0)).await,
        409,
        "slot-unavailable",
    );
    // Ben cancels: Room A is free and comes first, but the holder books the room the hold kept.
    app.post(&format!(
        "/api/v1/bookings/{}/cancel",
        ben_booking.body["id"].as_str().unwrap()
    ))
    .token(&ben)
    .send()
    .await
    .expect(200);
    let booked = app.book_hold(&ana, hold["id"].as_str().unwrap()).await;
    assert_eq!(booked.expect(201)["room_id"], rooms[1].as_str());
    let cy_booking = app.book(&cy, &third, &type_id, 60, &at(day, 10, 0)).await;
    assert_eq!(cy_booking.expect(201)["room_id"], rooms[0].as_str());
}

#[actix_web::test]
async fn the_booking_of_a_hold_is_judged_when_the_hold_was_taken() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let ana = app.client_token("ana@example.com").await;
    let ben = app.client_token("ben@example.com").await;
    let start = at(day, 10, 0);
    let hold = app
        .hold(&ana, slot_body(&clinic.therapist_id, &type_id, 60, &start))
        .await;
    let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();
    // Time passes, as the clinic sees it: the start is now inside the minimum notice (here by
    // making the notice longer), while the hold was taken early enough.
    let begins: chrono::DateTime<chrono::Utc> = start.parse().unwrap();
    let notice = (begins - chrono::Utc::now()).num_minutes() + 60;
    let app = app
        .restart_with([("MIN_NOTICE_MINUTES", notice.to_string())].into())
        .await;
    let taken = (begins - chrono::Duration::minutes(notice + 60))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S");
    app.sql(format!(
        "UPDATE holds SET created_at = '{taken}' WHERE id = '{hold_id}'"
    ))
    .await;
    // A fresh request for a start that close is too soon (checked before the hold's claim).
    let fresh = app
        .book(&ben, &clinic.therapist_id, &type_id, 60, &at(day, 10, 30))
        .await;
    assert_problem(&fresh, 422, "validation");
    assert_eq!(fresh.body["errors"][0]["field"], "start");
    let booked = app.book_hold(&ana, &hold_id).await;
    assert_eq!(booked.expect(201)["start"], start.as_str());
}

// ---------------------------------------------------------------------------------------------
// Races: the same guard as bookings, on whichever backend this run uses.
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sixty_four_concurrent_holds_and_bookings_for_one_slot_one_wins() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let clients = app.clients(128).await;
    // Two rounds, each with its own 64 clients, half of them holding and half booking.
    for (round, (h, m)) in [(10, 0), (14, 0)].into_iter().enumerate() {
        let body = slot_body(&clinic.therapist_id, &type_id, 60, &at(day, h, m));
        let racers = &clients[round * 64..(round + 1) * 64];
        let responses = join_all(racers.iter().enumerate().map(|(i, (_, token))| {
            let path = if i % 2 == 0 {
                "/api/v1/holds"
            } else {
                "/api/v1/bookings"
            };
            app.post(path).token(token).json(body.clone()).send()
        }))
        .await;
        let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
        let created = statuses.iter().filter(|s| **s == 201).count();
        let conflicts = statuses.iter().filter(|s| **s == 409).count();
        assert_eq!((created, conflicts), (1, 63), "round {round}: {statuses:?}");
        for r in responses.iter().filter(|r| r.status.as_u16() == 409) {
            assert_eq!(r.problem_type(), "slot-unavailable", "{}", r.body);
        }
        assert_eq!(app.claims().await, round as i64 + 1);
    }
}

#[actix_web::test]
async fn concurrent_overlapping_holds_and_bookings_one_wins() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let clients = app.clients(32).await;
    // Starts 09:15–11:00 all overlap 10:00–11:10 (massage and buffer) and each other's
    // neighbours; whichever wins, no two winners may overlap.
    let starts = [
        (9, 15),
        (9, 30),
        (9, 45),
        (10, 0),
        (10, 15),
        (10, 30),
        (10, 45),
        (11, 0),
    ];
    let responses = join_all(clients.iter().enumerate().map(|(i, (_, token))| {
        let (h, m) = starts[i % starts.len()];
        let path = if i % 2 == 0 {
            "/api/v1/holds"
        } else {
            "/api/v1/bookings"
        };
        app.post(path)
            .token(token)
            .json(slot_body(
                &clinic.therapist_id,
                &type_id,
                60,
                &at(day, h, m),
            ))
            .send()
    }))
    .await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let mut won: Vec<chrono::DateTime<chrono::Utc>> = responses
        .iter()
        .filter(|r| r.status.as_u16() == 201)
        .map(|r| r.body["start"].as_str().unwrap().parse().unwrap())
        .collect();
    won.sort();
    assert!(!won.is_empty());
    for pair in won.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::minutes(70),
            "overlapping winners {pair:?}"
        );
    }
    assert_eq!(app.claims().await, won.len() as i64);
}

#[actix_web::test]
async fn the_holder_always_gets_their_booking_against_thirty_others() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    let clients = app.clients(31).await;
    let (holder, others) = clients.split_first().unwrap();
    // A few rounds, each a fresh hold raced by everyone else.
    for (round, (h, m)) in [(10, 0), (12, 0), (14, 30)].into_iter().enumerate() {
        let start = at(day, h, m);
        let hold = app
            .hold(
                &holder.1,
                slot_body(&clinic.therapist_id, &type_id, 60, &start),
            )
            .await;
        let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();
        let mine = app.book_hold(&holder.1, &hold_id);
        let theirs = join_all(others.iter().enumerate().map(|(i, (_, token))| {
            let path = if i % 2 == 0 {
                "/api/v1/holds"
            } else {
                "/api/v1/bookings"
            };
            app.post(path)
                .token(token)
                .json(slot_body(&clinic.therapist_id, &type_id, 60, &start))
                .send()
        }));
        let (mine, theirs) = futures::join!(mine, theirs);
        mine.expect(201);
        assert_eq!(mine.body["start"], start.as_str(), "round {round}");
        let statuses: Vec<u16> = theirs.iter().map(|r| r.status.as_u16()).collect();
        assert!(
            statuses.iter().all(|s| *s == 409),
            "round {round}: {statuses:?}"
        );
        assert_eq!(app.claims().await, round as i64 + 1);
    }
}

#[actix_web::test]
async fn the_holder_keeps_their_room_while_others_race_for_the_rest() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = swedish(&clinic);
    let day = local_date(7);
    for name in ["Room A", "Room B"] {
        app.post(&format!("/api/v1/locations/{}/rooms", clinic.location_id))
            .token(&clinic.admin)
            .json(json!({ "name": name }))
            .send()
            .await
            .expect(201);
    }
    let mut therapists = Vec::new();
    for name in ["Liam", "Noor"] {
        therapists.push(
            app.therapist(&clinic.admin, name, &clinic.location_id, ("09:00", "17:00"))
                .await,
        );
    }
    let clients = app.clients(21).await;
    let (holder, others) = clients.split_first().unwrap();
    let start = at(day, 10, 0);
    let hold = app
        .hold(
            &holder.1,
            slot_body(&clinic.therapist_id, &type_id, 60, &start),
        )
        .await;
    let hold_id = hold.expect(201)["id"].as_str().unwrap().to_owned();
    let mine = app.book_hold(&holder.1, &hold_id);
    let theirs = join_all(others.iter().enumerate().map(|(i, (_, token))| {
        let path = if i % 2 == 0 {
            "/api/v1/holds"
        } else {
            "/api/v1/bookings"
        };
        app.post(path)
            .token(token)
            .json(slot_body(&therapists[i % 2], &type_id, 60, &start))
            .send()
    }));
    let (mine, theirs) = futures::join!(mine, theirs);
    mine.expect(201);
    let statuses: Vec<u16> = theirs.iter().map(|r| r.status.as_u16()).collect();
    // One room is the holder's; the other goes to exactly one of the rest.
    assert_eq!(
        (
            statuses.iter().filter(|s| **s == 201).count(),
            statuses.iter().filter(|s| **s == 409).count()
        ),
        (1, 19),
        "{statuses:?}"
    );
    assert_eq!(app.claims().await, 2);
}
