//! Keys in a PKCS#11 token: an HSM in production, SoftHSM2 in the tests. The token is named
//! by an RFC 7512 URI (`pkcs11:token=LABEL?module-path=/path/lib.so&pin-source=file:/path`);
//! the module is loaded once per process, one session stays logged in for as long as the
//! token is open (a token logs out when its application's last session closes), and signing
//! sessions are pooled. Keys are generated inside the token (sensitive, never extractable)
//! and found by their `CKA_ID`, which is the kid. Every signature is over a digest computed
//! here (`CKM_RSA_PKCS_PSS`, `CKM_ECDSA`: SoftHSM2 2.6 has no `CKM_ECDSA_SHA256`), so a
//! software token and a hardware one behave alike. PKCS#11 calls block: call from blocking
//! threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::MechanismType;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::object::ObjectHandle;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use openssl::pkey::{PKey, Public};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::jwk;
pub use crate::config::TokenUri;

/// What the token says of a key it generated: made inside it (`CKA_LOCAL`), sensitive since
/// then (`CKA_ALWAYS_SENSITIVE`) and never extractable (`CKA_NEVER_EXTRACTABLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    pub local: bool,
    pub always_sensitive: bool,
    pub never_extractable: bool,
}

/// How the label of a key whose row is not written yet starts (then the Unix time).
const PENDING: &str = "pending:";

/// Loaded modules, one context per module for the whole process (`C_Initialize` once).
static MODULES: LazyLock<Mutex<HashMap<PathBuf, Pkcs11>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// How many times modules were finalised. Every call into a module holds this for reading,
/// and a connection made in an earlier generation never calls again: finalising (which holds
/// it for writing) never runs while a call is in flight, and no call reaches a finalised
/// module.
static GENERATION: RwLock<u64> = RwLock::new(0);

/// Set by [`finalize_all`]: the process is done with its modules, nothing reconnects.
static CLOSED: AtomicBool = AtomicBool::new(false);

fn module(path: &Path) -> anyhow::Result<Pkcs11> {
    let mut modules = MODULES
        .lock()
        .map_err(|_| anyhow!("the PKCS#11 module table is poisoned"))?;
    if let Some(context) = modules.get(path) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(path)
        .with_context(|| format!("cannot load the PKCS#11 module {}", path.display()))?;
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .with_context(|| format!("cannot initialise the PKCS#11 module {}", path.display()))?;
    modules.insert(path.to_owned(), context.clone());
    Ok(context)
}

/// Finalises the modules of `paths` (all of them when `None`) under the gate's write lock
/// and starts a new generation: connections made before never call again.
fn finalize(paths: Option<&Path>) {
    let Ok(mut generation) = GENERATION.write() else {
        return;
    };
    let contexts: Vec<Pkcs11> = match MODULES.lock() {
        Ok(mut modules) => match paths {
            Some(path) => modules.remove(path).into_iter().collect(),
            None => modules.drain().map(|(_, context)| context).collect(),
        },
        Err(_) => return,
    };
    for context in contexts {
        if let Err(error) = context.finalize() {
            tracing::warn!(%error, "a PKCS#11 module did not finalise");
        }
    }
    *generation += 1;
}

/// Finalises every loaded module (`C_Finalize`): call once nothing signs any more, before
/// the process exits; no token opens or reconnects after it. Some modules crash at exit
/// when they were not finalised (SoftHSM2 2.6 with OpenSSL 3 does, now and then), so the
/// server calls this when it has stopped.
pub fn finalize_all() {
    CLOSED.store(true, Ordering::SeqCst);
    finalize(None);
}

/// A token, opened and logged in, that reconnects by itself after it stopped answering (a
/// module error, its sessions closed, the token removed and put back): the next call after
/// a failed one logs in anew, and when that fails too, the module is initialised again so
/// that it finds its tokens afresh. Attempts are at most one a second; calls in between fail
/// at once.
pub struct Token {
    uri: TokenUri,
    /// The current connection; `None` after a failure, until a call reconnects.
    connection: Mutex<Option<Arc<Connection>>>,
    /// When the last reconnection failed.
    failed_at: Mutex<Option<Instant>>,
    /// The private keys found so far (handles hold across sessions), forgotten with the
    /// connection.
    handles: Mutex<HashMap<String, ObjectHandle>>,
}

/// One login to the token: the module's context, the slot, the session that keeps the
/// application logged in, and sessions ready to sign with.
struct Connection {
    /// The modules' generation the connection was made in.
    generation: u64,
    context: Pkcs11,
    slot: Slot,
    login: Mutex<Option<Session>>,
    idle: Mutex<Vec<Session>>,
}

/// Closes the connection's sessions, unless the module was finalised meanwhile: then they
/// are left alone (a finalised module must not be called, and it closed them itself).
impl Drop for Connection {
    fn drop(&mut self) {
        let gate = GENERATION.read();
        let sessions: Vec<Session> = self
            .idle
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default()
            .into_iter()
            .chain(self.login.get_mut().ok().and_then(Option::take))
            .collect();
        match gate {
            Ok(generation) if *generation == self.generation => drop(sessions),
            _ => std::mem::forget(sessions),
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// How long a token that could not be reached is left alone before the next attempt.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

impl Token {
    /// Loads the module, finds the token by its label and logs in with the PIN of
    /// `pin-source`. Errors name the URI (which holds no PIN) and what is missing.
    pub fn open(uri: &TokenUri) -> anyhow::Result<Self> {
        let connection = connect(uri)?;
        Ok(Self {
            uri: uri.clone(),
            connection: Mutex::new(Some(Arc::new(connection))),
            failed_at: Mutex::new(None),
            handles: Mutex::new(HashMap::new()),
        })
    }

    /// The token of `config`'s pkcs11 key provider, opened; `None` with the file provider.
    pub fn configured(config: &crate::config::Config) -> anyhow::Result<Option<Arc<Self>>> {
        Ok(match config.token_uri()? {
            Some(uri) => Some(Arc::new(Self::open(&uri)?)),
            None => None,
        })
    }

    /// The URI the token was opened with.
    pub fn uri(&self) -> &TokenUri {
        &self.uri
    }

    /// The current connection, or a new one when the last call failed: logging in anew
    /// first, initialising the module again when that fails.
    fn connection(&self) -> anyhow::Result<Arc<Connection>> {
        let mut current = self
            .connection
            .lock()
            .map_err(|_| anyhow!("{}: the token's state is poisoned", self.uri))?;
        let generation = GENERATION.read().map(|g| *g).ok();
        if let Some(connection) = current.as_ref()
            && generation == Some(connection.generation)
        {
            return Ok(connection.clone());
        }
        drop(current.take());
        self.forget_handles();
        let mut failed_at = self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
        if failed_at.is_some_and(|at| at.elapsed() < RECONNECT_PAUSE) {
            bail!("{}: the token does not answer (retrying)", self.uri);
        }
        let connection = connect(&self.uri).or_else(|first| {
            if CLOSED.load(Ordering::SeqCst) {
                return Err(first);
            }
            tracing::warn!(uri = %self.uri, error = %format!("{first:#}"), "initialising the PKCS#11 module again");
            finalize(Some(&self.uri.module_path));
            connect(&self.uri)
        });
        match connection {
            Ok(connection) => {
                *failed_at = None;
                tracing::info!(uri = %self.uri, "the token answers again");
                let connection = Arc::new(connection);
                *current = Some(connection.clone());
                Ok(connection)
            }
            Err(error) => {
                *failed_at = Some(Instant::now());
                Err(error)
            }
        }
    }

    /// Runs `f` with a session of the pool (a new one when none is idle). A failed call
    /// drops the connection: the next call reconnects.
    fn with_session<T>(&self, f: impl FnOnce(&Session) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let connection = self.connection()?;
        let result = {
            let gate = GENERATION
                .read()
                .map_err(|_| anyhow!("the PKCS#11 gate is poisoned"))?;
            if *gate != connection.generation {
                bail!("{}: the PKCS#11 module was finalised", self.uri);
            }
            let idle = connection.idle.lock().ok().and_then(|mut idle| idle.pop());
            let session = match idle {
                Some(session) => Ok(session),
                None => connection
                    .context
                    .open_rw_session(connection.slot)
                    .with_context(|| format!("{}: cannot open a session", self.uri)),
            };
            match session {
                Ok(session) => {
                    let result = f(&session);
                    match (&result, connection.idle.lock()) {
                        (Ok(_), Ok(mut idle)) => idle.push(session),
                        _ => drop(session),
                    }
                    result
                }
                Err(error) => Err(error),
            }
        };
        if result.is_err() {
            let mut current = self.connection.lock().unwrap_or_else(|p| p.into_inner());
            if current
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &connection))
            {
                tracing::warn!(uri = %self.uri, "the token stopped answering; reconnecting on the next call");
                // Dropped here, after the gate above was released.
                drop(current.take());
                self.forget_handles();
            }
        }
        result
    }

    /// That the token answers and holds the private keys named (looked up afresh): what
    /// `/readyz` asks.
    pub fn check(&self, names: &[&str]) -> anyhow::Result<()> {
        self.with_session(|session| {
            for name in names {
                self.find_private_key(session, name)?;
            }
            Ok(())
        })
    }

    fn forget_handles(&self) {
        if let Ok(mut handles) = self.handles.lock() {
            handles.clear();
        }
    }

    /// Generates a key pair for `alg` (`PS256`: RSA 2048; `ES256`: P-256) inside the token,
    /// private half sensitive and not extractable, with the public key's kid (RFC 7638
    /// thumbprint) as `CKA_ID` and a label saying it is pending since `since` (Unix seconds)
    /// until [`Token::confirm`] names it by its kid: a key whose row was never written (the
    /// rotation was killed) is found and destroyed by [`Token::pending`] and
    /// [`Token::destroy`]. Returns the public JWK and what the token says of the key.
    pub fn generate(
        &self,
        alg: &str,
        since: i64,
    ) -> anyhow::Result<(Map<String, Value>, Evidence)> {
        self.with_session(|session| {
            let temporary = uuid::Uuid::new_v4().as_bytes().to_vec();
            let (public_handle, private_handle) = self.generate_pair(session, alg, &temporary)?;
            let key = public_key(session, public_handle, alg)?;
            let jwk = jwk::public_jwk(&key, alg).map_err(|e| anyhow!("{e}"))?;
            let kid = jwk["kid"].as_str().unwrap_or_default().as_bytes().to_vec();
            let label = format!("{PENDING}{since}").into_bytes();
            for handle in [public_handle, private_handle] {
                session
                    .update_attributes(
                        handle,
                        &[Attribute::Id(kid.clone()), Attribute::Label(label.clone())],
                    )
                    .with_context(|| format!("{}: cannot name the new key", self.uri))?;
            }
            let evidence = evidence(session, private_handle)?;
            Ok((jwk, evidence))
        })
    }

    /// Names the key `kid` by its kid (`CKA_LABEL`): its row is written, it is no longer
    /// pending.
    pub fn confirm(&self, kid: &str) -> anyhow::Result<()> {
        self.with_session(|session| {
            for handle in session.find_objects(&[Attribute::Id(kid.as_bytes().to_vec())])? {
                session
                    .update_attributes(handle, &[Attribute::Label(kid.as_bytes().to_vec())])
                    .with_context(|| format!("{}: cannot name the key {kid:?}", self.uri))?;
            }
            Ok(())
        })
    }

    /// The keys still pending ([`Token::generate`]): (kid, since).
    pub fn pending(&self) -> anyhow::Result<Vec<(String, i64)>> {
        self.with_session(|session| {
            let mut found = vec![];
            let keys = session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])?;
            for handle in keys {
                let attributes =
                    session.get_attributes(handle, &[AttributeType::Id, AttributeType::Label])?;
                let (mut id, mut label) = (None, None);
                for attribute in attributes {
                    match attribute {
                        Attribute::Id(value) => id = String::from_utf8(value).ok(),
                        Attribute::Label(value) => label = String::from_utf8(value).ok(),
                        _ => {}
                    }
                }
                let since = label
                    .as_deref()
                    .and_then(|l| l.strip_prefix(PENDING))
                    .and_then(|s| s.parse().ok());
                if let (Some(id), Some(since)) = (id, since) {
                    found.push((id, since));
                }
            }
            Ok(found)
        })
    }

    /// Destroys both halves of the key `kid`.
    pub fn destroy(&self, kid: &str) -> anyhow::Result<()> {
        self.forget_handles();
        self.with_session(|session| {
            for handle in session.find_objects(&[Attribute::Id(kid.as_bytes().to_vec())])? {
                session
                    .destroy_object(handle)
                    .with_context(|| format!("{}: cannot destroy the key {kid:?}", self.uri))?;
            }
            Ok(())
        })
    }

    /// Generates a P-256 key pair named `name` (`CKA_ID` and `CKA_LABEL`), such as a CA's;
    /// refuses when the token already holds a key of that name (a key is never replaced).
    /// Returns the uncompressed public point and what the token says of the key.
    pub fn generate_named(&self, name: &str) -> anyhow::Result<(Vec<u8>, Evidence)> {
        self.with_session(|session| {
            let id = name.as_bytes().to_vec();
            let existing = session.find_objects(&[Attribute::Id(id.clone())])?;
            if !existing.is_empty() {
                bail!(
                    "{}: the token already holds a key named {name:?}; it is never replaced",
                    self.uri
                );
            }
            let (_, private_handle) = self.generate_pair(session, "ES256", &id)?;
            let point = self.point_of(session, name)?;
            Ok((point, evidence(session, private_handle)?))
        })
    }

    /// The Ed25519 key pair named `name` (a transparency log's): generated in the token the
    /// first time (sensitive, never extractable), found after; its 32-byte public key.
    pub fn ed25519_named(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        self.with_session(|session| {
            let id = name.as_bytes().to_vec();
            let found = session.find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(id.clone()),
            ])?;
            let public = match found.into_iter().next() {
                Some(public) => public,
                None => {
                    let (public, private) = self.generate_pair(session, "EdDSA", &id)?;
                    let evidence = evidence(session, private)?;
                    tracing::info!(
                        key = name,
                        local = evidence.local,
                        never_extractable = evidence.never_extractable,
                        "generated an Ed25519 key in the token"
                    );
                    public
                }
            };
            let point = session
                .get_attributes(public, &[AttributeType::EcPoint])?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::EcPoint(point) => Some(point),
                    _ => None,
                })
                .ok_or_else(|| anyhow!("{}: the key {name:?} has no public value", self.uri))?;
            // PKCS#11 3.0 wraps the key in a DER OCTET STRING; some tokens give it bare.
            match point.as_slice() {
                [0x04, 0x20, key @ ..] if key.len() == 32 => Ok(key.to_vec()),
                key if key.len() == 32 => Ok(key.to_vec()),
                _ => bail!("{}: the key {name:?} is not an Ed25519 key", self.uri),
            }
        })
    }

    /// Signs `message` (whole: Ed25519 hashes it itself) with the Ed25519 key named `name`.
    pub fn sign_ed25519(&self, name: &str, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519));
        self.with_session(|session| {
            let key = self.private_key(session, name)?;
            session
                .sign(&mechanism, key, message)
                .with_context(|| format!("{}: the token did not sign with {name:?}", self.uri))
        })
    }

    /// The uncompressed public point (`04 || X || Y`) of the P-256 key named `name`.
    pub fn ec_point(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        self.with_session(|session| self.point_of(session, name))
    }

    fn point_of(&self, session: &Session, name: &str) -> anyhow::Result<Vec<u8>> {
        let public = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(name.as_bytes().to_vec()),
            ])?
            .into_iter()
            .next()
            .ok_or_else(|| {
                anyhow!(
                    "{}: the token holds no public key with id {name:?}",
                    self.uri
                )
            })?;
        let key = public_key(session, public, "ES256")?;
        let ec = key.ec_key()?;
        let mut context = openssl::bn::BigNumContext::new()?;
        Ok(ec.public_key().to_bytes(
            ec.group(),
            openssl::ec::PointConversionForm::UNCOMPRESSED,
            &mut context,
        )?)
    }

    /// A key pair for `alg`, both halves with `CKA_ID` `id` (and `CKA_LABEL` when given a
    /// name); the private half sensitive, not extractable, for signing only.
    fn generate_pair(
        &self,
        session: &Session,
        alg: &str,
        id: &[u8],
    ) -> anyhow::Result<(ObjectHandle, ObjectHandle)> {
        let (mechanism, mut public) = match alg {
            "PS256" => (
                Mechanism::RsaPkcsKeyPairGen,
                vec![
                    Attribute::ModulusBits(2048.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                ],
            ),
            "ES256" => (
                Mechanism::EccKeyPairGen,
                vec![
                    Attribute::KeyType(KeyType::EC),
                    // DER of the OID of P-256 (1.2.840.10045.3.1.7).
                    Attribute::EcParams(vec![
                        0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07,
                    ]),
                ],
            ),
            "EdDSA" => (
                Mechanism::EccEdwardsKeyPairGen,
                vec![
                    Attribute::KeyType(KeyType::EC_EDWARDS),
                    // DER of the OID of Ed25519 (1.3.101.112, RFC 8410).
                    Attribute::EcParams(vec![0x06, 0x03, 0x2B, 0x65, 0x70]),
                ],
            ),
            other => bail!("unsupported signing algorithm {other:?}"),
        };
        public.extend([
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Id(id.to_vec()),
            Attribute::Label(id.to_vec()),
        ]);
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Id(id.to_vec()),
            Attribute::Label(id.to_vec()),
        ];
        session
            .generate_key_pair(&mechanism, &public, &private)
            .with_context(|| format!("{}: cannot generate a key pair", self.uri))
    }

    /// The private key named `kid`, from the handles found before when it is there.
    fn private_key(&self, session: &Session, kid: &str) -> anyhow::Result<ObjectHandle> {
        if let Some(handle) = self.handles.lock().ok().and_then(|h| h.get(kid).copied()) {
            return Ok(handle);
        }
        let handle = self.find_private_key(session, kid)?;
        if let Ok(mut handles) = self.handles.lock() {
            handles.insert(kid.to_owned(), handle);
        }
        Ok(handle)
    }

    /// The private key named `kid`, searched in the token.
    fn find_private_key(&self, session: &Session, kid: &str) -> anyhow::Result<ObjectHandle> {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(kid.as_bytes().to_vec()),
            ])
            .with_context(|| format!("{}: cannot search the token", self.uri))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                anyhow!(
                    "{}: the token holds no private key with id {kid:?}",
                    self.uri
                )
            })
    }

    /// What the token says of the private key named `kid`.
    pub fn evidence(&self, kid: &str) -> anyhow::Result<Evidence> {
        self.with_session(|session| evidence(session, self.find_private_key(session, kid)?))
    }

    /// Whether the private key named `kid` refuses to reveal its secret value (asking for it
    /// is refused as sensitive): what "never leaves the token" means, checked.
    pub fn refuses_to_reveal(&self, kid: &str) -> anyhow::Result<bool> {
        self.with_session(|session| {
            let key = self.find_private_key(session, kid)?;
            let asked = [AttributeType::PrivateExponent, AttributeType::Value];
            let info = session.get_attribute_info(key, &asked)?;
            Ok(info
                .iter()
                .all(|i| matches!(i, AttributeInfo::Sensitive | AttributeInfo::TypeInvalid)))
        })
    }

    /// Signs `message` with the private key named `kid` for JWS `alg`: `PS256` is RSASSA-PSS
    /// with SHA-256, MGF1-SHA-256 and a 32-byte salt; `ES256` is ECDSA over SHA-256, returned
    /// as JWS writes it (r || s, 64 bytes).
    pub fn sign(&self, kid: &str, alg: &str, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let digest = Sha256::digest(message);
        let mechanism = match alg {
            "PS256" => Mechanism::RsaPkcsPss(PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: PkcsMgfType::MGF1_SHA256,
                s_len: 32.into(),
            }),
            "ES256" => Mechanism::Ecdsa,
            other => bail!("unsupported signing algorithm {other:?}"),
        };
        self.with_session(|session| {
            let key = self.private_key(session, kid)?;
            session
                .sign(&mechanism, key, &digest)
                .with_context(|| format!("{}: the token did not sign with {kid:?}", self.uri))
        })
    }
}

/// Loads the module, finds the token by its label and logs in with the PIN of `pin-source`.
fn connect(uri: &TokenUri) -> anyhow::Result<Connection> {
    if CLOSED.load(Ordering::SeqCst) {
        bail!("{uri}: the PKCS#11 modules were finalised");
    }
    let gate = GENERATION
        .read()
        .map_err(|_| anyhow!("the PKCS#11 gate is poisoned"))?;
    let context = module(&uri.module_path)?;
    let slot = context
        .get_slots_with_token()
        .with_context(|| format!("{uri}: cannot list the module's slots"))?
        .into_iter()
        .find(|slot| {
            context
                .get_token_info(*slot)
                .is_ok_and(|info| info.label() == uri.token)
        })
        .ok_or_else(|| anyhow!("{uri}: the module has no token labelled {:?}", uri.token))?;
    let pin = std::fs::read_to_string(&uri.pin_source)
        .with_context(|| format!("{uri}: cannot read the PIN file"))?;
    let login = context
        .open_rw_session(slot)
        .with_context(|| format!("{uri}: cannot open a session"))?;
    match login.login(UserType::User, Some(&AuthPin::new(pin.trim().into()))) {
        Ok(()) => {}
        Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {}
        Err(error) => bail!("{uri}: cannot log in with the PIN of its pin-source: {error}"),
    }
    Ok(Connection {
        generation: *gate,
        context,
        slot,
        login: Mutex::new(Some(login)),
        idle: Mutex::new(Vec::new()),
    })
}

/// The public key of a key pair the token holds, as OpenSSL reads it.
fn public_key(session: &Session, handle: ObjectHandle, alg: &str) -> anyhow::Result<PKey<Public>> {
    let wanted: &[AttributeType] = if alg == "PS256" {
        &[AttributeType::Modulus, AttributeType::PublicExponent]
    } else {
        &[AttributeType::EcPoint]
    };
    let attributes = session.get_attributes(handle, wanted)?;
    let (mut modulus, mut exponent, mut point) = (None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::Modulus(n) => modulus = Some(n),
            Attribute::PublicExponent(e) => exponent = Some(e),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    if let (Some(n), Some(e)) = (modulus, exponent) {
        let rsa = openssl::rsa::Rsa::from_public_components(
            openssl::bn::BigNum::from_slice(&n)?,
            openssl::bn::BigNum::from_slice(&e)?,
        )?;
        return Ok(PKey::from_rsa(rsa)?);
    }
    let point = point.ok_or_else(|| anyhow!("the token gave no public key"))?;
    // CKA_EC_POINT is the uncompressed point wrapped in a DER OCTET STRING.
    let bytes = match point.as_slice() {
        [0x04, length, rest @ ..] if usize::from(*length) == rest.len() => rest,
        bare => bare,
    };
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?;
    let mut context = openssl::bn::BigNumContext::new()?;
    let point = openssl::ec::EcPoint::from_bytes(&group, bytes, &mut context)?;
    Ok(PKey::from_ec_key(openssl::ec::EcKey::from_public_key(
        &group, &point,
    )?)?)
}

fn evidence(session: &Session, handle: ObjectHandle) -> anyhow::Result<Evidence> {
    let mut evidence = Evidence {
        local: false,
        always_sensitive: false,
        never_extractable: false,
    };
    let asked = [
        AttributeType::Local,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
    ];
    for attribute in session.get_attributes(handle, &asked)? {
        match attribute {
            Attribute::Local(v) => evidence.local = v,
            Attribute::AlwaysSensitive(v) => evidence.always_sensitive = v,
            Attribute::NeverExtractable(v) => evidence.never_extractable = v,
            _ => {}
        }
    }
    Ok(evidence)
}

/// SoftHSM2 tokens for tests, in the configuration SoftHSM2 reads (`SOFTHSM2_CONF`, which
/// `scripts/test` points at a fresh folder, else the system's): a freshly initialised token
/// per call, labelled by the caller and this process, its PIN in a file. Panics, never skips,
/// when SoftHSM2 is missing (`scripts/test` installs it).
#[doc(hidden)]
pub mod softhsm {
    use std::process::Command;

    /// Where Debian's softhsm2 puts its module.
    pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

    /// A lock file (created exclusively) held while a token is initialised; one left by a
    /// process that died holding it is broken after a minute.
    struct InitLock(std::path::PathBuf);

    impl InitLock {
        fn take() -> anyhow::Result<Self> {
            let path = std::env::temp_dir().join("ssa-softhsm-init.lock");
            let started = std::time::Instant::now();
            loop {
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(_) => return Ok(Self(path)),
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                        let stale = std::fs::metadata(&path)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|at| at.elapsed().ok())
                            .is_some_and(|age| age > std::time::Duration::from_secs(60));
                        if stale {
                            let _ = std::fs::remove_file(&path);
                        } else if started.elapsed() > std::time::Duration::from_secs(120) {
                            anyhow::bail!("{} stays taken", path.display());
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        }
    }

    impl Drop for InitLock {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Finalises the modules when dropped: a test holds one from its start, so that the
    /// process never exits with SoftHSM2 initialised, even when the test fails.
    pub struct Finalize;

    impl Drop for Finalize {
        fn drop(&mut self) {
            super::finalize_all();
        }
    }

    /// Initialises a new token and returns its URI; its label is `name` and this process's
    /// id (token labels have 32 characters at most). An error says what is missing.
    pub fn token(name: &str) -> anyhow::Result<String> {
        if !std::path::Path::new(MODULE).exists() {
            anyhow::bail!(
                "SoftHSM2 is not installed ({MODULE} is missing): apt-get install softhsm2 (scripts/test does)"
            );
        }
        let label = format!("{name}-{}", std::process::id());
        if label.len() > 32 {
            anyhow::bail!("token label {label:?} is too long");
        }
        let pin = std::env::temp_dir().join(format!("ssa-softhsm-{label}.pin"));
        std::fs::write(&pin, "1234\n")?;
        // Test processes run at once and share SoftHSM2's token folder, where two
        // `--init-token --free` at the same moment trip over each other: one at a time.
        let _lock = InitLock::take()?;
        let output = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &label])
            .args(["--pin", "1234", "--so-pin", "5678"])
            .output()?;
        if !output.status.success() {
            anyhow::bail!(
                "softhsm2-util --init-token failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(format!(
            "pkcs11:token={label}?module-path={MODULE}&pin-source=file:{}",
            pin.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_born_in_the_token_never_leave_it_and_sign_verifiable_jws() {
        let _finalize = softhsm::Finalize;
        let uri: TokenUri = softhsm::token("unit").unwrap().parse().unwrap();
        let token = Token::open(&uri).unwrap();
        for alg in ["PS256", "ES256"] {
            let (public, evidence) = token.generate(alg, 0).unwrap();
            let kid = public["kid"].as_str().unwrap().to_owned();
            assert_eq!(
                evidence,
                Evidence {
                    local: true,
                    always_sensitive: true,
                    never_extractable: true
                },
                "{alg}"
            );
            assert_eq!(token.evidence(&kid).unwrap(), evidence);
            assert!(token.refuses_to_reveal(&kid).unwrap(), "{alg}");

            let header = jwk::b64(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#).as_bytes());
            let claims = jwk::b64(br#"{"sub":"x"}"#);
            let input = format!("{header}.{claims}");
            let signature = token.sign(&kid, alg, input.as_bytes()).unwrap();
            let jws = format!("{input}.{}", jwk::b64(&signature));
            let key: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(Value::Object(public)).unwrap();
            let key = jsonwebtoken::DecodingKey::from_jwk(&key).unwrap();
            let mut validation = jsonwebtoken::Validation::new(alg.parse().unwrap());
            validation.required_spec_claims.clear();
            validation.validate_exp = false;
            jsonwebtoken::decode::<Value>(&jws, &key, &validation)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        }
        assert!(token.sign("no-such-kid", "ES256", b"x").is_err());
        // A ring in the token holds what the token holds, and says what it lacks.
        let folder = tempfile::tempdir().unwrap();
        let ring = super::super::signing::KeyRing::new(folder.path(), None)
            .in_token(std::sync::Arc::new(Token::open(&uri).unwrap()));
        let (public, _) = token.generate("ES256", 0).unwrap();
        let row = |kid: &str| crate::model::keys::SigningKey {
            kid: crate::model::Kid::from_trusted(kid),
            purpose: crate::model::keys::KeyPurpose::Ssa,
            alg: "ES256".into(),
            public_jwk: String::new(),
            state: crate::model::keys::KeyState::Active,
            created_at: crate::model::Clock::now(&crate::model::SystemClock),
            retired_at: None,
            reference: Some(uri.object(kid)),
            evidence: None,
        };
        ring.check_held(&row(public["kid"].as_str().unwrap()))
            .unwrap();
        let error = ring.check_held(&row("absent")).unwrap_err().to_string();
        assert!(
            error.contains("signing key absent is active but the token pkcs11:token=unit-"),
            "{error}"
        );
        assert!(ring.files().unwrap().is_empty());
        // A second opening of the same token (another instance, or a restart) signs with
        // the same objects.
        let again = Token::open(&uri).unwrap();
        let (public, _) = token.generate("ES256", 0).unwrap();
        assert!(
            again
                .sign(public["kid"].as_str().unwrap(), "ES256", b"x")
                .is_ok()
        );
        drop((ring, again, token));
    }

    #[test]
    fn an_ed25519_key_is_made_once_in_the_token_and_signs_what_dalek_verifies() {
        let _finalize = softhsm::Finalize;
        let uri: TokenUri = softhsm::token("ed25519").unwrap().parse().unwrap();
        let token = Token::open(&uri).unwrap();
        let public = token.ed25519_named("log").unwrap();
        assert_eq!(
            token.ed25519_named("log").unwrap(),
            public,
            "found, not made again"
        );
        assert!(token.refuses_to_reveal("log").unwrap());
        let signature = token.sign_ed25519("log", b"a checkpoint").unwrap();
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&public.clone().try_into().unwrap()).unwrap();
        let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
        key.verify_strict(b"a checkpoint", &signature).unwrap();
        assert!(key.verify_strict(b"another", &signature).is_err());
    }

    #[test]
    fn a_wrong_pin_or_an_unknown_token_is_an_error_naming_the_uri() {
        let _finalize = softhsm::Finalize;
        let uri: TokenUri = softhsm::token("faults").unwrap().parse().unwrap();
        let unknown = TokenUri {
            token: "nowhere".into(),
            ..uri.clone()
        };
        let error = Token::open(&unknown).unwrap_err().to_string();
        assert!(error.contains("no token labelled \"nowhere\""), "{error}");
        let wrong = uri.pin_source.with_extension("wrong");
        std::fs::write(&wrong, "0000").unwrap();
        let error = Token::open(&TokenUri {
            pin_source: wrong,
            ..uri.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("cannot log in") && error.contains("token=faults-"),
            "{error}"
        );
        assert!(!error.contains("0000"), "{error}");
        let missing = TokenUri {
            module_path: "/nonexistent/module.so".into(),
            ..uri
        };
        let error = Token::open(&missing).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/module.so"), "{error}");
    }
}
