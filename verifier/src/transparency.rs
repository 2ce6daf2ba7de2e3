//! The directory's transparency log as a verifier checks it, without I/O:
//! - what a logged entry is: a kind byte, then the artefact's exact bytes, hashed as an RFC 6962
//!   leaf;
//! - a C2SP `tlog-proof`: the entry's index, its inclusion path and the signed checkpoint;
//! - the proof's check against the log's pinned verifier key.
//!
//! The tree math and the signed notes are Cloudflare's Rust ports of Go's `sumdb/tlog` and
//! `note` (`tlog_tiles`, `signed_note`).

pub use tlog_tiles::Hash;

/// What a log entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A software statement, its compact JWS exactly as issued.
    Statement = 1,
    /// A certificate, its DER.
    Certificate = 2,
    /// A status-changing event, its signed SET.
    Event = 3,
}

impl EntryKind {
    fn name(self) -> &'static str {
        match self {
            EntryKind::Statement => "statement",
            EntryKind::Certificate => "certificate",
            EntryKind::Event => "event",
        }
    }
}

/// The largest entry: an entries tile frames each with a 16-bit length (C2SP tlog-tiles).
pub const MAX_ENTRY_SIZE: usize = 65_535;

/// The first line of a proof (C2SP tlog-proof).
const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Why an entry, a key or a proof is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransparencyError {
    /// The artefact does not fit in one entry.
    #[error("the {kind} is {size} bytes with its kind; a log entry holds at most 65,535")]
    TooLarge {
        /// What the artefact is.
        kind: &'static str,
        /// The entry's size it would have.
        size: usize,
    },
    /// The log's key is not a note verifier key.
    #[error("the log key is not a note verifier key (name+keyid+base64): {0}")]
    Key(String),
    /// The proof's text is not a tlog-proof.
    #[error("the proof is not a c2sp.org/tlog-proof@v1: {0}")]
    Malformed(String),
    /// The checkpoint carries no valid signature of the log's key.
    #[error("the proof's checkpoint is not signed by the log's key: {0}")]
    Signature(String),
    /// The checkpoint is another log's.
    #[error("the proof's checkpoint is of the log {found:?}, not {expected:?}")]
    Origin {
        /// The checkpoint's origin line.
        found: String,
        /// The log key's name.
        expected: String,
    },
    /// The inclusion path does not lead from the entry to the checkpoint's root.
    #[error("the entry is not in the log at the proof's index")]
    NotIncluded,
    /// Fewer of the trusted witnesses cosigned the checkpoint than required.
    #[error("{found} of the trusted witnesses cosigned the checkpoint; {required} are required")]
    Witnesses {
        /// Trusted witnesses whose valid cosignature the checkpoint carries.
        found: usize,
        /// How many are required.
        required: usize,
    },
    /// A newer checkpoint does not extend an older one: the log forked or went back.
    #[error("the log is inconsistent: {0}")]
    Inconsistent(String),
}

/// The log entry of an artefact: its kind's byte, then its exact bytes.
pub fn entry(kind: EntryKind, artefact: &[u8]) -> Result<Vec<u8>, TransparencyError> {
    let size = artefact.len() + 1;
    if size > MAX_ENTRY_SIZE {
        return Err(TransparencyError::TooLarge {
            kind: kind.name(),
            size,
        });
    }
    let mut bytes = Vec::with_capacity(size);
    bytes.push(kind as u8);
    bytes.extend_from_slice(artefact);
    Ok(bytes)
}

/// An entry's leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// A log's verifier key (`name+keyid+base64`, C2SP signed-note): its name is the log's
/// origin.
#[derive(Debug, Clone)]
pub struct LogKey {
    vkey: String,
    name: String,
}

impl LogKey {
    /// Reads a note verifier key, as the directory publishes it.
    pub fn parse(vkey: &str) -> Result<Self, TransparencyError> {
        let vkey = vkey.trim();
        signed_note::StandardVerifier::new(vkey)
            .map_err(|e| TransparencyError::Key(e.to_string()))?;
        let name = vkey.split('+').next().unwrap_or_default().to_owned();
        Ok(Self {
            vkey: vkey.to_owned(),
            name,
        })
    }

    /// The log's name, the origin line of its checkpoints.
    pub fn origin(&self) -> &str {
        &self.name
    }
}

/// A witness's cosignature key (C2SP tlog-cosignature `cosignature/v1`: a note verifier key
/// whose key is `0x04` then the Ed25519 public key).
#[derive(Debug, Clone)]
pub struct WitnessKey {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

/// The signature type byte of a `cosignature/v1` key.
const COSIGNATURE_V1: u8 = 0x04;

impl WitnessKey {
    /// Reads a witness's verifier key (`name+keyid+base64(0x04 || key)`).
    pub fn parse(vkey: &str) -> Result<Self, TransparencyError> {
        use base64::Engine;
        let bad = |why: &str| TransparencyError::Key(format!("{vkey:?}: {why}"));
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not name+keyid+base64"));
        };
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("the key id is not hex"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let raw = bytes
            .get(1..)
            .and_then(|raw| <[u8; 32]>::try_from(raw).ok());
        let (Some(&COSIGNATURE_V1), Some(raw)) = (bytes.first(), raw) else {
            return Err(bad("not a cosignature/v1 Ed25519 key"));
        };
        if signed_note::key_id(name, &bytes) != id || !signed_note::is_key_name_valid(name) {
            return Err(bad("its key id is not its name's and key's"));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map_err(|_| bad("not an Ed25519 public key"))?;
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }
}

impl signed_note::Verifier for WitnessKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    /// A cosignature is the time (big-endian seconds) and an Ed25519 signature of
    /// `cosignature/v1\ntime <t>\n` followed by the checkpoint.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let (Ok(time), Ok(signature)) = (
            <[u8; 8]>::try_from(sig.get(..8).unwrap_or_default()),
            ed25519_dalek::Signature::from_slice(sig.get(8..).unwrap_or_default()),
        ) else {
            return false;
        };
        let mut signed =
            format!("cosignature/v1\ntime {}\n", u64::from_be_bytes(time)).into_bytes();
        signed.extend_from_slice(msg);
        self.key.verify_strict(&signed, &signature).is_ok()
    }
}

/// A checkpoint whose signature by the log's key (and the required witnesses') was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCheckpoint {
    /// The log's name.
    pub origin: String,
    /// The number of entries.
    pub size: u64,
    /// The root hash of the tree of that size.
    pub root: Hash,
}

/// Opens a signed checkpoint note: it must carry the log key's signature and valid
/// cosignatures of at least `quorum` of `witnesses`, and name the log as its origin.
pub fn open_checkpoint(
    note: &[u8],
    key: &LogKey,
    witnesses: &[WitnessKey],
    quorum: usize,
) -> Result<SignedCheckpoint, TransparencyError> {
    use signed_note::Verifier;
    let note = signed_note::Note::from_bytes(note)
        .map_err(|e| TransparencyError::Malformed(format!("its checkpoint: {e}")))?;
    let log = signed_note::StandardVerifier::new(&key.vkey)
        .map_err(|e| TransparencyError::Key(e.to_string()))?;
    let (log_name, log_id) = (log.name().to_owned(), log.key_id());
    let mut known: Vec<Box<dyn signed_note::Verifier>> = vec![Box::new(log)];
    known.extend(
        witnesses
            .iter()
            .map(|w| Box::new(w.clone()) as Box<dyn signed_note::Verifier>),
    );
    let (verified, _) = note
        .verify(&signed_note::VerifierList::new(known))
        .map_err(|e| TransparencyError::Signature(e.to_string()))?;
    if !verified
        .iter()
        .any(|s| s.name() == log_name && s.id() == log_id)
    {
        return Err(TransparencyError::Signature(
            "it carries no signature of the log's key".into(),
        ));
    }
    let found = witnesses
        .iter()
        .filter(|w| {
            verified
                .iter()
                .any(|s| s.name() == w.name && s.id() == w.id)
        })
        .count();
    if found < quorum {
        return Err(TransparencyError::Witnesses {
            found,
            required: quorum,
        });
    }
    let checkpoint = tlog_tiles::Checkpoint::from_bytes(note.text())
        .map_err(|e| TransparencyError::Malformed(format!("its checkpoint: {e}")))?;
    if checkpoint.origin() != key.origin() {
        return Err(TransparencyError::Origin {
            found: checkpoint.origin().to_owned(),
            expected: key.origin().to_owned(),
        });
    }
    Ok(SignedCheckpoint {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: *checkpoint.hash(),
    })
}

/// Checks that `newer` extends `older` (an RFC 6962 consistency proof from the older size to
/// the newer): the log only grew. An equal size must have the equal root.
pub fn check_consistency(
    older: &SignedCheckpoint,
    newer: &SignedCheckpoint,
    proof: &[Hash],
) -> Result<(), TransparencyError> {
    let inconsistent = |why: String| Err(TransparencyError::Inconsistent(why));
    if older.origin != newer.origin {
        return inconsistent("the checkpoints are of two logs".into());
    }
    if newer.size < older.size {
        return inconsistent(format!(
            "it went back from {} to {} entries",
            older.size, newer.size
        ));
    }
    if older.size == 0 {
        return Ok(());
    }
    if older.size == newer.size {
        return match older.root == newer.root {
            true => Ok(()),
            false => inconsistent(format!("two roots for {} entries", older.size)),
        };
    }
    tlog_tiles::check_tree(
        &proof.to_vec(),
        newer.size,
        newer.root,
        older.size,
        older.root,
    )
    .or_else(|_| {
        inconsistent(format!(
            "no consistency from {} to {} entries",
            older.size, newer.size
        ))
    })
}

/// What a verified proof establishes: the entry is at `index` in the tree of `tree_size`
/// entries whose root the log signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Included {
    /// The entry's index, from 0.
    pub index: u64,
    /// The size of the tree the checkpoint signs.
    pub tree_size: u64,
    /// That tree's root hash.
    pub root: Hash,
}

/// A C2SP tlog-proof: where an entry is in the log, with the path to a signed checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    /// Opaque data the log added (unauthenticated).
    pub extra: Option<Vec<u8>>,
    /// The entry's index, from 0.
    pub index: u64,
    /// The inclusion path, from the leaf's sibling up.
    pub path: Vec<Hash>,
    /// The signed checkpoint note, as the log (and its witnesses) signed it.
    pub checkpoint: Vec<u8>,
}

impl Proof {
    /// Reads a proof's text.
    pub fn parse(text: &[u8]) -> Result<Self, TransparencyError> {
        let malformed = |why: &str| TransparencyError::Malformed(why.to_owned());
        let text = std::str::from_utf8(text).map_err(|_| malformed("it is not UTF-8"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| malformed("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(PROOF_HEADER) {
            return Err(malformed("its first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next();
        let extra = match line.and_then(|l| l.strip_prefix("extra ")) {
            Some(encoded) => {
                line = lines.next();
                use base64::Engine;
                Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .map_err(|_| malformed("its extra line is not base64"))?,
                )
            }
            None => None,
        };
        let index = line
            .and_then(|l| l.strip_prefix("index "))
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && (*n == "0" || !n.starts_with('0')))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| malformed("no index line (a decimal without leading zeros)"))?;
        let path = lines
            .map(|l| {
                tlog_tiles::Hash::parse_hash(l)
                    .map_err(|_| malformed("a path line is not a base64 SHA-256 hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            extra,
            index,
            path,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// The proof's text.
    pub fn to_text(&self) -> Vec<u8> {
        use base64::Engine;
        let mut text = format!("{PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            text.push_str(&format!(
                "extra {}\n",
                base64::engine::general_purpose::STANDARD.encode(extra)
            ));
        }
        text.push_str(&format!("index {}\n", self.index));
        for hash in &self.path {
            text.push_str(&format!("{hash}\n"));
        }
        text.push('\n');
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }

    /// Checks that `entry` is in the log `key` names: the checkpoint carries the key's
    /// signature and the log's origin, and the path leads from the entry's leaf at the index
    /// to the checkpoint's root.
    pub fn verify(&self, entry: &[u8], key: &LogKey) -> Result<Included, TransparencyError> {
        self.verify_witnessed(entry, key, &[], 0)
    }

    /// [`Proof::verify`], and the checkpoint must carry valid cosignatures of at least
    /// `quorum` of `witnesses`.
    pub fn verify_witnessed(
        &self,
        entry: &[u8],
        key: &LogKey,
        witnesses: &[WitnessKey],
        quorum: usize,
    ) -> Result<Included, TransparencyError> {
        let checkpoint = open_checkpoint(&self.checkpoint, key, witnesses, quorum)?;
        let (tree_size, root) = (checkpoint.size, checkpoint.root);
        if self.index >= tree_size {
            return Err(TransparencyError::NotIncluded);
        }
        tlog_tiles::check_record(&self.path, tree_size, root, self.index, leaf_hash(entry))
            .map_err(|_| TransparencyError::NotIncluded)?;
        Ok(Included {
            index: self.index,
            tree_size,
            root,
        })
    }
}

/// The height of the log's tiles (C2SP tlog-tiles: 256 hashes or entries a tile).
pub const TILE_HEIGHT: u8 = 8;

/// A tile's path below the log's URL, as C2SP tlog-tiles writes it: `tile/{L}/{N}[.p/{W}]`
/// for hashes, `tile/entries/{N}[.p/{W}]` for entries (`tlog_tiles` writes Go's paths, with
/// the height and `data`).
pub fn tile_path(tile: &tlog_tiles::Tile) -> String {
    let go = tile.path();
    let below = go
        .strip_prefix("tile/8/")
        .unwrap_or(&go)
        .replacen("data/", "entries/", 1);
    format!("tile/{below}")
}

/// Reads a tile's path below `tile/` (`{L}/{N}[.p/{W}]`, `entries/{N}[.p/{W}]`); `None` for
/// anything else, including what `tlog_tiles` would panic on (a level past 63, a width of 0).
pub fn parse_tile_path(path: &str) -> Option<tlog_tiles::Tile> {
    let (level, rest) = path.split_once('/')?;
    let level = match level {
        "entries" => "data".to_owned(),
        digits => {
            let level: u8 = digits.parse().ok()?;
            (level < 64 && level.to_string() == digits).then(|| level.to_string())?
        }
    };
    if rest.rsplit_once(".p/").is_some_and(|(_, w)| w == "0") {
        return None;
    }
    tlog_tiles::Tile::from_path(&format!("tile/{TILE_HEIGHT}/{level}/{rest}")).ok()
}

/// Checks that the artefact of `kind` (a statement's compact JWS, a certificate's DER, an
/// event's SET: its exact bytes) is in the log `key` names, by `proof` (a tlog-proof's
/// text), with at least `quorum` of `witnesses` cosigning the checkpoint.
pub fn check_artefact(
    kind: EntryKind,
    artefact: &[u8],
    proof: &[u8],
    key: &LogKey,
    witnesses: &[WitnessKey],
    quorum: usize,
) -> Result<Included, TransparencyError> {
    let entry = entry(kind, artefact)?;
    Proof::parse(proof)?.verify_witnessed(&entry, key, witnesses, quorum)
}

/// Reads an entry's kind byte and returns the kind and the artefact's bytes; `None` for a
/// kind this version does not know.
pub fn split_entry(entry: &[u8]) -> Option<(EntryKind, &[u8])> {
    let (&kind, artefact) = entry.split_first()?;
    let kind = match kind {
        1 => EntryKind::Statement,
        2 => EntryKind::Certificate,
        3 => EntryKind::Event,
        _ => return None,
    };
    Some((kind, artefact))
}

/// Splits an entries tile (C2SP tlog-tiles: each entry after its length, two big-endian
/// bytes) into its entries; an error when the bundle is cut short.
pub fn split_bundle(bundle: &[u8]) -> Result<Vec<&[u8]>, TransparencyError> {
    let mut entries = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let (length, tail) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| TransparencyError::Malformed("an entries tile is cut short".into()))?;
        let length = usize::from(u16::from_be_bytes(*length));
        if tail.len() < length {
            return Err(TransparencyError::Malformed(
                "an entries tile is cut short".into(),
            ));
        }
        let (entry, tail) = tail.split_at(length);
        entries.push(entry);
        rest = tail;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use tlog_tiles::{Error, HashReader, prove_record, stored_hashes, tree_hash};

    use super::*;

    /// A tree kept in memory: its stored hashes in order.
    #[derive(Default)]
    struct Tree(Vec<Hash>);

    impl HashReader for Tree {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
            indexes
                .iter()
                .map(|&i| {
                    self.0
                        .get(i as usize)
                        .copied()
                        .ok_or(Error::IndexesNotInTree)
                })
                .collect()
        }
    }

    impl Tree {
        fn of(entries: &[Vec<u8>]) -> Self {
            let mut tree = Tree::default();
            for (n, entry) in entries.iter().enumerate() {
                let hashes = stored_hashes(n as u64, entry, &tree).unwrap();
                tree.0.extend(hashes);
            }
            tree
        }
    }

    fn hex(hash: Hash) -> String {
        hash.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn roots_are_the_rfc_6962_test_vectors() {
        // The eight leaves of the Certificate Transparency reference tests and the root of
        // each prefix of them.
        let leaves: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            (0x50..=0x57).collect(),
            (0x60..=0x6f).collect(),
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let tree = Tree::of(&leaves);
        for (n, root) in roots.iter().enumerate() {
            assert_eq!(
                hex(tree_hash(n as u64 + 1, &tree).unwrap()),
                *root,
                "size {}",
                n + 1
            );
        }
    }

    #[test]
    fn a_note_is_signed_as_go_signs_it() {
        // Go's golang.org/x/mod/sumdb/note test vector.
        let signer = signed_note::StandardSigner::new(
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        )
        .unwrap();
        let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        let mut note = signed_note::Note::new(text.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&signer]).unwrap();
        let want = format!(
            "{text}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        assert_eq!(String::from_utf8(note.to_bytes()).unwrap(), want);
    }

    /// A log of `count` statements named by `signer`: the entries, the tree and the signed
    /// checkpoint.
    fn log(signer: &signed_note::StandardSigner, count: usize) -> (Vec<Vec<u8>>, Tree, Vec<u8>) {
        use signed_note::Signer;
        let entries: Vec<Vec<u8>> = (0..count)
            .map(|i| {
                entry(
                    EntryKind::Statement,
                    format!("eyJ.statement.{i}").as_bytes(),
                )
                .unwrap()
            })
            .collect();
        let tree = Tree::of(&entries);
        let root = tree_hash(count as u64, &tree).unwrap();
        let checkpoint =
            tlog_tiles::Checkpoint::new(signer.name(), count as u64, root, "").unwrap();
        let mut note = signed_note::Note::new(&checkpoint.to_bytes(), &[]).unwrap();
        note.add_sigs(&[signer]).unwrap();
        (entries, tree, note.to_bytes())
    }

    #[test]
    fn every_entry_has_a_proof_that_verifies_and_a_changed_one_fails() {
        let (skey, vkey) =
            signed_note::generate_key(&mut rand::rngs::OsRng, "directory.example/log");
        let signer = signed_note::StandardSigner::new(&skey).unwrap();
        let key = LogKey::parse(&vkey).unwrap();
        assert_eq!(key.origin(), "directory.example/log");
        let (entries, tree, checkpoint) = log(&signer, 13);
        for (index, entry) in entries.iter().enumerate() {
            let proof = Proof {
                extra: None,
                index: index as u64,
                path: prove_record(13, index as u64, &tree).unwrap(),
                checkpoint: checkpoint.clone(),
            };
            let text = proof.to_text();
            assert_eq!(Proof::parse(&text).unwrap(), proof, "the text round-trips");
            let included = proof.verify(entry, &key).unwrap();
            assert_eq!((included.index, included.tree_size), (index as u64, 13));
            // Another entry at this index, or this entry at another index: not included.
            let other = &entries[(index + 1) % entries.len()];
            assert_eq!(
                proof.verify(other, &key),
                Err(TransparencyError::NotIncluded)
            );
            let moved = Proof {
                index: (index as u64 + 1) % 13,
                ..proof.clone()
            };
            assert_eq!(
                moved.verify(entry, &key),
                Err(TransparencyError::NotIncluded)
            );
        }

        // A path hash changed, a checkpoint of another key or another log, a bad text.
        let mut proof = Proof {
            extra: Some(b"opaque".to_vec()),
            index: 5,
            path: prove_record(13, 5, &tree).unwrap(),
            checkpoint: checkpoint.clone(),
        };
        assert!(proof.verify(&entries[5], &key).is_ok());
        assert_eq!(Proof::parse(&proof.to_text()).unwrap(), proof);
        proof.path[1].0[0] ^= 1;
        assert_eq!(
            proof.verify(&entries[5], &key),
            Err(TransparencyError::NotIncluded)
        );
        let (stranger, _) =
            signed_note::generate_key(&mut rand::rngs::OsRng, "directory.example/log");
        let (_, _, forged) = log(&signed_note::StandardSigner::new(&stranger).unwrap(), 13);
        let forged = Proof {
            path: prove_record(13, 5, &tree).unwrap(),
            checkpoint: forged,
            ..proof.clone()
        };
        assert!(matches!(
            forged.verify(&entries[5], &key),
            Err(TransparencyError::Signature(_))
        ));
        let (other_log, other_vkey) =
            signed_note::generate_key(&mut rand::rngs::OsRng, "elsewhere.example/log");
        let (_, _, elsewhere) = log(&signed_note::StandardSigner::new(&other_log).unwrap(), 13);
        let elsewhere = Proof {
            path: prove_record(13, 5, &tree).unwrap(),
            checkpoint: elsewhere,
            ..proof.clone()
        };
        assert!(
            elsewhere
                .verify(&entries[5], &LogKey::parse(&other_vkey).unwrap())
                .is_ok()
        );
        assert!(matches!(
            elsewhere.verify(&entries[5], &key),
            Err(TransparencyError::Signature(_))
        ));
        for bad in [
            &b"c2sp.org/tlog-proof@v2\nindex 0\n\nx"[..],
            b"c2sp.org/tlog-proof@v1\nindex 01\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex 0\nnot-a-hash\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex 0\n",
        ] {
            assert!(matches!(
                Proof::parse(bad),
                Err(TransparencyError::Malformed(_))
            ));
        }
        assert!(LogKey::parse("not a key").is_err());
    }

    /// A witness: its cosignature/v1 signer and verifier key.
    struct Witness(String, u32, ed25519_dalek::SigningKey);

    impl Witness {
        fn new(name: &str) -> (Self, WitnessKey) {
            use base64::Engine;
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let mut public = vec![COSIGNATURE_V1];
            public.extend_from_slice(key.verifying_key().as_bytes());
            let id = signed_note::key_id(name, &public);
            let vkey = format!(
                "{name}+{id:08x}+{}",
                base64::engine::general_purpose::STANDARD.encode(&public)
            );
            (
                Self(name.to_owned(), id, key),
                WitnessKey::parse(&vkey).unwrap(),
            )
        }
    }

    impl signed_note::Signer for Witness {
        fn name(&self) -> &str {
            &self.0
        }
        fn key_id(&self) -> u32 {
            self.1
        }
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
            use ed25519_dalek::Signer;
            let time: u64 = 1_767_225_600;
            let mut signed = format!("cosignature/v1\ntime {time}\n").into_bytes();
            signed.extend_from_slice(msg);
            let mut sig = time.to_be_bytes().to_vec();
            sig.extend_from_slice(&self.2.sign(&signed).to_bytes());
            Ok(sig)
        }
    }

    #[test]
    fn witnesses_cosign_and_a_quorum_is_required() {
        let (skey, vkey) =
            signed_note::generate_key(&mut rand::rngs::OsRng, "directory.example/log");
        let signer = signed_note::StandardSigner::new(&skey).unwrap();
        let key = LogKey::parse(&vkey).unwrap();
        let (entries, tree, checkpoint) = log(&signer, 9);
        let (first, first_key) = Witness::new("witness.one.example");
        let (second, second_key) = Witness::new("witness.two.example");
        let (_, stranger_key) = Witness::new("witness.three.example");
        let mut note = signed_note::Note::from_bytes(&checkpoint).unwrap();
        note.add_sigs(&[&first]).unwrap();
        let proof = Proof {
            extra: None,
            index: 4,
            path: prove_record(9, 4, &tree).unwrap(),
            checkpoint: note.to_bytes(),
        };
        let trusted = [first_key.clone(), second_key.clone(), stranger_key];
        assert!(
            proof
                .verify_witnessed(&entries[4], &key, &trusted, 1)
                .is_ok()
        );
        assert_eq!(
            proof.verify_witnessed(&entries[4], &key, &trusted, 2),
            Err(TransparencyError::Witnesses {
                found: 1,
                required: 2
            })
        );
        note.add_sigs(&[&second]).unwrap();
        let both = Proof {
            checkpoint: note.to_bytes(),
            ..proof.clone()
        };
        assert!(
            both.verify_witnessed(&entries[4], &key, &trusted, 2)
                .is_ok()
        );
        // The plain check ignores cosignatures; a note signed by witnesses alone is refused.
        assert!(both.verify(&entries[4], &key).is_ok());
        let text = tlog_tiles::Checkpoint::new(
            "directory.example/log",
            9,
            tree_hash(9, &tree).unwrap(),
            "",
        )
        .unwrap()
        .to_bytes();
        let mut witnessed_only = signed_note::Note::new(&text, &[]).unwrap();
        witnessed_only.add_sigs(&[&first]).unwrap();
        assert!(matches!(
            open_checkpoint(&witnessed_only.to_bytes(), &key, &[first_key], 1),
            Err(TransparencyError::Signature(_))
        ));
        assert!(
            WitnessKey::parse(&vkey).is_err(),
            "a log key is no cosignature key"
        );
        for bad in ["w+00000000+", "w+zz+BA==", "w", "w+00000000+!!"] {
            assert!(WitnessKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_newer_checkpoint_must_extend_the_older() {
        let (skey, vkey) =
            signed_note::generate_key(&mut rand::rngs::OsRng, "directory.example/log");
        let signer = signed_note::StandardSigner::new(&skey).unwrap();
        let key = LogKey::parse(&vkey).unwrap();
        let (_, _, small) = log(&signer, 5);
        let (_, bigger_tree, big) = log(&signer, 12);
        let small = open_checkpoint(&small, &key, &[], 0).unwrap();
        let big = open_checkpoint(&big, &key, &[], 0).unwrap();
        let proof = tlog_tiles::prove_tree(12, 5, &bigger_tree).unwrap();
        assert_eq!(check_consistency(&small, &big, &proof), Ok(()));
        assert_eq!(check_consistency(&big, &big, &[]), Ok(()));
        assert!(matches!(
            check_consistency(&big, &small, &proof),
            Err(TransparencyError::Inconsistent(_))
        ));
        // A fork: the same size with another root, or a tree that rewrote an old entry.
        let forked = SignedCheckpoint {
            root: tree_hash(5, &Tree::of(&vec![b"other".to_vec(); 5])).unwrap(),
            ..small.clone()
        };
        assert!(matches!(
            check_consistency(&forked, &small, &[]),
            Err(TransparencyError::Inconsistent(_))
        ));
        assert!(matches!(
            check_consistency(&forked, &big, &proof),
            Err(TransparencyError::Inconsistent(_))
        ));
    }

    #[test]
    fn an_entry_is_its_kind_and_the_exact_bytes_up_to_the_tile_limit() {
        assert_eq!(
            entry(EntryKind::Certificate, b"\x30\x82").unwrap(),
            b"\x02\x30\x82"
        );
        assert!(entry(EntryKind::Event, &vec![0; MAX_ENTRY_SIZE - 1]).is_ok());
        assert_eq!(
            entry(EntryKind::Statement, &vec![0; MAX_ENTRY_SIZE]),
            Err(TransparencyError::TooLarge {
                kind: "statement",
                size: MAX_ENTRY_SIZE + 1
            })
        );
    }
}
