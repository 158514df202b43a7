//! Login back-off that an attacker cannot turn against the owner, client addresses behind a
//! trusted proxy, and the password policy.

use serde_json::{Value, json};

use inspine::limits::LoginGuard;

use crate::helpers::{Options, PASSWORD, TestApp};

const ADMIN_EMAIL: &str = "admin@inspine.example";
const ATTACKER: &str = "203.0.113.7:40000";
const OWNER: &str = "198.51.100.20:50000";
const PROXY: &str = "10.0.0.2:443";

fn env(pairs: &[(&'static str, &str)]) -> Options {
    let mut env: std::collections::HashMap<&'static str, String> =
        [("RATE_LIMIT_ENABLED", "true".to_owned())].into();
    for (k, v) in pairs {
        env.insert(k, (*v).to_owned());
    }
    Options { env }
}

async fn limited(pairs: &[(&'static str, &str)]) -> TestApp {
    TestApp::spawn_with(env(pairs)).await
}

/// Rate limits on, and the login guard's clock stopped, so a back-off cannot run out while the
/// test is still sending requests.
async fn limited_frozen(pairs: &[(&'static str, &str)], capacity: usize) -> TestApp {
    let frozen = std::time::Instant::now();
    TestApp::spawn_adjusted(env(pairs), move |state| {
        state.login_guard = LoginGuard::with_clock(capacity, move || frozen);
    })
    .await
}

fn login_body(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

// ---- Item 3: back-off per account and source ------------------------------------------------

#[actix_web::test]
async fn failed_logins_from_one_address_do_not_lock_the_owner_out() {
    let app = limited_frozen(&[], 100_000).await;
    app.admin().await;
    for _ in 0..5 {
        app.post("/api/v1/auth/login")
            .peer(ATTACKER)
            .json(login_body(ADMIN_EMAIL, "wrong guess"))
            .send()
            .await
            .expect(401);
    }
    // The owner, from an address without failures, gets in with the right password.
    app.post("/api/v1/auth/login")
        .peer(OWNER)
        .json(login_body(ADMIN_EMAIL, PASSWORD))
        .send()
        .await
        .expect(200);
    // The attacker's address stays backed off, even with the right password.
    let attacker = app
        .post("/api/v1/auth/login")
        .peer(ATTACKER)
        .json(login_body(ADMIN_EMAIL, PASSWORD))
        .send()
        .await;
    attacker.expect(429);
    assert_eq!(attacker.problem_type(), "rate-limited");
    assert!(attacker.header("retry-after").is_some());
}

#[actix_web::test]
async fn flooding_distinct_emails_does_not_erase_a_back_off() {
    // A small guard, so the test can fill it; the production one holds 100 000 entries.
    let app = limited_frozen(&[], 32).await;
    app.admin().await;
    for _ in 0..5 {
        app.post("/api/v1/auth/login")
            .peer(ATTACKER)
            .json(login_body(ADMIN_EMAIL, "wrong guess"))
            .send()
            .await
            .expect(401);
    }
    // Many addresses (a botnet) each fail once against a different email: more entries than
    // the guard holds.
    for i in 0..48 {
        app.post("/api/v1/auth/login")
            .peer(&format!("10.{}.{}.1:1000", i / 250, i % 250))
            .json(login_body(&format!("flood{i}@example.com"), "wrong guess"))
            .send()
            .await
            .expect(401);
    }
    app.post("/api/v1/auth/login")
        .peer(ATTACKER)
        .json(login_body(ADMIN_EMAIL, PASSWORD))
        .send()
        .await
        .expect(429);
    // The owner is still unaffected.
    app.post("/api/v1/auth/login")
        .peer(OWNER)
        .json(login_body(ADMIN_EMAIL, PASSWORD))
        .send()
        .await
        .expect(200);
}

// ---- Item 4: the client address -------------------------------------------------------------

/// Ten failed logins (distinct unknown emails) exhaust the auth budget of one client.
async fn exhaust(app: &TestApp, peer: &str, header: Option<(&'static str, &str)>) {
    for i in 0..10 {
        let mut req = app
            .post("/api/v1/auth/login")
            .peer(peer)
            .json(login_body(&format!("nobody{i}@example.com"), "wrong guess"));
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        req.send().await.expect(401);
    }
}

async fn attempt(app: &TestApp, peer: &str, header: Option<(&'static str, &str)>) -> u16 {
    let mut req = app
        .post("/api/v1/auth/login")
        .peer(peer)
        .json(login_body("someone@example.com", "wrong guess"));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.send().await.status.as_u16()
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_auth_budget() {
    let app = limited(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.0/16")]).await;
    let a = Some(("X-Forwarded-For", "198.51.100.1"));
    exhaust(&app, PROXY, a).await;
    assert_eq!(attempt(&app, PROXY, a).await, 429);
    // Another client of the same proxy is not shut out.
    let b = Some(("X-Forwarded-For", "198.51.100.2"));
    assert_eq!(attempt(&app, PROXY, b).await, 401);
    // Through a chain of two trusted proxies, the first untrusted hop from the right counts.
    let a_via_two = Some(("X-Forwarded-For", "198.51.100.1, 192.168.1.1"));
    assert_eq!(attempt(&app, PROXY, a_via_two).await, 429);
}

#[actix_web::test]
async fn forwarded_headers_are_believed_only_from_trusted_proxies() {
    let app = limited(&[("TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    let spoofer = "203.0.113.9:5555";
    exhaust(&app, spoofer, Some(("X-Forwarded-For", "198.51.100.1"))).await;
    // A fresh X-Forwarded-For from an untrusted peer does not buy a fresh budget.
    for value in ["198.51.100.99", "10.0.0.5"] {
        assert_eq!(
            attempt(&app, spoofer, Some(("X-Forwarded-For", value))).await,
            429
        );
    }
    assert_eq!(
        attempt(&app, spoofer, Some(("Forwarded", "for=198.51.100.98"))).await,
        429
    );
    // Through the trusted proxy, the spoofer's real address is the one that counts ...
    assert_eq!(
        attempt(&app, PROXY, Some(("X-Forwarded-For", "203.0.113.9"))).await,
        429
    );
    // ... and the client it pretended to be still has its whole budget.
    assert_eq!(
        attempt(&app, PROXY, Some(("X-Forwarded-For", "198.51.100.1"))).await,
        401
    );
}

#[actix_web::test]
async fn a_spoofed_leftmost_forwarded_value_does_not_change_the_budget() {
    let app = limited(&[("TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    // The client sent its own X-Forwarded-For; the proxy appended the address it saw.
    exhaust(
        &app,
        PROXY,
        Some(("X-Forwarded-For", "1.1.1.1, 198.51.100.1")),
    )
    .await;
    for spoofed in ["2.2.2.2, 198.51.100.1", "198.51.100.1"] {
        assert_eq!(
            attempt(&app, PROXY, Some(("X-Forwarded-For", spoofed))).await,
            429
        );
    }
    // RFC 7239 Forwarded works the same way, with ports and quoted IPv6.
    assert_eq!(
        attempt(
            &app,
            PROXY,
            Some((
                "Forwarded",
                r#"for="[2001:db8::9]:1234", for=198.51.100.1:4711"#
            ))
        )
        .await,
        429
    );
    assert_eq!(
        attempt(
            &app,
            PROXY,
            Some((
                "Forwarded",
                r#"for=198.51.100.1;proto=https, for="[2001:db8::9]:1234""#
            ))
        )
        .await,
        401
    );
}

#[actix_web::test]
async fn ipv6_clients_in_one_64_share_a_budget() {
    let app = limited(&[]).await;
    exhaust(&app, "[2001:db8:1:2::1]:1000", None).await;
    assert_eq!(
        attempt(&app, "[2001:db8:1:2:ffff:ee:dd:9]:2000", None).await,
        429
    );
    assert_eq!(attempt(&app, "[2001:db8:1:3::1]:1000", None).await, 401);
}

#[actix_web::test]
async fn login_back_off_follows_the_forwarded_client_address() {
    let app = limited_frozen(&[("TRUSTED_PROXIES", "10.0.0.0/8")], 100_000).await;
    app.admin().await;
    for _ in 0..5 {
        app.post("/api/v1/auth/login")
            .peer(PROXY)
            .header("X-Forwarded-For", "198.51.100.66")
            .json(login_body(ADMIN_EMAIL, "wrong guess"))
            .send()
            .await
            .expect(401);
    }
    app.post("/api/v1/auth/login")
        .peer(PROXY)
        .header("X-Forwarded-For", "198.51.100.77")
        .json(login_body(ADMIN_EMAIL, PASSWORD))
        .send()
        .await
        .expect(200);
    app.post("/api/v1/auth/login")
        .peer(PROXY)
        .header("X-Forwarded-For", "198.51.100.66")
        .json(login_body(ADMIN_EMAIL, PASSWORD))
        .send()
        .await
        .expect(429);
}

// ---- Item 11: password policy ---------------------------------------------------------------

const WEAK: [(&str, &str); 6] = [
    ("password", "common"),
    ("12345678", "common"),
    ("        ", "blank"),
    ("\t \u{a0}  \n  ", "blank"),
    ("qwertyuiop", "common"),
    ("iloveyou1", "common"),
];

#[track_caller]
fn assert_password_refused(resp: &crate::helpers::Resp, why: &str) {
    let body = resp.expect(422);
    let errors = body["errors"].as_array().expect("field errors");
    let password = errors
        .iter()
        .find(|e| e["field"] == "password")
        .unwrap_or_else(|| panic!("no password error in {body}"));
    let message = password["message"].as_str().unwrap();
    assert!(message.contains(why), "{message:?} does not say {why:?}");
}

#[actix_web::test]
async fn registration_refuses_blank_and_common_passwords() {
    let app = TestApp::spawn().await;
    for (password, why) in WEAK {
        let resp = app
            .post("/api/v1/auth/register")
            .json(json!({"email": "weak@example.com", "password": password, "name": "Weak"}))
            .send()
            .await;
        assert_password_refused(&resp, why);
    }
    // A password made of the account's own email and name is easy to guess too.
    let resp = app
        .post("/api/v1/auth/register")
        .json(json!({"email": "rosalind.franklin@example.com", "password": "rosalindfranklin", "name": "Rosalind Franklin"}))
        .send()
        .await;
    assert_password_refused(&resp, "common");
    assert_eq!(app.count("users").await, 0);
    // Passphrases pass, without any composition rule.
    for (i, password) in [
        PASSWORD,
        "a long password",
        "a-long-password",
        "conformance-client",
    ]
    .into_iter()
    .enumerate()
    {
        app.post("/api/v1/auth/register")
            .json(
                json!({"email": format!("ok{i}@example.com"), "password": password, "name": "Ok"}),
            )
            .send()
            .await
            .expect(201);
    }
}

#[actix_web::test]
async fn admins_cannot_set_weak_passwords_either() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let create = app
        .post("/api/v1/users")
        .token(&admin)
        .json(json!({"email": "t@example.com", "password": "password1", "name": "Theo", "role": "therapist"}))
        .send()
        .await;
    assert_password_refused(&create, "common");
    let created = app
        .post("/api/v1/users")
        .token(&admin)
        .json(json!({"email": "t@example.com", "password": "conformance-therapist", "name": "Theo", "role": "therapist"}))
        .send()
        .await;
    let id = created.expect(201)["id"].as_str().unwrap().to_owned();
    for (password, why) in [("12345678", "common"), ("          ", "blank")] {
        let patch = app
            .patch(&format!("/api/v1/users/{id}"))
            .token(&admin)
            .json(json!({ "password": password }))
            .send()
            .await;
        assert_password_refused(&patch, why);
    }
    app.patch(&format!("/api/v1/users/{id}"))
        .token(&admin)
        .json(json!({ "password": "a long password" }))
        .send()
        .await
        .expect(200);
    app.post("/api/v1/auth/login")
        .json(login_body("t@example.com", "a long password"))
        .send()
        .await
        .expect(200);
}

#[test]
fn the_cli_refuses_a_common_password() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let run = |password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_inspine"))
            .args([
                "user",
                "create",
                "--email",
                "root@example.com",
                "--role",
                "admin",
            ])
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("cli.db").display()),
            )
            .env("JWT_SECRET", "test-secret-test-secret-test-secret-0123")
            .env("DATA_DIR", dir.path())
            .env("RUST_LOG", "error")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let refused = run("password");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("too common"), "stderr: {stderr}");
    let accepted = run("a long password");
    assert!(
        accepted.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&accepted.stderr)
    );
}
