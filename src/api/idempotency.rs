//! The `Idempotency-Key` of the creating requests (bookings, series): the header read, the key
//! claimed bound to the body, a stored answer replayed, a failure settled. The rules are in
//! `crate::booking::idempotency`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::auth::AuthUser;
use crate::booking::idempotency::{self, Claim, Claimed};
use crate::error::ApiError;
use crate::state::AppState;

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

pub(super) fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "The Idempotency-Key header must be 1 to 255 visible characters.".to_owned(),
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// The stored answer sent again; a created resource's `Location` is `{collection}/{id}`.
pub(super) fn replay(status: i32, body: String, collection: &str) -> HttpResponse {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    builder.insert_header(("Idempotent-Replayed", "true"));
    if status.is_success() {
        if let Some(id) = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
        {
            builder.insert_header((header::LOCATION, format!("{collection}/{id}")));
        }
        builder.content_type("application/json");
    } else {
        builder.content_type("application/problem+json");
    }
    builder.body(body)
}

/// Claims the request's Idempotency-Key, if it has one, bound to `body`.
pub(super) async fn claim_key(
    state: &AppState,
    caller: &AuthUser,
    key: Option<String>,
    body: &impl Serialize,
) -> Result<Option<Claimed>, ApiError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let hash = idempotency::request_hash(body)?;
    let user_id = caller.id().to_owned();
    let claimed = state
        .write(move |conn| Ok(idempotency::claim(conn, &user_id, &key, &hash)?))
        .await?;
    Ok(Some(claimed))
}

/// After a failed create: a definite answer (4xx) is kept for replay; a transient failure frees
/// the key so that the retry the client will make can run.
pub(super) async fn settle_key(state: &AppState, claim: Claim, error: &ApiError) {
    let status = actix_web::ResponseError::status_code(error);
    let problem = serde_json::to_string(&error.problem()).unwrap_or_default();
    let _ = state
        .write(move |conn| {
            if status.is_client_error() {
                idempotency::store_answer(conn, &claim, i32::from(status.as_u16()), &problem)
                    .map_err(ApiError::from)
            } else {
                idempotency::release(conn, &claim).map_err(ApiError::from)
            }
        })
        .await;
}
