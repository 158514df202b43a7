use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn the_clinic_is_seeded() {
    let app = TestApp::spawn().await;
    let locations = app.get("/api/v1/locations").send().await;
    let names: Vec<&str> = locations.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Port Moody", "Coquitlam"]);
    assert!(
        locations.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["timezone"] == "America/Vancouver")
    );
    for slug in ["swedish", "trigger-point", "deep-tissue"] {
        let t = app.massage_type(slug).await;
        let durations: Vec<i64> = t["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["duration_minutes"].as_i64().unwrap())
            .collect();
        assert_eq!(durations, [30, 60, 90]);
        assert!(
            t["options"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["currency"] == "CAD")
        );
    }
}

#[actix_web::test]
async fn admin_manages_locations_and_rooms() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let resp = app
        .post("/api/v1/locations")
        .token(&admin)
        .json(
            json!({"name": "Burnaby", "address": "4700 Kingsway", "timezone": "America/Vancouver"}),
        )
        .send()
        .await;
    let location = resp.expect(201).clone();
    let id = location["id"].as_str().unwrap();
    assert_eq!(
        resp.header("location").unwrap(),
        format!("/api/v1/locations/{id}")
    );

    let bad_zone = app
        .patch(&format!("/api/v1/locations/{id}"))
        .token(&admin)
        .json(json!({"timezone": "Mars/Olympus"}))
        .send()
        .await;
    bad_zone.expect(422);
    assert_eq!(bad_zone.body["errors"][0]["field"], "timezone");

    let dup = app
        .post("/api/v1/locations")
        .token(&admin)
        .json(json!({"name": "Burnaby", "address": "elsewhere", "timezone": "UTC"}))
        .send()
        .await;
    dup.expect(409);
    assert_eq!(dup.problem_type(), "name-taken");

    let room = app
        .post(&format!("/api/v1/locations/{id}/rooms"))
        .token(&admin)
        .json(json!({"name": "Room A"}))
        .send()
        .await;
    let room = room.expect(201).clone();
    assert_eq!(room["active"], true);
    assert_eq!(room["location_id"], location["id"]);
    let room_id = room["id"].as_str().unwrap();
    let same_name = app
        .post(&format!("/api/v1/locations/{id}/rooms"))
        .token(&admin)
        .json(json!({"name": "Room A"}))
        .send()
        .await;
    same_name.expect(409);
    assert_eq!(same_name.problem_type(), "name-taken");

    let rooms = app
        .get(&format!("/api/v1/locations/{id}/rooms"))
        .send()
        .await;
    assert_eq!(rooms.expect(200)["items"].as_array().unwrap().len(), 1);

    let off = app
        .patch(&format!("/api/v1/rooms/{room_id}"))
        .token(&admin)
        .json(json!({"active": false}))
        .send()
        .await;
    assert_eq!(off.expect(200)["active"], false);
    app.get(&format!("/api/v1/rooms/{room_id}"))
        .send()
        .await
        .expect(200);
    app.delete(&format!("/api/v1/rooms/{room_id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/rooms/{room_id}"))
        .send()
        .await
        .expect(404);

    app.delete(&format!("/api/v1/locations/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/locations/{id}"))
        .send()
        .await
        .expect(404);
    app.get(&format!("/api/v1/locations/{id}/rooms"))
        .send()
        .await
        .expect(404);
}

#[actix_web::test]
async fn admin_manages_massage_types() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let resp = app
        .post("/api/v1/massage-types")
        .token(&admin)
        .json(json!({
            "slug": "hot-stone", "name": "Hot stone", "description": "Warm basalt stones.",
            "buffer_minutes": 20,
            "options": [{"duration_minutes": 60, "price_cents": 13000, "currency": "CAD"}]
        }))
        .send()
        .await;
    let created = resp.expect(201).clone();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["options"][0]["price_cents"], 13000);

    let bad = app
        .post("/api/v1/massage-types")
        .token(&admin)
        .json(json!({
            "slug": "Bad Slug", "name": "x", "buffer_minutes": -1,
            "options": [{"duration_minutes": 7, "price_cents": -5, "currency": "cad"}]
        }))
        .send()
        .await;
    bad.expect(422);
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "slug",
            "buffer_minutes",
            "options[0].duration_minutes",
            "options[0].price_cents",
            "options[0].currency"
        ]
    );

    let taken = app
        .post("/api/v1/massage-types")
        .token(&admin)
        .json(json!({"slug": "swedish", "name": "Again", "options": [{"duration_minutes": 30, "price_cents": 1, "currency": "CAD"}]}))
        .send()
        .await;
    taken.expect(409);
    assert_eq!(taken.problem_type(), "slug-taken");
    assert_eq!(app.count("massage_types").await, 4);

    let patched = app
        .patch(&format!("/api/v1/massage-types/{id}"))
        .token(&admin)
        .json(json!({"active": false, "options": [
            {"duration_minutes": 30, "price_cents": 7000, "currency": "CAD"},
            {"duration_minutes": 90, "price_cents": 18000, "currency": "CAD"}
        ]}))
        .send()
        .await;
    let patched = patched.expect(200);
    assert_eq!(patched["active"], false);
    assert_eq!(patched["options"].as_array().unwrap().len(), 2);

    // Inactive types are hidden from the default list but still readable by id.
    let list = app.get("/api/v1/massage-types").send().await;
    assert!(
        !list.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id)
    );
    let all = app
        .get("/api/v1/massage-types?include_inactive=true")
        .send()
        .await;
    assert!(
        all.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id)
    );
    app.get(&format!("/api/v1/massage-types/{id}"))
        .send()
        .await
        .expect(200);

    app.delete(&format!("/api/v1/massage-types/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/massage-types/{id}"))
        .send()
        .await
        .expect(404);
}

#[actix_web::test]
async fn therapists_with_types_and_filters() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let swedish = app.massage_type("swedish").await;
    let deep = app.massage_type("deep-tissue").await;
    let (therapist_user, _) = app.user_with_role("maya@example.com", "therapist").await;

    let resp = app
        .post("/api/v1/therapists")
        .token(&admin)
        .json(json!({"name": "Maya", "bio": "RMT", "massage_type_ids": [swedish["id"], deep["id"]], "user_id": therapist_user}))
        .send()
        .await;
    let maya = resp.expect(201).clone();
    assert_eq!(maya["massage_type_ids"].as_array().unwrap().len(), 2);
    assert_eq!(maya["user_id"], therapist_user.as_str());

    let other = app
        .post("/api/v1/therapists")
        .token(&admin)
        .json(json!({"name": "Liam", "massage_type_ids": [deep["id"]]}))
        .send()
        .await;
    let other_id = other.expect(201)["id"].as_str().unwrap().to_owned();

    let unknown_type = app
        .post("/api/v1/therapists")
        .token(&admin)
        .json(json!({"name": "Nope", "massage_type_ids": ["00000000-0000-0000-0000-000000000000"]}))
        .send()
        .await;
    unknown_type.expect(422);
    let linked_twice = app
        .post("/api/v1/therapists")
        .token(&admin)
        .json(json!({"name": "Twin", "user_id": therapist_user}))
        .send()
        .await;
    let problem = linked_twice.expect(409);
    assert_eq!(
        problem["type"],
        "https://inspine.example/problems/user-linked"
    );
    let relinked = app
        .patch(&format!("/api/v1/therapists/{}", other_id))
        .token(&admin)
        .json(json!({"user_id": therapist_user}))
        .send()
        .await;
    relinked.expect(409);
    assert_eq!(app.count("therapists").await, 2);

    let by_type = app
        .get(&format!(
            "/api/v1/therapists?massage_type_id={}",
            swedish["id"].as_str().unwrap()
        ))
        .send()
        .await;
    let names: Vec<&str> = by_type.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Maya"]);

    let id = maya["id"].as_str().unwrap();
    let patched = app
        .patch(&format!("/api/v1/therapists/{id}"))
        .token(&admin)
        .json(json!({"massage_type_ids": [], "active": false}))
        .send()
        .await;
    let patched = patched.expect(200);
    assert_eq!(patched["massage_type_ids"], json!([]));
    let list = app.get("/api/v1/therapists").send().await;
    assert_eq!(list.expect(200)["items"].as_array().unwrap().len(), 1);

    app.delete(&format!("/api/v1/therapists/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/therapists/{id}"))
        .send()
        .await
        .expect(404);
}

#[actix_web::test]
async fn the_demo_seed_gives_bookable_therapists() {
    let app = TestApp::spawn().await;
    let created = app
        .state
        .run(|conn| {
            Ok(inspine::seed::seed_demo(
                conn,
                &inspine::audit::AuditContext::system(),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(created, 3);
    // Idempotent.
    let again = app
        .state
        .run(|conn| {
            Ok(inspine::seed::seed_demo(
                conn,
                &inspine::audit::AuditContext::system(),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(again, 0);
    let therapists = app.get("/api/v1/therapists").send().await;
    assert_eq!(therapists.expect(200)["items"].as_array().unwrap().len(), 3);
    let location = app.location_ids().await[0].clone();
    let rooms = app
        .get(&format!("/api/v1/locations/{location}/rooms"))
        .send()
        .await;
    assert_eq!(rooms.expect(200)["items"].as_array().unwrap().len(), 2);
    let swedish = app.massage_type("swedish").await;
    // Find the next weekday at least three days out; demo schedules are Monday to Friday.
    let mut day = crate::helpers::local_date(3);
    while chrono::Datelike::weekday(&day).number_from_monday() > 5 {
        day += chrono::Duration::days(1);
    }
    let slots = app
        .get(&format!(
            "/api/v1/slots?massage_type_id={}&duration_minutes=60&from={day}&to={day}",
            swedish["id"].as_str().unwrap()
        ))
        .send()
        .await;
    assert!(!slots.expect(200)["items"].as_array().unwrap().is_empty());
}
