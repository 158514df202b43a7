use serde_json::json;

use crate::helpers::{Options, PASSWORD, TestApp, at, local_date};

async fn limited_app(extra: &[(&'static str, &str)]) -> TestApp {
    let mut env: std::collections::HashMap<&'static str, String> =
        [("RATE_LIMIT_ENABLED", "true".to_owned())].into();
    for (k, v) in extra {
        env.insert(k, (*v).to_owned());
    }
    TestApp::spawn_with(Options { env }).await
}

#[actix_web::test]
async fn auth_endpoints_are_rate_limited_per_address() {
    let app = limited_app(&[]).await;
    for i in 0..10 {
        app.post("/api/v1/auth/login")
            .json(json!({"email": format!("nobody{i}@example.com"), "password": "wrong password"}))
            .send()
            .await
            .expect(401);
    }
    let limited = app
        .post("/api/v1/auth/login")
        .json(json!({"email": "nobody@example.com", "password": "wrong password"}))
        .send()
        .await;
    limited.expect(429);
    assert_eq!(limited.problem_type(), "rate-limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    let register = app
        .post("/api/v1/auth/register")
        .json(json!({"email": "new@example.com", "password": PASSWORD, "name": "New"}))
        .send()
        .await;
    register.expect(429);
    assert_eq!(app.count("users").await, 0);
    // The rest of the API has its own, generous budget.
    app.get("/api/v1/locations").send().await.expect(200);
}

#[actix_web::test]
async fn cors_allows_configured_origins_only() {
    let app = TestApp::spawn_with(Options {
        env: [(
            "CORS_ALLOWED_ORIGINS",
            "https://book.inspine.example".to_owned(),
        )]
        .into(),
    })
    .await;
    let allowed = app
        .get("/api/v1/locations")
        .header("Origin", "https://book.inspine.example")
        .send()
        .await;
    allowed.expect(200);
    assert_eq!(
        allowed.header("access-control-allow-origin").as_deref(),
        Some("https://book.inspine.example")
    );
    let other = app
        .get("/api/v1/locations")
        .header("Origin", "https://evil.example")
        .send()
        .await;
    other.expect(200);
    assert!(other.header("access-control-allow-origin").is_none());
    let preflight = app
        .req(actix_web::http::Method::OPTIONS, "/api/v1/bookings")
        .header("Origin", "https://book.inspine.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await;
    assert_eq!(preflight.status.as_u16(), 200);
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    // No origin is allowed by default.
    let default = TestApp::spawn().await;
    let resp = default
        .get("/api/v1/locations")
        .header("Origin", "https://book.inspine.example")
        .send()
        .await;
    assert!(resp.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let ok = app.get("/health").send().await;
    let missing = app.get("/api/v1/nope").send().await;
    for resp in [ok, missing] {
        let id = resp.header("x-request-id").expect("x-request-id");
        assert!(uuid::Uuid::parse_str(&id).is_ok());
    }
}

#[actix_web::test]
async fn metrics_cover_requests_pool_outbox_and_bookings() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let client = app.client_token("a@example.com").await;
    app.post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), 10, 0)}))
        .send()
        .await
        .expect(201);
    app.get("/api/v1/locations").send().await.expect(200);
    let metrics = app.get("/metrics").send().await;
    metrics.expect(200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(metrics.raw.clone()).unwrap();
    for needle in [
        r#"inspine_http_requests_total{endpoint="/api/v1/locations",method="GET",status="200"} 2"#,
        r#"inspine_http_requests_duration_seconds_bucket{endpoint="/api/v1/bookings",method="POST",status="201""#,
        r#"inspine_bookings_total{event="created"} 1"#,
        r#"inspine_db_pool_connections{state="idle"}"#,
        "inspine_webhook_outbox_pending 0",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
}

#[actix_web::test]
async fn ready_fails_while_migrations_are_pending() {
    let app = TestApp::spawn().await;
    app.get("/ready").send().await.expect(200);
    app.state
        .run(|conn| {
            inspine::db::revert_last_migration(conn).map_err(inspine::error::ApiError::internal)
        })
        .await
        .unwrap();
    let resp = app.get("/ready").send().await;
    resp.expect(503);
    assert!(resp.header("retry-after").is_some());
    app.get("/health").send().await.expect(200);
}

#[actix_web::test]
async fn backup_copies_a_live_sqlite_database() {
    let app = TestApp::spawn().await;
    app.register("kept@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backup.db");
    let t = target.clone();
    let result = app
        .state
        .run(move |conn| Ok(inspine::db::backup_sqlite(conn, &t)))
        .await
        .unwrap();
    if app.database_url.starts_with("postgres") {
        assert!(result.unwrap_err().contains("pg_dump"));
        return;
    }
    result.unwrap();
    let copy = inspine::db::Db::connect(&format!("sqlite://{}", target.display())).unwrap();
    let users = copy
        .run::<_, inspine::error::ApiError, _>(|conn| {
            Ok(inspine::models::user::find_by_email(
                conn,
                "kept@example.com",
            )?)
        })
        .await
        .unwrap();
    assert!(users.is_some());
    // Refuses to overwrite.
    let t = target.clone();
    let again = app
        .state
        .run(move |conn| Ok(inspine::db::backup_sqlite(conn, &t)))
        .await
        .unwrap();
    assert!(again.is_err());
}
