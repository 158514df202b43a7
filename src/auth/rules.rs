//! The rules for a login's email and password, shared by the API and the CLI.

use crate::auth::password;
use crate::error::ApiError;
use crate::models::user;
use crate::validation::{Lines, clean_text};

/// The same rule as the spec's pattern: an ASCII dot-atom local part, `@`, and a domain of two or
/// more labels of letters, digits and inner hyphens.
pub fn check_email(email: &str) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if !clean_text(&mut errors, "email", email, Lines::One) {
        return Err(ApiError::validation_many(errors));
    }
    let email = user::normalize_email(email);
    let email = email.as_str();
    const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    let atom = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
    };
    let label = |part: &str| {
        !part.is_empty()
            && part.len() <= 63
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    };
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            local.len() <= 64
                && local.split('.').all(atom)
                && domain.split('.').count() >= 2
                && domain.split('.').all(label)
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::validation(
            "email",
            "must be a valid email address",
        ))
    }
}

/// The password policy (`auth::password::check_new`) as a field error; `user_inputs` are the
/// account's email and name.
pub fn check_password(password: &str, user_inputs: &[&str]) -> Result<(), ApiError> {
    check_password_field("password", password, user_inputs)
}

/// The same, naming another field (`new_password`).
pub fn check_password_field(
    field: &'static str,
    password: &str,
    user_inputs: &[&str],
) -> Result<(), ApiError> {
    password::check_new(password, user_inputs)
        .map_err(|weakness| ApiError::validation(field, weakness.message()))
}
