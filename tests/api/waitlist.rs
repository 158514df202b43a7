//! The waitlist through the public API: a full day, clients waiting for it, a cancellation that
//! offers the freed time to the oldest fitting entry in the cancel's own transaction, booking by
//! the offer's hold, offers that run out and pass the time on (never back to the same entry),
//! leaving the waitlist; on both backends.

use serde_json::{Value, json};

use crate::helpers::{Clinic, Options, Resp, TestApp, local_date};
use crate::mail::{SmtpSink, parse};

fn swedish(clinic: &Clinic) -> String {
    clinic.swedish["id"].as_str().unwrap().to_owned()
}

impl TestApp {
    async fn join(&self, token: &str, body: Value) -> Resp {
        self.post("/api/v1/waitlist")
            .token(token)
            .json(body)
            .send()
            .await
    }

    async fn entry(&self, token: &str, id: &str) -> Value {
        self.get(&format!("/api/v1/waitlist/{id}"))
            .token(token)
            .send()
            .await
            .expect(200)
            .clone()
    }

    /// Books every slot of the clinic therapist's day, one client a booking; returns the
    /// bookings (id, start, client token) in order.
    async fn fill_day(
        &self,
        clinic: &Clinic,
        day: chrono::NaiveDate,
    ) -> Vec<(String, String, String)> {
        let type_id = swedish(clinic);
        let clients = self.clients(16).await;
        let only = format!("&therapist_id={}", clinic.therapist_id);
        let mut booked = Vec::new();
        for (_, token) in clients {
            let starts = self.slot_starts(&type_id, 60, day, &only).await;
            let Some(start) = starts.first() else {
                break;
            };
            let resp = self
                .book(&token, &clinic.therapist_id, &type_id, 60, start)
                .await;
            let id = resp.expect(201)["id"].as_str().unwrap().to_owned();
            booked.push((id, start.clone(), token));
        }
        assert!(booked.len() >= 3, "a day of several bookings");
        assert!(
            self.slot_starts(&type_id, 60, day, &only).await.is_empty(),
            "the day is full"
        );
        booked
    }

    async fn cancel(&self, token: &str, booking_id: &str) -> Resp {
        self.post(&format!("/api/v1/bookings/{booking_id}/cancel"))
            .token(token)
            .send()
            .await
    }

    /// One waitlist pass now; how many entries it changed.
    async fn waitlist_pass(&self) -> usize {
        self.waitlist_pass_counts().await.entries
    }

    async fn waitlist_pass_counts(&self) -> inspine::booking::waitlist::Passed {
        inspine::booking::waitlist::run_once(&self.state, chrono::Utc::now())
            .await
            .expect("a waitlist pass")
    }

    /// Makes the offer's hold expired, as time passing would.
    async fn expire_hold(&self, hold_id: &str) {
        self.sql(format!(
            "UPDATE holds SET expires_at = created_at WHERE id = '{hold_id}'"
        ))
        .await;
    }
}

fn entry_body(clinic: &Clinic, day: chrono::NaiveDate, duration: u32) -> Value {
    json!({"massage_type_id": swedish(clinic), "duration_minutes": duration,
           "from": day.to_string(), "to": day.to_string()})
}

fn id_of(resp: &Resp) -> String {
    resp.expect(201)["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_cancellation_is_offered_to_the_oldest_fitting_entry_who_books_it() {
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(Options {
        env: [
            ("SMTP_URL", sink.url.clone()),
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true".to_owned()),
        ]
        .into(),
    })
    .await;
    let clinic = app.clinic().await;
    let hook = app
        .post("/api/v1/webhooks")
        .token(&clinic.admin)
        .json(json!({"url": "http://127.0.0.1:9/hook", "events": ["waitlist.offered"]}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let day = local_date(7);
    let booked = app.fill_day(&clinic, day).await;

    // Oldest first, but an entry that cannot fit the freed hour (90 minutes) is skipped.
    let too_long = app.client_token("long@example.com").await;
    let long_id = id_of(&app.join(&too_long, entry_body(&clinic, day, 90)).await);
    let ana = app.client_token("ana@example.com").await;
    let joined = app.join(&ana, entry_body(&clinic, day, 60)).await;
    assert_eq!(joined.status, 201, "{}", joined.body);
    assert!(
        joined
            .header("location")
            .unwrap()
            .ends_with(&id_of(&joined))
    );
    assert_eq!(joined.body["status"], "waiting");
    assert_eq!(joined.body["offer"], Value::Null);
    let ana_id = id_of(&joined);
    let ben = app.client_token("ben@example.com").await;
    let ben_id = id_of(&app.join(&ben, entry_body(&clinic, day, 60)).await);

    let (booking_id, start, owner) = &booked[1];
    let cancelled = app.cancel(owner, booking_id).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);

    let entry = app.entry(&ana, &ana_id).await;
    assert_eq!(entry["status"], "offered", "{entry}");
    let offer = &entry["offer"];
    assert_eq!(offer["start"], json!(start));
    assert_eq!(offer["therapist_id"], json!(clinic.therapist_id));
    let hold_id = offer["hold_id"].as_str().unwrap().to_owned();
    assert_eq!(app.entry(&too_long, &long_id).await["status"], "waiting");
    assert_eq!(app.entry(&ben, &ben_id).await["status"], "waiting");

    // The offered time is nobody else's: not in /slots, not bookable.
    let only = format!("&therapist_id={}", clinic.therapist_id);
    assert!(
        app.slot_starts(&swedish(&clinic), 60, day, &only)
            .await
            .is_empty()
    );
    let taken = app
        .book(
            &booked[0].2,
            &clinic.therapist_id,
            &swedish(&clinic),
            60,
            start,
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);

    // The event and the email.
    let deliveries = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .token(&clinic.admin)
        .send()
        .await;
    let items = deliveries.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["event_type"], "waitlist.offered");
    inspine::notify::run_once(
        &inspine::notify::Postman::of(&app.state),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let offers: Vec<_> = sink
        .messages()
        .iter()
        .map(|m| parse(m))
        .filter(|m| m.header("subject").starts_with("A time opened up"))
        .collect();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].header("to"), "ana@example.com");
    assert!(offers[0].text.contains("Maya"), "{}", offers[0].text);

    // Ana books it by the offer's hold.
    let mine = app
        .post("/api/v1/bookings")
        .token(&ana)
        .json(json!({ "hold_id": hold_id }))
        .send()
        .await;
    assert_eq!(mine.status, 201, "{}", mine.body);
    assert_eq!(mine.body["start"], json!(start));
    let entry = app.entry(&ana, &ana_id).await;
    assert_eq!(entry["status"], "booked");
    assert_eq!(entry["offer"], Value::Null);

    // Her export carries the entry.
    let export = app.get("/api/v1/me/export").token(&ana).send().await;
    let waitlist = export.expect(200)["waitlist"].as_array().unwrap().clone();
    assert_eq!(waitlist.len(), 1);
    assert_eq!(waitlist[0]["id"], json!(ana_id));

    // Lists: a client sees their own; staff all, by status.
    let own = app.get("/api/v1/waitlist").token(&ben).send().await;
    let own = own.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["id"], json!(ben_id));
    let all = app
        .get("/api/v1/waitlist?status=waiting&limit=1")
        .token(&clinic.admin)
        .send()
        .await;
    let all = all.expect(200).clone();
    assert_eq!(all["items"][0]["id"], json!(long_id));
    let cursor = all["next_cursor"].as_str().unwrap();
    let next = app
        .get(&format!(
            "/api/v1/waitlist?status=waiting&limit=1&cursor={cursor}"
        ))
        .token(&clinic.admin)
        .send()
        .await;
    assert_eq!(next.expect(200)["items"][0]["id"], json!(ben_id));
}

#[actix_web::test]
async fn an_unused_offer_passes_to_the_next_entry_and_never_back() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let day = local_date(6);
    let booked = app.fill_day(&clinic, day).await;
    let ana = app.client_token("ana@example.com").await;
    let ana_id = id_of(&app.join(&ana, entry_body(&clinic, day, 60)).await);
    let ben = app.client_token("ben@example.com").await;
    let ben_id = id_of(&app.join(&ben, entry_body(&clinic, day, 60)).await);

    let (booking_id, start, owner) = &booked[2];
    app.cancel(owner, booking_id).await.expect(200);
    let first = app.entry(&ana, &ana_id).await;
    assert_eq!(first["status"], "offered");
    let first_hold = first["offer"]["hold_id"].as_str().unwrap().to_owned();
    assert_eq!(app.waitlist_pass().await, 0, "a live offer stays");

    app.expire_hold(&first_hold).await;
    // Read before any pass: the offer is over.
    assert_eq!(app.entry(&ana, &ana_id).await["status"], "waiting");
    assert_eq!(app.waitlist_pass().await, 1);
    let ana_entry = app.entry(&ana, &ana_id).await;
    assert_eq!(ana_entry["status"], "waiting");
    assert_eq!(ana_entry["offer"], Value::Null);
    let second = app.entry(&ben, &ben_id).await;
    assert_eq!(second["status"], "offered", "{second}");
    assert_eq!(second["offer"]["start"], json!(start));
    // The expired hold cannot be booked.
    let late = app
        .post("/api/v1/bookings")
        .token(&ana)
        .json(json!({ "hold_id": first_hold }))
        .send()
        .await;
    assert_eq!(late.status, 409, "{}", late.body);

    // Ben lets it go too: nobody is offered that time again, and it is open to all.
    app.expire_hold(second["offer"]["hold_id"].as_str().unwrap())
        .await;
    app.waitlist_pass().await;
    assert_eq!(app.entry(&ana, &ana_id).await["status"], "waiting");
    assert_eq!(app.entry(&ben, &ben_id).await["status"], "waiting");
    let only = format!("&therapist_id={}", clinic.therapist_id);
    assert_eq!(
        app.slot_starts(&swedish(&clinic), 60, day, &only).await,
        vec![start.clone()]
    );
}

#[actix_web::test]
async fn leaving_the_waitlist_releases_the_offer_to_the_next_entry() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let day = local_date(5);
    let booked = app.fill_day(&clinic, day).await;
    let ana = app.client_token("ana@example.com").await;
    let ana_id = id_of(&app.join(&ana, entry_body(&clinic, day, 60)).await);
    let ben = app.client_token("ben@example.com").await;
    let ben_id = id_of(&app.join(&ben, entry_body(&clinic, day, 60)).await);
    let (booking_id, start, owner) = &booked[1];
    app.cancel(owner, booking_id).await.expect(200);
    assert_eq!(app.entry(&ana, &ana_id).await["status"], "offered");

    // Another client cannot see or remove it.
    let path = format!("/api/v1/waitlist/{ana_id}");
    app.get(&path).token(&ben).send().await.expect(404);
    app.delete(&path).token(&ben).send().await.expect(404);

    app.delete(&path).token(&ana).send().await.expect(204);
    let left = app.entry(&ana, &ana_id).await;
    assert_eq!(left["status"], "cancelled");
    assert_eq!(left["offer"], Value::Null);
    let next = app.entry(&ben, &ben_id).await;
    assert_eq!(next["status"], "offered");
    assert_eq!(next["offer"]["start"], json!(start));
    // Leaving twice changes nothing.
    app.delete(&path).token(&ana).send().await.expect(204);
}

#[actix_web::test]
async fn time_off_deleted_is_offered_to_the_waitlist() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let day = local_date(8);
    let created = app
        .post(&format!("/api/v1/therapists/{}/time-off", clinic.therapist_id))
        .token(&clinic.admin)
        .json(json!({"starts_at": crate::helpers::at(day, 9, 0), "ends_at": crate::helpers::at(day, 17, 0)}))
        .send()
        .await;
    let off_id = created.expect(201)["id"].as_str().unwrap().to_owned();
    let ana = app.client_token("ana@example.com").await;
    let ana_id = id_of(
        &app.join(
            &ana,
            json!({"massage_type_id": swedish(&clinic), "duration_minutes": 60,
                   "from": day.to_string(), "to": day.to_string(),
                   "therapist_id": clinic.therapist_id, "location_id": clinic.location_id}),
        )
        .await,
    );
    app.delete(&format!(
        "/api/v1/therapists/{}/time-off/{off_id}",
        clinic.therapist_id
    ))
    .token(&clinic.admin)
    .send()
    .await
    .expect(204);
    let entry = app.entry(&ana, &ana_id).await;
    assert_eq!(entry["status"], "offered", "{entry}");
    assert_eq!(
        entry["offer"]["start"],
        json!(crate::helpers::at(day, 9, 0))
    );
}

#[actix_web::test]
async fn joining_checks_the_dates_and_the_massage() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let ana = app.client_token("ana@example.com").await;
    let today = local_date(0);
    let cases = [
        (
            json!({"from": local_date(-1).to_string(), "to": today.to_string()}),
            "from",
        ),
        (
            json!({"from": local_date(3).to_string(), "to": local_date(2).to_string()}),
            "to",
        ),
        (
            json!({"from": local_date(1).to_string(), "to": local_date(33).to_string()}),
            "to",
        ),
        (json!({"duration_minutes": 7}), "duration_minutes"),
        (
            json!({"massage_type_id": uuid::Uuid::new_v4()}),
            "massage_type_id",
        ),
        (json!({"location_id": uuid::Uuid::new_v4()}), "location_id"),
        (
            json!({"therapist_id": uuid::Uuid::new_v4()}),
            "therapist_id",
        ),
        (json!({"client_id": uuid::Uuid::new_v4()}), "client_id"),
    ];
    for (change, field) in cases {
        let mut body = entry_body(&clinic, local_date(1), 60);
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let resp = app.join(&ana, body.clone()).await;
        assert_eq!(resp.status, 422, "{body}: {}", resp.body);
        assert_eq!(resp.body["errors"][0]["field"], field, "{}", resp.body);
    }
    // 31 days apart is fine; staff add a client by id.
    let mut body = entry_body(&clinic, local_date(1), 60);
    body["to"] = json!(local_date(32).to_string());
    app.join(&ana, body.clone()).await.expect(201);
    app.join(&clinic.admin, body.clone()).await.expect(422);
    let me = app.get("/api/v1/me").token(&ana).send().await.expect(200)["id"].clone();
    body["client_id"] = me.clone();
    let staff = app.join(&clinic.admin, body).await;
    assert_eq!(staff.expect(201)["client_id"], me);
    app.get(&format!("/api/v1/waitlist/{}", uuid::Uuid::new_v4()))
        .token(&ana)
        .send()
        .await
        .expect(404);
}

#[actix_web::test]
async fn a_booking_moved_away_or_a_released_offer_frees_time_for_the_waitlist() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let day = local_date(9);
    let booked = app.fill_day(&clinic, day).await;
    let ana = app.client_token("ana@example.com").await;
    let ana_id = id_of(&app.join(&ana, entry_body(&clinic, day, 60)).await);
    let ben = app.client_token("ben@example.com").await;
    let ben_id = id_of(&app.join(&ben, entry_body(&clinic, day, 60)).await);

    // A booking moved to another day frees its hour.
    let (booking_id, start, owner) = &booked[1];
    let moved = app
        .post(&format!("/api/v1/bookings/{booking_id}/reschedule"))
        .token(owner)
        .json(json!({"start": crate::helpers::at(local_date(10), 9, 0)}))
        .send()
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let offered = app.entry(&ana, &ana_id).await;
    assert_eq!(offered["status"], "offered");
    assert_eq!(offered["offer"]["start"], json!(start));

    // Ana releases the offer's hold: she let that time go, and Ben gets it.
    let hold_id = offered["offer"]["hold_id"].as_str().unwrap();
    app.delete(&format!("/api/v1/holds/{hold_id}"))
        .token(&ana)
        .send()
        .await
        .expect(204);
    assert_eq!(app.entry(&ana, &ana_id).await["status"], "waiting");
    let next = app.entry(&ben, &ben_id).await;
    assert_eq!(next["status"], "offered");
    assert_eq!(next["offer"]["start"], json!(start));
}

#[actix_web::test]
async fn an_entry_past_its_dates_reads_expired() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let ana = app.client_token("ana@example.com").await;
    let id = id_of(&app.join(&ana, entry_body(&clinic, local_date(1), 60)).await);
    let past = local_date(-3).to_string();
    app.sql(format!(
        "UPDATE waitlist_entries SET from_date = '{past}', to_date = '{past}' WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(app.entry(&ana, &id).await["status"], "expired");
    let listed = app
        .get("/api/v1/waitlist?status=expired")
        .token(&ana)
        .send()
        .await;
    assert_eq!(listed.expect(200)["items"][0]["id"], json!(id));
    assert_eq!(app.waitlist_pass().await, 1);
    assert_eq!(
        app.count_where("waitlist_entries", "status = 'expired'")
            .await,
        1
    );
    let waiting = app
        .get("/api/v1/waitlist?status=waiting")
        .token(&ana)
        .send()
        .await;
    assert_eq!(waiting.expect(200)["items"], json!([]));
}

#[actix_web::test]
async fn a_hold_replaced_by_its_clients_next_hold_frees_its_time_for_the_waitlist() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let day = local_date(4);
    let mut booked = app.fill_day(&clinic, day).await;
    // Carl cancels one hour and holds it at once (nobody waits yet), then holds another day.
    let (booking_id, start, owner) = booked.remove(1);
    app.cancel(&owner, &booking_id).await.expect(200);
    let carl = app.client_token("carl@example.com").await;
    let hold = |start: String| {
        json!({"therapist_id": clinic.therapist_id, "massage_type_id": swedish(&clinic),
               "duration_minutes": 60, "start": start})
    };
    app.post("/api/v1/holds")
        .token(&carl)
        .json(hold(start.clone()))
        .send()
        .await
        .expect(201);
    let ana = app.client_token("ana@example.com").await;
    let ana_id = id_of(&app.join(&ana, entry_body(&clinic, day, 60)).await);
    app.post("/api/v1/holds")
        .token(&carl)
        .json(hold(crate::helpers::at(local_date(11), 9, 0)))
        .send()
        .await
        .expect(201);
    let entry = app.entry(&ana, &ana_id).await;
    assert_eq!(entry["status"], "offered", "{entry}");
    assert_eq!(entry["offer"]["start"], json!(start));
}

#[actix_web::test]
async fn a_clients_hold_that_runs_out_is_offered_to_the_waitlist() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let day = local_date(4);
    let mut booked = app.fill_day(&clinic, day).await;
    // Carl cancels one hour and holds it at once (nobody waits yet), then walks away.
    let (booking_id, start, owner) = booked.remove(1);
    app.cancel(&owner, &booking_id).await.expect(200);
    let carl = app.client_token("carl@example.com").await;
    let held = app
        .post("/api/v1/holds")
        .token(&carl)
        .json(
            json!({"therapist_id": clinic.therapist_id, "massage_type_id": swedish(&clinic),
                     "duration_minutes": 60, "start": start}),
        )
        .send()
        .await;
    let hold_id = id_of(&held);
    let ana = app.client_token("ana@example.com").await;
    let ana_id = id_of(&app.join(&ana, entry_body(&clinic, day, 60)).await);
    let passed = app.waitlist_pass_counts().await;
    assert_eq!(passed.holds_expired, 0, "a live hold stays");
    assert_eq!(app.entry(&ana, &ana_id).await["status"], "waiting");

    app.expire_hold(&hold_id).await;
    let passed = app.waitlist_pass_counts().await;
    assert_eq!(passed.holds_expired, 1);
    let entry = app.entry(&ana, &ana_id).await;
    assert_eq!(entry["status"], "offered", "{entry}");
    assert_eq!(entry["offer"]["start"], json!(start));
    // Counted once, written once: a second pass finds nothing more to do.
    assert_eq!(app.waitlist_pass_counts().await.holds_expired, 0);
    let hold = app
        .get(&format!("/api/v1/holds/{hold_id}"))
        .token(&carl)
        .send()
        .await;
    assert_eq!(hold.expect(200)["status"], "expired");
    let metrics = app.get("/metrics").send().await;
    let metrics = String::from_utf8(metrics.raw.clone()).unwrap();
    assert!(
        metrics.contains(r#"inspine_holds_total{outcome="expired"} 1"#),
        "{metrics}"
    );
    // Carl's own late booking of it is refused.
    let late = app
        .post("/api/v1/bookings")
        .token(&carl)
        .json(json!({ "hold_id": hold_id }))
        .send()
        .await;
    assert_eq!(late.status, 409, "{}", late.body);
}
