//! Emails: delivered over SMTP to a real SMTP server the tests start themselves (mailin), read
//! back with a MIME parser (mailparse) and, for the calendar part, an RFC 5545 parser.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use inspine::notify::{Postman, run_once};

use crate::helpers::{Options, TestApp, at, local_date};

/// An SMTP server on a free local port that keeps every message it accepts.
pub struct SmtpSink {
    pub url: String,
    inbox: Arc<Mutex<Vec<Vec<u8>>>>,
}

#[derive(Clone)]
struct Keep {
    inbox: Arc<Mutex<Vec<Vec<u8>>>>,
    current: Vec<u8>,
}

impl mailin_embedded::Handler for Keep {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> mailin_embedded::Response {
        self.current.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let message = std::mem::take(&mut self.current);
        self.inbox.lock().unwrap().push(message);
        mailin_embedded::response::OK
    }
}

impl SmtpSink {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let mut server = mailin_embedded::Server::new(Keep {
            inbox: inbox.clone(),
            current: Vec::new(),
        });
        server
            .with_name("sink.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self {
            url: format!("smtp://{addr}?tls=none"),
            inbox,
        }
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.inbox.lock().unwrap().clone()
    }
}

/// An SMTP URL nothing listens on.
fn dead_relay() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("smtp://{addr}?tls=none&timeout=2")
}

/// A received message, parsed.
pub struct Mail {
    pub headers: HashMap<String, String>,
    pub mimetype: String,
    pub text: String,
    pub html: String,
    pub calendar: Option<String>,
    pub content_types: Vec<String>,
}

pub fn parse(raw: &[u8]) -> Mail {
    let parsed = mailparse::parse_mail(raw).expect("a MIME message");
    let headers = parsed
        .headers
        .iter()
        .map(|h| (h.get_key().to_lowercase(), h.get_value()))
        .collect();
    let mut mail = Mail {
        headers,
        mimetype: parsed.ctype.mimetype.clone(),
        text: String::new(),
        html: String::new(),
        calendar: None,
        content_types: Vec::new(),
    };
    fn walk(part: &mailparse::ParsedMail<'_>, mail: &mut Mail) {
        mail.content_types.push(part.ctype.mimetype.clone());
        match part.ctype.mimetype.as_str() {
            "text/plain" => mail.text = part.get_body().unwrap(),
            "text/html" => mail.html = part.get_body().unwrap(),
            "text/calendar" => mail.calendar = Some(part.get_body().unwrap()),
            _ => {}
        }
        for sub in &part.subparts {
            walk(sub, mail);
        }
    }
    walk(&parsed, &mut mail);
    mail
}

impl Mail {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

async fn mail_app(extra: &[(&'static str, String)]) -> TestApp {
    let mut env: HashMap<&'static str, String> = extra.iter().cloned().collect();
    env.entry("REMINDER_BEFORE")
        .or_insert_with(|| "24h".to_owned());
    TestApp::spawn_with(Options { env }).await
}

fn postman(app: &TestApp) -> Postman {
    Postman::of(&app.state)
}

async fn deliver(app: &TestApp, at: DateTime<Utc>) -> usize {
    run_once(&postman(app), at).await.expect("a worker pass")
}

/// Books day+7 10:00 (Vancouver), 90 minutes of Swedish massage with Maya, for a registered
/// client named Ana; returns (booking, client token).
async fn book(app: &TestApp, therapist_id: &str, swedish: &Value) -> (Value, String) {
    let client = app.register("ana@example.com").await;
    let token = client["access_token"].as_str().unwrap().to_owned();
    let booking = app
        .post("/api/v1/bookings")
        .token(&token)
        .json(
            json!({"therapist_id": therapist_id, "massage_type_id": swedish["id"],
                     "duration_minutes": 90, "start": at(local_date(7), 10, 0),
                     "notes": "Old shoulder injury"}),
        )
        .send()
        .await
        .expect(201)
        .clone();
    (booking, token)
}

fn to_of(raw: &[u8]) -> String {
    parse(raw).header("to").to_owned()
}

#[actix_web::test]
async fn a_booking_is_confirmed_by_email_with_its_calendar_event() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let clinic = app.clinic().await;
    let (booking, _) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    let id = booking["id"].as_str().unwrap();
    // Queued with the booking, sent by the worker.
    let queued = app
        .get(&format!("/api/v1/notifications?booking_id={id}"))
        .token(&clinic.admin)
        .send()
        .await;
    let items = queued.expect(200)["items"].as_array().unwrap().clone();
    let confirmation: Vec<&Value> = items
        .iter()
        .filter(|n| n["kind"] == "booking_confirmed")
        .collect();
    assert_eq!(confirmation.len(), 1, "{items:?}");
    assert_eq!(confirmation[0]["status"], "pending");
    assert!(sink.messages().is_empty());

    assert_eq!(deliver(&app, Utc::now()).await, 1);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let mail = parse(&messages[0]);
    assert_eq!(
        mail.header("from"),
        "\"Inspine Therapy\" <no-reply@localhost>"
    );
    assert_eq!(mail.header("to"), "ana@example.com");
    assert!(
        mail.header("subject")
            .starts_with("Booked: Swedish massage on "),
        "{}",
        mail.header("subject")
    );
    assert!(mail.header("message-id").contains("@localhost>"));
    assert!(!mail.header("date").is_empty());
    assert_eq!(mail.mimetype, "multipart/mixed");
    assert!(
        mail.content_types
            .contains(&"multipart/alternative".to_owned())
    );
    // Local time in the clinic's words, in both parts.
    let day = local_date(7);
    let when = format!("{}, 10:00 AM", day.format("%A, %B %-d, %Y"));
    // minijinja escapes `/` in HTML as `&#x2f;`, which browsers read back as `/`.
    let html = mail.html.replace("&#x2f;", "/");
    for body in [&mail.text, &html] {
        assert!(body.contains(&when), "{when} missing from {body}");
        assert!(body.contains("Maya"), "{body}");
        assert!(body.contains("Swedish massage, 90 minutes"), "{body}");
        assert!(body.contains("$155.00 CAD"), "{body}");
        assert!(body.contains("24 hours"), "{body}");
        assert!(body.contains(&format!("/#/bookings/{id}")), "{body}");
        // The booking's notes may be health data: never in an email.
        assert!(!body.contains("shoulder"), "{body}");
    }
    assert!(mail.html.contains("<table"), "{}", mail.html);
    // The calendar part: RFC 5545, the booking's UID and instants.
    let ics = mail.calendar.clone().expect("a text/calendar part");
    let calendar: icalendar::Calendar = ics.parse().expect("RFC 5545");
    let event = calendar
        .components
        .iter()
        .find_map(|c| c.as_event())
        .expect("a VEVENT");
    use icalendar::Component;
    assert_eq!(
        event.get_uid(),
        Some(format!("{id}@inspine.example").as_str())
    );
    let start: DateTime<Utc> = booking["start"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        event.get_start(),
        Some(icalendar::DatePerhapsTime::DateTime(
            icalendar::CalendarDateTime::Utc(start)
        ))
    );
    assert!(ics.contains("METHOD:PUBLISH"));

    // The admin sees it sent, once; a second pass sends nothing more.
    assert_eq!(deliver(&app, Utc::now()).await, 0);
    let sent = app
        .get(&format!(
            "/api/v1/notifications?booking_id={id}&status=sent"
        ))
        .token(&clinic.admin)
        .send()
        .await;
    let sent = sent.expect(200)["items"][0].clone();
    assert_eq!(sent["kind"], "booking_confirmed");
    assert_eq!(sent["to"], "ana@example.com");
    assert_eq!(sent["attempts"], 1);
    assert!(sent["sent_at"].is_string());
    assert_eq!(sent["last_error"], Value::Null);
    let metrics = app.get("/metrics").send().await;
    assert!(
        String::from_utf8_lossy(&metrics.raw)
            .contains("inspine_notifications_total{outcome=\"sent\"} 1"),
    );
}

#[actix_web::test]
async fn without_an_smtp_url_messages_are_written_to_the_spool() {
    let app = mail_app(&[]).await;
    let clinic = app.clinic().await;
    book(&app, &clinic.therapist_id, &clinic.swedish).await;
    assert_eq!(deliver(&app, Utc::now()).await, 1);
    let inspine::config::MailTransport::Spool(dir) = &app.state.config.mail.transport else {
        panic!("the default transport is the spool");
    };
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mail = parse(&std::fs::read(&files[0]).unwrap());
    assert_eq!(mail.header("to"), "ana@example.com");
    assert!(mail.header("subject").starts_with("Booked: "));
    assert!(mail.calendar.is_some());
}

#[actix_web::test]
async fn a_message_the_relay_refused_survives_a_restart_and_is_sent_once() {
    let app = mail_app(&[("SMTP_URL", dead_relay())]).await;
    let clinic = app.clinic().await;
    let (booking, _) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    // The relay is down: the attempt fails and is kept for a retry.
    assert_eq!(deliver(&app, Utc::now()).await, 1);
    let row = app
        .get(&format!("/api/v1/notifications?booking_id={id}"))
        .token(&clinic.admin)
        .send()
        .await
        .expect(200)["items"][0]
        .clone();
    assert_eq!(row["status"], "pending");
    assert_eq!(row["attempts"], 1);
    assert!(
        row["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{row}"
    );
    // Nothing is due again before the back-off.
    assert_eq!(deliver(&app, Utc::now()).await, 0);
    // The process goes away with the message pending (all of it is in the database: nothing
    // in memory to lose), and comes back with a relay that answers.
    let sink = SmtpSink::start();
    let app = app
        .restart_with([("SMTP_URL", sink.url.clone())].into())
        .await;
    let later = Utc::now() + Duration::minutes(2);
    assert_eq!(deliver(&app, later).await, 1);
    assert_eq!(deliver(&app, later).await, 0);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(to_of(&messages[0]), "ana@example.com");
    let row = app
        .get(&format!("/api/v1/notifications?booking_id={id}"))
        .token(&clinic.admin)
        .send()
        .await
        .expect(200)["items"][0]
        .clone();
    assert_eq!(
        (row["status"].as_str(), row["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );
}

#[actix_web::test]
async fn a_relay_that_keeps_refusing_ends_in_failed() {
    let app = mail_app(&[("SMTP_URL", dead_relay())]).await;
    let clinic = app.clinic().await;
    book(&app, &clinic.therapist_id, &clinic.swedish).await;
    let mut at = Utc::now();
    for _ in 0..inspine::notify::MAX_ATTEMPTS {
        assert_eq!(deliver(&app, at).await, 1);
        at += Duration::hours(7);
    }
    assert_eq!(deliver(&app, at + Duration::days(2)).await, 0);
    let failed = app
        .get("/api/v1/notifications?status=failed")
        .token(&clinic.admin)
        .send()
        .await;
    let row = failed.expect(200)["items"][0].clone();
    assert_eq!(row["attempts"], inspine::notify::MAX_ATTEMPTS);
    assert!(row["last_error"].is_string());
    let metrics = app.get("/metrics").send().await;
    assert!(
        String::from_utf8_lossy(&metrics.raw)
            .contains("inspine_notifications_total{outcome=\"failed\"} 1"),
    );
}

/// The moment `lead` before a booking's start.
fn before(booking: &Value, lead: Duration) -> DateTime<Utc> {
    booking["start"]
        .as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .unwrap()
        - lead
}

/// The one message whose subject starts with `prefix` (messages sent in one pass arrive in any
/// order).
fn find(sink: &SmtpSink, prefix: &str) -> Mail {
    let mut found: Vec<Mail> = sink
        .messages()
        .iter()
        .map(|m| parse(m))
        .filter(|m| m.header("subject").starts_with(prefix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one message `{prefix}…`: {:?}",
        subjects(sink)
    );
    found.remove(0)
}

fn subjects(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|m| parse(m).header("subject").to_owned())
        .collect()
}

#[actix_web::test]
async fn reminders_go_once_at_their_moment_only_for_lead_times_still_ahead() {
    let sink = SmtpSink::start();
    // A booking a week ahead: the 30-day lead time has passed already, the 24 h one has not.
    let app = mail_app(&[
        ("SMTP_URL", sink.url.clone()),
        ("REMINDER_BEFORE", "24h,30d,2h".to_owned()),
    ])
    .await;
    let clinic = app.clinic().await;
    let (booking, _) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    assert_eq!(deliver(&app, Utc::now()).await, 1, "the confirmation only");
    let day_before = before(&booking, Duration::hours(24));
    assert_eq!(deliver(&app, day_before - Duration::minutes(1)).await, 0);
    assert_eq!(deliver(&app, day_before).await, 1);
    assert_eq!(
        deliver(&app, day_before + Duration::minutes(30)).await,
        0,
        "once"
    );
    assert_eq!(deliver(&app, before(&booking, Duration::hours(2))).await, 1);
    let subjects = subjects(&sink);
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    // Sent in a pass of its own, so second in the inbox.
    assert!(
        subjects[1].starts_with("Reminder: Swedish massage on "),
        "{subjects:?}"
    );
    let reminder = parse(&sink.messages()[1]);
    assert!(reminder.text.contains("10:00 AM"), "{}", reminder.text);
    assert!(reminder.calendar.is_none());
}

#[actix_web::test]
async fn a_cancelled_booking_gets_no_reminder_and_a_cancellation_email() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let clinic = app.clinic().await;
    let (booking, token) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    let id = booking["id"].as_str().unwrap();
    app.post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&token)
        .json(json!({"reason": "Feeling better"}))
        .send()
        .await
        .expect(200);
    assert_eq!(deliver(&app, Utc::now()).await, 2);
    assert_eq!(
        deliver(&app, before(&booking, Duration::hours(24))).await,
        0
    );
    find(&sink, "Booked: ");
    let cancelled = find(&sink, "Cancelled: Swedish massage on ");
    let ics = cancelled
        .calendar
        .expect("the calendar part cancels the event");
    assert!(ics.contains("STATUS:CANCELLED"), "{ics}");
}

#[actix_web::test]
async fn a_reschedule_tells_the_client_and_re_arms_the_reminder() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let clinic = app.clinic().await;
    let (booking, token) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    let id = booking["id"].as_str().unwrap();
    let moved = app
        .post(&format!("/api/v1/bookings/{id}/reschedule"))
        .token(&token)
        .json(json!({"start": at(local_date(9), 14, 0)}))
        .send()
        .await
        .expect(200)
        .clone();
    assert_eq!(deliver(&app, Utc::now()).await, 2);
    let rescheduled = find(&sink, "Moved: Swedish massage is now on ");
    let old = format!("{}, 10:00 AM", local_date(7).format("%A, %B %-d, %Y"));
    let new = format!("{}, 2:00 PM", local_date(9).format("%A, %B %-d, %Y"));
    assert!(
        rescheduled.text.contains(&old) && rescheduled.text.contains(&new),
        "{}",
        rescheduled.text
    );
    let ics = rescheduled.calendar.expect("an updated event");
    assert!(ics.contains("SEQUENCE:1"), "{ics}");
    // The old time's reminder is gone; the new time's fires.
    assert_eq!(
        deliver(&app, before(&booking, Duration::hours(24))).await,
        0
    );
    assert_eq!(deliver(&app, before(&moved, Duration::hours(24))).await, 1);
    let reminder = find(&sink, "Reminder: ");
    assert!(reminder.text.contains(&new), "{}", reminder.text);
}

#[actix_web::test]
async fn the_therapist_hears_of_bookings_made_moved_and_cancelled() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let clinic = app.clinic().await;
    let (therapist_user, _) = app.user_with_role("maya@example.com", "therapist").await;
    app.patch(&format!("/api/v1/therapists/{}", clinic.therapist_id))
        .token(&clinic.admin)
        .json(json!({"user_id": therapist_user}))
        .send()
        .await
        .expect(200);
    let (booking, token) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    let id = booking["id"].as_str().unwrap();
    app.post(&format!("/api/v1/bookings/{id}/reschedule"))
        .token(&token)
        .json(json!({"start": at(local_date(8), 11, 0)}))
        .send()
        .await
        .expect(200);
    app.post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&token)
        .json(json!({}))
        .send()
        .await
        .expect(200);
    assert_eq!(deliver(&app, Utc::now()).await, 6);
    let to_maya: Vec<Mail> = sink
        .messages()
        .iter()
        .filter(|m| to_of(m) == "maya@example.com")
        .map(|m| parse(m))
        .collect();
    let subjects: Vec<&str> = to_maya.iter().map(|m| m.header("subject")).collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(
        subjects.iter().any(|s| s.starts_with("New booking: ")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.starts_with("Booking moved: ")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Booking cancelled: ")),
        "{subjects:?}"
    );
    for mail in &to_maya {
        // The therapist sees who is coming, never the notes.
        assert!(mail.text.contains("Client:   Client"), "{}", mail.text);
        assert!(!mail.text.contains("shoulder"));
        assert!(mail.calendar.is_none());
    }
}

#[actix_web::test]
async fn names_are_escaped_in_the_html_part() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let clinic = app.clinic().await;
    let client = app
        .post("/api/v1/auth/register")
        .json(json!({"email": "x@example.com", "password": "a long password", "name": "<b>Bold</b> & Co"}))
        .send()
        .await
        .expect(201)
        .clone();
    app.post("/api/v1/bookings")
        .token(client["access_token"].as_str().unwrap())
        .json(
            json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"],
                     "duration_minutes": 60, "start": at(local_date(7), 10, 0)}),
        )
        .send()
        .await
        .expect(201);
    deliver(&app, Utc::now()).await;
    let mail = parse(&sink.messages()[0]);
    assert!(
        mail.html.contains("&lt;b&gt;Bold&lt;&#x2f;b&gt; &amp; Co"),
        "{}",
        mail.html
    );
    assert!(!mail.html.contains("<b>Bold"));
    assert!(mail.text.contains("<b>Bold</b> & Co"));
}

#[actix_web::test]
async fn only_admins_read_the_outbox() {
    let app = mail_app(&[]).await;
    let clinic = app.clinic().await;
    let (_, token) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    app.get("/api/v1/notifications")
        .token(&token)
        .send()
        .await
        .expect(403);
    app.get("/api/v1/notifications").send().await.expect(401);
    app.get("/api/v1/notifications?status=lost")
        .token(&clinic.admin)
        .send()
        .await
        .expect(400);
    let page = app
        .get("/api/v1/notifications?limit=1")
        .token(&clinic.admin)
        .send()
        .await;
    let page = page.expect(200).clone();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // The confirmation and the reminder: a page of one and a cursor to the other.
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let rest = app
        .get(&format!("/api/v1/notifications?cursor={cursor}"))
        .token(&clinic.admin)
        .send()
        .await;
    let rest = rest.expect(200).clone();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_ne!(rest["items"][0]["id"], page["items"][0]["id"]);
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn two_workers_on_one_database_never_send_a_message_twice() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let clinic = app.clinic().await;
    let clients = app.clients(5).await;
    for (i, (_, token)) in clients.iter().enumerate() {
        app.post("/api/v1/bookings")
            .token(token)
            .json(
                json!({"therapist_id": clinic.therapist_id, "massage_type_id": clinic.swedish["id"],
                         "duration_minutes": 60, "start": at(local_date(7 + i as i64), 10, 0)}),
            )
            .send()
            .await
            .expect(201);
    }
    // Two instances' workers (separate pools on one database) pass at the same moment.
    let other = inspine::state::AppState::prepare(app.state.config.as_ref().clone()).unwrap();
    let (one, two) = (postman(&app), Postman::of(&other));
    let now = Utc::now();
    let (a, b) = futures::join!(run_once(&one, now), run_once(&two, now));
    assert_eq!(a.unwrap() + b.unwrap(), 5);
    let (a, b) = futures::join!(run_once(&one, now), run_once(&two, now));
    assert_eq!(a.unwrap() + b.unwrap(), 0);
    let mut ids: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| parse(m).header("message-id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    assert_eq!(sink.messages().len(), 5);
}

#[test]
fn a_malformed_smtp_url_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_inspine"))
        .arg("migrate")
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("m.db").display()),
        )
        .env("DATA_DIR", dir.path())
        .env("JWT_SECRET", "test-secret-test-secret-test-secret-0123")
        .env("SMTP_URL", "smtp//mail.example.org:587")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SMTP_URL is not valid"), "{stderr}");
}

/// The reset token in a reset email's link.
fn reset_token(mail: &Mail) -> String {
    let start = mail.text.find("token=").expect("a reset link") + "token=".len();
    mail.text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_password_reset_goes_by_email_and_its_link_works_once() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let admin = app.admin().await;
    let ana = app.register("ana@example.com").await;
    let old_refresh = ana["refresh_token"].as_str().unwrap().to_owned();
    for email in ["ana@example.com", "nobody@example.com"] {
        let resp = app
            .post("/api/v1/auth/password-reset")
            .json(json!({ "email": email }))
            .send()
            .await;
        assert_eq!(resp.expect(202), &json!({}));
    }
    // One message: to the account that exists.
    assert_eq!(deliver(&app, Utc::now()).await, 1);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let mail = parse(&messages[0]);
    assert_eq!(mail.header("to"), "ana@example.com");
    assert_eq!(
        mail.header("subject"),
        "Reset your Inspine Therapy password"
    );
    assert!(mail.text.contains("within 60 minutes"), "{}", mail.text);
    assert!(
        mail.text
            .contains("http://127.0.0.1:8080/#/reset-password?token=")
    );
    let token = reset_token(&mail);
    assert!(mail.html.contains(&token));
    // Once out, the stored copy no longer holds the link.
    assert_eq!(
        app.count_where(
            "notifications",
            &format!(
                "body_text LIKE '%{token}%' OR body_html LIKE '%{token}%' \
                 OR context LIKE '%{token}%'"
            )
        )
        .await,
        0
    );

    app.post("/api/v1/auth/password-reset/confirm")
        .json(json!({"token": token, "new_password": "a brand new passphrase"}))
        .send()
        .await
        .expect(204);
    app.post("/api/v1/auth/refresh")
        .json(json!({ "refresh_token": old_refresh }))
        .send()
        .await
        .expect(401);
    app.post("/api/v1/auth/login")
        .json(json!({"email": "ana@example.com", "password": "a brand new passphrase"}))
        .send()
        .await
        .expect(200);
    let reused = app
        .post("/api/v1/auth/password-reset/confirm")
        .json(json!({"token": token, "new_password": "yet another passphrase"}))
        .send()
        .await;
    reused.expect(422);
    assert_eq!(reused.problem_type(), "reset-token-invalid");

    let user_id = ana["user"]["id"].as_str().unwrap();
    let listed = app
        .get(&format!("/api/v1/notifications?user_id={user_id}"))
        .token(&admin)
        .send()
        .await;
    let listed = listed.expect(200)["items"][0].clone();
    assert_eq!(
        (listed["kind"].as_str(), listed["status"].as_str()),
        (Some("password_reset"), Some("sent"))
    );
}

#[actix_web::test]
async fn turning_emails_off_stops_all_but_password_resets() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let clinic = app.clinic().await;
    let (booking, token) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    // The confirmation and the reminder are queued; turning emails off drops both.
    let me = app
        .patch("/api/v1/me")
        .token(&token)
        .json(json!({"email_notifications": false}))
        .send()
        .await;
    assert_eq!(me.expect(200)["email_notifications"], false);
    let id = booking["id"].as_str().unwrap();
    app.post(&format!("/api/v1/bookings/{id}/cancel"))
        .token(&token)
        .json(json!({}))
        .send()
        .await
        .expect(200);
    app.post("/api/v1/auth/password-reset")
        .json(json!({"email": "ana@example.com"}))
        .send()
        .await
        .expect(202);
    assert_eq!(deliver(&app, Utc::now()).await, 1);
    assert_eq!(
        deliver(&app, before(&booking, Duration::hours(24))).await,
        0
    );
    let subjects = subjects(&sink);
    assert_eq!(subjects, ["Reset your Inspine Therapy password"]);
}

#[actix_web::test]
async fn the_export_lists_the_emails_without_their_bodies() {
    let sink = SmtpSink::start();
    let app = mail_app(&[("SMTP_URL", sink.url.clone())]).await;
    let clinic = app.clinic().await;
    let (booking, token) = book(&app, &clinic.therapist_id, &clinic.swedish).await;
    app.post("/api/v1/auth/password-reset")
        .json(json!({"email": "ana@example.com"}))
        .send()
        .await
        .expect(202);
    // Before delivery the reset link sits in the outbox; the export must not show it.
    let export = app.get("/api/v1/me/export").token(&token).send().await;
    let body = export.expect(200).clone();
    let kinds: Vec<&str> = body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["booking_confirmed", "booking_reminder", "password_reset"]
    );
    assert_eq!(body["notifications"][0]["booking_id"], booking["id"]);
    let text = String::from_utf8_lossy(&export.raw).into_owned();
    assert!(!text.contains("token="), "{text}");
    assert!(!text.contains("body"), "{text}");
    deliver(&app, Utc::now()).await;
    let reset = find(&sink, "Reset your");
    assert!(!text.contains(&reset_token(&reset)));
}

#[actix_web::test]
async fn a_message_being_sent_when_the_server_is_killed_is_sent_after_the_restart() {
    use std::process::{Command, Stdio};
    let app = mail_app(&[]).await;
    let clinic = app.clinic().await;
    book(&app, &clinic.therapist_id, &clinic.swedish).await;
    // A relay that accepts the connection and then says nothing: the server's worker claims the
    // confirmation and hangs in the middle of sending it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = silent.local_addr().unwrap();
    let (connected, arrived) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = silent.accept() {
            let _ = connected.send(());
            // Held open, silent, until the test ends.
            std::thread::park();
            drop(stream);
        }
    });
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_inspine"))
        .arg("serve")
        .env("DATABASE_URL", &app.database_url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATA_DIR", data_dir.path())
        .env("JWT_SECRET", "test-secret-test-secret-test-secret-0123")
        .env("SMTP_URL", format!("smtp://{relay}?tls=none&timeout=600"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Waits for the worker's connection (the deadline only guards against a hang).
    let reached = arrived.recv_timeout(std::time::Duration::from_secs(120));
    // kill -9: no shutdown, no chance to record anything.
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(reached.is_ok(), "the server's worker never tried to send");

    let sink = SmtpSink::start();
    let app = app
        .restart_with([("SMTP_URL", sink.url.clone())].into())
        .await;
    // Its claim (lease) outlives the dead process for a minute; then it is sent, once.
    assert_eq!(deliver(&app, Utc::now()).await, 0);
    let after_lease = Utc::now() + Duration::seconds(61);
    assert_eq!(deliver(&app, after_lease).await, 1);
    assert_eq!(deliver(&app, after_lease).await, 0);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        parse(&messages[0])
            .header("subject")
            .starts_with("Booked: ")
    );
}
