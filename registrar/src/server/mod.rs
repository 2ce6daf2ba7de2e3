//! The registration service (feature `server`): `POST /register` (RFC 7591) and the client
//! configuration endpoint `/register/{client_id}` (RFC 7592: read, update, delete with the
//! registration access token), over the library core and a stateful store.

mod barrier;
mod callout;
mod clients;
mod config;
mod federated;
mod federation;
mod feed;
mod http;
mod registration;
mod stateless;
mod store;
mod tls;

pub use config::{Mtls, ServerConfig};
use federated::*;
use feed::*;
use http::*;
use registration::*;
use tls::*;

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
            .with_statement_status_from_feed(true)
            .with_transparency(config.transparency),
    );
    let settings = match &config.log_key {
        Some(vkey) => settings.with_log_key(vkey),
        None => settings,
    };
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
            let mut federation = federation::Federation::load_or_create(
                &config.keys_dir,
                &public_url,
                anchor.trim_end_matches('/'),
            )?;
            federation.anchor_keys = config
                .trust_anchor_jwks
                .as_deref()
                .map(pinned_anchor_keys)
                .transpose()?;
            anyhow::Ok(federation)
        })
        .transpose()?;
    if config.trust_anchor_jwks.is_some() && config.trust_anchor.is_none() {
        anyhow::bail!(
            "SSA_REGISTRAR_TRUST_ANCHOR_JWKS pins the keys of a trust anchor: set SSA_REGISTRAR_TRUST_ANCHOR too"
        );
    }
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

/// The trust anchor's pinned keys, from a JWKS file.
fn pinned_anchor_keys(path: &std::path::Path) -> anyhow::Result<ssa_verifier::KeySet> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "SSA_REGISTRAR_TRUST_ANCHOR_JWKS: cannot read {}: {e}",
            path.display()
        )
    })?;
    let keys = ssa_verifier::KeySet::from_json(&text)
        .map_err(|e| anyhow::anyhow!("SSA_REGISTRAR_TRUST_ANCHOR_JWKS {}: {e}", path.display()))?;
    if keys.is_empty() {
        anyhow::bail!(
            "SSA_REGISTRAR_TRUST_ANCHOR_JWKS {} holds no key",
            path.display()
        );
    }
    Ok(keys)
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
