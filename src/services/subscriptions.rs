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
use crate::model::event::Cursor;
use crate::model::subscription::{
    Delivery, DeliveryFailure, Subscription, SubscriptionState, SubscriptionView as Status,
    backoff, not_found, parse_kinds,
};
use crate::model::{Actor, Error, OrgId, Result, SubscriptionId, Timestamp, invalid};
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
    pub method: Delivery,
    /// A pushed subscription's endpoint.
    pub endpoint: Option<String>,
    /// Kind names or event type URIs; empty for every kind.
    pub kinds: Vec<String>,
}

fn status(conn: &mut DbConnection, subscription: Subscription, base: &str) -> Result<Status> {
    let backlog = store::subscriptions::backlog(conn, &subscription)?;
    Ok(Status::of(subscription, backlog, base))
}

/// Registers a push endpoint for an organisation (its admins and operators). Delivery starts
/// with the events after the newest one now.
pub async fn create(
    dir: &Arc<Directory>,
    actor: Actor,
    org: OrgId,
    input: NewSubscription,
) -> Result<Status> {
    let at = dir.now();
    let kinds = parse_kinds(&input.kinds)?;
    let endpoint = match (input.method, input.endpoint) {
        (Delivery::Push, Some(endpoint)) => {
            Some(dir.transmitter.check_target(&endpoint).await?.to_string())
        }
        (Delivery::Push, None) => {
            return Err(invalid("endpoint", "a pushed subscription needs one"));
        }
        (Delivery::Poll, Some(_)) => {
            return Err(invalid(
                "endpoint",
                "a polled subscription has none: its receiver polls the poll_url",
            ));
        }
        (Delivery::Poll, None) => None,
    };
    let base = dir.public_url.clone();
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            super::access::to_organisation(tx, &actor, org)?.require_admin()?;
            if let Some(endpoint) = &endpoint
                && store::subscriptions::endpoint_taken(tx, org, endpoint)?
            {
                return Err(Error::Conflict(format!(
                    "the organisation already pushes to {endpoint}"
                )));
            }
            if store::subscriptions::of_organisation(tx, org)?.len() >= MAX_PER_ORGANISATION {
                return Err(Error::Conflict(format!(
                    "an organisation may have at most {MAX_PER_ORGANISATION} subscriptions"
                )));
            }
            let subscription = Subscription {
                id: SubscriptionId::random(),
                organisation_id: org,
                delivery: input.method,
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
                    at,
                    &actor,
                    "subscription.create",
                    "subscription",
                    subscription.id,
                )
                .organisation(org)
                .details(json!({
                    "delivery": subscription.delivery.as_str(),
                    "endpoint": subscription.endpoint,
                    "kinds": subscription.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                })),
            )?;
            status(tx, subscription, &base)
        })
    })
    .await
}

/// An organisation's subscriptions with their delivery status (its members and operators).
pub async fn list(dir: &Arc<Directory>, actor: Actor, org: OrgId) -> Result<Vec<Status>> {
    let base = dir.public_url.clone();
    dir.db(move |conn| {
        super::access::to_organisation(conn, &actor, org)?;
        store::subscriptions::of_organisation(conn, org)?
            .into_iter()
            .map(|s| status(conn, s, &base))
            .collect()
    })
    .await
}

/// The subscription `id` of `org`, if the actor may see it.
fn find(
    conn: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    id: SubscriptionId,
) -> Result<(Subscription, crate::model::Access)> {
    let access = super::access::to_organisation(conn, actor, org)?;
    let subscription = store::subscriptions::find(conn, id)?
        .filter(|s| s.organisation_id == org)
        .ok_or_else(not_found)?;
    Ok((subscription, access))
}

/// One subscription with its delivery status.
pub async fn get(
    dir: &Arc<Directory>,
    actor: Actor,
    org: OrgId,
    id: SubscriptionId,
) -> Result<Status> {
    let base = dir.public_url.clone();
    dir.db(move |conn| {
        let (subscription, _) = find(conn, &actor, org, id)?;
        status(conn, subscription, &base)
    })
    .await
}

/// Pauses a subscription, or resumes a paused or failing one (it is then due at once, from
/// where delivery stood; events past the retention are skipped and the error says so).
pub async fn set_state(
    dir: &Arc<Directory>,
    actor: Actor,
    org: OrgId,
    id: SubscriptionId,
    state: SubscriptionState,
) -> Result<Status> {
    let at = dir.now();
    if state == SubscriptionState::Failing {
        return Err(crate::model::invalid(
            "state",
            "choose active (resume) or paused; failing is set by delivery",
        ));
    }
    let base = dir.public_url.clone();
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let (subscription, access) = find(tx, &actor, org, id)?;
            access.require_admin()?;
            if subscription.state != state {
                store::subscriptions::set_state(tx, id, state, at)?;
                let action = match state {
                    SubscriptionState::Active => "subscription.resume",
                    _ => "subscription.pause",
                };
                store::audit::record(
                    tx,
                    Entry::new(at, &actor, action, "subscription", subscription.id)
                        .organisation(org),
                )?;
            }
            let subscription = store::subscriptions::find(tx, id)?.ok_or_else(not_found)?;
            status(tx, subscription, &base)
        })
    })
    .await
}

/// Removes a subscription.
pub async fn delete(
    dir: &Arc<Directory>,
    actor: Actor,
    org: OrgId,
    id: SubscriptionId,
) -> Result<()> {
    let at = dir.now();
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let (subscription, access) = find(tx, &actor, org, id)?;
            access.require_admin()?;
            store::subscriptions::delete(tx, id)?;
            store::audit::record(
                tx,
                Entry::new(
                    at,
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
    let at = dir.now();
    let owner = dir.instance.clone();
    let claimed = dir
        .db(move |conn| {
            let until = at + LEASE;
            let mut claimed = vec![];
            for id in store::subscriptions::due(conn, at, limit)? {
                if let Some(subscription) =
                    store::subscriptions::claim(conn, id, &owner, at, until)?
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
    let id = subscription.id;
    let Some(endpoint) = subscription.endpoint.clone() else {
        release(dir, id).await;
        return Ok(0);
    };
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
                let (owner, at) = (owner.clone(), dir.now());
                dir.db(move |conn| {
                    let horizon = store::events::horizon(conn)?;
                    store::subscriptions::skip_to(conn, id, horizon)?;
                    store::subscriptions::note_error(
                        conn,
                        id,
                        &owner,
                        DeliveryFailure::Expired,
                        &why,
                        at,
                    )?;
                    Ok(())
                })
                .await?;
                continue;
            }
            Err(e) => {
                release(dir, id).await;
                return Err(e);
            }
        };
        if page.events.is_empty() {
            release(dir, id).await;
            return Ok(delivered);
        }
        for event in page.events {
            if *dir.stopped.borrow() {
                release(dir, id).await;
                return Ok(delivered);
            }
            let started = std::time::Instant::now();
            let outcome = if subscription.wants(event.kind) {
                Some(dir.transmitter.send(&endpoint, &event.set).await)
            } else {
                None
            };
            let at = dir.now();
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
            let owner = owner.clone();
            let held = dir
                .db(move |conn| {
                    if let Some(why) = &refused {
                        store::subscriptions::note_error(
                            conn,
                            id,
                            &owner,
                            DeliveryFailure::Refused,
                            why,
                            at,
                        )?;
                    }
                    Ok(store::subscriptions::advance(
                        conn,
                        id,
                        &owner,
                        cursor,
                        sent,
                        at,
                        at + LEASE,
                    )?)
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
    let (id, owner, why) = (sub.id, dir.instance.clone(), why.to_owned());
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
    // Turning failing is news for the organisation's admins, in the same transaction.
    let turned = (sub.state != SubscriptionState::Failing && state == SubscriptionState::Failing)
        .then(|| (dir.clone(), sub.organisation_id, sub.endpoint.clone()));
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let recorded = store::subscriptions::failed(
                tx, id, &owner, attempts, &why, at, since, next, state,
            )?;
            if let (true, Some((shared, org, endpoint))) = (recorded, &turned) {
                let page = format!("{}/organisations/{org}#subscriptions", shared.public_url);
                let endpoint = endpoint.as_deref().unwrap_or("its endpoint");
                let notice = |to: &str| {
                    super::notices::subscription_failing(to, endpoint, &why, page.clone())
                };
                super::mail::to_admins(tx, &shared.mailer.composer, *org, notice, at)?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(())
}

async fn release(dir: &Arc<Directory>, id: SubscriptionId) {
    let (id, owner) = (id.to_owned(), dir.instance.clone());
    if let Err(error) = dir
        .db(move |conn| Ok(store::subscriptions::release(conn, id, &owner)?))
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

/// A receiver's poll (RFC 8936 section 2.4): what it acknowledges, the errors it reports for
/// SETs it could not use (those count as received), and what it wants next.
pub struct Poll {
    pub ack: Vec<String>,
    /// jti, then the receiver's `err` and `description`.
    pub set_errors: Vec<(String, String, String)>,
    /// At most this many SETs (0: only acknowledge); `None` for the default of 100.
    pub max_events: Option<i64>,
    /// Answer at once, even with no SETs; otherwise wait up to 30 s for one.
    pub return_immediately: bool,
}

/// The answer to a poll: SETs by jti, in cursor order, and whether more are waiting.
pub struct PollAnswer {
    pub sets: Vec<(String, String)>,
    pub more_available: bool,
}

/// The most acknowledgements (or SETs) one poll may carry.
pub const MAX_POLL: usize = 1000;

/// Serves one poll of a polled subscription, for members of its organisation and operators.
/// Acknowledged events (a run of them from the subscription's cursor; SETs of kinds it does
/// not want are passed over) move the cursor; SETs after it are answered, the unacknowledged
/// ones again (at least once).
pub async fn poll(
    dir: &Arc<Directory>,
    actor: Actor,
    org: OrgId,
    id: SubscriptionId,
    request: Poll,
) -> Result<PollAnswer> {
    if request.ack.len() + request.set_errors.len() > MAX_POLL {
        return Err(invalid(
            "ack",
            format!("at most {MAX_POLL} acknowledgements and errors a poll"),
        ));
    }
    let max = request.max_events.unwrap_or(100);
    if !(0..=MAX_POLL as i64).contains(&max) {
        return Err(invalid("maxEvents", format!("between 0 and {MAX_POLL}")));
    }
    let (subscription, _) = dir.db(move |conn| find(conn, &actor, org, id)).await?;
    if subscription.delivery != Delivery::Poll {
        return Err(Error::Conflict(
            "this subscription is pushed; only polled subscriptions answer polls".into(),
        ));
    }
    if subscription.state != SubscriptionState::Active {
        return Err(Error::Conflict(format!(
            "the subscription is {}; resume it to poll",
            subscription.state
        )));
    }
    let cursor = acknowledge(dir, &subscription, &request).await?;
    let deadline = std::time::Instant::now()
        + if request.return_immediately || max == 0 {
            Duration::ZERO
        } else {
            super::events::MAX_WAIT
        };
    loop {
        let (sets, more_available) = next_sets(dir, &subscription, cursor, max).await?;
        if !sets.is_empty() || std::time::Instant::now() >= deadline {
            return Ok(PollAnswer {
                sets,
                more_available,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Moves the cursor over the run of acknowledged (or unwanted) events that follows it; the
/// new cursor.
async fn acknowledge(dir: &Arc<Directory>, sub: &Subscription, request: &Poll) -> Result<Cursor> {
    let at = dir.now();
    let mut done: std::collections::HashSet<String> = request.ack.iter().cloned().collect();
    done.extend(request.set_errors.iter().map(|(jti, ..)| jti.clone()));
    let error = request.set_errors.first().map(|(jti, err, description)| {
        format!("the receiver reported for SET {jti}: {err} {description}")
            .trim()
            .chars()
            .take(500)
            .collect::<String>()
    });
    let sub = sub.clone();
    dir.db(move |conn| {
        let mut cursor = sub.cursor;
        let mut acknowledged = 0i64;
        if !done.is_empty() {
            'pages: loop {
                let stored = store::events::after(conn, cursor, 1000)?;
                if stored.is_empty() {
                    break;
                }
                for event in stored {
                    if sub.wants(event.kind) {
                        if !done.remove(&event.jti) {
                            break 'pages;
                        }
                        acknowledged += 1;
                    }
                    cursor = event.cursor;
                    if done.is_empty() {
                        break 'pages;
                    }
                }
            }
        }
        // Events past the retention are gone: the receiver must resynchronise.
        let horizon = store::events::horizon(conn)?;
        let error = if cursor < horizon {
            cursor = horizon;
            Some((
                DeliveryFailure::Expired,
                format!(
                    "events up to cursor {horizon} were removed by retention before they were \
                     acknowledged; resynchronise from GET /status/software"
                ),
            ))
        } else {
            error.map(|error| (DeliveryFailure::Refused, error))
        };
        store::subscriptions::acknowledge(
            conn,
            sub.id,
            cursor,
            acknowledged,
            at,
            error.as_ref().map(|(kind, error)| (*kind, error.as_str())),
        )?;
        Ok(cursor)
    })
    .await
}

/// Up to `max` signed SETs the subscription wants after `cursor`, and whether more follow
/// (looking through at most ten pages of the feed at a time).
async fn next_sets(
    dir: &Arc<Directory>,
    sub: &Subscription,
    mut cursor: Cursor,
    max: i64,
) -> Result<(Vec<(String, String)>, bool)> {
    let mut sets = vec![];
    if max == 0 {
        return Ok((sets, false));
    }
    for _ in 0..10 {
        let shared = dir.clone();
        let page = dir
            .db(move |conn| {
                super::events::page(&shared, conn, Some(cursor), super::events::MAX_LIMIT)
            })
            .await?;
        if page.events.is_empty() {
            return Ok((sets, false));
        }
        for event in page.events {
            if !sub.wants(event.kind) {
                continue;
            }
            if sets.len() as i64 == max {
                return Ok((sets, true));
            }
            sets.push((event.jti, event.set));
        }
        cursor = page.next_cursor;
    }
    Ok((sets, true))
}
