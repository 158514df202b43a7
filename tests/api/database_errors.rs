//! A database failure is a server error, never an answer that looks like a normal one (a 401, a
//! feed with a name left out). Each test breaks one table under a running app.

use serde_json::json;

use crate::helpers::{Resp, TestApp, at, local_date};

#[track_caller]
fn assert_server_error(resp: &Resp) {
    assert!(
        resp.status.is_server_error(),
        "expected a 5xx, got {}; body: {}",
        resp.status,
        String::from_utf8_lossy(&resp.raw)
    );
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("application/problem+json")
    );
}

#[actix_web::test]
async fn a_failed_user_lookup_while_authenticating_is_a_server_error_not_an_invalid_token() {
    let app = TestApp::spawn().await;
    let token = app.client_token("ana@example.com").await;
    app.get("/api/v1/me").token(&token).send().await.expect(200);

    app.sql("ALTER TABLE users RENAME TO users_gone".to_owned())
        .await;
    let resp = app.get("/api/v1/me").token(&token).send().await;
    assert_ne!(resp.status.as_u16(), 401, "the token is valid");
    assert_server_error(&resp);
}

#[actix_web::test]
async fn a_failed_therapist_lookup_for_a_clients_feed_is_a_server_error_not_a_nameless_feed() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.client_token("ana@example.com").await;
    app.post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), 10, 0)}))
        .send()
        .await
        .expect(201);
    let feed = app
        .post("/api/v1/me/calendar-token")
        .token(&client)
        .send()
        .await;
    let url = feed.expect(200)["url"].as_str().unwrap().to_owned();
    app.get(&url).send().await.expect(200);

    app.sql("ALTER TABLE therapists RENAME TO therapists_gone".to_owned())
        .await;
    let resp = app.get(&url).send().await;
    assert_server_error(&resp);
}
