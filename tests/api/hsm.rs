//! The pkcs11 key provider through the real server, against SoftHSM2: the SSA and federation
//! keys are born in the token and sign there, what they sign verifies as a bank verifies it,
//! nothing private reaches the keys folder, another instance (or a restart) on the same token
//! signs with the same keys, a token that lacks a key the directory knows stops the start, and
//! the CA's keys, born in the token too, sign certificates, CRLs and OCSP answers.

use ssa_directory::config::KeyProvider;
use ssa_directory::keys::pkcs11::{Token, softhsm};
use ssa_verifier::{Settings, Verifier};

use crate::helpers::{TestApp, spawn_app_with, spawn_sibling};
use crate::verifier::{approved, blocking, issue};

async fn in_token(label: &str) -> (TestApp, String) {
    let uri = softhsm::token(label).unwrap();
    let configured = uri.clone();
    let app = spawn_app_with(move |c| {
        c.key_provider = KeyProvider::Pkcs11;
        c.pkcs11_uri = Some(configured);
    })
    .await;
    (app, uri)
}

fn key_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    ["signing", "federation"]
        .iter()
        .filter_map(|folder| std::fs::read_dir(app.state.config.keys_dir.join(folder)).ok())
        .flatten()
        .map(|entry| entry.unwrap().path())
        .collect()
}

#[tokio::test]
async fn statements_and_federation_statements_are_signed_in_the_token_and_verify() {
    let _finalize = softhsm::Finalize;
    let (app, uri) = in_token("directory").await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let address = app.address.clone();
    let verified = blocking(move || {
        Verifier::discover(&address, Settings::default())
            .unwrap()
            .verify_ssa(&jwt)
    })
    .await
    .expect("the verifier accepts a statement signed in the token");
    assert_eq!(verified.software_id, c.software_id);
    // The federation key signs the entity configuration, verified with its own JWKS.
    let (_, claims) = crate::federation::entity_configuration(&app).await;
    assert_eq!(claims["sub"], app.address.as_str());
    assert!(
        key_files(&app).is_empty(),
        "no private key in the keys folder: {:?}",
        key_files(&app)
    );

    // Every published key is in the token, born there, and refuses to reveal itself.
    let token = Token::open(&uri.parse().unwrap()).unwrap();
    let jwks: serde_json::Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        let kid = key["kid"].as_str().unwrap();
        let evidence = token.evidence(kid).unwrap();
        assert!(
            evidence.local && evidence.always_sensitive && evidence.never_extractable,
            "{kid}: {evidence:?}"
        );
        assert!(token.refuses_to_reveal(kid).unwrap(), "{kid}");
    }

    // A second instance on the same database and token signs with the same keys.
    let sibling = spawn_sibling(&app).await;
    let again = issue(&sibling, &c).await;
    let header = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid;
    assert_eq!(header(&again), verified_kid(&verified));
    let address = sibling.address.clone();
    blocking(move || {
        Verifier::discover(&address, Settings::default())
            .unwrap()
            .verify_ssa(&again)
    })
    .await
    .unwrap();
}

fn verified_kid(statement: &ssa_verifier::SoftwareStatement) -> Option<String> {
    Some(statement.kid.clone())
}

#[tokio::test]
async fn a_token_without_the_keys_the_database_names_stops_the_start() {
    let _finalize = softhsm::Finalize;
    // SoftHSM2 lists the tokens that exist when its module is initialised: both first.
    let empty = softhsm::token("empty").unwrap();
    let (app, _) = in_token("first").await;
    let mut config = app.state.config.clone();
    config.pkcs11_uri = Some(empty);
    let error = ssa_directory::Application::build(config)
        .await
        .err()
        .expect("the start fails");
    let error = format!("{error:#}");
    // The CA is loaded first: its keys are what the empty token lacks first.
    assert!(
        error.contains("token=empty") && error.contains("ssa-directory-ca-root"),
        "{error}"
    );
    assert!(!error.contains("1234"), "the PIN is never shown: {error}");
}

#[tokio::test]
async fn the_ca_keys_are_born_in_the_token_and_sign_certificates_crls_and_ocsp_answers() {
    let _finalize = softhsm::Finalize;
    let (app, uri) = in_token("ca").await;
    let ca_dir = app.state.config.keys_dir.join("ca");
    let mut files: Vec<String> = std::fs::read_dir(&ca_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["issuing-cert.pem", "root-cert.pem"],
        "only certificates are files"
    );
    let token = Token::open(&uri.parse().unwrap()).unwrap();
    for name in ["ssa-directory-ca-root", "ssa-directory-ca-issuing"] {
        let evidence = token.evidence(name).unwrap();
        assert!(
            evidence.local && evidence.never_extractable,
            "{name}: {evidence:?}"
        );
        assert!(token.refuses_to_reveal(name).unwrap(), "{name}");
    }

    // A transport certificate the token's issuing key signed: OpenSSL verifies its chain and
    // the OCSP answer; the verifier checks the chain, clientAuth and the CRL.
    let c = approved(&app).await;
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    crate::pki::fetch_chain(&app, dir).await;
    let csr = crate::pki::make_csr(dir, "transport", "rsa:2048", "/CN=x");
    let (status, issued) = crate::pki::request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 201, "{issued}");
    let pem = issued["certificate"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("transport.pem"), &pem).unwrap();
    let (ok, out) = crate::pki::openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "transport.pem",
        ],
    );
    assert!(ok, "{out}");
    let answer = crate::pki::ocsp_status(dir, &app, "transport.pem");
    assert!(answer.contains("transport.pem: good"), "{answer}");

    let jwt = issue(&app, &c).await;
    let chain = app.get("/pki/ca.pem").await.text().await.unwrap();
    let crl = app.get("/pki/crl").await.bytes().await.unwrap();
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let trust = ssa_verifier::Trust::new(
        app.address.clone(),
        ssa_verifier::KeySet::from_json(&jwks).unwrap(),
    )
    .with_ca_chain(ssa_verifier::CaChain::from_pem(&chain).unwrap());
    let crl = ssa_verifier::Crl::from_der(&crl).unwrap();
    let now = std::time::SystemTime::now();
    let settings = Settings::default();
    let statement = trust.verify_statement(&jwt, &settings, now).unwrap();
    let info = trust
        .verify_client_certificate(&pem, &statement, None, Some(&crl), &settings, now)
        .unwrap();
    assert_eq!(info.revocation, ssa_verifier::Revocation::Checked);
}

#[tokio::test]
async fn a_token_that_stops_answering_gets_503_and_nothing_half_done_is_recorded() {
    let _finalize = softhsm::Finalize;
    let (app, uri) = in_token("faulty").await;
    let c = approved(&app).await;
    issue(&app, &c).await;
    let recorded = |app: &TestApp| {
        let (pool, at, product) = (
            app.state.pool.clone(),
            app.state.now(),
            c.software_id.clone(),
        );
        move || {
            let mut conn = pool.get().unwrap();
            ssa_directory::services::statements::recent_in(&mut conn, product.parse().unwrap(), at)
                .unwrap()
                .len()
        }
    };
    assert_eq!(blocking(recorded(&app)).await, 1);

    // The token goes away behind the directory's back.
    let label: ssa_directory::config::TokenUri = uri.parse().unwrap();
    let deleted = std::process::Command::new("softhsm2-util")
        .args(["--delete-token", "--token", &label.token])
        .output()
        .unwrap();
    assert!(deleted.status.success(), "{deleted:?}");

    let response = crate::verifier::issue_response(&app, &c).await;
    assert_eq!(response.status(), 503);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"], "urn:ssa-directory:problem:signing-unavailable",
        "{problem}"
    );
    assert_eq!(
        blocking(recorded(&app)).await,
        1,
        "no statement without its signature"
    );

    let folder = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(folder.path(), "transport", "rsa:2048", "/CN=x");
    let (status, problem) = crate::pki::request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:ssa-directory:problem:signing-unavailable"
    );
    let (status, listed) = app
        .get_json(
            &format!("/api/v1/software/{}/certificates", c.software_id),
            &c.developer,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
}
