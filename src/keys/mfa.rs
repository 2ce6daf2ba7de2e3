//! Second factors' secrets: TOTP (RFC 6238) secrets sealed at rest with AES-256-GCM under
//! `keys/mfa.key` (a database dump alone reveals none), the codes of a time step, the
//! `otpauth://` URI authenticator apps read and its QR code (SVG, drawn here: no outside
//! service sees the secret), and recovery codes.

use std::path::Path;

use anyhow::{Context, anyhow};
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// The key file, beside the session key.
const KEY_FILE: &str = "mfa.key";
/// Seconds per TOTP step, digits per code (what every authenticator app assumes).
pub const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// Bytes of a new TOTP secret (160 bits, RFC 4226's recommendation).
const SECRET_LEN: usize = 20;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Seals and opens secrets with the directory's second-factor key.
#[derive(Clone)]
pub struct SecretBox {
    key: Vec<u8>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// The key of `keys_dir/mfa.key`, made on first use (mode 0600). Instances that share
    /// the keys folder open each other's secrets.
    pub fn load(keys_dir: &Path) -> anyhow::Result<Self> {
        let key = super::symmetric_key(
            keys_dir,
            KEY_FILE,
            32,
            "make every enrolled authenticator app unusable",
        )?;
        Ok(Self { key })
    }

    /// nonce || ciphertext || tag; `label` (the factor's id) is bound as associated data, so
    /// a sealed secret moved to another row does not open.
    pub fn seal(&self, secret: &[u8], label: &str) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut tag = [0u8; TAG_LEN];
        let sealed = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            label.as_bytes(),
            secret,
            &mut tag,
        )
        .context("sealing a second factor's secret")?;
        Ok([&nonce[..], &sealed, &tag].concat())
    }

    pub fn open(&self, sealed: &[u8], label: &str) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(anyhow!("a sealed second-factor secret is too short"));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(nonce),
            label.as_bytes(),
            body,
            tag,
        )
        .context("a second factor's secret does not open with keys/mfa.key")
    }
}

/// A new random TOTP secret.
pub fn new_totp_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<TOTP> {
    // An issuer with ':' is refused by the otpauth format.
    let issuer = issuer.replace(':', " ");
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer),
        account.to_owned(),
    )
    .map_err(|e| anyhow!("a TOTP secret: {e:?}"))
}

/// The step of a Unix time.
pub fn step_of(unix: u64) -> u64 {
    unix / STEP_SECS
}

/// The code of `step`.
pub fn code_at(secret: &[u8], step: u64) -> anyhow::Result<String> {
    Ok(totp(secret, "x", "x")?.generate(step * STEP_SECS))
}

/// The step among `step - 1 ..= step + 1` (clock skew of one step either way) whose code is
/// `code`, compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, step: u64) -> anyhow::Result<Option<u64>> {
    let code = code.trim();
    let mut found = None;
    for candidate in [step.saturating_sub(1), step, step + 1] {
        let expected = code_at(secret, candidate)?;
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(candidate);
        }
    }
    Ok(found)
}

/// The secret in base32 (what a person types into an app that cannot scan) and the
/// `otpauth://totp/` URI.
pub fn provisioning(
    secret: &[u8],
    issuer: &str,
    account: &str,
) -> anyhow::Result<(String, String)> {
    let totp = totp(secret, issuer, account)?;
    Ok((totp.get_secret_base32(), totp.get_url()))
}

/// The QR code of `text` as an inline SVG element.
pub fn qr_svg(text: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).context("drawing a QR code")?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // Inline in the page: without the XML declaration.
    Ok(match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => svg,
    })
}

/// Ten new recovery codes (`xxxxx-xxxxx`, 50 bits each, lowercase base32 without
/// look-alikes) and their stored form.
pub fn new_recovery_codes() -> Vec<(String, String)> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..10)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            let code = format!("{}-{}", &chars[..5], &chars[5..]);
            let hash = recovery_hash(&code);
            (code, hash)
        })
        .collect()
}

/// The stored form of a recovery code as a person may type it (case, spaces and the dash
/// do not matter).
pub fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_label() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = SecretBox::load(dir.path()).unwrap();
        let secret = new_totp_secret();
        let sealed = sealer.seal(&secret, "factor-1").unwrap();
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));
        assert_eq!(sealer.open(&sealed, "factor-1").unwrap(), secret);
        assert!(
            sealer.open(&sealed, "factor-2").is_err(),
            "bound to its row"
        );
        let other = SecretBox::load(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(other.open(&sealed, "factor-1").is_err());
        assert_eq!(format!("{sealer:?}"), "SecretBox(..)");
    }

    #[test]
    fn codes_match_rfc_6238_and_one_step_of_skew() {
        // RFC 6238 appendix B, SHA-1, at T = 59 s: 94287082 (8 digits; 6 here: 287082).
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, step_of(59)).unwrap(), "287082");
        let step = step_of(1_111_111_109);
        assert_eq!(code_at(secret, step).unwrap(), "081804");
        let code = code_at(secret, step).unwrap();
        assert_eq!(matching_step(secret, &code, step + 1).unwrap(), Some(step));
        assert_eq!(matching_step(secret, &code, step + 2).unwrap(), None);
        assert_eq!(matching_step(secret, "000000x", step).unwrap(), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_forgiving_to_type() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let (code, hash) = &codes[0];
        assert_eq!(&recovery_hash(&code.to_uppercase().replace('-', " ")), hash);
        let mut hashes: Vec<&String> = codes.iter().map(|(_, h)| h).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), 10);
        let svg = qr_svg("otpauth://totp/x").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
    }
}
