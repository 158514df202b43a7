//! Network-facing hardening: slow request bodies and the connection cap (over a real socket),
//! metrics label cardinality, and webhook delivery that connects only to checked addresses.

use actix_web::http::Method;

use crate::helpers::TestApp;

/// The series (sample lines) `/metrics` currently exposes.
async fn series(app: &TestApp) -> std::collections::HashSet<String> {
    let resp = app.get("/metrics").send().await;
    resp.expect(200);
    String::from_utf8(resp.raw.clone())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').map_or(l, |(name, _)| name).to_owned())
        .collect()
}

#[actix_web::test]
async fn made_up_methods_and_paths_add_a_bounded_number_of_series() {
    let app = TestApp::spawn().await;
    // Warm up: one request of each kind, so their series exist before counting.
    for (method, path) in [
        ("BREW", "/warm-up"),
        ("GET", "/warm-up"),
        ("BREW", "/api/v1/locations"),
        ("GET", "/api/v1/no-such-thing"),
        ("POST", "/health"),
        ("POST", "/health/warm-up"),
    ] {
        app.req(Method::from_bytes(method.as_bytes()).unwrap(), path)
            .send()
            .await;
    }
    series(&app).await;
    let before = series(&app).await;
    for i in 0..150 {
        let method = Method::from_bytes(format!("X{i}METHOD").as_bytes()).unwrap();
        app.req(method.clone(), &format!("/scan/{i}/x"))
            .send()
            .await;
        app.req(method, "/api/v1/locations").send().await;
        app.get(&format!("/api/v1/made-up-{i}")).send().await;
        app.req(Method::POST, &format!("/health/{i}")).send().await;
    }
    let after = series(&app).await;
    let new: Vec<_> = after.difference(&before).collect();
    // Every kind of request was made once already: nothing new per method or path.
    assert!(
        new.is_empty(),
        "{} new series, e.g. {:?}",
        new.len(),
        new.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        !after
            .iter()
            .any(|s| s.contains("X1METHOD") || s.contains("/scan/") || s.contains("made-up")),
        "made-up methods or paths appear as label values"
    );
}
