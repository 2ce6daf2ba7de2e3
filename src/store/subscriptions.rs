//! Push subscriptions (`event_subscriptions`) and the lease that lets one instance at a time
//! deliver each: claimed with a conditional update (the row is taken only if its lease ran
//! out), renewed with every acknowledged event, and checked by every update the deliverer
//! makes, so an instance that lost its lease stops writing.

use diesel::prelude::*;

use super::schema::{delivery_failures, event_subscriptions, events};
use super::{DbConnection, from_json, to_json};
use crate::model::event::{Cursor, EventKind};
use crate::model::subscription::{Delivery, DeliveryFailure, Subscription, SubscriptionState};
use crate::model::{OrgId, SubscriptionId, Timestamp};

#[derive(Queryable, Selectable)]
#[diesel(table_name = event_subscriptions)]
struct Row {
    id: SubscriptionId,
    organisation_id: OrgId,
    delivery: Delivery,
    endpoint: Option<String>,
    kinds: String,
    state: SubscriptionState,
    cursor: i64,
    delivered: i64,
    attempts: i32,
    next_attempt_at: Timestamp,
    failing_since: Option<Timestamp>,
    last_success_at: Option<Timestamp>,
    last_error: Option<String>,
    last_error_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl Row {
    fn into_subscription(self) -> QueryResult<Subscription> {
        let names: Vec<String> = from_json("event_subscriptions.kinds", &self.kinds)?;
        let kinds = names
            .iter()
            .map(|n| n.parse::<EventKind>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| super::corrupt("event_subscriptions.kinds", e))?;
        Ok(Subscription {
            id: self.id,
            organisation_id: self.organisation_id,
            delivery: self.delivery,
            endpoint: self.endpoint,
            kinds,
            state: self.state,
            cursor: Cursor(self.cursor),
            delivered: self.delivered,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            failing_since: self.failing_since,
            last_success_at: self.last_success_at,
            last_error: self.last_error,
            last_error_at: self.last_error_at,
            created_at: self.created_at,
        })
    }
}

/// Stores a new subscription.
pub fn insert(
    conn: &mut DbConnection,
    sub: &Subscription,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let kinds: Vec<&str> = sub.kinds.iter().map(|k| k.as_str()).collect();
    diesel::insert_into(event_subscriptions::table)
        .values((
            event_subscriptions::id.eq(sub.id),
            event_subscriptions::organisation_id.eq(sub.organisation_id),
            event_subscriptions::delivery.eq(sub.delivery),
            event_subscriptions::endpoint.eq(sub.endpoint.as_deref()),
            event_subscriptions::kinds.eq(to_json(&kinds)),
            event_subscriptions::state.eq(sub.state),
            event_subscriptions::cursor.eq(sub.cursor.0),
            event_subscriptions::delivered.eq(0i64),
            event_subscriptions::attempts.eq(0),
            event_subscriptions::next_attempt_at.eq(sub.next_attempt_at),
            event_subscriptions::created_at.eq(sub.created_at),
            event_subscriptions::created_by.eq(created_by),
        ))
        .execute(conn)?;
    Ok(())
}

/// An organisation's subscriptions, oldest first.
pub fn of_organisation(conn: &mut DbConnection, org: OrgId) -> QueryResult<Vec<Subscription>> {
    event_subscriptions::table
        .filter(event_subscriptions::organisation_id.eq(org))
        .order((
            event_subscriptions::created_at.asc(),
            event_subscriptions::id.asc(),
        ))
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_subscription)
        .collect()
}

/// Every subscription (for the metrics).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Subscription>> {
    event_subscriptions::table
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_subscription)
        .collect()
}

/// One subscription.
pub fn find(conn: &mut DbConnection, id: SubscriptionId) -> QueryResult<Option<Subscription>> {
    event_subscriptions::table
        .filter(event_subscriptions::id.eq(id))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::into_subscription)
        .transpose()
}

/// Whether the organisation already pushes to `endpoint`.
pub fn endpoint_taken(conn: &mut DbConnection, org: OrgId, endpoint: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        event_subscriptions::table
            .filter(event_subscriptions::organisation_id.eq(org))
            .filter(event_subscriptions::endpoint.eq(endpoint)),
    ))
    .get_result(conn)
}

/// Removes a subscription.
pub fn delete(conn: &mut DbConnection, id: SubscriptionId) -> QueryResult<bool> {
    Ok(
        diesel::delete(event_subscriptions::table.filter(event_subscriptions::id.eq(id)))
            .execute(conn)?
            == 1,
    )
}

/// Sets the state an admin chose; resuming clears the failure count and makes it due now.
pub fn set_state(
    conn: &mut DbConnection,
    id: SubscriptionId,
    state: SubscriptionState,
    at: Timestamp,
) -> QueryResult<()> {
    let target = event_subscriptions::table.filter(event_subscriptions::id.eq(id));
    if state == SubscriptionState::Active {
        diesel::update(target)
            .set((
                event_subscriptions::state.eq(state),
                event_subscriptions::attempts.eq(0),
                event_subscriptions::failing_since.eq(None::<Timestamp>),
                event_subscriptions::next_attempt_at.eq(at),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set(event_subscriptions::state.eq(state))
            .execute(conn)?;
    }
    Ok(())
}

/// Moves a subscription's cursor forward (never back), e.g. past events removed by retention.
pub fn skip_to(conn: &mut DbConnection, id: SubscriptionId, cursor: Cursor) -> QueryResult<()> {
    diesel::update(
        event_subscriptions::table
            .filter(event_subscriptions::id.eq(id))
            .filter(event_subscriptions::cursor.lt(cursor.0)),
    )
    .set(event_subscriptions::cursor.eq(cursor.0))
    .execute(conn)?;
    Ok(())
}

/// Ids of active pushed subscriptions due for an attempt whose lease is free, at most
/// `limit`.
pub fn due(conn: &mut DbConnection, at: Timestamp, limit: i64) -> QueryResult<Vec<SubscriptionId>> {
    event_subscriptions::table
        .filter(event_subscriptions::state.eq(SubscriptionState::Active))
        .filter(event_subscriptions::delivery.eq(Delivery::Push))
        .filter(event_subscriptions::next_attempt_at.le(at))
        .filter(
            event_subscriptions::lease_until
                .is_null()
                .or(event_subscriptions::lease_until.lt(at)),
        )
        .order(event_subscriptions::next_attempt_at.asc())
        .limit(limit)
        .select(event_subscriptions::id)
        .load(conn)
}

/// Takes the lease of a subscription for `owner` until `until`, if no one holds it; the
/// subscription when taken.
pub fn claim(
    conn: &mut DbConnection,
    id: SubscriptionId,
    owner: &str,
    at: Timestamp,
    until: Timestamp,
) -> QueryResult<Option<Subscription>> {
    let taken = diesel::update(
        event_subscriptions::table
            .filter(event_subscriptions::id.eq(id))
            .filter(event_subscriptions::state.eq(SubscriptionState::Active))
            .filter(
                event_subscriptions::lease_until
                    .is_null()
                    .or(event_subscriptions::lease_until.lt(at)),
            ),
    )
    .set((
        event_subscriptions::lease_owner.eq(owner),
        event_subscriptions::lease_until.eq(until),
    ))
    .execute(conn)?;
    if taken == 1 { find(conn, id) } else { Ok(None) }
}

/// The rows of `id` whose lease `owner` holds.
macro_rules! leased {
    ($id:expr, $owner:expr) => {
        event_subscriptions::table
            .filter(event_subscriptions::id.eq($id))
            .filter(event_subscriptions::lease_owner.eq($owner))
    };
}

/// Records events acknowledged (or passed over) up to `cursor` and renews the lease; false
/// when `owner` lost it (stop delivering).
pub fn advance(
    conn: &mut DbConnection,
    id: SubscriptionId,
    owner: &str,
    cursor: Cursor,
    delivered: i64,
    at: Timestamp,
    until: Timestamp,
) -> QueryResult<bool> {
    let target = leased!(id, owner);
    let changed = if delivered > 0 {
        diesel::update(target)
            .set((
                event_subscriptions::cursor.eq(cursor.0),
                event_subscriptions::delivered.eq(event_subscriptions::delivered + delivered),
                event_subscriptions::attempts.eq(0),
                event_subscriptions::failing_since.eq(None::<Timestamp>),
                event_subscriptions::last_success_at.eq(at),
                event_subscriptions::lease_until.eq(until),
            ))
            .execute(conn)?
    } else {
        diesel::update(target)
            .set((
                event_subscriptions::cursor.eq(cursor.0),
                event_subscriptions::lease_until.eq(until),
            ))
            .execute(conn)?
    };
    Ok(changed == 1)
}

/// How much of an error a failure's row keeps (a receiver chooses its descriptions).
const ERROR_CHARS: usize = 1000;

/// Keeps one delivery failure for the overview's chart of failures per day.
fn record_failure(
    conn: &mut DbConnection,
    id: SubscriptionId,
    kind: DeliveryFailure,
    error: &str,
    at: Timestamp,
) -> QueryResult<()> {
    let error: String = error.chars().take(ERROR_CHARS).collect();
    diesel::insert_into(delivery_failures::table)
        .values((
            delivery_failures::id.eq(uuid::Uuid::new_v4().to_string()),
            delivery_failures::subscription_id.eq(id),
            delivery_failures::kind.eq(kind),
            delivery_failures::error.eq(error),
            delivery_failures::failed_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Drops the delivery failures from before `before` (their days are rolled up).
pub fn prune_failures(conn: &mut DbConnection, before: Timestamp) -> QueryResult<usize> {
    diesel::delete(delivery_failures::table.filter(delivery_failures::failed_at.lt(before)))
        .execute(conn)
}

/// Notes an error for events that did not reach the receiver without a retry: one it refused
/// (not sent again: the same bytes would be refused the same way), or events removed by
/// retention before they were delivered.
pub fn note_error(
    conn: &mut DbConnection,
    id: SubscriptionId,
    owner: &str,
    kind: DeliveryFailure,
    error: &str,
    at: Timestamp,
) -> QueryResult<bool> {
    let noted = diesel::update(leased!(id, owner))
        .set((
            event_subscriptions::last_error.eq(error),
            event_subscriptions::last_error_at.eq(at),
        ))
        .execute(conn)?
        == 1;
    if noted {
        record_failure(conn, id, kind, error, at)?;
    }
    Ok(noted)
}

/// A failed attempt: the error, the next attempt's time, the state (failing once retries ran
/// out); the lease is released.
#[allow(clippy::too_many_arguments)]
pub fn failed(
    conn: &mut DbConnection,
    id: SubscriptionId,
    owner: &str,
    attempts: i32,
    error: &str,
    at: Timestamp,
    failing_since: Timestamp,
    next_attempt_at: Timestamp,
    state: SubscriptionState,
) -> QueryResult<bool> {
    let recorded = diesel::update(leased!(id, owner))
        .set((
            event_subscriptions::attempts.eq(attempts),
            event_subscriptions::last_error.eq(error),
            event_subscriptions::last_error_at.eq(at),
            event_subscriptions::failing_since.eq(failing_since),
            event_subscriptions::next_attempt_at.eq(next_attempt_at),
            event_subscriptions::state.eq(state),
            event_subscriptions::lease_owner.eq(None::<String>),
            event_subscriptions::lease_until.eq(None::<Timestamp>),
        ))
        .execute(conn)?
        == 1;
    if recorded {
        record_failure(conn, id, DeliveryFailure::Attempt, error, at)?;
    }
    Ok(recorded)
}

/// A polling receiver acknowledged the events up to `cursor` (`delivered` of them wanted),
/// and an error, if any (one it reported, or events expired before it polled); the cursor
/// never moves back (two polls at once).
pub fn acknowledge(
    conn: &mut DbConnection,
    id: SubscriptionId,
    cursor: Cursor,
    delivered: i64,
    at: Timestamp,
    error: Option<(DeliveryFailure, &str)>,
) -> QueryResult<()> {
    let target = event_subscriptions::table
        .filter(event_subscriptions::id.eq(id))
        .filter(event_subscriptions::cursor.lt(cursor.0));
    if delivered > 0 {
        diesel::update(target)
            .set((
                event_subscriptions::cursor.eq(cursor.0),
                event_subscriptions::delivered.eq(event_subscriptions::delivered + delivered),
                event_subscriptions::last_success_at.eq(at),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set(event_subscriptions::cursor.eq(cursor.0))
            .execute(conn)?;
    }
    if let Some((kind, error)) = error {
        diesel::update(event_subscriptions::table.filter(event_subscriptions::id.eq(id)))
            .set((
                event_subscriptions::last_error.eq(error),
                event_subscriptions::last_error_at.eq(at),
            ))
            .execute(conn)?;
        record_failure(conn, id, kind, error, at)?;
    }
    Ok(())
}

/// Gives the lease back (caught up, or shutting down).
pub fn release(conn: &mut DbConnection, id: SubscriptionId, owner: &str) -> QueryResult<()> {
    diesel::update(leased!(id, owner))
        .set((
            event_subscriptions::lease_owner.eq(None::<String>),
            event_subscriptions::lease_until.eq(None::<Timestamp>),
        ))
        .execute(conn)?;
    Ok(())
}

/// How many kept events after the subscription's cursor it still has to receive.
pub fn backlog(conn: &mut DbConnection, sub: &Subscription) -> QueryResult<i64> {
    let mut query = events::table
        .filter(events::id.gt(sub.cursor.0))
        .into_boxed();
    if !sub.kinds.is_empty() {
        let kinds: Vec<&str> = sub.kinds.iter().map(|k| k.as_str()).collect();
        query = query.filter(events::kind.eq_any(kinds));
    }
    query.count().get_result(conn)
}
