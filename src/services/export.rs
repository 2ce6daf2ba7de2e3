//! CSV exports of the operator's lists: a header line, then the rows a keyset page at a time,
//! so that an export of millions of rows holds one page in memory.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;

use super::Directory;
use crate::model::{Error, Result};
use crate::store::DbConnection;

/// Rows per page of an export.
pub const PAGE: i64 = 1000;

/// The CSV (RFC 4180) of `columns`, then of every row `fetch` gives, page after page: it is
/// asked for the rows after the key of the last row it gave (`None` first), at most
/// [`PAGE`], and the export ends with a short page. `T` serialises to one record of the
/// columns, in their order.
pub fn stream<T, K, F>(
    dir: Arc<Directory>,
    columns: &'static [&'static str],
    fetch: F,
    key: fn(&T) -> K,
) -> impl Stream<Item = Result<Bytes>>
where
    T: Serialize + Send + 'static,
    K: Clone + Send + 'static,
    F: Fn(&mut DbConnection, Option<K>) -> Result<Vec<T>> + Send + Sync + 'static,
{
    let fetch = Arc::new(fetch);
    // The key the next page starts after, and whether the header is still due; `None` once
    // the last page was sent.
    let start: Option<(Option<K>, bool)> = Some((None, true));
    futures_util::stream::unfold(start, move |state| {
        let (dir, fetch) = (dir.clone(), fetch.clone());
        async move {
            let (after, header) = state?;
            let rows = match dir.db(move |conn| fetch(conn, after)).await {
                Ok(rows) => rows,
                Err(error) => return Some((Err(error), None)),
            };
            let next = match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => Some((Some(key(last)), false)),
                _ => None,
            };
            Some((chunk(header.then_some(columns), &rows), next))
        }
    })
}

/// Rows as CSV lines, after the header line if given.
pub fn chunk<T: Serialize>(header: Option<&[&str]>, rows: &[T]) -> Result<Bytes> {
    let failed = |e: csv::Error| Error::Unexpected(anyhow::anyhow!("writing CSV: {e}"));
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(rows.len() * 160));
    if let Some(columns) = header {
        out.write_record(columns).map_err(failed)?;
    }
    for row in rows {
        out.serialize(row).map_err(failed)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("writing CSV: {e}")))?;
    Ok(bytes.into())
}
