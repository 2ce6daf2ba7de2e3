//! Numbered CRLs: every one signed is kept, so that numbers only grow across instances.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::crls;
use crate::model::Timestamp;

/// A signed CRL as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crls)]
pub struct StoredCrl {
    pub number: i64,
    pub this_update: Timestamp,
    pub next_update: Timestamp,
    pub der: Vec<u8>,
    /// A digest of the revoked set it lists: a new CRL is due when this changes.
    pub content_hash: String,
    /// The issuing CA that signed it (none for CRLs from before issuers were recorded).
    pub issuer: Option<String>,
}

/// The latest CRL of the issuing CA `issuer`. Numbers are one sequence for every issuing CA,
/// so each one's only grow.
pub fn latest(conn: &mut DbConnection, issuer: &str) -> QueryResult<Option<StoredCrl>> {
    crls::table
        .filter(crls::issuer.eq(issuer))
        .select(StoredCrl::as_select())
        .order(crls::number.desc())
        .first(conn)
        .optional()
}

/// The highest number given to any CRL.
pub fn highest_number(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    crls::table
        .select(diesel::dsl::max(crls::number))
        .first(conn)
}

/// The number and nextUpdate of the latest CRL, without its bytes.
pub fn latest_number(conn: &mut DbConnection) -> QueryResult<Option<(i64, Timestamp)>> {
    crls::table
        .select((crls::number, crls::next_update))
        .order(crls::number.desc())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, crl: &StoredCrl) -> QueryResult<()> {
    diesel::insert_into(crls::table)
        .values(crl)
        .execute(conn)
        .map(drop)
}
