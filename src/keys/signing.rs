//! The directory's signing keys.
//!
//! Private keys are PKCS#8 PEM files in `keys/signing/<kid>.pem` (mode 0600, encrypted when a
//! passphrase is configured). Their state lives in the database so that every instance on one
//! PostgreSQL agrees on it: `next` (published, not signing) -> `active` (signs) -> `retired`
//! (published until every SSA it signed has expired) -> `removed`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use serde::Serialize;

use crate::config::Secret;
use crate::db::schema::{issued_ssas, signing_keys};
use crate::db::{DbConnection, write_transaction};
use crate::directory::audit::Event;
use crate::directory::{Actor, now};
use crate::error::AppError;

use super::{jwk, read_secret, write_secret};

/// A key's place in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Active,
    Retired,
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Removed => "removed",
        }
    }

    pub fn from_db(value: &str) -> Result<Self, AppError> {
        match value {
            "next" => Ok(Self::Next),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            "removed" => Ok(Self::Removed),
            other => Err(AppError::Unexpected(anyhow::anyhow!(
                "unknown signing key state {other:?} stored"
            ))),
        }
    }

    /// Published in the JWKS.
    pub fn is_published(self) -> bool {
        !matches!(self, Self::Removed)
    }

    /// A key that signs or has signed and is still published: a statement it signed may
    /// still be handed out.
    pub fn vouches(self) -> bool {
        matches!(self, Self::Active | Self::Retired)
    }
}

/// A signing key as recorded in the database (public parts only).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub state: String,
    pub created_at: time::PrimitiveDateTime,
    pub activated_at: Option<time::PrimitiveDateTime>,
    pub retired_at: Option<time::PrimitiveDateTime>,
    pub removed_at: Option<time::PrimitiveDateTime>,
}

impl SigningKeyRow {
    pub fn state(&self) -> Result<KeyState, AppError> {
        KeyState::from_db(&self.state)
    }

    pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<SigningKeyRow>> {
        signing_keys::table
            .select(SigningKeyRow::as_select())
            .order(signing_keys::created_at.asc())
            .load(conn)
    }

    fn in_state(conn: &mut DbConnection, state: KeyState) -> QueryResult<Option<SigningKeyRow>> {
        signing_keys::table
            .filter(signing_keys::state.eq(state.as_str()))
            .select(SigningKeyRow::as_select())
            .first(conn)
            .optional()
    }

    /// The key that signs now.
    pub fn active(conn: &mut DbConnection) -> QueryResult<Option<SigningKeyRow>> {
        Self::in_state(conn, KeyState::Active)
    }
}

fn algorithm(alg: &str) -> Result<Algorithm, AppError> {
    match alg {
        "PS256" => Ok(Algorithm::PS256),
        "ES256" => Ok(Algorithm::ES256),
        other => Err(AppError::Unexpected(anyhow::anyhow!(
            "unsupported signing algorithm {other:?}"
        ))),
    }
}

/// A private key loaded for signing.
struct LoadedKey {
    algorithm: Algorithm,
    key: EncodingKey,
}

/// The private halves of the signing keys, loaded from `keys/signing/` on first use.
pub struct KeyRing {
    dir: PathBuf,
    passphrase: Option<Secret>,
    loaded: RwLock<HashMap<String, Arc<LoadedKey>>>,
}

impl KeyRing {
    pub fn new(keys_dir: &Path, passphrase: Option<Secret>) -> Self {
        super::provider::install();
        Self {
            dir: keys_dir.join("signing"),
            passphrase,
            loaded: RwLock::new(HashMap::new()),
        }
    }

    fn path(&self, kid: &str) -> PathBuf {
        self.dir.join(format!("{kid}.pem"))
    }

    /// Generates a key for `alg`, writes it (mode 0600) and returns its public JWK.
    fn generate(&self, alg: &str) -> Result<serde_json::Map<String, serde_json::Value>, AppError> {
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
        .map_err(|e| AppError::Unexpected(anyhow::Error::new(e).context("encoding a key")))?;
        super::ensure_dir(&self.dir)?;
        write_secret(&self.path(&kid), &pem)?;
        Ok(public)
    }

    /// Reads and decrypts one key file; errors name the file.
    fn read(&self, path: &Path) -> anyhow::Result<PKey<Private>> {
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
    fn load(&self, kid: &str, alg: &str) -> Result<Arc<LoadedKey>, AppError> {
        if let Some(found) = self.loaded.read().ok().and_then(|m| m.get(kid).cloned()) {
            return Ok(found);
        }
        let key = self.read(&self.path(kid))?;
        let der = key.private_key_to_pkcs8().map_err(|e| {
            AppError::Unexpected(anyhow::Error::new(e).context("encoding a signing key"))
        })?;
        let algorithm = algorithm(alg)?;
        let key = match algorithm {
            Algorithm::ES256 => EncodingKey::from_ec_der(&der),
            _ => {
                EncodingKey::from_rsa_der(&key.rsa().and_then(|r| r.private_key_to_der()).map_err(
                    |e| AppError::Unexpected(anyhow::Error::new(e).context("encoding an RSA key")),
                )?)
            }
        };
        let loaded = Arc::new(LoadedKey { algorithm, key });
        if let Ok(mut map) = self.loaded.write() {
            map.insert(kid.to_owned(), loaded.clone());
        }
        Ok(loaded)
    }

    /// Signs `claims` as a compact JWS with `kid`'s key: header alg, kid, typ JWT.
    pub fn sign<T: Serialize>(&self, kid: &str, alg: &str, claims: &T) -> Result<String, AppError> {
        let key = self.load(kid, alg)?;
        let mut header = Header::new(key.algorithm);
        header.kid = Some(kid.to_owned());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &key.key)
            .map_err(|e| AppError::Unexpected(anyhow::Error::new(e).context("signing")))
    }

    /// Every key file in the folder: (kid, path).
    fn files(&self) -> anyhow::Result<Vec<(String, PathBuf)>> {
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
}

/// Brings the keys folder and the database into agreement at start: every key file the
/// database knows must load (a corrupt or unreadable one is an error naming it, never
/// replaced), loadable files unknown to the database are registered, and an active and a
/// next key are generated when missing.
///
/// A file the database does not know and that does not load (an interrupted write, a stray
/// copy) cannot hold a key anything depends on: it is moved aside with a warning instead of
/// stopping the start. A file the database knows must load.
pub fn initialise(conn: &mut DbConnection, ring: &KeyRing, alg: &str) -> anyhow::Result<()> {
    super::remove_stale_temporaries(&ring.dir);
    let files = ring.files()?;
    let known: Vec<String> = SigningKeyRow::all(conn)?
        .into_iter()
        .map(|r| r.kid)
        .collect();
    let mut on_disk = HashMap::new();
    for (kid, path) in &files {
        let key = match ring.read(path) {
            Ok(key) => key,
            Err(error) if !known.contains(kid) => {
                super::move_aside(path, &format!("{error:#}"))?;
                continue;
            }
            Err(error) => return Err(error),
        };
        let key_alg = if key.rsa().is_ok() { "PS256" } else { "ES256" };
        let public = jwk::public_jwk(&key, key_alg)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if public["kid"] != kid.as_str() {
            bail!(
                "{} holds the key with thumbprint {}, not {kid}; the file was renamed or replaced",
                path.display(),
                public["kid"]
            );
        }
        on_disk.insert(kid.clone(), (key_alg, public));
    }

    // Keys are generated before the transaction (RSA generation is slow and the transaction
    // holds the write lock). Two instances starting together may race: the unique index on
    // live states makes the loser fail, and its next attempt sees the winner's keys.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let rows = SigningKeyRow::all(conn)?;
        let live = |state: &str| rows.iter().any(|r| r.state == state);
        let unregistered_active = on_disk
            .keys()
            .any(|kid| !rows.iter().any(|r| &r.kid == kid));
        let fresh_active = if live("active") || unregistered_active {
            None
        } else {
            Some(ring.generate(alg)?)
        };
        let fresh_next = if live("next") {
            None
        } else {
            Some(ring.generate(alg)?)
        };
        let result = write_transaction(conn, |tx| -> Result<(), AppError> {
            let rows = SigningKeyRow::all(tx)?;
            let mut has_active = rows.iter().any(|r| r.state == "active");
            let has_next = rows.iter().any(|r| r.state == "next");
            for (kid, (key_alg, public)) in &on_disk {
                if rows.iter().any(|r| &r.kid == kid) {
                    continue;
                }
                let state = if has_active {
                    KeyState::Retired
                } else {
                    KeyState::Active
                };
                has_active = true;
                insert(tx, kid, key_alg, public, state)?;
                tracing::warn!(
                    kid,
                    state = state.as_str(),
                    "registered a key file the database did not know"
                );
            }
            if !has_active {
                let public = fresh_active.as_ref().ok_or_else(|| {
                    AppError::Conflict("key state changed meanwhile; retrying".into())
                })?;
                insert_generated(tx, public, alg, KeyState::Active)?;
            }
            if !has_next {
                let public = fresh_next.as_ref().ok_or_else(|| {
                    AppError::Conflict("key state changed meanwhile; retrying".into())
                })?;
                insert_generated(tx, public, alg, KeyState::Next)?;
            }
            Ok(())
        });
        // Generated keys that did not become live are withdrawn.
        let live_now: Vec<String> = SigningKeyRow::all(conn)?
            .into_iter()
            .map(|r| r.kid)
            .collect();
        for public in [&fresh_active, &fresh_next].into_iter().flatten() {
            let kid = public["kid"].as_str().unwrap_or_default();
            if !live_now.iter().any(|k| k == kid) {
                let _ = std::fs::remove_file(ring.path(kid));
            }
        }
        match result {
            Ok(()) => break,
            Err(_) if attempt < 3 => continue,
            Err(e) => return Err(anyhow::anyhow!("cannot initialise signing keys: {e}")),
        }
    }

    for row in SigningKeyRow::all(conn)? {
        let state = KeyState::from_db(&row.state).map_err(|e| anyhow::anyhow!("{e}"))?;
        if matches!(state, KeyState::Active | KeyState::Next) && !ring.path(&row.kid).exists() {
            bail!(
                "signing key {} is {} but {} is missing; restore it from the backup of keys/",
                row.kid,
                state.as_str(),
                ring.path(&row.kid).display()
            );
        }
    }
    Ok(())
}

fn insert(
    conn: &mut DbConnection,
    kid: &str,
    alg: &str,
    public: &serde_json::Map<String, serde_json::Value>,
    state: KeyState,
) -> QueryResult<()> {
    let at = now();
    let row = SigningKeyRow {
        kid: kid.to_owned(),
        alg: alg.to_owned(),
        public_jwk: serde_json::Value::Object(public.clone()).to_string(),
        state: state.as_str().to_owned(),
        created_at: at,
        activated_at: (state == KeyState::Active).then_some(at),
        retired_at: (state == KeyState::Retired).then_some(at),
        removed_at: None,
    };
    diesel::insert_into(signing_keys::table)
        .values(&row)
        .execute(conn)
        .map(drop)
}

fn insert_generated(
    conn: &mut DbConnection,
    public: &serde_json::Map<String, serde_json::Value>,
    alg: &str,
    state: KeyState,
) -> Result<(), AppError> {
    let kid = public["kid"].as_str().unwrap_or_default();
    insert(conn, kid, alg, public, state)?;
    Event::new(&Actor::system(), "key.generate", "signing_key", kid)
        .status(None, Some(state.as_str()))
        .record(conn)?;
    Ok(())
}

fn set_state(
    conn: &mut DbConnection,
    kid: &str,
    from: KeyState,
    to: KeyState,
) -> Result<(), AppError> {
    let at = now();
    let target = signing_keys::table
        .filter(signing_keys::kid.eq(kid))
        .filter(signing_keys::state.eq(from.as_str()));
    let updated = match to {
        KeyState::Active => diesel::update(target)
            .set((
                signing_keys::state.eq(to.as_str()),
                signing_keys::activated_at.eq(Some(at)),
            ))
            .execute(conn)?,
        KeyState::Retired => diesel::update(target)
            .set((
                signing_keys::state.eq(to.as_str()),
                signing_keys::retired_at.eq(Some(at)),
            ))
            .execute(conn)?,
        KeyState::Removed => diesel::update(target)
            .set((
                signing_keys::state.eq(to.as_str()),
                signing_keys::removed_at.eq(Some(at)),
            ))
            .execute(conn)?,
        KeyState::Next => diesel::update(target)
            .set(signing_keys::state.eq(to.as_str()))
            .execute(conn)?,
    };
    if updated != 1 {
        return Err(AppError::Conflict(format!(
            "key {kid} is no longer {}; list the keys and try again",
            from.as_str()
        )));
    }
    Ok(())
}

/// Rotation: the next key starts signing, the active key retires (still published while SSAs
/// it signed are valid), and a new next key is generated and published. Returns the new
/// active kid.
pub fn rotate(
    conn: &mut DbConnection,
    ring: &KeyRing,
    alg: &str,
    actor: &Actor,
) -> Result<String, AppError> {
    write_transaction(conn, |tx| {
        let next = match SigningKeyRow::in_state(tx, KeyState::Next)? {
            Some(row) => row,
            None => {
                let public = ring.generate(alg)?;
                insert_generated(tx, &public, alg, KeyState::Next)?;
                SigningKeyRow::in_state(tx, KeyState::Next)?
                    .ok_or(AppError::NotFound("next signing key"))?
            }
        };
        if let Some(active) = SigningKeyRow::active(tx)? {
            set_state(tx, &active.kid, KeyState::Active, KeyState::Retired)?;
            Event::new(actor, "key.retire", "signing_key", &active.kid)
                .status(Some("active"), Some("retired"))
                .record(tx)?;
        }
        set_state(tx, &next.kid, KeyState::Next, KeyState::Active)?;
        Event::new(actor, "key.activate", "signing_key", &next.kid)
            .status(Some("next"), Some("active"))
            .record(tx)?;
        let public = ring.generate(alg)?;
        insert_generated(tx, &public, alg, KeyState::Next)?;
        Ok(next.kid)
    })
}

/// Retires a key by hand: a next key is withdrawn (it signed nothing, so it is removed at
/// once); the active key must be rotated away first.
pub fn retire(conn: &mut DbConnection, kid: &str, actor: &Actor) -> Result<KeyState, AppError> {
    write_transaction(conn, |tx| {
        let row: SigningKeyRow = signing_keys::table
            .find(kid)
            .select(SigningKeyRow::as_select())
            .first(tx)
            .optional()?
            .ok_or(AppError::NotFound("signing key"))?;
        let (from, to) = match row.state()? {
            KeyState::Next => (KeyState::Next, KeyState::Removed),
            KeyState::Active => {
                return Err(AppError::Conflict(
                    "the active key signs new statements: run `keys rotate` first".into(),
                ));
            }
            KeyState::Retired => {
                return Err(AppError::Conflict(
                    "the key is already retired; it is removed once the statements it signed expire"
                        .into(),
                ));
            }
            KeyState::Removed => {
                return Err(AppError::Conflict("the key is already removed".into()));
            }
        };
        set_state(tx, kid, from, to)?;
        Event::new(actor, "key.retire", "signing_key", kid)
            .status(Some(from.as_str()), Some(to.as_str()))
            .record(tx)?;
        Ok(to)
    })
}

/// Removes retired keys whose every SSA has expired; returns their kids.
pub fn sweep(conn: &mut DbConnection) -> Result<Vec<String>, AppError> {
    let at = now();
    write_transaction(conn, |tx| {
        let retired: Vec<String> = signing_keys::table
            .filter(signing_keys::state.eq(KeyState::Retired.as_str()))
            .select(signing_keys::kid)
            .load(tx)?;
        let mut removed = vec![];
        for kid in retired {
            let live: i64 = issued_ssas::table
                .filter(issued_ssas::kid.eq(&kid))
                .filter(issued_ssas::expires_at.gt(at))
                .count()
                .get_result(tx)?;
            if live == 0 {
                set_state(tx, &kid, KeyState::Retired, KeyState::Removed)?;
                Event::new(&Actor::system(), "key.remove", "signing_key", &kid)
                    .status(Some("retired"), Some("removed"))
                    .reason(Some("every statement it signed has expired"))
                    .record(tx)?;
                removed.push(kid);
            }
        }
        Ok(removed)
    })
}

/// One line of `keys list`.
#[derive(Debug, Serialize)]
pub struct KeySummary {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub created_at: String,
    pub ssas_signed: i64,
    pub last_expiry: Option<String>,
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<KeySummary>, AppError> {
    let mut out = vec![];
    for row in SigningKeyRow::all(conn)? {
        let signed: i64 = issued_ssas::table
            .filter(issued_ssas::kid.eq(&row.kid))
            .count()
            .get_result(conn)?;
        let last: Option<time::PrimitiveDateTime> = issued_ssas::table
            .filter(issued_ssas::kid.eq(&row.kid))
            .select(diesel::dsl::max(issued_ssas::expires_at))
            .first(conn)?;
        out.push(KeySummary {
            kid: row.kid,
            alg: row.alg,
            state: row.state,
            created_at: row.created_at.to_string(),
            ssas_signed: signed,
            last_expiry: last.map(|t| t.to_string()),
        });
    }
    Ok(out)
}
