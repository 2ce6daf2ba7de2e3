//! Checking a software statement: the JWS, its key, its signature, its time and issuer, the
//! claims its profile requires, and optionally the live status of the software.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
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
    /// Every claim, as signed (serialised as the JSON object `claims`; see [`Self::claims`]).
    #[serde(rename = "claims")]
    payload: Payload,
}

impl SoftwareStatement {
    /// Every claim, as signed. The payload is kept as verified and read on demand, so the
    /// hot path does not build a map that most callers never look at.
    pub fn claims(&self) -> Map<String, Value> {
        self.payload.object()
    }

    /// One claim, as signed.
    pub fn claim(&self, name: &str) -> Option<Value> {
        self.payload.object().remove(name)
    }
}

/// A JWS payload that parsed as a JSON object.
#[derive(Clone)]
struct Payload(Vec<u8>);

impl Payload {
    fn object(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.object().serialize(serializer)
    }
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

/// One member of a JOSE header or claims set, read without building a `serde_json::Value`:
/// strings are borrowed from the decoded bytes where they have no escapes. A value of a type
/// the reader does not use becomes `Other`, exactly as `Value::as_str`/`as_i64` would answer
/// `None` for it.
#[derive(Debug)]
pub(crate) enum Member<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    /// The string items of an array (other items are ignored).
    Strs(Vec<String>),
    Other,
}

impl<'a> Member<'a> {
    pub(crate) fn str(member: &Option<Self>) -> Option<&str> {
        match member {
            Some(Member::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn int(member: &Option<Self>) -> Option<i64> {
        match member {
            Some(Member::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The string items of an array, moved out.
    fn strings(member: &mut Option<Self>) -> Option<Vec<String>> {
        match member {
            Some(Member::Strs(items)) => Some(std::mem::take(items)),
            _ => None,
        }
    }

    fn owned(member: &Option<Self>) -> Option<String> {
        Self::str(member).map(str::to_owned)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Member<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Member<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Member::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Member::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Member::Str(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Member::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Member::Other, Member::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Member::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Member::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Member::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Member<'de>>()? {
                    if let Member::Str(s) = item {
                        items.push(s.into_owned());
                    }
                }
                Ok(Member::Strs(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Member::Other)
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// The JOSE header members the verifier reads.
#[derive(Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(default, borrow)]
    pub alg: Option<Member<'a>>,
    #[serde(default, borrow)]
    pub kid: Option<Member<'a>>,
}

/// The claims a statement's checks read, borrowed from the decoded payload. Other claims are
/// skipped here and kept in the payload.
#[derive(Deserialize)]
struct Claims<'a> {
    #[serde(default, borrow)]
    iss: Option<Member<'a>>,
    #[serde(default, borrow)]
    iat: Option<Member<'a>>,
    #[serde(default, borrow)]
    exp: Option<Member<'a>>,
    #[serde(default, borrow)]
    jti: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_id: Option<Member<'a>>,
    #[serde(default, borrow)]
    org_id: Option<Member<'a>>,
    #[serde(default, borrow)]
    org_name: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_client_id: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_client_name: Option<Member<'a>>,
    #[serde(default, borrow)]
    client_name: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_redirect_uris: Option<Member<'a>>,
    #[serde(default, borrow)]
    redirect_uris: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_roles: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_jwks_endpoint: Option<Member<'a>>,
    #[serde(default, borrow)]
    jwks_uri: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_version: Option<Member<'a>>,
}

/// The parts of a compact JWS, its header and payload decoded from base64url.
pub(crate) struct Jws<'a> {
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
    pub signing_input: &'a str,
    pub signature: &'a str,
}

/// Reads JSON object `bytes` (a decoded JWS part) as `T`. A member that `T` reads may appear
/// only once (RFC 7519 section 4 allows refusing duplicates, and it closes the door on two
/// parsers reading two different values).
pub(crate) fn read_part<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &str,
) -> Result<T, VerifyError> {
    // A struct would also accept a JSON array, positionally.
    if !bytes.trim_ascii_start().starts_with(b"{") {
        return Err(VerifyError::statement(format!(
            "the {what} is not a JSON object"
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| VerifyError::statement(format!("the {what} is not a valid JSON object: {e}")))
}

pub(crate) fn split(token: &str) -> Result<Jws<'_>, VerifyError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::statement(
            "not a compact JWS (three base64url parts separated by dots)",
        ));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| VerifyError::statement(format!("the {what} is not base64url")))
    };
    Ok(Jws {
        header: decode(header, "JWS header")?,
        payload: decode(payload, "JWS payload")?,
        signing_input: &token[..header.len() + 1 + payload.len()],
        signature,
    })
}

/// The header's algorithm, refused unless allowed: never `none`, never HMAC.
pub(crate) fn algorithm(
    header: &Header<'_>,
    allowed: &[Algorithm],
) -> Result<Algorithm, VerifyError> {
    let name = Member::str(&header.alg)
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
    header: &Header<'_>,
    alg: Algorithm,
    keys: &KeySource,
) -> Result<String, VerifyError> {
    let kid = Member::str(&header.kid)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| VerifyError::statement("the JWS header has no kid"))?;
    if jws.signature.is_empty() {
        return Err(VerifyError::statement("the JWS has no signature"));
    }
    let key: std::sync::Arc<Jwk> = keys.get(kid)?;
    if let Some(key_alg) = &key.alg
        && key_alg.parse::<Algorithm>().ok() != Some(alg)
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
    let valid = match &key.parsed {
        // The usual algorithms through aws-lc with the key parsed once (measured fastest
        // here, against OpenSSL with prepared contexts: `scripts/bench/verifier.sh`). The
        // signature is decoded on the stack: RSA-8192 signatures are 1,024 bytes.
        Some((usual, parsed)) if *usual == alg => {
            let mut buffer = [0u8; 1024];
            URL_SAFE_NO_PAD
                .decode_slice(jws.signature, &mut buffer)
                .is_ok_and(|n| parsed.verify_sig(input, &buffer[..n]).is_ok())
        }
        _ => jsonwebtoken::crypto::verify(jws.signature, input, &key.key, alg).unwrap_or(false),
    };
    if !valid {
        return Err(VerifyError::statement(
            "the signature does not verify: the statement was altered or not signed by the directory",
        ));
    }
    Ok(kid.to_owned())
}

/// `iat` not in the future, `exp` not passed (both with skew), age within the maximum.
pub(crate) fn check_times(
    iat: Option<i64>,
    exp: Option<i64>,
    settings: &Settings,
    what: &str,
) -> Result<(i64, i64), VerifyError> {
    let number = |value: Option<i64>, name: &str| {
        value.ok_or_else(|| VerifyError::statement(format!("the {what} has no numeric {name}")))
    };
    let (iat, exp) = (number(iat, "iat")?, number(exp, "exp")?);
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

/// Reads the required claims of the statement's profile into a typed value.
fn typed(
    claims: &mut Claims<'_>,
    profiles: &[Profile],
    issuer: String,
    kid: String,
    (issued_at, expires_at): (i64, i64),
) -> Result<SoftwareStatement, VerifyError> {
    let profile =
        if claims.software_redirect_uris.is_some() || claims.software_client_name.is_some() {
            Profile::Obuk
        } else {
            Profile::Rfc7591
        };
    if !profiles.contains(&profile) {
        return Err(VerifyError::statement(format!(
            "statements of profile {profile:?} are not accepted here"
        )));
    }
    let required = |member: &Option<Member<'_>>, name: &str| {
        Member::str(member)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| VerifyError::statement(format!("the claim {name} is missing or empty")))
    };
    let (redirect_claim, redirects, name, jwks) = match profile {
        Profile::Obuk => (
            "software_redirect_uris",
            &mut claims.software_redirect_uris,
            &claims.software_client_name,
            &claims.software_jwks_endpoint,
        ),
        Profile::Rfc7591 => (
            "redirect_uris",
            &mut claims.redirect_uris,
            &claims.client_name,
            &claims.jwks_uri,
        ),
    };
    let redirect_uris = Member::strings(redirects)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            VerifyError::statement(format!("the claim {redirect_claim} is missing or empty"))
        })?;
    if let Some(bad) = redirect_uris.iter().find(|u| !https_uri(u)) {
        return Err(VerifyError::statement(format!(
            "{redirect_claim} holds {bad:?}, which is not an absolute https URI without fragment"
        )));
    }
    let roles = Member::strings(&mut claims.software_roles)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| VerifyError::statement("the claim software_roles is missing or empty"))?;
    Ok(SoftwareStatement {
        profile,
        issuer,
        kid,
        jti: Member::owned(&claims.jti),
        issued_at,
        expires_at,
        software_id: required(&claims.software_id, "software_id")?,
        org_id: required(&claims.org_id, "org_id")?,
        org_name: Member::owned(&claims.org_name),
        client_id: Member::owned(&claims.software_client_id),
        client_name: Member::owned(name),
        redirect_uris,
        roles,
        jwks_uri: Member::owned(jwks),
        software_version: Member::owned(&claims.software_version),
        // Filled in by the caller once the claims no longer borrow the payload.
        payload: Payload(Vec::new()),
    })
}

impl Verifier {
    /// Verifies a software statement: compact JWS, allowed algorithm, a key the directory
    /// publishes, a valid signature, the directory as issuer, current times, the claims of
    /// its profile, and (if enabled) the software still active.
    pub fn verify_ssa(&self, token: &str) -> Result<SoftwareStatement, VerifyError> {
        let jws = split(token)?;
        let header: Header<'_> = read_part(&jws.header, "JWS header")?;
        let alg = algorithm(&header, &self.settings.algorithms)?;
        let kid = check_signature(&jws, &header, alg, &self.directory.keys)?;
        let mut claims: Claims<'_> = read_part(&jws.payload, "JWS payload")?;
        let issuer = Member::str(&claims.iss).unwrap_or_default();
        if issuer != self.directory.issuer {
            return Err(VerifyError::statement(format!(
                "the statement was issued by {issuer:?}, not by the trusted directory {:?}",
                self.directory.issuer
            )));
        }
        let times = check_times(
            Member::int(&claims.iat),
            Member::int(&claims.exp),
            &self.settings,
            "statement",
        )?;
        let issuer = issuer.to_owned();
        let mut statement = typed(&mut claims, &self.settings.profiles, issuer, kid, times)?;
        drop(claims);
        statement.payload = Payload(jws.payload);
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
