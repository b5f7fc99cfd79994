//! The case list and the case file. Like every console page, they read and change through
//! the domain (`domain::cases`), with the access policy deciding what she may see and do.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::pages::{error_in, error_page, notice_of, posted, signed_in, staff_chrome, ts_short, Again, FieldError};
use super::session::Staff;
use super::{html, redirect, Choice, Chrome};
use crate::authz::Action;
use crate::clock::naive;
use crate::db::models::case::{CaseFilter, CaseListRow};
use crate::db::models::timeline;
use crate::db::models::{Case, CaseNote, Organization, User};
use crate::domain::cases::{Caller, CaseStatus, NoteKind, Severity};
use crate::domain::summary::NextDeadline;
use crate::error::AppError;
use crate::page::decode::Fields;
use crate::state::AppState;

/// At most this many cases are loaded and sorted by deadline for one list.
const CASES_SORTED: i64 = 200;
const CASES_PER_PAGE: usize = 50;
/// A case file shows this many notes, and this many messages (the newest).
const NOTES_SHOWN: i64 = 200;
const MESSAGES_SHOWN: usize = crate::domain::messages::MAX_SHOWN as usize;

/// What the case file shows besides the case, each None when she may not see it.
struct Records {
    /// Newest first, one more than is shown (to know there are more).
    notes: Option<Vec<(CaseNote, String)>>,
    /// Newest first.
    messages: Option<Vec<(crate::db::models::Message, String)>>,
    /// She has written or been sent more messages than the page shows.
    messages_capped: bool,
    steps: Steps,
    /// The defender record attached: (id, pseudonym).
    her_record: Option<(String, String)>,
    /// She may attach a record (create one, or pick one of her organisation's).
    can_attach: bool,
    reply_via: Vec<String>,
    checkins: Option<Vec<crate::db::models::Checkin>>,
    escalations: Option<Vec<crate::db::models::Escalation>>,
    /// Every organisation: the names of the shares, and the share form's choices.
    orgs: Vec<Organization>,
}

/// What the case file offers her to do.
struct Flags {
    can_move: bool,
    can_unassign: bool,
    can_note: bool,
    can_send: bool,
    can_ask_checkin: bool,
    can_close_checkin: bool,
    can_share: bool,
    can_unshare: bool,
}

/// How a deadline reads in a table: `Visa expires 2027-01-15 (overdue)`.
pub(super) struct DeadlineCell {
    pub kind: &'static str,
    pub at: String,
    pub overdue: bool,
}

pub(super) fn deadline_cell(w: &'static super::i18n::Words, d: &NextDeadline) -> DeadlineCell {
    DeadlineCell { kind: w.deadline_kind(d.kind), at: ts_short(d.due_at)[..10].to_string(), overdue: d.overdue }
}

// --- The list ------------------------------------------------------------------------------

struct Row {
    id: String,
    reference: String,
    severity: &'static str,
    status: &'static str,
    country: String,
    deadline: Option<DeadlineCell>,
    assignees: String,
}

/// An alert found by its short id that is not in a case she may read.
struct AlertHit {
    id: String,
    short_id: String,
}

#[derive(Template)]
#[template(path = "cases.html", config = "src/console/askama.toml")]
struct ListPage {
    c: Chrome,
    statuses: Vec<Choice>,
    severities: Vec<Choice>,
    country: String,
    mine: bool,
    shared: bool,
    q: String,
    errors: Vec<FieldError>,
    searched: bool,
    rows: Vec<Row>,
    alerts: Vec<AlertHit>,
    capped: bool,
    prev: Option<String>,
    next: Option<String>,
}

impl ListPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        error_in(&self.errors, field)
    }
}

/// What the list's GET form asked for; a malformed value is ignored, as on the alert list.
struct ListQuery {
    status: Option<CaseStatus>,
    severity: Option<Severity>,
    country: Option<String>,
    mine: bool,
    shared: bool,
    q: String,
    page: usize,
}

impl ListQuery {
    fn parse(req: &HttpRequest) -> ListQuery {
        let f = Fields::parse(
            req.query_string().as_bytes(),
            &["status", "severity", "country", "mine", "shared", "q", "page", "lang", "n"],
            &[],
        )
        .unwrap_or_default();
        ListQuery {
            status: f.get("status").and_then(CaseStatus::parse),
            severity: f.get("severity").and_then(Severity::parse),
            country: f.get("country").map(str::to_ascii_uppercase).filter(|c| crate::domain::country::is_valid(c)),
            mine: f.get("mine") == Some("1"),
            shared: f.get("shared") == Some("1"),
            q: f.get("q").unwrap_or("").chars().take(40).collect(),
            page: f.get("page").and_then(|p| p.parse::<usize>().ok()).filter(|p| (1..=1000).contains(p)).unwrap_or(1),
        }
    }

    /// This list at another page.
    fn url(&self, page: usize) -> String {
        let mut u = String::from("/console/cases?");
        if let Some(s) = self.status {
            u.push_str(&format!("status={}&", s.as_str()));
        }
        if let Some(s) = self.severity {
            u.push_str(&format!("severity={}&", s.as_str()));
        }
        if let Some(c) = &self.country {
            u.push_str(&format!("country={c}&"));
        }
        if self.mine {
            u.push_str("mine=1&");
        }
        if self.shared {
            u.push_str("shared=1&");
        }
        u.push_str(&format!("page={page}"));
        u
    }
}

/// What a search or a filter found.
enum Found {
    Cases(Vec<CaseListRow>),
    Search { cases: Vec<CaseListRow>, alerts: Vec<AlertHit> },
    NotASearch,
}

fn severity_rank(s: &str) -> usize {
    Severity::ALL.iter().position(|k| k.as_str() == s).unwrap_or(0)
}

/// The cases she may see, filtered or found by reference (a case's, or an alert's short id
/// as the mails give it), sorted by their nearest deadline (none last), then severity.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::CaseList) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let w = staff.lang.words();
    let q = ListQuery::parse(&req);
    let filter = CaseFilter {
        status: q.status.map(|s| s.as_str().to_string()),
        severity: q.severity.map(|s| s.as_str().to_string()),
        country: q.country.clone(),
        assigned_to: q.mine.then(|| staff.user.id.clone()),
        shared_with_us: q.shared,
        ..Default::default()
    };
    let (st, user, role, search) = (state.clone(), staff.user.clone(), staff.role, q.q.clone());
    let loaded = state
        .db
        .read(move |c| {
            let who = Caller { user: &user, role };
            let now = naive(st.clock.now());
            let found = if search.is_empty() {
                Found::Cases(crate::domain::cases::list_rows(c, &who, &filter, CASES_SORTED + 1, now)?)
            } else if let Some(short) = crate::domain::alerts::normalize_short_id(&search) {
                let mut cases = Vec::new();
                let mut alerts = Vec::new();
                for a in crate::domain::alerts::find_by_short_id(c, &st.access, &who, &short, now)? {
                    match a.case {
                        Some(k) => cases.push(k.into()),
                        None => alerts.push(AlertHit { short_id: short.clone(), id: a.alert.id }),
                    }
                }
                Found::Search { cases, alerts }
            } else if search.trim().to_ascii_uppercase().starts_with("HVN-") {
                let cases = crate::domain::cases::find_by_reference(c, &who, &search, now)?
                    .into_iter()
                    .map(Into::into)
                    .collect();
                Found::Search { cases, alerts: Vec::new() }
            } else {
                Found::NotASearch
            };
            let ids: Vec<String> = match &found {
                Found::Cases(v) | Found::Search { cases: v, .. } => v.iter().map(|k| k.id.clone()).collect(),
                Found::NotASearch => Vec::new(),
            };
            let deadlines = crate::domain::summary::next_deadlines(c, &ids, now)?;
            let assignees = crate::db::models::CaseAssignee::of_cases(c, &ids)?;
            let names = crate::domain::accounts::names(c, assignees.iter().map(|(_, u)| u.as_str()))?;
            Ok((found, deadlines, assignees, names))
        })
        .await;
    let (found, deadlines, assignees, names) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(&req, Some(&staff), staff.lang, e),
    };
    let mut errors = Vec::new();
    let (mut cases, alerts, searched) = match found {
        Found::Cases(v) => (v, Vec::new(), false),
        Found::Search { cases, alerts } => (cases, alerts, true),
        Found::NotASearch => {
            errors.push(FieldError { field: "q", text: w.err_search });
            (Vec::new(), Vec::new(), true)
        }
    };
    let capped = cases.len() as i64 > CASES_SORTED;
    cases.truncate(CASES_SORTED as usize);
    cases.sort_by(|a, b| {
        let (da, db) = (deadlines.get(&a.id).map(|d| d.due_at), deadlines.get(&b.id).map(|d| d.due_at));
        let by_deadline = match (da, db) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_deadline
            .then(severity_rank(&b.severity).cmp(&severity_rank(&a.severity)))
            .then(b.updated_at.cmp(&a.updated_at))
    });
    let mut who_by_case: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (case_id, user_id) in &assignees {
        who_by_case.entry(case_id).or_default().push(names.get(user_id).map_or(w.former_colleague, String::as_str));
    }
    let pages = cases.len().div_ceil(CASES_PER_PAGE).max(1);
    let page = q.page.min(pages);
    let rows: Vec<Row> = cases
        .iter()
        .skip((page - 1) * CASES_PER_PAGE)
        .take(CASES_PER_PAGE)
        .map(|k| Row {
            id: k.id.clone(),
            reference: k.reference.clone(),
            severity: w.severity(&k.severity),
            status: w.status(&k.status),
            country: k.country.clone(),
            deadline: deadlines.get(&k.id).map(|d| deadline_cell(w, d)),
            assignees: who_by_case.get(k.id.as_str()).map(|v| v.join(w.list_separator)).unwrap_or_default(),
        })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut c = staff_chrome(&staff, "/console/cases", w.cases_page_title, "cases");
    c.notice = notice_of(&req, w);
    let page_view = ListPage {
        c,
        statuses: CaseStatus::ALL
            .iter()
            .map(|s| Choice { value: s.as_str(), label: w.status(s.as_str()), checked: Some(*s) == q.status })
            .collect(),
        severities: Severity::ALL
            .iter()
            .map(|s| Choice { value: s.as_str(), label: w.severity(s.as_str()), checked: Some(*s) == q.severity })
            .collect(),
        country: q.country.clone().unwrap_or_default(),
        mine: q.mine,
        shared: q.shared,
        q: q.q.clone(),
        errors,
        searched,
        rows,
        alerts,
        capped,
        prev: (!searched && page > 1).then(|| q.url(page - 1)),
        next: (!searched && page < pages).then(|| q.url(page + 1)),
    };
    html(&req, status, &page_view)
}

// --- The case file -------------------------------------------------------------------------

/// What she typed into the case file's forms, kept when the page comes back with an error.
#[derive(Default)]
pub(super) struct Typed {
    reason: String,
    note: String,
    note_kind: Option<NoteKind>,
    reply: String,
    checkin_due: String,
    share_org: String,
    share_consent: String,
    share_until: String,
    share_override: String,
}

struct Move {
    to: &'static str,
    label: &'static str,
    /// Closing and reopening need a reason: this button's form has the reason field.
    needs_reason: bool,
}

struct Person {
    id: String,
    name: String,
}

struct MessageLine {
    id: String,
    at: String,
    /// None: she wrote it.
    by: Option<String>,
    body: String,
}

struct CheckinLine {
    id: String,
    due: String,
    state: &'static str,
    missed: bool,
    coerced: bool,
    /// None: she asked for it herself.
    asked_by: Option<String>,
    pending: bool,
}

struct ShareLine {
    org_id: String,
    org: String,
    until: String,
    consent: String,
}

struct EscalationLine {
    id: String,
    about: &'static str,
    reference: String,
    started: String,
    next: String,
    step: i32,
}

/// One entry of the case's timeline (newest first): who did what when; a note's text, or a
/// move's reason, under it.
struct TimelineLine {
    at: String,
    /// None: she did it (a message from her), or the service did (an escalation).
    by: Option<String>,
    what: String,
    detail: Option<String>,
    /// A message: its place in the thread, where its text is.
    link: Option<String>,
    hers: bool,
}

/// The clear records a timeline shows besides transitions, notes and messages: those of the
/// kinds her role and relation to the case let her list.
#[derive(Default)]
struct Steps {
    assessments: Vec<(i32, String, String, chrono::NaiveDateTime)>,
    plans: Vec<timeline::PlanStep>,
    relocations: Vec<(String, String, String, chrono::NaiveDateTime)>,
    escalations: Vec<timeline::EscalationStep>,
}

/// Entries shown on a case's timeline at most, newest first.
const TIMELINE_SHOWN: usize = 400;

#[derive(Template)]
#[template(path = "case.html", config = "src/console/askama.toml")]
struct FilePage {
    c: Chrome,
    id: String,
    reference: String,
    version: i32,
    csrf: String,
    status: &'static str,
    severity: &'static str,
    country: String,
    owner: String,
    opened: String,
    updated: String,
    summary: Option<String>,
    deadline: Option<DeadlineCell>,
    moves: Vec<Move>,
    assignees: Vec<Person>,
    can_unassign: bool,
    /// None: she may not assign. Empty: nobody left to assign.
    assignable: Option<Vec<Person>>,
    timeline: Vec<TimelineLine>,
    timeline_more: bool,
    her_record: Option<(String, String)>,
    can_attach: bool,
    can_create_record: bool,
    can_list_records: bool,
    can_note: bool,
    note_kinds: Vec<Choice>,
    /// None: she may not read them.
    messages: Option<Vec<MessageLine>>,
    /// She may write: the alerts (id, short id) a message can go through (several: she picks).
    reply_via: Vec<(String, String)>,
    can_reply: bool,
    closed: bool,
    checkins: Option<Vec<CheckinLine>>,
    can_ask_checkin: bool,
    can_close_checkin: bool,
    shares: Vec<ShareLine>,
    can_unshare: bool,
    /// None: she may not share. The organisations it may go to: (id, name, within her consent).
    share_to: Option<Vec<(String, String, bool)>>,
    /// The kinds of organisation her consent covers, in words.
    consent: Vec<&'static str>,
    escalations: Option<Vec<EscalationLine>>,
    can_ack: bool,
    read_only: bool,
    errors: Vec<FieldError>,
    typed_reason: String,
    typed_note: String,
    typed_reply: String,
    typed_checkin_due: String,
    typed_share_org: String,
    typed_share_consent: String,
    typed_share_until: String,
    typed_share_override: String,
}

impl FilePage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        error_in(&self.errors, field)
    }
}

/// The case file, loaded through need-to-know (`case.read`): a foreign or missing case is the
/// console's 404. Each action it offers is the one her role and her relation to the case
/// allow; the form handlers check again.
async fn file_view(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &Staff,
    id: String,
    again: Again<Typed>,
) -> HttpResponse {
    let Again { status, notice, errors, typed } = again;
    let w = staff.lang.words();
    let (st, user, role) = (state.clone(), staff.user.clone(), staff.role);
    let loaded = state
        .db
        .read(move |c| {
            let who = Caller { user: &user, role };
            let now = naive(st.clock.now());
            let access = crate::domain::cases::load_access(c, &st.access, &who, &id, Action::CaseRead, now)?;
            let may = |action: Action| st.access.permits(role, action) && access.may(&st.access, action);
            let (can_move, can_assign, can_unassign) =
                (may(Action::CaseTransition), may(Action::CaseAssign), may(Action::CaseUnassign));
            let (can_list_notes, can_note) = (may(Action::NoteList), may(Action::NoteCreate));
            let (can_read_messages, can_send) = (may(Action::MessageList), may(Action::MessageSend));
            let (can_list_checkins, can_ask_checkin, can_close_checkin) =
                (may(Action::CheckinList), may(Action::CheckinCreate), may(Action::CheckinClose));
            let mut messages_capped = false;
            let messages = if can_read_messages {
                let mut rows = crate::db::models::Message::for_case(c, &access.case.id)?;
                messages_capped = rows.len() > MESSAGES_SHOWN;
                rows.truncate(MESSAGES_SHOWN);
                let bodies = crate::domain::messages::open_all(c, &st.crypto, &rows)?;
                Some(rows.into_iter().zip(bodies).collect::<Vec<_>>())
            } else {
                None
            };
            let reply_via = if can_send {
                let ids: Vec<String> =
                    crate::db::models::Alert::for_case(c, &access.case.id)?.into_iter().map(|a| a.id).collect();
                let mut with = crate::db::models::Receipt::alerts_with_receipt(c, &ids)?;
                with.sort();
                with
            } else {
                Vec::new()
            };
            let (can_share, can_unshare) = (may(Action::CaseShare), may(Action::CaseUnshare));
            let escalations = if st.access.permits(role, Action::EscalationList) {
                Some(crate::domain::escalations::active_for_readable_case(c, &access)?)
            } else {
                None
            };
            let checkins =
                if can_list_checkins { Some(crate::db::models::Checkin::for_case(c, &access.case.id)?) } else { None };
            let notes = if can_list_notes {
                let rows = CaseNote::newest(c, &access.case.id, NOTES_SHOWN + 1)?;
                let bodies = crate::domain::cases::open_notes(c, &st.crypto, &access.case.id, &rows)?;
                Some(rows.into_iter().zip(bodies).collect::<Vec<_>>())
            } else {
                None
            };
            let case_id = access.case.id.as_str();
            let steps = Steps {
                assessments: if may(Action::AssessmentList) { timeline::assessments(c, case_id)? } else { Vec::new() },
                plans: if may(Action::PlanList) { timeline::plans(c, case_id)? } else { Vec::new() },
                relocations: if may(Action::RelocationList) { timeline::relocations(c, case_id)? } else { Vec::new() },
                escalations: if st.access.permits(role, Action::EscalationList) {
                    timeline::escalations(c, case_id)?
                } else {
                    Vec::new()
                },
            };
            let owner = Organization::find(c, &access.case.owner_organization_id)?.map(|o| o.name).unwrap_or_default();
            let her_record = match &access.case.defender_id {
                Some(d) => crate::db::models::Defender::find(c, d)?.map(|d| (d.id, d.pseudonym)),
                None => None,
            };
            let can_attach = may(Action::CaseUpdate)
                && (st.access.permits(role, Action::DefenderCreate) || st.access.permits(role, Action::DefenderList));
            let deadline = crate::domain::summary::next_deadlines(c, std::slice::from_ref(&access.case.id), now)?
                .into_values()
                .next();
            let detail = crate::domain::cases::detail(c, &st.crypto, access.case)?;
            // Names for the shares shown, and the share form's choices: only when there are any.
            let orgs = if can_share || !detail.shares.is_empty() { Organization::all_by_name(c)? } else { Vec::new() };
            let assignable = if can_assign {
                let mut orgs = vec![detail.case.owner_organization_id.clone()];
                orgs.extend(detail.shares.iter().filter(|s| s.is_live(now)).map(|s| s.organization_id.clone()));
                let taken: Vec<&str> = detail.assignees.iter().map(|a| a.user_id.as_str()).collect();
                let staff = User::active_staff_of(c, &orgs)?;
                Some(staff.into_iter().filter(|u| !taken.contains(&u.id.as_str())).map(|u| (u.id, u.name)).collect())
            } else {
                None
            };
            let mut people: Vec<String> = detail.assignees.iter().map(|a| a.user_id.clone()).collect();
            people.extend(detail.transitions.iter().map(|(t, _)| t.actor_id.clone()));
            if let Some(n) = &notes {
                people.extend(n.iter().map(|(note, _)| note.author_id.clone()));
            }
            if let Some(m) = &messages {
                people.extend(m.iter().filter_map(|(m, _)| m.author_id.clone()));
            }
            if let Some(k) = &checkins {
                people.extend(k.iter().filter_map(|k| k.created_by.clone()));
            }
            people.extend(steps.assessments.iter().map(|a| a.1.clone()));
            people.extend(
                steps.plans.iter().flat_map(|p| std::iter::once(p.author_id.clone()).chain(p.approved_by.clone())),
            );
            people.extend(steps.relocations.iter().map(|r| r.2.clone()));
            people.extend(steps.escalations.iter().filter_map(|e| e.acknowledged_by.clone()));
            let names = crate::domain::accounts::names(c, people.iter().map(String::as_str))?;
            let records = Records {
                notes,
                messages,
                messages_capped,
                reply_via,
                checkins,
                escalations,
                orgs,
                steps,
                her_record,
                can_attach,
            };
            let flags = Flags {
                can_move,
                can_unassign,
                can_note,
                can_send,
                can_ask_checkin,
                can_close_checkin,
                can_share,
                can_unshare,
            };
            Ok((detail, records, owner, deadline, assignable, names, flags))
        })
        .await;
    let (d, records, owner, deadline, assignable, names, flags) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(req, Some(staff), staff.lang, e),
    };
    let Records {
        notes,
        messages,
        messages_capped,
        reply_via,
        checkins,
        escalations,
        orgs,
        steps,
        her_record,
        can_attach,
    } = records;
    let Flags {
        can_move,
        can_unassign,
        can_note,
        can_send,
        can_ask_checkin,
        can_close_checkin,
        can_share,
        can_unshare,
    } = flags;
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| w.former_colleague.to_string());
    let k = &d.case;
    let closed = k.status == CaseStatus::Closed.as_str();
    let (timeline, timeline_more) =
        timeline_of(staff.lang, &d, notes, messages.as_deref(), messages_capped, &steps, &name);
    let messages = messages.map(|rows| {
        rows.into_iter()
            .map(|(m, body)| MessageLine {
                at: ts_short(m.created_at),
                by: m.author_id.as_deref().map(name),
                body,
                id: m.id,
            })
            .collect()
    });
    let checkins = checkins.map(|rows| {
        rows.into_iter()
            .map(|k| {
                let pending = k.status == "pending";
                let state = match (k.status.as_str(), k.missed_at.is_some()) {
                    ("pending", false) => w.checkin_states[0],
                    ("pending", true) => w.checkin_states[1],
                    ("confirmed", _) => w.checkin_states[2],
                    _ => w.checkin_states[3],
                };
                CheckinLine {
                    due: ts_short(k.due_at),
                    state,
                    missed: pending && k.missed_at.is_some(),
                    coerced: k.coerced_at.is_some(),
                    asked_by: k.created_by.as_deref().map(name),
                    pending,
                    id: k.id,
                }
            })
            .collect()
    });
    let moves = if can_move {
        CaseStatus::parse(&k.status)
            .map(|from| {
                from.next()
                    .iter()
                    .map(|to| Move {
                        to: to.as_str(),
                        label: w.status_verb(*to),
                        needs_reason: *to == CaseStatus::Closed || from == CaseStatus::Closed,
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let chosen_kind = typed.note_kind.unwrap_or(NoteKind::Note);
    let read_only = moves.is_empty() && !can_note && assignable.is_none() && !can_send;
    let now = naive(state.clock.now());
    let scope: Vec<String> = serde_json::from_str(&k.consent_scope).unwrap_or_default();
    let org_names: BTreeMap<&str, &str> = orgs.iter().map(|o| (o.id.as_str(), o.name.as_str())).collect();
    // As in the API: the owner's coordinators see every share; a partner sees only her own
    // organisation's, never who else was told.
    let owner_view =
        staff.role == crate::domain::Role::Coordinator && staff.user.organization_id == k.owner_organization_id;
    let shares: Vec<ShareLine> = d
        .shares
        .iter()
        .filter(|s| s.is_live(now))
        .filter(|s| owner_view || s.organization_id == staff.user.organization_id)
        .map(|s| ShareLine {
            org: org_names.get(s.organization_id.as_str()).map_or_else(String::new, |n| n.to_string()),
            org_id: s.organization_id.clone(),
            until: ts_short(s.expires_at)[..10].to_string(),
            consent: s.consent_reference.clone(),
        })
        .collect();
    let share_to = can_share.then(|| {
        orgs.iter()
            .filter(|o| o.id != k.owner_organization_id)
            .map(|o| (o.id.clone(), o.name.clone(), scope.contains(&o.kind)))
            .collect()
    });
    let escalations = escalations.map(|rows| {
        rows.into_iter()
            .map(|e| EscalationLine {
                about: w.subject_kind(&e.subject_kind),
                reference: e.reference.trim_start_matches("alert ").to_string(),
                started: ts_short(e.created_at),
                next: e.next_due_at.map(ts_short).unwrap_or_default(),
                step: e.step + 1,
                id: e.id,
            })
            .collect()
    });
    let mut c = staff_chrome(staff, "/console/cases", w.case_title, "cases");
    c.notice = notice.or_else(|| notice_of(req, w));
    let page = FilePage {
        c,
        reference: k.reference.clone(),
        version: k.version,
        csrf: staff.masked_csrf(),
        status: w.status(&k.status),
        severity: w.severity(&k.severity),
        country: k.country.clone(),
        owner,
        opened: ts_short(k.created_at),
        updated: ts_short(k.updated_at),
        summary: d.summary.clone(),
        deadline: deadline.as_ref().map(|x| deadline_cell(w, x)),
        moves,
        assignees: d.assignees.iter().map(|a| Person { name: name(&a.user_id), id: a.user_id.clone() }).collect(),
        can_unassign,
        assignable: assignable
            .map(|v: Vec<(String, String)>| v.into_iter().map(|(id, name)| Person { id, name }).collect()),
        timeline,
        timeline_more,
        her_record,
        can_attach,
        can_create_record: state.access.permits(staff.role, Action::DefenderCreate),
        can_list_records: state.access.permits(staff.role, Action::DefenderList),
        can_note,
        note_kinds: NoteKind::ALL
            .iter()
            .map(|n| Choice { value: n.as_str(), label: w.note_kind(n.as_str()), checked: *n == chosen_kind })
            .collect(),
        messages,
        reply_via: reply_via
            .into_iter()
            .map(|id| {
                let short = id[id.len().saturating_sub(8)..].to_string();
                (id, short)
            })
            .collect(),
        can_reply: can_send,
        closed,
        checkins,
        can_ask_checkin,
        can_close_checkin,
        shares,
        can_unshare,
        share_to,
        consent: scope.iter().map(|k| w.org_kind(k)).collect(),
        escalations,
        can_ack: state.access.permits(staff.role, Action::EscalationAck),
        read_only,
        errors,
        typed_reason: typed.reason,
        typed_note: typed.note,
        typed_reply: typed.reply,
        typed_checkin_due: typed.checkin_due,
        typed_share_org: typed.share_org,
        typed_share_consent: typed.share_consent,
        typed_share_until: typed.share_until,
        typed_share_override: typed.share_override,
        id: k.id.clone(),
    };
    html(req, status, &page)
}

/// The case's timeline, newest first, from what the page loaded: its opening, transitions,
/// notes (with their text), messages (pointing to the thread), assessments, plans,
/// relocations and escalations. Where a source was cut (the newest notes, messages or
/// escalations only), everything older than its oldest shown entry is left out too, so the
/// timeline never skips a stretch silently; at most `TIMELINE_SHOWN` entries. The second
/// value says whether older entries were left out.
fn timeline_of(
    lang: crate::i18n::Lang,
    d: &crate::domain::cases::CaseDetail,
    notes: Option<Vec<(CaseNote, String)>>,
    messages: Option<&[(crate::db::models::Message, String)]>,
    messages_capped: bool,
    steps: &Steps,
    name: &dyn Fn(&str) -> String,
) -> (Vec<TimelineLine>, bool) {
    use chrono::NaiveDateTime;
    let w = lang.words();
    let arrow = if lang.dir() == "rtl" { "←" } else { "→" };
    let mut out: Vec<(NaiveDateTime, TimelineLine)> = Vec::new();
    let mut cut: Option<NaiveDateTime> = None;
    let mut push = |at: NaiveDateTime,
                    by: Option<String>,
                    what: String,
                    detail: Option<String>,
                    link: Option<String>,
                    hers: bool| {
        out.push((at, TimelineLine { at: ts_short(at), by, what, detail, link, hers }));
    };
    push(d.case.created_at, None, w.tl_opened.to_string(), None, None, false);
    for (t, reason) in &d.transitions {
        let what = format!("{}: {} {arrow} {}", w.tl_moved, w.status(&t.from_status), w.status(&t.to_status));
        push(t.created_at, Some(name(&t.actor_id)), what, reason.clone(), None, false);
    }
    if let Some(mut rows) = notes {
        if rows.len() as i64 > NOTES_SHOWN {
            rows.truncate(NOTES_SHOWN as usize);
            cut = rows.last().map(|(n, _)| n.created_at);
        }
        for (n, body) in rows {
            push(n.created_at, Some(name(&n.author_id)), w.note_kind(&n.kind).to_string(), Some(body), None, false);
        }
    }
    for (m, _) in messages.unwrap_or_default() {
        let (what, hers) = if m.author_id.is_none() { (w.tl_msg_hers, true) } else { (w.tl_msg_ours, false) };
        push(
            m.created_at,
            m.author_id.as_deref().map(name),
            what.to_string(),
            None,
            Some(format!("#m-{}", m.id)),
            hers,
        );
    }
    if messages_capped {
        let oldest = messages.and_then(|m| m.last()).map(|(m, _)| m.created_at);
        cut = cut.max(oldest);
    }
    for (version, by, level, at) in &steps.assessments {
        let what = format!("{} {version} · {}: {}", w.tl_assessment, w.tl_level, w.severity(level));
        push(*at, Some(name(by)), what, None, None, false);
    }
    for p in &steps.plans {
        push(p.created_at, Some(name(&p.author_id)), w.tl_plan_drafted.to_string(), None, None, false);
        if let Some(at) = p.approved_at {
            push(at, p.approved_by.as_deref().map(name), w.tl_plan_approved.to_string(), None, None, false);
        }
    }
    for (kind, status, by, at) in &steps.relocations {
        let what = format!(
            "{} ({}) · {}: {}",
            w.tl_relocation,
            w.relocation_kind(kind),
            w.tl_now,
            w.relocation_status(status)
        );
        push(*at, Some(name(by)), what, None, None, false);
    }
    for e in &steps.escalations {
        let about = w.subject_kind(&e.subject_kind);
        push(e.created_at, None, format!("{}: {about}", w.tl_esc_started), None, None, false);
        match (e.status.as_str(), e.acknowledged_at) {
            ("acknowledged", Some(at)) => push(
                at,
                e.acknowledged_by.as_deref().map(name),
                format!("{}: {about}", w.tl_esc_acked),
                None,
                None,
                false,
            ),
            ("completed", _) => push(e.updated_at, None, format!("{}: {about}", w.tl_esc_completed), None, None, false),
            ("stopped", _) => push(e.updated_at, None, format!("{}: {about}", w.tl_esc_stopped), None, None, false),
            _ => {}
        }
    }
    if steps.escalations.len() as i64 >= timeline::ESCALATIONS_SHOWN {
        cut = cut.max(steps.escalations.last().map(|e| e.created_at));
    }
    // Newest first; at the same second, the order they were pushed in, reversed.
    out.reverse();
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut more = cut.is_some_and(|c| out.iter().any(|(at, _)| *at < c));
    out.retain(|(at, _)| cut.is_none_or(|c| *at >= c));
    more = more || out.len() > TIMELINE_SHOWN;
    out.truncate(TIMELINE_SHOWN);
    (out.into_iter().map(|(_, l)| l).collect(), more)
}

pub async fn file(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::CaseRead) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    file_view(&req, &state, &staff, path.into_inner(), Again::fresh()).await
}

/// A change to the case through the domain, in one write transaction, for `action` (which
/// the access policy checks for her role and her relation to the case).
async fn change<F>(state: &web::Data<AppState>, staff: &Staff, id: &str, action: Action, f: F) -> Result<(), AppError>
where
    F: FnOnce(&mut crate::db::DbConn, &crate::domain::Ctx<'_>, &Caller<'_>, &Case) -> Result<(), AppError>
        + Send
        + 'static,
{
    if !state.access.permits(staff.role, action) {
        return Err(AppError::Forbidden("forbidden"));
    }
    let (st, user, role, id) = (state.clone(), staff.user.clone(), staff.role, id.to_string());
    state
        .db
        .write(move |c| {
            let who = Caller { user: &user, role };
            let now = st.clock.now();
            let case = crate::domain::cases::load_for(c, &st.access, &who, &id, action, naive(now))?;
            f(c, &st.ctx(now), &who, &case)
        })
        .await
}

/// Moves the case along its workflow, at the version her page showed.
pub async fn move_on(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["version", "to", "reason"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let id = path.into_inner();
    let typed = Typed { reason: f.raw("reason").to_string(), ..Default::default() };
    let Some(to) = f.get("to").and_then(CaseStatus::parse) else {
        return error_page(&req, Some(&staff), staff.lang, AppError::bad_request("invalid_form", "unknown status"));
    };
    let version = f.get("version").and_then(|v| v.parse::<i32>().ok());
    let reason = Some(typed.reason.trim().to_string()).filter(|r| !r.is_empty());
    let done = change(&state, &staff, &id, Action::CaseTransition, move |c, cx, who, case| {
        crate::domain::cases::check_version(case, version)?;
        crate::domain::cases::transition(c, cx, who, case, to, reason.as_deref())
    })
    .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/cases/{id}?n=status")),
        Err(AppError::PreconditionFailed | AppError::InvalidTransition { .. }) => {
            file_view(&req, &state, &staff, id, Again::conflict(w.case_changed_meanwhile, typed)).await
        }
        Err(AppError::Unprocessable { code: "reason_required", .. }) => {
            file_view(&req, &state, &staff, id, Again::error("reason", w.err_required, typed)).await
        }
        Err(AppError::Unprocessable { code: "invalid_field", .. }) => {
            file_view(&req, &state, &staff, id, Again::error("reason", w.err_too_long, typed)).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

pub async fn add_note(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["kind", "body"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let id = path.into_inner();
    let kind = f.get("kind").and_then(NoteKind::parse).unwrap_or(NoteKind::Note);
    let typed = Typed { note: f.raw("body").to_string(), note_kind: Some(kind), ..Default::default() };
    if typed.note.trim().is_empty() {
        return file_view(&req, &state, &staff, id, Again::error("note", w.err_required, typed)).await;
    }
    let body = typed.note.clone();
    let done = change(&state, &staff, &id, Action::NoteCreate, move |c, cx, who, case| {
        crate::domain::cases::add_note(c, cx.crypto, cx.now, who, case, kind, &body).map(|_| ())
    })
    .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/cases/{id}?n=note")),
        Err(AppError::Unprocessable { code: "invalid_field", .. }) => {
            file_view(&req, &state, &staff, id, Again::error("note", w.err_too_long, typed)).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

pub async fn assign(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["user"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let id = path.into_inner();
    let Some(user_id) = f.get("user").map(str::to_string) else {
        return file_view(&req, &state, &staff, id, Again::error("assign", w.err_user_unknown, Typed::default())).await;
    };
    let done = change(&state, &staff, &id, Action::CaseAssign, move |c, cx, who, case| {
        crate::domain::cases::assign(c, cx, who, case, &user_id)
    })
    .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/cases/{id}?n=assigned")),
        Err(AppError::Unprocessable { code: "unknown_user", .. }) => {
            file_view(&req, &state, &staff, id, Again::error("assign", w.err_user_unknown, Typed::default())).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

pub async fn unassign(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["user"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let id = path.into_inner();
    let user_id = f.get("user").unwrap_or("").to_string();
    let done = change(&state, &staff, &id, Action::CaseUnassign, move |c, cx, who, case| {
        crate::domain::cases::unassign(c, cx, who, case, &user_id)
    })
    .await;
    match done {
        // Removed by someone else first: the page as it is now says so.
        Ok(()) | Err(AppError::NotFound("assignee_not_found")) => {
            redirect(&req, &format!("/console/cases/{id}?n=unassigned"))
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

/// Staff to the defender: she reads it on her status page with her receipt.
pub async fn reply(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["body", "alert"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let id = path.into_inner();
    let typed = Typed { reply: f.raw("body").to_string(), ..Default::default() };
    if typed.reply.trim().is_empty() {
        return file_view(&req, &state, &staff, id, Again::error("reply", w.err_required, typed)).await;
    }
    let (body, via) = (typed.reply.clone(), f.get("alert").map(str::to_string));
    let done = change(&state, &staff, &id, Action::MessageSend, move |c, cx, who, case| {
        crate::domain::messages::send_to_defender(c, cx.crypto, cx.now, who, case, via.as_deref(), &body).map(|_| ())
    })
    .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/cases/{id}?n=sent")),
        Err(AppError::Unprocessable { code: "invalid_field", .. }) => {
            file_view(&req, &state, &staff, id, Again::error("reply", w.err_too_long, typed)).await
        }
        Err(AppError::Conflict { code: "case_closed" | "no_receipt", .. }) => {
            file_view(&req, &state, &staff, id, Again::conflict(w.case_changed_meanwhile, typed)).await
        }
        Err(AppError::Unprocessable { code: "unknown_alert" | "alert_id_required", .. }) => {
            file_view(&req, &state, &staff, id, Again::error("reply-alert", w.err_required, typed)).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

/// Asks her for a check-in by the end of a day (UTC).
pub async fn ask_checkin(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["due"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let id = path.into_inner();
    let typed = Typed { checkin_due: f.get("due").unwrap_or("").to_string(), ..Default::default() };
    let Some(day) = chrono::NaiveDate::parse_from_str(&typed.checkin_due, "%Y-%m-%d").ok() else {
        return file_view(&req, &state, &staff, id, Again::error("checkin-due", w.err_checkin_due, typed)).await;
    };
    let due = day.and_hms_opt(23, 59, 59).map(|t| t.and_utc());
    let done = change(&state, &staff, &id, Action::CheckinCreate, move |c, cx, who, case| {
        let due = due.ok_or_else(|| AppError::unprocessable("invalid_due_at", "not a day"))?;
        crate::domain::checkins::schedule(c, cx.now, who, case, due).map(|_| ())
    })
    .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/cases/{id}?n=checkin")),
        Err(AppError::Unprocessable { code: "invalid_due_at" | "invalid_field", .. }) => {
            file_view(&req, &state, &staff, id, Again::error("checkin-due", w.err_checkin_due, typed)).await
        }
        Err(AppError::Conflict { code: "case_closed", .. }) => {
            file_view(&req, &state, &staff, id, Again::conflict(w.case_changed_meanwhile, typed)).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

/// Confirms (she is safe) or cancels a pending check-in of this case.
pub async fn close_checkin(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["status"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let (id, checkin_id) = path.into_inner();
    let status = match f.get("status") {
        Some("confirmed") => "confirmed",
        Some("cancelled") => "cancelled",
        _ => {
            let e = AppError::bad_request("invalid_form", "unknown check-in outcome");
            return error_page(&req, Some(&staff), staff.lang, e);
        }
    };
    if !state.access.permits(staff.role, Action::CheckinClose) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let (st, user, role, case_id) = (state.clone(), staff.user.clone(), staff.role, id.clone());
    let done = state
        .db
        .write(move |c| {
            let who = Caller { user: &user, role };
            let now = st.clock.now();
            let (checkin, case) = crate::domain::access::load_record::<crate::db::models::Checkin>(
                c,
                &st.access,
                &who,
                &checkin_id,
                Action::CheckinClose,
                naive(now),
            )?;
            // A check-in of another case, through this case's page: as if it did not exist.
            if case.id != case_id {
                return Err(AppError::NotFound("checkin_not_found"));
            }
            crate::domain::checkins::close(c, &st.ctx(now), &who, &checkin, status)
        })
        .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/cases/{id}?n=checkin_closed")),
        Err(AppError::InvalidTransition { .. }) => {
            file_view(&req, &state, &staff, id, Again::conflict(w.case_changed_meanwhile, Typed::default())).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

/// Shares the case with another organisation until the end of a day, on her recorded
/// consent; outside her consent scope only with a reason.
pub async fn share(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let fields = ["org", "consent", "until", "override", "profile"];
    let (staff, f) = match posted(&req, &state, payload, &fields, false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let id = path.into_inner();
    let typed = Typed {
        share_org: f.get("org").unwrap_or("").to_string(),
        share_consent: f.raw("consent").to_string(),
        share_until: f.get("until").unwrap_or("").to_string(),
        share_override: f.raw("override").to_string(),
        ..Default::default()
    };
    let mut errors = Vec::new();
    if typed.share_consent.trim().is_empty() {
        errors.push(FieldError { field: "share-consent", text: w.err_required });
    }
    let until = chrono::NaiveDate::parse_from_str(&typed.share_until, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| t.and_utc());
    if until.is_none() {
        errors.push(FieldError { field: "share-until", text: w.err_share_until });
    }
    let Some(until) = until.filter(|_| errors.is_empty()) else {
        return file_view(&req, &state, &staff, id, Again::with_errors(errors, typed)).await;
    };
    let input = crate::domain::cases::NewShare {
        organization_id: typed.share_org.clone(),
        consent_reference: typed.share_consent.clone(),
        expires_at: until,
        override_reason: Some(typed.share_override.trim().to_string()).filter(|r| !r.is_empty()),
        include_profile: f.get("profile") == Some("1"),
    };
    let done = change(&state, &staff, &id, Action::CaseShare, move |c, cx, who, case| {
        crate::domain::cases::share(c, cx, who, case, input).map(|_| ())
    })
    .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/cases/{id}?n=shared")),
        Err(AppError::Unprocessable { code, field, .. }) => {
            let (field, text) = match code {
                "unknown_organization" | "own_organization" => ("share-org", w.err_user_unknown),
                "outside_consent_scope" => ("share-override", w.err_override_needed),
                "invalid_expiry" | "share_too_long" | "renewal_needs_consent" => ("share-until", w.err_share_until),
                _ if field.as_deref() == Some("override_reason") => ("share-override", w.err_too_long),
                _ if field.as_deref() == Some("expires_at") => ("share-until", w.err_share_until),
                _ => ("share-consent", w.err_too_long),
            };
            file_view(&req, &state, &staff, id, Again::error(field, text, typed)).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

pub async fn unshare(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["org"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let id = path.into_inner();
    let org = f.get("org").unwrap_or("").to_string();
    let done = change(&state, &staff, &id, Action::CaseUnshare, move |c, cx, who, case| {
        crate::domain::cases::unshare(c, cx, who, case, &org)
    })
    .await;
    match done {
        // Ended by someone else first: the page as it is now shows it gone.
        Ok(()) | Err(AppError::NotFound("share_not_found")) => {
            redirect(&req, &format!("/console/cases/{id}?n=unshared"))
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}
