//! Registering, showing, editing and deciding on software products.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::web;

use super::keys;
use super::organisations::DecisionForm;
use super::pages::{SoftwareForm, SoftwareFormPage, SoftwarePage};
use super::{PortalPath, SignedIn, SteppedUp};
use super::{PortalResult, ctx, form_message, lines, redirect, render, render_with};
use crate::model::Error;
use crate::model::account::User;
use crate::model::certificate::CertType;
use crate::model::certificate::{Issued, RevocationReason};
use crate::model::keys::KeyOwner;
use crate::model::organisation::Organisation;
use crate::model::software::{ChangeDecision, Changes, Registration};
use crate::model::{OrgId, Serial, SoftwareId};
use crate::services::statements::{self, Caller};
use crate::services::{Directory, certificates, organisations, software};
use crate::web::auth::{self, PortalForm, PortalMultipart};
use crate::web::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/organisations/{org_id}/software/new",
        web::get().to(new_page),
    )
    .route(
        "/organisations/{org_id}/software/new",
        web::post().to(register),
    )
    .route("/software/{software_id}", web::get().to(show))
    .route("/software/{software_id}/edit", web::get().to(edit_page))
    .route("/software/{software_id}/edit", web::post().to(edit))
    .route("/software/{software_id}/status", web::post().to(decide))
    .route(
        "/software/{software_id}/changes",
        web::post().to(decide_change),
    )
    .route("/software/{software_id}/ssa", web::post().to(download_ssa))
    .route(
        "/software/{software_id}/statements/{jti}/revoke",
        web::post().to(revoke_statement),
    )
    .route(
        "/software/{software_id}/keys",
        web::post().to(keys::upload_key::<SoftwareId>),
    )
    .route(
        "/software/{software_id}/keys/{kid}/remove",
        web::post().to(keys::remove_key::<SoftwareId>),
    )
    .route(
        "/software/{software_id}/certificates",
        web::post().to(issue_certificate),
    )
    .route(
        "/software/{software_id}/certificates/{file}",
        web::get().to(download_certificate),
    )
    .route(
        "/software/{software_id}/certificates/{serial}/revoke",
        web::post().to(revoke_certificate),
    );
}

fn org_roles(org: &Organisation) -> Vec<&'static str> {
    org.roles.iter().map(|r| r.as_str()).collect()
}

fn form_page(
    session: &Session,
    user: &User,
    org: Organisation,
    action: String,
    heading: &str,
    form: SoftwareForm,
    error: Option<String>,
) -> PortalResult {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render_with(
        status,
        &SoftwareFormPage {
            ctx: ctx(session, Some(user)),
            roles: org_roles(&org),
            org,
            action,
            heading: heading.to_owned(),
            form,
            error,
        },
    )
}

async fn new_page(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
) -> PortalResult {
    let (org, _) = organisations::get(&state, user.actor(), id).await?;
    let form = SoftwareForm {
        environment: "sandbox".into(),
        ..SoftwareForm::default()
    };
    let action = format!("/organisations/{}/software/new", org.id);
    form_page(
        &session,
        &user,
        org,
        action,
        "Register a software product",
        form,
        None,
    )
}

async fn register(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    PortalForm(form): PortalForm<SoftwareForm>,
) -> PortalResult {
    let actor = user.actor();
    let registration = Registration {
        client_name: form.client_name.clone(),
        description: form.description.clone(),
        version: form.version.clone(),
        client_uri: Some(form.client_uri.clone()),
        logo_uri: Some(form.logo_uri.clone()),
        tos_uri: Some(form.tos_uri.clone()),
        policy_uri: Some(form.policy_uri.clone()),
        redirect_uris: lines(&form.redirect_uris),
        roles: form.roles.clone(),
        environment: form.environment.clone(),
    };
    let result = match software::register(&state, actor.clone(), id, registration).await {
        Ok(product) => Ok(product),
        // The organisation is needed to show the form again.
        Err(error) => Err((error, organisations::get(&state, actor, id).await?.0)),
    };
    match result {
        Ok(product) => {
            auth::set_flash(
                &session,
                format!("Software registered; its status is {}.", product.status),
            );
            Ok(redirect(&format!("/software/{}", product.id)))
        }
        Err((error, org)) => {
            let message = form_message(error)?;
            let action = format!("/organisations/{id}/software/new");
            form_page(
                &session,
                &user,
                org,
                action,
                "Register a software product",
                form,
                Some(message),
            )
        }
    }
}

async fn page(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    id: SoftwareId,
    error: Option<String>,
) -> PortalResult {
    page_with(state, session, user, id, error, None).await
}

async fn page_with(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    id: SoftwareId,
    error: Option<String>,
    issued: Option<Issued>,
) -> PortalResult {
    let software::SoftwareView {
        product,
        org,
        access,
        history,
        keys,
        certificates,
        statements: issued_statements,
        log_indexes,
    } = software::view(state, user.actor(), id).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if issued.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    render_with(
        status,
        &SoftwarePage {
            ctx: ctx(session, Some(user)),
            effective_status: product.effective_status(org.status),
            is_operator: access.is_operator(),
            editable: product.editable(),
            transitions: product.status.allowed(),
            product,
            org,
            history,
            keys,
            certificates,
            statements: issued_statements,
            log_indexes,
            reasons: RevocationReason::given().collect(),
            issued,
            error,
        },
    )
}

async fn show(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<SoftwareId>,
) -> PortalResult {
    page(&state, &session, &user, id, None).await
}

async fn edit_page(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<SoftwareId>,
) -> PortalResult {
    let (product, org, _) = software::get(&state, user.actor(), id).await?;
    let action = format!("/software/{}/edit", product.id);
    let heading = format!("Edit {}", product.client_name);
    render(&SoftwareFormPage {
        ctx: ctx(&session, Some(&user)),
        roles: org_roles(&org),
        org,
        action,
        heading,
        form: SoftwareForm::from_software(&product),
        error: None,
    })
}

async fn edit(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<SoftwareId>,
    PortalForm(form): PortalForm<SoftwareForm>,
) -> PortalResult {
    let actor = user.actor();
    let changes = Changes {
        client_name: Some(form.client_name.clone()),
        description: Some(form.description.clone()),
        version: Some(form.version.clone()),
        client_uri: Some(form.client_uri.clone()),
        logo_uri: Some(form.logo_uri.clone()),
        tos_uri: Some(form.tos_uri.clone()),
        policy_uri: Some(form.policy_uri.clone()),
        redirect_uris: Some(lines(&form.redirect_uris)),
        roles: Some(form.roles.clone()),
        environment: Some(form.environment.clone()),
    };
    let result = match software::update(&state, actor.clone(), id, changes).await {
        Ok(edited) => Ok(edited),
        // The organisation is needed to show the form again.
        Err(error) => Err((error, software::get(&state, actor, id).await?.1)),
    };
    match result {
        Ok(edited) => {
            auth::set_flash(
                &session,
                if edited.held {
                    "Software updated. The move to production or the new roles wait for an operator's decision; statements keep the approved values until then."
                } else {
                    "Software updated."
                },
            );
            Ok(redirect(&format!("/software/{id}")))
        }
        Err((error, org)) => {
            let message = form_message(error)?;
            let action = format!("/software/{id}/edit");
            form_page(
                &session,
                &user,
                org,
                action,
                "Edit software",
                form,
                Some(message),
            )
        }
    }
}

async fn decide(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<SoftwareId>,
    SteppedUp(form): SteppedUp<DecisionForm>,
) -> PortalResult {
    let actor = user.actor();
    let result = match form.transition() {
        Ok(transition) => software::transition(&state, actor, id, transition, Some(form.reason))
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(product) => {
            auth::set_flash(&session, format!("The software is now {}.", product.status));
            Ok(redirect(&format!("/software/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

#[derive(serde::Deserialize)]
struct ChangeForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
}

/// An operator approves or rejects the pending change; a member withdraws it.
async fn decide_change(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<SoftwareId>,
    SteppedUp(form): SteppedUp<ChangeForm>,
) -> PortalResult {
    let actor = user.actor();
    let decision = match form.action.as_str() {
        "approve" => ChangeDecision::Approve,
        "reject" => ChangeDecision::Reject,
        "withdraw" => ChangeDecision::Withdraw,
        other => {
            let error = AppError::Domain(Error::Validation(format!(
                "action: {other:?} is not a decision"
            )));
            return refused(&state, &session, &user, id, error).await;
        }
    };
    let result = software::decide_change(&state, actor, id, decision, Some(form.reason)).await;
    match result {
        Ok(_) => {
            let message = match decision {
                ChangeDecision::Approve => "Change approved: statements now carry it.",
                ChangeDecision::Reject => "Change rejected.",
                ChangeDecision::Withdraw => "Change withdrawn.",
            };
            auth::set_flash(&session, message);
            Ok(redirect(&format!("/software/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

/// Shows the software page again with the error of a refused action, or the error page.
pub(super) async fn refused(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    id: SoftwareId,
    error: impl Into<AppError>,
) -> PortalResult {
    let message = form_message(error)?;
    page(state, session, user, id, Some(message)).await
}

async fn download_ssa(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<SoftwareId>,
    PortalForm(_): PortalForm<serde::de::IgnoredAny>,
) -> PortalResult {
    let result = statements::issue(&state, Caller::Actor(user.actor()), id).await;
    match result {
        Ok(issued) => Ok(actix_web::HttpResponse::Ok()
            .content_type("application/jwt")
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .insert_header((
                actix_web::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.jwt\""),
            ))
            .body(issued.jwt)),
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

/// The certificate form's type and CSR: `csr_file` (uploaded) wins over `csr` (pasted).
fn certificate_form(form: &PortalMultipart) -> (String, String) {
    let uploaded = form.text("csr_file");
    let csr = if uploaded.trim().is_empty() {
        form.text("csr")
    } else {
        uploaded
    };
    (form.text("type"), csr)
}

async fn issue_certificate(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<SoftwareId>,
    form: PortalMultipart,
) -> PortalResult {
    let (cert_type, csr) = certificate_form(&form);
    let result = match CertType::parse(&cert_type) {
        Ok(cert_type) => certificates::issue(&state, user.actor(), id, cert_type, csr).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(issued) => page_with(&state, &session, &user, id, None, Some(issued)).await,
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

async fn download_certificate(
    state: web::Data<Directory>,
    SignedIn(user): SignedIn,
    PortalPath((id, file)): PortalPath<(SoftwareId, String)>,
) -> PortalResult {
    let serial: Serial = file
        .strip_suffix(".pem")
        .ok_or(AppError::Domain(Error::NotFound("certificate")))?
        .parse()?;
    let cert = certificates::get(&state, user.actor(), serial).await?;
    if cert.software_id != id {
        return Err(AppError::Domain(Error::NotFound("certificate")).into());
    }
    Ok(actix_web::HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.pem\"", cert.serial),
        ))
        .body(format!("{}{}", cert.pem, state.ca.chain_pem())))
}

#[derive(serde::Deserialize)]
struct RevokeForm {
    #[serde(default)]
    reason: String,
}

async fn revoke_certificate(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath((id, serial)): PortalPath<(SoftwareId, String)>,
    SteppedUp(form): SteppedUp<RevokeForm>,
) -> PortalResult {
    let serial: Serial = serial.parse()?;
    let result = certificates::revoke(&state, user.actor(), Some(id), serial, form.reason).await;
    match result {
        Ok(cert) => {
            auth::set_flash(&session, format!("Certificate {} revoked.", cert.serial));
            Ok(redirect(&format!("/software/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

/// Revokes one of the product's statements, with the reason the form gives.
async fn revoke_statement(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath((id, jti)): PortalPath<(SoftwareId, String)>,
    SteppedUp(form): SteppedUp<RevokeForm>,
) -> PortalResult {
    let result = statements::revoke(&state, user.actor(), Some(id), jti, form.reason).await;
    match result {
        Ok(status) => {
            auth::set_flash(&session, format!("Statement {} revoked.", status.jti));
            Ok(redirect(&format!("/software/{id}")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

impl keys::KeysPage for SoftwareId {
    fn owner(self) -> KeyOwner {
        KeyOwner::Software(self)
    }

    fn page(self) -> String {
        format!("/software/{self}")
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
