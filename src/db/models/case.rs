use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{case_assignees, case_shares, case_transitions, cases};
use crate::db::DbConn;

/// `page_visible` and its narrower twin for lists, one body: the same need-to-know and the
/// same queries, selecting `$row`'s columns.
macro_rules! page_visible_fn {
    ($(#[$doc:meta])* $name:ident, $row:ty) => {
        $(#[$doc])*
        pub fn $name(
            conn: &mut DbConn,
            vis: &Visibility<'_>,
            filter: &CaseFilter,
            cursor: Option<&str>,
            limit: i64,
        ) -> QueryResult<Vec<$row>> {
            // The filters and the keyset cursor, common to every branch below.
            let filtered = || {
                let mut q = cases::table.select(<$row>::as_select()).into_boxed();
                if let Some(s) = &filter.status {
                    q = q.filter(cases::status.eq(s.clone()));
                }
                if let Some(s) = &filter.severity {
                    q = q.filter(cases::severity.eq(s.clone()));
                }
                if let Some(c) = &filter.country {
                    q = q.filter(cases::country.eq(c.clone()));
                }
                if let Some(u) = &filter.assigned_to {
                    let mine =
                        case_assignees::table.filter(case_assignees::user_id.eq(u.clone())).select(case_assignees::case_id);
                    q = q.filter(cases::id.eq_any(mine));
                }
                if let Some(t) = filter.updated_since {
                    q = q.filter(cases::updated_at.ge(t));
                }
                if let Some(r) = &filter.reference {
                    q = q.filter(cases::reference.eq(r.clone()));
                }
                if let Some(c) = cursor {
                    q = q.filter(cases::id.lt(c.to_string()));
                }
                if filter.shared_with_us {
                    q = q.filter(cases::owner_organization_id.ne(vis.shared_with_org.to_string()));
                }
                q
            };
            let shared = || {
                case_shares::table
                    .filter(case_shares::organization_id.eq(vis.shared_with_org.to_string()))
                    .filter(case_shares::revoked_at.is_null())
                    .filter(case_shares::expires_at.gt(vis.now))
                    .select(case_shares::case_id)
            };
            match vis.owner_org {
                // A coordinator sees her organisation's cases and those shared with it. Two
                // queries, each walking an index in id order and stopping after `limit` rows
                // (cases_owner_id_idx for the first), merged here: one query with `owner = ? OR
                // id IN (shared)` cannot use an index for the order, and sorts every case of the
                // organisation on every page.
                Some(org) => {
                    let mut own = if filter.shared_with_us {
                        Vec::new()
                    } else {
                        filtered()
                            .filter(cases::owner_organization_id.eq(org.to_string()))
                            .order(cases::id.desc())
                            .limit(limit)
                            .load(conn)?
                    };
                    // The live shares are few: fetch their ids first, so that this branch is
                    // driven by them (a subquery lets SQLite drive it by a status index instead,
                    // reading every case).
                    let shared_ids: Vec<String> = shared().load(conn)?;
                    let other = if shared_ids.is_empty() {
                        Vec::new()
                    } else {
                        let q = filtered().filter(cases::owner_organization_id.ne(org.to_string()));
                        let q = if shared_ids.len() > MAX_BOUND_SHARES {
                            // Too many to bind one by one (SQLite allows 32,766 parameters).
                            q.filter(cases::id.eq_any(shared()))
                        } else {
                            q.filter(cases::id.eq_any(shared_ids))
                        };
                        q.order(cases::id.desc()).limit(limit).load(conn)?
                    };
                    if !other.is_empty() {
                        own.extend(other);
                        own.sort_by(|a, b| b.id.cmp(&a.id));
                        own.truncate(limit as usize);
                    }
                    Ok(own)
                }
                None => {
                    let assigned = case_assignees::table
                        .filter(case_assignees::user_id.eq(vis.assignee.to_string()))
                        .select(case_assignees::case_id);
                    filtered()
                        .filter(
                            cases::id
                                .eq_any(assigned)
                                .and(cases::owner_organization_id.eq(vis.shared_with_org.to_string()))
                                .or(cases::id.eq_any(shared())),
                        )
                        .order(cases::id.desc())
                        .limit(limit)
                        .load(conn)
                }
            }
        }
    };
}

/// A case row. `summary_ct` is ciphertext sealed with the case key; nothing else here is
/// sensitive, so lists and filters work on clear columns.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cases)]
pub struct Case {
    pub id: String,
    pub reference: String,
    pub status: String,
    pub severity: String,
    pub country: String,
    pub owner_organization_id: String,
    pub defender_id: Option<String>,
    pub consent_scope: String,
    pub summary_ct: Option<Vec<u8>>,
    pub summary_key_version: Option<i32>,
    pub created_by: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub activated_at: Option<NaiveDateTime>,
    pub monitoring_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = cases)]
pub struct CaseChanges {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub country: Option<String>,
    pub defender_id: Option<Option<String>>,
    pub summary_ct: Option<Option<Vec<u8>>>,
    pub summary_key_version: Option<Option<i32>>,
    pub acknowledged_at: Option<Option<NaiveDateTime>>,
    pub activated_at: Option<Option<NaiveDateTime>>,
    pub monitoring_at: Option<Option<NaiveDateTime>>,
    pub closed_at: Option<Option<NaiveDateTime>>,
}

/// Which cases a list may show: the need-to-know scope of the viewer (see `authz`).
pub struct Visibility<'a> {
    /// Cases owned by this organisation (coordinators).
    pub owner_org: Option<&'a str>,
    /// Cases assigned to this user.
    pub assignee: &'a str,
    /// Cases shared (live) with this organisation.
    pub shared_with_org: &'a str,
    pub now: NaiveDateTime,
}

#[derive(Debug, Default)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub country: Option<String>,
    pub assigned_to: Option<String>,
    pub updated_since: Option<NaiveDateTime>,
    /// Exactly this reference (`HVN-2026-000123`).
    pub reference: Option<String>,
    /// Only cases another organisation shares with the caller's.
    pub shared_with_us: bool,
}

/// Above this many live shares, a list's shared branch is a subquery rather than bound ids.
const MAX_BOUND_SHARES: usize = 500;

impl Case {
    /// Every record of a case that an escalation can be about, as (kind, id): the case, its
    /// alerts, assessments, plans, measures, relocations, visas, grants and check-ins.
    pub fn subjects(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<(&'static str, String)>> {
        use crate::db::schema::{alerts, checkins, grants, plan_measures, relocations, risk_assessments};
        use crate::db::schema::{security_plans, visas};
        let mut out: Vec<(&'static str, String)> = vec![("case", case_id.to_string())];
        let mut add = |kind: &'static str, ids: Vec<String>| out.extend(ids.into_iter().map(|i| (kind, i)));
        add("alert", alerts::table.filter(alerts::case_id.eq(case_id)).select(alerts::id).load(conn)?);
        let q = risk_assessments::table.filter(risk_assessments::case_id.eq(case_id)).select(risk_assessments::id);
        add("assessment", q.load(conn)?);
        add(
            "plan",
            security_plans::table.filter(security_plans::case_id.eq(case_id)).select(security_plans::id).load(conn)?,
        );
        add(
            "measure",
            plan_measures::table.filter(plan_measures::case_id.eq(case_id)).select(plan_measures::id).load(conn)?,
        );
        add(
            "relocation",
            relocations::table.filter(relocations::case_id.eq(case_id)).select(relocations::id).load(conn)?,
        );
        add("visa", visas::table.filter(visas::case_id.eq(case_id)).select(visas::id).load(conn)?);
        add("grant", grants::table.filter(grants::case_id.eq(case_id)).select(grants::id).load(conn)?);
        add("checkin", checkins::table.filter(checkins::case_id.eq(case_id)).select(checkins::id).load(conn)?);
        Ok(out)
    }

    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(cases::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Case>> {
        cases::table.find(id).select(Case::as_select()).get_result(conn).optional()
    }

    pub fn for_defender(conn: &mut DbConn, defender_id: &str) -> QueryResult<Vec<Case>> {
        cases::table.filter(cases::defender_id.eq(defender_id)).select(Case::as_select()).load(conn)
    }

    /// Applies `changes` only if the row is still at `expected_version`; bumps the version.
    /// Returns false when someone else changed the case first.
    pub fn update_versioned(
        conn: &mut DbConn,
        id: &str,
        expected_version: i32,
        changes: &CaseChanges,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(cases::table.find(id).filter(cases::version.eq(expected_version)))
            .set((changes, cases::version.eq(expected_version + 1), cases::updated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Raises the severity to `to` if it is one of `lower`; never lowers it. Returns whether
    /// it changed.
    pub fn raise_severity(
        conn: &mut DbConn,
        id: &str,
        to: &str,
        lower: &[&str],
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(cases::table.find(id).filter(cases::severity.eq_any(lower)))
            .set((cases::severity.eq(to), cases::version.eq(cases::version + 1), cases::updated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Bumps version and updated_at (a change to an attached record: assignee, share, note).
    pub fn touch(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(cases::table.find(id))
            .set((cases::version.eq(cases::version + 1), cases::updated_at.eq(now)))
            .execute(conn)
            .map(|_| ())
    }

    page_visible_fn!(
        /// Visible cases, newest first (ids are UUID v7), after `cursor`.
        page_visible,
        Case
    );

    page_visible_fn!(
        /// `page_visible` with only what a list shows: 201 whole rows (their sealed summary,
        /// six timestamps) cost the console's case list half its time.
        page_visible_rows,
        CaseListRow
    );
}

/// What the console's case list shows of a case.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cases)]
pub struct CaseListRow {
    pub id: String,
    pub reference: String,
    pub status: String,
    pub severity: String,
    pub country: String,
    pub updated_at: NaiveDateTime,
}

impl From<Case> for CaseListRow {
    fn from(c: Case) -> Self {
        CaseListRow {
            id: c.id,
            reference: c.reference,
            status: c.status,
            severity: c.severity,
            country: c.country,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_transitions)]
pub struct CaseTransition {
    pub id: String,
    pub case_id: String,
    pub from_status: String,
    pub to_status: String,
    pub reason_ct: Option<Vec<u8>>,
    pub reason_key_version: Option<i32>,
    pub actor_id: String,
    pub created_at: NaiveDateTime,
}

impl CaseTransition {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(case_transitions::table).values(self).execute(conn).map(|_| ())
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<CaseTransition>> {
        case_transitions::table
            .filter(case_transitions::case_id.eq(case_id))
            .order(case_transitions::id.asc())
            .select(CaseTransition::as_select())
            .load(conn)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_assignees)]
pub struct CaseAssignee {
    pub case_id: String,
    pub user_id: String,
    pub assigned_by: String,
    pub assigned_at: NaiveDateTime,
}

impl CaseAssignee {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(case_assignees::table).values(self).execute(conn).map(|_| ())
    }

    pub fn count_for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<i64> {
        case_assignees::table.filter(case_assignees::case_id.eq(case_id)).count().get_result(conn)
    }

    /// The cases a user is assigned to.
    pub fn case_ids_for_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<String>> {
        case_assignees::table.filter(case_assignees::user_id.eq(user_id)).select(case_assignees::case_id).load(conn)
    }

    pub fn exists(conn: &mut DbConn, case_id: &str, user_id: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(case_assignees::table.find((case_id, user_id)))).get_result(conn)
    }

    pub fn delete(conn: &mut DbConn, case_id: &str, user_id: &str) -> QueryResult<usize> {
        diesel::delete(case_assignees::table.find((case_id, user_id))).execute(conn)
    }

    /// Removes the assignees of a case who belong to `org_id`.
    pub fn delete_for_org(conn: &mut DbConn, case_id: &str, org_id: &str) -> QueryResult<usize> {
        use crate::db::schema::users;
        let members = users::table.filter(users::organization_id.eq(org_id)).select(users::id);
        diesel::delete(
            case_assignees::table
                .filter(case_assignees::case_id.eq(case_id))
                .filter(case_assignees::user_id.eq_any(members)),
        )
        .execute(conn)
    }

    /// `(case_id, user_id)` of the assignees of these cases, oldest assignment first.
    pub fn of_cases(conn: &mut DbConn, case_ids: &[String]) -> QueryResult<Vec<(String, String)>> {
        if case_ids.is_empty() {
            return Ok(Vec::new());
        }
        case_assignees::table
            .filter(case_assignees::case_id.eq_any(case_ids))
            .order(case_assignees::assigned_at.asc())
            .select((case_assignees::case_id, case_assignees::user_id))
            .load(conn)
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<CaseAssignee>> {
        case_assignees::table
            .filter(case_assignees::case_id.eq(case_id))
            .order(case_assignees::assigned_at.asc())
            .select(CaseAssignee::as_select())
            .load(conn)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_shares)]
pub struct CaseShare {
    pub case_id: String,
    pub organization_id: String,
    pub granted_by: String,
    pub consent_reference: String,
    pub override_reason_ct: Option<Vec<u8>>,
    pub override_key_version: Option<i32>,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// Whether the partner organisation may also read the defender's sealed profile.
    pub includes_profile: bool,
}

impl CaseShare {
    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// Creates the share, or renews a revoked or expired one.
    pub fn upsert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::delete(case_shares::table.find((&self.case_id, &self.organization_id))).execute(conn)?;
        diesel::insert_into(case_shares::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, case_id: &str, org_id: &str) -> QueryResult<Option<CaseShare>> {
        case_shares::table.find((case_id, org_id)).select(CaseShare::as_select()).get_result(conn).optional()
    }

    pub fn revoke(conn: &mut DbConn, case_id: &str, org_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(case_shares::table.find((case_id, org_id)).filter(case_shares::revoked_at.is_null()))
            .set(case_shares::revoked_at.eq(now))
            .execute(conn)
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<CaseShare>> {
        case_shares::table
            .filter(case_shares::case_id.eq(case_id))
            .order(case_shares::created_at.asc())
            .select(CaseShare::as_select())
            .load(conn)
    }
}
