//! Reading the audit log: the whole log for operators, an organisation's or a product's
//! history for those who may see it.

use std::sync::Arc;

use super::Directory;
use crate::model::audit::{AuditEvent, AuditFilter};
use crate::model::{Actor, Error, Page, PageRequest, Result};
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

/// Events per page of an export.
const EXPORT_PAGE: i64 = 1000;

/// The columns of an audit export, as its first line names them.
const EXPORT_COLUMNS: [&str; 11] = [
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

/// The log, filtered, newest first, as CSV (RFC 4180, a header line first), for operators:
/// a stream of chunks read a keyset page at a time, so that an export of millions of events
/// holds one page in memory.
pub fn export(
    dir: Arc<Directory>,
    actor: Actor,
    filter: AuditFilter,
) -> Result<impl futures_util::Stream<Item = Result<bytes::Bytes>>> {
    actor.require_operator()?;
    let filter = Arc::new(filter.checked()?);
    // The state: the id the next page ends before, and whether the header is still due;
    // `None` once the last page was sent.
    let start: Option<(Option<i64>, bool)> = Some((None, true));
    Ok(futures_util::stream::unfold(start, move |state| {
        let (dir, filter) = (dir.clone(), filter.clone());
        async move {
            let (before, header) = state?;
            let page = dir
                .db(move |conn| Ok(store::audit::before(conn, &filter, before, EXPORT_PAGE)?))
                .await;
            let events = match page {
                Ok(events) => events,
                Err(error) => return Some((Err(error), None)),
            };
            let next = match events.last() {
                Some(last) if events.len() as i64 == EXPORT_PAGE => Some((Some(last.id), false)),
                _ => None,
            };
            let chunk = csv_chunk(header, &events);
            Some((chunk, next))
        }
    }))
}

/// Events as CSV lines, after the header line when `header`.
fn csv_chunk(header: bool, events: &[AuditEvent]) -> Result<bytes::Bytes> {
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(events.len() * 160));
    let failed = |e: csv::Error| Error::Unexpected(anyhow::anyhow!("writing CSV: {e}"));
    if header {
        out.write_record(EXPORT_COLUMNS).map_err(failed)?;
    }
    for event in events {
        out.serialize(event).map_err(failed)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("writing CSV: {e}")))?;
    Ok(bytes.into())
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
        let chunk = csv_chunk(true, std::slice::from_ref(&event)).unwrap();
        assert_eq!(std::str::from_utf8(&chunk).unwrap(), named);
        let mut reader = csv::Reader::from_reader(chunk.as_ref());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[9], "fine, \"quoted\"\nand two lines");
        assert_eq!(&record[1], "2026-12-05T10:00:00Z");
    }
}
