//! The clinic's intake (health-history) form, checking a submission against it, and storing
//! and reading the sealed versions. The form is defined once, here; `GET /intake-form` serves
//! it and the submission check reads it, so the two cannot drift apart.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::crypto::{HealthKey, Kind};
use crate::error::{ApiError, FieldError};
use crate::models::intake::{self, IntakeRow};
use crate::models::new_id;
use crate::validation::{Lines, clean_text, is_blank};

/// Changes whenever a question is added, removed or changes meaning; stored with each version.
pub const FORM_VERSION: &str = "2026-12";
/// The privacy policy a client consents to; a submission must name this one.
pub const PRIVACY_POLICY_VERSION: &str = "2026-01";

/// Lengths are kept so that a whole submission, even in 4-byte characters, fits the 32 KiB body
/// limit.
const SHORT_TEXT_MAX: u32 = 100;
const LONG_TEXT_MAX: u32 = 1000;
pub const LIST_MAX: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// A string of at most `max_length` characters (line breaks allowed).
    Text,
    /// `true` or `false`.
    YesNo,
    /// `YYYY-MM-DD`.
    Date,
    /// One of `options`.
    Choice,
    /// An array of at most 10 single-line strings, each at most `max_length` characters.
    List,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Question {
    /// The key of the answer in `answers`.
    pub id: &'static str,
    pub label: &'static str,
    pub r#type: QuestionType,
    pub required: bool,
    /// For `choice` questions: the allowed answers.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub options: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<&'static str>,
    /// For `text` answers and each item of a `list`: the most characters allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

impl Question {
    fn max_chars(&self) -> usize {
        self.max_length.unwrap_or(SHORT_TEXT_MAX) as usize
    }
}

const fn q(
    id: &'static str,
    label: &'static str,
    r#type: QuestionType,
    required: bool,
) -> Question {
    Question {
        id,
        label,
        r#type,
        required,
        options: &[],
        help: None,
        max_length: match r#type {
            QuestionType::Text | QuestionType::List => Some(SHORT_TEXT_MAX),
            _ => None,
        },
    }
}

/// A registered massage therapist's health history, in the order it is asked.
pub static QUESTIONS: &[Question] = &[
    Question {
        help: Some(
            "Diagnosed conditions, e.g. high blood pressure, diabetes, arthritis, osteoporosis, epilepsy, cancer; an empty list if none.",
        ),
        ..q(
            "current_conditions",
            "Current health conditions",
            QuestionType::List,
            true,
        )
    },
    Question {
        help: Some(
            "Including blood thinners, pain relievers and muscle relaxants; an empty list if none.",
        ),
        ..q(
            "medications",
            "Medications you take",
            QuestionType::List,
            true,
        )
    },
    Question {
        help: Some(
            "Especially to oils, lotions, nuts, latex or fragrances; an empty list if none.",
        ),
        ..q("allergies", "Allergies", QuestionType::List, true)
    },
    q(
        "surgeries",
        "Surgeries or serious injuries in the past five years",
        QuestionType::List,
        false,
    ),
    q("pregnant", "Are you pregnant?", QuestionType::YesNo, true),
    Question {
        help: Some("Only if pregnant."),
        ..q(
            "pregnancy_due_date",
            "Expected due date",
            QuestionType::Date,
            false,
        )
    },
    q(
        "areas_to_avoid",
        "Areas you do not want massaged",
        QuestionType::List,
        false,
    ),
    Question {
        options: &["light", "medium", "firm", "deep"],
        ..q(
            "pressure_preference",
            "Preferred pressure",
            QuestionType::Choice,
            true,
        )
    },
    q(
        "emergency_contact_name",
        "Emergency contact: name",
        QuestionType::Text,
        true,
    ),
    q(
        "emergency_contact_phone",
        "Emergency contact: phone",
        QuestionType::Text,
        true,
    ),
    q(
        "physician_name",
        "Family physician",
        QuestionType::Text,
        false,
    ),
    q(
        "physician_phone",
        "Family physician: phone",
        QuestionType::Text,
        false,
    ),
    q(
        "last_physician_visit",
        "Last visit to your physician",
        QuestionType::Date,
        false,
    ),
    Question {
        max_length: Some(LONG_TEXT_MAX),
        ..q(
            "other_information",
            "Anything else your therapist should know",
            QuestionType::Text,
            false,
        )
    },
];

/// What consenting means, shown with the form.
pub const CONSENT_STATEMENT: &str = "I consent to assessment and massage treatment by a registered massage therapist. I understand I may withdraw consent, or ask to change or stop the treatment, at any time. The information I give is accurate to my knowledge, and I will tell my therapist of any change. I have read the clinic's privacy policy.";

/// A client's consent, as sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// Must be `true`: treatment needs the client's consent.
    pub treatment: bool,
    /// The privacy policy the client read; must be the current one (see `GET /intake-form`).
    #[schema(example = "2026-01", max_length = 32)]
    pub privacy_policy_version: String,
}

/// One stored version, opened.
#[derive(Debug, Clone)]
pub struct IntakeVersion {
    pub client_id: String,
    pub version: i32,
    pub form_version: String,
    pub answers: Map<String, Value>,
    pub consent: Consent,
    pub submitted_at: NaiveDateTime,
}

/// Checks `answers` against the form; the answers as stored (text trimmed, nulls dropped), or
/// every problem found, each naming its field (`answers.allergies`).
pub fn check_answers(answers: &Map<String, Value>) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    for key in answers.keys() {
        if !QUESTIONS.iter().any(|q| q.id == key) {
            errors.push(FieldError::new(
                format!("answers.{key}"),
                "is not a question on the intake form",
            ));
        }
    }
    let mut clean = Map::new();
    for question in QUESTIONS {
        let field = format!("answers.{}", question.id);
        match answers.get(question.id) {
            None | Some(Value::Null) => {
                if question.required {
                    errors.push(FieldError::new(field, "is required"));
                }
            }
            Some(value) => {
                if let Some(value) = check_answer(&mut errors, &field, question, value) {
                    clean.insert(question.id.to_owned(), value);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(clean)
    } else {
        Err(errors)
    }
}

fn check_answer(
    errors: &mut Vec<FieldError>,
    field: &str,
    question: &Question,
    value: &Value,
) -> Option<Value> {
    let wrong = |errors: &mut Vec<FieldError>, what: &str| {
        errors.push(FieldError::new(field, format!("must be {what}")));
        None
    };
    match question.r#type {
        QuestionType::YesNo => match value {
            Value::Bool(_) => Some(value.clone()),
            _ => wrong(errors, "true or false"),
        },
        QuestionType::Text => match value {
            Value::String(s) => checked_text(errors, field, s, question.max_chars(), Lines::Many),
            _ => wrong(errors, "a string"),
        },
        QuestionType::Date => match value.as_str().map(crate::api::bounds::path_date) {
            Some(Some(date)) => Some(Value::from(date.to_string())),
            _ => wrong(errors, "a date written YYYY-MM-DD"),
        },
        QuestionType::Choice => match value.as_str() {
            Some(s) if question.options.contains(&s) => Some(value.clone()),
            _ => wrong(errors, &format!("one of: {}", question.options.join(", "))),
        },
        QuestionType::List => {
            let Some(items) = value.as_array() else {
                return wrong(errors, "an array of strings");
            };
            if items.len() > LIST_MAX {
                return wrong(errors, &format!("at most {LIST_MAX} items"));
            }
            let mut kept = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let item_field = format!("{field}[{i}]");
                match item {
                    Value::String(s) => {
                        if let Some(Value::String(s)) =
                            checked_text(errors, &item_field, s, question.max_chars(), Lines::One)
                            && !s.is_empty()
                        {
                            kept.push(Value::String(s));
                        }
                    }
                    _ => {
                        errors.push(FieldError::new(item_field, "must be a string"));
                    }
                }
            }
            Some(Value::Array(kept))
        }
    }
}

fn checked_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    max: usize,
    lines: Lines,
) -> Option<Value> {
    if !clean_text(errors, field, value, lines) {
        return None;
    }
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
        return None;
    }
    Some(Value::String(value.trim_matches(is_blank).to_owned()))
}

/// Checks the consent: treatment consented to, the current privacy policy named.
pub fn check_consent(consent: &Consent) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !consent.treatment {
        errors.push(FieldError::new(
            "consent.treatment",
            "must be true: treatment needs the client's consent",
        ));
    }
    if consent.privacy_policy_version != PRIVACY_POLICY_VERSION {
        errors.push(FieldError::new(
            "consent.privacy_policy_version",
            format!("must be the current privacy policy, `{PRIVACY_POLICY_VERSION}`"),
        ));
    }
    errors
}

/// The sealed part of a version.
#[derive(Serialize, Deserialize)]
struct Sealed {
    answers: Map<String, Value>,
}

/// Stores a checked submission as the client's next version, inside the caller's transaction.
pub fn submit(
    conn: &mut crate::db::DbConn,
    key: &HealthKey,
    client_id: &str,
    answers: Map<String, Value>,
    consent: Consent,
    at: NaiveDateTime,
) -> Result<IntakeVersion, ApiError> {
    let version = intake::latest_version(conn, client_id)?.unwrap_or(0) + 1;
    let id = new_id();
    let plaintext = serde_json::to_vec(&Sealed { answers }).map_err(ApiError::internal)?;
    let sealed = key
        .seal(Kind::Intake, &id, &plaintext)
        .map_err(ApiError::internal)?;
    let row = IntakeRow {
        id,
        client_id: client_id.to_owned(),
        version,
        form_version: FORM_VERSION.to_owned(),
        consent_treatment: consent.treatment,
        privacy_policy_version: consent.privacy_policy_version,
        submitted_at: at,
        key_id: sealed.key_id,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
    };
    intake::insert(conn, &row)?;
    open(key, row)
}

/// Opens a stored version; a record the key does not open is a 500 (logged with the reason),
/// never garbage.
pub fn open(key: &HealthKey, row: IntakeRow) -> Result<IntakeVersion, ApiError> {
    let plaintext = key
        .open(Kind::Intake, &row.id, &super::intake_sealed(&row))
        .map_err(ApiError::internal)?;
    let sealed: Sealed = serde_json::from_slice(&plaintext).map_err(|e| {
        ApiError::internal(format!("intake version {} does not parse: {e}", row.id))
    })?;
    Ok(IntakeVersion {
        client_id: row.client_id,
        version: row.version,
        form_version: row.form_version,
        answers: sealed.answers,
        consent: Consent {
            treatment: row.consent_treatment,
            privacy_policy_version: row.privacy_policy_version,
        },
        submitted_at: row.submitted_at,
    })
}

pub fn latest(
    conn: &mut crate::db::DbConn,
    key: &HealthKey,
    client_id: &str,
) -> Result<Option<IntakeVersion>, ApiError> {
    intake::latest(conn, client_id)?
        .map(|row| open(key, row))
        .transpose()
}

pub fn versions(
    conn: &mut crate::db::DbConn,
    key: &HealthKey,
    client_id: &str,
) -> Result<Vec<IntakeVersion>, ApiError> {
    intake::all_for(conn, client_id)?
        .into_iter()
        .map(|row| open(key, row))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid() -> Map<String, Value> {
        json!({
            "current_conditions": ["lower back pain"],
            "medications": [],
            "allergies": ["arnica"],
            "pregnant": false,
            "pressure_preference": "medium",
            "emergency_contact_name": "Sam Lee",
            "emergency_contact_phone": "604-555-0100",
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_complete_form_passes_and_is_normalized() {
        let mut answers = valid();
        answers.insert("physician_name".into(), json!("  Dr. Ng  "));
        answers.insert("surgeries".into(), json!(["", "knee, 2024"]));
        answers.insert("last_physician_visit".into(), Value::Null);
        let clean = check_answers(&answers).unwrap();
        assert_eq!(clean["physician_name"], "Dr. Ng");
        assert_eq!(clean["surgeries"], json!(["knee, 2024"]));
        assert!(!clean.contains_key("last_physician_visit"));
    }

    #[test]
    fn unknown_keys_wrong_types_and_missing_answers_name_the_field() {
        let mut answers = valid();
        answers.insert("favourite_colour".into(), json!("blue"));
        answers.insert("allergies".into(), json!("arnica"));
        answers.insert("pregnant".into(), json!("no"));
        answers.insert("pressure_preference".into(), json!("crushing"));
        answers.insert("pregnancy_due_date".into(), json!("2026-02-30"));
        answers.insert("medications".into(), json!([1]));
        answers.remove("emergency_contact_name");
        let found = fields(check_answers(&answers).unwrap_err());
        for field in [
            "answers.favourite_colour",
            "answers.allergies",
            "answers.pregnant",
            "answers.pressure_preference",
            "answers.pregnancy_due_date",
            "answers.medications[0]",
            "answers.emergency_contact_name",
        ] {
            assert!(found.contains(&field.to_owned()), "{field} in {found:?}");
        }
    }

    #[test]
    fn consent_must_be_given_to_the_current_policy() {
        let ok = Consent {
            treatment: true,
            privacy_policy_version: PRIVACY_POLICY_VERSION.into(),
        };
        assert!(check_consent(&ok).is_empty());
        let refused = Consent {
            treatment: false,
            privacy_policy_version: "2019-01".into(),
        };
        assert_eq!(
            fields(check_consent(&refused)),
            ["consent.treatment", "consent.privacy_policy_version"]
        );
    }

    #[test]
    fn question_ids_are_unique_and_choices_have_options() {
        let mut ids: Vec<_> = QUESTIONS.iter().map(|q| q.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), QUESTIONS.len());
        for q in QUESTIONS {
            assert_eq!(
                q.r#type == QuestionType::Choice,
                !q.options.is_empty(),
                "{}",
                q.id
            );
        }
    }
}
