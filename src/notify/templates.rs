//! The email templates (minijinja), embedded in the binary: for each kind a subject, a plain-text
//! body and an HTML body (auto-escaped, extending `layout.html`); `_details` and `_policy` are
//! shared parts.

use std::sync::LazyLock;

use minijinja::Environment;
use serde::Serialize;

use crate::error::ApiError;
use crate::models::notification::Kind;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

const SOURCES: [(&str, &str); 26] = templates![
    "layout.html",
    "_details.txt",
    "_details.html",
    "_policy.txt",
    "_policy.html",
    "booking_confirmed.subject.txt",
    "booking_confirmed.txt",
    "booking_confirmed.html",
    "booking_rescheduled.subject.txt",
    "booking_rescheduled.txt",
    "booking_rescheduled.html",
    "booking_cancelled.subject.txt",
    "booking_cancelled.txt",
    "booking_cancelled.html",
    "booking_reminder.subject.txt",
    "booking_reminder.txt",
    "booking_reminder.html",
    "password_reset.subject.txt",
    "password_reset.txt",
    "password_reset.html",
    "therapist_booking_changed.subject.txt",
    "therapist_booking_changed.txt",
    "therapist_booking_changed.html",
    "waitlist_offer.subject.txt",
    "waitlist_offer.txt",
    "waitlist_offer.html",
];

static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Undefined variables are errors, so a misspelt name fails the tests instead of printing
    // nothing.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in SOURCES {
        env.add_template(name, source)
            .map_err(|e| format!("email template {name}: {e}"))?;
    }
    Ok(env)
});

/// The subject of `kind` with `context`, on one line.
pub fn subject<C: Serialize>(kind: Kind, context: &C) -> Result<String, ApiError> {
    let base = minijinja::Value::from(minijinja::value::Serde(context));
    Ok(render(kind, "subject.txt", base)
        .map_err(ApiError::Internal)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" "))
}

/// The text and HTML bodies of `kind` from its stored `context` (JSON, as [`subject`] was given
/// it) and its `subject` (the HTML's title).
pub fn bodies(kind: Kind, subject: &str, context: &str) -> Result<(String, String), String> {
    let base: serde_json::Value = serde_json::from_str(context)
        .map_err(|e| format!("the stored context of a {} email: {e}", kind.as_str()))?;
    let with_subject = minijinja::context! { subject => subject, ..minijinja::Value::from(minijinja::value::Serde(&base)) };
    Ok((
        render(kind, "txt", with_subject.clone())?,
        render(kind, "html", with_subject)?,
    ))
}

fn render(kind: Kind, suffix: &str, context: minijinja::Value) -> Result<String, String> {
    let env = ENV.as_ref().map_err(Clone::clone)?;
    env.get_template(&format!("{}.{suffix}", kind.as_str()))
        .and_then(|t| t.render(context))
        .map_err(|e| format!("email template {}: {e:#}", kind.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        assert!(ENV.is_ok(), "{:?}", ENV.as_ref().err());
    }
}
