//! The JSON and query extractors: every parse failure becomes a problem+json answer naming the
//! field (syntax and type errors 400, missing/unknown fields and values 422, non-JSON 415, too
//! large 413, a body that does not arrive in time 408), without echoing serde's text.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::bounds;
use crate::error::{ApiError, FieldError};

pub const BODY_LIMIT: usize = 32 * 1024;

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

/// Path ids that are not UUIDs cannot name anything: 404.
pub fn path_error_handler(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

/// A route guard: the path's last segment is a UUID. For `…/{id}` routes beside a literal
/// sibling (`/booking-series/preview`), so that the sibling asked with another method is 405
/// (the fallback's answer) rather than a lookup of the id `preview`.
pub fn id_is_uuid(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.head()
        .uri
        .path()
        .rsplit('/')
        .next()
        .is_some_and(|tail| uuid::Uuid::parse_str(tail).is_ok())
}

/// The `{id}` of a resource path as its canonical UUID text; anything that is not a UUID names
/// nothing: 404.
pub struct PathId(pub String);

impl FromRequest for PathId {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req
            .match_info()
            .get("id")
            .and_then(|raw| uuid::Uuid::parse_str(raw).ok())
            .map(|id| PathId(id.to_string()))
            .ok_or(ApiError::NotFound);
        std::future::ready(id)
    }
}

/// The `{date}` of a resource path (`YYYY-MM-DD`, a year from 0000 to 9999); anything else names
/// nothing: 404, like a path id that is not a UUID.
pub struct PathDate(pub chrono::NaiveDate);

impl FromRequest for PathDate {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let date = req
            .match_info()
            .get("date")
            .and_then(bounds::path_date)
            .map(PathDate)
            .ok_or(ApiError::NotFound);
        std::future::ready(date)
    }
}
