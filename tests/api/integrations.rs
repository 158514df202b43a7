use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, at, local_date};

// ---------------------------------------------------------------------------------------------
// Script tokens
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn script_tokens_act_as_their_creator_until_revoked() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let client = app.client_token("c@example.com").await;
    app.post("/api/v1/api-tokens")
        .token(&client)
        .json(json!({"name": "nope"}))
        .send()
        .await
        .expect(403);
    let created = app
        .post("/api/v1/api-tokens")
        .token(&admin)
        .json(json!({"name": "schedule import"}))
        .send()
        .await;
    let created = created.expect(201).clone();
    let script = created["token"].as_str().unwrap().to_owned();
    assert!(script.starts_with("isp_") && script.len() > 40);

    app.get("/api/v1/users")
        .token(&script)
        .send()
        .await
        .expect(200);
    let listed = app.get("/api/v1/api-tokens").token(&script).send().await;
    let listed = listed.expect(200).clone();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["items"][0].get("token").is_none());
    assert!(!listed.to_string().contains(&script));

    let id = created["id"].as_str().unwrap();
    app.delete(&format!("/api/v1/api-tokens/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get("/api/v1/users")
        .token(&script)
        .send()
        .await
        .expect(401);
    app.delete(&format!("/api/v1/api-tokens/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(404);

    let expired = app
        .post("/api/v1/api-tokens")
        .token(&admin)
        .json(json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"}))
        .send()
        .await;
    expired.expect(422);
    app.get("/api/v1/users")
        .token("isp_made-up")
        .send()
        .await
        .expect(401);
}

// ---------------------------------------------------------------------------------------------
// Calendar feeds
// ---------------------------------------------------------------------------------------------

fn parse(raw: &[u8]) -> icalendar::Calendar {
    String::from_utf8_lossy(raw)
        .parse::<icalendar::Calendar>()
        .expect("valid iCalendar")
}

fn events(raw: &[u8]) -> Vec<icalendar::Event> {
    parse(raw).events().cloned().collect()
}

fn utc_of(event: &icalendar::Event, which: &str) -> chrono::DateTime<chrono::Utc> {
    use icalendar::{CalendarDateTime, Component, DatePerhapsTime};
    let value = if which == "start" {
        event.get_start()
    } else {
        event.get_end()
    };
    match value {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(t))) => t,
        other => panic!("expected a UTC date-time, got {other:?}"),
    }
}

#[actix_web::test]
async fn feeds_carry_bookings_with_stable_uids_growing_sequence_and_cancellations() {
    use icalendar::{Component, EventLike, EventStatus};
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.register("ana@example.com").await;
    let token = client["access_token"].as_str().unwrap();
    let day = local_date(7);
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let booked = app
        .post("/api/v1/bookings")
        .token(token)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id, "duration_minutes": 60, "start": at(day, 10, 0)}))
        .send()
        .await;
    let id = booked.expect(201)["id"].as_str().unwrap().to_owned();

    let feed = app
        .post("/api/v1/me/calendar-token")
        .token(token)
        .send()
        .await;
    let feed = feed.expect(200).clone();
    let url = feed["url"].as_str().unwrap().to_owned();
    assert!(
        feed["token"].as_str().unwrap().len() >= 22,
        "at least 128 bits"
    );

    let first = app.get(&url).send().await;
    first.expect(200);
    assert_eq!(
        first.header("content-type").as_deref(),
        Some("text/calendar; charset=utf-8")
    );
    let evs = events(&first.raw);
    assert_eq!(evs.len(), 1);
    assert_eq!(
        evs[0].get_uid(),
        Some(format!("{id}@inspine.example").as_str())
    );
    assert_eq!(
        utc_of(&evs[0], "start").to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at(day, 10, 0)
    );
    assert_eq!(
        utc_of(&evs[0], "end").to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at(day, 11, 0)
    );
    assert_eq!(evs[0].get_sequence(), Some(0));
    assert_eq!(evs[0].get_status(), Some(EventStatus::Confirmed));
    assert!(
        evs[0]
            .get_summary()
            .unwrap()
            .contains("Swedish massage (60 min) with Maya")
    );
    assert!(evs[0].get_location().unwrap().contains("Port Moody"));
    assert!(evs[0].get_timestamp().is_some());

    // Polling with the ETag costs nothing while nothing changed.
    let etag = first.header("etag").unwrap();
    let unchanged = app.get(&url).header("If-None-Match", &etag).send().await;
    assert_eq!(unchanged.status.as_u16(), 304);
    assert!(unchanged.raw.is_empty());

    app.post(&format!("/api/v1/bookings/{id}/reschedule"))
        .token(token)
        .json(json!({"start": at(day, 13, 0)}))
        .send()
        .await
        .expect(200);
    let moved = app.get(&url).header("If-None-Match", &etag).send().await;
    moved.expect(200);
    let evs = events(&moved.raw);
    assert_eq!(
        evs[0].get_uid(),
        Some(format!("{id}@inspine.example").as_str())
    );
    assert_eq!(evs[0].get_sequence(), Some(1));
    assert_eq!(
        utc_of(&evs[0], "start").to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at(day, 13, 0)
    );

    app.post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(token)
        .send()
        .await
        .expect(200);
    let cancelled = app.get(&url).send().await;
    let evs = events(&cancelled.raw);
    assert_eq!(evs.len(), 1, "cancelled bookings stay in the feed");
    assert_eq!(evs[0].get_status(), Some(EventStatus::Cancelled));
    assert_eq!(evs[0].get_sequence(), Some(2));

    // Rotation: the old URL stops working at once.
    let rotated = app
        .post("/api/v1/me/calendar-token")
        .token(token)
        .send()
        .await;
    let new_url = rotated.expect(200)["url"].as_str().unwrap().to_owned();
    app.get(&url).send().await.expect(404);
    app.get(&new_url).send().await.expect(200);
    app.get("/api/v1/calendar/me.ics?token=made-up")
        .send()
        .await
        .expect(404);
    app.get("/api/v1/calendar/me.ics").send().await.expect(400);
}

#[actix_web::test]
async fn the_therapist_feed_names_clients_and_refuses_foreign_tokens() {
    use icalendar::Component;
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.client_token("ana@example.com").await;
    let day = local_date(7);
    app.post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(day, 10, 0)}))
        .send()
        .await
        .expect(201);
    let rotated = app
        .post(&format!(
            "/api/v1/therapists/{}/calendar-token",
            clinic.therapist_id
        ))
        .token(&clinic.admin)
        .send()
        .await;
    let rotated = rotated.expect(200).clone();
    let url = rotated["url"].as_str().unwrap();
    let feed = app.get(url).send().await;
    feed.expect(200);
    let evs = events(&feed.raw);
    assert_eq!(evs.len(), 1);
    assert!(
        evs[0].get_summary().unwrap().ends_with("— Client"),
        "{:?}",
        evs[0].get_summary()
    );

    // A client's own feed token does not open the therapist's feed.
    let mine = app
        .post("/api/v1/me/calendar-token")
        .token(&client)
        .send()
        .await;
    let my_token = mine.expect(200)["token"].as_str().unwrap().to_owned();
    app.get(&format!(
        "/api/v1/calendar/therapists/{}.ics?token={my_token}",
        clinic.therapist_id
    ))
    .send()
    .await
    .expect(404);
    app.post(&format!(
        "/api/v1/therapists/{}/calendar-token",
        clinic.therapist_id
    ))
    .token(&client)
    .send()
    .await
    .expect(403);
}

#[actix_web::test]
async fn a_single_booking_as_ics() {
    use icalendar::Component;
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let a = app.client_token("a@example.com").await;
    let b = app.client_token("b@example.com").await;
    let booked = app
        .post("/api/v1/bookings")
        .token(&a)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), 10, 0)}))
        .send()
        .await;
    let id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    let ics = app
        .get(&format!("/api/v1/bookings/{id}.ics"))
        .token(&a)
        .send()
        .await;
    ics.expect(200);
    assert_eq!(
        events(&ics.raw)[0].get_uid(),
        Some(format!("{id}@inspine.example").as_str())
    );
    app.get(&format!("/api/v1/bookings/{id}.ics"))
        .token(&b)
        .send()
        .await
        .expect(404);
    app.get(&format!("/api/v1/bookings/{id}"))
        .token(&a)
        .send()
        .await
        .expect(200);
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<(HashHeaders, String)>>>,
    fail_first: Arc<AtomicUsize>,
}

type HashHeaders = std::collections::HashMap<String, String>;

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    receiver: web::Data<Receiver>,
) -> HttpResponse {
    let headers: HashHeaders = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    receiver
        .received
        .lock()
        .unwrap()
        .push((headers, String::from_utf8_lossy(&body).into_owned()));
    let left = receiver.fail_first.load(Ordering::SeqCst);
    if left > 0 {
        receiver.fail_first.store(left - 1, Ordering::SeqCst);
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok().finish()
}

/// A real HTTP receiver on 127.0.0.1, inside the test.
fn start_receiver(fail_first: usize) -> (String, Receiver) {
    let receiver = Receiver::default();
    receiver.fail_first.store(fail_first, Ordering::SeqCst);
    let data = web::Data::new(receiver.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    (format!("http://{addr}/hooks"), receiver)
}

fn verify(secret: &str, headers: &HashHeaders, body: &str) {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            headers["webhook-id"], headers["webhook-timestamp"], body
        )
        .as_bytes(),
    );
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    assert_eq!(headers["webhook-signature"], expected);
    let ts: i64 = headers["webhook-timestamp"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 300);
}

async fn private_targets_app() -> TestApp {
    TestApp::spawn_with(Options {
        env: [("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true".to_owned())].into(),
    })
    .await
}

async fn register_hook(app: &TestApp, admin: &str, url: &str, events: Value) -> (String, String) {
    let resp = app
        .post("/api/v1/webhooks")
        .token(admin)
        .json(json!({"url": url, "events": events}))
        .send()
        .await;
    let body = resp.expect(201).clone();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn book(app: &TestApp, clinic: &crate::helpers::Clinic, token: &str, hour: u32) -> String {
    let booked = app
        .post("/api/v1/bookings")
        .token(token)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), hour, 0)}))
        .send()
        .await;
    booked.expect(201)["id"].as_str().unwrap().to_owned()
}

async fn pass(app: &TestApp, at: chrono::DateTime<chrono::Utc>) -> usize {
    let client = inspine::integrations::webhooks::client();
    inspine::integrations::webhooks::run_once(
        &inspine::integrations::webhooks::Outbox::of(&app.state),
        &client,
        at,
    )
    .await
    .unwrap()
}

#[actix_web::test]
async fn signed_events_arrive_exactly_once() {
    let app = private_targets_app().await;
    let clinic = app.clinic().await;
    let (url, receiver) = start_receiver(0);
    let (_, secret) = register_hook(
        &app,
        &clinic.admin,
        &url,
        json!(["booking.created", "booking.cancelled"]),
    )
    .await;
    let client = app.client_token("a@example.com").await;
    let id = book(&app, &clinic, &client, 10).await;
    app.post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&client)
        .send()
        .await
        .expect(200);
    // Not subscribed: no delivery for rescheduling.
    let other = book(&app, &clinic, &client, 13).await;
    app.post(&format!("/api/v1/bookings/{other}/reschedule"))
        .token(&client)
        .json(json!({"start": at(local_date(7), 14, 0)}))
        .send()
        .await
        .expect(200);

    assert_eq!(pass(&app, chrono::Utc::now()).await, 3);
    assert_eq!(
        pass(&app, chrono::Utc::now() + chrono::Duration::hours(30)).await,
        0
    );
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    let mut types = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (headers, body) in &received {
        verify(&secret, headers, body);
        assert!(ids.insert(headers["webhook-id"].clone()));
        let event: Value = serde_json::from_str(body).unwrap();
        assert!(event["timestamp"].is_string());
        types.push((
            event["type"].as_str().unwrap().to_owned(),
            event["data"]["id"].as_str().unwrap().to_owned(),
        ));
    }
    types.sort();
    let mut expected = vec![
        ("booking.cancelled".to_owned(), id.clone()),
        ("booking.created".to_owned(), id.clone()),
        ("booking.created".to_owned(), other.clone()),
    ];
    expected.sort();
    assert_eq!(types, expected);
}

#[actix_web::test]
async fn failed_deliveries_are_retried_with_back_off() {
    let app = private_targets_app().await;
    let clinic = app.clinic().await;
    let (url, receiver) = start_receiver(2);
    let (hook, secret) = register_hook(&app, &clinic.admin, &url, json!(["booking.created"])).await;
    let client = app.client_token("a@example.com").await;
    book(&app, &clinic, &client, 10).await;

    let t0 = chrono::Utc::now();
    assert_eq!(pass(&app, t0).await, 1); // 500
    assert_eq!(
        pass(&app, t0 + chrono::Duration::seconds(1)).await,
        0,
        "not due yet"
    );
    assert_eq!(pass(&app, t0 + chrono::Duration::seconds(6)).await, 1); // 500 again
    let deliveries = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .token(&clinic.admin)
        .send()
        .await;
    let d = deliveries.expect(200)["items"][0].clone();
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempt_count"], 2);
    assert_eq!(d["last_status_code"], 500);
    assert!(d["next_attempt_at"].is_string());
    assert_eq!(
        pass(&app, t0 + chrono::Duration::seconds(60)).await,
        0,
        "the second delay is minutes"
    );
    assert_eq!(pass(&app, t0 + chrono::Duration::minutes(6)).await, 1); // 200

    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    let first_id = &received[0].0["webhook-id"];
    for (headers, body) in &received {
        verify(&secret, headers, body);
        assert_eq!(
            &headers["webhook-id"], first_id,
            "retries keep the message id"
        );
    }
    let deliveries = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .token(&clinic.admin)
        .send()
        .await;
    let d = deliveries.expect(200)["items"][0].clone();
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempt_count"], 3);
    let codes: Vec<i64> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(d["next_attempt_at"], Value::Null);
}

#[actix_web::test]
async fn a_delivery_that_never_succeeds_is_marked_failed_after_a_day() {
    let app = private_targets_app().await;
    let clinic = app.clinic().await;
    let (url, receiver) = start_receiver(usize::MAX);
    let (hook, _) = register_hook(&app, &clinic.admin, &url, json!(["booking.created"])).await;
    let client = app.client_token("a@example.com").await;
    book(&app, &clinic, &client, 10).await;
    let t0 = chrono::Utc::now();
    let mut at = t0;
    for _ in 0..inspine::integrations::webhooks::MAX_ATTEMPTS {
        assert_eq!(pass(&app, at).await, 1);
        at += chrono::Duration::hours(11);
    }
    assert_eq!(pass(&app, at).await, 0);
    assert_eq!(receiver.received.lock().unwrap().len(), 8);
    let deliveries = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .token(&clinic.admin)
        .send()
        .await;
    let d = deliveries.expect(200)["items"][0].clone();
    assert_eq!(d["status"], "failed");
    let attempts = d["attempts"].as_array().unwrap();
    let first = chrono::DateTime::parse_from_rfc3339(attempts[0]["attempted_at"].as_str().unwrap())
        .unwrap();
    let last = chrono::DateTime::parse_from_rfc3339(attempts[7]["attempted_at"].as_str().unwrap())
        .unwrap();
    assert!(last - first >= chrono::Duration::hours(24));
}

#[actix_web::test]
async fn pending_deliveries_survive_a_restart() {
    let app = private_targets_app().await;
    let clinic = app.clinic().await;
    let (url, receiver) = start_receiver(0);
    register_hook(&app, &clinic.admin, &url, json!(["booking.created"])).await;
    let client = app.client_token("a@example.com").await;
    let id = book(&app, &clinic, &client, 10).await;
    // The process goes away before its worker ran.
    let app = app.restart().await;
    assert_eq!(pass(&app, chrono::Utc::now()).await, 1);
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let event: Value = serde_json::from_str(&received[0].1).unwrap();
    assert_eq!(event["data"]["id"], id.as_str());
}

#[actix_web::test]
async fn webhook_targets_and_events_are_validated() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for (url, events, field) in [
        ("http://127.0.0.1:9/hook", json!(["booking.created"]), "url"),
        ("http://10.0.0.7/hook", json!(["booking.created"]), "url"),
        ("ftp://example.com/hook", json!(["booking.created"]), "url"),
        (
            "https://user:pw@93.184.216.34/hook",
            json!(["booking.created"]),
            "url",
        ),
        (
            "https://exa*mple.com/hook",
            json!(["booking.created"]),
            "url",
        ),
        (
            "https://93.184.216.34/hook",
            json!(["booking.exploded"]),
            "events[0]",
        ),
        ("https://93.184.216.34/hook", json!([]), "events"),
    ] {
        let resp = app
            .post("/api/v1/webhooks")
            .token(&admin)
            .json(json!({"url": url, "events": events}))
            .send()
            .await;
        resp.expect(422);
        assert_eq!(resp.body["errors"][0]["field"], field, "{url}");
    }
    assert_eq!(app.count("webhooks").await, 0);
    let client = app.client_token("c@example.com").await;
    app.get("/api/v1/webhooks")
        .token(&client)
        .send()
        .await
        .expect(403);
    let ok = app
        .post("/api/v1/webhooks")
        .token(&admin)
        .json(json!({"url": "https://93.184.216.34/hook", "events": ["booking.created"]}))
        .send()
        .await;
    let id = ok.expect(201)["id"].as_str().unwrap().to_owned();
    assert!(ok.body["secret"].as_str().unwrap().starts_with("whsec_"));
    let list = app.get("/api/v1/webhooks").token(&admin).send().await;
    assert!(!list.expect(200).to_string().contains("whsec_"));
    app.delete(&format!("/api/v1/webhooks/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/webhooks/{id}/deliveries"))
        .token(&admin)
        .send()
        .await
        .expect(404);
}

#[actix_web::test]
async fn two_workers_never_send_the_same_delivery() {
    let app = private_targets_app().await;
    let clinic = app.clinic().await;
    let (url, receiver) = start_receiver(0);
    register_hook(&app, &clinic.admin, &url, json!(["booking.created"])).await;
    let clients = app.clients(4).await;
    for (i, (_, token)) in clients.iter().enumerate() {
        book(&app, &clinic, token, 9 + 2 * i as u32).await;
    }
    let now = chrono::Utc::now();
    let (a, b) = futures::join!(pass(&app, now), pass(&app, now));
    assert_eq!(a + b, 4);
    let received = receiver.received.lock().unwrap().clone();
    let ids: std::collections::HashSet<_> = received
        .iter()
        .map(|(h, _)| h["webhook-id"].clone())
        .collect();
    assert_eq!((received.len(), ids.len()), (4, 4));
}

#[actix_web::test]
async fn redirects_are_not_followed() {
    async fn redirect() -> HttpResponse {
        HttpResponse::Found()
            .insert_header(("Location", "http://127.0.0.1:9/elsewhere"))
            .finish()
    }
    let app = private_targets_app().await;
    let clinic = app.clinic().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().default_service(web::to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            redirect()
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}/hooks", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    let (hook, _) = register_hook(&app, &clinic.admin, &url, json!(["booking.created"])).await;
    let client = app.client_token("a@example.com").await;
    book(&app, &clinic, &client, 10).await;
    assert_eq!(pass(&app, chrono::Utc::now()).await, 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let deliveries = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .token(&clinic.admin)
        .send()
        .await;
    let d = deliveries.expect(200)["items"][0].clone();
    assert_eq!(d["status"], "pending");
    assert_eq!(d["last_status_code"], 302);
}
