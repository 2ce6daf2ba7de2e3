//! Stateless registration (RFC 7591 A.5): the registration is sealed into the client id with
//! AES-256-GCM under a key in the registrar's key folder, and the registration access token is
//! an HMAC of the client id under a second key, so reading a registration needs no stored
//! state. What that cannot do: update or delete a client (there is no record to change; a
//! client registers again), revoke one before its statement expires (the directory's events
//! disable its software or organisation instead), refuse a replayed statement, or share a
//! client id per software.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The prefix of sealed client ids (and their format's version).
const PREFIX: &str = "s1.";
/// The key file: 32 bytes for AES-256-GCM, then 32 for HMAC-SHA256.
const KEY_FILE: &str = "client-ids.key";

/// Seals registrations into client ids and checks their access tokens.
pub struct Sealer {
    aead: LessSafeKey,
    mac: hmac::Key,
}

impl Sealer {
    /// The keys in `dir`, created (0600, in a 0700 folder) on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(KEY_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
                let mut fresh = [0u8; 64];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut fresh);
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                file.write_all(&fresh)?;
                file.sync_all()?;
                fresh.to_vec()
            }
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        if bytes.len() != 64 {
            anyhow::bail!("{} is not a client id key file (64 bytes)", path.display());
        }
        let aead = UnboundKey::new(&AES_256_GCM, &bytes[..32])
            .map_err(|_| anyhow::anyhow!("the client id key cannot be used"))?;
        Ok(Self {
            aead: LessSafeKey::new(aead),
            mac: hmac::Key::new(hmac::HMAC_SHA256, &bytes[32..]),
        })
    }

    /// A client id that carries `registration`, encrypted and authenticated.
    pub fn seal(&self, registration: &Value) -> anyhow::Result<String> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut data = registration.to_string().into_bytes();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(PREFIX.as_bytes()),
                &mut data,
            )
            .map_err(|_| anyhow::anyhow!("cannot seal the registration"))?;
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// The registration a client id carries, if it is one this registrar sealed.
    pub fn open(&self, client_id: &str) -> Option<Value> {
        let sealed = URL_SAFE_NO_PAD
            .decode(client_id.strip_prefix(PREFIX)?)
            .ok()?;
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(PREFIX.as_bytes()), &mut data)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }

    /// The registration access token of a client id.
    pub fn access_token(&self, client_id: &str) -> String {
        let tag = hmac::sign(&self.mac, client_id.as_bytes());
        format!("ssarat_{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Whether `token` is the registration access token of `client_id` (in constant time).
    pub fn token_matches(&self, client_id: &str, token: &str) -> bool {
        let Some(tag) = token
            .strip_prefix("ssarat_")
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
        else {
            return false;
        };
        hmac::verify(&self.mac, client_id.as_bytes(), &tag).is_ok()
    }
}
