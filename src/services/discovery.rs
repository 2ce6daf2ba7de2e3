//! What relying parties read without a token: the effective status of software products and
//! the active participants with their authorization servers.

use std::sync::Arc;

use super::Directory;
use crate::documents::Published;
use crate::model::discovery::{ParticipantFilter, ParticipantList, SoftwareStatus};
use crate::model::event::Cursor;
use crate::model::{Error, Result, SoftwareId};
use crate::store;

/// The status of one product; 404 when it does not exist.
pub async fn software_status(dir: &Arc<Directory>, id: SoftwareId) -> Result<SoftwareStatus> {
    dir.db(move |conn| {
        store::discovery::software_status(conn, id)?.ok_or(Error::NotFound("software"))
    })
    .await
}

/// One page of the status snapshot.
pub struct Snapshot {
    pub items: Vec<SoftwareStatus>,
    /// The last software id of the page when more follow.
    pub next: Option<SoftwareId>,
    /// The newest event cursor, read before the page.
    pub event_cursor: Cursor,
}

/// Every product's status by software id, `limit` at a time after `after`, or only those
/// changed after the event cursor `since`. The event cursor is read before the page: a
/// reader that takes every page and then follows the feed from the first page's cursor
/// misses no change. A `since` older than the event retention is gone.
pub async fn snapshot(
    dir: &Arc<Directory>,
    after: Option<SoftwareId>,
    limit: i64,
    since: Option<Cursor>,
) -> Result<Snapshot> {
    let retention_days = dir.config.event_retention_secs / 86_400;
    dir.db(move |conn| {
        let event_cursor = super::events::newest(conn)?;
        if let Some(since) = since
            && since < store::events::horizon(conn)?
        {
            return Err(Error::Gone(format!(
                "events after cursor {since} are past the retention of {retention_days} days; \
                 take the whole snapshot (without since) instead"
            )));
        }
        let (items, more) =
            store::discovery::statuses_after(conn, after, limit, since.map(|c| c.0))?;
        let next = if more {
            items.last().map(|s| s.software_id)
        } else {
            None
        };
        Ok(Snapshot {
            items,
            next,
            event_cursor,
        })
    })
    .await
}

/// Active organisations with their roles and, for ASPSPs, their authorization servers: the
/// whole list, prepared. It is built again only when an organisation or a proof of an
/// issuer changed since (a cheap aggregate query says so), on each instance.
pub async fn participants(dir: &Arc<Directory>) -> Result<Arc<Published>> {
    let shared = dir.clone();
    dir.db(move |conn| {
        let version = store::discovery::participants_version(conn)?;
        if let Some(doc) = shared.participants.get(&version) {
            return Ok(doc);
        }
        let items = store::discovery::participants(conn)?;
        let doc = Arc::new(Published::json(&ParticipantList {
            items,
            next: None,
            event_cursor: None,
            removed: None,
        }));
        shared.participants.put(version, doc.clone());
        Ok(doc)
    })
    .await
}

/// One page of the participants by organisation id, filtered; with `since`, only those an
/// event after that cursor concerns, and (on the first page) those it made leave. A `since`
/// older than the event retention is gone.
pub async fn participants_page(
    dir: &Arc<Directory>,
    filter: ParticipantFilter,
    limit: i64,
) -> Result<ParticipantList> {
    let retention_days = dir.config.event_retention_secs / 86_400;
    dir.db(move |conn| {
        let event_cursor = super::events::newest(conn)?;
        if let Some(since) = filter.since
            && since < store::events::horizon(conn)?.0
        {
            return Err(Error::Gone(format!(
                "events after cursor {since} are past the retention of {retention_days} days; \
                 take the whole list (without since) instead"
            )));
        }
        let (items, more, removed) = store::discovery::participants_page(conn, &filter, limit)?;
        Ok(ParticipantList {
            next: if more {
                items.last().map(|p| p.org_id)
            } else {
                None
            },
            items,
            event_cursor: Some(event_cursor.to_string()),
            removed: (filter.since.is_some() && filter.after.is_none()).then_some(removed),
        })
    })
    .await
}
