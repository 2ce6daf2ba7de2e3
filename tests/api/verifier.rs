//! The verifier crate against the real directory: what a bank's authorization server sees.

use serde_json::{Value, json};
use ssa_verifier::{ErrorCode, Settings, Verifier, VerifyError};

use crate::helpers::{Cast, TestApp, cast, spawn_app};

pub(crate) async fn approved(app: &TestApp) -> Cast {
    let c = cast(app).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    c
}

/// The developer revokes `statement` at the directory (reason "leaked").
pub(crate) async fn revoke(app: &TestApp, c: &Cast, statement: &str) {
    let jti = parts(statement).1["jti"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/ssa/{jti}/revoke"),
            &c.developer,
            serde_json::json!({"reason": "leaked"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Publishes a new RSA key (PS256) in the cast's product keystore; its private key (DER) and
/// kid.
pub(crate) async fn publish_key(app: &TestApp, c: &Cast) -> (Vec<u8>, String) {
    let key = openssl::rsa::Rsa::generate(2048).unwrap();
    let b64 = |v: Vec<u8>| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    let jwk = serde_json::json!({"kty": "RSA", "n": b64(key.n().to_vec()), "e": b64(key.e().to_vec()), "use": "sig", "alg": "PS256"});
    let (status, published) = app
        .post_json(
            &format!("/api/v1/software/{}/keys", c.software_id),
            &c.developer,
            serde_json::json!({"jwk": jwk}),
        )
        .await;
    assert_eq!(status, 201, "{published}");
    (
        key.private_key_to_der().unwrap(),
        published["kid"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn issue(app: &TestApp, c: &Cast) -> String {
    let response = issue_response(app, c).await;
    assert_eq!(response.status(), 201);
    response.text().await.unwrap()
}

/// The developer's request for a statement of the cast's product, as answered.
pub(crate) async fn issue_response(app: &TestApp, c: &Cast) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/software/{}/ssa", c.software_id)))
        .bearer_auth(&c.developer.token)
        .send()
        .await
        .unwrap()
}

/// Runs blocking verifier work off the test's async runtime.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn discover(app: &TestApp, check_status: bool) -> Verifier {
    Verifier::discover(
        &app.address,
        Settings::default()
            .with_check_status(check_status)
            .with_status_cache(std::time::Duration::ZERO),
    )
    .unwrap()
}

fn code(result: Result<impl std::fmt::Debug, VerifyError>) -> ErrorCode {
    result.expect_err("refused").code
}

/// Signs claims with the directory's active key, as a forger with the key file would.
pub(crate) fn sign_as_directory(app: &TestApp, kid: &str, claims: &Value) -> String {
    let pem = std::fs::read(app.dir.path().join(format!("keys/signing/{kid}.pem"))).unwrap();
    let key = openssl::pkey::PKey::private_key_from_pem(&pem).unwrap();
    sign_ps256(
        &key.rsa().unwrap().private_key_to_der().unwrap(),
        kid,
        claims,
    )
}

/// A PS256 JWS of `claims` with the RSA key `der` (PKCS#1 DER) and `kid`.
pub(crate) fn sign_ps256(der: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(der),
    )
    .unwrap()
}

pub(crate) fn parts(jwt: &str) -> (Value, Value) {
    use base64::Engine;
    let d = |p: &str| {
        serde_json::from_slice::<Value>(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };
    let mut it = jwt.split('.');
    (d(it.next().unwrap()), d(it.next().unwrap()))
}

#[tokio::test]
async fn a_statement_verifies_until_the_software_is_suspended() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let verifier = discover(&app, true);
    let (verifier, statement) = blocking(move || {
        let s = verifier.verify_ssa(&jwt);
        (verifier, s.map(|s| (s, jwt)))
    })
    .await;
    let (statement, jwt) = statement.unwrap();
    assert_eq!(statement.software_id, c.software_id);
    assert_eq!(statement.org_id, c.org_id);
    assert_eq!(
        statement.redirect_uris,
        vec!["https://app.example.com/callback"]
    );

    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "suspend",
    )
    .await;
    let result = blocking(move || verifier.verify_ssa(&jwt)).await;
    assert_eq!(code(result), ErrorCode::UnapprovedSoftwareStatement);
}

#[tokio::test]
async fn rotation_keeps_old_and_new_statements_verifiable() {
    let app = spawn_app_with_fast_refresh().await;
    let c = approved(&app).await;
    let old = issue(&app, &c).await;
    let verifier = std::sync::Arc::new(discover(&app, false));
    assert!(!verifier.keys_fresh(), "the keys are fetched on first use");
    let v = verifier.clone();
    let o = old.clone();
    blocking(move || v.verify_ssa(&o).map(|_| ()))
        .await
        .unwrap();
    assert!(verifier.keys_fresh(), "the keys are cached");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ssa-directory"))
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &app.db.url)
        .env("SSA_DIRECTORY_KEYS_DIR", app.dir.path().join("keys"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let new = issue(&app, &c).await;
    assert_ne!(parts(&new).0["kid"], parts(&old).0["kid"]);
    let v = verifier.clone();
    blocking(move || {
        v.verify_ssa(&old)?;
        v.verify_ssa(&new)
    })
    .await
    .unwrap();
    assert_eq!(
        verifier.jwks_fetches(),
        1,
        "the next key was published before it signed"
    );
}

async fn spawn_app_with_fast_refresh() -> TestApp {
    crate::helpers::spawn_app_with(|c| c.key_refresh_secs = 1).await
}

#[tokio::test]
async fn forged_and_broken_statements_get_the_right_errors() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let (header, claims) = parts(&jwt);
    let kid = header["kid"].as_str().unwrap().to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    let mut expired = claims.clone();
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let mut future = claims.clone();
    future["iat"] = json!(now + 3600);
    let mut evil = claims.clone();
    evil["iss"] = json!("https://evil.example");
    let forged = [
        (sign_as_directory(&app, &kid, &expired), "expired"),
        (sign_as_directory(&app, &kid, &future), "future"),
        (sign_as_directory(&app, &kid, &evil), "evil.example"),
    ];

    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let mut parts_: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut tampered_claims = claims.clone();
    tampered_claims["software_roles"] = json!(["AISP", "PISP"]);
    parts_[1] = b64(&tampered_claims);
    let tampered = parts_.join(".");
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": kid})),
        b64(&claims)
    );
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let public_pem = {
        let k = &jwks["keys"][0];
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k["n"].as_str().unwrap())
            .unwrap();
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k["e"].as_str().unwrap())
            .unwrap();
        let rsa = openssl::rsa::Rsa::from_public_components(
            openssl::bn::BigNum::from_slice(&n).unwrap(),
            openssl::bn::BigNum::from_slice(&e).unwrap(),
        )
        .unwrap();
        rsa.public_key_to_pem().unwrap()
    };
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    let stranger =
        openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let unknown = sign_ps256(
        &stranger.rsa().unwrap().private_key_to_der().unwrap(),
        "not-a-directory-key",
        &claims,
    );

    let verifier = discover(&app, false);
    let outcomes = blocking(move || {
        let mut out = vec![];
        for (token, expected) in forged.into_iter().chain([
            (tampered, "signature"),
            (none, "none"),
            (hs256, "never accepted"),
            (unknown, "does not publish"),
        ]) {
            out.push((verifier.verify_ssa(&token).err(), expected));
        }
        let registration = json!({
            "software_statement": jwt,
            "redirect_uris": ["https://attacker.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
        });
        let redirect = verifier
            .verify_registration(&registration.to_string(), None)
            .err();
        (out, redirect)
    })
    .await;
    for (error, expected) in outcomes.0 {
        let error = error.unwrap_or_else(|| panic!("{expected}: accepted"));
        assert_eq!(
            error.code,
            ErrorCode::InvalidSoftwareStatement,
            "{expected}: {error}"
        );
        assert!(error.description.contains(expected), "{expected}: {error}");
    }
    assert_eq!(outcomes.1.unwrap().code, ErrorCode::InvalidRedirectUri);
}

#[tokio::test]
async fn a_directory_certificate_binds_and_a_revoked_one_fails() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "t", "rsa:2048", "/CN=x");
    let (status, issued) = app
        .post_json(
            &format!("/api/v1/software/{}/certificates", c.software_id),
            &c.developer,
            json!({"type": "transport", "csr": csr}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let pem = issued["certificate"].as_str().unwrap().to_owned();
    let serial = issued["serial"].as_str().unwrap().to_owned();
    let subject_dn = issued["subject"].as_str().unwrap().to_owned();

    let verifier = std::sync::Arc::new(discover(&app, false));
    let (v, p, j, dn) = (
        verifier.clone(),
        pem.clone(),
        jwt.clone(),
        subject_dn.clone(),
    );
    let info = blocking(move || {
        let ssa = v.verify_ssa(&j)?;
        let registration = json!({
            "software_statement": j,
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": dn,
        });
        let metadata = v
            .verify_registration(&registration.to_string(), None)?
            .metadata;
        v.verify_client_certificate(&p, &ssa, Some(&metadata))
    })
    .await
    .unwrap();
    assert!(info.revocation_checked);

    let (v, p, j) = (verifier.clone(), pem.clone(), jwt.clone());
    let wrong_dn = blocking(move || {
        let ssa = v.verify_ssa(&j)?;
        let registration = json!({
            "software_statement": j,
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=someone else",
        });
        let metadata = v
            .verify_registration(&registration.to_string(), None)?
            .metadata;
        v.verify_client_certificate(&p, &ssa, Some(&metadata))
    })
    .await;
    assert_eq!(code(wrong_dn), ErrorCode::InvalidClientMetadata);

    let (status, _) = app
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200);
    // A fresh verifier: the first one may cache the CRL until its nextUpdate (at most 300 s).
    let fresh = discover(&app, false);
    let revoked = blocking(move || {
        let ssa = fresh.verify_ssa(&jwt)?;
        fresh.verify_client_certificate(&pem, &ssa, None)
    })
    .await;
    let error = revoked.expect_err("a revoked certificate fails");
    assert_eq!(error.code, ErrorCode::InvalidClientMetadata);
    assert!(error.description.contains("revoked"), "{error}");
}

#[tokio::test]
async fn subjects_with_special_characters_are_rfc_4514_and_bind() {
    let app = spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    let admin = app.user("admin@acme.example", false).await;
    let mut application = crate::helpers::application(&["AISP"]);
    application["legal_name"] = json!("Acme, Ltd + Co \"UK\"");
    let (status, org) = app
        .post_json("/api/v1/organisations", &admin, application)
        .await;
    assert_eq!(status, 201, "{org}");
    let org_id = org["id"].as_str().unwrap().to_owned();
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{org_id}"),
        "approve",
    )
    .await;
    let software_id = app.register(&admin, &org_id, "sandbox").await;
    app.decide(
        &operator,
        &format!("/api/v1/software/{software_id}"),
        "approve",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "t", "ec:P-256", "/CN=x");
    let (status, issued) = app
        .post_json(
            &format!("/api/v1/software/{software_id}/certificates"),
            &admin,
            json!({"type": "transport", "csr": csr}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let subject = issued["subject"].as_str().unwrap().to_owned();
    assert!(
        subject.contains("O=Acme\\, Ltd \\+ Co \\\"UK\\\""),
        "escaped as RFC 4514 says: {subject}"
    );

    // openssl writes the same name.
    let pem = issued["certificate"].as_str().unwrap().to_owned();
    std::fs::write(dir.path().join("t.pem"), &pem).unwrap();
    let output = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "x509", "-in", "t.pem", "-noout", "-subject", "-nameopt", "RFC2253",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout)
        .trim()
        .trim_start_matches("subject=")
        .to_owned();
    assert_eq!(printed, subject);

    // The verifier binds the certificate with either spelling, and refuses a wrong name.
    let c = Cast {
        operator,
        admin: admin.clone(),
        developer: admin.clone(),
        outsider: admin,
        org_id,
        other_org_id: String::new(),
        software_id,
    };
    let jwt = issue(&app, &c).await;
    let verifier = std::sync::Arc::new(discover(&app, false));
    for (dn, binds) in [
        (subject.clone(), true),
        (printed.clone(), true),
        (subject.replace("Acme\\, Ltd", "Acme\\, Limited"), false),
        (subject.replace('\\', ""), false),
    ] {
        let (v, p, j) = (verifier.clone(), pem.clone(), jwt.clone());
        let outcome = blocking(move || {
            let ssa = v.verify_ssa(&j)?;
            let registration = json!({
                "software_statement": j,
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": dn,
            });
            let metadata = v
                .verify_registration(&registration.to_string(), None)?
                .metadata;
            v.verify_client_certificate(&p, &ssa, Some(&metadata))
        })
        .await;
        assert_eq!(outcome.is_ok(), binds, "{outcome:?}");
    }
}

/// The sans-IO core with the directory's own documents, fetched once by the test as a bank
/// would keep them: statements, registrations and certificates checked at chosen times,
/// with the CRL's age deciding what the revocation answer may claim.
#[tokio::test]
async fn the_sans_io_core_checks_at_a_given_time_and_tells_the_truth_about_revocation() {
    use ssa_verifier::{CaChain, Crl, KeySet, RegistrationRequest, Revocation, Trust};
    use std::time::{Duration, SystemTime};

    let app = spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let dir = tempfile::tempdir().unwrap();
    let mut certificates = vec![];
    for kind in ["transport", "signing"] {
        let csr = crate::pki::make_csr(dir.path(), kind, "rsa:2048", "/CN=x");
        let (status, issued) = app
            .post_json(
                &format!("/api/v1/software/{}/certificates", c.software_id),
                &c.developer,
                json!({"type": kind, "csr": csr}),
            )
            .await;
        assert_eq!(status, 201, "{issued}");
        certificates.push(issued["certificate"].as_str().unwrap().to_owned());
    }
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let chain = app.get("/pki/ca.pem").await.text().await.unwrap();
    let crl = app.get("/pki/crl").await.bytes().await.unwrap();

    let trust = Trust::new(app.address.clone(), KeySet::from_json(&jwks).unwrap())
        .with_ca_chain(CaChain::from_pem(&chain).unwrap());
    let crl = Crl::from_der(&crl).unwrap();
    let settings = Settings::default();
    let now = SystemTime::now();

    let statement = trust.verify_statement(&jwt, &settings, now).unwrap();
    assert_eq!(statement.software_id, c.software_id);
    let typed = statement.typed_claims().expect("the contract reads back");
    assert_eq!(typed.software_id, c.software_id);
    assert_eq!(typed.jti, statement.jti.clone().unwrap());
    match &typed.profile {
        ssa_verifier::ProfileClaims::Obuk(names) => {
            assert_eq!(names.software_redirect_uris, statement.redirect_uris);
            assert_eq!(names.software_jwks_endpoint, statement.jwks_uri);
        }
        other => panic!("the default profile is the UK one: {other:?}"),
    }

    // Times are the caller's: after its exp the statement has expired; before it was issued
    // it did not exist yet.
    let later = SystemTime::UNIX_EPOCH + Duration::from_secs(statement.expires_at as u64 + 3600);
    let error = trust.verify_statement(&jwt, &settings, later).unwrap_err();
    assert!(error.description.contains("expired"), "{error}");
    let error = trust
        .verify_statement(&jwt, &settings, now - Duration::from_secs(3600))
        .unwrap_err();
    assert!(error.description.contains("future"), "{error}");

    // A registration, step by step, with no network.
    let body = json!({
        "software_statement": jwt,
        "token_endpoint_auth_method": "private_key_jwt",
        "redirect_uris": [statement.redirect_uris[0]],
    })
    .to_string();
    let request = RegistrationRequest::parse(&body).unwrap();
    assert!(!request.is_signed());
    let carried = trust
        .verify_statement(request.software_statement().unwrap(), &settings, now)
        .unwrap();
    let registration = request.verify(&carried, None, &settings, now).unwrap();
    assert_eq!(registration.metadata["software_id"], c.software_id.as_str());
    // A statement other than the one the request carries is refused.
    let other = issue(&app, &c).await;
    let other = trust.verify_statement(&other, &settings, now).unwrap();
    let error = RegistrationRequest::parse(&body)
        .unwrap()
        .verify(&other, None, &settings, now)
        .unwrap_err();
    assert!(error.description.contains("not the one"), "{error}");

    let transport = &certificates[0];
    let check = |crl: Option<&Crl>, settings: &Settings, at: SystemTime| {
        trust.verify_client_certificate(transport, &statement, None, crl, settings, at)
    };
    let info = check(Some(&crl), &settings, now).unwrap();
    assert_eq!(info.revocation, Revocation::Checked);
    assert!(info.revocation_checked);
    let info = check(None, &settings, now).unwrap();
    assert_eq!(info.revocation, Revocation::NotChecked);
    assert!(!info.revocation_checked);

    // A CRL that names the issuing CA but is signed by another key is refused, and so is one
    // of another CA: neither says anything about the directory's certificates.
    let issuing_pem = chain
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap();
    for issuer in [
        rcgen::Issuer::from_ca_cert_pem(issuing_pem, rcgen::KeyPair::generate().unwrap()).unwrap(),
        rcgen::Issuer::new(
            rcgen::CertificateParams::new(vec![]).unwrap(),
            rcgen::KeyPair::generate().unwrap(),
        ),
    ] {
        let forged = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2026, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .unwrap();
        let forged = Crl::from_der(forged.der()).unwrap();
        let error = check(Some(&forged), &settings, now).unwrap_err();
        assert!(
            error
                .description
                .contains("not signed by the directory's issuing CA"),
            "{error}"
        );
    }

    // Past nextUpdate, within the bound: still checked. Beyond it: refused, unless the
    // caller accepts a stale answer, which then says so.
    let next_update = crl
        .next_update()
        .expect("the directory's CRL has a nextUpdate");
    let in_grace = next_update + Duration::from_secs(600);
    assert_eq!(
        check(Some(&crl), &settings, in_grace).unwrap().revocation,
        Revocation::Checked
    );
    let stale = next_update + Duration::from_secs(2 * 3600);
    let error = check(Some(&crl), &settings, stale).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidClientMetadata);
    assert!(
        error.description.contains("revocation cannot be checked"),
        "{error}"
    );
    let lenient = Settings::default().with_accept_stale_crl(true);
    let info = check(Some(&crl), &lenient, stale).unwrap();
    assert_eq!(info.revocation, Revocation::Stale);
    assert!(!info.revocation_checked);

    // A certificate is judged at the given time too: years on, it has expired.
    let error = check(
        None,
        &settings,
        now + Duration::from_secs(5 * 366 * 24 * 3600),
    )
    .unwrap_err();
    assert!(error.description.contains("expired"), "{error}");

    // A signing certificate of the same product is not a transport certificate.
    let error = trust
        .verify_client_certificate(
            &certificates[1],
            &statement,
            None,
            Some(&crl),
            &settings,
            now,
        )
        .unwrap_err();
    assert!(error.description.contains("clientAuth"), "{error}");
}

/// With an hour-long status cache, a verifier that follows the feed still refuses a
/// statement within a second of its product's suspension: the event makes the cached status
/// stale. Forged SETs and statements presented as SETs are refused.
#[tokio::test]
async fn a_verifier_following_the_feed_refuses_within_a_second_of_a_suspension() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let verifier = std::sync::Arc::new(
        Verifier::discover(
            &app.address,
            Settings::default()
                .with_check_status(true)
                .with_status_cache(std::time::Duration::from_secs(3600))
                .with_http_timeout(std::time::Duration::from_secs(10)),
        )
        .unwrap(),
    );
    // Verified once: the active status is cached for an hour.
    let (v, token) = (verifier.clone(), jwt.clone());
    blocking(move || v.verify_ssa(&token)).await.unwrap();
    let v = verifier.clone();
    let start = blocking(move || {
        let mut cursor = None;
        loop {
            let page = v
                .poll_events(cursor.as_deref(), std::time::Duration::ZERO)
                .unwrap();
            if page.events.is_empty() {
                return page.next_cursor;
            }
            cursor = Some(page.next_cursor);
        }
    })
    .await;

    // Follow the feed (long-polling) while the operator suspends the product.
    let v = verifier.clone();
    let follower = blocking(move || {
        let page = v
            .poll_events(Some(&start), std::time::Duration::from_secs(8))
            .unwrap();
        (page, std::time::Instant::now())
    });
    let follower = tokio::spawn(follower);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "suspend",
    )
    .await;
    let suspended = std::time::Instant::now();
    let (page, heard) = follower.await.unwrap();
    let (_, event) = &page.events[0];
    assert_eq!(event.kind(), "software-status");
    assert_eq!(event.software_id(), Some(c.software_id.as_str()));
    assert_eq!(event.payload["state"], "suspended");
    let (v, token) = (verifier.clone(), jwt.clone());
    let result = blocking(move || v.verify_ssa(&token)).await;
    let refused = std::time::Instant::now();
    assert_eq!(code(result), ErrorCode::UnapprovedSoftwareStatement);
    assert!(
        refused.duration_since(suspended) < std::time::Duration::from_secs(1),
        "refused {:?} after the suspension (heard after {:?})",
        refused.duration_since(suspended),
        heard.duration_since(suspended)
    );

    // A revoked statement of an active product is refused once its event arrives.
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "reinstate",
    )
    .await;
    let other = issue(&app, &c).await;
    let (v, token) = (verifier.clone(), other.clone());
    let after = page.next_cursor.clone();
    let v2 = verifier.clone();
    blocking(move || {
        // The reinstatement's event clears the cached suspension; then the statement verifies.
        v2.poll_events(Some(&after), std::time::Duration::ZERO)
            .unwrap();
        v.verify_ssa(&token)
    })
    .await
    .unwrap();
    let (_, claims) = parts(&other);
    let jti = claims["jti"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/ssa/{jti}/revoke"),
            &c.developer,
            json!({"reason": "leaked in a log"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (v, token) = (verifier.clone(), other.clone());
    let result = blocking(move || {
        let mut cursor = None;
        loop {
            let page = v
                .poll_events(cursor.as_deref(), std::time::Duration::ZERO)
                .unwrap();
            if page.events.is_empty() {
                break;
            }
            cursor = Some(page.next_cursor);
        }
        v.verify_ssa(&token)
    })
    .await;
    let error = result.expect_err("a revoked statement");
    assert_eq!(error.code, ErrorCode::UnapprovedSoftwareStatement);
    assert!(error.to_string().contains("leaked in a log"), "{error}");

    // A statement is not a SET, and a SET from another signer is refused.
    let v = verifier.clone();
    let (not_a_set, forged) = blocking(move || {
        let forged = {
            let group =
                openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
            let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap())
                .unwrap();
            let pem = key.private_key_to_pem_pkcs8().unwrap();
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.typ = Some("secevent+jwt".into());
            header.kid = Some("attacker".into());
            jsonwebtoken::encode(
                &header,
                &json!({"iss": v.issuer(), "jti": "x", "events": {"urn:ssa-directory:event:software-status": {}}}),
                &jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
            )
            .unwrap()
        };
        (v.verify_event(&jwt).map(|_| ()), v.verify_event(&forged).map(|_| ()))
    })
    .await;
    assert!(not_a_set.unwrap_err().to_string().contains("secevent+jwt"));
    assert!(forged.is_err());
}

/// The `ssa-verify` command of this workspace's build (built first when it is missing, as
/// when this test binary runs alone).
pub(crate) fn ssa_verify_bin() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let bin = exe.parent().unwrap().parent().unwrap().join("ssa-verify");
            if !bin.exists() {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let status = std::process::Command::new(cargo)
                    .args(["build", "-q", "-p", "ssa-verifier", "--features", "cli"])
                    .args(["--bin", "ssa-verify"])
                    .status()
                    .unwrap();
                assert!(status.success() && bin.exists(), "ssa-verify did not build");
            }
            bin
        })
        .clone()
}
