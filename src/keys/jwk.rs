//! Public JSON Web Keys: built from our own keys, and parsed and checked when participants
//! upload theirs. `kid` defaults to the RFC 7638 thumbprint.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use serde_json::{Map, Value, json};

use crate::model::Error;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: u32 = 2048;

/// Largest RSA modulus accepted, in bits: the upper bound of the RSA verification that
/// aws-lc (the verifier's crypto, as ring's) and the banks' usual JOSE libraries implement
/// (`RSA_PKCS1_2048_8192_*`, `RSA_PSS_2048_8192_*`); a larger key could be published but no
/// bank could verify with it, and its cost grows with the square of its size.
pub const MAX_RSA_BITS: u32 = 8192;

/// Checks an RSA public key's numbers beyond what parsing does: a modulus of
/// [`MIN_RSA_BITS`] to [`MAX_RSA_BITS`] bits that is odd and has no small prime factor
/// (a product of two large primes has none: an even or all-ones modulus is garbage), and an
/// odd public exponent from 3 to 2^32 - 1 (what aws-lc accepts; in practice 65537).
fn check_rsa_numbers(n: &openssl::bn::BigNumRef, e: &openssl::bn::BigNumRef) -> Result<(), String> {
    let bits = n.num_bits() as u32;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(format!(
            "jwk.n: RSA keys must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, this one has {bits}"
        ));
    }
    if !n.is_bit_set(0) {
        return Err("jwk.n: an RSA modulus is odd, this one is even".into());
    }
    let small_factor = small_primes().find(|&p| n.mod_word(p).is_ok_and(|rest| rest == 0));
    if let Some(p) = small_factor {
        return Err(format!(
            "jwk.n: not an RSA modulus (it is divisible by {p})"
        ));
    }
    if !(2..=32).contains(&e.num_bits()) || !e.is_bit_set(0) {
        return Err(
            "jwk.e: the public exponent must be odd, from 3 to 2^32 - 1 (usually 65537)".into(),
        );
    }
    Ok(())
}

/// The primes below 2000, by trial division (cheap at start-up of the check).
fn small_primes() -> impl Iterator<Item = u32> {
    (2u32..2000).filter(|&c| (2..c).take_while(|d| d * d <= c).all(|d| c % d != 0))
}

/// Members that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_decode(field: &str, value: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| {
            Error::Validation(format!("jwk.{field}: not base64url (RFC 7515, no padding)"))
        })
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK's required members,
/// computed by jsonwebtoken; a missing member or an unknown key type is named.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, Error> {
    let member = |name: &str| {
        jwk.get(name)
            .filter(|v| v.is_string())
            .cloned()
            .ok_or_else(|| Error::Validation(format!("jwk.{name}: required")))
    };
    let names: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["kty", "n", "e"],
        Some("EC") => &["kty", "crv", "x", "y"],
        Some(other) => {
            return Err(Error::Validation(format!(
                "jwk.kty: {other:?} is not supported (use RSA or EC)"
            )));
        }
        None => return Err(Error::Validation("jwk.kty: required".into())),
    };
    // Only the required members: the thumbprint covers nothing else, and the others (`use`,
    // `alg`, `x5c`, ...) are checked where the key is accepted.
    let required = names
        .iter()
        .map(|name| Ok(((*name).to_owned(), member(name)?)))
        .collect::<Result<Map<String, Value>, Error>>()?;
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(Value::Object(required))
        .map_err(|e| Error::Validation(format!("jwk: {e}")))?;
    parsed
        .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        .map_err(|e| Error::Validation(format!("jwk: {e}")))
}

fn curve_name(nid: Nid) -> Option<(&'static str, usize)> {
    match nid {
        Nid::X9_62_PRIME256V1 => Some(("P-256", 32)),
        Nid::SECP384R1 => Some(("P-384", 48)),
        _ => None,
    }
}

fn padded(bn: &openssl::bn::BigNumRef, len: usize) -> Result<Vec<u8>, Error> {
    bn.to_vec_padded(len as i32)
        .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context("encoding a coordinate")))
}

/// The public JWK of a key (RSA, or EC on P-256/P-384), with `kid` = thumbprint, `use` and `alg`.
pub fn public_jwk<T: openssl::pkey::HasPublic>(
    key: &PKey<T>,
    alg: &str,
) -> Result<Map<String, Value>, Error> {
    let unexpected = |e: openssl::error::ErrorStack| {
        Error::Unexpected(anyhow::Error::new(e).context("reading a public key"))
    };
    let mut jwk = Map::new();
    if let Ok(rsa) = key.rsa() {
        jwk.insert("kty".into(), json!("RSA"));
        jwk.insert("n".into(), json!(b64(&rsa.n().to_vec())));
        jwk.insert("e".into(), json!(b64(&rsa.e().to_vec())));
    } else if let Ok(ec) = key.ec_key() {
        let group = ec.group();
        let (crv, len) = group
            .curve_name()
            .and_then(curve_name)
            .ok_or_else(|| Error::Validation("unsupported curve (use P-256 or P-384)".into()))?;
        let mut ctx = BigNumContext::new().map_err(unexpected)?;
        let mut x = BigNum::new().map_err(unexpected)?;
        let mut y = BigNum::new().map_err(unexpected)?;
        ec.public_key()
            .affine_coordinates(group, &mut x, &mut y, &mut ctx)
            .map_err(unexpected)?;
        jwk.insert("kty".into(), json!("EC"));
        jwk.insert("crv".into(), json!(crv));
        jwk.insert("x".into(), json!(b64(&padded(&x, len)?)));
        jwk.insert("y".into(), json!(b64(&padded(&y, len)?)));
    } else {
        return Err(Error::Validation(
            "unsupported key type (use RSA or EC)".into(),
        ));
    }
    let kid = thumbprint(&jwk)?;
    jwk.insert("kid".into(), json!(kid));
    jwk.insert("use".into(), json!("sig"));
    jwk.insert("alg".into(), json!(alg));
    Ok(jwk)
}

/// A participant's public key, checked: RSA of 2048 to 8192 bits or EC on P-256/P-384, no
/// private member, valid base64url, a point on its curve.
#[derive(Debug, Clone)]
pub struct PublicJwk {
    pub kid: String,
    pub thumbprint: String,
    /// The normalised JWK as published (public members, kid, use, alg if given).
    pub jwk: Map<String, Value>,
}

impl PublicJwk {
    pub fn parse(value: &Value) -> Result<Self, Error> {
        let invalid = |m: String| Error::Validation(m);
        let object = value
            .as_object()
            .ok_or_else(|| invalid("jwk: must be a JSON object".into()))?;
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
            return Err(invalid(format!(
                "jwk.{private}: private key material must never be uploaded; send the public key only"
            )));
        }
        let text = |name: &str| -> Result<String, Error> {
            match object.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(invalid(format!("jwk.{name}: must be a string"))),
                None => Err(invalid(format!("jwk.{name}: required"))),
            }
        };
        let optional = |name: &str| -> Result<Option<String>, Error> {
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("jwk.{name}: must be a string"))),
            }
        };
        let kty = text("kty")?;
        let mut jwk = Map::new();
        match kty.as_str() {
            "RSA" => {
                let n = b64_decode("n", &text("n")?)?;
                let e = b64_decode("e", &text("e")?)?;
                let rsa = Rsa::from_public_components(
                    BigNum::from_slice(&n).map_err(|_| invalid("jwk.n: not a number".into()))?,
                    BigNum::from_slice(&e).map_err(|_| invalid("jwk.e: not a number".into()))?,
                )
                .map_err(|_| invalid("jwk: not a valid RSA public key".into()))?;
                check_rsa_numbers(rsa.n(), rsa.e()).map_err(invalid)?;
                jwk.insert("kty".into(), json!("RSA"));
                jwk.insert("n".into(), json!(b64(&rsa.n().to_vec())));
                jwk.insert("e".into(), json!(b64(&rsa.e().to_vec())));
            }
            "EC" => {
                let crv = text("crv")?;
                let (nid, len) = match crv.as_str() {
                    "P-256" => (Nid::X9_62_PRIME256V1, 32),
                    "P-384" => (Nid::SECP384R1, 48),
                    other => {
                        return Err(invalid(format!(
                            "jwk.crv: {other:?} is not supported (use P-256 or P-384)"
                        )));
                    }
                };
                let x = b64_decode("x", &text("x")?)?;
                let y = b64_decode("y", &text("y")?)?;
                if x.len() != len || y.len() != len {
                    return Err(invalid(format!(
                        "jwk.x, jwk.y: each must be {len} bytes for {crv}"
                    )));
                }
                ec_public_key(nid, &x, &y)
                    .map_err(|_| invalid(format!("jwk: the point is not on {crv}")))?;
                jwk.insert("kty".into(), json!("EC"));
                jwk.insert("crv".into(), json!(crv));
                jwk.insert("x".into(), json!(b64(&x)));
                jwk.insert("y".into(), json!(b64(&y)));
            }
            "oct" => {
                return Err(invalid(
                    "jwk.kty: symmetric (oct) keys cannot be published; upload a public RSA or EC key"
                        .into(),
                ));
            }
            other => {
                return Err(invalid(format!(
                    "jwk.kty: {other:?} is not supported (use RSA or EC)"
                )));
            }
        }
        let thumbprint = thumbprint(&jwk)?;
        let kid = match optional("kid")? {
            Some(kid) => {
                let kid = kid.trim().to_owned();
                if kid.is_empty() || kid.len() > 128 || kid.chars().any(|c| c.is_control()) {
                    return Err(invalid("jwk.kid: 1 to 128 printable characters".into()));
                }
                kid
            }
            None => thumbprint.clone(),
        };
        jwk.insert("kid".into(), json!(kid));
        match optional("use")?.as_deref() {
            None | Some("sig") => jwk.insert("use".into(), json!("sig")),
            Some("enc") => jwk.insert("use".into(), json!("enc")),
            Some(other) => {
                return Err(invalid(format!("jwk.use: {other:?} is not sig or enc")));
            }
        };
        if let Some(alg) = optional("alg")? {
            let allowed: &[&str] = match kty.as_str() {
                "RSA" => &[
                    "PS256",
                    "PS384",
                    "PS512",
                    "RS256",
                    "RS384",
                    "RS512",
                    "RSA-OAEP",
                    "RSA-OAEP-256",
                ],
                _ => &["ES256", "ES384", "ECDH-ES"],
            };
            if !allowed.contains(&alg.as_str()) {
                return Err(invalid(format!(
                    "jwk.alg: {alg:?} does not fit a {kty} key"
                )));
            }
            jwk.insert("alg".into(), json!(alg));
        }
        Ok(Self {
            kid,
            thumbprint,
            jwk,
        })
    }
}

fn ec_public_key(nid: Nid, x: &[u8], y: &[u8]) -> Result<PKey<Public>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(nid)?;
    let mut ctx = BigNumContext::new()?;
    let mut point = EcPoint::new(&group)?;
    let (x, y) = (BigNum::from_slice(x)?, BigNum::from_slice(y)?);
    point.set_affine_coordinates_gfp(&group, &x, &y, &mut ctx)?;
    let key = EcKey::from_public_key(&group, &point)?;
    key.check_key()?;
    PKey::from_ec_key(key)
}

/// Generates a private key for `alg` (PS256: RSA 2048; ES256: P-256).
pub fn generate(alg: &str) -> Result<PKey<Private>, Error> {
    let unexpected = |e: openssl::error::ErrorStack| {
        Error::Unexpected(anyhow::Error::new(e).context("generating a key"))
    };
    match alg {
        "PS256" => PKey::from_rsa(Rsa::generate(2048).map_err(unexpected)?).map_err(unexpected),
        "ES256" => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(unexpected)?;
            PKey::from_ec_key(EcKey::generate(&group).map_err(unexpected)?).map_err(unexpected)
        }
        other => Err(Error::Validation(format!(
            "signing algorithm {other:?} is not supported (PS256 or ES256)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        // RFC 7638 section 3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_have_public_jwks_with_thumbprint_kids() {
        for (alg, kty) in [("PS256", "RSA"), ("ES256", "EC")] {
            let key = generate(alg).unwrap();
            let jwk = public_jwk(&key, alg).unwrap();
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["alg"], alg);
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"].as_str().unwrap(), thumbprint(&jwk).unwrap());
            for private in PRIVATE_MEMBERS {
                assert!(!jwk.contains_key(private), "{alg} {private}");
            }
            let parsed = PublicJwk::parse(&Value::Object(jwk.clone())).unwrap();
            assert_eq!(parsed.thumbprint, jwk["kid"].as_str().unwrap());
        }
    }

    fn rsa_jwk(bits: u32) -> Value {
        let key = PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
        let mut jwk = public_jwk(&key, "PS256").unwrap();
        jwk.remove("kid");
        Value::Object(jwk)
    }

    #[test]
    fn participant_keys_are_checked() {
        let good = rsa_jwk(2048);
        let parsed = PublicJwk::parse(&good).unwrap();
        assert_eq!(parsed.kid, parsed.thumbprint);

        let weak = rsa_jwk(1024);
        assert!(
            PublicJwk::parse(&weak)
                .unwrap_err()
                .to_string()
                .contains("2048")
        );

        let mut private = good.clone();
        private["d"] = json!("AQAB");
        assert!(
            PublicJwk::parse(&private)
                .unwrap_err()
                .to_string()
                .contains("jwk.d")
        );

        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(PublicJwk::parse(&oct).is_err());
        let oct_public = json!({"kty": "oct"});
        assert!(
            PublicJwk::parse(&oct_public)
                .unwrap_err()
                .to_string()
                .contains("symmetric")
        );

        let mut bad_b64 = good.clone();
        bad_b64["n"] = json!("not*base64");
        assert!(
            PublicJwk::parse(&bad_b64)
                .unwrap_err()
                .to_string()
                .contains("base64url")
        );

        let k1 = json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"});
        assert!(
            PublicJwk::parse(&k1)
                .unwrap_err()
                .to_string()
                .contains("secp256k1")
        );

        let ec = generate("ES256").unwrap();
        let mut off_curve = Value::Object(public_jwk(&ec, "ES256").unwrap());
        off_curve["y"] = off_curve["x"].clone();
        assert!(
            PublicJwk::parse(&off_curve)
                .unwrap_err()
                .to_string()
                .contains("not on P-256")
        );

        let mut wrong_alg = good;
        wrong_alg["alg"] = json!("ES256");
        assert!(PublicJwk::parse(&wrong_alg).is_err());
    }
}
