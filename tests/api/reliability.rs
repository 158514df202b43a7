//! One request must never poison the database: extreme instants and dates are refused at the
//! edge, a connection given back inside a transaction (or after a panic) is never reused, and
//! `/ready` tells when writes would not land.

use diesel::RunQueryDsl;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, at, local_date};

fn year(y: i64) -> String {
    if y < 0 {
        format!("-{:04}", -y)
    } else if y > 9999 {
        format!("+{y}")
    } else {
        format!("{y:04}")
    }
}

/// RFC 3339-like instants: chrono's extremes, negative and five/six-digit years, leap seconds,
/// odd offsets, impossible days.
fn instants() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "+262142-12-31T23:00:00Z",
        "-262143-01-01T00:00:00Z",
        "+262143-12-31T23:59:59.999999999Z",
        "-0001-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "0000-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",
        "+10000-01-01T00:00:00Z",
        "2016-12-31T23:59:60Z",
        "2026-12-31T23:59:60.5+00:00",
        "1970-01-01T00:00:00-00:01",
        "2027-02-29T10:00:00Z",
    ]);
    let random = (
        -300_000i64..300_000,
        1u32..=12,
        1u32..=31,
        0u32..=23,
        0u32..=59,
        0u32..=60,
        -1439i32..=1439,
    )
        .prop_map(|(y, mo, d, h, mi, s, off)| {
            let offset = if off == 0 {
                "Z".to_owned()
            } else {
                let sign = if off < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60)
            };
            format!("{}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{offset}", year(y))
        });
    prop_oneof![fixed.prop_map(str::to_owned), random]
}

fn dates() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "+262142-12-31",
        "-262143-01-01",
        "-0001-01-01",
        "0000-01-01",
        "9999-12-31",
        "+10000-01-01",
        "2027-02-29",
    ]);
    let random = (-300_000i64..300_000, 1u32..=12, 1u32..=31)
        .prop_map(|(y, mo, d)| format!("{}-{mo:02}-{d:02}", year(y)));
    prop_oneof![fixed.prop_map(str::to_owned), random]
}

fn sample<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::default();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("strategy").current())
        .collect()
}

fn query(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}

#[actix_web::test]
async fn extreme_instants_never_poison_the_database_and_writes_survive_a_restart() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let type_id = clinic.swedish["id"].as_str().unwrap().to_owned();
    let client = app.client_token("owner@example.com").await;
    let booking = app
        .post("/api/v1/bookings")
        .token(&client)
        .json(
            json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id,
                     "duration_minutes": 60, "start": at(local_date(7), 10, 0)}),
        )
        .send()
        .await;
    let booking_id = booking.expect(201)["id"].as_str().unwrap().to_owned();

    let mut registered = Vec::new();
    let write = |n: usize| format!("writer{n}@example.com");
    let mut writes = 0;
    for (round, (instant, date)) in sample(instants(), 40)
        .into_iter()
        .zip(sample(dates(), 40))
        .enumerate()
    {
        let answers = [
            (
                "create booking",
                app.post("/api/v1/bookings")
                    .token(&client)
                    .json(
                        json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id,
                                 "duration_minutes": 60, "start": instant}),
                    )
                    .send()
                    .await,
            ),
            (
                "reschedule",
                app.post(&format!("/api/v1/bookings/{booking_id}/reschedule"))
                    .token(&client)
                    .json(json!({"start": instant}))
                    .send()
                    .await,
            ),
            (
                "time off",
                app.post(&format!(
                    "/api/v1/therapists/{}/time-off",
                    clinic.therapist_id
                ))
                .token(&clinic.admin)
                .json(json!({"starts_at": instant, "ends_at": instant, "reason": "x"}))
                .send()
                .await,
            ),
            (
                "time off ending",
                app.post(&format!(
                    "/api/v1/therapists/{}/time-off",
                    clinic.therapist_id
                ))
                .token(&clinic.admin)
                .json(json!({"starts_at": "2026-01-01T00:00:00Z", "ends_at": instant}))
                .send()
                .await,
            ),
            (
                "api token",
                app.post("/api/v1/api-tokens")
                    .token(&clinic.admin)
                    .json(json!({"name": "fuzz", "expires_at": instant}))
                    .send()
                    .await,
            ),
            (
                "list bookings",
                app.get(&format!(
                    "/api/v1/bookings?from={}&to={}",
                    query(&date),
                    query(&date)
                ))
                .token(&clinic.admin)
                .send()
                .await,
            ),
            (
                "slots",
                app.get(&format!(
                    "/api/v1/slots?massage_type_id={type_id}&duration_minutes=60&from={}&to={}",
                    query(&date),
                    query(&date)
                ))
                .send()
                .await,
            ),
        ];
        for (operation, resp) in &answers {
            assert!(
                resp.status.as_u16() < 500,
                "{operation} with {instant:?} / {date:?} answered {}: {}",
                resp.status,
                String::from_utf8_lossy(&resp.raw)
            );
        }
        if round % 8 == 0 {
            let email = write(writes);
            writes += 1;
            app.post("/api/v1/auth/register")
                .json(json!({"email": email, "password": PASSWORD, "name": "Writer"}))
                .send()
                .await
                .expect(201);
            registered.push(email);
        }
    }

    // The instant that used to overflow inside the write transaction: a 422 naming the field.
    let resp = app
        .post("/api/v1/bookings")
        .token(&client)
        .json(
            json!({"therapist_id": clinic.therapist_id, "massage_type_id": type_id,
                     "duration_minutes": 60, "start": "+262142-12-31T23:00:00Z"}),
        )
        .send()
        .await;
    assert_eq!(resp.expect(422)["errors"][0]["field"], "start");
    let resp = app
        .get(&format!(
            "/api/v1/slots?massage_type_id={type_id}&duration_minutes=60&from=%2B262142-12-30&to=%2B262142-12-31"
        ))
        .send()
        .await;
    assert_eq!(resp.expect(422)["errors"][0]["field"], "from");
    app.get("/ready").send().await.expect(200);

    let app = app.restart().await;
    for email in &registered {
        app.post("/api/v1/auth/login")
            .json(json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect(200);
    }
    app.get(&format!("/api/v1/bookings/{booking_id}"))
        .token(&clinic.admin)
        .send()
        .await
        .expect(200);
}

/// Inserts a user row directly, inside whatever transaction the connection is in.
/// The first 100 users as the admin lists them, as JSON text.
async fn listed_users(app: &TestApp, admin: &str) -> String {
    let users = app.get("/api/v1/users?limit=100").token(admin).send().await;
    users.expect(200)["items"].to_string()
}

fn insert_user(
    conn: &mut inspine::db::DbConn,
    email: &str,
) -> Result<(), inspine::error::ApiError> {
    use inspine::models::user::{Role, User};
    let new = User::new(
        email.to_owned(),
        "Ghost".to_owned(),
        "x".to_owned(),
        None,
        Role::Client,
    );
    inspine::models::user::insert(conn, &new)?;
    Ok(())
}

#[actix_web::test]
async fn a_connection_left_in_a_transaction_or_a_panic_is_never_reused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // Handed back to the pool with a transaction open and nobody to commit it.
    app.state
        .run(|conn| {
            use diesel::connection::{Connection, TransactionManager};
            <inspine::db::DbConn as Connection>::TransactionManager::begin_transaction(conn)?;
            insert_user(conn, "leaked@example.com")
        })
        .await
        .unwrap();
    // A panic in the middle of a write transaction.
    let panicked = app
        .state
        .run(|conn| {
            inspine::db::write_transaction::<(), _, _>(conn, |conn| {
                insert_user(conn, "panicked@example.com")?;
                std::panic::panic_any("a panic inside the transaction")
            })
        })
        .await;
    assert!(panicked.is_err());

    // Every connection of the pool still takes writes that commit.
    let mut emails = Vec::new();
    for n in 0..20 {
        let email = format!("after{n}@example.com");
        app.post("/api/v1/auth/register")
            .json(json!({"email": email, "password": PASSWORD, "name": "After"}))
            .send()
            .await
            .expect(201);
        emails.push(email);
    }
    app.get("/ready").send().await.expect(200);

    let app = app.restart().await;
    for email in &emails {
        app.post("/api/v1/auth/login")
            .json(json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect(200);
    }
    let listed = listed_users(&app, &admin).await;
    assert!(!listed.contains("leaked@example.com"), "{listed}");
    assert!(!listed.contains("panicked@example.com"), "{listed}");
}

/// 24 writes at once, each adding `{name}{n}@example.com`; write `failing` then fails (or
/// panics) after its insert.
async fn write_round(
    app: &TestApp,
    name: &str,
    failing: usize,
    panics: bool,
) -> Vec<Result<(), inspine::error::ApiError>> {
    let writes = (0..24).map(|n| {
        let address = format!("{name}{n}@example.com");
        app.state.write(move |conn| {
            insert_user(conn, &address)?;
            match n {
                n if n == failing && panics => std::panic::panic_any("a panic inside a write"),
                n if n == failing => Err(inspine::error::ApiError::NotFound),
                _ => Ok(()),
            }
        })
    });
    futures::future::join_all(writes).await
}

/// Concurrent writes (on SQLite committed together, each in a savepoint): one that fails is
/// rolled back alone, and after one panics, every write that was answered `Ok` is kept and
/// every one answered with an error left nothing behind.
#[actix_web::test]
async fn concurrent_writes_stand_or_fall_each_as_answered() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let email = |round: &str, n: usize| format!("{round}{n}@example.com");
    let refused = write_round(&app, "failing", 7, false).await;
    for (n, answer) in refused.iter().enumerate() {
        assert_eq!(answer.is_ok(), n != 7, "write {n}: {answer:?}");
    }
    let panicked = write_round(&app, "panicking", 11, true).await;
    assert!(panicked[11].is_err());
    // The writer goes on.
    app.post("/api/v1/auth/register")
        .json(json!({"email": "after@example.com", "password": PASSWORD, "name": "After"}))
        .send()
        .await
        .expect(201);

    let app = app.restart().await;
    let listed = listed_users(&app, &admin).await;
    assert!(listed.contains("after@example.com"), "{listed}");
    let answers = [("failing", &refused), ("panicking", &panicked)];
    for (name, answers) in answers {
        for (n, answer) in answers.iter().enumerate() {
            let address = format!("\"{}\"", email(name, n));
            assert_eq!(
                listed.contains(&address),
                answer.is_ok(),
                "{address} answered {answer:?}"
            );
        }
    }
}

#[actix_web::test]
async fn ready_is_503_while_the_database_takes_no_writes() {
    let app = TestApp::spawn().await;
    app.get("/ready").send().await.expect(200);
    if app.database_url.starts_with("postgres") {
        // The database turns read-only (as a standby is) and the server's connections drop.
        let name = app.database_url.rsplit('/').next().unwrap().to_owned();
        let mut other =
            <diesel::PgConnection as diesel::Connection>::establish(&app.database_url).unwrap();
        diesel::sql_query(format!(
            "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"
        ))
        .execute(&mut other)
        .unwrap();
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut other)
        .unwrap();
        let resp = app.get("/ready").send().await;
        resp.expect(503);
        assert!(resp.header("retry-after").is_some());
        app.get("/health").send().await.expect(200);
    } else {
        // Another process holds SQLite's write lock.
        let path = app.database_url.trim_start_matches("sqlite://").to_owned();
        let mut other = <diesel::SqliteConnection as diesel::Connection>::establish(&path).unwrap();
        diesel::sql_query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .unwrap();
        app.get("/ready").send().await.expect(503);
        diesel::sql_query("ROLLBACK").execute(&mut other).unwrap();
        app.get("/ready").send().await.expect(200);
    }
}

#[actix_web::test]
async fn a_sqlite_file_removed_under_the_server_answers_503_instead_of_losing_writes() {
    let app = TestApp::spawn().await;
    if app.database_url.starts_with("postgres") {
        return; // SQLite only: a PostgreSQL database cannot be unlinked under its server.
    }
    app.register("before@example.com").await;
    let path = std::path::PathBuf::from(app.database_url.trim_start_matches("sqlite://"));
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    let resp = app.get("/ready").send().await;
    resp.expect(503);
    let resp = app
        .post("/api/v1/auth/register")
        .json(json!({"email": "lost@example.com", "password": PASSWORD, "name": "Lost"}))
        .send()
        .await;
    resp.expect(503);
    assert!(!path.exists(), "no empty database is created in its place");
}

#[actix_web::test]
async fn a_generated_secret_and_a_new_database_are_owner_only_and_the_warning_is_logged() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = if app.database_url.starts_with("postgres") {
        app.database_url.clone()
    } else {
        format!("sqlite://{}", dir.path().join("fresh.db").display())
    };
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_inspine"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_remove("JWT_SECRET")
        .env_remove("LOG_FORMAT")
        .env("RUST_LOG", "info")
        .env("DATABASE_URL", &database_url)
        .env("DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(log.contains("JWT_SECRET is not set"), "{log}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join(".inspine-jwt-secret")), 0o600);
    if !app.database_url.starts_with("postgres") {
        assert_eq!(mode(&dir.path().join("fresh.db")), 0o600);
    }
}
