//! Software products.

use diesel::prelude::*;

use super::schema::{memberships, organisations, software};
use super::{DbConnection, from_json, to_json};
use crate::model::inputs::Environment;
use crate::model::software::{PendingChange, Software, SoftwareFilter};
use crate::model::{OrgId, Page, PageRequest, SoftwareId, Status, Timestamp, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = software, treat_none_as_null = true)]
pub(super) struct SoftwareRow {
    id: SoftwareId,
    organisation_id: OrgId,
    client_id: String,
    client_name: String,
    description: String,
    version: String,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    tos_uri: Option<String>,
    policy_uri: Option<String>,
    redirect_uris: String,
    roles: String,
    environment: Environment,
    status: Status,
    status_reason: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    pending_change: Option<String>,
}

impl SoftwareRow {
    pub(super) fn into_software(self) -> QueryResult<Software> {
        Ok(Software {
            id: self.id,
            organisation_id: self.organisation_id,
            redirect_uris: from_json("software.redirect_uris", &self.redirect_uris)?,
            roles: from_json("software.roles", &self.roles)?,
            environment: self.environment,
            status: self.status,
            pending_change: self
                .pending_change
                .as_deref()
                .map(|json| from_json("software.pending_change", json))
                .transpose()?,
            client_id: self.client_id,
            client_name: self.client_name,
            description: self.description,
            version: self.version,
            client_uri: self.client_uri,
            logo_uri: self.logo_uri,
            tos_uri: self.tos_uri,
            policy_uri: self.policy_uri,
            status_reason: self.status_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    fn of(product: &Software) -> Self {
        Self {
            id: product.id,
            organisation_id: product.organisation_id,
            client_id: product.client_id.clone(),
            client_name: product.client_name.clone(),
            description: product.description.clone(),
            version: product.version.clone(),
            client_uri: product.client_uri.clone(),
            logo_uri: product.logo_uri.clone(),
            tos_uri: product.tos_uri.clone(),
            policy_uri: product.policy_uri.clone(),
            redirect_uris: to_json(&product.redirect_uris),
            roles: to_json(&product.roles),
            environment: product.environment,
            status: product.status,
            status_reason: product.status_reason.clone(),
            created_at: product.created_at,
            updated_at: product.updated_at,
            pending_change: product.pending_change.as_ref().map(to_json),
        }
    }
}

pub fn find(conn: &mut DbConnection, product: SoftwareId) -> QueryResult<Option<Software>> {
    software::table
        .find(product)
        .select(SoftwareRow::as_select())
        .first(conn)
        .optional()?
        .map(SoftwareRow::into_software)
        .transpose()
}

/// Whether the product exists and belongs to the organisation.
pub fn belongs(conn: &mut DbConnection, product: SoftwareId, org: OrgId) -> QueryResult<bool> {
    let count: i64 = software::table
        .filter(software::id.eq(product))
        .filter(software::organisation_id.eq(org))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

pub fn insert(conn: &mut DbConnection, product: &Software) -> QueryResult<()> {
    diesel::insert_into(software::table)
        .values(SoftwareRow::of(product))
        .execute(conn)
        .map(drop)
}

/// Writes every column of the product.
pub fn update(conn: &mut DbConnection, product: &Software) -> QueryResult<()> {
    diesel::update(software::table.find(product.id))
        .set(SoftwareRow::of(product))
        .execute(conn)
        .map(drop)
}

/// Writes the product if its pending change is still `pending`; false when another edit or
/// decision changed it meanwhile.
pub fn update_if_pending(
    conn: &mut DbConnection,
    product: &Software,
    pending: &PendingChange,
) -> QueryResult<bool> {
    let updated = diesel::update(
        software::table
            .filter(software::id.eq(product.id))
            .filter(software::pending_change.eq(to_json(pending))),
    )
    .set(SoftwareRow::of(product))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Moves the product from `from` to `to`; false when it was no longer in `from`.
pub fn set_status(
    conn: &mut DbConnection,
    product: SoftwareId,
    from: Status,
    to: Status,
    reason: Option<&str>,
    at: Timestamp,
) -> QueryResult<bool> {
    let updated = diesel::update(
        software::table
            .filter(software::id.eq(product))
            .filter(software::status.eq(from)),
    )
    .set((
        software::status.eq(to),
        software::status_reason.eq(reason),
        software::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Products oldest first: of one organisation, or those `member` may see, narrowed by
/// `filter`.
pub fn list(
    conn: &mut DbConnection,
    organisation: Option<OrgId>,
    member: Option<UserId>,
    filter: SoftwareFilter,
    page: PageRequest,
) -> QueryResult<Page<Software>> {
    let total: i64 = filtered(organisation, member, &filter)
        .count()
        .get_result(conn)?;
    let items = filtered(organisation, member, &filter)
        .select(SoftwareRow::as_select())
        .order((software::created_at.asc(), software::id.asc()))
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?
        .into_iter()
        .map(SoftwareRow::into_software)
        .collect::<QueryResult<Vec<_>>>()?;
    Ok(page.wrap(items, total))
}

/// How many products match the filter (and `member`'s organisations, if given).
pub fn count(
    conn: &mut DbConnection,
    member: Option<UserId>,
    filter: &SoftwareFilter,
) -> QueryResult<i64> {
    filtered(None, member, filter).count().get_result(conn)
}

/// Up to `limit` products of the filter after `after` (a registration time and id), oldest
/// first: keyset pages (of the list and the export), each as cheap as the first.
pub fn after(
    conn: &mut DbConnection,
    member: Option<UserId>,
    filter: &SoftwareFilter,
    after: Option<(Timestamp, SoftwareId)>,
    limit: i64,
) -> QueryResult<Vec<Software>> {
    let mut query = filtered(None, member, filter);
    if let Some((at, id)) = after {
        query = query.filter(
            software::created_at
                .gt(at)
                .or(software::created_at.eq(at).and(software::id.gt(id))),
        );
    }
    query
        .select(SoftwareRow::as_select())
        .order((software::created_at.asc(), software::id.asc()))
        .limit(limit)
        .load(conn)?
        .into_iter()
        .map(SoftwareRow::into_software)
        .collect()
}

/// The products of the filter (of one organisation, or of `member`'s, if given).
fn filtered(
    organisation: Option<OrgId>,
    member: Option<UserId>,
    filter: &SoftwareFilter,
) -> software::BoxedQuery<'static, <DbConnection as diesel::Connection>::Backend> {
    let mut query = software::table.into_boxed();
    if let Some(org) = organisation {
        query = query.filter(software::organisation_id.eq(org));
    }
    if let Some(user) = member {
        query = query.filter(
            software::organisation_id.eq_any(
                memberships::table
                    .filter(memberships::user_id.eq(user))
                    .select(memberships::organisation_id),
            ),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(software::status.eq(status));
    }
    if filter.pending_change {
        query = query.filter(software::pending_change.is_not_null());
    }
    if let Some(environment) = filter.environment {
        query = query.filter(software::environment.eq(environment));
    }
    if let Some(role) = filter.role {
        // Roles are stored as a JSON array of their names.
        query = query.filter(software::roles.like(format!("%\"{}\"%", role.as_str())));
    }
    if let Some(since) = filter.created_since {
        query = query.filter(software::created_at.ge(since));
    }
    if let Some(since) = filter.changed_since {
        query = query.filter(software::updated_at.ge(since));
    }
    query
}

/// The active products of active organisations, oldest first: the software products in the
/// federation.
pub fn in_federation(conn: &mut DbConnection) -> QueryResult<Vec<Software>> {
    software::table
        .inner_join(organisations::table.on(organisations::id.eq(software::organisation_id)))
        .filter(software::status.eq(Status::Active))
        .filter(organisations::status.eq(Status::Active))
        .order((software::created_at.asc(), software::id.asc()))
        .select(SoftwareRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SoftwareRow::into_software)
        .collect()
}

/// The product's own status and its organisation's, read inside a write transaction so that
/// neither changes until it ends: on PostgreSQL both rows are locked `FOR SHARE` (a
/// concurrent decision on either waits, and a decision that committed first is what this
/// reads); on SQLite the transaction already holds the database's write lock.
pub fn lock_statuses(
    conn: &mut DbConnection,
    product: SoftwareId,
) -> QueryResult<(Status, Status)> {
    use super::schema::organisations;
    let id = product.to_string();
    macro_rules! query {
        () => {
            software::table
                .inner_join(organisations::table)
                .filter(software::id.eq(id))
                .select((software::status, organisations::status))
        };
    }
    Ok(match conn {
        DbConnection::Postgresql(conn) => query!().for_share().first(conn)?,
        DbConnection::Sqlite(conn) => query!().first(conn)?,
    })
}
