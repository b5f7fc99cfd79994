//! `GET /report` (the alert form) and `POST /report` (validate, seal, receipt).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};

use super::decode::{DateError, DecodeError, Fields};
use super::i18n::{DatePart, Lang, Text};
use super::keys::{FormToken, TokenError};
use super::{countries, error_page, html, notice, read_body, Choice, Chrome};
use crate::clock::naive;
use crate::db::models::{FormSubmission, Receipt};
use crate::domain::alerts::{self, AlertKind, NewAlert, MAX_NARRATIVE};
use crate::domain::cases::Severity;
use crate::domain::OrganizationKind;
use crate::error::AppError;
use crate::state::AppState;

const KINDS: [AlertKind; 8] = [
    AlertKind::ThreatReceived,
    AlertKind::PhysicalAttack,
    AlertKind::ArrestDetention,
    AlertKind::OnlineHarassment,
    AlertKind::Surveillance,
    AlertKind::SmearCampaign,
    AlertKind::ThreatToFamily,
    AlertKind::Other,
];
const URGENCIES: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
const MONTHS: [&str; 12] = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];
const CHANNELS: [&str; 5] = ["signal", "whatsapp", "email", "phone", "other"];
const ORG_KINDS: [OrganizationKind; 4] =
    [OrganizationKind::Embassy, OrganizationKind::UnAgency, OrganizationKind::Ngo, OrganizationKind::Other];
/// Every field the alert form sends (the decoder refuses any other).
pub const FIELDS: &[&str] = &[
    "token",
    "lang",
    "kind",
    "when_day",
    "when_month",
    "when_year",
    // The single date field of pages served before the date became three fields: a form
    // token lasts a day, so such a page may still be sent (see `legacy_when`).
    "when",
    "country",
    "region",
    "narrative",
    "urgency",
    "contact",
    "channel",
    "contact_details",
    "consent",
    "name",
    "website",
];

/// What she typed, kept to fill the form again.
#[derive(Default)]
pub struct Values {
    pub kind: String,
    /// The date's three fields as typed (in whichever digits).
    pub when_day: String,
    pub when_month: String,
    pub when_year: String,
    pub country: String,
    pub region: String,
    pub narrative: String,
    pub urgency: String,
    pub contact: String,
    pub channel: String,
    pub contact_details: String,
    pub consent: Vec<String>,
    pub name: String,
}

/// Errors next to their fields, in her language.
#[derive(Default)]
pub struct Errors {
    pub kind: Option<&'static str>,
    pub when: Option<&'static str>,
    pub country: Option<&'static str>,
    pub region: Option<&'static str>,
    pub narrative: Option<&'static str>,
    pub urgency: Option<&'static str>,
    pub contact: Option<&'static str>,
    pub name: Option<&'static str>,
}

impl Errors {
    fn any(&self) -> bool {
        self.kind.is_some()
            || self.when.is_some()
            || self.country.is_some()
            || self.region.is_some()
            || self.narrative.is_some()
            || self.urgency.is_some()
            || self.contact.is_some()
            || self.name.is_some()
    }
}

#[derive(Template)]
#[template(path = "report.html", config = "src/form/askama.toml")]
struct ReportPage {
    c: Chrome,
    token: String,
    max_narrative: usize,
    date_order: [DatePart; 3],
    months: Vec<Choice>,
    notice: Option<&'static str>,
    kinds: Vec<Choice>,
    urgencies: Vec<Choice>,
    channels: Vec<Choice>,
    orgs: Vec<Choice>,
    countries: Vec<Choice>,
    v: Values,
    e: Errors,
}

#[derive(Template)]
#[template(path = "receipt.html", config = "src/form/askama.toml")]
struct ReceiptPage {
    c: Chrome,
    receipt: String,
    again: bool,
}

fn country_choices(lang: Lang, selected: &str) -> Vec<Choice> {
    let mut list: Vec<Choice> = countries::COUNTRIES
        .iter()
        .map(|(code, en, fr, es, ar)| Choice {
            value: code,
            label: match lang {
                Lang::En => en,
                Lang::Fr => fr,
                Lang::Es => es,
                Lang::Ar => ar,
            },
            checked: *code == selected,
        })
        .collect();
    list.sort_by_cached_key(|c| collation_key(c.label));
    list
}

/// A sort key good enough for a country list: case and the common Latin accents folded,
/// so "Égypte" sorts with the Es, not after "Zimbabwe".
fn collation_key(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'Ç' | 'ç' => 'c',
            'È' | 'É' | 'Ê' | 'Ë' | 'è' | 'é' | 'ê' | 'ë' => 'e',
            'Ì' | 'Í' | 'Î' | 'Ï' | 'ì' | 'í' | 'î' | 'ï' => 'i',
            'Ñ' | 'ñ' => 'n',
            'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'Ù' | 'Ú' | 'Û' | 'Ü' | 'ù' | 'ú' | 'û' | 'ü' => 'u',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

fn page(state: &AppState, lang: Lang, token: String, v: Values, e: Errors) -> ReportPage {
    let t: &Text = lang.text();
    let notice = e.any().then_some(t.err_summary);
    ReportPage {
        c: Chrome::new(state, lang, "/report"),
        token,
        max_narrative: MAX_NARRATIVE,
        date_order: t.date_order,
        months: MONTHS
            .iter()
            .zip(t.months)
            .map(|(m, label)| Choice { value: m, label, checked: v.when_month == *m })
            .collect(),
        notice,
        kinds: KINDS
            .iter()
            .zip(t.kinds)
            .map(|(k, label)| Choice { value: k.as_str(), label, checked: v.kind == k.as_str() })
            .collect(),
        urgencies: URGENCIES
            .iter()
            .zip(t.urgencies)
            .map(|(u, label)| Choice { value: u.as_str(), label, checked: v.urgency == u.as_str() })
            .collect(),
        channels: CHANNELS
            .iter()
            .zip(t.channels)
            .map(|(c, label)| Choice { value: c, label, checked: v.channel == *c })
            .collect(),
        orgs: ORG_KINDS
            .iter()
            .zip(t.org_kinds)
            .map(|(o, label)| Choice { value: o.as_str(), label, checked: v.consent.iter().any(|c| c == o.as_str()) })
            .collect(),
        countries: country_choices(lang, &v.country),
        v,
        e,
    }
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let lang = super::query_lang(&req);
    let st = state.clone();
    let open = state.db.read(move |c| super::FormState::organization(c, &st.config)).await;
    match open {
        Ok(Some(_)) => {}
        Ok(None) => {
            let t = lang.text();
            return notice(&req, &state, lang, StatusCode::SERVICE_UNAVAILABLE, t.err_title, t.err_closed);
        }
        Err(e) => return error_page(&req, &state, lang, e),
    }
    let now = state.clock.now();
    let token = state.form.keys.new_form_token(now);
    html(&req, StatusCode::OK, &page(&state, lang, token, Values::default(), Errors::default()))
}

/// `when=YYYY-MM-DD` from an older page, as (day, month, year) the way the three fields send
/// them; None when it is empty or not in that shape (then it is left for the fields).
fn legacy_when(f: &Fields) -> Option<(String, String, String)> {
    let raw = f.raw("when").trim();
    let mut parts = raw.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    let m = m.trim_start_matches('0');
    Some((d.to_string(), m.to_string(), y.to_string()))
}

/// Checks every field; on success the alert to store.
fn validate(f: &Fields, t: &Text, now: DateTime<Utc>) -> (Values, Errors, Option<NewAlert>) {
    let mut v = Values {
        kind: f.get("kind").unwrap_or("").into(),
        when_day: f.raw("when_day").trim().into(),
        when_month: f.get("when_month").unwrap_or("").into(),
        when_year: f.raw("when_year").trim().into(),
        country: f.get("country").unwrap_or("").into(),
        region: f.raw("region").into(),
        narrative: f.raw("narrative").into(),
        urgency: f.get("urgency").unwrap_or("").into(),
        contact: f.get("contact").unwrap_or("").into(),
        channel: f.get("channel").unwrap_or("").into(),
        contact_details: f.raw("contact_details").into(),
        consent: f.all("consent").into_iter().map(str::to_string).collect(),
        name: f.raw("name").into(),
    };
    if v.when_day.is_empty() && v.when_month.is_empty() && v.when_year.is_empty() {
        if let Some((d, m, y)) = legacy_when(f) {
            (v.when_day, v.when_month, v.when_year) = (d, m, y);
        }
    }
    let mut e = Errors::default();
    let kind = match KINDS.iter().find(|k| k.as_str() == v.kind) {
        Some(k) => Some(*k),
        None => {
            e.kind = Some(t.err_choose);
            None
        }
    };
    let urgency = match URGENCIES.iter().find(|u| u.as_str() == v.urgency) {
        Some(u) => Some(*u),
        None => {
            e.urgency = Some(t.err_choose);
            None
        }
    };
    // Her "today" may already be tomorrow in UTC (anywhere east of Greenwich).
    let latest = (now + chrono::Duration::hours(14)).date_naive();
    let occurred_on = match super::decode::date(&v.when_day, &v.when_month, &v.when_year, latest) {
        Ok(d) => d,
        Err(err) => {
            e.when = Some(match err {
                DateError::Incomplete => t.err_date_incomplete,
                DateError::Invalid => t.err_date_invalid,
                DateError::Year => t.err_date_year,
                DateError::Future => t.err_date,
            });
            None
        }
    };
    if !crate::domain::country::is_valid(&v.country) {
        e.country = Some(if v.country.is_empty() { t.err_required } else { t.err_country });
    }
    let text = |raw: &str, max: usize, required: bool| -> Result<Option<String>, &'static str> {
        let s = raw.trim();
        if s.is_empty() {
            return if required { Err(t.err_required) } else { Ok(None) };
        }
        if s.chars().count() > max {
            return Err(t.err_too_long);
        }
        if s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(t.err_generic);
        }
        Ok(Some(s.to_string()))
    };
    let region = text(&v.region, 100, false).map_err(|m| e.region = Some(m)).ok().flatten();
    let narrative = text(&v.narrative, MAX_NARRATIVE, true).map_err(|m| e.narrative = Some(m)).ok().flatten();
    let name = text(&v.name, 200, false).map_err(|m| e.name = Some(m)).ok().flatten();
    let safe_contact = match v.contact.as_str() {
        "none" => None,
        "yes" => match (CHANNELS.contains(&v.channel.as_str()), text(&v.contact_details, 500, true)) {
            (true, Ok(Some(details))) => Some(format!("{}: {details}", v.channel)),
            (_, Err(m)) if m == t.err_too_long => {
                e.contact = Some(m);
                None
            }
            _ => {
                e.contact = Some(t.err_contact);
                None
            }
        },
        _ => {
            e.contact = Some(t.err_contact);
            None
        }
    };
    let consent: Vec<OrganizationKind> =
        ORG_KINDS.iter().filter(|o| v.consent.iter().any(|c| c == o.as_str())).copied().collect();
    let alert = match (kind, urgency, narrative, e.any()) {
        (Some(kind), Some(urgency), Some(narrative), false) => Some(NewAlert {
            kind,
            urgency,
            country: v.country.clone(),
            region,
            narrative,
            safe_contact,
            consent_scope: consent,
            defender_id: None,
            occurred_on,
            reporter_name: name,
        }),
        _ => None,
    };
    (v, e, alert)
}

enum Outcome {
    /// A new alert, or the same form sent again shortly after: its receipt page.
    Receipt {
        again: bool,
    },
    /// The same form sent again long after: the receipt is not shown a second time.
    AlreadySent,
    Closed,
    /// This network sent its hour's share of reports.
    TooMany,
}

pub async fn submit(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let fallback = Lang::choose(None, &req);
    let body = match read_body(&req, payload).await {
        Ok(b) => b,
        Err(e) => return error_page(&req, &state, fallback, e),
    };
    let lang = super::lang_hint(&body).unwrap_or(fallback);
    let t = lang.text();
    let fields = match Fields::parse(&body, FIELDS, &["consent"]) {
        Ok(f) => f,
        Err(DecodeError::Malformed | DecodeError::UnexpectedField) => {
            return error_page(&req, &state, lang, AppError::bad_request("invalid_form", "malformed form"))
        }
    };
    if fields.get("website").is_some() {
        // The honeypot: people do not see this field, scripts fill it in.
        tracing::info!(target: "haven::form", "form refused: honeypot field filled");
        return error_page(&req, &state, lang, AppError::bad_request("invalid_form", "malformed form"));
    }
    if !valid_choices(&fields) {
        return error_page(&req, &state, lang, AppError::bad_request("invalid_form", "malformed form"));
    }
    let now = state.clock.now();
    let token_text = fields.get("token").unwrap_or("").to_string();
    let (values, errors, alert) = validate(&fields, t, now);
    let token = match state.form.keys.check_form_token(&token_text, now) {
        Ok(tok) => tok,
        Err(TokenError::Expired) => {
            // Her answers are kept; a fresh token lets her send them again.
            let mut p = page(&state, lang, state.form.keys.new_form_token(now), values, errors);
            p.notice = Some(t.err_expired);
            return html(&req, StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
        Err(TokenError::Invalid) => {
            return error_page(&req, &state, lang, AppError::bad_request("invalid_form", "invalid form token"))
        }
    };
    let Some(alert) = alert else {
        return html(&req, StatusCode::UNPROCESSABLE_ENTITY, &page(&state, lang, token_text, values, errors));
    };
    let addr = crate::auth::client_addr(&req, state.config.login.trust_forwarded_for);
    let slot = state.form.guard.report_slot(addr);
    // A look before the costly hashing and sealing; the count itself is taken with the
    // report, in its transaction.
    let spent = {
        let slot = slot.clone();
        state.db.read(move |c| Ok(slot.spent(c, naive(now))?)).await
    };
    match spent {
        Ok(false) => {}
        Ok(true) => return error_page(&req, &state, lang, AppError::TooManyRequests { retry_after_secs: 3600 }),
        Err(e) => return error_page(&req, &state, lang, e),
    }
    let ticket = state.form.keys.receipt_ticket(&token, false, now);
    let ticket_again = state.form.keys.receipt_ticket(&token, true, now);
    match store(&state, token, alert, slot, now).await {
        // Post/redirect/get: the history keeps no POST that would show the receipt again.
        Ok(Outcome::Receipt { again }) => {
            let t = if again { ticket_again } else { ticket };
            super::redirect(&req, &format!("/report/receipt?r={t}&lang={}", lang.code()))
        }
        Ok(Outcome::AlreadySent) => notice(&req, &state, lang, StatusCode::CONFLICT, t.receipt_title, t.already_sent),
        Ok(Outcome::Closed) => notice(&req, &state, lang, StatusCode::SERVICE_UNAVAILABLE, t.err_title, t.err_closed),
        Ok(Outcome::TooMany) => error_page(&req, &state, lang, AppError::TooManyRequests { retry_after_secs: 3600 }),
        Err(e) if actix_web::ResponseError::status_code(&e).is_server_error() => {
            // Her account of what happened must not be lost to a database that is down for
            // a moment: the form comes back filled in, with the same token, so sending it
            // again cannot make a second alert even if this one was stored after all.
            let status = actix_web::ResponseError::status_code(&e);
            e.log_cause();
            let mut p = page(&state, lang, token_text, values, errors);
            p.notice = Some(t.err_not_stored);
            let mut res = html(&req, status, &p);
            super::set_retry_after(&mut res, &e);
            res
        }
        Err(e) => error_page(&req, &state, lang, e),
    }
}

/// Consent and channel values come from fixed lists: anything else is a tampered form.
fn valid_choices(f: &Fields) -> bool {
    f.all("consent").iter().all(|c| ORG_KINDS.iter().any(|o| o.as_str() == *c))
        && f.get("channel").is_none_or(|c| CHANNELS.contains(&c))
}

/// Seals and stores the alert, its receipt lookup and the used token in one transaction;
/// a token already used gives back the first submission's receipt (for a while).
async fn store(
    state: &web::Data<AppState>,
    token: FormToken,
    alert: NewAlert,
    slot: super::guard::ReportSlot,
    now: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    let receipt = state.form.keys.receipt_for(&token);
    let st = state.clone();
    // The Argon2id hash and the sealing are CPU work: on a blocking thread, outside the
    // transaction.
    let (lookup, alert) = {
        let receipt = receipt.clone();
        crate::auth::password::off_thread(move || -> Result<_, AppError> {
            let lookup = st.form.keys.receipt_lookup(&receipt)?;
            Ok((lookup, alerts::prepare(&st.crypto, alert)?))
        })
        .await??
    };
    let st = state.clone();
    let digest = token.digest.clone();
    let result = state
        .db
        .write(move |c| {
            if let Some(first) = FormSubmission::find(c, &digest)? {
                return replayed(c, &first, now);
            }
            let Some(org) = super::FormState::organization(c, &st.config)? else { return Ok(Outcome::Closed) };
            if !slot.take(c, naive(now))? {
                return Ok(Outcome::TooMany);
            }
            let a = alerts::create_from_form(c, &st.ctx(now), &org, &alert)?.alert;
            FormSubmission { token_digest: digest.clone(), alert_id: a.id.clone(), created_at: naive(now) }
                .insert(c)?;
            Receipt {
                lookup,
                alert_id: a.id.clone(),
                created_at: naive(now),
                last_used_at: naive(now),
                safe_pin_hash: None,
                duress_pin_hash: None,
                decoy_safe_pin_hash: None,
                decoy_duress_pin_hash: None,
            }
            .insert(c)?;
            Ok(Outcome::Receipt { again: false })
        })
        .await;
    match result {
        // Two copies of the same form raced: the other one won; answer as a replay.
        Err(AppError::Conflict { code: "concurrent_change", .. }) => {
            let digest = token.digest.clone();
            state
                .db
                .read(move |c| match FormSubmission::find(c, &digest)? {
                    Some(first) => replayed(c, &first, now),
                    None => Err(AppError::internal(anyhow::anyhow!("form submission conflict without a row"))),
                })
                .await
        }
        other => other,
    }
}

/// The same form sent again: its receipt once more, only shortly after the first time and
/// only while the receipt has never been used (a lost answer on a bad connection, not a
/// page found later in her history).
fn replayed(c: &mut crate::db::DbConn, first: &FormSubmission, now: DateTime<Utc>) -> Result<Outcome, AppError> {
    let unused = Receipt::for_alert(c, &first.alert_id)?.is_some_and(|r| r.last_used_at == r.created_at);
    if unused && naive(now) - first.created_at <= chrono::Duration::minutes(super::keys::RESHOW_MINUTES) {
        Ok(Outcome::Receipt { again: true })
    } else {
        Ok(Outcome::AlreadySent)
    }
}

/// `GET /report/receipt?r=…`: the receipt, shown once, for two minutes after sending.
pub async fn receipt_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let lang = super::query_lang(&req);
    let fields = Fields::parse(req.query_string().as_bytes(), &["r", "lang"], &[]).ok();
    let ticket = fields.as_ref().map(|f| f.raw("r").to_string()).unwrap_or_default();
    show_receipt(&req, &state, lang, &ticket)
}

/// `POST /report/receipt` (`r`, `lang`): the receipt page's language switch. The ticket
/// comes in the body, as the page's forms carry it, so the receipt page changes language
/// without the receipt or its ticket going into a link, the history or a log. The ticket
/// is the anti-forgery token: signed, short-lived, known only to the page that shows it.
pub async fn receipt_in_language(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let fallback = Lang::choose(None, &req);
    let body = match read_body(&req, payload).await {
        Ok(b) => b,
        Err(e) => return error_page(&req, &state, fallback, e),
    };
    let lang = super::lang_hint(&body).unwrap_or(fallback);
    match Fields::parse(&body, &["r", "lang"], &[]) {
        Ok(f) => show_receipt(&req, &state, lang, f.raw("r")),
        Err(_) => error_page(&req, &state, lang, AppError::bad_request("invalid_form", "malformed form")),
    }
}

/// The receipt page of a ticket, whose language switch carries a renewed ticket; the
/// "page expired" notice once the ticket is too old or not genuine.
fn show_receipt(req: &HttpRequest, state: &AppState, lang: Lang, ticket: &str) -> HttpResponse {
    match state.form.keys.renew_receipt_ticket(ticket, state.clock.now()) {
        Ok((receipt, again, renewed)) => {
            let mut c = Chrome::new(state, lang, "/report");
            c.receipt_ticket = Some(renewed);
            html(req, StatusCode::OK, &ReceiptPage { c, receipt: super::keys::group_receipt(&receipt), again })
        }
        Err(_) => {
            let t = lang.text();
            notice(req, state, lang, StatusCode::GONE, t.receipt_title, t.page_expired)
        }
    }
}
