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

/// What client generators and linters need: a server, security stated on every operation
/// (`[]` where no token is needed), page items by reference, and no giant enums (the time-zone
/// list used to be one, and its names collide as identifiers).
#[actix_web::test]
async fn the_spec_suits_client_generators() {
    let spec = serde_json::to_value(inspine::app::openapi()).unwrap();
    assert!(spec["servers"][0]["url"].is_string());
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["security"].is_array(),
                "{method} {path} says nothing of security"
            );
        }
    }
    assert_eq!(
        spec["paths"]["/api/v1/slots"]["get"]["security"],
        serde_json::json!([])
    );
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        if let Some(item) = name.strip_prefix("Page_") {
            assert_eq!(
                schema["properties"]["items"]["items"]["$ref"],
                format!("#/components/schemas/{item}"),
                "{name}"
            );
        }
    }
    fn largest_enum(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    let own = if k == "enum" {
                        v.as_array().map_or(0, Vec::len)
                    } else {
                        0
                    };
                    own.max(largest_enum(v))
                })
                .max()
                .unwrap_or(0),
            serde_json::Value::Array(items) => items.iter().map(largest_enum).max().unwrap_or(0),
            _ => 0,
        }
    }
    assert!(largest_enum(&spec) < 50);
}
