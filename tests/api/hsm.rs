//! The pkcs11 key provider through the real server, against SoftHSM2: the SSA and federation
//! keys are born in the token and sign there, what they sign verifies as a bank verifies it,
//! nothing private reaches the keys folder, another instance (or a restart) on the same token
//! signs with the same keys, a token that lacks a key the directory knows stops the start, and
//! the CA's keys, born in the token too, sign certificates, CRLs and OCSP answers.

use sha2::Digest;
use ssa_directory::config::KeyProvider;
use ssa_directory::keys::pkcs11::{Token, softhsm};
use ssa_verifier::{Settings, Verifier};

use crate::helpers::{TestApp, spawn_app_with, spawn_sibling, spawn_sibling_with};
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
    // Change events (RFC 8417 SETs) are signed in the token too and verify with the JWKS.
    let (events, _) = crate::events::follow(&app, None, 1000).await;
    assert!(events.len() >= 2, "{events:?}");
    for event in &events {
        let set = event["set"].as_str().unwrap();
        crate::events::verify(&app, set).await;
        let kid = jsonwebtoken::decode_header(set).unwrap().kid.unwrap();
        assert!(row(&app, &kid).in_token(), "{kid}");
    }
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

    // The transparency log's Ed25519 key is in the token too: the checkpoint that covers
    // the statement verifies with the published key, and no key file was made.
    let metadata: serde_json::Value = app
        .get("/.well-known/ssa-directory")
        .await
        .json()
        .await
        .unwrap();
    let log_key =
        ssa_verifier::transparency::LogKey::parse(metadata["log_verifier_key"].as_str().unwrap())
            .unwrap();
    let statement = issue(&app, &c).await;
    let proof_url = format!(
        "/log/proof?sha256={}",
        hex::encode(sha2::Sha256::digest(statement.as_bytes()))
    );
    let proof =
        ssa_verifier::transparency::Proof::parse(&app.get(&proof_url).await.bytes().await.unwrap())
            .unwrap();
    let entry = ssa_verifier::transparency::entry(
        ssa_verifier::transparency::EntryKind::Statement,
        statement.as_bytes(),
    )
    .unwrap();
    proof.verify(&entry, &log_key).unwrap();
    assert!(!app.state.config.keys_dir.join("log.key").exists());
    let evidence = token.evidence("transparency-log").unwrap();
    assert!(evidence.local && evidence.never_extractable, "{evidence:?}");
    assert!(token.refuses_to_reveal("transparency-log").unwrap());

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
    let note = sibling.get("/log/checkpoint").await.bytes().await.unwrap();
    ssa_verifier::transparency::open_checkpoint(&note, &log_key, &[], 0).unwrap();
}

/// What a bank trusts of the directory `app` serves (its JWKS), issuer `issuer` and the CA
/// chain `chain`.
async fn trust_in(app: &TestApp, issuer: &str, chain: &str) -> ssa_verifier::Trust {
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    ssa_verifier::Trust::new(
        issuer.to_owned(),
        ssa_verifier::KeySet::from_json(&jwks).unwrap(),
    )
    .with_ca_chain(ssa_verifier::CaChain::from_pem(chain).unwrap())
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
    // The CA is loaded first: its issuing key is what the empty token lacks first.
    assert!(
        error.contains("token=empty") && error.contains("ssa-directory-ca-issuing"),
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
    let trust = trust_in(&app, &app.address, &chain).await;
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
async fn a_token_that_stops_answering_gets_503_and_nothing_half_done_is_recorded_until_it_comes_back()
 {
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

    // The token goes away behind the directory's back (its folder kept aside, to be put
    // back later: an HSM unplugged, then plugged in again).
    let label: ssa_directory::config::TokenUri = uri.parse().unwrap();
    let folder = token_folder(&label.token);
    let aside = tempfile::tempdir().unwrap();
    copy_folder(&folder, aside.path());
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

    let csr_folder = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(csr_folder.path(), "transport", "rsa:2048", "/CN=x");
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

    // Not ready, and why.
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("the key store does not answer")),
        "{problem}"
    );

    // The token comes back: the directory reconnects by itself, ready again and signing.
    std::fs::create_dir(&folder).unwrap();
    copy_folder(aside.path(), &folder);
    let mut waited = 0;
    loop {
        let status = app.get("/readyz").await.status();
        if status == 200 {
            break;
        }
        waited += 1;
        assert!(
            waited < 100,
            "still not ready after the token came back: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let jwt = issue(&app, &c).await;
    assert_eq!(blocking(recorded(&app)).await, 2, "{jwt}");
    let (status, issued) = crate::pki::request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 201, "{issued}");
}

/// The folder SoftHSM2 keeps the token labelled `label` in (its `token.object` holds the
/// label).
fn token_folder(label: &str) -> std::path::PathBuf {
    let conf = std::env::var("SOFTHSM2_CONF").expect("scripts/test sets SOFTHSM2_CONF");
    let conf = std::fs::read_to_string(conf).unwrap();
    let tokens = conf
        .lines()
        .find_map(|line| line.strip_prefix("directories.tokendir = "))
        .expect("a token folder");
    std::fs::read_dir(tokens.trim())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|folder| {
            std::fs::read(folder.join("token.object"))
                .is_ok_and(|object| object.windows(label.len()).any(|w| w == label.as_bytes()))
        })
        .expect("the token's folder")
}

fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The command line of `app`'s directory, with the pkcs11 provider on the token `uri`.
fn cli(app: &TestApp, uri: &str, args: &[&str]) -> String {
    let output = crate::cli::directory(app.dir.path())
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("SSA_DIRECTORY_KEY_PROVIDER", "pkcs11")
        .env("SSA_DIRECTORY_PKCS11_URI", uri)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn row(app: &TestApp, kid: &str) -> ssa_directory::model::keys::SigningKey {
    let mut conn = app.state.pool.get().unwrap();
    ssa_directory::store::signing_keys::find(
        &mut conn,
        &ssa_directory::model::Kid::from_trusted(kid),
    )
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn a_directory_on_key_files_moves_into_the_token_by_rotating() {
    let _finalize = softhsm::Finalize;
    let files = spawn_app_with(|c| c.key_refresh_secs = 1).await;
    let c = approved(&files).await;
    let on_file = jsonwebtoken::decode_header(&issue(&files, &c).await)
        .unwrap()
        .kid
        .unwrap();
    assert!(!row(&files, &on_file).in_token());

    // Restarted with the pkcs11 provider: the file keys go on signing until rotated away.
    let uri = softhsm::token("moving").unwrap();
    let configured = uri.clone();
    let app = spawn_sibling_with(&files, move |c| {
        c.key_provider = KeyProvider::Pkcs11;
        c.pkcs11_uri = Some(configured);
    })
    .await;
    let kid = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    assert_eq!(kid(&issue(&app, &c).await), on_file);

    // Two rotations: the next key (a file) signs, then the first key born in the token.
    cli(&app, &uri, &["keys", "rotate"]);
    let out = cli(&app, &uri, &["keys", "rotate"]);
    let in_token = out.split_whitespace().next().unwrap().to_owned();
    for _ in 0..2 {
        cli(&app, &uri, &["keys", "rotate", "--federation"]);
    }
    let held = row(&app, &in_token);
    assert!(held.in_token(), "{:?}", held.reference);
    let label: ssa_directory::config::TokenUri = uri.parse().unwrap();
    assert_eq!(
        held.reference.as_deref(),
        Some(label.object(&in_token).as_str())
    );
    let mut signed = String::new();
    for _ in 0..50 {
        signed = issue(&app, &c).await;
        if kid(&signed) == in_token {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        kid(&signed),
        in_token,
        "the instance signs in the token after the rotation"
    );
    // Two rotations in a row activate a key this instance may not publish yet: it does
    // within key_refresh_secs, as `keys rotate` says.
    let started = std::time::Instant::now();
    while !app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap()
        .contains(&in_token)
    {
        assert!(
            started.elapsed().as_secs() < 10,
            "the JWKS never published {in_token}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let address = app.address.clone();
    blocking(move || {
        Verifier::discover(&address, Settings::default())
            .unwrap()
            .verify_ssa(&signed)
    })
    .await
    .expect("the verifier accepts it");

    // `keys list` says where each key is held, what the token said of it, and which key
    // files sign nothing more (for the operator to destroy).
    let listing = cli(&app, &uri, &["keys", "list"]);
    let line = listing.lines().find(|l| l.starts_with(&in_token)).unwrap();
    assert!(
        line.contains(" token ") && line.contains("local, always sensitive, never extractable"),
        "{listing}"
    );
    let line = listing.lines().find(|l| l.starts_with(&on_file)).unwrap();
    assert!(
        line.contains("retired") && line.contains(" file "),
        "{listing}"
    );
    let spent = app
        .state
        .config
        .keys_dir
        .join("signing")
        .join(format!("{on_file}.pem"));
    assert!(
        listing.contains(&format!("shred -u {}", spent.display())),
        "{listing}"
    );
    // The audit entry of the key's generation carries where it is held and the evidence.
    let mut conn = app.state.pool.get().unwrap();
    let entries = ssa_directory::store::audit::subject_history(&mut conn, &in_token, 50).unwrap();
    let generated = entries
        .iter()
        .find(|e| e.action == "key.generate")
        .expect("audited");
    let details: serde_json::Value =
        serde_json::from_str(generated.details.as_deref().unwrap()).unwrap();
    assert_eq!(
        details["reference"],
        label.object(&in_token).as_str(),
        "{details}"
    );
    assert_eq!(details["evidence"]["never_extractable"], true, "{details}");
}

#[tokio::test]
async fn a_key_generation_killed_before_its_row_leaves_no_key_behind() {
    let _finalize = softhsm::Finalize;
    let (app, uri) = in_token("killed").await;
    let token = Token::open(&uri.parse().unwrap()).unwrap();
    // What a `keys rotate` killed between generating and recording leaves: a pending key
    // without a row, an hour old; and one generated a moment ago (a rotation at work).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (orphan, _) = token.generate("PS256", now - 3600).unwrap();
    let (young, _) = token.generate("PS256", now).unwrap();
    let orphan = orphan["kid"].as_str().unwrap().to_owned();
    let young = young["kid"].as_str().unwrap().to_owned();

    let out = cli(&app, &uri, &["keys", "rotate"]);
    let active = out.split_whitespace().next().unwrap().to_owned();
    assert!(token.evidence(&orphan).is_err(), "the orphan is destroyed");
    assert!(
        token.evidence(&young).is_ok(),
        "a young pending key is left to its rotation"
    );
    // Every key the rotation made is recorded and no longer pending.
    let pending: Vec<String> = token
        .pending()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(pending, [young]);
    assert!(row(&app, &active).in_token());
}

/// The certificates of a PEM bundle, each as PEM.
fn certificates(bundle: &str) -> Vec<String> {
    let end = "-----END CERTIFICATE-----\n";
    bundle
        .split_inclusive(end)
        .map(|c| c.trim_start().to_owned())
        .filter(|c| c.contains(end))
        .collect()
}

#[tokio::test]
async fn the_issuing_ca_is_replaced_in_the_token_and_both_chains_verify_during_the_overlap() {
    let _finalize = softhsm::Finalize;
    let (app, uri) = in_token("rollover").await;
    let c = approved(&app).await;
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    let csr = crate::pki::make_csr(dir, "first", "ec:P-256", "/CN=x");
    let (status, first) = crate::pki::request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 201, "{first}");
    std::fs::write(
        dir.join("first.pem"),
        first["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let before = certificates(&app.get("/pki/ca.pem").await.text().await.unwrap());
    assert_eq!(before.len(), 2);

    let out = cli(&app, &uri, &["ca", "rotate"]);
    assert!(out.contains("now signs new certificates"), "{out}");
    let kept = out
        .lines()
        .filter(|l| l.starts_with("previous issuing CA"))
        .count();
    assert_eq!(kept, 1, "{out}");
    assert!(
        out.contains("key:         token pkcs11:token=rollover-")
            && out.contains(";id=ssa-directory-ca-issuing-")
            && out.contains("(local, always sensitive, never extractable)"),
        "{out}"
    );
    // Nothing private reached the CA folder.
    let ca_dir = app.state.config.keys_dir.join("ca");
    let keys: Vec<_> = walk(&ca_dir)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains("key"))
        .collect();
    assert!(keys.is_empty(), "{keys:?}");

    // A restarted instance issues from the new issuing CA and publishes both.
    let restarted = spawn_sibling(&app).await;
    let csr = crate::pki::make_csr(dir, "second", "ec:P-256", "/CN=x");
    let (status, second) = crate::pki::request_certificate(&restarted, &c, "transport", &csr).await;
    assert_eq!(status, 201, "{second}");
    std::fs::write(
        dir.join("second.pem"),
        second["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let chain = restarted.get("/pki/ca.pem").await.text().await.unwrap();
    let after = certificates(&chain);
    assert_eq!(
        after.len(),
        3,
        "new issuing, previous issuing, root: {chain}"
    );
    assert_eq!(
        after[1], before[0],
        "the previous issuing CA stays published"
    );
    assert_eq!(after[2], before[1], "the root is the same");
    std::fs::write(dir.join("root.pem"), &after[2]).unwrap();
    std::fs::write(dir.join("chain.pem"), &chain).unwrap();
    for cert in ["first.pem", "second.pem"] {
        let (ok, out) = crate::pki::openssl(
            dir,
            &[
                "verify",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "chain.pem",
                cert,
            ],
        );
        assert!(ok, "{cert}: {out}");
    }

    // The first certificate is revoked: the previous issuing CA answers for it (OCSP and
    // its own CRL), the new one for the second.
    let serial = first["serial"].as_str().unwrap();
    let (status, revoked) = restarted
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.developer,
            serde_json::json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    std::fs::write(dir.join("issuing.pem"), &after[1]).unwrap();
    let answer = crate::pki::ocsp_status(dir, &restarted, "first.pem");
    assert!(answer.contains("first.pem: revoked"), "{answer}");
    std::fs::write(dir.join("issuing.pem"), &after[0]).unwrap();
    let answer = crate::pki::ocsp_status(dir, &restarted, "second.pem");
    assert!(answer.contains("second.pem: good"), "{answer}");

    let crl_of = |cert: &str| {
        let (ok, out) = crate::pki::openssl(
            dir,
            &[
                "x509",
                "-in",
                cert,
                "-noout",
                "-ext",
                "crlDistributionPoints",
            ],
        );
        assert!(ok, "{out}");
        let url = out
            .split_whitespace()
            .find_map(|w| w.strip_prefix("URI:"))
            .unwrap()
            .to_owned();
        // The public URL's path (the instances share it).
        url[url.find("/pki/").unwrap()..].to_owned()
    };
    let (old_crl, new_crl) = (crl_of("first.pem"), crl_of("second.pem"));
    assert_ne!(old_crl, new_crl, "each issuing CA has its own CRL");
    let old_crl = restarted.get(&old_crl).await.bytes().await.unwrap();
    let new_crl = restarted.get(&new_crl).await.bytes().await.unwrap();
    assert_eq!(
        restarted.get("/pki/crl").await.bytes().await.unwrap(),
        new_crl,
        "/pki/crl is the current issuing CA's"
    );
    let jwt = issue(&restarted, &c).await;
    let trust = trust_in(&restarted, &app.address, &chain).await;
    let settings = Settings::default();
    let now = std::time::SystemTime::now();
    let statement = trust.verify_statement(&jwt, &settings, now).unwrap();
    let old_crl = ssa_verifier::Crl::from_der(&old_crl).unwrap();
    let new_crl = ssa_verifier::Crl::from_der(&new_crl).unwrap();
    let pem = |v: &serde_json::Value| v["certificate"].as_str().unwrap().to_owned();
    let refused = trust
        .verify_client_certificate(
            &pem(&first),
            &statement,
            None,
            Some(&old_crl),
            &settings,
            now,
        )
        .expect_err("the previous issuing CA's CRL lists the first certificate");
    assert!(format!("{refused}").contains("revoked"), "{refused}");
    let info = trust
        .verify_client_certificate(
            &pem(&second),
            &statement,
            None,
            Some(&new_crl),
            &settings,
            now,
        )
        .unwrap();
    assert_eq!(info.revocation, ssa_verifier::Revocation::Checked);
    assert_eq!(restarted.get("/pki/crl/0123").await.status(), 404);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
