//! The service's settings: `ServerConfig` (each setting also an `SSA_REGISTRAR_` environment
//! variable) and where client certificates come from (`Mtls`).

use super::*;

/// The service's settings (each also an `SSA_REGISTRAR_` environment variable). Its `Debug`
/// shows no secret: the clients token, the database's password and the callout URL's
/// credentials are redacted.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where to listen (`SSA_REGISTRAR_LISTEN`, default 127.0.0.1:8090).
    pub listen: SocketAddr,
    /// Its public URL: the `aud` of signed requests and the base of `registration_client_uri`
    /// (`SSA_REGISTRAR_PUBLIC_URL`; default `http://`, or `https://` with `tls`, and the
    /// address listened on).
    pub public_url: Option<String>,
    /// Discovery URLs of the trusted directories (`SSA_REGISTRAR_DIRECTORIES`).
    pub directories: Vec<String>,
    /// `SSA_REGISTRAR_PROFILE`: open, fapi2 (default), obuk or cdr.
    pub profile: SecurityProfile,
    /// `SSA_REGISTRAR_REGISTRATION`: open (default) or protected.
    pub registration: Access,
    /// `SSA_REGISTRAR_STATEMENTS`: required (default), optional or ignored.
    pub statements: Statements,
    /// `SSA_REGISTRAR_CLIENT_ID`: per-instance (default) or per-software.
    pub client_ids: ClientIds,
    /// `DATABASE_URL` (default `sqlite://registrar-data/registrar.db`).
    pub database_url: String,
    /// The service's own certificate chain and key (PEM files): with them it listens with
    /// TLS (`SSA_REGISTRAR_TLS_CERT_FILE`, `SSA_REGISTRAR_TLS_KEY_FILE`).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Where client certificates come from (`SSA_REGISTRAR_MTLS`).
    pub mtls: Mtls,
    /// Custom rules: the proposed client is POSTed here, and the answer allows, refuses or
    /// adjusts it (`SSA_REGISTRAR_CALLOUT_URL`, answered within `SSA_REGISTRAR_CALLOUT_TIMEOUT_MS`).
    pub callout: Option<(String, std::time::Duration)>,
    /// Keep registrations in the database, or seal them into the client ids
    /// (`SSA_REGISTRAR_STATE`: stateful or stateless).
    pub stateless: bool,
    /// The registrar's key folder (`SSA_REGISTRAR_KEYS_DIR`, default `registrar-keys`): the
    /// stateless mode's client id keys.
    pub keys_dir: std::path::PathBuf,
    /// The token the authorization server shows (`Authorization: Bearer`) to read clients,
    /// their statuses and their changes (`SSA_REGISTRAR_CLIENTS_TOKEN`, or by its former name
    /// `SSA_REGISTRAR_STATUS_TOKEN`); without one they are open.
    pub clients_token: Option<String>,
    /// The OpenID Federation trust anchor (its entity identifier) to register clients under
    /// by explicit registration, and to name as the registrar's authority in its own entity
    /// configuration (`SSA_REGISTRAR_TRUST_ANCHOR`); without one, no federation endpoints.
    pub trust_anchor: Option<String>,
    /// The trust anchor's keys, pinned: a JWKS file (`SSA_REGISTRAR_TRUST_ANCHOR_JWKS`). With
    /// it, the anchor's entity configuration, its resolve answers and the chains under it
    /// must be signed by one of these keys, whatever the anchor's configuration publishes;
    /// without it, the keys the anchor's configuration publishes are trusted (over the
    /// connection to the configured anchor URL).
    pub trust_anchor_jwks: Option<std::path::PathBuf>,
    /// The CA certificates (a PEM file) to trust, instead of the platform's trust store, for
    /// every HTTPS request the registrar makes: the directories, the callout, clients'
    /// `jwks_uri` (`SSA_REGISTRAR_CA_FILE`; like `curl --cacert`, only these are trusted).
    pub ca_file: Option<std::path::PathBuf>,
    /// How long a request's head may take to arrive once its connection is open; slower
    /// clients get `408` and the connection closes (`SSA_REGISTRAR_HEADER_READ_TIMEOUT_MS`,
    /// default 5 s).
    pub header_read_timeout: std::time::Duration,
    /// How long a request's body may take to arrive after its head; slower bodies get `408`
    /// and the connection closes (`SSA_REGISTRAR_BODY_READ_TIMEOUT_MS`, default 5 s).
    pub body_read_timeout: std::time::Duration,
    /// Connections served at once (`SSA_REGISTRAR_MAX_CONNECTIONS`, default 512): beyond it
    /// new connections wait in the listen backlog, so a flood of idle connections cannot
    /// exhaust the process's file descriptors.
    pub max_connections: usize,
    /// A folder of answers to SSA directories' proof-of-control challenges for the bank's
    /// issuer, as a web root for ACME's http-01: the file named `TOKEN` holds the answer the
    /// directory shows (`TOKEN.ORG_ID`) and is served at
    /// `/.well-known/ssa-directory-challenge/TOKEN` (`SSA_REGISTRAR_CHALLENGE_DIR`): for a
    /// registrar whose public URL is the authorization server's issuer.
    pub challenge_dir: Option<std::path::PathBuf>,
    /// Whether statements must be shown in their directory's transparency log
    /// (`SSA_REGISTRAR_TRANSPARENCY`: off, the default, warn or require); each proof is
    /// fetched from the directory that issued the statement.
    pub transparency: ssa_verifier::Transparency,
    /// The log's note verifier key, pinned (`SSA_REGISTRAR_LOG_KEY`); without it, the one
    /// each directory publishes.
    pub log_key: Option<String>,
}

/// Where the client's TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mtls {
    /// No client certificates (`off`).
    Off,
    /// The service terminates TLS and requires a client certificate issued by a trusted
    /// directory's CA (`required`; needs `tls`).
    Required,
    /// A TLS-terminating proxy passes the certificate (PEM, URL-encoded as nginx's
    /// `$ssl_client_escaped_cert`) in this header (`header:NAME`); it is read only from the
    /// proxy addresses (`SSA_REGISTRAR_TRUSTED_PROXIES`).
    Header {
        /// The header's name.
        name: String,
        /// The proxies the header is accepted from.
        proxies: Vec<std::net::IpAddr>,
    },
}

/// As in a configuration file: `off`, `required` or `header:NAME`.
impl<'de> serde::Deserialize<'de> for Mtls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Mtls {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "required" => Ok(Self::Required),
            other => match other.strip_prefix("header:") {
                Some(name) if !name.is_empty() => Ok(Self::Header {
                    name: name.to_owned(),
                    proxies: vec![],
                }),
                _ => Err(format!(
                    "unknown mtls setting {other:?} (off, required or header:NAME)"
                )),
            },
        }
    }
}

/// A URL with its password (`user:password@`) replaced.
fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("directories", &self.directories)
            .field("profile", &self.profile)
            .field("registration", &self.registration)
            .field("statements", &self.statements)
            .field("client_ids", &self.client_ids)
            .field("database_url", &redacted_url(&self.database_url))
            .field("tls", &self.tls)
            .field("mtls", &self.mtls)
            .field(
                "callout",
                &self
                    .callout
                    .as_ref()
                    .map(|(url, timeout)| (redacted_url(url), timeout)),
            )
            .field("stateless", &self.stateless)
            .field("keys_dir", &self.keys_dir)
            .field(
                "clients_token",
                &self.clients_token.as_ref().map(|_| "[redacted]"),
            )
            .field("trust_anchor", &self.trust_anchor)
            .field("trust_anchor_jwks", &self.trust_anchor_jwks)
            .field("ca_file", &self.ca_file)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("challenge_dir", &self.challenge_dir)
            .field("transparency", &self.transparency)
            .field("log_key", &self.log_key)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            public_url: None,
            directories: vec![],
            profile: SecurityProfile::Fapi2,
            registration: Access::Open,
            statements: Statements::Required,
            client_ids: ClientIds::PerInstance,
            database_url: "sqlite://registrar-data/registrar.db".into(),
            tls: None,
            mtls: Mtls::Off,
            callout: None,
            stateless: false,
            keys_dir: "registrar-keys".into(),
            clients_token: None,
            trust_anchor: None,
            trust_anchor_jwks: None,
            ca_file: None,
            header_read_timeout: std::time::Duration::from_secs(5),
            body_read_timeout: std::time::Duration::from_secs(5),
            max_connections: 512,
            challenge_dir: None,
            transparency: ssa_verifier::Transparency::Off,
            log_key: None,
        }
    }
}

impl ServerConfig {
    /// The policy these settings describe.
    pub fn policy(&self) -> Policy {
        let mut policy = Policy::for_profile(self.profile);
        policy.access = self.registration;
        policy.statements = self.statements;
        policy.client_ids = self.client_ids;
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::{ServerConfig, redacted_url};

    #[test]
    fn the_settings_show_no_secret_when_debugged() {
        let config = ServerConfig {
            database_url: "postgres://registrar:DB-SECRET@db.example/registrar".into(),
            clients_token: Some("TOKEN-SECRET".into()),
            callout: Some((
                "https://rules:CALLOUT-SECRET@bank.example/rules".into(),
                std::time::Duration::from_secs(1),
            )),
            ..ServerConfig::default()
        };
        let shown = format!("{config:?}");
        for secret in ["DB-SECRET", "TOKEN-SECRET", "CALLOUT-SECRET"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("postgres://registrar:[redacted]@db.example/registrar"));
        assert_eq!(
            redacted_url("sqlite://registrar.db"),
            "sqlite://registrar.db"
        );
    }
}
