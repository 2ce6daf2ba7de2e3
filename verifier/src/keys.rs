//! JSON Web Key Sets (RFC 7517): the public keys statements and signed requests are checked
//! with.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use der::Encode;
use der::asn1::{Any, BitString, UintRef};
use der::oid::ObjectIdentifier;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::algorithm::Algorithm;
use crate::error::ConfigError;

/// A public key from a JWKS, ready to verify with.
pub(crate) struct Jwk {
    pub kty: String,
    pub crv: Option<String>,
    /// The `alg` the key declares, as written (it may name an algorithm this crate lacks).
    pub alg: Option<String>,
    /// Its SubjectPublicKeyInfo DER.
    spki: Vec<u8>,
    /// The key parsed once for its usual algorithm (PS256, ES256 or ES384), so that each
    /// verification does not rebuild it.
    usual: Option<(Algorithm, ParsedPublicKey)>,
}

impl Jwk {
    /// Whether `signature` over `input` verifies with this key under `alg`.
    pub fn verifies(&self, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
        match &self.usual {
            Some((usual, parsed)) if *usual == alg => parsed.verify_sig(input, signature).is_ok(),
            _ => ParsedPublicKey::new(alg.verification(), &self.spki)
                .is_ok_and(|key| key.verify_sig(input, signature).is_ok()),
        }
    }
}

/// Finds the key a JWS header's kid names (in a fixed set, or a fetched and cached one).
pub(crate) type KeyLookup<'a> = &'a dyn Fn(&str) -> Result<Arc<Jwk>, crate::error::VerifyError>;

/// The algorithm a key of this type is normally used with.
fn usual_algorithm(kty: &str, crv: Option<&str>) -> Option<Algorithm> {
    match (kty, crv) {
        ("RSA", _) => Some(Algorithm::PS256),
        ("EC", Some("P-256")) => Some(Algorithm::ES256),
        ("EC", Some("P-384")) => Some(Algorithm::ES384),
        _ => None,
    }
}

/// rsaEncryption (RFC 8017), id-ecPublicKey (RFC 5480) and the two curves a JWK may name.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// RSAPublicKey (RFC 8017, A.1.1).
#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// The SubjectPublicKeyInfo DER of a JWK's public members. An EC point is checked later,
/// when the key is parsed for its algorithm; coordinates shorter than the curve's size (a
/// producer that dropped leading zeros) are padded.
fn spki(kty: &str, member: &dyn Fn(&str) -> Option<Vec<u8>>, crv: Option<&str>) -> Option<Vec<u8>> {
    let (algorithm, key) = match kty {
        "RSA" => {
            let (n, e) = (member("n")?, member("e")?);
            let key = RsaPublicKey {
                modulus: UintRef::new(&n).ok()?,
                public_exponent: UintRef::new(&e).ok()?,
            };
            let algorithm = AlgorithmIdentifierOwned {
                oid: RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            };
            (algorithm, key.to_der().ok()?)
        }
        "EC" => {
            let (curve, size) = match crv? {
                "P-256" => (P256, 32_usize),
                "P-384" => (P384, 48),
                _ => return None,
            };
            let mut point = vec![0x04];
            for coordinate in [member("x")?, member("y")?] {
                let padding = size.checked_sub(coordinate.len())?;
                point.extend(std::iter::repeat_n(0, padding));
                point.extend(coordinate);
            }
            let algorithm = AlgorithmIdentifierOwned {
                oid: EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&curve).ok()?),
            };
            (algorithm, point)
        }
        _ => return None,
    };
    SubjectPublicKeyInfoOwned {
        algorithm,
        subject_public_key: BitString::from_bytes(&key).ok()?,
    }
    .to_der()
    .ok()
}

/// The keys of a JWKS document, by kid. Keys without a kid, private keys, symmetric keys and
/// key types the verifier cannot use are left out.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<Jwk>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.keys.keys()).finish()
    }
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Invalid {
            what: "JWKS".into(),
            reason: e.to_string(),
        })?;
        Self::parse(&value).map_err(|reason| ConfigError::Invalid {
            what: "JWKS".into(),
            reason,
        })
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, String> {
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("not a JWKS: no \"keys\" array")?;
        let mut out = HashMap::new();
        for key in keys {
            let text = |name: &str| key.get(name).and_then(Value::as_str);
            let (Some(kid), Some(kty)) = (text("kid"), text("kty")) else {
                continue;
            };
            if key.get("d").is_some() || key.get("k").is_some() {
                continue;
            }
            let member = |name: &str| {
                URL_SAFE_NO_PAD
                    .decode(text(name)?.trim_end_matches('='))
                    .ok()
            };
            let Some(der) = spki(kty, &member, text("crv")) else {
                continue;
            };
            let usual = usual_algorithm(kty, text("crv")).and_then(|alg| {
                ParsedPublicKey::new(alg.verification(), &der)
                    .ok()
                    .map(|k| (alg, k))
            });
            if kty == "EC" && usual.is_none() {
                // Not a point of its curve.
                continue;
            }
            out.insert(
                kid.to_owned(),
                Arc::new(Jwk {
                    kty: kty.to_owned(),
                    crv: text("crv").map(str::to_owned),
                    alg: text("alg").map(str::to_owned),
                    spki: der,
                    usual,
                }),
            );
        }
        Ok(Self { keys: out })
    }

    /// The key ids in the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn get(&self, kid: &str) -> Option<Arc<Jwk>> {
        self.keys.get(kid).cloned()
    }
}
