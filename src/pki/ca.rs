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
        name: &'static str,
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

/// The loaded CA: certificates for publication, the issuing key for signing.
pub struct Ca {
    pub root_pem: String,
    pub issuing_pem: String,
    pub issuing_der: Vec<u8>,
    /// Signs certificates, CRLs and OCSP responses.
    pub issuer: Issuer<'static, CaKey>,
    /// DER of the issuing CA's subject name.
    pub issuing_name_der: Vec<u8>,
    /// The issuing CA's public key (the BIT STRING contents of its SubjectPublicKeyInfo).
    pub issuing_public_key: Vec<u8>,
}

impl Ca {
    /// Issuing CA then root, as relying parties want the chain.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.issuing_pem, self.root_pem)
    }

    /// (name hash, key hash) of the issuing CA for OCSP, with SHA-1 or SHA-256.
    pub fn ocsp_hashes(&self, sha256: bool) -> (Vec<u8>, Vec<u8>) {
        if sha256 {
            (
                Sha256::digest(&self.issuing_name_der).to_vec(),
                Sha256::digest(&self.issuing_public_key).to_vec(),
            )
        } else {
            (
                sha1(&self.issuing_name_der).to_vec(),
                sha1(&self.issuing_public_key).to_vec(),
            )
        }
    }

    /// The name of the issuing key in the token, when the token holds it.
    pub fn token_key_name(&self) -> Option<&'static str> {
        match self.issuer.key() {
            CaKey::Token { name, .. } => Some(name),
            CaKey::File(_) => None,
        }
    }

    /// SHA-1 of the issuing key: the OCSP responder id by key.
    pub fn key_hash(&self) -> Vec<u8> {
        sha1(&self.issuing_public_key).to_vec()
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
fn token_key(token: &Arc<Token>, name: &'static str, fresh: bool) -> anyhow::Result<CaKey> {
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
        name,
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
    let expected: &[&str] = match token {
        Some(_) if !present.contains(&ROOT_KEY) && !present.contains(&ISSUING_KEY) => &CERTIFICATES,
        _ => &FILES,
    };
    match present.len() {
        0 => init(keys_dir, token),
        n if n == expected.len() => load(keys_dir, token),
        _ => {
            let missing: Vec<&str> = expected
                .iter()
                .copied()
                .filter(|f| !present.contains(f))
                .collect();
            bail!(
                "the CA in {} is incomplete: {} present but {} missing; restore keys/ca from a backup (a new CA is never created over a partial one)",
                dir.display(),
                present.join(", "),
                missing.join(", ")
            )
        }
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

/// Loads and checks an existing CA: both keys match their certificates, the root signed
/// itself and the issuing CA.
pub fn load(keys_dir: &Path, token: Option<&Arc<Token>>) -> anyhow::Result<Ca> {
    let dir = dir(keys_dir);
    let (root_pem, root) = read_cert(&dir.join(ROOT_CERT))?;
    let (issuing_pem, issuing) = read_cert(&dir.join(ISSUING_CERT))?;
    // Key files, when there are: a CA made with files keeps them.
    let (root_key, issuing_key) = match token {
        Some(token) if !dir.join(ROOT_KEY).exists() && !dir.join(ISSUING_KEY).exists() => (
            token_key(token, ROOT_KEY_NAME, false)?,
            token_key(token, ISSUING_KEY_NAME, false)?,
        ),
        _ => (
            CaKey::File(read_key(&dir.join(ROOT_KEY))?),
            CaKey::File(read_key(&dir.join(ISSUING_KEY))?),
        ),
    };
    let same_key = |cert: &X509, key: &CaKey| -> anyhow::Result<bool> {
        use rcgen::PublicKeyData;
        Ok(cert.public_key()?.public_key_to_der()? == key.subject_public_key_info())
    };
    if !same_key(&root, &root_key)? {
        bail!(
            "{} does not belong to {}",
            dir.join(ROOT_KEY).display(),
            dir.join(ROOT_CERT).display()
        );
    }
    if !same_key(&issuing, &issuing_key)? {
        bail!(
            "{} does not belong to {}",
            dir.join(ISSUING_KEY).display(),
            dir.join(ISSUING_CERT).display()
        );
    }
    let root_public = root.public_key()?;
    if !root.verify(&root_public)? || !issuing.verify(&root_public)? {
        bail!(
            "{} was not signed by {}",
            dir.join(ISSUING_CERT).display(),
            dir.join(ROOT_CERT).display()
        );
    }
    let issuing_der = issuing.to_der()?;
    let issuing_name_der = issuing.subject_name().to_der()?;
    let issuing_public_key = rcgen::PublicKeyData::der_bytes(&issuing_key).to_vec();
    let issuer = Issuer::from_ca_cert_pem(&issuing_pem, issuing_key).with_context(|| {
        format!(
            "cannot use {} as an issuer",
            dir.join(ISSUING_CERT).display()
        )
    })?;
    Ok(Ca {
        root_pem,
        issuing_pem,
        issuing_der,
        issuer,
        issuing_name_der,
        issuing_public_key,
    })
}

/// Subjects, fingerprints and validity of the CA certificates.
pub fn show(keys_dir: &Path) -> anyhow::Result<CaSummary> {
    let dir = dir(keys_dir);
    let mut lines = vec![];
    for (label, file) in [("root", ROOT_CERT), ("issuing", ISSUING_CERT)] {
        let (_, cert) = read_cert(&dir.join(file))?;
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
        lines.push(format!("  file:        {}", dir.join(file).display()));
        lines.push(format!("  SHA-256:     {fingerprint}"));
        lines.push(format!("  not before:  {}", cert.not_before()));
        lines.push(format!("  not after:   {}", cert.not_after()));
    }
    Ok(CaSummary { lines })
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
            ca.issuing_pem, again.issuing_pem,
            "the existing CA is used as is"
        );
        let issuing = X509::from_pem(ca.issuing_pem.as_bytes()).unwrap();
        let root = X509::from_pem(ca.root_pem.as_bytes()).unwrap();
        assert!(issuing.verify(&root.public_key().unwrap()).unwrap());
        assert!(init(dir.path(), None).is_err(), "init never replaces a CA");
        let summary = show(dir.path()).unwrap().lines.join("\n");
        assert!(summary.contains("CN=SSA Directory Root CA"), "{summary}");
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
