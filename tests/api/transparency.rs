//! The transparency log: the statements and certificates the directory issues are logged in
//! the transaction that issues them, and each gets a tlog-proof that the verifier's checks
//! accept against the key the discovery metadata publishes; a second instance on the same
//! database serves the same log.

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
    // The directory waits for the checkpoint that covers it (a quarter of a second).
    let response = app.get(&url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    Proof::parse(&response.bytes().await.unwrap()).unwrap()
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

/// The log key the directory publishes.
async fn published_key(app: &TestApp) -> LogKey {
    let metadata: Value = app
        .get("/.well-known/ssa-directory")
        .await
        .json()
        .await
        .unwrap();
    LogKey::parse(metadata["log_verifier_key"].as_str().unwrap()).unwrap()
}

/// The body of `url`, which must answer 200.
async fn fetched(app: &TestApp, url: &str) -> Vec<u8> {
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.unwrap().to_vec()
}

/// A certificate's DER from its PEM.
fn der_of(pem: &str) -> Vec<u8> {
    openssl::x509::X509::from_pem(pem.as_bytes())
        .unwrap()
        .to_der()
        .unwrap()
}

/// Runs `ssa-verify log monitor` against the app: its exit code and the JSON lines printed.
async fn monitor(app: &TestApp, state: &std::path::Path, args: &[&str]) -> (i32, Vec<Value>) {
    let mut command = std::process::Command::new(crate::verifier::ssa_verify_bin());
    command
        .args(["log", "monitor", "--directory", &app.address, "--state"])
        .arg(state)
        .args(args);
    let output = crate::verifier::blocking(move || command.output().unwrap()).await;
    let lines = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (output.status.code().unwrap_or(-1), lines)
}

/// The log's signer, from the key file the directory made (to forge what a compromised
/// log would sign).
struct KeyFile {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl signed_note::Signer for KeyFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        let mut public = vec![0x01];
        public.extend_from_slice(self.key.verifying_key().as_bytes());
        signed_note::key_id(&self.name, &public)
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        use ed25519_dalek::Signer;
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

#[tokio::test]
async fn tiles_hold_every_entry_and_the_monitor_reports_what_was_issued_for_the_organisation() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let key = published_key(&app).await;

    // The statement's answer links its proof; the certificate's carries its index and proof.
    let response = crate::verifier::issue_response(&app, &c).await;
    assert_eq!(response.status(), 201);
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let statement = response.text().await.unwrap();
    let proof_url = format!(
        "{}/log/proof?sha256={}",
        app.address,
        hex::encode(Sha256::digest(statement.as_bytes()))
    );
    assert_eq!(
        link,
        format!("<{proof_url}>; rel=\"https://c2sp.org/tlog-proof\"")
    );
    let statement_entry = entry(EntryKind::Statement, statement.as_bytes()).unwrap();
    let statement_index = Proof::parse(&fetched(&app, &proof_url).await)
        .unwrap()
        .verify(&statement_entry, &key)
        .unwrap()
        .index;
    let folder = tempfile::tempdir().unwrap();
    let (issued, _) =
        crate::registrar::transport_certificate(&app, &c, &c.software_id, folder.path()).await;
    let der = der_of(issued["certificate"].as_str().unwrap());
    let certificate_index = issued["log_index"].as_u64().unwrap();
    let proof =
        Proof::parse(&fetched(&app, issued["log_proof_uri"].as_str().unwrap()).await).unwrap();
    assert_eq!(
        proof
            .verify(&entry(EntryKind::Certificate, &der).unwrap(), &key)
            .unwrap()
            .index,
        certificate_index
    );
    assert!(statement_index < certificate_index);

    // A suspension's SET is logged when it is signed.
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "suspend",
    )
    .await;

    // The monitor, on its first run, reads the whole log from its tiles and prints what was
    // issued for the organisation.
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("checkpoint");
    let mut lines = Vec::new();
    for _ in 0..100 {
        std::fs::remove_file(&state).ok();
        let (code, printed) = monitor(&app, &state, &["--org", &c.org_id]).await;
        assert_eq!(code, 0, "{printed:?}");
        lines = printed;
        if lines.iter().any(|l| l["event_type"] == "software-status") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let jti = crate::verifier::parts(&statement).1["jti"].clone();
    let statement_line = lines
        .iter()
        .find(|l| l["kind"] == "statement" && l["id"] == jti)
        .expect("the statement is reported");
    assert_eq!(statement_line["index"], statement_index);
    assert_eq!(statement_line["software_id"], c.software_id.as_str());
    let certificate_line = lines
        .iter()
        .find(|l| l["kind"] == "certificate")
        .expect("the certificate is reported");
    assert_eq!(certificate_line["index"], certificate_index);
    let serial = certificate_line["id"].as_str().unwrap();
    assert!(
        serial.eq_ignore_ascii_case(issued["serial"].as_str().unwrap().trim_start_matches('0')),
        "{serial} {}",
        issued["serial"]
    );
    let event = lines
        .iter()
        .find(|l| l["event_type"] == "software-status")
        .unwrap_or_else(|| panic!("the suspension is reported: {lines:?}"));
    assert_eq!(event["software_id"], c.software_id.as_str());
    assert!(
        lines.iter().all(|l| l["org_id"] == c.org_id.as_str()),
        "only the organisation's: {lines:?}"
    );

    // The next run starts from the kept checkpoint: only what is new.
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "reinstate",
    )
    .await;
    let another = issue(&app, &c).await;
    proof_of(&app, another.as_bytes()).await;
    let (code, lines) = monitor(&app, &state, &["--software", &c.software_id]).await;
    assert_eq!(code, 0);
    let new_jti = crate::verifier::parts(&another).1["jti"].clone();
    assert!(lines.iter().any(|l| l["id"] == new_jti), "{lines:?}");
    assert!(
        lines.iter().all(|l| l["id"] != jti),
        "nothing seen before: {lines:?}"
    );

    // Tiles: immutable, readable anywhere, the same bytes from a second instance.
    let size = open_checkpoint(&checkpoint_of(&app).await, &key, &[], 0)
        .unwrap()
        .size;
    let response = app.get(&format!("/log/tile/0/000.p/{size}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let hashes = response.bytes().await.unwrap();
    assert_eq!(hashes.len() as u64, 32 * size);
    let bundle = fetched(
        &app,
        &format!("{}/log/tile/entries/000.p/{size}", app.address),
    )
    .await;
    let entries = ssa_verifier::transparency::split_bundle(&bundle).unwrap();
    assert_eq!(entries.len() as u64, size);
    assert_eq!(
        entries[statement_index as usize],
        statement_entry.as_slice()
    );
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(
            ssa_verifier::transparency::leaf_hash(entry).0,
            hashes[32 * i..32 * (i + 1)],
            "leaf {i}"
        );
    }
    let sibling = spawn_sibling(&app).await;
    for path in [
        format!("/log/tile/0/000.p/{size}"),
        format!("/log/tile/entries/000.p/{size}"),
    ] {
        assert_eq!(
            fetched(&sibling, &sibling.url(&path)).await,
            fetched(&app, &app.url(&path)).await,
            "{path}"
        );
    }
    // Nothing past the checkpoint, and no malformed path, is a tile.
    for path in [
        format!("/log/tile/0/000.p/{}", size + 1),
        format!("/log/tile/entries/000.p/{}", size + 1),
        "/log/tile/0/000".into(),
        "/log/tile/0/000.p/0".into(),
        "/log/tile/64/000".into(),
        "/log/tile/1/000.p/1".into(),
        "/log/tile/entries/x/1".into(),
    ] {
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
    }

    // A log that went back from what the monitor kept is an alarm (exit 3): a checkpoint
    // larger than the log, signed with the log's own key as a compromised log would.
    let seed: [u8; 32] = std::fs::read(app.dir.path().join("keys/log.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let signer = KeyFile {
        name: key.origin().to_owned(),
        key: ed25519_dalek::SigningKey::from_bytes(&seed),
    };
    let checkpoint =
        tlog_tiles::Checkpoint::new(key.origin(), size + 5, tlog_tiles::Hash([7; 32]), "").unwrap();
    let mut note = signed_note::Note::new(&checkpoint.to_bytes(), &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    std::fs::write(&state, note.to_bytes()).unwrap();
    let (code, _) = monitor(&app, &state, &[]).await;
    assert_eq!(code, 3, "an inconsistent log");
}
