use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{psychosocial_care, relocations, visas};
use crate::db::DbConn;

/// A relocation request; `details_ct` (destination, host organisation, beneficiaries) and
/// `cancel_reason_ct` are sealed with the case key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = relocations)]
pub struct Relocation {
    pub id: String,
    pub case_id: String,
    pub kind: String,
    pub details_ct: Vec<u8>,
    pub key_version: i32,
    pub starts_on: NaiveDateTime,
    pub ends_on: NaiveDateTime,
    pub status: String,
    pub cancel_reason_ct: Option<Vec<u8>>,
    pub plan_id: Option<String>,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = relocations)]
pub struct RelocationChanges {
    pub status: Option<String>,
    pub details_ct: Option<Vec<u8>>,
    pub starts_on: Option<NaiveDateTime>,
    pub ends_on: Option<NaiveDateTime>,
    pub cancel_reason_ct: Option<Option<Vec<u8>>>,
    pub plan_id: Option<Option<String>>,
    pub approved_by: Option<Option<String>>,
}

/// A visa application for one beneficiary of a relocation; the applicant and the handling
/// organisation are sealed in `details_ct`, the country and the visa type (which give the
/// destination away) in `country_ct` and `visa_type_ct`, all with the case key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = visas)]
pub struct Visa {
    pub id: String,
    pub relocation_id: String,
    pub case_id: String,
    pub details_ct: Vec<u8>,
    pub key_version: i32,
    pub status: String,
    pub submitted_on: Option<NaiveDateTime>,
    pub decided_on: Option<NaiveDateTime>,
    pub issued_on: Option<NaiveDateTime>,
    pub expires_on: Option<NaiveDateTime>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub country_ct: Option<Vec<u8>>,
    pub visa_type_ct: Option<Vec<u8>>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = visas)]
pub struct VisaChanges {
    pub status: Option<String>,
    pub submitted_on: Option<Option<NaiveDateTime>>,
    pub decided_on: Option<Option<NaiveDateTime>>,
    pub issued_on: Option<Option<NaiveDateTime>>,
    pub expires_on: Option<Option<NaiveDateTime>>,
}

/// Psychosocial care for a case; provider and notes sealed in `details_ct`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = psychosocial_care)]
pub struct PsychosocialCare {
    pub id: String,
    pub case_id: String,
    pub details_ct: Vec<u8>,
    pub key_version: i32,
    pub modality: String,
    pub sessions_planned: i32,
    pub sessions_held: i32,
    pub referral_status: String,
    pub consent_recorded: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = psychosocial_care)]
pub struct CareChanges {
    pub details_ct: Option<Vec<u8>>,
    pub modality: Option<String>,
    pub sessions_planned: Option<i32>,
    pub sessions_held: Option<i32>,
    pub referral_status: Option<String>,
}

macro_rules! versioned {
    ($ty:ty, $table:ident, $changes:ty) => {
        impl $ty {
            pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
                diesel::insert_into($table::table).values(self).execute(conn).map(|_| ())
            }

            pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<$ty>> {
                $table::table.find(id).select(<$ty>::as_select()).get_result(conn).optional()
            }

            /// Applies `changes` at `expected_version` only; false when someone changed it first.
            pub fn update_versioned(
                conn: &mut DbConn,
                id: &str,
                expected_version: i32,
                changes: &$changes,
                now: NaiveDateTime,
            ) -> QueryResult<bool> {
                let n = diesel::update($table::table.find(id).filter($table::version.eq(expected_version)))
                    .set((changes, $table::version.eq(expected_version + 1), $table::updated_at.eq(now)))
                    .execute(conn)?;
                Ok(n == 1)
            }
        }
    };
}

versioned!(Relocation, relocations, RelocationChanges);
versioned!(Visa, visas, VisaChanges);
versioned!(PsychosocialCare, psychosocial_care, CareChanges);

impl Relocation {
    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<Relocation>> {
        relocations::table
            .filter(relocations::case_id.eq(case_id))
            .order(relocations::id.desc())
            .select(Relocation::as_select())
            .load(conn)
    }
}

impl Visa {
    pub fn for_relocation(conn: &mut DbConn, relocation_id: &str) -> QueryResult<Vec<Visa>> {
        visas::table
            .filter(visas::relocation_id.eq(relocation_id))
            .order(visas::id.asc())
            .select(Visa::as_select())
            .load(conn)
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<Visa>> {
        visas::table.filter(visas::case_id.eq(case_id)).order(visas::id.asc()).select(Visa::as_select()).load(conn)
    }
}

/// A visa whose country or type is still in clear (stored before they were sealed).
#[derive(Debug, Queryable)]
pub struct LegacyVisa {
    pub id: String,
    pub case_id: String,
    pub key_version: i32,
    pub country: Option<String>,
    pub visa_type: Option<String>,
}

impl Visa {
    /// Up to `limit` visas with a country or type still in clear.
    pub fn legacy_clear(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<LegacyVisa>> {
        visas::table
            .filter(visas::country.is_not_null().or(visas::visa_type.is_not_null()))
            .order(visas::id.asc())
            .select((visas::id, visas::case_id, visas::key_version, visas::country, visas::visa_type))
            .limit(limit)
            .load(conn)
    }

    /// Replaces a visa's country and type in clear by their ciphertexts (`None` when the
    /// case's keys are gone).
    pub fn seal_legacy(
        conn: &mut DbConn,
        id: &str,
        country_ct: Option<&[u8]>,
        visa_type_ct: Option<&[u8]>,
    ) -> QueryResult<()> {
        diesel::update(visas::table.find(id))
            .set((
                visas::country.eq(None::<String>),
                visas::visa_type.eq(None::<String>),
                visas::country_ct.eq(country_ct),
                visas::visa_type_ct.eq(visa_type_ct),
            ))
            .execute(conn)
            .map(|_| ())
    }
}

impl PsychosocialCare {
    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<PsychosocialCare>> {
        psychosocial_care::table
            .filter(psychosocial_care::case_id.eq(case_id))
            .order(psychosocial_care::id.desc())
            .select(PsychosocialCare::as_select())
            .load(conn)
    }
}
