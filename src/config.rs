//! Typed configuration, layered by figment: built-in defaults < optional TOML file <
//! environment < command-line flags.
//!
//! Every field is documented here and mirrored in the README's configuration table. A field
//! `foo_bar` is overridden by the environment variable `SSA_DIRECTORY_FOO_BAR`; the database
//! URL also honours the conventional `DATABASE_URL` (the prefixed variable wins).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

/// Prefix of every environment variable that overrides a setting.
pub const ENV_PREFIX: &str = "SSA_DIRECTORY_";

/// The directory's whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds to (`SSA_DIRECTORY_LISTEN`).
    pub listen: SocketAddr,
    /// Base URL written into SSAs, JWKS links and certificates (`SSA_DIRECTORY_PUBLIC_URL`).
    /// Defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// Directory of the embedded SQLite database (`SSA_DIRECTORY_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL, `sqlite://PATH` SQLite (`DATABASE_URL` or
    /// `SSA_DIRECTORY_DATABASE_URL`). Defaults to `sqlite://<data_dir>/directory.db`.
    pub database_url: Option<Secret>,
    /// Directory of signing keys, CA material and the session key (`SSA_DIRECTORY_KEYS_DIR`).
    pub keys_dir: PathBuf,
    /// `pretty` (human readable) or `json` (JSON lines) (`SSA_DIRECTORY_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Largest accepted request body in bytes; larger bodies get 413 (`SSA_DIRECTORY_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive after the request head; slower bodies get
    /// 408 (`SSA_DIRECTORY_BODY_READ_TIMEOUT_SECS`).
    pub body_read_timeout_secs: u64,
    /// Largest number of database connections in the pool (`SSA_DIRECTORY_DB_POOL_SIZE`).
    pub db_pool_size: u32,
    /// Number of HTTP worker threads; 0 means one per core (`SSA_DIRECTORY_WORKERS`).
    pub workers: usize,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C (`SSA_DIRECTORY_SHUTDOWN_TIMEOUT_SECS`).
    pub shutdown_timeout_secs: u64,
    /// Approve sandbox software of active organisations on registration (`SSA_DIRECTORY_AUTO_APPROVE_SANDBOX`).
    pub auto_approve_sandbox: bool,
    /// Failed logins per account or client address within `login_throttle_window_secs`
    /// before further attempts are refused (`SSA_DIRECTORY_LOGIN_MAX_FAILURES`).
    pub login_max_failures: u32,
    /// Window of the login throttle in seconds (`SSA_DIRECTORY_LOGIN_THROTTLE_WINDOW_SECS`).
    pub login_throttle_window_secs: u64,
    /// Certificate validations (`POST /api/v1/certificates/validate`) one caller (an account,
    /// a token's client) may ask of one instance per minute, in bursts of as many
    /// (`SSA_DIRECTORY_VALIDATIONS_PER_MINUTE`); more answer 429 with `Retry-After`.
    pub validations_per_minute: u32,
    /// Lifetime of a portal session in seconds (`SSA_DIRECTORY_SESSION_TTL_SECS`).
    pub session_ttl_secs: u64,
    /// Take the client address for the login throttle from `X-Forwarded-For`/`Forwarded`;
    /// set only behind a reverse proxy that overwrites those headers
    /// (`SSA_DIRECTORY_TRUST_FORWARDED_FOR`).
    pub trust_forwarded_for: bool,
    /// `iss` of every SSA (`SSA_DIRECTORY_ISSUER`). Defaults to the public URL.
    pub issuer: Option<String>,
    /// Algorithm of new directory signing keys: `PS256` (RSA 2048) or `ES256` (P-256)
    /// (`SSA_DIRECTORY_SIGNING_ALG`).
    pub signing_alg: SigningAlg,
    /// Passphrase that encrypts the signing key files (`SSA_DIRECTORY_KEY_PASSPHRASE`);
    /// without it they are stored unencrypted (still mode 0600).
    pub key_passphrase: Option<Secret>,
    /// Seconds a second factor shown in a session covers sensitive portal actions
    /// (`SSA_DIRECTORY_STEP_UP_SECS`); after that the portal asks for a code again.
    pub step_up_secs: u64,
    /// Days an operator's API token works (`SSA_DIRECTORY_OPERATOR_TOKEN_TTL_DAYS`).
    pub operator_token_ttl_days: u32,
    /// Whether operators need a second factor in the portal (`SSA_DIRECTORY_OPERATOR_MFA`):
    /// `required` (the default: an operator without one reaches only its enrolment) or
    /// `optional` (for test and evaluation set-ups).
    pub operator_mfa: OperatorMfa,
    /// Where the SSA and federation signing keys live (`SSA_DIRECTORY_KEY_PROVIDER`): `file`
    /// (PEM files in `keys/`, the default) or `pkcs11` (a PKCS#11 token, `pkcs11_uri`).
    pub key_provider: KeyProvider,
    /// The token of the pkcs11 provider, an RFC 7512 URI
    /// (`pkcs11:token=LABEL?module-path=/path/lib.so&pin-source=file:/path/pin`,
    /// `SSA_DIRECTORY_PKCS11_URI`). The PIN is read from its `pin-source` file, never written
    /// in the URI.
    pub pkcs11_uri: Option<String>,
    /// Claim names of issued SSAs: `obuk` (UK Open Banking) or `rfc7591` (RFC 7591 / CDR)
    /// (`SSA_DIRECTORY_SSA_PROFILE`).
    pub ssa_profile: SsaProfile,
    /// Lifetime of an issued SSA in seconds (`SSA_DIRECTORY_SSA_LIFETIME_SECS`).
    pub ssa_lifetime_secs: u64,
    /// `Cache-Control: max-age` of the JWKS and keystore documents (`SSA_DIRECTORY_JWKS_MAX_AGE_SECS`).
    pub jwks_max_age_secs: u64,
    /// How often each instance re-reads key state from the database, in seconds; at most
    /// `jwks_max_age_secs` so that a rotation is visible everywhere within the advertised
    /// max-age (`SSA_DIRECTORY_KEY_REFRESH_SECS`).
    pub key_refresh_secs: u64,
    /// `Cache-Control: max-age` of status and participant documents (`SSA_DIRECTORY_STATUS_MAX_AGE_SECS`).
    pub status_max_age_secs: u64,
    /// Validity of issued transport and signing certificates, in days
    /// (`SSA_DIRECTORY_CERTIFICATE_VALIDITY_DAYS`).
    pub certificate_validity_days: u32,
    /// Refuse a CSR whose subject differs from the one the directory assigns, instead of
    /// signing it with the directory's subject (`SSA_DIRECTORY_STRICT_CSR_SUBJECT`).
    pub strict_csr_subject: bool,
    /// How long a CRL is valid (its nextUpdate), in seconds; it is regenerated on every
    /// revocation and before it expires (`SSA_DIRECTORY_CRL_VALIDITY_SECS`).
    pub crl_validity_secs: u64,
    /// How long an OCSP response is valid (its nextUpdate), in seconds
    /// (`SSA_DIRECTORY_OCSP_VALIDITY_SECS`).
    pub ocsp_validity_secs: u64,
    /// How long change events are kept, in seconds; a reader whose cursor is older must
    /// resynchronise from the snapshot (`SSA_DIRECTORY_EVENT_RETENTION_SECS`).
    pub event_retention_secs: u64,
    /// Log what the directory issues in its transparency log (`SSA_DIRECTORY_TRANSPARENCY_LOG`,
    /// default on). Off, nothing new is logged, no proof is linked at issuance and the
    /// discovery metadata names no log: for a sandbox, or to measure what the log costs.
    pub transparency_log: bool,
    /// Allow plain-http push endpoints (`SSA_DIRECTORY_PUSH_ALLOW_HTTP`; off: https only).
    pub push_allow_http: bool,
    /// Allow push endpoints on loopback, private, link-local and other non-public addresses
    /// (`SSA_DIRECTORY_PUSH_ALLOW_PRIVATE_TARGETS`; off, against server-side request forgery).
    pub push_allow_private_targets: bool,
    /// Extra CA certificates (PEM) trusted for push endpoints besides the system's
    /// (`SSA_DIRECTORY_PUSH_CA_FILE`).
    pub push_ca_file: Option<PathBuf>,
    /// How long push delivery retries a failing endpoint before marking the subscription
    /// failing, in seconds (`SSA_DIRECTORY_PUSH_RETRY_SECS`).
    pub push_retry_secs: u64,
    /// The wait after a first failed push, in milliseconds, doubled on each further failure
    /// up to five minutes (`SSA_DIRECTORY_PUSH_BACKOFF_MS`).
    pub push_backoff_ms: u64,
    /// Lifetime of the access tokens the token endpoint issues to machine clients, in seconds
    /// (`SSA_DIRECTORY_CLIENT_TOKEN_TTL_SECS`).
    pub client_token_ttl_secs: u64,
    /// Where mail goes: an SMTP server in lettre's URL form (`smtps://user:pass@host:465`,
    /// `smtp://host:587?tls=required`; `SSA_DIRECTORY_SMTP_URL`). Unset, messages are written
    /// as `.eml` files into `data_dir/mail`.
    pub smtp_url: Option<Secret>,
    /// Extra CA certificates (PEM) trusted for the SMTP server's TLS besides the system's
    /// (`SSA_DIRECTORY_SMTP_CA_FILE`).
    pub smtp_ca_file: Option<PathBuf>,
    /// The sender of the directory's mail (`SSA_DIRECTORY_MAIL_FROM`); by default
    /// `no-reply@` the public URL's host, named `directory_name`.
    pub mail_from: Option<String>,
    /// The directory's name in mail and the portal (`SSA_DIRECTORY_DIRECTORY_NAME`).
    pub directory_name: String,
    /// How long a message that cannot be delivered is retried before it is marked failed, in
    /// seconds (`SSA_DIRECTORY_MAIL_RETRY_SECS`).
    pub mail_retry_secs: u64,
    /// The wait after a first failed delivery, in milliseconds, doubled on each further
    /// failure up to five minutes (`SSA_DIRECTORY_MAIL_BACKOFF_MS`).
    pub mail_backoff_ms: u64,
    /// Certificate chain (PEM) the directory serves HTTPS with on `listen`, and on
    /// `mtls_listen` (`SSA_DIRECTORY_TLS_CERT_FILE`); without it `listen` is plain HTTP.
    pub tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) of `tls_cert_file` (`SSA_DIRECTORY_TLS_KEY_FILE`).
    pub tls_key_file: Option<PathBuf>,
    /// A second, HTTPS-only address where every client presents a certificate of the
    /// directory's CA: the mutual-TLS endpoints of machine clients (`SSA_DIRECTORY_MTLS_LISTEN`).
    /// The portal's port never asks browsers for a certificate.
    pub mtls_listen: Option<SocketAddr>,
    /// Base URL of the mutual-TLS endpoints, published as the token endpoint's
    /// `mtls_endpoint_aliases` (`SSA_DIRECTORY_MTLS_PUBLIC_URL`): `mtls_listen`'s, by default
    /// the public URL's host on that port; behind a proxy, the proxy's port that asks for
    /// client certificates (requests with a client certificate header were sent there).
    pub mtls_public_url: Option<String>,
    /// Behind a TLS-terminating proxy: the request header in which it forwards the client
    /// certificate, URL-encoded PEM as nginx's `$ssl_client_escaped_cert`
    /// (`SSA_DIRECTORY_CLIENT_CERT_HEADER`). Read only from `trusted_proxies`.
    pub client_cert_header: Option<String>,
    /// Addresses whose `client_cert_header` is believed, comma-separated in the environment
    /// (`SSA_DIRECTORY_TRUSTED_PROXIES`).
    #[serde(deserialize_with = "comma_list")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Witnesses whose cosignatures the transparency log collects on its checkpoints (C2SP
    /// tlog-witness): each `URL VKEY`, the witness's URL (below which it serves
    /// `/add-checkpoint`) and its `cosignature/v1` verifier key; comma-separated in the
    /// environment (`SSA_DIRECTORY_LOG_WITNESSES`).
    #[serde(deserialize_with = "comma_list")]
    pub log_witnesses: Vec<String>,
}

/// Algorithm of the directory's signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlg {
    PS256,
    ES256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
        }
    }
}

/// A token as an RFC 7512 URI names it. The PIN is never part of it: `pin-source` names the
/// file it is read from, so neither the URI, its `Debug` nor the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUri {
    /// `token=`: the token's label.
    pub token: String,
    /// `module-path=`: the PKCS#11 module to load.
    pub module_path: PathBuf,
    /// `pin-source=file:`: the file holding the user PIN.
    pub pin_source: PathBuf,
}

impl FromStr for TokenUri {
    type Err = String;

    fn from_str(uri: &str) -> Result<Self, String> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or("a PKCS#11 URI starts with pkcs11:")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let decode = |value: &str| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| format!("{value:?} is not UTF-8 once percent-decoded"))
        };
        let (mut token, mut module_path, mut pin_source) = (None, None, None);
        let attributes = path.split(';').chain(query.split('&'));
        for attribute in attributes.filter(|a| !a.is_empty()) {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| format!("{attribute:?} is not name=value"))?;
            match name {
                "token" => token = Some(decode(value)?),
                "module-path" => module_path = Some(PathBuf::from(decode(value)?)),
                "pin-source" => {
                    let value = decode(value)?;
                    let file = value
                        .strip_prefix("file:")
                        .ok_or("pin-source must be file:/path/to/the/pin")?;
                    pin_source = Some(PathBuf::from(file));
                }
                "pin-value" => {
                    return Err("the PIN is read from a file (pin-source=file:...), never written in the URI".into());
                }
                other => {
                    return Err(format!(
                        "unsupported attribute {other:?} (use token, module-path and pin-source)"
                    ));
                }
            }
        }
        Ok(Self {
            token: token.ok_or("the URI names no token (token=LABEL)")?,
            module_path: module_path.ok_or("the URI names no module (module-path=/path/lib.so)")?,
            pin_source: pin_source.ok_or("the URI names no PIN file (pin-source=file:/path)")?,
        })
    }
}

impl TokenUri {
    /// The RFC 7512 URI of the private key with `CKA_ID` `id` in this token (no module or
    /// PIN: every instance names the object alike, wherever its module is installed).
    pub fn object(&self, id: &str) -> String {
        const ATTRIBUTE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let encode =
            |value: &str| percent_encoding::utf8_percent_encode(value, ATTRIBUTE).to_string();
        format!(
            "pkcs11:token={};id={};type=private",
            encode(&self.token),
            encode(id)
        )
    }
}

impl std::fmt::Display for TokenUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pkcs11:token={}?module-path={}&pin-source=file:{}",
            self.token,
            self.module_path.display(),
            self.pin_source.display()
        )
    }
}

/// Where the directory's signing keys live.
/// Whether operators need a second factor in the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperatorMfa {
    /// An operator without a second factor reaches only its enrolment.
    Required,
    /// Operators choose, as everyone else does.
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyProvider {
    /// PEM files in `keys/` (mode 0600).
    File,
    /// A PKCS#11 token: keys generated inside it, never extractable.
    Pkcs11,
}

/// The claim names an SSA uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SsaProfile {
    /// UK Open Banking directory names (`software_client_name`, `org_jwks_endpoint`, …).
    Obuk,
    /// RFC 7591 / Australian CDR names (`client_name`, `redirect_uris`, `jwks_uri`, …).
    Rfc7591,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            keys_dir: PathBuf::from("./keys"),
            log_format: LogFormat::Pretty,
            max_body_bytes: 64 * 1024,
            body_read_timeout_secs: 5,
            db_pool_size: 10,
            workers: 0,
            shutdown_timeout_secs: 30,
            auto_approve_sandbox: false,
            login_max_failures: 5,
            login_throttle_window_secs: 900,
            validations_per_minute: 120,
            session_ttl_secs: 12 * 3600,
            trust_forwarded_for: false,
            issuer: None,
            signing_alg: SigningAlg::PS256,
            key_passphrase: None,
            operator_mfa: OperatorMfa::Required,
            operator_token_ttl_days: 30,
            step_up_secs: 600,
            key_provider: KeyProvider::File,
            pkcs11_uri: None,
            ssa_profile: SsaProfile::Obuk,
            ssa_lifetime_secs: 30 * 24 * 3600,
            jwks_max_age_secs: 300,
            key_refresh_secs: 10,
            status_max_age_secs: 30,
            certificate_validity_days: 397,
            strict_csr_subject: false,
            crl_validity_secs: 24 * 3600,
            ocsp_validity_secs: 3600,
            event_retention_secs: 30 * 24 * 3600,
            transparency_log: true,
            log_witnesses: Vec::new(),
            push_allow_http: false,
            push_allow_private_targets: false,
            push_ca_file: None,
            push_retry_secs: 24 * 3600,
            push_backoff_ms: 1000,
            client_token_ttl_secs: 300,
            smtp_url: None,
            smtp_ca_file: None,
            mail_from: None,
            directory_name: "SSA directory".into(),
            mail_retry_secs: 24 * 3600,
            mail_backoff_ms: 1000,
            tls_cert_file: None,
            tls_key_file: None,
            mtls_listen: None,
            mtls_public_url: None,
            client_cert_header: None,
            trusted_proxies: vec![],
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A string that never prints itself in `Debug` output or logs.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why the configuration could not be loaded; each names the file, key or variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::figment(file))
    }

    /// The layers, lowest first: the defaults, `file` if given, `DATABASE_URL`, then the
    /// `SSA_DIRECTORY_*` variables. A caller merges its command-line flags on top and
    /// reads the result with [`Config::from_figment`].
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(Variables::new("", Env::raw().only(&["database_url"])))
            .merge(Variables::new(ENV_PREFIX, Env::prefixed(ENV_PREFIX)))
    }

    /// The configuration the layers give, checked. An error names the key and the file or
    /// variable it came from.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(one_line(&e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(format!(
                "public_url {url:?} must start with http:// or https://"
            )));
        }
        if self.validations_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "validations_per_minute must be at least 1".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        if self.key_refresh_secs == 0 || self.key_refresh_secs > self.jwks_max_age_secs.max(1) {
            return Err(ConfigError::Invalid(format!(
                "key_refresh_secs must be between 1 and jwks_max_age_secs ({})",
                self.jwks_max_age_secs
            )));
        }
        if self.ssa_lifetime_secs < 60 {
            return Err(ConfigError::Invalid(
                "ssa_lifetime_secs must be at least 60".into(),
            ));
        }
        if let Some(pass) = &self.key_passphrase
            && pass.expose().len() < 12
        {
            return Err(ConfigError::Invalid(
                "key_passphrase must be at least 12 characters".into(),
            ));
        }
        if !(1..=825).contains(&self.certificate_validity_days) {
            return Err(ConfigError::Invalid(
                "certificate_validity_days must be between 1 and 825".into(),
            ));
        }
        if self.crl_validity_secs < 300 || self.ocsp_validity_secs < 60 {
            return Err(ConfigError::Invalid(
                "crl_validity_secs must be at least 300 and ocsp_validity_secs at least 60".into(),
            ));
        }
        if self.event_retention_secs < 3600 {
            return Err(ConfigError::Invalid(
                "event_retention_secs must be at least 3600 (one hour)".into(),
            ));
        }
        if !(10..=3_600_000).contains(&self.push_backoff_ms) || self.push_retry_secs == 0 {
            return Err(ConfigError::Invalid(
                "push_backoff_ms must be between 10 and 3600000, push_retry_secs at least 1".into(),
            ));
        }
        if !(10..=3_600_000).contains(&self.mail_backoff_ms) || self.mail_retry_secs == 0 {
            return Err(ConfigError::Invalid(
                "mail_backoff_ms must be between 10 and 3600000, mail_retry_secs at least 1".into(),
            ));
        }
        let name = self.directory_name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err(ConfigError::Invalid(
                "directory_name must be 1 to 80 characters, without control characters".into(),
            ));
        }
        if !(10..=3600).contains(&self.client_token_ttl_secs) {
            return Err(ConfigError::Invalid(
                "client_token_ttl_secs must be between 10 and 3600 (machine tokens are short-lived)"
                    .into(),
            ));
        }
        if !(1..=300).contains(&self.body_read_timeout_secs) {
            return Err(ConfigError::Invalid(
                "body_read_timeout_secs must be between 1 and 300".into(),
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert_file and tls_key_file go together".into(),
            ));
        }
        if self.mtls_listen.is_some() && self.tls_cert_file.is_none() {
            return Err(ConfigError::Invalid(
                "mtls_listen needs the directory's TLS certificate: set tls_cert_file and tls_key_file".into(),
            ));
        }
        if let Some(url) = &self.mtls_public_url
            && (!url.starts_with("https://") || !self.mutual_tls())
        {
            return Err(ConfigError::Invalid(format!(
                "mtls_public_url {url:?} must start with https:// and goes with mtls_listen or client_cert_header"
            )));
        }
        if self.client_cert_header.is_some() == self.trusted_proxies.is_empty() {
            return Err(ConfigError::Invalid(
                "client_cert_header and trusted_proxies go together (the header is believed only from those addresses)".into(),
            ));
        }
        match (self.key_provider, &self.pkcs11_uri) {
            (KeyProvider::Pkcs11, None) => {
                return Err(ConfigError::Invalid(
                    "key_provider = pkcs11 needs pkcs11_uri (pkcs11:token=LABEL?module-path=...&pin-source=file:...)".into(),
                ));
            }
            (KeyProvider::Pkcs11, Some(uri)) => {
                self.token_uri_checked(uri)?;
            }
            (KeyProvider::File, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "pkcs11_uri goes with key_provider = pkcs11".into(),
                ));
            }
            (KeyProvider::File, None) => {}
        }
        if self.step_up_secs < 30 {
            return Err(ConfigError::Invalid(
                "step_up_secs must be at least 30 (one code)".into(),
            ));
        }
        if self.operator_token_ttl_days == 0 {
            return Err(ConfigError::Invalid(
                "operator_token_ttl_days must be at least 1".into(),
            ));
        }
        if self.db_pool_size == 0 {
            return Err(ConfigError::Invalid(
                "db_pool_size must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The token of the pkcs11 key provider, when it is the one configured.
    pub fn token_uri(&self) -> Result<Option<TokenUri>, ConfigError> {
        match (self.key_provider, &self.pkcs11_uri) {
            (KeyProvider::Pkcs11, Some(uri)) => self.token_uri_checked(uri).map(Some),
            _ => Ok(None),
        }
    }

    fn token_uri_checked(&self, uri: &str) -> Result<TokenUri, ConfigError> {
        uri.parse()
            .map_err(|why| ConfigError::Invalid(format!("pkcs11_uri: {why}")))
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if self.tls_cert_file.is_some() => format!("https://{}", self.listen),
            None => format!("http://{}", self.listen),
        }
    }

    /// The database URL in force: the configured one or the embedded SQLite default.
    pub fn database_url(&self) -> Secret {
        match &self.database_url {
            Some(url) => url.clone(),
            None => Secret::new(format!(
                "sqlite://{}",
                self.data_dir.join("directory.db").display()
            )),
        }
    }

    /// The `iss` of issued SSAs.
    pub fn issuer(&self) -> String {
        match &self.issuer {
            Some(issuer) => issuer.clone(),
            None => self.public_url(),
        }
    }

    /// Whether cookies must carry the `Secure` attribute.
    pub fn is_https(&self) -> bool {
        self.public_url().starts_with("https://")
    }

    /// Whether clients may authenticate with a certificate (`tls_client_auth`) and get
    /// certificate-bound tokens: over `mtls_listen` or from a trusted proxy.
    pub fn mutual_tls(&self) -> bool {
        self.mtls_listen.is_some() || self.client_cert_header.is_some()
    }
}

/// Environment variables as figment sees them, with two differences: values stay text
/// until the setting's type reads them (figment's own `Env` would turn a passphrase of digits
/// into a number, dropping its leading zeros), and an error names the variable
/// (`SSA_DIRECTORY_WORKERS`). Booleans accept true/false, yes/no, on/off and 1/0.
struct Variables {
    prefix: &'static str,
    env: Env,
}

impl Variables {
    fn new(prefix: &'static str, env: Env) -> Self {
        Self { prefix, env }
    }
}

impl Provider for Variables {
    fn metadata(&self) -> Metadata {
        let prefix = self.prefix;
        Metadata::named("the environment")
            .interpolater(move |_, keys| format!("{prefix}{}", keys.join("_")).to_uppercase())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let values = self
            .env
            .iter()
            .map(|(key, value)| (key.as_str().to_owned(), Value::from(value)))
            .collect();
        Ok(Profile::Default.collect(values))
    }
}

/// A list written as a TOML array, or as one comma-separated string (in the environment).
fn comma_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr + Deserialize<'de>,
    T::Err: fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written<T> {
        List(Vec<T>),
        Text(String),
    }
    match Written::<T>::deserialize(deserializer)? {
        Written::List(items) => Ok(items),
        Written::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| item.parse().map_err(serde::de::Error::custom))
            .collect(),
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
// figment::Jail's closures return figment's (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    /// [`Config::load`] in a jail: only `vars` in the environment, and `file` (if any) as
    /// `c.toml` in a fresh working folder.
    fn load(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, String> {
        let mut loaded = None;
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            for (key, value) in vars {
                jail.set_env(key, value);
            }
            let path = match file {
                Some(text) => {
                    jail.create_file("c.toml", text)?;
                    Some(jail.directory().join("c.toml"))
                }
                None => None,
            };
            loaded = Some(Config::load(path.as_deref()).map_err(|e| e.to_string()));
            Ok(())
        });
        loaded.expect("the jail ran")
    }

    #[test]
    fn defaults_run_without_any_setting() {
        let config = load(None, &[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url(), "http://127.0.0.1:8080");
        assert_eq!(
            config.database_url().expose(),
            "sqlite://./data/directory.db"
        );
        assert!(!config.is_https());
    }

    #[test]
    fn environment_wins_over_file_and_flags_over_both() {
        let file = "listen = \"0.0.0.0:9000\"\nmax_body_bytes = 2048\nworkers = 3\n";
        let vars = [
            ("SSA_DIRECTORY_LISTEN", "127.0.0.1:9100"),
            ("SSA_DIRECTORY_AUTO_APPROVE_SANDBOX", "yes"),
            ("SSA_DIRECTORY_KEY_PASSPHRASE", "000123456789012"),
            ("DATABASE_URL", "postgres://localhost/x"),
            ("PATH", "/bin"),
        ];
        let config = load(Some(file), &vars).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(config.max_body_bytes, 2048);
        assert_eq!(config.workers, 3);
        assert!(config.auto_approve_sandbox);
        // Digits stay the text they were: no number, no leading zeros dropped.
        assert_eq!(
            config.key_passphrase.as_ref().map(Secret::expose),
            Some("000123456789012")
        );
        assert_eq!(config.database_url().expose(), "postgres://localhost/x");
        assert_eq!(format!("{:?}", config.database_url), "Some(***)");

        // The prefixed variable wins over DATABASE_URL.
        let both = [
            ("DATABASE_URL", "postgres://localhost/x"),
            ("SSA_DIRECTORY_DATABASE_URL", "postgres://localhost/y"),
        ];
        let config = load(None, &both).unwrap();
        assert_eq!(config.database_url().expose(), "postgres://localhost/y");

        // Flags, merged on top, win over the environment.
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("SSA_DIRECTORY_LISTEN", "127.0.0.1:9100");
            let figment = Config::figment(None).merge(("listen", "127.0.0.1:9200"));
            let config = Config::from_figment(figment).unwrap();
            assert_eq!(config.listen.to_string(), "127.0.0.1:9200");
            Ok(())
        });
    }

    #[test]
    fn unknown_file_key_is_named() {
        let err = load(Some("lisen = \"0.0.0.0:9000\"\n"), &[]).unwrap_err();
        assert!(err.contains("lisen"), "{err}");
        assert!(err.contains("c.toml"), "{err}");
        let err = load(Some("workers = \"many\"\n"), &[]).unwrap_err();
        assert!(err.contains("workers") && err.contains("c.toml"), "{err}");
    }

    #[test]
    fn bad_environment_values_are_named() {
        let err = load(None, &[("SSA_DIRECTORY_WORKERS", "many")]).unwrap_err();
        assert!(err.contains("SSA_DIRECTORY_WORKERS"), "{err}");
        let err = load(None, &[("SSA_DIRECTORY_COLOUR", "red")]).unwrap_err();
        assert!(err.contains("SSA_DIRECTORY_COLOUR"), "{err}");
        let err = load(None, &[("SSA_DIRECTORY_PUSH_ALLOW_HTTP", "maybe")]).unwrap_err();
        assert!(err.contains("SSA_DIRECTORY_PUSH_ALLOW_HTTP"), "{err}");
        let err = load(None, &[("SSA_DIRECTORY_TRUSTED_PROXIES", "10.0.0.1, x")]).unwrap_err();
        assert!(err.contains("SSA_DIRECTORY_TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn a_uri_names_the_token_the_module_and_the_pin_file_and_never_the_pin() {
        let uri: TokenUri = "pkcs11:token=Trust%20Directory?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/pin"
            .parse()
            .unwrap();
        assert_eq!(uri.token, "Trust Directory");
        assert_eq!(
            uri.module_path,
            PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(uri.pin_source, PathBuf::from("/run/secrets/pin"));
        for (bad, why) in [
            ("token=x", "pkcs11:"),
            (
                "pkcs11:token=x?module-path=/m.so&pin-value=1234",
                "never written",
            ),
            ("pkcs11:token=x?module-path=/m.so", "PIN file"),
            ("pkcs11:module-path=/m.so&pin-source=file:/p", "no token"),
            (
                "pkcs11:token=x;slot-id=3?module-path=/m.so&pin-source=file:/p",
                "slot-id",
            ),
            (
                "pkcs11:token=x?module-path=/m.so&pin-source=env:PIN",
                "file:",
            ),
        ] {
            let error = bad.parse::<TokenUri>().unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn the_pkcs11_provider_needs_a_token_uri_without_a_pin() {
        let refused = |vars: &[(&str, &str)], why: &str| {
            let error = load(None, vars).unwrap_err();
            assert!(error.contains(why), "{error}");
        };
        refused(
            &[("SSA_DIRECTORY_KEY_PROVIDER", "pkcs11")],
            "needs pkcs11_uri",
        );
        refused(
            &[(
                "SSA_DIRECTORY_PKCS11_URI",
                "pkcs11:token=t?module-path=/m.so&pin-source=file:/p",
            )],
            "goes with key_provider = pkcs11",
        );
        refused(
            &[
                ("SSA_DIRECTORY_KEY_PROVIDER", "pkcs11"),
                (
                    "SSA_DIRECTORY_PKCS11_URI",
                    "pkcs11:token=t?module-path=/m.so&pin-value=1234",
                ),
            ],
            "never written in the URI",
        );
        refused(
            &[("SSA_DIRECTORY_KEY_PROVIDER", "vault")],
            "SSA_DIRECTORY_KEY_PROVIDER",
        );
        let config = load(
            None,
            &[
                ("SSA_DIRECTORY_KEY_PROVIDER", "pkcs11"),
                (
                    "SSA_DIRECTORY_PKCS11_URI",
                    "pkcs11:token=t?module-path=/m.so&pin-source=file:/p",
                ),
            ],
        )
        .unwrap();
        assert_eq!(config.token_uri().unwrap().unwrap().token, "t");
    }

    #[test]
    fn https_public_url_selects_secure_cookies() {
        let config = load(
            None,
            &[("SSA_DIRECTORY_PUBLIC_URL", "https://directory.example/")],
        )
        .unwrap();
        assert!(config.is_https());
        assert_eq!(config.public_url(), "https://directory.example");
    }

    #[test]
    fn tls_settings_go_together() {
        let refused = |vars: &[(&str, &str)]| {
            let error = load(None, vars).unwrap_err();
            assert!(error.contains("go"), "{error}");
        };
        refused(&[("SSA_DIRECTORY_TLS_CERT_FILE", "tls.pem")]);
        refused(&[("SSA_DIRECTORY_CLIENT_CERT_HEADER", "x-ssl-client-cert")]);
        refused(&[("SSA_DIRECTORY_TRUSTED_PROXIES", "10.0.0.1")]);
        let error = load(None, &[("SSA_DIRECTORY_MTLS_LISTEN", "0.0.0.0:8443")]).unwrap_err();
        assert!(error.contains("tls_cert_file"), "{error}");

        let config = load(
            None,
            &[
                ("SSA_DIRECTORY_TLS_CERT_FILE", "tls.pem"),
                ("SSA_DIRECTORY_TLS_KEY_FILE", "tls.key"),
                ("SSA_DIRECTORY_MTLS_LISTEN", "0.0.0.0:8443"),
                ("SSA_DIRECTORY_CLIENT_CERT_HEADER", "x-ssl-client-cert"),
                ("SSA_DIRECTORY_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2"),
            ],
        )
        .unwrap();
        assert!(config.is_https() && config.mutual_tls());
        assert_eq!(config.trusted_proxies.len(), 2);
        let config = load(
            Some("client_cert_header = \"x-cert\"\ntrusted_proxies = [\"10.0.0.1\"]\n"),
            &[],
        )
        .unwrap();
        assert_eq!(config.trusted_proxies.len(), 1);
    }
}
