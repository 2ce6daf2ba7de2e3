//! One function per thing a user (or the directory itself) does, for the JSON API, the portal
//! and the command line alike. A service authorizes the caller, opens the write transaction,
//! changes state through the store, writes the audit event in the same transaction, commits,
//! and then runs what must follow the commit (a new CRL, a cleared OCSP cache). The served
//! JWKS is re-read by the refresher, since signing keys change in the command line's process.
//! Handlers call one service and render its result; nothing below a service calls one.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod certificates;
pub mod crl;
pub mod discovery;
pub mod events;
pub mod export;
pub mod federation;
pub mod keystore;
pub mod mail;
pub mod mfa;
pub mod notices;
pub mod oauth;
pub mod ocsp;
pub mod organisations;
pub mod overview;
pub mod passkeys;
pub mod password_reset;
pub mod recorder;
pub mod reminders;
pub mod search;
pub mod signing_keys;
pub mod software;
pub mod statements;
pub mod subscriptions;
pub mod transparency;
pub mod verification;

use std::sync::Arc;

use crate::config::Config;
use crate::documents::Cached;
use crate::keys::signing::KeyRing;
use crate::metrics::Metrics;
use crate::model::{Actor, Clock, Error, Result, Timestamp};
use crate::pki::Ca;
use crate::pki::ocsp::ResponseCache;
use crate::store::{DbConnection, DbPool};

pub use recorder::Recorder;

/// Everything the services work with, shared by every request of one directory process.
/// What matters across instances lives in the database; this holds handles, configuration
/// and caches that are rebuilt from the database.
pub struct Directory {
    pub config: Config,
    /// Where every service reads the time (a test moves it forward).
    pub clock: Arc<dyn Clock>,
    /// Public base URL without a trailing slash.
    pub public_url: String,
    /// Base URL of the mutual-TLS listener, when there is one (`mtls_listen`).
    pub mtls_url: Option<String>,
    /// `iss` of issued SSAs.
    pub issuer: String,
    pub pool: DbPool,
    pub metrics: Metrics,
    /// Private halves of the directory's signing keys.
    pub keyring: KeyRing,
    /// Private halves of the federation keys (OpenID Federation statements).
    pub federation_keys: KeyRing,
    /// The directory JWKS, re-read from the database by the refresher.
    pub jwks: Cached,
    /// The certificate authority.
    pub ca: Ca,
    /// The current CRL, prepared for serving.
    pub crl: crl::Current,
    /// Recently signed OCSP responses to nonce-less requests.
    pub ocsp_cache: ResponseCache,
    /// Records issued statements, many per transaction.
    pub recorder: Recorder,
    /// Pushes change events to subscribers' endpoints.
    pub transmitter: crate::push::Transmitter,
    /// This process's name in push delivery leases.
    pub instance: String,
    /// Subordinate statements signed lately (the federation's fetch endpoint).
    pub federation_statements: crate::federation::StatementCache,
    /// Self-hosted subordinates' entity configurations fetched lately, or why they could not
    /// be (one outbound fetch per entity and max-age, whoever asks).
    pub federation_configurations: crate::federation::StatementCache<Result<String, String>>,
    /// DPoP proofs seen lately (each is used once).
    pub dpop_proofs: crate::keys::proofs::ReplayCache,
    /// Seals the secrets of second factors (`keys/mfa.key`).
    pub mfa: crate::keys::mfa::SecretBox,
    /// The transparency log's name and signing key (`keys/log.key`).
    pub log: Arc<transparency::LogSigner>,
    /// The witnesses that cosign the log's checkpoints (`log_witnesses`).
    pub log_witnesses: transparency::Witnesses,
    /// The relying party of passkeys (the public URL's host), or why there is none.
    pub passkeys: passkeys::RelyingParty,
    /// Composes the directory's mail and delivers it (SMTP, or files).
    pub mailer: crate::mail::Mailer,
    /// The overview's counts of what stands now, refreshed in the background.
    pub overview_counts: overview::CurrentCounts,
    /// The participants list, prepared, with the version it was built from.
    pub participants: crate::documents::Versioned,
    /// Certificate validations per caller (`validations_per_minute`).
    pub validations: Limiter,
    /// Set once the server has stopped: background delivery ends with it.
    pub stopped: tokio::sync::watch::Sender<bool>,
}

/// A rate limit per caller (an account, a machine client), on this instance.
pub struct Limiter(governor::DefaultKeyedRateLimiter<String>);

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Limiter").field(&self.0.len()).finish()
    }
}

impl Limiter {
    /// `per_minute` calls a minute for each caller, in bursts of as many.
    pub fn per_minute(per_minute: u32) -> Self {
        let n = std::num::NonZeroU32::new(per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        Self(governor::RateLimiter::keyed(governor::Quota::per_minute(n)))
    }

    /// Counts a call of `actor`; over its limit, how long it must wait.
    pub fn check(&self, actor: &Actor) -> std::result::Result<(), std::time::Duration> {
        use governor::clock::Clock;
        // Callers that went quiet are forgotten, so the map stays as large as the busy ones.
        if self.0.len() > 10_000 {
            self.0.retain_recent();
        }
        let key = match actor {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::Client { client, .. } => format!("client:{client}"),
            Actor::Cli | Actor::System => return Ok(()),
        };
        self.0
            .check_key(&key)
            .map_err(|until| until.wait_time_from(governor::clock::DefaultClock::default().now()))
    }
}

/// Runs blocking database work on the blocking thread pool, inside the caller's tracing span.
pub async fn run<T, F>(pool: &DbPool, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
{
    run_then(pool, f, Ok).await
}

/// Runs `read` with a database connection on the blocking pool, gives the connection back,
/// then runs `then` with what `read` returned on the same thread: for CPU work (a signature)
/// that should not hold one of the pool's few connections while it runs.
pub async fn run_then<R, T, F, G>(pool: &DbPool, read: F, then: G) -> Result<T>
where
    T: Send + 'static,
    R: 'static,
    F: FnOnce(&mut DbConnection) -> Result<R> + Send + 'static,
    G: FnOnce(R) -> Result<T> + Send + 'static,
{
    let pool = pool.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let read = {
            let mut conn = pool.get().map_err(|e| Error::Unavailable(e.to_string()))?;
            read(&mut conn)?
        };
        then(read)
    })
    .await
    .map_err(|e| Error::Unexpected(anyhow::anyhow!("blocking task failed: {e}")))?
}

impl Directory {
    /// The current time, by the directory's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `f` with a database connection on the blocking pool (see [`run`]).
    pub async fn db<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        run(&self.pool, f).await
    }

    /// Runs `read` with a connection, then `then` without it (see [`run_then`]).
    pub async fn db_then<R, T, F, G>(&self, read: F, then: G) -> Result<T>
    where
        T: Send + 'static,
        R: 'static,
        F: FnOnce(&mut DbConnection) -> Result<R> + Send + 'static,
        G: FnOnce(R) -> Result<T> + Send + 'static,
    {
        run_then(&self.pool, read, then).await
    }
}

/// Whether the directory can serve (`/readyz`): the database answers with every migration
/// applied, and, with the pkcs11 key provider, the token answers and holds the keys that
/// sign now (the active SSA and federation keys, the CA's issuing key). `Err` says why not.
pub async fn ready(dir: &std::sync::Arc<Directory>) -> Result<std::result::Result<(), String>> {
    use crate::model::keys::{KeyPurpose, KeyState};
    let shared = dir.clone();
    dir.db_then(
        |conn| {
            let database = crate::store::is_ready(conn);
            let mut active = vec![];
            if database == Ok(true) {
                for purpose in [KeyPurpose::Ssa, KeyPurpose::Federation] {
                    active.extend(crate::store::signing_keys::in_state(
                        conn,
                        purpose,
                        KeyState::Active,
                    )?);
                }
            }
            Ok((database, active))
        },
        move |(database, active)| {
            match database {
                Ok(true) => {}
                Ok(false) => return Ok(Err("database migrations are not applied".into())),
                Err(reason) => return Ok(Err(format!("the database does not answer: {reason}"))),
            }
            let Some(token) = shared.keyring.token() else {
                return Ok(Ok(()));
            };
            let mut names: Vec<&str> = active
                .iter()
                .filter(|key| key.in_token())
                .map(|key| key.kid.as_str())
                .collect();
            names.extend(shared.ca.token_key_name());
            Ok(token
                .check(&names)
                .map_err(|error| format!("the key store does not answer: {error:#}")))
        },
    )
    .await
}
