//! The clinic's booking page at `/`: plain HTML, CSS and JavaScript from `web/`, embedded in the
//! binary at compile time. It is a client of the public API like any other front end, so it is
//! not part of the OpenAPI document. The HTML is rendered per request with the clinic's name and
//! the policies from the configuration (escaped); the assets are fixed, addressed by a content
//! hash and cached for good.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// What the page may load: only this origin, no inline script or style, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../web/index.html");

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/app.js"),
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/app.css"),
    },
    Asset {
        path: "/assets/icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../web/icon.svg"),
    },
];

fn short_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// One hash over every asset: the HTML asks for `?v=<hash>`, so a new build is a new URL.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut all = Sha256::new();
    for asset in ASSETS {
        all.update(asset.body);
    }
    hex::encode(&all.finalize()[..8])
});

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page with the clinic's settings filled in; every value is escaped for HTML text and
/// attributes alike.
pub fn render_index(state: &AppState) -> String {
    let config = &state.config;
    INDEX_HTML
        .replace("{{clinic_name}}", &escape_html(&config.clinic_name))
        .replace(
            "{{cancellation_window_hours}}",
            &config.cancellation_window_hours.to_string(),
        )
        .replace("{{hold_minutes}}", &config.hold_minutes.to_string())
        .replace(
            "{{booking_horizon_days}}",
            &config.booking_horizon_days.to_string(),
        )
        .replace("{{asset_version}}", &ASSET_VERSION)
}

fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        })
}

fn respond(
    req: &HttpRequest,
    content_type: &'static str,
    cache_control: &'static str,
    body: Vec<u8>,
) -> HttpResponse {
    let etag = format!("\"{}\"", short_hash(&body));
    let mut response = if not_modified(req, &etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok().content_type(content_type).body(body)
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn index(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // Revalidated on every visit (the ETag makes that cheap), so a new build or a changed
    // setting shows at once.
    respond(
        &req,
        "text/html; charset=utf-8",
        "no-cache",
        render_index(&state).into_bytes(),
    )
}

async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.path == req.path())
        .ok_or(ApiError::NotFound)?;
    Ok(respond(
        &req,
        asset.content_type,
        "public, max-age=31536000, immutable",
        asset.body.to_vec(),
    ))
}

/// `GET /` and the page's assets. Registered outside the `/api/v1` scope and the spec.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/", web::head().to(index));
    for a in ASSETS {
        cfg.route(a.path, web::get().to(asset))
            .route(a.path, web::head().to(asset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_covers_text_and_attributes() {
        assert_eq!(
            escape_html(r#"<b a="x" b='y'>&</b>"#),
            "&lt;b a=&quot;x&quot; b=&#39;y&#39;&gt;&amp;&lt;/b&gt;"
        );
    }

    #[test]
    fn the_page_needs_every_placeholder_it_has_filled() {
        for placeholder in [
            "{{clinic_name}}",
            "{{cancellation_window_hours}}",
            "{{hold_minutes}}",
            "{{booking_horizon_days}}",
            "{{asset_version}}",
        ] {
            assert!(INDEX_HTML.contains(placeholder), "{placeholder}");
        }
    }
}
