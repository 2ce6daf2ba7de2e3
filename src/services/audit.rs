//! Reading the audit log: the whole log for operators, an organisation's or a product's
//! history for those who may see it.

use std::sync::Arc;

use super::Directory;
use crate::model::audit::{AuditEvent, AuditFilter};
use crate::model::{Actor, Page, PageRequest, Result};
use crate::store;

/// The audit log, newest first; operators only.
pub async fn list(
    dir: &Arc<Directory>,
    actor: Actor,
    filter: AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEvent>> {
    actor.require_operator()?;
    let filter = filter.checked()?;
    dir.db(move |conn| Ok(store::audit::list(conn, &filter, page)?))
        .await
}
