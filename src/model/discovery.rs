//! What relying parties read without authenticating.

use serde::Serialize;

use super::ids::{OrgId, SoftwareId};
use super::inputs::RegulatedRole;
use super::organisation::AuthorizationServer;
use super::status::Status;

/// The status of one software product as an authorization server needs it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SoftwareStatus {
    pub software_id: SoftwareId,
    /// The effective status: not active unless the organisation is active too.
    pub status: Status,
    pub software_status: Status,
    pub org_id: OrgId,
    pub org_status: Status,
}

/// An active organisation as published for discovery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Participant {
    pub org_id: OrgId,
    pub org_name: String,
    pub country: String,
    pub roles: Vec<RegulatedRole>,
    /// Its authorization servers (ASPSPs only).
    pub authorization_servers: Vec<AuthorizationServer>,
}

/// Where a statement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatementState {
    /// Issued and neither expired nor revoked.
    Issued,
    Expired,
    Revoked,
}

/// A statement's own status, with its product's, as `GET /status/ssa/{jti}` answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatementStatus {
    pub jti: String,
    pub state: StatementState,
    /// True only while it is issued and its product's effective status is active: a
    /// statement of a suspended or revoked product is not usable.
    pub usable: bool,
    #[serde(with = "super::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: super::Timestamp,
    #[serde(with = "super::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: super::Timestamp,
    #[serde(
        with = "super::time::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<super::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<String>,
    /// The product's status as `/status/software/{software_id}` gives it.
    pub software: SoftwareStatus,
}

/// A statement as its product's page lists it.
#[derive(Debug, Clone)]
pub struct StatementSummary {
    pub jti: String,
    pub state: StatementState,
    pub issued_at: super::Timestamp,
    pub expires_at: super::Timestamp,
    pub revocation_reason: Option<String>,
}

impl StatementState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}
