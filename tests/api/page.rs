//! The booking page at `/` (issue 15): served by the binary with every asset embedded, a strict
//! Content-Security-Policy, nothing from another origin, under 300 KB, branded from the
//! configuration, and without disturbing the API's own answers.

use std::collections::HashMap;

use actix_web::http::Method;
use serde_json::Value;

use crate::helpers::{Options, Resp, TestApp};

/// What the page may cost the binary.
const BUDGET_BYTES: usize = 300 * 1024;

/// The local URLs the HTML asks for (`src` and `href`), without their query.
fn referenced_assets(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attr) {
            let rest = &html[at + attr.len()..];
            let value = &rest[..rest.find('"').unwrap()];
            if !value.starts_with('#') {
                found.push(value.to_owned());
            }
        }
    }
    found
}

async fn page_and_assets(app: &TestApp) -> (Resp, Vec<(String, Resp)>) {
    let page = app.get("/").send().await;
    let html = String::from_utf8(page.raw.clone()).unwrap();
    let mut assets = Vec::new();
    for url in referenced_assets(&html) {
        let resp = app.get(&url).send().await;
        assets.push((url, resp));
    }
    (page, assets)
}

#[actix_web::test]
async fn the_page_is_html_with_a_strict_content_security_policy() {
    let app = TestApp::spawn().await;
    let page = app.get("/").send().await;
    assert_eq!(page.status.as_u16(), 200);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(page.header("cache-control").as_deref(), Some("no-cache"));

    // No inline script, style or handler for the policy to refuse.
    let html = String::from_utf8(page.raw.clone()).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    for (at, _) in html.match_indices("<script") {
        let tag = &html[at..at + html[at..].find('>').unwrap()];
        assert!(tag.contains(" src=\"/"), "inline script: {tag}");
    }
    for inline in ["<style", " style=", " onclick=", " onload=", "javascript:"] {
        assert!(!html.contains(inline), "the page has {inline}");
    }

    // Revalidation is cheap: the ETag answers 304.
    let etag = page.header("etag").unwrap();
    let again = app.get("/").header("if-none-match", &etag).send().await;
    assert_eq!(again.status.as_u16(), 304);
    assert!(again.raw.is_empty());
}

#[actix_web::test]
async fn every_asset_resolves_and_nothing_comes_from_another_origin() {
    let app = TestApp::spawn().await;
    let (page, assets) = page_and_assets(&app).await;
    assert!(
        assets.len() >= 3,
        "the page references its script, style and icon"
    );
    let mut bodies = vec![("/".to_owned(), page.raw.clone())];
    for (url, resp) in &assets {
        assert!(
            url.starts_with('/') && !url.starts_with("//"),
            "{url} is not on this origin"
        );
        assert_eq!(resp.status.as_u16(), 200, "{url} does not resolve");
        assert!(resp.header("etag").is_some(), "{url} has no ETag");
        assert!(
            resp.header("cache-control")
                .is_some_and(|c| c.contains("immutable")),
            "{url} is addressed by content hash, so it is cached for good"
        );
        let expected = match url.split('?').next().unwrap().rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected asset type {other:?} ({url})"),
        };
        assert_eq!(resp.header("content-type").as_deref(), Some(expected));
        bodies.push((url.clone(), resp.raw.clone()));
    }
    for (url, body) in bodies {
        // The SVG namespace is a name, not something fetched.
        let text = String::from_utf8(body)
            .unwrap()
            .replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for marker in [
            "http://", "https://", "\"//", "'//", "`//", "(//", "=//", "@import",
        ] {
            assert!(!text.contains(marker), "{url} refers to {marker}…");
        }
    }
}

#[actix_web::test]
async fn the_page_costs_less_than_300_kb() {
    let app = TestApp::spawn().await;
    let (page, assets) = page_and_assets(&app).await;
    let total = page.raw.len() + assets.iter().map(|(_, r)| r.raw.len()).sum::<usize>();
    assert!(total < BUDGET_BYTES, "the page is {total} bytes");
}

#[actix_web::test]
async fn the_clinic_name_comes_from_the_configuration_escaped() {
    let app = TestApp::spawn_with(Options {
        env: HashMap::from([("CLINIC_NAME", "Harbour & Pine <Massage>".to_owned())]),
    })
    .await;
    let html = String::from_utf8(app.get("/").send().await.raw).unwrap();
    assert!(html.contains("<title>Book a massage · Harbour &amp; Pine &lt;Massage&gt;</title>"));
    assert!(html.contains("data-clinic-name=\"Harbour &amp; Pine &lt;Massage&gt;\""));
    assert!(!html.contains("<Massage>"));
    assert!(!html.contains("{{"), "every placeholder is filled");

    // Unset, the name is neutral: no clinic's name is built into the page.
    let plain = TestApp::spawn().await;
    let (page, assets) = page_and_assets(&plain).await;
    let html = String::from_utf8(page.raw.clone()).unwrap();
    assert!(html.contains("Massage clinic"));
    for body in std::iter::once(page.raw).chain(assets.into_iter().map(|(_, r)| r.raw)) {
        let text = String::from_utf8(body).unwrap().to_lowercase();
        assert!(!text.contains("inspine"), "a hard-coded clinic name");
    }
}

#[actix_web::test]
async fn the_policies_shown_come_from_the_configuration() {
    let app = TestApp::spawn_with(Options {
        env: HashMap::from([
            ("CANCELLATION_WINDOW_HOURS", "48".to_owned()),
            ("HOLD_MINUTES", "7".to_owned()),
        ]),
    })
    .await;
    let html = String::from_utf8(app.get("/").send().await.raw).unwrap();
    assert!(html.contains("data-cancellation-window-hours=\"48\""));
    assert!(html.contains("data-hold-minutes=\"7\""));
    assert!(html.contains("up to 48 hours before"));
}

#[actix_web::test]
async fn unknown_paths_are_still_problem_json() {
    let app = TestApp::spawn().await;
    for path in [
        "/nope",
        "/index.html",
        "/assets/nope.js",
        "/assets/app.js/x",
        "/api/v1/",
        "/api/v1/nope",
    ] {
        let resp = app.get(path).send().await;
        resp.expect(404);
        assert_eq!(resp.problem_type(), "not-found", "{path}");
    }
    // The API's own answers are untouched.
    let resp = app.req(Method::PUT, "/api/v1/locations").send().await;
    resp.expect(405);
    let resp = app.get("/api/v1/locations").send().await;
    assert_eq!(resp.status.as_u16(), 200);
    assert!(resp.body["items"].is_array());
}

/// Every endpoint the page's script calls exists in the API with that method, so a renamed
/// route cannot silently break the page.
#[actix_web::test]
async fn every_endpoint_the_page_calls_is_in_the_spec() {
    let app = TestApp::spawn().await;
    let (_, assets) = page_and_assets(&app).await;
    let js = assets
        .iter()
        .find(|(url, _)| url.starts_with("/assets/app.js"))
        .map(|(_, r)| String::from_utf8(r.raw.clone()).unwrap())
        .unwrap();
    let spec = serde_json::to_value(inspine::app::openapi()).unwrap();
    let normalise = |path: &str| {
        path.split('/')
            .map(|segment| match (segment.find('{'), segment.find('}')) {
                (Some(open), Some(close)) => {
                    format!("{}{{}}{}", &segment[..open], &segment[close + 1..])
                }
                _ => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let known: HashMap<String, &Value> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| (normalise(path), item))
        .collect();
    let mut calls = 0;
    for (at, _) in js.match_indices("api('") {
        let rest = &js[at + 5..];
        let method = &rest[..rest.find('\'').unwrap()];
        let rest = rest[method.len() + 1..].trim_start_matches(", ");
        let quote = rest.chars().next().unwrap();
        if quote != '\'' && quote != '`' {
            continue;
        }
        let literal = &rest[1..1 + rest[1..].find(quote).unwrap()];
        // `${…}` is a path parameter; the query is not part of the path.
        let mut path = String::new();
        let mut rest = literal.split('?').next().unwrap();
        while let Some(open) = rest.find("${") {
            path.push_str(&rest[..open]);
            path.push_str("{}");
            rest = &rest[open + rest[open..].find('}').unwrap() + 1..];
        }
        path.push_str(rest);
        let full = normalise(&format!("/api/v1{path}"));
        let item = known
            .get(&full)
            .unwrap_or_else(|| panic!("the page calls {method} {full}, which the API lacks"));
        assert!(
            item.get(method.to_lowercase()).is_some(),
            "the page calls {method} {full}, which the API does not answer"
        );
        calls += 1;
    }
    assert!(calls >= 15, "found only {calls} calls");
}
