//! The mail outbox: [`queue`] writes a message in the caller's transaction (so it exists if
//! and only if the change that causes it does), and the deliverer on every instance sends due
//! messages under a lease (no two instances send the same one at once), retrying temporary
//! failures with backoff until `mail_retry_secs`, marking permanent refusals (SMTP 5xx) failed
//! with the reason. A crash between sending and recording sends the message again, with the
//! same bytes and `Message-ID`: repeated, never lost.

use std::sync::Arc;

use super::Directory;
use crate::mail::{Composer, Outgoing};
use crate::model::{Error, Result, Timestamp, UserId};
use crate::store::mail::Queued;
use crate::store::{self, DbConnection};

/// How long an instance holds a message's lease while delivering it.
const LEASE: time::Duration = time::Duration::seconds(120);

/// The longest wait between two attempts.
const MAX_BACKOFF: time::Duration = time::Duration::minutes(5);

/// Writes `outgoing` into the outbox, for the account `user` when there is one. Call it in
/// the transaction of the change the message tells of.
pub fn queue(
    conn: &mut DbConnection,
    composer: &Composer,
    user: Option<UserId>,
    outgoing: &Outgoing,
    at: Timestamp,
) -> Result<()> {
    let id = uuid::Uuid::new_v4().to_string();
    let message = composer
        .compose(&id, outgoing)
        .map_err(|e| Error::Validation(format!("email: {e:#}")))?;
    store::mail::enqueue(
        conn,
        &Queued {
            id,
            kind: outgoing.kind.to_owned(),
            recipient: outgoing.to.clone(),
            user_id: user,
            message,
            status: "pending".into(),
            attempts: 0,
            last_error: None,
            created_at: at,
            next_attempt_at: at,
            sent_at: None,
        },
    )?;
    Ok(())
}

/// Writes a notice to each admin of `org` who wants notices (and is not disabled), and to its
/// business and technical contacts when it asks for that (each address once): `notice` makes
/// it for an address. In the caller's transaction.
pub fn to_admins(
    tx: &mut DbConnection,
    composer: &Composer,
    org: crate::model::OrgId,
    notice: impl Fn(&str) -> Outgoing,
    at: Timestamp,
) -> Result<()> {
    let admins = store::organisations::members(tx, org)?
        .into_iter()
        .filter(|m| m.role == crate::model::inputs::MemberRole::Admin);
    let mut sent = Vec::new();
    for admin in admins {
        let wanted = store::users::find(tx, admin.user_id)?
            .is_some_and(|u| u.notifications && u.disabled_at.is_none());
        if wanted {
            queue(tx, composer, Some(admin.user_id), &notice(&admin.email), at)?;
        }
        sent.push(admin.email.to_lowercase());
    }
    let Some(found) = store::organisations::find(tx, org)?.filter(|o| o.notify_contacts) else {
        return Ok(());
    };
    for contact in [found.business_contact.email, found.technical_contact.email] {
        let address = contact.trim().to_lowercase();
        if address.is_empty() || sent.contains(&address) {
            continue;
        }
        // A contact address that does not parse is passed over (it was checked on entry).
        match queue(tx, composer, None, &notice(&address), at) {
            Ok(()) | Err(Error::Validation(_)) => sent.push(address),
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// An account's latest messages (at most 50, newest first) with their delivery state; for
/// operators helping its owner.
pub async fn of_account(
    dir: &Arc<Directory>,
    actor: crate::model::Actor,
    user: UserId,
) -> Result<(crate::model::account::User, Vec<Queued>)> {
    dir.db(move |conn| {
        actor.require_operator()?;
        let account = store::users::find(conn, user)?.ok_or(Error::NotFound("account"))?;
        let messages = store::mail::of_user(conn, user, 50)?;
        Ok((account, messages))
    })
    .await
}

/// The wait after the failed attempt number `attempts` (from 1): `mail_backoff_ms`, doubled
/// per earlier attempt, at most five minutes.
fn backoff(base_ms: u64, attempts: i32) -> time::Duration {
    let factor = 1u64 << (attempts - 1).clamp(0, 20);
    let wait = time::Duration::milliseconds(base_ms.saturating_mul(factor).min(300_000) as i64);
    wait.min(MAX_BACKOFF)
}

/// Delivers up to `limit` due messages whose lease this instance takes; returns how many it
/// tried.
pub async fn deliver_due(dir: &Arc<Directory>, limit: i64) -> Result<usize> {
    let (owner, at) = (dir.instance.clone(), dir.now());
    let due = dir
        .db(move |conn| Ok(store::mail::claim_due(conn, &owner, at, at + LEASE, limit)?))
        .await?;
    let count = due.len();
    for message in due {
        let outcome = dir
            .mailer
            .transport
            .send(
                &message.id,
                dir.mailer.composer.sender(),
                &message.recipient,
                &message.message,
            )
            .await;
        let (owner, at) = (dir.instance.clone(), dir.now());
        let (base_ms, retry) = (
            dir.config.mail_backoff_ms,
            time::Duration::seconds(dir.config.mail_retry_secs as i64),
        );
        let label = match &outcome {
            Ok(()) => "sent",
            Err(undelivered) if undelivered.permanent || at - message.created_at >= retry => {
                "failed"
            }
            Err(_) => "retry",
        };
        match &outcome {
            Ok(()) => tracing::info!(id = %message.id, kind = %message.kind, "mail sent"),
            Err(undelivered) => {
                tracing::warn!(id = %message.id, kind = %message.kind, outcome = label, reason = %undelivered.reason, "mail not delivered")
            }
        }
        dir.metrics.mail_outcome(label);
        dir.db(move |conn| {
            match outcome {
                Ok(()) => store::mail::sent(conn, &message.id, &owner, at)?,
                Err(undelivered) => {
                    let next = (label == "retry").then(|| at + backoff(base_ms, message.attempts));
                    store::mail::attempt_failed(
                        conn,
                        &message.id,
                        &owner,
                        &undelivered.reason,
                        next,
                    )?
                }
            };
            Ok(())
        })
        .await?;
    }
    Ok(count)
}

/// The outbox's gauges: messages waiting, and the oldest one's age in seconds.
pub async fn gauges(dir: &Arc<Directory>) -> Result<(i64, i64)> {
    let at = dir.now();
    dir.db(move |conn| {
        let (count, oldest) = store::mail::backlog(conn)?;
        let age = oldest.map_or(0, |oldest| (at - oldest).whole_seconds().max(0));
        Ok((count, age))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn the_wait_doubles_up_to_five_minutes() {
        assert_eq!(backoff(1000, 1), time::Duration::seconds(1));
        assert_eq!(backoff(1000, 4), time::Duration::seconds(8));
        assert_eq!(backoff(1000, 30), time::Duration::minutes(5));
    }
}
