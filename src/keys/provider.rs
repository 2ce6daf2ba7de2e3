//! jsonwebtoken's signing with parsed keys kept in memory.
//!
//! jsonwebtoken's aws-lc backend parses (and checks) the private key on every signature; for
//! RSA that costs more than the signature itself (measured: 1.75 ms per PS256 JWS against
//! 0.68 ms for the bare signature). This provider keeps each parsed key, keyed by a digest of
//! the key bytes, and otherwise defers to jsonwebtoken's aws-lc provider.
//!
//! PS256 is signed with the system OpenSSL, whose RSA private operation is measured about
//! 2.5 times faster than aws-lc's on this kind of machine (it uses the AVX-512 IFMA code
//! path; `scripts/bench/ssa.sh` compares against `openssl speed`). ES256 stays on aws-lc.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Once, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, aws_lc};
use jsonwebtoken::{Algorithm, EncodingKey};
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use sha2::{Digest, Sha256};

enum Parsed {
    Rsa(PssSigner),
    Ec(EcdsaKeyPair),
}

/// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (JWS PS256) through OpenSSL, with
/// signing contexts prepared once and pooled: setting one up costs OpenSSL 3 an algorithm
/// fetch and several locks per call.
struct PssSigner {
    key: PKey<Private>,
    pool: Mutex<Vec<PkeyCtx<Private>>>,
}

impl PssSigner {
    /// Contexts kept for reuse; more concurrent signers create (and drop) their own.
    const POOL: usize = 32;

    fn new(key: PKey<Private>) -> Option<Self> {
        let signer = Self {
            key,
            pool: Mutex::new(Vec::new()),
        };
        // A key OpenSSL cannot set up for PSS is refused now, not on every signature.
        let ctx = signer.context().ok()?;
        signer.give_back(ctx);
        Some(signer)
    }

    fn context(&self) -> Result<PkeyCtx<Private>, openssl::error::ErrorStack> {
        use openssl::md::Md;
        use openssl::rsa::Padding;
        use openssl::sign::RsaPssSaltlen;
        if let Some(ctx) = self.pool.lock().ok().and_then(|mut pool| pool.pop()) {
            return Ok(ctx);
        }
        let mut ctx = PkeyCtx::new(&self.key)?;
        ctx.sign_init()?;
        ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
        ctx.set_signature_md(Md::sha256())?;
        ctx.set_rsa_mgf1_md(Md::sha256())?;
        ctx.set_rsa_pss_saltlen(RsaPssSaltlen::custom(32))?;
        Ok(ctx)
    }

    fn give_back(&self, ctx: PkeyCtx<Private>) {
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < Self::POOL
        {
            pool.push(ctx);
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let digest = openssl::sha::sha256(message);
        let mut ctx = self.context()?;
        let mut signature = Vec::with_capacity(self.key.size());
        let signed = ctx.sign_to_vec(&digest, &mut signature);
        // A context that failed is not reused.
        if signed.is_ok() {
            self.give_back(ctx);
        }
        signed.map(|_| signature)
    }
}

static KEYS: LazyLock<RwLock<HashMap<[u8; 32], Arc<Parsed>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

struct CachedSigner {
    algorithm: Algorithm,
    key: Arc<Parsed>,
}

impl signature::Signer<Vec<u8>> for CachedSigner {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        match self.key.as_ref() {
            Parsed::Rsa(signer) => signer.sign(message).map_err(signature::Error::from_source),
            Parsed::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(signature::Error::from_source),
        }
    }
}

impl JwtSigner for CachedSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn parse(algorithm: Algorithm, der: &[u8]) -> Option<Parsed> {
    match algorithm {
        Algorithm::PS256 => openssl::rsa::Rsa::private_key_from_der(der)
            .and_then(PKey::from_rsa)
            .or_else(|_| PKey::private_key_from_der(der))
            .ok()
            .filter(|key| key.rsa().is_ok())
            .and_then(PssSigner::new)
            .map(Parsed::Rsa),
        Algorithm::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .ok()
            .map(Parsed::Ec),
        _ => None,
    }
}

fn signer_factory(
    algorithm: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if !matches!(algorithm, Algorithm::PS256 | Algorithm::ES256) {
        return (aws_lc::DEFAULT_PROVIDER.signer_factory)(algorithm, key);
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(&Sha256::digest(
        [key.as_bytes(), &[*algorithm as u8]].concat(),
    ));
    let cached = KEYS.read().ok().and_then(|m| m.get(&id).cloned());
    let parsed = match cached {
        Some(parsed) => parsed,
        None => match parse(*algorithm, key.as_bytes()) {
            Some(parsed) => {
                let parsed = Arc::new(parsed);
                if let Ok(mut map) = KEYS.write() {
                    map.insert(id, parsed.clone());
                }
                parsed
            }
            // Let jsonwebtoken report what is wrong with the key.
            None => return (aws_lc::DEFAULT_PROVIDER.signer_factory)(algorithm, key),
        },
    };
    Ok(Box::new(CachedSigner {
        algorithm: *algorithm,
        key: parsed,
    }))
}

/// Installs the provider for the process (once; later calls do nothing).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let provider: &'static CryptoProvider = Box::leak(Box::new(CryptoProvider {
            signer_factory,
            verifier_factory: aws_lc::DEFAULT_PROVIDER.verifier_factory,
            key_utils: aws_lc::DEFAULT_PROVIDER.key_utils.clone(),
        }));
        if provider.install_default().is_err() {
            tracing::warn!("a jsonwebtoken crypto provider was already installed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_signatures_verify_with_jsonwebtoken() {
        install();
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let key = EncodingKey::from_rsa_der(&rsa.private_key_to_der().unwrap());
        let header = jsonwebtoken::Header::new(Algorithm::PS256);
        let claims = serde_json::json!({"sub": "x"});
        let first = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let second = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let pem = rsa.public_key_to_pem().unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::PS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        for token in [first, second] {
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
        }
    }
}
