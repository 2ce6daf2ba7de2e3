//! Compact JWS (RFC 7515) as the verifier reads it: split and decode, the header and claims
//! read without building a `serde_json::Value`, the algorithm policy, the signature and the
//! times.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::algorithm::Algorithm;
use crate::error::VerifyError;
use crate::keys::Jwk;
use crate::settings::Settings;

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

    pub(crate) fn int(member: &Option<Self>) -> Option<i64> {
        match member {
            Some(Member::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The string items of an array, moved out.
    pub(crate) fn strings(member: &mut Option<Self>) -> Option<Vec<String>> {
        match member {
            Some(Member::Strs(items)) => Some(std::mem::take(items)),
            _ => None,
        }
    }

    pub(crate) fn owned(member: &Option<Self>) -> Option<String> {
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
    #[serde(default, borrow)]
    pub typ: Option<Member<'a>>,
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
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(alg)
}

/// The header's kid, which must be present.
pub(crate) fn kid<'h>(header: &'h Header<'_>) -> Result<&'h str, VerifyError> {
    Member::str(&header.kid)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| VerifyError::statement("the JWS header has no kid"))
}

/// Checks the signature with `key`, the key the header's kid names.
pub(crate) fn check_signature(
    jws: &Jws<'_>,
    kid: &str,
    alg: Algorithm,
    key: &Arc<Jwk>,
) -> Result<(), VerifyError> {
    if jws.signature.is_empty() {
        return Err(VerifyError::statement("the JWS has no signature"));
    }
    if let Some(key_alg) = &key.alg
        && key_alg.parse::<Algorithm>().ok() != Some(alg)
    {
        return Err(VerifyError::statement(format!(
            "key {kid:?} is for {key_alg}, but the header says {alg}"
        )));
    }
    let family_ok = key.kty == alg.key_type()
        && alg
            .curve()
            .is_none_or(|curve| key.crv.as_deref() == Some(curve));
    if !family_ok {
        return Err(VerifyError::statement(format!(
            "key {kid:?} ({}) cannot verify {alg}",
            key.kty
        )));
    }
    // Through aws-lc with the key parsed once (measured fastest here, against OpenSSL with
    // prepared contexts: `scripts/bench/verifier.sh`). The signature is decoded on the
    // stack: RSA-8192 signatures are 1,024 bytes.
    let mut buffer = [0u8; 1024];
    let valid = URL_SAFE_NO_PAD
        .decode_slice(jws.signature, &mut buffer)
        .is_ok_and(|n| key.verifies(alg, jws.signing_input.as_bytes(), &buffer[..n]));
    if !valid {
        return Err(VerifyError::statement(
            "the signature does not verify: the statement was altered or not signed by the directory",
        ));
    }
    Ok(())
}

/// `iat` not in the future, `exp` not passed (both with skew), age within the maximum, all
/// judged at `now` (seconds since the Unix epoch).
pub(crate) fn check_times(
    iat: Option<i64>,
    exp: Option<i64>,
    settings: &Settings,
    now: i64,
    what: &str,
) -> Result<(i64, i64), VerifyError> {
    let number = |value: Option<i64>, name: &str| {
        value.ok_or_else(|| VerifyError::statement(format!("the {what} has no numeric {name}")))
    };
    let (iat, exp) = (number(iat, "iat")?, number(exp, "exp")?);
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
