//! What relying parties read without a token: the effective status of software products and
//! the active participants with their authorization servers.

use std::sync::Arc;

use super::Directory;
use crate::model::discovery::{Participant, SoftwareStatus};
use crate::model::{Error, Page, PageRequest, Result, SoftwareId};
use crate::store;

/// The status of one product; 404 when it does not exist.
pub async fn software_status(dir: &Arc<Directory>, id: SoftwareId) -> Result<SoftwareStatus> {
    dir.db(move |conn| {
        store::discovery::software_status(conn, id)?.ok_or(Error::NotFound("software"))
    })
    .await
}

/// Every product's status, in a stable order, for authorization servers that sync.
///
/// With the event cursor read before the page: a reader that takes every page and then
/// follows the feed from the cursor of its first page misses no change.
pub async fn all_statuses(
    dir: &Arc<Directory>,
    page: PageRequest,
) -> Result<(Page<SoftwareStatus>, crate::model::event::Cursor)> {
    dir.db(move |conn| {
        let cursor = super::events::newest(conn)?;
        Ok((store::discovery::all_statuses(conn, page)?, cursor))
    })
    .await
}

/// Active organisations with their roles and, for ASPSPs, their authorization servers.
pub async fn participants(dir: &Arc<Directory>) -> Result<Vec<Participant>> {
    dir.db(store::discovery::participants).await
}
