//! The API's body and query extractors. Unlike actix's own, they answer in the service's
//! error shape and name the field at fault: `threats[1].likelihood: expected u8` rather
//! than serde's bare "invalid value". A body sent as anything but JSON is a 415.
//! Values the client sent are never echoed (a wrong-typed field may hold a password); field
//! names are, since they are the API's own words or the client's typo of them.

use std::borrow::Cow;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::state::AppState;

/// Used when the app carries no state (never in the service itself).
const FALLBACK_LIMIT: usize = 64 * 1024;

/// A request body parsed as JSON into `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// `application/json`, or any `application/…+json`, with or without parameters.
fn is_json(req: &HttpRequest) -> bool {
    let Some(v) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<AppState>>().map_or(FALLBACK_LIMIT, |s| s.config.max_body_bytes);
        let json = is_json(req);
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(AppError::UnsupportedMediaType.into());
            }
            if length.is_some_and(|n| n > limit) {
                return Err(AppError::PayloadTooLarge.into());
            }
            let mut body = web::BytesMut::with_capacity(length.unwrap_or(0));
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|_| AppError::bad_request("invalid_body", "request body could not be read"))?;
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge.into());
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(Json).map_err(Into::into)
        })
    }
}

/// A query string parsed into `T`; a bad one is a 400 `invalid_query` naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query).map_err(Into::into))
    }
}

pub fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, AppError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = field_path(e.path());
        let (problem, field) = data_problem(&e.into_inner().to_string(), path);
        let message = match &field {
            Some(f) => format!("invalid query string: {f}: {problem}"),
            None => format!("invalid query string: {problem}"),
        };
        let err = AppError::bad_request("invalid_query", message);
        match field {
            Some(f) => err.at(f),
            None => err,
        }
    })
}

/// Parses a whole body, trailing characters included, into `T`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(describe)?;
    de.end().map_err(|e| describe_syntax(&e))?;
    Ok(value)
}

fn describe(e: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = field_path(e.path());
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let (problem, field) = data_problem(&inner.to_string(), path);
            let mut err = AppError::bad_request(
                "invalid_body",
                match &field {
                    Some(f) => format!("{f}: {problem}"),
                    None => problem,
                },
            );
            if let Some(f) = field {
                err = err.at(f);
            }
            err
        }
        _ => describe_syntax(&inner),
    }
}

/// A body that is not JSON at all, or stops early: where, never what.
fn describe_syntax(e: &serde_json::Error) -> AppError {
    use serde_json::error::Category;
    let msg = match e.classify() {
        Category::Eof if e.line() == 1 && e.column() == 0 => "a JSON body is required".to_string(),
        Category::Eof => "the JSON body ends before it is complete".to_string(),
        Category::Io => "request body could not be read".to_string(),
        _ => format!("the body is not valid JSON (line {}, column {})", e.line(), e.column()),
    };
    AppError::bad_request("invalid_body", msg)
}

/// serde's path as `a.b[2].c`, or None at the top level. Path segments are field names
/// (ours, or the client's misspelling of one), array indexes and map keys; anything that
/// does not look like a name is shown as `?`.
fn field_path(p: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&printable_name(key));
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn printable_name(key: &str) -> Cow<'_, str> {
    let ok = (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Cow::Borrowed(key)
    } else {
        Cow::Borrowed("?")
    }
}

/// What was wrong with a value, said without the value, and the field it concerns. serde's
/// "missing field `x`" is raised on the object that lacks it, so `x` is added to the path.
fn data_problem(serde_msg: &str, path: Option<String>) -> (String, Option<String>) {
    let msg = serde_msg.split(" at line ").next().unwrap_or(serde_msg);
    let quoted = |s: &str| s.split('`').nth(1).map(str::to_string);
    if let Some(rest) = msg.strip_prefix("missing field ") {
        let name = quoted(rest).unwrap_or_default();
        let name = printable_name(&name).into_owned();
        let field = match path {
            Some(p) => format!("{p}.{name}"),
            None => name,
        };
        return ("is required".to_string(), Some(field));
    }
    if msg.starts_with("unknown field ") {
        // The last ", expected": the client's own text (in the first backticks) may hold one.
        let expected = msg.rsplit_once(", expected ").map(|(_, e)| e);
        let problem = match expected {
            Some(e) => format!("is not a field here; expected {e}"),
            None => "is not a field here".to_string(),
        };
        return (problem, path);
    }
    if msg.starts_with("unknown variant ") {
        let expected = msg.rsplit_once(", expected ").map(|(_, e)| e).unwrap_or("another value");
        return (format!("is not an accepted value; expected {expected}"), path);
    }
    if msg.starts_with("duplicate field ") {
        return ("is given twice".to_string(), path);
    }
    if msg.starts_with("invalid type") || msg.starts_with("invalid value") || msg.starts_with("invalid length") {
        // "invalid type: string \"hunter2\", expected a boolean": keep only what was expected.
        let problem = match msg.rsplit_once("expected ") {
            Some((_, expected)) => format!("expected {expected}"),
            None => "is not valid here".to_string(),
        };
        return (problem, path);
    }
    // A message of our own (a custom Deserialize impl): it names no value by construction.
    (msg.to_string(), path)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::parse;
    use crate::error::AppError;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Threat {
        likelihood: u8,
        kind: Kind,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Physical,
        Digital,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        threats: Vec<Threat>,
    }

    fn err(body: &str) -> (String, Option<String>) {
        match parse::<Body>(body.as_bytes()) {
            Err(e @ AppError::BadRequest { .. }) => (e.to_string(), e.field().map(str::to_string)),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_by_its_path() {
        let (m, f) = err(
            r#"{"name":"x","threats":[{"likelihood":1,"kind":"physical"},{"likelihood":"hunter2","kind":"digital"}]}"#,
        );
        assert_eq!(f.as_deref(), Some("threats[1].likelihood"));
        assert!(m.contains("threats[1].likelihood: expected u8"), "{m}");
        assert!(!m.contains("hunter2"), "{m}");

        let (m, f) = err(r#"{"name":"x","threats":[{"likelihood":1,"kind":"Maria Lopez"}]}"#);
        assert_eq!(f.as_deref(), Some("threats[0].kind"));
        assert!(m.contains("threats[0].kind: is not an accepted value; expected `physical` or `digital`"), "{m}");
        assert!(!m.contains("Maria"), "{m}");

        let (m, f) = err(r#"{"name":"x","threats":[],"ssn":"123"}"#);
        assert_eq!(f.as_deref(), Some("ssn"));
        assert!(m.contains("ssn: is not a field here; expected `name` or `threats`"), "{m}");
        assert!(!m.contains("123"), "{m}");

        let (m, f) = err(r#"{"threats":[{"likelihood":1}]}"#);
        assert_eq!(f.as_deref(), Some("threats[0].kind"), "{m}");
        assert!(m.contains("threats[0].kind: is required"), "{m}");

        let (m, f) = err(r#"{"threats":[]}"#);
        assert_eq!((m.as_str(), f.as_deref()), ("invalid_body: name: is required", Some("name")));
    }

    #[test]
    fn broken_json_says_where_not_what() {
        assert_eq!(err("").0, "invalid_body: a JSON body is required");
        assert_eq!(err(r#"{"name":"x","thr"#).0, "invalid_body: the JSON body ends before it is complete");
        let (m, f) = err("{not json");
        assert_eq!((m.as_str(), f), ("invalid_body: the body is not valid JSON (line 1, column 2)", None));
        let (m, _) = err(r#"{"name":"x","threats":[]} trailing"#);
        assert!(m.contains("not valid JSON"), "{m}");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        kind: Option<Kind>,
        limit: Option<u32>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let e = super::parse_query::<Q>("kind=secret-value").unwrap_err();
        assert_eq!(e.field(), Some("kind"));
        assert!(e.to_string().contains("kind: is not an accepted value; expected `physical` or `digital`"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        let e = super::parse_query::<Q>("limit=ten").unwrap_err();
        assert_eq!(e.field(), Some("limit"), "{e}");
        let e = super::parse_query::<Q>("lmit=10").unwrap_err();
        assert_eq!(e.field(), Some("lmit"), "{e}");
        assert!(e.to_string().contains("lmit: is not a field here; expected `kind` or `limit`"), "{e}");
        assert!(super::parse_query::<Q>("kind=digital&limit=5").is_ok());
    }

    #[test]
    fn a_value_that_mimics_the_message_is_not_echoed() {
        let (m, f) = err(r#"{"name":"x","threats":[{"likelihood":1,"kind":"x, expected hunter2"}]}"#);
        assert_eq!(f.as_deref(), Some("threats[0].kind"));
        assert!(!m.contains("hunter2"), "{m}");
        let (m, _) = err(r#"{"name":"x","threats":[],"a, expected hunter2":1}"#);
        assert!(!m.contains("hunter2"), "{m}");
        let e = super::parse_query::<Q>("kind=x%2C+expected+hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn odd_keys_are_not_echoed() {
        let (m, f) = err(r#"{"name":"x","threats":[],"my password is hunter2":1}"#);
        assert_eq!(f.as_deref(), Some("?"));
        assert!(!m.contains("hunter2"), "{m}");
    }
}
