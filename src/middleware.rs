//! Middleware of our own: a request's body is held until its answer has been sent.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

/// A request body that the app reads through, while the connection's end stays open until the
/// answer is sent (see `hold_body_until_answered`).
struct SharedBody(Rc<RefCell<Payload>>);

impl Stream for SharedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_next(cx)
    }
}

/// A response body that also holds the request's body, so both go away together: when the
/// response has been sent.
pub struct HoldingBody {
    body: BoxBody,
    _request_body: Rc<RefCell<Payload>>,
}

impl MessageBody for HoldingBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// Middleware: keeps each request's body open until its answer has been sent.
///
/// When a handler answers without reading the whole body (it needs none, or the body timed
/// out), actix closes the connection after the answer, unless the body is chunked and nobody
/// holds it any more: then it drains the rest first, for as long as the client keeps sending.
/// A client trickling a chunked body could so hold a connection forever. While the body is held
/// here, actix closes the connection instead (after at most the disconnect timeout).
pub fn hold_body_until_answered<S, B>(
    mut req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<HoldingBody>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let body = Rc::new(RefCell::new(req.take_payload()));
    let shared: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(SharedBody(body.clone()));
    req.set_payload(Payload::from(shared));
    let response = srv.call(req);
    async move {
        let response = response.await?;
        Ok(response.map_body(|_, response_body| HoldingBody {
            body: response_body.boxed(),
            _request_body: body,
        }))
    }
}

/// `limits::AUTH_RATE` kept in the database (`limits::SharedLimits`); see `shared_limit`.
pub async fn shared_auth_limit(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    shared_limit(crate::limits::AUTH_RATE, req, next).await
}

/// `limits::API_RATE` kept in the database; see `shared_limit`.
pub async fn shared_api_limit(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    shared_limit(crate::limits::API_RATE, req, next).await
}

/// Counts the request against `rate` for its client (the same client key as the in-memory
/// limiter) in the table every instance shares, and answers 429 with `Retry-After` when over.
async fn shared_limit<B: MessageBody>(
    rate: crate::limits::Rate,
    req: ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let state = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .cloned();
    if let Some(state) = state
        && let Some(limits) = &state.shared_limits
    {
        let client = crate::limits::client_key(
            req.peer_addr().map(|a| a.ip()),
            req.headers(),
            &state.config.trusted_proxies,
        );
        if let Err(refused) = limits.take(rate, client).await {
            let response = actix_web::ResponseError::error_response(&refused);
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}
