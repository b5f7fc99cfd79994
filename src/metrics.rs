//! `/metrics` in the Prometheus text format: requests and latencies by route pattern (never
//! concrete paths), outbox depth, escalation lag and key-cache hits. Off unless
//! `metrics_token` is set; the scraper sends it as a bearer token.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::clock::naive;
use crate::error::AppError;
use crate::state::AppState;

const BUCKETS: [f64; 11] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests.entry((method.to_string(), route.to_string(), status)).or_default() += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.buckets[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    fn render_http(&self, out: &mut String) {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP haven_http_requests_total HTTP requests by method, route pattern and status.");
        let _ = writeln!(out, "# TYPE haven_http_requests_total counter");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "haven_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                label(route)
            );
        }
        let _ = writeln!(out, "# HELP haven_http_request_duration_seconds Time to answer, by route pattern.");
        let _ = writeln!(out, "# TYPE haven_http_request_duration_seconds histogram");
        for (route, h) in &m.latency {
            let route = label(route);
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "haven_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "haven_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "haven_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "haven_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
    }
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn authorized(req: &HttpRequest, token: &str) -> bool {
    let given = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    crate::crypto::constant_time_eq(given.as_bytes(), token.as_bytes())
}

pub async fn serve(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let token = state.config.metrics_token.expose();
    if token.is_empty() {
        return Err(AppError::NotFound("not_found"));
    }
    if !authorized(&req, token) {
        return Err(AppError::Unauthorized("invalid_token"));
    }
    let now = naive(state.clock.now());
    let (pending, failed, active, oldest_due) = state
        .db
        .read(move |c| {
            use crate::db::models::{Escalation, OutboxMessage};
            let pending = OutboxMessage::count_with_status(c, "pending")?;
            let failed = OutboxMessage::count_with_status(c, "failed")?;
            let active = Escalation::count_active(c)?;
            let oldest = Escalation::oldest_due(c, now)?;
            Ok((pending, failed, active, oldest))
        })
        .await?;
    let lag = oldest_due.map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0).unwrap_or(0.0);
    let mut out = String::new();
    state.metrics.render_http(&mut out);
    let hits = state.crypto.cache_hits.load(std::sync::atomic::Ordering::Relaxed);
    let misses = state.crypto.cache_misses.load(std::sync::atomic::Ordering::Relaxed);
    for (name, kind, help, value) in [
        ("haven_outbox_pending", "gauge", "Escalation mails waiting to be sent.", pending as f64),
        ("haven_outbox_failed", "gauge", "Escalation mails given up after their deadline.", failed as f64),
        ("haven_escalations_active", "gauge", "Escalations running.", active as f64),
        ("haven_escalation_lag_seconds", "gauge", "How late the most overdue escalation step is.", lag),
        ("haven_key_cache_hits_total", "counter", "Case keys found in the memory cache.", hits as f64),
        ("haven_key_cache_misses_total", "counter", "Case keys unwrapped from their grant.", misses as f64),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(out))
}
