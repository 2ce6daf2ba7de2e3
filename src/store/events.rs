//! The `events` outbox: change events written in the transaction of their change, read in id
//! order, signed once (by whichever instance serves an event first), and removed after the
//! retention with the horizon moved past them.
//!
//! Why the ids are taken last: on PostgreSQL a sequence gives numbers in the order
//! transactions ask, not the order they commit, so a reader could be served event 8 and then
//! see event 7 commit. Instead, the events of a write transaction are staged while it runs and
//! written by [`super::write_transaction`] as its last step, with ids taken from the
//! `event_counter` row. Its row lock is held until the commit, so the next transaction that
//! writes events gets larger ids only once this one is visible: ids follow commit order and
//! have no gaps (a rollback returns its ids). Taking the lock last keeps it out of deadlocks
//! (its holder waits for nothing but its commit); event-writing commits are serialised, which
//! the benchmarks measure.

use std::cell::RefCell;

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{event_counter, events};
use crate::model::Timestamp;
use crate::model::event::{Change, Cursor, EventKind, StoredEvent};

/// The events of the write transaction running on this thread, not yet written.
struct Staged {
    /// The SETs' `txn`: one per write transaction.
    txn: String,
    events: Vec<(Change, Timestamp)>,
}

thread_local! {
    static STAGED: RefCell<Option<Staged>> = const { RefCell::new(None) };
}

/// The staging of one write transaction; nested transactions share the outer one's, and an
/// inner one that fails drops what it staged.
pub struct Stage {
    owner: bool,
    mark: usize,
}

impl Stage {
    pub fn enter() -> Self {
        STAGED.with(|staged| {
            let mut staged = staged.borrow_mut();
            match staged.as_ref() {
                Some(outer) => Self {
                    owner: false,
                    mark: outer.events.len(),
                },
                None => {
                    *staged = Some(Staged {
                        txn: uuid::Uuid::new_v4().to_string(),
                        events: vec![],
                    });
                    Self {
                        owner: true,
                        mark: 0,
                    }
                }
            }
        })
    }

    /// Forgets what was staged since this stage began (its transaction rolled back).
    pub fn discard(&self) {
        STAGED.with(|staged| {
            if let Some(staged) = staged.borrow_mut().as_mut() {
                staged.events.truncate(self.mark);
            }
        });
    }

    /// Writes the staged events if this stage owns the transaction; call as its last step.
    pub fn flush(&self, conn: &mut DbConnection) -> QueryResult<()> {
        if !self.owner {
            return Ok(());
        }
        let Some(Staged { txn, events }) = STAGED.with(|staged| staged.borrow_mut().take()) else {
            return Ok(());
        };
        write(conn, &txn, events)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if self.owner {
            STAGED.with(|staged| *staged.borrow_mut() = None);
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = events)]
struct NewRow<'a> {
    id: i64,
    txn: &'a str,
    jti: String,
    occurred_at: Timestamp,
    kind: &'a str,
    subject_type: &'a str,
    subject_id: &'a str,
    organisation_id: Option<&'a str>,
    payload: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
struct Row {
    id: i64,
    txn: String,
    jti: String,
    occurred_at: Timestamp,
    kind: EventKind,
    payload: String,
    token: Option<String>,
}

impl Row {
    fn into_event(self) -> QueryResult<StoredEvent> {
        let corrupt = |what: String| {
            diesel::result::Error::DeserializationError(format!("event {}: {what}", self.id).into())
        };
        let payload = serde_json::from_str(&self.payload).map_err(|e| corrupt(e.to_string()))?;
        Ok(StoredEvent {
            cursor: Cursor(self.id),
            txn: self.txn,
            jti: self.jti,
            occurred_at: self.occurred_at,
            kind: self.kind,
            payload,
            token: self.token,
        })
    }
}

/// Stages a change event for the write transaction running; outside one, writes it at once
/// (the caller's transaction, if any, then holds the counter until it ends).
pub fn stage(conn: &mut DbConnection, change: Change, at: Timestamp) -> QueryResult<()> {
    let unstaged = STAGED.with(|staged| match staged.borrow_mut().as_mut() {
        Some(staged) => {
            staged.events.push((change, at));
            None
        }
        None => Some((change, at)),
    });
    match unstaged {
        Some(event) => write(conn, &uuid::Uuid::new_v4().to_string(), vec![event]),
        None => Ok(()),
    }
}

/// Takes ids for `staged` from the counter (locking its row until the commit) and inserts them.
fn write(conn: &mut DbConnection, txn: &str, staged: Vec<(Change, Timestamp)>) -> QueryResult<()> {
    if staged.is_empty() {
        return Ok(());
    }
    let counter = event_counter::table.filter(event_counter::id.eq(1));
    diesel::update(counter)
        .set(event_counter::last_id.eq(event_counter::last_id + staged.len() as i64))
        .execute(conn)?;
    let last: i64 = counter.select(event_counter::last_id).first(conn)?;
    let first = last - staged.len() as i64 + 1;
    // One statement per event: diesel has no batch insert over both backends at once, and a
    // transaction writes a handful.
    for ((change, at), id) in staged.iter().zip(first..) {
        let row = NewRow {
            id,
            txn,
            jti: uuid::Uuid::new_v4().to_string(),
            occurred_at: *at,
            kind: change.kind.as_str(),
            subject_type: change.subject_type,
            subject_id: &change.subject_id,
            organisation_id: change.organisation_id.as_deref(),
            payload: change.payload.to_string(),
        };
        diesel::insert_into(events::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}

/// Up to `limit` events after `after`, in id order.
pub fn after(conn: &mut DbConnection, after: Cursor, limit: i64) -> QueryResult<Vec<StoredEvent>> {
    events::table
        .filter(events::id.gt(after.0))
        .order(events::id.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_event)
        .collect()
}

/// Up to `limit` events that have no SET yet, oldest first.
pub fn unsigned(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<StoredEvent>> {
    events::table
        .filter(events::token.is_null())
        .order(events::id.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_event)
        .collect()
}

/// The id of the newest event (the horizon when none is kept).
pub fn newest(conn: &mut DbConnection) -> QueryResult<Cursor> {
    let newest: Option<i64> = events::table
        .select(diesel::dsl::max(events::id))
        .first(conn)?;
    match newest {
        Some(id) => Ok(Cursor(id)),
        None => horizon(conn),
    }
}

/// Stores the signed SET of an event that has none yet; false when another reader signed it
/// first (its token then stands).
pub fn set_token(conn: &mut DbConnection, id: i64, token: &str, kid: &str) -> QueryResult<bool> {
    diesel::update(events::table.filter(events::id.eq(id).and(events::token.is_null())))
        .set((events::token.eq(token), events::kid.eq(kid)))
        .execute(conn)
        .map(|n| n == 1)
}

/// The stored token of an event.
pub fn token(conn: &mut DbConnection, id: i64) -> QueryResult<Option<String>> {
    events::table
        .filter(events::id.eq(id))
        .select(events::token)
        .first(conn)
        .optional()
        .map(Option::flatten)
}

/// The newest id removed by retention.
pub fn horizon(conn: &mut DbConnection) -> QueryResult<Cursor> {
    event_counter::table
        .filter(event_counter::id.eq(1))
        .select(event_counter::horizon)
        .first(conn)
        .map(Cursor)
}

/// Removes every event up to the newest one that occurred before `before`, and moves the
/// horizon there; the number removed. Call in a write transaction.
pub fn prune(conn: &mut DbConnection, before: Timestamp) -> QueryResult<usize> {
    let last: Option<i64> = events::table
        .filter(events::occurred_at.lt(before))
        .select(diesel::dsl::max(events::id))
        .first(conn)?;
    let Some(last) = last else {
        return Ok(0);
    };
    let removed = diesel::delete(events::table.filter(events::id.le(last))).execute(conn)?;
    diesel::update(
        event_counter::table.filter(event_counter::id.eq(1).and(event_counter::horizon.lt(last))),
    )
    .set(event_counter::horizon.eq(last))
    .execute(conn)?;
    Ok(removed)
}

/// Whether a signing key signed an event still kept.
pub fn signed_with(conn: &mut DbConnection, kid: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        events::table.filter(events::kid.eq(kid)),
    ))
    .get_result(conn)
}
