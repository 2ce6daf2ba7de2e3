//! The certificate authority against real clients: the openssl command line makes the CSRs,
//! verifies the certificates and their profile, parses the CRL and asks the OCSP responder.

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Cast, TestApp, cast, spawn_app};

pub(crate) fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command line");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A CSR made by openssl with a new key: `rsa:2048`, `ec:P-256`, ….
pub fn make_csr(dir: &Path, name: &str, key: &str, subject: &str) -> String {
    make_csr_with(dir, name, key, subject, None)
}

/// A CSR as [`make_csr`] makes, asking for `alt_names` (openssl's syntax: `DNS:a,IP:b`) as
/// its subjectAltName.
pub fn make_csr_with(
    dir: &Path,
    name: &str,
    key: &str,
    subject: &str,
    alt_names: Option<&str>,
) -> String {
    let args: Vec<String> = match key.split_once(':') {
        Some(("ec", curve)) => vec![
            "req".into(),
            "-new".into(),
            "-newkey".into(),
            "ec".into(),
            "-pkeyopt".into(),
            format!("ec_paramgen_curve:{curve}"),
        ],
        _ => vec!["req".into(), "-new".into(), "-newkey".into(), key.into()],
    };
    let mut args = args;
    args.extend([
        "-nodes".into(),
        "-keyout".into(),
        format!("{name}.key"),
        "-out".into(),
        format!("{name}.csr"),
        "-subj".into(),
        subject.into(),
    ]);
    if let Some(names) = alt_names {
        args.extend(["-addext".into(), format!("subjectAltName={names}")]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = openssl(dir, &refs);
    assert!(ok, "{out}");
    std::fs::read_to_string(dir.join(format!("{name}.csr"))).unwrap()
}

async fn approved(app: &TestApp) -> Cast {
    let c = cast(app).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    c
}

pub(crate) async fn request_certificate(
    app: &TestApp,
    c: &Cast,
    kind: &str,
    csr: &str,
) -> (u16, Value) {
    app.post_json(
        &format!("/api/v1/software/{}/certificates", c.software_id),
        &c.developer,
        json!({"type": kind, "csr": csr}),
    )
    .await
}

/// Writes the CA chain the directory publishes: issuing.pem and root.pem.
pub(crate) async fn fetch_chain(app: &TestApp, dir: &Path) {
    let chain = app.get("/pki/ca.pem").await.text().await.unwrap();
    let end = "-----END CERTIFICATE-----\n";
    let split = chain.find(end).unwrap() + end.len();
    std::fs::write(dir.join("issuing.pem"), &chain[..split]).unwrap();
    std::fs::write(dir.join("root.pem"), &chain[split..]).unwrap();
    std::fs::write(dir.join("chain.pem"), &chain).unwrap();
}

pub(crate) fn ocsp_status(dir: &Path, app: &TestApp, cert: &str) -> String {
    let (ok, out) = openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            cert,
            "-url",
            &format!("{}/pki/ocsp", app.address),
            "-CAfile",
            "chain.pem",
            "-resp_text",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("Response verify OK"), "{out}");
    out
}

#[tokio::test]
async fn transport_and_signing_certificates_verify_and_revocation_reaches_crl_ocsp_and_keystore() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fetch_chain(&app, dir).await;

    // Transport: RSA from openssl, subject the directory's own.
    let csr = make_csr(
        dir,
        "transport",
        "rsa:2048",
        "/CN=whatever-the-client-wants",
    );
    let (status, issued) = request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["subject_replaced"], true);
    assert!(
        issued["notes"][0]
            .as_str()
            .unwrap()
            .contains("CN=whatever-the-client-wants")
    );
    assert!(
        issued["chain"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    std::fs::write(
        dir.join("transport.pem"),
        issued["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let (ok, out) = openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "-purpose",
            "sslclient",
            "transport.pem",
        ],
    );
    assert!(ok, "{out}");
    let (_, text) = openssl(
        dir,
        &[
            "x509",
            "-in",
            "transport.pem",
            "-noout",
            "-text",
            "-nameopt",
            "RFC2253",
        ],
    );
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    assert!(
        text.contains("TLS Web Client Authentication, TLS Web Server Authentication"),
        "{text}"
    );
    assert!(text.contains(&format!("CN={}", c.software_id)), "{text}");
    assert!(text.contains(&format!("OU={}", c.org_id)), "{text}");
    assert!(
        text.contains("O=Example Payments Ltd") && text.contains("C=GB"),
        "{text}"
    );
    assert!(
        text.contains("PSDGB-FCA-123456"),
        "organizationIdentifier: {text}"
    );
    assert!(
        text.contains(&format!("URI:{}/pki/crl", app.address)),
        "{text}"
    );
    assert!(
        text.contains(&format!("OCSP - URI:{}/pki/ocsp", app.address)),
        "{text}"
    );
    assert!(
        text.contains("Subject Key Identifier") && text.contains("Authority Key Identifier"),
        "{text}"
    );
    let (_, days) = openssl(
        dir,
        &[
            "x509",
            "-in",
            "transport.pem",
            "-noout",
            "-checkend",
            &(396 * 86400).to_string(),
        ],
    );
    assert!(days.contains("will not expire"), "397 days: {days}");

    // Signing: EC P-256, published in the software keystore with x5c.
    let csr = make_csr(
        dir,
        "signing",
        "ec:P-256",
        &format!("/CN={}", c.software_id),
    );
    let (status, issued) = request_certificate(&app, &c, "signing", &csr).await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["subject_replaced"], false);
    let serial = issued["serial"].as_str().unwrap().to_owned();
    std::fs::write(
        dir.join("signing.pem"),
        issued["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let (ok, out) = openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "signing.pem",
        ],
    );
    assert!(ok, "{out}");
    let (_, text) = openssl(dir, &["x509", "-in", "signing.pem", "-noout", "-text"]);
    assert!(
        text.contains("Digital Signature, Non Repudiation"),
        "{text}"
    );
    assert!(!text.contains("TLS Web"), "{text}");
    let keystore = format!("/keystore/{}/{}.jwks", c.org_id, c.software_id);
    let published: Value = app.get(&keystore).await.json().await.unwrap();
    let key = &published["keys"][0];
    assert_eq!(key["crv"], "P-256");
    assert!(key["x5c"][0].as_str().unwrap().len() > 100);
    assert!(key["x5t#S256"].is_string());

    // Both are good.
    assert!(ocsp_status(dir, &app, "transport.pem").contains("transport.pem: good"));
    assert!(ocsp_status(dir, &app, "signing.pem").contains("signing.pem: good"));

    // Revoke the signing certificate.
    let (status, revoked) = app
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");

    let crl = app.get("/pki/crl").await;
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    std::fs::write(dir.join("crl.der"), crl.bytes().await.unwrap()).unwrap();
    let (ok, text) = openssl(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-noout",
            "-text",
            "-CAfile",
            "chain.pem",
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("verify OK"), "{text}");
    assert!(text.contains(&format!("Serial Number: {serial}")), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");

    let out = ocsp_status(dir, &app, "signing.pem");
    assert!(out.contains("signing.pem: revoked"), "{out}");
    assert!(out.contains("Reason: keyCompromise"), "{out}");
    assert!(ocsp_status(dir, &app, "transport.pem").contains("transport.pem: good"));

    let published: Value = app.get(&keystore).await.json().await.unwrap();
    assert_eq!(
        published["keys"],
        json!([]),
        "the signing key left the live set"
    );
    let revoked_set: Value = app
        .get(&format!(
            "/keystore/{}/revoked/{}.jwks",
            c.org_id, c.software_id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked_set["keys"][0]["x5t#S256"], key["x5t#S256"]);

    let (status, problem) = app
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn suspension_holds_certificates_and_reinstatement_releases_them() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fetch_chain(&app, dir).await;
    let csr = make_csr(dir, "t", "rsa:2048", "/CN=x");
    let (_, issued) = request_certificate(&app, &c, "transport", &csr).await;
    std::fs::write(dir.join("t.pem"), issued["certificate"].as_str().unwrap()).unwrap();
    let first_crl = app.get("/pki/crl").await.bytes().await.unwrap();

    let org = format!("/api/v1/organisations/{}", c.org_id);
    app.decide(&c.operator, &org, "suspend").await;
    let out = ocsp_status(dir, &app, "t.pem");
    assert!(
        out.contains("t.pem: revoked") && out.contains("certificateHold"),
        "{out}"
    );
    std::fs::write(
        dir.join("crl.der"),
        app.get("/pki/crl").await.bytes().await.unwrap(),
    )
    .unwrap();
    let (_, text) = openssl(
        dir,
        &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
    );
    assert!(text.contains("Certificate Hold"), "{text}");
    let number = |text: &str| -> u64 {
        let line = text
            .lines()
            .skip_while(|l| !l.contains("X509v3 CRL Number"))
            .nth(1)
            .unwrap();
        line.trim().parse().unwrap()
    };
    std::fs::write(dir.join("first.der"), &first_crl).unwrap();
    let (_, first_text) = openssl(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "first.der",
            "-noout",
            "-text",
        ],
    );
    assert!(number(&text) > number(&first_text), "CRL numbers increase");

    app.decide(&c.operator, &org, "reinstate").await;
    assert!(ocsp_status(dir, &app, "t.pem").contains("t.pem: good"));

    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "revoke",
    )
    .await;
    let out = ocsp_status(dir, &app, "t.pem");
    // privilegeWithdrawn (9), which openssl prints by number.
    assert!(
        out.contains("t.pem: revoked") && out.contains("(0x9)"),
        "{out}"
    );

    // The audit log names the certificate states, as the document says it may.
    let (_, audit) = app
        .get_json("/api/v1/audit?per_page=100", &c.operator)
        .await;
    crate::helpers::assert_conforms("Page_AuditEvent", &audit);
    let states: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject_type"] == "certificate")
        .filter_map(|e| e["new_status"].as_str())
        .collect();
    assert!(
        states.contains(&"hold") && states.contains(&"good"),
        "{states:?}"
    );
}

#[tokio::test]
async fn bad_csrs_and_requests_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let good = make_csr(dir, "good", "rsa:2048", "/CN=x");
    let weak = make_csr(dir, "weak", "rsa:1024", "/CN=x");
    let k1 = make_csr(dir, "k1", "ec:secp256k1", "/CN=x");
    let truncated = good[..good.len() / 2].to_owned();
    let double = format!("{good}{good}");
    // Another key's signature over this request's contents.
    let mut tampered = good.clone();
    let body_start = tampered.find('\n').unwrap() + 1;
    let flip = body_start + 40;
    let replacement = if &tampered[flip..flip + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(flip..flip + 1, replacement);
    let cases = [
        ("transport", "hello".to_owned(), "not a PEM"),
        ("transport", truncated, "csr:"),
        ("transport", double, "more than one"),
        ("transport", weak, "2048"),
        ("transport", k1, "P-256"),
        ("transport", tampered, "csr:"),
        ("encryption", good.clone(), "type:"),
    ];
    for (kind, csr, expected) in cases {
        let (status, problem) = request_certificate(&app, &c, kind, &csr).await;
        assert_eq!(status, 422, "{expected}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{expected}: {problem}"
        );
    }
    let (status, _) = app
        .post_json(
            &format!("/api/v1/software/{}/certificates", c.software_id),
            &c.outsider,
            json!({"type": "transport", "csr": good}),
        )
        .await;
    assert_eq!(status, 404, "another organisation's software");
    let huge = "A".repeat(70_000);
    let (status, _) = request_certificate(&app, &c, "transport", &huge).await;
    assert_eq!(status, 413);
    let (_, list) = app
        .get_json(
            &format!("/api/v1/software/{}/certificates", c.software_id),
            &c.developer,
        )
        .await;
    assert_eq!(list["items"], json!([]), "nothing stored");

    let (status, _) = app
        .post_json(
            "/api/v1/certificates/00112233445566778899AABBCCDDEEFF/revoke",
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 404);

    let response = app
        .client
        .post(app.url("/pki/ocsp"))
        .header("content-type", "application/ocsp-request")
        .body("not an OCSP request")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.bytes().await.unwrap();
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED malformedRequest(1) }
    assert_eq!(body.as_ref(), &[0x30, 0x03, 0x0a, 0x01, 0x01]);
}

#[tokio::test]
async fn only_active_software_gets_certificates_and_strict_mode_refuses_other_subjects() {
    let app = crate::helpers::spawn_app_with(|c| c.strict_csr_subject = true).await;
    let c = cast(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let csr = make_csr(dir.path(), "a", "rsa:2048", "/CN=mine");
    let (status, problem) = request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("the software is pending")
    );

    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    let (status, problem) = request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("differs"),
        "{problem}"
    );
    let own = make_csr(
        dir.path(),
        "b",
        "rsa:2048",
        &format!("/CN={}", c.software_id),
    );
    let (status, issued) = request_certificate(&app, &c, "transport", &own).await;
    assert_eq!(status, 201, "{issued}");

    let serial = issued["serial"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::GET,
            &format!("/api/v1/certificates/{serial}"),
            Some(&c.outsider.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.outsider,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, problem) = app
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.admin,
            json!({"reason": "because"}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
}

#[tokio::test]
async fn the_ca_is_published_and_survives_restarts() {
    let app = spawn_app().await;
    let chain = app.get("/pki/ca.pem").await.text().await.unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    let meta: Value = app
        .get("/.well-known/ssa-directory")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["crl_uri"], format!("{}/pki/crl", app.address));
    assert_eq!(meta["ocsp_uri"], format!("{}/pki/ocsp", app.address));
    let sibling = crate::helpers::spawn_sibling(&app).await;
    let again = sibling.get("/pki/ca.pem").await.text().await.unwrap();
    assert_eq!(chain, again, "an existing CA is used as it is");

    std::fs::remove_file(app.dir.path().join("keys/ca/root-key.pem")).unwrap();
    let config = crate::helpers::test_config(app.dir.path(), &app.db);
    let err = ssa_directory::Application::build(config)
        .await
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("incomplete"), "{err:#}");
}

#[tokio::test]
async fn nonce_less_ocsp_answers_are_reused_but_never_outlive_a_local_revocation() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fetch_chain(&app, dir).await;
    let csr = make_csr(dir, "n", "rsa:2048", "/CN=x");
    let (_, issued) = request_certificate(&app, &c, "transport", &csr).await;
    std::fs::write(dir.join("n.pem"), issued["certificate"].as_str().unwrap()).unwrap();
    let (ok, out) = openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "n.pem",
            "-reqout",
            "req.der",
            "-no_nonce",
        ],
    );
    assert!(ok, "{out}");
    let request = std::fs::read(dir.join("req.der")).unwrap();
    let ask = || async {
        app.client
            .post(app.url("/pki/ocsp"))
            .header("content-type", "application/ocsp-request")
            .body(request.clone())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    };
    let first = ask().await;
    assert_eq!(first, ask().await, "the same signed answer, reused");
    let serial = issued["serial"].as_str().unwrap();
    app.post_json(
        &format!("/api/v1/certificates/{serial}/revoke"),
        &c.developer,
        json!({"reason": "keyCompromise"}),
    )
    .await;
    let after = ask().await;
    std::fs::write(dir.join("resp.der"), &after).unwrap();
    let (_, text) = openssl(
        dir,
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "issuing.pem",
            "-cert",
            "n.pem",
            "-CAfile",
            "chain.pem",
        ],
    );
    assert!(text.contains("n.pem: revoked"), "{text}");
}

#[tokio::test]
async fn a_suspension_committed_while_a_certificate_is_signed_refuses_it() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let csr = make_csr(dir.path(), "t", "ec:P-256", "/CN=x");

    // A suspension in progress on another connection: it holds the product's row (or, on
    // SQLite, the database's write lock) until it commits.
    let (locked, wait_for_lock) = std::sync::mpsc::channel();
    let (commit, wait_for_commit) = std::sync::mpsc::channel::<()>();
    let url = app.db.url.clone();
    let postgres = app.db.is_postgres();
    let software = c.software_id.clone();
    let suspension = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let suspend = format!("UPDATE software SET status = 'suspended' WHERE id = '{software}'");
        if postgres {
            let mut conn = diesel::PgConnection::establish(&url).unwrap();
            conn.batch_execute(&format!("BEGIN; {suspend};")).unwrap();
            locked.send(()).unwrap();
            wait_for_commit.recv().unwrap();
            conn.batch_execute("COMMIT").unwrap();
        } else {
            let path = url.trim_start_matches("sqlite://");
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            conn.batch_execute(&format!("BEGIN IMMEDIATE; {suspend};"))
                .unwrap();
            locked.send(()).unwrap();
            wait_for_commit.recv().unwrap();
            conn.batch_execute("COMMIT").unwrap();
        }
    });
    wait_for_lock.recv().unwrap();
    let request = request_certificate(&app, &c, "transport", &csr);
    let committer = async {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        commit.send(()).unwrap();
    };
    let ((status, body), ()) = tokio::join!(request, committer);
    suspension.join().unwrap();
    assert_eq!(
        status, 409,
        "no certificate for a product suspended meanwhile: {body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("suspended"),
        "{body}"
    );
    let (_, list) = app
        .get_json(
            &format!("/api/v1/software/{}/certificates", c.software_id),
            &c.operator,
        )
        .await;
    assert_eq!(list["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn every_instance_serves_the_newest_crl_within_the_max_age_it_advertises() {
    let app = spawn_app().await;
    let sibling = crate::helpers::spawn_sibling(&app).await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let csr = make_csr(dir, "m", "rsa:2048", "/CN=x");
    let (status, issued) = request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 201, "{issued}");

    let before = sibling.get("/pki/crl").await;
    assert_eq!(before.status(), 200);
    let etag = before.headers()["etag"].to_str().unwrap().to_owned();
    let cache = before.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    let max_age: u64 = cache
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .unwrap_or_else(|| panic!("{cache}"))
        .parse()
        .unwrap();
    let refresh = app.state.config.key_refresh_secs;
    assert!(
        max_age >= refresh,
        "{cache}: no instance lags more than it says"
    );
    let old = before.bytes().await.unwrap();
    let unchanged = sibling
        .client
        .get(sibling.url("/pki/crl"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    assert!(unchanged.bytes().await.unwrap().is_empty());

    // Serving costs no write: a hundred GETs sign nothing.
    let signed = |app: &crate::helpers::TestApp| {
        let state = app.state.clone();
        async move {
            state
                .db(|conn| Ok(ssa_directory::store::crls::highest_number(conn)?))
                .await
                .unwrap()
        }
    };
    let number = signed(&app).await;
    for _ in 0..100 {
        assert_eq!(sibling.get("/pki/crl").await.status(), 200);
    }
    assert_eq!(signed(&app).await, number);

    let serial = issued["serial"].as_str().unwrap();
    let (status, revoked) = app
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    let newest = app.get("/pki/crl").await.bytes().await.unwrap();
    assert_ne!(
        newest, old,
        "the instance that revoked serves the new CRL at once"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(refresh + 5);
    loop {
        let response = sibling
            .client
            .get(sibling.url("/pki/crl"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            assert_ne!(response.headers()["etag"].to_str().unwrap(), etag);
            assert_eq!(response.bytes().await.unwrap(), newest);
            break;
        }
        assert_eq!(response.status(), 304);
        assert!(
            std::time::Instant::now() < deadline,
            "the sibling still serves the old CRL after {} s",
            refresh + 5
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
