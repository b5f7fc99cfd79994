//! What every server-rendered page of Haven shares, the defender's form and the staff
//! console alike: the strict headers (CSP, `no-store`, `no-referrer`), gzip on GET only, the
//! bounded form-body reader and its decoder, and `Retry-After` on a throttled page.

pub mod decode;

use std::io::Write;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::error::AppError;

/// The pages' CSP: nothing but this origin's stylesheet (and images), forms only to here.
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";
/// Largest form body: a 20,000-character narrative in Arabic, percent-encoded, fits.
pub const MAX_FORM_BODY: usize = 256 * 1024;

/// A page's answer with the pages' headers. Responses to GET may be compressed (they echo
/// nothing the client sent); answers to POST never are, so a receipt or a token is never
/// compressed beside text an attacker might inject (BREACH).
pub fn respond(req: &HttpRequest, status: StatusCode, content_type: &str, body: Vec<u8>) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header(("Permissions-Policy", "interest-cohort=()"))
        .insert_header((header::VARY, "Accept-Encoding, Accept-Language"));
    let gzip_ok = req.method() == actix_web::http::Method::GET
        && req
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|p| p.trim().split(';').next() == Some("gzip")));
    if gzip_ok {
        if let Some(z) = gzip(&body) {
            res.insert_header((header::CONTENT_ENCODING, "gzip"));
            return res.body(z);
        }
    }
    res.body(body)
}

pub fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

/// The `Retry-After` of a page answering `e`: the throttle's wait, or 30 s when the service
/// is unavailable for a moment.
pub fn set_retry_after(res: &mut HttpResponse, e: &AppError) {
    let value = match e {
        AppError::TooManyRequests { retry_after_secs } => {
            header::HeaderValue::from_str(&retry_after_secs.to_string()).ok()
        }
        _ if actix_web::ResponseError::status_code(e) == StatusCode::SERVICE_UNAVAILABLE => {
            Some(header::HeaderValue::from_static("30"))
        }
        _ => None,
    };
    if let Some(v) = value {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

/// Reads a form body: only `application/x-www-form-urlencoded`, at most `MAX_FORM_BODY`
/// bytes (refused as soon as the limit is passed, without reading the rest).
pub async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, AppError> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.split(';').next().map(str::trim) != Some("application/x-www-form-urlencoded") {
        return Err(AppError::bad_request("unsupported_media_type", "a form body is expected"));
    }
    if let Some(len) =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
    {
        if len > MAX_FORM_BODY {
            return Err(AppError::PayloadTooLarge);
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::bad_request("invalid_body", "the body could not be read"))?;
        if body.len() + chunk.len() > MAX_FORM_BODY {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
