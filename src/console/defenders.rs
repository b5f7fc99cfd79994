//! Defender records in the console: her profile (the sealed part only for those allowed),
//! her dependants and her cases; creating and editing a record; attaching one to a case (a
//! case that came from the form has none). Every read and change goes through
//! `domain::defenders` and `domain::cases`, like the API's `/defenders` and `PATCH /cases`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::pages::{error_in, error_page, notice_of, posted_rows, signed_in, staff_chrome, Again, FieldError};
use super::session::Staff;
use super::{html, redirect};
use crate::authz::Action;
use crate::clock::naive;
use crate::db::models::{Case, Defender};
use crate::domain::cases::Caller;
use crate::domain::defenders::{self, ContactChannel, Dependant, Profile};
use crate::error::AppError;
use crate::page::decode::Fields;
use crate::state::AppState;

/// Contact rows and dependant rows the form takes at most (the domain's limits).
const MAX_CONTACTS: usize = 20;
const MAX_DEPENDANTS: usize = 30;
/// Records listed on one page of `/console/defenders`.
const PAGE: i64 = 50;

/// What the record form holds: as stored, or as she typed it.
#[derive(Default, Clone)]
pub(super) struct Typed {
    pseudonym: String,
    country: String,
    networks: String,
    legal_name: String,
    safe_contact: String,
    location: String,
    contacts: Vec<(String, String)>,
    dependants: Vec<(String, String, String)>,
}

impl Typed {
    fn of(d: &Defender, p: &Profile) -> Typed {
        let networks: Vec<String> = serde_json::from_str(&d.networks).unwrap_or_default();
        Typed {
            pseudonym: d.pseudonym.clone(),
            country: d.country.clone(),
            networks: networks.join("\n"),
            legal_name: p.legal_name.clone(),
            safe_contact: p.safe_contact_instructions.clone().unwrap_or_default(),
            location: p.location_detail.clone().unwrap_or_default(),
            contacts: p.contact_channels.iter().map(|c| (c.channel.clone(), c.value.clone())).collect(),
            dependants: p
                .dependants
                .iter()
                .map(|d| (d.name.clone(), d.relation.clone(), d.age.map(|a| a.to_string()).unwrap_or_default()))
                .collect(),
        }
    }

    /// The form's rows: what is there, and one blank row of each to add to (while the limit
    /// allows), or one more when she asked for another.
    fn with_blank_rows(mut self, more: Option<&str>) -> Typed {
        let blank_contacts = if more == Some("contact") { 2 } else { 1 };
        let blank_dependants = if more == Some("dependant") { 2 } else { 1 };
        self.contacts.retain(|(c, v)| !(c.trim().is_empty() && v.trim().is_empty()));
        self.dependants.retain(|(n, r, a)| !(n.trim().is_empty() && r.trim().is_empty() && a.trim().is_empty()));
        for _ in 0..blank_contacts {
            if self.contacts.len() < MAX_CONTACTS {
                self.contacts.push(Default::default());
            }
        }
        for _ in 0..blank_dependants {
            if self.dependants.len() < MAX_DEPENDANTS {
                self.dependants.push(Default::default());
            }
        }
        self
    }

    fn from_form(f: &Fields) -> Typed {
        let (channels, values) = (f.all("channel"), f.all("value"));
        let (names, relations, ages) = (f.all("dep_name"), f.all("dep_relation"), f.all("dep_age"));
        let at = |v: &[&str], i: usize| v.get(i).map(|s| s.to_string()).unwrap_or_default();
        Typed {
            pseudonym: f.raw("pseudonym").to_string(),
            country: f.raw("country").trim().to_uppercase(),
            networks: f.raw("networks").to_string(),
            legal_name: f.raw("legal_name").to_string(),
            safe_contact: f.raw("safe_contact").to_string(),
            location: f.raw("location").to_string(),
            contacts: (0..channels.len().max(values.len())).map(|i| (at(&channels, i), at(&values, i))).collect(),
            dependants: (0..names.len().max(relations.len()).max(ages.len()))
                .map(|i| (at(&names, i), at(&relations, i), at(&ages, i)))
                .collect(),
        }
    }

    /// The record she typed, or the fields to correct first (blank where something is
    /// needed, a country or an age that is not one). Lengths are the domain's to check.
    fn parse(&self, w: &'static super::i18n::Words) -> Result<(String, String, Vec<String>, Profile), Vec<FieldError>> {
        let mut errors = Vec::new();
        let need = |v: &str, field: &'static str, errors: &mut Vec<FieldError>| {
            if v.trim().is_empty() {
                errors.push(FieldError { field, text: w.err_required });
            }
        };
        need(&self.pseudonym, "pseudonym", &mut errors);
        if !crate::domain::country::is_valid(&self.country) {
            errors.push(FieldError { field: "country", text: w.err_country });
        }
        need(&self.legal_name, "legal_name", &mut errors);
        let mut contacts = Vec::new();
        for (i, (channel, value)) in self.contacts.iter().enumerate() {
            if channel.trim().is_empty() && value.trim().is_empty() {
                continue;
            }
            need(channel, row_id("channel", i), &mut errors);
            need(value, row_id("value", i), &mut errors);
            contacts.push(ContactChannel { channel: channel.trim().to_string(), value: value.trim().to_string() });
        }
        let mut dependants = Vec::new();
        for (i, (name, relation, age)) in self.dependants.iter().enumerate() {
            if name.trim().is_empty() && relation.trim().is_empty() && age.trim().is_empty() {
                continue;
            }
            need(name, row_id("dep_name", i), &mut errors);
            need(relation, row_id("dep_relation", i), &mut errors);
            let age = if age.trim().is_empty() {
                None
            } else {
                match parse_age(age) {
                    Some(a) => Some(a),
                    None => {
                        errors.push(FieldError { field: row_id("dep_age", i), text: w.err_age });
                        None
                    }
                }
            };
            dependants.push(Dependant { name: name.trim().to_string(), relation: relation.trim().to_string(), age });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let optional = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let networks = self.networks.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        let profile = Profile {
            legal_name: self.legal_name.trim().to_string(),
            contact_channels: contacts,
            safe_contact_instructions: optional(&self.safe_contact),
            location_detail: optional(&self.location),
            dependants,
        };
        Ok((self.pseudonym.trim().to_string(), self.country.clone(), networks, profile))
    }
}

/// An age typed in any of the digits the form reads (Western or Arabic-Indic), 0 to 120.
fn parse_age(raw: &str) -> Option<u8> {
    let mut n: u32 = 0;
    for c in raw.trim().chars() {
        n = n.checked_mul(10)?.checked_add(crate::page::decode::digit(c)?)?;
    }
    u8::try_from(n).ok().filter(|a| *a <= 120)
}

/// `[prefix0, prefix1, …]` as string literals.
macro_rules! row_ids {
    ($p:literal, 20) => {
        row_ids!(@ $p; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19)
    };
    ($p:literal, 30) => {
        row_ids!(@ $p; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29)
    };
    (@ $p:literal; $($n:literal)*) => {
        [$(concat!($p, $n)),*]
    };
}

/// The id of row `i`'s field (`channel-3`): a fixed set of names, so a page's errors can
/// name them without allocating per request.
fn row_id(field: &str, i: usize) -> &'static str {
    const CHANNEL: [&str; MAX_CONTACTS] = row_ids!("channel-", 20);
    const VALUE: [&str; MAX_CONTACTS] = row_ids!("value-", 20);
    const DEP_NAME: [&str; MAX_DEPENDANTS] = row_ids!("dep_name-", 30);
    const DEP_RELATION: [&str; MAX_DEPENDANTS] = row_ids!("dep_relation-", 30);
    const DEP_AGE: [&str; MAX_DEPENDANTS] = row_ids!("dep_age-", 30);
    let ids: &[&'static str] = match field {
        "channel" => &CHANNEL,
        "value" => &VALUE,
        "dep_name" => &DEP_NAME,
        "dep_relation" => &DEP_RELATION,
        _ => &DEP_AGE,
    };
    ids.get(i).copied().unwrap_or(ids[0])
}

/// The domain's refusal of a field as the form shows it: (field, words); None for any other
/// error.
fn form_error(e: &AppError, w: &'static super::i18n::Words) -> Option<(&'static str, &'static str)> {
    let field = field_of_domain_error(e)?;
    Some((field, if field == "country" { w.err_country } else { w.err_too_long }))
}

/// The domain's refusal of a field, as the form's field.
fn field_of_domain_error(e: &AppError) -> Option<&'static str> {
    if let AppError::Unprocessable { code: "invalid_country", .. } = e {
        return Some("country");
    }
    let f = e.field()?;
    let index = |prefix: &str| -> usize {
        f.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('['))
            .and_then(|r| r.split(']').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Some(match f {
        "pseudonym" => "pseudonym",
        "legal_name" => "legal_name",
        "safe_contact_instructions" => "safe_contact",
        "location_detail" => "location",
        f if f.starts_with("networks") => "networks",
        f if f.starts_with("contact_channels") && f.ends_with(".value") => row_id("value", index("contact_channels")),
        f if f.starts_with("contact_channels") => row_id("channel", index("contact_channels")),
        f if f.starts_with("dependants") && f.ends_with(".relation") => row_id("dep_relation", index("dependants")),
        f if f.starts_with("dependants") => row_id("dep_name", index("dependants")),
        _ => return None,
    })
}

/// What the form's POST may carry.
const FIELDS: &[&str] = &[
    "version",
    "case",
    "more",
    "pseudonym",
    "country",
    "networks",
    "legal_name",
    "safe_contact",
    "location",
    "channel",
    "value",
    "dep_name",
    "dep_relation",
    "dep_age",
];
const ROWS: &[&str] = &["channel", "value", "dep_name", "dep_relation", "dep_age"];
/// Fields a full form may send: the single ones and every row's.
const MAX_FORM_FIELDS: usize = 12 + 2 * MAX_CONTACTS + 3 * MAX_DEPENDANTS;

struct LinkedCase {
    id: String,
    reference: String,
    status: &'static str,
}

struct ContactLine {
    channel: String,
    value: String,
}

struct DependantLine {
    name: String,
    relation: String,
    age: Option<u8>,
}

#[derive(Template)]
#[template(path = "defender.html", config = "src/console/askama.toml")]
struct DefenderPage {
    c: super::Chrome,
    csrf: String,
    /// None: a new record.
    id: Option<String>,
    version: i32,
    /// The case the new record will be attached to: (id, reference).
    for_case: Option<(String, String)>,
    pseudonym: String,
    country: String,
    networks: Vec<String>,
    /// None: she may not open the sealed profile.
    legal_name: Option<String>,
    contacts: Vec<ContactLine>,
    safe_contact: Option<String>,
    location: Option<String>,
    dependants: Vec<DependantLine>,
    linked: Vec<LinkedCase>,
    can_edit: bool,
    form: Typed,
    errors: Vec<FieldError>,
}

impl DefenderPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        error_in(&self.errors, field)
    }
}

fn for_case_of(req: &HttpRequest) -> Option<String> {
    req.query_string()
        .split('&')
        .find_map(|p| p.strip_prefix("case="))
        .filter(|id| crate::domain::accounts::is_id(id))
        .map(str::to_string)
}

/// The case a new record is for, when she may attach one to it: (id, reference).
fn attachable_case(
    c: &mut crate::db::DbConn,
    st: &AppState,
    who: &Caller<'_>,
    case_id: Option<&str>,
    now: chrono::NaiveDateTime,
) -> Result<Option<Case>, AppError> {
    match case_id {
        Some(id) => Ok(Some(crate::domain::cases::load_for(c, &st.access, who, id, Action::CaseUpdate, now)?)),
        None => Ok(None),
    }
}

/// `/console/defenders/{id}`: her record through need-to-know (`defender.read`); a record
/// she may not see is the 404 page.
async fn record_view(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &Staff,
    id: String,
    again: Again<Option<Typed>>,
    more: Option<&str>,
) -> HttpResponse {
    let Again { status, notice, errors, typed } = again;
    let w = staff.lang.words();
    let (st, user, role) = (state.clone(), staff.user.clone(), staff.role);
    let loaded = state
        .db
        .read(move |c| {
            let who = Caller { user: &user, role };
            let now = naive(st.clock.now());
            let a = defenders::load_access(c, &st.access, &who, &id, Action::DefenderRead, now)?;
            let profile = if a.profile { Some(defenders::open_profile(&st.crypto, c, &a.defender)?) } else { None };
            let can_edit = st.access.permits(role, Action::DefenderUpdate) && a.may(&st.access, Action::DefenderUpdate);
            Ok((a.defender, profile, a.cases, can_edit))
        })
        .await;
    let (d, profile, cases, can_edit) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(req, Some(staff), staff.lang, e),
    };
    // Editing replaces the whole profile: only someone who can read it may.
    let can_edit = can_edit && profile.is_some();
    let form = match (typed, &profile) {
        (Some(t), _) => t,
        (None, Some(p)) => Typed::of(&d, p),
        (None, None) => Typed::default(),
    }
    .with_blank_rows(more);
    let mut c = staff_chrome(staff, "/console/cases", w.defender_title, "cases");
    c.notice = notice.or_else(|| notice_of(req, w));
    let page = DefenderPage {
        c,
        csrf: staff.masked_csrf(),
        version: d.version,
        for_case: None,
        pseudonym: d.pseudonym.clone(),
        country: d.country.clone(),
        networks: serde_json::from_str(&d.networks).unwrap_or_default(),
        legal_name: profile.as_ref().map(|p| p.legal_name.clone()),
        contacts: profile
            .as_ref()
            .map(|p| {
                p.contact_channels
                    .iter()
                    .map(|c| ContactLine { channel: c.channel.clone(), value: c.value.clone() })
                    .collect()
            })
            .unwrap_or_default(),
        safe_contact: profile.as_ref().and_then(|p| p.safe_contact_instructions.clone()),
        location: profile.as_ref().and_then(|p| p.location_detail.clone()),
        dependants: profile
            .as_ref()
            .map(|p| {
                p.dependants
                    .iter()
                    .map(|d| DependantLine { name: d.name.clone(), relation: d.relation.clone(), age: d.age })
                    .collect()
            })
            .unwrap_or_default(),
        linked: cases
            .into_iter()
            .map(|k| LinkedCase { status: w.status(&k.status), reference: k.reference, id: k.id })
            .collect(),
        can_edit,
        form,
        errors,
        id: Some(d.id),
    };
    html(req, status, &page)
}

pub async fn record(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::DefenderRead) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    record_view(&req, &state, &staff, path.into_inner(), Again::fresh(), None).await
}

/// `/console/defenders/new`: a blank record, for a case when `?case=` names one she may
/// change (the record is attached to it on creation).
async fn new_view(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &Staff,
    case_id: Option<String>,
    again: Again<Option<Typed>>,
    more: Option<&str>,
) -> HttpResponse {
    let Again { status, notice, errors, typed } = again;
    let w = staff.lang.words();
    let (st, user, role) = (state.clone(), staff.user.clone(), staff.role);
    let case = state
        .db
        .read(move |c| {
            let who = Caller { user: &user, role };
            attachable_case(c, &st, &who, case_id.as_deref(), naive(st.clock.now()))
        })
        .await;
    let case = match case {
        Ok(x) => x,
        Err(e) => return error_page(req, Some(staff), staff.lang, e),
    };
    let mut c = staff_chrome(staff, "/console/cases", w.defender_new_title, "cases");
    c.notice = notice;
    let page = DefenderPage {
        c,
        csrf: staff.masked_csrf(),
        id: None,
        version: 0,
        for_case: case.map(|k| (k.id, k.reference)),
        pseudonym: String::new(),
        country: String::new(),
        networks: Vec::new(),
        legal_name: None,
        contacts: Vec::new(),
        safe_contact: None,
        location: None,
        dependants: Vec::new(),
        linked: Vec::new(),
        can_edit: true,
        form: typed.unwrap_or_default().with_blank_rows(more),
        errors,
    };
    html(req, status, &page)
}

pub async fn new_record(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::DefenderCreate) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let case = for_case_of(&req);
    new_view(&req, &state, &staff, case, Again::fresh(), None).await
}

/// Creates a record (and attaches it to the form's case, in the same transaction), or shows
/// the form again with what she typed: to correct it, or with one more row she asked for.
pub async fn create(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (staff, f) = match posted_rows(&req, &state, payload, FIELDS, ROWS, MAX_FORM_FIELDS).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::DefenderCreate) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let w = staff.lang.words();
    let typed = Typed::from_form(&f);
    let case_id = f.get("case").map(str::to_string);
    if let Some(more) = f.get("more") {
        let more = more.to_string();
        return new_view(&req, &state, &staff, case_id, Again::with_status(StatusCode::OK, Some(typed)), Some(&more))
            .await;
    }
    let (pseudonym, country, networks, profile) = match typed.parse(w) {
        Ok(x) => x,
        Err(errors) => {
            return new_view(&req, &state, &staff, case_id, Again::with_errors(errors, Some(typed)), None).await
        }
    };
    let (st, user, role, for_case) = (state.clone(), staff.user.clone(), staff.role, case_id.clone());
    let done = state
        .db
        .write(move |c| {
            let who = Caller { user: &user, role };
            let now = st.clock.now();
            let case = attachable_case(c, &st, &who, for_case.as_deref(), naive(now))?;
            let input = defenders::NewDefender { pseudonym, country, networks, profile };
            let d = defenders::create(c, &st.crypto, now, &who, input)?;
            if let Some(case) = case {
                attach(c, &st.ctx(now), &who, &case, &d.id)?;
            }
            Ok(d.id)
        })
        .await;
    match (done, case_id) {
        (Ok(_), Some(case)) => redirect(&req, &format!("/console/cases/{case}?n=defender_linked")),
        (Ok(id), None) => redirect(&req, &format!("/console/defenders/{id}?n=defender_created")),
        (Err(e), case_id) => match form_error(&e, w) {
            Some((field, text)) => {
                new_view(&req, &state, &staff, case_id, Again::error(field, text, Some(typed)), None).await
            }
            None => error_page(&req, Some(&staff), staff.lang, e),
        },
    }
}

/// Saves her record at the version the page showed; a record changed meanwhile comes back
/// as it is now, with what she typed kept in the form.
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted_rows(&req, &state, payload, FIELDS, ROWS, MAX_FORM_FIELDS).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::DefenderUpdate) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let w = staff.lang.words();
    let id = path.into_inner();
    let typed = Typed::from_form(&f);
    if let Some(more) = f.get("more") {
        let more = more.to_string();
        return record_view(&req, &state, &staff, id, Again::with_status(StatusCode::OK, Some(typed)), Some(&more))
            .await;
    }
    let (pseudonym, country, networks, profile) = match typed.parse(w) {
        Ok(x) => x,
        Err(errors) => {
            return record_view(&req, &state, &staff, id, Again::with_errors(errors, Some(typed)), None).await
        }
    };
    let version = f.get("version").and_then(|v| v.parse::<i32>().ok());
    let (st, user, role, did) = (state.clone(), staff.user.clone(), staff.role, id.clone());
    let done = state
        .db
        .write(move |c| {
            let who = Caller { user: &user, role };
            let now = st.clock.now();
            let d = defenders::load_for(c, &st.access, &who, &did, Action::DefenderUpdate, naive(now))?;
            let input = defenders::DefenderUpdate {
                pseudonym: Some(pseudonym),
                country: Some(country),
                networks: Some(networks),
                profile: Some(profile),
            };
            defenders::update(c, &st.crypto, now, &who, &d, version, input)
        })
        .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/defenders/{id}?n=defender_saved")),
        Err(AppError::PreconditionFailed) => {
            record_view(&req, &state, &staff, id, Again::conflict(w.defender_changed, Some(typed)), None).await
        }
        Err(e) => match form_error(&e, w) {
            Some((field, text)) => {
                record_view(&req, &state, &staff, id, Again::error(field, text, Some(typed)), None).await
            }
            None => error_page(&req, Some(&staff), staff.lang, e),
        },
    }
}

/// Attaches a record to a case through the domain's case update (audited as `case.update`).
fn attach(
    c: &mut crate::db::DbConn,
    cx: &crate::domain::Ctx<'_>,
    who: &Caller<'_>,
    case: &Case,
    defender_id: &str,
) -> Result<(), AppError> {
    let input = crate::domain::cases::CaseUpdate {
        severity: None,
        country: None,
        summary: None,
        defender_id: Some(defender_id.to_string()),
    };
    crate::domain::cases::update(c, cx, who, case, input)
}

struct ListRow {
    id: String,
    pseudonym: String,
    country: String,
    networks: String,
}

#[derive(Template)]
#[template(path = "defenders.html", config = "src/console/askama.toml")]
struct ListPage {
    c: super::Chrome,
    csrf: String,
    rows: Vec<ListRow>,
    /// Attaching to this case: (id, reference).
    for_case: Option<(String, String)>,
    can_create: bool,
    next: Option<String>,
}

/// `/console/defenders`: her organisation's records, newest first, in pages; with `?case=`,
/// each has a button attaching it to that case.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::DefenderList) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let w = staff.lang.words();
    let case_id = for_case_of(&req);
    let after = req
        .query_string()
        .split('&')
        .find_map(|p| p.strip_prefix("after="))
        .filter(|id| crate::domain::accounts::is_id(id))
        .map(str::to_string);
    let (st, user, role) = (state.clone(), staff.user.clone(), staff.role);
    let loaded = state
        .db
        .read(move |c| {
            let who = Caller { user: &user, role };
            let case = attachable_case(c, &st, &who, case_id.as_deref(), naive(st.clock.now()))?;
            let rows = Defender::page_for_org(c, &user.organization_id, after.as_deref(), PAGE + 1)?;
            Ok((case, rows))
        })
        .await;
    let (case, mut rows) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(&req, Some(&staff), staff.lang, e),
    };
    let next = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        let last = rows.last().map(|d| d.id.clone()).unwrap_or_default();
        match &case {
            Some(k) => format!("/console/defenders?case={}&after={last}", k.id),
            None => format!("/console/defenders?after={last}"),
        }
    });
    let rows = rows
        .into_iter()
        .map(|d| {
            let networks: Vec<String> = serde_json::from_str(&d.networks).unwrap_or_default();
            ListRow { networks: networks.join(w.list_separator), pseudonym: d.pseudonym, country: d.country, id: d.id }
        })
        .collect();
    let mut c = staff_chrome(&staff, "/console/defenders", w.defenders_title, "cases");
    c.notice = notice_of(&req, w);
    let page = ListPage {
        c,
        csrf: staff.masked_csrf(),
        rows,
        for_case: case.map(|k| (k.id, k.reference)),
        can_create: state.access.permits(staff.role, Action::DefenderCreate),
        next,
    };
    html(&req, StatusCode::OK, &page)
}

/// `POST /console/cases/{id}/defender`: attaches one of her organisation's records to the case.
pub async fn attach_to_case(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match super::pages::posted(&req, &state, payload, &["defender"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::CaseUpdate) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let id = path.into_inner();
    let Some(defender) = f.get("defender").filter(|d| crate::domain::accounts::is_id(d)).map(str::to_string) else {
        let w = staff.lang.words();
        return super::pages::notice_page(
            &req,
            Some(&staff),
            staff.lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            w.defender_unknown,
        );
    };
    let (st, user, role, cid) = (state.clone(), staff.user.clone(), staff.role, id.clone());
    let done = state
        .db
        .write(move |c| {
            let who = Caller { user: &user, role };
            let now = st.clock.now();
            let case = crate::domain::cases::load_for(c, &st.access, &who, &cid, Action::CaseUpdate, naive(now))?;
            attach(c, &st.ctx(now), &who, &case, &defender)
        })
        .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/cases/{id}?n=defender_linked")),
        Err(AppError::Unprocessable { code: "unknown_defender", .. }) => {
            let w = staff.lang.words();
            super::pages::notice_page(
                &req,
                Some(&staff),
                staff.lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                w.defender_unknown,
            )
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_read_in_every_digit_she_may_type() {
        assert_eq!(parse_age("9"), Some(9));
        assert_eq!(parse_age(" ١٢ "), Some(12));
        assert_eq!(parse_age("۷"), Some(7));
        assert_eq!(parse_age("121"), None);
        assert_eq!(parse_age("nine"), None);
        assert_eq!(parse_age("99999999999"), None);
    }

    #[test]
    fn the_domains_field_names_map_to_the_forms_rows() {
        let e = |f: &str| AppError::invalid_field(f.to_string(), "too long");
        assert_eq!(field_of_domain_error(&e("contact_channels[3].value")), Some("value-3"));
        assert_eq!(field_of_domain_error(&e("contact_channels[2].channel")), Some("channel-2"));
        assert_eq!(field_of_domain_error(&e("dependants[4].relation")), Some("dep_relation-4"));
        assert_eq!(field_of_domain_error(&e("dependants[0].name")), Some("dep_name-0"));
        assert_eq!(field_of_domain_error(&e("networks[1]")), Some("networks"));
        assert_eq!(field_of_domain_error(&e("legal_name")), Some("legal_name"));
        assert_eq!(field_of_domain_error(&e("something_else")), None);
    }
}
