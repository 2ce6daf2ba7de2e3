//! Organisations: applications, decisions, members and invitations, authorization servers.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{
    Items, OptionalJson, ReasonBody, created, default_per_page, first_page, status_filter,
    transition_of,
};
use crate::model::organisation::{
    AddressInvitation, Application, AuthorizationServer, ContestedIssuer, Invitation, IssuerClaim,
    Member, MemberChange, Organisation, OrganisationFilter,
};
use crate::model::{OrgId, Page, PageRequest, UserId};
use crate::services::{Directory, organisations};
use crate::web::auth::ApiUser;
use crate::web::error::{AppError, Problem};

/// Apply to onboard an organisation
///
/// Any signed-in account; it becomes the organisation's admin. The organisation is pending
/// until an operator decides.
#[utoipa::path(post, path = "/api/v1/organisations", tag = "organisations", operation_id = "applyOrganisation",
    request_body = Application,
    responses((status = 201, description = "The organisation, pending.", body = Organisation,
        headers(("Location" = String, description = "The organisation's URL.")))))]
pub(super) async fn apply(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    body: web::Json<Application>,
) -> Result<HttpResponse, AppError> {
    let org = organisations::apply(&state, actor, body.into_inner()).await?;
    Ok(created(format!("/api/v1/organisations/{}", org.id), &org))
}

/// Filters of the organisations list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct OrganisationQuery {
    /// Only organisations in this status.
    #[param(value_type = Option<crate::model::Status>)]
    status: Option<String>,
    /// Only organisations with this role.
    #[param(value_type = Option<crate::model::inputs::RegulatedRole>)]
    role: Option<String>,
    /// Only organisations of this country (ISO 3166-1 alpha-2).
    #[param(pattern = "^[A-Za-z]{2}$")]
    country: Option<String>,
    /// Only organisations applied for at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    created_since: Option<String>,
    /// Only organisations changed at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    changed_since: Option<String>,
    /// `csv`: every organisation of the filter as CSV (also with `Accept: text/csv`),
    /// streamed; `page` and `per_page` are then ignored.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
    /// Continue where the page before ended: its `next` (a keyset page, as cheap as the first
    /// however deep; `page` is then ignored).
    #[param(
        pattern = "^[0-9]{1,16}\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    after: Option<String>,
    /// 1-based page number; 0 is refused with 422.
    #[serde(default = "first_page")]
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    page: u32,
    /// Page size, between 1 and 100; other values are refused with 422.
    #[serde(default = "default_per_page")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: u32,
}

/// List organisations
///
/// Operators see all, members their own; oldest first. With `format=csv` (or `Accept:
/// text/csv`), every organisation of the filter as CSV (without contacts), streamed.
#[utoipa::path(get, path = "/api/v1/organisations", tag = "organisations", operation_id = "listOrganisations",
    params(OrganisationQuery),
    responses((status = 200, description = "One page of organisations, or all of them as CSV.",
        content((Page<Organisation> = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A malformed filter.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list(
    req: actix_web::HttpRequest,
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    query: web::Query<OrganisationQuery>,
) -> Result<HttpResponse, AppError> {
    let filter = OrganisationFilter {
        status: status_filter(query.status.as_deref())?,
        role: super::role_filter(query.role.as_deref())?,
        country: super::country_filter(query.country.as_deref())?,
        created_since: super::since_filter("created_since", query.created_since.as_deref())?,
        changed_since: super::since_filter("changed_since", query.changed_since.as_deref())?,
    };
    if super::wants_csv(&req, query.format.as_deref())? {
        let stream = organisations::export(state.into_inner(), actor, filter)?;
        return Ok(super::csv_response("organisations.csv", stream));
    }
    let page = PageRequest {
        page: query.page,
        per_page: query.per_page,
    }
    .checked()?;
    let orgs = match query.after.as_deref() {
        Some(after) => {
            organisations::list_after(&state, actor, filter, after, page.limit()).await?
        }
        None => organisations::list(&state, actor, filter, page)
            .await?
            .continued(organisations::position),
    };
    Ok(HttpResponse::Ok().json(orgs))
}

/// One organisation
///
/// Its members and operators; anyone else gets 404.
#[utoipa::path(get, path = "/api/v1/organisations/{org_id}", tag = "organisations", operation_id = "getOrganisation",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    responses((status = 200, description = "The organisation.", body = Organisation)))]
pub(super) async fn get(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, AppError> {
    let (org, _) = organisations::get(&state, actor, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(org))
}

/// Decide on an organisation
///
/// Operators only: approve (pending to active), reject (pending to rejected), suspend (active
/// to suspended), reinstate (suspended to active) or revoke (anything but revoked; final).
/// Reject, suspend and revoke need a reason, which members see. Its certificates follow:
/// suspension holds them, reinstatement releases them, revocation revokes them.
#[utoipa::path(post, path = "/api/v1/organisations/{org_id}/{action}", tag = "organisations", operation_id = "decideOrganisation",
    params(("org_id" = OrgId, Path, description = "The organisation."),
        ("action" = crate::model::Transition, Path, description = "The decision.")),
    request_body(content = Option<ReasonBody>, description = "Why (optional body)."),
    responses((status = 200, description = "The organisation after the decision.", body = Organisation),
        (status = 403, description = "Not an operator.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from its status, or decided meanwhile.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn transition(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, String)>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let transition = transition_of(&action)?;
    let reason = body.unwrap_or_default().reason;
    let org = organisations::transition(&state, actor, id, transition, reason).await?;
    Ok(HttpResponse::Ok().json(org))
}

/// An organisation's members and pending invitations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MemberList {
    /// The members, by email.
    items: Vec<Member>,
    /// Invitations of accounts not yet answered.
    invitations: Vec<Invitation>,
    /// Invitations mailed to addresses without an account, not yet taken up: the account
    /// made with the address joins once it verifies it.
    address_invitations: Vec<AddressInvitation>,
}

/// An organisation's members
///
/// Its members and operators.
#[utoipa::path(get, path = "/api/v1/organisations/{org_id}/members", tag = "members", operation_id = "listMembers",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    responses((status = 200, description = "Members and pending invitations.", body = MemberList)))]
pub(super) async fn members(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, AppError> {
    let roster = organisations::members(&state, actor, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MemberList {
        items: roster.members,
        invitations: roster.invitations,
        address_invitations: roster.mailed,
    }))
}

/// The address whose invitation to withdraw.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InvitedAddress {
    /// The address the invitation was mailed to.
    #[param(format = Email, max_length = 254)]
    email: String,
}

/// Withdraw an invitation mailed to an address
///
/// Admins of the organisation and operators. The address's sign-up link then joins nothing.
#[utoipa::path(delete, path = "/api/v1/organisations/{org_id}/address-invitations", tag = "members", operation_id = "withdrawAddressInvitation",
    params(("org_id" = OrgId, Path, description = "The organisation."), InvitedAddress),
    responses((status = 204, description = "Withdrawn."),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No pending invitation of the address.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn withdraw_address_invitation(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    query: web::Query<InvitedAddress>,
) -> Result<HttpResponse, AppError> {
    let email = query.into_inner().email;
    organisations::withdraw_address_invitation(&state, actor, path.into_inner(), email).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An account to invite, or a member whose role to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
    /// The address to invite: an account's, or one without an account (mailed a sign-up link).
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(value_type = crate::model::inputs::MemberRole)]
    role: String,
}

/// Invite an account, or change a member's role
///
/// Admins of the organisation and operators. An account that is not a member is invited
/// (201) and joins when it accepts; a member's role changes at once (200). 409 when the
/// account is already invited or already has that role.
#[utoipa::path(post, path = "/api/v1/organisations/{org_id}/members", tag = "members", operation_id = "addMember",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    request_body = NewMember,
    responses((status = 201, description = "The invitation.", body = Invitation,
            headers(("Location" = String, description = "The member's URL once it accepts."))),
        (status = 200, description = "The member with the new role.", body = Member),
        (status = 202, description = "The address has no account: a sign-up link was mailed; an account made with it joins once it verifies the address.", body = crate::model::organisation::AddressInvitation),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already invited, already in that role, or the last admin.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn add_member(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    body: web::Json<NewMember>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let body = body.into_inner();
    let change = organisations::add_member(&state, actor, id, body.email, body.role).await?;
    Ok(match change {
        MemberChange::Invited(invitation) => created(
            format!("/api/v1/organisations/{id}/members/{}", invitation.user_id),
            &invitation,
        ),
        MemberChange::RoleChanged(member) => HttpResponse::Ok().json(member),
        MemberChange::Mailed(invitation) => HttpResponse::Accepted().json(invitation),
    })
}

/// Remove a member or withdraw an invitation
///
/// Admins of the organisation and operators. The last admin cannot be removed (409).
#[utoipa::path(delete, path = "/api/v1/organisations/{org_id}/members/{user_id}", tag = "members", operation_id = "removeMember",
    params(("org_id" = OrgId, Path, description = "The organisation."), ("user_id" = UserId, Path, description = "The account.")),
    responses((status = 204, description = "Removed or withdrawn."),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last admin.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn remove_member(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, UserId)>,
) -> Result<HttpResponse, AppError> {
    let (id, user) = path.into_inner();
    organisations::remove_member(&state, actor, id, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's pending invitations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct InvitationList {
    items: Vec<Invitation>,
}

/// The caller's pending invitations
#[utoipa::path(get, path = "/api/v1/invitations", tag = "members", operation_id = "listMyInvitations",
    responses((status = 200, description = "Pending invitations.", body = InvitationList)))]
pub(super) async fn my_invitations(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
) -> Result<HttpResponse, AppError> {
    let items = organisations::my_invitations(&state, actor).await?;
    Ok(HttpResponse::Ok().json(InvitationList { items }))
}

/// Accept or decline an invitation
///
/// The invited account only; 404 when it has no pending invitation to the organisation.
#[utoipa::path(post, path = "/api/v1/invitations/{org_id}/{action}", tag = "members", operation_id = "answerInvitation",
    params(("org_id" = OrgId, Path, description = "The organisation."),
        ("action" = String, Path, description = "`accept` or `decline`.", pattern = "^(accept|decline)$")),
    responses((status = 200, description = "Accepted: the membership.", body = Member),
        (status = 204, description = "Declined.")))]
pub(super) async fn answer_invitation(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let member = organisations::answer_invitation(&state, actor, id, action == "accept").await?;
    Ok(match member {
        Some(member) => HttpResponse::Ok().json(member),
        None => HttpResponse::NoContent().finish(),
    })
}

/// The authorization servers an ASPSP publishes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorizationServers {
    #[schema(max_items = 10)]
    authorization_servers: Vec<AuthorizationServer>,
}

/// Publish the organisation's authorization servers
///
/// Admins and operators, for ASPSPs only; replaces the list. Each server's issuer is a claim
/// until the organisation proves it controls it (`GET …/issuer-claims` says how, `POST
/// …/issuer-claims/verify` checks it): only then does the server appear in `/participants`
/// and the federation, and may its hosts be certified. An issuer another organisation proved
/// is refused; an unproven claim blocks nobody.
#[utoipa::path(put, path = "/api/v1/organisations/{org_id}/authorization-servers", tag = "organisations", operation_id = "setAuthorizationServers",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    request_body = AuthorizationServers,
    responses((status = 200, description = "The organisation.", body = Organisation),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn set_authorization_servers(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    body: web::Json<AuthorizationServers>,
) -> Result<HttpResponse, AppError> {
    let servers = body.into_inner().authorization_servers;
    let org =
        organisations::set_authorization_servers(&state, actor, path.into_inner(), servers).await?;
    Ok(HttpResponse::Ok().json(org))
}

/// The organisation's issuer claims
///
/// Members and operators: each authorization server's issuer, the challenge that proves
/// control of it (serve `answer` at `challenge_url`, HTTP 200, text), whether it is proven and
/// whether other organisations claim it too.
#[utoipa::path(get, path = "/api/v1/organisations/{org_id}/issuer-claims", tag = "organisations", operation_id = "listIssuerClaims",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    responses((status = 200, description = "The claims, by issuer.", body = Items<IssuerClaim>)))]
pub(super) async fn issuer_claims(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, AppError> {
    let claims = organisations::issuer_claims(&state, actor, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Items::of(claims)))
}

/// One of the organisation's issuers.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuerBody {
    /// The issuer, as published in the organisation's authorization servers.
    #[schema(format = Uri, max_length = 2000)]
    issuer: String,
}

/// Prove control of an issuer
///
/// Admins and operators. The directory fetches the claim's `challenge_url` (https, a public
/// address, no redirects, 10 s) and expects its `answer`; then the claim is proven (audited,
/// with an `organisation-authorization-servers` change event). 422 when the challenge is not
/// answered; 409 when another organisation holds the issuer proven (the operator's queue
/// shows it as contested, and an operator settles it).
#[utoipa::path(post, path = "/api/v1/organisations/{org_id}/issuer-claims/verify", tag = "organisations", operation_id = "verifyIssuerClaim",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    request_body = IssuerBody,
    responses((status = 200, description = "The claim, proven.", body = IssuerClaim),
        (status = 409, description = "Another organisation holds this issuer proven.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn verify_issuer(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    body: web::Json<IssuerBody>,
) -> Result<HttpResponse, AppError> {
    let claim =
        organisations::verify_issuer(&state, actor, path.into_inner(), body.into_inner().issuer)
            .await?;
    Ok(HttpResponse::Ok().json(claim))
}

/// Withdraw a proof of control (operators)
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleaseBody {
    #[schema(format = Uri, max_length = 2000)]
    issuer: String,
    /// Why (1 to 500 characters), for the audit.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Release an organisation's proof of an issuer
///
/// Operators, settling a contested issuer: the organisation's claim stays, unproven (its
/// server leaves `/participants` and the federation), so that another organisation can prove
/// it. Audited with the reason.
#[utoipa::path(post, path = "/api/v1/organisations/{org_id}/issuer-claims/release", tag = "organisations", operation_id = "releaseIssuerClaim",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    request_body = ReleaseBody,
    responses((status = 204, description = "Released."),
        (status = 403, description = "Not an operator.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn release_issuer(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    body: web::Json<ReleaseBody>,
) -> Result<HttpResponse, AppError> {
    let ReleaseBody { issuer, reason } = body.into_inner();
    organisations::release_issuer(&state, actor, path.into_inner(), issuer, reason).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Contested issuers (operators)
///
/// Issuers that more than one organisation claims, each claimant with whether it proved
/// control: the operator's queue of collisions.
#[utoipa::path(get, path = "/api/v1/issuer-claims/contested", tag = "organisations", operation_id = "contestedIssuers",
    responses((status = 200, description = "The contested issuers.", body = Items<ContestedIssuer>),
        (status = 403, description = "Not an operator.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn contested_issuers(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
) -> Result<HttpResponse, AppError> {
    let contested = organisations::contested_issuers(&state, actor).await?;
    Ok(HttpResponse::Ok().json(Items::of(contested)))
}

/// Publish the organisation's entity configuration
///
/// OpenID Federation: the organisation's own entity configuration (a `federation_entity`),
/// which the directory then hosts at its entity identifier
/// (`{directory}/federation/organisations/{org_id}`, its `/.well-known/openid-federation`
/// below that). Admins and operators. It must be signed (PS256 or ES256, `typ`
/// `entity-statement+jwt`) by a live key of the organisation's own keystore: `iss` and `sub`
/// the entity identifier, that key in its `jwks`, `authority_hints` naming the directory,
/// valid at most 366 days, with `federation_entity` metadata. Replaces the one published
/// before.
#[utoipa::path(put, path = "/api/v1/organisations/{org_id}/entity-configuration", tag = "federation", operation_id = "putOrganisationEntityConfiguration",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    request_body(content = String, content_type = "application/entity-statement+jwt", description = "The signed entity configuration."),
    responses((status = 204, description = "Published."),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organisation is not active.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/entity-statement+jwt.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The entity configuration is refused, with what is wrong.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn put_entity_configuration(
    req: actix_web::HttpRequest,
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let subject = crate::services::federation::Subject::Organisation(path.into_inner());
    super::software::publish_entity_configuration(&req, &state, actor, subject, &body).await
}
