//! What the verifier accepts. [`Settings::default()`] is the recommended policy; each setter
//! changes one rule.

use std::time::Duration;

use serde::Serialize;

use crate::algorithm::Algorithm;

/// Which claim names a statement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Profile {
    /// UK Open Banking names: `software_client_name`, `software_redirect_uris`, ….
    Obuk,
    /// RFC 7591 / CDR names: `client_name`, `redirect_uris`, `jwks_uri`, ….
    Rfc7591,
}

/// Whether statements and certificates must come with a proof that the directory's
/// transparency log holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Transparency {
    /// Not checked (the default for now).
    #[default]
    Off,
    /// Checked; one without a valid proof is accepted, and the answer says why it is not
    /// shown logged ([`SoftwareStatement::log_problem`](crate::SoftwareStatement)).
    Warn,
    /// Checked; one without a valid proof is refused.
    Require,
}

impl std::str::FromStr for Transparency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "warn" => Ok(Self::Warn),
            "require" => Ok(Self::Require),
            other => Err(format!(
                "{other:?} is not a transparency mode (off, warn or require)"
            )),
        }
    }
}

/// What the verifier accepts, built from [`Settings::default()`] with the `with_` setters:
///
/// ```
/// use std::time::Duration;
/// use ssa_verifier::{Algorithm, Settings};
///
/// let settings = Settings::default()
///     .with_algorithms([Algorithm::PS256])
///     .with_max_age(Some(Duration::from_secs(600)))
///     .with_audience("https://bank.example");
/// assert_eq!(settings.algorithms(), [Algorithm::PS256]);
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) clock_skew: Duration,
    pub(crate) max_age: Option<Duration>,
    pub(crate) profiles: Vec<Profile>,
    pub(crate) check_status: bool,
    pub(crate) statement_status_from_feed: bool,
    pub(crate) status_cache: Duration,
    pub(crate) jwks_cache: CachePolicy,
    pub(crate) token_endpoint_auth_methods: Vec<String>,
    pub(crate) audience: Option<String>,
    pub(crate) http_timeout: Duration,
    pub(crate) crl_stale_for: Duration,
    pub(crate) accept_stale_crl: bool,
    pub(crate) ca_certificates: Option<Vec<u8>>,
    pub(crate) transparency: Transparency,
    pub(crate) log_key: Option<String>,
    pub(crate) log_witnesses: Vec<String>,
    pub(crate) log_quorum: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            algorithms: vec![Algorithm::PS256, Algorithm::ES256],
            clock_skew: Duration::from_secs(60),
            max_age: None,
            profiles: vec![Profile::Obuk, Profile::Rfc7591],
            check_status: false,
            statement_status_from_feed: false,
            status_cache: Duration::from_secs(30),
            jwks_cache: CachePolicy::default(),
            token_endpoint_auth_methods: vec![
                "private_key_jwt".into(),
                "tls_client_auth".into(),
                "self_signed_tls_client_auth".into(),
            ],
            audience: None,
            http_timeout: Duration::from_secs(5),
            crl_stale_for: Duration::from_secs(3600),
            accept_stale_crl: false,
            ca_certificates: None,
            transparency: Transparency::Off,
            log_key: None,
            log_witnesses: Vec::new(),
            log_quorum: 0,
        }
    }
}

impl Settings {
    /// Signature algorithms accepted (default PS256 and ES256).
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Tolerated clock difference for `iat` and `exp` (default 60 s).
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// Refuse statements issued longer ago than this (default: no limit).
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// Claim profiles accepted (default both).
    pub fn with_profiles(mut self, profiles: impl IntoIterator<Item = Profile>) -> Self {
        self.profiles = profiles.into_iter().collect();
        self
    }

    /// Ask the directory's status endpoint whether the software and its organisation are
    /// still active (default false; only the fetching [`Verifier`](crate::Verifier) asks).
    pub fn with_check_status(mut self, check: bool) -> Self {
        self.check_status = check;
        self
    }

    /// Take each statement's own status from the directory's event feed instead of asking
    /// the directory for every statement (default false). Only for a caller that follows the
    /// feed through this verifier ([`Verifier::poll_events`](crate::Verifier::poll_events),
    /// or [`Verifier::verify_event`](crate::Verifier::verify_event) for every pushed SET) from
    /// an event older than the statements it checks: a statement then counts as revoked once
    /// its `statement-revoked` event was verified, and no request is made per statement.
    pub fn with_statement_status_from_feed(mut self, from_feed: bool) -> Self {
        self.statement_status_from_feed = from_feed;
        self
    }

    /// How long a status answer is reused (default 30 s).
    pub fn with_status_cache(mut self, ttl: Duration) -> Self {
        self.status_cache = ttl;
        self
    }

    /// Caching of the directory's JWKS and of software JWKS.
    pub fn with_jwks_cache(mut self, policy: CachePolicy) -> Self {
        self.jwks_cache = policy;
        self
    }

    /// `token_endpoint_auth_method` values a registration may ask for (default
    /// `private_key_jwt`, `tls_client_auth`, `self_signed_tls_client_auth`).
    pub fn with_token_endpoint_auth_methods(
        mut self,
        methods: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.token_endpoint_auth_methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// The authorization server's issuer: the `aud` a signed registration request must
    /// carry (default: not checked).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Timeout of every HTTP request of the fetching verifier (default 5 s).
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Trust exactly these CA certificates (PEM, one or more) for the HTTPS connections of
    /// the fetching verifier and its [`HttpClient`](crate::HttpClient), instead of the
    /// platform's trust store (the default, which `SSL_CERT_FILE` and `SSL_CERT_DIR` also
    /// set): for a directory whose TLS certificate comes from a private CA. They are parsed
    /// when the client is made, and an unreadable PEM is an error then.
    pub fn with_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificates = Some(pem.into());
        self
    }

    /// How long past its nextUpdate a CRL still counts as checking revocation (default one
    /// hour: the directory re-signs well before nextUpdate, so only an outage gets here).
    pub fn with_crl_stale_for(mut self, bound: Duration) -> Self {
        self.crl_stale_for = bound;
        self
    }

    /// Accept a client certificate when the only CRL at hand is older than its nextUpdate
    /// plus [`with_crl_stale_for`](Self::with_crl_stale_for); the answer then says
    /// [`Revocation::Stale`](crate::Revocation::Stale). Default false: such a certificate
    /// is refused, because its revocation cannot be known.
    pub fn with_accept_stale_crl(mut self, accept: bool) -> Self {
        self.accept_stale_crl = accept;
        self
    }

    /// Whether statements and certificates must be shown in the directory's transparency
    /// log (default [`Transparency::Off`]). The fetching verifier fetches each one's proof
    /// from the directory's `log_proof_uri`, or takes the one the caller hands over.
    pub fn with_transparency(mut self, mode: Transparency) -> Self {
        self.transparency = mode;
        self
    }

    /// Pin the log's note verifier key (`name+keyid+base64`); without it, the key the
    /// directory's discovery document publishes (`log_verifier_key`).
    pub fn with_log_key(mut self, vkey: impl Into<String>) -> Self {
        self.log_key = Some(vkey.into());
        self
    }

    /// Require cosignatures of at least `quorum` of these witnesses (note verifier keys of
    /// C2SP tlog-cosignature) on the checkpoint of every proof.
    pub fn with_log_witnesses(
        mut self,
        witnesses: impl IntoIterator<Item = impl Into<String>>,
        quorum: usize,
    ) -> Self {
        self.log_witnesses = witnesses.into_iter().map(Into::into).collect();
        self.log_quorum = quorum;
        self
    }

    /// The transparency mode.
    pub fn transparency(&self) -> Transparency {
        self.transparency
    }

    /// The accepted signature algorithms.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The tolerated clock difference.
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    /// The maximum age of a statement, if any.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The accepted profiles.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Whether the live status is checked.
    pub fn check_status(&self) -> bool {
        self.check_status
    }

    /// The allowed authentication methods.
    pub fn token_endpoint_auth_methods(&self) -> &[String] {
        &self.token_endpoint_auth_methods
    }

    /// The audience of signed registration requests, if checked.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }
}

/// How a fetched JWKS is cached: what the server's `Cache-Control: max-age` says, bounded
/// by a minimum and a maximum.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
    pub(crate) refresh_interval: Duration,
    pub(crate) stale_for: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            refresh_interval: Duration::from_secs(30),
            stale_for: Duration::from_secs(3600),
        }
    }
}

impl CachePolicy {
    /// Cache at least this long, whatever the server says (default 30 s).
    pub fn with_min(mut self, min: Duration) -> Self {
        self.min = min;
        self
    }

    /// Cache at most this long (default one hour).
    pub fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Refetch on an unknown kid at most once per this interval (default 30 s).
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Keep using expired keys this long when the directory cannot be reached (default one
    /// hour).
    pub fn with_stale_for(mut self, stale_for: Duration) -> Self {
        self.stale_for = stale_for;
        self
    }
}
