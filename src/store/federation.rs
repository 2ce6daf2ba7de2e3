//! The entity configurations the directory hosts (self-signed, checked when uploaded), one
//! per product and one per organisation.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::hosted_entity_configurations as hosted;
use crate::model::{OrgId, Result, SoftwareId, Timestamp, now};

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
) -> QueryResult<()> {
    let (kind, id) = subject.key();
    diesel::delete(hosted::table.find((kind, &id))).execute(conn)?;
    diesel::insert_into(hosted::table)
        .values((
            hosted::subject_type.eq(kind),
            hosted::subject_id.eq(&id),
            hosted::jwt.eq(jwt),
            hosted::expires_at.eq(expires_at),
            hosted::updated_at.eq(now()),
        ))
        .execute(conn)
        .map(drop)
}

/// The subject's unexpired entity configuration.
pub fn live(conn: &mut DbConnection, subject: Subject) -> Result<Option<String>> {
    let (kind, id) = subject.key();
    Ok(hosted::table
        .find((kind, id))
        .filter(hosted::expires_at.gt(now()))
        .select(hosted::jwt)
        .first(conn)
        .optional()?)
}
