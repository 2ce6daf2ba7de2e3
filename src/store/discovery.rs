//! What relying parties read without a token: effective statuses and active participants.

use diesel::prelude::*;

use super::schema::{events, organisations, software};
use super::{DbConnection, from_json, id};
use crate::model::discovery::{Participant, SoftwareStatus};
use crate::model::event::EventKind;
use crate::model::inputs::RegulatedRole;
use crate::model::organisation::AuthorizationServer;
use crate::model::{OrgId, Result, SoftwareId, Status};

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

/// Up to `limit` products' statuses after the software id `after`, by software id, and
/// whether more follow. With `since` (an event id), only products that an event after it
/// concerns: their own status, metadata or statements, or their organisation's status.
/// Keyset pagination: every page costs the same, however deep.
pub fn statuses_after(
    conn: &mut DbConnection,
    after: Option<SoftwareId>,
    limit: i64,
    since: Option<i64>,
) -> Result<(Vec<SoftwareStatus>, bool)> {
    let mut query = software::table
        .inner_join(organisations::table)
        .select((
            software::id,
            software::status,
            organisations::id,
            organisations::status,
        ))
        .order(software::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(software::id.gt(after.to_string()));
    }
    if let Some(since) = since {
        let products = events::table
            .filter(events::id.gt(since))
            .filter(events::subject_type.eq("software"))
            .select(events::subject_id);
        let owners = events::table
            .filter(events::id.gt(since))
            .filter(events::kind.eq(EventKind::OrganisationStatus.as_str()))
            .select(events::subject_id);
        query = query.filter(
            software::id
                .eq_any(products)
                .or(software::organisation_id.eq_any(owners)),
        );
    }
    let mut rows: Vec<(String, String, String, String)> = query.load(conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let items = rows
        .iter()
        .map(|(s, ss, o, os)| status_of(s, ss, o, os))
        .collect::<Result<Vec<_>>>()?;
    Ok((items, more))
}

/// Active organisations by name, with their roles and, for ASPSPs, the authorization servers
/// whose issuer they proved they control (an unproven claim is not published).
pub fn participants(conn: &mut DbConnection) -> Result<Vec<Participant>> {
    let proven = super::issuers::proven(conn)?;
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
            let org_id: OrgId = id("organisations.id", &org_id)?;
            let authorization_servers = if roles.contains(&RegulatedRole::Aspsp) {
                let servers: Vec<AuthorizationServer> =
                    from_json("organisations.authorization_servers", &servers)?;
                servers
                    .into_iter()
                    .filter(|s| proven.iter().any(|(o, i)| *o == org_id && *i == s.issuer))
                    .collect()
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
