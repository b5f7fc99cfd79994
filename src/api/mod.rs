//! The HTTP API. One file per resource; handlers are thin: parse, authorise (through the
//! `Authed` extractor), call `domain`, map the result to a DTO.
//!
//! [`table`] is the single list of routes. Each names the [`Action`] it needs; `configure`
//! attaches those actions to the resources, and the `Authed` extractor refuses any request
//! whose route declared none. Tests walk the same table.

pub mod alerts;
pub mod assessments;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod checkins;
pub mod dates;
pub mod defenders;
pub mod escalations;
pub mod extract;
pub mod grants;
pub mod health;
pub mod intake;
pub mod me;
pub mod messages;
pub mod notes;
pub mod openapi;
pub mod organizations;
pub mod people;
pub mod plans;
pub mod relocations;
pub mod summary;
pub mod users;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, FromRequest, Handler, Responder};
use serde::{Deserialize, Serialize};

use crate::auth::RouteActions;
use crate::authz::Action;
use crate::error::AppError;

/// Registers a schema (and the schemas it refers to) and returns its name.
pub type SchemaFn = fn(&mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) -> String;

pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub action: Action,
    /// The JSON body it takes, for the OpenAPI description.
    pub request: Option<SchemaFn>,
    /// Its success status and body (None: no body).
    pub response: Option<(u16, Option<SchemaFn>)>,
    /// The query parameters it takes, for the OpenAPI description.
    pub query: Option<fn() -> Vec<utoipa::openapi::path::Parameter>>,
    route: actix_web::Route,
}

fn def<F, Args>(method: Method, path: &'static str, action: Action, handler: F) -> RouteDef
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let route = web::route().method(method.clone()).to(handler);
    RouteDef { method, path, action, request: None, response: None, query: None, route }
}

fn schema_of<T: utoipa::ToSchema>(
    out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
) -> String {
    T::schemas(out);
    let name = T::name().into_owned();
    out.push((name.clone(), T::schema()));
    name
}

fn params_of<T: utoipa::IntoParams>() -> Vec<utoipa::openapi::path::Parameter> {
    T::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query))
}

fn page_of<T: utoipa::ToSchema>(
    out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
) -> String {
    let item = schema_of::<T>(out);
    let name = format!("Page_{item}");
    out.push((name.clone(), <Page<T> as utoipa::PartialSchema>::schema()));
    name
}

impl RouteDef {
    fn body<T: utoipa::ToSchema>(mut self) -> Self {
        self.request = Some(schema_of::<T>);
        self
    }
    fn returns<T: utoipa::ToSchema>(mut self, status: u16) -> Self {
        self.response = Some((status, Some(schema_of::<T>)));
        self
    }
    /// A page of `T`; takes `limit` and `cursor` unless `query` names a fuller set.
    fn returns_page<T: utoipa::ToSchema>(mut self) -> Self {
        self.response = Some((200, Some(page_of::<T>)));
        self.query = self.query.or(Some(params_of::<PageQuery>));
        self
    }
    fn query<T: utoipa::IntoParams>(mut self) -> Self {
        self.query = Some(params_of::<T>);
        self
    }
    fn no_content(mut self) -> Self {
        self.response = Some((204, None));
        self
    }
}

/// Every route of the service, with the action it needs and what it takes and returns.
pub fn table() -> Vec<RouteDef> {
    use crate::api::{
        alerts as al, cases as ca, defenders as de, notes as no, organizations as or, relocations as rl, users as us,
    };
    use crate::auth::session::TokenPair;
    use Action as A;
    use Method as M;
    vec![
        def(M::GET, "/healthz", A::Public, health::healthz).returns::<health::Status>(200),
        def(M::GET, "/readyz", A::Public, health::readyz).returns::<health::Status>(200),
        def(M::GET, "/api/v1/openapi.json", A::Public, openapi::serve).returns::<openapi::Document>(200),
        def(M::POST, "/api/v1/auth/login", A::Public, auth::login)
            .body::<auth::LoginRequest>()
            .returns::<TokenPair>(200),
        def(M::POST, "/api/v1/auth/refresh", A::Public, auth::refresh)
            .body::<auth::RefreshRequest>()
            .returns::<TokenPair>(200),
        def(M::POST, "/api/v1/auth/logout", A::AuthLogout, auth::logout).no_content(),
        def(M::GET, "/api/v1/me", A::MeRead, me::show).returns::<me::MeView>(200),
        def(M::POST, "/api/v1/me/mfa/totp", A::MeMfaEnroll, me::totp_enrol).returns::<me::TotpEnrolment>(200),
        def(M::DELETE, "/api/v1/me/mfa/totp", A::MeMfaDisable, me::totp_disable).body::<me::TotpCode>().no_content(),
        def(M::POST, "/api/v1/me/mfa/totp/confirm", A::MeMfaEnroll, me::totp_confirm)
            .body::<me::TotpCode>()
            .returns::<me::RecoveryCodes>(200),
        def(M::POST, "/api/v1/me/password", A::MePasswordChange, me::change_password)
            .body::<me::PasswordChange>()
            .no_content(),
        def(M::POST, "/api/v1/organizations", A::OrganizationCreate, or::create)
            .body::<or::OrganizationCreate>()
            .returns::<or::OrganizationView>(201),
        def(M::GET, "/api/v1/organizations", A::OrganizationList, or::list).returns_page::<or::OrganizationView>(),
        def(M::POST, "/api/v1/users", A::UserCreate, us::create)
            .body::<us::UserCreate>()
            .returns::<us::UserCreated>(201),
        def(M::GET, "/api/v1/users", A::UserList, us::list).query::<us::UserListQuery>().returns_page::<us::UserView>(),
        def(M::PATCH, "/api/v1/users/{id}", A::UserUpdate, us::update)
            .body::<us::UserPatch>()
            .returns::<us::UserView>(200),
        def(M::POST, "/api/v1/users/{id}/reset-password", A::UserResetPassword, us::reset_password)
            .returns::<us::PasswordReset>(200),
        def(M::POST, "/api/v1/users/{id}/mfa/reset", A::UserMfaReset, us::mfa_reset).no_content(),
        def(M::GET, "/api/v1/form/intake", A::FormIntakeRead, intake::show).returns::<intake::IntakeView>(200),
        def(M::PUT, "/api/v1/form/intake", A::FormIntakeUpdate, intake::update)
            .body::<intake::IntakeChange>()
            .returns::<intake::IntakeView>(200),
        def(M::GET, "/api/v1/audit", A::AuditRead, audit::list)
            .query::<audit::AuditQuery>()
            .returns_page::<audit::AuditView>(),
        def(M::POST, "/api/v1/cases", A::CaseCreate, ca::create).body::<ca::CaseCreate>().returns::<ca::CaseView>(201),
        def(M::GET, "/api/v1/cases", A::CaseList, ca::list)
            .query::<ca::CaseListQuery>()
            .returns_page::<ca::CaseListItem>(),
        def(M::GET, "/api/v1/cases/{id}", A::CaseRead, ca::show).returns::<ca::CaseView>(200),
        def(M::PATCH, "/api/v1/cases/{id}", A::CaseUpdate, ca::update)
            .body::<ca::CasePatch>()
            .returns::<ca::CaseView>(200),
        def(M::POST, "/api/v1/cases/{id}/transitions", A::CaseTransition, ca::transition)
            .body::<ca::TransitionRequest>()
            .returns::<ca::CaseView>(200),
        def(M::POST, "/api/v1/cases/{id}/assignees", A::CaseAssign, ca::assign)
            .body::<ca::AssigneeRequest>()
            .returns::<ca::CaseView>(200),
        def(M::DELETE, "/api/v1/cases/{id}/assignees/{user_id}", A::CaseUnassign, ca::unassign)
            .returns::<ca::CaseView>(200),
        def(M::POST, "/api/v1/cases/{id}/shares", A::CaseShare, ca::share)
            .body::<ca::ShareRequest>()
            .returns::<ca::CaseView>(200),
        def(M::DELETE, "/api/v1/cases/{id}/shares/{organization_id}", A::CaseUnshare, ca::unshare)
            .returns::<ca::CaseView>(200),
        def(M::POST, "/api/v1/cases/{id}/notes", A::NoteCreate, no::create)
            .body::<no::NoteCreate>()
            .returns::<no::NoteView>(201),
        def(M::GET, "/api/v1/cases/{id}/notes", A::NoteList, no::list).returns_page::<no::NoteView>(),
        def(M::POST, "/api/v1/defenders", A::DefenderCreate, de::create)
            .body::<de::DefenderCreate>()
            .returns::<de::DefenderView>(201),
        def(M::GET, "/api/v1/defenders", A::DefenderList, de::list).returns_page::<de::DefenderListItem>(),
        def(M::GET, "/api/v1/defenders/{id}", A::DefenderRead, de::show).returns::<de::DefenderView>(200),
        def(M::PATCH, "/api/v1/defenders/{id}", A::DefenderUpdate, de::update)
            .body::<de::DefenderPatch>()
            .returns::<de::DefenderView>(200),
        def(M::POST, "/api/v1/alerts", A::AlertCreate, al::create)
            .body::<al::AlertCreate>()
            .returns::<al::AlertView>(201),
        def(M::GET, "/api/v1/alerts", A::AlertList, al::list)
            .query::<al::AlertListQuery>()
            .returns_page::<al::AlertListItem>(),
        def(M::GET, "/api/v1/alerts/{id}", A::AlertRead, al::show).returns::<al::AlertView>(200),
        def(M::POST, "/api/v1/alerts/{id}/triage", A::AlertTriage, al::triage)
            .body::<al::TriageRequest>()
            .returns::<al::AlertView>(200),
        def(M::POST, "/api/v1/alerts/{id}/dismiss", A::AlertDismiss, al::dismiss)
            .body::<al::DismissRequest>()
            .returns::<al::AlertView>(200),
        def(M::GET, "/api/v1/alerts/{id}/messages", A::AlertMessages, messages::list_for_alert)
            .returns_page::<messages::MessageView>(),
        def(M::POST, "/api/v1/cases/{id}/assessments", A::AssessmentCreate, assessments::create)
            .body::<assessments::AssessmentCreate>()
            .returns::<assessments::AssessmentView>(201),
        def(M::GET, "/api/v1/cases/{id}/assessments", A::AssessmentList, assessments::list)
            .returns_page::<assessments::AssessmentSummary>(),
        def(M::GET, "/api/v1/assessments/{id}", A::AssessmentRead, assessments::show)
            .returns::<assessments::AssessmentView>(200),
        def(M::POST, "/api/v1/cases/{id}/plans", A::PlanCreate, plans::create)
            .body::<plans::PlanCreate>()
            .returns::<plans::PlanView>(201),
        def(M::GET, "/api/v1/cases/{id}/plans", A::PlanList, plans::list).returns_page::<plans::PlanView>(),
        def(M::GET, "/api/v1/plans/{id}", A::PlanRead, plans::show).returns::<plans::PlanView>(200),
        def(M::PATCH, "/api/v1/plans/{id}", A::PlanUpdate, plans::update)
            .body::<plans::PlanPatch>()
            .returns::<plans::PlanView>(200),
        def(M::POST, "/api/v1/plans/{id}/measures", A::MeasureCreate, plans::add_measure)
            .body::<plans::MeasureCreate>()
            .returns::<plans::MeasureView>(201),
        def(M::PATCH, "/api/v1/measures/{id}", A::MeasureUpdate, plans::update_measure)
            .body::<plans::MeasurePatch>()
            .returns::<plans::MeasureView>(200),
        def(M::POST, "/api/v1/cases/{id}/grants", A::GrantRequest, grants::create)
            .body::<grants::GrantCreate>()
            .returns::<grants::GrantView>(201),
        def(M::GET, "/api/v1/cases/{id}/grants", A::GrantList, grants::list).returns_page::<grants::GrantView>(),
        def(M::GET, "/api/v1/grants/{id}", A::GrantRead, grants::show).returns::<grants::GrantView>(200),
        def(M::PATCH, "/api/v1/grants/{id}", A::GrantDecide, grants::decide)
            .body::<grants::GrantPatch>()
            .returns::<grants::GrantView>(200),
        def(M::POST, "/api/v1/grants/{id}/disbursements", A::DisbursementCreate, grants::disburse)
            .body::<grants::DisbursementCreate>()
            .returns::<grants::DisbursementView>(201),
        def(M::GET, "/api/v1/grants/{id}/disbursements", A::DisbursementList, grants::disbursements)
            .returns_page::<grants::DisbursementView>(),
        def(M::POST, "/api/v1/cases/{id}/relocations", A::RelocationRequest, rl::create_relocation)
            .body::<rl::RelocationCreate>()
            .returns::<rl::RelocationView>(201),
        def(M::GET, "/api/v1/cases/{id}/relocations", A::RelocationList, rl::list_relocations)
            .returns_page::<rl::RelocationView>(),
        def(M::GET, "/api/v1/relocations/{id}", A::RelocationRead, rl::show_relocation)
            .returns::<rl::RelocationView>(200),
        def(M::PATCH, "/api/v1/relocations/{id}", A::RelocationUpdate, rl::update_relocation)
            .body::<rl::RelocationPatch>()
            .returns::<rl::RelocationView>(200),
        def(M::POST, "/api/v1/relocations/{id}/visas", A::VisaCreate, rl::create_visa)
            .body::<rl::VisaCreate>()
            .returns::<rl::VisaView>(201),
        def(M::GET, "/api/v1/relocations/{id}/visas", A::VisaList, rl::list_visas).returns_page::<rl::VisaListItem>(),
        def(M::GET, "/api/v1/visas/{id}", A::VisaRead, rl::show_visa).returns::<rl::VisaView>(200),
        def(M::PATCH, "/api/v1/visas/{id}", A::VisaUpdate, rl::update_visa)
            .body::<rl::VisaPatch>()
            .returns::<rl::VisaView>(200),
        def(M::POST, "/api/v1/cases/{id}/psychosocial", A::CareCreate, rl::create_care)
            .body::<rl::CareCreate>()
            .returns::<rl::CareView>(201),
        def(M::GET, "/api/v1/cases/{id}/psychosocial", A::CareList, rl::list_care).returns_page::<rl::CareView>(),
        def(M::GET, "/api/v1/psychosocial/{id}", A::CareRead, rl::show_care).returns::<rl::CareView>(200),
        def(M::PATCH, "/api/v1/psychosocial/{id}", A::CareUpdate, rl::update_care)
            .body::<rl::CarePatch>()
            .returns::<rl::CareView>(200),
        def(M::GET, "/api/v1/cases/{id}/summary", A::CaseSummary, ca::summary).returns::<summary::CaseSummary>(200),
        def(M::POST, "/api/v1/cases/{id}/checkins", A::CheckinCreate, checkins::create)
            .body::<checkins::CheckinCreate>()
            .returns::<checkins::CheckinView>(201),
        def(M::GET, "/api/v1/cases/{id}/checkins", A::CheckinList, checkins::list)
            .returns_page::<checkins::CheckinView>(),
        def(M::POST, "/api/v1/checkins/{id}/close", A::CheckinClose, checkins::close)
            .body::<checkins::CheckinClose>()
            .returns::<checkins::CheckinView>(200),
        def(M::POST, "/api/v1/cases/{id}/messages", A::MessageSend, messages::create)
            .body::<messages::MessageCreate>()
            .returns::<messages::MessageView>(201),
        def(M::GET, "/api/v1/cases/{id}/messages", A::MessageList, messages::list)
            .returns_page::<messages::MessageView>(),
        def(M::GET, "/api/v1/escalations", A::EscalationList, escalations::list)
            .query::<escalations::EscalationListQuery>()
            .returns_page::<escalations::EscalationView>(),
        def(M::POST, "/api/v1/escalations/{id}/ack", A::EscalationAck, escalations::ack)
            .returns::<escalations::EscalationView>(200),
    ]
}

/// Registers `table()`: one resource per path carrying its method→action map, and a JSON
/// 405 for methods the resource does not have.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    let mut defs = table();
    for d in &defs {
        if !paths.contains(&d.path) {
            paths.push(d.path);
        }
    }
    for path in paths {
        let (mine, rest): (Vec<RouteDef>, Vec<RouteDef>) = defs.into_iter().partition(|d| d.path == path);
        defs = rest;
        let actions = RouteActions(mine.iter().map(|d| (d.method.clone(), d.action)).collect());
        let allow: String = mine.iter().map(|d| d.method.as_str()).collect::<Vec<_>>().join(", ");
        let mut resource = web::resource(path);
        for d in mine {
            resource = resource.route(d.route);
        }
        let resource = resource
            .default_service(web::to(move || method_not_allowed(allow.clone())))
            .wrap(from_fn(move |req, next| crate::auth::guard(actions.clone(), req, next)));
        cfg.service(resource);
    }
}

/// 405 with the `Allow` header RFC 9110 asks for: the methods this path does have.
async fn method_not_allowed(allow: String) -> actix_web::HttpResponse {
    let mut res = actix_web::ResponseError::error_response(&AppError::MethodNotAllowed);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    res
}

pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound("not_found"))
}

/// `?cursor=…&limit=…` for list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200; 50 if not given.
    pub limit: Option<u32>,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

impl PageQuery {
    pub fn limit(&self) -> Result<i64, AppError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => Ok(i64::from(n)),
            _ => Err(AppError::bad_request("invalid_limit", format!("limit must be between 1 and {MAX_LIMIT}"))),
        }
    }

    /// The id to continue after: a `next_cursor` this service gave, which is always a
    /// UUID. Anything else is a 400, never a silent first page.
    pub fn cursor(&self) -> Result<Option<&str>, AppError> {
        match self.cursor.as_deref() {
            None | Some("") => Ok(None),
            Some(c) if is_uuid(c) => Ok(Some(c)),
            Some(_) => Err(invalid_cursor()),
        }
    }

    /// One page of a list held in memory, `rows` already in the list's order: the lists of
    /// one case's records (plans, grants, check-ins, …), which are small and loaded whole,
    /// page exactly like the lists paged in SQL. Only the page's rows are then opened
    /// (decrypted) by the caller. A cursor naming no row of this list is a 400.
    pub fn page_in<T>(&self, rows: Vec<T>, id_of: impl Fn(&T) -> &str) -> Result<Page<T>, AppError> {
        let limit = self.limit()? as usize;
        let start = match self.cursor()? {
            None => 0,
            Some(c) => rows.iter().position(|r| id_of(r) == c).map(|i| i + 1).ok_or_else(invalid_cursor)?,
        };
        let more = rows.len() > start + limit;
        let items: Vec<T> = rows.into_iter().skip(start).take(limit).collect();
        let next_cursor = if more { items.last().map(|r| id_of(r).to_string()) } else { None };
        Ok(Page { items, next_cursor })
    }
}

fn invalid_cursor() -> AppError {
    AppError::bad_request("invalid_cursor", "cursor is not valid: pass the next_cursor of the previous page")
}

/// `8-4-4-4-12` hexadecimal digits, the shape of every id Haven makes.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

impl<T> Page<T> {
    /// The same page with its items turned into views (opening sealed content, say).
    pub fn try_map<U>(self, f: impl FnMut(T) -> Result<U, AppError>) -> Result<Page<U>, AppError> {
        Ok(Page { items: self.items.into_iter().map(f).collect::<Result<_, _>>()?, next_cursor: self.next_cursor })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `items` was fetched with `limit + 1` rows to learn whether another page exists.
    pub fn from_rows(mut items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(cursor_of) } else { None };
        Page { items, next_cursor }
    }
}

/// The `Idempotency-Key` header: 1 to 128 visible ASCII characters, or absent.
pub fn idempotency_key(req: &actix_web::HttpRequest) -> Result<Option<String>, AppError> {
    let Some(v) = req.headers().get("Idempotency-Key") else { return Ok(None) };
    match v.to_str() {
        Ok(s) if (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(s.to_string())),
        _ => {
            Err(AppError::bad_request("invalid_idempotency_key", "Idempotency-Key must be 1 to 128 visible characters"))
        }
    }
}

/// `If-Match: "v7"` (or `W/"v7"`) as version 7; `*` or absent means no precondition.
pub fn if_match(req: &actix_web::HttpRequest) -> Result<Option<i32>, AppError> {
    let Some(v) = req.headers().get(actix_web::http::header::IF_MATCH) else { return Ok(None) };
    let bad = || AppError::bad_request("invalid_if_match", "If-Match must be an ETag from a previous response");
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s == "*" {
        return Ok(None);
    }
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.strip_prefix("\"v").and_then(|r| r.strip_suffix('"')).and_then(|n| n.parse().ok()).map(Some).ok_or_else(bad)
}

/// A keyed digest of a request body, to tell a retry from a different request with the same
/// key. Keyed (HMAC), because it is stored and the body may describe a defender.
pub fn request_hash<T: Serialize>(jwt: &crate::auth::jwt::JwtKeys, body: &T) -> Result<String, AppError> {
    let bytes = zeroize::Zeroizing::new(serde_json::to_vec(body).map_err(AppError::internal)?);
    jwt.keyed_digest(&bytes)
}

/// Runs a creating request at most once per `Idempotency-Key`. `op` gets the id of what an
/// earlier request with the same key created (then it must only load and return it), or
/// None (then it creates, and returns the new object's id alongside its response). The
/// record of the key is written in the same transaction as the object. A concurrent twin is
/// retried once, and then replays what the first one made.
pub async fn idempotent<T, F>(
    state: &actix_web::web::Data<crate::state::AppState>,
    user_id: &str,
    key: Option<String>,
    route: &'static str,
    request_hash: String,
    op: F,
) -> Result<T, AppError>
where
    T: Send + 'static,
    F: Fn(&mut crate::db::DbConn, Option<&str>) -> Result<(T, String), AppError> + Clone + Send + 'static,
{
    use crate::db::models::IdempotencyKey;
    let now = state.clock.now();
    for attempt in 0..2 {
        let (user_id, key, hash, op) = (user_id.to_string(), key.clone(), request_hash.clone(), op.clone());
        let result = state
            .db
            .write(move |c| {
                if let Some(k) = &key {
                    if let Some(prev) = IdempotencyKey::find(c, &user_id, k)? {
                        if prev.route != route || prev.request_hash != hash {
                            return Err(AppError::unprocessable(
                                "idempotency_key_reused",
                                "this Idempotency-Key was used for another request",
                            ));
                        }
                        return op(c, Some(&prev.resource_id)).map(|(t, _)| t);
                    }
                }
                let (t, id) = op(c, None)?;
                if let Some(k) = key {
                    let row = IdempotencyKey {
                        user_id,
                        idem_key: k,
                        route: route.into(),
                        request_hash: hash,
                        resource_id: id,
                        created_at: crate::clock::naive(now),
                    };
                    row.insert(c).map_err(|e| match e {
                        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                            AppError::conflict("idempotency_race", "a request with this Idempotency-Key is in progress")
                        }
                        other => other.into(),
                    })?;
                }
                Ok(t)
            })
            .await;
        match result {
            Err(AppError::Conflict { code: "idempotency_race", .. }) if attempt == 0 => continue,
            other => return other,
        }
    }
    Err(AppError::conflict("idempotency_race", "a request with this Idempotency-Key is in progress"))
}

/// A JSON response carrying the object's version as its `ETag`.
pub fn with_etag(status: actix_web::http::StatusCode, version: i32, body: impl Serialize) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(status)
        .insert_header((actix_web::http::header::ETAG, format!("\"v{version}\"")))
        .json(body)
}

/// A record by id, or `not_found`; anything that is not an id is refused before it reaches
/// the database.
pub fn find_or<T>(
    c: &mut crate::db::DbConn,
    id: &str,
    not_found: &'static str,
    find: fn(&mut crate::db::DbConn, &str) -> diesel::QueryResult<Option<T>>,
) -> Result<T, AppError> {
    if !crate::domain::accounts::is_id(id) {
        return Err(AppError::NotFound(not_found));
    }
    find(c, id)?.ok_or(AppError::NotFound(not_found))
}

/// The case `case_id`, if the caller may perform `action` (the route's) on it.
pub fn case_for(
    c: &mut crate::db::DbConn,
    st: &crate::state::AppState,
    who: &crate::domain::cases::Caller<'_>,
    case_id: &str,
    action: Action,
) -> Result<crate::db::models::Case, AppError> {
    crate::domain::cases::load_for(c, &st.access, who, case_id, action, crate::clock::naive(st.clock.now()))
}

/// A record of a case and its case, if the caller may perform `action` (the route's) on
/// the case: see [`crate::domain::access::load_record`].
pub fn record_of<T: crate::domain::access::CaseRecord>(
    c: &mut crate::db::DbConn,
    st: &crate::state::AppState,
    who: &crate::domain::cases::Caller<'_>,
    id: &str,
    action: Action,
) -> Result<(T, crate::db::models::Case), AppError> {
    crate::domain::access::load_record(c, &st.access, who, id, action, crate::clock::naive(st.clock.now()))
}

pub use crate::clock::ts;
