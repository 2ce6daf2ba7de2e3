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

/// Active participants: the whole list (`items` only), or one page of it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParticipantList {
    pub items: Vec<Participant>,
    /// A page: pass as `after` for the next; absent on the last page and on the whole list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<OrgId>,
    /// A page: the newest event cursor when it was read (take every page, then follow
    /// `GET /events` or ask `since` it; a change made meanwhile may be seen twice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_cursor: Option<String>,
    /// With `since` (on its first page): organisations changed since then that are no longer
    /// participants, to drop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<OrgId>>,
}

/// Which participants a page holds.
#[derive(Debug, Clone, Default)]
pub struct ParticipantFilter {
    /// After this organisation id (keyset).
    pub after: Option<OrgId>,
    /// Only organisations with this role.
    pub role: Option<RegulatedRole>,
    /// Only organisations of this country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Only organisations an event after this event id concerns (their status or their
    /// authorization servers).
    pub since: Option<i64>,
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
