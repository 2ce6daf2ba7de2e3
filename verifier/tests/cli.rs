//! `ssa-verify` as a shell-scripted authorization server uses it.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_ssa-verify");

fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = openssl::rsa::Rsa::generate(2048).unwrap();
    let jwks = json!({"keys": [{
        "kty": "RSA", "kid": "k1", "alg": "PS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_vec()), "e": URL_SAFE_NO_PAD.encode(key.e().to_vec()),
    }]});
    std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": "https://d.example", "iat": now, "exp": now + 600, "software_id": "sw",
        "org_id": "org", "software_client_name": "App", "software_roles": ["AISP"],
        "software_redirect_uris": ["https://app.example/cb"],
    });
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("k1".into());
    let jwt = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_der(&key.private_key_to_der().unwrap()),
    )
    .unwrap();
    std::fs::write(dir.path().join("ssa.jwt"), &jwt).unwrap();
    (dir, jwt)
}

fn verify(dir: &std::path::Path, file: &str, extra: &[&str]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .current_dir(dir)
        .args([
            "ssa",
            file,
            "--offline",
            "--jwks",
            "jwks.json",
            "--issuer",
            "https://d.example",
        ])
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_valid_statement_prints_its_claims_and_exits_0() {
    let (dir, _) = setup();
    let (code, out, err) = verify(dir.path(), "ssa.jwt", &[]);
    assert_eq!(code, 0, "{err}");
    let value: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["software_statement"]["software_id"], "sw");
}

#[test]
fn refusals_print_the_rfc7591_error_with_distinct_exit_codes() {
    let (dir, jwt) = setup();
    let mut parts: Vec<&str> = jwt.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(r#"{"iss":"https://d.example","software_id":"x"}"#);
    parts[1] = &forged;
    std::fs::write(dir.path().join("bad.jwt"), parts.join(".")).unwrap();
    let (code, out, _) = verify(dir.path(), "bad.jwt", &[]);
    assert_eq!(code, 10);
    let value: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["error"], "invalid_software_statement");

    std::fs::write(
        dir.path().join("registration.json"),
        json!({"redirect_uris": ["https://evil.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}).to_string(),
    )
    .unwrap();
    let (code, out, _) = verify(
        dir.path(),
        "ssa.jwt",
        &["--registration", "registration.json"],
    );
    assert_eq!(code, 12, "{out}");
    assert!(out.contains("invalid_redirect_uri"));
}

#[test]
fn input_and_usage_errors_exit_1_and_2() {
    let (dir, _) = setup();
    let (code, _, err) = verify(dir.path(), "missing.jwt", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.jwt"), "{err}");
    let output = Command::new(BIN).args(["ssa"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}
