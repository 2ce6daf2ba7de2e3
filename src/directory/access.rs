//! Authorization, decided here and nowhere else: who the caller is ([`Actor`]) and what they
//! may do with one organisation ([`Access`]). A caller who is neither an operator nor a member
//! of an organisation learns nothing about it: its id answers 404.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{memberships, organisations};
use crate::error::AppError;

use super::types::MemberRole;

/// An authenticated caller (portal session, API token or the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub email: String,
    pub is_operator: bool,
}

impl Actor {
    /// The command line acting on the operator's behalf.
    pub fn cli() -> Self {
        Self {
            user_id: String::new(),
            email: "cli".into(),
            is_operator: true,
        }
    }

    /// The directory itself (key generation, expiry sweeps).
    pub fn system() -> Self {
        Self {
            user_id: String::new(),
            email: "system".into(),
            is_operator: true,
        }
    }

    /// How the actor appears in the audit log.
    pub fn audit_name(&self) -> String {
        self.email.clone()
    }

    pub fn require_operator(&self) -> Result<(), AppError> {
        if self.is_operator {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "only directory operators may do this".into(),
            ))
        }
    }
}

/// What an actor may do with one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Operator,
    Member(MemberRole),
}

impl Access {
    /// Resolves the actor's access to an organisation; 404 when the organisation does not
    /// exist or the actor is not allowed to know it does.
    pub fn to_organisation(
        conn: &mut DbConnection,
        actor: &Actor,
        organisation_id: &str,
    ) -> Result<Access, AppError> {
        if actor.is_operator {
            let exists: i64 = organisations::table
                .filter(organisations::id.eq(organisation_id))
                .count()
                .get_result(conn)?;
            return if exists > 0 {
                Ok(Access::Operator)
            } else {
                Err(AppError::NotFound("organisation"))
            };
        }
        let role: Option<String> = memberships::table
            .filter(memberships::organisation_id.eq(organisation_id))
            .filter(memberships::user_id.eq(&actor.user_id))
            .select(memberships::role)
            .first(conn)
            .optional()?;
        Self::of_member(role.as_deref())
    }

    /// A non-operator's access from their membership role in the organisation, if any.
    pub fn of_member(role: Option<&str>) -> Result<Access, AppError> {
        match role {
            Some(role) => Ok(Access::Member(MemberRole::parse("role", role)?)),
            None => Err(AppError::NotFound("organisation")),
        }
    }

    /// Operators and organisation admins manage members, contacts and authorization servers.
    pub fn require_admin(self) -> Result<(), AppError> {
        match self {
            Access::Operator | Access::Member(MemberRole::Admin) => Ok(()),
            Access::Member(MemberRole::Developer) => Err(AppError::Forbidden(
                "only an admin of the organisation may do this".into(),
            )),
        }
    }

    /// Only operators approve, reject, suspend, reinstate and revoke.
    pub fn require_operator(self) -> Result<(), AppError> {
        match self {
            Access::Operator => Ok(()),
            Access::Member(_) => Err(AppError::Forbidden(
                "only directory operators may change the status".into(),
            )),
        }
    }

    pub fn is_admin(self) -> bool {
        self.require_admin().is_ok()
    }

    pub fn is_operator(self) -> bool {
        self == Access::Operator
    }
}
