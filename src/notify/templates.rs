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

/// A message's three renderings.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders `kind` with `context` (which must also carry `subject` for the HTML title: it is
/// added here).
pub fn render<C: Serialize>(kind: Kind, context: &C) -> Result<Rendered, ApiError> {
    let env = ENV.as_ref().map_err(|e| ApiError::Internal(e.clone()))?;
    let fail = |e: minijinja::Error| {
        ApiError::Internal(format!("email template {}: {e:#}", kind.as_str()))
    };
    let render = |suffix: &str, ctx: minijinja::Value| {
        env.get_template(&format!("{}.{suffix}", kind.as_str()))
            .and_then(|t| t.render(ctx))
            .map_err(fail)
    };
    let base = minijinja::Value::from(minijinja::value::Serde(context));
    let subject = render("subject.txt", base.clone())?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let with_subject = minijinja::context! { subject => subject.clone(), ..base };
    Ok(Rendered {
        text: render("txt", with_subject.clone())?,
        html: render("html", with_subject)?,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        assert!(ENV.is_ok(), "{:?}", ENV.as_ref().err());
    }
}
