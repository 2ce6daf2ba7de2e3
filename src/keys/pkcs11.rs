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
use std::sync::{LazyLock, Mutex, RwLock};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    pub local: bool,
    pub always_sensitive: bool,
    pub never_extractable: bool,
}

/// Loaded modules, one context per module for the whole process (`C_Initialize` once).
static MODULES: LazyLock<Mutex<HashMap<PathBuf, Pkcs11>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// How many times the modules were finalised. Every call into a module holds this for
/// reading, and a token opened in an earlier generation refuses to call: [`finalize_all`]
/// (which holds it for writing) never runs while a call is in flight, and no call reaches a
/// finalised module.
static GENERATION: RwLock<u64> = RwLock::new(0);

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

/// Finalises every loaded module (`C_Finalize`): call once nothing signs any more, before
/// the process exits. A later use fails (and a token must be opened again). Some modules
/// crash at exit when they were not finalised (SoftHSM2 2.6 with OpenSSL 3 does, now and
/// then), so the server calls this when it has stopped.
pub fn finalize_all() {
    let Ok(mut generation) = GENERATION.write() else {
        return;
    };
    let contexts: Vec<Pkcs11> = match MODULES.lock() {
        Ok(mut modules) => modules.drain().map(|(_, context)| context).collect(),
        Err(_) => return,
    };
    for context in contexts {
        if let Err(error) = context.finalize() {
            tracing::warn!(%error, "a PKCS#11 module did not finalise");
        }
    }
    *generation += 1;
}

/// An open, logged-in token.
pub struct Token {
    uri: TokenUri,
    /// The modules' generation the token was opened in.
    generation: u64,
    context: Pkcs11,
    slot: Slot,
    /// Keeps the application logged in while the token is open.
    login: Mutex<Option<Session>>,
    /// Sessions ready to sign with.
    idle: Mutex<Vec<Session>>,
}

/// Closes the token's sessions, unless the module was finalised meanwhile: then they are
/// left alone (a finalised module must not be called, and it closed them itself).
impl Drop for Token {
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

impl Token {
    /// Loads the module, finds the token by its label and logs in with the PIN of
    /// `pin-source`. Errors name the URI (which holds no PIN) and what is missing.
    pub fn open(uri: &TokenUri) -> anyhow::Result<Self> {
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
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(error) => bail!("{uri}: cannot log in with the PIN of its pin-source: {error}"),
        }
        Ok(Self {
            uri: uri.clone(),
            generation: *gate,
            context,
            slot,
            login: Mutex::new(Some(login)),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The token of `config`'s pkcs11 key provider, opened; `None` with the file provider.
    pub fn configured(
        config: &crate::config::Config,
    ) -> anyhow::Result<Option<std::sync::Arc<Self>>> {
        Ok(match config.token_uri()? {
            Some(uri) => Some(std::sync::Arc::new(Self::open(&uri)?)),
            None => None,
        })
    }

    /// The URI the token was opened with.
    pub fn uri(&self) -> &TokenUri {
        &self.uri
    }

    /// Runs `f` with a session of the pool (a new one when none is idle); a session whose
    /// call failed is closed instead of going back.
    fn with_session<T>(&self, f: impl FnOnce(&Session) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let gate = GENERATION
            .read()
            .map_err(|_| anyhow!("the PKCS#11 gate is poisoned"))?;
        if *gate != self.generation {
            bail!("{}: the PKCS#11 module was finalised", self.uri);
        }
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let session = match idle {
            Some(session) => session,
            None => self
                .context
                .open_rw_session(self.slot)
                .with_context(|| format!("{}: cannot open a session", self.uri))?,
        };
        let result = f(&session);
        if result.is_ok()
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push(session);
        }
        result
    }

    /// Generates a key pair for `alg` (`PS256`: RSA 2048; `ES256`: P-256) inside the token,
    /// private half sensitive and not extractable, and names both halves by the public key's
    /// kid (RFC 7638 thumbprint) as `CKA_ID` and `CKA_LABEL`. Returns the public JWK and what
    /// the token says of the key.
    pub fn generate(&self, alg: &str) -> anyhow::Result<(Map<String, Value>, Evidence)> {
        self.with_session(|session| {
            let temporary = uuid::Uuid::new_v4().as_bytes().to_vec();
            let (public_handle, private_handle) = self.generate_pair(session, alg, &temporary)?;
            let key = public_key(session, public_handle, alg)?;
            let jwk = jwk::public_jwk(&key, alg).map_err(|e| anyhow!("{e}"))?;
            let kid = jwk["kid"].as_str().unwrap_or_default().as_bytes().to_vec();
            for handle in [public_handle, private_handle] {
                session
                    .update_attributes(
                        handle,
                        &[Attribute::Id(kid.clone()), Attribute::Label(kid.clone())],
                    )
                    .with_context(|| format!("{}: cannot name the new key", self.uri))?;
            }
            let evidence = evidence(session, private_handle)?;
            Ok((jwk, evidence))
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

    /// The private key named `kid`.
    fn private_key(&self, session: &Session, kid: &str) -> anyhow::Result<ObjectHandle> {
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
        self.with_session(|session| evidence(session, self.private_key(session, kid)?))
    }

    /// Whether the private key named `kid` refuses to reveal its secret value (asking for it
    /// is refused as sensitive): what "never leaves the token" means, checked.
    pub fn refuses_to_reveal(&self, kid: &str) -> anyhow::Result<bool> {
        self.with_session(|session| {
            let key = self.private_key(session, kid)?;
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
            let (public, evidence) = token.generate(alg).unwrap();
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
        let (public, _) = token.generate("ES256").unwrap();
        let held = crate::model::Kid::from_trusted(public["kid"].as_str().unwrap());
        let active = crate::model::keys::KeyState::Active;
        ring.check_held(&held, active).unwrap();
        let error = ring
            .check_held(&crate::model::Kid::from_trusted("absent"), active)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("signing key absent is active but the token pkcs11:token=unit-"),
            "{error}"
        );
        assert!(ring.files().unwrap().is_empty());
        // A second opening of the same token (another instance, or a restart) signs with
        // the same objects.
        let again = Token::open(&uri).unwrap();
        let (public, _) = token.generate("ES256").unwrap();
        assert!(
            again
                .sign(public["kid"].as_str().unwrap(), "ES256", b"x")
                .is_ok()
        );
        drop((ring, again, token));
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
