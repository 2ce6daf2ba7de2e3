//! The fetching, caching [`Verifier`] on top of the sans-IO core (the `fetch` feature, on by
//! default): the directory's discovery document, JWKS, CA chain, CRL and status endpoint over
//! HTTP(S), each cached, with a clock that can be replaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::certificate::{self, CaChain, CertificateInfo, Crl};
use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, VerifyError};
use crate::events::ChangeEvent;
use crate::keys::{Jwk, KeyLookup, KeySet};
use crate::registration::{ClientMetadata, Registration, RegistrationRequest};
use crate::settings::{CachePolicy, Settings, Transparency};
use crate::statement::{self, SoftwareStatement, unknown_key};
use crate::transparency::{EntryKind, LogKey, WitnessKey};
use crate::trust::Trust;

pub(crate) mod http {
    //! Fetching JSON and DER documents over HTTP(S), with their cache lifetime.

    use std::time::Duration;

    use super::*;

    /// A fetched document and its `Cache-Control: max-age`, if any.
    pub(crate) struct Fetched {
        pub(crate) body: Vec<u8>,
        pub(crate) max_age: Option<Duration>,
    }

    /// The blocking HTTP(S) client the fetching verifier, the federation functions and the
    /// registrar all use: TLS through the system's OpenSSL (native-tls), every request
    /// bounded by [`Settings::with_http_timeout`], and the servers' certificates checked
    /// against the platform's trust store (OpenSSL's default paths, so `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` apply) or, with [`Settings::with_ca_certificates`], against exactly
    /// those CA certificates (as `curl --cacert` does).
    ///
    /// ```no_run
    /// use ssa_verifier::{HttpClient, Settings};
    ///
    /// let pem = std::fs::read("private-ca.pem")?;
    /// let http = HttpClient::new(&Settings::default().with_ca_certificates(pem))?;
    /// let discovery = http.get("https://directory.example/.well-known/ssa-directory")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Clone)]
    pub struct HttpClient {
        agent: ureq::Agent,
        /// The same client, answering every status instead of failing on those above 399.
        any_status: ureq::Agent,
    }

    impl std::fmt::Debug for HttpClient {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("HttpClient").finish_non_exhaustive()
        }
    }

    /// An answer of [`HttpClient::post_json`]: its status and body.
    #[derive(Debug, Clone)]
    pub struct HttpResponse {
        /// The HTTP status.
        pub status: u16,
        /// The body (at most the limit the call set).
        pub body: Vec<u8>,
    }

    impl HttpClient {
        /// A client with the timeout and the trusted CA certificates of `settings`; the
        /// certificates' PEM that does not parse is an error naming it.
        pub fn new(settings: &Settings) -> Result<Self, ConfigError> {
            let roots = match &settings.ca_certificates {
                None => ureq::tls::RootCerts::PlatformVerifier,
                Some(pem) => {
                    let invalid = |reason: String| ConfigError::Invalid {
                        what: "CA certificates".into(),
                        reason,
                    };
                    let certificates: Vec<ureq::tls::Certificate<'static>> =
                        ureq::tls::parse_pem(pem)
                            .filter_map(|item| match item {
                                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                                Ok(_) => None,
                                Err(e) => Some(Err(invalid(e.to_string()))),
                            })
                            .collect::<Result<_, _>>()?;
                    if certificates.is_empty() {
                        return Err(invalid("no PEM certificate in them".into()));
                    }
                    ureq::tls::RootCerts::new_with_certs(&certificates)
                }
            };
            Ok(Self::with_roots(settings.http_timeout, roots))
        }

        /// A client that trusts the platform's store, with this timeout.
        pub(crate) fn with_timeout(timeout: Duration) -> Self {
            Self::with_roots(timeout, ureq::tls::RootCerts::PlatformVerifier)
        }

        fn with_roots(timeout: Duration, roots: ureq::tls::RootCerts) -> Self {
            let agent = |status_as_error: bool| -> ureq::Agent {
                let tls = ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::NativeTls)
                    .root_certs(roots.clone())
                    .build();
                ureq::Agent::config_builder()
                    .timeout_global(Some(timeout))
                    .http_status_as_error(status_as_error)
                    .tls_config(tls)
                    .build()
                    .into()
            };
            Self {
                agent: agent(true),
                any_status: agent(false),
            }
        }

        /// GETs `url` and returns its body (at most 4 MiB); any status other than 200, a
        /// connection or TLS failure, or the timeout is an error naming the URL.
        pub fn get(&self, url: &str) -> Result<Vec<u8>, ConfigError> {
            self.fetch(url).map(|fetched| fetched.body)
        }

        /// POSTs `body` as `application/json` to `url` and returns the answer whatever its
        /// status, its body read up to `limit` bytes. Only a failure to reach the server
        /// (connection, TLS, timeout) or an over-long body is an error.
        pub fn post_json(
            &self,
            url: &str,
            body: &str,
            limit: u64,
        ) -> Result<HttpResponse, ConfigError> {
            let fail = |reason: String| ConfigError::Fetch {
                url: url.to_owned(),
                reason,
            };
            let mut response = self
                .any_status
                .post(url)
                .header("content-type", "application/json")
                .send(body)
                .map_err(|e| fail(e.to_string()))?;
            let status = response.status().as_u16();
            let body = response
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(|e| fail(e.to_string()))?;
            Ok(HttpResponse { status, body })
        }

        /// GETs `url` with its cache lifetime; any status other than 200 is an error.
        pub(crate) fn fetch(&self, url: &str) -> Result<Fetched, ConfigError> {
            let fail = |reason: String| ConfigError::Fetch {
                url: url.to_owned(),
                reason,
            };
            let mut response = self
                .agent
                .get(url)
                .call()
                .map_err(|e| fail(e.to_string()))?;
            let max_age = response
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .and_then(max_age);
            let body = response
                .body_mut()
                .with_config()
                .limit(4 * 1024 * 1024)
                .read_to_vec()
                .map_err(|e| fail(e.to_string()))?;
            Ok(Fetched { body, max_age })
        }

        /// POSTs a form to `url`; any status other than 200 is an error.
        pub(crate) fn post_form(
            &self,
            url: &str,
            form: &[(&str, &str)],
        ) -> Result<Vec<u8>, ConfigError> {
            let fail = |reason: String| ConfigError::Fetch {
                url: url.to_owned(),
                reason,
            };
            let mut response = self
                .agent
                .post(url)
                .send_form(form.iter().copied())
                .map_err(|e| fail(e.to_string()))?;
            response
                .body_mut()
                .with_config()
                .limit(1024 * 1024)
                .read_to_vec()
                .map_err(|e| fail(e.to_string()))
        }

        pub(crate) fn get_json(
            &self,
            url: &str,
        ) -> Result<(serde_json::Value, Option<Duration>), ConfigError> {
            let fetched = self.fetch(url)?;
            let value =
                serde_json::from_slice(&fetched.body).map_err(|e| ConfigError::Invalid {
                    what: url.to_owned(),
                    reason: format!("not JSON: {e}"),
                })?;
            Ok((value, fetched.max_age))
        }
    }

    /// The `max-age` of a Cache-Control header value.
    pub fn max_age(header: &str) -> Option<Duration> {
        header.split(',').find_map(|part| {
            let (name, value) = part.trim().split_once('=')?;
            (name.eq_ignore_ascii_case("max-age"))
                .then(|| value.trim().parse::<u64>().ok())
                .flatten()
                .map(Duration::from_secs)
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn max_age_is_read_from_cache_control() {
            assert_eq!(
                max_age("public, max-age=300"),
                Some(Duration::from_secs(300))
            );
            assert_eq!(max_age("no-store"), None);
            assert_eq!(max_age("max-age=abc"), None);
        }
    }
}

use http::HttpClient as Http;

struct Snapshot {
    keys: KeySet,
    fetched: Option<Instant>,
    expires: Option<Instant>,
    /// When an unknown kid last caused a fetch of a still-fresh set.
    last_kid_refresh: Option<Instant>,
}

/// Where the directory's keys come from: a fixed set, or its JWKS URL, cached.
enum Keys {
    Fixed(KeySet),
    Remote(Box<RemoteKeys>),
}

/// A JWKS fetched from a URL and cached.
struct RemoteKeys {
    url: String,
    http: Http,
    policy: CachePolicy,
    snapshot: RwLock<Snapshot>,
    /// Held while fetching: concurrent callers wait for one fetch instead of each making one.
    fetching: Mutex<()>,
    fetches: std::sync::atomic::AtomicUsize,
}

impl Keys {
    fn remote(url: &str, http: Http, policy: CachePolicy) -> Self {
        Keys::Remote(Box::new(RemoteKeys::new(url, http, policy)))
    }

    fn fresh(&self) -> bool {
        match self {
            Keys::Fixed(_) => true,
            Keys::Remote(remote) => read(&remote.snapshot)
                .expires
                .is_some_and(|e| Instant::now() < e),
        }
    }

    fn get(&self, kid: &str) -> Result<Arc<Jwk>, VerifyError> {
        match self {
            Keys::Fixed(keys) => keys.get(kid).ok_or_else(|| unknown_key(kid)),
            Keys::Remote(remote) => remote.get(kid),
        }
    }

    /// Makes the next lookup fetch the JWKS again.
    fn expire(&self) {
        if let Keys::Remote(remote) = self {
            let mut snapshot = remote
                .snapshot
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            snapshot.expires = None;
        }
    }

    fn fetch_count(&self) -> usize {
        match self {
            Keys::Fixed(_) => 0,
            Keys::Remote(remote) => remote.fetches.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

impl RemoteKeys {
    fn new(url: &str, http: Http, policy: CachePolicy) -> Self {
        Self {
            url: url.to_owned(),
            http,
            policy,
            snapshot: RwLock::new(Snapshot {
                keys: KeySet::default(),
                fetched: None,
                expires: None,
                last_kid_refresh: None,
            }),
            fetching: Mutex::new(()),
            fetches: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

fn read(lock: &RwLock<Snapshot>) -> std::sync::RwLockReadGuard<'_, Snapshot> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RemoteKeys {
    fn lookup(&self, kid: &str, now: Instant) -> (Option<Arc<Jwk>>, bool) {
        let snapshot = read(&self.snapshot);
        let fresh = snapshot.expires.is_some_and(|e| now < e);
        (snapshot.keys.get(kid), fresh)
    }

    fn get(&self, kid: &str) -> Result<Arc<Jwk>, VerifyError> {
        let now = Instant::now();
        if let (Some(key), true) = self.lookup(kid, now) {
            return Ok(key);
        }
        let _one_fetch = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Another caller may have fetched while this one waited.
        let (found, fresh) = self.lookup(kid, now);
        if let (Some(key), true) = (&found, fresh) {
            return Ok(key.clone());
        }
        if !fresh {
            self.fetch(now)?;
        } else {
            let may_refresh = read(&self.snapshot)
                .last_kid_refresh
                .is_none_or(|t| now.duration_since(t) >= self.policy.refresh_interval);
            if may_refresh {
                self.snapshot
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .last_kid_refresh = Some(now);
                self.fetch(now)?;
            }
        }
        let (found, _) = self.lookup(kid, Instant::now());
        found.ok_or_else(|| unknown_key(kid))
    }

    fn fetch(&self, now: Instant) -> Result<(), VerifyError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = self.http.get_json(&self.url).and_then(|(value, max_age)| {
            KeySet::parse(&value)
                .map(|keys| (keys, max_age))
                .map_err(|reason| ConfigError::Invalid {
                    what: self.url.clone(),
                    reason,
                })
        });
        let mut snapshot = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok((keys, max_age)) => {
                let ttl = max_age
                    .unwrap_or(self.policy.min)
                    .clamp(self.policy.min, self.policy.max);
                snapshot.keys = keys;
                snapshot.fetched = Some(now);
                snapshot.expires = Some(now + ttl);
                Ok(())
            }
            Err(error) => {
                let usable = snapshot
                    .expires
                    .is_some_and(|e| now < e + self.policy.stale_for);
                if usable {
                    // Serve what we have: the directory is briefly unreachable.
                    Ok(())
                } else {
                    snapshot.keys = KeySet::default();
                    Err(VerifyError::statement(format!(
                        "the directory's keys cannot be fetched and none are cached: {error}"
                    )))
                }
            }
        }
    }
}

/// Where the directory's documents are, for [`Verifier::new`] (or let
/// [`Verifier::discover`] read them from its discovery document).
#[derive(Debug, Clone)]
pub struct Directory {
    issuer: String,
    jwks_uri: String,
    status_endpoint: Option<String>,
    ca_chain_pem: Option<String>,
    crl_uri: Option<String>,
    events_endpoint: Option<String>,
    statement_status_endpoint: Option<String>,
    log_proof_uri: Option<String>,
    log_verifier_key: Option<String>,
}

impl Directory {
    /// A directory whose statements carry `iss` = `issuer`, signed by the keys at
    /// `jwks_uri`.
    pub fn new(issuer: impl Into<String>, jwks_uri: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_uri: jwks_uri.into(),
            status_endpoint: None,
            ca_chain_pem: None,
            crl_uri: None,
            events_endpoint: None,
            statement_status_endpoint: None,
            log_proof_uri: None,
            log_verifier_key: None,
        }
    }

    /// Its transparency log: where proofs are served (`/log/proof`; `?sha256=` is
    /// appended) and the log's note verifier key (a key pinned in the settings wins).
    pub fn with_transparency_log(
        mut self,
        proof_uri: impl Into<String>,
        verifier_key: impl Into<String>,
    ) -> Self {
        self.log_proof_uri = Some(proof_uri.into());
        self.log_verifier_key = Some(verifier_key.into());
        self
    }

    /// Its status endpoint (`/status/software`; the software id is appended).
    pub fn with_status_endpoint(mut self, url: impl Into<String>) -> Self {
        self.status_endpoint = Some(url.into());
        self
    }

    /// Its CA chain (issuing CA and root, PEM), to check client certificates.
    pub fn with_ca_chain_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_chain_pem = Some(pem.into());
        self
    }

    /// Its CRL (DER) URL.
    pub fn with_crl_uri(mut self, url: impl Into<String>) -> Self {
        self.crl_uri = Some(url.into());
        self
    }

    /// Its statement status endpoint (`/status/ssa`; the jti is appended): with status
    /// checks on, a revoked statement is refused.
    pub fn with_statement_status_endpoint(mut self, url: impl Into<String>) -> Self {
        self.statement_status_endpoint = Some(url.into());
        self
    }

    /// Its change-event feed (`/events`), for [`Verifier::poll_events`].
    pub fn with_events_endpoint(mut self, url: impl Into<String>) -> Self {
        self.events_endpoint = Some(url.into());
        self
    }

    /// `iss` of its statements.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// A page of the directory's change events, each verified, and where to continue.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// In the feed's order, each with the cursor it was served at.
    pub events: Vec<(String, ChangeEvent)>,
    /// Pass as `after` to the next [`Verifier::poll_events`].
    pub next_cursor: String,
}

/// The transparency log the verifier checks proofs against.
struct Log {
    key: LogKey,
    witnesses: Vec<WitnessKey>,
    proof_uri: Option<String>,
}

impl Log {
    /// The log of the settings' pinned key, else the directory's; `None` with transparency
    /// off, an error when it is on and no key is known.
    fn of(
        settings: &Settings,
        published: Option<&str>,
        proof_uri: Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        if settings.transparency == Transparency::Off {
            return Ok(None);
        }
        let invalid = |reason: String| ConfigError::Invalid {
            what: "the transparency log's key".into(),
            reason,
        };
        let vkey = settings.log_key.as_deref().or(published).ok_or_else(|| {
            invalid("transparency is on, but no log key is pinned (Settings::with_log_key) and the directory publishes none (log_verifier_key)".into())
        })?;
        let key = LogKey::parse(vkey).map_err(|e| invalid(e.to_string()))?;
        let witnesses = settings
            .log_witnesses
            .iter()
            .map(|w| WitnessKey::parse(w).map_err(|e| invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if settings.log_quorum > witnesses.len() {
            return Err(invalid(format!(
                "a quorum of {} of {} witnesses can never be met",
                settings.log_quorum,
                witnesses.len()
            )));
        }
        Ok(Some(Self {
            key,
            witnesses,
            proof_uri,
        }))
    }
}

/// What the transparency log says of an artefact.
enum Logged {
    /// Transparency is off: not asked.
    Off,
    /// At this index, by a proof that verified.
    At(u64),
    /// Not shown logged, and why.
    Not(String),
}

/// The directory's answer about one product, as cached.
#[derive(Debug, Clone)]
struct LiveStatus {
    status: String,
    org_status: String,
}

/// A CRL as fetched, and until when it is reused before fetching again.
struct CachedCrl {
    crl: Crl,
    refetch_after: Instant,
}

/// Checks software statements, registration requests and client certificates against one
/// directory, fetching and caching its documents. Shareable between threads; caches are
/// internal. The checks themselves are the sans-IO core's ([`Trust`]).
pub struct Verifier {
    issuer: String,
    keys: Keys,
    status_endpoint: Option<String>,
    ca: Option<CaChain>,
    crl_uri: Option<String>,
    events_endpoint: Option<String>,
    statement_status_endpoint: Option<String>,
    log: Option<Log>,
    /// Why the log cannot be checked (an offline verifier without a pinned key).
    log_error: Option<String>,
    settings: Settings,
    http: Http,
    clock: Arc<dyn Clock>,
    statuses: Mutex<HashMap<String, (Instant, LiveStatus)>>,
    /// Statements the directory reported revoked (or not), by jti.
    statement_states: Mutex<HashMap<String, (Instant, Option<String>)>>,
    software_keys: Mutex<HashMap<String, Arc<RemoteKeys>>>,
    crl: Mutex<Option<CachedCrl>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for an explicitly described directory.
    pub fn new(directory: Directory, settings: Settings) -> Result<Self, ConfigError> {
        let http = Http::new(&settings)?;
        let log = Log::of(
            &settings,
            directory.log_verifier_key.as_deref(),
            directory.log_proof_uri.clone(),
        )?;
        let ca = directory
            .ca_chain_pem
            .as_deref()
            .map(CaChain::from_pem)
            .transpose()?;
        Ok(Self {
            keys: Keys::remote(&directory.jwks_uri, http.clone(), settings.jwks_cache),
            issuer: directory.issuer,
            status_endpoint: directory.status_endpoint,
            ca,
            crl_uri: directory.crl_uri,
            events_endpoint: directory.events_endpoint,
            statement_status_endpoint: directory.statement_status_endpoint,
            log,
            log_error: None,
            http,
            settings,
            clock: Arc::new(SystemClock),
            statuses: Mutex::new(HashMap::new()),
            statement_states: Mutex::new(HashMap::new()),
            software_keys: Mutex::new(HashMap::new()),
            crl: Mutex::new(None),
        })
    }

    /// Configures everything from the directory's `/.well-known/ssa-directory` URL (or its
    /// base URL): issuer, JWKS, status endpoint, CA chain and CRL.
    pub fn discover(url: &str, settings: Settings) -> Result<Self, ConfigError> {
        let http = Http::new(&settings)?;
        let metadata_url = if url.contains("/.well-known/") {
            url.to_owned()
        } else {
            format!("{}/.well-known/ssa-directory", url.trim_end_matches('/'))
        };
        let (meta, _) = http.get_json(&metadata_url)?;
        let field = |name: &str| -> Result<String, ConfigError> {
            meta.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ConfigError::Invalid {
                    what: metadata_url.clone(),
                    reason: format!("no {name}"),
                })
        };
        let optional = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
        let mut directory = Directory::new(field("issuer")?, field("jwks_uri")?);
        directory.status_endpoint = optional("status_endpoint");
        directory.crl_uri = optional("crl_uri");
        directory.events_endpoint = optional("events_endpoint");
        directory.statement_status_endpoint = optional("statement_status_endpoint");
        directory.log_proof_uri = optional("log_proof_uri");
        directory.log_verifier_key = optional("log_verifier_key");
        if let Some(ca) = optional("ca_uri") {
            directory.ca_chain_pem = Some(String::from_utf8_lossy(&http.get(&ca)?).into_owned());
        }
        Self::new(directory, settings)
    }

    /// A verifier that never goes online: the directory's keys and CA as `trust` holds them.
    /// The live status is not checked and certificates are checked without a CRL
    /// ([`Revocation::NotChecked`](crate::Revocation::NotChecked)).
    ///
    /// With transparency on, the log's key must be pinned in `settings`
    /// ([`Settings::with_log_key`]; without it every check is refused) and each proof handed
    /// over ([`Verifier::verify_ssa_with_proof`]).
    pub fn offline(trust: Trust, settings: Settings) -> Self {
        // It never fetches: the client is there for the type's sake.
        let http = Http::with_timeout(settings.http_timeout);
        let (issuer, keys, ca) = trust.into_parts();
        let (log, log_error) = match Log::of(&settings, None, None) {
            Ok(log) => (log, None),
            Err(e) => (None, Some(e.to_string())),
        };
        Self {
            issuer,
            keys: Keys::Fixed(keys),
            status_endpoint: None,
            ca,
            crl_uri: None,
            events_endpoint: None,
            statement_status_endpoint: None,
            log,
            log_error,
            http,
            settings: settings.with_check_status(false),
            clock: Arc::new(SystemClock),
            statuses: Mutex::new(HashMap::new()),
            statement_states: Mutex::new(HashMap::new()),
            software_keys: Mutex::new(HashMap::new()),
            crl: Mutex::new(None),
        }
    }

    /// Judges times with `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The settings it checks with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The trusted issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether the directory's keys are at hand (fixed, or cached and fresh): checking a
    /// statement signed by one of them then fetches nothing, so a caller may check it where it
    /// must not wait on the network.
    pub fn keys_fresh(&self) -> bool {
        self.keys.fresh()
    }

    /// How many times the directory's JWKS has been fetched (for monitoring and tests).
    pub fn jwks_fetches(&self) -> usize {
        self.keys.fetch_count()
    }

    fn now(&self) -> std::time::SystemTime {
        self.clock.now()
    }

    /// Verifies a software statement: compact JWS, allowed algorithm, a key the directory
    /// publishes, a valid signature, the directory as issuer, current times, the claims of
    /// its profile, and (if enabled) the software still active.
    pub fn verify_ssa(&self, token: &str) -> Result<SoftwareStatement, VerifyError> {
        self.verify_ssa_with_proof(token, None)
    }

    /// [`Verifier::verify_ssa`], with transparency on checking `proof` (a tlog-proof's text
    /// that came with the statement) or, without one, the proof fetched from the directory.
    pub fn verify_ssa_with_proof(
        &self,
        token: &str,
        proof: Option<&[u8]>,
    ) -> Result<SoftwareStatement, VerifyError> {
        let mut statement = self.verify_ssa_alone(token)?;
        match self.logged(EntryKind::Statement, token.as_bytes(), proof) {
            Logged::Off => {}
            Logged::At(index) => statement.log_index = Some(index),
            Logged::Not(problem) => match self.settings.transparency {
                Transparency::Require => {
                    return Err(VerifyError::statement(format!(
                        "the statement is not shown in the directory's transparency log: {problem}"
                    )));
                }
                _ => statement.log_problem = Some(problem),
            },
        }
        Ok(statement)
    }

    /// Whether an artefact is in the directory's transparency log, by `proof` or one fetched.
    fn logged(&self, kind: EntryKind, artefact: &[u8], proof: Option<&[u8]>) -> Logged {
        if self.settings.transparency == Transparency::Off {
            return Logged::Off;
        }
        if let Some(error) = &self.log_error {
            return Logged::Not(error.clone());
        }
        let Some(log) = &self.log else {
            return Logged::Not("no transparency log is configured".into());
        };
        let fetched;
        let proof = match proof {
            Some(proof) => proof,
            None => {
                let Some(uri) = &log.proof_uri else {
                    return Logged::Not("no proof came with it, and there is no log to ask".into());
                };
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, artefact);
                let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                let separator = if uri.contains('?') { '&' } else { '?' };
                match self.http.get(&format!("{uri}{separator}sha256={hex}")) {
                    Ok(body) => {
                        fetched = body;
                        &fetched
                    }
                    Err(e) => return Logged::Not(format!("its proof cannot be fetched: {e}")),
                }
            }
        };
        match crate::transparency::check_artefact(
            kind,
            artefact,
            proof,
            &log.key,
            &log.witnesses,
            self.settings.log_quorum,
        ) {
            Ok(included) => Logged::At(included.index),
            Err(e) => Logged::Not(e.to_string()),
        }
    }

    fn verify_ssa_alone(&self, token: &str) -> Result<SoftwareStatement, VerifyError> {
        let statement = statement::verify(
            token,
            &self.issuer,
            &|kid| self.keys.get(kid),
            &self.settings,
            crate::clock::unix(self.now()),
        )?;
        if self.settings.check_status {
            self.check_live_status(&statement.software_id)?;
            if let Some(jti) = &statement.jti {
                self.check_statement_status(jti)?;
            }
        }
        Ok(statement)
    }

    /// Checks a registration request. `request` is JSON metadata or a compact JWS; its
    /// `software_statement` is verified, or `statement` is used when it carries none. A
    /// signed request is checked with the keys of the software's keystore (the statement's
    /// `jwks_uri`), fetched and cached.
    pub fn verify_registration(
        &self,
        request: &str,
        statement: Option<&SoftwareStatement>,
    ) -> Result<Registration, VerifyError> {
        let request = RegistrationRequest::parse(request)?;
        let ssa = match request.software_statement() {
            Some(token) => self.verify_ssa(token)?,
            None => statement.cloned().ok_or_else(|| {
                VerifyError::statement("the registration carries no software_statement")
            })?,
        };
        let keys = if request.is_signed() {
            let jwks_uri = ssa.jwks_uri.as_deref().ok_or_else(|| {
                VerifyError::statement("the statement names no software keystore")
            })?;
            Some(self.software_keys(jwks_uri))
        } else {
            None
        };
        let lookup = keys.map(|keys| move |kid: &str| keys.get(kid));
        request.verify_with(
            &ssa,
            lookup.as_ref().map(|f| f as KeyLookup<'_>),
            &self.settings,
            crate::clock::unix(self.now()),
        )
    }

    fn software_keys(&self, url: &str) -> Arc<RemoteKeys> {
        let mut map = self.software_keys.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(url.to_owned())
            .or_insert_with(|| {
                Arc::new(RemoteKeys::new(
                    url,
                    self.http.clone(),
                    self.settings.jwks_cache,
                ))
            })
            .clone()
    }

    /// Checks a client certificate (PEM) against the directory's CA and its CRL (fetched,
    /// reused until its nextUpdate and at most five minutes) and binds it to the statement
    /// (and, for `tls_client_auth`, to the registration's subject DN).
    pub fn verify_client_certificate(
        &self,
        certificate_pem: &str,
        ssa: &SoftwareStatement,
        registration: Option<&ClientMetadata>,
    ) -> Result<CertificateInfo, VerifyError> {
        let ca = self.ca.as_ref().ok_or_else(|| {
            VerifyError::metadata("no CA chain is configured to check client certificates")
        })?;
        let crl = self.current_crl()?;
        let mut info = certificate::verify(
            certificate_pem,
            ca,
            crl.as_ref(),
            ssa,
            registration,
            &self.settings,
            self.now(),
        )?;
        if self.settings.transparency == Transparency::Off {
            return Ok(info);
        }
        let logged = match der::pem::decode_vec(certificate_pem.trim().as_bytes()) {
            Ok((_, der)) => self.logged(EntryKind::Certificate, &der, None),
            Err(e) => Logged::Not(format!("its DER cannot be read: {e}")),
        };
        match logged {
            Logged::Off => {}
            Logged::At(index) => info.log_index = Some(index),
            Logged::Not(problem) => match self.settings.transparency {
                Transparency::Require => {
                    return Err(VerifyError::metadata(format!(
                        "the client certificate is not shown in the directory's transparency log: {problem}"
                    )));
                }
                _ => info.log_problem = Some(problem),
            },
        }
        Ok(info)
    }

    /// The directory's CRL: the cached one while it is fresh, else fetched; the cached one
    /// again when the fetch fails (the core then judges whether it is too old).
    fn current_crl(&self) -> Result<Option<Crl>, VerifyError> {
        let Some(url) = &self.crl_uri else {
            return Ok(None);
        };
        let mut cache = self.crl.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = cache.as_ref().filter(|c| Instant::now() < c.refetch_after) {
            return Ok(Some(cached.crl.clone()));
        }
        let fetched = self
            .http
            .get(url)
            .map_err(|e| e.to_string())
            .and_then(|f| Crl::from_der(&f).map_err(|e| e.to_string()));
        match fetched {
            Ok(crl) => {
                // Until nextUpdate, but re-read at least every five minutes.
                let fresh_for = crl
                    .next_update()
                    .and_then(|next| next.duration_since(self.now()).ok())
                    .unwrap_or(Duration::ZERO)
                    .min(Duration::from_secs(300));
                *cache = Some(CachedCrl {
                    crl: crl.clone(),
                    refetch_after: Instant::now() + fresh_for,
                });
                Ok(Some(crl))
            }
            Err(reason) => match cache.as_ref() {
                Some(stale) => Ok(Some(stale.crl.clone())),
                None => Err(VerifyError::metadata(format!(
                    "the directory's CRL cannot be fetched: {reason}"
                ))),
            },
        }
    }

    /// Verifies a change event (a SET from the feed, or one the directory pushed to your own
    /// HTTP handler) and forgets what it makes stale: the product's cached status, every
    /// status on an organisation's change, the keystores on a key change, the CRL on a
    /// certificate change, the directory JWKS on a signing-key change. The next check reads
    /// them afresh, so a suspension is refused as soon as its event arrives.
    pub fn verify_event(&self, set: &str) -> Result<ChangeEvent, VerifyError> {
        let event =
            crate::events::verify(set, &self.issuer, &|kid| self.keys.get(kid), &self.settings)?;
        match event.kind() {
            "organisation-status" => {
                if let Ok(mut statuses) = self.statuses.lock() {
                    statuses.clear();
                }
            }
            "participant-key-added" | "participant-key-removed" => {
                if let Ok(mut keys) = self.software_keys.lock() {
                    keys.clear();
                }
            }
            kind if kind.starts_with("certificate-") => {
                if let Ok(mut crl) = self.crl.lock() {
                    *crl = None;
                }
            }
            kind if kind.starts_with("signing-key-") => self.keys.expire(),
            kind => {
                if let (Some(software), Ok(mut statuses)) =
                    (event.software_id(), self.statuses.lock())
                {
                    statuses.remove(software);
                }
                if kind == "statement-revoked"
                    && let (Some(jti), Ok(mut states)) =
                        (event.subject_id(), self.statement_states.lock())
                {
                    if self.settings.statement_status_from_feed {
                        // The feed is the source: the revocation stands.
                        let reason = event
                            .payload
                            .get("reason")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason given")
                            .to_owned();
                        states.insert(jti.to_owned(), (Instant::now(), Some(reason)));
                    } else {
                        states.remove(jti);
                    }
                }
            }
        }
        Ok(event)
    }

    /// Reads the change events after `after` (from the oldest kept when `None`), waiting up
    /// to `wait` for the first (bounded by the HTTP timeout less a second and by the
    /// directory's 30 s), and verifies each with [`Verifier::verify_event`]. Call it in a
    /// loop with the returned `next_cursor`. A SET that does not verify is an error: the feed
    /// is not the directory's.
    pub fn poll_events(
        &self,
        after: Option<&str>,
        wait: Duration,
    ) -> Result<EventPage, ConfigError> {
        let endpoint = self
            .events_endpoint
            .as_deref()
            .ok_or_else(|| ConfigError::Invalid {
                what: "the directory".into(),
                reason: "it has no events endpoint".into(),
            })?;
        let wait = wait
            .min(
                self.settings
                    .http_timeout
                    .saturating_sub(Duration::from_secs(1)),
            )
            .min(Duration::from_secs(30));
        let mut url = format!("{endpoint}?limit=1000&wait={}", wait.as_secs());
        if let Some(after) = after {
            url.push_str("&after=");
            url.push_str(after);
        }
        let (page, _) = self.http.get_json(&url)?;
        let invalid = |reason: String| ConfigError::Invalid {
            what: url.clone(),
            reason,
        };
        let next_cursor = page
            .get("next_cursor")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no next_cursor".into()))?
            .to_owned();
        let mut events = vec![];
        for item in page
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("no events".into()))?
        {
            let cursor = item
                .get("cursor")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let set = item
                .get("set")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("event {cursor} has no set")))?;
            let event = self
                .verify_event(set)
                .map_err(|e| invalid(format!("event {cursor}: {e}")))?;
            events.push((cursor.to_owned(), event));
        }
        Ok(EventPage {
            events,
            next_cursor,
        })
    }

    /// Refuses a statement the directory reports revoked (when it has a statement status
    /// endpoint); the answer is cached like the software's status.
    fn check_statement_status(&self, jti: &str) -> Result<(), VerifyError> {
        let Some(endpoint) = &self.statement_status_endpoint else {
            return Ok(());
        };
        let from_feed = self.settings.statement_status_from_feed;
        let cached = self
            .statement_states
            .lock()
            .ok()
            .and_then(|m| m.get(jti).cloned())
            .filter(|(at, _)| from_feed || at.elapsed() < self.settings.status_cache)
            .map(|(_, revoked)| revoked)
            // Following the feed, a statement with no revocation event is current.
            .or(from_feed.then_some(None));
        let revoked = match cached {
            Some(revoked) => revoked,
            None => {
                let url = format!("{}/{jti}", endpoint.trim_end_matches('/'));
                let (value, _) = self.http.get_json(&url).map_err(|e| {
                    VerifyError::unapproved(format!(
                        "the directory's status of the statement cannot be read: {e}"
                    ))
                })?;
                let revoked =
                    (value.get("state").and_then(Value::as_str) == Some("revoked")).then(|| {
                        value
                            .get("revocation_reason")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason given")
                            .to_owned()
                    });
                if let Ok(mut map) = self.statement_states.lock() {
                    map.insert(jti.to_owned(), (Instant::now(), revoked.clone()));
                }
                revoked
            }
        };
        match revoked {
            Some(reason) => Err(VerifyError::unapproved(format!(
                "the directory reports the statement as revoked: {reason}"
            ))),
            None => Ok(()),
        }
    }

    fn check_live_status(&self, software_id: &str) -> Result<(), VerifyError> {
        let Some(endpoint) = &self.status_endpoint else {
            return Err(VerifyError::unapproved(
                "live status is required but the directory has no status endpoint",
            ));
        };
        let cached = self
            .statuses
            .lock()
            .ok()
            .and_then(|m| m.get(software_id).cloned())
            .filter(|(at, _)| at.elapsed() < self.settings.status_cache)
            .map(|(_, s)| s);
        let status = match cached {
            Some(status) => status,
            None => {
                let url = format!("{}/{software_id}", endpoint.trim_end_matches('/'));
                let (value, _) = self.http.get_json(&url).map_err(|e| {
                    VerifyError::unapproved(format!(
                        "the directory's status of the software cannot be read: {e}"
                    ))
                })?;
                let field = |n: &str| {
                    value
                        .get(n)
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_owned()
                };
                let status = LiveStatus {
                    status: field("status"),
                    org_status: field("org_status"),
                };
                if let Ok(mut map) = self.statuses.lock() {
                    map.insert(software_id.to_owned(), (Instant::now(), status.clone()));
                }
                status
            }
        };
        if status.status != "active" || status.org_status != "active" {
            return Err(VerifyError::unapproved(format!(
                "the directory reports the software as {} and its organisation as {}",
                status.status, status.org_status
            )));
        }
        Ok(())
    }
}
