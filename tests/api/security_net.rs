//! Network-facing hardening: slow request bodies and the connection cap (over a real socket),
//! metrics label cardinality, and webhook delivery that connects only to checked addresses.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use actix_web::http::Method;
use inspine::server::{Listen, http_server};

use crate::helpers::{Options, TestApp};

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
