//! The directory's certificate authority: a root CA (10 years) and an issuing CA (5 years),
//! ECDSA P-256, kept in `keys/ca/` (keys mode 0600). An existing CA is used as it is; a
//! corrupt or half-present one is a start-up error, never silently replaced.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use openssl::sha::sha1;
use openssl::x509::X509;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use sha2::{Digest, Sha256};

use crate::keys::pkcs11::Token;
use crate::keys::{ensure_dir, read_secret, write_secret};

const ROOT_KEY: &str = "root-key.pem";
const ROOT_CERT: &str = "root-cert.pem";
const ISSUING_KEY: &str = "issuing-key.pem";
const ISSUING_CERT: &str = "issuing-cert.pem";
const FILES: [&str; 4] = [ROOT_KEY, ROOT_CERT, ISSUING_KEY, ISSUING_CERT];
/// With the keys in a token: the certificates are the only files.
const CERTIFICATES: [&str; 2] = [ROOT_CERT, ISSUING_CERT];
/// The names (`CKA_ID`, `CKA_LABEL`) of the CA's keys in a token.
const ROOT_KEY_NAME: &str = "ssa-directory-ca-root";
const ISSUING_KEY_NAME: &str = "ssa-directory-ca-issuing";

/// A private key of the CA: a PEM file in `keys/ca/`, or a P-256 key of the pkcs11
/// provider's token, which signs the digest of what rcgen (or the OCSP responder) asks and
/// never lets the key out.
pub enum CaKey {
    File(KeyPair),
    Token {
        token: Arc<Token>,
        name: String,
        /// The uncompressed public point.
        public: Vec<u8>,
    },
}

impl rcgen::PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::File(key) => key.der_bytes(),
            CaKey::Token { public, .. } => public,
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            CaKey::File(key) => key.algorithm(),
            CaKey::Token { .. } => &PKCS_ECDSA_P256_SHA256,
        }
    }
}

impl rcgen::SigningKey for CaKey {
    /// A DER ECDSA-Sig-Value (or the file key's own signature), as X.509 carries it.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::File(key) => key.sign(message),
            CaKey::Token { token, name, .. } => {
                let raw = token.sign(name, "ES256", message).map_err(|error| {
                    tracing::error!(error = %format!("{error:#}"), "the token did not sign for the CA");
                    rcgen::Error::RemoteKeyError
                })?;
                der_signature(&raw).ok_or(rcgen::Error::RemoteKeyError)
            }
        }
    }
}

/// An ECDSA signature as JWS and PKCS#11 write it (r || s) as X.509 wants it: the DER
/// SEQUENCE of the two INTEGERs.
fn der_signature(raw: &[u8]) -> Option<Vec<u8>> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let r = openssl::bn::BigNum::from_slice(r).ok()?;
    let s = openssl::bn::BigNum::from_slice(s).ok()?;
    openssl::ecdsa::EcdsaSig::from_private_components(r, s)
        .ok()?
        .to_der()
        .ok()
}

/// An issuing CA: its certificate, and the key that signs with it.
pub struct IssuingCa {
    pub pem: String,
    pub der: Vec<u8>,
    /// Signs certificates, CRLs and OCSP responses.
    pub issuer: Issuer<'static, CaKey>,
    /// DER of its subject name.
    pub name_der: Vec<u8>,
    /// Its public key (the BIT STRING contents of its SubjectPublicKeyInfo).
    pub public_key: Vec<u8>,
    /// Hex of the SHA-1 of its public key (its OCSP key hash): how certificates, CRLs and
    /// the CRL's address name it.
    pub id: String,
    /// When its certificate expires: nothing it signed outlives it.
    pub not_after: time::OffsetDateTime,
}

impl IssuingCa {
    /// (name hash, key hash) for OCSP, with SHA-1 or SHA-256.
    pub fn ocsp_hashes(&self, sha256: bool) -> (Vec<u8>, Vec<u8>) {
        if sha256 {
            (
                Sha256::digest(&self.name_der).to_vec(),
                Sha256::digest(&self.public_key).to_vec(),
            )
        } else {
            (
                sha1(&self.name_der).to_vec(),
                sha1(&self.public_key).to_vec(),
            )
        }
    }

    /// SHA-1 of the key: the OCSP responder id by key.
    pub fn key_hash(&self) -> Vec<u8> {
        sha1(&self.public_key).to_vec()
    }

    /// Whether this CA signed the certificate `pem`.
    pub fn signed(&self, pem: &str) -> bool {
        let key = openssl::pkey::PKey::public_key_from_der(
            rcgen::PublicKeyData::subject_public_key_info(self.issuer.key()).as_slice(),
        );
        match (X509::from_pem(pem.as_bytes()), key) {
            (Ok(cert), Ok(key)) => cert.verify(&key).unwrap_or(false),
            _ => false,
        }
    }

    /// The name of its key in the token, when the token holds it.
    pub fn token_key_name(&self) -> Option<&str> {
        match self.issuer.key() {
            CaKey::Token { name, .. } => Some(name),
            CaKey::File(_) => None,
        }
    }
}

/// The loaded CA: the root, the issuing CA that signs new certificates, and the earlier
/// issuing CAs ([`rotate`]), kept to sign CRLs and OCSP answers for the certificates they
/// signed until these expire.
pub struct Ca {
    pub root_pem: String,
    pub current: IssuingCa,
    /// Newest first; expired ones are left out.
    pub previous: Vec<IssuingCa>,
}

impl Ca {
    /// Every issuing CA (the current one first), then the root: every chain relying
    /// parties may need while the issuing CA is being replaced.
    pub fn chain_pem(&self) -> String {
        let mut chain: String = self.issuers().map(|i| i.pem.as_str()).collect();
        chain.push_str(&self.root_pem);
        chain
    }

    /// The current issuing CA, then the earlier ones.
    pub fn issuers(&self) -> impl Iterator<Item = &IssuingCa> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// The issuing CA with this id.
    pub fn issuing(&self, id: &str) -> Option<&IssuingCa> {
        self.issuers().find(|i| i.id == id)
    }

    /// The issuing CA that signed a certificate: the one its row names, or (rows written
    /// before issuers were recorded) the one whose signature it carries.
    pub fn issuer_of(&self, recorded: Option<&str>, pem: &str) -> Option<&IssuingCa> {
        match recorded {
            Some(id) => self.issuing(id),
            None if self.previous.is_empty() => Some(&self.current),
            None => self.issuers().find(|i| i.signed(pem)),
        }
    }

    /// The name of the current issuing key in the token, when the token holds it.
    pub fn token_key_name(&self) -> Option<&str> {
        self.current.token_key_name()
    }
}

/// A summary for `ca show`.
pub struct CaSummary {
    pub lines: Vec<String>,
}

fn dir(keys_dir: &Path) -> PathBuf {
    keys_dir.join("ca")
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "SSA Directory");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(common_name: &str, years: i64, path_len: Option<u8>) -> CertificateParams {
    let now = time::OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(365 * years + years / 4);
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = path_len.is_some();
    params.serial_number = Some(super::random_serial().0);
    params
}

/// Creates a new CA in `keys/ca/`; refuses if any CA file exists.
///
/// The four files are written into a staging folder beside `keys/ca/`, which then takes its
/// name in one rename: a process killed half-way leaves no partial CA behind (which would
/// stop every later start), only a staging folder that a later start removes.
pub fn init(keys_dir: &Path, token: Option<&Arc<Token>>) -> anyhow::Result<Ca> {
    match token {
        Some(token) => init_in(keys_dir, &|name| token_key(token, name, true)),
        None => init_with(keys_dir, &PKCS_ECDSA_P256_SHA256),
    }
}

/// A CA key of the token: generated (`fresh`) or found.
fn token_key(token: &Arc<Token>, name: &str, fresh: bool) -> anyhow::Result<CaKey> {
    let public = if fresh {
        let (public, evidence) = token.generate_named(name)?;
        tracing::info!(
            key = name,
            local = evidence.local,
            always_sensitive = evidence.always_sensitive,
            never_extractable = evidence.never_extractable,
            "generated a CA key in the token"
        );
        public
    } else {
        token
            .ec_point(name)
            .with_context(|| format!("the CA's key {name} is not in the token"))?
    };
    Ok(CaKey::Token {
        token: token.clone(),
        name: name.to_owned(),
        public,
    })
}

/// [`init`] with keys of another algorithm (what an operator's own CA may use).
pub(crate) fn init_with(
    keys_dir: &Path,
    algorithm: &'static rcgen::SignatureAlgorithm,
) -> anyhow::Result<Ca> {
    init_in(keys_dir, &|_| {
        KeyPair::generate_for(algorithm)
            .map(CaKey::File)
            .context("generating a CA key")
    })
}

/// Creates the CA with the keys `generate` makes for the root and the issuing CA.
fn init_in(
    keys_dir: &Path,
    generate: &dyn Fn(&'static str) -> anyhow::Result<CaKey>,
) -> anyhow::Result<Ca> {
    let dir = dir(keys_dir);
    if let Some(existing) = FILES.iter().find(|f| dir.join(f).exists()) {
        bail!(
            "{} exists: a CA is already present in {}; it is never replaced",
            dir.join(existing).display(),
            dir.display()
        );
    }
    ensure_dir(keys_dir)?;
    let root_key = generate(ROOT_KEY_NAME).context("generating the root key")?;
    let root_params = ca_params("SSA Directory Root CA", 10, None);
    let root_cert = root_params
        .self_signed(&root_key)
        .context("signing the root CA")?;
    let issuing_key = generate(ISSUING_KEY_NAME).context("generating the issuing key")?;
    let issuing_params = ca_params("SSA Directory Issuing CA", 5, Some(0));
    let root_issuer = Issuer::new(root_params, root_key);
    let issuing_cert = issuing_params
        .signed_by(&issuing_key, &root_issuer)
        .context("signing the issuing CA")?;

    let staging = keys_dir.join(format!(
        "{STAGING_PREFIX}{}",
        hex::encode(super::random_serial().0.to_bytes())
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let staged = (|| -> anyhow::Result<()> {
        for (file, key) in [(ROOT_KEY, root_issuer.key()), (ISSUING_KEY, &issuing_key)] {
            if let CaKey::File(key) = key {
                write_secret(&staging.join(file), key.serialize_pem().as_bytes())?;
            }
        }
        write_secret(&staging.join(ROOT_CERT), root_cert.pem().as_bytes())?;
        write_secret(&staging.join(ISSUING_CERT), issuing_cert.pem().as_bytes())?;
        // An empty keys/ca (created by hand, or by an older version) is replaced by the
        // rename; one holding anything else makes it fail.
        std::fs::rename(&staging, &dir).with_context(|| {
            format!(
                "cannot move the new CA into {}; it must be empty or absent",
                dir.display()
            )
        })?;
        std::fs::File::open(keys_dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", keys_dir.display()))
    })();
    if staged.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    staged?;
    tracing::info!(dir = %dir.display(), "created a new certificate authority");
    let in_token = match issuing_key {
        CaKey::Token { token, .. } => Some(token),
        CaKey::File(_) => None,
    };
    load(keys_dir, in_token.as_ref())
}

/// Prefix of the folder a new CA is written into before it becomes `keys/ca/`.
const STAGING_PREFIX: &str = ".tmp-ca-";

/// Removes the staging folders of CA creations that were interrupted (old enough that no
/// creation can still be at work in them).
fn remove_stale_staging(keys_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(keys_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(600));
        if stale
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(STAGING_PREFIX)
        {
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::warn!(folder = %path.display(), "removed an interrupted CA creation")
                }
                Err(error) => {
                    tracing::warn!(folder = %path.display(), %error, "cannot remove an interrupted CA creation")
                }
            }
        }
    }
}

/// Loads the CA, creating one when `keys/ca/` holds none of its files.
///
/// With a token, a new CA's keys are generated in it and only the certificates are files; a
/// CA whose key files exist keeps them (the provider decides where new keys are born).
pub fn load_or_init(keys_dir: &Path, token: Option<&Arc<Token>>) -> anyhow::Result<Ca> {
    remove_stale_staging(keys_dir);
    let dir = dir(keys_dir);
    let present: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect();
    // With a token, the keys may be objects of the token rather than files.
    let needed: &[&str] = match token {
        Some(_) => &CERTIFICATES,
        None => &FILES,
    };
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|f| !present.contains(f))
        .collect();
    match present.len() {
        0 => init(keys_dir, token),
        _ if missing.is_empty() => load(keys_dir, token),
        _ => bail!(
            "the CA in {} is incomplete: {} present but {} missing; restore keys/ca from a backup (a new CA is never created over a partial one)",
            dir.display(),
            present.join(", "),
            missing.join(", ")
        ),
    }
}

fn read_cert(path: &Path) -> anyhow::Result<(String, X509)> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cert = X509::from_pem(pem.as_bytes())
        .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
    Ok((pem, cert))
}

fn read_key(path: &Path) -> anyhow::Result<KeyPair> {
    let pem = String::from_utf8(read_secret(path)?)
        .with_context(|| format!("{} is not text", path.display()))?;
    KeyPair::from_pem(&pem)
        .with_context(|| format!("{} is not a usable private key", path.display()))
}

/// Loads and checks an existing CA: every key matches its certificate, the root signed
/// itself and every issuing CA. An issuing CA replaced by [`rotate`] is loaded from
/// `previous/ID/` until its certificate expires.
pub fn load(keys_dir: &Path, token: Option<&Arc<Token>>) -> anyhow::Result<Ca> {
    let dir = dir(keys_dir);
    finish_rotation(&dir)?;
    let (root_pem, root) = read_cert(&dir.join(ROOT_CERT))?;
    // The root's key signs only issuing CAs (`ca init`, `ca rotate`): serving needs only its
    // certificate, so the key may be kept offline.
    let root_public = root.public_key()?;
    if !root.verify(&root_public)? {
        bail!("{} is not self-signed", dir.join(ROOT_CERT).display());
    }
    if dir.join(ROOT_KEY).exists()
        && !same_key(&root, &CaKey::File(read_key(&dir.join(ROOT_KEY))?))?
    {
        bail!(
            "{} does not belong to {}",
            dir.join(ROOT_KEY).display(),
            dir.join(ROOT_CERT).display()
        );
    }
    let current = load_issuing(&dir, &root, token)?;
    let mut previous = vec![];
    let retired = dir.join(PREVIOUS);
    if retired.exists() {
        for entry in std::fs::read_dir(&retired)
            .with_context(|| format!("cannot list {}", retired.display()))?
        {
            let folder = entry?.path();
            let hidden = folder
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !folder.is_dir() || hidden {
                continue;
            }
            let issuing = load_issuing(&folder, &root, token)?;
            if issuing.not_after > time::OffsetDateTime::now_utc() {
                previous.push(issuing);
            }
        }
    }
    previous.sort_by_key(|i| std::cmp::Reverse(i.not_after));
    Ok(Ca {
        root_pem,
        current,
        previous,
    })
}

fn same_key(cert: &X509, key: &CaKey) -> anyhow::Result<bool> {
    use rcgen::PublicKeyData;
    Ok(cert.public_key()?.public_key_to_der()? == key.subject_public_key_info())
}

/// The issuing CA whose certificate (and key file, for a CA on files) is in `folder`; in a
/// token its key is named after its certificate's serial (the first one's plainly).
fn load_issuing(
    folder: &Path,
    root: &X509,
    token: Option<&Arc<Token>>,
) -> anyhow::Result<IssuingCa> {
    let cert_path = folder.join(ISSUING_CERT);
    let (pem, cert) = read_cert(&cert_path)?;
    let key = match token {
        Some(token) if !folder.join(ISSUING_KEY).exists() => {
            let serial = hex::encode(cert.serial_number().to_bn()?.to_vec());
            token_key(token, &format!("{ISSUING_KEY_NAME}-{serial}"), false)
                .or_else(|_| token_key(token, ISSUING_KEY_NAME, false))?
        }
        _ => CaKey::File(read_key(&folder.join(ISSUING_KEY))?),
    };
    if !same_key(&cert, &key)? {
        bail!(
            "{} does not belong to {}",
            folder.join(ISSUING_KEY).display(),
            cert_path.display()
        );
    }
    let root_public = root.public_key()?;
    if !cert.verify(&root_public)? {
        bail!("{} was not signed by the root CA", cert_path.display());
    }
    let der = cert.to_der()?;
    let name_der = cert.subject_name().to_der()?;
    let public_key = rcgen::PublicKeyData::der_bytes(&key).to_vec();
    let not_after = asn1_time(cert.not_after())?;
    let issuer = Issuer::from_ca_cert_pem(&pem, key)
        .with_context(|| format!("cannot use {} as an issuer", cert_path.display()))?;
    Ok(IssuingCa {
        id: hex::encode(sha1(&public_key)),
        pem,
        der,
        issuer,
        name_der,
        public_key,
        not_after,
    })
}

fn asn1_time(at: &openssl::asn1::Asn1TimeRef) -> anyhow::Result<time::OffsetDateTime> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0)?;
    let diff = epoch.diff(at)?;
    Ok(time::OffsetDateTime::UNIX_EPOCH
        + time::Duration::days(i64::from(diff.days))
        + time::Duration::seconds(i64::from(diff.secs)))
}

/// Where earlier issuing CAs are kept, each in a folder named by its id.
const PREVIOUS: &str = "previous";
/// Suffix of the new issuing CA's files while [`rotate`] puts them in place.
const NEW: &str = ".new";

/// Finishes a rotation that was interrupted after the current issuing CA was kept in
/// `previous/` and the new certificate written: the new files take their names, and a key
/// file of the replaced CA (kept in `previous/`) goes when the new key is in the token. A
/// new key file without its certificate (the rotation stopped before) is removed.
fn finish_rotation(dir: &Path) -> anyhow::Result<()> {
    let cert_new = dir.join(format!("{ISSUING_CERT}{NEW}"));
    let key_new = dir.join(format!("{ISSUING_KEY}{NEW}"));
    if !cert_new.exists() {
        if key_new.exists() {
            std::fs::remove_file(&key_new)
                .with_context(|| format!("cannot remove {}", key_new.display()))?;
        }
        return Ok(());
    }
    let key = dir.join(ISSUING_KEY);
    if key_new.exists() {
        std::fs::rename(&key_new, &key)
            .with_context(|| format!("cannot finish the rotation: {}", key_new.display()))?;
    } else if key.exists() {
        let (_, cert) = read_cert(&cert_new)?;
        if !same_key(&cert, &CaKey::File(read_key(&key)?))? {
            std::fs::remove_file(&key)
                .with_context(|| format!("cannot remove {}", key.display()))?;
        }
    }
    std::fs::rename(&cert_new, dir.join(ISSUING_CERT))
        .with_context(|| format!("cannot finish the rotation: {}", cert_new.display()))?;
    tracing::warn!(folder = %dir.display(), "put a new issuing CA in place");
    Ok(())
}

/// Replaces the issuing CA: a new key (in the token with the pkcs11 provider, else a file)
/// and a certificate from the root for five years. The current issuing CA moves to
/// `previous/ID/` and goes on signing CRLs and OCSP answers for the certificates it signed
/// until they expire; running instances take the new one when they restart. Returns the
/// CA as loaded after.
///
/// Crash-safe: the current CA is copied into `previous/` (one folder rename) before the new
/// files are written beside the old ones and renamed over them; a start finds and finishes a
/// rotation interrupted after that.
pub fn rotate(keys_dir: &Path, token: Option<&Arc<Token>>) -> anyhow::Result<Ca> {
    let ca = load(keys_dir, token)?;
    let dir = dir(keys_dir);
    let root_key = match token.filter(|_| !dir.join(ROOT_KEY).exists()) {
        Some(token) => token_key(token, ROOT_KEY_NAME, false)?,
        None => CaKey::File(read_key(&dir.join(ROOT_KEY)).context(
            "the root CA's key signs the new issuing CA: bring it back for the rotation",
        )?),
    };
    let (_, root_cert) = read_cert(&dir.join(ROOT_CERT))?;
    if !same_key(&root_cert, &root_key)? {
        bail!(
            "the root CA's key does not belong to {}",
            dir.join(ROOT_CERT).display()
        );
    }
    let root_issuer = Issuer::from_ca_cert_pem(&ca.root_pem, root_key)
        .context("cannot use the root CA as an issuer")?;
    let mut params = ca_params("SSA Directory Issuing CA", 5, Some(0));
    let serial = params.serial_number.clone().context("a serial")?;
    let key = match token {
        Some(token) => token_key(
            token,
            &format!("{ISSUING_KEY_NAME}-{}", hex::encode(serial.to_bytes())),
            true,
        )?,
        None => CaKey::File(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?),
    };
    params.serial_number = Some(serial);
    let cert = params
        .signed_by(&key, &root_issuer)
        .context("signing the new issuing CA")?;

    // The current issuing CA, kept.
    let kept = dir.join(PREVIOUS).join(&ca.current.id);
    ensure_dir(&dir.join(PREVIOUS))?;
    let staging = dir
        .join(PREVIOUS)
        .join(format!("{STAGING_PREFIX}{}", ca.current.id));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
    for file in [ISSUING_CERT, ISSUING_KEY] {
        if dir.join(file).exists() {
            write_secret(&staging.join(file), &read_secret(&dir.join(file))?)?;
        }
    }
    std::fs::rename(&staging, &kept)
        .with_context(|| format!("cannot keep the current issuing CA in {}", kept.display()))?;

    // The new one, written beside and renamed over the current files.
    if let CaKey::File(key) = &key {
        write_secret(
            &dir.join(format!("{ISSUING_KEY}{NEW}")),
            key.serialize_pem().as_bytes(),
        )?;
    }
    write_secret(
        &dir.join(format!("{ISSUING_CERT}{NEW}")),
        cert.pem().as_bytes(),
    )?;
    finish_rotation(&dir)?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))?;
    tracing::info!(previous = %ca.current.id, "replaced the issuing CA");
    load(keys_dir, token)
}

/// Subjects, fingerprints and validity of the CA certificates (the root, the current
/// issuing CA and the earlier ones kept), and where each key is held: its file, or its
/// object in the token with what the token says of it.
pub fn show(keys_dir: &Path, token: Option<&Arc<Token>>) -> anyhow::Result<CaSummary> {
    let dir = dir(keys_dir);
    let mut certificates = vec![
        ("root".to_owned(), dir.join(ROOT_CERT), dir.join(ROOT_KEY)),
        (
            "issuing".to_owned(),
            dir.join(ISSUING_CERT),
            dir.join(ISSUING_KEY),
        ),
    ];
    if let Ok(entries) = std::fs::read_dir(dir.join(PREVIOUS)) {
        let mut folders: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        folders.sort();
        for folder in folders {
            certificates.push((
                "previous issuing".to_owned(),
                folder.join(ISSUING_CERT),
                folder.join(ISSUING_KEY),
            ));
        }
    }
    let mut lines = vec![];
    for (label, file, key_file) in certificates {
        let (_, cert) = read_cert(&file)?;
        let subject: Vec<String> = cert
            .subject_name()
            .entries()
            .map(|e| {
                format!(
                    "{}={}",
                    e.object().nid().short_name().unwrap_or("?"),
                    e.data().to_string().unwrap_or_default()
                )
            })
            .collect();
        let fingerprint = hex::encode_upper(cert.digest(openssl::hash::MessageDigest::sha256())?);
        lines.push(format!("{label} CA: {}", subject.join(", ")));
        lines.push(format!("  file:        {}", file.display()));
        lines.push(format!("  SHA-256:     {fingerprint}"));
        lines.push(format!("  not before:  {}", cert.not_before()));
        lines.push(format!("  not after:   {}", cert.not_after()));
        lines.push(format!(
            "  key:         {}",
            key_held(&cert, &label, &key_file, token)
        ));
    }
    Ok(CaSummary { lines })
}

/// Where a CA key is held, for `ca show`.
fn key_held(cert: &X509, label: &str, key_file: &Path, token: Option<&Arc<Token>>) -> String {
    if key_file.exists() {
        return format!("file {}", key_file.display());
    }
    let Some(token) = token else {
        return "in a PKCS#11 token (configure key_provider = \"pkcs11\" to see it)".into();
    };
    let mut names = vec![];
    if label == "root" {
        names.push(ROOT_KEY_NAME.to_owned());
    } else {
        if let Ok(serial) = cert
            .serial_number()
            .to_bn()
            .map(|bn| hex::encode(bn.to_vec()))
        {
            names.push(format!("{ISSUING_KEY_NAME}-{serial}"));
        }
        names.push(ISSUING_KEY_NAME.to_owned());
    }
    for name in names {
        if let Ok(evidence) = token.evidence(&name) {
            let said = |holds: bool, what: &str| {
                if holds {
                    what.to_owned()
                } else {
                    format!("NOT {what}")
                }
            };
            return format!(
                "token {} ({}, {}, {})",
                token.uri().object(&name),
                said(evidence.local, "local"),
                said(evidence.always_sensitive, "always sensitive"),
                said(evidence.never_extractable, "never extractable")
            );
        }
    }
    format!("missing: neither a file nor an object of {}", token.uri())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_ca_loads_and_the_issuing_ca_chains_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let ca = init(dir.path(), None).unwrap();
        let again = load_or_init(dir.path(), None).unwrap();
        assert_eq!(
            ca.current.pem, again.current.pem,
            "the existing CA is used as is"
        );
        let issuing = X509::from_pem(ca.current.pem.as_bytes()).unwrap();
        let root = X509::from_pem(ca.root_pem.as_bytes()).unwrap();
        assert!(issuing.verify(&root.public_key().unwrap()).unwrap());
        assert!(init(dir.path(), None).is_err(), "init never replaces a CA");
        let summary = show(dir.path(), None).unwrap().lines.join("\n");
        assert!(summary.contains("CN=SSA Directory Root CA"), "{summary}");
    }

    #[test]
    fn a_rotation_keeps_the_replaced_issuing_ca_and_finishes_when_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let first = init(dir.path(), None).unwrap();
        let rotated = rotate(dir.path(), None).unwrap();
        assert_ne!(rotated.current.id, first.current.id);
        let kept: Vec<&str> = rotated.previous.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(kept, [first.current.id.as_str()]);
        // Both chain to the root; the chain holds both issuing CAs.
        let root = X509::from_pem(rotated.root_pem.as_bytes()).unwrap();
        for issuing in rotated.issuers() {
            let cert = X509::from_pem(issuing.pem.as_bytes()).unwrap();
            assert!(cert.verify(&root.public_key().unwrap()).unwrap());
            assert!(rotated.chain_pem().contains(&issuing.pem));
        }
        // Which CA signed a certificate, for rows that do not say.
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let params = CertificateParams::new(vec!["leaf.example".into()]).unwrap();
        let leaf = params
            .signed_by(&leaf_key, &rotated.previous[0].issuer)
            .unwrap();
        let signer = rotated.issuer_of(None, &leaf.pem()).unwrap();
        assert_eq!(signer.id, first.current.id);

        // A rotation killed after writing the new certificate, before renaming it: the next
        // load finishes it.
        let ca_dir = dir.path().join("ca");
        let third = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root_issuer = Issuer::from_ca_cert_pem(
            &rotated.root_pem,
            CaKey::File(read_key(&ca_dir.join(ROOT_KEY)).unwrap()),
        )
        .unwrap();
        let cert = ca_params("SSA Directory Issuing CA", 5, Some(0))
            .signed_by(&third, &root_issuer)
            .unwrap();
        let kept = ca_dir.join(PREVIOUS).join(&rotated.current.id);
        std::fs::create_dir(&kept).unwrap();
        for file in [ISSUING_CERT, ISSUING_KEY] {
            std::fs::copy(ca_dir.join(file), kept.join(file)).unwrap();
        }
        write_secret(
            &ca_dir.join(format!("{ISSUING_KEY}{NEW}")),
            third.serialize_pem().as_bytes(),
        )
        .unwrap();
        write_secret(
            &ca_dir.join(format!("{ISSUING_CERT}{NEW}")),
            cert.pem().as_bytes(),
        )
        .unwrap();
        let finished = load_or_init(dir.path(), None).unwrap();
        assert_eq!(finished.current.pem, cert.pem());
        assert_eq!(finished.previous.len(), 2);
        let summary = show(dir.path(), None).unwrap().lines.join("\n");
        assert_eq!(
            summary.matches("previous issuing CA").count(),
            2,
            "{summary}"
        );
    }

    #[test]
    fn an_interrupted_creation_leaves_no_partial_ca() {
        let dir = tempfile::tempdir().unwrap();
        // What a creation killed after two of its four files leaves behind.
        let staging = dir.path().join(format!("{STAGING_PREFIX}dead"));
        std::fs::create_dir(&staging).unwrap();
        write_secret(&staging.join(ROOT_KEY), b"half").unwrap();
        write_secret(&staging.join(ROOT_CERT), b"half").unwrap();
        std::fs::create_dir(dir.path().join("ca")).unwrap();
        let ca = load_or_init(dir.path(), None).expect("a new CA over an empty keys/ca");
        assert!(ca.chain_pem().contains("BEGIN CERTIFICATE"));
        assert!(load(dir.path(), None).is_ok());
    }

    #[test]
    fn a_half_present_or_corrupt_ca_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), None).unwrap();
        let key = dir.path().join("ca").join(ISSUING_KEY);
        std::fs::remove_file(&key).unwrap();
        let err = load_or_init(dir.path(), None).err().unwrap().to_string();
        assert!(
            err.contains("incomplete") && err.contains(ISSUING_KEY),
            "{err}"
        );

        write_secret(&key, b"not a key").unwrap();
        let err = format!("{:#}", load_or_init(dir.path(), None).err().unwrap());
        assert!(err.contains(ISSUING_KEY), "{err}");
    }
}
