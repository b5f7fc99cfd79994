//! What escalation rules can see of a subject: only fields stored in clear (status, severity,
//! dates, counts), never anything sealed. One schema serves validation at load, the embedded
//! tests and the engine.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::models::{Alert, Case, Checkin, Grant, PlanMeasure, Relocation, RiskAssessment, SecurityPlan, Visa};
use crate::db::DbConn;
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Bool,
    Int,
    Time,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Time(DateTime<Utc>),
}

/// variable → field → value
pub type Vars = BTreeMap<String, BTreeMap<String, FieldValue>>;

use FieldType::{Bool, Int, Str, Time};

const SCHEMA: &[(&str, &[(&str, FieldType)])] = &[
    (
        "case",
        &[
            ("reference", Str),
            ("status", Str),
            ("severity", Str),
            ("country", Str),
            ("acknowledged", Bool),
            ("assigned", Bool),
            ("has_approved_plan", Bool),
            ("risk_level", Str),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    ),
    (
        "alert",
        &[("kind", Str), ("urgency", Str), ("country", Str), ("status", Str), ("source", Str), ("received_at", Time)],
    ),
    (
        "assessment",
        &[
            ("level", Str),
            ("score", Int),
            ("threat_count", Int),
            ("reassess_by", Time),
            ("superseded", Bool),
            ("created_at", Time),
        ],
    ),
    ("plan", &[("status", Str), ("approved", Bool), ("review_by", Time), ("created_at", Time)]),
    (
        "measure",
        &[
            ("status", Str),
            ("category", Str),
            ("kind", Str),
            ("has_due_date", Bool),
            ("due_at", Time),
            ("created_at", Time),
        ],
    ),
    ("relocation", &[("kind", Str), ("status", Str), ("starts_on", Time), ("ends_on", Time), ("created_at", Time)]),
    // Not the visa's country or type: they are sealed (they give the destination away).
    ("visa", &[("status", Str), ("submitted_on", Time), ("created_at", Time)]),
    (
        "grant",
        &[("status", Str), ("category", Str), ("currency", Str), ("amount_requested", Int), ("created_at", Time)],
    ),
    ("checkin", &[("status", Str), ("due_at", Time), ("created_at", Time)]),
];

fn fields_of(var: &str) -> &'static [(&'static str, FieldType)] {
    SCHEMA.iter().find(|(v, _)| *v == var).map(|(_, f)| *f).unwrap_or(&[])
}

pub fn field_type(var: &str, field: &str) -> Option<FieldType> {
    fields_of(var).iter().find(|(f, _)| *f == field).map(|(_, t)| *t)
}

pub fn field_names(var: &str) -> Vec<&'static str> {
    fields_of(var).iter().map(|(f, _)| *f).collect()
}

pub fn to_cel(v: &FieldValue) -> cel::Value {
    match v {
        FieldValue::Str(s) => cel::Value::from(s.as_str()),
        FieldValue::Bool(b) => cel::Value::Bool(*b),
        FieldValue::Int(i) => cel::Value::Int(*i),
        FieldValue::Time(t) => cel::Value::Timestamp(t.fixed_offset()),
    }
}

fn zero(t: FieldType) -> FieldValue {
    match t {
        Str => FieldValue::Str(String::new()),
        Bool => FieldValue::Bool(false),
        Int => FieldValue::Int(0),
        Time => FieldValue::Time(DateTime::<Utc>::UNIX_EPOCH),
    }
}

/// Every field of every variable set: true, 1, "x", a 2030 timestamp.
pub fn set_vars(vars: &[&str]) -> Vars {
    let set = |t: FieldType| match t {
        Str => FieldValue::Str("x".into()),
        Bool => FieldValue::Bool(true),
        Int => FieldValue::Int(1),
        Time => FieldValue::Time(DateTime::<Utc>::from_timestamp(1_900_000_000, 0).unwrap_or_default()),
    };
    vars.iter().map(|v| (v.to_string(), fields_of(v).iter().map(|(f, t)| (f.to_string(), set(*t))).collect())).collect()
}

/// Every field of every variable at its zero value.
pub fn zero_vars(vars: &[&str]) -> Vars {
    vars.iter()
        .map(|v| (v.to_string(), fields_of(v).iter().map(|(f, t)| (f.to_string(), zero(*t))).collect()))
        .collect()
}

pub fn time_field(vars: &Vars, var: &str, field: &str) -> Option<DateTime<Utc>> {
    match vars.get(var)?.get(field)? {
        FieldValue::Time(t) => Some(*t),
        _ => None,
    }
}

/// An embedded test's `given`: `{ case = { severity = "critical" } }`. Fields left out take
/// their zero value; unknown ones and wrong types are errors.
pub fn vars_from_toml(event: &str, given: &toml::Table) -> Result<Vars, String> {
    let names = super::Event::parse(event).map(|e| e.vars()).unwrap_or(&[]);
    let mut vars = zero_vars(names);
    for (var, value) in given {
        let table = value.as_table().ok_or_else(|| format!("given.{var} must be a table"))?;
        let slot = vars.get_mut(var).ok_or_else(|| format!("given: `{var}` is not a variable of `{event}`"))?;
        for (field, v) in table {
            let t = field_type(var, field).ok_or_else(|| format!("given: unknown field `{var}.{field}`"))?;
            let fv = match (t, v) {
                (Str, toml::Value::String(s)) => FieldValue::Str(s.clone()),
                (Bool, toml::Value::Boolean(b)) => FieldValue::Bool(*b),
                (Int, toml::Value::Integer(i)) => FieldValue::Int(*i),
                (Time, toml::Value::Datetime(d)) => FieldValue::Time(
                    DateTime::parse_from_rfc3339(&d.to_string())
                        .map(|d| d.with_timezone(&Utc))
                        .map_err(|_| format!("given.{var}.{field}: a timestamp needs a date, a time and an offset"))?,
                ),
                _ => return Err(format!("given.{var}.{field}: expected a {t:?} value")),
            };
            slot.insert(field.clone(), fv);
        }
    }
    Ok(vars)
}

impl Subject {
    pub fn case_id(&self) -> Option<&str> {
        self.case.as_ref().map(|c| c.id.as_str())
    }
}

/// A subject as the engine sees it.
pub struct Subject {
    pub vars: Vars,
    /// The case, loaded once for the rules and the recipients' access checks.
    pub case: Option<Case>,
    pub organization_id: String,
    /// What mails and lists call it: the case reference, or "alert <id prefix>".
    pub reference: String,
}

fn utc(t: NaiveDateTime) -> FieldValue {
    FieldValue::Time(t.and_utc())
}

fn s(v: &str) -> FieldValue {
    FieldValue::Str(v.to_string())
}

fn map(pairs: Vec<(&str, FieldValue)>) -> BTreeMap<String, FieldValue> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn case_fields(conn: &mut DbConn, c: &Case) -> QueryResult<BTreeMap<String, FieldValue>> {
    let assigned = crate::db::models::CaseAssignee::count_for_case(conn, &c.id)?;
    let approved = crate::db::models::SecurityPlan::count_approved(conn, &c.id)?;
    let level = crate::db::models::RiskAssessment::latest_level(conn, &c.id)?;
    Ok(map(vec![
        ("reference", s(&c.reference)),
        ("status", s(&c.status)),
        ("severity", s(&c.severity)),
        ("country", s(&c.country)),
        ("acknowledged", FieldValue::Bool(c.acknowledged_at.is_some())),
        ("assigned", FieldValue::Bool(assigned > 0)),
        ("has_approved_plan", FieldValue::Bool(approved > 0)),
        ("risk_level", s(level.as_deref().unwrap_or(""))),
        ("created_at", utc(c.created_at)),
        ("updated_at", utc(c.updated_at)),
    ]))
}

/// Loads a subject's clear fields, and its case's. None when it no longer exists.
pub fn load(conn: &mut DbConn, kind: &str, id: &str) -> Result<Option<Subject>, AppError> {
    let (own, case_id): (BTreeMap<String, FieldValue>, Option<String>) = match kind {
        "case" => (BTreeMap::new(), Some(id.to_string())),
        "alert" => {
            let Some(a) = Alert::find(conn, id)? else { return Ok(None) };
            let fields = map(vec![
                ("kind", s(&a.kind)),
                ("urgency", s(&a.urgency)),
                ("country", s(&a.country)),
                ("status", s(&a.status)),
                ("source", s(&a.source)),
                ("received_at", utc(a.received_at)),
            ]);
            let mut vars = Vars::new();
            vars.insert("alert".into(), fields);
            let reference = format!("alert {}", &a.id[a.id.len().saturating_sub(8)..]);
            return Ok(Some(Subject { vars, case: None, organization_id: a.owner_organization_id, reference }));
        }
        "assessment" => {
            let Some(a) = RiskAssessment::find(conn, id)? else { return Ok(None) };
            let latest = RiskAssessment::latest_version(conn, &a.case_id)?.unwrap_or(a.version);
            let fields = map(vec![
                ("level", s(&a.level)),
                ("score", FieldValue::Int(a.score_centi as i64 / 100)),
                ("threat_count", FieldValue::Int(a.threat_count as i64)),
                ("reassess_by", utc(a.reassess_by)),
                ("superseded", FieldValue::Bool(latest > a.version)),
                ("created_at", utc(a.created_at)),
            ]);
            (fields, Some(a.case_id))
        }
        "plan" => {
            let Some(p) = SecurityPlan::find(conn, id)? else { return Ok(None) };
            let fields = map(vec![
                ("status", s(&p.status)),
                ("approved", FieldValue::Bool(p.approved_at.is_some())),
                ("review_by", utc(p.review_by)),
                ("created_at", utc(p.created_at)),
            ]);
            (fields, Some(p.case_id))
        }
        "measure" => {
            let Some(m) = PlanMeasure::find(conn, id)? else { return Ok(None) };
            let fields = map(vec![
                ("status", s(&m.status)),
                ("category", s(&m.category)),
                ("kind", s(&m.kind)),
                ("has_due_date", FieldValue::Bool(m.due_at.is_some())),
                ("due_at", m.due_at.map(utc).unwrap_or(zero(Time))),
                ("created_at", utc(m.created_at)),
            ]);
            (fields, Some(m.case_id))
        }
        "relocation" => {
            let Some(r) = Relocation::find(conn, id)? else { return Ok(None) };
            let fields = map(vec![
                ("kind", s(&r.kind)),
                ("status", s(&r.status)),
                ("starts_on", utc(r.starts_on)),
                ("ends_on", utc(r.ends_on)),
                ("created_at", utc(r.created_at)),
            ]);
            (fields, Some(r.case_id))
        }
        "visa" => {
            let Some(v) = Visa::find(conn, id)? else { return Ok(None) };
            let fields = map(vec![
                ("status", s(&v.status)),
                ("submitted_on", v.submitted_on.map(utc).unwrap_or(zero(Time))),
                ("created_at", utc(v.created_at)),
            ]);
            (fields, Some(v.case_id))
        }
        "grant" => {
            let Some(g) = Grant::find(conn, id)? else { return Ok(None) };
            let fields = map(vec![
                ("status", s(&g.status)),
                ("category", s(&g.category)),
                ("currency", s(&g.currency)),
                ("amount_requested", FieldValue::Int(g.amount_requested)),
                ("created_at", utc(g.created_at)),
            ]);
            (fields, Some(g.case_id))
        }
        "checkin" => {
            let Some(k) = Checkin::find(conn, id)? else { return Ok(None) };
            let fields =
                map(vec![("status", s(&k.status)), ("due_at", utc(k.due_at)), ("created_at", utc(k.created_at))]);
            (fields, Some(k.case_id))
        }
        _ => return Ok(None),
    };
    let Some(case_id) = case_id else { return Ok(None) };
    let Some(case) = Case::find(conn, &case_id)? else { return Ok(None) };
    let mut vars = Vars::new();
    vars.insert("case".into(), case_fields(conn, &case)?);
    if kind != "case" {
        vars.insert(kind.to_string(), own);
    }
    Ok(Some(Subject {
        vars,
        organization_id: case.owner_organization_id.clone(),
        reference: case.reference.clone(),
        case: Some(case),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_see_no_sealed_field() {
        // A visa's country and type give the sealed destination away; an alert's region is
        // her own words.
        for (var, field) in [("visa", "country"), ("visa", "visa_type"), ("alert", "region")] {
            assert_eq!(field_type(var, field), None, "{var}.{field}");
        }
        assert_eq!(field_type("visa", "status"), Some(Str));
    }
}
