//! Organisations, their memberships and their invitations.

use diesel::prelude::*;

use super::schema::{address_invitations, invitations, memberships, organisations, users};
use super::{DbConnection, from_json, to_json};
use crate::model::inputs::MemberRole;
use crate::model::organisation::{
    AddressInvitation, AuthorizationServer, Invitation, Member, Organisation, OrganisationFilter,
};
use crate::model::{OrgId, Page, PageRequest, Status, Timestamp, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organisations)]
pub(super) struct OrganisationRow {
    id: OrgId,
    legal_name: String,
    registration_number: String,
    country: String,
    competent_authority: String,
    authority_registration_id: String,
    roles: String,
    business_contact: String,
    technical_contact: String,
    authorization_servers: String,
    status: Status,
    status_reason: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    require_second_factor: bool,
    notify_contacts: bool,
}

impl OrganisationRow {
    pub(super) fn into_organisation(self) -> QueryResult<Organisation> {
        Ok(Organisation {
            id: self.id,
            roles: from_json("organisations.roles", &self.roles)?,
            business_contact: from_json("organisations.business_contact", &self.business_contact)?,
            technical_contact: from_json(
                "organisations.technical_contact",
                &self.technical_contact,
            )?,
            authorization_servers: from_json(
                "organisations.authorization_servers",
                &self.authorization_servers,
            )?,
            status: self.status,
            legal_name: self.legal_name,
            registration_number: self.registration_number,
            country: self.country,
            competent_authority: self.competent_authority,
            authority_registration_id: self.authority_registration_id,
            status_reason: self.status_reason,
            require_second_factor: self.require_second_factor,
            notify_contacts: self.notify_contacts,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub fn find(conn: &mut DbConnection, org: OrgId) -> QueryResult<Option<Organisation>> {
    organisations::table
        .find(org)
        .select(OrganisationRow::as_select())
        .first(conn)
        .optional()?
        .map(OrganisationRow::into_organisation)
        .transpose()
}

/// Sets whether the organisation's notices go to its contacts too.
pub fn set_notify_contacts(
    conn: &mut DbConnection,
    org: OrgId,
    on: bool,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::update(organisations::table.find(org))
        .set((
            organisations::notify_contacts.eq(on),
            organisations::updated_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// Whether the organisation requires a second factor of its members.
pub fn requires_second_factor(conn: &mut DbConnection, org: OrgId) -> QueryResult<bool> {
    organisations::table
        .find(org)
        .select(organisations::require_second_factor)
        .first(conn)
        .optional()
        .map(|required| required.unwrap_or(false))
}

/// Sets whether the organisation requires a second factor of its members.
pub fn set_requires_second_factor(
    conn: &mut DbConnection,
    org: OrgId,
    required: bool,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::update(organisations::table.find(org))
        .set((
            organisations::require_second_factor.eq(required),
            organisations::updated_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// The legal names of the organisations `user` belongs to that require a second factor.
pub fn requiring_second_factor_of(
    conn: &mut DbConnection,
    user: UserId,
) -> QueryResult<Vec<String>> {
    organisations::table
        .inner_join(memberships::table)
        .filter(memberships::user_id.eq(user))
        .filter(organisations::require_second_factor.eq(true))
        .select(organisations::legal_name)
        .order(organisations::legal_name.asc())
        .load(conn)
}

pub fn exists(conn: &mut DbConnection, org: OrgId) -> QueryResult<bool> {
    let count: i64 = organisations::table.find(org).count().get_result(conn)?;
    Ok(count > 0)
}

pub fn insert(conn: &mut DbConnection, org: &Organisation) -> QueryResult<()> {
    diesel::insert_into(organisations::table)
        .values(OrganisationRow {
            id: org.id,
            legal_name: org.legal_name.clone(),
            registration_number: org.registration_number.clone(),
            country: org.country.clone(),
            competent_authority: org.competent_authority.clone(),
            authority_registration_id: org.authority_registration_id.clone(),
            roles: to_json(&org.roles),
            business_contact: to_json(&org.business_contact),
            technical_contact: to_json(&org.technical_contact),
            authorization_servers: to_json(&org.authorization_servers),
            status: org.status,
            status_reason: org.status_reason.clone(),
            created_at: org.created_at,
            updated_at: org.updated_at,
            require_second_factor: org.require_second_factor,
            notify_contacts: org.notify_contacts,
        })
        .execute(conn)
        .map(drop)
}

/// Organisations by age, all of them or those `member` belongs to, optionally in one status.
pub fn list(
    conn: &mut DbConnection,
    member: Option<UserId>,
    filter: &OrganisationFilter,
    page: PageRequest,
) -> QueryResult<Page<Organisation>> {
    let total: i64 = filtered(member, filter).count().get_result(conn)?;
    let items = filtered(member, filter)
        .select(OrganisationRow::as_select())
        .order((organisations::created_at.asc(), organisations::id.asc()))
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?
        .into_iter()
        .map(OrganisationRow::into_organisation)
        .collect::<QueryResult<Vec<_>>>()?;
    Ok(page.wrap(items, total))
}

/// How many organisations match the filter (and `member`'s memberships, if given).
pub fn count(
    conn: &mut DbConnection,
    member: Option<UserId>,
    filter: &OrganisationFilter,
) -> QueryResult<i64> {
    filtered(member, filter).count().get_result(conn)
}

/// Up to `limit` organisations of the filter after `after` (a created time and id), oldest
/// first: keyset pages (of the list and the export), each as cheap as the first.
pub fn after(
    conn: &mut DbConnection,
    member: Option<UserId>,
    filter: &OrganisationFilter,
    after: Option<(Timestamp, OrgId)>,
    limit: i64,
) -> QueryResult<Vec<Organisation>> {
    let mut query = filtered(member, filter);
    if let Some((at, id)) = after {
        query = query.filter(
            organisations::created_at
                .gt(at)
                .or(organisations::created_at
                    .eq(at)
                    .and(organisations::id.gt(id))),
        );
    }
    query
        .select(OrganisationRow::as_select())
        .order((organisations::created_at.asc(), organisations::id.asc()))
        .limit(limit)
        .load(conn)?
        .into_iter()
        .map(OrganisationRow::into_organisation)
        .collect()
}

/// The organisations of the filter (and of `member`'s memberships, if given).
fn filtered(
    member: Option<UserId>,
    filter: &OrganisationFilter,
) -> organisations::BoxedQuery<'static, <DbConnection as diesel::Connection>::Backend> {
    let mut query = organisations::table.into_boxed();
    if let Some(user) = member {
        query = query.filter(
            organisations::id.eq_any(
                memberships::table
                    .filter(memberships::user_id.eq(user))
                    .select(memberships::organisation_id),
            ),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(organisations::status.eq(status));
    }
    if let Some(role) = filter.role {
        // Roles are stored as a JSON array of their names.
        query = query.filter(organisations::roles.like(format!("%\"{}\"%", role.as_str())));
    }
    if let Some(country) = &filter.country {
        query = query.filter(organisations::country.eq(country.clone()));
    }
    if let Some(since) = filter.created_since {
        query = query.filter(organisations::created_at.ge(since));
    }
    if let Some(since) = filter.changed_since {
        query = query.filter(organisations::updated_at.ge(since));
    }
    query
}

/// Moves the organisation from `from` to `to`; false when it was no longer in `from` (a
/// concurrent decision).
pub fn set_status(
    conn: &mut DbConnection,
    org: OrgId,
    from: Status,
    to: Status,
    reason: Option<&str>,
    at: Timestamp,
) -> QueryResult<bool> {
    let updated = diesel::update(
        organisations::table
            .filter(organisations::id.eq(org))
            .filter(organisations::status.eq(from)),
    )
    .set((
        organisations::status.eq(to),
        organisations::status_reason.eq(reason),
        organisations::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

pub fn set_authorization_servers(
    conn: &mut DbConnection,
    org: OrgId,
    servers: &[AuthorizationServer],
    at: Timestamp,
) -> QueryResult<()> {
    diesel::update(organisations::table.find(org))
        .set((
            organisations::authorization_servers.eq(to_json(&servers)),
            organisations::updated_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// The account's role in the organisation, if it is a member.
/// Whether the account is a member of an active organisation: a participant of the
/// ecosystem.
pub fn is_participant(conn: &mut DbConnection, user: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        memberships::table
            .inner_join(organisations::table)
            .filter(memberships::user_id.eq(user))
            .filter(organisations::status.eq(Status::Active)),
    ))
    .get_result(conn)
}

pub fn role_of(
    conn: &mut DbConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<Option<MemberRole>> {
    memberships::table
        .filter(memberships::organisation_id.eq(org))
        .filter(memberships::user_id.eq(user))
        .select(memberships::role)
        .first(conn)
        .optional()
}

pub fn insert_member(
    conn: &mut DbConnection,
    org: OrgId,
    user: UserId,
    role: MemberRole,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(memberships::table)
        .values((
            memberships::organisation_id.eq(org),
            memberships::user_id.eq(user),
            memberships::role.eq(role),
            memberships::created_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn set_role(
    conn: &mut DbConnection,
    org: OrgId,
    user: UserId,
    role: MemberRole,
) -> QueryResult<()> {
    diesel::update(
        memberships::table
            .filter(memberships::organisation_id.eq(org))
            .filter(memberships::user_id.eq(user)),
    )
    .set(memberships::role.eq(role))
    .execute(conn)
    .map(drop)
}

pub fn delete_member(conn: &mut DbConnection, org: OrgId, user: UserId) -> QueryResult<()> {
    diesel::delete(
        memberships::table
            .filter(memberships::organisation_id.eq(org))
            .filter(memberships::user_id.eq(user)),
    )
    .execute(conn)
    .map(drop)
}

/// The organisation's admins other than `user`.
pub fn other_admins(conn: &mut DbConnection, org: OrgId, user: UserId) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::organisation_id.eq(org))
        .filter(memberships::role.eq(MemberRole::Admin))
        .filter(memberships::user_id.ne(user))
        .count()
        .get_result(conn)
}

/// The organisation's members, by email.
pub fn members(conn: &mut DbConnection, org: OrgId) -> QueryResult<Vec<Member>> {
    let rows: Vec<(UserId, String, MemberRole, Timestamp)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::organisation_id.eq(org))
        .select((
            users::id,
            users::email,
            memberships::role,
            memberships::created_at,
        ))
        .order(users::email.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, email, role, since)| Member {
            user_id,
            email,
            role,
            since,
        })
        .collect())
}

pub fn insert_invitation(
    conn: &mut DbConnection,
    org: OrgId,
    user: UserId,
    role: MemberRole,
    invited_by: &str,
    expires_at: Timestamp,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(invitations::table)
        .values((
            invitations::organisation_id.eq(org),
            invitations::user_id.eq(user),
            invitations::role.eq(role),
            invitations::invited_by.eq(invited_by),
            invitations::created_at.eq(at),
            invitations::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

type InvitationRow = (
    OrgId,
    String,
    UserId,
    String,
    MemberRole,
    String,
    Timestamp,
    Timestamp,
);

/// Pending (unexpired) invitations, of one organisation, for one account, or both.
pub fn invitations(
    conn: &mut DbConnection,
    org: Option<OrgId>,
    user: Option<UserId>,
    at: Timestamp,
) -> QueryResult<Vec<Invitation>> {
    let mut query = invitations::table
        .inner_join(organisations::table)
        .inner_join(users::table)
        .filter(invitations::expires_at.gt(at))
        .into_boxed();
    if let Some(org) = org {
        query = query.filter(invitations::organisation_id.eq(org));
    }
    if let Some(user) = user {
        query = query.filter(invitations::user_id.eq(user));
    }
    Ok(query
        .select((
            invitations::organisation_id,
            organisations::legal_name,
            invitations::user_id,
            users::email,
            invitations::role,
            invitations::invited_by,
            invitations::created_at,
            invitations::expires_at,
        ))
        .order(invitations::created_at.asc())
        .load::<InvitationRow>(conn)?
        .into_iter()
        .map(
            |(
                organisation_id,
                organisation_name,
                user_id,
                email,
                role,
                invited_by,
                created_at,
                expires_at,
            )| {
                Invitation {
                    organisation_id,
                    organisation_name,
                    user_id,
                    email,
                    role,
                    invited_by,
                    created_at,
                    expires_at,
                }
            },
        )
        .collect())
}

/// Deletes the account's invitation to the organisation: only an expired one when
/// `expired_only`, else a pending one. Returns whether there was one.
pub fn delete_invitation(
    conn: &mut DbConnection,
    org: OrgId,
    user: UserId,
    expired_only: bool,
    at: Timestamp,
) -> QueryResult<bool> {
    let target = invitations::table
        .filter(invitations::organisation_id.eq(org))
        .filter(invitations::user_id.eq(user));
    let deleted = if expired_only {
        diesel::delete(target.filter(invitations::expires_at.le(at))).execute(conn)?
    } else {
        diesel::delete(target.filter(invitations::expires_at.gt(at))).execute(conn)?
    };
    Ok(deleted > 0)
}

/// Forgets expired invitations; returns how many.
pub fn sweep_invitations(conn: &mut DbConnection, at: Timestamp) -> QueryResult<usize> {
    diesel::delete(invitations::table.filter(invitations::expires_at.le(at))).execute(conn)
}

/// Records an invitation of an address without an account, replacing an expired one; false
/// when one is pending already.
pub fn insert_address_invitation(
    conn: &mut DbConnection,
    invitation: &AddressInvitation,
) -> QueryResult<bool> {
    let mine = || {
        address_invitations::table
            .filter(address_invitations::organisation_id.eq(invitation.organisation_id))
            .filter(address_invitations::email.eq(&invitation.email))
    };
    let pending: bool = diesel::select(diesel::dsl::exists(
        mine().filter(address_invitations::expires_at.gt(invitation.created_at)),
    ))
    .get_result(conn)?;
    if pending {
        return Ok(false);
    }
    diesel::delete(mine()).execute(conn)?;
    diesel::insert_into(address_invitations::table)
        .values((
            address_invitations::organisation_id.eq(invitation.organisation_id),
            address_invitations::email.eq(&invitation.email),
            address_invitations::role.eq(invitation.role),
            address_invitations::invited_by.eq(&invitation.invited_by),
            address_invitations::created_at.eq(invitation.created_at),
            address_invitations::expires_at.eq(invitation.expires_at),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Takes the unexpired invitations of `email` (they are gone afterwards): organisation and
/// role of each.
pub fn take_address_invitations(
    conn: &mut DbConnection,
    email: &str,
    at: Timestamp,
) -> QueryResult<Vec<(OrgId, MemberRole)>> {
    let found: Vec<(OrgId, MemberRole)> = address_invitations::table
        .filter(address_invitations::email.eq(email))
        .filter(address_invitations::expires_at.gt(at))
        .select((
            address_invitations::organisation_id,
            address_invitations::role,
        ))
        .load(conn)?;
    diesel::delete(address_invitations::table.filter(address_invitations::email.eq(email)))
        .execute(conn)?;
    Ok(found)
}

/// The organisation's unexpired invitations of addresses without an account, oldest first.
pub fn address_invitations(
    conn: &mut DbConnection,
    org: OrgId,
    at: Timestamp,
) -> QueryResult<Vec<AddressInvitation>> {
    let rows: Vec<(OrgId, String, MemberRole, String, Timestamp, Timestamp)> =
        address_invitations::table
            .filter(address_invitations::organisation_id.eq(org))
            .filter(address_invitations::expires_at.gt(at))
            .order(address_invitations::created_at.asc())
            .select((
                address_invitations::organisation_id,
                address_invitations::email,
                address_invitations::role,
                address_invitations::invited_by,
                address_invitations::created_at,
                address_invitations::expires_at,
            ))
            .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(organisation_id, email, role, invited_by, created_at, expires_at)| {
                AddressInvitation {
                    organisation_id,
                    email,
                    role,
                    invited_by,
                    created_at,
                    expires_at,
                }
            },
        )
        .collect())
}

/// Withdraws the organisation's unexpired invitation of `email`; whether there was one.
pub fn delete_address_invitation(
    conn: &mut DbConnection,
    org: OrgId,
    email: &str,
    at: Timestamp,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        address_invitations::table
            .filter(address_invitations::organisation_id.eq(org))
            .filter(address_invitations::email.eq(email))
            .filter(address_invitations::expires_at.gt(at)),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}
