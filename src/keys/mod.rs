//! Key material kept in `keys/`: files are created with mode 0600 inside a 0700 folder and
//! never leave it. This module holds the file handling and the portal's session key;
//! `signing` holds the directory's signing keys, `jwks` their published document and `jwk`
//! the JSON Web Key rules shared with the participant keystore.

pub mod jwk;
pub mod jwks;
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

/// Writes a new secret file with mode 0600; never overwrites an existing file.
pub fn write_secret(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
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
    ensure_dir(dir)?;
    let path: PathBuf = dir.join(SESSION_KEY_FILE);
    if path.exists() {
        let key = read_secret(&path)?;
        if key.len() != SESSION_KEY_LEN {
            bail!(
                "{} holds {} bytes, expected {SESSION_KEY_LEN}; it is corrupt (delete it to sign everyone out and create a new one)",
                path.display(),
                key.len()
            );
        }
        return Ok(key);
    }
    let mut key = vec![0u8; SESSION_KEY_LEN];
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
    fn a_corrupt_session_key_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        ensure_dir(dir.path()).unwrap();
        write_secret(&dir.path().join(SESSION_KEY_FILE), b"short").unwrap();
        let err = session_key(dir.path()).unwrap_err().to_string();
        assert!(err.contains("session.key"), "{err}");
    }
}
