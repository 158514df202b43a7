//! Sessions and feeds that must end with their reason, and the characters no text may carry.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, at, local_date};

// ---------------------------------------------------------------------------------------------
// Sessions and feeds that outlive their reason
// ---------------------------------------------------------------------------------------------

async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    app.post("/api/v1/auth/login")
        .json(json!({"email": email, "password": password}))
        .send()
        .await
        .expect(200)
        .clone()
}

async fn refresh(app: &TestApp, session: &Value) -> u16 {
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": session["refresh_token"]}))
        .send()
        .await
        .status
        .as_u16()
}

#[actix_web::test]
async fn an_admin_setting_a_password_ends_the_users_refresh_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register("ana@example.com").await;
    let id = user["user"]["id"].as_str().unwrap();
    let other_session = login(&app, "ana@example.com", PASSWORD).await;
    app.patch(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .json(json!({"password": "a brand new password"}))
        .send()
        .await
        .expect(200);
    assert_eq!(refresh(&app, &user).await, 401);
    assert_eq!(refresh(&app, &other_session).await, 401);
    // The new password logs in, and that login refreshes.
    let fresh = login(&app, "ana@example.com", "a brand new password").await;
    assert_eq!(refresh(&app, &fresh).await, 200);
}

#[actix_web::test]
async fn an_admin_changing_a_role_ends_the_users_refresh_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (id, _) = app.user_with_role("maya@example.com", "therapist").await;
    let session = login(&app, "maya@example.com", PASSWORD).await;
    app.patch(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .json(json!({"role": "client"}))
        .send()
        .await
        .expect(200);
    assert_eq!(refresh(&app, &session).await, 401);
}

#[actix_web::test]
async fn other_changes_keep_the_users_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register("ana@example.com").await;
    let id = user["user"]["id"].as_str().unwrap();
    app.patch(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .json(json!({"name": "Ana María", "role": "client"}))
        .send()
        .await
        .expect(200);
    assert_eq!(refresh(&app, &user).await, 200);
}

/// A therapist profile linked to a fresh therapist login with one booking; returns
/// (therapist id, login user id, login access token, admin token).
async fn linked_therapist(app: &TestApp) -> (String, String, String, String) {
    let clinic = app.clinic().await;
    let (user_id, token) = app.user_with_role("maya@example.com", "therapist").await;
    app.patch(&format!("/api/v1/therapists/{}", clinic.therapist_id))
        .token(&clinic.admin)
        .json(json!({"user_id": user_id}))
        .send()
        .await
        .expect(200);
    let client = app.client_token("client@example.com").await;
    app.post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), 10, 0)}))
        .send()
        .await
        .expect(201);
    (clinic.therapist_id, user_id, token, clinic.admin)
}

async fn feed_url(app: &TestApp, path: &str, token: &str) -> String {
    app.post(path).token(token).send().await.expect(200)["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The linked login's own feed and the therapist's feed it minted itself.
async fn login_feeds(app: &TestApp, therapist_id: &str, login: &str) -> (String, String) {
    let mine = feed_url(app, "/api/v1/me/calendar-token", login).await;
    let minted = feed_url(
        app,
        &format!("/api/v1/therapists/{therapist_id}/calendar-token"),
        login,
    )
    .await;
    (mine, minted)
}

#[actix_web::test]
async fn unlinking_a_login_ends_its_feeds_of_the_therapist() {
    let app = TestApp::spawn().await;
    let (therapist_id, _, login, admin) = linked_therapist(&app).await;
    let (mine, minted_by_login) = login_feeds(&app, &therapist_id, &login).await;
    let feed = app.get(&mine).send().await;
    feed.expect(200);
    assert!(String::from_utf8_lossy(&feed.raw).contains("BEGIN:VEVENT"));
    app.get(&minted_by_login).send().await.expect(200);

    app.patch(&format!("/api/v1/therapists/{therapist_id}"))
        .token(&admin)
        .json(json!({"user_id": null}))
        .send()
        .await
        .expect(200);
    app.get(&mine).send().await.expect(404);
    app.get(&minted_by_login).send().await.expect(404);

    // An admin re-issues the therapist's feed; it works.
    let reissued = feed_url(
        &app,
        &format!("/api/v1/therapists/{therapist_id}/calendar-token"),
        &admin,
    )
    .await;
    app.get(&reissued).send().await.expect(200);
}

#[actix_web::test]
async fn linking_another_login_ends_the_previous_logins_feed() {
    let app = TestApp::spawn().await;
    let (therapist_id, _, login, admin) = linked_therapist(&app).await;
    let mine = feed_url(&app, "/api/v1/me/calendar-token", &login).await;
    let (other, _) = app.user_with_role("lena@example.com", "therapist").await;
    app.patch(&format!("/api/v1/therapists/{therapist_id}"))
        .token(&admin)
        .json(json!({"user_id": other}))
        .send()
        .await
        .expect(200);
    app.get(&mine).send().await.expect(404);
}

#[actix_web::test]
async fn unrelated_therapist_changes_keep_the_feeds() {
    let app = TestApp::spawn().await;
    let (therapist_id, user_id, login, admin) = linked_therapist(&app).await;
    let mine = feed_url(&app, "/api/v1/me/calendar-token", &login).await;
    app.patch(&format!("/api/v1/therapists/{therapist_id}"))
        .token(&admin)
        .json(json!({"name": "Maya R.", "user_id": user_id}))
        .send()
        .await
        .expect(200);
    app.get(&mine).send().await.expect(200);
}

#[actix_web::test]
async fn deleting_a_login_ends_its_feeds() {
    let app = TestApp::spawn().await;
    let (therapist_id, user_id, login, admin) = linked_therapist(&app).await;
    let (mine, minted_by_login) = login_feeds(&app, &therapist_id, &login).await;
    app.delete(&format!("/api/v1/users/{user_id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get(&mine).send().await.expect(404);
    app.get(&minted_by_login).send().await.expect(404);
    assert_eq!(app.count("calendar_tokens").await, 0);
}

// ---------------------------------------------------------------------------------------------
// Text hygiene
// ---------------------------------------------------------------------------------------------

/// CR, NUL, ESC and a right-to-left override: none may be stored in any text.
const BAD: [&str; 4] = ["\r", "\0", "\u{1b}", "\u{202e}"];

#[track_caller]
fn names_field(resp: &crate::helpers::Resp, field: &str) {
    let body = resp.expect(422);
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == field),
        "{body}"
    );
}

#[actix_web::test]
async fn control_and_bidi_characters_are_refused_in_texts() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.client_token("client@example.com").await;
    let booked = app
        .post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), 10, 0)}))
        .send()
        .await;
    let booking_id = booked.expect(201)["id"].as_str().unwrap().to_owned();
    for (i, bad) in BAD.iter().enumerate() {
        let resp = app
            .post("/api/v1/auth/register")
            .json(json!({"email": format!("r{i}@example.com"), "password": PASSWORD, "name": format!("Ana{bad}Evil")}))
            .send()
            .await;
        names_field(&resp, "name");
        let resp = app
            .post("/api/v1/auth/register")
            .json(json!({"email": format!("p{i}@example.com"), "password": PASSWORD, "name": "Ana", "phone": format!("{bad}604 555 0100")}))
            .send()
            .await;
        names_field(&resp, "phone");
        let resp = app
            .post("/api/v1/bookings")
            .token(&client)
            .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(8), 10, 0), "notes": format!("side{bad}door")}))
            .send()
            .await;
        names_field(&resp, "notes");
        let resp = app
            .post(&format!("/api/v1/bookings/{booking_id}/cancel"))
            .token(&client)
            .json(json!({"reason": format!("ill{bad}")}))
            .send()
            .await;
        names_field(&resp, "reason");
        let resp = app
            .post("/api/v1/api-tokens")
            .token(&clinic.admin)
            .json(json!({"name": format!("{bad}backup script")}))
            .send()
            .await;
        names_field(&resp, "name");
        let resp = app
            .patch(&format!("/api/v1/therapists/{}", clinic.therapist_id))
            .token(&clinic.admin)
            .json(json!({"bio": format!("Deep tissue.{bad}")}))
            .send()
            .await;
        names_field(&resp, "bio");
    }
    // Nothing was stored, and the booking is still confirmed.
    assert_eq!(app.count("bookings").await, 1);
    assert_eq!(app.count("api_tokens").await, 0);
    let booking = app
        .get(&format!("/api/v1/bookings/{booking_id}"))
        .token(&client)
        .send()
        .await;
    assert_eq!(booking.expect(200)["status"], "confirmed");
}

#[actix_web::test]
async fn free_texts_may_break_lines_with_lf_only_and_names_not_at_all() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.client_token("client@example.com").await;
    let booked = app
        .post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), 10, 0), "notes": "Side door.\nBring a towel."}))
        .send()
        .await;
    assert_eq!(booked.expect(201)["notes"], "Side door.\nBring a towel.");
    let resp = app
        .post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(8), 10, 0), "notes": "Side door.\r\nBring a towel."}))
        .send()
        .await;
    names_field(&resp, "notes");
    let resp = app
        .post("/api/v1/auth/register")
        .json(json!({"email": "lf@example.com", "password": PASSWORD, "name": "Ana\nEvil"}))
        .send()
        .await;
    names_field(&resp, "name");
    let resp = app
        .post("/api/v1/locations")
        .token(&clinic.admin)
        .json(json!({"name": "Annex", "address": "1 Main St\nSuite 2", "timezone": "America/Vancouver"}))
        .send()
        .await;
    names_field(&resp, "address");
}

#[actix_web::test]
async fn a_nul_is_a_422_on_every_backend_never_a_500() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let resp = app
        .post("/api/v1/massage-types")
        .token(&admin)
        .json(json!({"slug": "nul", "name": "Nul", "description": "a\u{0}b", "options": [{"duration_minutes": 60, "price_cents": 100, "currency": "CAD"}]}))
        .send()
        .await;
    names_field(&resp, "description");
    let resp = app
        .post("/api/v1/webhooks")
        .token(&admin)
        .json(json!({"url": "https://example.com/\u{0}", "events": ["booking.created"]}))
        .send()
        .await;
    names_field(&resp, "url");
    app.post("/api/v1/auth/login")
        .json(json!({"email": "admin\u{0}@inspine.example", "password": PASSWORD}))
        .send()
        .await
        .expect(401);
}

#[actix_web::test]
async fn the_feed_never_carries_a_bare_cr_from_data() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.register("client@example.com").await;
    let token = client["access_token"].as_str().unwrap();
    // A name with a CR is refused at the door...
    app.patch(&format!(
        "/api/v1/users/{}",
        client["user"]["id"].as_str().unwrap()
    ))
    .token(&clinic.admin)
    .json(json!({"name": "Ana\rEND:VEVENT"}))
    .send()
    .await
    .expect(422);
    app.post("/api/v1/bookings")
        .token(token)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), 10, 0)}))
        .send()
        .await
        .expect(201);
    // ...and one stored before that rule does not reach the feed as a bare CR.
    app.sql(format!(
        "UPDATE users SET name = 'Ana\rEND:VEVENT\u{1b}' WHERE id = '{}'",
        client["user"]["id"].as_str().unwrap()
    ))
    .await;
    let url = feed_url(
        &app,
        &format!("/api/v1/therapists/{}/calendar-token", clinic.therapist_id),
        &clinic.admin,
    )
    .await;
    let feed = app.get(&url).send().await;
    feed.expect(200);
    let raw = String::from_utf8(feed.raw.clone()).unwrap();
    assert!(raw.contains("Ana END:VEVENT"), "{raw}");
    for (i, c) in raw.char_indices() {
        assert!(c != '\u{1b}', "{raw:?}");
        if c == '\r' {
            assert_eq!(raw[i + 1..].chars().next(), Some('\n'), "bare CR: {raw:?}");
        }
    }
}

/// Every text a request body may carry is constrained in the spec as the server constrains it:
/// a required text by the required-text pattern, a free text by the multi-line pattern, and
/// anything else by a format, an enum or a narrower pattern. Passwords and tokens sent back to
/// us are secrets, compared and never stored or shown, and stay free.
#[actix_web::test]
async fn the_spec_constrains_every_request_text_as_the_server_does() {
    let spec = serde_json::to_value(inspine::app::openapi()).unwrap();
    let schemas = &spec["components"]["schemas"];
    let mut requests = std::collections::BTreeSet::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(r) = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .or_else(|| {
                    op["requestBody"]["content"]["application/json"]["schema"]["oneOf"][1]["$ref"]
                        .as_str()
                })
            {
                requests.insert(r.trim_start_matches("#/components/schemas/").to_owned());
            }
        }
    }
    assert!(requests.contains("CreateBooking"), "{requests:?}");
    // A login only compares what it is sent (an address no account has is a 401).
    requests.remove("LoginRequest");
    let required = inspine::api::REQUIRED_TEXT_PATTERN;
    let multi = inspine::api::MULTI_LINE_PATTERN;
    let mut seen = (0, 0);
    let mut stack: Vec<&Value> = requests.iter().map(|n| &schemas[n.as_str()]).collect();
    while let Some(schema) = stack.pop() {
        // A body of several forms (POST /bookings: a slot, or a hold): each form.
        for form in schema["oneOf"].as_array().into_iter().flatten() {
            if let Some(r) = form["$ref"].as_str() {
                stack.push(&schemas[r.trim_start_matches("#/components/schemas/")]);
            }
        }
        let Some(props) = schema["properties"].as_object() else {
            continue;
        };
        for (name, prop) in props {
            if let Some(r) = prop["$ref"].as_str() {
                stack.push(&schemas[r.trim_start_matches("#/components/schemas/")]);
                continue;
            }
            if prop["items"]["$ref"].is_string() {
                let r = prop["items"]["$ref"].as_str().unwrap();
                stack.push(&schemas[r.trim_start_matches("#/components/schemas/")]);
                continue;
            }
            let is_string = prop["type"] == "string"
                || prop["type"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("string")));
            // Secrets and look-up keys are compared, never stored or shown.
            if !is_string || name.contains("password") || name.ends_with("_token") {
                continue;
            }
            let pattern = prop["pattern"].as_str();
            if ["notes", "reason", "bio", "description"].contains(&name.as_str()) {
                assert_eq!(pattern, Some(multi), "{name}");
                seen.1 += 1;
            } else if pattern == Some(required) {
                seen.0 += 1;
            } else {
                assert!(
                    prop["format"].is_string() || prop["enum"].is_array() || pattern.is_some(),
                    "{name} is unconstrained: {prop}"
                );
            }
        }
    }
    assert!(seen.0 >= 8 && seen.1 >= 6, "{seen:?}");
}
