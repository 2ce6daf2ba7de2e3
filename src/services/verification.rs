//! Verifying an account's address: sign-up mails a single-use link (valid 48 hours; its token
//! stored hashed), the account page sends it again (throttled), and the link verifies the
//! address. Until then the account can log in but not apply for an organisation, be invited to
//! one or create API tokens. Accounts made by the command line are verified by whoever made
//! them.
//!
//! A change of address works the same way: the account page mails a link to the new address,
//! and the account keeps its address until the link is opened; then the address changes, is
//! verified, and the old address is told.

use std::sync::Arc;

use super::Directory;
use crate::keys::credentials;
use crate::mail::{Composer, Outgoing};
use crate::model::account::User;
use crate::model::audit::Entry;
use crate::model::inputs::Email;
use crate::model::{Actor, Error, Result, Timestamp};
use crate::store::{self, DbConnection, write_transaction};

/// How long a verification link works.
const LIFETIME: time::Duration = time::Duration::hours(48);

/// The purpose of a verification link's token.
const PURPOSE: &str = "verify_email";

/// The purpose of an address change's token (which carries the new address).
const CHANGE: &str = "change_email";

/// Mails `user` a new verification link (the older ones end), in the caller's transaction.
pub fn send_link_in(
    tx: &mut DbConnection,
    composer: &Composer,
    user: &User,
    at: Timestamp,
) -> Result<()> {
    let token = credentials::new_link_token();
    let hash = credentials::link_key(&token)
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("a link token too long")))?;
    store::mail::insert_token(tx, &hash, user.id, PURPOSE, None, (at, at + LIFETIME))?;
    let link = format!("{}/verify-email?token={token}", composer.public_url());
    super::mail::queue(
        tx,
        composer,
        Some(user.id),
        &Outgoing {
            kind: "verify_email",
            to: user.email.clone(),
            subject: "verify your address".into(),
            paragraphs: vec![
                format!("Welcome. To finish making the account {}, verify that this address is yours.", user.email),
                "Until then the account can log in but cannot apply for an organisation, be invited to one or create API tokens. The link works once, for 48 hours.".into(),
                "If you did not make this account, ignore this message.".into(),
            ],
            action: Some(("Verify the address".into(), link)),
        },
        at,
    )
}

/// Sends the signed-in account's verification link again; throttled like log-ins (per
/// account), and refused once the address is verified.
pub async fn resend(dir: &Arc<Directory>, user: &User) -> Result<()> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    let (max, window) = (
        i64::from(dir.config.login_max_failures),
        time::Duration::seconds(dir.config.login_throttle_window_secs as i64),
    );
    dir.db(move |conn| {
        let current = store::users::find(conn, user.id)?.ok_or(Error::NotFound("account"))?;
        if current.email_verified_at.is_some() {
            return Err(Error::Conflict("the address is verified already".into()));
        }
        let key = format!("verify:{}", user.id);
        let counts = store::users::failure_counts(conn, &[&key], at - window)?;
        if counts.iter().any(|(_, n)| *n >= max) {
            return Err(Error::TooManyRequests(format!(
                "the link was sent several times lately; try again in {} minutes",
                window.whole_minutes().max(1)
            )));
        }
        store::users::record_failures(conn, &[&key], at)?;
        write_transaction(conn, |tx| {
            send_link_in(tx, &shared.mailer.composer, &current, at)
        })
    })
    .await
}

/// Mails a link to `new_email` that changes the signed-in account's address to it; the
/// account's password confirms the request. The address stays as it is until the link is
/// opened. Throttled like [`resend`]; audited as `user.email_change_requested`.
pub async fn request_change(
    dir: &Arc<Directory>,
    user: &User,
    new_email: String,
    password: String,
) -> Result<String> {
    let (shared, at, user) = (dir.clone(), dir.now(), user.clone());
    let (max, window) = (
        i64::from(dir.config.login_max_failures),
        time::Duration::seconds(dir.config.login_throttle_window_secs as i64),
    );
    let email = Email::parse("email", &new_email)?;
    dir.db(move |conn| {
        let current = store::users::find(conn, user.id)?.ok_or(Error::NotFound("account"))?;
        if !credentials::verify_password(&password, &current.password_hash) {
            return Err(Error::Validation(
                "current_password: this is not the account's password".into(),
            ));
        }
        if email.as_str() == current.email {
            return Err(Error::Validation(format!(
                "email: {email} is the account's address already"
            )));
        }
        if store::users::find_by_email(conn, email.as_str())?.is_some() {
            return Err(Error::Conflict(format!(
                "email: an account for {email} already exists"
            )));
        }
        let key = format!("verify:{}", current.id);
        let counts = store::users::failure_counts(conn, &[&key], at - window)?;
        if counts.iter().any(|(_, n)| *n >= max) {
            return Err(Error::TooManyRequests(format!(
                "a link was sent several times lately; try again in {} minutes",
                window.whole_minutes().max(1)
            )));
        }
        store::users::record_failures(conn, &[&key], at)?;
        let composer = &shared.mailer.composer;
        write_transaction(conn, |tx| {
            let token = credentials::new_link_token();
            let hash = credentials::link_key(&token)
                .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("a link token too long")))?;
            let window = (at, at + LIFETIME);
            store::mail::insert_token(tx, &hash, current.id, CHANGE, Some(email.as_str()), window)?;
            store::audit::record(
                tx,
                Entry::new(at, &current.actor(), "user.email_change_requested", "user", current.id)
                    .details(serde_json::json!({"email": email.as_str()})),
            )?;
            let link = format!("{}/verify-email?token={token}", composer.public_url());
            super::mail::queue(
                tx,
                composer,
                Some(current.id),
                &Outgoing {
                    kind: "verify_email_change",
                    to: email.as_str().to_owned(),
                    subject: "verify your new address".into(),
                    paragraphs: vec![
                        format!("The account {} asked to use this address, {email}, from now on.", current.email),
                        "Verify that this address is yours to make the change; until then the account keeps its address. The link works once, for 48 hours.".into(),
                        "If you did not ask for this, ignore this message: nothing changes.".into(),
                    ],
                    action: Some(("Verify the new address".into(), link)),
                },
                at,
            )?;
            Ok(email.as_str().to_owned())
        })
    })
    .await
}

/// Opens a mailed link: verifies the address of the account, or changes it to the new address
/// the link was sent to (and tells the old one); once, within its 48 hours. Returns the
/// address; audited as `user.email_verified` or `user.email_changed`.
pub async fn confirm(dir: &Arc<Directory>, token: String) -> Result<String> {
    let (shared, at) = (dir.clone(), dir.now());
    dir.db(move |conn| {
        let expired = || {
            Error::Validation(
                "token: the link expired or was used already; log in and ask for a new one on your account page".into(),
            )
        };
        let key = credentials::link_key(token.trim()).ok_or_else(expired)?;
        write_transaction(conn, |tx| {
            let (id, new_address) = match store::mail::use_token(tx, &key, PURPOSE, at)? {
                Some((id, _)) => (id, None),
                None => store::mail::use_token(tx, &key, CHANGE, at)?
                    .filter(|(_, address)| address.is_some())
                    .ok_or_else(expired)?,
            };
            let mut user = store::users::find(tx, id)?.ok_or_else(expired)?;
            if user.disabled_at.is_some() {
                return Err(expired());
            }
            match new_address {
                None => {
                    store::users::set_verified(tx, user.id, at)?;
                    store::mail::end_tokens(tx, user.id, PURPOSE, at)?;
                    store::audit::record(
                        tx,
                        Entry::new(at, &user.actor(), "user.email_verified", "user", user.id),
                    )?;
                }
                Some(address) => {
                    if store::users::find_by_email(tx, &address)?.is_some() {
                        return Err(Error::Conflict(format!(
                            "email: an account for {address} was made meanwhile; the address stays {}",
                            user.email
                        )));
                    }
                    match store::users::set_email(tx, user.id, &address, at) {
                        Err(e) if store::is_unique_violation(&e) => {
                            return Err(Error::Conflict(format!(
                                "email: an account for {address} was made meanwhile"
                            )));
                        }
                        other => other?,
                    }
                    // Every link mailed before ends: to the old address (a reset) or not.
                    store::mail::end_all_tokens(tx, user.id, at)?;
                    store::audit::record(
                        tx,
                        Entry::new(at, &user.actor(), "user.email_changed", "user", user.id)
                            .details(serde_json::json!({"from": user.email, "to": address})),
                    )?;
                    let notice = super::notices::address_changed(&user.email, &address);
                    super::mail::queue(tx, &shared.mailer.composer, Some(user.id), &notice, at)?;
                    user.email = address;
                }
            }
            // Invitations of the address, made before it had an account, are accepted now.
            for (org, role) in store::organisations::take_address_invitations(tx, &user.email, at)? {
                if store::organisations::role_of(tx, org, user.id)?.is_some() {
                    continue;
                }
                store::organisations::insert_member(tx, org, user.id, role, at)?;
                store::audit::record(
                    tx,
                    Entry::new(at, &user.actor(), "invitation.accept", "user", user.id)
                        .organisation(org)
                        .details(serde_json::json!({"email": user.email, "role": role.as_str(), "on": "verification"})),
                )?;
            }
            Ok(user.email)
        })
    })
    .await
}

/// Refuses an account whose address is not verified (403, saying how to verify it); other
/// actors pass.
pub fn require_verified(conn: &mut DbConnection, actor: &Actor) -> Result<()> {
    let Some(id) = actor.user_id() else {
        return Ok(());
    };
    let verified = store::users::find(conn, id)?.is_some_and(|u| u.email_verified_at.is_some());
    if verified {
        return Ok(());
    }
    Err(Error::Forbidden(
        "verify your address first: open the link mailed to you (your account page sends it again)"
            .into(),
    ))
}

/// Refuses to invite an account whose address is not verified.
pub fn require_invitable(user: &User) -> Result<()> {
    if user.email_verified_at.is_some() {
        return Ok(());
    }
    Err(Error::Validation(format!(
        "email: {} has not verified its address yet; invite it once it has",
        user.email
    )))
}
