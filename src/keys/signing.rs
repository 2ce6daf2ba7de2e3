//! The private halves of the directory's signing keys: PKCS#8 PEM files in
//! `keys/signing/<kid>.pem` (mode 0600, encrypted when a passphrase is configured), generated,
//! read and used for signing here. Their lifecycle state lives in the database (see
//! `services::signing_keys`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use serde::Serialize;

use crate::config::Secret;
use crate::model::keys::{Held, SigningKey};
use crate::model::{Error, Kid, Timestamp};

type PublicJwk = serde_json::Map<String, serde_json::Value>;

use super::{jwk, read_secret, write_secret};

fn algorithm(alg: &str) -> Result<Algorithm, Error> {
    match alg {
        "PS256" => Ok(Algorithm::PS256),
        "ES256" => Ok(Algorithm::ES256),
        other => Err(Error::Unexpected(anyhow::anyhow!(
            "unsupported signing algorithm {other:?}"
        ))),
    }
}

/// A private key loaded for signing.
struct LoadedKey {
    algorithm: Algorithm,
    key: EncodingKey,
}

/// The private halves of the signing keys: files in `keys/signing/` (or `keys/federation/`),
/// loaded on first use, or, with the pkcs11 key provider, objects of a token that signs
/// with them and never lets them out.
pub struct KeyRing {
    /// `signing` or `federation`: the folder in the keys folder.
    folder: &'static str,
    dir: PathBuf,
    passphrase: Option<Secret>,
    loaded: RwLock<HashMap<String, Arc<LoadedKey>>>,
    token: Option<Arc<super::pkcs11::Token>>,
}

impl KeyRing {
    pub fn new(keys_dir: &Path, passphrase: Option<Secret>) -> Self {
        Self::in_folder(keys_dir, "signing", passphrase)
    }

    /// The federation keys' ring, in `keys/federation/` (OpenID Federation statements).
    pub fn federation(keys_dir: &Path, passphrase: Option<Secret>) -> Self {
        Self::in_folder(keys_dir, "federation", passphrase)
    }

    fn in_folder(keys_dir: &Path, folder: &'static str, passphrase: Option<Secret>) -> Self {
        super::provider::install();
        Self {
            folder,
            dir: keys_dir.join(folder),
            passphrase,
            loaded: RwLock::new(HashMap::new()),
            token: None,
        }
    }

    /// The SSA and federation rings: files in the keys folder, or objects of `token` (the
    /// pkcs11 provider's, opened once by the caller and shared with the CA).
    pub fn pair(
        config: &crate::config::Config,
        token: Option<&Arc<super::pkcs11::Token>>,
    ) -> (Self, Self) {
        let (ssa, federation) = (
            Self::new(&config.keys_dir, config.key_passphrase.clone()),
            Self::federation(&config.keys_dir, config.key_passphrase.clone()),
        );
        match token {
            Some(token) => (
                ssa.in_token(token.clone()),
                federation.in_token(token.clone()),
            ),
            None => (ssa, federation),
        }
    }

    /// The same ring with its keys generated in, and signing done by, `token`: nothing
    /// private is written to the keys folder.
    pub fn in_token(mut self, token: Arc<super::pkcs11::Token>) -> Self {
        self.token = Some(token);
        self
    }

    /// The token new keys are born in, with the pkcs11 provider.
    pub fn token(&self) -> Option<&Arc<super::pkcs11::Token>> {
        self.token.as_ref()
    }

    /// The reference of a key file of this ring (see [`SigningKey::reference`]).
    pub fn file_reference(&self, kid: &str) -> String {
        format!("file:{}/{kid}.pem", self.folder)
    }

    /// The file of a key.
    pub fn path(&self, kid: &str) -> PathBuf {
        self.dir.join(format!("{kid}.pem"))
    }

    /// The folder of the key files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Generates a key for `alg` (in the token, or a file written with mode 0600) and
    /// returns its public JWK and where it is held.
    /// A key born in the token stays pending until [`KeyRing::confirm`] (after its row is
    /// written).
    pub fn generate(&self, alg: &str, at: Timestamp) -> Result<(PublicJwk, Held), Error> {
        if let Some(token) = &self.token {
            let (public, evidence) = token
                .generate(alg, at.assume_utc().unix_timestamp())
                .map_err(Error::Unexpected)?;
            let kid = public["kid"].as_str().unwrap_or_default();
            tracing::info!(
                kid,
                local = evidence.local,
                always_sensitive = evidence.always_sensitive,
                never_extractable = evidence.never_extractable,
                "generated a signing key in the token"
            );
            let held = Held {
                reference: token.uri().object(kid),
                evidence: serde_json::to_string(&evidence).ok(),
            };
            return Ok((public, held));
        }
        let key = jwk::generate(alg)?;
        let public = jwk::public_jwk(&key, alg)?;
        let kid = public["kid"].as_str().unwrap_or_default().to_owned();
        let pem = match &self.passphrase {
            Some(pass) => key.private_key_to_pem_pkcs8_passphrase(
                Cipher::aes_256_cbc(),
                pass.expose().as_bytes(),
            ),
            None => key.private_key_to_pem_pkcs8(),
        }
        .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context("encoding a key")))?;
        super::ensure_dir(&self.dir)?;
        write_secret(&self.path(&kid), &pem)?;
        let held = Held {
            reference: self.file_reference(&kid),
            evidence: None,
        };
        Ok((public, held))
    }

    /// Whether a key file is encrypted (needs the passphrase to load), whatever it holds.
    pub fn is_encrypted(&self, path: &Path) -> bool {
        std::fs::read(path).is_ok_and(|pem| pem.windows(9).any(|w| w == b"ENCRYPTED"))
    }

    /// Reads and decrypts one key file; errors name the file.
    pub fn read(&self, path: &Path) -> anyhow::Result<PKey<Private>> {
        let pem = read_secret(path)?;
        let key = if pem.windows(9).any(|w| w == b"ENCRYPTED") {
            let Some(pass) = &self.passphrase else {
                bail!(
                    "{} is encrypted: set SSA_DIRECTORY_KEY_PASSPHRASE",
                    path.display()
                );
            };
            PKey::private_key_from_pem_passphrase(&pem, pass.expose().as_bytes())
                .with_context(|| format!("cannot decrypt {} (wrong passphrase?)", path.display()))?
        } else {
            PKey::private_key_from_pem(&pem)
                .with_context(|| format!("{} is not a PEM private key", path.display()))?
        };
        Ok(key)
    }

    /// Loads `kid` for signing (cached after the first time).
    fn load(&self, kid: &str, alg: &str) -> Result<Arc<LoadedKey>, Error> {
        if let Some(found) = self.loaded.read().ok().and_then(|m| m.get(kid).cloned()) {
            return Ok(found);
        }
        let key = self.read(&self.path(kid))?;
        let der = key.private_key_to_pkcs8().map_err(|e| {
            Error::Unexpected(anyhow::Error::new(e).context("encoding a signing key"))
        })?;
        let algorithm = algorithm(alg)?;
        let key = match algorithm {
            Algorithm::ES256 => EncodingKey::from_ec_der(&der),
            _ => {
                EncodingKey::from_rsa_der(&key.rsa().and_then(|r| r.private_key_to_der()).map_err(
                    |e| Error::Unexpected(anyhow::Error::new(e).context("encoding an RSA key")),
                )?)
            }
        };
        let loaded = Arc::new(LoadedKey { algorithm, key });
        if let Ok(mut map) = self.loaded.write() {
            map.insert(kid.to_owned(), loaded.clone());
        }
        Ok(loaded)
    }

    /// Signs `claims` as a compact JWS with `key`: header alg, kid, typ JWT.
    pub fn sign<T: Serialize>(&self, key: &SigningKey, claims: &T) -> Result<String, Error> {
        self.sign_typed(key, "JWT", claims)
    }

    /// The same with another `typ` (such as `secevent+jwt`, RFC 8417). The key signs where
    /// its row says it is held: an object of the token, or a file (so that a directory
    /// moving to a token signs with its file keys until they are rotated away).
    pub fn sign_typed<T: Serialize>(
        &self,
        key: &SigningKey,
        typ: &str,
        claims: &T,
    ) -> Result<String, Error> {
        let (kid, alg) = (key.kid.as_str(), key.alg.as_str());
        if key.in_token() {
            let token = self.token.as_ref().ok_or_else(|| {
                Error::SigningUnavailable(format!(
                    "signing key {kid} is held in a PKCS#11 token but the file key provider is configured"
                ))
            })?;
            return sign_in_token(token, kid, alg, typ, claims);
        }
        let loaded = self.load(kid, alg)?;
        let mut header = Header::new(loaded.algorithm);
        header.kid = Some(kid.to_owned());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &loaded.key)
            .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context("signing")))
    }

    /// Every key file in the folder: (kid, path).
    pub fn files(&self) -> anyhow::Result<Vec<(String, PathBuf)>> {
        if !self.dir.exists() {
            return Ok(vec![]);
        }
        let mut files = vec![];
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "pem")
                && let Some(kid) = path.file_stem().and_then(|s| s.to_str())
            {
                files.push((kid.to_owned(), path.clone()));
            }
        }
        files.sort();
        Ok(files)
    }

    /// Reads a key file and checks that it holds the key its name says: its algorithm and
    /// public JWK, or why it cannot be used.
    pub fn inspect(
        &self,
        kid: &str,
        path: &Path,
    ) -> anyhow::Result<(&'static str, serde_json::Map<String, serde_json::Value>)> {
        let key = self.read(path)?;
        let alg = if key.rsa().is_ok() { "PS256" } else { "ES256" };
        let public =
            jwk::public_jwk(&key, alg).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if public["kid"] != kid {
            bail!(
                "{} holds the key with thumbprint {}, not {kid}; the file was renamed or replaced",
                path.display(),
                public["kid"]
            );
        }
        Ok((alg, public))
    }

    /// That the ring holds the private key of `key`, which the database has in a live
    /// state: its object in the token, or its file. A missing one stops the start, naming
    /// where it should be.
    pub fn check_held(&self, key: &SigningKey) -> anyhow::Result<()> {
        let (kid, state) = (&key.kid, key.state.as_str());
        if key.in_token() {
            let Some(token) = &self.token else {
                bail!(
                    "signing key {kid} is {state} and held in a PKCS#11 token ({}), but the file key provider is configured: set key_provider = \"pkcs11\" and pkcs11_uri",
                    key.reference.as_deref().unwrap_or_default()
                );
            };
            return token.evidence(kid.as_str()).map(drop).with_context(|| {
                format!(
                    "signing key {kid} is {state} but the token {} lacks it",
                    token.uri()
                )
            });
        }
        let path = self.path(kid.as_str());
        if !path.exists() {
            bail!(
                "signing key {kid} is {state} but {} is missing; restore it from the backup of keys/",
                path.display()
            );
        }
        Ok(())
    }

    /// Removes a generated key that never became live (its file, or its object).
    pub fn discard(&self, kid: &Kid) {
        match &self.token {
            Some(token) => {
                if let Err(error) = token.destroy(kid.as_str()) {
                    tracing::warn!(kid = kid.as_str(), error = %format!("{error:#}"), "cannot destroy a key that never became live");
                }
            }
            None => {
                let _ = std::fs::remove_file(self.path(kid.as_str()));
            }
        }
    }

    /// Marks a key born in the token as recorded (its row is written); nothing for files.
    pub fn confirm(&self, kid: &Kid) -> Result<(), Error> {
        match &self.token {
            Some(token) => token
                .confirm(kid.as_str())
                .map_err(|e| Error::SigningUnavailable(format!("{e:#}"))),
            None => Ok(()),
        }
    }

    /// Settles the token's keys left pending by a generation that did not finish (a
    /// command killed between generating a key and recording it): a key the database
    /// records (`recorded`) is confirmed, any other older than ten minutes at `at` (no
    /// generation still at work would be) is destroyed. Returns the destroyed kids.
    pub fn settle(&self, recorded: &[Kid], at: Timestamp) -> anyhow::Result<Vec<String>> {
        let Some(token) = &self.token else {
            return Ok(vec![]);
        };
        let mut destroyed = vec![];
        for (kid, since) in token.pending()? {
            if recorded.iter().any(|k| k.as_str() == kid) {
                token.confirm(&kid)?;
            } else if at.assume_utc().unix_timestamp() - since > 600 {
                token.destroy(&kid)?;
                tracing::warn!(kid, "destroyed a key a generation left unrecorded");
                destroyed.push(kid);
            }
        }
        Ok(destroyed)
    }
}

/// A compact JWS (header `typ`, `alg`, `kid`) whose signature the token makes: the same bytes
/// jsonwebtoken would write around it, with the private key staying in the token.
fn sign_in_token<T: Serialize>(
    token: &super::pkcs11::Token,
    kid: &str,
    alg: &str,
    typ: &str,
    claims: &T,
) -> Result<String, Error> {
    let header = serde_json::json!({"typ": typ, "alg": alg, "kid": kid});
    let input = format!("{}.{}", json_b64(&header)?, json_b64(claims)?);
    let signature = token.sign(kid, alg, input.as_bytes()).map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "the token did not sign");
        Error::SigningUnavailable("the key store did not sign".into())
    })?;
    Ok(format!("{input}.{}", jwk::b64(&signature)))
}

/// A JWS part: base64url of the JSON of `value`.
fn json_b64<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_vec(value)
        .map(|bytes| jwk::b64(&bytes))
        .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context("encoding a JWS")))
}

/// What a JWS the directory signed must show to be read back: its `typ`, its `iss` and the
/// claims it must carry.
pub struct OwnJws<'a> {
    pub typ: &'a str,
    pub issuer: &'a str,
    pub required: &'a [&'a str],
}

/// The claims of a JWS signed by one of the directory's own `keys` that is not removed, with
/// the `typ`, `alg` (the key's), `kid` and `iss` it should have; `None` when any of that does
/// not hold. Expiry is the caller's to judge (a trust mark's status says `expired`).
pub fn verify_own<T: serde::de::DeserializeOwned>(
    jwt: &str,
    keys: &[crate::model::keys::SigningKey],
    expected: &OwnJws<'_>,
) -> Option<T> {
    use crate::model::keys::KeyState;
    let header = jsonwebtoken::decode_header(jwt).ok()?;
    if header.typ.as_deref() != Some(expected.typ) {
        return None;
    }
    let kid = header.kid?;
    let key = keys
        .iter()
        .find(|k| k.kid.as_str() == kid && k.state != KeyState::Removed)?;
    let jwk = serde_json::from_str::<jsonwebtoken::jwk::Jwk>(&key.public_jwk).ok()?;
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
    let algorithm = key.alg.parse::<Algorithm>().ok()?;
    if header.alg != algorithm {
        return None;
    }
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[expected.issuer]);
    validation.set_required_spec_claims(expected.required);
    jsonwebtoken::decode::<T>(jwt, &decoding, &validation)
        .ok()
        .map(|d| d.claims)
}
