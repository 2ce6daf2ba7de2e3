//! The status machine shared by organisations and software products:
//! pending -> active | rejected; active <-> suspended; any -> revoked (final).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// The status of an organisation or a software product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Active,
    Rejected,
    Suspended,
    Revoked,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Self::Pending,
        Self::Active,
        Self::Rejected,
        Self::Suspended,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Parses a status stored in the database, where anything else is corruption.
    pub fn from_db(value: &str) -> Result<Self> {
        Self::parse(value)
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("unknown status {value:?} stored")))
    }

    /// The status that matters to relying parties: a product (`self`) of an organisation in
    /// status `organisation` is active only when both are, pending while the organisation
    /// is, and otherwise takes the organisation's status.
    pub fn effective(self, organisation: Status) -> Status {
        match (self, organisation) {
            (Status::Active, Status::Active) => Status::Active,
            (Status::Active, Status::Pending) => Status::Pending,
            (Status::Active, other) => other,
            (own, _) => own,
        }
    }

    /// The status after `transition`, or why it is not allowed.
    pub fn apply(self, transition: Transition) -> Result<Status> {
        if let Some(next) = self.apply_rule(transition) {
            return Ok(next);
        }
        if self == Status::Revoked {
            return Err(Error::Conflict(format!(
                "cannot {} what is revoked: revocation is final",
                transition.as_str()
            )));
        }
        let allowed: Vec<_> = self.allowed().iter().map(|t| t.as_str()).collect();
        Err(Error::Conflict(format!(
            "cannot {} from status {}; allowed: {}",
            transition.as_str(),
            self.as_str(),
            allowed.join(", ")
        )))
    }

    /// The transitions allowed from this status (what the portal offers).
    pub fn allowed(self) -> Vec<Transition> {
        Transition::ALL
            .into_iter()
            .filter(|t| self.apply_rule(*t).is_some())
            .collect()
    }

    fn apply_rule(self, transition: Transition) -> Option<Status> {
        use Status::*;
        use Transition::*;
        match (self, transition) {
            (Pending, Approve) => Some(Active),
            (Pending, Reject) => Some(Rejected),
            (Active, Suspend) => Some(Suspended),
            (Suspended, Reinstate) => Some(Active),
            (Revoked, _) => None,
            (_, Revoke) => Some(Revoked),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operator's decision on an organisation or software product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Approve,
    Reject,
    Suspend,
    Reinstate,
    Revoke,
}

impl Transition {
    pub const ALL: [Transition; 5] = [
        Self::Approve,
        Self::Reject,
        Self::Suspend,
        Self::Reinstate,
        Self::Revoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Suspend => "suspend",
            Self::Reinstate => "reinstate",
            Self::Revoke => "revoke",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// Reject, suspend and revoke must say why; the organisation sees the reason.
    pub fn requires_reason(self) -> bool {
        matches!(self, Self::Reject | Self::Suspend | Self::Revoke)
    }

    /// The checked reason: required where the transition needs one, at most 1000 characters.
    pub fn reason(self, reason: Option<&str>) -> Result<Option<String>> {
        let reason = super::inputs::optional_text("reason", reason.unwrap_or(""), 1000)?;
        if reason.is_none() && self.requires_reason() {
            return Err(Error::Validation(format!(
                "reason: required to {}",
                self.as_str()
            )));
        }
        Ok(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::Transition::*;
    use super::*;

    #[test]
    fn the_happy_path() {
        assert_eq!(Pending.apply(Approve).unwrap(), Active);
        assert_eq!(Active.apply(Suspend).unwrap(), Suspended);
        assert_eq!(Suspended.apply(Reinstate).unwrap(), Active);
        assert_eq!(Pending.apply(Reject).unwrap(), Rejected);
    }

    #[test]
    fn anything_but_revoked_can_be_revoked() {
        for from in [Pending, Active, Rejected, Suspended] {
            assert_eq!(from.apply(Revoke).unwrap(), Revoked);
        }
    }

    #[test]
    fn revocation_is_final() {
        for t in Transition::ALL {
            let err = Revoked.apply(t).unwrap_err().to_string();
            assert!(err.contains("final"), "{err}");
        }
        assert!(Revoked.allowed().is_empty());
    }

    #[test]
    fn illegal_transitions_are_conflicts_that_list_the_allowed_ones() {
        let err = Active.apply(Approve).unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        assert_eq!(
            err.to_string(),
            "cannot approve from status active; allowed: suspend, revoke"
        );
        assert!(Rejected.apply(Approve).is_err());
        assert!(Pending.apply(Suspend).is_err());
        assert!(Active.apply(Reinstate).is_err());
    }

    #[test]
    fn reasons_are_required_where_the_organisation_must_learn_why() {
        assert!(Reject.reason(None).is_err());
        assert!(Suspend.reason(Some("  ")).is_err());
        assert_eq!(
            Revoke.reason(Some("fraud")).unwrap().as_deref(),
            Some("fraud")
        );
        assert_eq!(Approve.reason(None).unwrap(), None);
    }
}
