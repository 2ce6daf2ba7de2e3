//! The change-event feed: events after a cursor, signed as SETs right after their commit by
//! a background signer or, failing that, by the first instance that serves them (the
//! signature is stored, so every reader gets the same bytes), with long-polling; and the
//! retention that removes old events and moves the horizon.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Directory;
use crate::events::{SetClaims, TYP};
use crate::model::event::{Cursor, EventKind, StoredEvent};
use crate::model::keys::{KeyPurpose, KeyState};
use crate::model::{Error, Result, Timestamp, unexpected};
use crate::store::{self, DbConnection, write_transaction};

/// The most events one page holds.
pub const MAX_LIMIT: i64 = 1000;
/// The longest a reader may wait for a first event.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting reader looks again.
const POLL: Duration = Duration::from_millis(200);

/// One signed event of the feed.
pub struct SignedEvent {
    pub cursor: Cursor,
    pub jti: String,
    pub kind: EventKind,
    /// The SET, a compact JWS.
    pub set: String,
}

/// A page of the feed and the cursor to ask after next.
pub struct FeedPage {
    pub events: Vec<SignedEvent>,
    pub next_cursor: Cursor,
}

/// Events after `after` (from the oldest kept when `None`), at most `limit`, waiting up to
/// `wait` for the first one. A cursor older than the retention is refused: the reader has
/// missed events and must resynchronise from the snapshot.
pub async fn feed(
    dir: &Arc<Directory>,
    after: Option<Cursor>,
    limit: i64,
    wait: Duration,
) -> Result<FeedPage> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let deadline = Instant::now() + wait.min(MAX_WAIT);
    loop {
        let shared = dir.clone();
        let page = dir
            .db(move |conn| page(&shared, conn, after, limit))
            .await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if !page.events.is_empty() || left.is_zero() {
            return Ok(page);
        }
        tokio::time::sleep(left.min(POLL)).await;
    }
}

pub(crate) fn page(
    dir: &Directory,
    conn: &mut DbConnection,
    after: Option<Cursor>,
    limit: i64,
) -> Result<FeedPage> {
    let horizon = store::events::horizon(conn)?;
    let start = after.unwrap_or(horizon);
    if start < horizon {
        return Err(Error::Gone(format!(
            "events up to cursor {horizon} are past the retention of {} days and were removed; \
             resynchronise from GET /status/software and follow the feed from the event_cursor \
             it returns",
            dir.config.event_retention_secs / 86_400
        )));
    }
    let stored = store::events::after(conn, start, limit)?;
    let next_cursor = stored.last().map_or(start, |e| e.cursor);
    let mut key = None;
    let mut events = Vec::with_capacity(stored.len());
    for event in stored {
        let set = match event.token.clone() {
            Some(set) => set,
            None => sign(dir, conn, &event, &mut key)?,
        };
        events.push(SignedEvent {
            cursor: event.cursor,
            jti: event.jti,
            kind: event.kind,
            set,
        });
    }
    Ok(FeedPage {
        events,
        next_cursor,
    })
}

/// Signs an event with the active key and stores the SET; when another instance stored one
/// first, that one is served.
fn sign(
    dir: &Directory,
    conn: &mut DbConnection,
    event: &StoredEvent,
    key: &mut Option<crate::model::keys::SigningKey>,
) -> Result<String> {
    if key.is_none() {
        *key = Some(
            store::signing_keys::in_state(conn, KeyPurpose::Ssa, KeyState::Active)?
                .ok_or_else(|| Error::Unavailable("no active signing key".into()))?,
        );
    }
    let Some(key) = key.as_ref() else {
        return Err(unexpected("signing an event", "no key"));
    };
    let iat = dir.now().assume_utc().unix_timestamp();
    let claims = SetClaims::of(&dir.issuer, event, iat);
    let set = dir.keyring.sign_typed(key, TYP, &claims)?;
    // A status change's SET joins the transparency log with its signature, in one transaction.
    let stored = write_transaction(conn, |tx| {
        if !store::events::set_token(tx, event.cursor.0, &set, key.kid.as_str())? {
            return Ok(false);
        }
        if event.kind.changes_status() && dir.config.transparency_log {
            super::transparency::record_in(
                tx,
                ssa_verifier::transparency::EntryKind::Event,
                set.as_bytes(),
                &event.jti,
                dir.now(),
            )?;
        }
        Ok::<_, Error>(true)
    })?;
    if stored {
        return Ok(set);
    }
    store::events::token(conn, event.cursor.0)?
        .ok_or_else(|| unexpected("signing an event", "its stored token vanished"))
}

/// Signs up to `limit` events that no instance has signed yet, so that readers find them
/// signed; the number signed.
pub async fn sign_pending(dir: &Arc<Directory>, limit: i64) -> Result<usize> {
    let shared = dir.clone();
    dir.db(move |conn| {
        let pending = store::events::unsigned(conn, limit)?;
        let mut key = None;
        for event in &pending {
            sign(&shared, conn, event, &mut key)?;
        }
        Ok(pending.len())
    })
    .await
}

/// The newest cursor: a snapshot read after it, then the feed followed from it, misses
/// nothing (a change committed in between is seen twice, which is harmless).
pub fn newest(conn: &mut DbConnection) -> Result<Cursor> {
    Ok(store::events::newest(conn)?)
}

/// Removes events older than the retention; the number removed.
pub fn prune(conn: &mut DbConnection, retention_secs: u64, at: Timestamp) -> Result<usize> {
    let before = at - time::Duration::seconds(retention_secs.min(i64::MAX as u64) as i64);
    write_transaction(conn, |tx| Ok(store::events::prune(tx, before)?))
}
