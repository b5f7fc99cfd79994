use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::alerts;
use crate::db::DbConn;

/// Raw intake. The narrative, region and safe-contact details are sealed with the alert's
/// own key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = alerts)]
pub struct Alert {
    pub id: String,
    pub kind: String,
    pub urgency: String,
    pub country: String,
    pub narrative_ct: Vec<u8>,
    pub safe_contact_ct: Option<Vec<u8>>,
    pub key_version: i32,
    pub consent_scope: String,
    pub status: String,
    pub dismiss_reason_ct: Option<Vec<u8>>,
    pub owner_organization_id: String,
    pub defender_id: Option<String>,
    pub case_id: Option<String>,
    pub source: String,
    pub created_by: Option<String>,
    pub version: i32,
    pub received_at: NaiveDateTime,
    pub triaged_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
    /// When it happened (form alerts), sealed: `YYYY-MM-DD`.
    pub occurred_on_ct: Option<Vec<u8>>,
    /// The name or pseudonym she gave on the form, sealed.
    pub reporter_name_ct: Option<Vec<u8>>,
    /// The region or city she gave, sealed (free text, as precise as she chose).
    pub region_ct: Option<Vec<u8>>,
    /// When she used her duress PIN while the alert was in no case (see `domain::portal`).
    pub duress_at: Option<NaiveDateTime>,
}

#[derive(Debug, Default)]
pub struct AlertFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub urgency: Option<String>,
    pub country: Option<String>,
    pub received_since: Option<NaiveDateTime>,
}

impl Alert {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(alerts::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Alert>> {
        alerts::table.find(id).select(Alert::as_select()).get_result(conn).optional()
    }

    /// The alerts whose id ends with `suffix` (the eight characters the mails name an alert
    /// by), at most `limit`. The caller checks `suffix` is an id's tail, and who may see each.
    pub fn ending_with(conn: &mut DbConn, suffix: &str, limit: i64) -> QueryResult<Vec<Alert>> {
        alerts::table
            .filter(alerts::id.like(format!("%{suffix}")))
            .order(alerts::id.desc())
            .limit(limit)
            .select(Alert::as_select())
            .load(conn)
    }

    /// Marks a received alert triaged into `case_id`; false if it is no longer `received`
    /// at `expected_version` (someone else triaged or dismissed it first).
    pub fn mark_triaged(
        conn: &mut DbConn,
        id: &str,
        expected_version: i32,
        case_id: &str,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            alerts::table.find(id).filter(alerts::version.eq(expected_version)).filter(alerts::status.eq("received")),
        )
        .set((
            alerts::status.eq("triaged"),
            alerts::case_id.eq(case_id),
            alerts::triaged_at.eq(now),
            alerts::version.eq(expected_version + 1),
            alerts::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn mark_dismissed(
        conn: &mut DbConn,
        id: &str,
        expected_version: i32,
        reason_ct: &[u8],
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            alerts::table.find(id).filter(alerts::version.eq(expected_version)).filter(alerts::status.eq("received")),
        )
        .set((
            alerts::status.eq("dismissed"),
            alerts::dismiss_reason_ct.eq(reason_ct),
            alerts::version.eq(expected_version + 1),
            alerts::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Raises a form alert's urgency to critical (a duress signal); bumps the version.
    /// Marks the duress signal on an alert in no case (the first time counts).
    pub fn mark_duress(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(alerts::table.find(id).filter(alerts::duress_at.is_null()))
            .set(alerts::duress_at.eq(Some(now)))
            .execute(conn)
            .map(|_| ())
    }

    pub fn raise_to_critical(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(alerts::table.find(id).filter(alerts::urgency.ne("critical")))
            .set((alerts::urgency.eq("critical"), alerts::version.eq(alerts::version + 1), alerts::updated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Up to `limit` alerts whose region is still in clear (stored before it was sealed):
    /// (id, key version, region).
    pub fn legacy_regions(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<(String, i32, String)>> {
        alerts::table
            .filter(alerts::region.is_not_null())
            .order(alerts::id.asc())
            .select((alerts::id, alerts::key_version, alerts::region.assume_not_null()))
            .limit(limit)
            .load(conn)
    }

    /// Replaces an alert's region in clear by its ciphertext (`None` when its key is gone).
    pub fn seal_legacy_region(conn: &mut DbConn, id: &str, region_ct: Option<&[u8]>) -> QueryResult<()> {
        diesel::update(alerts::table.find(id))
            .set((alerts::region.eq(None::<String>), alerts::region_ct.eq(region_ct)))
            .execute(conn)
            .map(|_| ())
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<Alert>> {
        alerts::table.filter(alerts::case_id.eq(case_id)).order(alerts::id.asc()).select(Alert::as_select()).load(conn)
    }

    /// An organisation's alerts, newest first, after `cursor`.
    /// An organisation's alerts awaiting triage, most pressing first: those with a duress
    /// signal, then by urgency (critical first), then the longest waiting; at most `limit`.
    /// Sorted by the database, so none waits unseen behind a page of newer ones.
    pub fn waiting_for_org(conn: &mut DbConn, org: &str, limit: i64) -> QueryResult<Vec<Alert>> {
        use diesel::sql_types::Integer;
        alerts::table
            .filter(alerts::owner_organization_id.eq(org))
            .filter(alerts::status.eq("received"))
            .order((
                diesel::dsl::sql::<Integer>("CASE WHEN alerts.duress_at IS NULL THEN 1 ELSE 0 END"),
                diesel::dsl::sql::<Integer>(
                    "CASE alerts.urgency WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END",
                ),
                alerts::received_at.asc(),
                alerts::id.asc(),
            ))
            .limit(limit)
            .select(Alert::as_select())
            .load(conn)
    }

    pub fn page_for_org(
        conn: &mut DbConn,
        org: &str,
        filter: &AlertFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Alert>> {
        let mut q = alerts::table.filter(alerts::owner_organization_id.eq(org.to_string())).into_boxed();
        if let Some(s) = &filter.status {
            q = q.filter(alerts::status.eq(s.clone()));
        }
        if let Some(k) = &filter.kind {
            q = q.filter(alerts::kind.eq(k.clone()));
        }
        if let Some(u) = &filter.urgency {
            q = q.filter(alerts::urgency.eq(u.clone()));
        }
        if let Some(c) = &filter.country {
            q = q.filter(alerts::country.eq(c.clone()));
        }
        if let Some(t) = filter.received_since {
            q = q.filter(alerts::received_at.ge(t));
        }
        if let Some(c) = cursor {
            q = q.filter(alerts::id.lt(c.to_string()));
        }
        q.order(alerts::id.desc()).limit(limit).select(Alert::as_select()).load(conn)
    }
}
