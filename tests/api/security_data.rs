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

#[actix_web::test]
async fn unlinking_a_login_ends_its_feeds_of_the_therapist() {
    let app = TestApp::spawn().await;
    let (therapist_id, _, login, admin) = linked_therapist(&app).await;
    let mine = feed_url(&app, "/api/v1/me/calendar-token", &login).await;
    let minted_by_login = feed_url(
        &app,
        &format!("/api/v1/therapists/{therapist_id}/calendar-token"),
        &login,
    )
    .await;
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
    let mine = feed_url(&app, "/api/v1/me/calendar-token", &login).await;
    let minted_by_login = feed_url(
        &app,
        &format!("/api/v1/therapists/{therapist_id}/calendar-token"),
        &login,
    )
    .await;
    app.delete(&format!("/api/v1/users/{user_id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get(&mine).send().await.expect(404);
    app.get(&minted_by_login).send().await.expect(404);
    assert_eq!(app.count("calendar_tokens").await, 0);
}
