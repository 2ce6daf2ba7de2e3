#![doc = include_str!("../README.md")]

pub mod certificate;
pub mod error;
pub mod http;
pub mod jwks;
pub mod registration;
pub mod statement;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use certificate::CertificateInfo;
pub use error::{ConfigError, ErrorCode, VerifyError};
pub use jsonwebtoken::Algorithm;
pub use jwks::{CachePolicy, KeySource};
pub use registration::ClientMetadata;
pub use statement::{Profile, SoftwareStatement};

use http::Http;

/// What the verifier accepts. `Settings::default()` is the recommended policy.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Signature algorithms accepted (default PS256 and ES256). `none` and HMAC algorithms
    /// are refused whatever this says.
    pub algorithms: Vec<Algorithm>,
    /// Tolerated clock difference for `iat` and `exp` (default 60 s).
    pub clock_skew: Duration,
    /// Refuse statements issued longer ago than this (default: no limit).
    pub max_age: Option<Duration>,
    /// Claim profiles accepted (default both).
    pub profiles: Vec<Profile>,
    /// Ask the directory's status endpoint whether the software and organisation are still
    /// active (default false).
    pub check_status: bool,
    /// How long a status answer is reused (default 30 s).
    pub status_cache: Duration,
    /// Caching of the directory JWKS and of software JWKS.
    pub jwks_cache: CachePolicy,
    /// `token_endpoint_auth_method` values a registration may ask for.
    pub token_endpoint_auth_methods: Vec<String>,
    /// The authorization server's issuer: the `aud` a signed registration request must carry.
    pub audience: Option<String>,
    /// Timeout of every HTTP request (default 5 s).
    pub http_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            algorithms: vec![Algorithm::PS256, Algorithm::ES256],
            clock_skew: Duration::from_secs(60),
            max_age: None,
            profiles: vec![Profile::Obuk, Profile::Rfc7591],
            check_status: false,
            status_cache: Duration::from_secs(30),
            jwks_cache: CachePolicy::default(),
            token_endpoint_auth_methods: vec![
                "private_key_jwt".into(),
                "tls_client_auth".into(),
                "self_signed_tls_client_auth".into(),
            ],
            audience: None,
            http_timeout: Duration::from_secs(5),
        }
    }
}

/// Where the directory's documents are.
pub struct Directory {
    /// `iss` of its statements.
    pub issuer: String,
    /// Its signing keys.
    pub keys: KeySource,
    /// `/status/software` (the software id is appended).
    pub status_endpoint: Option<String>,
    /// The issuing CA and root, PEM.
    pub ca_chain_pem: Option<String>,
    /// The CRL (DER) URL.
    pub crl_uri: Option<String>,
}

/// Checks software statements, registration requests and client certificates against one
/// directory. Shareable between threads; caches are internal.
pub struct Verifier {
    directory: Directory,
    settings: Settings,
    http: Http,
    statuses: Mutex<HashMap<String, (Instant, statement::LiveStatus)>>,
    software_keys: Mutex<HashMap<String, Arc<KeySource>>>,
    crl: Mutex<Option<certificate::CachedCrl>>,
}

impl Verifier {
    /// A verifier for an explicitly described directory.
    pub fn new(directory: Directory, settings: Settings) -> Self {
        Self {
            http: Http::new(settings.http_timeout),
            directory,
            settings,
            statuses: Mutex::new(HashMap::new()),
            software_keys: Mutex::new(HashMap::new()),
            crl: Mutex::new(None),
        }
    }

    /// Configures everything from the directory's `/.well-known/ssa-directory` URL (or its
    /// base URL): issuer, JWKS, status endpoint, CA chain and CRL.
    pub fn discover(url: &str, settings: Settings) -> Result<Self, ConfigError> {
        let http = Http::new(settings.http_timeout);
        let metadata_url = if url.contains("/.well-known/") {
            url.to_owned()
        } else {
            format!("{}/.well-known/ssa-directory", url.trim_end_matches('/'))
        };
        let (meta, _) = http.get_json(&metadata_url)?;
        let field = |name: &str| -> Result<String, ConfigError> {
            meta.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ConfigError::Invalid {
                    what: metadata_url.clone(),
                    reason: format!("no {name}"),
                })
        };
        let optional = |name: &str| {
            meta.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let ca_chain_pem = match optional("ca_uri") {
            Some(ca) => Some(String::from_utf8_lossy(&http.get(&ca)?.body).into_owned()),
            None => None,
        };
        let directory = Directory {
            issuer: field("issuer")?,
            keys: KeySource::remote(&field("jwks_uri")?, http.clone(), settings.jwks_cache),
            status_endpoint: optional("status_endpoint"),
            ca_chain_pem,
            crl_uri: optional("crl_uri"),
        };
        Ok(Self::new(directory, settings))
    }

    /// A verifier that never goes online: a JWKS and optionally the CA chain given as text.
    pub fn offline(
        issuer: &str,
        jwks_json: &str,
        ca_chain_pem: Option<String>,
        settings: Settings,
    ) -> Result<Self, ConfigError> {
        let settings = Settings {
            check_status: false,
            ..settings
        };
        let directory = Directory {
            issuer: issuer.to_owned(),
            keys: KeySource::from_json(jwks_json)?,
            status_endpoint: None,
            ca_chain_pem,
            crl_uri: None,
        };
        Ok(Self::new(directory, settings))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// How many times the directory JWKS has been fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.directory.keys.fetch_count()
    }
}
