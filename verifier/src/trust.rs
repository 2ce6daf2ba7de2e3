//! The sans-IO core: what one directory is trusted for, checked with no network and at a
//! time the caller gives.

use std::time::SystemTime;

use crate::certificate::{self, CaChain, CertificateInfo, Crl};
use crate::error::VerifyError;
use crate::keys::KeySet;
use crate::registration::ClientMetadata;
use crate::settings::Settings;
use crate::statement::{self, SoftwareStatement, unknown_key};

/// One directory's issuer name, signing keys and (for client certificates) CA chain. Every
/// check takes the settings and the time; nothing here fetches, caches or reads a clock, so
/// an authorization server can keep the documents however it likes (its own cache, a
/// database, files shipped with it) and test with any time.
///
/// ```
/// use std::time::SystemTime;
/// use ssa_verifier::{ErrorCode, KeySet, Settings, Trust};
///
/// let keys = KeySet::from_json(r#"{"keys": []}"#)?;
/// let trust = Trust::new("https://directory.example", keys);
/// let refused = trust
///     .verify_statement("not.a.statement", &Settings::default(), SystemTime::now())
///     .unwrap_err();
/// assert_eq!(refused.code, ErrorCode::InvalidSoftwareStatement);
/// # Ok::<(), ssa_verifier::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Trust {
    issuer: String,
    keys: KeySet,
    ca: Option<CaChain>,
}

impl Trust {
    /// Trusts statements whose `iss` is `issuer`, signed by a key of `keys`.
    pub fn new(issuer: impl Into<String>, keys: KeySet) -> Self {
        Self {
            issuer: issuer.into(),
            keys,
            ca: None,
        }
    }

    /// Also checks client certificates against this CA chain.
    pub fn with_ca_chain(mut self, chain: CaChain) -> Self {
        self.ca = Some(chain);
        self
    }

    /// The trusted issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The directory's signing keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Verifies a software statement at `now`: compact JWS, an allowed algorithm, a key of
    /// the set, a valid signature, the trusted issuer, current `iat`/`exp` (with the clock
    /// skew and maximum age of `settings`), and the claims its profile requires.
    pub fn verify_statement(
        &self,
        token: &str,
        settings: &Settings,
        now: SystemTime,
    ) -> Result<SoftwareStatement, VerifyError> {
        statement::verify(
            token,
            &self.issuer,
            &|kid| self.keys.get(kid).ok_or_else(|| unknown_key(kid)),
            settings,
            crate::clock::unix(now),
        )
    }

    /// Verifies a change event, an RFC 8417 SET read from the directory's feed or pushed to
    /// you: `typ` `secevent+jwt`, signed by a key of the set, issued by the directory.
    pub fn verify_event(
        &self,
        set: &str,
        settings: &Settings,
    ) -> Result<crate::events::ChangeEvent, VerifyError> {
        crate::events::verify(
            set,
            &self.issuer,
            &|kid| self.keys.get(kid).ok_or_else(|| unknown_key(kid)),
            settings,
        )
    }

    /// Checks a client certificate (PEM) at `now`: the chain to the CA, validity, clientAuth
    /// in its extended key usage, revocation with `crl` (signed by the issuing CA; see
    /// [`Revocation`](crate::Revocation) for what a missing or expired one means), and its
    /// binding to the statement (and, for `tls_client_auth`, to the registration's
    /// `tls_client_auth_subject_dn`).
    pub fn verify_client_certificate(
        &self,
        certificate_pem: &str,
        statement: &SoftwareStatement,
        registration: Option<&ClientMetadata>,
        crl: Option<&Crl>,
        settings: &Settings,
        now: SystemTime,
    ) -> Result<CertificateInfo, VerifyError> {
        let ca = self.ca.as_ref().ok_or_else(|| {
            VerifyError::metadata("no CA chain is configured to check client certificates")
        })?;
        certificate::verify(
            certificate_pem,
            ca,
            crl,
            statement,
            registration,
            settings,
            now,
        )
    }
}

impl Trust {
    #[cfg(feature = "fetch")]
    pub(crate) fn into_parts(self) -> (String, KeySet, Option<CaChain>) {
        (self.issuer, self.keys, self.ca)
    }
}
