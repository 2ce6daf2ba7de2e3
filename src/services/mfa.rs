//! Second factors: enrolling an authenticator app (TOTP) or a passkey (WebAuthn, through
//! `services::passkeys`), the second step of a log-in (a passkey, a code of one of the
//! account's apps, or one of its recovery codes), removing a factor and regenerating the
//! recovery codes. Codes are accepted once (the last accepted step is
//! stored), with one step of clock skew either way; failures are throttled per account and
//! per address like failed passwords. Every change is audited, never with a secret.

use std::sync::Arc;

use super::Directory;
use super::accounts::Throttle;
use super::passkeys::{self, Begun};
use crate::keys::{credentials, mfa};
use crate::model::account::User;
use crate::model::audit::Entry;
use crate::model::{Error, Result, Timestamp};
use crate::store::mfa::TotpFactor;
use crate::store::passkeys::PasskeyRow;
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
    pub passkeys: Vec<PasskeyRow>,
    pub recovery_codes_left: i64,
    /// Why passkeys cannot be added here, when they cannot.
    pub passkeys_unavailable: Option<String>,
    /// The organisations of the account that require a second factor of their members
    /// (legal names), while the account has none.
    pub required_by: Vec<String>,
}

impl Factors {
    /// Whether the account has any second factor.
    pub fn any(&self) -> bool {
        !self.apps.is_empty() || !self.passkeys.is_empty()
    }
}

/// What a person shows as their second factor.
pub enum Proof {
    /// A code of an authenticator app, or a recovery code.
    Code(String),
    /// The browser's answer (JSON) to a passkey ceremony begun by [`begin_check`].
    Passkey {
        ceremony: String,
        credential: String,
    },
}

/// A factor's name as its owner gave it (trimmed): 1 to 60 characters.
fn factor_name(name: &str, kind: &str, example: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(Error::Validation(format!(
            "name: give the {kind} a name of 1 to 60 characters, such as \"{example}\""
        )));
    }
    Ok(name.to_owned())
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
    let name = factor_name(&name, "app", "phone")?;
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
            let first = !store::sessions::has_second_factor(tx, user.id)?;
            if !store::mfa::confirm(tx, &factor.id, step as i64, at)? {
                return Err(Error::Conflict("the enrolment was confirmed already".into()));
            }
            enrolled(
                tx,
                &shared,
                &user,
                &session_secret,
                first,
                serde_json::json!({"kind": "totp", "factor": factor.id, "name": factor.name}),
                at,
            )
        })
    })
    .await
}

/// What follows a factor's enrolment in its transaction: the session counts as having shown
/// it, the audit entry, the notice by mail, and the recovery codes when it is the account's
/// `first` factor.
fn enrolled(
    tx: &mut DbConnection,
    shared: &Directory,
    user: &User,
    session_secret: &str,
    first: bool,
    details: serde_json::Value,
    at: Timestamp,
) -> Result<Option<Vec<String>>> {
    if let Some(hash) = credentials::session_key(session_secret) {
        store::sessions::renew_second_factor(tx, &hash, at)?;
    }
    notify(tx, shared, user, true, &details, at)?;
    audit(tx, user, "mfa.enrol", details, at)?;
    if !first {
        return Ok(None);
    }
    Ok(Some(new_codes(tx, user, at)?))
}

/// Mails the account's owner that a factor (`details`: its kind and name) was added or
/// removed.
fn notify(
    tx: &mut DbConnection,
    shared: &Directory,
    user: &User,
    added: bool,
    details: &serde_json::Value,
    at: Timestamp,
) -> Result<()> {
    let notice = super::notices::second_factor(
        &user.email,
        added,
        details["kind"].as_str().unwrap_or_default(),
        details["name"].as_str().unwrap_or_default(),
    );
    super::mail::queue(tx, &shared.mailer.composer, Some(user.id), &notice, at)
}

/// A new set of recovery codes (the old set ends), audited; the codes in clear, to show once.
fn new_codes(tx: &mut DbConnection, user: &User, at: Timestamp) -> Result<Vec<String>> {
    let codes = mfa::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
    store::mfa::replace_recovery_codes(tx, user.id, &hashes, at)?;
    audit(
        tx,
        user,
        "mfa.recovery_codes",
        serde_json::json!({"count": hashes.len()}),
        at,
    )?;
    Ok(codes.into_iter().map(|(code, _)| code).collect())
}

/// Starts adding a passkey or security key named `name`: the options for the browser.
pub async fn start_passkey(dir: &Arc<Directory>, user: &User, name: String) -> Result<Begun> {
    let name = factor_name(&name, "passkey", "laptop")?;
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| passkeys::begin_registration(conn, &shared.passkeys, &user, &name, at))
        .await
}

/// Completes adding a passkey with the browser's answer. Returns the recovery codes when it
/// is the account's first second factor; the session counts as having shown it.
pub async fn confirm_passkey(
    dir: &Arc<Directory>,
    user: &User,
    session_secret: String,
    ceremony: String,
    credential: String,
) -> Result<Option<Vec<String>>> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let first = !store::sessions::has_second_factor(tx, user.id)?;
            let row = passkeys::finish_registration(
                tx,
                &shared.passkeys,
                &user,
                &ceremony,
                &credential,
                at,
            )?;
            enrolled(
                tx,
                &shared,
                &user,
                &session_secret,
                first,
                serde_json::json!({"kind": "passkey", "factor": row.id, "name": row.name}),
                at,
            )
        })
    })
    .await
}

/// Begins a passkey check for the log-in's second step or a step-up: the options for the
/// browser, or `None` when the account has no passkey (or passkeys are not offered).
pub async fn begin_check(dir: &Arc<Directory>, user: &User) -> Result<Option<Begun>> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| passkeys::begin_authentication(conn, &shared.passkeys, &user, at))
        .await
}

/// Removes every second factor of the account `email` (apps, passkeys, recovery codes) and
/// ends its sessions (a person who lost their phone or key and their recovery codes; they log
/// in with the password and enrol again). Audited as `mfa.reset` by `actor`; operators
/// cannot reset their own.
pub fn reset_in(
    conn: &mut DbConnection,
    email: &str,
    actor: &crate::model::Actor,
    at: Timestamp,
) -> Result<usize> {
    let user = super::accounts::by_email(conn, email)?;
    reset_user_in(conn, &user, actor, at)
}

/// [`reset_in`] from the portal: an operator resets the account `target`; returns its email
/// and how many factors went.
pub async fn reset(
    dir: &Arc<Directory>,
    actor: crate::model::Actor,
    target: crate::model::UserId,
) -> Result<(String, usize)> {
    let at = dir.now();
    dir.db(move |conn| {
        if !actor.is_operator() {
            return Err(Error::Forbidden(
                "only operators reset second factors".into(),
            ));
        }
        let user = store::users::find(conn, target)?.ok_or(Error::NotFound("account"))?;
        let removed = reset_user_in(conn, &user, &actor, at)?;
        Ok((user.email, removed))
    })
    .await
}

fn reset_user_in(
    conn: &mut DbConnection,
    user: &User,
    actor: &crate::model::Actor,
    at: Timestamp,
) -> Result<usize> {
    if actor.user_id() == Some(user.id) {
        return Err(Error::Forbidden(
            "nobody resets their own second factors: ask another operator".into(),
        ));
    }
    write_transaction(conn, |tx| {
        let apps = store::mfa::delete_all(tx, user.id)?;
        let passkeys = store::passkeys::delete_all(tx, user.id)?;
        let sessions = store::sessions::delete_all(tx, user.id)?;
        store::audit::record(
            tx,
            Entry::new(at, actor, "mfa.reset", "user", user.id.to_string()).details(
                serde_json::json!({"apps": apps, "passkeys": passkeys, "sessions_ended": sessions}),
            ),
        )?;
        Ok(apps + passkeys)
    })
}

/// Whether the account has a second factor.
pub async fn has_second_factor(dir: &Arc<Directory>, user: crate::model::UserId) -> Result<bool> {
    dir.db(move |conn| Ok(store::sessions::has_second_factor(conn, user)?))
        .await
}

/// The account's confirmed apps, its passkeys and how many recovery codes it has left.
pub async fn factors(dir: &Arc<Directory>, user: &User) -> Result<Factors> {
    let (id, unavailable) = (user.id, dir.passkeys.unavailable().map(str::to_owned));
    dir.db(move |conn| {
        let mut factors = Factors {
            apps: store::mfa::confirmed(conn, id)?,
            passkeys: store::passkeys::of_user(conn, id)?,
            recovery_codes_left: store::mfa::recovery_codes_left(conn, id)?,
            passkeys_unavailable: unavailable,
            required_by: vec![],
        };
        if !factors.any() {
            factors.required_by = store::organisations::requiring_second_factor_of(conn, id)?;
        }
        Ok(factors)
    })
    .await
}

/// Removes one of the account's factors (an app or a passkey); with the last one go the
/// recovery codes.
pub async fn remove(dir: &Arc<Directory>, user: &User, id: String) -> Result<()> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let details = if let Some(app) = store::mfa::find(tx, user.id, &id)? {
                store::mfa::delete(tx, user.id, &id)?;
                serde_json::json!({"kind": "totp", "factor": app.id, "name": app.name})
            } else if let Some(passkey) = store::passkeys::find(tx, user.id, &id)? {
                store::passkeys::delete(tx, user.id, &id)?;
                serde_json::json!({"kind": "passkey", "factor": passkey.id, "name": passkey.name})
            } else {
                return Err(Error::NotFound("second factor"));
            };
            if !store::sessions::has_second_factor(tx, user.id)? {
                store::mfa::replace_recovery_codes(tx, user.id, &[], at)?;
            }
            notify(tx, &shared, &user, false, &details, at)?;
            audit(tx, &user, "mfa.remove", details, at)
        })
    })
    .await
}

/// New recovery codes for an account with a second factor; the old set ends.
pub async fn regenerate_codes(dir: &Arc<Directory>, user: &User) -> Result<Vec<String>> {
    let (at, user) = (dir.now(), user.clone());
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            if !store::sessions::has_second_factor(tx, user.id)? {
                return Err(Error::Conflict(
                    "recovery codes come with a second factor: add a passkey or an authenticator app first"
                        .into(),
                ));
            }
            new_codes(tx, &user, at)
        })
    })
    .await
}

/// Checks a proof: the answer of one of the account's passkeys to the ceremony it names, a
/// current code of one of its apps not accepted before, or one of its unused recovery codes
/// (then audited). Failures count per account and per address, like failed passwords.
fn check(
    conn: &mut DbConnection,
    shared: &Directory,
    user: &User,
    proof: &Proof,
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
    let passed = match proof {
        Proof::Code(code) => check_code(conn, shared, user, code, at)?,
        Proof::Passkey {
            ceremony,
            credential,
        } => {
            passkeys::finish_authentication(conn, &shared.passkeys, user, ceremony, credential, at)?
                .map(|passkey| serde_json::json!({"kind": "passkey", "factor": passkey.id}))
        }
    };
    let Some(how) = passed else {
        store::users::record_failures(conn, &[&account, &address], at)?;
        return Err(Error::Unauthorized(match proof {
            Proof::Code(_) => {
                "wrong code, or a code already used; enter the app's next code".into()
            }
            Proof::Passkey { .. } => {
                "the passkey's answer was refused; try again, or use a code".into()
            }
        }));
    };
    store::users::clear_failures(conn, &[&account])?;
    // Every use of a recovery code is audited (how many are left with it).
    if how["kind"] == "recovery_code" {
        audit(conn, user, "mfa.recovery_code_used", how, at)?;
    }
    Ok(())
}

/// The factor `code` belongs to: a current code of one of the account's apps (accepted once),
/// or one of its unused recovery codes (used up); `None` otherwise.
fn check_code(
    conn: &mut DbConnection,
    shared: &Directory,
    user: &User,
    code: &str,
    at: Timestamp,
) -> Result<Option<serde_json::Value>> {
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
    Ok(passed)
}

/// The second step of a log-in: the proof passes, and the session awaiting it is signed in.
pub async fn pass(
    dir: &Arc<Directory>,
    session_secret: String,
    user: &User,
    proof: Proof,
    client: String,
    throttle: Throttle,
) -> Result<()> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| {
        check(conn, &shared, &user, &proof, &client, &throttle, at)?;
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

/// Step-up: the proof passes and the session counts as having shown the second factor now.
pub async fn step_up(
    dir: &Arc<Directory>,
    session_secret: String,
    user: &User,
    proof: Proof,
    client: String,
    throttle: Throttle,
) -> Result<()> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    dir.db(move |conn| {
        check(conn, &shared, &user, &proof, &client, &throttle, at)?;
        if let Some(hash) = credentials::session_key(&session_secret) {
            store::sessions::renew_second_factor(conn, &hash, at)?;
        }
        Ok(())
    })
    .await
}
