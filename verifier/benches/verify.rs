//! Verifications per second of a PS256 software statement with the JWKS already cached:
//! the verifier's hot path. `scripts/bench/verifier.sh` runs this beside
//! `openssl speed rsa2048` on one core and records both. A second benchmark checks only the
//! RSA-PSS signature of the same statement (SHA-256 of the signing input, the RSA operation,
//! the PSS decoding) through aws-lc, the library the verifier uses: the verifier's ceiling.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use ssa_verifier::{KeySet, Settings, Trust, Verifier};

fn bench(c: &mut Criterion) {
    let Ok(key) = openssl::rsa::Rsa::generate(2048) else {
        return;
    };
    let jwks = json!({"keys": [{
        "kty": "RSA", "kid": "k1", "alg": "PS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_vec()), "e": URL_SAFE_NO_PAD.encode(key.e().to_vec()),
    }]});
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = json!({
        "iss": "https://directory.example", "iat": now, "exp": now + 86_400, "jti": "j",
        "software_id": "sw", "org_id": "org", "org_name": "Example Ltd",
        "software_client_id": "client", "software_client_name": "App", "software_version": "1",
        "software_roles": ["AISP", "PISP"],
        "software_redirect_uris": ["https://app.example/cb"],
        "software_jwks_endpoint": "https://directory.example/keystore/org/sw.jwks",
    });
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("k1".into());
    let Ok(der) = key.private_key_to_der() else {
        return;
    };
    let Ok(token) = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(&der)) else {
        return;
    };
    let Ok(keys) = KeySet::from_json(&jwks.to_string()) else {
        return;
    };
    let verifier = Verifier::offline(
        Trust::new("https://directory.example", keys),
        Settings::default(),
    );
    assert!(verifier.verify_ssa(&token).is_ok());
    let Some((input, signature)) = token.rsplit_once('.') else {
        return;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return;
    };
    let Ok(spki) = key.public_key_to_der() else {
        return;
    };
    let Ok(public) = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256,
        &spki,
    ) else {
        return;
    };
    assert!(public.verify_sig(input.as_bytes(), &signature).is_ok());
    c.bench_function("pss_signature_only", |b| {
        b.iter(|| public.verify_sig(std::hint::black_box(input.as_bytes()), &signature))
    });
    c.bench_function("verify_ssa_ps256_cached_jwks", |b| {
        b.iter(|| verifier.verify_ssa(std::hint::black_box(&token)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
