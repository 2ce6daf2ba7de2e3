//! Credentials: argon2id password hashes, and the random secrets of API tokens and portal
//! sessions, of which only a SHA-256 is ever stored.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::model::inputs::Password;
use crate::model::{Error, Result};

/// Hashes a password with argon2id and a random salt (slow by design: call off the executor).
pub fn hash_password(password: &Password) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("cannot hash a password: {e}")))
}

/// Whether `password` is the one `hash` was made from.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends as long as checking a real account's password, so that timing does not reveal
/// whether an account exists.
pub fn verify_nothing(password: &str) {
    let _ = verify_password(password, DUMMY_HASH);
}

/// An argon2id hash of a random password, verified against when the account does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$6qJ2F9wD8cHtU1cN0xKpKj7o6Zq3G4VJ8Zm6c3yB0yU";

/// The prefix of every API token, so that leaked tokens are easy to recognise.
const TOKEN_PREFIX: &str = "ssad_";

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 (hex) under which a secret is stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new proof-of-control challenge token (not a secret: it is served in public).
pub fn new_challenge() -> String {
    random_secret()
}

/// A new API token secret, to be shown once.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// The stored form (hash) of a token secret, or `None` for a secret no token can have.
pub fn token_key(secret: &str) -> Option<String> {
    (secret.starts_with(TOKEN_PREFIX) && secret.len() <= 100).then(|| secret_hash(secret))
}

/// The prefix of the access tokens the directory issues to machine clients (OAuth 2.0 client
/// credentials), apart from people's API tokens.
const CLIENT_TOKEN_PREFIX: &str = "ssam_";

/// A new machine client's access token.
pub fn new_client_token() -> String {
    format!("{CLIENT_TOKEN_PREFIX}{}", random_secret())
}

/// Whether a presented token is a machine client's (rather than a person's API token).
pub fn is_client_token(secret: &str) -> bool {
    secret.starts_with(CLIENT_TOKEN_PREFIX)
}

/// The stored form (hash) of a machine client's token, or `None` for one no token can have.
pub fn client_token_key(secret: &str) -> Option<String> {
    (is_client_token(secret) && secret.len() <= 100).then(|| secret_hash(secret))
}

/// A new single-use token for a link sent by mail (a password reset).
pub fn new_link_token() -> String {
    random_secret()
}

/// The stored form of a mailed link's token, or `None` for one no link can have.
pub fn link_key(secret: &str) -> Option<String> {
    (!secret.is_empty() && secret.len() <= 64).then(|| secret_hash(secret))
}

/// A new portal session secret, for the encrypted cookie.
pub fn new_session() -> String {
    random_secret()
}

/// The stored form of a session secret, or `None` for one no session can have.
pub fn session_key(secret: &str) -> Option<String> {
    (secret.len() <= 64).then(|| secret_hash(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_are_argon2id_and_verify() {
        let hash = hash_password(&Password::parse("correct horse battery").unwrap()).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
    }

    #[test]
    fn the_dummy_hash_is_well_formed() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn token_hashes_are_stable_and_hide_the_secret() {
        let secret = new_token();
        let hash = token_key(&secret).unwrap();
        assert_eq!(Some(hash.clone()), token_key(&secret));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&secret[5..]));
        assert_eq!(token_key("not-a-token"), None);
    }
}
