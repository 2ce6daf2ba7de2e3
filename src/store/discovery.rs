//! What relying parties read without a token: effective statuses and active participants.

use diesel::prelude::*;

use super::schema::{organisations, software};
use super::{DbConnection, from_json, id};
use crate::model::discovery::{Participant, SoftwareStatus};
use crate::model::inputs::RegulatedRole;
use crate::model::{Page, PageRequest, Result, SoftwareId, Status};

fn status_of(software_id: &str, own: &str, org_id: &str, org: &str) -> Result<SoftwareStatus> {
    let software_status = Status::from_db(own)?;
    let org_status = Status::from_db(org)?;
    Ok(SoftwareStatus {
        software_id: id("software.id", software_id)?,
        status: software_status.effective(org_status),
        software_status,
        org_id: id("organisations.id", org_id)?,
        org_status,
    })
}

/// The status of one product, if it exists.
pub fn software_status(
    conn: &mut DbConnection,
    product: SoftwareId,
) -> Result<Option<SoftwareStatus>> {
    let row: Option<(String, String, String, String)> = software::table
        .inner_join(organisations::table)
        .filter(software::id.eq(product.to_string()))
        .select((
            software::id,
            software::status,
            organisations::id,
            organisations::status,
        ))
        .first(conn)
        .optional()?;
    row.map(|(s, ss, o, os)| status_of(&s, &ss, &o, &os))
        .transpose()
}

/// Every product's status, by software id.
pub fn all_statuses(conn: &mut DbConnection, page: PageRequest) -> Result<Page<SoftwareStatus>> {
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
        .iter()
        .map(|(s, ss, o, os)| status_of(s, ss, o, os))
        .collect::<Result<Vec<_>>>()?;
    Ok(page.wrap(items, total))
}

/// Active organisations by name, with their roles and, for ASPSPs, their authorization
/// servers.
pub fn participants(conn: &mut DbConnection) -> Result<Vec<Participant>> {
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
                org_id: id("organisations.id", &org_id)?,
                org_name,
                country,
                roles,
                authorization_servers,
            })
        })
        .collect()
}
