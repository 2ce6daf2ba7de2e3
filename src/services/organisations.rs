//! Organisations: applications, operator decisions (which certificates follow), members and
//! their invitations, and authorization servers.

use std::sync::Arc;

use super::{Directory, access, certificates};
use crate::keys::credentials;
use crate::model::audit::{AuditEvent, Entry};
use crate::model::inputs::{Contact, Country, Email, MemberRole, RegulatedRole, text};
use crate::model::organisation::{
    AddressInvitation, Application, AuthorizationServer, Claimant, ContestedIssuer,
    INVITATION_DAYS, Invitation, IssuerClaim, Member, MemberChange, Organisation,
    OrganisationFilter,
};
use crate::model::page::{parse_time_position, time_position};
use crate::model::{
    Access, Actor, Error, OrgId, Page, PageRequest, Result, Status, Timestamp, Transition, UserId,
    invalid,
};
use crate::store::{self, DbConnection, is_unique_violation, write_transaction};

/// Applies to onboard an organisation; the applicant becomes its admin. Status: pending.
pub fn apply_in(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &Application,
    at: Timestamp,
) -> Result<Organisation> {
    super::verification::require_verified(conn, actor)?;
    let org = Organisation {
        id: OrgId::random(),
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
        roles: RegulatedRole::parse_list("roles", &input.roles)?,
        business_contact: Contact::parse("business_contact", &input.business_contact)?,
        technical_contact: Contact::parse("technical_contact", &input.technical_contact)?,
        authorization_servers: vec![],
        status: Status::Pending,
        status_reason: None,
        require_second_factor: false,
        notify_contacts: false,
        created_at: at,
        updated_at: at,
    };
    write_transaction(conn, |tx| {
        store::organisations::insert(tx, &org)?;
        if let Some(user) = actor.user_id() {
            store::organisations::insert_member(tx, org.id, user, MemberRole::Admin, at)?;
        }
        store::audit::record(
            tx,
            Entry::new(at, actor, "organisation.apply", "organisation", org.id)
                .organisation(org.id)
                .status(None, Some(Status::Pending.as_str()))
                .details(serde_json::json!({"legal_name": org.legal_name})),
        )?;
        Ok(org)
    })
}

/// [`apply_in`] on the blocking pool.
pub async fn apply(dir: &Arc<Directory>, actor: Actor, input: Application) -> Result<Organisation> {
    let at = dir.now();
    dir.db(move |conn| apply_in(conn, &actor, &input, at)).await
}

/// Organisations the actor may see: all for operators, their own for members.
pub fn list_in(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &OrganisationFilter,
    page: PageRequest,
) -> Result<Page<Organisation>> {
    Ok(store::organisations::list(
        conn,
        member_of(actor)?,
        filter,
        page,
    )?)
}

/// Whose memberships bound a list: nobody's for operators, the account's for members.
fn member_of(actor: &Actor) -> Result<Option<UserId>> {
    if actor.is_operator() {
        Ok(None)
    } else {
        Ok(Some(
            actor.user_id().ok_or(Error::NotFound("organisation"))?,
        ))
    }
}

pub async fn list(
    dir: &Arc<Directory>,
    actor: Actor,
    filter: OrganisationFilter,
    page: PageRequest,
) -> Result<Page<Organisation>> {
    dir.db(move |conn| list_in(conn, &actor, &filter, page))
        .await
}

/// Where the organisations list goes on after `org` (its `next`).
pub fn position(org: &Organisation) -> String {
    time_position(org.created_at, &org.id)
}

/// The organisations of the filter after `after` (a list page's `next`, see [`position`]): a
/// keyset page, oldest first, as cheap as the first however deep.
pub async fn list_after(
    dir: &Arc<Directory>,
    actor: Actor,
    filter: OrganisationFilter,
    after: &str,
    per_page: i64,
) -> Result<Page<Organisation>> {
    let key = parse_time_position(after)?;
    let member = member_of(&actor)?;
    dir.db(move |conn| {
        let items = store::organisations::after(conn, member, &filter, Some(key), per_page)?;
        let total = store::organisations::count(conn, member, &filter)?;
        Ok(Page::keyset(items, per_page, total, position))
    })
    .await
}

/// An organisation as a line of the CSV export (its contacts, personal data, are left out:
/// the portal shows them).
#[derive(Debug, serde::Serialize)]
struct Exported {
    id: OrgId,
    legal_name: String,
    registration_number: String,
    country: String,
    competent_authority: String,
    authority_registration_id: String,
    /// Space-separated.
    roles: String,
    status: Status,
    #[serde(with = "crate::model::time::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "crate::model::time::rfc3339")]
    updated_at: Timestamp,
    /// For the keyset, not exported.
    #[serde(skip)]
    key: (Timestamp, OrgId),
}

const EXPORT_COLUMNS: &[&str] = &[
    "id",
    "legal_name",
    "registration_number",
    "country",
    "competent_authority",
    "authority_registration_id",
    "roles",
    "status",
    "created_at",
    "updated_at",
];

/// The organisations of the filter the actor may see, oldest first, as CSV, streamed a
/// keyset page at a time (see [`super::export`]).
pub fn export(
    dir: Arc<Directory>,
    actor: Actor,
    filter: OrganisationFilter,
) -> Result<impl futures_util::Stream<Item = Result<bytes::Bytes>>> {
    let member = member_of(&actor)?;
    Ok(super::export::stream(
        dir,
        EXPORT_COLUMNS,
        move |conn, after| {
            let page =
                store::organisations::after(conn, member, &filter, after, super::export::PAGE)?;
            Ok(page
                .into_iter()
                .map(|org| Exported {
                    key: (org.created_at, org.id),
                    id: org.id,
                    legal_name: org.legal_name,
                    registration_number: org.registration_number,
                    country: org.country,
                    competent_authority: org.competent_authority,
                    authority_registration_id: org.authority_registration_id,
                    roles: org
                        .roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    status: org.status,
                    created_at: org.created_at,
                    updated_at: org.updated_at,
                })
                .collect())
        },
        |row: &Exported| row.key,
    ))
}

/// The organisations the account belongs to, whatever its operator flag (its dashboard).
pub fn memberships_in(conn: &mut DbConnection, user: UserId) -> Result<Vec<Organisation>> {
    Ok(store::organisations::list(
        conn,
        Some(user),
        &OrganisationFilter::default(),
        PageRequest::all(),
    )?
    .items)
}

/// One organisation and the actor's access to it; 404 for those who may not see it.
pub fn get_in(conn: &mut DbConnection, actor: &Actor, id: OrgId) -> Result<(Organisation, Access)> {
    access::organisation(conn, actor, id)
}

pub async fn get(dir: &Arc<Directory>, actor: Actor, id: OrgId) -> Result<(Organisation, Access)> {
    dir.db(move |conn| get_in(conn, &actor, id)).await
}

/// An operator's decision. Reject, suspend and revoke need a reason, which members see. The
/// organisation's certificates follow in the same transaction (suspension holds them,
/// reinstatement releases them, revocation revokes them), and the CRL and OCSP answers
/// reflect it once it commits.
pub async fn transition(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    transition: Transition,
    reason: Option<String>,
) -> Result<Organisation> {
    let (at, shared) = (dir.now(), dir.clone());
    let org = dir
        .db(move |conn| {
            access::to_organisation(conn, &actor, id)?.require_operator()?;
            let reason = transition.reason(reason.as_deref())?;
            write_transaction(conn, |tx| {
                let current =
                    store::organisations::find(tx, id)?.ok_or(Error::NotFound("organisation"))?;
                let next = current.status.apply(transition)?;
                // Conditional on the status read: a concurrent decision makes this a conflict.
                if !store::organisations::set_status(
                    tx,
                    id,
                    current.status,
                    next,
                    reason.as_deref(),
                    at,
                )? {
                    return Err(Error::Conflict(
                        "the organisation changed meanwhile; reload and try again".into(),
                    ));
                }
                certificates::follow_owner_status(tx, &actor, id, None, next, at)?;
                store::audit::record(
                    tx,
                    Entry::new(
                        at,
                        &actor,
                        format!("organisation.{}", transition.as_str()),
                        "organisation",
                        id,
                    )
                    .organisation(id)
                    .status(Some(current.status.as_str()), Some(next.as_str()))
                    .reason(reason.as_deref()),
                )?;
                let org =
                    store::organisations::find(tx, id)?.ok_or(Error::NotFound("organisation"))?;
                // Its admins hear of the decision, in this transaction.
                let page = format!("{}/organisations/{id}", shared.public_url);
                let notice = |to: &str| {
                    super::notices::decided(
                        to,
                        "organisation",
                        &org.legal_name,
                        transition.as_str(),
                        reason.as_deref(),
                        page.clone(),
                    )
                };
                super::mail::to_admins(tx, &shared.mailer.composer, id, notice, at)?;
                Ok(org)
            })
        })
        .await?;
    certificates::changed(dir).await?;
    Ok(org)
}

/// An organisation's people: its members, the accounts invited, and the addresses without an
/// account invited by mail.
pub struct Roster {
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
    pub mailed: Vec<AddressInvitation>,
}

/// The organisation's members and pending invitations; for its members and operators.
pub fn members_in(
    conn: &mut DbConnection,
    actor: &Actor,
    id: OrgId,
    at: Timestamp,
) -> Result<Roster> {
    access::to_organisation(conn, actor, id)?;
    Ok(Roster {
        members: store::organisations::members(conn, id)?,
        invitations: store::organisations::invitations(conn, Some(id), None, at)?,
        mailed: store::organisations::address_invitations(conn, id, at)?,
    })
}

pub async fn members(dir: &Arc<Directory>, actor: Actor, id: OrgId) -> Result<Roster> {
    let at = dir.now();
    dir.db(move |conn| members_in(conn, &actor, id, at)).await
}

/// Withdraws the invitation mailed to an address without an account; admins and operators.
/// 404 when there is none pending. Audited as `invitation.withdraw`.
pub async fn withdraw_address_invitation(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    email: String,
) -> Result<()> {
    let at = dir.now();
    dir.db(move |conn| {
        access::to_organisation(conn, &actor, id)?.require_admin()?;
        let email = email.trim().to_lowercase();
        write_transaction(conn, |tx| {
            if !store::organisations::delete_address_invitation(tx, id, &email, at)? {
                return Err(Error::NotFound("invitation"));
            }
            store::audit::record(
                tx,
                Entry::new(at, &actor, "invitation.withdraw", "organisation", id)
                    .organisation(id)
                    .details(serde_json::json!({"email": email, "account": false})),
            )?;
            Ok(())
        })
    })
    .await
}

/// The caller's own pending invitations.
pub fn my_invitations_in(
    conn: &mut DbConnection,
    actor: &Actor,
    at: Timestamp,
) -> Result<Vec<Invitation>> {
    match actor.user_id() {
        Some(user) => Ok(store::organisations::invitations(
            conn,
            None,
            Some(user),
            at,
        )?),
        None => Ok(vec![]),
    }
}

pub async fn my_invitations(dir: &Arc<Directory>, actor: Actor) -> Result<Vec<Invitation>> {
    let at = dir.now();
    dir.db(move |conn| my_invitations_in(conn, &actor, at))
        .await
}

/// Refuses a change that would leave the organisation without an admin.
fn ensure_another_admin_remains(conn: &mut DbConnection, id: OrgId, user: UserId) -> Result<()> {
    let is_admin = store::organisations::role_of(conn, id, user)? == Some(MemberRole::Admin);
    if is_admin && store::organisations::other_admins(conn, id, user)? == 0 {
        return Err(Error::Conflict(
            "the organisation must keep at least one admin; add another admin first".into(),
        ));
    }
    Ok(())
}

/// Invites an existing account to the organisation, or changes a member's role; admins and
/// operators. Nobody becomes a member without accepting: the invited account sees the
/// invitation on its dashboard (and at `GET /api/v1/invitations`) for [`INVITATION_DAYS`]
/// days.
pub fn add_member_in(
    conn: &mut DbConnection,
    actor: &Actor,
    id: OrgId,
    email: &str,
    role: &str,
    notify: Option<&crate::mail::Mailer>,
    at: Timestamp,
) -> Result<MemberChange> {
    access::to_organisation(conn, actor, id)?.require_admin()?;
    let email = Email::parse("email", email)?;
    let role = MemberRole::parse("role", role)?;
    write_transaction(conn, |tx| {
        let Some(user) = store::users::find_by_email(tx, email.as_str())? else {
            let Some(mailer) = notify else {
                return Err(invalid(
                    "email",
                    format!("no account for {email}; ask them to sign up first"),
                ));
            };
            return invite_address(tx, mailer, actor, id, &email, role, at)
                .map(MemberChange::Mailed);
        };
        super::verification::require_invitable(&user)?;
        let existing = store::organisations::role_of(tx, id, user.id)?;
        match existing {
            Some(current) if current == role => Err(Error::Conflict(format!(
                "{email} is already a {} of this organisation",
                role.as_str()
            ))),
            Some(previous) => {
                ensure_another_admin_remains(tx, id, user.id)?;
                store::organisations::set_role(tx, id, user.id, role)?;
                store::audit::record(
                    tx,
                    Entry::new(at, actor, "membership.role", "user", user.id)
                        .organisation(id)
                        .details(serde_json::json!({"email": user.email, "role": role.as_str(), "previous_role": previous.as_str()})),
                )?;
                store::organisations::members(tx, id)?
                    .into_iter()
                    .find(|m| m.user_id == user.id)
                    .map(MemberChange::RoleChanged)
                    .ok_or(Error::NotFound("member"))
            }
            None => {
                // An expired invitation is replaced; a pending one is a conflict.
                store::organisations::delete_invitation(tx, id, user.id, true, at)?;
                let expires = at + time::Duration::days(INVITATION_DAYS);
                match store::organisations::insert_invitation(
                    tx,
                    id,
                    user.id,
                    role,
                    &actor.audit_name(),
                    expires,
                    at,
                ) {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(Error::Conflict(format!(
                            "{email} is already invited to this organisation"
                        )));
                    }
                    other => other?,
                }
                store::audit::record(
                    tx,
                    Entry::new(at, actor, "invitation.create", "user", user.id)
                        .organisation(id)
                        .details(serde_json::json!({"email": user.email, "role": role.as_str()})),
                )?;
                if let Some(mailer) = notify {
                    let org = store::organisations::find(tx, id)?
                        .ok_or(Error::NotFound("organisation"))?;
                    let page = format!("{}/dashboard", mailer.composer.public_url());
                    let notice = super::notices::invited(
                        &user.email,
                        &org.legal_name,
                        role.as_str(),
                        &actor.audit_name(),
                        page,
                    );
                    super::mail::queue(tx, &mailer.composer, Some(user.id), &notice, at)?;
                }
                store::organisations::invitations(tx, Some(id), Some(user.id), at)?
                    .into_iter()
                    .next()
                    .map(MemberChange::Invited)
                    .ok_or(Error::NotFound("invitation"))
            }
        }
    })
}

/// Invites an address that has no account: a sign-up link is mailed, and the account made
/// with the address joins with `role` once it verifies the address (within the invitation's
/// days). 409 when one is pending.
fn invite_address(
    tx: &mut DbConnection,
    mailer: &crate::mail::Mailer,
    actor: &Actor,
    id: OrgId,
    email: &Email,
    role: MemberRole,
    at: Timestamp,
) -> Result<AddressInvitation> {
    let invitation = AddressInvitation {
        organisation_id: id,
        email: email.as_str().to_owned(),
        role,
        invited_by: actor.audit_name(),
        created_at: at,
        expires_at: at + time::Duration::days(INVITATION_DAYS),
    };
    if !store::organisations::insert_address_invitation(tx, &invitation)? {
        return Err(Error::Conflict(format!(
            "{email} is already invited to this organisation"
        )));
    }
    store::audit::record(
        tx,
        Entry::new(at, actor, "invitation.create", "organisation", id)
            .organisation(id)
            .details(serde_json::json!({"email": invitation.email, "role": role.as_str(), "account": false})),
    )?;
    let org = store::organisations::find(tx, id)?.ok_or(Error::NotFound("organisation"))?;
    let link = format!(
        "{}/signup?email={}",
        mailer.composer.public_url(),
        percent_encoding::utf8_percent_encode(
            &invitation.email,
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let notice = super::notices::invited_to_sign_up(
        &invitation.email,
        &org.legal_name,
        role.as_str(),
        &invitation.invited_by,
        link,
    );
    super::mail::queue(tx, &mailer.composer, None, &notice, at)?;
    Ok(invitation)
}

pub async fn add_member(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    email: String,
    role: String,
) -> Result<MemberChange> {
    let at = dir.now();
    let shared = dir.clone();
    dir.db(move |conn| add_member_in(conn, &actor, id, &email, &role, Some(&shared.mailer), at))
        .await
}

/// The invited account's answer: accepting makes it a member with the invited role;
/// declining drops the invitation. 404 when there is no pending invitation.
pub async fn answer_invitation(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    accept: bool,
) -> Result<Option<Member>> {
    let at = dir.now();
    dir.db(move |conn| {
        let user = actor.user_id().ok_or(Error::NotFound("invitation"))?;
        write_transaction(conn, |tx| {
            let invitation = store::organisations::invitations(tx, Some(id), Some(user), at)?
                .into_iter()
                .next()
                .ok_or(Error::NotFound("invitation"))?;
            store::organisations::delete_invitation(tx, id, user, false, at)?;
            if !accept {
                store::audit::record(
                    tx,
                    Entry::new(at, &actor, "invitation.decline", "user", user).organisation(id),
                )?;
                return Ok(None);
            }
            store::organisations::insert_member(tx, id, user, invitation.role, at)?;
            store::audit::record(
                tx,
                Entry::new(at, &actor, "membership.add", "user", user)
                    .organisation(id)
                    .details(serde_json::json!({"email": invitation.email, "role": invitation.role.as_str(), "invited_by": invitation.invited_by})),
            )?;
            store::organisations::members(tx, id)?
                .into_iter()
                .find(|m| m.user_id == user)
                .map(Some)
                .ok_or(Error::NotFound("member"))
        })
    })
    .await
}

/// Removes a member, or withdraws an account's pending invitation; admins and operators.
/// The last admin cannot be removed.
pub async fn remove_member(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    user: UserId,
) -> Result<()> {
    let at = dir.now();
    dir.db(move |conn| {
        access::to_organisation(conn, &actor, id)?.require_admin()?;
        write_transaction(conn, |tx| {
            let Some(member) = store::organisations::members(tx, id)?
                .into_iter()
                .find(|m| m.user_id == user)
            else {
                // Not a member: withdraw a pending invitation, if there is one.
                if !store::organisations::delete_invitation(tx, id, user, false, at)? {
                    return Err(Error::NotFound("member"));
                }
                store::audit::record(
                    tx,
                    Entry::new(at, &actor, "invitation.withdraw", "user", user).organisation(id),
                )?;
                return Ok(());
            };
            ensure_another_admin_remains(tx, id, user)?;
            store::organisations::delete_member(tx, id, user)?;
            store::audit::record(
                tx,
                Entry::new(at, &actor, "membership.remove", "user", user)
                    .organisation(id)
                    .details(
                        serde_json::json!({"email": member.email, "role": member.role.as_str()}),
                    ),
            )?;
            Ok(())
        })
    })
    .await
}

/// Replaces the organisation's published authorization servers; admins and operators, for
/// ASPSPs only.
pub async fn set_authorization_servers(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    servers: Vec<AuthorizationServer>,
) -> Result<Organisation> {
    let at = dir.now();
    dir.db(move |conn| {
        access::to_organisation(conn, &actor, id)?.require_admin()?;
        let servers = AuthorizationServer::parse_list(&servers)?;
        write_transaction(conn, |tx| {
            let org = store::organisations::find(tx, id)?.ok_or(Error::NotFound("organisation"))?;
            if !servers.is_empty() && !org.roles.contains(&RegulatedRole::Aspsp) {
                return Err(invalid(
                    "authorization_servers",
                    "only ASPSPs publish authorization servers",
                ));
            }
            // An issuer is one entity in the federation: not one another organisation
            // proved it controls, not a product's own entity identifier. An unproven claim
            // (anyone's, this one too) blocks nobody and counts for nothing until proven.
            let proven = store::issuers::proven(tx)?;
            for (i, server) in servers.iter().enumerate() {
                let taken = proven
                    .iter()
                    .any(|(org, issuer)| *org != id && *issuer == server.issuer);
                if taken || store::federation::software_of(tx, &server.issuer)?.is_some() {
                    return Err(invalid(
                        &format!("authorization_servers[{i}].issuer"),
                        "is another participant's entity identifier",
                    ));
                }
            }
            store::organisations::set_authorization_servers(tx, id, &servers, at)?;
            let issuers: Vec<String> = servers.iter().map(|s| s.issuer.clone()).collect();
            store::issuers::sync(tx, id, &issuers, credentials::new_challenge, at)?;
            store::audit::record(
                tx,
                Entry::new(
                    at,
                    &actor,
                    "organisation.authorization_servers",
                    "organisation",
                    id,
                )
                .organisation(id)
                .details(serde_json::json!({"authorization_servers": servers})),
            )?;
            store::organisations::find(tx, id)?.ok_or(Error::NotFound("organisation"))
        })
    })
    .await
}

/// Sets whether the organisation requires a second factor of its members; its admins and
/// operators. An admin without a second factor cannot require one (it would lock them out).
pub async fn set_second_factor_policy(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    required: bool,
) -> Result<Organisation> {
    let at = dir.now();
    dir.db(move |conn| {
        access::to_organisation(conn, &actor, id)?.require_admin()?;
        if required
            && let Some(user) = actor.user_id()
            && !actor.is_operator()
            && !store::sessions::has_second_factor(conn, user)?
        {
            return Err(Error::Conflict(
                "add a second factor to your own account before requiring one of everyone".into(),
            ));
        }
        write_transaction(conn, |tx| {
            let org = store::organisations::find(tx, id)?.ok_or(Error::NotFound("organisation"))?;
            if org.require_second_factor == required {
                return Ok(org);
            }
            store::organisations::set_requires_second_factor(tx, id, required, at)?;
            store::audit::record(
                tx,
                Entry::new(
                    at,
                    &actor,
                    "organisation.second_factor_policy",
                    "organisation",
                    id,
                )
                .organisation(id)
                .details(serde_json::json!({"require_second_factor": required})),
            )?;
            store::organisations::find(tx, id)?.ok_or(Error::NotFound("organisation"))
        })
    })
    .await
}

/// Sets whether the organisation's notices are mailed to its business and technical contacts
/// too; its admins and operators. Audited as `organisation.notify_contacts`.
pub async fn set_notify_contacts(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    on: bool,
) -> Result<Organisation> {
    let at = dir.now();
    dir.db(move |conn| {
        access::to_organisation(conn, &actor, id)?.require_admin()?;
        write_transaction(conn, |tx| {
            store::organisations::set_notify_contacts(tx, id, on, at)?;
            store::audit::record(
                tx,
                Entry::new(
                    at,
                    &actor,
                    "organisation.notify_contacts",
                    "organisation",
                    id,
                )
                .organisation(id)
                .details(serde_json::json!({"notify_contacts": on})),
            )?;
            store::organisations::find(tx, id)?.ok_or(Error::NotFound("organisation"))
        })
    })
    .await
}

/// The organisation's claims to its servers' issuers and what proves each; for its members
/// and operators.
pub async fn issuer_claims(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
) -> Result<Vec<IssuerClaim>> {
    dir.db(move |conn| {
        access::to_organisation(conn, &actor, id)?;
        claims_in(conn, id)
    })
    .await
}

fn claims_in(conn: &mut DbConnection, id: OrgId) -> Result<Vec<IssuerClaim>> {
    store::issuers::of(conn, id)?
        .into_iter()
        .map(|claim| {
            let contested = store::issuers::to(conn, &claim.issuer)?.len() > 1;
            Ok(IssuerClaim::new(
                id,
                claim.issuer,
                &claim.token,
                claim.verified_at,
                contested,
            ))
        })
        .collect()
}

/// Proves the organisation's control of one of its servers' issuers: the directory fetches
/// the claim's challenge URL below the issuer (under the push guards: no private address, no
/// redirect, 10 s) and expects the claim's answer. Admins and operators. Proven, the server is
/// published and listed in the federation, and its hosts may be certified. When another
/// organisation holds the issuer proven, the answer is `409` and the operator's queue shows
/// the issuer as contested.
pub async fn verify_issuer(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    issuer: String,
) -> Result<IssuerClaim> {
    let at = dir.now();
    let who = actor.clone();
    let wanted = issuer.clone();
    let claim = dir
        .db(move |conn| {
            access::to_organisation(conn, &who, id)?.require_admin()?;
            claims_in(conn, id)?
                .into_iter()
                .find(|c| c.issuer == wanted)
                .ok_or_else(|| {
                    invalid(
                        "issuer",
                        "is not one of the organisation's authorization servers (publish it first)",
                    )
                })
        })
        .await?;
    let body = dir
        .transmitter
        .fetch(&claim.challenge_url, "text/plain", 1024)
        .await
        .map_err(|why| {
            invalid(
                "issuer",
                format!(
                    "the challenge at {} cannot be read: {why}",
                    claim.challenge_url
                ),
            )
        })?;
    if body.trim() != claim.answer {
        return Err(invalid(
            "issuer",
            format!(
                "{} does not answer the challenge (it must answer {})",
                claim.challenge_url, claim.answer
            ),
        ));
    }
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            access::to_organisation(tx, &actor, id)?.require_admin()?;
            match store::issuers::set_verified(tx, id, &issuer, Some(at)) {
                Ok(true) => {}
                Ok(false) => return Err(Error::NotFound("issuer claim")),
                Err(e) if store::is_unique_violation(&e) => {
                    return Err(Error::Conflict(
                        "another organisation holds this issuer proven; the operator's queue shows it as contested and the operator decides".into(),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            store::audit::record(
                tx,
                Entry::new(at, &actor, "organisation.issuer_verified", "organisation", id)
                    .organisation(id)
                    .details(serde_json::json!({"issuer": issuer})),
            )?;
            claims_in(tx, id)?
                .into_iter()
                .find(|c| c.issuer == issuer)
                .ok_or(Error::NotFound("issuer claim"))
        })
    })
    .await
}

/// Withdraws an organisation's proof of control of an issuer (operators, settling a
/// contested issuer): the claim stays, unproven, until the organisation proves it again.
pub async fn release_issuer(
    dir: &Arc<Directory>,
    actor: Actor,
    id: OrgId,
    issuer: String,
    reason: String,
) -> Result<()> {
    let at = dir.now();
    actor.require_operator()?;
    let reason = reason.trim().to_owned();
    if reason.is_empty() || reason.len() > 500 {
        return Err(invalid("reason", "say why, in 1 to 500 characters"));
    }
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            if !store::issuers::set_verified(tx, id, &issuer, None)? {
                return Err(Error::NotFound("issuer claim"));
            }
            store::audit::record(
                tx,
                Entry::new(
                    at,
                    &actor,
                    "organisation.issuer_released",
                    "organisation",
                    id,
                )
                .organisation(id)
                .reason(Some(&reason))
                .details(serde_json::json!({"issuer": issuer})),
            )?;
            Ok(())
        })
    })
    .await
}

/// Issuers that more than one organisation claims; operators only.
pub async fn contested_issuers(dir: &Arc<Directory>, actor: Actor) -> Result<Vec<ContestedIssuer>> {
    actor.require_operator()?;
    dir.db(move |conn| {
        let mut contested: Vec<ContestedIssuer> = vec![];
        for (issuer, org, legal_name, proven) in store::issuers::contested(conn)? {
            let claimant = Claimant {
                organisation_id: org,
                legal_name,
                proven,
            };
            match contested.last_mut() {
                Some(last) if last.issuer == issuer => last.claimants.push(claimant),
                _ => contested.push(ContestedIssuer {
                    issuer,
                    claimants: vec![claimant],
                }),
            }
        }
        Ok(contested)
    })
    .await
}

/// The history of an organisation (its own events and those of its software and members),
/// newest first; for its members and operators.
pub fn history_in(
    conn: &mut DbConnection,
    actor: &Actor,
    id: OrgId,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    access::to_organisation(conn, actor, id)?;
    Ok(store::audit::organisation_history(
        conn,
        &id.to_string(),
        limit,
    )?)
}

/// The organisations the account belongs to, whatever its operator flag (its dashboard).
pub async fn memberships(dir: &Arc<Directory>, user: UserId) -> Result<Vec<Organisation>> {
    dir.db(move |conn| memberships_in(conn, user)).await
}

/// What an organisation's page shows: the organisation, the caller's access, its members and
/// invitations, its products, its history and its own keys.
pub struct OrganisationView {
    pub org: Organisation,
    pub access: Access,
    pub roster: Roster,
    pub software: Vec<crate::model::software::Software>,
    pub history: Vec<AuditEvent>,
    pub keys: Vec<crate::model::keys::ParticipantKey>,
    pub issuer_claims: Vec<IssuerClaim>,
}

/// Everything an organisation's page shows, in one database call; for its members and
/// operators.
pub async fn view(dir: &Arc<Directory>, actor: Actor, id: OrgId) -> Result<OrganisationView> {
    let at = dir.now();
    dir.db(move |conn| {
        let (org, access) = get_in(conn, &actor, id)?;
        let roster = members_in(conn, &actor, id, at)?;
        let software = super::software::list_in(
            conn,
            &actor,
            Some(id),
            crate::model::software::SoftwareFilter::default(),
            PageRequest::all(),
        )?
        .items;
        let history = history_in(conn, &actor, id, 50)?;
        let keys =
            super::keystore::list_in(conn, &actor, crate::model::keys::KeyOwner::Organisation(id))?;
        let issuer_claims = claims_in(conn, id)?;
        Ok(OrganisationView {
            org,
            access,
            roster,
            software,
            history,
            keys,
            issuer_claims,
        })
    })
    .await
}
