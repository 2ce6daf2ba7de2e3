//! The transparency log of what the directory issues (C2SP tlog-tiles, signed-note
//! checkpoints, tlog-proof):
//! - an artefact is logged in the transaction that issues it (`record_in`): its index comes
//!   from the state row's lock, so indexes follow commit order with no gap;
//! - `sequence`, run by every instance, extends the tree with what was committed since, stores
//!   the new hashes and signs a checkpoint of the new size with the log's Ed25519 key
//!   (`keys/log.key`); whichever instance moves the tree first does it;
//! - `proof` answers an artefact's tlog-proof against the newest checkpoint.
//!
//! The checks a bank runs are the verifier's (`ssa_verifier::transparency`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use ssa_verifier::transparency::{self as tlog, EntryKind, Proof};
use tlog_tiles::{Hash, HashReader};

use super::Directory;
use crate::model::{Error, Result, Timestamp};
use crate::store::{self, DbConnection, write_transaction};

/// The key file of the log (an Ed25519 seed), beside the session key.
const KEY_FILE: &str = "log.key";

/// The most entries one round of [`sequence`] adds to the tree.
const ROUND: i64 = 4096;

/// The log's name and signing key.
pub struct LogSigner {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
    vkey: String,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner")
            .field("vkey", &self.vkey)
            .finish_non_exhaustive()
    }
}

/// The log's name: the public URL without its scheme, then `/log` (`directory.example/log`).
fn origin(public_url: &str) -> String {
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .trim_end_matches('/');
    format!("{host}/log")
}

impl LogSigner {
    /// The key of `keys_dir/log.key`, made on first use (mode 0600); the log is named after
    /// `public_url`.
    pub fn load(keys_dir: &Path, public_url: &str) -> anyhow::Result<Self> {
        let seed = crate::keys::symmetric_key(
            keys_dir,
            KEY_FILE,
            32,
            "start a new log: every proof handed out stops verifying",
        )?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| anyhow::anyhow!("{KEY_FILE} is not 32 bytes"))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let name = origin(public_url);
        let vkey = signed_note::new_ed25519_verifier_key(&name, &key.verifying_key());
        let mut public = vec![0x01];
        public.extend_from_slice(key.verifying_key().as_bytes());
        let id = signed_note::key_id(&name, &public);
        Ok(Self {
            name,
            id,
            key,
            vkey,
        })
    }

    /// The log's note verifier key (`name+keyid+base64`), as published.
    pub fn verifier_key(&self) -> &str {
        &self.vkey
    }

    /// The log's name, its checkpoints' origin line.
    pub fn origin(&self) -> &str {
        &self.name
    }
}

impl signed_note::Signer for LogSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        use ed25519_dalek::Signer;
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

fn unexpected(e: impl std::fmt::Display) -> Error {
    Error::Unexpected(anyhow::anyhow!("the transparency log: {e}"))
}

/// Logs `artefact` in the caller's transaction, the one that issues it.
pub fn record_in(
    tx: &mut DbConnection,
    kind: EntryKind,
    artefact: &[u8],
    at: Timestamp,
) -> Result<()> {
    let entry = tlog::entry(kind, artefact).map_err(|e| Error::Validation(e.to_string()))?;
    let sha256 = hex::encode(Sha256::digest(artefact));
    store::log::append(tx, &entry, &sha256, at)?;
    Ok(())
}

/// Reads the tree's stored hashes: those computed but not written yet, then the database's.
struct Reader<'a> {
    conn: RefCell<&'a mut DbConnection>,
    pending: RefCell<BTreeMap<u64, Hash>>,
}

impl<'a> Reader<'a> {
    fn new(conn: &'a mut DbConnection) -> Self {
        Self {
            conn: RefCell::new(conn),
            pending: RefCell::new(BTreeMap::new()),
        }
    }
}

impl HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
        let pending = self.pending.borrow();
        let missing: Vec<i64> = indexes
            .iter()
            .filter(|i| !pending.contains_key(i))
            .map(|&i| i as i64)
            .collect();
        let mut found = BTreeMap::new();
        if !missing.is_empty() {
            let mut conn = self.conn.borrow_mut();
            for (id, bytes) in store::log::hashes(&mut conn, &missing)
                .map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))?
            {
                let hash = <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| tlog_tiles::Error::MalformedHash)?;
                found.insert(id as u64, Hash(hash));
            }
        }
        indexes
            .iter()
            .map(|i| {
                pending
                    .get(i)
                    .or_else(|| found.get(i))
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Extends the tree with the entries committed since the last round, stores their hashes
/// and signs a checkpoint of the new size (and one of the empty log at first); the new size,
/// or `None` when there was nothing to do or another instance did it.
pub async fn sequence(dir: &Arc<Directory>) -> Result<Option<i64>> {
    let (shared, at) = (dir.clone(), dir.now());
    dir.db(move |conn| {
        // A read first: an idle log takes no write lock four times a second.
        let (next, size) = store::log::state(conn)?;
        let signed = store::log::latest_checkpoint(conn)?.map(|(s, _)| s);
        if next == size && signed == Some(size) {
            return Ok(None);
        }
        write_transaction(conn, |tx| {
            let size = store::log::tree_size(tx)?;
            let signed = store::log::latest_checkpoint(tx)?.map(|(s, _)| s);
            let entries = store::log::entries_from(tx, size, ROUND)?;
            let reader = Reader::new(tx);
            let mut n = size as u64;
            for (idx, entry) in &entries {
                if *idx as u64 != n {
                    break;
                }
                let hashes = tlog_tiles::stored_hashes(n, entry, &reader).map_err(unexpected)?;
                let first = tlog_tiles::stored_hash_index(0, n);
                reader.pending.borrow_mut().extend(
                    hashes
                        .into_iter()
                        .enumerate()
                        .map(|(i, hash)| (first + i as u64, hash)),
                );
                n += 1;
            }
            if n == size as u64 && signed == Some(size) {
                return Ok(None);
            }
            let root = tlog_tiles::tree_hash(n, &reader).map_err(unexpected)?;
            let Reader { conn, pending } = reader;
            let tx = conn.into_inner();
            // Whoever moves the tree first writes its hashes and checkpoint.
            if n != size as u64 && !store::log::grow(tx, size, n as i64)? {
                return Ok(None);
            }
            let hashes: Vec<(i64, [u8; 32])> = pending
                .into_inner()
                .into_iter()
                .map(|(id, hash)| (id as i64, hash.0))
                .collect();
            store::log::insert_hashes(tx, &hashes)?;
            let checkpoint = tlog_tiles::Checkpoint::new(shared.log.origin(), n, root, "")
                .map_err(unexpected)?;
            let mut note =
                signed_note::Note::new(&checkpoint.to_bytes(), &[]).map_err(unexpected)?;
            note.add_sigs(&[&*shared.log]).map_err(unexpected)?;
            store::log::insert_checkpoint(tx, n as i64, &note.to_bytes(), at)?;
            Ok(Some(n as i64))
        })
    })
    .await
}

/// The newest signed checkpoint (a signed note).
pub async fn checkpoint(dir: &Arc<Directory>) -> Result<Vec<u8>> {
    dir.db(move |conn| {
        store::log::latest_checkpoint(conn)?
            .map(|(_, note)| note)
            .ok_or(Error::NotFound("checkpoint"))
    })
    .await
}

/// The tlog-proof of the artefact whose SHA-256 is `sha256` (hex) against the newest
/// checkpoint; not found while it is unknown, or logged but not yet in a checkpoint (a
/// second or so).
pub async fn proof(dir: &Arc<Directory>, sha256: String) -> Result<Vec<u8>> {
    dir.db(move |conn| {
        let (index, _) = store::log::by_artefact(conn, &sha256.to_ascii_lowercase())?
            .ok_or(Error::NotFound("logged artefact"))?;
        let (size, note) =
            store::log::latest_checkpoint(conn)?.ok_or(Error::NotFound("checkpoint"))?;
        if index >= size {
            return Err(Error::NotFound("checkpoint that covers the artefact yet"));
        }
        let path = tlog_tiles::prove_record(size as u64, index as u64, &Reader::new(conn))
            .map_err(unexpected)?;
        Ok(Proof {
            extra: None,
            index: index as u64,
            path,
            checkpoint: note,
        }
        .to_text())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn the_log_is_named_after_the_public_url() {
        assert_eq!(
            origin("https://directory.example/"),
            "directory.example/log"
        );
        assert_eq!(origin("http://127.0.0.1:8080"), "127.0.0.1:8080/log");
    }
}
