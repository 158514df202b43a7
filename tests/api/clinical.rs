//! Clinical records: the intake form and its versions, treatment notes, who may read them,
//! encryption at rest, and the audit trail.

use serde_json::{Value, json};

use crate::helpers::{TestApp, at, local_date};

/// A clinic with two therapists (each with a login), a client with a booking with the first,
/// and another client.
struct World {
    app: TestApp,
    admin: String,
    admin_id: String,
    treating: String,
    treating_id: String,
    other_therapist: String,
    client: String,
    client_id: String,
    other_client: String,
    booking_id: String,
    therapist_profile: String,
}

async fn linked_therapist(
    app: &TestApp,
    admin: &str,
    email: &str,
    profile: &str,
) -> (String, String) {
    let (user_id, token) = app.user_with_role(email, "therapist").await;
    app.patch(&format!("/api/v1/therapists/{profile}"))
        .token(admin)
        .json(json!({"user_id": user_id}))
        .send()
        .await
        .expect(200);
    (user_id, token)
}

async fn world() -> World {
    world_with(TestApp::spawn().await).await
}

async fn world_with(app: TestApp) -> World {
    let clinic = app.clinic().await;
    let admin_id = app
        .get("/api/v1/me")
        .token(&clinic.admin)
        .send()
        .await
        .expect(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (treating_id, treating) = linked_therapist(
        &app,
        &clinic.admin,
        "maya@example.com",
        &clinic.therapist_id,
    )
    .await;
    let second = app
        .therapist(
            &clinic.admin,
            "Noor",
            &clinic.location_id,
            ("09:00", "17:00"),
        )
        .await;
    let (_, other_therapist) =
        linked_therapist(&app, &clinic.admin, "noor@example.com", &second).await;
    let registered = app.register("ana@example.com").await;
    let client = registered["access_token"].as_str().unwrap().to_owned();
    let client_id = registered["user"]["id"].as_str().unwrap().to_owned();
    let other_client = app.client_token("ben@example.com").await;
    let type_id = clinic.swedish["id"].as_str().unwrap();
    let booked = app
        .book(
            &client,
            &clinic.therapist_id,
            type_id,
            60,
            &at(local_date(3), 10, 0),
        )
        .await;
    let booking_id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    World {
        app,
        admin: clinic.admin,
        admin_id,
        treating,
        treating_id,
        other_therapist,
        client,
        client_id,
        other_client,
        booking_id,
        therapist_profile: clinic.therapist_id,
    }
}

fn answers(marker: &str) -> Value {
    json!({
        "current_conditions": ["lower back pain", marker],
        "medications": ["ibuprofen"],
        "allergies": ["arnica"],
        "surgeries": [],
        "pregnant": false,
        "areas_to_avoid": ["feet"],
        "pressure_preference": "firm",
        "emergency_contact_name": "Sam Lee",
        "emergency_contact_phone": "604-555-0100",
        "physician_name": "Dr. Ng",
        "last_physician_visit": "2026-03-01",
        "other_information": format!("Note: {marker}"),
    })
}

fn intake_body(marker: &str) -> Value {
    json!({"answers": answers(marker), "consent": {"treatment": true, "privacy_policy_version": "2026-01"}})
}

impl World {
    async fn submit_intake(&self, marker: &str) -> Value {
        self.app
            .put("/api/v1/me/intake")
            .token(&self.client)
            .json(intake_body(marker))
            .send()
            .await
            .expect(200)
            .clone()
    }

    /// Moves the booking's start into the past, as time would.
    async fn start_booking(&self) {
        let start = chrono::Utc::now() - chrono::Duration::hours(2);
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
        self.app
            .sql(format!(
                "UPDATE bookings SET start_at = '{}', end_at = '{}', blocked_until = '{}' WHERE id = '{}'",
                fmt(start),
                fmt(start + chrono::Duration::hours(1)),
                fmt(start + chrono::Duration::hours(1)),
                self.booking_id
            ))
            .await;
    }
}

#[actix_web::test]
async fn the_form_lists_typed_questions_and_the_consent() {
    let app = TestApp::spawn().await;
    let form = app.get("/api/v1/intake-form").send().await;
    let form = form.expect(200);
    assert!(form["version"].is_string());
    assert_eq!(form["consent"]["privacy_policy_version"], "2026-01");
    let questions = form["questions"].as_array().unwrap();
    let kinds: Vec<&str> = questions
        .iter()
        .map(|q| q["type"].as_str().unwrap())
        .collect();
    for kind in ["text", "yes_no", "date", "choice", "list"] {
        assert!(kinds.contains(&kind), "{kind}");
    }
    for id in [
        "current_conditions",
        "medications",
        "allergies",
        "surgeries",
        "pregnant",
        "areas_to_avoid",
        "pressure_preference",
        "emergency_contact_name",
        "physician_name",
    ] {
        assert!(questions.iter().any(|q| q["id"] == id), "{id}");
    }
}

#[actix_web::test]
async fn intake_versions_are_kept_and_the_booking_says_intake_required_until_then() {
    let w = world().await;
    let app = &w.app;
    app.get("/api/v1/me/intake")
        .token(&w.client)
        .send()
        .await
        .expect(404);
    let booking = app
        .get(&format!("/api/v1/bookings/{}", w.booking_id))
        .token(&w.client)
        .send()
        .await;
    assert_eq!(booking.expect(200)["intake_required"], true);

    let first = w.submit_intake("first").await;
    assert_eq!(first["version"], 1);
    assert_eq!(first["answers"]["allergies"], json!(["arnica"]));
    assert_eq!(first["consent"]["treatment"], true);
    assert_eq!(first["consent"]["privacy_policy_version"], "2026-01");
    assert!(first["submitted_at"].is_string());
    let second = w.submit_intake("second").await;
    assert_eq!(second["version"], 2);

    let latest = app.get("/api/v1/me/intake").token(&w.client).send().await;
    assert_eq!(latest.expect(200)["version"], 2);
    assert_eq!(latest.header("cache-control").as_deref(), Some("no-store"));
    let versions = app
        .get(&format!("/api/v1/clients/{}/intake/versions", w.client_id))
        .token(&w.client)
        .send()
        .await;
    let items = versions.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["answers"]["other_information"], "Note: first");
    assert_eq!(items[1]["answers"]["other_information"], "Note: second");

    for path in [format!("/api/v1/bookings/{}", w.booking_id)] {
        let resp = app.get(&path).token(&w.client).send().await;
        assert_eq!(resp.expect(200)["intake_required"], false);
    }
    let list = app.get("/api/v1/bookings").token(&w.treating).send().await;
    assert_eq!(list.expect(200)["items"][0]["intake_required"], false);
}

#[actix_web::test]
async fn invalid_intake_is_422_naming_the_field() {
    let w = world().await;
    let app = &w.app;
    let send = |body: Value| {
        app.put("/api/v1/me/intake")
            .token(&w.client)
            .json(body)
            .send()
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"answers": {"favourite_colour": "blue"}}),
            "answers.favourite_colour",
        ),
        (
            json!({"answers": {"allergies": "arnica"}}),
            "answers.allergies",
        ),
        (json!({"answers": {"pregnant": "no"}}), "answers.pregnant"),
        (
            json!({"answers": {"pressure_preference": "crushing"}}),
            "answers.pressure_preference",
        ),
        (
            json!({"answers": {"last_physician_visit": "yesterday"}}),
            "answers.last_physician_visit",
        ),
        (
            json!({"answers": {"medications": null}}),
            "answers.medications",
        ),
        (
            json!({"consent": {"treatment": false, "privacy_policy_version": "2026-01"}}),
            "consent.treatment",
        ),
        (
            json!({"consent": {"treatment": true, "privacy_policy_version": "1999-01"}}),
            "consent.privacy_policy_version",
        ),
    ];
    for (change, field) in cases {
        let mut body = intake_body("x");
        if let Some(answers) = change.get("answers").and_then(Value::as_object) {
            for (k, v) in answers {
                body["answers"][k] = v.clone();
            }
        }
        if let Some(consent) = change.get("consent") {
            body["consent"] = consent.clone();
        }
        let resp = send(body).await;
        let problem = resp.expect(422);
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let mut missing = intake_body("x");
    missing["answers"]
        .as_object_mut()
        .unwrap()
        .remove("allergies");
    let resp = send(missing).await;
    assert_eq!(resp.expect(422)["errors"][0]["field"], "answers.allergies");
    let resp = send(json!({"answers": answers("x")})).await;
    assert_eq!(resp.expect(422)["errors"][0]["field"], "consent");
    assert_eq!(app.count("intake_versions").await, 0);
}

/// Who may read a client's intake: the client, an admin, a therapist who has or had a booking
/// with them; anyone else 404.
#[actix_web::test]
async fn the_intake_role_matrix() {
    let w = world().await;
    let app = &w.app;
    w.submit_intake("matrix").await;
    let readers = [
        ("client self", &w.client, 200),
        ("other client", &w.other_client, 404),
        ("treating therapist", &w.treating, 200),
        ("other therapist", &w.other_therapist, 404),
        ("admin", &w.admin, 200),
    ];
    for (who, token, status) in readers {
        for path in [
            format!("/api/v1/clients/{}/intake", w.client_id),
            format!("/api/v1/clients/{}/intake/versions", w.client_id),
        ] {
            let resp = app.get(&path).token(token).send().await;
            assert_eq!(resp.status.as_u16(), status, "{who} {path}");
        }
    }
    // A cancelled booking still counts: the therapist had one.
    app.post(&format!("/api/v1/bookings/{}/cancel", w.booking_id))
        .token(&w.admin)
        .send()
        .await
        .expect(200);
    app.get(&format!("/api/v1/clients/{}/intake", w.client_id))
        .token(&w.treating)
        .send()
        .await
        .expect(200);
    // Unknown ids are 404 for everyone, admins too.
    let unknown = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/clients/{unknown}/intake/versions"))
        .token(&w.admin)
        .send()
        .await
        .expect(404);
    app.get(&format!("/api/v1/clients/{}/intake", w.client_id))
        .send()
        .await
        .expect(401);
}

fn soap(marker: &str) -> Value {
    json!({
        "subjective": format!("Client reports neck pain {marker}"),
        "objective": "Hypertonic upper trapezius, left > right.",
        "assessment": "Tension pattern; treated with Swedish and trigger-point work.",
        "plan": "Heat at home; rebook in two weeks.",
    })
}

impl World {
    async fn put_note(&self, token: &str, marker: &str) -> crate::helpers::Resp {
        self.app
            .put(&format!(
                "/api/v1/bookings/{}/notes/treatment",
                self.booking_id
            ))
            .token(token)
            .json(soap(marker))
            .send()
            .await
    }
}

#[actix_web::test]
async fn notes_are_written_by_the_bookings_therapist_after_the_start() {
    let w = world().await;
    let app = &w.app;
    let path = format!("/api/v1/bookings/{}/notes/treatment", w.booking_id);
    // Before the start: 409 not-started.
    let early = w.put_note(&w.treating, "early").await;
    early.expect(409);
    assert_eq!(early.problem_type(), "not-started");
    app.get(&path).token(&w.treating).send().await.expect(404);

    w.start_booking().await;
    let writers = [
        ("client self", &w.client, 403),
        ("other client", &w.other_client, 404),
        ("other therapist", &w.other_therapist, 404),
        ("admin", &w.admin, 403),
        ("treating therapist", &w.treating, 200),
    ];
    for (who, token, status) in writers {
        let resp = w.put_note(token, "matrix").await;
        assert_eq!(resp.status.as_u16(), status, "{who} writes");
    }
    let written = app.get(&path).token(&w.client).send().await;
    let note = written.expect(200);
    assert_eq!(note["subjective"], "Client reports neck pain matrix");
    assert_eq!(note["author_id"], w.treating_id.as_str());
    assert_eq!(note["therapist_id"], w.therapist_profile.as_str());

    let readers = [
        ("client self", &w.client, 200),
        ("other client", &w.other_client, 404),
        ("treating therapist", &w.treating, 200),
        ("other therapist", &w.other_therapist, 404),
        ("admin", &w.admin, 200),
    ];
    for (who, token, status) in readers {
        let resp = app.get(&path).token(token).send().await;
        assert_eq!(resp.status.as_u16(), status, "{who} reads");
    }

    // A rewrite replaces the text; bad fields are 422; a cancelled booking takes no notes.
    let again = w.put_note(&w.treating, "rewritten").await;
    assert_eq!(
        again.expect(200)["subjective"],
        "Client reports neck pain rewritten"
    );
    assert_eq!(app.count("treatment_notes").await, 1);
    let mut bad = soap("x");
    bad["plan"] = json!("x".repeat(2001));
    app.put(&path)
        .token(&w.treating)
        .json(bad)
        .send()
        .await
        .expect(422);
    let mut missing = soap("x");
    missing.as_object_mut().unwrap().remove("plan");
    app.put(&path)
        .token(&w.treating)
        .json(missing)
        .send()
        .await
        .expect(422);
    app.sql(format!(
        "UPDATE bookings SET status = 'cancelled' WHERE id = '{}'",
        w.booking_id
    ))
    .await;
    let cancelled = w.put_note(&w.treating, "late").await;
    cancelled.expect(409);
    assert_eq!(cancelled.problem_type(), "not-treated");
}

async fn audit(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let resp = app
        .get(&format!("/api/v1/audit?{query}"))
        .token(admin)
        .send()
        .await;
    resp.expect(200)["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn every_read_and_write_of_health_data_is_audited_with_ip_and_request_id() {
    let w = world().await;
    let app = &w.app;
    let written = app
        .put("/api/v1/me/intake")
        .token(&w.client)
        .peer("203.0.113.7:4000")
        .json(intake_body("audited"))
        .send()
        .await;
    written.expect(200);
    let write_request = written.header("x-request-id").unwrap();
    let read = app
        .get(&format!("/api/v1/clients/{}/intake", w.client_id))
        .token(&w.treating)
        .peer("198.51.100.9:5000")
        .send()
        .await;
    read.expect(200);
    let read_request = read.header("x-request-id").unwrap();
    w.start_booking().await;
    w.put_note(&w.treating, "audited").await.expect(200);
    app.get(&format!(
        "/api/v1/bookings/{}/notes/treatment",
        w.booking_id
    ))
    .token(&w.admin)
    .send()
    .await
    .expect(200);
    // Refused reads see nothing and record nothing.
    app.get(&format!("/api/v1/clients/{}/intake", w.client_id))
        .token(&w.other_therapist)
        .send()
        .await
        .expect(404);

    let writes = audit(app, &w.admin, "action=intake.write").await;
    assert_eq!(writes.len(), 1);
    let e = &writes[0];
    assert_eq!(e["actor_id"], w.client_id.as_str());
    assert_eq!(e["actor_role"], "client");
    assert_eq!(e["subject_type"], "client");
    assert_eq!(e["subject_id"], w.client_id.as_str());
    assert_eq!(e["ip"], "203.0.113.7");
    assert_eq!(e["request_id"], write_request.as_str());
    assert!(e["at"].is_string() && e["id"].is_string());

    let reads = audit(app, &w.admin, "action=intake.read").await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["actor_id"], w.treating_id.as_str());
    assert_eq!(reads[0]["actor_role"], "therapist");
    assert_eq!(reads[0]["ip"], "198.51.100.9");
    assert_eq!(reads[0]["request_id"], read_request.as_str());

    let notes_write = audit(app, &w.admin, "action=notes.write").await;
    assert_eq!(notes_write.len(), 1);
    assert_eq!(notes_write[0]["subject_type"], "booking");
    assert_eq!(notes_write[0]["subject_id"], w.booking_id.as_str());
    let notes_read = audit(app, &w.admin, "action=notes.read").await;
    assert_eq!(notes_read.len(), 1);
    assert_eq!(notes_read[0]["actor_id"], w.admin_id.as_str());
    assert_eq!(notes_read[0]["actor_role"], "admin");

    // Filters: by actor, by subject, by time; pages.
    let by_therapist = audit(app, &w.admin, &format!("actor_id={}", w.treating_id)).await;
    let actions: Vec<&str> = by_therapist
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["intake.read", "notes.write"]);
    let about_client = audit(app, &w.admin, &format!("subject_id={}", w.client_id)).await;
    let actions: Vec<&str> = about_client
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.register", "intake.write", "intake.read"]);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    assert!(
        audit(app, &w.admin, &format!("from={future}"))
            .await
            .is_empty()
    );
    assert_eq!(
        audit(app, &w.admin, &format!("to={future}&action=notes.read"))
            .await
            .len(),
        1
    );
    let page = app
        .get("/api/v1/audit?limit=1")
        .token(&w.admin)
        .send()
        .await;
    let cursor = page.expect(200)["next_cursor"].as_str().unwrap().to_owned();
    let next = app
        .get(&format!("/api/v1/audit?limit=1&cursor={cursor}"))
        .token(&w.admin)
        .send()
        .await;
    assert_ne!(
        next.expect(200)["items"][0]["id"],
        page.body["items"][0]["id"]
    );

    // Admins only.
    for token in [&w.client, &w.treating] {
        app.get("/api/v1/audit")
            .token(token)
            .send()
            .await
            .expect(403);
    }
    app.get("/api/v1/audit?limit=0")
        .token(&w.admin)
        .send()
        .await
        .expect(422);
}

/// The trail is append-only in the database itself: UPDATE and DELETE are refused by a trigger
/// (on PostgreSQL, as the contract asks; on SQLite too).
#[actix_web::test]
async fn the_audit_table_refuses_update_and_delete() {
    let w = world().await;
    let app = &w.app;
    w.submit_intake("x").await;
    let before = app.count("audit_events").await;
    assert!(before >= 1);
    let update = app
        .try_sql("UPDATE audit_events SET actor_role = 'nobody'".to_owned())
        .await
        .unwrap_err();
    assert!(update.contains("append-only"), "{update}");
    let delete = app
        .try_sql("DELETE FROM audit_events".to_owned())
        .await
        .unwrap_err();
    assert!(delete.contains("append-only"), "{delete}");
    if app.is_postgres() {
        let truncate = app
            .try_sql("TRUNCATE audit_events".to_owned())
            .await
            .unwrap_err();
        assert!(truncate.contains("append-only"), "{truncate}");
    }
    assert_eq!(app.count("audit_events").await, before);
    assert_eq!(
        app.count_where("audit_events", "actor_role = 'nobody'")
            .await,
        0
    );
}

#[actix_web::test]
async fn the_export_holds_the_callers_intake_versions_and_the_notes_about_them() {
    let w = world().await;
    let app = &w.app;
    w.submit_intake("v1").await;
    w.submit_intake("v2").await;
    w.start_booking().await;
    w.put_note(&w.treating, "exported").await.expect(200);
    let export = app.get("/api/v1/me/export").token(&w.client).send().await;
    let export = export.expect(200);
    let intake = export["intake"].as_array().unwrap();
    assert_eq!(intake.len(), 2);
    assert_eq!(intake[1]["answers"]["other_information"], "Note: v2");
    let notes = export["treatment_notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["booking_id"], w.booking_id.as_str());
    assert_eq!(notes[0]["subjective"], "Client reports neck pain exported");
    assert_eq!(export["bookings"][0]["intake_required"], false);
    // Another client's export holds none of it.
    let other = app
        .get("/api/v1/me/export")
        .token(&w.other_client)
        .send()
        .await;
    assert_eq!(other.expect(200)["intake"], json!([]));
    assert_eq!(other.body["treatment_notes"], json!([]));
    // The read of one's own health data is on the trail too.
    let reads = audit(app, &w.admin, &format!("actor_id={}", w.client_id)).await;
    let actions: Vec<&str> = reads
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"intake.read") && actions.contains(&"notes.read"),
        "{actions:?}"
    );
}

/// Phase 1 of auditing every write: users, the caller's own account, script tokens.
#[actix_web::test]
async fn account_user_and_token_writes_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let registered = app.register("cara@example.com").await;
    let client = registered["access_token"].as_str().unwrap().to_owned();
    let client_id = registered["user"]["id"].as_str().unwrap().to_owned();
    app.patch("/api/v1/me")
        .token(&client)
        .json(json!({"name": "Cara"}))
        .send()
        .await
        .expect(200);
    app.post("/api/v1/me/password")
        .token(&client)
        .json(json!({"current_password": crate::helpers::PASSWORD, "new_password": "a much longer passphrase 42"}))
        .send()
        .await
        .expect(200);
    let made = app
        .post("/api/v1/users")
        .token(&admin)
        .json(json!({"email": "staff@example.com", "password": "another long passphrase 7", "name": "Staff", "role": "therapist"}))
        .send()
        .await;
    let staff = made.expect(201)["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/api/v1/users/{staff}"))
        .token(&admin)
        .json(json!({"name": "Staff Two"}))
        .send()
        .await
        .expect(200);
    app.delete(&format!("/api/v1/users/{staff}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    let token = app
        .post("/api/v1/api-tokens")
        .token(&admin)
        .json(json!({"name": "script"}))
        .send()
        .await;
    let token_id = token.expect(201)["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/api/v1/api-tokens/{token_id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    // A refused write records nothing.
    app.delete(&format!("/api/v1/api-tokens/{token_id}"))
        .token(&admin)
        .send()
        .await
        .expect(404);

    // The catalog written on first start is recorded too, by `system`; this test is about the
    // requests.
    let events: Vec<Value> = audit(&app, &admin, "limit=100")
        .await
        .into_iter()
        .filter(|e| e["actor_role"] != "system")
        .collect();
    let seen: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["subject_type"].as_str().unwrap().to_owned(),
                e["subject_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("user.register", "user", client_id.as_str()),
        ("account.update", "user", client_id.as_str()),
        ("account.password_change", "user", client_id.as_str()),
        ("user.create", "user", staff.as_str()),
        ("user.update", "user", staff.as_str()),
        ("user.delete", "user", staff.as_str()),
        ("api_token.create", "api_token", token_id.as_str()),
        ("api_token.revoke", "api_token", token_id.as_str()),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, t, i)| ((*a).to_owned(), (*t).to_owned(), (*i).to_owned()))
        .collect();
    assert_eq!(seen, expected);
    assert!(events.iter().all(|e| e["request_id"].is_string()));
}

/// A marker written into an intake and a note shows up nowhere else: not in the calendar feeds,
/// the webhook payloads, the emails, the log, nor (on SQLite) in the database file's bytes.
#[actix_web::test]
async fn health_data_never_leaks_into_feeds_webhooks_emails_logs_or_the_database_file() {
    let log = captured_log();
    const MARKER: &str = "ZEBRA-HEALTH-7731";
    let app = TestApp::spawn_with(crate::helpers::Options {
        env: [("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true".to_owned())].into(),
    })
    .await;
    let w = world_with(app).await;
    let app = &w.app;
    app.post("/api/v1/webhooks")
        .token(&w.admin)
        .json(json!({"url": "http://127.0.0.1:9/hook", "events": ["booking.created", "booking.cancelled", "booking.rescheduled", "booking.completed", "booking.no_show"]}))
        .send()
        .await
        .expect(201);
    w.submit_intake(MARKER).await;
    // A refused submission with the marker as a value: the refusal names the field, not the value.
    let mut bad = intake_body(MARKER);
    bad["answers"]["pressure_preference"] = json!(MARKER);
    app.put("/api/v1/me/intake")
        .token(&w.client)
        .json(bad)
        .send()
        .await
        .expect(422);
    w.start_booking().await;
    w.put_note(&w.treating, MARKER).await.expect(200);
    app.get(&format!(
        "/api/v1/bookings/{}/notes/treatment",
        w.booking_id
    ))
    .token(&w.client)
    .send()
    .await
    .expect(200);
    app.post(&format!("/api/v1/bookings/{}/complete", w.booking_id))
        .token(&w.treating)
        .send()
        .await
        .expect(200);

    // Feeds: the client's and the therapist's.
    for (token, path) in [
        (&w.client, "/api/v1/me/calendar-token".to_owned()),
        (
            &w.admin,
            format!("/api/v1/therapists/{}/calendar-token", w.therapist_profile),
        ),
    ] {
        let feed = app.post(&path).token(token).send().await;
        let url = feed.expect(200)["url"].as_str().unwrap().to_owned();
        let ics = app.get(&url).send().await;
        ics.expect(200);
        let text = String::from_utf8_lossy(&ics.raw);
        assert!(text.contains(&w.booking_id), "the feed shows the booking");
        assert!(!text.contains(MARKER), "{text}");
    }
    // Webhook payloads (as stored for delivery) and emails (as queued).
    assert!(app.count("webhook_deliveries").await >= 1, "the completion");
    let like = format!("'%{MARKER}%'");
    assert_eq!(
        app.count_where("webhook_deliveries", &format!("payload LIKE {like}"))
            .await,
        0
    );
    assert!(app.count("notifications").await >= 1);
    assert_eq!(
        app.count_where(
            "notifications",
            &format!(
                "subject LIKE {like} OR body_text LIKE {like} OR body_html LIKE {like} \
                 OR calendar LIKE {like} OR context LIKE {like}"
            )
        )
        .await,
        0
    );
    // The log.
    let logged = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert!(logged.contains("request refused"), "the capture works");
    assert!(!logged.contains(MARKER), "{logged}");
    // The database file, with its write-ahead log.
    if !app.is_postgres() {
        let path = app.database_url.trim_start_matches("sqlite://").to_owned();
        for file in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                assert!(
                    !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
                    "{file} holds the marker in plain text"
                );
            }
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"Dr. Ng"),
            "answers are sealed"
        );
    }
}

/// Everything logged (at debug and above) by this test binary from the first call on. A scoped
/// subscriber would miss events whose callsites other test threads registered first, so this is
/// the process-wide one; no other test sets one.
fn captured_log() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::io::Write;
    use std::sync::{Arc, Mutex, OnceLock};

    #[derive(Clone)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Captured(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        buffer
    })
    .clone()
}

const OTHER_KEY: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

/// Starting over this database with `key`: the error if it refuses.
async fn start_with_key(app: &TestApp, key: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let env = std::collections::HashMap::from([
        ("DATABASE_URL", app.database_url.clone()),
        (
            "JWT_SECRET",
            "test-secret-test-secret-test-secret-0123".to_owned(),
        ),
        ("DATA_DIR", dir.path().display().to_string()),
        ("HEALTH_DATA_KEY", key.to_owned()),
    ]);
    let config = inspine::config::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    actix_web::web::block(move || inspine::app::AppState::prepare(config).map(|_| ()))
        .await
        .unwrap()
        .map_err(|e| e.to_string())
}

#[actix_web::test]
async fn a_wrong_key_refuses_to_start_and_a_moved_ciphertext_is_a_500_never_garbage() {
    let log = captured_log();
    let w = world().await;
    let app = &w.app;
    // No health data yet: any key starts.
    start_with_key(app, OTHER_KEY).await.unwrap();
    w.submit_intake("one").await;
    w.submit_intake("two").await;
    let err = start_with_key(app, OTHER_KEY).await.unwrap_err();
    assert!(
        err.contains("health data cannot be decrypted with HEALTH_DATA_KEY"),
        "{err}"
    );
    assert!(err.contains("refusing to start"), "{err}");
    start_with_key(app, crate::helpers::TEST_HEALTH_KEY)
        .await
        .unwrap();

    // Version 1's sealed answers copied into version 2's row do not open there.
    app.sql(
        "UPDATE intake_versions SET \
         nonce = (SELECT v.nonce FROM intake_versions v WHERE v.version = 1), \
         ciphertext = (SELECT v.ciphertext FROM intake_versions v WHERE v.version = 1) \
         WHERE version = 2"
            .to_owned(),
    )
    .await;
    let resp = app.get("/api/v1/me/intake").token(&w.client).send().await;
    resp.expect(500);
    assert!(!String::from_utf8_lossy(&resp.raw).contains("one"));
    let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert!(log.contains("health data cannot be decrypted with HEALTH_DATA_KEY"));
    // The failed read recorded nothing.
    assert_eq!(
        app.count_where("audit_events", "action = 'intake.read'")
            .await,
        0
    );
}

#[actix_web::test]
async fn rotate_health_key_reencrypts_everything_then_only_the_new_key_opens_it() {
    let w = world().await;
    w.submit_intake("rotated").await;
    w.submit_intake("rotated again").await;
    w.start_booking().await;
    w.put_note(&w.treating, "rotated").await.expect(200);
    let dir = tempfile::tempdir().unwrap();
    let run = |new_key: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inspine"))
            .arg("rotate-health-key")
            .current_dir(dir.path())
            .env("DATABASE_URL", &w.app.database_url)
            .env("JWT_SECRET", "test-secret-test-secret-test-secret-0123")
            .env("HEALTH_DATA_KEY", crate::helpers::TEST_HEALTH_KEY)
            .env("DATA_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, "{new_key}").unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let bad = run("not a key");
    assert!(!bad.status.success(), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("new key"),
        "{bad:?}"
    );
    let output = run(OTHER_KEY);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.contains("re-encrypted 2 intake version(s) and 1 treatment note(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("set HEALTH_DATA_KEY"), "{stdout}");

    let err = start_with_key(&w.app, crate::helpers::TEST_HEALTH_KEY)
        .await
        .unwrap_err();
    assert!(err.contains("cannot be decrypted"), "{err}");
    assert_eq!(
        w.app
            .count_where(
                "audit_events",
                "action = 'health_key.rotate' AND actor_role = 'system'"
            )
            .await,
        1
    );
    let World {
        app,
        client,
        booking_id,
        ..
    } = w;
    let app = app
        .restart_with([("HEALTH_DATA_KEY", OTHER_KEY.to_owned())].into())
        .await;
    let latest = app.get("/api/v1/me/intake").token(&client).send().await;
    assert_eq!(
        latest.expect(200)["answers"]["other_information"],
        "Note: rotated again"
    );
    let note = app
        .get(&format!("/api/v1/bookings/{booking_id}/notes/treatment"))
        .token(&client)
        .send()
        .await;
    assert_eq!(
        note.expect(200)["subjective"],
        "Client reports neck pain rotated"
    );
}

#[actix_web::test]
async fn a_client_with_clinical_records_is_kept() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let registered = app.register("dee@example.com").await;
    let token = registered["access_token"].as_str().unwrap();
    let id = registered["user"]["id"].as_str().unwrap();
    app.put("/api/v1/me/intake")
        .token(token)
        .json(intake_body("kept"))
        .send()
        .await
        .expect(200);
    let refused = app
        .delete(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .send()
        .await;
    refused.expect(409);
    assert_eq!(app.count("intake_versions").await, 1);
}
