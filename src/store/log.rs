//! The transparency log's tables: entries in index order, the tree's stored hashes, signed
//! checkpoints, and the state row whose lock orders appends.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{log_checkpoints, log_entries, log_hashes, log_state};
use crate::model::Timestamp;

/// Appends entries in the caller's transaction, in order; the index of the first. The index is taken by updating
/// the state row, whose lock the transaction holds until it commits: indexes follow commit
/// order, and a transaction that rolls back gives its index back.
pub fn append(conn: &mut DbConnection, entries: &[NewEntry<'_>]) -> QueryResult<i64> {
    let count = entries.len() as i64;
    diesel::update(log_state::table.find(1))
        .set(log_state::next_index.eq(log_state::next_index + count))
        .execute(conn)?;
    let next: i64 = log_state::table
        .find(1)
        .select(log_state::next_index)
        .first(conn)?;
    let first = next - count;
    let rows: Vec<_> = entries
        .iter()
        .zip(first..)
        .map(|(e, idx)| {
            (
                log_entries::idx.eq(idx),
                log_entries::entry.eq(e.entry),
                log_entries::artefact_sha256.eq(e.artefact_sha256),
                log_entries::created_at.eq(e.at),
                log_entries::reference.eq(e.reference),
            )
        })
        .collect();
    match conn {
        // Multi-row statements (PostgreSQL's limit is 65,535 bound values, five a row).
        DbConnection::Postgresql(c) => {
            for chunk in rows.chunks(1000) {
                diesel::insert_into(log_entries::table)
                    .values(chunk.to_vec())
                    .execute(c)?;
            }
        }
        // One prepared single-row statement per row, as the recorder inserts on SQLite.
        DbConnection::Sqlite(c) => {
            for row in rows {
                diesel::insert_into(log_entries::table)
                    .values(row)
                    .execute(c)?;
            }
        }
    }
    Ok(first)
}

/// An entry to append: its bytes, its artefact's SHA-256 (hex), what it is of, and when.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    pub entry: &'a [u8],
    pub artefact_sha256: &'a str,
    pub reference: &'a str,
    pub at: Timestamp,
}

/// How many entries the tree holds.
pub fn tree_size(conn: &mut DbConnection) -> QueryResult<i64> {
    log_state::table
        .find(1)
        .select(log_state::tree_size)
        .first(conn)
}

/// The entries given an index so far (committed or not yet), and how many the tree holds.
pub fn state(conn: &mut DbConnection) -> QueryResult<(i64, i64)> {
    log_state::table
        .find(1)
        .select((log_state::next_index, log_state::tree_size))
        .first(conn)
}

/// Moves the tree from `from` entries to `to`; false when another instance moved it first.
pub fn grow(conn: &mut DbConnection, from: i64, to: i64) -> QueryResult<bool> {
    diesel::update(
        log_state::table
            .find(1)
            .filter(log_state::tree_size.eq(from)),
    )
    .set(log_state::tree_size.eq(to))
    .execute(conn)
    .map(|n| n == 1)
}

/// Up to `limit` entries from index `start` on, in order.
pub fn entries_from(
    conn: &mut DbConnection,
    start: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    log_entries::table
        .filter(log_entries::idx.ge(start))
        .order(log_entries::idx.asc())
        .limit(limit)
        .select((log_entries::idx, log_entries::entry))
        .load(conn)
}

/// The entry of the artefact with this SHA-256 (hex): its index and bytes; the first when it
/// was logged more than once.
pub fn by_artefact(
    conn: &mut DbConnection,
    artefact_sha256: &str,
) -> QueryResult<Option<(i64, Vec<u8>)>> {
    log_entries::table
        .filter(log_entries::artefact_sha256.eq(artefact_sha256))
        .order(log_entries::idx.asc())
        .select((log_entries::idx, log_entries::entry))
        .first(conn)
        .optional()
}

/// The entries from index `start` up to `end` (excluded), in order.
pub fn entries_between(conn: &mut DbConnection, start: i64, end: i64) -> QueryResult<Vec<Vec<u8>>> {
    log_entries::table
        .filter(log_entries::idx.ge(start).and(log_entries::idx.lt(end)))
        .order(log_entries::idx.asc())
        .select(log_entries::entry)
        .load(conn)
}

/// The indexes of the entries of these references (a statement's jti, a certificate's
/// serial), by reference; the first when one was logged twice.
pub fn indexes_of(
    conn: &mut DbConnection,
    references: &[&str],
) -> QueryResult<std::collections::HashMap<String, i64>> {
    let rows: Vec<(Option<String>, i64)> = log_entries::table
        .filter(log_entries::reference.eq_any(references))
        .order(log_entries::idx.desc())
        .select((log_entries::reference, log_entries::idx))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(reference, idx)| Some((reference?, idx)))
        .collect())
}

/// The stored hashes with these ids (any order; missing ones are left out).
pub fn hashes(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    log_hashes::table
        .filter(log_hashes::id.eq_any(ids))
        .select((log_hashes::id, log_hashes::hash))
        .load(conn)
}

/// Stores hashes by id.
pub fn insert_hashes(conn: &mut DbConnection, hashes: &[(i64, [u8; 32])]) -> QueryResult<()> {
    let rows: Vec<_> = hashes
        .iter()
        .map(|(id, hash)| (log_hashes::id.eq(*id), log_hashes::hash.eq(&hash[..])))
        .collect();
    match conn {
        DbConnection::Postgresql(c) => {
            for chunk in rows.chunks(1000) {
                diesel::insert_into(log_hashes::table)
                    .values(chunk.to_vec())
                    .execute(c)?;
            }
        }
        // A round's hundreds of hashes in a few statements, while the write lock is held.
        DbConnection::Sqlite(c) => {
            for chunk in rows.chunks(1000) {
                diesel::insert_into(log_hashes::table)
                    .values(chunk.to_vec())
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Stores a signed checkpoint of `size` entries.
pub fn insert_checkpoint(
    conn: &mut DbConnection,
    size: i64,
    note: &[u8],
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(log_checkpoints::table)
        .values((
            log_checkpoints::size.eq(size),
            log_checkpoints::note.eq(note),
            log_checkpoints::signed_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// Signs the checkpoint of `size` again (a newer note, witnesses' newer cosignatures).
pub fn refresh_checkpoint(
    conn: &mut DbConnection,
    size: i64,
    note: &[u8],
    at: Timestamp,
) -> QueryResult<()> {
    diesel::update(log_checkpoints::table.find(size))
        .set((
            log_checkpoints::note.eq(note),
            log_checkpoints::signed_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// Replaces the note of the checkpoint of `size` with `cosigned` (the same with witnesses'
/// cosignatures added) while it is still `note`; false when it changed meanwhile.
pub fn add_cosignatures(
    conn: &mut DbConnection,
    size: i64,
    note: &[u8],
    cosigned: &[u8],
) -> QueryResult<bool> {
    diesel::update(
        log_checkpoints::table
            .find(size)
            .filter(log_checkpoints::note.eq(note)),
    )
    .set(log_checkpoints::note.eq(cosigned))
    .execute(conn)
    .map(|n| n == 1)
}

/// When the newest checkpoint was signed.
pub fn latest_signed_at(conn: &mut DbConnection) -> QueryResult<Option<Timestamp>> {
    log_checkpoints::table
        .order(log_checkpoints::size.desc())
        .select(log_checkpoints::signed_at)
        .first(conn)
        .optional()
}

/// The newest signed checkpoint: its size and note.
pub fn latest_checkpoint(conn: &mut DbConnection) -> QueryResult<Option<(i64, Vec<u8>)>> {
    log_checkpoints::table
        .order(log_checkpoints::size.desc())
        .select((log_checkpoints::size, log_checkpoints::note))
        .first(conn)
        .optional()
}
