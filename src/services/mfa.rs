//! Second factors: enrolling an authenticator app (TOTP), the second step of a log-in (a code
//! of one of the account's apps, or one of its recovery codes), removing an app and
//! regenerating the recovery codes. Codes are accepted once (the last accepted step is
//! stored), with one step of clock skew either way; failures are throttled per account and
//! per address like failed passwords. Every change is audited, never with a secret.

use std::sync::Arc;

use super::Directory;
use super::accounts::Throttle;
use crate::keys::{credentials, mfa};
use crate::model::account::User;
use crate::model::audit::Entry;
use crate::model::{Error, Result, Timestamp};
use crate::store::mfa::TotpFactor;
use crate::store::{self, DbConnection, write_transaction};

/// An enrolment under way: what the person's app needs. The secret is shown on this page
/// only; the server keeps it sealed.
pub struct Enrolment {
    pub id: String,
    pub name: String,
    pub secret_base32: String,
    pub uri: String,
    pub qr_svg: String,
}

/// The second factors of an account, as its page shows them.
pub struct Factors {
    pub apps: Vec<TotpFactor>,
    pub recovery_codes_left: i64,
}

fn unix(at: Timestamp) -> u64 {
    at.assume_utc().unix_timestamp().max(0) as u64
}

fn audit(
    tx: &mut DbConnection,
    user: &User,
    action: &str,
    details: serde_json::Value,
    at: Timestamp,
) -> Result<()> {
    store::audit::record(
        tx,
        Entry::new(at, &user.actor(), action, "user", user.id.to_string()).details(details),
    )?;
    Ok(())
}

/// Starts enrolling an authenticator app named `name`: a new secret, sealed and kept as a
/// pending factor until [`confirm_totp`] sees its first code.
pub async fn start_totp(dir: &Arc<Directory>, user: &User, name: String) -> Result<Enrolment> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(Error::Validation(
            "name: give the app a name of 1 to 60 characters, such as \"phone\"".into(),
        ));
    }
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    let host = url::Url::parse(&dir.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "directory".into());
    dir.db(move |conn| {
        let id = uuid::Uuid::new_v4().to_string();
        let secret = mfa::new_totp_secret();
        let sealed = shared.mfa.seal(&secret, &id).map_err(Error::Unexpected)?;
        store::mfa::insert_pending(
            conn,
            &TotpFactor {
                id: id.clone(),
                user_id: user.id,
                name: name.clone(),
                sealed_secret: sealed,
                last_step: 0,
                created_at: at,
                confirmed_at: None,
            },
        )?;
        let issuer = format!("SSA Directory {host}");
        let (secret_base32, uri) =
            mfa::provisioning(&secret, &issuer, &user.email).map_err(Error::Unexpected)?;
        let qr_svg = mfa::qr_svg(&uri).map_err(Error::Unexpected)?;
        Ok(Enrolment {
            id,
            name,
            secret_base32,
            uri,
            qr_svg,
        })
    })
    .await
}

/// Confirms a pending enrolment with its first code. Returns the recovery codes when this is
/// the account's first second factor (shown once; stored hashed).
///
/// The session it happens in (`session_secret`) counts as having shown the factor.
pub async fn confirm_totp(
    dir: &Arc<Directory>,
    user: &User,
    session_secret: String,
    id: String,
    code: String,
) -> Result<Option<Vec<String>>> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| {
        let factor = store::mfa::find(conn, user.id, &id)?
            .filter(|f| f.confirmed_at.is_none())
            .ok_or(Error::NotFound("enrolment"))?;
        let secret = shared
            .mfa
            .open(&factor.sealed_secret, &factor.id)
            .map_err(Error::Unexpected)?;
        let step = mfa::matching_step(&secret, &code, mfa::step_of(unix(at)))
            .map_err(Error::Unexpected)?
            .ok_or_else(|| {
                Error::Validation(
                    "code: that is not the app's current code; check the phone's clock and try the next one".into(),
                )
            })?;
        write_transaction(conn, |tx| {
            let first = store::mfa::confirmed(tx, user.id)?.is_empty();
            if !store::mfa::confirm(tx, &factor.id, step as i64, at)? {
                return Err(Error::Conflict("the enrolment was confirmed already".into()));
            }
            if let Some(hash) = credentials::session_key(&session_secret) {
                store::sessions::renew_second_factor(tx, &hash, at)?;
            }
            audit(
                tx,
                &user,
                "mfa.enrol",
                serde_json::json!({"kind": "totp", "factor": factor.id, "name": factor.name}),
                at,
            )?;
            if !first {
                return Ok(None);
            }
            let codes = mfa::new_recovery_codes();
            let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
            store::mfa::replace_recovery_codes(tx, user.id, &hashes, at)?;
            audit(tx, &user, "mfa.recovery_codes", serde_json::json!({"count": hashes.len()}), at)?;
            Ok(Some(codes.into_iter().map(|(code, _)| code).collect()))
        })
    })
    .await
}

/// Removes every second factor of the account `email` and ends its sessions (a person who
/// lost their phone and their recovery codes; they log in with the password and enrol
/// again). Audited as `mfa.reset` by `actor`; operators cannot reset their own.
pub fn reset_in(
    conn: &mut DbConnection,
    email: &str,
    actor: &crate::model::Actor,
    at: Timestamp,
) -> Result<usize> {
    let user = super::accounts::by_email(conn, email)?;
    if actor.user_id() == Some(user.id) {
        return Err(Error::Forbidden(
            "nobody resets their own second factors: ask another operator".into(),
        ));
    }
    write_transaction(conn, |tx| {
        let apps = store::mfa::delete_all(tx, user.id)?;
        let sessions = store::sessions::delete_all(tx, user.id)?;
        store::audit::record(
            tx,
            Entry::new(at, actor, "mfa.reset", "user", user.id.to_string())
                .details(serde_json::json!({"apps": apps, "sessions_ended": sessions})),
        )?;
        Ok(apps)
    })
}

/// Whether the account has a second factor.
pub async fn has_second_factor(dir: &Arc<Directory>, user: crate::model::UserId) -> Result<bool> {
    dir.db(move |conn| Ok(store::sessions::has_second_factor(conn, user)?))
        .await
}

/// The account's confirmed apps and how many recovery codes it has left.
pub async fn factors(dir: &Arc<Directory>, user: &User) -> Result<Factors> {
    let id = user.id;
    dir.db(move |conn| {
        Ok(Factors {
            apps: store::mfa::confirmed(conn, id)?,
            recovery_codes_left: store::mfa::recovery_codes_left(conn, id)?,
        })
    })
    .await
}

/// Removes one of the account's apps; with the last one go the recovery codes.
pub async fn remove(dir: &Arc<Directory>, user: &User, id: String) -> Result<()> {
    let (at, user) = (dir.now(), user.clone());
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let factor =
                store::mfa::find(tx, user.id, &id)?.ok_or(Error::NotFound("second factor"))?;
            store::mfa::delete(tx, user.id, &id)?;
            if store::mfa::confirmed(tx, user.id)?.is_empty() {
                store::mfa::replace_recovery_codes(tx, user.id, &[], at)?;
            }
            audit(
                tx,
                &user,
                "mfa.remove",
                serde_json::json!({"kind": "totp", "factor": factor.id, "name": factor.name}),
                at,
            )
        })
    })
    .await
}

/// New recovery codes for an account with a second factor; the old set ends.
pub async fn regenerate_codes(dir: &Arc<Directory>, user: &User) -> Result<Vec<String>> {
    let (at, user) = (dir.now(), user.clone());
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            if store::mfa::confirmed(tx, user.id)?.is_empty() {
                return Err(Error::Conflict(
                    "recovery codes come with a second factor: add an authenticator app first"
                        .into(),
                ));
            }
            let codes = mfa::new_recovery_codes();
            let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
            store::mfa::replace_recovery_codes(tx, user.id, &hashes, at)?;
            audit(
                tx,
                &user,
                "mfa.recovery_codes",
                serde_json::json!({"count": hashes.len()}),
                at,
            )?;
            Ok(codes.into_iter().map(|(code, _)| code).collect())
        })
    })
    .await
}

/// Checks `code`: a current code of one of the account's apps not accepted before, or one of
/// its unused recovery codes (then audited). Failures count per account and per address,
/// like failed passwords.
fn check_code(
    conn: &mut DbConnection,
    shared: &Directory,
    user: &User,
    code: &str,
    client: &str,
    throttle: &Throttle,
    at: Timestamp,
) -> Result<()> {
    let account = format!("mfa:{}", user.id);
    let address = format!("addr:{client}");
    let counts = store::users::failure_counts(conn, &[&account, &address], at - throttle.window)?;
    let max = i64::from(throttle.max_failures);
    if counts.iter().any(|(_, n)| *n >= max) {
        return Err(Error::TooManyRequests(format!(
            "too many wrong codes; try again in {} minutes",
            throttle.window.whole_minutes().max(1)
        )));
    }
    let step = mfa::step_of(unix(at));
    let mut passed = None;
    for factor in store::mfa::confirmed(conn, user.id)? {
        // An app whose key no longer opens (keys/mfa.key lost) is passed over, so that a
        // recovery code still logs in.
        let secret = match shared.mfa.open(&factor.sealed_secret, &factor.id) {
            Ok(secret) => secret,
            Err(error) => {
                tracing::error!(factor = %factor.id, error = %format!("{error:#}"), "a second factor's key does not open");
                continue;
            }
        };
        if let Some(matched) = mfa::matching_step(&secret, code, step).map_err(Error::Unexpected)?
            && store::mfa::accept_step(conn, &factor.id, matched as i64)?
        {
            passed = Some(serde_json::json!({"kind": "totp", "factor": factor.id}));
            break;
        }
    }
    if passed.is_none() && code.trim().len() > 6 {
        let hash = mfa::recovery_hash(code);
        if store::mfa::use_recovery_code(conn, user.id, &hash, at)? {
            let left = store::mfa::recovery_codes_left(conn, user.id)?;
            passed = Some(serde_json::json!({"kind": "recovery_code", "left": left}));
        }
    }
    let Some(how) = passed else {
        store::users::record_failures(conn, &[&account, &address], at)?;
        return Err(Error::Unauthorized(
            "wrong code, or a code already used; enter the app's next code".into(),
        ));
    };
    store::users::clear_failures(conn, &[&account])?;
    // Every use of a recovery code is audited (how many are left with it).
    if how["kind"] == "recovery_code" {
        audit(conn, user, "mfa.recovery_code_used", how, at)?;
    }
    Ok(())
}

/// The second step of a log-in: `code` passes `check_code`, and the session awaiting it is
/// signed in.
pub async fn pass(
    dir: &Arc<Directory>,
    session_secret: String,
    user: &User,
    code: String,
    client: String,
    throttle: Throttle,
) -> Result<()> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| {
        check_code(conn, &shared, &user, &code, &client, &throttle, at)?;
        let hash = credentials::session_key(&session_secret).ok_or(Error::Unauthorized(
            "the log-in expired; log in again".into(),
        ))?;
        if !store::sessions::pass_second_factor(conn, &hash, at)? {
            return Err(Error::Unauthorized(
                "the log-in expired; log in again".into(),
            ));
        }
        Ok(())
    })
    .await
}

/// Whether a sensitive action in this signed-in session needs the second factor again: the
/// account has one and the session last showed it more than `step_up_secs` ago, or never
/// (enrolling an app in the session counts as showing it).
pub async fn needs_step_up(
    dir: &Arc<Directory>,
    session_secret: String,
    user: &User,
) -> Result<bool> {
    let (at, id, window) = (
        dir.now(),
        user.id,
        time::Duration::seconds(dir.config.step_up_secs as i64),
    );
    dir.db(move |conn| {
        if !store::sessions::has_second_factor(conn, id)? {
            return Ok(false);
        }
        let Some(hash) = credentials::session_key(&session_secret) else {
            return Ok(true);
        };
        let shown = store::sessions::second_factor_at(conn, &hash)?.flatten();
        Ok(shown.is_none_or(|shown| at - shown > window))
    })
    .await
}

/// Step-up: `code` passes `check_code` and the session counts as having shown the second
/// factor now.
pub async fn step_up(
    dir: &Arc<Directory>,
    session_secret: String,
    user: &User,
    code: String,
    client: String,
    throttle: Throttle,
) -> Result<()> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| {
        check_code(conn, &shared, &user, &code, &client, &throttle, at)?;
        if let Some(hash) = credentials::session_key(&session_secret) {
            store::sessions::renew_second_factor(conn, &hash, at)?;
        }
        Ok(())
    })
    .await
}
