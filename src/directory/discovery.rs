//! What relying parties read without authenticating: the effective status of software
//! products and the list of active participants with their authorization servers.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConnection;
use crate::db::schema::{organisations, software};
use crate::error::AppError;

use super::organisations::AuthorizationServer;
use super::software::Software;
use super::types::RegulatedRole;
use super::{Page, PageRequest, Status, from_json};

/// The status of one software product as an authorization server needs it.
#[derive(Debug, Clone, Serialize)]
pub struct SoftwareStatus {
    pub software_id: String,
    /// The effective status: not active unless the organisation is active too.
    pub status: Status,
    pub software_status: Status,
    pub org_id: String,
    pub org_status: Status,
}

fn status_of(
    software_id: String,
    own: &str,
    org_id: String,
    org: &str,
) -> Result<SoftwareStatus, AppError> {
    let software_status = Status::from_db(own)?;
    let org_status = Status::from_db(org)?;
    let status = Software::effective(software_status, org_status);
    Ok(SoftwareStatus {
        software_id,
        status,
        software_status,
        org_id,
        org_status,
    })
}

/// The status of one product; 404 when it does not exist.
pub fn software_status(conn: &mut DbConnection, id: &str) -> Result<SoftwareStatus, AppError> {
    let row: (String, String, String, String) = software::table
        .inner_join(organisations::table)
        .filter(software::id.eq(id))
        .select((
            software::id,
            software::status,
            organisations::id,
            organisations::status,
        ))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("software"))?;
    status_of(row.0, &row.1, row.2, &row.3)
}

/// Every product's status, in a stable order, for authorization servers that sync.
pub fn all_statuses(
    conn: &mut DbConnection,
    page: PageRequest,
) -> Result<Page<SoftwareStatus>, AppError> {
    let total: i64 = software::table.count().get_result(conn)?;
    let rows: Vec<(String, String, String, String)> = software::table
        .inner_join(organisations::table)
        .select((
            software::id,
            software::status,
            organisations::id,
            organisations::status,
        ))
        .order(software::id.asc())
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|(s, ss, o, os)| status_of(s, &ss, o, &os))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page.wrap(items, total))
}

/// An active organisation as published for discovery.
#[derive(Debug, Clone, Serialize)]
pub struct Participant {
    pub org_id: String,
    pub org_name: String,
    pub country: String,
    pub roles: Vec<RegulatedRole>,
    pub authorization_servers: Vec<AuthorizationServer>,
}

/// Active organisations with their roles and, for ASPSPs, their authorization servers.
pub fn participants(conn: &mut DbConnection) -> Result<Vec<Participant>, AppError> {
    let rows: Vec<(String, String, String, String, String)> = organisations::table
        .filter(organisations::status.eq(Status::Active.as_str()))
        .select((
            organisations::id,
            organisations::legal_name,
            organisations::country,
            organisations::roles,
            organisations::authorization_servers,
        ))
        .order(organisations::legal_name.asc())
        .load(conn)?;
    rows.into_iter()
        .map(|(org_id, org_name, country, roles, servers)| {
            let roles: Vec<RegulatedRole> = from_json("organisations.roles", &roles)?;
            let authorization_servers = if roles.contains(&RegulatedRole::Aspsp) {
                from_json("organisations.authorization_servers", &servers)?
            } else {
                vec![]
            };
            Ok(Participant {
                org_id,
                org_name,
                country,
                roles,
                authorization_servers,
            })
        })
        .collect()
}
