//! Key material kept in `keys/`: files are created with mode 0600 inside a 0700 folder and
//! never leave it. This module holds the file handling and the portal's session key;
//! `signing` holds the directory's signing keys, `jwks` their published document, `jwk` the
//! JSON Web Key rules shared with the participant keystore, and `credentials` password hashes
//! and token secrets. Nothing here touches the database.

pub mod credentials;
pub mod jwk;
pub mod jwks;
pub mod mfa;
pub mod pkcs11;
pub mod proofs;
pub mod provider;
pub mod signing;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::RngCore;

/// Length of the session key: actix-session needs 64 bytes (signing and encryption halves).
const SESSION_KEY_LEN: usize = 64;
const SESSION_KEY_FILE: &str = "session.key";

/// Creates the keys folder (mode 0700) if it is missing.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the keys folder {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    Ok(())
}

/// Prefix of the temporary files that [`write_secret`] writes before they take their name.
pub const TEMPORARY_PREFIX: &str = ".tmp-";

/// Writes a new secret file with mode 0600; never overwrites an existing file.
///
/// The contents go to a temporary file in the same folder first, which is synced and then
/// linked under its name, so the name never shows a partly written file: a process killed
/// half-way leaves at most a temporary file (which no key loader reads), never an empty or
/// truncated key. Linking, unlike renaming, fails when the name exists.
pub fn write_secret(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{} is not a file name", path.display()))?;
    let mut suffix = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let temporary = dir.join(format!("{TEMPORARY_PREFIX}{}-{name}", hex::encode(suffix)));
    let written = (|| -> anyhow::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .with_context(|| format!("cannot create {}", temporary.display()))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        fs::hard_link(&temporary, path).with_context(|| format!("cannot create {}", path.display()))
    })();
    let _ = fs::remove_file(&temporary);
    written?;
    // The new name is durable once the folder is.
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Removes temporary files that an interrupted [`write_secret`] left in `dir`, once they are
/// old enough that no writer can still be at work on them.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(600));
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(TEMPORARY_PREFIX)
            && stale
        {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => {
                    tracing::warn!(file = %path.display(), "removed an interrupted key write")
                }
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "cannot remove an interrupted key write")
                }
            }
        }
    }
}

/// Moves a key file that cannot be used out of the way (it keeps its contents, under a name
/// no loader reads) and says where it went.
pub fn move_aside(path: &Path, why: &str) -> anyhow::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let aside = PathBuf::from(format!("{}.unusable-{stamp}", path.display()));
    fs::rename(path, &aside).with_context(|| format!("cannot move {} aside", path.display()))?;
    tracing::warn!(
        file = %path.display(),
        moved_to = %aside.display(),
        reason = why,
        "moved an unusable key file aside"
    );
    Ok(aside)
}

/// Reads a secret file, refusing one that others can read.
pub fn read_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {:o}); run chmod 600 on it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Loads the session key, generating and persisting one on first start. Instances that share
/// the keys folder share sessions.
pub fn session_key(dir: &Path) -> anyhow::Result<Vec<u8>> {
    symmetric_key(dir, SESSION_KEY_FILE, SESSION_KEY_LEN, "sign everyone out")
}

/// A symmetric key of `len` bytes in `dir/file` (mode 0600), generated on first use; a file
/// of another length is an error (deleting it does `what_deleting_does`).
pub(crate) fn symmetric_key(
    dir: &Path,
    file: &str,
    len: usize,
    what_deleting_does: &str,
) -> anyhow::Result<Vec<u8>> {
    ensure_dir(dir)?;
    let path: PathBuf = dir.join(file);
    if path.exists() {
        let key = read_secret(&path)?;
        if key.len() != len {
            bail!(
                "{} holds {} bytes, expected {len}; it is corrupt (delete it to {what_deleting_does} and create a new one)",
                path.display(),
                key.len()
            );
        }
        return Ok(key);
    }
    let mut key = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut key);
    match write_secret(&path, &key) {
        Ok(()) => Ok(key),
        // Another instance sharing the folder created it first: use theirs.
        Err(_) if path.exists() => read_secret(&path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_key_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = session_key(&keys).unwrap();
        let second = session_key(&keys).unwrap();
        assert_eq!(first, second);
        let mode = fs::metadata(keys.join(SESSION_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn secrets_take_their_name_whole_and_never_replace_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pem");
        write_secret(&path, b"first").unwrap();
        assert!(write_secret(&path, b"second").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"first");
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.pem"], "no temporary file is left");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_corrupt_session_key_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        ensure_dir(dir.path()).unwrap();
        write_secret(&dir.path().join(SESSION_KEY_FILE), b"short").unwrap();
        let err = session_key(dir.path()).unwrap_err().to_string();
        assert!(err.contains("session.key"), "{err}");
    }
}
