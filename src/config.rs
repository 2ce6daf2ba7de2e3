//! Typed configuration, layered: built-in defaults < optional TOML file < environment.
//!
//! Every field is documented here and mirrored in the README's configuration table. A field
//! `foo_bar` is overridden by the environment variable `SSA_DIRECTORY_FOO_BAR`; the database
//! URL also honours the conventional `DATABASE_URL`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    pub trusted_proxies: Vec<std::net::IpAddr>,
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
            session_ttl_secs: 12 * 3600,
            trust_forwarded_for: false,
            issuer: None,
            signing_alg: SigningAlg::PS256,
            key_passphrase: None,
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
            push_allow_http: false,
            push_allow_private_targets: false,
            push_ca_file: None,
            push_retry_secs: 24 * 3600,
            push_backoff_ms: 1000,
            client_token_ttl_secs: 300,
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
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("invalid environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit environment, for tests.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let defaults = table.clone();

        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let file_table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.to_owned(),
                message: one_line(&e.to_string()),
            })?;
            // Check the file on its own so that an error names the file.
            let mut merged = table.clone();
            merged.extend(file_table);
            Config::deserialize(merged.clone()).map_err(|e| ConfigError::File {
                path: path.to_owned(),
                message: one_line(&e.to_string()),
            })?;
            table = merged;
        }

        let mut database_url_env = None;
        for (var, value) in env {
            if var == "DATABASE_URL" {
                database_url_env.get_or_insert(value);
                continue;
            }
            let Some(key) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if key == "database_url" {
                database_url_env = Some(value);
                continue;
            }
            let parsed =
                env_value(&key, &value, &defaults).map_err(|message| ConfigError::Env {
                    var: var.clone(),
                    message,
                })?;
            table.insert(key, parsed);
        }
        if let Some(url) = database_url_env {
            table.insert("database_url".into(), toml::Value::String(url));
        }

        let config = Config::deserialize(table)
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
        if self.db_pool_size == 0 {
            return Err(ConfigError::Invalid(
                "db_pool_size must be at least 1".into(),
            ));
        }
        Ok(())
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

/// Parses an environment value with the type of the setting's default.
fn env_value(key: &str, value: &str, defaults: &toml::Table) -> Result<toml::Value, String> {
    match defaults.get(key) {
        Some(toml::Value::Integer(_)) => value
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("expected an integer, got {value:?}")),
        Some(toml::Value::Boolean(_)) => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("expected true or false, got {value:?}")),
        },
        Some(toml::Value::Array(_)) => Ok(toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| toml::Value::String(v.to_owned()))
                .collect(),
        )),
        Some(_) => Ok(toml::Value::String(value.to_owned())),
        None if OPTIONAL_STRING_KEYS.contains(&key) => Ok(toml::Value::String(value.to_owned())),
        None => Err("unknown setting".into()),
    }
}

/// Settings without a default value (absent from the serialized defaults).
const OPTIONAL_STRING_KEYS: &[&str] = &[
    "public_url",
    "issuer",
    "key_passphrase",
    "push_ca_file",
    "tls_cert_file",
    "tls_key_file",
    "mtls_listen",
    "mtls_public_url",
    "client_cert_header",
];

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_run_without_any_setting() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url(), "http://127.0.0.1:8080");
        assert_eq!(
            config.database_url().expose(),
            "sqlite://./data/directory.db"
        );
        assert!(!config.is_https());
    }

    #[test]
    fn environment_wins_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\nmax_body_bytes = 2048\n").unwrap();
        let config = Config::load_from(
            Some(&path),
            env(&[
                ("SSA_DIRECTORY_LISTEN", "127.0.0.1:9100"),
                ("SSA_DIRECTORY_AUTO_APPROVE_SANDBOX", "true"),
                ("DATABASE_URL", "postgres://localhost/x"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(config.max_body_bytes, 2048);
        assert!(config.auto_approve_sandbox);
        assert_eq!(config.database_url().expose(), "postgres://localhost/x");
        assert_eq!(format!("{:?}", config.database_url), "Some(***)");
    }

    #[test]
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let err = Config::load_from(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
        assert!(err.contains("c.toml"), "{err}");
    }

    #[test]
    fn bad_environment_values_are_named() {
        let err = Config::load_from(None, env(&[("SSA_DIRECTORY_WORKERS", "many")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SSA_DIRECTORY_WORKERS"), "{err}");
        let err = Config::load_from(None, env(&[("SSA_DIRECTORY_COLOUR", "red")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SSA_DIRECTORY_COLOUR"), "{err}");
    }

    #[test]
    fn https_public_url_selects_secure_cookies() {
        let config = Config::load_from(
            None,
            env(&[("SSA_DIRECTORY_PUBLIC_URL", "https://directory.example/")]),
        )
        .unwrap();
        assert!(config.is_https());
        assert_eq!(config.public_url(), "https://directory.example");
    }

    #[test]
    fn tls_settings_go_together() {
        let refused = |vars: &[(&str, &str)]| {
            let error = Config::load_from(None, env(vars)).unwrap_err().to_string();
            assert!(error.contains("go"), "{error}");
        };
        refused(&[("SSA_DIRECTORY_TLS_CERT_FILE", "tls.pem")]);
        refused(&[("SSA_DIRECTORY_CLIENT_CERT_HEADER", "x-ssl-client-cert")]);
        refused(&[("SSA_DIRECTORY_TRUSTED_PROXIES", "10.0.0.1")]);
        let error = Config::load_from(None, env(&[("SSA_DIRECTORY_MTLS_LISTEN", "0.0.0.0:8443")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("tls_cert_file"), "{error}");

        let config = Config::load_from(
            None,
            env(&[
                ("SSA_DIRECTORY_TLS_CERT_FILE", "tls.pem"),
                ("SSA_DIRECTORY_TLS_KEY_FILE", "tls.key"),
                ("SSA_DIRECTORY_MTLS_LISTEN", "0.0.0.0:8443"),
                ("SSA_DIRECTORY_CLIENT_CERT_HEADER", "x-ssl-client-cert"),
                ("SSA_DIRECTORY_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2"),
            ]),
        )
        .unwrap();
        assert!(config.is_https() && config.mutual_tls());
        assert_eq!(config.trusted_proxies.len(), 2);
    }
}
