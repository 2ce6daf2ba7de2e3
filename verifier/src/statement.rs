//! Checking a software statement: the JWS, its key, its signature, its time and issuer, the
//! claims its profile requires, and optionally the live status of the software.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::jwks::{Jwk, KeySource};
use crate::{Settings, Verifier};

/// Which claim names a statement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// UK Open Banking names: `software_client_name`, `software_redirect_uris`, ….
    Obuk,
    /// RFC 7591 / CDR names: `client_name`, `redirect_uris`, `jwks_uri`, ….
    Rfc7591,
}

/// A verified statement's values.
#[derive(Debug, Clone, Serialize)]
pub struct SoftwareStatement {
    pub profile: Profile,
    pub issuer: String,
    pub kid: String,
    pub jti: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub software_id: String,
    pub org_id: String,
    pub org_name: Option<String>,
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub roles: Vec<String>,
    /// The software's keystore JWKS (for signed registration requests).
    pub jwks_uri: Option<String>,
    pub software_version: Option<String>,
    /// Every claim, as signed.
    pub claims: Map<String, Value>,
}

/// The directory's answer about one product, as cached.
#[derive(Debug, Clone)]
pub(crate) struct LiveStatus {
    pub status: String,
    pub org_status: String,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The parts of a compact JWS.
pub(crate) struct Jws<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    pub signing_input: &'a str,
    pub signature: &'a str,
}

fn decode_part(part: &str, what: &str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::statement(format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(VerifyError::statement(format!(
            "the {what} is not a JSON object"
        ))),
    }
}

pub(crate) fn split(token: &str) -> Result<Jws<'_>, VerifyError> {
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() && parts.len() != 3) {
        return Err(VerifyError::statement(
            "not a compact JWS (three base64url parts separated by dots)",
        ));
    }
    let (signing_input, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| VerifyError::statement("not a compact JWS"))?;
    Ok(Jws {
        header: decode_part(parts[0], "JWS header")?,
        claims: decode_part(parts[1], "JWS payload")?,
        signing_input,
        signature,
    })
}

/// The header's algorithm, refused unless allowed: never `none`, never HMAC.
pub(crate) fn algorithm(
    header: &Map<String, Value>,
    allowed: &[Algorithm],
) -> Result<Algorithm, VerifyError> {
    let name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| VerifyError::statement("the JWS header has no alg"))?;
    if name.eq_ignore_ascii_case("none") {
        return Err(VerifyError::statement(
            "alg none is never accepted: the statement must be signed",
        ));
    }
    if name.to_ascii_uppercase().starts_with("HS") {
        return Err(VerifyError::statement(format!(
            "alg {name} (a shared-secret MAC) is never accepted: statements are signed with the directory's private key"
        )));
    }
    let alg: Algorithm = name
        .parse()
        .map_err(|_| VerifyError::statement(format!("alg {name} is not supported")))?;
    if !allowed.contains(&alg) {
        return Err(VerifyError::statement(format!(
            "alg {name} is not accepted here (allowed: {})",
            allowed
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(alg)
}

/// Checks the signature with the key named by the header's kid.
pub(crate) fn check_signature(
    jws: &Jws<'_>,
    alg: Algorithm,
    keys: &KeySource,
) -> Result<String, VerifyError> {
    let kid = jws
        .header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| VerifyError::statement("the JWS header has no kid"))?;
    if jws.signature.is_empty() {
        return Err(VerifyError::statement("the JWS has no signature"));
    }
    let key: std::sync::Arc<Jwk> = keys.get(kid)?;
    if let Some(key_alg) = &key.alg
        && key_alg != &format!("{alg:?}")
    {
        return Err(VerifyError::statement(format!(
            "key {kid:?} is for {key_alg}, but the header says {alg:?}"
        )));
    }
    let family_ok = match alg {
        Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512
        | Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512 => key.kty == "RSA",
        Algorithm::ES256 | Algorithm::ES384 => key.kty == "EC",
        _ => false,
    };
    if !family_ok {
        return Err(VerifyError::statement(format!(
            "key {kid:?} ({}) cannot verify {alg:?}",
            key.kty
        )));
    }
    let input = jws.signing_input.as_bytes();
    let valid = match (&key.openssl, &key.parsed) {
        // PS256 through OpenSSL with the key parsed once.
        (Some(rsa), _) if alg == Algorithm::PS256 => URL_SAFE_NO_PAD
            .decode(jws.signature)
            .is_ok_and(|sig| verify_pss(rsa, input, &sig)),
        // Other usual algorithms through aws-lc with the key parsed once.
        (_, Some((usual, parsed))) if *usual == alg => URL_SAFE_NO_PAD
            .decode(jws.signature)
            .is_ok_and(|sig| parsed.verify_sig(input, &sig).is_ok()),
        _ => jsonwebtoken::crypto::verify(jws.signature, input, &key.key, alg).unwrap_or(false),
    };
    if !valid {
        return Err(VerifyError::statement(
            "the signature does not verify: the statement was altered or not signed by the directory",
        ));
    }
    Ok(kid.to_owned())
}

/// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (JWS PS256) through OpenSSL.
fn verify_pss(
    key: &openssl::pkey::PKey<openssl::pkey::Public>,
    message: &[u8],
    signature: &[u8],
) -> bool {
    use openssl::hash::MessageDigest;
    use openssl::sign::{RsaPssSaltlen, Verifier};
    let Ok(mut verifier) = Verifier::new(MessageDigest::sha256(), key) else {
        return false;
    };
    verifier
        .set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS)
        .is_ok()
        && verifier.set_rsa_mgf1_md(MessageDigest::sha256()).is_ok()
        && verifier
            .set_rsa_pss_saltlen(RsaPssSaltlen::custom(32))
            .is_ok()
        && verifier.verify_oneshot(signature, message).unwrap_or(false)
}

/// `iat` not in the future, `exp` not passed (both with skew), age within the maximum.
pub(crate) fn check_times(
    claims: &Map<String, Value>,
    settings: &Settings,
    what: &str,
) -> Result<(i64, i64), VerifyError> {
    let number = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| VerifyError::statement(format!("the {what} has no numeric {name}")))
    };
    let (iat, exp) = (number("iat")?, number("exp")?);
    let now = unix_now();
    let skew = settings.clock_skew.as_secs() as i64;
    if iat > now + skew {
        return Err(VerifyError::statement(format!(
            "the {what} was issued in the future (iat {iat}, now {now})"
        )));
    }
    if exp <= now - skew {
        return Err(VerifyError::statement(format!(
            "the {what} expired at {exp}"
        )));
    }
    if let Some(max) = settings.max_age
        && now - iat > max.as_secs() as i64 + skew
    {
        return Err(VerifyError::statement(format!(
            "the {what} is older than the accepted {} s",
            max.as_secs()
        )));
    }
    Ok((iat, exp))
}

fn https_uri(value: &str) -> bool {
    url::Url::parse(value)
        .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some() && u.fragment().is_none())
}

fn strings(claims: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    claims.get(name)?.as_array().map(|items| {
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

/// Reads the required claims of the statement's profile into a typed value.
pub(crate) fn typed(
    claims: Map<String, Value>,
    profiles: &[Profile],
    issuer: String,
    kid: String,
    times: (i64, i64),
) -> Result<SoftwareStatement, VerifyError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let profile = if claims.contains_key("software_redirect_uris")
        || claims.contains_key("software_client_name")
    {
        Profile::Obuk
    } else {
        Profile::Rfc7591
    };
    if !profiles.contains(&profile) {
        return Err(VerifyError::statement(format!(
            "statements of profile {profile:?} are not accepted here"
        )));
    }
    let required = |name: &str| {
        text(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| VerifyError::statement(format!("the claim {name} is missing or empty")))
    };
    let (redirect_claim, name_claim, jwks_claim) = match profile {
        Profile::Obuk => (
            "software_redirect_uris",
            "software_client_name",
            "software_jwks_endpoint",
        ),
        Profile::Rfc7591 => ("redirect_uris", "client_name", "jwks_uri"),
    };
    let redirect_uris = strings(&claims, redirect_claim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            VerifyError::statement(format!("the claim {redirect_claim} is missing or empty"))
        })?;
    if let Some(bad) = redirect_uris.iter().find(|u| !https_uri(u)) {
        return Err(VerifyError::statement(format!(
            "{redirect_claim} holds {bad:?}, which is not an absolute https URI without fragment"
        )));
    }
    let roles = strings(&claims, "software_roles")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| VerifyError::statement("the claim software_roles is missing or empty"))?;
    Ok(SoftwareStatement {
        profile,
        issuer,
        kid,
        jti: text("jti"),
        issued_at: times.0,
        expires_at: times.1,
        software_id: required("software_id")?,
        org_id: required("org_id")?,
        org_name: text("org_name"),
        client_id: text("software_client_id"),
        client_name: text(name_claim),
        redirect_uris,
        roles,
        jwks_uri: text(jwks_claim),
        software_version: text("software_version"),
        claims,
    })
}

impl Verifier {
    /// Verifies a software statement: compact JWS, allowed algorithm, a key the directory
    /// publishes, a valid signature, the directory as issuer, current times, the claims of
    /// its profile, and (if enabled) the software still active.
    pub fn verify_ssa(&self, token: &str) -> Result<SoftwareStatement, VerifyError> {
        let jws = split(token)?;
        let alg = algorithm(&jws.header, &self.settings.algorithms)?;
        let kid = check_signature(&jws, alg, &self.directory.keys)?;
        let issuer = jws
            .claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if issuer != self.directory.issuer {
            return Err(VerifyError::statement(format!(
                "the statement was issued by {issuer:?}, not by the trusted directory {:?}",
                self.directory.issuer
            )));
        }
        let times = check_times(&jws.claims, &self.settings, "statement")?;
        let statement = typed(jws.claims, &self.settings.profiles, issuer, kid, times)?;
        if self.settings.check_status {
            self.check_live_status(&statement.software_id)?;
        }
        Ok(statement)
    }

    fn check_live_status(&self, software_id: &str) -> Result<(), VerifyError> {
        let Some(endpoint) = &self.directory.status_endpoint else {
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
