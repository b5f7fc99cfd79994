//! The dated columns of many cases' records at once, for lists that show each case's next
//! deadline: one query per table whatever the number of cases (no query per case).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;

/// For each table, `(case_id, …)` rows of the given cases; the domain decides what falls due.
#[derive(Debug, Default)]
pub struct DueDates {
    /// `(case_id, version, reassess_by)` of every assessment.
    pub assessments: Vec<(String, i32, NaiveDateTime)>,
    /// `(case_id, review_by)` of every plan.
    pub plans: Vec<(String, NaiveDateTime)>,
    /// `(case_id, due_at)` of the open measures that have a due date.
    pub measures: Vec<(String, NaiveDateTime)>,
    /// `(case_id, id, status, starts_on)` of every relocation.
    pub relocations: Vec<(String, String, String, NaiveDateTime)>,
    /// `(case_id, expires_on)` of the issued visas that have an expiry.
    pub visas: Vec<(String, NaiveDateTime)>,
}

/// One dated row of `of_cases`' union: which table (`kind`) and what the domain needs of it.
#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    case_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    version: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    rid: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    at: NaiveDateTime,
}

/// The five tables in one statement, each driven by the list of ids (`{ids}`: the backend's
/// table of the given ids, bound once, as `j(value)`) and probing the table's `case_id`
/// index, rather than `case_id IN (…)`, for which SQLite builds a temporary index of the
/// ids for every table.
const DUE_SQL: &str = "\
SELECT t.case_id, 'a' AS kind, t.version, '' AS rid, '' AS status, t.reassess_by AS at \
  FROM {ids} JOIN risk_assessments t ON t.case_id = j.value \
UNION ALL SELECT t.case_id, 'p', 0, '', '', t.review_by FROM {ids} JOIN security_plans t ON t.case_id = j.value \
UNION ALL SELECT t.case_id, 'm', 0, '', '', t.due_at FROM {ids} JOIN plan_measures t ON t.case_id = j.value \
  WHERE t.status IN ('planned', 'in_progress') AND t.due_at IS NOT NULL \
UNION ALL SELECT t.case_id, 'r', 0, t.id, t.status, t.starts_on FROM {ids} JOIN relocations t ON t.case_id = j.value \
UNION ALL SELECT t.case_id, 'v', 0, '', '', t.expires_on FROM {ids} JOIN visas t ON t.case_id = j.value \
  WHERE t.status = 'issued' AND t.expires_on IS NOT NULL";

impl DueDates {
    /// One statement whatever the number of cases, with the ids bound once (a JSON array
    /// on SQLite, an array on PostgreSQL): a list of 200 cases used to cost five statements
    /// of 200 placeholders each, whose parsing was half the console's case list.
    pub fn of_cases(conn: &mut DbConn, case_ids: &[String]) -> QueryResult<DueDates> {
        if case_ids.is_empty() {
            return Ok(DueDates::default());
        }
        let rows: Vec<DueRow> = match conn {
            DbConn::Sqlite(c) => {
                let ids =
                    serde_json::to_string(case_ids).map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
                diesel::sql_query(DUE_SQL.replace("{ids}", "json_each(?1) AS j"))
                    .bind::<diesel::sql_types::Text, _>(ids)
                    .load(c)?
            }
            DbConn::Postgres(c) => diesel::sql_query(DUE_SQL.replace("{ids}", "unnest($1::text[]) AS j(value)"))
                .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(case_ids)
                .load(c)?,
        };
        let mut d = DueDates::default();
        for r in rows {
            match r.kind.as_str() {
                "a" => d.assessments.push((r.case_id, r.version, r.at)),
                "p" => d.plans.push((r.case_id, r.at)),
                "m" => d.measures.push((r.case_id, r.at)),
                "r" => d.relocations.push((r.case_id, r.rid, r.status, r.at)),
                _ => d.visas.push((r.case_id, r.at)),
            }
        }
        Ok(d)
    }
}
