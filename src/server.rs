//! The HTTP server around the app: connection limits and timeouts, shared by `serve` and the
//! tests that need a real socket.

use std::cell::RefCell;
use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, Server, Service, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpServer, web};
use futures_util::Stream;

use crate::app::{self, AppState};

/// How long a connection being closed (say after a 408) waits for the client to close its end
/// before it is dropped; never longer than the head timeout.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to serve: an address to bind (as `BIND_ADDR`), or a listener already bound (tests bind
/// 127.0.0.1:0 and read the port).
pub enum Listen {
    Addr(String),
    Listener(TcpListener),
}

/// Serves the app on `listen` with `workers` worker threads.
///
/// The limits come from the config: a request's head must arrive within
/// `request_head_timeout` (else 408 and the connection closes); its body within
/// `request_body_timeout` (enforced where bodies are read, `ApiJson`: 408 and the connection
/// closes); a closing connection waits at most 5 seconds for the client; idle keep-alive
/// connections close after `keep_alive`; and at most `max_connections` connections are open at
/// once over all workers (each worker takes its share, rounded up) — further clients wait in the
/// listen backlog until a connection closes, so slow clients cannot exhaust file descriptors.
pub fn http_server(
    state: web::Data<AppState>,
    listen: Listen,
    workers: usize,
) -> std::io::Result<Server> {
    let config = state.config.clone();
    let workers = workers.max(1);
    let total = usize::try_from(config.max_connections).unwrap_or(usize::MAX);
    let per_worker = total.div_ceil(workers).max(1);
    let server = HttpServer::new(move || app::build(state.clone()))
        .workers(workers)
        .max_connections(per_worker)
        .client_request_timeout(config.request_head_timeout)
        .client_disconnect_timeout(DISCONNECT_TIMEOUT.min(config.request_head_timeout))
        .keep_alive(config.keep_alive)
        .shutdown_timeout(30);
    let server = match listen {
        Listen::Addr(addr) => server.bind(addr)?,
        Listen::Listener(listener) => server.listen(listener)?,
    };
    Ok(server.run())
}

/// One worker per core, as actix would choose.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

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
