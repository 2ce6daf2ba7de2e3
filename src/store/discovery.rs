//! What relying parties read without a token: effective statuses and active participants.

use diesel::prelude::*;

use super::schema::{events, organisations, software};
use super::{DbConnection, from_json};
use crate::model::discovery::{Participant, ParticipantFilter, SoftwareStatus};
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
    let rows: Vec<ParticipantRow> = organisations::table
        .filter(organisations::status.eq(Status::Active))
        .select(PARTICIPANT_COLUMNS)
        .order(organisations::legal_name.asc())
        .load(conn)?;
    let proven = super::issuers::proven(conn)?;
    participants_of(rows, proven)
}

/// What the participants list needs of an organisation.
type ParticipantRow = (OrgId, String, String, String, String);

const PARTICIPANT_COLUMNS: (
    organisations::id,
    organisations::legal_name,
    organisations::country,
    organisations::roles,
    organisations::authorization_servers,
) = (
    organisations::id,
    organisations::legal_name,
    organisations::country,
    organisations::roles,
    organisations::authorization_servers,
);

/// The participants of these rows, each with the authorization servers of `proven` (an
/// organisation and an issuer it proved it controls) it lists.
fn participants_of(
    rows: Vec<ParticipantRow>,
    proven: Vec<(OrgId, String)>,
) -> QueryResult<Vec<Participant>> {
    let proven: std::collections::HashSet<(OrgId, String)> = proven.into_iter().collect();
    rows.into_iter()
        .map(|(org_id, org_name, country, roles, servers)| {
            let roles: Vec<RegulatedRole> = from_json("organisations.roles", &roles)?;
            let authorization_servers = if roles.contains(&RegulatedRole::Aspsp) {
                let servers: Vec<AuthorizationServer> =
                    from_json("organisations.authorization_servers", &servers)?;
                servers
                    .into_iter()
                    .filter(|s| proven.contains(&(org_id, s.issuer.clone())))
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

/// Up to `limit` active participants by organisation id, filtered, and whether more follow;
/// with `since`, also the organisations changed since then that are no longer active (to
/// drop). Keyset pagination: every page costs the same, however deep.
pub fn participants_page(
    conn: &mut DbConnection,
    filter: &ParticipantFilter,
    limit: i64,
) -> QueryResult<(Vec<Participant>, bool, Vec<OrgId>)> {
    let changed = |since: i64| {
        events::table
            .filter(events::id.gt(since))
            .filter(events::kind.eq_any([
                EventKind::OrganisationStatus,
                EventKind::OrganisationAuthorizationServers,
            ]))
            .select(events::subject_id)
    };
    let mut query = organisations::table
        .filter(organisations::status.eq(Status::Active))
        .select(PARTICIPANT_COLUMNS)
        .order(organisations::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = filter.after {
        query = query.filter(organisations::id.gt(after));
    }
    if let Some(role) = filter.role {
        // Roles are stored as a JSON array of their names.
        query = query.filter(organisations::roles.like(format!("%\"{}\"%", role.as_str())));
    }
    if let Some(country) = &filter.country {
        query = query.filter(organisations::country.eq(country.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(organisations::id.eq_any(changed(since)));
    }
    let mut rows: Vec<ParticipantRow> = query.load(conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let removed = match filter.since {
        Some(since) if filter.after.is_none() => organisations::table
            .filter(organisations::status.ne(Status::Active))
            .filter(organisations::id.eq_any(changed(since)))
            .select(organisations::id)
            .order(organisations::id.asc())
            .load(conn)?,
        _ => vec![],
    };
    let orgs: Vec<OrgId> = rows.iter().map(|(id, ..)| *id).collect();
    let proven = super::issuers::proven_of(conn, &orgs)?;
    Ok((participants_of(rows, proven)?, more, removed))
}

/// A value that changes whenever the participants list may: the organisations' count and
/// newest change, and the proven issuers' count and newest proof.
pub fn participants_version(conn: &mut DbConnection) -> QueryResult<String> {
    use super::schema::issuer_claims as claims;
    use diesel::dsl::{count_star, max};
    let (orgs, changed): (i64, Option<crate::model::Timestamp>) = organisations::table
        .select((count_star(), max(organisations::updated_at)))
        .first(conn)?;
    let (proofs, proven): (i64, Option<crate::model::Timestamp>) = claims::table
        .filter(claims::verified_at.is_not_null())
        .select((count_star(), max(claims::verified_at)))
        .first(conn)?;
    Ok(format!("{orgs}/{changed:?}/{proofs}/{proven:?}"))
}
