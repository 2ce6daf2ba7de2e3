//! What a machine client proves with its keys: a client assertion (RFC 7523, the
//! `private_key_jwt` method of RFC 7591) that authenticates it at the token endpoint, and DPoP
//! proofs (RFC 9449) that bind its access tokens to a key it holds. Signatures and claims are
//! checked with jsonwebtoken; the caller supplies the keys, the URL and the time, and keeps
//! the `jti`s ([`ReplayCache`] for DPoP proofs, the database for assertions).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The signing algorithms accepted for assertions and DPoP proofs.
pub const ALGORITHMS: [&str; 2] = ["PS256", "ES256"];
/// The longest an assertion may live, from now to its `exp`, in seconds.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;
/// How old a DPoP proof's `iat` may be, and how far ahead of the clock, in seconds.
pub const DPOP_MAX_AGE: i64 = 300;
pub const DPOP_MAX_SKEW: i64 = 60;

/// The compact JWS's protected header as JSON.
fn header(token: &str) -> Result<Map<String, Value>, String> {
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() != 3 {
        return Err("is not a compact JWS (three base64url parts)".into());
    }
    URL_SAFE_NO_PAD
        .decode(segments[0])
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| "has no readable JSON header".into())
}

fn algorithm(header: &Map<String, Value>) -> Result<Algorithm, String> {
    match header.get("alg").and_then(Value::as_str) {
        Some("PS256") => Ok(Algorithm::PS256),
        Some("ES256") => Ok(Algorithm::ES256),
        Some(other) => Err(format!(
            "is signed with {other:?}; only {} are accepted",
            ALGORITHMS.join(" and ")
        )),
        None => Err("has no alg".into()),
    }
}

/// Whether a JWK can verify `alg` (RSA for PS256, EC P-256 for ES256).
fn fits(jwk: &Map<String, Value>, alg: Algorithm) -> bool {
    let kty = jwk.get("kty").and_then(Value::as_str);
    let crv = jwk.get("crv").and_then(Value::as_str);
    match alg {
        Algorithm::PS256 => kty == Some("RSA"),
        Algorithm::ES256 => kty == Some("EC") && crv == Some("P-256"),
        _ => false,
    }
}

fn decoding_key(jwk: &Map<String, Value>) -> Option<DecodingKey> {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(Value::Object(jwk.clone())).ok()?;
    DecodingKey::from_jwk(&jwk).ok()
}

/// A checked client assertion: its `jti`, to spend, and its `exp` (Unix seconds), until which
/// the `jti` must be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub jti: String,
    pub expires_at: i64,
}

#[derive(Deserialize)]
struct AssertionClaims {
    jti: Option<String>,
    exp: i64,
}

/// The `iss` of an assertion, unverified: who claims to be authenticating, when the request
/// names no `client_id`.
pub fn claimed_client(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Checks a client assertion of `client_id` (RFC 7523 section 3): signed with PS256 or ES256
/// by one of `keys` (the client's live keys; by `kid` when the header names one), `iss` and
/// `sub` the client, `aud` one of `audiences`, `exp` in the future and at most
/// [`MAX_ASSERTION_LIFETIME`] away, a `jti`. The error says what was wrong.
pub fn check_assertion(
    token: &str,
    client_id: &str,
    audiences: &[String],
    keys: &[Map<String, Value>],
    now: i64,
) -> Result<Assertion, String> {
    let what = |problem: String| format!("the client assertion {problem}");
    let header = header(token).map_err(what)?;
    let alg = algorithm(&header).map_err(what)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Map<String, Value>> = keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.get("kid").and_then(Value::as_str) == Some(kid)))
        .filter(|k| fits(k, alg))
        .collect();
    if candidates.is_empty() {
        return Err(match kid {
            Some(kid) => format!(
                "no live {alg:?} key of this client has kid {kid:?} (a removed key is revoked)"
            ),
            None => format!("this client has no live key for {alg:?}"),
        });
    }
    let mut validation = Validation::new(alg);
    validation.set_audience(audiences);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = 30;
    for key in candidates {
        let Some(decoding) = decoding_key(key) else {
            continue;
        };
        let claims = match jsonwebtoken::decode::<AssertionClaims>(token, &decoding, &validation) {
            Ok(data) => data.claims,
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
            Err(e) => {
                return Err(what(match e.kind() {
                    ErrorKind::ExpiredSignature => "has expired".into(),
                    ErrorKind::ImmatureSignature => "is not valid yet (nbf)".into(),
                    ErrorKind::InvalidAudience => format!(
                        "is for another audience: aud must be {}",
                        audiences.join(" or ")
                    ),
                    ErrorKind::InvalidIssuer => "must have iss = the client_id".into(),
                    ErrorKind::InvalidSubject => "must have sub = the client_id".into(),
                    ErrorKind::MissingRequiredClaim(claim) => format!("has no {claim}"),
                    _ => problem(&e),
                }));
            }
        };
        let jti = claims
            .jti
            .filter(|j| !j.is_empty() && j.len() <= 200)
            .ok_or_else(|| what("has no jti (of at most 200 characters)".into()))?;
        if claims.exp - now > MAX_ASSERTION_LIFETIME {
            return Err(what(format!(
                "lives too long: exp may be at most {MAX_ASSERTION_LIFETIME} s from now"
            )));
        }
        return Ok(Assertion {
            jti,
            expires_at: claims.exp,
        });
    }
    Err(what(
        "is not signed by a live key of this client (a removed key is revoked)".into(),
    ))
}

/// A checked DPoP proof: the RFC 7638 thumbprint of its key, its `jti` and `iat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

impl Proof {
    /// The last Unix second at which any instance would still accept this proof.
    pub fn accepted_until(&self) -> i64 {
        self.iat + DPOP_MAX_AGE + DPOP_MAX_SKEW
    }
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<i64>,
    ath: Option<String>,
}

/// The `ath` of an access token: base64url of its SHA-256.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The `x5t#S256` of a certificate (RFC 8705 section 3.1): the base64url SHA-256 of its DER,
/// what a certificate-bound token is bound to.
pub fn certificate_thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// Checks a DPoP proof (RFC 9449 section 4.3) for a request of `method` to `url` (without
/// query or fragment): `typ` `dpop+jwt`, PS256 or ES256, signed by the public JWK in its
/// header, `htm` and `htu` those of the request, `iat` recent, a `jti`, and with
/// `access_token`, `ath` its hash. The caller checks the `jti` against replay.
pub fn check_dpop(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: i64,
) -> Result<Proof, String> {
    let what = |problem: String| format!("the DPoP proof {problem}");
    let header = header(proof).map_err(what)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(what("must have typ dpop+jwt".into()));
    }
    let alg = algorithm(&header).map_err(what)?;
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or_else(|| what("has no jwk in its header".into()))?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|private| jwk.contains_key(*private))
    {
        return Err(what(
            "carries a private key: its jwk must be the public key".into(),
        ));
    }
    if !fits(jwk, alg) {
        return Err(what(format!("has a jwk that cannot verify {alg:?}")));
    }
    let key = decoding_key(jwk).ok_or_else(|| what("has a jwk that cannot be read".into()))?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => what("is not signed by the key in its header".into()),
            _ => what(problem(&e)),
        })?
        .claims;
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 200)
        .ok_or_else(|| what("has no jti (of at most 200 characters)".into()))?;
    if claims.htm.as_deref() != Some(method) {
        return Err(what(format!("is for another method: htm must be {method}")));
    }
    let htu = claims.htu.unwrap_or_default();
    let htu = htu.split(['?', '#']).next().unwrap_or_default();
    if htu != url {
        return Err(what(format!("is for another URL: htu must be {url}")));
    }
    let iat = claims.iat.ok_or_else(|| what("has no iat".into()))?;
    if iat < now - DPOP_MAX_AGE || iat > now + DPOP_MAX_SKEW {
        return Err(what(format!(
            "is too old or from the future: iat must be within {DPOP_MAX_AGE} s of now"
        )));
    }
    if let Some(token) = access_token
        && claims.ath.as_deref() != Some(token_hash(token).as_str())
    {
        return Err(what(
            "must carry ath, the hash of the access token it is sent with".into(),
        ));
    }
    let jkt = super::jwk::thumbprint(jwk).map_err(|e| what(format!("has a bad jwk ({e})")))?;
    Ok(Proof { jkt, jti, iat })
}

/// The DPoP proofs of safe requests (GET, HEAD) seen lately, by key and `jti`, until they are
/// too old to be accepted: in memory, per process. Proofs at the token endpoint and for
/// requests that change something are spent in the database instead
/// (`store::oauth::spend_proof`), so they are used once across instances; replaying a safe
/// request's proof on another instance only gets again what the original request got.
pub struct ReplayCache {
    /// Each proof seen, kept until it would no longer be accepted. No capacity: evicting a
    /// live entry would let its proof be replayed.
    seen: moka::sync::Cache<(String, String), std::time::Duration>,
}

/// Keeps each proof for the time it stays acceptable, stored as its value.
struct UntilRefused;

impl moka::Expiry<(String, String), std::time::Duration> for UntilRefused {
    fn expire_after_create(
        &self,
        _proof: &(String, String),
        lifetime: &std::time::Duration,
        _at: std::time::Instant,
    ) -> Option<std::time::Duration> {
        Some(*lifetime)
    }
}

impl ReplayCache {
    pub fn new() -> Self {
        Self {
            seen: moka::sync::Cache::builder()
                .expire_after(UntilRefused)
                .build(),
        }
    }

    /// Whether `proof` is seen for the first time at `now` (and remembers it).
    pub fn first_use(&self, proof: &Proof, now: i64) -> bool {
        let lifetime = (proof.accepted_until() - now).max(1) as u64;
        self.seen
            .entry((proof.jkt.clone(), proof.jti.clone()))
            .or_insert(std::time::Duration::from_secs(lifetime))
            .is_fresh()
    }
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new()
    }
}

/// What is wrong with a JWT that jsonwebtoken refused, in words (after "the … "): its
/// `Debug` text is no answer for a client.
pub fn problem(e: &jsonwebtoken::errors::Error) -> String {
    match e.kind() {
        ErrorKind::InvalidToken => "is not a compact JWS (three base64url parts)".into(),
        ErrorKind::InvalidSignature => "does not verify with the key".into(),
        ErrorKind::ExpiredSignature => "has expired".into(),
        ErrorKind::ImmatureSignature => "is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "is for another audience (aud)".into(),
        ErrorKind::InvalidIssuer => "has another issuer (iss)".into(),
        ErrorKind::InvalidSubject => "has another subject (sub)".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("has no {claim}"),
        ErrorKind::InvalidClaimFormat(claim) => format!("has a {claim} of the wrong type"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "is signed with an algorithm not accepted here".into()
        }
        ErrorKind::Json(cause) => format!("has claims that cannot be read: {cause}"),
        ErrorKind::Base64(_) => "is not base64url".into(),
        ErrorKind::Utf8(_) => "is not UTF-8".into(),
        _ => "cannot be read".into(),
    }
}

/// The `kid` and claims of a compact JWS a participant signed with one of its `keystore`
/// keys: `typ` as given, PS256 or ES256, the key its `kid` names, `iss` the given issuer,
/// `iss`, `sub`, `iat` and `exp` present and `exp` not passed (no leeway); or what is wrong,
/// in words for the participant.
pub fn verify_participant_jws(
    jwt: &str,
    typ: &str,
    issuer: &str,
    keystore: &[Map<String, Value>],
) -> Result<(String, Value), String> {
    let jwt = jwt.trim();
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("is not a JWS ({e})"))?;
    if header.typ.as_deref() != Some(typ) {
        return Err(format!("must have typ {typ}"));
    }
    if !matches!(header.alg, Algorithm::PS256 | Algorithm::ES256) {
        return Err("must be signed with PS256 or ES256".into());
    }
    let kid = header.kid.ok_or("names no kid")?;
    let jwk = keystore
        .iter()
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid.as_str()))
        .ok_or("is not signed by a live key of its keystore (upload the key first)")?;
    let key = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(Value::Object(jwk.clone()))
        .ok()
        .and_then(|j| DecodingKey::from_jwk(&j).ok())
        .ok_or("names a keystore key that cannot verify")?;
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["iss", "sub", "iat", "exp"]);
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .map_err(|e| problem(&e))?
        .claims;
    Ok((kid, claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(jkt: &str, jti: &str, iat: i64) -> Proof {
        Proof {
            jkt: jkt.into(),
            jti: jti.into(),
            iat,
        }
    }

    #[test]
    fn a_proof_is_used_once_per_key_and_jti() {
        let seen = ReplayCache::new();
        let now = 1_800_000_000;
        assert!(seen.first_use(&proof("k1", "a", now), now));
        assert!(!seen.first_use(&proof("k1", "a", now), now + 1));
        // Another jti of the same key, or the same jti under another key, is another proof.
        assert!(seen.first_use(&proof("k1", "b", now), now));
        assert!(seen.first_use(&proof("k2", "a", now), now));
    }

    #[test]
    fn a_proof_is_remembered_as_long_as_it_would_be_accepted() {
        let seen = ReplayCache::new();
        // Accepted for one more second: remembered for that second (by then the proof
        // itself is refused for its age), not longer.
        let now = 1_800_000_000;
        let old = proof("k", "a", now - DPOP_MAX_AGE - DPOP_MAX_SKEW + 1);
        assert!(seen.first_use(&old, now));
        assert!(!seen.first_use(&old, now));
        let key = ("k".to_owned(), "a".to_owned());
        assert_eq!(seen.seen.get(&key), Some(std::time::Duration::from_secs(1)));
    }
}
