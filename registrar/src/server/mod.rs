//! The registration service (feature `server`): `POST /register` (RFC 7591) and the client
//! configuration endpoint `/register/{client_id}` (RFC 7592: read, update, delete with the
//! registration access token), over the library core and a stateful store.

mod barrier;
mod callout;
mod clients;
mod federation;
mod stateless;
mod store;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::{
    Access, Client, ClientIds, Policy, Presented, Registrar, RegistrationError, SecurityProfile,
    Statements,
};
use store::{ClientRow, Db, Pool};

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
            .field("ca_file", &self.ca_file)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("challenge_dir", &self.challenge_dir)
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
            ca_file: None,
            header_read_timeout: std::time::Duration::from_secs(5),
            body_read_timeout: std::time::Duration::from_secs(5),
            max_connections: 512,
            challenge_dir: None,
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

/// How long the service reuses a product's or statement's status: the directory's events
/// clear it at once, so this only bounds staleness while the feed cannot be read.
const STATUS_CACHE: std::time::Duration = std::time::Duration::from_secs(30);

struct State {
    registrar: Registrar,
    pool: Pool,
    public_url: String,
    mtls: Mtls,
    /// In stateless mode, what seals registrations into client ids.
    sealer: Option<stateless::Sealer>,
    /// Whether decisions call out to the configured URL.
    callout: bool,
    /// Stores registrations, many per transaction.
    writer: Writer,
    /// The SHA-256 of the token the authorization server shows to read clients.
    clients_token: Option<String>,
    /// Woken when a client changes, for the client feed's long polls.
    changed: tokio::sync::Notify,
    /// Its federation identity, when it has a trust anchor.
    federation: Option<federation::Federation>,
    /// What the followed feeds have stopped, by issuer and `software:`, `organisation:` or
    /// `statement:` id, with the reason: the status of stateless clients.
    stopped: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
    /// The HTTP client of federation fetches (clients' `jwks_uri`).
    http: ssa_verifier::HttpClient,
    /// Per trusted directory, the cursor up to which its events are applied (held while a
    /// page is applied: one reader applies at a time).
    cursors: Vec<std::sync::Mutex<Option<String>>>,
    /// Registrations wait here for a read of the feeds that began after they arrived.
    barrier: std::sync::Arc<barrier::Barrier>,
    /// How long a request body may take to arrive.
    body_read_timeout: std::time::Duration,
    /// The folder of answers to directories' proof-of-control challenges.
    challenge_dir: Option<std::path::PathBuf>,
}

impl State {
    /// Its federation identity (the handlers that need it answer `404` without one first).
    fn federation(&self) -> anyhow::Result<&federation::Federation> {
        self.federation
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this registrar has no trust anchor configured"))
    }
}

/// The client certificate of a TLS connection (PEM).
#[derive(Clone)]
struct PeerCertificate(String);

/// The client certificate of a request: from the TLS connection, or from the proxy's
/// header when the request comes from a trusted proxy.
fn client_certificate(state: &State, req: &HttpRequest) -> Option<String> {
    match &state.mtls {
        Mtls::Off => None,
        Mtls::Required => req.conn_data::<PeerCertificate>().map(|c| c.0.clone()),
        Mtls::Header { name, proxies } => {
            let peer = req.peer_addr()?.ip();
            if !proxies.contains(&peer) {
                return None;
            }
            let value = req.headers().get(name.as_str())?.to_str().ok()?;
            let pem = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()?
                .into_owned();
            pem.contains("BEGIN CERTIFICATE").then_some(pem)
        }
    }
}

/// The PEM certificates of each trusted directory's CA chain (its discovery `ca_uri`).
fn directory_cas(
    discovery_urls: &[String],
    http: &ssa_verifier::HttpClient,
) -> anyhow::Result<Vec<openssl::x509::X509>> {
    let mut certificates = vec![];
    for url in discovery_urls {
        let url = if url.contains("/.well-known/") {
            url.clone()
        } else {
            format!("{}/.well-known/ssa-directory", url.trim_end_matches('/'))
        };
        let discovery: Value = serde_json::from_slice(&http.get(&url)?)?;
        let ca_uri = discovery["ca_uri"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("{url} names no ca_uri"))?;
        let pem = http.get(ca_uri)?;
        certificates.extend(openssl::x509::X509::stack_from_pem(&pem)?);
    }
    Ok(certificates)
}

/// A TLS acceptor with the service's certificate; with `require_clients`, client
/// certificates are required and must chain to one of `cas`.
fn acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
    cas: &[openssl::x509::X509],
    require_clients: bool,
) -> anyhow::Result<openssl::ssl::SslAcceptorBuilder> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    builder
        .set_certificate_chain_file(cert)
        .map_err(|e| anyhow::anyhow!("TLS certificate {}: {e}", cert.display()))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| anyhow::anyhow!("TLS key {}: {e}", key.display()))?;
    if require_clients {
        let mut store = openssl::x509::store::X509StoreBuilder::new()?;
        for ca in cas {
            store.add_cert(ca.clone())?;
            builder.add_client_ca(ca)?;
        }
        builder.set_verify_cert_store(store.build())?;
        builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    Ok(builder)
}

/// A running registration service.
pub struct Running {
    /// The port it listens on.
    pub port: u16,
    /// Stops it.
    pub handle: ServerHandle,
    /// The server; await it (or spawn it) to serve.
    pub server: actix_web::dev::Server,
}

/// Opens the store, discovers the trusted directories and binds the listener.
pub async fn start(config: ServerConfig) -> anyhow::Result<Running> {
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let port = listener.local_addr()?.port();
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| {
            let scheme = if config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}:{port}", config.listen.ip())
        })
        .trim_end_matches('/')
        .to_owned();
    let (url, audience, directories, policy, callout) = (
        config.database_url.clone(),
        public_url.clone(),
        config.directories.clone(),
        config.policy(),
        config.callout.clone(),
    );
    if config.mtls == Mtls::Required && config.tls.is_none() {
        anyhow::bail!("mtls required needs the service's own TLS certificate and key");
    }
    let need_cas = config.mtls == Mtls::Required;
    if config.stateless && config.client_ids == ClientIds::PerSoftware {
        anyhow::bail!(
            "a stateless registrar cannot share client ids per software (that needs a record of the first registration)"
        );
    }
    let sealer = config
        .stateless
        .then(|| stateless::Sealer::load_or_create(&config.keys_dir))
        .transpose()?;
    // One HTTP client for everything the registrar fetches or calls, with the CA it trusts.
    let ca_pem = config
        .ca_file
        .as_deref()
        .map(|path| {
            std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read the CA file {}: {e}", path.display()))
        })
        .transpose()?;
    let trusting = move |settings: ssa_verifier::Settings| match &ca_pem {
        Some(pem) => settings.with_ca_certificates(pem.clone()),
        None => settings,
    };
    let client = |timeout| {
        ssa_verifier::HttpClient::new(
            &trusting(ssa_verifier::Settings::default()).with_http_timeout(timeout),
        )
        .map_err(|e| anyhow::anyhow!("SSA_REGISTRAR_CA_FILE: {e}"))
    };
    let http = client(federation::FETCH_TIMEOUT)?;
    let callout = callout
        .map(|(url, timeout)| client(timeout).map(|http| callout::Callout::new(&url, http)))
        .transpose()?;
    let ca_client = client(std::time::Duration::from_secs(10))?;
    let settings = trusting(
        // The feed is followed (below), and each event clears the cached status it changes.
        Registrar::verifier_settings(&policy, &audience, STATUS_CACHE)
            .with_statement_status_from_feed(true),
    );
    let (pool, registrar, cas, cursors) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let pool = store::open(&url)?;
            let urls: Vec<&str> = directories.iter().map(String::as_str).collect();
            let mut registrar = Registrar::discover_with(policy, &urls, settings)
                .map_err(|e| anyhow::anyhow!("cannot read a trusted directory: {e}"))?;
            if let Some(callout) = callout {
                registrar = registrar.with_interceptor(callout);
            }
            let cas = if need_cas {
                directory_cas(&directories, &ca_client)
                    .map_err(|e| anyhow::anyhow!("cannot read a trusted directory's CA: {e}"))?
            } else {
                vec![]
            };
            // Where each directory's feed was left.
            let mut conn = pool.get()?;
            let cursors = registrar
                .directories()
                .iter()
                .map(|d| Ok(std::sync::Mutex::new(store::cursor(&mut conn, d.issuer())?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            drop(conn);
            Ok((pool, registrar, cas, cursors))
        })
        .await??;
    let writer = Writer::start(pool.clone(), public_url.clone())?;
    let federation = config
        .trust_anchor
        .as_deref()
        .map(|anchor| {
            federation::Federation::load_or_create(
                &config.keys_dir,
                &public_url,
                anchor.trim_end_matches('/'),
            )
        })
        .transpose()?;
    let state = web::Data::new(State {
        registrar,
        pool,
        public_url,
        mtls: config.mtls.clone(),
        sealer,
        callout: config.callout.is_some(),
        stopped: std::sync::Mutex::new(std::collections::HashMap::new()),
        writer,
        clients_token: config.clients_token.as_deref().map(store::hash),
        changed: tokio::sync::Notify::new(),
        federation,
        http,
        body_read_timeout: config.body_read_timeout,
        challenge_dir: config.challenge_dir.clone(),
        cursors,
        barrier: std::sync::Arc::new(barrier::Barrier::default()),
    });
    if state.sealer.is_some() {
        // What the feeds stopped so far, for stateless clients' statuses.
        let shared = state.clone().into_inner();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = shared.pool.get()?;
            for (issuer, subject, reason) in store::stopped(&mut conn)? {
                remember(&shared, &issuer, subject, Some(reason));
            }
            Ok(())
        })
        .await??;
    }
    // Each directory's feed, read up to now before the service answers, then followed; the
    // threads hold the state weakly and end with the service.
    let directories = state.registrar.directories().len();
    {
        let shared = state.clone().into_inner();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for index in 0..directories {
                read_to_end(&shared, index).map_err(|e| {
                    anyhow::anyhow!("cannot read a trusted directory's events: {e}")
                })?;
            }
            Ok(())
        })
        .await??;
    }
    for index in 0..directories {
        let weak = std::sync::Arc::downgrade(&state.clone().into_inner());
        std::thread::Builder::new()
            .name(format!("follow-directory-{index}"))
            .spawn(move || follow(&weak, index))?;
    }
    if directories > 0 {
        let weak = std::sync::Arc::downgrade(&state.clone().into_inner());
        let barrier = state.barrier.clone();
        std::thread::Builder::new()
            .name("feed-barrier".into())
            .spawn(move || {
                barrier.serve(
                    || {
                        let Some(state) = weak.upgrade() else {
                            return false;
                        };
                        (0..directories).all(|index| match read_to_end(&state, index) {
                            Ok(()) => true,
                            Err(error) => {
                                tracing::warn!(%error, index, "cannot read the directory's events for a registration");
                                false
                            }
                        })
                    },
                    || weak.strong_count() > 0,
                );
            })?;
    }
    const WORKERS: usize = 2;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                invalid_request(format!("the query string is not understood: {e}"))
            }))
            .app_data(
                web::PathConfig::default().error_handler(|e, _| {
                    invalid_request(format!("the path is not understood: {e}"))
                }),
            )
            .wrap(actix_web::middleware::from_fn(bound_body_time))
            .service(web::resource("/register").route(web::post().to(register)))
            .service(
                web::resource("/register/{client_id}")
                    .route(web::get().to(read))
                    .route(web::put().to(update))
                    .route(web::delete().to(delete)),
            )
            .service(
                web::resource("/clients/changes").route(web::get().to(clients::client_changes)),
            )
            .service(
                web::resource("/clients/{client_id}")
                    .route(web::get().to(clients::client_document)),
            )
            .service(
                web::resource("/clients/{client_id}/status")
                    .route(web::get().to(clients::client_status)),
            )
            .service(
                web::resource("/.well-known/openid-federation")
                    .route(web::get().to(entity_configuration)),
            )
            .service(web::resource("/federation/register").route(web::post().to(register_explicit)))
            .service(
                web::resource("/.well-known/ssa-directory-challenge/{token}")
                    .route(web::get().to(issuer_challenge)),
            )
            .service(
                web::resource("/federation/automatic").route(web::post().to(register_automatic)),
            )
            .default_service(web::to(not_found))
            .wrap(
                actix_web::middleware::ErrorHandlers::new()
                    .handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed),
            )
    })
    .workers(WORKERS)
    .client_request_timeout(config.header_read_timeout)
    .max_connections(config.max_connections.div_ceil(WORKERS).max(1))
    .on_connect(|connection, data| {
        use actix_web::rt::net::TcpStream;
        if let Some(tls) =
            connection.downcast_ref::<actix_tls::accept::openssl::TlsStream<TcpStream>>()
            && let Some(pem) = tls
                .ssl()
                .peer_certificate()
                .and_then(|c| c.to_pem().ok())
                .and_then(|p| String::from_utf8(p).ok())
        {
            data.insert(PeerCertificate(pem));
        }
    });
    let server = match &config.tls {
        Some((cert, key)) => server.listen_openssl(
            listener,
            acceptor(cert, key, &cas, config.mtls == Mtls::Required)?,
        )?,
        None => server.listen(listener)?,
    }
    .run();
    Ok(Running {
        port,
        handle: server.handle(),
        server,
    })
}

/// The answer to a request the registrar cannot read (a query or path it does not
/// understand): RFC 6749's `invalid_request`, as JSON.
fn invalid_request(description: String) -> actix_web::Error {
    let body = json!({"error": "invalid_request", "error_description": description});
    actix_web::error::InternalError::from_response(
        description,
        HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body),
    )
    .into()
}

/// The answer to a directory's proof-of-control challenge `token`: the file of that name in
/// the challenge folder, as text (a token is base64url; anything else names no file).
async fn issuer_challenge(state: web::Data<State>, path: web::Path<String>) -> HttpResponse {
    let token = path.into_inner();
    let well_formed = !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let answer = match (&state.challenge_dir, well_formed) {
        (Some(dir), true) => std::fs::read_to_string(dir.join(&token)).ok(),
        _ => None,
    };
    match answer {
        Some(answer) => HttpResponse::Ok()
            .content_type("text/plain")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(answer.trim().to_owned()),
        None => HttpResponse::NotFound().json(json!({
            "error": "not_found",
            "error_description": "no answer to this challenge is in the challenge folder (SSA_REGISTRAR_CHALLENGE_DIR)",
        })),
    }
}

/// A path the registrar does not serve: a JSON `404`.
async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "error": "not_found",
        "error_description": format!("the registrar serves nothing at {}", req.path()),
    }))
}

/// A path it serves, with a method it does not: `405` with the methods it answers (`Allow`).
fn method_not_allowed<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let allow = match res.request().match_pattern().as_deref() {
        Some("/register" | "/federation/register" | "/federation/automatic") => "POST",
        Some("/register/{client_id}") => "GET, PUT, DELETE",
        Some(_) => "GET",
        None => "",
    };
    let (req, _) = res.into_parts();
    let response = HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .json(json!({
            "error": "invalid_request",
            "error_description": format!("{} {} is not served here; it answers {allow}", req.method(), req.path()),
        }));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// Middleware: bounds the time a request body may take to arrive after the request head (the
/// server already bounds the head). A client that announces a body and sends it slowly, or
/// never, would otherwise hold its connection and a file descriptor as long as it likes; once
/// the limit has passed the body's stream ends with `TimedOut`, and the answer is a `408`
/// that closes the connection, whatever the handler made of the cut body.
async fn bound_body_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let declares_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let limit = req
        .app_data::<web::Data<State>>()
        .map(|state| state.body_read_timeout);
    let expired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let (true, Some(limit)) = (declares_body, limit) {
        let payload = req.take_payload();
        req.set_payload(actix_web::dev::Payload::Stream {
            payload: Box::pin(DeadlinePayload {
                inner: payload,
                deadline: Box::pin(tokio::time::sleep(limit)),
                expired: expired.clone(),
            }),
        });
    }
    let response = next.call(req).await?;
    if !expired.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(response.map_into_boxed_body());
    }
    let (req, _) = response.into_parts();
    let timeout = HttpResponse::RequestTimeout()
        .insert_header((header::CONNECTION, "close"))
        .json(json!({
            "error": "invalid_request",
            "error_description": "the request body did not arrive in time",
        }));
    Ok(ServiceResponse::new(req, timeout))
}

/// A request body that fails with `TimedOut` once its deadline has passed.
struct DeadlinePayload {
    inner: actix_web::dev::Payload,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    expired: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl futures_core::Stream for DeadlinePayload {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::sync::atomic::Ordering;
        use std::task::Poll;
        let this = self.get_mut();
        if this.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.expired.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the request body did not arrive in time",
                        ),
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn error(e: &RegistrationError) -> HttpResponse {
    let mut response = if e.status() == 401 {
        let mut r = HttpResponse::Unauthorized();
        r.insert_header((
            header::WWW_AUTHENTICATE,
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                e.error_description.replace('"', "'")
            ),
        ));
        r
    } else {
        HttpResponse::BadRequest()
    };
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(e.to_json())
}

fn server_error(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "registration failed");
    HttpResponse::InternalServerError()
        .content_type("application/json")
        .body(json!({"error": "server_error", "error_description": "the registration could not be stored"}).to_string())
}

fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// The outcome of a write on the blocking pool.
enum Stored {
    Done(Value, u16),
    Refused(RegistrationError),
}

/// A pooled connection taken when first needed: a stateless registration without an initial
/// token needs none.
struct Lazy<'a> {
    pool: &'a Pool,
    conn: Option<store::Pooled>,
}

impl Lazy<'_> {
    fn db(&mut self) -> Result<&mut Db, anyhow::Error> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.get()?,
        };
        Ok(self.conn.insert(conn))
    }
}

async fn blocking<F>(state: &web::Data<State>, f: F) -> HttpResponse
where
    F: FnOnce(&State, &mut Lazy) -> Result<Stored, anyhow::Error> + Send + 'static,
{
    let state = state.clone().into_inner();
    let result = web::block(move || -> Result<Stored, anyhow::Error> {
        let mut conn = Lazy {
            pool: &state.pool,
            conn: None,
        };
        f(&state, &mut conn)
    })
    .await;
    respond(result.map_err(anyhow::Error::from).and_then(|r| r))
}

/// Runs `f` on the HTTP worker: only for work that neither waits on the database nor fetches.
fn inline<F>(state: &web::Data<State>, f: F) -> HttpResponse
where
    F: FnOnce(&State, &mut Lazy) -> Result<Stored, anyhow::Error>,
{
    let mut conn = Lazy {
        pool: &state.pool,
        conn: None,
    };
    respond(f(state, &mut conn))
}

fn respond(result: Result<Stored, anyhow::Error>) -> HttpResponse {
    match result {
        Ok(Stored::Done(body, status)) => {
            let status = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::OK);
            HttpResponse::build(status)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(body)
        }
        Ok(Stored::Refused(e)) => error(&e),
        Err(e) => server_error(e),
    }
}

/// A decided registration to store.
struct Record {
    client: Client,
    statement: Option<String>,
    issued_at: i64,
    initial_token: Option<String>,
}

/// Stores one decided client inside the caller's transaction: spends a single-use initial
/// token, refuses a replayed statement or another organisation's shared client, then writes
/// the row with the hashed access token (and secret).
fn store_one(public_url: &str, tx: &mut Db, record: Record) -> Result<Stored, anyhow::Error> {
    let Record {
        mut client,
        statement,
        issued_at,
        initial_token,
    } = record;
    if let Some(token) = &initial_token
        && !store::spend_initial_token(tx, token, now())?
    {
        return Ok(Stored::Refused(RegistrationError::token(
            "the initial access token is unknown, expired or spent",
        )));
    }
    if let Some(facts) = &client.statement {
        if client.shared
            && let Some(existing) = store::client_of_software(tx, &facts.software_id)?
            && existing.org_id.as_deref() != Some(facts.org_id.as_str())
        {
            return Ok(Stored::Refused(RegistrationError::statement(
                "this software is registered here for another organisation",
            )));
        }
        if let Some(jti) = &facts.jti
            && !store::use_statement(tx, &facts.issuer, jti, &client.client_id, facts.expires_at)?
        {
            return Ok(Stored::Refused(RegistrationError::statement(format!(
                "this software statement (jti {jti}) was used for a registration already"
            ))));
        }
    }
    if client.shared {
        client.metadata.remove("client_secret");
    }
    let token = store::secret("ssarat_");
    let secret = client.needs_secret.then(|| store::secret(""));
    let row = ClientRow {
        client_id: client.client_id.clone(),
        software_id: client.statement.as_ref().map(|s| s.software_id.clone()),
        org_id: client.statement.as_ref().map(|s| s.org_id.clone()),
        issuer: client.statement.as_ref().map(|s| s.issuer.clone()),
        statement,
        metadata: Value::Object(client.metadata.clone()).to_string(),
        secret_hash: secret.as_deref().map(store::hash),
        access_token_hash: store::hash(&token),
        issued_at,
        updated_at: now(),
        deleted_at: None,
        disabled_at: None,
        disabled_reason: None,
    };
    store::save(tx, &row)?;
    let uri = format!("{public_url}/register/{}", client.client_id);
    Ok(Stored::Done(
        client.information_response(issued_at, secret.as_deref(), &token, &uri),
        201,
    ))
}

/// A registration for the writer and where to send its outcome.
type Job = (Record, std::sync::mpsc::Sender<Result<Stored, String>>);

/// Group commit of registrations: one thread takes every registration waiting (up to 64) and
/// stores them in one transaction, then answers each, so that concurrent registrations share
/// a commit instead of queueing for one each. A registration is answered only after its
/// commit.
struct Writer {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl Writer {
    fn start(pool: Pool, public_url: String) -> anyhow::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("registration-writer".into())
            .spawn(move || {
                // Its own connection for as long as it runs: the registrations waiting for it
                // hold pooled ones.
                let mut conn = None;
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < 64 {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let (records, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    if conn.is_none() {
                        conn = pool.get().ok();
                    }
                    let outcome = match conn.as_mut() {
                        Some(conn) => store::write(conn, |tx| {
                            records
                                .into_iter()
                                .map(|record| store_one(&public_url, tx, record))
                                .collect::<Result<Vec<_>, _>>()
                        }),
                        None => Err(anyhow::anyhow!("no database connection")),
                    };
                    match outcome {
                        Ok(results) => {
                            for (reply, result) in replies.into_iter().zip(results) {
                                let _ = reply.send(Ok(result));
                            }
                        }
                        Err(error) => {
                            for reply in replies {
                                let _ = reply.send(Err(error.to_string()));
                            }
                        }
                    }
                }
            })?;
        Ok(Self {
            jobs: std::sync::Mutex::new(jobs),
        })
    }

    /// Stores one registration with the others waiting; its outcome after the commit.
    fn store(&self, record: Record) -> Result<Stored, anyhow::Error> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.jobs
            .lock()
            .map_err(|_| anyhow::anyhow!("the registration writer is gone"))?
            .send((record, reply))
            .map_err(|_| anyhow::anyhow!("the registration writer is gone"))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the registration writer is gone"))?
            .map_err(|e| anyhow::anyhow!(e))
    }
}

/// Waits until the trusted directories' feeds have been read past the moment the request
/// arrived, so that a statement revoked (or a product suspended) before it is refused; a
/// refusal when the feeds cannot be read now. Nothing to wait for when statements are
/// ignored.
async fn feeds_current(state: &State) -> Result<(), RegistrationError> {
    if state.registrar.policy().statements == Statements::Ignored
        || state.registrar.directories().is_empty()
        || state.barrier.pass().await
    {
        return Ok(());
    }
    Err(RegistrationError::unapproved(
        "the trusted directory's change events cannot be read now, so whether the statement was revoked is unknown: try again shortly",
    ))
}

async fn register(state: web::Data<State>, req: HttpRequest, body: String) -> HttpResponse {
    if let Err(e) = feeds_current(&state).await {
        return error(&e);
    }
    let token = bearer(&req);
    let certificate = client_certificate(&state, &req);
    // A stateless registration of JSON metadata with neither an initial token (the database)
    // nor a client certificate (revocation lists), no callout configured and every
    // directory's keys cached waits on nothing: it is decided on the HTTP worker, saving two
    // thread hand-offs. (Its only possible fetch, a directory's keys again for an unknown
    // kid, happens at most once per refresh interval.)
    let on_worker = state.sealer.is_some()
        && !state.callout
        && token.is_none()
        && certificate.is_none()
        && body.trim_start().starts_with('{')
        && state.registrar.directories().iter().all(|d| d.keys_fresh());
    let decide = move |state: &State, conn: &mut Lazy| {
        let at = now();
        let initial = match &token {
            Some(token) => store::initial_token_valid(conn.db()?, token, at)?,
            None => false,
        };
        if token.is_some() && !initial && state.registrar.policy().access == Access::Protected {
            return Ok(Stored::Refused(RegistrationError::token(
                "the initial access token is unknown, expired or spent",
            )));
        }
        let presented = Presented {
            initial_access_token: initial,
            client_certificate: certificate,
        };
        let client = match state.registrar.register(&body, &presented) {
            Ok(client) => client,
            Err(e) => return Ok(Stored::Refused(e)),
        };
        let initial_token = token.clone().filter(|_| initial);
        if state.sealer.is_some() {
            return keep(state, conn, client, initial_token, at);
        }
        let shared = if client.shared {
            client
                .statement
                .as_ref()
                .map(|s| {
                    Ok::<_, anyhow::Error>(store::client_of_software(conn.db()?, &s.software_id)?)
                })
                .transpose()?
                .flatten()
        } else {
            None
        };
        let issued_at = shared.as_ref().map_or(at, |s| s.issued_at);
        let mut stored = keep(state, conn, client, initial_token, issued_at)?;
        if let (Some(_), Stored::Done(_, status)) = (&shared, &mut stored) {
            // The same software again: its shared client, with a new access token.
            *status = 200;
        }
        Ok(stored)
    };
    if on_worker {
        inline(&state, decide)
    } else {
        blocking(&state, decide).await
    }
}

/// Keeps a decided client: sealed into its client id when the registrar is stateless, else
/// stored with the registrations waiting.
fn keep(
    state: &State,
    conn: &mut Lazy,
    client: Client,
    initial_token: Option<String>,
    issued_at: i64,
) -> Result<Stored, anyhow::Error> {
    if let Some(sealer) = &state.sealer {
        return seal(
            state,
            sealer,
            conn,
            client,
            initial_token.as_deref(),
            issued_at,
        );
    }
    let statement = client
        .statement
        .as_ref()
        .map(|s| s.token.clone())
        .filter(|t| !t.is_empty());
    state.writer.store(Record {
        client,
        statement,
        issued_at,
        initial_token,
    })
}

/// A federation endpoint's error (OpenID Federation 1.0, section 8.9).
fn federation_error(status: u16, code: &str, description: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    )
    .insert_header((header::CACHE_CONTROL, "no-store"))
    .content_type("application/json")
    .body(json!({"error": code, "error_description": description.to_string()}).to_string())
}

/// `GET /.well-known/openid-federation`: the registrar's entity configuration.
async fn entity_configuration(state: web::Data<State>) -> HttpResponse {
    let Some(federation) = &state.federation else {
        return federation_error(
            404,
            "not_found",
            "this registrar has no trust anchor configured",
        );
    };
    match federation.entity_configuration(now()) {
        Ok(jwt) => HttpResponse::Ok()
            .content_type("application/entity-statement+jwt")
            .body(jwt),
        Err(e) => server_error(e),
    }
}

/// `POST /federation/register`: explicit registration (OpenID Federation 1.0, section 12.2).
/// The body is the client's entity configuration (`application/entity-statement+jwt`),
/// addressed to this registrar; its trust chain is resolved up to the trust anchor, its
/// resolved metadata registered under the policy, and the answer is the signed
/// `explicit-registration-response+jwt` whose `openid_relying_party` metadata is the client
/// information (with the RFC 7592 access token and URI).
async fn register_explicit(
    state: web::Data<State>,
    req: HttpRequest,
    body: String,
) -> HttpResponse {
    let Some(federation) = &state.federation else {
        return federation_error(
            404,
            "not_found",
            "this registrar has no trust anchor configured",
        );
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !content_type.eq_ignore_ascii_case("application/entity-statement+jwt") {
        return federation_error(
            400,
            "invalid_request",
            "send the client's entity configuration as application/entity-statement+jwt",
        );
    }
    let request = body.trim().to_owned();
    let sub = match federation.check_request(&request) {
        Ok(sub) => sub,
        Err(why) => return federation_error(400, "invalid_request", why),
    };
    let state = state.into_inner();
    let decided = web::block(
        move || -> Result<Result<String, RegistrationError>, anyhow::Error> {
            let federation = state.federation()?;
            let chain = match ssa_verifier::federation::resolve_chain_from(
                &request,
                &federation.trust_anchor,
                None,
                &state.http,
            ) {
                Ok(chain) if chain.entity_id == sub => chain,
                Ok(_) => {
                    return Ok(Err(RegistrationError::from(
                        ssa_verifier::federation::FederationError {
                            code: ssa_verifier::protocol::FederationCode::InvalidTrustChain,
                            description: "the chain is not the requesting entity's".into(),
                        },
                    )));
                }
                Err(e) => return Ok(Err(e.into())),
            };
            let client = match state.registrar.register_federated(&chain) {
                Ok(client) => client,
                Err(e) => return Ok(Err(e)),
            };
            let mut conn = Lazy {
                pool: &state.pool,
                conn: None,
            };
            let at = now();
            match keep(&state, &mut conn, client, None, at)? {
                Stored::Done(registered, _) => {
                    Ok(Ok(federation.response(&sub, &chain, registered, at)?))
                }
                Stored::Refused(e) => Ok(Err(e)),
            }
        },
    )
    .await;
    match decided.map_err(anyhow::Error::from).and_then(|r| r) {
        Ok(Ok(jwt)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("application/explicit-registration-response+jwt")
            .body(jwt),
        Ok(Err(e)) => error(&e),
        Err(e) => server_error(e),
    }
}

/// `POST /federation/automatic`: automatic registration (OpenID Federation 1.0, section
/// 12.1), for the authorization server (with the status token, when one is set). The form's
/// `request` is the request object of an authorization request whose `client_id` is an entity
/// identifier: the registrar resolves that entity's trust chain up to the trust anchor,
/// checks the request object against the keys of its resolved metadata, and answers the
/// client (its id the entity identifier), registered under the policy. Refusals are
/// `invalid_request_object` (the request object) or the chain's and policy's errors.
async fn register_automatic(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if !clients::allowed(&state, &req) {
        return clients::refused();
    }
    if state.federation.is_none() {
        return federation_error(
            404,
            "not_found",
            "this registrar has no trust anchor configured",
        );
    }
    let request = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "request")
        .map(|(_, value)| value.trim().to_owned());
    let Some(request) = request.filter(|r| !r.is_empty()) else {
        return federation_error(
            400,
            "invalid_request",
            "send the request object as the form parameter request",
        );
    };
    let entity = match federation::requesting_entity(&request) {
        Ok(entity) => entity,
        Err(why) => return federation_error(400, "invalid_request_object", why),
    };
    blocking(&state, move |state, conn| {
        let federation = state.federation()?;
        // Resolved at the anchor: nothing is fetched from a URL the request names.
        let chain = match ssa_verifier::federation::resolve_at_anchor(
            &entity,
            &federation.trust_anchor,
            None,
            &state.http,
        ) {
            Ok(chain) => chain,
            Err(e) => return Ok(Stored::Refused(e.into())),
        };
        let metadata = ["openid_relying_party", "oauth_client"]
            .iter()
            .find_map(|kind| chain.metadata.get(*kind).cloned())
            .unwrap_or_default();
        if let Err(why) = federation.check_request_object(&request, &entity, &metadata, &state.http)
        {
            return Ok(Stored::Refused(RegistrationError::request_object(why)));
        }
        let client = match state.registrar.register_automatic(&chain) {
            Ok(client) => client,
            Err(e) => return Ok(Stored::Refused(e)),
        };
        // Registered before: the same client, its tokens untouched; deleted here, it stays so.
        if state.sealer.is_none()
            && let Some(row) = store::client(conn.db()?, &client.client_id)?
        {
            if row.deleted_at.is_some() {
                return Ok(Stored::Refused(RegistrationError::metadata(
                    "this client was deleted here",
                )));
            }
            let mut body: serde_json::Map<String, Value> =
                serde_json::from_str(&row.metadata).unwrap_or_default();
            body.insert("client_id".into(), json!(row.client_id));
            body.insert("client_id_issued_at".into(), json!(row.issued_at));
            return Ok(Stored::Done(Value::Object(body), 200));
        }
        if state.sealer.is_some() {
            // Nothing to seal: the client id is the entity identifier, and the chain is
            // resolved again at its next request.
            let mut body = client.metadata;
            body.insert("client_id".into(), json!(client.client_id));
            return Ok(Stored::Done(Value::Object(body), 200));
        }
        match keep(state, conn, client, None, now())? {
            Stored::Done(body, _) => Ok(Stored::Done(body, 200)),
            refused => Ok(refused),
        }
    })
    .await
}

/// A stateless registration: the client id carries it, sealed; nothing is stored but the
/// spending of a single-use initial token.
fn seal(
    state: &State,
    sealer: &stateless::Sealer,
    conn: &mut Lazy,
    client: Client,
    initial_token: Option<&str>,
    at: i64,
) -> Result<Stored, anyhow::Error> {
    if client.needs_secret {
        return Ok(Stored::Refused(RegistrationError::metadata(
            "this registrar is stateless and keeps no secrets: use private_key_jwt or tls_client_auth",
        )));
    }
    if let Some(token) = initial_token
        && !store::write(conn.db()?, |tx| {
            Ok(store::spend_initial_token(tx, token, at)?)
        })?
    {
        return Ok(Stored::Refused(RegistrationError::token(
            "the initial access token is unknown, expired or spent",
        )));
    }
    let facts = client.statement.as_ref();
    let sealed = sealer.seal(&json!({
        "m": client.metadata,
        "iat": at,
        "iss": facts.map(|f| f.issuer.clone()),
        "sid": facts.map(|f| f.software_id.clone()),
        "oid": facts.map(|f| f.org_id.clone()),
        "jti": facts.and_then(|f| f.jti.clone()),
    }))?;
    let token = sealer.access_token(&sealed);
    let uri = format!("{}/register/{sealed}", state.public_url);
    let mut client = client;
    client.client_id = sealed;
    Ok(Stored::Done(
        client.information_response(at, None, &token, &uri),
        201,
    ))
}

/// A sealed registration's client information (RFC 7592 read), if `token` is its access
/// token.
fn read_sealed(
    state: &State,
    sealer: &stateless::Sealer,
    client_id: &str,
    token: Option<&str>,
) -> Stored {
    let registration = token
        .filter(|t| sealer.token_matches(client_id, t))
        .and_then(|_| sealer.open(client_id));
    let Some(registration) = registration else {
        return Stored::Refused(unauthorised());
    };
    let mut body = registration
        .get("m")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    body.insert("client_id".into(), json!(client_id));
    body.insert("client_id_issued_at".into(), registration["iat"].clone());
    let reason = stopped_reason(state, &registration);
    body.insert(
        "client_status".into(),
        json!(if reason.is_some() {
            "disabled"
        } else {
            "active"
        }),
    );
    if let Some(reason) = reason {
        body.insert("client_status_reason".into(), json!(reason));
    }
    body.insert(
        "registration_client_uri".into(),
        json!(format!("{}/register/{client_id}", state.public_url)),
    );
    body.insert("registration_access_token".into(), json!(token));
    Stored::Done(Value::Object(body), 200)
}

/// RFC 7592's answer when a method is not supported: a stateless registrar has no record to
/// change or delete (the client registers again).
fn not_supported() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "error": "invalid_request",
            "error_description": "this registrar is stateless: a client cannot be updated or deleted here; register again",
        }))
}

fn unauthorised() -> RegistrationError {
    RegistrationError::token("the registration access token is not valid for this client")
}

async fn read(state: web::Data<State>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (token, client_id) = (bearer(&req), path.into_inner());
    blocking(&state, move |state, conn| {
        if let Some(sealer) = &state.sealer {
            return Ok(read_sealed(state, sealer, &client_id, token.as_deref()));
        }
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn.db()?, &client_id, t)?,
            None => None,
        }) else {
            return Ok(Stored::Refused(unauthorised()));
        };
        let mut body: serde_json::Map<String, Value> = serde_json::from_str(&row.metadata)?;
        body.insert("client_id".into(), json!(row.client_id));
        body.insert("client_id_issued_at".into(), json!(row.issued_at));
        body.insert(
            "client_status".into(),
            json!(if row.disabled_at.is_some() {
                "disabled"
            } else {
                "active"
            }),
        );
        if let Some(reason) = &row.disabled_reason {
            body.insert("client_status_reason".into(), json!(reason));
        }
        body.insert(
            "registration_client_uri".into(),
            json!(format!("{}/register/{}", state.public_url, row.client_id)),
        );
        // RFC 7592 section 3 requires both in every client information response; the
        // registrar keeps only the token's hash, and the client has just shown the token.
        body.insert("registration_access_token".into(), json!(token));
        Ok(Stored::Done(Value::Object(body), 200))
    })
    .await
}

async fn update(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
    body: String,
) -> HttpResponse {
    if state.sealer.is_some() {
        return not_supported();
    }
    if let Err(e) = feeds_current(&state).await {
        return error(&e);
    }
    let (token, client_id) = (bearer(&req), path.into_inner());
    let certificate = client_certificate(&state, &req);
    blocking(&state, move |state, conn| {
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn.db()?, &client_id, t)?,
            None => None,
        }) else {
            return Ok(Stored::Refused(unauthorised()));
        };
        let Ok(Value::Object(mut request)) = serde_json::from_str::<Value>(&body) else {
            return Ok(Stored::Refused(RegistrationError::metadata(
                "an update is the client's full metadata as a JSON object",
            )));
        };
        if request.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
            return Ok(Stored::Refused(RegistrationError::metadata(
                "the update must carry the client's client_id",
            )));
        }
        for field in [
            "registration_access_token",
            "registration_client_uri",
            "client_id_issued_at",
            "client_secret_expires_at",
        ] {
            if request.contains_key(field) {
                return Ok(Stored::Refused(RegistrationError::metadata(format!(
                    "an update must not carry {field}"
                ))));
            }
        }
        request.remove("client_id");
        request.remove("client_secret");
        if !request.contains_key("software_statement")
            && let Some(statement) = &row.statement
        {
            request.insert("software_statement".into(), json!(statement));
        }
        let presented = Presented {
            initial_access_token: true,
            client_certificate: certificate,
        };
        let body = Value::Object(request).to_string();
        let mut client = match state.registrar.register(&body, &presented) {
            Ok(client) => client,
            Err(e) => return Ok(Stored::Refused(e)),
        };
        if client.statement.as_ref().map(|s| &s.software_id) != row.software_id.as_ref() {
            return Ok(Stored::Refused(RegistrationError::statement(
                "an update must keep the client's software",
            )));
        }
        client.client_id = row.client_id.clone();
        let statement = client.statement.as_ref().map(|s| s.token.clone());
        let record = Record {
            client,
            statement,
            issued_at: row.issued_at,
            initial_token: None,
        };
        // The client feed tells the authorization server of the new metadata.
        let mut stored = store::write(conn.db()?, |tx| {
            let stored = store_one(&state.public_url, tx, record)?;
            if let Stored::Done(..) = stored {
                store::record_change(tx, &row.client_id, "updated", None, now())?;
            }
            Ok(stored)
        })?;
        if let Stored::Done(_, status) = &mut stored {
            *status = 200;
            state.changed.notify_waiters();
        }
        Ok(stored)
    })
    .await
}

async fn delete(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    if state.sealer.is_some() {
        return not_supported();
    }
    let (token, client_id) = (bearer(&req), path.into_inner());
    let response = blocking(&state, move |state, conn| {
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn.db()?, &client_id, t)?,
            None => None,
        }) else {
            return Ok(Stored::Refused(unauthorised()));
        };
        store::write(conn.db()?, |tx| {
            store::delete(tx, &row.client_id, now())?;
            Ok(store::record_change(
                tx,
                &row.client_id,
                "deleted",
                None,
                now(),
            )?)
        })?;
        state.changed.notify_waiters();
        Ok(Stored::Done(Value::Null, 204))
    })
    .await;
    if response.status() == actix_web::http::StatusCode::NO_CONTENT {
        return HttpResponse::NoContent().finish();
    }
    response
}

/// Follows directory `index`'s feed (long polls of 5 s) while the service runs. A page read
/// from a cursor that another reader (the feed barrier) moved on meanwhile is dropped: that
/// reader applied those events already, and the next poll starts from where it stopped.
fn follow(state: &std::sync::Weak<State>, index: usize) {
    while let Some(state) = state.upgrade() {
        let Some(verifier) = state.registrar.directories().get(index) else {
            return;
        };
        let from = lock(&state.cursors[index]).clone();
        let applied = verifier
            .poll_events(from.as_deref(), std::time::Duration::from_secs(5))
            .map_err(anyhow::Error::from)
            .and_then(|page| {
                let mut cursor = lock(&state.cursors[index]);
                if *cursor == from {
                    apply_page(&state, index, &page)?;
                    *cursor = Some(page.next_cursor);
                }
                Ok(())
            });
        if let Err(error) = applied {
            tracing::warn!(%error, index, "cannot follow the directory's events");
            drop(state);
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
    }
}

/// The guarded value, whether or not a holder panicked.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads directory `index`'s feed from the applied cursor until it is empty (a page shorter
/// than the 1,000 asked for), without waiting, applying each page: afterwards every event the
/// directory had committed when this began is applied.
fn read_to_end(state: &State, index: usize) -> anyhow::Result<()> {
    let verifier = state
        .registrar
        .directories()
        .get(index)
        .ok_or_else(|| anyhow::anyhow!("no directory {index}"))?;
    let mut cursor = lock(&state.cursors[index]);
    loop {
        let page = verifier.poll_events(cursor.as_deref(), std::time::Duration::ZERO)?;
        apply_page(state, index, &page)?;
        let read = page.events.len();
        *cursor = Some(page.next_cursor);
        if read < 1000 {
            return Ok(());
        }
    }
}

/// Applies one page of directory `index`'s feed and stores its next cursor, in one
/// transaction.
fn apply_page(state: &State, index: usize, page: &ssa_verifier::EventPage) -> anyhow::Result<()> {
    let verifier = state
        .registrar
        .directories()
        .get(index)
        .ok_or_else(|| anyhow::anyhow!("no directory {index}"))?;
    let issuer = verifier.issuer();
    let stateless = state.sealer.is_some();
    let mut conn = state.pool.get()?;
    store::write(&mut conn, |tx| {
        for (_, event) in &page.events {
            if stateless {
                // No client rows: what the event stops or reinstates is kept instead.
                if let Some((concerned, reason)) = stopping(event) {
                    store::set_stopped(tx, issuer, &concerned.key(), reason.as_deref(), now())?;
                }
            } else {
                apply(tx, issuer, event)?;
            }
        }
        store::set_cursor(tx, issuer, &page.next_cursor)?;
        Ok(())
    })?;
    state.changed.notify_waiters();
    if stateless {
        for (_, event) in &page.events {
            if let Some((concerned, reason)) = stopping(event) {
                remember(state, issuer, concerned.key(), reason);
            }
        }
    }
    Ok(())
}

/// What a change event concerns, and whether it stops it (with the reason) or reinstates it
/// (`None`): a software, an organisation (suspended, revoked or rejected, or reinstated) or a
/// statement (revoked for good).
fn stopping(event: &ssa_verifier::ChangeEvent) -> Option<(store::Concerned<'_>, Option<String>)> {
    use store::Concerned;
    let value = event
        .payload
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stopped = matches!(value, "suspended" | "revoked" | "rejected");
    let (concerned, reason) = match (event.kind(), event.subject_id()) {
        ("software-status", Some(id)) => (Concerned::Software(id), format!("software {value}")),
        ("organisation-status", Some(id)) => {
            (Concerned::Organisation(id), format!("organisation {value}"))
        }
        ("statement-revoked", Some(jti)) => {
            return Some((
                Concerned::Statement(jti),
                Some("statement revoked".to_owned()),
            ));
        }
        _ => return None,
    };
    Some((concerned, stopped.then_some(reason)))
}

/// Keeps in memory what a feed stopped (or reinstated), for stateless clients' status.
fn remember(state: &State, issuer: &str, subject: String, reason: Option<String>) {
    let Ok(mut map) = state.stopped.lock() else {
        return;
    };
    match reason {
        Some(reason) => map.insert((issuer.to_owned(), subject), reason),
        None => map.remove(&(issuer.to_owned(), subject)),
    };
}

/// Why a sealed registration is disabled, if it is.
fn stopped_reason(state: &State, registration: &Value) -> Option<String> {
    let issuer = registration.get("iss")?.as_str()?.to_owned();
    let map = state.stopped.lock().ok()?;
    let field = |name: &str| registration.get(name).and_then(Value::as_str);
    [
        field("sid").map(store::Concerned::Software),
        field("oid").map(store::Concerned::Organisation),
        field("jti").map(store::Concerned::Statement),
    ]
    .into_iter()
    .flatten()
    .find_map(|concerned| map.get(&(issuer.clone(), concerned.key())).cloned())
}

/// What one change event does to the registered clients.
fn apply(conn: &mut Db, issuer: &str, event: &ssa_verifier::ChangeEvent) -> anyhow::Result<()> {
    let Some((concerned, reason)) = stopping(event) else {
        return Ok(());
    };
    let changed = store::set_disabled(conn, issuer, concerned, reason.as_deref(), now())?;
    if changed > 0 {
        tracing::info!(
            changed,
            kind = event.kind(),
            reason = reason.as_deref().unwrap_or("reinstated"),
            "clients follow the directory"
        );
    }
    Ok(())
}

/// Creates an initial access token in the store at `database_url`; the token.
pub fn create_initial_token(
    database_url: &str,
    single_use: bool,
    expires_in: Option<u64>,
) -> anyhow::Result<String> {
    let pool = store::open(database_url)?;
    let mut conn = pool.get()?;
    let at = now();
    Ok(store::create_initial_token(
        &mut conn,
        single_use,
        expires_in.map(|s| at + s as i64),
        at,
    )?)
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
