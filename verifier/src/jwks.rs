//! JSON Web Key Sets: parsing, and a cache that follows the directory's Cache-Control
//! (bounded by a minimum and a maximum), refreshes on an unknown kid at most once per
//! interval, lets concurrent callers share one fetch, and serves stale keys for a bounded
//! time when the directory cannot be reached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ParsedPublicKey, RSA_PSS_2048_8192_SHA256,
    VerificationAlgorithm,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::error::{ConfigError, VerifyError};
use crate::http::Http;

/// A public key from a JWKS.
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    pub alg: Option<String>,
    pub key: DecodingKey,
    /// The key parsed once for its usual algorithm (PS256, ES256 or ES384), so that each
    /// verification does not rebuild it.
    pub parsed: Option<(Algorithm, ParsedPublicKey)>,
}

/// Parses the key for the algorithm it is normally used with.
fn parsed(kty: &str, crv: Option<&str>, spki: &[u8]) -> Option<(Algorithm, ParsedPublicKey)> {
    let (alg, verification): (Algorithm, &'static dyn VerificationAlgorithm) = match (kty, crv) {
        ("RSA", _) => (Algorithm::PS256, &RSA_PSS_2048_8192_SHA256),
        ("EC", Some("P-256")) => (Algorithm::ES256, &ECDSA_P256_SHA256_FIXED),
        ("EC", Some("P-384")) => (Algorithm::ES384, &ECDSA_P384_SHA384_FIXED),
        _ => return None,
    };
    ParsedPublicKey::new(verification, spki)
        .ok()
        .map(|k| (alg, k))
}

/// The SubjectPublicKeyInfo DER of a JWK's public members.
fn spki(kty: &str, member: &dyn Fn(&str) -> Option<Vec<u8>>, crv: Option<&str>) -> Option<Vec<u8>> {
    use openssl::bn::{BigNum, BigNumContext};
    match kty {
        "RSA" => {
            let rsa = openssl::rsa::Rsa::from_public_components(
                BigNum::from_slice(&member("n")?).ok()?,
                BigNum::from_slice(&member("e")?).ok()?,
            )
            .ok()?;
            rsa.public_key_to_der().ok()
        }
        "EC" => {
            let nid = match crv? {
                "P-256" => openssl::nid::Nid::X9_62_PRIME256V1,
                "P-384" => openssl::nid::Nid::SECP384R1,
                _ => return None,
            };
            let group = openssl::ec::EcGroup::from_curve_name(nid).ok()?;
            let mut point = openssl::ec::EcPoint::new(&group).ok()?;
            let (x, y) = (
                BigNum::from_slice(&member("x")?).ok()?,
                BigNum::from_slice(&member("y")?).ok()?,
            );
            let mut ctx = BigNumContext::new().ok()?;
            point
                .set_affine_coordinates_gfp(&group, &x, &y, &mut ctx)
                .ok()?;
            openssl::ec::EcKey::from_public_key(&group, &point)
                .ok()?
                .public_key_to_der()
                .ok()
        }
        _ => None,
    }
}

/// Parses a JWKS document; keys without a kid, private keys and unsupported ones are skipped.
pub fn parse(value: &Value) -> Result<HashMap<String, Arc<Jwk>>, String> {
    let keys = value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWKS: no \"keys\" array")?;
    let mut out = HashMap::new();
    for key in keys {
        let text = |name: &str| key.get(name).and_then(Value::as_str);
        let Some(kid) = text("kid") else { continue };
        if key.get("d").is_some() || key.get("k").is_some() {
            continue;
        }
        let decoding = match text("kty") {
            Some("RSA") => match (text("n"), text("e")) {
                (Some(n), Some(e)) => DecodingKey::from_rsa_components(n, e).ok(),
                _ => None,
            },
            Some("EC") => match (text("x"), text("y")) {
                (Some(x), Some(y)) => DecodingKey::from_ec_components(x, y).ok(),
                _ => None,
            },
            _ => None,
        };
        if let Some(decoding) = decoding {
            let kty = text("kty").unwrap_or_default();
            let member = |name: &str| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text(name)?.trim_end_matches('='))
                    .ok()
            };
            let der = spki(kty, &member, text("crv"));
            let parsed = der.as_deref().and_then(|der| parsed(kty, text("crv"), der));
            out.insert(
                kid.to_owned(),
                Arc::new(Jwk {
                    kid: kid.to_owned(),
                    kty: kty.to_owned(),
                    alg: text("alg").map(str::to_owned),
                    key: decoding,
                    parsed,
                }),
            );
        }
    }
    Ok(out)
}

/// How a remote JWKS is cached.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// Cache at least this long, whatever the server says.
    pub min: Duration,
    /// Cache at most this long.
    pub max: Duration,
    /// Refetch on an unknown kid at most once per this interval.
    pub refresh_interval: Duration,
    /// Keep using expired keys this long when the directory cannot be reached.
    pub stale_for: Duration,
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

struct Snapshot {
    keys: HashMap<String, Arc<Jwk>>,
    fetched: Option<Instant>,
    expires: Option<Instant>,
    /// When an unknown kid last caused a fetch of a still-fresh set.
    last_kid_refresh: Option<Instant>,
}

/// Where keys come from: a fixed set (offline) or a URL, cached.
pub enum KeySource {
    Static(HashMap<String, Arc<Jwk>>),
    Remote(Box<RemoteKeys>),
}

/// A JWKS fetched from a URL and cached.
pub struct RemoteKeys {
    url: String,
    http: Http,
    policy: CachePolicy,
    snapshot: RwLock<Snapshot>,
    /// Held while fetching: concurrent callers wait for one fetch instead of each making one.
    fetching: Mutex<()>,
    fetches: std::sync::atomic::AtomicUsize,
}

impl KeySource {
    pub fn remote(url: &str, http: Http, policy: CachePolicy) -> Self {
        KeySource::Remote(Box::new(RemoteKeys {
            url: url.to_owned(),
            http,
            policy,
            snapshot: RwLock::new(Snapshot {
                keys: HashMap::new(),
                fetched: None,
                expires: None,
                last_kid_refresh: None,
            }),
            fetching: Mutex::new(()),
            fetches: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Invalid {
            what: "JWKS".into(),
            reason: e.to_string(),
        })?;
        let keys = parse(&value).map_err(|reason| ConfigError::Invalid {
            what: "JWKS".into(),
            reason,
        })?;
        Ok(KeySource::Static(keys))
    }

    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Result<Arc<Jwk>, VerifyError> {
        match self {
            KeySource::Static(keys) => keys.get(kid).cloned().ok_or_else(|| unknown(kid)),
            KeySource::Remote(remote) => remote.get(kid),
        }
    }

    /// How many times the remote JWKS has been fetched (for monitoring and tests).
    pub fn fetch_count(&self) -> usize {
        match self {
            KeySource::Static(_) => 0,
            KeySource::Remote(remote) => remote.fetches.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

fn unknown(kid: &str) -> VerifyError {
    VerifyError::statement(format!(
        "the statement is signed with key {kid:?}, which the directory does not publish"
    ))
}

fn read(lock: &RwLock<Snapshot>) -> std::sync::RwLockReadGuard<'_, Snapshot> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RemoteKeys {
    fn lookup(&self, kid: &str, now: Instant) -> (Option<Arc<Jwk>>, bool) {
        let snapshot = read(&self.snapshot);
        let fresh = snapshot.expires.is_some_and(|e| now < e);
        (snapshot.keys.get(kid).cloned(), fresh)
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
        found.ok_or_else(|| unknown(kid))
    }

    fn fetch(&self, now: Instant) -> Result<(), VerifyError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = self.http.get_json(&self.url).and_then(|(value, max_age)| {
            parse(&value)
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
                    snapshot.keys.clear();
                    Err(VerifyError::statement(format!(
                        "the directory's keys cannot be fetched and none are cached: {error}"
                    )))
                }
            }
        }
    }
}
