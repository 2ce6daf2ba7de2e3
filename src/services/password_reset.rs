//! "Forgot your password?": a request mails a single-use link (its token stored hashed, valid
//! 30 minutes) to the account's address, with the same answer whether or not the address has
//! an account; requests are throttled per address and per account. Confirming with the token
//! and a new password sets it, ends every session of the account and the other links, and is
//! audited; a notice follows by mail.

use std::sync::Arc;

use super::Directory;
use super::accounts::Throttle;
use crate::keys::credentials;
use crate::mail::Outgoing;
use crate::model::audit::Entry;
use crate::model::inputs::{Email, Password};
use crate::model::{Error, Result};
use crate::store::{self, write_transaction};

/// How long a reset link works.
const LIFETIME: time::Duration = time::Duration::minutes(30);

/// The purpose of a reset link's token.
const PURPOSE: &str = "password_reset";

/// What a request answers, whoever asked.
pub const REQUESTED: &str = "If the address has an account, a link to choose a new password is on its way; it works once, for 30 minutes.";

/// Asks for a reset link for `email`, from the client address `client`. Answers the same
/// whether or not the address has an account; too many requests from an address within the
/// throttle's window answer 429, too many for one account send nothing more.
pub async fn request(
    dir: &Arc<Directory>,
    email: String,
    client: String,
    throttle: Throttle,
) -> Result<()> {
    let (shared, at) = (dir.clone(), dir.now());
    if email.len() > 254 {
        return Err(Error::Validation(
            "email: must be at most 254 characters".into(),
        ));
    }
    // An address no account can have answers like one without an account.
    let email = Email::parse("email", &email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    dir.db(move |conn| {
        let address = format!("reset-addr:{client}");
        let account = format!("reset:{email}");
        let since = at - throttle.window;
        let counts = store::users::failure_counts(conn, &[&address, &account], since)?;
        let count = |key: &str| counts.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
        let max = i64::from(throttle.max_failures);
        if count(&address) >= max {
            return Err(Error::TooManyRequests(format!(
                "too many requests; try again in {} minutes",
                throttle.window.whole_minutes().max(1)
            )));
        }
        store::users::record_failures(conn, &[&address, &account], at)?;
        let Some(user) = store::users::find_by_email(conn, &email)?.filter(|_| !email.is_empty())
        else {
            return Ok(());
        };
        if user.disabled_at.is_some() || count(&account) >= max {
            return Ok(());
        }
        let token = credentials::new_link_token();
        let hash = credentials::link_key(&token)
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("a link token too long")))?;
        let link = format!(
            "{}/password-reset/confirm?token={token}",
            shared.mailer.composer.public_url()
        );
        write_transaction(conn, |tx| {
            store::mail::insert_token(tx, &hash, user.id, PURPOSE, None, (at, at + LIFETIME))?;
            store::audit::record(
                tx,
                Entry::new(at, &user.actor(), "password.reset_requested", "user", user.id)
                    .details(serde_json::json!({"client": client})),
            )?;
            super::mail::queue(
                tx,
                &shared.mailer.composer,
                Some(user.id),
                &Outgoing {
                    kind: "password_reset",
                    to: user.email.clone(),
                    subject: "choose a new password".into(),
                    paragraphs: vec![
                        format!("Someone (we hope you) asked to choose a new password for {}.", user.email),
                        "The link below works once, for 30 minutes. Choosing a new password signs out every session of the account.".into(),
                        "If you did not ask, ignore this message: your password stays as it is.".into(),
                    ],
                    action: Some(("Choose a new password".into(), link)),
                },
                at,
            )
        })
    })
    .await
}

/// Sets a new password with a reset link's token: once, within its 30 minutes (a conflict
/// otherwise). Ends every session of the account and its other links; audited as
/// `password.reset`, and a notice is mailed.
pub async fn confirm(dir: &Arc<Directory>, token: String, new_password: String) -> Result<()> {
    let (shared, at) = (dir.clone(), dir.now());
    let password = Password::parse(&new_password).map_err(|e| match e {
        Error::Validation(m) => Error::Validation(m.replacen("password", "new_password", 1)),
        other => other,
    })?;
    let hash = credentials::hash_password(&password)?;
    dir.db(move |conn| {
        let expired =
            || Error::Conflict("the link expired or was used already; ask for a new one".into());
        let key = credentials::link_key(token.trim()).ok_or_else(expired)?;
        write_transaction(conn, |tx| {
            let (user_id, _) =
                store::mail::use_token(tx, &key, PURPOSE, at)?.ok_or_else(expired)?;
            let user = store::users::find(tx, user_id)?.ok_or_else(expired)?;
            if user.disabled_at.is_some() {
                return Err(expired());
            }
            store::users::set_password_hash(tx, user.id, &hash)?;
            // Its other links end too: a pending address change among them.
            store::mail::end_all_tokens(tx, user.id, at)?;
            let ended = store::sessions::delete_all(tx, user.id)?;
            store::audit::record(
                tx,
                Entry::new(at, &user.actor(), "password.reset", "user", user.id)
                    .details(serde_json::json!({"sessions_ended": ended})),
            )?;
            super::mail::queue(
                tx,
                &shared.mailer.composer,
                Some(user.id),
                &super::notices::password_changed(&user.email),
                at,
            )
        })
    })
    .await
}
