//! The transparency log: the statements and certificates the directory issues are logged in
//! the transaction that issues them, and each gets a tlog-proof that the verifier's checks
//! accept against the key the discovery metadata publishes; a second instance on the same
//! database serves the same log.

use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use ssa_verifier::transparency::{
    EntryKind, LogKey, Proof, TransparencyError, entry, open_checkpoint,
};

use crate::helpers::{TestApp, spawn_app, spawn_sibling};
use crate::verifier::{approved, issue};

/// The proof of `artefact`, once a checkpoint covers it.
async fn proof_of(app: &TestApp, artefact: &[u8]) -> Proof {
    let url = format!(
        "/log/proof?sha256={}",
        hex::encode(Sha256::digest(artefact))
    );
    let started = Instant::now();
    loop {
        let response = app.get(&url).await;
        if response.status() == 200 {
            assert_eq!(
                response.headers()["content-type"],
                "text/plain; charset=utf-8"
            );
            return Proof::parse(&response.bytes().await.unwrap()).unwrap();
        }
        assert_eq!(response.status(), 404);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no proof within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn checkpoint_of(app: &TestApp) -> Vec<u8> {
    let response = app.get("/log/checkpoint").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn what_the_directory_issues_is_logged_and_proven_against_its_published_key() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let metadata: Value = app
        .get("/.well-known/ssa-directory")
        .await
        .json()
        .await
        .unwrap();
    let key = LogKey::parse(metadata["log_verifier_key"].as_str().unwrap()).unwrap();
    assert_eq!(
        key.origin(),
        format!("{}/log", app.address.strip_prefix("http://").unwrap())
    );

    // A statement and a certificate, each with its proof.
    let statement = issue(&app, &c).await;
    let dir = tempfile::tempdir().unwrap();
    let (issued, _) =
        crate::registrar::transport_certificate(&app, &c, &c.software_id, dir.path()).await;
    let der = openssl::x509::X509::from_pem(issued["certificate"].as_str().unwrap().as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let statement_entry = entry(EntryKind::Statement, statement.as_bytes()).unwrap();
    let certificate_entry = entry(EntryKind::Certificate, &der).unwrap();
    let of_statement = proof_of(&app, statement.as_bytes()).await;
    let of_certificate = proof_of(&app, &der).await;
    let included = of_statement.verify(&statement_entry, &key).unwrap();
    let later = of_certificate.verify(&certificate_entry, &key).unwrap();
    assert!(
        included.index < later.index,
        "in the order they were issued"
    );

    // One artefact's proof does not prove another; a forged checkpoint does not verify.
    assert_eq!(
        of_certificate.verify(&statement_entry, &key),
        Err(TransparencyError::NotIncluded)
    );
    let mut forged = of_statement.clone();
    let text = String::from_utf8(forged.checkpoint.clone()).unwrap();
    forged.checkpoint = text.replacen('\n', "\n9", 1).into_bytes();
    assert!(forged.verify(&statement_entry, &key).is_err());

    // The checkpoint only grows, and a second instance on the database serves the same log.
    let before = open_checkpoint(&checkpoint_of(&app).await, &key, &[], 0).unwrap();
    let another = issue(&app, &c).await;
    proof_of(&app, another.as_bytes()).await;
    let after = open_checkpoint(&checkpoint_of(&app).await, &key, &[], 0).unwrap();
    assert!(
        after.size > before.size,
        "{} then {}",
        before.size,
        after.size
    );
    let sibling = spawn_sibling(&app).await;
    assert_eq!(checkpoint_of(&sibling).await, checkpoint_of(&app).await);
    let from_sibling = proof_of(&sibling, statement.as_bytes()).await;
    assert!(from_sibling.verify(&statement_entry, &key).is_ok());

    // Nothing issued has this hash; this is no hash.
    assert_eq!(
        app.get(&format!("/log/proof?sha256={}", "0".repeat(64)))
            .await
            .status(),
        404
    );
    assert_eq!(app.get("/log/proof?sha256=xyz").await.status(), 422);
}
