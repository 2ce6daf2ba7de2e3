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
