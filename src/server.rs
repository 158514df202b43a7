//! The HTTP server around the app: connection limits and timeouts, shared by `serve` and the
//! tests that need a real socket.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{HttpServer, web};

use crate::app;
use crate::state::AppState;

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
