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
use ssa_verifier::transparency::{self as tlog, EntryKind, Proof, TILE_HEIGHT};
use tlog_tiles::{Hash, HashReader};

use super::Directory;
use crate::model::{Error, Result, Timestamp};
use crate::store::{self, DbConnection, write_transaction};

/// The key file of the log (an Ed25519 seed), beside the session key.
const KEY_FILE: &str = "log.key";

/// The most entries one round of [`sequence`] adds to the tree.
const ROUND: i64 = 4096;

/// The longest a checkpoint goes unsigned while the log does not grow.
pub const RESIGN_AFTER: time::Duration = time::Duration::minutes(10);

/// The name of the log's key in a PKCS#11 token.
const TOKEN_KEY: &str = "transparency-log";

/// Where the log's private key is.
enum PrivateKey {
    /// `keys/log.key`.
    File(Box<ed25519_dalek::SigningKey>),
    /// The PKCS#11 token, which signs (`CKM_EDDSA`) and never lets it out.
    Token(Arc<crate::keys::pkcs11::Token>),
}

/// The log's name and signing key.
pub struct LogSigner {
    name: String,
    id: u32,
    key: PrivateKey,
    vkey: String,
    /// The same key as a verifier reads it, to check witnesses' cosignatures with.
    public: tlog::LogKey,
    /// Whether this instance has signed a checkpoint: its first round signs one whatever the
    /// newest one's age, so that a key moved (into a token, say) signs the newest at once.
    signed_once: std::sync::atomic::AtomicBool,
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
    /// The log's key: with a PKCS#11 `token`, its Ed25519 key `transparency-log` (made in it
    /// on first use); else `keys_dir/log.key`, made on first use (mode 0600). The log is
    /// named after `public_url`. Blocks (the token's calls): call from a blocking thread.
    pub fn load(
        keys_dir: &Path,
        public_url: &str,
        token: Option<&Arc<crate::keys::pkcs11::Token>>,
    ) -> anyhow::Result<Self> {
        let (key, public) = match token {
            Some(token) => {
                let public: [u8; 32] = token
                    .ed25519_named(TOKEN_KEY)?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("the token's log key is not Ed25519"))?;
                (PrivateKey::Token(token.clone()), public)
            }
            None => {
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
                let public = key.verifying_key().to_bytes();
                (PrivateKey::File(Box::new(key)), public)
            }
        };
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&public)?;
        let name = origin(public_url);
        let vkey = signed_note::new_ed25519_verifier_key(&name, &verifying);
        let mut tagged = vec![0x01];
        tagged.extend_from_slice(&public);
        let id = signed_note::key_id(&name, &tagged);
        let public = tlog::LogKey::parse(&vkey)?;
        Ok(Self {
            name,
            id,
            key,
            vkey,
            public,
            signed_once: std::sync::atomic::AtomicBool::new(false),
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
        match &self.key {
            PrivateKey::File(key) => {
                use ed25519_dalek::Signer;
                Ok(key.sign(msg).to_bytes().to_vec())
            }
            PrivateKey::Token(token) => token.sign_ed25519(TOKEN_KEY, msg).map_err(|e| {
                tracing::error!(error = %e, "the token did not sign the log's checkpoint");
                signature::Error::new()
            }),
        }
    }
}

fn unexpected(e: impl std::fmt::Display) -> Error {
    Error::Unexpected(anyhow::anyhow!("the transparency log: {e}"))
}

/// Logs `artefact` in the caller's transaction, the one that issues it; its index.
/// `reference` names it where the directory shows it (a statement's jti, a certificate's
/// serial, an event's cursor). An artefact too large for an entry is refused, and with it
/// the issuance: no artefact is handed out without its place in the log.
pub fn record_in(
    tx: &mut DbConnection,
    kind: EntryKind,
    artefact: &[u8],
    reference: &str,
    at: Timestamp,
) -> Result<i64> {
    record_all_in(tx, kind, &[(artefact, reference, at)])
}

/// [`record_in`] for several artefacts of one kind, in order, in one statement; the index of
/// the first. The statement recorder logs its batch so.
pub fn record_all_in(
    tx: &mut DbConnection,
    kind: EntryKind,
    artefacts: &[(&[u8], &str, Timestamp)],
) -> Result<i64> {
    let prepared = artefacts
        .iter()
        .map(|(artefact, reference, at)| {
            let entry =
                tlog::entry(kind, artefact).map_err(|e| Error::Validation(e.to_string()))?;
            Ok((
                entry,
                hex::encode(Sha256::digest(artefact)),
                *reference,
                *at,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let entries: Vec<store::log::NewEntry<'_>> = prepared
        .iter()
        .map(|(entry, sha256, reference, at)| store::log::NewEntry {
            entry,
            artefact_sha256: sha256,
            reference,
            at: *at,
        })
        .collect();
    Ok(store::log::append(tx, &entries)?)
}

/// The link relation of an artefact's proof in a `Link` header.
pub const PROOF_REL: &str = "https://c2sp.org/tlog-proof";

/// Where the tlog-proof of `artefact` is served.
pub fn proof_uri(public_url: &str, artefact: &[u8]) -> String {
    format!(
        "{}/log/proof?sha256={}",
        public_url.trim_end_matches('/'),
        hex::encode(Sha256::digest(artefact))
    )
}

/// The log indexes of these references (statements' jtis, certificates' serials).
pub fn indexes_of(
    conn: &mut DbConnection,
    references: &[&str],
) -> Result<std::collections::HashMap<String, i64>> {
    Ok(store::log::indexes_of(conn, references)?)
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
    dir.db(move |conn| sequence_in(conn, &shared.log, at)).await
}

/// [`sequence`] on a connection, with the log's signer: what every instance's sequencer runs
/// (and the append benchmark, `examples/log_append.rs`).
pub fn sequence_in(conn: &mut DbConnection, log: &LogSigner, at: Timestamp) -> Result<Option<i64>> {
    // The tree is extended and its checkpoint signed from reads, outside the write lock that
    // issuance takes: committed entries and stored hashes never change. The write that
    // follows moves the tree only from the size it was built on (compare and set), so of
    // two instances (or rounds) that built the same extension, one stores it.
    let (next, size) = store::log::state(conn)?;
    let signed = store::log::latest_checkpoint(conn)?.map(|(s, _)| s);
    let first = !log.signed_once.load(std::sync::atomic::Ordering::Relaxed);
    let fresh =
        !first && store::log::latest_signed_at(conn)?.is_some_and(|t| at - t < RESIGN_AFTER);
    if next == size && signed == Some(size) && fresh {
        return Ok(None);
    }
    let entries = store::log::entries_from(conn, size, ROUND)?;
    let reader = Reader::new(conn);
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
    if n == size as u64 && signed == Some(size) && fresh {
        return Ok(None);
    }
    let root = tlog_tiles::tree_hash(n, &reader).map_err(unexpected)?;
    let Reader { conn, pending } = reader;
    let conn = conn.into_inner();
    let hashes: Vec<(i64, [u8; 32])> = pending
        .into_inner()
        .into_iter()
        .map(|(id, hash)| (id as i64, hash.0))
        .collect();
    let checkpoint = tlog_tiles::Checkpoint::new(log.origin(), n, root, "").map_err(unexpected)?;
    let mut note = signed_note::Note::new(&checkpoint.to_bytes(), &[]).map_err(unexpected)?;
    note.add_sigs(&[log]).map_err(unexpected)?;
    let note = note.to_bytes();
    write_transaction(conn, |tx| {
        // Also when the tree stays at its size: the state row's lock orders two instances
        // signing the same size, so that the second sees the first's checkpoint.
        if !store::log::grow(tx, size, n as i64)? {
            return Ok(None);
        }
        store::log::insert_hashes(tx, &hashes)?;
        match store::log::latest_checkpoint(tx)? {
            // Ed25519 signs deterministically and a checkpoint carries no time: the note
            // is the same bytes, and the stored one keeps the witnesses' cosignatures after
            // them; `signed_at` says the log still stands behind it. A new log key (a
            // directory moved into a token) signs it anew.
            Some((s, stored)) if s == n as i64 => {
                let kept = if stored.starts_with(&note) {
                    stored
                } else {
                    note
                };
                store::log::refresh_checkpoint(tx, s, &kept, at)?
            }
            _ => store::log::insert_checkpoint(tx, n as i64, &note, at)?,
        }
        log.signed_once
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(n as i64))
    })
}

/// One witness of the log: where it answers, its key, and the size it last cosigned (as far
/// as this instance knows; a conflict answer corrects it).
struct LogWitness {
    url: String,
    key: tlog::WitnessKey,
    size: std::sync::Mutex<u64>,
}

/// The witnesses whose cosignatures the log collects.
pub struct Witnesses {
    list: Vec<LogWitness>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Witnesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|w| &w.url))
            .finish()
    }
}

impl Witnesses {
    /// The witnesses of `log_witnesses` (`URL VKEY` each); an error names a bad one.
    pub fn configured(entries: &[String]) -> anyhow::Result<Self> {
        let list = entries
            .iter()
            .map(|entry| {
                let (url, vkey) = entry.trim().split_once(' ').ok_or_else(|| {
                    anyhow::anyhow!("log_witnesses: {entry:?} is not \"URL VKEY\"")
                })?;
                let key = tlog::WitnessKey::parse(vkey.trim())
                    .map_err(|e| anyhow::anyhow!("log_witnesses: {e}"))?;
                Ok(LogWitness {
                    url: url.trim_end_matches('/').to_owned(),
                    key,
                    size: std::sync::Mutex::new(0),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()?;
        Ok(Self { list, http })
    }
}

impl Witnesses {
    /// Whether `note` carries every configured witness's cosignature (true without any).
    fn all_cosigned(&self, log: &LogSigner, note: &[u8]) -> bool {
        if self.list.is_empty() {
            return true;
        }
        let keys: Vec<tlog::WitnessKey> = self.list.iter().map(|w| w.key.clone()).collect();
        tlog::open_checkpoint(note, &log.public, &keys, keys.len()).is_ok()
    }
}

/// Asks each witness whose cosignature the newest checkpoint lacks to cosign it (C2SP
/// tlog-witness `add-checkpoint`, with the consistency proof from the size the witness last
/// cosigned), checks each cosignature, and adds them to the stored note.
pub async fn cosign(dir: &Arc<Directory>) -> Result<()> {
    let witnesses = &dir.log_witnesses;
    if witnesses.list.is_empty() {
        return Ok(());
    }
    let Some((size, note)) = dir
        .db(|conn| Ok(store::log::latest_checkpoint(conn)?))
        .await?
    else {
        return Ok(());
    };
    let log = &dir.log.public;
    let mut cosigned = note.clone();
    for witness in &witnesses.list {
        if tlog::open_checkpoint(&cosigned, log, std::slice::from_ref(&witness.key), 1).is_ok() {
            continue;
        }
        for _attempt in 0..2 {
            let old = *witness.size.lock().map_err(unexpected)?;
            let proof = if old > 0 && old < size as u64 {
                dir.db(move |conn| {
                    tlog_tiles::prove_tree(size as u64, old, &Reader::new(conn)).map_err(unexpected)
                })
                .await?
            } else {
                Vec::new()
            };
            let request = ssa_verifier::witness::add_checkpoint_request(old, &proof, &note);
            let answer = witnesses
                .http
                .post(format!("{}/add-checkpoint", witness.url))
                .body(request)
                .send()
                .await;
            let (status, body) = match answer {
                Ok(response) => (
                    response.status().as_u16(),
                    response.bytes().await.unwrap_or_default(),
                ),
                Err(error) => {
                    tracing::warn!(witness = %witness.url, %error, "a witness cannot be reached");
                    break;
                }
            };
            match status {
                200 => {
                    let with = ssa_verifier::witness::with_cosignature(&cosigned, &body);
                    match tlog::open_checkpoint(&with, log, std::slice::from_ref(&witness.key), 1) {
                        Ok(_) => {
                            cosigned = with;
                            *witness.size.lock().map_err(unexpected)? = size as u64;
                        }
                        Err(error) => tracing::warn!(
                            witness = %witness.url, %error,
                            "a witness answered without a valid cosignature"
                        ),
                    }
                    break;
                }
                // The witness has cosigned another size: ask again from it.
                409 => match String::from_utf8_lossy(&body).trim().parse::<u64>() {
                    Ok(theirs) => *witness.size.lock().map_err(unexpected)? = theirs,
                    Err(_) => break,
                },
                other => {
                    tracing::warn!(
                        witness = %witness.url,
                        status = other,
                        answer = %String::from_utf8_lossy(&body),
                        "a witness refused the log's checkpoint"
                    );
                    break;
                }
            }
        }
    }
    if cosigned != note {
        dir.db(move |conn| Ok(store::log::add_cosignatures(conn, size, &note, &cosigned)?))
            .await?;
    }
    Ok(())
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

/// How long [`proof`] waits for a checkpoint to cover a logged artefact.
pub const PROOF_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The tlog-proof of the artefact whose SHA-256 is `sha256` (hex) against the newest
/// checkpoint. An artefact logged but not yet in a checkpoint (issued a moment ago) is
/// waited for, up to [`PROOF_WAIT`], and so is the cosignature of every configured witness
/// (past the wait, the proof comes without the missing ones); an unknown one is not found.
pub async fn proof(dir: &Arc<Directory>, sha256: String) -> Result<Vec<u8>> {
    let sha256 = sha256.to_ascii_lowercase();
    let deadline = std::time::Instant::now() + PROOF_WAIT;
    loop {
        let (wanted, shared) = (sha256.clone(), dir.clone());
        let answer = dir
            .db(move |conn| {
                let (index, _) = store::log::by_artefact(conn, &wanted)?
                    .ok_or(Error::NotFound("logged artefact"))?;
                let (size, note) =
                    store::log::latest_checkpoint(conn)?.ok_or(Error::NotFound("checkpoint"))?;
                if index >= size {
                    return Ok(None);
                }
                let cosigned = shared.log_witnesses.all_cosigned(&shared.log, &note);
                let path = tlog_tiles::prove_record(size as u64, index as u64, &Reader::new(conn))
                    .map_err(unexpected)?;
                let proof = Proof {
                    extra: None,
                    index: index as u64,
                    path,
                    checkpoint: note,
                };
                Ok(Some((proof.to_text(), cosigned)))
            })
            .await?;
        let late = std::time::Instant::now() >= deadline;
        match answer {
            // A witness that does not answer delays the proof, but does not withhold it.
            Some((proof, cosigned)) if cosigned || late => return Ok(proof),
            None if late => {
                return Err(Error::Unavailable(
                    "the artefact is logged but no checkpoint (cosigned by the log's witnesses) \
                     covers it yet; ask again in a second"
                        .into(),
                ));
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// A tile of the log (C2SP tlog-tiles): a tile of hashes at a level, or a bundle of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileName {
    tile: tlog_tiles::Tile,
}

impl TileName {
    /// Reads a tile's path below `/log/tile/`: `{L}/{N}[.p/{W}]` for hashes,
    /// `entries/{N}[.p/{W}]` for entries (N in three-digit groups, `x001/234`); `None` for
    /// anything else.
    pub fn parse(path: &str) -> Option<Self> {
        tlog::parse_tile_path(path).map(|tile| Self { tile })
    }

    /// Whether the tile is complete (256 hashes or entries), so never changes.
    pub fn is_full(&self) -> bool {
        self.tile.width() == 1 << TILE_HEIGHT
    }

    /// Whether it is a bundle of entries.
    pub fn is_entries(&self) -> bool {
        self.tile.is_data()
    }
}

/// A tile's bytes, when the newest checkpoint covers it: 32-byte hashes, or entries each
/// after its length as two big-endian bytes. Built from the database, so every instance
/// serves the same bytes.
pub async fn tile(dir: &Arc<Directory>, name: TileName) -> Result<Vec<u8>> {
    dir.db(move |conn| {
        let size = store::log::latest_checkpoint(conn)?.map_or(0, |(s, _)| s as u64);
        let tile = name.tile;
        let (level, width) = (u32::from(tile.level()), u64::from(tile.width()));
        let start = tile.level_index() << TILE_HEIGHT;
        let covered = size
            .checked_shr(u32::from(TILE_HEIGHT) * level)
            .unwrap_or(0);
        if start.checked_add(width).is_none_or(|end| end > covered) {
            return Err(Error::NotFound("tile"));
        }
        if !tile.is_data() {
            return tile.read_data(&Reader::new(conn)).map_err(unexpected);
        }
        let (first, end) = (start as i64, (start + width) as i64);
        let entries = store::log::entries_between(conn, first, end)?;
        if entries.len() as u64 != width {
            return Err(unexpected("entries missing below the checkpoint"));
        }
        let mut bundle = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
        for entry in entries {
            let length = u16::try_from(entry.len()).map_err(unexpected)?;
            bundle.extend_from_slice(&length.to_be_bytes());
            bundle.extend_from_slice(&entry);
        }
        Ok(bundle)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{TileName, origin};

    #[test]
    fn tile_paths_are_read_as_c2sp_writes_them() {
        let full = TileName::parse("0/x001/234").expect("a full tile");
        assert!(full.is_full() && !full.is_entries());
        let partial = TileName::parse("entries/000.p/5").expect("a partial entries tile");
        assert!(!partial.is_full() && partial.is_entries());
        assert!(TileName::parse("2/005").is_some());
        for bad in [
            "0/000.p/0",
            "0/000.p/256",
            "64/000",
            "255/000",
            "01/000",
            "0/1",
            "0/x000/001",
            "entries",
            "data/000",
            "0/000/",
            "",
        ] {
            assert_eq!(TileName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_log_is_named_after_the_public_url() {
        assert_eq!(
            origin("https://directory.example/"),
            "directory.example/log"
        );
        assert_eq!(origin("http://127.0.0.1:8080"), "127.0.0.1:8080/log");
    }
}
