//! The SSA directory server: builds the actix application from a [`Config`]. `main.rs` and the
//! integration tests both go through [`Application::build`], so what is tested is what ships.
//!
//! Layers, from the edge inwards (nothing imports a layer above it): `web` (handlers) calls
//! `services` (one function per action: authorization, the transaction, the audit event,
//! after-commit effects), which use `store` (diesel rows and queries), `pki`, `ssa` and `keys`
//! (cryptography and encodings only), all of which speak `model` (pure domain types).

pub mod config;
pub mod documents;
pub mod events;
pub mod federation;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod pki;
pub mod push;
pub mod services;
pub mod ssa;
pub mod store;
pub mod telemetry;
pub mod web;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web as aw};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

pub use config::Config;
use documents::Cached;
use keys::signing::KeyRing;
use metrics::Metrics;
use model::subscription::TargetPolicy;
pub use services::Directory;

/// The shared state of one directory process (see [`services::Directory`]).
pub type AppState = Directory;

/// Re-reads key state every `key_refresh_secs`, so that a rotation made by another instance
/// or the command line is published here within the advertised max-age, and signs a new CRL
/// (or serves one another instance signed) before the current one expires.
fn spawn_key_refresher(state: Arc<Directory>) {
    let period = Duration::from_secs(state.config.key_refresh_secs);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(error) = services::crl::refresh(&state).await {
                tracing::warn!(%error, "cannot refresh the CRL");
                continue;
            }
            match services::signing_keys::refresh(&state).await {
                Ok(true) => tracing::info!("signing keys changed; JWKS rebuilt"),
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot refresh signing keys"),
            }
        }
    });
}

/// Signs new change events soon after they commit (every 100 ms, up to 500 at a time, more
/// at once while a backlog lasts), so that readers of the feed seldom pay for a signature.
fn spawn_event_signer(state: Arc<Directory>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            loop {
                match services::events::sign_pending(&state, 500).await {
                    Ok(500) => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "cannot sign change events");
                        break;
                    }
                }
            }
        }
    });
}

/// A unit of background work: its second argument says the gauges are due.
type Work = fn(Arc<Directory>, bool) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs `work` every `period` until the server stops, telling it every five seconds that its
/// gauges are due.
fn spawn_every(state: Arc<Directory>, period: Duration, work: Work) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopped = state.stopped.subscribe();
        let mut gauges_at = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.wait_for(|stopped| *stopped) => break,
            }
            let gauges = gauges_at.elapsed() >= Duration::from_secs(5);
            if gauges {
                gauges_at = std::time::Instant::now();
            }
            work(state.clone(), gauges).await;
        }
    });
}

/// Pushes change events to subscribers: every 200 ms it takes the due subscriptions whose
/// lease is free (up to 32 at a time) and delivers their backlogs; every five seconds it
/// updates the push gauges. It ends when the server stops.
fn spawn_push_deliverer(state: Arc<Directory>) {
    spawn_every(state, Duration::from_millis(200), |state, gauges| {
        Box::pin(async move {
            if let Err(error) = services::subscriptions::deliver_due(&state, 32).await {
                tracing::warn!(%error, "cannot deliver pushed events");
            }
            if gauges {
                match services::subscriptions::gauges(&state).await {
                    Ok((states, backlog)) => {
                        let states: Vec<(&str, i64)> =
                            states.iter().map(|(s, n)| (s.as_str(), *n)).collect();
                        state.metrics.push_gauges(&states, backlog);
                    }
                    Err(error) => tracing::warn!(%error, "cannot read the push gauges"),
                }
            }
        })
    });
}

/// Delivers the mail outbox's due messages (up to 16 at a time) four times a second; every
/// five seconds it keeps the gauges and writes the reminders of certificates about to expire
/// and the operators' digest when due.
/// It ends when the server stops.
fn spawn_mail_deliverer(state: Arc<Directory>) {
    spawn_every(state, Duration::from_millis(250), |state, gauges| {
        Box::pin(async move {
            if let Err(error) = services::mail::deliver_due(&state, 16).await {
                tracing::warn!(%error, "cannot deliver mail");
            }
            if gauges {
                match services::mail::gauges(&state).await {
                    Ok((backlog, age)) => state.metrics.mail_gauges(backlog, age),
                    Err(error) => tracing::warn!(%error, "cannot read the mail gauges"),
                }
                match services::reminders::certificates_expiring(&state).await {
                    Ok(0) => {}
                    Ok(reminded) => {
                        tracing::info!(reminded, "certificates about to expire reminded")
                    }
                    Err(error) => tracing::warn!(%error, "cannot remind of expiring certificates"),
                }
                if let Err(error) = services::reminders::operators_digest(&state).await {
                    tracing::warn!(%error, "cannot write the operators' digest");
                }
            }
        })
    });
}

/// Extends the transparency log's tree and signs its checkpoint, a few times a second, on
/// every instance (whichever moves the tree first does it). It ends when the server stops.
fn spawn_log_sequencer(state: Arc<Directory>) {
    spawn_every(state, Duration::from_millis(250), |state, _| {
        Box::pin(async move {
            if let Err(error) = services::transparency::sequence(&state).await {
                tracing::warn!(%error, "cannot extend the transparency log");
            }
            if let Err(error) = services::transparency::cosign(&state).await {
                tracing::warn!(%error, "cannot collect the witnesses' cosignatures");
            }
        })
    });
}

/// Every 30 seconds, on every instance: rolls the overview's closed days up (see
/// [`services::overview::roll_up`]) and counts what stands now for it
/// ([`services::overview::refresh_current`]). It ends when the server stops.
fn spawn_overview_roll_up(state: Arc<Directory>) {
    spawn_every(state, Duration::from_secs(30), |state, _| {
        Box::pin(async move {
            if let Err(error) = services::overview::roll_up(&state).await {
                tracing::warn!(%error, "cannot roll the overview's days up");
            }
            if let Err(error) = services::overview::refresh_current(&state).await {
                tracing::warn!(%error, "cannot count the overview's current state");
            }
        })
    });
}

/// Checkpoints SQLite's write-ahead log once a second (see [`store::checkpoint`]); on
/// PostgreSQL it is not started. It ends when the server stops.
fn spawn_checkpointer(state: Arc<Directory>) {
    let backend = store::ConnectionManager::new(&state.config.database_url()).map(|m| m.backend());
    if !matches!(backend, Ok(store::Backend::Sqlite)) {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopped = state.stopped.subscribe();
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.wait_for(|stopped| *stopped) => break,
            }
            if let Err(error) = state.db(|conn| Ok(store::checkpoint(conn)?)).await {
                tracing::warn!(%error, "cannot checkpoint the database's write-ahead log");
            }
        }
    });
}

/// Forgets what has expired, once a minute: ended portal sessions, failed log-ins older
/// than the throttle's window and expired invitations (expiry is enforced when they are
/// read; this keeps the tables small), and change events past the retention.
fn spawn_housekeeping(state: Arc<Directory>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticks.tick().await;
            let at = state.now();
            let window = time::Duration::seconds(state.config.login_throttle_window_secs as i64);
            match state
                .db(move |conn| services::accounts::housekeeping(conn, window, at))
                .await
            {
                Ok(0) => {}
                Ok(rows) => tracing::debug!(
                    rows,
                    "forgot expired sessions, log-in failures and invitations"
                ),
                Err(error) => tracing::warn!(%error, "cannot forget expired sessions"),
            }
            let retention = state.config.event_retention_secs;
            match state
                .db(move |conn| services::events::prune(conn, retention, at))
                .await
            {
                Ok(0) => {}
                Ok(events) => tracing::info!(events, "removed events past the retention"),
                Err(error) => tracing::warn!(%error, "cannot remove old events"),
            }
        }
    });
}

/// A directory server bound to its port, ready to run.
pub struct Application {
    port: u16,
    mtls_port: Option<u16>,
    server: Server,
    state: aw::Data<Directory>,
}

impl Application {
    /// Connects to the database (applying migrations), loads or creates key material and binds
    /// the listener. Every failure here is a start-up error with a message that names its cause.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(model::SystemClock)).await
    }

    /// [`Application::build`] with the clock every service reads the time from (tests move a
    /// [`model::ShiftedClock`] forward instead of sleeping).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn model::Clock>,
    ) -> anyhow::Result<Self> {
        let db_config = config.clone();
        let pool = actix_web::rt::task::spawn_blocking(move || {
            store::connect_and_migrate(&db_config.database_url(), db_config.db_pool_size)
        })
        .await
        .context("database start-up task failed")??;
        // Certificates recorded before they carried their fingerprint get it (once), and
        // SQLite's name indexes are checked against their tables.
        let fill = pool.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = fill.get().context("a database connection")?;
            let filled = store::certificates::fill_fingerprints(&mut conn, pki::fingerprint)
                .context("fingerprinting the recorded certificates")?;
            if filled > 0 {
                tracing::info!(filled, "recorded certificates fingerprinted");
            }
            for index in store::search::heal_name_indexes(&mut conn)
                .context("checking the name search's indexes")?
            {
                tracing::warn!(index, "a name index differed from its table: rebuilt");
            }
            anyhow::Ok(())
        })
        .await
        .context("fingerprint start-up task failed")??;

        let keys_dir = config.keys_dir.clone();
        let (session_key, mfa) = actix_web::rt::task::spawn_blocking(move || {
            anyhow::Ok((
                keys::session_key(&keys_dir)?,
                keys::mfa::SecretBox::load(&keys_dir)?,
            ))
        })
        .await
        .context("key start-up task failed")??;

        let started_at = clock.now();
        let (ca, crl, token) = {
            let (pool, ca_config, validity) =
                (pool.clone(), config.clone(), config.crl_validity_secs);
            actix_web::rt::task::spawn_blocking(
                move || -> anyhow::Result<(pki::Ca, services::crl::Current, Option<Arc<keys::pkcs11::Token>>)> {
                    let token = keys::pkcs11::Token::configured(&ca_config)?;
                    let ca = pki::ca::load_or_init(&ca_config.keys_dir, token.as_ref())?;
                    let mut conn = pool.get().context("cannot open a database connection")?;
                    services::keystore::backfill_thumbprints(&mut conn)
                        .map_err(|e| anyhow::anyhow!("cannot fill in key thumbprints: {e}"))?;
                    let crl = services::crl::initial(&mut conn, &ca, validity, started_at)
                        .map_err(|e| anyhow::anyhow!("cannot sign the CRL: {e}"))?;
                    Ok((ca, crl, token))
                },
            )
            .await
            .context("CA start-up task failed")??
        };

        let log_token = token.clone();
        let (keyring, federation_keys, jwks) = {
            let (pool, rings_config) = (pool.clone(), config.clone());
            let alg = config.signing_alg.as_str();
            actix_web::rt::task::spawn_blocking(
                move || -> anyhow::Result<(KeyRing, KeyRing, Cached)> {
                    use model::keys::KeyPurpose;
                    let (keyring, federation_keys) = KeyRing::pair(&rings_config, token.as_ref());
                    let mut conn = pool.get().context("cannot open a database connection")?;
                    use services::signing_keys::{Strays, initialise};
                    initialise(
                        &mut conn,
                        &keyring,
                        alg,
                        KeyPurpose::Ssa,
                        Strays::MoveAside,
                        started_at,
                    )?;
                    initialise(
                        &mut conn,
                        &federation_keys,
                        alg,
                        KeyPurpose::Federation,
                        Strays::MoveAside,
                        started_at,
                    )?;
                    let jwks = services::signing_keys::jwks_document(&mut conn, KeyPurpose::Ssa)
                        .map_err(|e| anyhow::anyhow!("cannot build the JWKS: {e}"))?;
                    Ok((keyring, federation_keys, Cached::new(jwks)))
                },
            )
            .await
            .context("signing key start-up task failed")??
        };
        let session_key =
            Key::try_from(session_key.as_slice()).context("the session key cannot be used")?;

        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local = listener.local_addr()?;
        let public_url = match &config.public_url {
            Some(_) => config.public_url(),
            None => {
                if local.ip().is_unspecified() {
                    tracing::warn!(
                        "public_url is not set and the directory listens on {local}: SSAs and JWKS links will name {local}; set SSA_DIRECTORY_PUBLIC_URL"
                    );
                }
                let scheme = if config.tls_cert_file.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{local}")
            }
        };
        let mtls_listener = match config.mtls_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .with_context(|| format!("cannot listen on {address} (mtls_listen)"))?,
            ),
            None => None,
        };
        let mtls_local = mtls_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let mtls_url = match (&config.mtls_public_url, mtls_local) {
            (Some(url), _) => Some(url.trim_end_matches('/').to_owned()),
            (None, Some(address)) => {
                let mut url = url::Url::parse(&public_url).context("public_url is not a URL")?;
                url.set_scheme("https")
                    .map_err(|()| anyhow::anyhow!("public_url cannot be made https"))?;
                url.set_port(Some(address.port()))
                    .map_err(|()| anyhow::anyhow!("public_url has no host"))?;
                Some(url.as_str().trim_end_matches('/').to_owned())
            }
            (None, None) => None,
        };

        let metrics = Metrics::new().context("cannot register metrics")?;
        let recorder =
            services::Recorder::start(pool.clone(), metrics.clone(), config.transparency_log)
                .context("cannot start the statement recorder")?;
        let transmitter = push::Transmitter::new(
            TargetPolicy {
                allow_http: config.push_allow_http,
                allow_private: config.push_allow_private_targets,
            },
            config.push_ca_file.as_deref(),
        )
        .context("cannot set up push delivery")?;
        let max_age = Duration::from_secs(config.status_max_age_secs);
        let mailer = mail::Mailer::configured(&config, &public_url)?;
        let log = {
            let (keys_dir, url) = (config.keys_dir.clone(), public_url.clone());
            actix_web::rt::task::spawn_blocking(move || {
                services::transparency::LogSigner::load(&keys_dir, &url, log_token.as_ref())
            })
            .await
            .context("log key start-up task failed")??
        };
        tracing::info!("mail goes to {}", mailer.transport.describe());
        let state = aw::Data::new(Directory {
            clock,
            issuer: config.issuer.clone().unwrap_or_else(|| public_url.clone()),
            passkeys: services::passkeys::RelyingParty::of(&public_url),
            mailer,
            public_url,
            mtls_url,
            pool,
            recorder,
            metrics,
            keyring,
            federation_keys,
            jwks,
            ca,
            crl,
            ocsp_cache: pki::ocsp::ResponseCache::new(),
            dpop_proofs: keys::proofs::ReplayCache::new(),
            mfa,
            log: Arc::new(log),
            log_witnesses: services::transparency::Witnesses::configured(&config.log_witnesses)?,
            validations: services::Limiter::per_minute(config.validations_per_minute),
            participants: Default::default(),
            overview_counts: Default::default(),
            federation_statements: federation::statement_cache(max_age),
            federation_configurations: federation::statement_cache(max_age),
            transmitter,
            instance: uuid::Uuid::new_v4().to_string(),
            stopped: tokio::sync::watch::Sender::new(false),
            config,
        });
        if let Some(why) = state.passkeys.unavailable() {
            tracing::warn!("{why}");
        }
        spawn_key_refresher(state.clone().into_inner());
        spawn_housekeeping(state.clone().into_inner());
        spawn_checkpointer(state.clone().into_inner());
        spawn_event_signer(state.clone().into_inner());
        spawn_push_deliverer(state.clone().into_inner());
        spawn_mail_deliverer(state.clone().into_inner());
        spawn_overview_roll_up(state.clone().into_inner());
        if state.config.transparency_log {
            spawn_log_sequencer(state.clone().into_inner());
        }

        let server = {
            let app_state = state.clone();
            let secure = state.config.is_https();
            let ttl = Duration::from_secs(state.config.session_ttl_secs);
            let mut server = HttpServer::new(move || {
                let session =
                    SessionMiddleware::builder(CookieSessionStore::default(), session_key.clone())
                        .cookie_name("ssa_directory_session".into())
                        .cookie_secure(secure)
                        .cookie_http_only(true)
                        .cookie_same_site(SameSite::Lax)
                        .cookie_content_security(CookieContentSecurity::Private)
                        .session_lifecycle(PersistentSession::default().session_ttl(
                            actix_web::cookie::time::Duration::seconds(ttl.as_secs() as i64),
                        ))
                        .build();
                App::new()
                    .app_data(app_state.clone())
                    .configure(|cfg| web::configure(cfg, &app_state.config, session))
                    .wrap(
                        ErrorHandlers::new()
                            .handler(StatusCode::METHOD_NOT_ALLOWED, web::method_not_allowed),
                    )
                    .wrap(from_fn(web::refuse_query_tokens))
                    .wrap(from_fn(web::bound_body_time))
                    .wrap(from_fn(web::record_metrics))
                    .wrap(from_fn(web::request_id_header))
                    .wrap(TracingLogger::<web::logging::RequestSpan>::new())
            })
            .on_connect(web::tls::on_connect(mtls_local.map(|a| a.port())))
            .shutdown_timeout(state.config.shutdown_timeout_secs);
            let config = &state.config;
            server = match (&config.tls_cert_file, &config.tls_key_file) {
                (Some(cert), Some(key)) => server
                    .listen_openssl(listener, web::tls::acceptor(cert, key, None)?)
                    .with_context(|| format!("cannot listen on {local}"))?,
                _ => server
                    .listen(listener)
                    .with_context(|| format!("cannot listen on {local}"))?,
            };
            if let (Some(listener), Some(cert), Some(key)) =
                (mtls_listener, &config.tls_cert_file, &config.tls_key_file)
            {
                let cas = state
                    .ca
                    .issuers()
                    .map(|issuing| issuing.pem.as_str())
                    .chain([state.ca.root_pem.as_str()])
                    .map(|pem| openssl::x509::X509::from_pem(pem.as_bytes()))
                    .collect::<Result<Vec<_>, _>>()?;
                server = server
                    .listen_openssl(listener, web::tls::acceptor(cert, key, Some(&cas))?)
                    .context("cannot listen on mtls_listen")?;
            }
            if state.config.workers > 0 {
                server = server.workers(state.config.workers);
            }
            server.run()
        };

        tracing::info!(address = %local, public_url = %state.public_url, mtls_url = ?state.mtls_url, "directory listening");
        Ok(Self {
            port: local.port(),
            mtls_port: mtls_local.map(|a| a.port()),
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the mutual-TLS listener, when `mtls_listen` is set.
    pub fn mtls_port(&self) -> Option<u16> {
        self.mtls_port
    }

    /// A handle that stops the server (gracefully or not) from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> Arc<Directory> {
        self.state.clone().into_inner()
    }

    /// Serves until SIGTERM or Ctrl-C (or the handle) stops the server; in-flight requests get
    /// `shutdown_timeout_secs` to finish, then the pool is closed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.state.stopped.send_replace(true);
        tracing::info!("directory stopped");
        result
    }
}
