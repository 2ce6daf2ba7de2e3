//! A witness of the directory's transparency log, without I/O (C2SP `tlog-witness` and
//! `tlog-cosignature`): it cosigns a checkpoint only after checking that the log signed it and
//! that it extends the last checkpoint the witness cosigned. A log that shows a witness two
//! different trees cannot get both cosigned, so a bank that requires cosignatures is shown the
//! same log as everyone else.
//!
//! `ssa-verify log witness` serves it over HTTP (`POST /add-checkpoint`); the directory
//! collects cosignatures from the witnesses it is configured with.

use base64::Engine;

use crate::transparency::{
    LogKey, SignedCheckpoint, TransparencyError, check_consistency, open_checkpoint,
};

/// The signature type byte of a `cosignature/v1` key.
const COSIGNATURE_V1: u8 = 0x04;

/// Why a checkpoint is not cosigned, with the HTTP status C2SP tlog-witness gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the request is not an add-checkpoint request, or `old` is past the checkpoint.
    #[error("{0}")]
    Malformed(String),
    /// 403: the checkpoint carries no valid signature of the log's key.
    #[error("{0}")]
    Unsigned(String),
    /// 404: the checkpoint is of a log this witness does not know.
    #[error("{0}")]
    UnknownLog(String),
    /// 409: `old` is not the size of the checkpoint the witness last cosigned, which is this
    /// (the body of the answer, as `text/x.tlog.size`).
    #[error("the witness's checkpoint has {0} entries")]
    Conflict(u64),
    /// 422: the consistency proof does not show that the checkpoint extends the last one.
    #[error("{0}")]
    Inconsistent(String),
}

impl Refusal {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            Refusal::Unsigned(_) => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::Inconsistent(_) => 422,
        }
    }
}

/// A witness of one log.
pub struct Witness {
    name: String,
    key: ed25519_dalek::SigningKey,
    log: LogKey,
    /// The last checkpoint cosigned, and its note.
    latest: Option<(SignedCheckpoint, Vec<u8>)>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// The witness `name` with the Ed25519 key of `seed`, for the log `log`, having cosigned
    /// `latest` last (a checkpoint note it kept), if any.
    pub fn new(
        name: &str,
        seed: [u8; 32],
        log: LogKey,
        latest: Option<&[u8]>,
    ) -> Result<Self, TransparencyError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(TransparencyError::Key(format!(
                "{name:?} is not a key name"
            )));
        }
        let latest = latest
            .map(|note| open_checkpoint(note, &log, &[], 0).map(|c| (c, note.to_vec())))
            .transpose()?;
        Ok(Self {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
            log,
            latest,
        })
    }

    /// The witness's verifier key (`name+keyid+base64(0x04 || key)`), for those who require
    /// its cosignature.
    pub fn verifier_key(&self) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(self.public());
        format!("{}+{:08x}+{encoded}", self.name, self.key_id())
    }

    /// The size of the last checkpoint cosigned (0 before the first).
    pub fn size(&self) -> u64 {
        self.latest.as_ref().map_or(0, |(c, _)| c.size)
    }

    /// The note of the last checkpoint cosigned, to keep for the next start.
    pub fn latest_note(&self) -> Option<&[u8]> {
        self.latest.as_ref().map(|(_, note)| note.as_slice())
    }

    fn public(&self) -> Vec<u8> {
        let mut public = vec![COSIGNATURE_V1];
        public.extend_from_slice(self.key.verifying_key().as_bytes());
        public
    }

    fn key_id(&self) -> u32 {
        signed_note::key_id(&self.name, &self.public())
    }

    /// Answers an add-checkpoint request (`old N`, the consistency proof's hashes a line each,
    /// an empty line, the checkpoint note) at `now` (Unix seconds): the cosignature's
    /// signature line, which the caller appends to the note. The checkpoint is then the
    /// witness's latest.
    pub fn add_checkpoint(&mut self, request: &[u8], now: u64) -> Result<Vec<u8>, Refusal> {
        let malformed = |why: &str| Refusal::Malformed(why.to_owned());
        let text =
            std::str::from_utf8(request).map_err(|_| malformed("the request is not UTF-8"))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| malformed("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| malformed("the first line is not old N"))?;
        let proof = lines
            .map(|l| {
                tlog_tiles::Hash::parse_hash(l)
                    .map_err(|_| malformed("a proof line is not a base64 SHA-256 hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoint =
            open_checkpoint(note.as_bytes(), &self.log, &[], 0).map_err(|e| match e {
                TransparencyError::Origin { .. } => Refusal::UnknownLog(e.to_string()),
                TransparencyError::Malformed(why) => Refusal::Malformed(why),
                other => Refusal::Unsigned(other.to_string()),
            })?;
        if old > checkpoint.size {
            return Err(malformed("old is past the checkpoint's size"));
        }
        if old != self.size() {
            return Err(Refusal::Conflict(self.size()));
        }
        if let Some((latest, _)) = &self.latest {
            check_consistency(latest, &checkpoint, &proof)
                .map_err(|e| Refusal::Inconsistent(e.to_string()))?;
        }
        let line = self.cosign(note, now);
        self.latest = Some((checkpoint, note.as_bytes().to_vec()));
        Ok(line)
    }

    /// The signature line of a `cosignature/v1` over the checkpoint of `note` at `time`.
    fn cosign(&self, note: &str, time: u64) -> Vec<u8> {
        use ed25519_dalek::Signer;
        let body = note.split_once("\n\n").map_or(note, |(body, _)| body);
        let body = format!("{body}\n");
        let mut signed = format!("cosignature/v1\ntime {time}\n").into_bytes();
        signed.extend_from_slice(body.as_bytes());
        let signature = self.key.sign(&signed);
        let mut bytes = self.key_id().to_be_bytes().to_vec();
        bytes.extend_from_slice(&time.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        format!(
            "\u{2014} {} {}\n",
            self.name,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
        .into_bytes()
    }
}

/// Adds a witness's signature lines (an add-checkpoint answer) to a checkpoint note.
pub fn with_cosignature(note: &[u8], lines: &[u8]) -> Vec<u8> {
    let mut cosigned = note.to_vec();
    if !cosigned.ends_with(b"\n") {
        cosigned.push(b'\n');
    }
    cosigned.extend_from_slice(lines);
    cosigned
}

/// An add-checkpoint request (C2SP tlog-witness): `old`, the consistency proof from it, and
/// the checkpoint note.
pub fn add_checkpoint_request(old: u64, proof: &[tlog_tiles::Hash], note: &[u8]) -> Vec<u8> {
    let mut request = format!("old {old}\n").into_bytes();
    for hash in proof {
        request.extend_from_slice(format!("{hash}\n").as_bytes());
    }
    request.push(b'\n');
    request.extend_from_slice(note);
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::WitnessKey;

    /// A tree's stored hashes, in memory.
    struct Stored<'a>(&'a [tlog_tiles::Hash]);

    impl tlog_tiles::HashReader for Stored<'_> {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
            Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
        }
    }

    /// The log's tree grown from `from` to `to` leaves (`tag n` each) into `hashes`, and the
    /// checkpoint note `signer` signs for it.
    fn checkpoint(
        signer: &signed_note::StandardSigner,
        hashes: &mut Vec<tlog_tiles::Hash>,
        tag: &str,
        from: u64,
        to: u64,
    ) -> Vec<u8> {
        for n in from..to {
            let new =
                tlog_tiles::stored_hashes(n, format!("{tag} {n}").as_bytes(), &Stored(hashes))
                    .unwrap();
            hashes.extend(new);
        }
        let root = tlog_tiles::tree_hash(to, &Stored(hashes)).unwrap();
        let checkpoint = tlog_tiles::Checkpoint::new("log.example/log", to, root, "").unwrap();
        let mut note = signed_note::Note::new(&checkpoint.to_bytes(), &[]).unwrap();
        note.add_sigs(&[signer]).unwrap();
        note.to_bytes()
    }

    fn consistency(hashes: &[tlog_tiles::Hash], new: u64, old: u64) -> Vec<tlog_tiles::Hash> {
        tlog_tiles::prove_tree(new, old, &Stored(hashes)).unwrap()
    }

    #[test]
    fn a_witness_cosigns_only_what_extends_what_it_cosigned() {
        let (skey, vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, "log.example/log");
        let signer = signed_note::StandardSigner::new(&skey).unwrap();
        let log = LogKey::parse(&vkey).unwrap();
        let mut witness = Witness::new("witness.example", [3; 32], log.clone(), None).unwrap();
        let trusted = WitnessKey::parse(&witness.verifier_key()).unwrap();

        let mut hashes = Vec::new();
        let five = checkpoint(&signer, &mut hashes, "entry", 0, 5);
        let line = witness
            .add_checkpoint(&add_checkpoint_request(0, &[], &five), 1_700_000_000)
            .unwrap();
        let cosigned = with_cosignature(&five, &line);
        assert!(open_checkpoint(&cosigned, &log, std::slice::from_ref(&trusted), 1).is_ok());
        assert!(open_checkpoint(&five, &log, std::slice::from_ref(&trusted), 1).is_err());

        // The next one, with its consistency proof; a stale `old` is a conflict.
        let nine = checkpoint(&signer, &mut hashes, "entry", 5, 9);
        assert_eq!(
            witness.add_checkpoint(&add_checkpoint_request(0, &[], &nine), 1),
            Err(Refusal::Conflict(5))
        );
        let proof = consistency(&hashes, 9, 5);
        let line = witness
            .add_checkpoint(&add_checkpoint_request(5, &proof, &nine), 1_700_000_060)
            .unwrap();
        assert!(open_checkpoint(&with_cosignature(&nine, &line), &log, &[trusted], 1).is_ok());
        assert_eq!(witness.size(), 9);

        // A fork: another tree of twelve, whose proof from nine cannot hold.
        let mut other = Vec::new();
        let forked = checkpoint(&signer, &mut other, "forked", 0, 12);
        let proof = consistency(&other, 12, 9);
        assert!(matches!(
            witness.add_checkpoint(&add_checkpoint_request(9, &proof, &forked), 2),
            Err(Refusal::Inconsistent(_))
        ));
        // Another log's checkpoint, and one not signed by the log.
        let (stranger, _) = signed_note::generate_key(&mut rand::rngs::OsRng, "other.example/log");
        let stranger = signed_note::StandardSigner::new(&stranger).unwrap();
        let foreign = checkpoint(&stranger, &mut Vec::new(), "entry", 0, 12);
        assert_eq!(
            witness
                .add_checkpoint(&add_checkpoint_request(9, &[], &foreign), 2)
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(witness.size(), 9, "nothing refused moved the witness");
        assert!(witness.add_checkpoint(b"old x\n\n", 2).is_err());
    }
}
