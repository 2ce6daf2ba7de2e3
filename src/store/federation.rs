//! The entity configurations products host at the directory (self-signed, checked when
//! uploaded), one per product.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::entity_configurations;
use crate::model::{Result, SoftwareId, Timestamp, now};

/// Replaces the product's entity configuration.
pub fn put(
    conn: &mut DbConnection,
    software: SoftwareId,
    jwt: &str,
    expires_at: Timestamp,
) -> QueryResult<()> {
    let id = software.to_string();
    diesel::delete(entity_configurations::table.find(&id)).execute(conn)?;
    diesel::insert_into(entity_configurations::table)
        .values((
            entity_configurations::software_id.eq(&id),
            entity_configurations::jwt.eq(jwt),
            entity_configurations::expires_at.eq(expires_at),
            entity_configurations::updated_at.eq(now()),
        ))
        .execute(conn)
        .map(drop)
}

/// The product's unexpired entity configuration.
pub fn live(conn: &mut DbConnection, software: SoftwareId) -> Result<Option<String>> {
    Ok(entity_configurations::table
        .find(software.to_string())
        .filter(entity_configurations::expires_at.gt(now()))
        .select(entity_configurations::jwt)
        .first(conn)
        .optional()?)
}
