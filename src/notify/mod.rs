//! Telling people: emails written to the notifications outbox in the same transaction as the
//! change that causes them (rendered there, from templates, in the location's time zone), and
//! delivered at least once by the worker inside `serve` (`worker`), which shares the outbox
//! mechanism with webhooks.
//!
//! Health data never goes into an email: booking notes are not shown, only the booking's
//! massage, time, place, therapist and price.

pub mod mailer;
mod templates;
mod worker;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::config::Config;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::integrations::calendar;
use crate::models::booking::{self, Booking};
use crate::models::notification::{self, Kind, Notification};
use crate::models::user::{self, User};
use crate::models::vocabulary::{BookingEvent, BookingStatus};
use crate::models::{catalog, new_id, now, therapist};
use crate::scheduling::Zone;

pub use mailer::Mailer;
pub use worker::{MAX_ATTEMPTS, Postman, run_once, run_worker};

/// The clinic's name in emails: the display name of `MAIL_FROM`.
fn clinic(config: &Config) -> String {
    config
        .mail
        .from
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "The clinic".to_owned())
}

/// "Tuesday, December 8, 2026, 9:00 AM" in `tz`.
pub fn local_text(at: NaiveDateTime, tz: &Zone) -> String {
    at.and_utc()
        .with_timezone(tz)
        .format("%A, %B %-d, %Y, %-I:%M %p")
        .to_string()
}

fn price_text(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let symbol = match currency {
        "CAD" | "USD" | "AUD" | "NZD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        _ => "",
    };
    format!(
        "{sign}{symbol}{}.{:02} {currency}",
        cents / 100,
        cents % 100
    )
}

/// A booking as an email shows it.
#[derive(Serialize, Clone)]
struct BookingView {
    massage: String,
    duration_minutes: i32,
    when: String,
    timezone: String,
    location: String,
    address: String,
    therapist: String,
    /// Shown to the therapist only.
    client: Option<String>,
    price: String,
    reference: String,
    manage_url: String,
    cancellation_window_hours: u32,
}

/// What a booking's emails are made of, read once per change.
struct Parts {
    booking: Booking,
    tz: Zone,
    view: BookingView,
    client: User,
    therapist_user: Option<User>,
    names: calendar::Names,
}

fn parts(conn: &mut DbConn, config: &Config, booking: &Booking) -> Result<Parts, ApiError> {
    let booking::Described {
        massage,
        location,
        therapist,
        client,
        therapist_user,
    } = booking::describe(conn, booking)?;
    let tz: Zone = location.timezone.parse().unwrap_or_else(|_| Zone::utc());
    let view = BookingView {
        massage: massage.name.clone(),
        duration_minutes: booking.duration_minutes,
        when: local_text(booking.start_at, &tz),
        timezone: tz.name().to_owned(),
        location: location.name.clone(),
        address: location.address.clone(),
        therapist: therapist.name.clone(),
        client: None,
        price: price_text(booking.price_cents, &booking.currency),
        reference: booking.id.clone(),
        manage_url: format!("{}/#/bookings/{}", config.public_base_url, booking.id),
        cancellation_window_hours: config.cancellation_window_hours,
    };
    let mut names = calendar::Names::default();
    names.massage_types.insert(massage.id.clone(), massage);
    names.locations.insert(location.id.clone(), location);
    names
        .therapists
        .insert(therapist.id.clone(), therapist.name.clone());
    Ok(Parts {
        booking: booking.clone(),
        tz,
        view,
        client,
        therapist_user,
        names,
    })
}

#[derive(Serialize)]
struct BookingMail<'a> {
    clinic: String,
    name: &'a str,
    b: &'a BookingView,
    previous: Option<String>,
    book_url: String,
    /// For therapists: `made`, `moved`, `moved_away` or `cancelled`.
    change: &'static str,
}

/// One message to queue.
struct Outgoing<'a> {
    to: &'a User,
    kind: Kind,
    booking_id: Option<&'a str>,
    calendar: Option<String>,
    /// When to send: now, or a reminder's moment.
    at: NaiveDateTime,
}

/// The messages one change queues, inserted together by [`Letters::post`] (one statement).
#[derive(Default)]
struct Letters(Vec<Notification>);

impl Letters {
    /// Queues one message, unless the recipient turned emails off (password resets go
    /// regardless): its subject rendered now, its bodies at delivery from `context`, stored
    /// as JSON (rendering them here was a fifth of the SQLite writer's time per booking).
    fn queue<C: Serialize>(&mut self, out: Outgoing<'_>, context: &C) -> Result<(), ApiError> {
        if !out.to.email_notifications && out.kind != Kind::PasswordReset {
            return Ok(());
        }
        let subject = templates::subject(out.kind, context)?;
        let context = serde_json::to_string(context)
            .map_err(|e| ApiError::Internal(format!("an email's context: {e}")))?;
        let created = now();
        self.0.push(Notification {
            id: new_id(),
            user_id: out.to.id.clone(),
            booking_id: out.booking_id.map(str::to_owned),
            kind: out.kind.as_str().to_owned(),
            to_address: out.to.email.clone(),
            subject,
            body_text: String::new(),
            body_html: String::new(),
            calendar: out.calendar,
            status: notification::PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: out.at.max(created),
            locked_until: None,
            last_error: None,
            created_at: created,
            updated_at: created,
            sent_at: None,
            context: Some(context),
        });
        Ok(())
    }

    fn post(self, conn: &mut DbConn) -> Result<(), ApiError> {
        if !self.0.is_empty() {
            notification::insert_all(conn, &self.0)?;
        }
        Ok(())
    }
}

/// Queues what a booking change tells the client and the therapist, and (re)arms or drops the
/// booking's reminders; call inside the change's transaction. `before` is the booking as it was
/// (for a reschedule: the old time and therapist).
pub fn booking_changed(
    conn: &mut DbConn,
    config: &Config,
    event: BookingEvent,
    after: &Booking,
    before: Option<&Booking>,
) -> Result<(), ApiError> {
    let (client_kind, change) = match event {
        BookingEvent::Created => (Kind::BookingConfirmed, "made"),
        BookingEvent::Rescheduled => (Kind::BookingRescheduled, "moved"),
        BookingEvent::Cancelled => (Kind::BookingCancelled, "cancelled"),
        BookingEvent::Completed | BookingEvent::NoShow | BookingEvent::WaitlistOffered => {
            return Ok(());
        }
    };
    if event != BookingEvent::Created {
        notification::delete_pending_reminders(conn, &after.id)?;
    }
    let p = parts(conn, config, after)?;
    let previous = before
        .filter(|b| b.start_at != after.start_at)
        .map(|b| local_text(b.start_at, &p.tz));
    let clinic = clinic(config);
    let book_url = format!("{}/", config.public_base_url);
    let invitation = calendar::invitation(&p.booking, &p.names);
    let at = now();
    let mut letters = Letters::default();
    letters.queue(
        Outgoing {
            to: &p.client,
            kind: client_kind,
            booking_id: Some(&after.id),
            calendar: Some(invitation),
            at,
        },
        &BookingMail {
            clinic: clinic.clone(),
            name: &p.client.name,
            b: &p.view,
            previous: previous.clone(),
            book_url: book_url.clone(),
            change,
        },
    )?;
    if after.status == BookingStatus::Confirmed {
        arm_reminders(&mut letters, config, &p, &clinic, &book_url)?;
    }
    // The therapist (if they have a login): the booking as it is now, with the client's name.
    let mut therapist_view = p.view.clone();
    therapist_view.client = Some(p.client.name.clone());
    let moved_away = before.filter(|b| b.therapist_id != after.therapist_id);
    let therapist_change = if moved_away.is_some() && change == "moved" {
        "made"
    } else {
        change
    };
    if let Some(therapist_user) = &p.therapist_user {
        letters.queue(
            Outgoing {
                to: therapist_user,
                kind: Kind::TherapistBookingChanged,
                booking_id: Some(&after.id),
                calendar: None,
                at,
            },
            &BookingMail {
                clinic: clinic.clone(),
                name: &therapist_user.name,
                b: &therapist_view,
                previous: previous.clone().filter(|_| therapist_change == "moved"),
                book_url: book_url.clone(),
                change: therapist_change,
            },
        )?;
    }
    // A booking moved to another therapist: the one it left is told too.
    if let Some(before) = moved_away {
        let old = parts(conn, config, before)?;
        if let Some(old_user) = &old.therapist_user {
            let mut old_view = old.view.clone();
            old_view.client = Some(old.client.name.clone());
            letters.queue(
                Outgoing {
                    to: old_user,
                    kind: Kind::TherapistBookingChanged,
                    booking_id: Some(&after.id),
                    calendar: None,
                    at,
                },
                &BookingMail {
                    clinic: clinic.clone(),
                    name: &old_user.name,
                    b: &old_view,
                    previous: Some(local_text(before.start_at, &old.tz)),
                    book_url,
                    change: "moved_away",
                },
            )?;
        }
    }
    letters.post(conn)
}

/// One reminder per lead time whose moment is still ahead, waiting in the outbox until then.
fn arm_reminders(
    letters: &mut Letters,
    config: &Config,
    p: &Parts,
    clinic: &str,
    book_url: &str,
) -> Result<(), ApiError> {
    let at = now();
    for lead in &config.reminder_before {
        let Some(moment) = p.booking.start_at.checked_sub_signed(*lead) else {
            continue;
        };
        if moment <= at {
            continue;
        }
        letters.queue(
            Outgoing {
                to: &p.client,
                kind: Kind::BookingReminder,
                booking_id: Some(&p.booking.id),
                calendar: None,
                at: moment,
            },
            &BookingMail {
                clinic: clinic.to_owned(),
                name: &p.client.name,
                b: &p.view,
                previous: None,
                book_url: book_url.to_owned(),
                change: "reminder",
            },
        )?;
    }
    Ok(())
}

/// A waitlist offer as its email shows it.
#[derive(Serialize)]
struct OfferView {
    massage: String,
    duration_minutes: i32,
    when: String,
    expires: String,
    timezone: String,
    location: String,
    address: String,
    therapist: String,
}

#[derive(Serialize)]
struct OfferMail<'a> {
    clinic: String,
    name: &'a str,
    o: OfferView,
    book_url: String,
}

/// Queues the email telling a waiting client about the time kept for them by `hold` (a
/// waitlist offer) until it expires; call inside the offer's transaction. Respects the client's
/// `email_notifications`.
pub fn waitlist_offer(
    conn: &mut DbConn,
    config: &Config,
    entry_id: &str,
    hold: &crate::models::hold::Hold,
) -> Result<(), ApiError> {
    let massage = catalog::find_massage_type(conn, &hold.massage_type_id)?;
    let location = catalog::find_location(conn, &hold.location_id)?;
    let therapist = therapist::find(conn, &hold.therapist_id)?;
    let client = user::find(conn, &hold.client_id)?;
    let tz: Zone = location.timezone.parse().unwrap_or_else(|_| Zone::utc());
    let context = OfferMail {
        clinic: clinic(config),
        name: &client.name,
        o: OfferView {
            massage: massage.name,
            duration_minutes: hold.duration_minutes,
            when: local_text(hold.start_at, &tz),
            expires: local_text(hold.expires_at, &tz),
            timezone: tz.name().to_owned(),
            location: location.name,
            address: location.address,
            therapist: therapist.name,
        },
        book_url: format!("{}/#/waitlist/{entry_id}", config.public_base_url),
    };
    let mut letters = Letters::default();
    letters.queue(
        Outgoing {
            to: &client,
            kind: Kind::WaitlistOffer,
            booking_id: None,
            calendar: None,
            at: now(),
        },
        &context,
    )?;
    letters.post(conn)
}

#[derive(Serialize)]
struct ResetMail<'a> {
    clinic: String,
    name: &'a str,
    reset_url: String,
    valid_minutes: i64,
}

/// Queues the password-reset email for `user` carrying the raw single-use `token` (only its
/// hash is stored with the reset); sent whatever the user's `email_notifications`. Once sent,
/// the stored copy of the body is scrubbed of the link.
pub fn password_reset(
    conn: &mut DbConn,
    config: &Config,
    user: &User,
    token: &str,
    expires_at: NaiveDateTime,
) -> Result<(), ApiError> {
    let at = now();
    let mut letters = Letters::default();
    letters.queue(
        Outgoing {
            to: user,
            kind: Kind::PasswordReset,
            booking_id: None,
            calendar: None,
            at,
        },
        &ResetMail {
            clinic: clinic(config),
            name: &user.name,
            reset_url: format!("{}/#/reset-password?token={token}", config.public_base_url),
            // Rounded up: a 60-minute token computed a few microseconds ago still reads 60.
            valid_minutes: ((expires_at - at).num_seconds() + 59).div_euclid(60).max(1),
        },
    )?;
    letters.post(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_the_clinic_writes_them() {
        // Vancouver is UTC−7 all year from 2026-11-01 (tzdata 2026a+): 16:00 UTC is 9:00 AM.
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 8)
            .and_then(|d| d.and_hms_opt(16, 0, 0))
            .unwrap();
        let vancouver: Zone = "America/Vancouver".parse().unwrap();
        assert_eq!(
            local_text(at, &vancouver),
            "Tuesday, December 8, 2026, 9:00 AM"
        );
        // A zone that still changes clocks: Toronto is UTC−5 in December.
        let toronto: Zone = "America/Toronto".parse().unwrap();
        assert_eq!(
            local_text(at, &toronto),
            "Tuesday, December 8, 2026, 11:00 AM"
        );
        assert_eq!(price_text(12000, "CAD"), "$120.00 CAD");
        assert_eq!(price_text(905, "JPY"), "9.05 JPY");
    }
}
