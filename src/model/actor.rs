//! Who acts ([`Actor`]) and what they may do with one organisation ([`Access`]). The rules are
//! here; services resolve an actor's access from the database and call them.

use super::client::{ClientId, Scope};
use super::error::{Error, Result};
use super::ids::{OrgId, UserId};
use super::inputs::MemberRole;

/// Who acts: an account (through a portal session or an API token), the command line, or
/// the directory itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in account.
    User {
        id: UserId,
        email: String,
        operator: bool,
    },
    /// A software product's or an organisation's own software, with an access token of the
    /// directory's token endpoint: it reaches that product (or that organisation and its
    /// products) only, within its scopes.
    Client {
        client: ClientId,
        organisation: OrgId,
        scopes: Vec<Scope>,
    },
    /// The command line, acting on an operator's behalf.
    Cli,
    /// The directory itself (key generation, expiry sweeps).
    System,
}

impl Actor {
    /// The account acting, if an account acts.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Actor::User { id, .. } => Some(*id),
            Actor::Client { .. } | Actor::Cli | Actor::System => None,
        }
    }

    /// Operators, the command line and the directory may do what operators may.
    pub fn is_operator(&self) -> bool {
        match self {
            Actor::User { operator, .. } => *operator,
            Actor::Client { .. } => false,
            Actor::Cli | Actor::System => true,
        }
    }

    /// How the actor appears in the audit log: an email address, `cli` or `system`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::User { email, .. } => email.clone(),
            Actor::Client { client, .. } => format!("client:{client}"),
            Actor::Cli => "cli".into(),
            Actor::System => "system".into(),
        }
    }

    pub fn require_operator(&self) -> Result<()> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(Error::Forbidden(
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
    /// A non-operator's access from their membership role in the organisation, if any; an
    /// outsider learns nothing about the organisation (404).
    pub fn of_member(role: Option<MemberRole>) -> Result<Access> {
        role.map(Access::Member)
            .ok_or(Error::NotFound("organisation"))
    }

    /// Operators and organisation admins manage members, contacts, organisation keys and
    /// authorization servers.
    pub fn require_admin(self) -> Result<()> {
        match self {
            Access::Operator | Access::Member(MemberRole::Admin) => Ok(()),
            Access::Member(MemberRole::Developer) => Err(Error::Forbidden(
                "only an admin of the organisation may do this".into(),
            )),
        }
    }

    /// Only operators approve, reject, suspend, reinstate and revoke.
    pub fn require_operator(self) -> Result<()> {
        match self {
            Access::Operator => Ok(()),
            Access::Member(_) => Err(Error::Forbidden(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_and_the_directory_act_as_operators_under_their_own_names() {
        assert!(Actor::Cli.is_operator() && Actor::System.is_operator());
        assert_eq!(Actor::Cli.audit_name(), "cli");
        assert_eq!(Actor::System.user_id(), None);
        let dev = Actor::User {
            id: UserId::random(),
            email: "dev@example.com".into(),
            operator: false,
        };
        assert!(dev.require_operator().is_err());
        assert_eq!(dev.audit_name(), "dev@example.com");
    }

    #[test]
    fn admins_manage_developers_read_outsiders_learn_nothing() {
        assert!(Access::Member(MemberRole::Admin).require_admin().is_ok());
        assert!(
            Access::Member(MemberRole::Developer)
                .require_admin()
                .is_err()
        );
        assert!(
            Access::Member(MemberRole::Admin)
                .require_operator()
                .is_err()
        );
        assert!(matches!(Access::of_member(None), Err(Error::NotFound(_))));
    }
}
