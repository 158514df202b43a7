//! The audit trail of writes (issue 13, item 4): every write over HTTP — bookings, holds,
//! series, the waitlist, schedules, time off, overrides, closures, the catalog, webhooks,
//! calendar tokens, self-registration, a confirmed password reset — leaves exactly one row
//! with its actor, role, subject, client address and request id, in the same transaction as
//! the write: a refused write leaves none, and an Idempotency-Key replay adds none. The command
//! line's writes are recorded as `system`.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Req, Resp, TestApp, at, local_date};

/// Every request here comes from this client address.
const PEER: &str = "203.0.113.42:4100";
const IP: &str = "203.0.113.42";
/// Free text written with a booking; it must never reach the trail.
const MARKER: &str = "ZEBRA-NOTE-5521";

/// One write that must be in the trail exactly once.
struct Expected {
    action: &'static str,
    subject_type: &'static str,
    subject_id: String,
    actor_id: String,
    actor_role: &'static str,
    request_id: String,
}

/// A caller: login id, role and token.
#[derive(Clone)]
struct Who {
    id: String,
    role: &'static str,
    token: String,
}

async fn who(app: &TestApp, email: &str, role: &'static str) -> Who {
    let (id, token) = app.user_with_role(email, role).await;
    Who { id, role, token }
}

/// Sends `req` as `by` from `PEER`, expects `status`; returns the response and its request id.
async fn act(req: Req<'_>, by: &Who, status: u16) -> (Resp, String) {
    let resp = req.token(&by.token).peer(PEER).send().await;
    resp.expect(status);
    let request_id = resp.header("x-request-id").expect("a request id");
    (resp, request_id)
}

fn id_of(resp: &Resp) -> String {
    resp.body["id"].as_str().expect("an id").to_owned()
}

/// The trail's rows, filtered by `query`, as an admin sees them.
async fn audit(app: &TestApp, admin: &Who, query: &str) -> Vec<Value> {
    let resp = app
        .get(&format!("/api/v1/audit?limit=100&{query}"))
        .token(&admin.token)
        .send()
        .await;
    resp.expect(200)["items"].as_array().unwrap().clone()
}

/// All rows, counted straight from the table.
async fn rows(app: &TestApp) -> i64 {
    app.count("audit_events").await
}

/// Each expected write is in the trail once, as it happened, and its request wrote no other
/// row.
async fn assert_recorded(app: &TestApp, admin: &Who, expected: &[Expected]) {
    for e in expected {
        let found: Vec<Value> = audit(
            app,
            admin,
            &format!("action={}&subject_id={}", e.action, e.subject_id),
        )
        .await
        .into_iter()
        .filter(|row| row["request_id"] == e.request_id.as_str())
        .collect();
        assert_eq!(found.len(), 1, "{} {}: {found:?}", e.action, e.subject_id);
        let in_request = app
            .count_where("audit_events", &format!("request_id = '{}'", e.request_id))
            .await;
        assert_eq!(in_request, 1, "{} {}", e.action, e.subject_id);
        let row = &found[0];
        assert_eq!(row["subject_type"], e.subject_type, "{}", e.action);
        assert_eq!(row["actor_id"], e.actor_id.as_str(), "{}", e.action);
        assert_eq!(row["actor_role"], e.actor_role, "{}", e.action);
        assert_eq!(row["ip"], IP, "{}", e.action);
        assert_eq!(row["request_id"], e.request_id.as_str(), "{}", e.action);
    }
}

/// Records what `by` did to a subject in the request `request_id`.
fn done(
    action: &'static str,
    subject_type: &'static str,
    subject_id: &str,
    by: &Who,
    request_id: String,
) -> Expected {
    Expected {
        action,
        subject_type,
        subject_id: subject_id.to_owned(),
        actor_id: by.id.clone(),
        actor_role: by.role,
        request_id,
    }
}

/// An admin, a therapist with a login, the therapist's all-week hours at the first location,
/// and the Swedish massage type.
struct Clinic {
    app: TestApp,
    admin: Who,
    therapist: Who,
    therapist_id: String,
    location_id: String,
    type_id: String,
}

async fn clinic() -> Clinic {
    let app = TestApp::spawn().await;
    let admin = who(&app, "admin@inspine.example", "admin").await;
    let therapist = who(&app, "maya@inspine.example", "therapist").await;
    let location_id = app.location_ids().await[0].clone();
    let type_id = app.massage_type("swedish").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = app
        .post("/api/v1/therapists")
        .token(&admin.token)
        .json(json!({"name": "Maya", "massage_type_ids": [type_id], "user_id": therapist.id}))
        .send()
        .await;
    let therapist_id = id_of(&made);
    app.put(&format!("/api/v1/therapists/{therapist_id}/schedule"))
        .token(&admin.token)
        .json(week(&location_id))
        .send()
        .await
        .expect(200);
    Clinic {
        app,
        admin,
        therapist,
        therapist_id,
        location_id,
        type_id,
    }
}

fn week(location_id: &str) -> Value {
    let rules: Vec<Value> = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .iter()
    .map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00", "location_id": location_id}))
    .collect();
    json!({ "rules": rules })
}

impl Clinic {
    fn slot(&self, day: chrono::NaiveDate, hour: u32) -> Value {
        json!({"therapist_id": self.therapist_id, "massage_type_id": self.type_id,
               "duration_minutes": 60, "start": at(day, hour, 0)})
    }

    async fn client(&self, email: &str) -> Who {
        let registered = self.app.register(email).await;
        Who {
            id: registered["user"]["id"].as_str().unwrap().to_owned(),
            role: "client",
            token: registered["access_token"].as_str().unwrap().to_owned(),
        }
    }
}

#[actix_web::test]
async fn booking_hold_series_and_waitlist_writes_are_audited_once_each() {
    let c = clinic().await;
    let app = &c.app;
    let client = c.client("cara@example.com").await;
    let day = local_date(7);
    let mut expected = Vec::new();

    // Bookings: create, reschedule, cancel (by the client); complete, no-show (by staff).
    let mut first = c.slot(day, 10);
    first["notes"] = json!(MARKER);
    let (made, rid) = act(app.post("/api/v1/bookings").json(first), &client, 201).await;
    let moved = id_of(&made);
    expected.push(done("booking.create", "booking", &moved, &client, rid));
    let path = format!("/api/v1/bookings/{moved}/reschedule");
    let (_, rid) = act(
        app.post(&path).json(json!({"start": at(day, 11, 0)})),
        &client,
        200,
    )
    .await;
    expected.push(done("booking.reschedule", "booking", &moved, &client, rid));
    let path = format!("/api/v1/bookings/{moved}/cancel");
    let (_, rid) = act(app.post(&path), &client, 200).await;
    expected.push(done("booking.cancel", "booking", &moved, &client, rid));

    let mut finished = Vec::new();
    for hour in [13, 15] {
        let (made, rid) = act(
            app.post("/api/v1/bookings").json(c.slot(day, hour)),
            &client,
            201,
        )
        .await;
        let id = id_of(&made);
        expected.push(done("booking.create", "booking", &id, &client, rid));
        finished.push(id);
    }
    // Time passes (a fixture the API rightly refuses): both bookings are in the past.
    for (id, date) in finished.iter().zip(["05", "06"]) {
        app.sql(format!(
            "UPDATE bookings SET start_at = '2026-01-{date} 18:00:00', end_at = '2026-01-{date} \
             19:00:00', blocked_until = '2026-01-{date} 19:10:00' WHERE id = '{id}'"
        ))
        .await;
    }
    let path = format!("/api/v1/bookings/{}/complete", finished[0]);
    let (_, rid) = act(app.post(&path), &c.therapist, 200).await;
    expected.push(done(
        "booking.complete",
        "booking",
        &finished[0],
        &c.therapist,
        rid,
    ));
    let path = format!("/api/v1/bookings/{}/no-show", finished[1]);
    let (_, rid) = act(app.post(&path), &c.admin, 200).await;
    expected.push(done(
        "booking.no_show",
        "booking",
        &finished[1],
        &c.admin,
        rid,
    ));

    // Holds: one released, one booked (that booking is a `booking.create`).
    let (held, rid) = act(app.post("/api/v1/holds").json(c.slot(day, 9)), &client, 201).await;
    let released = id_of(&held);
    expected.push(done("hold.create", "hold", &released, &client, rid));
    let path = format!("/api/v1/holds/{released}");
    let (_, rid) = act(app.delete(&path), &client, 204).await;
    expected.push(done("hold.release", "hold", &released, &client, rid));
    let (held, rid) = act(app.post("/api/v1/holds").json(c.slot(day, 9)), &client, 201).await;
    let kept = id_of(&held);
    expected.push(done("hold.create", "hold", &kept, &client, rid));
    let (booked, rid) = act(
        app.post("/api/v1/bookings").json(json!({"hold_id": kept})),
        &client,
        201,
    )
    .await;
    expected.push(done(
        "booking.create",
        "booking",
        &id_of(&booked),
        &client,
        rid,
    ));

    // A series, booked by the admin for the client, then cancelled by the client.
    let mut body = c.slot(local_date(8), 14);
    body["every_weeks"] = json!(1);
    body["count"] = json!(3);
    body["client_id"] = json!(client.id);
    let (series, rid) = act(app.post("/api/v1/booking-series").json(body), &c.admin, 201).await;
    let series_id = id_of(&series);
    expected.push(done("series.create", "series", &series_id, &c.admin, rid));
    let path = format!("/api/v1/booking-series/{series_id}/cancel");
    let (_, rid) = act(app.post(&path), &client, 200).await;
    expected.push(done("series.cancel", "series", &series_id, &client, rid));

    // The waitlist: join, leave.
    let entry = json!({"massage_type_id": c.type_id, "duration_minutes": 60,
                       "from": local_date(9).to_string(), "to": local_date(9).to_string()});
    let (joined, rid) = act(app.post("/api/v1/waitlist").json(entry), &client, 201).await;
    let entry_id = id_of(&joined);
    expected.push(done(
        "waitlist.join",
        "waitlist_entry",
        &entry_id,
        &client,
        rid,
    ));
    let path = format!("/api/v1/waitlist/{entry_id}");
    let (_, rid) = act(app.delete(&path), &client, 204).await;
    expected.push(done(
        "waitlist.leave",
        "waitlist_entry",
        &entry_id,
        &client,
        rid,
    ));

    assert_recorded(app, &c.admin, &expected).await;
    // Rows carry ids, never what was written.
    let all = audit(app, &c.admin, "").await;
    assert!(!serde_json::to_string(&all).unwrap().contains(MARKER));
    // Nothing more than these was recorded for the client's and staff's requests: one booking
    // create per booking made (three singles, one by hold; the series is one `series.create`).
    assert_eq!(audit(app, &c.admin, "action=booking.create").await.len(), 4);
    assert_eq!(
        audit(app, &c.admin, &format!("actor_id={}", client.id))
            .await
            .len(),
        // Registration, then every client write above.
        1 + expected.iter().filter(|e| e.actor_id == client.id).count()
    );
}

#[actix_web::test]
async fn schedule_time_off_override_closure_and_calendar_token_writes_are_audited() {
    let c = clinic().await;
    let app = &c.app;
    let therapist_id = c.therapist_id.as_str();
    let mut expected = Vec::new();

    let path = format!("/api/v1/therapists/{therapist_id}/schedule");
    let (_, rid) = act(app.put(&path).json(week(&c.location_id)), &c.therapist, 200).await;
    expected.push(done(
        "schedule.update",
        "therapist",
        therapist_id,
        &c.therapist,
        rid,
    ));

    let day = local_date(10);
    let path = format!("/api/v1/therapists/{therapist_id}/time-off");
    let body = json!({"starts_at": at(day, 9, 0), "ends_at": at(day, 12, 0), "reason": "Course"});
    let (off, rid) = act(app.post(&path).json(body), &c.therapist, 201).await;
    let off_id = id_of(&off);
    expected.push(done(
        "time_off.create",
        "time_off",
        &off_id,
        &c.therapist,
        rid,
    ));
    let path = format!("/api/v1/therapists/{therapist_id}/time-off/{off_id}");
    let (_, rid) = act(app.delete(&path), &c.admin, 204).await;
    expected.push(done("time_off.delete", "time_off", &off_id, &c.admin, rid));

    // A date override: set twice (two updates), then removed.
    let path = format!(
        "/api/v1/therapists/{therapist_id}/overrides/{}",
        local_date(11)
    );
    let hours =
        json!({"rules": [{"start": "12:00", "end": "14:00", "location_id": c.location_id}]});
    let (_, first) = act(app.put(&path).json(hours.clone()), &c.therapist, 200).await;
    let (_, second) = act(app.put(&path).json(hours), &c.admin, 200).await;
    let (_, removed) = act(app.delete(&path), &c.therapist, 204).await;
    let updates = audit(
        app,
        &c.admin,
        &format!("action=override.update&subject_id={therapist_id}"),
    )
    .await;
    let request_ids: Vec<&str> = updates
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(request_ids, [first.as_str(), second.as_str()]);
    expected.push(done(
        "override.delete",
        "therapist",
        therapist_id,
        &c.therapist,
        removed,
    ));

    let path = format!("/api/v1/locations/{}/closures", c.location_id);
    let day = local_date(12);
    let body = json!({"starts_at": at(day, 0, 0), "ends_at": at(day, 23, 0), "reason": "Floors"});
    let (closure, rid) = act(app.post(&path).json(body), &c.admin, 201).await;
    let closure_id = id_of(&closure);
    expected.push(done(
        "closure.create",
        "closure",
        &closure_id,
        &c.admin,
        rid,
    ));
    let path = format!("/api/v1/locations/{}/closures/{closure_id}", c.location_id);
    let (_, rid) = act(app.delete(&path), &c.admin, 204).await;
    expected.push(done(
        "closure.delete",
        "closure",
        &closure_id,
        &c.admin,
        rid,
    ));

    // Calendar feed tokens: the caller's own, and a therapist's.
    let (_, rid) = act(app.post("/api/v1/me/calendar-token"), &c.therapist, 200).await;
    let own = c.therapist.id.clone();
    expected.push(done(
        "calendar_token.create",
        "user",
        &own,
        &c.therapist,
        rid,
    ));
    let path = format!("/api/v1/therapists/{therapist_id}/calendar-token");
    let (_, rid) = act(app.post(&path), &c.admin, 200).await;
    expected.push(done(
        "calendar_token.create",
        "therapist",
        therapist_id,
        &c.admin,
        rid,
    ));

    assert_recorded(app, &c.admin, &expected).await;
}

#[actix_web::test]
async fn catalog_and_webhook_writes_are_audited() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        env: [("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true".to_owned())].into(),
    })
    .await;
    let admin = who(&app, "admin@inspine.example", "admin").await;
    let mut expected = Vec::new();

    // (collection, body to create, body to update, subject type, action prefix)
    let location = app.location_ids().await[0].clone();
    let rooms = format!("/api/v1/locations/{location}/rooms");
    let table: [(&str, Value, Value, &'static str, [&'static str; 3]); 4] = [
        (
            "/api/v1/locations",
            json!({"name": "Burnaby", "address": "4700 Kingsway", "timezone": "America/Vancouver"}),
            json!({"name": "Burnaby North"}),
            "location",
            ["location.create", "location.update", "location.delete"],
        ),
        (
            &rooms,
            json!({"name": "Room Z"}),
            json!({"active": false}),
            "room",
            ["room.create", "room.update", "room.delete"],
        ),
        (
            "/api/v1/massage-types",
            json!({"slug": "hot-stone", "name": "Hot stone", "description": "Warm stones.",
                   "buffer_minutes": 20,
                   "options": [{"duration_minutes": 60, "price_cents": 13000, "currency": "CAD"}]}),
            json!({"name": "Hot stone massage"}),
            "massage_type",
            [
                "massage_type.create",
                "massage_type.update",
                "massage_type.delete",
            ],
        ),
        (
            "/api/v1/therapists",
            json!({"name": "Liam", "bio": "Sports work."}),
            json!({"bio": "Sports and trigger point work."}),
            "therapist",
            ["therapist.create", "therapist.update", "therapist.delete"],
        ),
    ];
    for (collection, create, update, subject, [created, updated, deleted]) in table {
        let (made, rid) = act(app.post(collection).json(create), &admin, 201).await;
        let id = id_of(&made);
        expected.push(done(created, subject, &id, &admin, rid));
        // A room lives at /rooms/{id}; the others under their collection.
        let one = match subject {
            "room" => format!("/api/v1/rooms/{id}"),
            _ => format!("{collection}/{id}"),
        };
        let (_, rid) = act(app.patch(&one).json(update), &admin, 200).await;
        expected.push(done(updated, subject, &id, &admin, rid));
        let (_, rid) = act(app.delete(&one), &admin, 204).await;
        expected.push(done(deleted, subject, &id, &admin, rid));
    }

    let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]});
    let (hook, rid) = act(app.post("/api/v1/webhooks").json(body), &admin, 201).await;
    let hook_id = id_of(&hook);
    expected.push(done("webhook.create", "webhook", &hook_id, &admin, rid));
    let path = format!("/api/v1/webhooks/{hook_id}");
    let (_, rid) = act(app.delete(&path), &admin, 204).await;
    expected.push(done("webhook.delete", "webhook", &hook_id, &admin, rid));

    assert_recorded(&app, &admin, &expected).await;
    // The webhook's secret is not in the trail; rows carry ids only.
    let secret = hook.body["secret"].as_str().unwrap();
    assert_eq!(
        app.count_where("audit_events", &format!("subject_id = '{secret}'"))
            .await,
        0
    );
}

#[actix_web::test]
async fn self_registration_and_a_confirmed_password_reset_are_audited() {
    let app = TestApp::spawn().await;
    let admin = who(&app, "admin@inspine.example", "admin").await;
    let registered = app
        .post("/api/v1/auth/register")
        .peer(PEER)
        .json(json!({"email": "dana@example.com", "password": PASSWORD, "name": "Dana"}))
        .send()
        .await;
    registered.expect(201);
    let dana = Who {
        id: registered.body["user"]["id"].as_str().unwrap().to_owned(),
        role: "client",
        token: String::new(),
    };
    let mut expected = vec![done(
        "user.register",
        "user",
        &dana.id,
        &dana,
        registered.header("x-request-id").unwrap(),
    )];

    app.plant_reset(&dana.id, "reset-token-1", chrono::Duration::minutes(30))
        .await;
    let confirmed = app
        .post("/api/v1/auth/password-reset/confirm")
        .peer(PEER)
        .json(json!({"token": "reset-token-1", "new_password": "a brand new passphrase 9"}))
        .send()
        .await;
    confirmed.expect(204);
    expected.push(done(
        "account.password_reset",
        "user",
        &dana.id,
        &dana,
        confirmed.header("x-request-id").unwrap(),
    ));
    assert_recorded(&app, &admin, &expected).await;

    // Taken email, used token: refused, nothing recorded.
    let before = rows(&app).await;
    app.post("/api/v1/auth/register")
        .json(json!({"email": "dana@example.com", "password": PASSWORD, "name": "Again"}))
        .send()
        .await
        .expect(409);
    app.post("/api/v1/auth/password-reset/confirm")
        .json(json!({"token": "reset-token-1", "new_password": "yet another passphrase 10"}))
        .send()
        .await
        .expect(422);
    assert_eq!(rows(&app).await, before);
}

/// A refused write (4xx) leaves no row: the row is written in the write's own transaction.
#[actix_web::test]
async fn refused_writes_leave_no_audit_row() {
    let c = clinic().await;
    let app = &c.app;
    let client = c.client("cara@example.com").await;
    let day = local_date(7);
    let booked = app
        .post("/api/v1/bookings")
        .token(&client.token)
        .json(c.slot(day, 10))
        .send()
        .await;
    booked.expect(201);
    let booking = id_of(&booked);
    let other = c.client("eli@example.com").await;
    let before = rows(app).await;

    let refusals: Vec<(Req<'_>, &Who, u16)> = vec![
        // Moved off the grid.
        (
            app.post(&format!("/api/v1/bookings/{booking}/reschedule"))
                .json(json!({"start": at(day, 11, 7)})),
            &client,
            422,
        ),
        // Completed before it starts.
        (
            app.post(&format!("/api/v1/bookings/{booking}/complete")),
            &c.admin,
            409,
        ),
        // Someone else's booking.
        (
            app.post(&format!("/api/v1/bookings/{booking}/cancel")),
            &other,
            404,
        ),
        // The slot is taken.
        (
            app.post("/api/v1/bookings").json(c.slot(day, 10)),
            &other,
            409,
        ),
        // Off the grid.
        (
            app.post("/api/v1/bookings").json(json!({
                "therapist_id": c.therapist_id, "massage_type_id": c.type_id,
                "duration_minutes": 60, "start": at(day, 10, 7)})),
            &other,
            422,
        ),
        // Held time is taken too.
        (app.post("/api/v1/holds").json(c.slot(day, 10)), &other, 409),
        // Time off over a confirmed booking.
        (
            app.post(&format!("/api/v1/therapists/{}/time-off", c.therapist_id))
                .json(json!({"starts_at": at(day, 9, 0), "ends_at": at(day, 12, 0)})),
            &c.admin,
            409,
        ),
        // A duplicate location name (refused by the database inside the transaction).
        (
            app.post("/api/v1/locations")
                .json(json!({"name": "Port Moody",
                "address": "Elsewhere", "timezone": "America/Vancouver"})),
            &c.admin,
            409,
        ),
        // A bad time zone.
        (
            app.post("/api/v1/locations").json(json!({"name": "Nowhere",
                "address": "x", "timezone": "Mars/Olympus"})),
            &c.admin,
            422,
        ),
        // Nothing to delete.
        (
            app.delete(&format!("/api/v1/rooms/{}", c.therapist_id)),
            &c.admin,
            404,
        ),
        // A closure over a confirmed booking.
        (
            app.post(&format!("/api/v1/locations/{}/closures", c.location_id))
                .json(json!({"starts_at": at(day, 0, 0), "ends_at": at(day, 23, 0)})),
            &c.admin,
            409,
        ),
    ];
    for (req, by, status) in refusals {
        act(req, by, status).await;
    }
    assert_eq!(rows(app).await, before);
}

/// An Idempotency-Key replay answers the first response again and records nothing more.
#[actix_web::test]
async fn an_idempotent_replay_adds_no_audit_row() {
    let c = clinic().await;
    let app = &c.app;
    let client = c.client("cara@example.com").await;
    let day = local_date(7);
    let mut series = c.slot(local_date(8), 14);
    series["every_weeks"] = json!(1);
    series["count"] = json!(2);
    for (path, body, action) in [
        ("/api/v1/bookings", c.slot(day, 10), "booking.create"),
        ("/api/v1/booking-series", series, "series.create"),
    ] {
        let send = || {
            app.post(path)
                .header("Idempotency-Key", action)
                .json(body.clone())
        };
        let (first, _) = act(send(), &client, 201).await;
        let before = rows(app).await;
        let (again, _) = act(send(), &client, 201).await;
        assert_eq!(id_of(&again), id_of(&first));
        assert_eq!(rows(app).await, before, "{action}");
        let found = audit(app, &c.admin, &format!("action={action}")).await;
        assert_eq!(found.len(), 1, "{action}");
        assert_eq!(found[0]["subject_id"], id_of(&first).as_str());
    }
}

/// The command line's writes are recorded as `system`, with no login, address or request id.
#[actix_web::test]
async fn command_line_writes_are_recorded_as_system() {
    let app = TestApp::spawn().await;
    let admin = who(&app, "admin@inspine.example", "admin").await;
    // The catalog written on first start.
    let seeded = audit(&app, &admin, "action=location.create").await;
    assert_eq!(seeded.len(), app.location_ids().await.len());
    assert!(seeded.iter().all(|e| e["actor_role"] == "system"
        && e["actor_id"].is_null()
        && e["ip"].is_null()
        && e["request_id"].is_null()));
    assert_eq!(
        audit(&app, &admin, "action=massage_type.create")
            .await
            .len(),
        3
    );

    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inspine"))
            .args(args)
            .current_dir(dir.path())
            .env("DATABASE_URL", &app.database_url)
            .env("DATA_DIR", dir.path())
            .env("JWT_SECRET", "test-secret-test-secret-test-secret-0123")
            .env("HEALTH_DATA_KEY", crate::helpers::TEST_HEALTH_KEY)
            .env("RUST_LOG", "warn")
            .env_remove("LOG_FORMAT")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
    };
    run(
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "admin",
        ],
        "an operator passphrase 77\n",
    );
    run(&["seed", "--demo"], "");
    let year = (local_date(0) + chrono::Duration::days(366))
        .format("%Y")
        .to_string();
    run(&["holidays", "--region", "CA-BC", "--year", &year], "");

    let system = |action: &'static str| {
        let admin = &admin;
        let app = &app;
        async move {
            audit(app, admin, &format!("action={action}"))
                .await
                .into_iter()
                .filter(|e| e["actor_role"] == "system" && e["actor_id"].is_null())
                .count()
        }
    };
    assert_eq!(system("user.create").await, 1);
    assert_eq!(system("therapist.create").await, 3);
    assert_eq!(system("schedule.update").await, 3);
    assert_eq!(system("room.create").await, 4);
    assert_eq!(
        system("closure.create").await as i64,
        app.count("location_closures").await
    );
}

#[actix_web::test]
async fn the_action_filter_takes_only_an_actions_shape() {
    let app = TestApp::spawn().await;
    let admin = who(&app, "boss@example.com", "admin").await;
    for bad in [
        "%C2%84",
        "Booking.Create",
        "booking-create",
        &"a".repeat(65),
    ] {
        let resp = app
            .get(&format!("/api/v1/audit?action={bad}"))
            .token(&admin.token)
            .send()
            .await;
        assert_eq!(resp.status, 422, "{bad}: {}", resp.body);
        assert_eq!(resp.body["errors"][0]["field"], "action", "{}", resp.body);
    }
    // The right shape filters, known or not; empty matches every action.
    assert!(
        audit(&app, &admin, "action=no_such.action")
            .await
            .is_empty()
    );
    assert!(!audit(&app, &admin, "action=").await.is_empty());
}
