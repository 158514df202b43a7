//! Network-facing hardening: slow request bodies and the connection cap (over a real socket),
//! metrics label cardinality, and webhook delivery that connects only to checked addresses.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::Method;
use actix_web::{App, HttpResponse, HttpServer, web};
use inspine::integrations::webhooks::{Lookup, client_with_lookup, run_once};
use inspine::server::{Listen, http_server};
use serde_json::json;

use crate::helpers::{Options, TestApp, at, local_date};

/// Upper bound on any wait for the server, so a broken server fails the test instead of hanging
/// it. The server's own timeouts under test are 1 second.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// The app with short connection timeouts and a small connection cap, served on a real socket by
/// one worker (so the cap is exact).
async fn served(max_connections: u32) -> (TestApp, SocketAddr) {
    let app = TestApp::spawn_with(Options {
        env: [
            ("REQUEST_HEAD_TIMEOUT_SECS", "1".to_owned()),
            ("REQUEST_BODY_TIMEOUT_SECS", "1".to_owned()),
            ("MAX_CONNECTIONS", max_connections.to_string()),
        ]
        .into(),
    })
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = http_server(app.state.clone(), Listen::Listener(listener), 1).unwrap();
    actix_web::rt::spawn(server);
    (app, addr)
}

/// Runs blocking socket code off the test's runtime (which also drives the server), passing on
/// its panics.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    actix_web::rt::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream
}

/// A login whose head promises 1000 bytes of body, of which only a few are sent.
fn slow_body(addr: SocketAddr) -> TcpStream {
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"email\":",
        )
        .unwrap();
    stream
}

/// Everything the server sends until it closes the connection; panics if it never does.
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
            "the server kept the connection open for {HANG_GUARD:?}; got so far: {:?}",
            String::from_utf8_lossy(&out)
        ),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {
            String::from_utf8_lossy(&out).into_owned()
        }
        Err(e) => panic!("read failed: {e}"),
    }
}

/// Whether the server has already closed `stream` (without waiting for it to).
fn closed_already(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("read failed: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    closed
}

fn health(addr: SocketAddr) -> String {
    let mut stream = connect(addr);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_until_closed(&mut stream)
}

#[actix_web::test]
async fn a_body_that_never_finishes_is_answered_408_and_the_connection_closed() {
    let (_app, addr) = served(100).await;
    blocking(move || {
        let mut stream = slow_body(addr);
        let answer = read_until_closed(&mut stream);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(answer.contains("/problems/request-timeout"), "{answer}");
        assert!(health(addr).starts_with("HTTP/1.1 200"));
    })
    .await;
}

#[actix_web::test]
async fn a_head_that_never_finishes_is_closed_after_the_head_timeout() {
    let (_app, addr) = served(100).await;
    blocking(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: te")
            .unwrap();
        let answer = read_until_closed(&mut stream);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
        assert!(health(addr).starts_with("HTTP/1.1 200"));
    })
    .await;
}

#[actix_web::test]
async fn slow_clients_beyond_the_connection_cap_wait_and_the_server_recovers() {
    let (_app, addr) = served(8).await;
    blocking(move || {
        let mut slow: Vec<TcpStream> = (0..8).map(|_| slow_body(addr)).collect();
        // The ninth connection is only served once the server has shed a slow one: the cap holds.
        let answer = health(addr);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            slow.iter_mut().any(closed_already),
            "/health was served while all 8 slow connections were still open: the cap did not hold"
        );
        // Every slow client is answered 408 and closed, and the server keeps serving.
        for stream in &mut slow {
            let answer = read_until_closed(stream);
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "{answer}"
            );
        }
        for _ in 0..10 {
            assert!(health(addr).starts_with("HTTP/1.1 200"));
        }
    })
    .await;
}

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

async fn last_delivery(app: &TestApp, admin: &str, hook: &str) -> serde_json::Value {
    let page = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .token(admin)
        .send()
        .await;
    page.expect(200)["items"][0].clone()
}

/// A resolver whose answer changes between lookups, as a rebinding attacker's DNS does: `answers`
/// in turn, the last one repeated.
struct Flipping {
    answers: Vec<Vec<SocketAddr>>,
    calls: AtomicUsize,
}

impl Lookup for Flipping {
    fn lookup(&self, _host: &str, _port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.answers[call.min(self.answers.len() - 1)].clone())
    }
}

#[actix_web::test]
async fn webhook_deliveries_connect_only_to_the_address_that_was_checked() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    // A receiver on loopback: what a rebinding name would be pointed at.
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().default_service(web::to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { HttpResponse::Ok().finish() }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    // Registered with a public address, then pointed at `localhost` (which the system resolver
    // answers with 127.0.0.1) — a target the API would refuse to register.
    let created = app
        .post("/api/v1/webhooks")
        .token(&clinic.admin)
        .json(json!({"url": "https://93.184.216.34/hook", "events": ["booking.created"]}))
        .send()
        .await;
    let hook = created.expect(201)["id"].as_str().unwrap().to_owned();
    app.sql(format!(
        "UPDATE webhooks SET url = 'http://localhost:{port}/hook' WHERE id = '{hook}'"
    ))
    .await;
    let client = app.client_token("c@example.com").await;
    app.post("/api/v1/bookings")
        .token(&client)
        .json(json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"], "duration_minutes": 60, "start": at(local_date(7), 10, 0)}))
        .send()
        .await
        .expect(201);

    let public = SocketAddr::from(([93, 184, 216, 34], port));
    let loopback = SocketAddr::from(([127, 0, 0, 1], port));
    let lookup = Arc::new(Flipping {
        // First a public address (passes the check), then loopback (what a second lookup at
        // connect time would get), then both at once.
        answers: vec![vec![public], vec![loopback], vec![public, loopback]],
        calls: AtomicUsize::new(0),
    });
    let webhooks = client_with_lookup(lookup.clone());

    // One lookup, and the connection goes to the public address it checked: never to the
    // loopback receiver that a second resolution of `localhost` would reach.
    let now = chrono::Utc::now();
    assert_eq!(
        run_once(
            &inspine::integrations::webhooks::Outbox::of(&app.state),
            &webhooks,
            now
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(lookup.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the delivery reached loopback"
    );
    let delivery = last_delivery(&app, &clinic.admin, &hook).await;
    assert_eq!(delivery["status"], "pending");
    assert!(
        !delivery["last_error"]
            .as_str()
            .unwrap()
            .starts_with("target refused"),
        "{delivery}"
    );

    // The name now resolves to loopback: refused without connecting.
    let later = now + chrono::Duration::minutes(10);
    assert_eq!(
        run_once(
            &inspine::integrations::webhooks::Outbox::of(&app.state),
            &webhooks,
            later
        )
        .await
        .unwrap(),
        1
    );
    let delivery = last_delivery(&app, &clinic.admin, &hook).await;
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .starts_with("target refused"),
        "{delivery}"
    );
    // Public and loopback together: refused too, as either could be connected to.
    let later = later + chrono::Duration::hours(1);
    assert_eq!(
        run_once(
            &inspine::integrations::webhooks::Outbox::of(&app.state),
            &webhooks,
            later
        )
        .await
        .unwrap(),
        1
    );
    let delivery = last_delivery(&app, &clinic.admin, &hook).await;
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .starts_with("target refused"),
        "{delivery}"
    );
    assert_eq!(lookup.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the delivery reached loopback"
    );
}

#[actix_web::test]
async fn a_chunked_body_that_never_finishes_does_not_hold_the_connection() {
    let (_app, addr) = served(100).await;
    blocking(move || {
        // To a route that reads no body, and to one that does.
        for path in ["/api/v1/locations", "/api/v1/auth/login"] {
            let method = if path.ends_with("login") { "POST" } else { "GET" };
            let mut stream = connect(addr);
            stream
                .write_all(
                    format!(
                        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                         Transfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\":\r\n"
                    )
                    .as_bytes(),
                )
                .unwrap();
            let answer = read_until_closed(&mut stream);
            assert!(answer.starts_with("HTTP/1.1 "), "{path}: {answer}");
        }
    })
    .await;
}
