use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[actix_web::test]
async fn register_login_me_refresh_logout() {
    let app = TestApp::spawn().await;
    let registered = app.register("Ana@Example.com").await;
    assert_eq!(registered["token_type"], "Bearer");
    assert_eq!(registered["expires_in"], 900);
    assert_eq!(registered["user"]["role"], "client");
    assert_eq!(registered["user"]["email"], "ana@example.com");
    assert!(
        registered["user"]["created_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let login = app
        .post("/api/v1/auth/login")
        .json(json!({"email": "ana@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(login.header("cache-control").as_deref(), Some("no-store"));
    let login = login.expect(200).clone();
    let access = login["access_token"].as_str().unwrap();

    let me = app.get("/api/v1/me").token(access).send().await;
    let me = me.expect(200);
    assert_eq!(me["email"], "ana@example.com");
    assert_eq!(me["role"], "client");
    assert!(me.get("password_hash").is_none());

    let refreshed = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await;
    let refreshed = refreshed.expect(200).clone();
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    app.get("/api/v1/me")
        .token(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .expect(200);

    app.post("/api/v1/auth/logout")
        .json(json!({"refresh_token": refreshed["refresh_token"]}))
        .send()
        .await
        .expect(204);
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": refreshed["refresh_token"]}))
        .send()
        .await
        .expect(401);
}

#[actix_web::test]
async fn register_always_makes_a_client() {
    let app = TestApp::spawn().await;
    let resp = app
        .post("/api/v1/auth/register")
        .json(json!({"email": "x@example.com", "password": PASSWORD, "name": "X", "role": "admin"}))
        .send()
        .await;
    resp.expect(422);
    assert_eq!(resp.body["errors"][0]["field"], "role");
    assert_eq!(app.count("users").await, 0);
}

#[actix_web::test]
async fn duplicate_email_is_409_and_creates_nothing() {
    let app = TestApp::spawn().await;
    app.register("dup@example.com").await;
    let resp = app
        .post("/api/v1/auth/register")
        .json(json!({"email": "DUP@example.com", "password": PASSWORD, "name": "Again"}))
        .send()
        .await;
    resp.expect(409);
    assert_eq!(resp.problem_type(), "email-taken");
    assert_eq!(app.count("users").await, 1);
}

#[actix_web::test]
async fn register_validates_fields() {
    let app = TestApp::spawn().await;
    let resp = app
        .post("/api/v1/auth/register")
        .json(
            json!({"email": "not-an-email", "password": "short", "name": "  ", "phone": "call me"}),
        )
        .send()
        .await;
    resp.expect(422);
    let fields: Vec<&str> = resp.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "name", "phone"]);
    assert_eq!(app.count("users").await, 0);
}

#[actix_web::test]
async fn login_failure_is_identical_for_unknown_email_and_wrong_password() {
    let app = TestApp::spawn().await;
    app.register("known@example.com").await;
    let wrong_password = app
        .post("/api/v1/auth/login")
        .json(json!({"email": "known@example.com", "password": "wrong password"}))
        .send()
        .await;
    let unknown = app
        .post("/api/v1/auth/login")
        .json(json!({"email": "nobody@example.com", "password": "wrong password"}))
        .send()
        .await;
    wrong_password.expect(401);
    unknown.expect(401);
    assert_eq!(wrong_password.raw, unknown.raw);
    assert_eq!(
        wrong_password.header("www-authenticate").as_deref(),
        Some("Bearer")
    );
}

#[actix_web::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_login() {
    let app = TestApp::spawn().await;
    let first = app.register("reuse@example.com").await;
    let old = first["refresh_token"].clone();
    let second = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": old}))
        .send()
        .await;
    let second = second.expect(200).clone();

    // The stolen old token is presented again: rejected, and the family is revoked.
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": old}))
        .send()
        .await
        .expect(401);
    // ...so even the legitimately rotated newest token no longer works.
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": second["refresh_token"]}))
        .send()
        .await
        .expect(401);

    // Another login of the same user is unaffected.
    let other = app
        .post("/api/v1/auth/login")
        .json(json!({"email": "reuse@example.com", "password": PASSWORD}))
        .send()
        .await;
    let other = other.expect(200).clone();
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": other["refresh_token"]}))
        .send()
        .await
        .expect(200);
}

#[actix_web::test]
async fn unknown_refresh_token_is_401() {
    let app = TestApp::spawn().await;
    let resp = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": "made-up"}))
        .send()
        .await;
    resp.expect(401);
    assert_eq!(resp.header("www-authenticate").as_deref(), Some("Bearer"));
}

fn forge(claims: serde_json::Value, secret: &[u8]) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[actix_web::test]
async fn bad_tokens_are_401() {
    let app = TestApp::spawn().await;
    let registered = app.register("tok@example.com").await;
    let id = registered["user"]["id"].as_str().unwrap();
    let good = registered["access_token"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let secret = b"test-secret-test-secret-test-secret-0123";

    let mut tampered = good.to_owned();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });

    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(
            json!({"sub": id, "role": "admin", "iss": "inspine", "aud": "inspine-api", "iat": now, "exp": now + 600})
        )
    );
    let expired = forge(
        json!({"sub": id, "role": "client", "iss": "inspine", "aud": "inspine-api", "iat": now - 4000, "exp": now - 3600}),
        secret,
    );
    let wrong_secret = forge(
        json!({"sub": id, "role": "client", "iss": "inspine", "aud": "inspine-api", "iat": now, "exp": now + 600}),
        b"another-secret-another-secret-another",
    );
    let wrong_audience = forge(
        json!({"sub": id, "role": "client", "iss": "inspine", "aud": "someone-else", "iat": now, "exp": now + 600}),
        secret,
    );
    let missing_iat = forge(
        json!({"sub": id, "role": "client", "iss": "inspine", "aud": "inspine-api", "exp": now + 600}),
        secret,
    );
    for token in [
        tampered,
        alg_none,
        expired,
        wrong_secret,
        wrong_audience,
        missing_iat,
    ] {
        let resp = app.get("/api/v1/me").token(&token).send().await;
        resp.expect(401);
        assert_eq!(resp.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    // Within the leeway a just-expired token still works; the control token works too.
    let valid = forge(
        json!({"sub": id, "role": "client", "iss": "inspine", "aud": "inspine-api", "iat": now - 100, "exp": now - 5}),
        secret,
    );
    app.get("/api/v1/me").token(&valid).send().await.expect(200);
    app.get("/api/v1/me").token(good).send().await.expect(200);
    app.get("/api/v1/me").send().await.expect(401);
    app.get("/api/v1/me")
        .header("Authorization", "Basic abc")
        .send()
        .await
        .expect(401);
}

#[actix_web::test]
async fn role_in_the_token_is_not_trusted() {
    // A token claiming admin for a client user still acts as the client (role comes from the DB).
    let app = TestApp::spawn().await;
    let registered = app.register("claims@example.com").await;
    let id = registered["user"]["id"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let token = forge(
        json!({"sub": id, "role": "admin", "iss": "inspine", "aud": "inspine-api", "iat": now, "exp": now + 600}),
        b"test-secret-test-secret-test-secret-0123",
    );
    app.get("/api/v1/users")
        .token(&token)
        .send()
        .await
        .expect(403);
}

#[actix_web::test]
async fn admin_manages_users() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let client = app.client_token("c@example.com").await;

    app.get("/api/v1/users")
        .token(&client)
        .send()
        .await
        .expect(403);
    app.get("/api/v1/users").send().await.expect(401);

    let created = app
        .post("/api/v1/users")
        .token(&admin)
        .json(json!({"email": "t@example.com", "password": PASSWORD, "name": "Theo", "role": "therapist"}))
        .send()
        .await;
    assert!(
        created
            .header("location")
            .unwrap()
            .starts_with("/api/v1/users/")
    );
    let created = created.expect(201).clone();
    assert_eq!(created["role"], "therapist");
    let id = created["id"].as_str().unwrap();

    let list = app
        .get("/api/v1/users?role=therapist")
        .token(&admin)
        .send()
        .await;
    assert_eq!(list.expect(200)["items"].as_array().unwrap().len(), 1);

    let patched = app
        .patch(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .json(json!({"role": "admin", "phone": "+1 604 555 0100"}))
        .send()
        .await;
    let patched = patched.expect(200);
    assert_eq!(patched["role"], "admin");
    assert_eq!(patched["phone"], "+1 604 555 0100");
    let cleared = app
        .patch(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .json(json!({"phone": null}))
        .send()
        .await;
    assert_eq!(cleared.expect(200)["phone"], serde_json::Value::Null);

    app.get(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(200);
    app.delete(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(404);
    app.delete(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(404);
}

#[actix_web::test]
async fn the_last_admin_keeps_the_role_and_admins_cannot_delete_themselves() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.user_with_role("boss@example.com", "admin").await;
    let resp = app
        .patch(&format!("/api/v1/users/{admin_id}"))
        .token(&admin)
        .json(json!({"role": "client"}))
        .send()
        .await;
    resp.expect(409);
    assert_eq!(resp.problem_type(), "last-admin");
    let resp = app
        .delete(&format!("/api/v1/users/{admin_id}"))
        .token(&admin)
        .send()
        .await;
    resp.expect(409);
    app.get("/api/v1/me").token(&admin).send().await.expect(200);
}

#[actix_web::test]
async fn a_deleted_user_token_stops_working() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let registered = app.register("gone@example.com").await;
    let id = registered["user"]["id"].as_str().unwrap();
    let token = registered["access_token"].as_str().unwrap();
    app.delete(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .send()
        .await
        .expect(204);
    app.get("/api/v1/me").token(token).send().await.expect(401);
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": registered["refresh_token"]}))
        .send()
        .await
        .expect(401);
}
