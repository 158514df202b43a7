//! Builds the actix `App` that `serve` and the tests share: routes (one registration for the
//! router and the spec), middleware and the JSON rewriting of actix's own errors.

use actix_cors::Cors;
use actix_governor::Governor;
use actix_web::body::MessageBody;
use actix_web::dev::Service;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, web};
use tracing_actix_web::RequestId;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::openapi::PUBLISHED;
pub use crate::openapi::openapi;
pub use crate::state::{AppState, StartError};

async fn serve_spec() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(PUBLISHED.json.clone())
}

/// Unknown paths are 404; known paths asked with another method are 405 with `Allow`. The
/// most literal route that matches decides (`/booking-series/preview` before
/// `/booking-series/{id}`); a route that does answer this method but was not taken (its guard
/// refused the id: `GET /booking-series/not-a-uuid`) names nothing: 404.
async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let method = req.method().as_str();
    match PUBLISHED
        .routes
        .iter()
        .filter(|(def, _)| def.is_match(req.path()))
        .min_by_key(|(def, _)| def.pattern().map_or(0, |p| p.matches('{').count()))
    {
        Some((_, allow)) if !allow.split(',').any(|m| m.trim() == method) => {
            Err(ApiError::MethodNotAllowed {
                allow: allow.clone(),
            })
        }
        _ => Err(ApiError::NotFound),
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
    // In memory, or (PostgreSQL) in the database every instance shares.
    let shared = state.shared_limits.is_some();
    let limited = state.config.rate_limit_enabled && !shared;
    let auth_limit = limited.then(|| state.auth_limit.clone());
    let api_limit = Governor::new(&state.api_limit);
    let cors = cors(&state.config.cors_allowed_origins);
    let http_metrics = state.metrics.http.clone();
    let (app, _) = App::new()
        .into_utoipa_app()
        // The extractors take just what they use.
        .app_data(web::Data::new(state.db.clone()))
        .app_data(web::Data::new(state.jwt.clone()))
        .app_data(state)
        .app_data(web::PathConfig::default().error_handler(crate::api::path_error_handler))
        // The spec is served from the precomputed string; registered before the /api/v1 scope
        // so that the scope does not swallow it.
        .map(|app| {
            app.configure(crate::web::routes)
                .route("/api/v1/openapi.json", web::get().to(serve_spec))
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json")),
                )
        })
        .service(
            scope("/api/v1")
                .configure(move |cfg| crate::api::routes(cfg, auth_limit.as_ref(), shared)),
        )
        .configure(crate::api::ops::routes)
        .default_service(web::to(fallback))
        .split_for_parts();
    app.wrap_fn(crate::middleware::hold_body_until_answered)
        .wrap(Condition::new(limited, api_limit))
        .wrap(Condition::new(
            shared,
            from_fn(crate::middleware::shared_api_limit),
        ))
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
