//! Haven: protection case management for women peacebuilders and human-rights defenders.
//!
//! `build_app` is the whole HTTP application; `main.rs` and the tests both use it, so tests
//! exercise exactly what runs in production.

pub mod api;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod escalation;
pub mod form;
pub mod i18n;
pub mod keyfile;
pub mod mail;
pub mod metrics;
pub mod page;
pub mod policy;
pub mod state;

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, DefaultHeaders, Next};
use actix_web::{web, App, HttpServer};

use crate::error::path_error;
use crate::state::AppState;

/// Headers on every response, errors included.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cache-Control", "no-store"))
        .add(("X-Frame-Options", "DENY"))
}

/// One log line per request: method, route *pattern* (never the concrete path or query, which
/// could carry ids or tokens), status and duration. Never the client address.
async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let res = next.call(req).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "<unmatched>".into());
    if let Some(st) = res.request().app_data::<web::Data<AppState>>() {
        st.metrics.record(method.as_str(), &route, res.status().as_u16(), started.elapsed().as_secs_f64());
    }
    tracing::info!(
        target: "haven::http",
        method = %method,
        route = %route,
        status = res.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(res)
}

pub fn build_app(
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
    let limit = state.config.max_body_bytes;
    App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::default().limit(limit))
        .app_data(web::PathConfig::default().error_handler(|e, _| path_error(e).into()))
        .configure(api::configure)
        .configure(escalation::ack::configure)
        .configure(form::configure)
        .configure(console::configure)
        .route("/metrics", web::get().to(metrics::serve))
        .default_service(web::to(api::not_found))
        .wrap(from_fn(access_log))
        .wrap(security_headers())
}

/// Fixes glibc's mmap threshold at 1 MiB. glibc raises the threshold after the first large
/// free, and from then on the Argon2 buffers (8–19 MiB per login, PIN or receipt check) come
/// from per-thread arenas that keep the memory: peak RSS measured 509–528 MiB after a form
/// load, against 46–63 MiB with the threshold fixed, at no measured cost in throughput.
/// Call first thing in `main`, before any thread exists.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread.
    // SAFETY (both calls): mallopt only sets allocator parameters; this runs before any
    // other thread exists. Four arenas at most (glibc's default is eight per core): fewer
    // places for freed memory to sit unused.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

/// Starts the HTTP server on an already bound listener. `handle_signals` is false in tests,
/// which stop the server through its handle.
pub fn server(
    state: web::Data<AppState>,
    listener: TcpListener,
    workers: usize,
    handle_signals: bool,
) -> std::io::Result<actix_web::dev::Server> {
    // Blocking work is database transactions (at most `db_max_connections` at once) and
    // Argon2 (at most one per core): more threads than that only wait, each with its own
    // stack and malloc arena. actix's default is 512 per process.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let blocking = (state.config.db_max_connections as usize + 2 * cores).clamp(4, 64);
    let mut server =
        HttpServer::new(move || build_app(state.clone())).worker_max_blocking_threads(blocking).listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    if !handle_signals {
        server = server.disable_signals();
    }
    Ok(server.run())
}
