//! Following the directory's transparency log as a monitor does (Certificate Transparency's
//! monitor, for statements and certificates): from a checkpoint kept by the caller to the
//! newest one, checking that the newer extends the older, and reading every entry logged in
//! between from the log's tiles, each checked against the signed tree.
//!
//! The tiles are fetched over HTTP (C2SP tlog-tiles below the log's URL) and authenticated
//! by `tlog_tiles`' `TileHashReader` against the newer checkpoint's root.

use serde_json::Value;
use tlog_tiles::{HashReader, Tile, TileHashReader, TileReader};

use crate::certificate::subject_dn;
use crate::error::ConfigError;
use crate::fetch::http::HttpClient;
use crate::transparency::{
    EntryKind, LogKey, SignedCheckpoint, TransparencyError, check_consistency, leaf_hash,
    open_checkpoint, split_bundle, split_entry,
};

use crate::transparency::{TILE_HEIGHT as HEIGHT, tile_path};

/// Why following the log failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The log cannot be read (a fetch, a malformed tile or checkpoint).
    #[error("{0}")]
    Unreadable(String),
    /// The log is not append-only, or serves entries its signed tree does not hold: a
    /// monitor must raise the alarm.
    #[error("the log is inconsistent: {0}")]
    Inconsistent(String),
}

impl From<ConfigError> for MonitorError {
    fn from(e: ConfigError) -> Self {
        MonitorError::Unreadable(e.to_string())
    }
}

/// One entry as the monitor reads it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoggedEntry {
    /// Its index in the log.
    pub index: u64,
    /// `statement`, `certificate` or `event`.
    pub kind: &'static str,
    /// The organisation it is for, when it names one.
    pub org_id: Option<String>,
    /// The software product it is for, when it names one.
    pub software_id: Option<String>,
    /// A statement's `jti`, a certificate's serial (hexadecimal), an event's `jti`.
    pub id: Option<String>,
    /// An event's type (its URI's last segment: `software-status`, …).
    pub event_type: Option<String>,
    /// The artefact's exact bytes: a compact JWS (statement, event) or DER (certificate).
    #[serde(skip)]
    pub artefact: Vec<u8>,
}

/// A transparency log read over HTTP.
pub struct LogMonitor {
    http: HttpClient,
    /// The log's URL prefix: `{prefix}/checkpoint`, `{prefix}/tile/…`.
    prefix: String,
    key: LogKey,
}

impl std::fmt::Debug for LogMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMonitor")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl LogMonitor {
    /// The log at `prefix` (the URL its `/checkpoint` and `/tile/` are below), signed by
    /// `key`.
    pub fn new(http: HttpClient, prefix: impl Into<String>, key: LogKey) -> Self {
        Self {
            http,
            prefix: prefix.into().trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// The log's newest checkpoint, its signature checked: the checkpoint and its note.
    pub fn latest(&self) -> Result<(SignedCheckpoint, Vec<u8>), MonitorError> {
        let note = self.http.get(&format!("{}/checkpoint", self.prefix))?;
        let checkpoint = open_checkpoint(&note, &self.key, &[], 0)
            .map_err(|e| MonitorError::Unreadable(e.to_string()))?;
        Ok((checkpoint, note))
    }

    /// Opens a checkpoint note kept earlier (signature checked again).
    pub fn open(&self, note: &[u8]) -> Result<SignedCheckpoint, MonitorError> {
        open_checkpoint(note, &self.key, &[], 0)
            .map_err(|e| MonitorError::Unreadable(format!("the kept checkpoint: {e}")))
    }

    /// Checks that `newer` extends `older`, then reads the entries logged between them, each
    /// checked against `newer`'s tree.
    pub fn entries_between(
        &self,
        older: &SignedCheckpoint,
        newer: &SignedCheckpoint,
    ) -> Result<Vec<LoggedEntry>, MonitorError> {
        let tiles = HttpTiles {
            http: &self.http,
            prefix: &self.prefix,
        };
        let reader = TileHashReader::new(newer.size, newer.root, &tiles);
        let inconsistent = |e: TransparencyError| MonitorError::Inconsistent(e.to_string());
        let proof = if older.size == 0 || older.size >= newer.size {
            Vec::new()
        } else {
            tlog_tiles::prove_tree(newer.size, older.size, &reader).map_err(|e| {
                MonitorError::Unreadable(format!("the consistency proof's tiles: {e}"))
            })?
        };
        check_consistency(older, newer, &proof).map_err(inconsistent)?;
        let mut found = Vec::new();
        let mut index = older.size;
        while index < newer.size {
            let bundle_index = index >> HEIGHT;
            let start = bundle_index << HEIGHT;
            let width = (newer.size - start).min(1 << HEIGHT);
            let tile = Tile::new(HEIGHT, 0, bundle_index, width as u32, true);
            let url = format!("{}/{}", self.prefix, tile_path(&tile));
            let bundle = self.http.get(&url)?;
            let entries =
                split_bundle(&bundle).map_err(|e| MonitorError::Unreadable(e.to_string()))?;
            if entries.len() as u64 != width {
                return Err(MonitorError::Inconsistent(format!(
                    "the entries tile {url} holds {} entries, not {width}",
                    entries.len()
                )));
            }
            let wanted: Vec<u64> = (index..start + width)
                .map(|i| tlog_tiles::stored_hash_index(0, i))
                .collect();
            let leaves = reader.read_hashes(&wanted).map_err(|e| {
                MonitorError::Unreadable(format!("the tiles of entries {index}…: {e}"))
            })?;
            for (offset, leaf) in leaves.into_iter().enumerate() {
                let at = index + offset as u64;
                let entry = entries[(at - start) as usize];
                if leaf_hash(entry) != leaf {
                    return Err(MonitorError::Inconsistent(format!(
                        "entry {at} is not the one the signed tree holds"
                    )));
                }
                found.push(read_entry(at, entry));
            }
            index = start + width;
        }
        Ok(found)
    }
}

/// What an entry says of itself: whose it is and what it is.
fn read_entry(index: u64, entry: &[u8]) -> LoggedEntry {
    let mut read = LoggedEntry {
        index,
        kind: "unknown",
        org_id: None,
        software_id: None,
        id: None,
        event_type: None,
        artefact: Vec::new(),
    };
    let Some((kind, artefact)) = split_entry(entry) else {
        return read;
    };
    read.artefact = artefact.to_vec();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match kind {
        EntryKind::Statement => {
            read.kind = "statement";
            if let Some(claims) = jws_payload(artefact) {
                read.org_id = text(claims.get("org_id"));
                read.software_id = text(claims.get("software_id"));
                read.id = text(claims.get("jti"));
            }
        }
        EntryKind::Certificate => {
            read.kind = "certificate";
            if let Ok(dn) = subject_dn(artefact) {
                let attributes = rdn_attributes(&dn);
                let get = |name: &str| {
                    attributes
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                read.org_id = get("OU");
                read.software_id = get("CN");
            }
            use der::Decode;
            if let Ok(certificate) = x509_cert::Certificate::from_der(artefact) {
                read.id = Some(crate::certificate::serial_text(
                    certificate.tbs_certificate.serial_number.as_bytes(),
                ));
            }
        }
        EntryKind::Event => {
            read.kind = "event";
            if let Some(claims) = jws_payload(artefact) {
                read.id = text(claims.get("jti"));
                if let Some((uri, event)) = claims
                    .get("events")
                    .and_then(Value::as_object)
                    .and_then(|e| e.iter().next())
                {
                    read.event_type = uri.rsplit([':', '/']).next().map(str::to_owned);
                    let subject = event.get("subject");
                    let field = |name: &str| text(subject.and_then(|s| s.get(name)));
                    let kind = field("type");
                    read.org_id = field("organisation_id").or_else(|| {
                        (kind.as_deref() == Some("organisation"))
                            .then(|| field("id"))
                            .flatten()
                    });
                    read.software_id = field("software_id").or_else(|| {
                        (kind.as_deref() == Some("software"))
                            .then(|| field("id"))
                            .flatten()
                    });
                }
            }
        }
    }
    read
}

/// The JSON payload of a compact JWS, unverified (the log vouches for the bytes).
fn jws_payload(jws: &[u8]) -> Option<serde_json::Map<String, Value>> {
    use base64::Engine;
    let text = std::str::from_utf8(jws).ok()?;
    let payload = text.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// An RFC 4514 name's attributes, in order, values unescaped.
fn rdn_attributes(dn: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ',' | '+' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            let mut unescaped = String::new();
            let mut chars = value.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => unescaped.extend(chars.next()),
                    _ => unescaped.push(c),
                }
            }
            Some((name.trim().to_owned(), unescaped))
        })
        .collect()
}

/// The log's hash tiles over HTTP, for `TileHashReader` (which authenticates them).
struct HttpTiles<'a> {
    http: &'a HttpClient,
    prefix: &'a str,
}

impl TileReader for HttpTiles<'_> {
    fn height(&self) -> u8 {
        HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|tile| {
                let url = format!("{}/{}", self.prefix, tile_path(tile));
                self.http
                    .get(&url)
                    .map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

#[cfg(test)]
mod tests {
    use super::rdn_attributes;

    #[test]
    fn a_distinguished_name_is_read_with_its_escapes() {
        let attributes = rdn_attributes(r"CN=abc,OU=org-1,O=Acme\, Ltd,C=GB");
        assert_eq!(
            attributes,
            [
                ("CN".to_owned(), "abc".to_owned()),
                ("OU".to_owned(), "org-1".to_owned()),
                ("O".to_owned(), "Acme, Ltd".to_owned()),
                ("C".to_owned(), "GB".to_owned()),
            ]
        );
    }
}
