//! Rule-driven escalation: nothing urgent may wait unseen. Rules live in
//! `policies/escalation.toml`; `policy` loads and checks them, `subject` says what they can
//! see, `engine` runs them and delivers mail through the outbox, `ack` serves the
//! acknowledgement links.

pub mod ack;
pub mod calendar;
pub mod engine;
pub mod event;
pub mod policy;
pub mod subject;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

pub use event::Event;
pub use policy::Rules;

use crate::db::DbConn;
use crate::error::AppError;
use crate::state::AppState;

/// The rules in force. A reload that fails keeps them.
pub struct RuleSet {
    current: RwLock<Arc<Rules>>,
    dir: PathBuf,
}

impl RuleSet {
    pub fn load(dir: PathBuf) -> Result<RuleSet, String> {
        let rules = Rules::load(Some(&dir))?;
        Ok(RuleSet { current: RwLock::new(Arc::new(rules)), dir })
    }

    pub fn rules(&self) -> Arc<Rules> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the files again; on any error the rules in force stay and the error is returned.
    pub fn reload(&self) -> Result<Arc<Rules>, String> {
        self.reload_checked(|_| Ok(()))
    }

    /// `reload`, with one more check the new rules must pass (see [`check_targets`]).
    pub fn reload_checked(&self, check: impl FnOnce(&Rules) -> Result<(), String>) -> Result<Arc<Rules>, String> {
        let fresh = Arc::new(Rules::load(Some(&self.dir))?);
        check(&fresh)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// Replaces the rules from texts (tests and `policies check` use files instead).
    pub fn replace_from_texts(&self, files: &[(String, String)]) -> Result<(), String> {
        let fresh = Arc::new(Rules::from_texts(files)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

/// Every `org:<id>` target must name an organisation in the database (checked at start and
/// on reload: a typo would otherwise only show as "no recipient" when it is too late).
pub fn check_targets(db: &crate::db::Db, rules: &Rules) -> Result<(), String> {
    let wanted: Vec<(String, String)> = rules
        .policies
        .iter()
        .flat_map(|p| {
            p.steps.iter().flat_map(move |s| {
                s.notify.iter().filter_map(move |t| match t {
                    policy::Target::Org(o) => Some((p.id.clone(), o.clone())),
                    _ => None,
                })
            })
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = db
        .read_blocking(|c| Ok(crate::db::models::Organization::all_ids(c)?))
        .map_err(|e| format!("cannot check org: targets: {e}"))?;
    match wanted.iter().find(|(_, o)| !known.contains(o)) {
        Some((p, o)) => Err(format!("policy `{p}`: `org:{o}` names no organisation in the database")),
        None => Ok(()),
    }
}

/// Starts what `event` calls for about the record `id`, inside the caller's transaction.
/// Called from `src/domain/`, in the change that makes the event happen.
pub fn fire(conn: &mut DbConn, rules: &Rules, now: DateTime<Utc>, event: Event, id: &str) -> Result<usize, AppError> {
    engine::start(conn, rules, now, event.name(), event.subject_kind(), id)
}

/// Ends, in the caller's transaction, every running escalation of this case (its own and its
/// records': their rules all see `case.*`) whose `stop_when` now holds. Every change a rule
/// can see calls this, so an escalation never outlives its reason until its next step falls
/// due. Returns how many ended.
pub fn settle_case(conn: &mut DbConn, rules: &Rules, now: DateTime<Utc>, case_id: &str) -> Result<usize, AppError> {
    let running = crate::db::models::Escalation::running_for_case(conn, case_id)?;
    settle(conn, rules, now, running)
}

/// `settle_case` for an alert that is not (or not yet) in a case.
pub fn settle_alert(conn: &mut DbConn, rules: &Rules, now: DateTime<Utc>, alert_id: &str) -> Result<usize, AppError> {
    // One lookup per alert rule, each through the partial index `escalations_one_active`.
    let mut running = Vec::new();
    for p in rules.policies.iter().filter(|p| p.on.starts_with("alert.")) {
        running.extend(crate::db::models::Escalation::active_for(conn, &p.id, "alert", alert_id)?);
    }
    settle(conn, rules, now, running)
}

fn settle(
    conn: &mut DbConn,
    rules: &Rules,
    now: DateTime<Utc>,
    running: Vec<crate::db::models::Escalation>,
) -> Result<usize, AppError> {
    let mut ended = 0;
    for esc in running {
        // A policy this instance does not know is left to the engine (see `engine::advance`).
        let Some(stop) = rules.get(&esc.policy_id).and_then(|p| p.stop_when.as_ref()) else { continue };
        let Some(subject) = subject::load(conn, &esc.subject_kind, &esc.subject_id)? else { continue };
        if let Ok(true) = stop.eval(&subject.vars, now) {
            crate::db::models::Escalation::end(conn, &esc.id, "stopped", "stop_when", crate::clock::naive(now))?;
            ended += 1;
        }
    }
    Ok(ended)
}

/// After a subject's dates changed (a plan's review date, a measure's due date): its
/// date-anchored chains end and `event`'s rules start again on the new dates. Chains that
/// are not anchored to a date go on untouched.
pub fn refresh(
    conn: &mut DbConn,
    rules: &Rules,
    now: DateTime<Utc>,
    event: Event,
    id: &str,
) -> Result<usize, AppError> {
    let kind = event.subject_kind();
    let Some(subject) = subject::load(conn, kind, id)? else { return Ok(0) };
    for p in rules.for_event(event.name()) {
        let Some((var, field)) = &p.anchor else { continue };
        let anchor = subject::time_field(&subject.vars, var, field).map(crate::clock::naive);
        if let Some(esc) = crate::db::models::Escalation::active_for(conn, &p.id, kind, id)? {
            if anchor == Some(esc.anchor_at) {
                continue; // same date: the chain goes on where it is
            }
            crate::db::models::Escalation::end(conn, &esc.id, "stopped", "dates_changed", crate::clock::naive(now))?;
        }
    }
    engine::start(conn, rules, now, event.name(), kind, id)
}

/// The engine and sender loop of `haven serve`: a pass every `escalation_interval_ms`, more
/// at once while work is left. Stops when `stop` is set.
pub fn spawn_worker(state: actix_web::web::Data<AppState>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("haven-escalation".into())
        .spawn(move || {
            let interval = std::time::Duration::from_millis(state.config.escalation_interval_ms);
            while !stop.load(Ordering::Relaxed) {
                work_once(&state);
                let mut slept = std::time::Duration::ZERO;
                while slept < interval && !stop.load(Ordering::Relaxed) {
                    let nap = std::time::Duration::from_millis(100).min(interval - slept);
                    std::thread::sleep(nap);
                    slept += nap;
                }
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the escalation thread: {e}"))
}

/// Escalations per engine transaction. Each one holds SQLite's write lock (about 0.1 ms per
/// escalation here), so the batch is small enough that intake waits a few milliseconds at
/// most; a backlog is worked through batch after batch.
const ENGINE_BATCH: i64 = 100;
/// At most this many batches per interval (a backlog of 20,000 due steps).
const ENGINE_BATCHES: usize = 200;
const SEND_BATCH: i64 = 50;

fn work_once(state: &AppState) {
    for _ in 0..ENGINE_BATCHES {
        match engine::run_due(state, state.clock.now(), ENGINE_BATCH) {
            Ok(r) if r.claimed as i64 == ENGINE_BATCH => {
                // Let waiting requests take the write lock between batches.
                std::thread::yield_now();
                continue;
            }
            Ok(r) => {
                if r.steps_fired > 0 {
                    tracing::info!(steps = r.steps_fired, messages = r.messages, "escalation steps fired");
                }
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "escalation pass failed; retrying next interval");
                break;
            }
        }
    }
    for _ in 0..20 {
        match engine::send_due(state, state.clock.now(), SEND_BATCH) {
            Ok(r) if r.claimed as i64 == SEND_BATCH => continue,
            Ok(_) => break,
            Err(e) => {
                tracing::error!(error = %e, "mail pass failed; retrying next interval");
                break;
            }
        }
    }
}
