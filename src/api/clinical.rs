//! Clinical records over HTTP: the intake form, a client's intake versions, and treatment
//! notes. Who may read is `clinical::check_reader` (the client, admins, and therapists who have
//! or had a booking with the client; everyone else 404). Every read and write is audited in the
//! transaction that reads or writes (see `crate::audit`). Bodies are never logged.

use actix_web::{HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::no_store;
use super::{ApiJson, PathId, check, utc};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::AuthUser;
use crate::clinical::intake::{
    self, CONSENT_STATEMENT, Consent, FORM_VERSION, IntakeVersion, PRIVACY_POLICY_VERSION,
    QUESTIONS, Question, QuestionType,
};
use crate::clinical::notes::{self, Note, Soap};
use crate::error::{ApiError, Problem};
use crate::models::now;
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(intake_form)
        .service(get_my_intake)
        .service(put_my_intake)
        .service(get_client_intake)
        .service(list_client_intake_versions)
        .service(put_treatment_note)
        .service(get_treatment_note);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentForm {
    /// What the client consents to.
    pub statement: &'static str,
    /// The privacy policy in force; a submission's consent must name it.
    pub privacy_policy_version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntakeForm {
    /// Changes whenever the questions change; each submission records the version it answered.
    pub version: &'static str,
    pub questions: Vec<Question>,
    pub consent: ConsentForm,
}

/// The JSON Schema of `answers`, derived from the form itself.
fn answers_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{
        AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType,
        Type,
    };
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "One answer per question of `GET /intake-form`, keyed by its id.",
        ))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for question in QUESTIONS {
        // An optional question may be answered `null` (no answer; it is not stored).
        let ty = |t: Type| -> SchemaType {
            if question.required {
                SchemaType::Type(t)
            } else {
                [t, Type::Null].into_iter().collect()
            }
        };
        let schema: utoipa::openapi::Schema = match question.r#type {
            QuestionType::Text => ObjectBuilder::new()
                .schema_type(ty(Type::String))
                .max_length(question.max_length.map(|n| n as usize))
                .pattern(Some(super::MULTI_LINE_PATTERN))
                .into(),
            QuestionType::YesNo => ObjectBuilder::new().schema_type(ty(Type::Boolean)).into(),
            QuestionType::Date => ObjectBuilder::new()
                .schema_type(ty(Type::String))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
                .into(),
            QuestionType::Choice => ObjectBuilder::new()
                .schema_type(ty(Type::String))
                .enum_values(Some(
                    question
                        .options
                        .iter()
                        .map(|o| serde_json::Value::from(*o))
                        .chain((!question.required).then_some(serde_json::Value::Null)),
                ))
                .into(),
            QuestionType::List => ArrayBuilder::new()
                .schema_type(ty(Type::Array))
                .items(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .max_length(question.max_length.map(|n| n as usize))
                        .pattern(Some(
                            r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$",
                        )),
                )
                .max_items(Some(intake::LIST_MAX))
                .into(),
        };
        object = object.property(question.id, schema);
        if question.required {
            object = object.required(question.id);
        }
    }
    object.build()
}

/// The consent as the schema states it: only `true` and the current policy are accepted.
fn consent_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "treatment",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([true]))
                .description(Some(
                    "Must be `true`: treatment needs the client's consent.",
                )),
        )
        .required("treatment")
        .property(
            "privacy_policy_version",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([PRIVACY_POLICY_VERSION]))
                .description(Some("The privacy policy in force (`GET /intake-form`).")),
        )
        .required("privacy_policy_version")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    #[schema(schema_with = answers_schema)]
    pub answers: Map<String, Value>,
    #[schema(schema_with = consent_schema)]
    pub consent: Consent,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentOut {
    pub treatment: bool,
    pub privacy_policy_version: String,
    /// When the consent was given (the version's submission).
    pub given_at: DateTime<Utc>,
}

/// One version of a client's intake.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntakeOut {
    #[schema(value_type = String, format = Uuid)]
    pub client_id: String,
    /// 1 for the first submission, then one more for each.
    pub version: i32,
    /// The form version answered.
    pub form_version: String,
    #[schema(value_type = Object)]
    pub answers: Map<String, Value>,
    pub consent: ConsentOut,
    pub submitted_at: DateTime<Utc>,
}

impl From<IntakeVersion> for IntakeOut {
    fn from(v: IntakeVersion) -> Self {
        Self {
            client_id: v.client_id,
            version: v.version,
            form_version: v.form_version,
            answers: v.answers,
            consent: ConsentOut {
                treatment: v.consent.treatment,
                privacy_policy_version: v.consent.privacy_policy_version,
                given_at: utc(v.submitted_at),
            },
            submitted_at: utc(v.submitted_at),
        }
    }
}

/// Every version of a client's intake, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntakeVersions {
    pub items: Vec<IntakeOut>,
}

/// The clinic's intake (health-history) form.
#[utoipa::path(
    tag = "clinical",
    responses((status = 200, description = "The questions, their ids and types, and the consent asked for", body = IntakeForm))
)]
#[get("/intake-form")]
async fn intake_form() -> web::Json<IntakeForm> {
    web::Json(IntakeForm {
        version: FORM_VERSION,
        questions: QUESTIONS.to_vec(),
        consent: ConsentForm {
            statement: CONSENT_STATEMENT,
            privacy_policy_version: PRIVACY_POLICY_VERSION,
        },
    })
}

/// Reads the latest version (or all) of a client's intake as `caller`, auditing the read.
async fn read_intake<T: Send + 'static>(
    state: &web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    client_id: String,
    read: impl FnOnce(
        &mut crate::db::DbConn,
        &crate::clinical::crypto::HealthKey,
        &str,
    ) -> Result<T, ApiError>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let key = state.health_key.clone();
    let ctx = meta.actor(&caller);
    state
        .write(move |conn| {
            crate::clinical::check_reader(conn, &caller, &client_id)?;
            let found = read(conn, &key, &client_id)?;
            audit::record(
                conn,
                &ctx,
                Action::IntakeRead,
                Subject::Client,
                Some(&client_id),
            )?;
            Ok(found)
        })
        .await
}

fn latest_or_404(
    conn: &mut crate::db::DbConn,
    key: &crate::clinical::crypto::HealthKey,
    client_id: &str,
) -> Result<IntakeOut, ApiError> {
    intake::latest(conn, key, client_id)?
        .map(IntakeOut::from)
        .ok_or(ApiError::NotFound)
}

/// The caller's latest intake.
#[utoipa::path(
    tag = "clinical",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest version (sent with `Cache-Control: no-store`)", body = IntakeOut),
        (status = 404, description = "No intake on file yet", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me/intake")]
async fn get_my_intake(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = caller.id().to_owned();
    let found = read_intake(&state, caller, meta, id, latest_or_404).await?;
    Ok(no_store(HttpResponse::Ok()).json(found))
}

/// Submit the caller's intake: a new version each time; earlier versions are kept.
#[utoipa::path(
    tag = "clinical",
    security(("bearer" = [])),
    request_body = IntakeRequest,
    responses(
        (status = 200, description = "Stored as the newest version", body = IntakeOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An answer that is not on the form, of the wrong type or missing (the field is named, e.g. `answers.allergies`), or no consent to treatment", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/me/intake")]
async fn put_my_intake(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<IntakeRequest>,
) -> Result<HttpResponse, ApiError> {
    let (answers, mut errors) = match intake::check_answers(&body.answers) {
        Ok(answers) => (answers, Vec::new()),
        Err(errors) => (Map::new(), errors),
    };
    errors.extend(intake::check_consent(&body.consent));
    check(errors)?;
    let key = state.health_key.clone();
    let ctx = meta.actor(&caller);
    let client_id = caller.id().to_owned();
    let stored = state
        .write(move |conn| {
            let stored = intake::submit(conn, &key, &client_id, answers, body.consent, now())?;
            audit::record(
                conn,
                &ctx,
                Action::IntakeWrite,
                Subject::Client,
                Some(&client_id),
            )?;
            Ok(stored)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(IntakeOut::from(stored)))
}

/// A client's latest intake (the client, an admin, or a therapist who has or had a booking with
/// them).
#[utoipa::path(
    tag = "clinical",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The client's user id")),
    responses(
        (status = 200, description = "The latest version", body = IntakeOut),
        (status = 404, description = "No such client, not one the caller may read, or no intake on file", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/clients/{id}/intake")]
async fn get_client_intake(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let found = read_intake(&state, caller, meta, id, latest_or_404).await?;
    Ok(no_store(HttpResponse::Ok()).json(found))
}

/// Every version of a client's intake, oldest first (same readers as the intake).
#[utoipa::path(
    tag = "clinical",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The client's user id")),
    responses(
        (status = 200, description = "All versions (empty when none is on file)", body = IntakeVersions),
        (status = 404, description = "No such client, or not one the caller may read", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/clients/{id}/intake/versions")]
async fn list_client_intake_versions(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let items = read_intake(&state, caller, meta, id, |conn, key, client_id| {
        Ok(intake::versions(conn, key, client_id)?
            .into_iter()
            .map(IntakeOut::from)
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(IntakeVersions { items }))
}

/// Four parts in 4-byte characters still fit the 32 KiB body limit.
const NOTE_MAX: usize = 2000;

/// A treatment note in SOAP form. Each part may be empty; line breaks are allowed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TreatmentNoteRequest {
    /// What the client reports.
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub subjective: String,
    /// What the therapist found (tests, palpation, range of motion).
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub objective: String,
    /// The therapist's assessment and the treatment given.
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub assessment: String,
    /// Home care and the plan for the next visits.
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub plan: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TreatmentNoteOut {
    #[schema(value_type = String, format = Uuid)]
    pub booking_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub client_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub therapist_id: String,
    /// The login that wrote the current text.
    #[schema(value_type = String, format = Uuid)]
    pub author_id: String,
    pub subjective: String,
    pub objective: String,
    pub assessment: String,
    pub plan: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Note> for TreatmentNoteOut {
    fn from(n: Note) -> Self {
        Self {
            booking_id: n.booking_id,
            client_id: n.client_id,
            therapist_id: n.therapist_id,
            author_id: n.author_id,
            subjective: n.soap.subjective,
            objective: n.soap.objective,
            assessment: n.soap.assessment,
            plan: n.soap.plan,
            created_at: utc(n.created_at),
            updated_at: utc(n.updated_at),
        }
    }
}

/// Write (or rewrite) a booking's treatment note: the booking's therapist, once it has started.
#[utoipa::path(
    tag = "clinical",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    request_body = TreatmentNoteRequest,
    responses(
        (status = 200, description = "Stored", body = TreatmentNoteOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The booking's client, or an admin: only its therapist writes the note", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not-started`: the booking has not started yet; `not-treated`: it was cancelled or a no-show", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/bookings/{id}/notes/treatment")]
async fn put_treatment_note(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<TreatmentNoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let mut part = |field: &str, value: &str| super::free_text(&mut errors, field, value, NOTE_MAX);
    let soap = Soap {
        subjective: part("subjective", &body.subjective),
        objective: part("objective", &body.objective),
        assessment: part("assessment", &body.assessment),
        plan: part("plan", &body.plan),
    };
    check(errors)?;
    let key = state.health_key.clone();
    let ctx = meta.actor(&caller);
    let note = state
        .write(move |conn| {
            let note = notes::write(conn, &key, &caller, &id, soap, now())?;
            audit::record(conn, &ctx, Action::NotesWrite, Subject::Booking, Some(&id))?;
            Ok(note)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(TreatmentNoteOut::from(note)))
}

/// A booking's treatment note (the client, an admin, or a therapist who has or had a booking
/// with the client).
#[utoipa::path(
    tag = "clinical",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "The note", body = TreatmentNoteOut),
        (status = 404, description = "No such booking, not one the caller may read, or no note yet", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/bookings/{id}/notes/treatment")]
async fn get_treatment_note(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let key = state.health_key.clone();
    let ctx = meta.actor(&caller);
    let note = state
        .write(move |conn| {
            let note = notes::read(conn, &key, &caller, &id)?;
            audit::record(conn, &ctx, Action::NotesRead, Subject::Booking, Some(&id))?;
            Ok(note)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(TreatmentNoteOut::from(note)))
}
