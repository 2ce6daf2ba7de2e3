//! The registration service against what an outside probe tried: connections that never
//! finish their request, HTTPS everywhere under a private CA, requests it cannot serve, and
//! a statement revoked a moment before it is presented.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::registrar::{call, callout_server_with, service};
use crate::verifier::{approved, issue};

/// Sends `head` (and nothing more) on a fresh connection and reads until the server closes
/// it: how long that took and what it answered.
fn stall(port: u16, head: &str) -> (Duration, String) {
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

/// `POST {base}/register` with `statement`: the status and the JSON body.
async fn register(base: &str, statement: &str) -> (u16, Value) {
    let (status, _, body) = call(
        reqwest::Method::POST,
        &format!("{base}/register"),
        None,
        Some(json!({ "software_statement": statement })),
    )
    .await;
    (status, body)
}

/// Asserts an RFC 7591 refusal (400) with `code` and a description that says `words`.
#[track_caller]
fn refused((status, body): (u16, Value), code: &str, words: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some(code)),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains(words)),
        "{body}"
    );
}

#[tokio::test]
async fn requests_that_never_finish_get_408_and_leave_the_registrar_serving() {
    let app = crate::helpers::spawn_app().await;
    let s = service(&app, |config| {
        config.header_read_timeout = Duration::from_secs(1);
        config.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    let port: u16 = s.base.rsplit(':').next().unwrap().parse().unwrap();

    // Fifty connections announce a body and send none of it, as the probe's did.
    let stalled: Vec<_> = (0..50)
        .map(|_| {
            std::thread::spawn(move || {
                stall(
                    port,
                    "POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{\"a\":",
                )
            })
        })
        .collect();
    // Meanwhile the authorization server is still answered.
    let (status, _, _) = call(
        reqwest::Method::GET,
        &format!("{}/clients/changes", s.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    for stalled in stalled {
        let (took, answer) = tokio::task::spawn_blocking(move || stalled.join().unwrap())
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.contains("the request body did not arrive in time"),
            "{answer}"
        );
        assert!(
            took < Duration::from_secs(6),
            "closed after the 1 s limit, not held: {took:?}"
        );
    }

    // A request head that never ends is cut too.
    let (took, answer) = tokio::task::spawn_blocking(move || {
        stall(port, "POST /register HTTP/1.1\r\nHost: x\r\nContent-Ty")
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(6), "{took:?}");
}

#[tokio::test]
async fn requests_the_registrar_cannot_serve_get_json_errors() {
    let app = crate::helpers::spawn_app().await;
    let s = service(&app, |_| {}).await;
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{}/register", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let response = client
        .post(format!("{}/register/some-client", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, PUT, DELETE");

    let response = client
        .get(format!("{}/nothing/here", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("/nothing/here")
    );

    for query in [
        "after=abc",
        "limit=0",
        "limit=-1",
        "limit=100000",
        "limit=x",
    ] {
        let response = client
            .get(format!("{}/clients/changes?{query}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{query}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{query}: {body}");
        assert!(body["error_description"].as_str().unwrap().len() > 10);
    }
    let (status, _, body) = call(
        reqwest::Method::GET,
        &format!("{}/clients/changes?limit=1000", s.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn over_https_under_a_private_ca_the_registrar_and_ssa_verify_trust_the_configured_ca() {
    let files = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = crate::helpers::tls_files(files.path());
    let app = crate::helpers::spawn_app_with(|config| {
        config.tls_cert_file = Some(cert_file.clone());
        config.tls_key_file = Some(key_file.clone());
    })
    .await;
    assert!(app.address.starts_with("https://"));
    let c = approved(&app).await;
    let statement = issue(&app, &c).await;

    // Without the CA the directory's certificate is refused: a clear start-up error.
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDatabase::create(dir.path());
    let config = ssa_registrar::server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        directories: vec![app.address.clone()],
        database_url: db.url.clone(),
        keys_dir: dir.path().join("keys"),
        ..Default::default()
    };
    let error = match ssa_registrar::server::start(config).await {
        Ok(_) => panic!("a directory under an untrusted CA was accepted"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("cannot read a trusted directory"), "{error}");
    assert!(error.to_lowercase().contains("certificate"), "{error}");

    // With it, the registrar reads the directory and its callout over HTTPS too.
    let answer = std::sync::Arc::new(std::sync::Mutex::new(json!({"decision": "allow"})));
    let callout = callout_server_with(answer, Some((cert_file.clone(), key_file.clone()))).await;
    assert!(callout.starts_with("https://"));
    let s = service(&app, |config| {
        config.ca_file = Some(cert_file.clone());
        config.callout = Some((callout, Duration::from_secs(2)));
    })
    .await;
    let (status, body) = register(&s.base, &statement).await;
    assert_eq!(status, 201, "{body}");

    // A callout that cannot be reached, or whose certificate is not trusted, refuses the
    // registration with the documented RFC 7591 error, never a 500.
    let (other_cert, other_key) = {
        let other = files.path().join("other");
        std::fs::create_dir(&other).unwrap();
        crate::helpers::tls_files(&other)
    };
    let untrusted = callout_server_with(
        std::sync::Arc::new(std::sync::Mutex::new(json!({"decision": "allow"}))),
        Some((other_cert, other_key)),
    )
    .await;
    for url in [untrusted, "https://127.0.0.1:1/rules".to_owned()] {
        let s = service(&app, |config| {
            config.ca_file = Some(cert_file.clone());
            config.callout = Some((url.clone(), Duration::from_secs(2)));
        })
        .await;
        let statement = issue(&app, &c).await;
        refused(
            register(&s.base, &statement).await,
            "invalid_client_metadata",
            "could not be consulted",
        );
    }

    // ssa-verify: refused without the CA, verified with --ca-file.
    let file = files.path().join("statement.jwt");
    std::fs::write(&file, issue(&app, &c).await).unwrap();
    let verify = |ca: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(crate::verifier::ssa_verify_bin());
        command
            .args(["ssa", "--directory", &app.address])
            .arg(&file);
        if let Some(ca) = ca {
            command.arg("--ca-file").arg(ca);
        }
        command.env_remove("SSL_CERT_FILE").output().unwrap()
    };
    let without = verify(None);
    assert_eq!(without.status.code(), Some(1), "{without:?}");
    assert!(
        String::from_utf8_lossy(&without.stderr)
            .to_lowercase()
            .contains("certificate"),
        "{without:?}"
    );
    let with = verify(Some(&cert_file));
    assert!(with.status.success(), "{with:?}");
    let out: Value = serde_json::from_slice(&with.stdout).unwrap();
    assert_eq!(
        out["software_statement"]["software_id"],
        c.software_id.as_str()
    );
    // And the platform's trust store is honoured: SSL_CERT_FILE names the CA.
    let platform = std::process::Command::new(crate::verifier::ssa_verify_bin())
        .args(["ssa", "--directory", &app.address])
        .arg(&file)
        .env("SSL_CERT_FILE", &cert_file)
        .output()
        .unwrap();
    assert!(platform.status.success(), "{platform:?}");
}

#[tokio::test]
async fn a_statement_revoked_a_moment_before_never_registers() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let stateful = service(&app, |_| {}).await;
    let stateless = service(&app, |config| config.stateless = true).await;
    for _ in 0..5 {
        for s in [&stateful, &stateless] {
            let statement = issue(&app, &c).await;
            crate::verifier::revoke(&app, &c, &statement).await;
            // At once: no time for the followed feed to hear of it.
            refused(
                register(&s.base, &statement).await,
                "unapproved_software_statement",
                "revoked",
            );
        }
    }
    // And a statement that is not revoked registers at once.
    let (status, body) = register(&stateful.base, &issue(&app, &c).await).await;
    assert_eq!(status, 201, "{body}");
}
