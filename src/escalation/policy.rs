//! Escalation rules: `policies/escalation.toml` (and `policies/escalation.d/*.toml`), parsed,
//! checked and compiled. A rule set is only ever replaced by one that parsed, referenced only
//! known fields and functions, and passed every embedded `[[test]]`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::calendar::{Calendar, CalendarDef};
use super::subject::{self, Vars};
use crate::domain::Role;

pub const BUILTIN: &str = include_str!("../../policies/escalation.toml");
pub const FILE: &str = "escalation.toml";
pub const DIR: &str = "escalation.d";

/// CEL functions a rule may call (operators and macros are always allowed).
const FUNCTIONS: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "timestamp",
    "duration",
    "string",
    "int",
    "uint",
    "double",
    "bool",
    "max",
    "min",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    policy: Vec<PolicyDef>,
    #[serde(default)]
    test: Vec<TestDef>,
    #[serde(default)]
    calendar: Vec<CalendarDef>,
    #[serde(default)]
    holidays: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDef {
    id: Spanned<String>,
    description: String,
    on: Spanned<String>,
    when: Option<Spanned<String>>,
    stop_when: Option<Spanned<String>>,
    /// A timestamp field of the subject the steps count from, instead of the event's time
    /// (e.g. `assessment.reassess_by`).
    anchor: Option<Spanned<String>>,
    #[serde(default)]
    repeat: u32,
    repeat_every: Option<Spanned<String>>,
    #[serde(default)]
    step: Vec<StepDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepDef {
    after: Spanned<String>,
    calendar: Option<Spanned<String>>,
    notify: Spanned<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestDef {
    policy: Spanned<String>,
    given: toml::Table,
    /// When the chain started (the anchor); default Monday 2026-01-05 09:00 UTC.
    start: Option<toml::value::Datetime>,
    at: String,
    expect: Vec<String>,
}

/// Who a step notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Active users with this role in the subject's owning organisation.
    Role(Role),
    /// The case's assignees (partner assignees only while their share is live).
    Assignees,
    /// The coordinators of another organisation.
    Org(String),
    /// A fixed address, such as a duty mailbox.
    Email(String),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        if s == "assignees" {
            return Ok(Target::Assignees);
        }
        if let Some(r) = s.strip_prefix("role:") {
            return Role::parse(r)
                .filter(|r| *r != Role::Admin && *r != Role::Auditor)
                .map(Target::Role)
                .ok_or_else(|| format!("`{s}`: the role must be coordinator or officer"));
        }
        if let Some(o) = s.strip_prefix("org:") {
            if o.is_empty() || o.len() > 64 || !o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("`{s}`: not an organisation id"));
            }
            return Ok(Target::Org(o.to_string()));
        }
        if let Some(a) = s.strip_prefix("email:") {
            return a
                .parse::<lettre::Address>()
                .map(|_| Target::Email(a.to_string()))
                .map_err(|_| format!("`{s}`: not an email address"));
        }
        Err(format!("`{s}`: a target is role:<role>, assignees, org:<id> or email:<address>"))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Role(r) => write!(f, "role:{}", r.as_str()),
            Target::Assignees => f.write_str("assignees"),
            Target::Org(o) => write!(f, "org:{o}"),
            Target::Email(a) => write!(f, "email:{a}"),
        }
    }
}

pub struct Step {
    pub after: Duration,
    pub calendar: Option<Arc<Calendar>>,
    pub notify: Vec<Target>,
}

/// A CEL expression with its source, compiled and checked.
pub struct Expr {
    pub source: String,
    program: cel::Program,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl Expr {
    /// Evaluates to a bool over the subject's fields and `now`.
    pub fn eval(&self, vars: &Vars, now: DateTime<Utc>) -> Result<bool, String> {
        // The standard library's environment is built once: building it was three quarters
        // of an evaluation's cost.
        static STDLIB: std::sync::LazyLock<Arc<cel::Env>> = std::sync::LazyLock::new(|| Arc::new(cel::Env::stdlib()));
        let mut ctx = cel::Context::with_env(STDLIB.clone());
        for (name, fields) in vars {
            let map: HashMap<String, cel::Value> =
                fields.iter().map(|(k, v)| (k.clone(), subject::to_cel(v))).collect();
            ctx.add_variable_from_value(name.clone(), map);
        }
        ctx.add_variable_from_value("now", cel::Value::Timestamp(now.fixed_offset()));
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("returned {:?} instead of a bool", other.type_of())),
            Err(e) => Err(format!("cannot be evaluated: {e}")),
        }
    }
}

pub struct Policy {
    pub id: String,
    pub description: String,
    pub on: String,
    pub subject_kind: &'static str,
    pub when: Option<Expr>,
    pub stop_when: Option<Expr>,
    /// `(variable, field)` of the timestamp the chain counts from.
    pub anchor: Option<(String, String)>,
    pub repeat: u32,
    pub period: Duration,
    pub steps: Vec<Step>,
    pub hash: String,
}

impl Policy {
    /// When step `step` of loop `loop_no` falls due for a chain anchored at `anchor`.
    pub fn due_at(&self, anchor: DateTime<Utc>, loop_no: u32, step: usize) -> Option<DateTime<Utc>> {
        let s = self.steps.get(step)?;
        let start = anchor.checked_add_signed(self.period.checked_mul(loop_no as i32)?)?;
        match &s.calendar {
            Some(c) => c.add(start, s.after),
            None => start.checked_add_signed(s.after),
        }
    }

    /// The step after `(loop_no, step)`, if the chain goes on.
    pub fn next(&self, loop_no: u32, step: usize) -> Option<(u32, usize)> {
        if step + 1 < self.steps.len() {
            Some((loop_no, step + 1))
        } else if loop_no < self.repeat {
            Some((loop_no + 1, 0))
        } else {
            None
        }
    }

    /// The targets of the last step due at `at`, for a chain anchored at `anchor` whose
    /// subject is `vars` (empty when `when` is false or `stop_when` true).
    pub fn targets_at(&self, vars: &Vars, anchor: DateTime<Utc>, at: DateTime<Utc>) -> Result<Vec<String>, String> {
        if let Some(w) = &self.when {
            if !w.eval(vars, anchor)? {
                return Ok(vec![]);
            }
        }
        if let Some(s) = &self.stop_when {
            if s.eval(vars, at)? {
                return Ok(vec![]);
            }
        }
        let mut current = None;
        let mut pos = Some((0u32, 0usize));
        while let Some((l, s)) = pos {
            match self.due_at(anchor, l, s) {
                Some(t) if t <= at => current = Some(s),
                _ => break,
            }
            pos = self.next(l, s);
        }
        Ok(current.map(|s| self.steps[s].notify.iter().map(|t| t.to_string()).collect()).unwrap_or_default())
    }
}

/// A loaded, checked rule set.
pub struct Rules {
    pub policies: Vec<Arc<Policy>>,
    /// Where each part came from, for messages.
    pub sources: Vec<String>,
    pub tests_passed: usize,
}

impl Rules {
    pub fn get(&self, id: &str) -> Option<&Arc<Policy>> {
        self.policies.iter().find(|p| p.id == id)
    }

    pub fn for_event<'a>(&'a self, event: &'a str) -> impl Iterator<Item = &'a Arc<Policy>> + 'a {
        self.policies.iter().filter(move |p| p.on == event)
    }

    /// Loads `escalation.toml` from `dir` (the built-in copy if the directory does not have
    /// one) and every `escalation.d/*.toml` there, in name order.
    pub fn load(dir: Option<&Path>) -> Result<Rules, String> {
        let mut files: Vec<(String, String)> = Vec::new();
        let (text, name) = crate::policy::read(dir, FILE, BUILTIN)?;
        files.push((name, text));
        if let Some(d) = dir.map(|d| d.join(DIR)).filter(|d| d.is_dir()) {
            let mut extra: Vec<PathBuf> = std::fs::read_dir(&d)
                .map_err(|e| format!("{}: {e}", d.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            extra.sort();
            for p in extra {
                let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                files.push((p.display().to_string(), t));
            }
        }
        Rules::from_texts(&files)
    }

    /// Parses and checks `(name, text)` files as one rule set.
    pub fn from_texts(files: &[(String, String)]) -> Result<Rules, String> {
        let mut parsed = Vec::new();
        for (name, text) in files {
            let def: FileDef = toml::from_str(text).map_err(|e| toml_error(name, text, &e))?;
            parsed.push((name.as_str(), text.as_str(), def));
        }
        // Holidays and calendars first: steps refer to them by name, from any file.
        let mut holidays: BTreeMap<String, Vec<chrono::NaiveDate>> = BTreeMap::new();
        for (name, _, def) in &parsed {
            for (country, dates) in &def.holidays {
                if !crate::domain::country::is_valid(country) {
                    return Err(format!("{name}: holidays: `{country}` is not an ISO 3166-1 alpha-2 code"));
                }
                let list = holidays.entry(country.clone()).or_default();
                for d in dates {
                    let date = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                        .map_err(|_| format!("{name}: holidays.{country}: `{d}` is not a date like 2026-12-25"))?;
                    list.push(date);
                }
            }
        }
        let mut calendars: HashMap<String, Arc<Calendar>> = HashMap::new();
        for (name, text, def) in &parsed {
            for c in &def.calendar {
                let line = line_of(text, c.name.span().start);
                let cal = Calendar::compile(c, &holidays).map_err(|e| format!("{name}:{line}: calendar: {e}"))?;
                if calendars.insert(cal.name.clone(), Arc::new(cal)).is_some() {
                    return Err(format!("{name}:{line}: calendar `{}` is defined twice", c.name.get_ref()));
                }
            }
        }
        let mut policies: Vec<Arc<Policy>> = Vec::new();
        for (name, text, def) in &parsed {
            for p in &def.policy {
                let line = line_of(text, p.id.span().start);
                let policy = compile(p, &calendars).map_err(|(l, e)| {
                    format!("{name}:{}: policy `{}`: {e}", l.map(|o| line_of(text, o)).unwrap_or(line), p.id.get_ref())
                })?;
                if policies.iter().any(|q| q.id == policy.id) {
                    return Err(format!("{name}:{line}: policy `{}` is defined twice", policy.id));
                }
                policies.push(Arc::new(policy));
            }
        }
        let rules = Rules { policies, sources: files.iter().map(|(n, _)| n.clone()).collect(), tests_passed: 0 };
        let mut passed = 0;
        for (name, text, def) in &parsed {
            for t in &def.test {
                let line = line_of(text, t.policy.span().start);
                rules.run_test(t).map_err(|e| format!("{name}:{line}: test of `{}`: {e}", t.policy.get_ref()))?;
                passed += 1;
            }
        }
        Ok(Rules { tests_passed: passed, ..rules })
    }

    fn run_test(&self, t: &TestDef) -> Result<(), String> {
        let p = self.get(t.policy.get_ref()).ok_or("no such policy")?;
        let vars = subject::vars_from_toml(&p.on, &t.given)?;
        let start = match &t.start {
            Some(d) => DateTime::parse_from_rfc3339(&d.to_string())
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| format!("start: `{d}` needs a date, a time and an offset"))?,
            None => test_epoch(),
        };
        let anchor = match &p.anchor {
            Some((v, f)) => subject::time_field(&vars, v, f).unwrap_or(start),
            None => start,
        };
        let at = parse_duration(&t.at).map_err(|e| format!("at: {e}"))?;
        let got = p.targets_at(&vars, anchor, anchor + at)?;
        let mut want = t.expect.clone();
        for w in &want {
            Target::parse(w).map_err(|e| format!("expect: {e}"))?;
        }
        let mut have = got.clone();
        want.sort();
        have.sort();
        if want != have {
            return Err(format!("at {} expected {:?} but the policy notifies {:?}", t.at, t.expect, got));
        }
        Ok(())
    }
}

/// The default start of embedded tests: a Monday morning.
pub fn test_epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z").map(|d| d.with_timezone(&Utc)).unwrap_or_default()
}

type CompileError = (Option<usize>, String);

fn at<T>(s: &Spanned<T>) -> Option<usize> {
    Some(s.span().start)
}

fn compile(p: &PolicyDef, calendars: &HashMap<String, Arc<Calendar>>) -> Result<Policy, CompileError> {
    let id = p.id.get_ref();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err((at(&p.id), "an id is 1 to 64 lowercase letters, digits and dashes".into()));
    }
    if p.description.trim().is_empty() || p.description.len() > 200 {
        return Err((at(&p.id), "description must be 1 to 200 characters (it goes into every mail)".into()));
    }
    let ev = super::Event::parse(p.on.get_ref()).ok_or_else(|| {
        let known: Vec<&str> = super::Event::ALL.iter().map(|e| e.name()).collect();
        (at(&p.on), format!("unknown event `{}` (known: {})", p.on.get_ref(), known.join(", ")))
    })?;
    let (event, kind, vars) = (ev.name(), ev.subject_kind(), ev.vars());
    let when = p.when.as_ref().map(|w| expr(w, vars, "when")).transpose()?;
    let stop_when = p.stop_when.as_ref().map(|w| expr(w, vars, "stop_when")).transpose()?;
    let anchor = match &p.anchor {
        None => None,
        Some(a) => {
            let (v, f) =
                a.get_ref().split_once('.').ok_or((at(a), "anchor is a field like assessment.reassess_by".into()))?;
            if !vars.contains(&v) || subject::field_type(v, f) != Some(subject::FieldType::Time) {
                return Err((at(a), format!("anchor `{}` is not a timestamp field of this event", a.get_ref())));
            }
            Some((v.to_string(), f.to_string()))
        }
    };
    if p.step.is_empty() {
        return Err((at(&p.id), "a policy needs at least one [[policy.step]]".into()));
    }
    let mut steps = Vec::new();
    let mut hash = Sha256::new();
    hash.update(format!("{id}\n{}\n{event}\n", p.description));
    for w in [&p.when, &p.stop_when, &p.anchor].into_iter().flatten() {
        hash.update(w.get_ref());
        hash.update("\n");
    }
    for s in &p.step {
        let after = parse_duration(s.after.get_ref()).map_err(|e| (at(&s.after), format!("after: {e}")))?;
        let calendar = match &s.calendar {
            None => None,
            Some(c) => Some(
                calendars
                    .get(c.get_ref())
                    .cloned()
                    .ok_or_else(|| (at(c), format!("unknown calendar `{}`", c.get_ref())))?,
            ),
        };
        if s.notify.get_ref().is_empty() {
            return Err((at(&s.notify), "notify needs at least one target".into()));
        }
        let notify = s
            .notify
            .get_ref()
            .iter()
            .map(|t| Target::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (at(&s.notify), e))?;
        if !kind_has_case(kind) && notify.contains(&Target::Assignees) {
            return Err((at(&s.notify), "`assignees`: this event's subject has no case yet".into()));
        }
        if steps.last().is_some_and(|prev: &Step| prev.after >= after) {
            return Err((at(&s.after), "each step's `after` must be later than the step before".into()));
        }
        // Working time runs slower than the clock: a step counted in clock time (or on
        // another calendar) after one counted in working time could fall due first, and
        // would then wait for it. Steps stay in order only if, once a calendar is used,
        // every later step uses the same one.
        let fingerprint = |c: &Option<Arc<Calendar>>| c.as_ref().map(|c| c.fingerprint());
        if steps
            .last()
            .is_some_and(|prev: &Step| prev.calendar.is_some() && fingerprint(&prev.calendar) != fingerprint(&calendar))
        {
            return Err((
                at(&s.after),
                "a step after one on a calendar must use the same calendar (working time can end later than clock time)"
                    .into(),
            ));
        }
        hash.update(format!(
            "{}s {:?} {:?}\n",
            after.num_seconds(),
            calendar.as_ref().map(|c| c.fingerprint()),
            s.notify.get_ref()
        ));
        steps.push(Step { after, calendar, notify });
    }
    let period = match &p.repeat_every {
        Some(r) => parse_duration(r.get_ref()).map_err(|e| (at(r), format!("repeat_every: {e}")))?,
        None => steps.last().map(|s| s.after).unwrap_or_default(),
    };
    if p.repeat > 100 {
        return Err((at(&p.id), "repeat is at most 100".into()));
    }
    if p.repeat > 0 && period <= Duration::zero() {
        return Err((at(&p.id), "repeat needs repeat_every, or a last step with a non-zero `after`".into()));
    }
    // Rounds restart in clock time; a calendar step could still be waiting when the next
    // round begins.
    if p.repeat > 0 && steps.iter().any(|s| s.calendar.is_some()) {
        return Err((at(&p.id), "repeat cannot be combined with steps on a calendar".into()));
    }
    // Round k+1's first step must come after round k's last one.
    let span = steps.last().map(|s| s.after).unwrap_or_default() - steps.first().map(|s| s.after).unwrap_or_default();
    if p.repeat > 0 && period <= span {
        return Err((
            at(&p.id),
            "repeat_every must be longer than the time from the first step to the last (rounds would overlap)".into(),
        ));
    }
    hash.update(format!("repeat {} every {}s\n", p.repeat, period.num_seconds()));
    Ok(Policy {
        id: id.clone(),
        description: p.description.trim().to_string(),
        on: event.to_string(),
        subject_kind: kind,
        when,
        stop_when,
        anchor,
        repeat: p.repeat,
        period,
        steps,
        hash: hex::encode(&hash.finalize()[..16]),
    })
}

fn kind_has_case(kind: &str) -> bool {
    kind != "alert"
}

fn expr(src: &Spanned<String>, vars: &[&str], what: &str) -> Result<Expr, CompileError> {
    let offset = at(src);
    let program = cel::Program::compile(src.get_ref()).map_err(|e| {
        let msg = e.to_string().lines().next().unwrap_or("syntax error").to_string();
        (offset, format!("{what}: CEL syntax error: {msg}"))
    })?;
    let mut errors = Vec::new();
    check_refs(program.expression(), vars, &mut Vec::new(), &mut errors);
    if let Some(e) = errors.into_iter().next() {
        return Err((offset, format!("{what}: {e}")));
    }
    let e = Expr { source: src.get_ref().clone(), program };
    // It must evaluate to a bool on a subject with every field at its zero value, and on one
    // with every field set (true, 1, "x", a later time): `&&` and `||` skip what they need
    // not evaluate, so one subject alone would let type errors in a branch through.
    for sample in [subject::zero_vars(vars), subject::set_vars(vars)] {
        e.eval(&sample, test_epoch()).map_err(|m| (offset, format!("{what}: {m}")))?;
    }
    Ok(e)
}

/// Every variable, field and function the expression names must exist.
fn check_refs(e: &cel::IdedExpr, vars: &[&str], bound: &mut Vec<String>, errors: &mut Vec<String>) {
    use cel::common::ast::{EntryExpr, Expr as E};
    match &e.expr {
        E::Ident(name) => {
            if !bound.contains(name) && !vars.contains(&name.as_str()) && name != "now" {
                errors.push(format!("unknown variable `{name}` (this event has: {}, now)", vars.join(", ")));
            }
        }
        E::Select(s) => match &s.operand.expr {
            E::Ident(root) if !bound.contains(root) && vars.contains(&root.as_str()) => {
                if subject::field_type(root, &s.field).is_none() {
                    errors.push(format!(
                        "unknown field `{root}.{}` (known: {})",
                        s.field,
                        subject::field_names(root).join(", ")
                    ));
                }
            }
            _ => check_refs(&s.operand, vars, bound, errors),
        },
        E::Call(c) => {
            let is_operator =
                !c.func_name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') || c.func_name.starts_with('_');
            if !is_operator && !FUNCTIONS.contains(&c.func_name.as_str()) {
                errors.push(format!("unknown function `{}`", c.func_name));
            }
            if let Some(t) = &c.target {
                check_refs(t, vars, bound, errors);
            }
            for a in &c.args {
                check_refs(a, vars, bound, errors);
            }
        }
        E::Comprehension(c) => {
            check_refs(&c.iter_range, vars, bound, errors);
            check_refs(&c.accu_init, vars, bound, errors);
            let n = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                bound.push(v.clone());
            }
            bound.push(c.accu_var.clone());
            check_refs(&c.loop_cond, vars, bound, errors);
            check_refs(&c.loop_step, vars, bound, errors);
            check_refs(&c.result, vars, bound, errors);
            bound.truncate(n);
        }
        E::List(l) => l.elements.iter().for_each(|x| check_refs(x, vars, bound, errors)),
        E::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    check_refs(&me.key, vars, bound, errors);
                    check_refs(&me.value, vars, bound, errors);
                }
            }
        }
        E::Struct(s) => errors.push(format!("message types such as `{}` are not available", s.type_name)),
        E::Literal(_) | E::Unspecified => {}
    }
}

/// "15m", "48h", "14d", "30s", "2w", or a sum like "1h30m". At most 366 days.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration like 30s, 15m, 48h, 14d or 1h30m");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        total = n.checked_mul(unit).and_then(|x| total.checked_add(x)).ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    if total > 366 * 86_400 {
        return Err(format!("`{s}` is longer than 366 days"));
    }
    Ok(Duration::seconds(total))
}

pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map(|t| t.matches('\n').count() + 1).unwrap_or(1)
}

fn toml_error(name: &str, text: &str, e: &toml::de::Error) -> String {
    let line = e.span().map(|s| line_of(text, s.start)).map(|l| format!(":{l}")).unwrap_or_default();
    format!("{name}{line}: {}", e.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"[[policy]]
id = "p"
description = "d"
on = "grant.requested"
repeat = 2
repeat_every = "1h"
  [[policy.step]]
  after = "0m"
  notify = ["role:coordinator"]
  [[policy.step]]
  after = "15m"
  notify = ["role:officer"]
  [[policy.step]]
  after = "45m"
  notify = ["email:duty@example.org"]
"#;

    fn rules(text: &str) -> Result<Rules, String> {
        Rules::from_texts(&[("t.toml".to_string(), text.to_string())])
    }

    fn policy(text: &str) -> Arc<Policy> {
        rules(text).unwrap().policies[0].clone()
    }

    fn refused(text: &str) -> String {
        rules(text).err().expect("the rules should be refused")
    }

    fn builtin() -> Rules {
        Rules::from_texts(&[(FILE.to_string(), BUILTIN.to_string())]).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn m(n: i64) -> Duration {
        Duration::minutes(n)
    }

    fn vars(event: &str, given: &str) -> Vars {
        subject::vars_from_toml(event, &toml::from_str(given).unwrap()).unwrap()
    }

    #[test]
    fn steps_fall_due_after_their_offset_in_each_round() {
        let p = policy(BASE);
        let a = test_epoch();
        assert_eq!(p.period, Duration::hours(1));
        assert_eq!(p.due_at(a, 0, 0), Some(a));
        assert_eq!(p.due_at(a, 0, 1), Some(a + m(15)));
        assert_eq!(p.due_at(a, 0, 2), Some(a + m(45)));
        assert_eq!(p.due_at(a, 1, 0), Some(a + m(60)));
        assert_eq!(p.due_at(a, 2, 2), Some(a + m(165)));
        assert_eq!(p.due_at(a, 0, 3), None, "there is no fourth step");
        // The whole chain: 1 + repeat rounds of three steps, then nothing.
        let mut due = Vec::new();
        let mut pos = Some((0, 0));
        while let Some((l, s)) = pos {
            due.push((p.due_at(a, l, s).unwrap() - a).num_minutes());
            pos = p.next(l, s);
        }
        assert_eq!(due, vec![0, 15, 45, 60, 75, 105, 120, 135, 165]);
        assert_eq!(p.next(0, 2), Some((1, 0)));
        assert_eq!(p.next(2, 2), None);
    }

    #[test]
    fn without_repeat_the_chain_ends_after_its_last_step() {
        let p = policy(&BASE.replace("repeat = 2\n", ""));
        assert_eq!(p.repeat, 0);
        assert_eq!(p.next(0, 1), Some((0, 2)));
        assert_eq!(p.next(0, 2), None);
    }

    #[test]
    fn repeat_every_defaults_to_the_last_steps_after() {
        let text = BASE
            .replace("repeat = 2\nrepeat_every = \"1h\"\n", "repeat = 1\n")
            .replace("after = \"0m\"", "after = \"1h\"")
            .replace("after = \"15m\"", "after = \"3h\"")
            .replace("  [[policy.step]]\n  after = \"45m\"\n  notify = [\"email:duty@example.org\"]\n", "");
        let p = policy(&text);
        let a = test_epoch();
        assert_eq!(p.period, Duration::hours(3));
        assert_eq!(p.due_at(a, 1, 0), Some(a + Duration::hours(4)));
        assert_eq!(p.due_at(a, 1, 1), Some(a + Duration::hours(6)));
        assert_eq!(p.next(1, 1), None);
    }

    #[test]
    fn rounds_may_not_overlap() {
        // Steps span 45 minutes: a round every 45 minutes would fire its first step together
        // with the last one of the round before.
        assert!(refused(&BASE.replace("repeat_every = \"1h\"", "repeat_every = \"45m\"")).contains("overlap"));
        assert!(rules(&BASE.replace("repeat_every = \"1h\"", "repeat_every = \"46m\"")).is_ok());
        // The default (the last step's 45m) overlaps too when the first step is at 0m.
        assert!(refused(&BASE.replace("repeat_every = \"1h\"\n", "")).contains("overlap"));
        // One step at 0m repeated without repeat_every has no period at all.
        let single = "[[policy]]\nid = \"p\"\ndescription = \"d\"\non = \"grant.requested\"\nrepeat = 1\n  [[policy.step]]\n  after = \"0m\"\n  notify = [\"role:coordinator\"]\n";
        assert!(refused(single).contains("repeat needs repeat_every"));
    }

    #[test]
    fn bad_policies_are_refused_with_their_reason() {
        for (from, to, why) in [
            ("after = \"15m\"", "after = \"0m\"", "must be later than the step before"),
            ("after = \"45m\"", "after = \"15m\"", "must be later than the step before"),
            ("repeat = 2", "repeat = 101", "repeat is at most 100"),
            ("on = \"grant.requested\"", "on = \"case.closed\"", "unknown event `case.closed`"),
            ("id = \"p\"", "id = \"P\"", "an id is 1 to 64"),
            ("description = \"d\"", "description = \" \"", "description must be"),
            ("after = \"15m\"", "after = \"15 minutes\"", "after: "),
            ("after = \"45m\"", "after = \"367d\"", "longer than 366 days"),
            ("[\"role:officer\"]", "[\"role:admin\"]", "the role must be coordinator or officer"),
            ("[\"role:officer\"]", "[]", "notify needs at least one target"),
            ("[\"role:officer\"]", "[\"mailto:a@b.org\"]", "a target is"),
            ("repeat = 2\n", "repeat = 2\nanchor = \"grant.status\"\n", "is not a timestamp field"),
            ("repeat = 2\n", "repeat = 2\nanchor = \"visa.submitted_on\"\n", "is not a timestamp field"),
            ("repeat = 2\n", "repeat = 2\nwhen = 'grant.amount > 5'\n", "unknown field `grant.amount`"),
            ("repeat = 2\n", "repeat = 2\nstop_when = 'grant.status'\n", "instead of a bool"),
            ("repeat = 2\n", "repeat = 2\nwhen = 'grant.status.lowerAscii() == \"x\"'\n", "unknown function"),
            ("after = \"15m\"\n", "after = \"15m\"\n  calendar = \"nope\"\n", "unknown calendar `nope`"),
        ] {
            let err = refused(&BASE.replace(from, to));
            assert!(err.contains(why), "{from} -> {to}: {err}");
        }
        let alert = BASE.replace("grant.requested", "alert.received").replace("[\"role:officer\"]", "[\"assignees\"]");
        assert!(refused(&alert).contains("this event's subject has no case yet"));
        assert!(refused(&format!("{BASE}{BASE}")).contains("policy `p` is defined twice"));
        // A timestamp field of the subject's case is a valid anchor.
        assert!(rules(&BASE.replace("repeat = 2\n", "repeat = 2\nanchor = \"case.created_at\"\n")).is_ok());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        // The second step's `after` is on line 11.
        let err = refused(&BASE.replace("after = \"15m\"", "after = \"0m\""));
        assert!(err.starts_with("t.toml:11: policy `p`: "), "{err}");
    }

    #[test]
    fn embedded_tests_run_and_can_fail() {
        let ok = format!("{BASE}\n[[test]]\npolicy = \"p\"\ngiven = {{}}\nat = \"16m\"\nexpect = [\"role:officer\"]\n");
        assert_eq!(rules(&ok).unwrap().tests_passed, 1);
        let wrong = ok.replace("expect = [\"role:officer\"]", "expect = [\"role:coordinator\"]");
        let err = refused(&wrong);
        assert!(err.contains("test of `p`") && err.contains("expected"), "{err}");
    }

    #[test]
    fn the_shipped_rules_load_and_pass_all_their_tests() {
        let r = builtin();
        assert_eq!(r.tests_passed, BUILTIN.lines().filter(|l| l.trim_end() == "[[test]]").count());
        assert!(r.tests_passed > 20);
        let mut ids: Vec<&str> = r.policies.iter().map(|p| p.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), r.policies.len());
        assert_eq!(r.for_event("grant.requested").count(), 1);
        assert!(r.get("measure-overdue").is_some() && r.get("no-such-policy").is_none());
    }

    #[test]
    fn a_step_is_in_force_from_its_due_time_exactly() {
        let r = builtin();
        let p = r.get("critical-case-unacknowledged").unwrap();
        let v = vars("case.opened", r#"case = { severity = "critical", acknowledged = false, status = "open" }"#);
        let a = test_epoch();
        let at = |d: Duration| p.targets_at(&v, a, a + d).unwrap();
        assert_eq!(at(Duration::zero()), vec!["role:coordinator"]);
        assert_eq!(at(m(15) - Duration::seconds(1)), vec!["role:coordinator"]);
        assert_eq!(at(m(15)), vec!["role:coordinator", "assignees"]);
        assert_eq!(at(m(45)), vec!["email:protection-duty@example.org"]);
        // The next round starts one hour in, with the first step again.
        assert_eq!(at(m(60)), vec!["role:coordinator"]);
        // After the last round's last step, that step stays the one in force.
        assert_eq!(at(m(165)), vec!["email:protection-duty@example.org"]);
        assert_eq!(at(Duration::days(3)), vec!["email:protection-duty@example.org"]);
        // Before the anchor, nothing.
        assert!(p.targets_at(&v, a, a - Duration::seconds(1)).unwrap().is_empty());
        // `when` false, or `stop_when` true: nobody.
        let high = vars("case.opened", r#"case = { severity = "high", acknowledged = false, status = "open" }"#);
        assert!(p.targets_at(&high, a, a + m(16)).unwrap().is_empty());
        let acked = vars("case.opened", r#"case = { severity = "critical", acknowledged = true, status = "open" }"#);
        assert!(p.targets_at(&acked, a, a + m(16)).unwrap().is_empty());
    }

    #[test]
    fn an_anchored_chain_counts_from_its_date_field() {
        let r = builtin();
        let p = r.get("visa-pending-14-days").unwrap();
        assert_eq!(p.anchor, Some(("visa".to_string(), "submitted_on".to_string())));
        let v = vars("visa.submitted", r#"visa = { status = "submitted", submitted_on = 2027-02-01T00:00:00Z }"#);
        let anchor = subject::time_field(&v, "visa", "submitted_on").unwrap();
        assert_eq!(anchor, t("2027-02-01T00:00:00Z"));
        let d = Duration::days;
        assert!(p.targets_at(&v, anchor, anchor + d(14) - Duration::seconds(1)).unwrap().is_empty());
        assert_eq!(p.targets_at(&v, anchor, anchor + d(14)).unwrap(), vec!["assignees", "role:coordinator"]);
        // Three reminders a week apart after the first: days 14, 21, 28 and 35.
        assert_eq!(p.period, d(7));
        assert_eq!(p.due_at(anchor, 1, 0), Some(anchor + d(21)));
        assert_eq!(p.due_at(anchor, 3, 0), Some(anchor + d(35)));
        assert_eq!(p.next(2, 0), Some((3, 0)));
        assert_eq!(p.next(3, 0), None);
    }

    #[test]
    fn a_calendar_step_counts_working_days_and_skips_holidays() {
        let r = builtin();
        let p = r.get("measure-overdue").unwrap();
        assert!(p.steps[0].calendar.is_none() && p.steps[1].calendar.is_some());
        // Due Wednesday 23 December 2026, 13:00 in Geneva. The reminder 3 working days later:
        // Thursday 24th, (25th, 26th holidays, weekend) Monday 28th, Tuesday 29th, 13:00.
        let due = t("2026-12-23T12:00:00Z");
        assert_eq!(p.due_at(due, 0, 0), Some(due));
        assert_eq!(p.due_at(due, 0, 1), Some(t("2026-12-29T12:00:00Z")));
        // Due Friday 8 January 2027, 13:00: Monday, Tuesday, Wednesday 13 January.
        assert_eq!(p.due_at(t("2027-01-08T12:00:00Z"), 0, 1), Some(t("2027-01-13T12:00:00Z")));
    }

    #[test]
    fn working_hours_of_a_step_calendar() {
        let text = r#"
[[calendar]]
name = "office"
time_zone = "Europe/Zurich"
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "08:30-18:00"
holidays = ["CH"]

[holidays]
CH = ["2026-12-21"]

[[policy]]
id = "p"
description = "d"
on = "grant.requested"
  [[policy.step]]
  after = "4h"
  calendar = "office"
  notify = ["role:coordinator"]
"#;
        let p = policy(text);
        // Friday 18 December 2026, 16:00 in Zurich (15:00 UTC): two hours on Friday; Monday
        // 21st is a holiday; two more on Tuesday from 08:30: 10:30 local, 09:30 UTC.
        assert_eq!(p.due_at(t("2026-12-18T15:00:00Z"), 0, 0), Some(t("2026-12-22T09:30:00Z")));
        // A calendar change is a policy change: its hash moves.
        let other = policy(&text.replace("08:30-18:00", "09:00-18:00"));
        assert_ne!(p.hash, other.hash);
        assert_eq!(p.hash, policy(text).hash);
        assert_eq!(p.hash.len(), 32);
        // Holidays must be ISO codes and real dates.
        assert!(refused(&text.replace("CH = [", "ch = [").replace("[\"CH\"]", "[\"ch\"]")).contains("ISO 3166-1"));
        assert!(refused(&text.replace("2026-12-21", "2026-13-01")).contains("is not a date"));
    }

    #[test]
    fn the_policy_hash_follows_what_the_policy_does() {
        let p = policy(BASE);
        assert_eq!(p.hash, policy(BASE).hash);
        for (from, to) in [
            ("after = \"15m\"", "after = \"16m\""),
            ("repeat = 2", "repeat = 1"),
            ("repeat_every = \"1h\"", "repeat_every = \"2h\""),
            ("[\"role:officer\"]", "[\"role:coordinator\"]"),
            ("description = \"d\"", "description = \"e\""),
        ] {
            assert_ne!(p.hash, policy(&BASE.replace(from, to)).hash, "{from} -> {to}");
        }
        // Spelling the same duration differently is the same policy.
        assert_eq!(p.hash, policy(&BASE.replace("repeat_every = \"1h\"", "repeat_every = \"60m\"")).hash);
    }

    #[test]
    fn durations() {
        let s = |x: &str| parse_duration(x).map(|d| d.num_seconds());
        assert_eq!(s("30s"), Ok(30));
        assert_eq!(s("15m"), Ok(900));
        assert_eq!(s("48h"), Ok(172_800));
        assert_eq!(s("14d"), Ok(1_209_600));
        assert_eq!(s("2w"), Ok(1_209_600));
        assert_eq!(s("1h30m"), Ok(5400));
        assert_eq!(s(" 0m "), Ok(0));
        assert_eq!(s("366d"), Ok(366 * 86_400));
        assert!(s("366d1s").unwrap_err().contains("longer than 366 days"));
        for bad in ["", "15", "m", "1.5h", "-5m", "1 h", "15M", "1y", "99999999999999999999s", "9223372036854775807w"] {
            assert!(s(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(Target::parse("assignees"), Ok(Target::Assignees));
        assert_eq!(Target::parse("role:coordinator"), Ok(Target::Role(Role::Coordinator)));
        assert_eq!(Target::parse("role:officer"), Ok(Target::Role(Role::Officer)));
        assert_eq!(Target::parse("org:0190-abc"), Ok(Target::Org("0190-abc".into())));
        assert_eq!(Target::parse("email:duty@example.org"), Ok(Target::Email("duty@example.org".into())));
        for bad in [
            "role:admin",
            "role:auditor",
            "role:chief",
            "org:",
            "org:a_b",
            "org:../x",
            "email:not-an-address",
            "Assignees",
            "coordinator",
            "",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Target::parse(&format!("org:{}", "a".repeat(65))).is_err());
        for s in ["assignees", "role:officer", "org:abc", "email:duty@example.org"] {
            assert_eq!(Target::parse(s).unwrap().to_string(), s);
        }
    }

    /// Working time runs slower than the clock. With a calendar on an earlier step and none
    /// on a later one, the later step could fall due first (the out-of-hours duty mailbox,
    /// `after = "8h"` from Friday 17:00, on Saturday 01:00) and would wait behind the office
    /// step until Monday 11:30. Such a policy is refused at load, with where and why.
    #[test]
    fn a_clock_step_after_a_calendar_step_is_refused() {
        let text = r#"
[[calendar]]
name = "office"
time_zone = "Europe/Zurich"
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "08:30-18:00"

[[policy]]
id = "p"
description = "d"
on = "grant.requested"
  [[policy.step]]
  after = "0m"
  notify = ["role:coordinator"]
  [[policy.step]]
  after = "4h"
  calendar = "office"
  notify = ["role:officer"]
  [[policy.step]]
  after = "8h"
  notify = ["email:duty@example.org"]
"#;
        let why = refused(text);
        assert!(why.contains("must use the same calendar"), "{why}");
        assert!(why.contains("t.toml:"), "the error says where: {why}");
        // Clock time first and working time after is in order, and loads.
        let ok = text.replace("after = \"8h\"\n  notify", "after = \"8h\"\n  calendar = \"office\"\n  notify");
        let p = policy(&ok);
        let a = t("2026-11-06T16:00:00Z"); // Friday 17:00 in Zurich
        assert!(p.due_at(a, 0, 1) < p.due_at(a, 0, 2), "steps fall due in order");
        // A repeated policy may not use a calendar either.
        let repeated =
            ok.replace("on = \"grant.requested\"", "on = \"grant.requested\"\nrepeat = 1\nrepeat_every = \"30d\"");
        assert!(refused(&repeated).contains("repeat cannot be combined"), "{}", refused(&repeated));
    }
}
