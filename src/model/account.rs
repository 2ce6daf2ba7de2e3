//! Accounts and their API tokens.

use serde::Serialize;

use super::actor::Actor;
use super::ids::{TokenId, UserId};
use super::time::{Timestamp, rfc3339};

/// A stored account.
#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    /// The argon2id hash of its password; never shown.
    pub password_hash: String,
    pub is_operator: bool,
    pub created_at: Timestamp,
    /// Set while an operator has disabled the account.
    pub disabled_at: Option<Timestamp>,
    /// When its address was verified (the mailed link, or created by the command line).
    pub email_verified_at: Option<Timestamp>,
    /// Whether it gets the notices that are not about its security.
    pub notifications: bool,
}

impl User {
    /// The account as the actor of what it does.
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.id,
            email: self.email.clone(),
            operator: self.is_operator,
        }
    }
}

/// Everything but the password hash, which never appears in logs or error messages.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"***")
            .field("is_operator", &self.is_operator)
            .field("created_at", &self.created_at)
            .field("disabled_at", &self.disabled_at)
            .field("email_verified_at", &self.email_verified_at)
            .field("notifications", &self.notifications)
            .finish()
    }
}

/// An account as operators list it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub user_id: UserId,
    #[schema(format = Email)]
    pub email: String,
    pub operator: bool,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Set while the account is disabled.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
    /// When its address was verified; unset until its owner opens the mailed link.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub email_verified_at: Option<Timestamp>,
}

impl From<User> for Account {
    fn from(user: User) -> Self {
        Self {
            user_id: user.id,
            email: user.email,
            operator: user.is_operator,
            created_at: user.created_at,
            disabled_at: user.disabled_at,
            email_verified_at: user.email_verified_at,
        }
    }
}

/// An API token as listed to its owner (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    /// What the token is for.
    pub name: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// When it stops working: an operator's token expires (`operator_token_ttl_days`);
    /// null for a token that lasts until revoked.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

/// A freshly created token: the secret is shown once and stored only as a hash.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NewToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The token itself, shown only this once: send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &self.token)
            .field("secret", &"***")
            .finish()
    }
}

/// Who an API token belongs to (`GET /api/v1/me`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user_id: UserId,
    #[schema(format = Email)]
    pub email: String,
    pub operator: bool,
    /// Whether the address is verified (the link mailed at sign-up).
    pub email_verified: bool,
    /// Whether the account gets the notices that are not about its security (decisions on
    /// its organisations); security notices always come.
    pub notifications: bool,
}

impl From<User> for Me {
    fn from(user: User) -> Self {
        Self {
            user_id: user.id,
            email: user.email,
            operator: user.is_operator,
            email_verified: user.email_verified_at.is_some(),
            notifications: user.notifications,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
        let user = User {
            id: UserId::random(),
            email: "dev@example.com".into(),
            password_hash: hash.into(),
            is_operator: false,
            created_at: crate::model::Clock::now(&crate::model::SystemClock),
            disabled_at: None,
            email_verified_at: None,
            notifications: true,
        };
        let shown = format!("{user:?} {user:#?}");
        assert!(shown.contains("dev@example.com"), "{shown}");
        assert!(!shown.contains("argon2id"), "{shown}");

        let token = NewToken {
            token: ApiToken {
                id: TokenId::random(),
                name: "ci".into(),
                created_at: crate::model::Clock::now(&crate::model::SystemClock),
                revoked_at: None,
                expires_at: None,
            },
            secret: "ssa_secretvalue".into(),
        };
        let shown = format!("{token:?}");
        assert!(
            shown.contains("ci") && !shown.contains("secretvalue"),
            "{shown}"
        );
    }
}
