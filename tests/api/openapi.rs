use crate::helpers::TestApp;

/// The committed spec is what front ends generate clients from; it must match the code.
#[actix_web::test]
async fn committed_spec_matches_the_generated_one() {
    let generated = serde_json::to_value(inspine::app::openapi()).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed: serde_json::Value = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/openapi.json is stale; regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[actix_web::test]
async fn the_live_spec_and_docs_are_served() {
    let app = TestApp::spawn().await;
    let spec = app.get("/api/v1/openapi.json").send().await;
    let spec = spec.expect(200);
    assert_eq!(
        spec,
        &serde_json::to_value(inspine::app::openapi()).unwrap()
    );
    for path in [
        "/api/v1/auth/login",
        "/api/v1/therapists/{id}/schedule",
        "/health",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the spec"
        );
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    let docs = app.get("/docs/").send().await;
    docs.expect(200);
    assert!(String::from_utf8_lossy(&docs.raw).contains("swagger"));
    let assets = app.get("/docs/swagger-ui-bundle.js").send().await;
    assets.expect(200);
}
