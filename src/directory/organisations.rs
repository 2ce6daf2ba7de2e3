//! Organisations: applications, operator decisions, members and authorization servers.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::{invitations, memberships, organisations, users};
use crate::db::{DbConnection, write_transaction};
use crate::error::AppError;

use super::access::{Access, Actor};
use super::audit::Event;
use super::status::{Status, Transition};
use super::types::{Contact, Country, Email, HttpsUrl, MemberRole, RegulatedRole, invalid, text};
use super::{Page, PageRequest, from_json, now, to_json};

/// A stored organisation row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organisations)]
pub(crate) struct OrganisationRow {
    id: String,
    legal_name: String,
    registration_number: String,
    country: String,
    competent_authority: String,
    authority_registration_id: String,
    roles: String,
    business_contact: String,
    technical_contact: String,
    authorization_servers: String,
    status: String,
    status_reason: Option<String>,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
}

/// An organisation as the API and the portal show it.
#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub id: String,
    pub legal_name: String,
    pub registration_number: String,
    pub country: String,
    pub competent_authority: String,
    pub authority_registration_id: String,
    pub roles: Vec<RegulatedRole>,
    pub business_contact: Contact,
    pub technical_contact: Contact,
    pub authorization_servers: Vec<AuthorizationServer>,
    pub status: Status,
    pub status_reason: Option<String>,
    #[serde(with = "super::rfc3339")]
    pub created_at: time::PrimitiveDateTime,
    #[serde(with = "super::rfc3339")]
    pub updated_at: time::PrimitiveDateTime,
}

/// An ASPSP's authorization server, published for participant discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationServer {
    pub issuer: String,
    pub registration_endpoint: String,
}

impl TryFrom<OrganisationRow> for Organisation {
    type Error = AppError;

    fn try_from(row: OrganisationRow) -> Result<Self, AppError> {
        Ok(Self {
            roles: from_json("organisations.roles", &row.roles)?,
            business_contact: from_json("organisations.business_contact", &row.business_contact)?,
            technical_contact: from_json(
                "organisations.technical_contact",
                &row.technical_contact,
            )?,
            authorization_servers: from_json(
                "organisations.authorization_servers",
                &row.authorization_servers,
            )?,
            status: Status::from_db(&row.status)?,
            id: row.id,
            legal_name: row.legal_name,
            registration_number: row.registration_number,
            country: row.country,
            competent_authority: row.competent_authority,
            authority_registration_id: row.authority_registration_id,
            status_reason: row.status_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Organisation {
    /// Loads an organisation without any authorization check; callers check first.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Organisation>, AppError> {
        organisations::table
            .find(id)
            .select(OrganisationRow::as_select())
            .first(conn)
            .optional()?
            .map(Organisation::try_from)
            .transpose()
    }

    fn load(conn: &mut DbConnection, id: &str) -> Result<Organisation, AppError> {
        Self::find(conn, id)?.ok_or(AppError::NotFound("organisation"))
    }
}

/// An application to onboard an organisation, as submitted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub legal_name: String,
    pub registration_number: String,
    pub country: String,
    pub competent_authority: String,
    pub authority_registration_id: String,
    pub roles: Vec<String>,
    pub business_contact: Contact,
    pub technical_contact: Contact,
}

/// Applies to onboard an organisation; the applicant becomes its admin. Status: pending.
pub fn apply(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &Application,
) -> Result<Organisation, AppError> {
    let at = now();
    let roles = RegulatedRole::parse_list("roles", &input.roles)?;
    let row = OrganisationRow {
        id: uuid::Uuid::new_v4().to_string(),
        legal_name: text("legal_name", &input.legal_name, 200)?,
        registration_number: text("registration_number", &input.registration_number, 100)?,
        country: Country::parse("country", &input.country)?
            .as_str()
            .to_owned(),
        competent_authority: text("competent_authority", &input.competent_authority, 200)?,
        authority_registration_id: text(
            "authority_registration_id",
            &input.authority_registration_id,
            100,
        )?,
        roles: to_json(&roles),
        business_contact: to_json(&Contact::parse(
            "business_contact",
            &input.business_contact,
        )?),
        technical_contact: to_json(&Contact::parse(
            "technical_contact",
            &input.technical_contact,
        )?),
        authorization_servers: "[]".into(),
        status: Status::Pending.as_str().into(),
        status_reason: None,
        created_at: at,
        updated_at: at,
    };
    write_transaction(conn, |tx| {
        diesel::insert_into(organisations::table)
            .values(&row)
            .execute(tx)?;
        if !actor.user_id.is_empty() {
            diesel::insert_into(memberships::table)
                .values((
                    memberships::organisation_id.eq(&row.id),
                    memberships::user_id.eq(&actor.user_id),
                    memberships::role.eq(MemberRole::Admin.as_str()),
                    memberships::created_at.eq(at),
                ))
                .execute(tx)?;
        }
        Event::new(actor, "organisation.apply", "organisation", &row.id)
            .organisation(&row.id)
            .status(None, Some(Status::Pending.as_str()))
            .details(serde_json::json!({"legal_name": row.legal_name}))
            .record(tx)?;
        Organisation::try_from(row.clone())
    })
}

/// Organisations the actor may see: all for operators, their own for members.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    status: Option<Status>,
    page: PageRequest,
) -> Result<Page<Organisation>, AppError> {
    let query = || {
        let mut query = organisations::table.into_boxed();
        if !actor.is_operator {
            query = query.filter(
                organisations::id.eq_any(
                    memberships::table
                        .filter(memberships::user_id.eq(actor.user_id.clone()))
                        .select(memberships::organisation_id),
                ),
            );
        }
        if let Some(status) = status {
            query = query.filter(organisations::status.eq(status.as_str()));
        }
        query
    };
    let total: i64 = query().count().get_result(conn)?;
    let rows = query()
        .select(OrganisationRow::as_select())
        .order((organisations::created_at.asc(), organisations::id.asc()))
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(Organisation::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page.wrap(items, total))
}

/// One organisation and the actor's access to it; 404 for those who may not see it.
pub fn get(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
) -> Result<(Organisation, Access), AppError> {
    let access = Access::to_organisation(conn, actor, id)?;
    Ok((Organisation::load(conn, id)?, access))
}

/// An operator's decision. Reject, suspend and revoke need a reason, which members see.
pub fn transition(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    transition: Transition,
    reason: Option<&str>,
) -> Result<Organisation, AppError> {
    Access::to_organisation(conn, actor, id)?.require_operator()?;
    let reason = transition.reason(reason)?;
    write_transaction(conn, |tx| {
        let current = Organisation::load(tx, id)?;
        let next = current.status.apply(transition)?;
        // Conditional on the status read: a concurrent decision makes this a conflict.
        let updated = diesel::update(
            organisations::table
                .filter(organisations::id.eq(id))
                .filter(organisations::status.eq(current.status.as_str())),
        )
        .set((
            organisations::status.eq(next.as_str()),
            organisations::status_reason.eq(&reason),
            organisations::updated_at.eq(now()),
        ))
        .execute(tx)?;
        if updated != 1 {
            return Err(AppError::Conflict(
                "the organisation changed meanwhile; reload and try again".into(),
            ));
        }
        crate::pki::follow_owner_status(tx, actor, id, None, next)?;
        Event::new(
            actor,
            &format!("organisation.{}", transition.as_str()),
            "organisation",
            id,
        )
        .organisation(id)
        .status(Some(current.status.as_str()), Some(next.as_str()))
        .reason(reason.as_deref())
        .record(tx)?;
        Organisation::load(tx, id)
    })
}

/// A member of an organisation.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: MemberRole,
    #[serde(with = "super::rfc3339")]
    pub since: time::PrimitiveDateTime,
}

/// The organisation's members; for its members and operators.
pub fn members(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<Vec<Member>, AppError> {
    Access::to_organisation(conn, actor, id)?;
    load_members(conn, id)
}

fn load_members(conn: &mut DbConnection, id: &str) -> Result<Vec<Member>, AppError> {
    let rows: Vec<(String, String, String, time::PrimitiveDateTime)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::organisation_id.eq(id))
        .select((
            users::id,
            users::email,
            memberships::role,
            memberships::created_at,
        ))
        .order(users::email.asc())
        .load(conn)?;
    rows.into_iter()
        .map(|(user_id, email, role, since)| {
            Ok(Member {
                user_id,
                email,
                role: MemberRole::parse("role", &role)?,
                since,
            })
        })
        .collect()
}

/// How long an invitation waits for its answer.
pub const INVITATION_DAYS: i64 = 14;

/// An invitation to join an organisation, waiting for the invited account's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    pub organisation_id: String,
    pub organisation_name: String,
    pub user_id: String,
    pub email: String,
    pub role: MemberRole,
    /// Who invited (as the audit log names them).
    pub invited_by: String,
    #[serde(with = "super::rfc3339")]
    pub created_at: time::PrimitiveDateTime,
    #[serde(with = "super::rfc3339")]
    pub expires_at: time::PrimitiveDateTime,
}

type InvitationRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    time::PrimitiveDateTime,
    time::PrimitiveDateTime,
);

fn invitation(row: InvitationRow) -> Result<Invitation, AppError> {
    let (
        organisation_id,
        organisation_name,
        user_id,
        email,
        role,
        invited_by,
        created_at,
        expires_at,
    ) = row;
    Ok(Invitation {
        organisation_id,
        organisation_name,
        user_id,
        email,
        role: MemberRole::parse("role", &role)?,
        invited_by,
        created_at,
        expires_at,
    })
}

/// Pending (unexpired) invitations, for one organisation or for one account.
fn load_invitations(
    conn: &mut DbConnection,
    organisation_id: Option<&str>,
    user_id: Option<&str>,
) -> Result<Vec<Invitation>, AppError> {
    let mut query = invitations::table
        .inner_join(organisations::table)
        .inner_join(users::table)
        .filter(invitations::expires_at.gt(now()))
        .into_boxed();
    if let Some(id) = organisation_id {
        query = query.filter(invitations::organisation_id.eq(id.to_owned()));
    }
    if let Some(id) = user_id {
        query = query.filter(invitations::user_id.eq(id.to_owned()));
    }
    query
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
        .map(invitation)
        .collect()
}

/// The organisation's pending invitations; for its members and operators.
pub fn invitations(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
) -> Result<Vec<Invitation>, AppError> {
    Access::to_organisation(conn, actor, id)?;
    load_invitations(conn, Some(id), None)
}

/// The caller's own pending invitations.
pub fn my_invitations(conn: &mut DbConnection, actor: &Actor) -> Result<Vec<Invitation>, AppError> {
    load_invitations(conn, None, Some(&actor.user_id))
}

/// What an admin's request to add someone did.
#[derive(Debug, Clone)]
pub enum MemberChange {
    /// An account that is not a member was invited; it joins when it accepts.
    Invited(Invitation),
    /// A member's role changed.
    RoleChanged(Member),
}

/// Invites an existing account to the organisation, or changes a member's role; admins and
/// operators. Nobody becomes a member without accepting: the invited account sees the
/// invitation on its dashboard (and at `GET /api/v1/invitations`) for
/// [`INVITATION_DAYS`] days.
pub fn add_member(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    email: &str,
    role: &str,
) -> Result<MemberChange, AppError> {
    Access::to_organisation(conn, actor, id)?.require_admin()?;
    let email = Email::parse("email", email)?;
    let role = MemberRole::parse("role", role)?;
    write_transaction(conn, |tx| {
        let user = super::users::User::find_by_email(tx, email.as_str())?.ok_or_else(|| {
            invalid(
                "email",
                format!("no account for {email}; ask them to sign up first"),
            )
        })?;
        let existing: Option<String> = memberships::table
            .filter(memberships::organisation_id.eq(id))
            .filter(memberships::user_id.eq(&user.id))
            .select(memberships::role)
            .first(tx)
            .optional()?;
        match existing.as_deref() {
            Some(current) if current == role.as_str() => Err(AppError::Conflict(format!(
                "{email} is already a {} of this organisation",
                role.as_str()
            ))),
            Some(_) => {
                ensure_another_admin_remains(tx, id, &user.id)?;
                diesel::update(
                    memberships::table
                        .filter(memberships::organisation_id.eq(id))
                        .filter(memberships::user_id.eq(&user.id)),
                )
                .set(memberships::role.eq(role.as_str()))
                .execute(tx)?;
                Event::new(actor, "membership.role", "user", &user.id)
                    .organisation(id)
                    .details(serde_json::json!({"email": user.email, "role": role.as_str(), "previous_role": existing}))
                    .record(tx)?;
                load_members(tx, id)?
                    .into_iter()
                    .find(|m| m.user_id == user.id)
                    .map(MemberChange::RoleChanged)
                    .ok_or(AppError::NotFound("member"))
            }
            None => {
                let at = now();
                // An expired invitation is replaced; a pending one is a conflict.
                diesel::delete(
                    invitations::table
                        .filter(invitations::organisation_id.eq(id))
                        .filter(invitations::user_id.eq(&user.id))
                        .filter(invitations::expires_at.le(at)),
                )
                .execute(tx)?;
                let inserted = diesel::insert_into(invitations::table)
                    .values((
                        invitations::organisation_id.eq(id),
                        invitations::user_id.eq(&user.id),
                        invitations::role.eq(role.as_str()),
                        invitations::invited_by.eq(actor.audit_name()),
                        invitations::created_at.eq(at),
                        invitations::expires_at.eq(at + time::Duration::days(INVITATION_DAYS)),
                    ))
                    .execute(tx);
                match inserted {
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => {
                        return Err(AppError::Conflict(format!(
                            "{email} is already invited to this organisation"
                        )));
                    }
                    other => other?,
                };
                Event::new(actor, "invitation.create", "user", &user.id)
                    .organisation(id)
                    .details(serde_json::json!({"email": user.email, "role": role.as_str()}))
                    .record(tx)?;
                load_invitations(tx, Some(id), Some(&user.id))?
                    .into_iter()
                    .next()
                    .map(MemberChange::Invited)
                    .ok_or(AppError::NotFound("invitation"))
            }
        }
    })
}

/// The invited account's answer: accepting makes it a member with the invited role;
/// declining drops the invitation. 404 when there is no pending invitation.
pub fn answer_invitation(
    conn: &mut DbConnection,
    actor: &Actor,
    organisation_id: &str,
    accept: bool,
) -> Result<Option<Member>, AppError> {
    write_transaction(conn, |tx| {
        let invitation = load_invitations(tx, Some(organisation_id), Some(&actor.user_id))?
            .into_iter()
            .next()
            .ok_or(AppError::NotFound("invitation"))?;
        diesel::delete(
            invitations::table
                .filter(invitations::organisation_id.eq(organisation_id))
                .filter(invitations::user_id.eq(&actor.user_id)),
        )
        .execute(tx)?;
        if !accept {
            Event::new(actor, "invitation.decline", "user", &actor.user_id)
                .organisation(organisation_id)
                .record(tx)?;
            return Ok(None);
        }
        diesel::insert_into(memberships::table)
            .values((
                memberships::organisation_id.eq(organisation_id),
                memberships::user_id.eq(&actor.user_id),
                memberships::role.eq(invitation.role.as_str()),
                memberships::created_at.eq(now()),
            ))
            .execute(tx)?;
        Event::new(actor, "membership.add", "user", &actor.user_id)
            .organisation(organisation_id)
            .details(serde_json::json!({"email": invitation.email, "role": invitation.role.as_str(), "invited_by": invitation.invited_by}))
            .record(tx)?;
        load_members(tx, organisation_id)?
            .into_iter()
            .find(|m| m.user_id == actor.user_id)
            .map(Some)
            .ok_or(AppError::NotFound("member"))
    })
}

/// Forgets expired invitations; returns how many.
pub fn sweep_invitations(conn: &mut DbConnection) -> QueryResult<usize> {
    diesel::delete(invitations::table.filter(invitations::expires_at.le(now()))).execute(conn)
}

/// Removes a member, or withdraws an account's pending invitation; admins and operators.
/// The last admin cannot be removed.
pub fn remove_member(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    user_id: &str,
) -> Result<(), AppError> {
    Access::to_organisation(conn, actor, id)?.require_admin()?;
    write_transaction(conn, |tx| {
        let Some(member) = load_members(tx, id)?
            .into_iter()
            .find(|m| m.user_id == user_id)
        else {
            // Not a member: withdraw a pending invitation, if there is one.
            let withdrawn = diesel::delete(
                invitations::table
                    .filter(invitations::organisation_id.eq(id))
                    .filter(invitations::user_id.eq(user_id))
                    .filter(invitations::expires_at.gt(now())),
            )
            .execute(tx)?;
            if withdrawn == 0 {
                return Err(AppError::NotFound("member"));
            }
            Event::new(actor, "invitation.withdraw", "user", user_id)
                .organisation(id)
                .record(tx)?;
            return Ok(());
        };
        ensure_another_admin_remains(tx, id, user_id)?;
        diesel::delete(
            memberships::table
                .filter(memberships::organisation_id.eq(id))
                .filter(memberships::user_id.eq(user_id)),
        )
        .execute(tx)?;
        Event::new(actor, "membership.remove", "user", user_id)
            .organisation(id)
            .details(serde_json::json!({"email": member.email, "role": member.role.as_str()}))
            .record(tx)?;
        Ok(())
    })
}

/// Refuses a change that would leave the organisation without an admin.
fn ensure_another_admin_remains(
    conn: &mut DbConnection,
    id: &str,
    user_id: &str,
) -> Result<(), AppError> {
    let other_admins: i64 = memberships::table
        .filter(memberships::organisation_id.eq(id))
        .filter(memberships::role.eq(MemberRole::Admin.as_str()))
        .filter(memberships::user_id.ne(user_id))
        .count()
        .get_result(conn)?;
    let is_admin: i64 = memberships::table
        .filter(memberships::organisation_id.eq(id))
        .filter(memberships::role.eq(MemberRole::Admin.as_str()))
        .filter(memberships::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    if is_admin > 0 && other_admins == 0 {
        return Err(AppError::Conflict(
            "the organisation must keep at least one admin; add another admin first".into(),
        ));
    }
    Ok(())
}

/// Replaces the organisation's published authorization servers; admins and operators, for
/// ASPSPs only.
pub fn set_authorization_servers(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    servers: &[AuthorizationServer],
) -> Result<Organisation, AppError> {
    Access::to_organisation(conn, actor, id)?.require_admin()?;
    if servers.len() > 10 {
        return Err(invalid("authorization_servers", "at most 10"));
    }
    let servers = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(AuthorizationServer {
                issuer: HttpsUrl::parse(&format!("authorization_servers[{i}].issuer"), &s.issuer)?
                    .into_string(),
                registration_endpoint: HttpsUrl::parse(
                    &format!("authorization_servers[{i}].registration_endpoint"),
                    &s.registration_endpoint,
                )?
                .into_string(),
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    write_transaction(conn, |tx| {
        let org = Organisation::load(tx, id)?;
        if !servers.is_empty() && !org.roles.contains(&RegulatedRole::Aspsp) {
            return Err(invalid(
                "authorization_servers",
                "only ASPSPs publish authorization servers",
            ));
        }
        diesel::update(organisations::table.find(id))
            .set((
                organisations::authorization_servers.eq(to_json(&servers)),
                organisations::updated_at.eq(now()),
            ))
            .execute(tx)?;
        Event::new(
            actor,
            "organisation.authorization_servers",
            "organisation",
            id,
        )
        .organisation(id)
        .details(serde_json::json!({"authorization_servers": servers}))
        .record(tx)?;
        Organisation::load(tx, id)
    })
}
