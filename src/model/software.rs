//! Software products: what they are, how they are registered and edited, the re-approval rule
//! for changes, and what an active product may get ([`Software::eligibility`]).

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::ids::{OrgId, SoftwareId};
use super::inputs::{Environment, HttpsUrl, RegulatedRole};
use super::invalid;
use super::organisation::Organisation;
use super::status::Status;
use super::time::{Timestamp, rfc3339};

/// At most this many redirect URIs per product.
pub const MAX_REDIRECT_URIS: usize = 20;

/// A software product as the API and the portal show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Software {
    /// The `software_id` of its statements.
    pub id: SoftwareId,
    pub organisation_id: OrgId,
    /// The `software_client_id` of its statements.
    pub client_id: String,
    pub client_name: String,
    pub description: String,
    pub version: String,
    #[schema(format = Uri)]
    pub client_uri: Option<String>,
    #[schema(format = Uri)]
    pub logo_uri: Option<String>,
    #[schema(format = Uri)]
    pub tos_uri: Option<String>,
    #[schema(format = Uri)]
    pub policy_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub roles: Vec<RegulatedRole>,
    pub environment: Environment,
    pub status: Status,
    pub status_reason: Option<String>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// A change waiting for an operator's decision; `null` when there is none.
    pub pending_change: Option<PendingChange>,
}

/// A change to an approved product that waits for an operator's decision: a move to
/// production and/or roles it does not hold yet. Until it is approved, statements carry the
/// approved values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingChange {
    /// The environment asked for (a move to production).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The roles asked for (at least one of them not approved yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RegulatedRole>>,
    /// Who asked, as the audit log names them.
    pub requested_by: String,
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    pub requested_at: String,
}

/// What an active product of an active organisation may get, and nothing else may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// A software statement assertion.
    Statement,
    /// A transport or signing certificate.
    Certificate,
    /// A new key in the software's keystore.
    Key,
    /// An access token for the directory's API (or the use of one).
    Token,
}

impl Grant {
    fn noun(self) -> &'static str {
        match self {
            Grant::Statement => "a software statement",
            Grant::Certificate => "a certificate",
            Grant::Key => "new keys in its keystore",
            Grant::Token => "access tokens",
        }
    }
}

/// Why a product may not get a [`Grant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// Its organisation is not active.
    Organisation(Status),
    /// It is not active itself.
    Software(Status),
}

impl Ineligible {
    /// The refusal as the caller sees it: a conflict that says why and what would allow it.
    pub fn refusal(self, grant: Grant) -> Error {
        Error::Conflict(match self {
            Ineligible::Organisation(status) => format!(
                "the organisation is {status}; only software of an active organisation gets {}",
                grant.noun()
            ),
            Ineligible::Software(status) => format!(
                "the software is {status}; only active software gets {}",
                grant.noun()
            ),
        })
    }
}

impl Software {
    /// Whether the product may get statements, certificates and new keys: only an active
    /// product of an active organisation may.
    pub fn eligibility(&self, organisation: Status) -> Result<(), Ineligible> {
        if organisation != Status::Active {
            return Err(Ineligible::Organisation(organisation));
        }
        if self.status != Status::Active {
            return Err(Ineligible::Software(self.status));
        }
        Ok(())
    }

    /// The status that matters to relying parties (see [`Status::effective`]).
    pub fn effective_status(&self, organisation: Status) -> Status {
        self.status.effective(organisation)
    }

    /// Products that are pending or active can be edited.
    pub fn editable(&self) -> bool {
        matches!(self.status, Status::Pending | Status::Active)
    }
}

/// A product registration as submitted.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    #[schema(max_length = 200)]
    pub client_name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    #[serde(default)]
    #[schema(max_length = 50)]
    pub version: String,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub tos_uri: Option<String>,
    #[serde(default)]
    pub policy_uri: Option<String>,
    /// Absolute https URLs without fragments, at least one and at most 20.
    #[schema(min_items = 1, max_items = 20)]
    pub redirect_uris: Vec<String>,
    /// A subset of the organisation's roles.
    #[schema(min_items = 1)]
    pub roles: Vec<String>,
    /// `sandbox` or `production`.
    pub environment: String,
}

/// An edit: every field optional; an empty string clears an optional URI.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    pub client_name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
    pub environment: Option<String>,
}

/// The checked redirect URIs: at least one, at most [`MAX_REDIRECT_URIS`], https without
/// fragments, no duplicates.
pub fn redirect_uris(values: &[String]) -> Result<Vec<String>> {
    if values.is_empty() {
        return Err(invalid(
            "redirect_uris",
            "at least one redirect URI is required",
        ));
    }
    if values.len() > MAX_REDIRECT_URIS {
        return Err(invalid(
            "redirect_uris",
            format!("at most {MAX_REDIRECT_URIS} redirect URIs"),
        ));
    }
    let mut uris: Vec<String> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let uri = HttpsUrl::parse(&format!("redirect_uris[{i}]"), value)?.into_string();
        if uris.contains(&uri) {
            return Err(invalid(
                &format!("redirect_uris[{i}]"),
                format!("{uri:?} is listed twice"),
            ));
        }
        uris.push(uri);
    }
    Ok(uris)
}

/// The checked roles of a product: known roles, all of them the organisation's.
pub fn roles_within(values: &[String], organisation: &Organisation) -> Result<Vec<RegulatedRole>> {
    let roles = RegulatedRole::parse_list("roles", values)?;
    if let Some(outside) = roles.iter().find(|r| !organisation.roles.contains(r)) {
        return Err(invalid(
            "roles",
            format!(
                "{outside} is not a role of the organisation (it holds {})",
                organisation
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(roles)
}

/// An optional URI field: empty or absent means none.
pub fn optional_uri(field: &str, value: Option<&str>) -> Result<Option<String>> {
    Ok(HttpsUrl::parse_optional(field, value)?.map(HttpsUrl::into_string))
}

/// What happens to a product's pending change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDecision {
    /// An operator applies it.
    Approve,
    /// An operator refuses it (with a reason the members see).
    Reject,
    /// A member (or an operator) takes it back.
    Withdraw,
}

/// Which products a list holds; every field narrows it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoftwareFilter {
    /// Only products in this status.
    pub status: Option<Status>,
    /// Only products whose change waits for an operator's decision.
    pub pending_change: bool,
    /// Only products of this environment.
    pub environment: Option<Environment>,
    /// Only products with this role.
    pub role: Option<RegulatedRole>,
    /// Only products registered at or after this time.
    pub created_since: Option<Timestamp>,
    /// Only products changed at or after this time.
    pub changed_since: Option<Timestamp>,
}

/// The outcome of an edit.
#[derive(Debug, Clone)]
pub struct Edited {
    pub product: Software,
    /// Part of the edit waits for an operator's decision.
    pub held: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_bounded_and_unique() {
        assert!(redirect_uris(&[]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("https://a.example/{i}")).collect();
        assert!(
            redirect_uris(&many)
                .unwrap_err()
                .to_string()
                .contains("at most 20")
        );
        assert!(redirect_uris(&many[..20]).is_ok());
        let twice = vec![
            "https://a.example/cb".to_owned(),
            "https://a.example/cb".to_owned(),
        ];
        assert!(redirect_uris(&twice).is_err());
        let fragment = vec!["https://a.example/cb#x".to_owned()];
        assert!(
            redirect_uris(&fragment)
                .unwrap_err()
                .to_string()
                .contains("redirect_uris[0]")
        );
    }

    #[test]
    fn effective_status_needs_an_active_organisation() {
        assert_eq!(Status::Active.effective(Status::Active), Status::Active);
        assert_eq!(Status::Active.effective(Status::Pending), Status::Pending);
        assert_eq!(
            Status::Active.effective(Status::Suspended),
            Status::Suspended
        );
        assert_eq!(Status::Revoked.effective(Status::Active), Status::Revoked);
    }
}
