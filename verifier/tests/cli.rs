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

/// Serves a directory's discovery document, JWKS and one page of events (the SETs that
/// `sets` makes for the server's issuer, its own address) on a local port, each answer
/// `Connection: close`, until the test ends; returns the base URL.
fn serve_feed(jwks: Value, sets: impl FnOnce(&str) -> Vec<String>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let sets = sets(&issuer);
    let base = issuer.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
            let body = if path.starts_with("/.well-known/ssa-directory") {
                json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks"),
                    "events_endpoint": format!("{issuer}/events")})
            } else if path == "/jwks" {
                jwks.clone()
            } else if path.contains("after=") {
                json!({"events": [], "next_cursor": sets.len().to_string()})
            } else {
                let events: Vec<Value> = sets
                    .iter()
                    .enumerate()
                    .map(|(i, set)| json!({"cursor": (i + 1).to_string(), "set": set}))
                    .collect();
                json!({"events": events, "next_cursor": sets.len().to_string()})
            }
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

#[test]
fn events_prints_verified_events_as_json_lines_and_refuses_a_forged_feed() {
    let key = openssl::rsa::Rsa::generate(2048).unwrap();
    let jwks = json!({"keys": [{
        "kty": "RSA", "kid": "k1", "alg": "PS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_vec()), "e": URL_SAFE_NO_PAD.encode(key.e().to_vec()),
    }]});
    let der = key.private_key_to_der().unwrap();
    let set = move |issuer: &str, jti: &str, kind: &str, typ: &str| {
        let mut header = Header::new(Algorithm::PS256);
        header.kid = Some("k1".into());
        header.typ = Some(typ.into());
        let claims = json!({"iss": issuer, "iat": 1, "jti": jti, "txn": "t", "toe": 1,
            "events": {format!("urn:ssa-directory:event:{kind}"):
                {"subject": {"type": "software", "id": "sw"}, "state": "suspended"}}});
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(&der)).unwrap()
    };
    let run = |base: &str| {
        let output = Command::new(BIN)
            .args(["events", "--directory", base])
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let sign = set.clone();
    let base = serve_feed(jwks.clone(), move |iss| {
        vec![
            sign(iss, "j1", "software-status", "secevent+jwt"),
            sign(iss, "j2", "certificate-revoked", "secevent+jwt"),
        ]
    });
    let (code, out, err) = run(&base);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["cursor"], "1");
    assert_eq!(lines[0]["jti"], "j1");
    assert_eq!(
        lines[0]["event_type"],
        "urn:ssa-directory:event:software-status"
    );
    assert_eq!(lines[0]["payload"]["state"], "suspended");
    assert_eq!(
        lines[1]["event_type"],
        "urn:ssa-directory:event:certificate-revoked"
    );

    // A token that is not a SET, and a SET from another issuer, stop the feed with exit 1.
    for (typ, other_issuer) in [("JWT", false), ("secevent+jwt", true)] {
        let sign = set.clone();
        let base = serve_feed(jwks.clone(), move |iss| {
            let iss = if other_issuer {
                "https://elsewhere.example"
            } else {
                iss
            };
            vec![sign(iss, "j1", "software-status", typ)]
        });
        let (code, out, err) = run(&base);
        assert_eq!(code, 1, "{typ}: {out}");
        assert!(out.is_empty());
        assert!(err.contains("event 1"), "{err}");
    }
}

/// An RSA key with its public JWK (kid `kid`) and what signs entity statements with it.
struct FederationKey {
    kid: String,
    der: Vec<u8>,
    jwk: Value,
}

impl FederationKey {
    fn new(kid: &str) -> Self {
        let key = openssl::rsa::Rsa::generate(2048).unwrap();
        Self {
            kid: kid.into(),
            der: key.private_key_to_der().unwrap(),
            jwk: json!({
                "kty": "RSA", "kid": kid, "alg": "PS256",
                "n": URL_SAFE_NO_PAD.encode(key.n().to_vec()),
                "e": URL_SAFE_NO_PAD.encode(key.e().to_vec()),
            }),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::PS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("entity-statement+jwt".into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&self.der)).unwrap()
    }
}

/// Serves `documents` (path and query -> body) on 127.0.0.1 until the test ends; its base URL.
fn serve(documents: impl Fn(&str) -> Option<String> + Send + 'static) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
            let response = match documents(&target) {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/entity-statement+jwt\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .into(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    base
}

#[test]
fn chain_validates_a_federation_trust_chain_and_prints_the_resolved_metadata() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (anchor_key, leaf_key) = (FederationKey::new("ta-1"), FederationKey::new("leaf-1"));
    let mid_key = FederationKey::new("mid-1");
    // The entities live on one test server: the anchor at its root, a leaf below it, and a
    // deeper leaf below an intermediate below it.
    let listener_base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let shared = listener_base.clone();
    let (anchor_jwk, leaf_jwk) = (anchor_key.jwk.clone(), leaf_key.jwk.clone());
    let mid_jwk = mid_key.jwk.clone();
    let base = serve(move |target| {
        let base = shared.get()?;
        let (anchor, leaf) = (base.clone(), format!("{base}/leaf"));
        let (mid, deep) = (format!("{base}/mid"), format!("{base}/deep"));
        match target {
            "/mid/.well-known/openid-federation" => Some(mid_key.sign(&json!({
                "iss": mid, "sub": mid, "iat": now, "exp": now + 600,
                "jwks": {"keys": [mid_jwk]},
                "authority_hints": [anchor],
                "metadata": {"federation_entity": {"federation_fetch_endpoint": format!("{mid}/fetch")}},
            }))),
            // Its first hint leads nowhere (404): the path through the second is taken.
            "/deep/.well-known/openid-federation" => Some(leaf_key.sign(&json!({
                "iss": deep, "sub": deep, "iat": now, "exp": now + 600,
                "jwks": {"keys": [leaf_jwk]},
                "authority_hints": [format!("{base}/nowhere"), mid],
                "metadata": {"oauth_client": {
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks_uri": "https://elsewhere.example/jwks",
                }},
            }))),
            t if t.starts_with("/mid/fetch?sub=") => Some(mid_key.sign(&json!({
                "iss": mid, "sub": deep, "iat": now, "exp": now + 600,
                "jwks": {"keys": [leaf_jwk]},
                "metadata_policy": {"oauth_client": {
                    "token_endpoint_auth_method": {"one_of": ["private_key_jwt", "tls_client_auth"]},
                }},
            }))),
            t if t.starts_with("/fetch?sub=") && t.ends_with("%2Fmid") => Some(anchor_key.sign(&json!({
                "iss": anchor, "sub": mid, "iat": now, "exp": now + 600,
                "jwks": {"keys": [mid_jwk]},
                "metadata_policy": {"oauth_client": {
                    "jwks_uri": {"value": format!("{anchor}/keystore/deep.jwks")},
                }},
            }))),
            "/.well-known/openid-federation" => Some(anchor_key.sign(&json!({
                "iss": anchor, "sub": anchor, "iat": now, "exp": now + 600,
                "jwks": {"keys": [anchor_jwk]},
                "metadata": {"federation_entity": {"federation_fetch_endpoint": format!("{anchor}/fetch")}},
            }))),
            "/leaf/.well-known/openid-federation" => Some(leaf_key.sign(&json!({
                "iss": leaf, "sub": leaf, "iat": now, "exp": now + 600,
                "jwks": {"keys": [leaf_jwk]},
                "authority_hints": [anchor],
                "metadata": {"oauth_client": {
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks_uri": "https://elsewhere.example/jwks",
                }},
            }))),
            t if t.starts_with("/fetch?sub=") => Some(anchor_key.sign(&json!({
                "iss": anchor, "sub": leaf, "iat": now, "exp": now + 600,
                "jwks": {"keys": [leaf_jwk]},
                "metadata_policy": {"oauth_client": {
                    "jwks_uri": {"value": format!("{anchor}/keystore/leaf.jwks")},
                    "token_endpoint_auth_method": {"one_of": ["private_key_jwt"]},
                }},
            }))),
            _ => None,
        }
    });
    listener_base.set(base.clone()).unwrap();
    let run = |extra: &[&str]| {
        let output = Command::new(BIN)
            .args([
                "chain",
                "--entity",
                &format!("{base}/leaf"),
                "--trust-anchor",
                &base,
            ])
            .args(extra)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, out) = run(&[]);
    assert_eq!(code, 0, "{out}");
    let resolved: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(resolved["entity_id"], format!("{base}/leaf"));
    assert_eq!(
        resolved["metadata"]["oauth_client"]["jwks_uri"],
        format!("{base}/keystore/leaf.jwks")
    );

    // Two levels deep: through the intermediate, the anchor's policy and the intermediate's
    // merged.
    let output = Command::new(BIN)
        .args([
            "chain",
            "--entity",
            &format!("{base}/deep"),
            "--trust-anchor",
            &base,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{out}");
    let resolved: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(resolved["entity_id"], format!("{base}/deep"));
    assert_eq!(
        resolved["metadata"]["oauth_client"]["jwks_uri"],
        format!("{base}/keystore/deep.jwks")
    );
    assert_eq!(
        resolved["metadata"]["oauth_client"]["token_endpoint_auth_method"],
        "private_key_jwt"
    );

    // Pinned to another anchor key, the same chain is refused with exit code 14.
    let dir = tempfile::tempdir().unwrap();
    let other = FederationKey::new("ta-1");
    std::fs::write(
        dir.path().join("anchor.json"),
        json!({"keys": [other.jwk]}).to_string(),
    )
    .unwrap();
    let pinned = dir.path().join("anchor.json");
    let (code, out) = run(&["--anchor-jwks", pinned.to_str().unwrap()]);
    assert_eq!(code, 14, "{out}");
    let refused: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(refused["error"], "invalid_trust_chain");
    // An anchor that is not among the entity's authority hints.
    let output = Command::new(BIN)
        .args([
            "chain",
            "--entity",
            &format!("{base}/leaf"),
            "--trust-anchor",
            "https://other.example",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(14));
}
