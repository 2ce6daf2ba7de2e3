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
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub is_operator: bool,
    pub created_at: time::PrimitiveDateTime,
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

/// Limits on failed log-ins, per account and per client address.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub max_failures: u32,
    pub window: time::Duration,
}

/// Checks an email and password; throttled after `max_failures` failures within the window for
/// the account or for the client address. Unknown accounts cost as much as known ones.
pub fn log_in(
    conn: &mut DbConnection,
    email: &str,
    password: &str,
    client: &str,
    throttle: Throttle,
) -> Result<User, AppError> {
    let email = email.trim().to_lowercase();
    let keys = [format!("email:{email}"), format!("addr:{client}")];
    let since = now() - throttle.window;
    let recent: i64 = login_failures::table
        .filter(login_failures::throttle_key.eq_any(&keys))
        .filter(login_failures::failed_at.gt(since))
        .group_by(login_failures::throttle_key)
        .select(diesel::dsl::count_star())
        .load::<i64>(conn)?
        .into_iter()
        .max()
        .unwrap_or(0);
    if recent >= i64::from(throttle.max_failures) {
        return Err(AppError::TooManyRequests(format!(
            "too many failed log-ins; try again in {} minutes",
            throttle.window.whole_minutes().max(1)
        )));
    }

    let user = User::find_by_email(conn, &email)?;
    let ok = match &user {
        Some(user) => verify_password(password, &user.password_hash),
        None => {
            // Spend the same time as for a real account so that timing reveals nothing.
            let _ = verify_password(password, DUMMY_HASH);
            false
        }
    };
    match user {
        Some(user) if ok => {
            diesel::delete(login_failures::table.filter(login_failures::throttle_key.eq(&keys[0])))
                .execute(conn)?;
            Ok(user)
        }
        _ => {
            let at = now();
            // One statement per row: batch inserts are not portable over both backends.
            for key in &keys {
                diesel::insert_into(login_failures::table)
                    .values((
                        login_failures::throttle_key.eq(key),
                        login_failures::failed_at.eq(at),
                    ))
                    .execute(conn)?;
            }
            Err(AppError::Unauthorized("wrong email or password".into()))
        }
    }
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

/// The actor behind a bearer token, or 401 for an unknown or revoked one.
pub fn authenticate_token(conn: &mut DbConnection, secret: &str) -> Result<Actor, AppError> {
    let rejected = || AppError::Unauthorized("the API token is unknown or revoked".into());
    let Some(hash) = token_key(secret) else {
        return Err(rejected());
    };
    let user: Option<User> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(hash))
        .filter(api_tokens::revoked_at.is_null())
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
