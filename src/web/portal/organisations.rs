//! Applying for an organisation, its page, operator decisions and members.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::web;
use serde::Deserialize;

use super::keys;
use super::pages::{ApplyForm, ApplyPage, OrganisationPage};
use super::{
    PortalPath, PortalResult, SignedIn, SteppedUp, ctx, form_message, redirect, render, render_with,
};
use crate::model::Error;
use crate::model::account::User;
use crate::model::event::EventKind;
use crate::model::inputs::{Contact, RegulatedRole};
use crate::model::keys::KeyOwner;
use crate::model::organisation::{Application, AuthorizationServer, MemberChange};
use crate::model::{OrgId, Transition, UserId};
use crate::services::{Directory, organisations};
use crate::web::auth::{self, PortalForm};
use crate::web::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/organisations/new", web::get().to(apply_page))
        .route("/organisations/new", web::post().to(apply))
        .route("/organisations/{org_id}", web::get().to(show))
        .route("/organisations/{org_id}/status", web::post().to(decide))
        .route(
            "/organisations/{org_id}/members",
            web::post().to(add_member),
        )
        .route(
            "/organisations/{org_id}/members/{user_id}/remove",
            web::post().to(remove_member),
        )
        .route(
            "/organisations/{org_id}/address-invitations/withdraw",
            web::post().to(withdraw_address_invitation),
        )
        .route(
            "/organisations/{org_id}/keys",
            web::post().to(keys::upload_key::<OrgId>),
        )
        .route(
            "/organisations/{org_id}/keys/{kid}/remove",
            web::post().to(keys::remove_key::<OrgId>),
        )
        .route(
            "/organisations/{org_id}/authorization-servers",
            web::post().to(set_servers),
        )
        .route(
            "/organisations/{org_id}/contacts-mail",
            web::post().to(set_contacts_mail),
        )
        .route(
            "/organisations/{org_id}/second-factor-policy",
            web::post().to(set_second_factor_policy),
        )
        .route(
            "/organisations/{org_id}/issuer-claims/verify",
            web::post().to(verify_issuer),
        );
}

fn role_names() -> Vec<&'static str> {
    RegulatedRole::ALL.iter().map(|r| r.as_str()).collect()
}

async fn apply_page(session: Session, SignedIn(user): SignedIn) -> PortalResult {
    render(&ApplyPage {
        ctx: ctx(&session, Some(&user)),
        form: ApplyForm::default(),
        roles: role_names(),
        error: None,
    })
}

fn contact(name: &str, email: &str, phone: &str) -> Contact {
    Contact {
        name: name.to_owned(),
        email: email.to_owned(),
        phone: Some(phone.to_owned()).filter(|p| !p.trim().is_empty()),
    }
}

async fn apply(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalForm(form): PortalForm<ApplyForm>,
) -> PortalResult {
    let actor = user.actor();
    let application = Application {
        legal_name: form.legal_name.clone(),
        registration_number: form.registration_number.clone(),
        country: form.country.clone(),
        competent_authority: form.competent_authority.clone(),
        authority_registration_id: form.authority_registration_id.clone(),
        roles: form.roles.clone(),
        business_contact: contact(
            &form.business_name,
            &form.business_email,
            &form.business_phone,
        ),
        technical_contact: contact(
            &form.technical_name,
            &form.technical_email,
            &form.technical_phone,
        ),
    };
    let result = organisations::apply(&state, actor, application)
        .await
        .map_err(AppError::from);
    match result {
        Ok(org) => {
            auth::set_flash(
                &session,
                "Application received: an operator will review it.",
            );
            Ok(redirect(&format!("/organisations/{}", org.id)))
        }
        Err(error) => render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ApplyPage {
                ctx: ctx(&session, Some(&user)),
                form,
                roles: role_names(),
                error: Some(form_message(error)?),
            },
        ),
    }
}

/// Renders the organisation page, with an error beside its forms when there is one.
async fn page(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    id: OrgId,
    error: Option<String>,
) -> PortalResult {
    let organisations::OrganisationView {
        org,
        access,
        roster,
        software: products,
        history,
        keys,
        issuer_claims,
    } = organisations::view(state, user.actor(), id).await?;
    let subscriptions = crate::services::subscriptions::list(state, user.actor(), id).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render_with(
        status,
        &OrganisationPage {
            ctx: ctx(session, Some(user)),
            transitions: org.status.allowed(),
            is_admin: access.is_admin(),
            is_operator: access.is_operator(),
            servers_text: org
                .authorization_servers
                .iter()
                .map(|s| format!("{} {}", s.issuer, s.registration_endpoint))
                .collect::<Vec<_>>()
                .join("\n"),
            is_aspsp: org.roles.contains(&RegulatedRole::Aspsp),
            issuer_claims,
            org,
            members: roster.members,
            invitations: roster.invitations,
            mailed: roster.mailed,
            software: products,
            history,
            keys,
            subscriptions,
            event_kinds: EventKind::ALL.iter().map(|k| k.as_str()).collect(),
            error,
        },
    )
}

async fn show(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
) -> PortalResult {
    page(&state, &session, &user, id, None).await
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub reason: String,
}

impl DecisionForm {
    pub fn transition(&self) -> Result<Transition, AppError> {
        Transition::parse(&self.action).ok_or_else(|| {
            AppError::Domain(Error::Validation(format!(
                "action: {:?} is not a decision",
                self.action
            )))
        })
    }
}

async fn decide(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    SteppedUp(form): SteppedUp<DecisionForm>,
) -> PortalResult {
    let actor = user.actor();
    let result = match form.transition() {
        Ok(transition) => {
            organisations::transition(&state, actor, id, transition, Some(form.reason))
                .await
                .map_err(AppError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(org) => {
            auth::set_flash(&session, format!("The organisation is now {}.", org.status));
            Ok(redirect(&format!("/organisations/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn add_member(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    PortalForm(form): PortalForm<MemberForm>,
) -> PortalResult {
    let actor = user.actor();
    let result = organisations::add_member(&state, actor, id, form.email, form.role).await;
    match result {
        Ok(change) => {
            let message = match change {
                MemberChange::Invited(invitation) => format!(
                    "{} is invited as {}; they join once they accept.",
                    invitation.email,
                    invitation.role.as_str()
                ),
                MemberChange::RoleChanged(member) => {
                    format!("{} is now a {}.", member.email, member.role.as_str())
                }
                MemberChange::Mailed(invitation) => format!(
                    "{} has no account: a sign-up link is mailed; they join as {} once they verify the address.",
                    invitation.email,
                    invitation.role.as_str()
                ),
            };
            auth::set_flash(&session, message);
            Ok(redirect(&format!("/organisations/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

async fn remove_member(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath((id, member)): PortalPath<(OrgId, UserId)>,
    PortalForm(_): PortalForm<serde::de::IgnoredAny>,
) -> PortalResult {
    let result = organisations::remove_member(&state, user.actor(), id, member).await;
    match result {
        Ok(()) => {
            auth::set_flash(&session, "Member removed.");
            Ok(redirect(&format!("/organisations/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

#[derive(Deserialize)]
struct AddressForm {
    #[serde(default)]
    email: String,
}

/// Withdraws an invitation mailed to an address without an account.
async fn withdraw_address_invitation(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    PortalForm(form): PortalForm<AddressForm>,
) -> PortalResult {
    let result =
        organisations::withdraw_address_invitation(&state, user.actor(), id, form.email).await;
    match result {
        Ok(()) => {
            auth::set_flash(&session, "Invitation withdrawn.");
            Ok(redirect(&format!("/organisations/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

/// Shows the organisation page again with the error of a refused action, or the error page.
pub(super) async fn refused(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    id: OrgId,
    error: impl Into<AppError>,
) -> PortalResult {
    let message = form_message(error)?;
    page(state, session, user, id, Some(message)).await
}

#[derive(Deserialize)]
struct ServersForm {
    #[serde(default)]
    servers: String,
}

async fn set_servers(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    PortalForm(form): PortalForm<ServersForm>,
) -> PortalResult {
    let actor = user.actor();
    let parsed: Result<Vec<AuthorizationServer>, AppError> = super::lines(&form.servers)
        .iter()
        .enumerate()
        .map(
            |(i, line)| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [issuer, endpoint] => Ok(AuthorizationServer {
                    issuer: issuer.to_owned(),
                    registration_endpoint: endpoint.to_owned(),
                }),
                _ => Err(AppError::Domain(Error::Validation(format!(
                    "line {}: expected an issuer URL, a space and a registration endpoint URL",
                    i + 1
                )))),
            },
        )
        .collect();
    let result = match parsed {
        Ok(servers) => organisations::set_authorization_servers(&state, actor, id, servers)
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            auth::set_flash(&session, "Authorization servers published.");
            Ok(redirect(&format!("/organisations/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

#[derive(Deserialize)]
struct ContactsForm {
    on: bool,
}

/// An admin has the organisation's notices mailed to its contacts too (or no more).
async fn set_contacts_mail(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    PortalForm(form): PortalForm<ContactsForm>,
) -> PortalResult {
    match organisations::set_notify_contacts(&state, user.actor(), id, form.on).await {
        Ok(_) => {
            auth::set_flash(
                &session,
                if form.on {
                    "The contacts now get the organisation's notices too."
                } else {
                    "Only the admins get the organisation's notices now."
                },
            );
            Ok(redirect(&format!("/organisations/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

#[derive(Deserialize)]
struct PolicyForm {
    required: bool,
}

/// An admin requires (or stops requiring) a second factor of the organisation's members.
async fn set_second_factor_policy(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    SteppedUp(form): SteppedUp<PolicyForm>,
) -> PortalResult {
    match organisations::set_second_factor_policy(&state, user.actor(), id, form.required).await {
        Ok(org) => {
            auth::set_flash(
                &session,
                if org.require_second_factor {
                    "Members now need a second factor to reach this organisation."
                } else {
                    "Members no longer need a second factor to reach this organisation."
                },
            );
            Ok(redirect(&format!("/organisations/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

#[derive(serde::Deserialize)]
struct IssuerForm {
    #[serde(default)]
    issuer: String,
}

/// Asks the directory to check the answer to an issuer's challenge (the API's
/// `POST …/issuer-claims/verify`).
async fn verify_issuer(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    PortalForm(form): PortalForm<IssuerForm>,
) -> PortalResult {
    let result = organisations::verify_issuer(&state, user.actor(), id, form.issuer).await;
    match result {
        Ok(claim) => {
            auth::set_flash(&session, format!("Control of {} proven.", claim.issuer));
            Ok(redirect(&format!("/organisations/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

impl keys::KeysPage for OrgId {
    fn owner(self) -> KeyOwner {
        KeyOwner::Organisation(self)
    }

    fn page(self) -> String {
        format!("/organisations/{self}")
    }

    async fn refused(
        state: &web::Data<Directory>,
        session: &Session,
        user: &User,
        id: Self,
        error: AppError,
    ) -> PortalResult {
        refused(state, session, user, id, error).await
    }
}
