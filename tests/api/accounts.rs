//! Account self-service: editing one's profile, changing the password, resetting a forgotten
//! one, and exporting one's data.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};

use inspine::limits::LoginGuard;

use crate::helpers::{Options, PASSWORD, TestApp, at, local_date};

const NEW_PASSWORD: &str = "plum orchard at dusk";
const OWNER: &str = "198.51.100.20:50000";
const ATTACKER: &str = "203.0.113.7:40000";

/// Rate limits on, and the login guard's clock stopped, so a back-off cannot run out while the
/// test is still sending requests.
async fn limited_frozen() -> TestApp {
    let frozen = Instant::now();
    TestApp::spawn_adjusted(
        Options {
            env: [("RATE_LIMIT_ENABLED", "true".to_owned())].into(),
        },
        move |state| {
            state.login_guard = LoginGuard::with_clock(100_000, move || frozen);
        },
    )
    .await
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap()
}

async fn refresh_status(app: &TestApp, refresh_token: &str) -> u16 {
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": refresh_token}))
        .send()
        .await
        .status
        .as_u16()
}

async fn login(app: &TestApp, email: &str, password: &str) -> crate::helpers::Resp {
    app.post("/api/v1/auth/login")
        .json(json!({"email": email, "password": password}))
        .send()
        .await
}

async fn confirm(app: &TestApp, token: &str, new_password: &str) -> crate::helpers::Resp {
    app.post("/api/v1/auth/password-reset/confirm")
        .json(json!({"token": token, "new_password": new_password}))
        .send()
        .await
}

// ---- PATCH /me ------------------------------------------------------------------------------

#[actix_web::test]
async fn a_user_edits_their_name_phone_and_email_preference() {
    let app = TestApp::spawn().await;
    let registered = app.register("ana@example.com").await;
    assert_eq!(registered["user"]["email_notifications"], true);
    let token = str_of(&registered, "access_token");

    let patched = app
        .patch("/api/v1/me")
        .token(token)
        .json(json!({"name": "  Ana Lopez ", "phone": "+1 604 555 0100"}))
        .send()
        .await;
    let patched = patched.expect(200).clone();
    assert_eq!(patched["name"], "Ana Lopez");
    assert_eq!(patched["phone"], "+1 604 555 0100");
    assert_eq!(patched["email"], "ana@example.com");
    assert_eq!(patched["role"], "client");
    assert_eq!(patched["email_notifications"], true);

    let off = app
        .patch("/api/v1/me")
        .token(token)
        .json(json!({"email_notifications": false}))
        .send()
        .await;
    assert_eq!(off.expect(200)["email_notifications"], false);
    let me = app.get("/api/v1/me").token(token).send().await;
    let me = me.expect(200);
    assert_eq!(me["email_notifications"], false);
    assert_eq!(me["name"], "Ana Lopez", "fields left out stay as they were");

    let cleared = app
        .patch("/api/v1/me")
        .token(token)
        .json(json!({"phone": null, "email_notifications": true}))
        .send()
        .await;
    let cleared = cleared.expect(200);
    assert_eq!(cleared["phone"], Value::Null);
    assert_eq!(cleared["email_notifications"], true);
    // An edit of one's profile does not end one's logins.
    assert_eq!(
        refresh_status(&app, str_of(&registered, "refresh_token")).await,
        200
    );
}

#[actix_web::test]
async fn email_role_password_and_unknown_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.client_token("ana@example.com").await;
    for (body, field) in [
        (json!({"email": "other@example.com"}), "email"),
        (json!({"role": "admin"}), "role"),
        (json!({"password": NEW_PASSWORD}), "password"),
        (json!({"name": "Ana", "nickname": "Annie"}), "nickname"),
        (json!({"phone": "call me"}), "phone"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
    ] {
        let resp = app
            .patch("/api/v1/me")
            .token(&token)
            .json(body.clone())
            .send()
            .await;
        resp.expect(422);
        assert_eq!(resp.body["errors"][0]["field"], field, "{body}");
    }
    let me = app.get("/api/v1/me").token(&token).send().await;
    let me = me.expect(200);
    assert_eq!(me["email"], "ana@example.com");
    assert_eq!(me["role"], "client");
    assert_eq!(me["name"], "Client");
    app.patch("/api/v1/me")
        .json(json!({"name": "Nobody"}))
        .send()
        .await
        .expect(401);
}

#[actix_web::test]
async fn turning_emails_off_drops_queued_emails_but_not_password_resets() {
    let app = TestApp::spawn().await;
    let ana = app.register("ana@example.com").await;
    let ana_id = str_of(&ana["user"], "id").to_owned();
    let bob = app.register("bob@example.com").await;
    let bob_id = str_of(&bob["user"], "id").to_owned();
    let now = chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    for (user, kind, status) in [
        (&ana_id, "booking_confirmed", "pending"),
        (&ana_id, "booking_reminder", "pending"),
        (&ana_id, "password_reset", "pending"),
        (&ana_id, "booking_cancelled", "sent"),
        (&bob_id, "booking_reminder", "pending"),
    ] {
        app.sql(format!(
            "INSERT INTO notifications (id, user_id, kind, to_address, subject, body_text, \
             body_html, status, next_attempt_at, created_at, updated_at) VALUES ('{}', '{user}', \
             '{kind}', 'x@example.com', 's', 't', 'h', '{status}', '{now}', '{now}', '{now}')",
            uuid::Uuid::new_v4()
        ))
        .await;
    }
    // Turning them on (or leaving them on) keeps everything.
    app.patch("/api/v1/me")
        .token(str_of(&ana, "access_token"))
        .json(json!({"email_notifications": true}))
        .send()
        .await
        .expect(200);
    assert_eq!(app.count("notifications").await, 5);

    app.patch("/api/v1/me")
        .token(str_of(&ana, "access_token"))
        .json(json!({"email_notifications": false}))
        .send()
        .await
        .expect(200);
    let ana_left = format!("user_id = '{ana_id}'");
    assert_eq!(app.count_where("notifications", &ana_left).await, 2);
    assert_eq!(
        app.count_where(
            "notifications",
            &format!("{ana_left} AND status = 'pending' AND kind = 'password_reset'")
        )
        .await,
        1
    );
    assert_eq!(
        app.count_where("notifications", &format!("{ana_left} AND status = 'sent'"))
            .await,
        1
    );
    assert_eq!(
        app.count_where("notifications", &format!("user_id = '{bob_id}'"))
            .await,
        1,
        "another user's queue is untouched"
    );
}

// ---- POST /me/password ----------------------------------------------------------------------

#[actix_web::test]
async fn changing_the_password_ends_every_other_login_and_returns_a_new_one() {
    let app = TestApp::spawn().await;
    let first = app.register("ana@example.com").await;
    let second = login(&app, "ana@example.com", PASSWORD)
        .await
        .expect(200)
        .clone();

    let changed = app
        .post("/api/v1/me/password")
        .token(str_of(&first, "access_token"))
        .json(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await;
    assert_eq!(changed.header("cache-control").as_deref(), Some("no-store"));
    let changed = changed.expect(200).clone();
    assert_eq!(changed["token_type"], "Bearer");
    assert_eq!(changed["expires_in"], 900);
    assert_eq!(changed["user"]["email"], "ana@example.com");
    app.get("/api/v1/me")
        .token(str_of(&changed, "access_token"))
        .send()
        .await
        .expect(200);

    // The login that asked and another login of the same user both end.
    assert_eq!(
        refresh_status(&app, str_of(&first, "refresh_token")).await,
        401
    );
    assert_eq!(
        refresh_status(&app, str_of(&second, "refresh_token")).await,
        401
    );
    // The new pair works.
    assert_eq!(
        refresh_status(&app, str_of(&changed, "refresh_token")).await,
        200
    );
    login(&app, "ana@example.com", PASSWORD).await.expect(401);
    login(&app, "ana@example.com", NEW_PASSWORD)
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_weak_new_password_is_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let registered = app.register("ana.lopez@example.com").await;
    let token = str_of(&registered, "access_token");
    for weak in ["short", "password1", "analopez1", "        "] {
        let resp = app
            .post("/api/v1/me/password")
            .token(token)
            .json(json!({"current_password": PASSWORD, "new_password": weak}))
            .send()
            .await;
        resp.expect(422);
        assert_eq!(resp.body["errors"][0]["field"], "new_password", "{weak:?}");
    }
    let missing = app
        .post("/api/v1/me/password")
        .token(token)
        .json(json!({"new_password": NEW_PASSWORD}))
        .send()
        .await;
    missing.expect(422);
    assert_eq!(missing.body["errors"][0]["field"], "current_password");
    assert_eq!(
        refresh_status(&app, str_of(&registered, "refresh_token")).await,
        200
    );
    login(&app, "ana.lopez@example.com", PASSWORD)
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_wrong_current_password_is_401_and_counts_as_a_failed_login() {
    let app = limited_frozen().await;
    let registered = app.register("ana@example.com").await;
    let token = str_of(&registered, "access_token");
    let change = |current: &'static str| {
        app.post("/api/v1/me/password")
            .peer(ATTACKER)
            .token(token)
            .json(json!({"current_password": current, "new_password": NEW_PASSWORD}))
            .send()
    };
    for _ in 0..5 {
        let resp = change("wrong guess").await;
        resp.expect(401);
        assert_eq!(resp.problem_type(), "wrong-password");
        assert_eq!(resp.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    // Backed off like a login: even the right password waits, and so does the login form
    // from the same address.
    let held = change(PASSWORD).await;
    held.expect(429);
    assert!(held.header("retry-after").is_some());
    app.post("/api/v1/auth/login")
        .peer(ATTACKER)
        .json(json!({"email": "ana@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect(429);
    // The owner elsewhere is not locked out, and nothing changed.
    app.post("/api/v1/auth/login")
        .peer(OWNER)
        .json(json!({"email": "ana@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect(200);
    assert_eq!(
        refresh_status(&app, str_of(&registered, "refresh_token")).await,
        200
    );
}

// ---- POST /auth/password-reset --------------------------------------------------------------

#[actix_web::test]
async fn reset_requests_answer_the_same_for_known_and_unknown_emails() {
    let app = TestApp::spawn().await;
    app.register("ana@example.com").await;
    let ask = |email: &'static str| {
        app.post("/api/v1/auth/password-reset")
            .json(json!({"email": email}))
            .send()
    };
    let started = Instant::now();
    let known = ask("Ana@Example.com").await;
    let known_took = started.elapsed();
    let started = Instant::now();
    let unknown = ask("nobody@example.com").await;
    let unknown_took = started.elapsed();
    known.expect(202);
    unknown.expect(202);
    assert_eq!(known.body, json!({}));
    assert_eq!(known.raw, unknown.raw);
    assert_eq!(known.header("content-type"), unknown.header("content-type"));
    // Both are held to the same minimum time.
    assert!(known_took >= Duration::from_millis(250), "{known_took:?}");
    assert!(
        unknown_took >= Duration::from_millis(250),
        "{unknown_took:?}"
    );

    // Only the known address got a reset, stored as a hash that expires in an hour.
    assert_eq!(app.count("password_resets").await, 1);
    assert_eq!(
        app.count_where(
            "password_resets",
            "length(token_hash) = 64 AND used_at IS NULL"
        )
        .await,
        1
    );
    let an_hour_later = if app.database_url.starts_with("postgres") {
        "expires_at = created_at + INTERVAL '60 minutes'"
    } else {
        "abs((julianday(expires_at) - julianday(created_at)) * 1440 - 60) < 0.001"
    };
    assert_eq!(app.count_where("password_resets", an_hour_later).await, 1);

    // One reset email a minute per address: a second request within the minute does nothing.
    ask("ana@example.com").await.expect(202);
    assert_eq!(app.count("password_resets").await, 1);
    // A minute later (moved back in the database rather than waited for) it works again.
    app.sql("UPDATE password_resets SET created_at = '2000-01-01 00:00:00'".to_owned())
        .await;
    ask("ana@example.com").await.expect(202);
    assert_eq!(app.count("password_resets").await, 2);

    let malformed = app
        .post("/api/v1/auth/password-reset")
        .json(json!({"email": "not an email"}))
        .send()
        .await;
    malformed.expect(422);
    assert_eq!(malformed.body["errors"][0]["field"], "email");
    app.post("/api/v1/auth/password-reset")
        .json(json!({"email": "ana@example.com", "role": "admin"}))
        .send()
        .await
        .expect(422);
}

#[actix_web::test]
async fn concurrent_reset_requests_for_one_address_make_one_reset() {
    let app = TestApp::spawn().await;
    app.register("ana@example.com").await;
    let answers = join_all((0..4).map(|_| {
        app.post("/api/v1/auth/password-reset")
            .json(json!({"email": "ana@example.com"}))
            .send()
    }))
    .await;
    for answer in &answers {
        answer.expect(202);
    }
    assert_eq!(app.count("password_resets").await, 1);
}

#[actix_web::test]
async fn reset_routes_share_the_per_address_auth_limit() {
    let app = limited_frozen().await;
    for i in 0..10 {
        app.post("/api/v1/auth/login")
            .json(json!({"email": format!("nobody{i}@example.com"), "password": "wrong password"}))
            .send()
            .await
            .expect(401);
    }
    let limited = app
        .post("/api/v1/auth/password-reset")
        .json(json!({"email": "nobody@example.com"}))
        .send()
        .await;
    limited.expect(429);
    assert_eq!(limited.problem_type(), "rate-limited");
    confirm(&app, "anything", NEW_PASSWORD).await.expect(429);
    assert_eq!(app.count("password_resets").await, 0);
}

// ---- POST /auth/password-reset/confirm ------------------------------------------------------

#[actix_web::test]
async fn confirming_a_reset_sets_the_password_and_ends_every_login() {
    let app = TestApp::spawn().await;
    let first = app.register("ana@example.com").await;
    let id = str_of(&first["user"], "id");
    let second = login(&app, "ana@example.com", PASSWORD)
        .await
        .expect(200)
        .clone();
    app.plant_reset(id, "planted-token-one", chrono::Duration::hours(1))
        .await;
    app.plant_reset(id, "planted-token-two", chrono::Duration::hours(1))
        .await;

    let done = confirm(&app, "planted-token-one", NEW_PASSWORD).await;
    done.expect(204);
    assert!(done.raw.is_empty());
    assert_eq!(
        refresh_status(&app, str_of(&first, "refresh_token")).await,
        401
    );
    assert_eq!(
        refresh_status(&app, str_of(&second, "refresh_token")).await,
        401
    );
    login(&app, "ana@example.com", PASSWORD).await.expect(401);
    login(&app, "ana@example.com", NEW_PASSWORD)
        .await
        .expect(200);

    // The token is single-use, and the account's other outstanding reset ended with it.
    for token in ["planted-token-one", "planted-token-two"] {
        let again = confirm(&app, token, "another fine passphrase").await;
        again.expect(422);
        assert_eq!(again.problem_type(), "reset-token-invalid");
        assert_eq!(again.body["errors"][0]["field"], "token");
    }
    login(&app, "ana@example.com", NEW_PASSWORD)
        .await
        .expect(200);
}

#[actix_web::test]
async fn unknown_and_expired_tokens_are_422_and_a_weak_password_keeps_the_token() {
    let app = TestApp::spawn().await;
    let registered = app.register("ana.lopez@example.com").await;
    let id = str_of(&registered["user"], "id");
    app.plant_reset(id, "expired-token", chrono::Duration::minutes(-1))
        .await;
    app.plant_reset(id, "fresh-token", chrono::Duration::hours(1))
        .await;
    for token in ["expired-token", "never-issued", ""] {
        let resp = confirm(&app, token, NEW_PASSWORD).await;
        resp.expect(422);
        assert!(
            str_of(&resp.body, "type").ends_with("/problems/reset-token-invalid"),
            "{token:?}"
        );
    }
    // A refused password does not use the token up; the account's own name counts as weak.
    for weak in ["short", "analopez1"] {
        let resp = confirm(&app, "fresh-token", weak).await;
        resp.expect(422);
        assert_eq!(resp.problem_type(), "validation");
        assert_eq!(resp.body["errors"][0]["field"], "new_password");
    }
    assert_eq!(
        refresh_status(&app, str_of(&registered, "refresh_token")).await,
        200
    );
    confirm(&app, "fresh-token", NEW_PASSWORD).await.expect(204);
    login(&app, "ana.lopez@example.com", NEW_PASSWORD)
        .await
        .expect(200);
}

#[actix_web::test]
async fn two_concurrent_confirmations_of_one_token_cannot_both_win() {
    let app = TestApp::spawn().await;
    let registered = app.register("ana@example.com").await;
    let id = str_of(&registered["user"], "id");
    app.plant_reset(id, "raced-token", chrono::Duration::hours(1))
        .await;
    let answers = join_all([
        confirm(&app, "raced-token", NEW_PASSWORD),
        confirm(&app, "raced-token", "another fine passphrase"),
    ])
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 422]);
    let winner = if answers[0].status.as_u16() == 204 {
        NEW_PASSWORD
    } else {
        "another fine passphrase"
    };
    login(&app, "ana@example.com", winner).await.expect(200);
}

#[actix_web::test]
async fn a_reset_lifts_the_back_off_its_owner_earned_on_that_address() {
    let app = limited_frozen().await;
    let registered = app.register("ana@example.com").await;
    let owner_login = |password: &'static str| {
        app.post("/api/v1/auth/login")
            .peer(OWNER)
            .json(json!({"email": "ana@example.com", "password": password}))
            .send()
    };
    for _ in 0..5 {
        owner_login("what was it again").await.expect(401);
    }
    owner_login(PASSWORD).await.expect(429);
    app.plant_reset(
        str_of(&registered["user"], "id"),
        "mailed-token",
        chrono::Duration::hours(1),
    )
    .await;
    app.post("/api/v1/auth/password-reset/confirm")
        .peer(OWNER)
        .json(json!({"token": "mailed-token", "new_password": NEW_PASSWORD}))
        .send()
        .await
        .expect(204);
    owner_login(NEW_PASSWORD).await.expect(200);
}

// ---- GET /me/export -------------------------------------------------------------------------

#[actix_web::test]
async fn the_export_holds_the_users_data_and_no_secrets() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let registered = app.register("ana@example.com").await;
    let token = str_of(&registered, "access_token");
    let booking = app
        .post("/api/v1/bookings")
        .token(token)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"],
                     "duration_minutes": 60, "start": at(local_date(7), 10, 0), "notes": "Left shoulder"}))
        .send()
        .await;
    let booking = booking.expect(201).clone();
    // Another client's booking is not in Ana's export.
    let other = app.client_token("bob@example.com").await;
    app.post("/api/v1/bookings")
        .token(&other)
        .json(
            json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"],
                     "duration_minutes": 60, "start": at(local_date(7), 13, 0)}),
        )
        .send()
        .await
        .expect(201);
    // Secrets that exist for Ana: her refresh tokens, a feed token, a reset token.
    let feed = app
        .post("/api/v1/me/calendar-token")
        .token(token)
        .send()
        .await;
    let feed_url = feed.expect(200)["url"].as_str().unwrap().to_owned();
    let feed_token = feed_url.split("token=").nth(1).unwrap().to_owned();
    app.plant_reset(
        str_of(&registered["user"], "id"),
        "planted-reset-token",
        chrono::Duration::hours(1),
    )
    .await;

    let export = app.get("/api/v1/me/export").token(token).send().await;
    assert_eq!(export.header("cache-control").as_deref(), Some("no-store"));
    let body = export.expect(200).clone();
    assert_eq!(body["user"]["email"], "ana@example.com");
    assert_eq!(body["user"]["id"], registered["user"]["id"]);
    assert_eq!(body["user"]["email_notifications"], true);
    let bookings = body["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0], booking);
    assert_eq!(body["therapist_bookings"], json!([]));
    assert_eq!(body["waitlist"], json!([]));
    assert_eq!(body["intake"], json!([]));
    // The booking's confirmation (and its reminder) are listed, without bodies.
    let notifications = body["notifications"].as_array().unwrap();
    assert_eq!(notifications[0]["kind"], "booking_confirmed");
    assert_eq!(notifications[0]["booking_id"], booking["id"]);
    assert!(notifications.iter().all(|n| n.get("body_text").is_none()));

    let text = String::from_utf8(export.raw.clone()).unwrap();
    let hash = inspine::auth::tokens::sha256_hex;
    for secret in [
        "$argon2".to_owned(),
        str_of(&registered, "refresh_token").to_owned(),
        hash(str_of(&registered, "refresh_token")),
        token.to_owned(),
        feed_token.clone(),
        hash(&feed_token),
        "planted-reset-token".to_owned(),
        hash("planted-reset-token"),
        "password".to_owned(),
        "token".to_owned(),
    ] {
        assert!(!text.contains(&secret), "the export contains {secret:?}");
    }
    app.get("/api/v1/me/export").send().await.expect(401);
}

#[actix_web::test]
async fn a_therapists_export_holds_the_bookings_with_them() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (user_id, therapist) = app.user_with_role("maya@example.com", "therapist").await;
    app.patch(&format!("/api/v1/therapists/{}", clinic.therapist_id))
        .token(&clinic.admin)
        .json(json!({"user_id": user_id}))
        .send()
        .await
        .expect(200);
    let client = app.client_token("ana@example.com").await;
    let booking = app
        .post("/api/v1/bookings")
        .token(&client)
        .json(
            json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"],
                     "duration_minutes": 60, "start": at(local_date(7), 10, 0)}),
        )
        .send()
        .await;
    let booking = booking.expect(201).clone();
    let export = app.get("/api/v1/me/export").token(&therapist).send().await;
    let body = export.expect(200);
    assert_eq!(body["user"]["role"], "therapist");
    assert_eq!(body["bookings"], json!([]));
    assert_eq!(body["therapist_bookings"], json!([booking]));
}
