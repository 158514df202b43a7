//! The one place HTTP statuses are chosen: every failure becomes an `ApiError`, and every
//! `ApiError` becomes an RFC 9457 problem+json body. Causes of 500s are logged, never sent.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::booking::series::Skipped;

pub const PROBLEM_BASE: &str = "https://inspine.example/problems/";

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[schema(example = "https://inspine.example/problems/validation")]
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension member of `series-conflict`: each occurrence of the recurring series that
    /// cannot be booked, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub occurrences: Vec<Skipped>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// The caller is authenticated but the password they confirmed with is wrong: its own type,
    /// so a client can tell it from an expired access token (which it would refresh and retry).
    #[error("wrong password")]
    WrongPassword,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("conflict ({kind}): {detail}")]
    Conflict {
        kind: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// A recurring series some of whose occurrences cannot be booked: 409 listing them.
    #[error("series conflict: {detail}")]
    SeriesConflict {
        detail: String,
        occurrences: Vec<Skipped>,
    },
    #[error("validation failed: {detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// A password-reset token that is unknown, already used or expired.
    #[error("reset token invalid")]
    ResetTokenInvalid,
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("payload too large")]
    PayloadTooLarge,
    /// The client did not send the whole body in time; the connection is closed.
    #[error("request body timed out")]
    RequestTimeout,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::Validation {
            detail: format!("`{}` {}", error.field, error.message),
            errors: vec![error],
        }
    }

    pub fn validation_many(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("`{}` {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::Validation { detail, errors }
    }

    pub fn conflict(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// A `map_err` adapter for a write guarded by a unique constraint: a unique violation
    /// becomes this 409 (`kind`, `detail`), any other error maps as usual.
    ///
    /// `insert(conn, &row).map_err(ApiError::unique_as("name-taken", "…"))?`
    pub fn unique_as(
        kind: &'static str,
        detail: &'static str,
    ) -> impl FnOnce(diesel::result::Error) -> Self {
        move |error| match error {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            ) => {
                tracing::debug!(message = info.message(), kind, "unique violation");
                Self::conflict(kind, detail)
            }
            other => other.into(),
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "Bad request"),
            Self::Unauthorized(_) => ("unauthorized", "Authentication required"),
            Self::WrongPassword => ("wrong-password", "Wrong password"),
            Self::Forbidden => ("forbidden", "Not allowed"),
            Self::NotFound => ("not-found", "Not found"),
            Self::Conflict { kind, .. } => (kind, "Conflict with the current state"),
            Self::SeriesConflict { .. } => ("series-conflict", "Conflict with the current state"),
            Self::Validation { .. } => ("validation", "Invalid request"),
            Self::ResetTokenInvalid => ("reset-token-invalid", "Invalid reset token"),
            Self::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            Self::PayloadTooLarge => ("payload-too-large", "Request body too large"),
            Self::RequestTimeout => ("request-timeout", "Request timeout"),
            Self::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            Self::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
            Self::Unavailable(_) => ("unavailable", "Service temporarily unavailable"),
            Self::Internal(_) => ("internal", "Internal server error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest(d) => d.clone(),
            Self::Unauthorized(d) => (*d).to_owned(),
            Self::WrongPassword => "The current password is not correct.".to_owned(),
            Self::Forbidden => "Your role may not perform this action.".to_owned(),
            Self::NotFound => "No such resource.".to_owned(),
            Self::Conflict { detail, .. }
            | Self::SeriesConflict { detail, .. }
            | Self::Validation { detail, .. } => detail.clone(),
            Self::ResetTokenInvalid => {
                "The reset token is unknown, already used or expired; request a new one.".to_owned()
            }
            Self::MethodNotAllowed { allow } => {
                format!("This resource answers only {allow}.")
            }
            Self::PayloadTooLarge => "The request body is over the 32 KiB limit.".to_owned(),
            Self::RequestTimeout => {
                "The request body was not received in time; the connection is closed.".to_owned()
            }
            Self::UnsupportedMediaType => {
                "The request body must be JSON (Content-Type: application/json).".to_owned()
            }
            Self::TooManyRequests { retry_after_secs } => {
                format!("Rate limit reached; retry after {retry_after_secs} seconds.")
            }
            Self::Unavailable(_) => {
                "The service is busy or its database unreachable; retry shortly.".to_owned()
            }
            Self::Internal(_) => "An unexpected error occurred.".to_owned(),
        }
    }

    pub fn problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let errors = match self {
            Self::Conflict { errors, .. } | Self::Validation { errors, .. } => errors.clone(),
            Self::WrongPassword => vec![FieldError::new("current_password", "is not correct")],
            Self::ResetTokenInvalid => vec![FieldError::new(
                "token",
                "is unknown, already used or expired",
            )],
            _ => Vec::new(),
        };
        let occurrences = match self {
            Self::SeriesConflict { occurrences, .. } => occurrences.clone(),
            _ => Vec::new(),
        };
        Problem {
            r#type: format!("{PROBLEM_BASE}{slug}"),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors,
            occurrences,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::WrongPassword => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict { .. } | Self::SeriesConflict { .. } => StatusCode::CONFLICT,
            Self::Validation { .. } | Self::ResetTokenInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            // A refused request is the client's business, not the operator's: the metrics count
            // them by route and status; RUST_LOG=inspine=debug shows each one.
            other => {
                tracing::debug!(status = other.status_code().as_u16(), error = %other, "request refused")
            }
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            Self::Unauthorized(_) | Self::WrongPassword => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.clone()));
            }
            // The rest of the body may still be trickling in: do not wait for it.
            Self::RequestTimeout => {
                response.force_close();
            }
            _ => {}
        }
        let body = serde_json::to_string(&self.problem()).unwrap_or_else(|_| {
            r#"{"type":"about:blank","title":"Internal server error","status":500}"#.to_owned()
        });
        response.body(body)
    }
}

/// SQLite reports contention as "database is locked"/"busy"; PostgreSQL as serialization or
/// lock failures. Both are transient, so the client is told to retry (503), never a 500.
fn is_transient(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("database is locked")
        || m.contains("database is busy")
        || m.contains("could not serialize access")
        || m.contains("deadlock detected")
        || m.contains("canceling statement due to lock timeout")
        || m.contains("terminating connection")
        || m.contains("server closed the connection")
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::debug!(message = info.message(), "unique violation");
                Self::conflict(
                    "already-exists",
                    "A resource with these values already exists.",
                )
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                tracing::debug!(message = info.message(), "foreign key violation");
                Self::conflict(
                    "in-use",
                    "The resource is referenced by other data or refers to data that does not exist.",
                )
            }
            Error::DatabaseError(_, ref info) if is_transient(info.message()) => {
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(error: crate::db::DbError) -> Self {
        match error {
            crate::db::DbError::Query(e) => e.into(),
            crate::db::DbError::Unavailable(cause) => Self::Unavailable(cause),
            crate::db::DbError::Task(cause) => Self::Internal(cause),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Internal(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

    use super::*;

    struct Info(&'static str);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn status(error: Error) -> u16 {
        ApiError::from(error).status_code().as_u16()
    }

    #[test]
    fn contention_is_503_with_retry_after_never_500() {
        let locked = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(Info("database is locked")),
        );
        assert_eq!(status(locked), 503);
        let serialization = Error::DatabaseError(
            DatabaseErrorKind::SerializationFailure,
            Box::new(Info("could not serialize access")),
        );
        assert_eq!(status(serialization), 503);
        let response = ApiError::Unavailable("x".into()).error_response();
        assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let error = ApiError::internal("SELECT secret FROM users");
        let problem = error.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("SELECT"));
    }

    #[test]
    fn a_body_timeout_is_408_and_closes_the_connection() {
        let response = ApiError::RequestTimeout.error_response();
        assert_eq!(response.status().as_u16(), 408);
        assert!(response.head().connection_type() == actix_web::http::ConnectionType::Close);
    }

    #[test]
    fn not_found_and_unique_violations() {
        assert_eq!(status(Error::NotFound), 404);
        let unique =
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(Info("dup")));
        assert_eq!(status(unique), 409);
    }

    #[test]
    fn unique_as_names_the_conflict_and_leaves_other_errors_alone() {
        let to_taken = || ApiError::unique_as("name-taken", "Taken.");
        let unique =
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(Info("dup")));
        let problem = to_taken()(unique).problem();
        assert_eq!(problem.status, 409);
        assert_eq!(problem.r#type, format!("{PROBLEM_BASE}name-taken"));
        assert_eq!(problem.detail, "Taken.");
        assert!(matches!(to_taken()(Error::NotFound), ApiError::NotFound));
        let foreign =
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, Box::new(Info("fk")));
        assert!(matches!(
            to_taken()(foreign),
            ApiError::Conflict { kind: "in-use", .. }
        ));
    }
}
