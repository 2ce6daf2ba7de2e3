//! What relying parties read without a token: effective statuses and active participants.

use diesel::prelude::*;

use super::schema::{events, organisations, software};
use super::{DbConnection, from_json};
use crate::model::discovery::{Participant, SoftwareStatus};
use crate::model::event::EventKind;
use crate::model::inputs::RegulatedRole;
use crate::model::organisation::AuthorizationServer;
use crate::model::{OrgId, SoftwareId, Status};

/// A product's id and status, and its organisation's.
type StatusRow = (SoftwareId, Status, OrgId, Status);

fn status_of((software_id, software_status, org_id, org_status): StatusRow) -> SoftwareStatus {
    SoftwareStatus {
        software_id,
        status: software_status.effective(org_status),
        software_status,
        org_id,
        org_status,
    }
}

/// The status of one product, if it exists.
pub fn software_status(
    conn: &mut DbConnection,
    product: SoftwareId,
) -> QueryResult<Option<SoftwareStatus>> {
    let row: Option<StatusRow> = software::table
        .inner_join(organisations::table)
        .filter(software::id.eq(product))
        .select((
            software::id,
            software::status,
            organisations::id,
            organisations::status,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(status_of))
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
) -> QueryResult<(Vec<SoftwareStatus>, bool)> {
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
        query = query.filter(software::id.gt(after));
    }
    if let Some(since) = since {
        let products = events::table
            .filter(events::id.gt(since))
            .filter(events::subject_type.eq("software"))
            .select(events::subject_id);
        let owners = events::table
            .filter(events::id.gt(since))
            .filter(events::kind.eq(EventKind::OrganisationStatus))
            .select(events::subject_id);
        query = query.filter(
            software::id
                .eq_any(products)
                .or(software::organisation_id.eq_any(owners)),
        );
    }
    let mut rows: Vec<StatusRow> = query.load(conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let items = rows.into_iter().map(status_of).collect();
    Ok((items, more))
}

/// Active organisations by name, with their roles and, for ASPSPs, the authorization servers
/// whose issuer they proved they control (an unproven claim is not published).
pub fn participants(conn: &mut DbConnection) -> QueryResult<Vec<Participant>> {
    let proven = super::issuers::proven(conn)?;
    let rows: Vec<(OrgId, String, String, String, String)> = organisations::table
        .filter(organisations::status.eq(Status::Active))
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
