//! HTTP handlers, one file per resource, with their request/response types. Shared here: the
//! JSON and query extractors that turn every parse failure into a problem+json answer, page
//! types and cursors, and small validation helpers.

pub mod api_tokens;
pub mod auth;
pub mod bookings;
pub mod bounds;
pub mod calendar;
pub mod calendars;
pub mod catalog;
pub mod ops;
pub mod schedules;
pub mod slots;
pub mod therapists;
pub mod users;
pub mod webhooks;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, FieldError};

pub const BODY_LIMIT: usize = 32 * 1024;
pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

/// Registers every `/api/v1` handler; the same registration feeds the router and the spec.
/// `auth_limit`, when given, rate-limits the login, registration and refresh endpoints.
pub fn routes(cfg: &mut ServiceConfig, auth_limit: Option<&crate::limits::IpLimit>) {
    let limiter = auth_limit
        .cloned()
        .unwrap_or_else(|| crate::limits::auth_limit(&[]));
    cfg.service(
        utoipa_actix_web::scope("/auth")
            .wrap(actix_web::middleware::Condition::new(
                auth_limit.is_some(),
                actix_governor::Governor::new(&limiter),
            ))
            .configure(auth::routes),
    );
    auth::me_routes(cfg);
    users::routes(cfg);
    catalog::routes(cfg);
    therapists::routes(cfg);
    schedules::routes(cfg);
    slots::routes(cfg);
    // Before bookings: `/bookings/{id}.ics` must be tried before `/bookings/{id}`.
    calendar::routes(cfg);
    bookings::routes(cfg);
    api_tokens::routes(cfg);
    webhooks::routes(cfg);
}

// ---------------------------------------------------------------------------------------------
// Extractors
// ---------------------------------------------------------------------------------------------

/// A JSON body, at most 32 KiB, whose failures name the offending field without echoing serde's
/// text: syntax and type errors are 400, well-formed but invalid content is 422.
pub struct ApiJson<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.subtype() == mime::JSON || mime.suffix().is_some_and(|s| s == mime::JSON)
        }
        _ => false,
    }
}

fn join_path(path: &str, field: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

pub(crate) fn classify_body_error(
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> ApiError {
    use serde_json::error::Category;
    let inner = error.inner();
    let path = error.path().to_string();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::BadRequest(format!(
            "The body is not valid JSON (line {}, column {}).",
            inner.line(),
            inner.column()
        )),
        Category::Data => {
            let message = inner.to_string();
            if message.starts_with("invalid type") {
                let field = if path == "." { "body".to_owned() } else { path };
                let error = FieldError::new(field, "has the wrong type");
                ApiError::BadRequest(format!("`{}` {}.", error.field, error.message))
            } else if message.starts_with("missing field") {
                let name = backticked(&message).unwrap_or("?");
                ApiError::validation(join_path(&path, name), "is required")
            } else if message.starts_with("unknown field") {
                // The path already ends at the unknown field.
                ApiError::validation(path, "is not a field that may be set")
            } else if message.starts_with("unknown variant") {
                ApiError::validation(path, "is not one of the allowed values")
            } else if let Some(why) = bounds::out_of_range_message(&message) {
                ApiError::validation(path, why)
            } else {
                ApiError::validation(path, "has an invalid value")
            }
        }
    }
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // First as untyped JSON, so syntax errors are told apart from content errors.
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "The body is not valid JSON (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })?;
    // serde would also read a struct from a JSON array; every body here is an object.
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "The body must be a JSON object.".to_owned(),
        ));
    }
    integral_floats_to_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| classify_body_error(&e))
}

/// JSON has one number type: `60.0` is the integer 60 for JSON Schema, so it is for us too.
fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// How long a body may take to arrive when the app state is not at hand (it always is in the
/// server); `REQUEST_BODY_TIMEOUT_SECS` sets it.
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn body_timeout(req: &HttpRequest) -> std::time::Duration {
    req.app_data::<web::Data<crate::state::AppState>>()
        .map_or(DEFAULT_BODY_TIMEOUT, |state| {
            state.config.request_body_timeout
        })
}

/// Reads the body, at most `BODY_LIMIT` bytes, within `limit`: a client that sends its head and
/// then trickles (or withholds) the body is answered 408 and disconnected, instead of holding a
/// connection and a file descriptor for as long as it likes.
async fn read_body(
    payload: Payload,
    limit: std::time::Duration,
) -> Result<web::BytesMut, ApiError> {
    tokio::time::timeout(limit, read_all(payload))
        .await
        .unwrap_or(Err(ApiError::RequestTimeout))
}

async fn read_all(mut payload: Payload) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::BadRequest("The body could not be read.".to_owned()))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn declared_too_large(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > BODY_LIMIT)
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let too_large = declared_too_large(req);
        let timeout = body_timeout(req);
        let payload = payload.take();
        Box::pin(async move {
            if too_large {
                return Err(ApiError::PayloadTooLarge);
            }
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let body = read_body(payload, timeout).await?;
            parse_json(&body).map(ApiJson)
        })
    }
}

/// An optional JSON body: empty means `T::default()`; otherwise the same rules as `ApiJson`.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let too_large = declared_too_large(req);
        let timeout = body_timeout(req);
        let payload = payload.take();
        Box::pin(async move {
            if too_large {
                return Err(ApiError::PayloadTooLarge);
            }
            let body = read_body(payload, timeout).await?;
            let trimmed = body.trim_ascii();
            if trimmed.is_empty() || trimmed == b"null" {
                return Ok(OptionalJson(T::default()));
            }
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            parse_json(&body).map(OptionalJson)
        })
    }
}

/// Query parameters; any failure to parse them is a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(req.query_string()));
        let result = serde_path_to_error::deserialize::<_, T>(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.inner().to_string();
                if let Some(why) = bounds::out_of_range_message(&message) {
                    return ApiError::validation(path, why);
                }
                let field = if message.starts_with("missing field")
                    || message.starts_with("unknown field")
                {
                    backticked(&message).unwrap_or("?").to_owned()
                } else {
                    path
                };
                let what = if message.starts_with("missing field") {
                    "is required"
                } else if message.starts_with("unknown field") {
                    "is not a known parameter"
                } else {
                    "is not valid"
                };
                ApiError::BadRequest(format!("Query parameter `{field}` {what}."))
            });
        std::future::ready(result)
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Pages and cursors
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Checks `limit` (default 20, at most 100) and decodes `cursor`; returns the SQL limit, which
/// fetches one extra row to know whether another page exists.
pub fn page_params(
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<(u32, Option<String>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::validation(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let cursor = cursor.map(decode_cursor).transpose()?;
    Ok((limit, cursor))
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Cursors are base64url text. Anything in that alphabet is accepted as a position (a cursor
/// that was not issued by us simply lands somewhere in the order); other characters are 400.
pub fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let well_formed = !cursor.is_empty()
        && cursor.len() <= 200
        && cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(ApiError::BadRequest(
            "Query parameter `cursor` is not valid.".to_owned(),
        ));
    }
    Ok(URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|_| cursor.to_owned()))
}

/// Builds a page from rows fetched with `limit + 1`.
pub fn into_page<R, T>(
    mut rows: Vec<R>,
    limit: u32,
    key: impl Fn(&R) -> String,
    map: impl FnMut(R) -> T,
) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| encode_cursor(&key(r)))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(map).collect(),
        next_cursor,
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

pub fn utc(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
}

/// Required texts carry [`REQUIRED_TEXT_PATTERN`]: at least one character that is not blank.
/// JSON Schema patterns are ECMA-262 regexes, whose `\s` lacks U+0085 (NEL), which Rust counts
/// as white space (NEL is a control character, refused anyway), and has U+FEFF, which Rust does
/// not count (so [`is_blank`] adds it, and the pattern names it). Spec and server then agree on
/// exactly which texts are blank: white space by either definition.
pub fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// Whether a text may break lines; if so, with LF only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Characters no text from a request may hold: the C0 and C1 controls (Unicode category `Cc`;
/// in a multi-line text all but LF, so CR and CRLF too) and the bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make a text display otherwise
/// than it reads. They would reach the calendar feeds, e-mails and logs; NUL cannot even be
/// stored in PostgreSQL. The spec's patterns on text fields exclude exactly these:
/// [`REQUIRED_TEXT_PATTERN`] on required single-line texts, [`MULTI_LINE_PATTERN`] on free
/// texts; the other single-line texts (email, phone, slug, URL) have narrower ASCII patterns.
pub fn is_forbidden(c: char, lines: Lines) -> bool {
    if c == '\n' {
        return lines == Lines::One;
    }
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The OpenAPI pattern of a text that may hold LF (kept in step with [`is_forbidden`]; the
/// `schema` attributes repeat it literally, and a test checks that they do).
pub const MULTI_LINE_PATTERN: &str =
    r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$";
/// A required single-line text: no forbidden character and at least one that is not blank
/// ([`is_blank`]; ECMA-262's `\s` plus U+FEFF, named since not every engine's `\s` has it).
pub const REQUIRED_TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFEFF][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$";

/// The one check every text from a request goes through: refuses (422 naming `field`) a text
/// holding a character [`is_forbidden`] names. Returns whether the text is clean.
pub fn clean_text(errors: &mut Vec<FieldError>, field: &str, value: &str, lines: Lines) -> bool {
    match value.chars().find(|&c| is_forbidden(c, lines)) {
        None => true,
        Some('\n') => {
            errors.push(FieldError::new(field, "must be a single line"));
            false
        }
        Some(c) => {
            errors.push(FieldError::new(
                field,
                format!(
                    "must not contain control or bidirectional-control characters (found U+{:04X})",
                    u32::from(c)
                ),
            ));
            false
        }
    }
}

/// A required human-readable single-line text: no control characters, at most `max`
/// characters as sent (what the spec's `maxLength` counts), not blank, and stored trimmed.
pub fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    let trimmed = value.trim_matches(is_blank);
    if !clean_text(errors, field, value, Lines::One) {
        // One error per field.
    } else if trimmed.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    trimmed.to_owned()
}

/// An optional free text that may span lines (notes, reasons, descriptions, bios): LF is its
/// only control character, at most `max` characters as sent; stored trimmed, possibly empty.
pub fn free_text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    if clean_text(errors, field, value, Lines::Many) && value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    value.trim().to_owned()
}

pub fn check(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation_many(errors))
    }
}

/// Path ids that are not UUIDs cannot name anything: 404.
pub fn path_error_handler(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    #[param(pattern = "^[A-Za-z0-9_-]{1,200}$")]
    pub cursor: Option<String>,
}

/// For PATCH fields that may be set to null: absent → None, null → Some(None).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

pub fn created(location: String) -> actix_web::HttpResponseBuilder {
    let mut builder = actix_web::HttpResponse::Created();
    builder.insert_header((header::LOCATION, location));
    builder
}

/// Time off may not swallow confirmed bookings: 409 listing each one it would overlap.
pub fn time_off_guard(
    conn: &mut crate::db::DbConn,
    entry: &crate::models::schedule::TimeOff,
) -> Result<(), ApiError> {
    let clashes = crate::models::booking::confirmed_overlapping(
        conn,
        &entry.therapist_id,
        entry.starts_at,
        entry.ends_at,
    )?;
    if clashes.is_empty() {
        return Ok(());
    }
    Err(ApiError::Conflict {
        kind: "bookings-overlap",
        detail: format!(
            "The time off overlaps {} confirmed booking(s); cancel or move them first.",
            clashes.len()
        ),
        errors: clashes
            .iter()
            .map(|b| {
                FieldError::new(
                    "bookings",
                    format!("{} starts {}", b.id, utc(b.start_at).to_rfc3339()),
                )
            })
            .collect(),
    })
}

/// Every IANA zone name chrono-tz knows, so clients (and generated tests) see exactly which
/// `timezone` values are accepted.
pub fn timezone_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("IANA time zone name, e.g. `America/Vancouver`."))
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .build()
}

/// The same, where `null` means "leave unchanged" (PATCH).
pub fn optional_timezone_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some("IANA time zone name, e.g. `America/Vancouver`."))
        .enum_values(Some(
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| serde_json::Value::from(tz.name()))
                .chain([serde_json::Value::Null]),
        ))
        .build()
}

/// Runs a delete (or revoke) that reports how many rows it touched: none is 404, else 204.
pub async fn delete_one(
    state: &crate::state::AppState,
    delete: impl FnOnce(&mut crate::db::DbConn) -> diesel::QueryResult<usize> + Send + 'static,
) -> Result<actix_web::HttpResponse, ApiError> {
    state
        .db
        .run(move |conn| match delete(conn)? {
            0 => Err(ApiError::NotFound),
            _ => Ok(()),
        })
        .await?;
    Ok(actix_web::HttpResponse::NoContent().finish())
}
