//! Push delivery of the change events (RFC 8935): organisations' admins register endpoints
//! and the kinds they want; every instance's deliverer takes the lease of due subscriptions
//! and POSTs their events in cursor order, one SET per request, moving the stored cursor
//! after each acknowledgement. At least once: a crash between the receiver's answer and the
//! cursor's update sends that event again, with the same `jti`. A failed attempt is retried
//! with exponential backoff; once failures have lasted `push_retry_secs` the subscription is
//! marked failing and the receiver catches up by polling `GET /events`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::Directory;
use crate::model::audit::Entry;
use crate::model::subscription::{
    Subscription, SubscriptionState, SubscriptionView as Status, backoff, not_found, parse_kinds,
};
use crate::model::{Actor, Error, OrgId, Result, SubscriptionId, Timestamp, now};
use crate::push::Outcome;
use crate::store::{self, DbConnection, write_transaction};

/// Subscriptions one organisation may have.
const MAX_PER_ORGANISATION: usize = 10;
/// How long a deliverer holds a subscription without renewing it.
const LEASE: Duration = Duration::from_secs(30);
/// Events read per page while delivering.
const PAGE: i64 = 100;

/// What a subscriber asks for.
pub struct NewSubscription {
    pub endpoint: String,
    /// Kind names or event type URIs; empty for every kind.
    pub kinds: Vec<String>,
}

fn status(conn: &mut DbConnection, subscription: Subscription) -> Result<Status> {
    let backlog = store::subscriptions::backlog(conn, &subscription)?;
    Ok(Status::of(subscription, backlog))
}

/// Registers a push endpoint for an organisation (its admins and operators). Delivery starts
/// with the events after the newest one now.
pub async fn create(
    dir: &Arc<Directory>,
    actor: Actor,
    org: OrgId,
    input: NewSubscription,
) -> Result<Status> {
    let kinds = parse_kinds(&input.kinds)?;
    let endpoint = dir.transmitter.check_target(&input.endpoint).await?;
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            super::access::to_organisation(tx, &actor, org)?.require_admin()?;
            let endpoint = endpoint.to_string();
            if store::subscriptions::endpoint_taken(tx, org, &endpoint)? {
                return Err(Error::Conflict(format!(
                    "the organisation already pushes to {endpoint}"
                )));
            }
            if store::subscriptions::of_organisation(tx, org)?.len() >= MAX_PER_ORGANISATION {
                return Err(Error::Conflict(format!(
                    "an organisation may have at most {MAX_PER_ORGANISATION} subscriptions"
                )));
            }
            let at = now();
            let subscription = Subscription {
                id: SubscriptionId::random(),
                organisation_id: org,
                endpoint,
                kinds,
                state: SubscriptionState::Active,
                cursor: store::events::newest(tx)?,
                delivered: 0,
                attempts: 0,
                next_attempt_at: at,
                failing_since: None,
                last_success_at: None,
                last_error: None,
                last_error_at: None,
                created_at: at,
            };
            let creator = actor.user_id().map(|u| u.to_string());
            store::subscriptions::insert(tx, &subscription, creator.as_deref())?;
            store::audit::record(
                tx,
                Entry::new(
                    &actor,
                    "subscription.create",
                    "subscription",
                    subscription.id,
                )
                .organisation(org)
                .details(json!({
                    "endpoint": subscription.endpoint,
                    "kinds": subscription.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                })),
            )?;
            status(tx, subscription)
        })
    })
    .await
}

/// An organisation's subscriptions with their delivery status (its members and operators).
pub async fn list(dir: &Arc<Directory>, actor: Actor, org: OrgId) -> Result<Vec<Status>> {
    dir.db(move |conn| {
        super::access::to_organisation(conn, &actor, org)?;
        store::subscriptions::of_organisation(conn, org)?
            .into_iter()
            .map(|s| status(conn, s))
            .collect()
    })
    .await
}

/// The subscription `id` of `org`, if the actor may see it.
fn find(
    conn: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    id: &str,
) -> Result<(Subscription, crate::model::Access)> {
    let access = super::access::to_organisation(conn, actor, org)?;
    let subscription = store::subscriptions::find(conn, id)?
        .filter(|s| s.organisation_id == org)
        .ok_or_else(not_found)?;
    Ok((subscription, access))
}

/// One subscription with its delivery status.
pub async fn get(dir: &Arc<Directory>, actor: Actor, org: OrgId, id: String) -> Result<Status> {
    dir.db(move |conn| {
        let (subscription, _) = find(conn, &actor, org, &id)?;
        status(conn, subscription)
    })
    .await
}

/// Pauses a subscription, or resumes a paused or failing one (it is then due at once, from
/// where delivery stood; events past the retention are skipped and the error says so).
pub async fn set_state(
    dir: &Arc<Directory>,
    actor: Actor,
    org: OrgId,
    id: String,
    state: SubscriptionState,
) -> Result<Status> {
    if state == SubscriptionState::Failing {
        return Err(crate::model::invalid(
            "state",
            "choose active (resume) or paused; failing is set by delivery",
        ));
    }
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let (subscription, access) = find(tx, &actor, org, &id)?;
            access.require_admin()?;
            if subscription.state != state {
                store::subscriptions::set_state(tx, &id, state, now())?;
                let action = match state {
                    SubscriptionState::Active => "subscription.resume",
                    _ => "subscription.pause",
                };
                store::audit::record(
                    tx,
                    Entry::new(&actor, action, "subscription", subscription.id).organisation(org),
                )?;
            }
            let subscription = store::subscriptions::find(tx, &id)?.ok_or_else(not_found)?;
            status(tx, subscription)
        })
    })
    .await
}

/// Removes a subscription.
pub async fn delete(dir: &Arc<Directory>, actor: Actor, org: OrgId, id: String) -> Result<()> {
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let (subscription, access) = find(tx, &actor, org, &id)?;
            access.require_admin()?;
            store::subscriptions::delete(tx, &id)?;
            store::audit::record(
                tx,
                Entry::new(
                    &actor,
                    "subscription.delete",
                    "subscription",
                    subscription.id,
                )
                .organisation(org)
                .details(json!({"endpoint": subscription.endpoint})),
            )?;
            Ok(())
        })
    })
    .await
}

/// Takes the lease of up to `limit` due subscriptions and delivers their backlogs, all at
/// once; the number of events delivered.
pub async fn deliver_due(dir: &Arc<Directory>, limit: i64) -> Result<usize> {
    let owner = dir.instance.clone();
    let claimed = dir
        .db(move |conn| {
            let at = now();
            let until = at + LEASE;
            let mut claimed = vec![];
            for id in store::subscriptions::due(conn, at, limit)? {
                if let Some(subscription) =
                    store::subscriptions::claim(conn, &id, &owner, at, until)?
                {
                    claimed.push(subscription);
                }
            }
            Ok(claimed)
        })
        .await?;
    let runs = claimed.into_iter().map(|s| deliver(dir, s));
    let results = futures_util::future::join_all(runs).await;
    let mut delivered = 0;
    for result in results {
        match result {
            Ok(n) => delivered += n,
            Err(error) => tracing::warn!(%error, "push delivery stopped"),
        }
    }
    Ok(delivered)
}

/// Delivers one leased subscription's events until it is caught up, an attempt fails, or the
/// lease is lost; the number delivered.
async fn deliver(dir: &Arc<Directory>, subscription: Subscription) -> Result<usize> {
    let id = subscription.id.to_string();
    let owner = dir.instance.clone();
    let mut cursor = subscription.cursor;
    let mut delivered = 0;
    loop {
        let shared = dir.clone();
        let page = dir
            .db(move |conn| super::events::page(&shared, conn, Some(cursor), PAGE))
            .await;
        let page = match page {
            Ok(page) => page,
            Err(Error::Gone(why)) => {
                // Events past the retention were removed before they were delivered: the
                // receiver must resynchronise; delivery continues from what is kept.
                let (id, owner) = (id.clone(), owner.clone());
                dir.db(move |conn| {
                    let horizon = store::events::horizon(conn)?;
                    store::subscriptions::skip_to(conn, &id, horizon)?;
                    store::subscriptions::note_error(conn, &id, &owner, &why, now())?;
                    Ok(())
                })
                .await?;
                continue;
            }
            Err(e) => {
                release(dir, &id).await;
                return Err(e);
            }
        };
        if page.events.is_empty() {
            release(dir, &id).await;
            return Ok(delivered);
        }
        for event in page.events {
            if *dir.stopped.borrow() {
                release(dir, &id).await;
                return Ok(delivered);
            }
            let started = std::time::Instant::now();
            let outcome = if subscription.wants(event.kind) {
                Some(
                    dir.transmitter
                        .send(&subscription.endpoint, &event.set)
                        .await,
                )
            } else {
                None
            };
            let at = now();
            let (sent, refused) = match outcome {
                None => (0, None),
                Some(Outcome::Accepted) => (1, None),
                Some(Outcome::Refused(why)) => (0, Some(why)),
                Some(Outcome::Failed(why)) => {
                    dir.metrics.push_outcome("failed", started.elapsed());
                    failed(dir, &subscription, &why, at).await?;
                    return Ok(delivered);
                }
            };
            if sent == 1 {
                dir.metrics.push_outcome("delivered", started.elapsed());
            } else if refused.is_some() {
                dir.metrics.push_outcome("refused", started.elapsed());
            }
            cursor = event.cursor;
            let (id, owner) = (id.clone(), owner.clone());
            let held = dir
                .db(move |conn| {
                    if let Some(why) = &refused {
                        store::subscriptions::note_error(conn, &id, &owner, why, at)?;
                    }
                    store::subscriptions::advance(conn, &id, &owner, cursor, sent, at, at + LEASE)
                })
                .await?;
            if !held {
                tracing::warn!(subscription = %subscription.id, "push lease lost; stopping");
                return Ok(delivered);
            }
            delivered += sent as usize;
        }
    }
}

/// Records a failed attempt: backoff, or the failing state once retries have lasted longer
/// than the configured time.
async fn failed(dir: &Arc<Directory>, sub: &Subscription, why: &str, at: Timestamp) -> Result<()> {
    let (id, owner, why) = (sub.id.to_string(), dir.instance.clone(), why.to_owned());
    let attempts = sub.attempts.saturating_add(1);
    let since = sub.failing_since.unwrap_or(at);
    let retry = time::Duration::seconds(dir.config.push_retry_secs.min(i64::MAX as u64) as i64);
    let state = if at - since >= retry {
        SubscriptionState::Failing
    } else {
        SubscriptionState::Active
    };
    let wait = backoff(attempts, Duration::from_millis(dir.config.push_backoff_ms));
    let next = at + wait;
    tracing::info!(subscription = %sub.id, attempts, state = %state, error = %why, "push failed");
    dir.db(move |conn| {
        store::subscriptions::failed(conn, &id, &owner, attempts, &why, at, since, next, state)
    })
    .await?;
    Ok(())
}

async fn release(dir: &Arc<Directory>, id: &str) {
    let (id, owner) = (id.to_owned(), dir.instance.clone());
    if let Err(error) = dir
        .db(move |conn| store::subscriptions::release(conn, &id, &owner))
        .await
    {
        tracing::warn!(%error, "cannot release a push lease");
    }
}

/// Subscriptions by state and the events still to push, for the metrics.
pub async fn gauges(dir: &Arc<Directory>) -> Result<(Vec<(SubscriptionState, i64)>, i64)> {
    dir.db(|conn| {
        let mut states = vec![
            (SubscriptionState::Active, 0),
            (SubscriptionState::Failing, 0),
            (SubscriptionState::Paused, 0),
        ];
        let mut backlog = 0;
        for subscription in store::subscriptions::all(conn)? {
            if let Some(entry) = states.iter_mut().find(|(s, _)| *s == subscription.state) {
                entry.1 += 1;
            }
            if subscription.state != SubscriptionState::Paused {
                backlog += store::subscriptions::backlog(conn, &subscription)?;
            }
        }
        Ok((states, backlog))
    })
    .await
}
