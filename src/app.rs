//! Builds the actix `App` that `serve` and the tests share: state, routes (one registration for
//! the router and the spec), middleware and the JSON rewriting of actix's own errors.

use std::sync::Arc;

use actix_cors::Cors;
use actix_governor::Governor;
use actix_web::body::MessageBody;
use actix_web::dev::{ResourceDef, Service};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{Condition, DefaultHeaders};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, web};
use tracing_actix_web::RequestId;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::tokens::JwtKeys;
use crate::config::Config;
use crate::db::{self, Db};
use crate::error::{ApiError, FieldError, Problem};
use crate::limits::{IpLimit, LoginGuard};
use crate::metrics::Metrics;

pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub jwt: JwtKeys,
    pub metrics: Metrics,
    pub login_guard: LoginGuard,
    /// All argon2 work runs here: one thread per core, a bounded queue (each hash takes 19 MiB).
    pub hashing: crate::auth::password::HashPool,
    auth_limit: IpLimit,
    api_limit: IpLimit,
    /// Verified against when a login names an unknown email, so both failures cost the same.
    pub dummy_password_hash: String,
    spec_json: String,
    /// Every documented path with its methods, to answer 405 (with `Allow`) instead of 404.
    routes: Vec<(ResourceDef, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Database(#[from] db::ConnectError),
    #[error("cannot prepare the database: {0}")]
    Setup(String),
}

impl AppState {
    /// Connects, migrates, seeds the catalog on first start, and precomputes what requests share.
    pub fn prepare(config: Config) -> Result<web::Data<Self>, StartError> {
        let db = Db::connect(&config.database_url)?;
        {
            let mut conn = db.get().map_err(|e| StartError::Setup(e.to_string()))?;
            let applied =
                db::run_migrations(&mut conn).map_err(|e| StartError::Setup(e.to_string()))?;
            if applied > 0 {
                tracing::info!(applied, "migrations applied");
            }
            crate::seed::seed_catalog(&mut conn).map_err(|e| StartError::Setup(e.to_string()))?;
        }
        let dummy_password_hash = crate::auth::password::hash("not-a-real-password")
            .map_err(|e| StartError::Setup(e.to_string()))?;
        let spec = openapi();
        let spec_json =
            serde_json::to_string(&spec).map_err(|e| StartError::Setup(e.to_string()))?;
        let routes = route_table(&spec);
        let metrics = Metrics::new().map_err(|e| StartError::Setup(e.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hashing = crate::auth::password::HashPool::new(cores, 256)
            .map_err(|e| StartError::Setup(e.to_string()))?;
        Ok(web::Data::new(Self {
            jwt: JwtKeys::new(&config.jwt_secret, config.access_token_ttl),
            metrics,
            login_guard: LoginGuard::default(),
            hashing,
            auth_limit: crate::limits::auth_limit(&config.trusted_proxies),
            api_limit: crate::limits::api_limit(&config.trusted_proxies),
            config: Arc::new(config),
            db,
            dummy_password_hash,
            spec_json,
            routes,
        }))
    }
}

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
        (name = "catalog", description = "Locations, rooms and massage types"),
        (name = "therapists", description = "Therapists"),
        (name = "schedules", description = "Weekly schedules and time off"),
        (name = "operations", description = "Health and readiness"),
    )
)]
struct ApiDoc;

/// The OpenAPI document, generated from the same registration the router uses.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(scope("/api/v1").configure(|cfg| crate::api::routes(cfg, None)))
        .configure(crate::api::ops::routes)
        .split_for_parts();
    spec.info.version = env!("CARGO_PKG_VERSION").to_owned();
    add_common_responses(&mut spec);
    spec
}

async fn serve_spec(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.spec_json.clone())
}

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

/// Unknown paths are 404; known paths asked with another method are 405 with `Allow`.
async fn fallback(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state
        .routes
        .iter()
        .find(|(def, _)| def.is_match(req.path()))
    {
        Some((_, allow)) => Err(ApiError::MethodNotAllowed {
            allow: allow.clone(),
        }),
        None => Err(ApiError::NotFound),
    }
}

/// Answers every operation can give, added to each operation of the spec so that clients
/// (and schemathesis) see them: body errors and the body timeout where there is a body, rate
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
            responses.entry("429".to_owned()).or_insert_with(|| {
                problem("Rate limited; retry after `Retry-After` seconds").into()
            });
            responses.entry("503".to_owned()).or_insert_with(|| {
                problem("Database busy or unreachable; retry after `Retry-After` seconds").into()
            });
        }
    }
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::LOCATION,
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
        ])
        // Other origins simply get no CORS headers (the browser blocks them); same-origin
        // requests that carry an Origin header still work.
        .block_on_origin_mismatch(false)
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

pub fn build(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limited = state.config.rate_limit_enabled;
    let auth_limit = limited.then(|| state.auth_limit.clone());
    let api_limit = Governor::new(&state.api_limit);
    let cors = cors(&state.config.cors_allowed_origins);
    let http_metrics = state.metrics.http.clone();
    let (app, _) = App::new()
        .into_utoipa_app()
        .app_data(state)
        .app_data(web::PathConfig::default().error_handler(crate::api::path_error_handler))
        // The spec is served from the precomputed string; registered before the /api/v1 scope
        // so that the scope does not swallow it.
        .map(|app| {
            app.route("/api/v1/openapi.json", web::get().to(serve_spec))
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json")),
                )
        })
        .service(
            scope("/api/v1").configure(move |cfg| crate::api::routes(cfg, auth_limit.as_ref())),
        )
        .configure(crate::api::ops::routes)
        .default_service(web::to(fallback))
        .split_for_parts();
    app.wrap_fn(crate::server::hold_body_until_answered)
        .wrap(Condition::new(limited, api_limit))
        .wrap(cors)
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "no-referrer")),
        )
        .wrap_fn(|req, srv| {
            let request_id = req.extensions().get::<RequestId>().copied();
            let response = srv.call(req);
            async move {
                let mut response = response.await?;
                if let Some(id) = request_id
                    && let Ok(value) = HeaderValue::from_str(&id.to_string())
                {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static("x-request-id"), value);
                }
                Ok(response)
            }
        })
        // Inside the metrics middleware, so made-up methods are counted as one label value.
        .wrap_fn(|mut req, srv| {
            crate::metrics::fold_unknown_method(&mut req);
            srv.call(req)
        })
        .wrap(http_metrics)
        .wrap(tracing_actix_web::TracingLogger::default())
}
