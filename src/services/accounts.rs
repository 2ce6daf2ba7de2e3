//! Accounts: sign-up and the command line create them, log-in checks passwords under a
//! throttle, portal sessions live on the server, API tokens are stored as hashes, and
//! operators disable accounts.

use std::sync::Arc;

use super::Directory;
use crate::keys::credentials;
use crate::model::account::{Account, ApiToken, NewToken, User};
use crate::model::audit::Entry;
use crate::model::inputs::{Email, Password, text};
use crate::model::{Actor, Error, Page, PageRequest, Result, Timestamp, TokenId, UserId};
use crate::store::{self, DbConnection, write_transaction};

/// Creates an account. `by` is the actor recorded in the audit log (`None`: the new user
/// signed themselves up).
pub fn create_user_in(
    conn: &mut DbConnection,
    email: &str,
    password: &str,
    is_operator: bool,
    by: Option<&Actor>,
    verify: Option<&crate::mail::Composer>,
    at: Timestamp,
) -> Result<User> {
    let email = Email::parse("email", email)?;
    let password = Password::parse(password)?;
    let user = User {
        id: UserId::random(),
        email: email.as_str().to_owned(),
        password_hash: credentials::hash_password(&password)?,
        is_operator,
        created_at: at,
        disabled_at: None,
        // Made by someone else (the command line): verified by them.
        email_verified_at: by.is_some().then_some(at),
        notifications: true,
    };
    write_transaction(conn, |tx| {
        if store::users::find_by_email(tx, &user.email)?.is_some() {
            return Err(Error::Conflict(format!(
                "email: an account for {} already exists",
                user.email
            )));
        }
        store::users::insert(tx, &user)?;
        let actor = by.cloned().unwrap_or_else(|| user.actor());
        let action = if by.is_some() {
            "user.create"
        } else {
            "user.signup"
        };
        store::audit::record(
            tx,
            Entry::new(at, &actor, action, "user", user.id)
                .details(serde_json::json!({"email": user.email, "operator": is_operator})),
        )?;
        if let (Some(composer), None) = (verify, by) {
            super::verification::send_link_in(tx, composer, &user, at)?;
        }
        Ok(user)
    })
}

/// Limits on failed log-ins.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub max_failures: u32,
    pub window: time::Duration,
}

impl Throttle {
    /// The configured limits (`login_max_failures` in `login_throttle_window_secs`).
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            max_failures: config.login_max_failures,
            window: time::Duration::seconds(config.login_throttle_window_secs as i64),
        }
    }
}

/// The longest an account under attack makes each log-in wait.
const MAX_DELAY_SECS: u64 = 5;

/// A log-in attempt: its outcome and how long to wait before answering.
pub struct LogIn {
    pub result: Result<User>,
    pub delay: std::time::Duration,
}

/// Checks an email and password. Failures are counted three ways within the window: from
/// the client address (for any account), for the account from that address, and for the
/// account from anywhere. The first two refuse further attempts once they reach
/// `max_failures`; the third only slows every attempt on the account down (a second per
/// failure beyond the limit, at most five), so that an attacker's failures never lock the
/// owner out: the right password from another address still logs in. Unknown accounts cost
/// as much as known ones.
pub fn log_in_in(
    conn: &mut DbConnection,
    email: &str,
    password: &str,
    client: &str,
    throttle: Throttle,
    at: Timestamp,
) -> Result<LogIn> {
    let email = email.trim().to_lowercase();
    let address = format!("addr:{client}");
    let pair = format!("pair:{email}|{client}");
    let account = format!("email:{email}");
    let counts =
        store::users::failure_counts(conn, &[&address, &pair, &account], at - throttle.window)?;
    let count = |key: &str| counts.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
    let max = i64::from(throttle.max_failures);
    if count(&address) >= max || count(&pair) >= max {
        return Ok(LogIn {
            result: Err(Error::TooManyRequests(format!(
                "too many failed log-ins from this address; try again in {} minutes",
                throttle.window.whole_minutes().max(1)
            ))),
            delay: std::time::Duration::ZERO,
        });
    }
    let beyond = (count(&account) - max + 1).max(0) as u64;
    let delay = std::time::Duration::from_secs(beyond.min(MAX_DELAY_SECS));

    let user = store::users::find_by_email(conn, &email)?;
    let ok = match &user {
        Some(user) => credentials::verify_password(password, &user.password_hash),
        None => {
            credentials::verify_nothing(password);
            false
        }
    };
    let result = match user {
        Some(user) if ok => {
            store::users::clear_failures(conn, &[&pair, &account])?;
            if user.disabled_at.is_some() {
                Err(Error::Unauthorized(
                    "this account is disabled; ask a directory operator".into(),
                ))
            } else {
                Ok(user)
            }
        }
        _ => {
            store::users::record_failures(conn, &[&address, &pair, &account], at)?;
            Err(Error::Unauthorized("wrong email or password".into()))
        }
    };
    Ok(LogIn { result, delay })
}

/// Changes the caller's own password after checking the current one, and ends every session
/// of the account (the portal starts the caller's afresh).
pub fn change_password_in(
    conn: &mut DbConnection,
    actor: &Actor,
    current: &str,
    new: &str,
    notify: Option<&crate::mail::Composer>,
    at: Timestamp,
) -> Result<()> {
    let new = Password::parse(new)?;
    let user_id = actor.user_id().ok_or(Error::NotFound("user"))?;
    let user = store::users::find(conn, user_id)?.ok_or(Error::NotFound("user"))?;
    if !credentials::verify_password(current, &user.password_hash) {
        return Err(Error::Validation(
            "current_password: this is not the account's password".into(),
        ));
    }
    let hash = credentials::hash_password(&new)?;
    write_transaction(conn, |tx| {
        store::users::set_password_hash(tx, user.id, &hash)?;
        // A link mailed before (a pending address change, a reset) ends with the old password.
        store::mail::end_all_tokens(tx, user.id, at)?;
        let ended = store::sessions::delete_all(tx, user.id)?;
        store::audit::record(
            tx,
            Entry::new(at, actor, "user.password_change", "user", user.id)
                .details(serde_json::json!({"sessions_ended": ended})),
        )?;
        if let Some(composer) = notify {
            let notice = super::notices::password_changed(&user.email);
            super::mail::queue(tx, composer, Some(user.id), &notice, at)?;
        }
        Ok(())
    })
}

/// Every account, by email; operators only. `email` narrows to addresses containing it.
pub fn list_accounts_in(
    conn: &mut DbConnection,
    actor: &Actor,
    email: Option<&str>,
    page: PageRequest,
) -> Result<Page<Account>> {
    actor.require_operator()?;
    let pattern = email
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| format!("%{}%", e.to_lowercase().replace(['%', '_'], "")));
    Ok(store::users::list(conn, pattern.as_deref(), page)?.map(Account::from))
}

/// The account with this email, or 404.
pub fn by_email(conn: &mut DbConnection, email: &str) -> Result<User> {
    store::users::find_by_email(conn, &email.trim().to_lowercase())?
        .ok_or(Error::NotFound("account"))
}

/// Disables or enables an account; operators only, never their own. Disabling ends every
/// session of the account at once; its API tokens stop working while it is disabled.
pub fn set_disabled_in(
    conn: &mut DbConnection,
    actor: &Actor,
    user_id: UserId,
    disabled: bool,
    at: Timestamp,
) -> Result<Account> {
    actor.require_operator()?;
    if actor.user_id() == Some(user_id) {
        return Err(Error::Conflict(
            "operators cannot disable their own account".into(),
        ));
    }
    write_transaction(conn, |tx| {
        let user = store::users::find(tx, user_id)?.ok_or(Error::NotFound("user"))?;
        if user.disabled_at.is_some() == disabled {
            return Err(Error::Conflict(format!(
                "the account is already {}",
                if disabled { "disabled" } else { "enabled" }
            )));
        }
        store::users::set_disabled(tx, user_id, disabled.then_some(at))?;
        let ended = if disabled {
            store::mail::end_all_tokens(tx, user_id, at)?;
            store::sessions::delete_all(tx, user_id)?
        } else {
            0
        };
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        store::audit::record(
            tx,
            Entry::new(at, actor, action, "user", user_id)
                .details(serde_json::json!({"email": user.email, "sessions_ended": ended})),
        )?;
        Ok(Account::from(User {
            disabled_at: disabled.then_some(at),
            ..user
        }))
    })
}

/// Creates an API token for `owner`; its secret is returned once and stored as a hash.
///
/// `expires_at`: when it stops working (`None`: when it is revoked).
pub fn create_token_in(
    conn: &mut DbConnection,
    owner: &Actor,
    name: &str,
    by: &Actor,
    expires_at: Option<Timestamp>,
    notify: Option<&crate::mail::Composer>,
    at: Timestamp,
) -> Result<NewToken> {
    let owner_id = owner
        .user_id()
        .ok_or_else(|| Error::Validation("tokens belong to accounts".into()))?;
    let name = text("name", name, 100)?;
    let secret = credentials::new_token();
    let token = ApiToken {
        id: TokenId::random(),
        name,
        created_at: at,
        revoked_at: None,
        expires_at,
    };
    let hash = credentials::secret_hash(&secret);
    write_transaction(conn, |tx| {
        store::users::insert_token(tx, owner_id, &token, &hash)?;
        store::audit::record(
            tx,
            Entry::new(at, by, "token.create", "api_token", token.id).details(serde_json::json!({
                "name": token.name,
                "owner": owner.audit_name(),
                "expires_at": token.expires_at.map(|t| t.to_string()),
            })),
        )?;
        if let (Some(composer), Actor::User { email, .. }) = (notify, owner) {
            let notice = super::notices::token_created(email, &token.name);
            super::mail::queue(tx, composer, Some(owner_id), &notice, at)?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(NewToken { token, secret })
}

/// The owner's tokens, newest first.
pub fn list_tokens_in(conn: &mut DbConnection, owner: &Actor) -> Result<Vec<ApiToken>> {
    match owner.user_id() {
        Some(id) => Ok(store::users::tokens(conn, id)?),
        None => Ok(vec![]),
    }
}

/// Revokes one of the owner's own tokens; other users' token ids answer 404.
pub fn revoke_token_in(
    conn: &mut DbConnection,
    owner: &Actor,
    token: TokenId,
    at: Timestamp,
) -> Result<()> {
    let owner_id = owner.user_id().ok_or(Error::NotFound("token"))?;
    write_transaction(conn, |tx| {
        match store::users::token_revoked_at(tx, owner_id, token)? {
            None => Err(Error::NotFound("token")),
            Some(Some(_)) => Err(Error::Conflict("the token is already revoked".into())),
            Some(None) => {
                store::users::revoke_token(tx, token, at)?;
                store::audit::record(
                    tx,
                    Entry::new(at, owner, "token.revoke", "api_token", token),
                )?;
                Ok(())
            }
        }
    })
}

/// The account behind a bearer token, or 401 for an unknown, revoked or expired token, or one whose
/// account is disabled (its tokens are revoked while it is).
pub fn authenticate_token_in(
    conn: &mut DbConnection,
    secret: &str,
    at: Timestamp,
) -> Result<Actor> {
    let rejected = || Error::Unauthorized("the API token is unknown, revoked or expired".into());
    let Some(hash) = credentials::token_key(secret) else {
        return Err(rejected());
    };
    store::users::by_token_hash(conn, &hash, at)?
        .map(|u| u.actor())
        .ok_or_else(rejected)
}

/// Starts a portal session for an account that just logged in; returns its secret, for the
/// encrypted cookie. It ends after `ttl` whatever the cookie says.
///
/// An account with a second factor gets a session that awaits it: it reaches nothing but
/// the second step of the log-in (`mfa::pass`).
/// `second_factor_passed`: the session replaces one that passed it (a password change).
pub fn start_session_in(
    conn: &mut DbConnection,
    user: UserId,
    ttl: time::Duration,
    second_factor_passed: bool,
    at: Timestamp,
) -> Result<(String, bool)> {
    let secret = credentials::new_session();
    let awaiting = !second_factor_passed && store::sessions::has_second_factor(conn, user)?;
    store::sessions::insert(
        conn,
        &credentials::secret_hash(&secret),
        user,
        at + ttl,
        awaiting,
        at,
    )?;
    Ok((secret, awaiting))
}

/// The account of a live session, signed in (`awaiting_second_factor` false) or awaiting
/// its second factor (true).
pub fn resolve_session_in(
    conn: &mut DbConnection,
    secret: &str,
    awaiting_second_factor: bool,
    at: Timestamp,
) -> Result<Option<User>> {
    match credentials::session_key(secret) {
        Some(hash) => Ok(store::sessions::resolve(
            conn,
            &hash,
            awaiting_second_factor,
            at,
        )?),
        None => Ok(None),
    }
}

/// Ends one session (logout).
pub fn end_session_in(conn: &mut DbConnection, secret: &str) -> Result<()> {
    if let Some(hash) = credentials::session_key(secret) {
        store::sessions::delete(conn, &hash)?;
    }
    Ok(())
}

/// Forgets expired sessions, old log-in failures, expired invitations, machine clients'
/// expired tokens and spent assertions (expiry is enforced when they are read; this keeps the
/// tables small). Returns how many rows went.
pub fn housekeeping(
    conn: &mut DbConnection,
    throttle_window: time::Duration,
    at: Timestamp,
) -> Result<usize> {
    Ok(store::sessions::sweep(conn, at)?
        + store::users::sweep_failures(conn, at - throttle_window)?
        + store::organisations::sweep_invitations(conn, at)?
        + store::oauth::sweep(conn, at)?)
}

// The same, on the blocking pool, for the web.

/// The caller's account (tokens belong to accounts; a machine client has none).
pub async fn me(dir: &Arc<Directory>, actor: Actor) -> Result<User> {
    let id = actor
        .user_id()
        .ok_or_else(|| Error::Unauthorized("tokens belong to accounts".into()))?;
    dir.db(move |conn| store::users::find(conn, id)?.ok_or(Error::NotFound("account")))
        .await
}

/// Turns the caller's notices that are not about its security on or off; audited.
pub async fn set_notifications(dir: &Arc<Directory>, actor: Actor, on: bool) -> Result<User> {
    let at = dir.now();
    let id = actor
        .user_id()
        .ok_or_else(|| Error::Unauthorized("tokens belong to accounts".into()))?;
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            store::users::set_notifications(tx, id, on)?;
            store::audit::record(
                tx,
                Entry::new(at, &actor, "user.notifications", "user", id)
                    .details(serde_json::json!({"notifications": on})),
            )?;
            store::users::find(tx, id)?.ok_or(Error::NotFound("account"))
        })
    })
    .await
}

pub async fn create_user(
    dir: &Arc<Directory>,
    email: String,
    password: String,
    is_operator: bool,
    by: Option<Actor>,
) -> Result<User> {
    let (at, shared) = (dir.now(), dir.clone());
    dir.db(move |conn| {
        let composer = &shared.mailer.composer;
        create_user_in(
            conn,
            &email,
            &password,
            is_operator,
            by.as_ref(),
            Some(composer),
            at,
        )
    })
    .await
}

pub async fn log_in(
    dir: &Arc<Directory>,
    email: String,
    password: String,
    client: String,
    throttle: Throttle,
) -> Result<LogIn> {
    let at = dir.now();
    dir.db(move |conn| log_in_in(conn, &email, &password, &client, throttle, at))
        .await
}

pub async fn change_password(
    dir: &Arc<Directory>,
    actor: Actor,
    current: String,
    new: String,
) -> Result<()> {
    let at = dir.now();
    let shared = dir.clone();
    dir.db(move |conn| {
        let composer = &shared.mailer.composer;
        change_password_in(conn, &actor, &current, &new, Some(composer), at)
    })
    .await
}

pub async fn list_accounts(
    dir: &Arc<Directory>,
    actor: Actor,
    email: Option<String>,
    page: PageRequest,
) -> Result<Page<Account>> {
    dir.db(move |conn| list_accounts_in(conn, &actor, email.as_deref(), page))
        .await
}

pub async fn set_disabled(
    dir: &Arc<Directory>,
    actor: Actor,
    user: UserId,
    disabled: bool,
) -> Result<Account> {
    let at = dir.now();
    dir.db(move |conn| set_disabled_in(conn, &actor, user, disabled, at))
        .await
}

/// A token for the caller; an operator's expires after `operator_token_ttl_days`.
pub async fn create_token(dir: &Arc<Directory>, actor: Actor, name: String) -> Result<NewToken> {
    let at = dir.now();
    let expires_at = actor
        .is_operator()
        .then(|| at + time::Duration::days(i64::from(dir.config.operator_token_ttl_days)));
    let shared = dir.clone();
    dir.db(move |conn| {
        super::verification::require_verified(conn, &actor)?;
        let composer = &shared.mailer.composer;
        create_token_in(conn, &actor, &name, &actor, expires_at, Some(composer), at)
    })
    .await
}

pub async fn list_tokens(dir: &Arc<Directory>, actor: Actor) -> Result<Vec<ApiToken>> {
    dir.db(move |conn| list_tokens_in(conn, &actor)).await
}

pub async fn revoke_token(dir: &Arc<Directory>, actor: Actor, token: TokenId) -> Result<()> {
    let at = dir.now();
    dir.db(move |conn| revoke_token_in(conn, &actor, token, at))
        .await
}

pub async fn authenticate_token(dir: &Arc<Directory>, secret: String) -> Result<Actor> {
    let at = dir.now();
    dir.db(move |conn| authenticate_token_in(conn, &secret, at))
        .await
}

/// Starts a portal session of `session_ttl_secs`; its secret, and whether it awaits the
/// account's second factor.
pub async fn start_session(
    dir: &Arc<Directory>,
    user: UserId,
    second_factor_passed: bool,
) -> Result<(String, bool)> {
    let at = dir.now();
    let ttl = time::Duration::seconds(dir.config.session_ttl_secs as i64);
    dir.db(move |conn| start_session_in(conn, user, ttl, second_factor_passed, at))
        .await
}

/// The account of a signed-in session (`awaiting_second_factor` false), or of one that
/// awaits its second factor (true).
pub async fn resolve_session(
    dir: &Arc<Directory>,
    secret: String,
    awaiting_second_factor: bool,
) -> Result<Option<User>> {
    let at = dir.now();
    dir.db(move |conn| resolve_session_in(conn, &secret, awaiting_second_factor, at))
        .await
}

pub async fn end_session(dir: &Arc<Directory>, secret: String) -> Result<()> {
    dir.db(move |conn| end_session_in(conn, &secret)).await
}
