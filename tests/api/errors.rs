//! Bad input of every kind gets an exact status, a problem+json body with no internals, and
//! leaves the database as it was.

use serde_json::json;

use crate::helpers::TestApp;

fn assert_no_internals(raw: &[u8]) {
    let text = String::from_utf8_lossy(raw).to_lowercase();
    for leak in [
        "serde",
        "diesel",
        "sqlite",
        "postgres",
        "select ",
        "expected",
        "line 1 column",
    ] {
        assert!(!text.contains(leak), "body leaks `{leak}`: {text}");
    }
}

#[actix_web::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let before = app.count("locations").await;
    let resp = app
        .post("/api/v1/locations")
        .token(&admin)
        .raw("application/json", r#"{"name": "X", "address": "#)
        .send()
        .await;
    resp.expect(400);
    assert_eq!(resp.problem_type(), "bad-request");
    assert_no_internals(&resp.raw);
    assert_eq!(app.count("locations").await, before);
}

#[actix_web::test]
async fn wrong_types_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let before = app.count("massage_types").await;
    let resp = app
        .post("/api/v1/massage-types")
        .token(&admin)
        .json(json!({"slug": "hot-stone", "name": "Hot stone", "buffer_minutes": "ten", "options": []}))
        .send()
        .await;
    resp.expect(400);
    assert!(
        resp.body["detail"]
            .as_str()
            .unwrap()
            .contains("buffer_minutes")
    );
    assert_no_internals(&resp.raw);
    assert_eq!(app.count("massage_types").await, before);
}

#[actix_web::test]
async fn missing_fields_unknown_fields_and_unknown_enum_values_are_422() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let missing = app
        .post("/api/v1/locations")
        .token(&admin)
        .json(json!({"name": "Burnaby"}))
        .send()
        .await;
    missing.expect(422);
    assert_eq!(missing.body["errors"][0]["field"], "address");
    assert_no_internals(&missing.raw);

    let unknown_field = app
        .post("/api/v1/locations")
        .token(&admin)
        .json(json!({"name": "Burnaby", "address": "1 Main", "timezone": "America/Vancouver", "id": "x"}))
        .send()
        .await;
    unknown_field.expect(422);
    assert_eq!(unknown_field.body["errors"][0]["field"], "id");

    let unknown_enum = app
        .post("/api/v1/users")
        .token(&admin)
        .json(json!({"email": "e@example.com", "password": "long enough", "name": "E", "role": "superuser"}))
        .send()
        .await;
    unknown_enum.expect(422);
    assert_eq!(unknown_enum.body["errors"][0]["field"], "role");
    assert_no_internals(&unknown_enum.raw);

    assert_eq!(app.count("locations").await, 2);
    assert_eq!(app.count("users").await, 1);
}

/// A required text is blank when every character is white space by Unicode's definition or by
/// ECMA-262's (the spec's required-text pattern): both sides agree on U+FEFF. (U+0085, white
/// space to Unicode, is a control character and refused as such.)
#[actix_web::test]
async fn blank_texts_are_422_by_either_definition_of_white_space() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for blank in ["   ", "\u{85}", "\u{feff} ", "\u{3000}\t"] {
        let resp = app
            .post("/api/v1/locations")
            .token(&admin)
            .json(json!({"name": "Burnaby", "address": blank, "timezone": "America/Vancouver"}))
            .send()
            .await;
        resp.expect(422);
        assert_eq!(resp.body["errors"][0]["field"], "address", "{blank:?}");
    }
    assert_eq!(app.count("locations").await, 2);
    let padded = app
        .post("/api/v1/locations")
        .token(&admin)
        .json(json!({"name": "\u{feff} Burnaby\u{3000}", "address": "1 Main", "timezone": "America/Vancouver"}))
        .send()
        .await;
    assert_eq!(padded.expect(201)["name"], "Burnaby");
}

/// `maxLength` counts the text as sent: trailing white space that the server would trim does
/// not make an over-long text acceptable.
#[actix_web::test]
async fn length_limits_count_the_text_as_sent() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let name = format!("Burnaby{}", " ".repeat(94));
    let resp = app
        .post("/api/v1/locations")
        .token(&admin)
        .json(json!({"name": name, "address": "1 Main", "timezone": "America/Vancouver"}))
        .send()
        .await;
    resp.expect(422);
    assert_eq!(resp.body["errors"][0]["field"], "name");
    assert_eq!(app.count("locations").await, 2);
    let fits = format!("Burnaby{}", " ".repeat(93));
    let resp = app
        .post("/api/v1/locations")
        .token(&admin)
        .json(json!({"name": fits, "address": "1 Main", "timezone": "America/Vancouver"}))
        .send()
        .await;
    assert_eq!(resp.expect(201)["name"], "Burnaby");
}

#[actix_web::test]
async fn a_one_megabyte_body_is_413() {
    let app = TestApp::spawn().await;
    let big = format!(
        r#"{{"email": "big@example.com", "password": "long enough", "name": "{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let resp = app
        .post("/api/v1/auth/register")
        .raw("application/json", big)
        .send()
        .await;
    resp.expect(413);
    assert_eq!(app.count("users").await, 0);
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn().await;
    let resp = app
        .post("/api/v1/auth/login")
        .raw("text/plain", "email=a&password=b")
        .send()
        .await;
    resp.expect(415);
    let resp = app
        .post("/api/v1/auth/login")
        .raw("application/x-www-form-urlencoded", "email=a&password=b")
        .send()
        .await;
    resp.expect(415);
}

#[actix_web::test]
async fn unknown_routes_and_non_uuid_ids_are_404() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/nothing-here").send().await.expect(404);
    app.get("/api/v1/locations/not-a-uuid")
        .send()
        .await
        .expect(404);
    app.get("/api/v1/locations/00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .expect(404);
}

#[actix_web::test]
async fn page_limits_and_cursors() {
    let app = TestApp::spawn().await;
    let resp = app.get("/api/v1/massage-types?limit=101").send().await;
    resp.expect(422);
    assert_eq!(resp.body["errors"][0]["field"], "limit");
    app.get("/api/v1/massage-types?limit=0")
        .send()
        .await
        .expect(422);
    app.get("/api/v1/massage-types?limit=abc")
        .send()
        .await
        .expect(400);
    app.get("/api/v1/massage-types?cursor=%%%")
        .send()
        .await
        .expect(400);

    let first = app.get("/api/v1/massage-types?limit=2").send().await;
    let first = first.expect(200).clone();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/api/v1/massage-types?limit=2&cursor={cursor}"))
        .send()
        .await;
    let second = second.expect(200);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], serde_json::Value::Null);
    assert_ne!(second["items"][0]["id"], first["items"][0]["id"]);
    assert_ne!(second["items"][0]["id"], first["items"][1]["id"]);
}

#[actix_web::test]
async fn client_tokens_on_admin_endpoints_are_403_and_change_nothing() {
    let app = TestApp::spawn().await;
    let client = app.client_token("c@example.com").await;
    let resp = app
        .post("/api/v1/locations")
        .token(&client)
        .json(json!({"name": "Burnaby", "address": "1 Main", "timezone": "America/Vancouver"}))
        .send()
        .await;
    resp.expect(403);
    assert_eq!(app.count("locations").await, 2);
    let types = app.get("/api/v1/massage-types").send().await;
    let id = types.expect(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("/api/v1/massage-types/{id}"))
        .token(&client)
        .send()
        .await
        .expect(403);
    assert_eq!(app.count("massage_types").await, 3);
}

#[actix_web::test]
async fn security_headers_are_set() {
    let app = TestApp::spawn().await;
    let resp = app.get("/health").send().await;
    resp.expect(200);
    assert_eq!(
        resp.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(resp.header("server").is_none());
}

#[actix_web::test]
async fn health_and_ready() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/health").send().await.expect(200)["status"], "ok");
    assert_eq!(app.get("/ready").send().await.expect(200)["status"], "ok");
}

#[actix_web::test]
async fn bodies_must_be_objects_and_integral_numbers_may_have_a_fraction_of_zero() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let rooms = app
        .get(&format!(
            "/api/v1/locations/{}/rooms",
            app.location_ids().await[0]
        ))
        .send()
        .await;
    rooms.expect(200);
    let resp = app
        .post(&format!(
            "/api/v1/locations/{}/rooms",
            app.location_ids().await[0]
        ))
        .token(&admin)
        .json(json!(["Room A", true]))
        .send()
        .await;
    resp.expect(400);
    // 30.0 is the integer 30 in JSON.
    let created = app
        .post("/api/v1/massage-types")
        .token(&admin)
        .json(json!({"slug": "hot-stone", "name": "Hot stone", "buffer_minutes": 10.0,
                     "options": [{"duration_minutes": 30.0, "price_cents": 5000, "currency": "CAD"}]}))
        .send()
        .await;
    assert_eq!(created.expect(201)["options"][0]["duration_minutes"], 30);
    let fractional = app
        .post("/api/v1/massage-types")
        .token(&admin)
        .json(json!({"slug": "warm-stone", "name": "Warm stone",
                     "options": [{"duration_minutes": 30.5, "price_cents": 5000, "currency": "CAD"}]}))
        .send()
        .await;
    fractional.expect(400);
}

#[actix_web::test]
async fn known_paths_with_other_methods_are_405_with_allow() {
    let app = TestApp::spawn().await;
    let resp = app
        .req(actix_web::http::Method::TRACE, "/api/v1/locations")
        .send()
        .await;
    resp.expect(405);
    assert_eq!(resp.header("allow").as_deref(), Some("GET, POST"));
    let resp = app
        .put("/api/v1/bookings/00000000-0000-0000-0000-000000000000/cancel")
        .send()
        .await;
    resp.expect(405);
    assert_eq!(resp.header("allow").as_deref(), Some("POST"));
    app.req(actix_web::http::Method::TRACE, "/api/v1/nothing")
        .send()
        .await
        .expect(404);
}
