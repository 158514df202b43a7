//! The OpenAPI document, generated from the same registration the router uses, with the answers
//! every operation shares derived once; and the route table that turns a known path asked with
//! another method into 405.

use std::sync::LazyLock;

use actix_web::App;
use actix_web::dev::ResourceDef;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, scope};

use crate::error::{FieldError, Problem};

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Inspine Booking API",
        description = "Booking back end for massage-therapy clinics: catalog, therapists, schedules, slots and bookings.",
    ),
    modifiers(&SecurityAddon),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Registration, login and tokens"),
        (name = "users", description = "User administration (admin)"),
        (name = "catalog", description = "Locations and their closures, rooms and massage types"),
        (name = "therapists", description = "Therapists"),
        (name = "schedules", description = "Weekly schedules, date overrides and time off"),
        (name = "holds", description = "Slots kept for a few minutes while a client finishes booking"),
        (name = "waitlist", description = "Clients waiting for freed time, and the offers made to them"),
        (name = "notifications", description = "Emails sent to clients and therapists (admin)"),
        (name = "clinical", description = "Intake (health history) and treatment notes, encrypted at rest; every read and write audited"),
        (name = "audit", description = "The audit trail (admin)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
struct ApiDoc;

/// The OpenAPI document, generated from the same registration the router uses.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(scope("/api/v1").configure(|cfg| crate::api::routes(cfg, None, false)))
        .configure(crate::api::ops::routes)
        .split_for_parts();
    spec.info.version = env!("CARGO_PKG_VERSION").to_owned();
    add_common_responses(&mut spec);
    for_generators(spec)
}

/// What client generators and linters expect of a spec: a `servers` entry; `security: []` on
/// public operations (so "no token" is said, not implied); page schemas whose `items` refer to
/// the item's named schema instead of repeating it inline (generators otherwise invent names
/// such as `PageBookingOutItemsItem`).
fn for_generators(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    spec.servers = Some(vec![
        utoipa::openapi::server::ServerBuilder::new()
            .url("http://127.0.0.1:8080")
            .description(Some(
                "A local server on the default BIND_ADDR; use your deployment's PUBLIC_BASE_URL",
            ))
            .build(),
    ]);
    for item in spec.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            operation.security.get_or_insert_with(Vec::new);
        }
    }
    if let Some(components) = spec.components.as_mut() {
        let names: std::collections::BTreeSet<String> =
            components.schemas.keys().cloned().collect();
        for (name, schema) in components.schemas.iter_mut() {
            let Some(item) = name.strip_prefix("Page_") else {
                continue;
            };
            if !names.contains(item) {
                continue;
            }
            if let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(page)) = schema
                && let Some(items) = page.properties.get_mut("items")
            {
                *items = utoipa::openapi::schema::ArrayBuilder::new()
                    .items(utoipa::openapi::Ref::from_schema_name(item))
                    .into();
            }
        }
    }
    spec
}

/// The spec as served, and every documented path with its methods; computed once per process.
pub struct Published {
    pub json: String,
    pub routes: Vec<(ResourceDef, String)>,
}

pub static PUBLISHED: LazyLock<Published> = LazyLock::new(|| {
    let spec = openapi();
    Published {
        // Serializing a generated spec cannot fail; an empty document would fail the spec test.
        json: serde_json::to_string(&spec).unwrap_or_default(),
        routes: route_table(&spec),
    }
});

fn route_table(spec: &utoipa::openapi::OpenApi) -> Vec<(ResourceDef, String)> {
    spec.paths
        .paths
        .iter()
        .map(|(path, item)| {
            let methods: Vec<&str> = [
                ("GET", item.get.is_some()),
                ("PUT", item.put.is_some()),
                ("POST", item.post.is_some()),
                ("DELETE", item.delete.is_some()),
                ("PATCH", item.patch.is_some()),
            ]
            .into_iter()
            .filter_map(|(m, present)| present.then_some(m))
            .collect();
            (ResourceDef::new(path.as_str()), methods.join(", "))
        })
        .collect()
}

/// Answers every operation can give, added to each operation of the spec so that clients
/// (and schemathesis) see them: 401 on every operation that takes a token, body errors and the body timeout where there is a body, rate
/// limiting everywhere, and 503 when the database is busy.
fn add_common_responses(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    for item in spec.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            if operation.request_body.is_some() {
                for (code, description) in [
                    ("400", "Malformed body"),
                    (
                        "408",
                        "Body not received within `REQUEST_BODY_TIMEOUT_SECS`; the connection is closed",
                    ),
                    ("413", "Body over 32 KiB"),
                    ("415", "Body is not JSON"),
                ] {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(description).into());
                }
            }
            let secured = operation
                .security
                .as_ref()
                .is_some_and(|requirements| !requirements.is_empty());
            if secured {
                responses
                    .entry("401".to_owned())
                    .or_insert_with(|| problem("No or bad token").into());
            }
            responses.entry("429".to_owned()).or_insert_with(|| {
                problem("Rate limited; retry after `Retry-After` seconds").into()
            });
            responses.entry("503".to_owned()).or_insert_with(|| {
                problem("Database busy or unreachable; retry after `Retry-After` seconds").into()
            });
        }
    }
}
