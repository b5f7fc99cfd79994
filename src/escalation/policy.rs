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
