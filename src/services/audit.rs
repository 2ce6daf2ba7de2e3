//! Reading the audit log: the whole log for operators, an organisation's or a product's
//! history for those who may see it.

use std::sync::Arc;

use super::Directory;
use crate::model::audit::{AuditEvent, AuditFilter};
use crate::model::{Actor, Page, PageRequest, Result, invalid};
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

/// The events of the filter older than the one `after` names (a list page's `next`): a
/// keyset page, newest first, as cheap as the first however deep.
pub async fn list_after(
    dir: &Arc<Directory>,
    actor: Actor,
    filter: AuditFilter,
    after: &str,
    per_page: i64,
) -> Result<Page<AuditEvent>> {
    actor.require_operator()?;
    let filter = filter.checked()?;
    let after: i64 = after
        .parse()
        .ok()
        .ok_or_else(|| invalid("after", "must be the `next` of a page of this list"))?;
    dir.db(move |conn| {
        let items = store::audit::before(conn, &filter, Some(after), per_page)?;
        let total = store::audit::count(conn, &filter)?;
        Ok(Page::keyset(items, per_page, total, |e| e.id.to_string()))
    })
    .await
}

/// The columns of an audit export, as its first line names them.
const EXPORT_COLUMNS: &[&str] = &[
    "id",
    "occurred_at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "organisation_id",
    "old_status",
    "new_status",
    "reason",
    "details",
];

/// The log, filtered, newest first, as CSV (a header line first), for operators: streamed a
/// keyset page at a time (see [`super::export`]).
pub fn export(
    dir: Arc<Directory>,
    actor: Actor,
    filter: AuditFilter,
) -> Result<impl futures_util::Stream<Item = Result<bytes::Bytes>>> {
    actor.require_operator()?;
    let filter = filter.checked()?;
    Ok(super::export::stream(
        dir,
        EXPORT_COLUMNS,
        move |conn, before| {
            Ok(store::audit::before(
                conn,
                &filter,
                before,
                super::export::PAGE,
            )?)
        },
        |event: &AuditEvent| event.id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_header_names_the_columns_each_line_holds_in_order() {
        let event = AuditEvent {
            id: 7,
            occurred_at: time::macros::datetime!(2026-12-05 10:00:00),
            actor: "op@example.com".into(),
            action: "organisation.approve".into(),
            subject_type: "organisation".into(),
            subject_id: "x".into(),
            organisation_id: None,
            old_status: Some("pending".into()),
            new_status: Some("active".into()),
            reason: Some("fine, \"quoted\"\nand two lines".into()),
            details: None,
        };
        let mut named = csv::Writer::from_writer(vec![]);
        named.serialize(&event).unwrap();
        let named = String::from_utf8(named.into_inner().unwrap()).unwrap();
        let chunk = super::super::export::chunk(Some(EXPORT_COLUMNS), std::slice::from_ref(&event))
            .unwrap();
        assert_eq!(std::str::from_utf8(&chunk).unwrap(), named);
        let mut reader = csv::Reader::from_reader(chunk.as_ref());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[9], "fine, \"quoted\"\nand two lines");
        assert_eq!(&record[1], "2026-12-05T10:00:00Z");
    }
}
