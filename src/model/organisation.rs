//! Organisations: what they are, what an application to onboard one says, their members and
//! invitations.

use serde::{Deserialize, Serialize};

use super::error::Result;
use super::ids::{OrgId, UserId};
use super::inputs::{Contact, HttpsUrl, MemberRole, RegulatedRole};
use super::invalid;
use super::status::Status;
use super::time::{Timestamp, rfc3339};

/// An organisation as the API and the portal show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Organisation {
    pub id: OrgId,
    pub legal_name: String,
    pub registration_number: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub competent_authority: String,
    pub authority_registration_id: String,
    pub roles: Vec<RegulatedRole>,
    pub business_contact: Contact,
    pub technical_contact: Contact,
    pub authorization_servers: Vec<AuthorizationServer>,
    pub status: Status,
    /// Why an operator rejected, suspended or revoked it (or a note on a decision).
    pub status_reason: Option<String>,
    /// Whether its members need a second factor (passkey or authenticator app) to reach it;
    /// its admins set it in the portal.
    pub require_second_factor: bool,
    /// Whether its notices (decisions, reminders) are mailed to its business and technical
    /// contacts too, besides its admins; its admins set it in the portal.
    pub notify_contacts: bool,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// An ASPSP's authorization server, published for participant discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationServer {
    /// The server's issuer (https).
    #[schema(format = Uri)]
    pub issuer: String,
    /// Its RFC 7591 registration endpoint (https).
    #[schema(format = Uri)]
    pub registration_endpoint: String,
}

impl AuthorizationServer {
    /// Checks a list of servers as submitted: at most 10, each URL absolute https.
    pub fn parse_list(servers: &[AuthorizationServer]) -> Result<Vec<AuthorizationServer>> {
        if servers.len() > 10 {
            return Err(invalid("authorization_servers", "at most 10"));
        }
        servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(AuthorizationServer {
                    issuer: HttpsUrl::parse(
                        &format!("authorization_servers[{i}].issuer"),
                        &s.issuer,
                    )?
                    .into_string(),
                    registration_endpoint: HttpsUrl::parse(
                        &format!("authorization_servers[{i}].registration_endpoint"),
                        &s.registration_endpoint,
                    )?
                    .into_string(),
                })
            })
            .collect()
    }
}

/// The well-known path below an issuer at which its organisation proves control of it.
pub const ISSUER_CHALLENGE_PATH: &str = "/.well-known/ssa-directory-challenge/";

/// An organisation's claim to an authorization server's issuer, and its proof of control.
/// A claim counts (the server is published, listed in the federation and certified in
/// transport certificates) only once proven; an unproven claim blocks nobody.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuerClaim {
    #[schema(format = Uri)]
    pub issuer: String,
    /// Where the directory looks for the proof: serve `answer` there (HTTP 200, text).
    #[schema(format = Uri)]
    pub challenge_url: String,
    /// What that URL must answer: the challenge token, a dot and the organisation's id.
    pub answer: String,
    /// When control was proven; absent while it is not.
    #[serde(with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub verified_at: Option<Timestamp>,
    /// Other organisations claim the same issuer (the operator's queue shows it).
    pub contested: bool,
}

impl IssuerClaim {
    /// The claim of `org` to `issuer` with its challenge `token`.
    pub fn new(
        org: OrgId,
        issuer: String,
        token: &str,
        verified_at: Option<Timestamp>,
        contested: bool,
    ) -> Self {
        Self {
            challenge_url: format!(
                "{}{ISSUER_CHALLENGE_PATH}{token}",
                issuer.trim_end_matches('/')
            ),
            answer: format!("{token}.{org}"),
            issuer,
            verified_at,
            contested,
        }
    }
}

/// An issuer that more than one organisation claims, for the operator to settle.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContestedIssuer {
    #[schema(format = Uri)]
    pub issuer: String,
    /// The organisations that claim it, the one that proved control (if any) first.
    pub claimants: Vec<Claimant>,
}

/// One organisation's claim to a contested issuer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Claimant {
    pub organisation_id: OrgId,
    pub legal_name: String,
    pub proven: bool,
}

/// An application to onboard an organisation, as submitted.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    #[schema(max_length = 200, pattern = "\\S")]
    pub legal_name: String,
    #[schema(max_length = 100, pattern = "\\S")]
    pub registration_number: String,
    /// ISO 3166-1 alpha-2, such as GB or BR.
    #[schema(min_length = 2, max_length = 2, pattern = "^[A-Za-z]{2}$")]
    pub country: String,
    #[schema(max_length = 200, pattern = "\\S")]
    pub competent_authority: String,
    #[schema(max_length = 100, pattern = "\\S")]
    pub authority_registration_id: String,
    #[schema(min_items = 1, value_type = Vec<RegulatedRole>)]
    pub roles: Vec<String>,
    pub business_contact: Contact,
    pub technical_contact: Contact,
}

/// A member of an organisation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: UserId,
    #[schema(format = Email)]
    pub email: String,
    pub role: MemberRole,
    /// When the account joined the organisation.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

/// How long an invitation waits for its answer.
pub const INVITATION_DAYS: i64 = 14;

/// An invitation to join an organisation, waiting for the invited account's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub organisation_id: OrgId,
    pub organisation_name: String,
    pub user_id: UserId,
    #[schema(format = Email)]
    pub email: String,
    pub role: MemberRole,
    /// Who invited (as the audit log names them).
    pub invited_by: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// 14 days after it was sent.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// What an admin's request to add someone did.
/// An invitation of an address that has no account yet: it joins once an account made with
/// that address verifies it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AddressInvitation {
    pub organisation_id: OrgId,
    #[schema(format = Email)]
    pub email: String,
    pub role: MemberRole,
    /// Who invited (an email, or `cli`).
    pub invited_by: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum MemberChange {
    /// An account that is not a member was invited; it joins when it accepts.
    Invited(Invitation),
    /// An address without an account was mailed a sign-up link; it joins once verified.
    Mailed(AddressInvitation),
    /// A member's role changed.
    RoleChanged(Member),
}

/// Which organisations a list holds; an empty filter keeps all.
#[derive(Debug, Clone, Default)]
pub struct OrganisationFilter {
    pub status: Option<Status>,
    pub role: Option<RegulatedRole>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// Applied for at or after this time.
    pub created_since: Option<Timestamp>,
    /// Changed at or after this time.
    pub changed_since: Option<Timestamp>,
}

impl OrganisationFilter {
    /// Those in `status`, if given.
    pub fn status(status: Option<Status>) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }
}
