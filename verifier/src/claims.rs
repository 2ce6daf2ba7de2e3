//! The claims of a software statement: the contract between the directory that signs them
//! and the authorization servers that read them, written once. The directory builds these
//! types and signs their JSON; [`SoftwareStatement::typed_claims`] reads them back.
//!
//! Claims the verifier requires are plain fields; every other claim is optional, so that
//! statements of directories that leave some out still read.
//!
//! [`SoftwareStatement::typed_claims`]: crate::SoftwareStatement::typed_claims

use serde::{Deserialize, Serialize};

/// Every claim of a software statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementClaims {
    /// The directory that issued it.
    pub iss: String,
    /// Issued at (seconds since the Unix epoch).
    pub iat: i64,
    /// Expires at (seconds since the Unix epoch).
    pub exp: i64,
    /// The statement's unique id.
    pub jti: String,
    /// The software product's id.
    pub software_id: String,
    /// The product's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// The regulated roles the product may act in (`AISP`, `PISP`, …).
    pub software_roles: Vec<String>,
    /// The organisation's id.
    pub org_id: String,
    /// The organisation's legal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    /// The claims whose names depend on the profile.
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

/// The claims named differently by each profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "a wire type, built once per statement; boxing would only cost its users"
)]
pub enum ProfileClaims {
    /// UK Open Banking names.
    Obuk(ObukClaims),
    /// RFC 7591 / CDR names.
    Rfc7591(Rfc7591Claims),
}

/// The UK Open Banking claims (`software_client_name`, `software_redirect_uris`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObukClaims {
    /// The client id the product asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_client_id: Option<String>,
    /// The product's name as users see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_client_name: Option<String>,
    /// What the product does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_client_description: Option<String>,
    /// The product's home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_client_uri: Option<String>,
    /// Its logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_logo_uri: Option<String>,
    /// Its terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_tos_uri: Option<String>,
    /// Its privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_policy_uri: Option<String>,
    /// The redirect URIs it may register (https, no fragment).
    pub software_redirect_uris: Vec<String>,
    /// `sandbox` or `production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_environment: Option<String>,
    /// The product's keystore JWKS (signed registration requests are checked with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_jwks_endpoint: Option<String>,
    /// The product's revoked keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_jwks_revoked_endpoint: Option<String>,
    /// The organisation's status as the UK directory spells it (`Active`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_status: Option<String>,
    /// The organisation's keystore JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_jwks_endpoint: Option<String>,
    /// The organisation's revoked keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_jwks_revoked_endpoint: Option<String>,
    /// The organisation's authorisation by its competent authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_competent_authority_claims: Option<CompetentAuthorityClaims>,
}

/// Who authorised the organisation, and for what (UK Open Banking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompetentAuthorityClaims {
    /// The competent authority (`FCA`, …).
    pub authority_id: String,
    /// The organisation's number in the authority's register.
    pub registration_id: String,
    /// The organisation's status (`Active`).
    pub status: String,
    /// Where it may act in which roles.
    pub authorisations: Vec<Authorisation>,
}

/// Roles in one member state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorisation {
    /// ISO 3166-1 alpha-2 country code.
    pub member_state: String,
    /// The regulated roles there.
    pub roles: Vec<String>,
}

/// The RFC 7591 / CDR claims (`client_name`, `redirect_uris`, `jwks_uri`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rfc7591Claims {
    /// The product's name as users see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// What the product does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_description: Option<String>,
    /// The product's home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Its logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Its terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Its privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// The redirect URIs it may register (https, no fragment).
    pub redirect_uris: Vec<String>,
    /// The product's keystore JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}
