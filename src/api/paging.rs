//! Pages and cursors: `limit` checks, opaque keyset cursors, and the page shape.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Checks `limit` (default 20, between 1 and 100) and decodes `cursor`; returns the page size
/// as asked (not the SQL limit: callers fetch `limit + 1` rows and `into_page` uses the extra
/// one to know whether another page exists) and the key to continue after, if any.
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

/// Where a keyset cursor of the form `RFC 3339 instant|id` continues from. `Ok(None)`: no
/// cursor, the first page. `Err(ForeignCursor)`: a cursor we did not issue, which points
/// nowhere (the caller answers an empty page).
pub fn instant_position(
    cursor: Option<String>,
) -> Result<Option<(chrono::NaiveDateTime, String)>, ForeignCursor> {
    let Some(decoded) = cursor else {
        return Ok(None);
    };
    decoded
        .split_once('|')
        .and_then(|(at, id)| {
            Some((
                chrono::DateTime::parse_from_rfc3339(at).ok()?.naive_utc(),
                id.to_owned(),
            ))
        })
        .map(Some)
        .ok_or(ForeignCursor)
}

/// A cursor this service did not issue.
#[derive(Debug)]
pub struct ForeignCursor;

impl<T> Page<T> {
    /// No items and no next page.
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }
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
