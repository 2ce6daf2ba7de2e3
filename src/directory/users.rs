//! Accounts: sign-up and the command line create users (argon2id password hashes), log-in
//! checks passwords with a throttle on repeated failures, and API tokens are stored as SHA-256
//! hashes of random secrets shown once.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::schema::{api_tokens, login_failures, users};
use crate::db::{DbConnection, write_transaction};
use crate::error::AppError;

use super::access::Actor;
use super::audit::Event;
use super::now;
use super::types::{Email, Password, text};

/// A stored account.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub is_operator: bool,
    pub created_at: time::PrimitiveDateTime,
    /// Set while an operator has disabled the account.
    pub disabled_at: Option<time::PrimitiveDateTime>,
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
            .finish()
    }
}

impl User {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id.clone(),
            email: self.email.clone(),
            is_operator: self.is_operator,
        }
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email.eq(email))
            .select(User::as_select())
            .first(conn)
            .optional()
    }
}

/// Hashes a password with argon2id and a random salt (slow by design: call off the executor).
pub fn hash_password(password: &Password) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("cannot hash a password: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Creates an account. `by` is the actor recorded in the audit log (`None`: the new user
/// signed themselves up).
pub fn create_user(
    conn: &mut DbConnection,
    email: &str,
    password: &str,
    is_operator: bool,
    by: Option<&Actor>,
) -> Result<User, AppError> {
    let email = Email::parse("email", email)?;
    let password = Password::parse(password)?;
    let password_hash = hash_password(&password)?;
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.as_str().to_owned(),
        password_hash,
        is_operator,
        created_at: now(),
        disabled_at: None,
    };
    write_transaction(conn, |tx| {
        if User::find_by_email(tx, &user.email)?.is_some() {
            return Err(AppError::Conflict(format!(
                "email: an account for {} already exists",
                user.email
            )));
        }
        diesel::insert_into(users::table)
            .values(&user)
            .execute(tx)?;
        let actor = by.cloned().unwrap_or_else(|| user.actor());
        let action = if by.is_some() {
            "user.create"
        } else {
            "user.signup"
        };
        Event::new(&actor, action, "user", &user.id)
            .details(serde_json::json!({"email": user.email, "operator": is_operator}))
            .record(tx)?;
        Ok(user)
    })
}

/// Limits on failed log-ins.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub max_failures: u32,
    pub window: time::Duration,
}

/// The longest an account under attack makes each log-in wait.
const MAX_DELAY_SECS: u64 = 5;

/// A log-in attempt: its outcome and how long to wait before answering.
pub struct LogIn {
    pub result: Result<User, AppError>,
    pub delay: std::time::Duration,
}

/// Checks an email and password. Failures are counted three ways within the window: from
/// the client address (for any account), for the account from that address, and for the
/// account from anywhere. The first two refuse further attempts once they reach
/// `max_failures`; the third only slows every attempt on the account down (a second per
/// failure beyond the limit, at most five), so that an attacker's failures never lock the
/// owner out: the right password from another address still logs in. Unknown accounts cost
/// as much as known ones.
pub fn log_in(
    conn: &mut DbConnection,
    email: &str,
    password: &str,
    client: &str,
    throttle: Throttle,
) -> Result<LogIn, AppError> {
    let email = email.trim().to_lowercase();
    let address = format!("addr:{client}");
    let pair = format!("pair:{email}|{client}");
    let account = format!("email:{email}");
    let since = now() - throttle.window;
    let counts: Vec<(String, i64)> = login_failures::table
        .filter(login_failures::throttle_key.eq_any([&address, &pair, &account]))
        .filter(login_failures::failed_at.gt(since))
        .group_by(login_failures::throttle_key)
        .select((login_failures::throttle_key, diesel::dsl::count_star()))
        .load(conn)?;
    let count = |key: &str| counts.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
    let max = i64::from(throttle.max_failures);
    if count(&address) >= max || count(&pair) >= max {
        return Ok(LogIn {
            result: Err(AppError::TooManyRequests(format!(
                "too many failed log-ins from this address; try again in {} minutes",
                throttle.window.whole_minutes().max(1)
            ))),
            delay: std::time::Duration::ZERO,
        });
    }
    let beyond = (count(&account) - max + 1).max(0) as u64;
    let delay = std::time::Duration::from_secs(beyond.min(MAX_DELAY_SECS));

    let user = User::find_by_email(conn, &email)?;
    let ok = match &user {
        Some(user) => verify_password(password, &user.password_hash),
        None => {
            // Spend the same time as for a real account so that timing reveals nothing.
            let _ = verify_password(password, DUMMY_HASH);
            false
        }
    };
    let result = match user {
        Some(user) if ok => {
            diesel::delete(
                login_failures::table
                    .filter(login_failures::throttle_key.eq_any([&pair, &account])),
            )
            .execute(conn)?;
            if user.disabled_at.is_some() {
                Err(AppError::Unauthorized(
                    "this account is disabled; ask a directory operator".into(),
                ))
            } else {
                Ok(user)
            }
        }
        _ => {
            let at = now();
            // One statement per row: batch inserts are not portable over both backends.
            for key in [&address, &pair, &account] {
                diesel::insert_into(login_failures::table)
                    .values((
                        login_failures::throttle_key.eq(key),
                        login_failures::failed_at.eq(at),
                    ))
                    .execute(conn)?;
            }
            Err(AppError::Unauthorized("wrong email or password".into()))
        }
    };
    Ok(LogIn { result, delay })
}

/// Forgets failed log-ins older than the window; returns how many.
pub fn sweep_login_failures(conn: &mut DbConnection, window: time::Duration) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::failed_at.le(now() - window)))
        .execute(conn)
}

/// Changes the caller's own password after checking the current one, and ends every session
/// of the account (the caller's portal session is started afresh by the portal).
pub fn change_password(
    conn: &mut DbConnection,
    actor: &Actor,
    current: &str,
    new: &str,
) -> Result<(), AppError> {
    let new = Password::parse(new)?;
    let user = User::find(conn, &actor.user_id)?.ok_or(AppError::NotFound("user"))?;
    if !verify_password(current, &user.password_hash) {
        return Err(AppError::Validation(
            "current_password: this is not the account's password".into(),
        ));
    }
    let hash = hash_password(&new)?;
    write_transaction(conn, |tx| {
        diesel::update(users::table.find(&user.id))
            .set(users::password_hash.eq(hash))
            .execute(tx)?;
        let ended = super::sessions::end_all(tx, &user.id)?;
        Event::new(actor, "user.password_change", "user", &user.id)
            .details(serde_json::json!({"sessions_ended": ended}))
            .record(tx)?;
        Ok(())
    })
}

/// An account as operators list it.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub user_id: String,
    pub email: String,
    pub operator: bool,
    #[serde(with = "super::rfc3339")]
    pub created_at: time::PrimitiveDateTime,
    #[serde(with = "super::rfc3339::option")]
    pub disabled_at: Option<time::PrimitiveDateTime>,
}

impl From<User> for Account {
    fn from(user: User) -> Self {
        Self {
            user_id: user.id,
            email: user.email,
            operator: user.is_operator,
            created_at: user.created_at,
            disabled_at: user.disabled_at,
        }
    }
}

/// Every account, by email; operators only. `email` narrows to addresses containing it.
pub fn list_accounts(
    conn: &mut DbConnection,
    actor: &Actor,
    email: Option<&str>,
    page: super::PageRequest,
) -> Result<super::Page<Account>, AppError> {
    actor.require_operator()?;
    let pattern = email
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| format!("%{}%", e.to_lowercase().replace(['%', '_'], "")));
    let query = || {
        let mut query = users::table.into_boxed();
        if let Some(pattern) = &pattern {
            query = query.filter(users::email.like(pattern.clone()));
        }
        query
    };
    let total: i64 = query().count().get_result(conn)?;
    let items = query()
        .select(User::as_select())
        .order(users::email.asc())
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?
        .into_iter()
        .map(Account::from)
        .collect();
    Ok(page.wrap(items, total))
}

/// Disables or enables an account; operators only, never their own. Disabling ends every
/// session of the account at once; its API tokens stop working while it is disabled.
pub fn set_disabled(
    conn: &mut DbConnection,
    actor: &Actor,
    user_id: &str,
    disabled: bool,
) -> Result<Account, AppError> {
    actor.require_operator()?;
    if user_id == actor.user_id {
        return Err(AppError::Conflict(
            "operators cannot disable their own account".into(),
        ));
    }
    write_transaction(conn, |tx| {
        let user = User::find(tx, user_id)?.ok_or(AppError::NotFound("user"))?;
        if user.disabled_at.is_some() == disabled {
            return Err(AppError::Conflict(format!(
                "the account is already {}",
                if disabled { "disabled" } else { "enabled" }
            )));
        }
        let at = disabled.then(now);
        diesel::update(users::table.find(user_id))
            .set(users::disabled_at.eq(at))
            .execute(tx)?;
        let ended = if disabled {
            super::sessions::end_all(tx, user_id)?
        } else {
            0
        };
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        Event::new(actor, action, "user", user_id)
            .details(serde_json::json!({"email": user.email, "sessions_ended": ended}))
            .record(tx)?;
        Ok(Account::from(User {
            disabled_at: at,
            ..user
        }))
    })
}

/// An argon2id hash of a random password, verified against when the account does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$6qJ2F9wD8cHtU1cN0xKpKj7o6Zq3G4VJ8Zm6c3yB0yU";

/// An API token as listed to its owner (never its secret).
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    #[serde(with = "super::rfc3339")]
    pub created_at: time::PrimitiveDateTime,
    #[serde(with = "super::rfc3339::option")]
    pub revoked_at: Option<time::PrimitiveDateTime>,
}

/// A freshly created token: the secret is shown once and stored only as a hash.
#[derive(Debug, Serialize)]
pub struct NewToken {
    #[serde(flatten)]
    pub token: ApiToken,
    pub secret: String,
}

const TOKEN_PREFIX: &str = "ssad_";

fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates an API token for the actor.
pub fn create_token(
    conn: &mut DbConnection,
    owner: &Actor,
    name: &str,
    by: &Actor,
) -> Result<NewToken, AppError> {
    let name = text("name", name, 100)?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let token = ApiToken {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        created_at: now(),
        revoked_at: None,
    };
    write_transaction(conn, |tx| {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(&token.id),
                api_tokens::user_id.eq(&owner.user_id),
                api_tokens::name.eq(&token.name),
                api_tokens::token_hash.eq(token_hash(&secret)),
                api_tokens::created_at.eq(token.created_at),
            ))
            .execute(tx)?;
        Event::new(by, "token.create", "api_token", &token.id)
            .details(serde_json::json!({"name": token.name, "owner": owner.email}))
            .record(tx)?;
        Ok::<_, AppError>(())
    })?;
    Ok(NewToken { token, secret })
}

/// The actor's tokens, newest first.
pub fn list_tokens(conn: &mut DbConnection, owner: &Actor) -> Result<Vec<ApiToken>, AppError> {
    Ok(api_tokens::table
        .filter(api_tokens::user_id.eq(&owner.user_id))
        .select(ApiToken::as_select())
        .order(api_tokens::created_at.desc())
        .load(conn)?)
}

/// Revokes one of the actor's own tokens; other users' token ids answer 404.
pub fn revoke_token(conn: &mut DbConnection, owner: &Actor, id: &str) -> Result<(), AppError> {
    write_transaction(conn, |tx| {
        let revoked_at: Option<Option<time::PrimitiveDateTime>> = api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::user_id.eq(&owner.user_id))
            .select(api_tokens::revoked_at)
            .first(tx)
            .optional()?;
        match revoked_at {
            None => Err(AppError::NotFound("token")),
            Some(Some(_)) => Err(AppError::Conflict("the token is already revoked".into())),
            Some(None) => {
                diesel::update(api_tokens::table.find(id))
                    .set(api_tokens::revoked_at.eq(Some(now())))
                    .execute(tx)?;
                Event::new(owner, "token.revoke", "api_token", id).record(tx)?;
                Ok(())
            }
        }
    })
}

/// The stored form (hash) of a token secret, or `None` for a secret no token can have.
pub fn token_key(secret: &str) -> Option<String> {
    (secret.starts_with(TOKEN_PREFIX) && secret.len() <= 100).then(|| token_hash(secret))
}

/// The actor behind a bearer token, or 401 for an unknown or revoked one, or one whose account
/// is disabled.
pub fn authenticate_token(conn: &mut DbConnection, secret: &str) -> Result<Actor, AppError> {
    // A disabled account's tokens are revoked for as long as it is disabled.
    let rejected = || AppError::Unauthorized("the API token is unknown or revoked".into());
    let Some(hash) = token_key(secret) else {
        return Err(rejected());
    };
    let user: Option<User> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(hash))
        .filter(api_tokens::revoked_at.is_null())
        .filter(users::disabled_at.is_null())
        .select(User::as_select())
        .first(conn)
        .optional()?;
    user.map(|u| u.actor()).ok_or_else(rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_are_argon2id_and_verify() {
        let hash = hash_password(&Password::parse("correct horse battery").unwrap()).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
    }

    #[test]
    fn the_dummy_hash_is_well_formed() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn token_hashes_are_stable_and_hide_the_secret() {
        let hash = token_hash("ssad_abc");
        assert_eq!(hash, token_hash("ssad_abc"));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("abc"));
    }
}
