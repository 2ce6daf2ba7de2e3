//! The entity configurations the directory hosts (self-signed, checked when uploaded), one
//! per product and one per organisation.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::hosted_entity_configurations as hosted;
use crate::model::{OrgId, SoftwareId, Timestamp};

/// Whose entity configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Software(SoftwareId),
    Organisation(OrgId),
}

impl Subject {
    fn key(self) -> (&'static str, String) {
        match self {
            Self::Software(id) => ("software", id.to_string()),
            Self::Organisation(id) => ("organisation", id.to_string()),
        }
    }
}

/// Replaces the subject's entity configuration.
pub fn put(
    conn: &mut DbConnection,
    subject: Subject,
    jwt: &str,
    expires_at: Timestamp,
    at: Timestamp,
) -> QueryResult<()> {
    let (kind, id) = subject.key();
    diesel::delete(hosted::table.find((kind, &id))).execute(conn)?;
    diesel::insert_into(hosted::table)
        .values((
            hosted::subject_type.eq(kind),
            hosted::subject_id.eq(&id),
            hosted::jwt.eq(jwt),
            hosted::expires_at.eq(expires_at),
            hosted::updated_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// The subject's unexpired entity configuration.
pub fn live(
    conn: &mut DbConnection,
    subject: Subject,
    at: Timestamp,
) -> QueryResult<Option<String>> {
    let (kind, id) = subject.key();
    hosted::table
        .find((kind, id))
        .filter(hosted::expires_at.gt(at))
        .select(hosted::jwt)
        .first(conn)
        .optional()
}

/// The entity identifier a product's owner registered (it hosts its own configuration).
pub fn entity_id_of(conn: &mut DbConnection, software: SoftwareId) -> QueryResult<Option<String>> {
    use super::schema::software_entity_identifiers as own;
    own::table
        .find(software)
        .select(own::entity_id)
        .first(conn)
        .optional()
}

/// The product that registered `entity_id` as its own.
pub fn software_of(conn: &mut DbConnection, entity_id: &str) -> QueryResult<Option<SoftwareId>> {
    use super::schema::software_entity_identifiers as own;
    own::table
        .filter(own::entity_id.eq(entity_id))
        .select(own::software_id)
        .first(conn)
        .optional()
}

/// Every registered entity identifier, by product.
pub fn entity_ids(
    conn: &mut DbConnection,
) -> QueryResult<std::collections::HashMap<SoftwareId, String>> {
    use super::schema::software_entity_identifiers as own;
    own::table
        .select((own::software_id, own::entity_id))
        .load::<(SoftwareId, String)>(conn)
        .map(|rows| rows.into_iter().collect())
}

/// Registers the product's own entity identifier, or with `None` returns it to the one the
/// directory gives it. Another product's identifier is a unique violation (a conflict).
pub fn set_entity_id(
    conn: &mut DbConnection,
    software: SoftwareId,
    entity_id: Option<&str>,
    at: Timestamp,
) -> QueryResult<()> {
    use super::schema::software_entity_identifiers as own;
    let id = software.to_string();
    diesel::delete(own::table.find(&id)).execute(conn)?;
    if let Some(entity_id) = entity_id {
        diesel::insert_into(own::table)
            .values((
                own::software_id.eq(&id),
                own::entity_id.eq(entity_id),
                own::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}
