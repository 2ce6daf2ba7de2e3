//! Defects an outside probe found, each through the real server: files with secrets that
//! others could read, key files left half-written, logs that kept secrets, bodies that were
//! never bounded in size or time, headers built from user input, and wrong methods.

use std::os::unix::fs::PermissionsExt;

use reqwest::Method;

use crate::helpers::{spawn_app, spawn_app_with};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_embedded_database_is_readable_by_its_owner_only() {
    // The embedded default (no database URL), whatever backend the other tests use.
    let app = spawn_app_with(|c| c.database_url = None).await;
    let operator = app.user("op@directory.example", true).await;
    // Some writes, so that the WAL and its index exist.
    app.apply(&operator, &["AISP"]).await;
    let data = app.dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "the data folder");
    for file in ["directory.db", "directory.db-wal", "directory.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

#[tokio::test]
async fn a_known_path_asked_with_another_method_is_405_with_allow() {
    let app = spawn_app().await;
    let software = uuid::Uuid::new_v4();
    let org = uuid::Uuid::new_v4();
    for (method, path, allow) in [
        (
            Method::GET,
            format!("/api/v1/software/{software}/ssa"),
            "POST",
        ),
        (
            Method::DELETE,
            "/api/v1/organisations".to_owned(),
            "GET, HEAD, POST",
        ),
        (
            Method::GET,
            format!("/api/v1/organisations/{org}/approve"),
            "POST",
        ),
        (
            Method::PUT,
            format!("/api/v1/software/{software}"),
            "GET, HEAD, PATCH",
        ),
        (
            Method::POST,
            "/.well-known/jwks.json".to_owned(),
            "GET, HEAD",
        ),
        (Method::GET, "/pki/ocsp".to_owned(), "POST"),
        (Method::DELETE, "/pki/crl".to_owned(), "GET, HEAD"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        let mut allowed: Vec<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        allowed.sort();
        assert_eq!(allowed.join(", "), allow, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"],
            "urn:ssa-directory:problem:method-not-allowed"
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(method.as_str()),
            "{problem}"
        );
    }
    // HEAD answers every GET with its headers and no body (caches and monitors use it).
    for path in [
        "/pki/crl",
        "/.well-known/jwks.json",
        "/pki/ca.pem",
        "/healthz",
    ] {
        let get = app.get(path).await;
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        for name in ["content-type", "etag", "cache-control"] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "HEAD {path}: {name}"
            );
        }
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    let response = app
        .client
        .post(app.url(&format!("/api/v1/organisations/{org}/promote")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "an unknown decision is no resource");
}

/// Sends a request head announcing a 1000-byte body, then only `sent` bytes of it, and waits
/// (at most 15 s) for the answer; how long it took and the raw answer.
async fn stall(port: u16, head: String, sent: &'static [u8]) -> (std::time::Duration, String) {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        let started = std::time::Instant::now();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(sent).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes() {
    let app = spawn_app_with(|c| c.body_read_timeout_secs = 1).await;
    let user = app.user("dev@fintech.example", false).await;
    let heads = [
        "POST /pki/ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: 1000\r\n\r\n".to_owned(),
        format!(
            "POST /api/v1/organisations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
            user.token
        ),
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n".to_owned(),
    ];
    for head in heads {
        let (took, answer) = stall(app.port, head.clone(), b"{\"a\":").await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{head}: {answer}");
        assert!(
            answer.contains("urn:ssa-directory:problem:request-timeout"),
            "{answer}"
        );
        assert!(
            took < std::time::Duration::from_secs(5),
            "answered and closed after the 1 s limit, not held: {took:?}"
        );
    }
    // A body sent in time still works.
    let (status, _) = app
        .post_json(
            "/api/v1/organisations",
            &user,
            crate::helpers::application(&["AISP"]),
        )
        .await;
    assert_eq!(status, 201);
}

/// A multipart body of `parts` empty fields.
fn many_parts(parts: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..parts {
        body.extend_from_slice(
            format!("--BOUNDARY\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(b"--BOUNDARY--\r\n");
    body
}

#[tokio::test]
async fn multipart_forms_count_every_byte_against_the_limit_and_have_few_parts() {
    let app = spawn_app().await;
    let c = crate::helpers::cast(&app).await;
    let browser = crate::helpers::portal_session(&app, &c.developer).await;
    let action = app.url(&format!("/software/{}/certificates", c.software_id));
    let post = |body: Vec<u8>| {
        browser
            .post(&action)
            .header("content-type", "multipart/form-data; boundary=BOUNDARY")
            .body(body)
            .send()
    };

    // 5,000 empty parts: about 290 KB of part headers and no field content.
    let body = many_parts(5_000);
    assert!(body.len() > 4 * 64 * 1024);
    let response = post(body).await.unwrap();
    assert_eq!(response.status(), 413);

    // Under the limit, but more parts than the form has fields.
    let response = post(many_parts(20)).await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("more than 8 parts"));

    // An announced 81 MB body is refused before it is read.
    let (took, answer) = tokio::task::spawn_blocking({
        let port = app.port;
        move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(15)))
                .unwrap();
            let started = std::time::Instant::now();
            write!(
                stream,
                "POST /pki/ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: 85000000\r\n\r\n"
            )
            .unwrap();
            let mut answer = vec![0u8; 12];
            stream.read_exact(&mut answer).unwrap();
            (started.elapsed(), String::from_utf8_lossy(&answer).into_owned())
        }
    })
    .await
    .unwrap();
    assert_eq!(answer, "HTTP/1.1 413");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
}
