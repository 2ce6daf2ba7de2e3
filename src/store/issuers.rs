//! Organisations' claims to authorization-server issuers and their proofs of control. A
//! partial unique index lets one organisation at a time hold an issuer proven.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{issuer_claims as claims, organisations};
use crate::model::{OrgId, Timestamp};

/// One claim as stored.
#[derive(Debug, Clone)]
pub struct Claim {
    pub organisation: OrgId,
    pub issuer: String,
    pub token: String,
    pub verified_at: Option<Timestamp>,
}

type Row = (OrgId, String, String, Option<Timestamp>);

fn claim((organisation, issuer, token, verified_at): Row) -> Claim {
    Claim {
        organisation,
        issuer,
        token,
        verified_at,
    }
}

const COLUMNS: (
    claims::organisation_id,
    claims::issuer,
    claims::token,
    claims::verified_at,
) = (
    claims::organisation_id,
    claims::issuer,
    claims::token,
    claims::verified_at,
);

/// Makes `org`'s claims exactly `issuers`: a new claim (with a fresh challenge token from
/// `token`) for each issuer not claimed yet, the proof of those kept, claims to others
/// dropped.
pub fn sync(
    conn: &mut DbConnection,
    org: OrgId,
    issuers: &[String],
    mut token: impl FnMut() -> String,
    at: Timestamp,
) -> QueryResult<()> {
    let org = org.to_string();
    diesel::delete(
        claims::table
            .filter(claims::organisation_id.eq(&org))
            .filter(claims::issuer.ne_all(issuers)),
    )
    .execute(conn)?;
    let held: Vec<String> = claims::table
        .filter(claims::organisation_id.eq(&org))
        .select(claims::issuer)
        .load(conn)?;
    for issuer in issuers.iter().filter(|i| !held.contains(i)) {
        diesel::insert_into(claims::table)
            .values((
                claims::organisation_id.eq(&org),
                claims::issuer.eq(issuer),
                claims::token.eq(token()),
                claims::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// `org`'s claims, by issuer.
pub fn of(conn: &mut DbConnection, org: OrgId) -> QueryResult<Vec<Claim>> {
    Ok(claims::table
        .filter(claims::organisation_id.eq(org))
        .order(claims::issuer.asc())
        .select(COLUMNS)
        .load::<Row>(conn)?
        .into_iter()
        .map(claim)
        .collect())
}

/// Every claim to `issuer`.
pub fn to(conn: &mut DbConnection, issuer: &str) -> QueryResult<Vec<Claim>> {
    Ok(claims::table
        .filter(claims::issuer.eq(issuer))
        .select(COLUMNS)
        .load::<Row>(conn)?
        .into_iter()
        .map(claim)
        .collect())
}

/// Every proven claim: which organisation holds which issuer.
pub fn proven(conn: &mut DbConnection) -> QueryResult<Vec<(OrgId, String)>> {
    claims::table
        .filter(claims::verified_at.is_not_null())
        .select((claims::organisation_id, claims::issuer))
        .load(conn)
}

/// The proven claims of these organisations: which holds which issuer.
pub fn proven_of(conn: &mut DbConnection, orgs: &[OrgId]) -> QueryResult<Vec<(OrgId, String)>> {
    let mut out = vec![];
    // Bounded statements (PostgreSQL takes at most 65,535 bound values).
    for chunk in orgs.chunks(10_000) {
        out.extend(
            claims::table
                .filter(claims::verified_at.is_not_null())
                .filter(claims::organisation_id.eq_any(chunk))
                .select((claims::organisation_id, claims::issuer))
                .load::<(OrgId, String)>(conn)?,
        );
    }
    Ok(out)
}

/// Records `org`'s proof of control of `issuer` (or, with `None`, withdraws it); false when
/// there is no such claim. A unique violation: another organisation holds it proven.
pub fn set_verified(
    conn: &mut DbConnection,
    org: OrgId,
    issuer: &str,
    at: Option<Timestamp>,
) -> QueryResult<bool> {
    diesel::update(claims::table.find((org, issuer)))
        .set(claims::verified_at.eq(at))
        .execute(conn)
        .map(|n| n == 1)
}

/// Issuers claimed by more than one organisation, with each claimant's legal name and
/// whether its claim is proven.
pub fn contested(conn: &mut DbConnection) -> QueryResult<Vec<(String, OrgId, String, bool)>> {
    let shared: Vec<String> = claims::table
        .group_by(claims::issuer)
        .having(diesel::dsl::count_star().gt(1))
        .select(claims::issuer)
        .load(conn)?;
    claims::table
        .inner_join(organisations::table.on(organisations::id.eq(claims::organisation_id)))
        .filter(claims::issuer.eq_any(&shared))
        .order((
            claims::issuer.asc(),
            claims::verified_at.is_null(),
            organisations::legal_name.asc(),
        ))
        .select((
            claims::issuer,
            claims::organisation_id,
            organisations::legal_name,
            claims::verified_at.is_not_null(),
        ))
        .load(conn)
}
