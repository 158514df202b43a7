//! The email worker: claims due messages from the notifications outbox (with the mechanism the
//! webhook worker uses), builds each as MIME (text and HTML alternatives, plus the calendar
//! part), hands it to the transport, and records the attempt with its back-off.

use chrono::{DateTime, NaiveDateTime, Utc};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};

use super::Mailer;
use crate::db::Db;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::models::notification::{self, Kind, Notification, Outcome, Scrubbed};
use crate::models::vocabulary::BookingStatus;
use crate::models::{booking, now};
use crate::outbox::{self, BATCH, Backoff, LEASE, Next, Queue};

/// Delays after each failed attempt: the last try is about 8.6 hours after the first.
const BACKOFF: Backoff = Backoff(&[60, 5 * 60, 30 * 60, 2 * 3600, 6 * 3600]);
pub const MAX_ATTEMPTS: i32 = BACKOFF.max_attempts();

/// What stays of a password-reset email once it is out: the link is not kept.
const SCRUBBED: &str = "(This message held a single-use password-reset link; it is not kept.)";

/// What the email worker works with.
#[derive(Clone)]
pub struct Postman {
    pub db: Db,
    pub metrics: Metrics,
    pub mailer: Mailer,
    pub from: Mailbox,
}

impl Postman {
    pub fn of(state: &crate::state::AppState) -> Self {
        Self {
            db: state.db.clone(),
            metrics: state.metrics.clone(),
            mailer: state.mailer.clone(),
            from: state.config.mail.from.clone(),
        }
    }
}

/// The MIME message for a row: `multipart/alternative` (text, HTML), inside
/// `multipart/mixed` with the `text/calendar` part when there is one. The Message-ID is the
/// row's id, the same on every retry, so a receiver can drop a duplicate.
fn message(from: &Mailbox, row: &Notification) -> Result<Message, String> {
    let to: Mailbox = row
        .to_address
        .parse()
        .map_err(|e| format!("the address cannot be used: {e}"))?;
    let domain = from.email.domain().to_owned();
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(row.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", row.id)))
        .date(std::time::SystemTime::from(row.created_at.and_utc()));
    let (text, html) = bodies(row)?;
    let alternative = MultiPart::alternative_plain_html(text, html);
    let built = match &row.calendar {
        Some(calendar) => {
            let content_type = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
                .map_err(|e| e.to_string())?;
            builder.multipart(MultiPart::mixed().multipart(alternative).singlepart(
                Attachment::new("booking.ics".to_owned()).body(calendar.clone(), content_type),
            ))
        }
        None => builder.multipart(alternative),
    };
    built.map_err(|e| e.to_string())
}

/// The text and HTML bodies to send: rendered now from the stored context, or as stored.
fn bodies(row: &Notification) -> Result<(String, String), String> {
    let Some(context) = &row.context else {
        return Ok((row.body_text.clone(), row.body_html.clone()));
    };
    let kind = Kind::parse(&row.kind).ok_or_else(|| format!("unknown kind {}", row.kind))?;
    super::templates::bodies(kind, &row.subject, context)
}

/// Claims the due messages; drops reminders whose booking is no longer confirmed (the
/// cancellation or move deleted them already; this is the last check at the moment itself).
fn claim(conn: &mut crate::db::DbConn, at: NaiveDateTime) -> Result<Vec<Notification>, ApiError> {
    let ids = outbox::claim_due(conn, Queue::Notifications, at, at + LEASE, BATCH)?;
    let mut due = Vec::with_capacity(ids.len());
    for row in notification::by_ids(conn, &ids)? {
        if row.kind == Kind::BookingReminder.as_str() {
            let confirmed = match &row.booking_id {
                Some(id) => booking::find(conn, id)?.status == BookingStatus::Confirmed,
                None => false,
            };
            if !confirmed {
                notification::delete(conn, &row.id)?;
                continue;
            }
        }
        due.push(row);
    }
    Ok(due)
}

/// One pass at time `at`: claims due messages, sends them, records each attempt. Returns how
/// many it attempted. Tests call it with a chosen `at` (a reminder's moment, a retry's).
pub async fn run_once(postman: &Postman, at: DateTime<Utc>) -> Result<usize, ApiError> {
    pass(postman, at).await.map(|done| done.attempted)
}

/// [`run_once`], also counting the attempts the relay did not accept.
async fn pass(postman: &Postman, at: DateTime<Utc>) -> Result<outbox::Pass, ApiError> {
    let naive = at.naive_utc();
    let claimed = postman
        .db
        .write::<_, ApiError, _>(move |conn| claim(conn, naive))
        .await?;
    let count = claimed.len();
    // Rendering the bodies and building the MIME is CPU work: on a blocking thread, not on the
    // async worker that serves requests.
    let from = postman.from.clone();
    let (claimed, messages) = actix_web::rt::task::spawn_blocking(move || {
        let messages: Vec<_> = claimed.iter().map(|row| message(&from, row)).collect();
        (claimed, messages)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("building the pass's emails: {e}")))?;
    let sends = messages.into_iter().map(|message| async {
        match message {
            Ok(message) => postman.mailer.send(message).await,
            Err(e) => Err(e),
        }
    });
    let results = futures_util::future::join_all(sends).await;
    let failed = results.iter().filter(|sent| sent.is_err()).count();
    let finished = now().max(naive);
    let mut sent_ids = Vec::new();
    let mut records = Vec::new();
    for (row, sent) in claimed.into_iter().zip(results) {
        let attempts = row.attempts + 1;
        let (status, next, label) = match BACKOFF.next(attempts, sent.is_ok(), naive) {
            Next::Done => (notification::SENT, naive, "sent"),
            Next::RetryAt(next) => (notification::PENDING, next, "retry"),
            Next::GiveUp => (notification::FAILED, naive, "failed"),
        };
        postman
            .metrics
            .notifications
            .with_label_values(&[label])
            .inc();
        if let Err(e) = &sent {
            tracing::warn!(notification = %row.id, kind = %row.kind, attempts, error = %e, "email not accepted");
        }
        let scrub = row.kind == Kind::PasswordReset.as_str() && status != notification::PENDING;
        if status == notification::SENT && !scrub {
            // The common case, recorded for the whole pass in one statement.
            sent_ids.push(row.id);
            continue;
        }
        let outcome = Outcome {
            status: status.to_owned(),
            attempts,
            next_attempt_at: next,
            locked_until: None,
            last_error: sent.err(),
            updated_at: finished,
            sent_at: (status == notification::SENT).then_some(finished),
        };
        records.push((row.id, outcome, scrub));
    }
    // One transaction for the pass's records (on SQLite with the other writes, never
    // contending with them for the lock).
    postman
        .db
        .write::<_, ApiError, _>(move |conn| {
            if !sent_ids.is_empty() {
                notification::record_sent(conn, &sent_ids, naive, finished)?;
            }
            let scrubbed = Scrubbed {
                body_text: SCRUBBED,
                body_html: SCRUBBED,
                context: None,
            };
            for (id, outcome, scrub) in &records {
                notification::record(conn, id, outcome, scrub.then_some(&scrubbed))?;
            }
            Ok(())
        })
        .await?;
    Ok(outbox::Pass {
        attempted: count,
        failed,
    })
}

/// The email worker of `serve`: passes until `stop` turns true, a second apart unless the last
/// one was full and mostly delivered ([`outbox::run_passes`]).
pub async fn run_worker(postman: Postman, stop: tokio::sync::watch::Receiver<bool>) {
    outbox::run_passes("emails", Some(BATCH as usize), stop, || {
        pass(&postman, Utc::now())
    })
    .await;
}
