//! The audit log: what happened, to what, by whom.

use serde::{Deserialize, Serialize};

use super::actor::Actor;
use super::ids::OrgId;
use super::time::{Timestamp, rfc3339};

/// One recorded state change, as operators read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Increasing with time.
    pub id: i64,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    /// Email address of who made the change, or `cli` or `system`.
    pub actor: String,
    /// What happened, such as `organisation.approve` or `certificate.hold`.
    pub action: String,
    /// Kind of the subject: organisation, software, user, api_token, participant_key,
    /// signing_key or certificate.
    pub subject_type: String,
    pub subject_id: String,
    /// The organisation concerned, if any.
    pub organisation_id: Option<String>,
    /// State before the change: an organisation's or software product's status, a
    /// certificate's (good, hold, revoked) or a signing key's (next, active, retired,
    /// removed); null for changes that are not state changes.
    #[schema(value_type = Option<AuditState>)]
    pub old_status: Option<String>,
    /// State after the change, from the same values as old_status.
    #[schema(value_type = Option<AuditState>)]
    pub new_status: Option<String>,
    pub reason: Option<String>,
    /// What changed, as JSON text (for edits: `{field: {from, to}}`).
    pub details: Option<String>,
}

/// The states an audit event can record: a status, a certificate state or a key state.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditState {
    Pending,
    Active,
    Rejected,
    Suspended,
    Revoked,
    Good,
    Hold,
    Next,
    Retired,
    Removed,
}

/// Filters of the audit log; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub subject_id: Option<String>,
    pub organisation_id: Option<String>,
}

impl AuditFilter {
    /// The filter with every value checked: an empty value, an `organisation_id` that is
    /// no UUID, an `action` that is not lower-case words with dots and underscores (such as
    /// `organisation.approve`), a `subject_id` that could be no subject's id (subjects are
    /// UUIDs, certificate serials and key ids, which are 1 to 128 printable characters) or
    /// an `actor` with control characters is refused rather than answered with nothing.
    pub fn checked(self) -> crate::model::Result<Self> {
        use crate::model::invalid;
        let printable = |field: &str, v: &str, max: usize| {
            if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
                Err(invalid(field, format!("1 to {max} printable characters")))
            } else {
                Ok(())
            }
        };
        let filter = self;
        if let Some(action) = &filter.action {
            let word = |c: char| c.is_ascii_lowercase() || c == '_' || c == '.' || c == '-';
            if action.is_empty() || action.len() > 64 || !action.chars().all(word) {
                return Err(invalid(
                    "action",
                    "an action such as organisation.approve (lower-case words joined by dots)",
                ));
            }
        }
        if let Some(actor) = &filter.actor {
            printable("actor", actor, 254)?;
        }
        if let Some(subject) = &filter.subject_id {
            printable("subject_id", subject, 128)?;
        }
        if let Some(org) = &filter.organisation_id
            && uuid::Uuid::parse_str(org).is_err()
        {
            return Err(invalid(
                "organisation_id",
                "not an organisation id (a UUID)",
            ));
        }
        Ok(filter)
    }
}

/// An event to record, built with [`Entry::new`] and the setters; the store appends it in the
/// transaction of the change it records.
#[derive(Debug, Clone)]
pub struct Entry {
    pub occurred_at: Timestamp,
    pub actor: String,
    pub action: String,
    pub subject_type: &'static str,
    pub subject_id: String,
    pub organisation_id: Option<String>,
    pub old_status: Option<String>,
    pub new_status: Option<String>,
    pub reason: Option<String>,
    pub details: Option<String>,
}

impl Entry {
    /// What `actor` did at `at` (the directory's clock, as the request read it).
    pub fn new(
        at: Timestamp,
        actor: &Actor,
        action: impl Into<String>,
        subject_type: &'static str,
        subject_id: impl ToString,
    ) -> Self {
        Self {
            occurred_at: at,
            actor: actor.audit_name(),
            action: action.into(),
            subject_type,
            subject_id: subject_id.to_string(),
            organisation_id: None,
            old_status: None,
            new_status: None,
            reason: None,
            details: None,
        }
    }

    pub fn organisation(mut self, id: OrgId) -> Self {
        self.organisation_id = Some(id.to_string());
        self
    }

    pub fn status(mut self, old: Option<&str>, new: Option<&str>) -> Self {
        self.old_status = old.map(str::to_owned);
        self.new_status = new.map(str::to_owned);
        self
    }

    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason.map(str::to_owned);
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details.to_string());
        self
    }
}
