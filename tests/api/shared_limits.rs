//! Two instances of the app on one database (as two `inspine serve` processes behind a load
//! balancer): on PostgreSQL the per-client limits and the login back-off are kept in the
//! database, so the two spend one budget; on SQLite each process keeps its own in memory.

use std::collections::HashMap;

use serde_json::json;

use crate::helpers::{Options, Req, TestApp};

async fn limited() -> TestApp {
    TestApp::spawn_with(Options {
        env: HashMap::from([("RATE_LIMIT_ENABLED", "true".to_owned())]),
    })
    .await
}

#[actix_web::test]
async fn two_instances_share_the_auth_limit_on_postgres() {
    let app = limited().await;
    let other = app.twin().await;
    fn refresh<'a>(instance: &'a TestApp) -> Req<'a> {
        instance
            .post("/api/v1/auth/refresh")
            .peer("198.51.100.20:4000")
            .json(json!({"refresh_token": "not-a-token"}))
    }
    for i in 0..10 {
        let instance = if i % 2 == 0 { &app } else { &other };
        let resp = refresh(instance).send().await;
        assert_eq!(resp.status.as_u16(), 401, "request {i}: {}", resp.body);
    }
    // The eleventh, on either instance.
    let eleventh = refresh(&other).send().await;
    if app.is_postgres() {
        eleventh.expect(429);
        assert_eq!(eleventh.problem_type(), "rate-limited");
        let wait: u64 = eleventh.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=7).contains(&wait), "Retry-After {wait}");
        refresh(&app).send().await.expect(429);
        // Another client is not held back.
        app.post("/api/v1/auth/refresh")
            .peer("198.51.100.21:4000")
            .json(json!({"refresh_token": "not-a-token"}))
            .send()
            .await
            .expect(401);
    } else {
        // Each process counts its own five.
        eleventh.expect(401);
    }
    drop(other);
}

#[actix_web::test]
async fn two_instances_share_the_login_back_off_on_postgres() {
    let app = limited().await;
    let other = app.twin().await;
    app.register("owner@example.com").await;
    fn attempt<'a>(instance: &'a TestApp) -> Req<'a> {
        instance
            .post("/api/v1/auth/login")
            .peer("198.51.100.30:4000")
            .json(json!({"email": "owner@example.com", "password": "wrong password"}))
    }
    for i in 0..4 {
        let instance = if i % 2 == 0 { &app } else { &other };
        attempt(instance).send().await.expect(401);
    }
    if !app.is_postgres() {
        // In memory, per process: neither instance has seen five failures.
        attempt(&app).send().await.expect(401);
        attempt(&other).send().await.expect(401);
        drop(other);
        return;
    }
    // One record of four failures for this account and client, whichever instance saw them.
    assert_eq!(
        app.count_where("rate_limits", "bucket = 'login.pair' AND hits = 4")
            .await,
        1
    );
    // Ten more failures as if made meanwhile, so that the next one backs off for long enough
    // that no slow test machine sees it run out.
    app.sql("UPDATE rate_limits SET hits = 14 WHERE bucket = 'login.pair'".to_owned())
        .await;
    attempt(&app).send().await.expect(401);
    let refused = attempt(&other).send().await;
    refused.expect(429);
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 600, "Retry-After {wait}");
    // The owner, from another address, is not held back.
    app.post("/api/v1/auth/login")
        .peer("198.51.100.31:4000")
        .json(json!({"email": "owner@example.com", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .expect(200);
    drop(other);
}
