//! The transparency log: the statements and certificates the directory issues are logged in
//! the transaction that issues them, and each gets a tlog-proof that the verifier's checks
//! accept against the key the discovery metadata publishes; a second instance on the same
//! database serves the same log.

use serde_json::Value;
use sha2::{Digest, Sha256};
use ssa_verifier::transparency::{
    EntryKind, LogKey, Proof, SignedCheckpoint, TransparencyError, entry, open_checkpoint,
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

    // The product's page shows each one's place in the log.
    let browser = crate::portal::Browser::new(&app);
    browser
        .log_in(&c.developer.email, crate::helpers::PASSWORD)
        .await;
    let (status, page) = browser.get(&format!("/software/{}", c.software_id)).await;
    assert_eq!(status, 200);
    for index in [statement_index, certificate_index] {
        assert!(
            page.contains(&format!("<td class=\"log-index\">{index}</td>")),
            "{index}: {page}"
        );
    }

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
    // Nothing past the checkpoint, and no malformed path, is a tile. (Past it by far: status
    // events signed meanwhile may still grow the log by a few entries.)
    assert!(size < 200, "{size}");
    for path in [
        "/log/tile/0/000.p/255".to_owned(),
        "/log/tile/entries/000.p/255".to_owned(),
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

#[tokio::test]
async fn in_require_mode_a_statement_outside_the_log_is_refused_even_signed_with_the_directory_key()
{
    use serde_json::json;
    use ssa_verifier::{ErrorCode, KeySet, Settings, Transparency, Trust, Verifier};
    let app = spawn_app().await;
    let c = approved(&app).await;
    let statement = issue(&app, &c).await;
    let key = published_key(&app).await;
    let proof = proof_of(&app, statement.as_bytes()).await;

    // What a thief of the signing key would mint: signed by the directory's key, never
    // logged.
    let (header, mut claims) = crate::verifier::parts(&statement);
    claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    let forged = crate::verifier::sign_as_directory(&app, header["kid"].as_str().unwrap(), &claims);
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let metadata: Value = app
        .get("/.well-known/ssa-directory")
        .await
        .json()
        .await
        .unwrap();
    let issuer = metadata["issuer"].as_str().unwrap().to_owned();
    let vkey = metadata["log_verifier_key"].as_str().unwrap().to_owned();
    // A log key of the same name that is not the directory's.
    let stranger = signed_note::new_ed25519_verifier_key(
        key.origin(),
        &ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key(),
    );

    let address = app.address.clone();
    let (real, fake) = (statement.clone(), forged.clone());
    crate::verifier::blocking(move || {
        let with = |mode: Transparency| {
            Verifier::discover(&address, Settings::default().with_transparency(mode)).unwrap()
        };
        // Off: the stolen key is enough. Require: the log is needed too.
        assert!(with(Transparency::Off).verify_ssa(&fake).is_ok());
        let require = with(Transparency::Require);
        let verified = require.verify_ssa(&real).unwrap();
        assert_eq!(verified.log_index, Some(proof.index));
        let refused = require.verify_ssa(&fake).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidSoftwareStatement);
        assert!(
            refused.description.contains("transparency log"),
            "{}",
            refused.description
        );
        // Warn: accepted, and the answer says why it is not shown logged.
        let warned = with(Transparency::Warn).verify_ssa(&fake).unwrap();
        assert_eq!(warned.log_index, None);
        assert!(warned.log_problem.is_some());
        // A pinned key that is not the log's refuses even what is logged.
        let pinned = Verifier::discover(
            &address,
            Settings::default()
                .with_transparency(Transparency::Require)
                .with_log_key(&stranger),
        )
        .unwrap();
        assert_eq!(
            pinned.verify_ssa(&real).unwrap_err().code,
            ErrorCode::InvalidSoftwareStatement
        );

        // Offline, the proof comes with the statement: stripped or forged, it is refused.
        let offline = Verifier::offline(
            Trust::new(issuer.clone(), KeySet::from_json(&jwks).unwrap()),
            Settings::default()
                .with_transparency(Transparency::Require)
                .with_log_key(&vkey),
        );
        let text = proof.to_text();
        assert_eq!(
            offline
                .verify_ssa_with_proof(&real, Some(&text))
                .unwrap()
                .log_index,
            Some(proof.index)
        );
        assert!(
            offline.verify_ssa_with_proof(&real, None).is_err(),
            "stripped"
        );
        assert!(
            offline.verify_ssa_with_proof(&fake, Some(&text)).is_err(),
            "another statement's proof"
        );
        let mut moved = proof.clone();
        moved.index += 1;
        assert!(
            offline
                .verify_ssa_with_proof(&real, Some(&moved.to_text()))
                .is_err(),
            "a forged index"
        );
        let mut resigned = proof.clone();
        resigned.checkpoint = String::from_utf8(resigned.checkpoint)
            .unwrap()
            .replacen('\n', "\n1", 1)
            .into_bytes();
        assert!(
            offline
                .verify_ssa_with_proof(&real, Some(&resigned.to_text()))
                .is_err(),
            "a forged checkpoint"
        );
        // Without the log's key, an offline verifier in require mode refuses everything.
        let keyless = Verifier::offline(
            Trust::new(issuer, KeySet::from_json(&jwks).unwrap()),
            Settings::default().with_transparency(Transparency::Require),
        );
        assert!(keyless.verify_ssa_with_proof(&real, Some(&text)).is_err());
    })
    .await;

    // ssa-verify: exit 0 for the logged statement, 10 for the one outside the log.
    let folder = tempfile::tempdir().unwrap();
    for (name, token, expected) in [("real", &statement, 0), ("forged", &forged, 10)] {
        let file = folder.path().join(name);
        std::fs::write(&file, token).unwrap();
        let mut command = std::process::Command::new(crate::verifier::ssa_verify_bin());
        command
            .args([
                "ssa",
                "--directory",
                &app.address,
                "--transparency",
                "require",
            ])
            .arg(&file);
        let output = crate::verifier::blocking(move || command.output().unwrap()).await;
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{name}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }

    // The registrar, configured to require the log, registers the one and refuses the other.
    let s = crate::registrar::service(&app, |config| {
        config.transparency = Transparency::Require;
    })
    .await;
    let register = format!("{}/register", s.base);
    let (status, _, body) = crate::registrar::call(
        reqwest::Method::POST,
        &register,
        None,
        Some(json!({"software_statement": forged})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_software_statement");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("transparency log"),
        "{body}"
    );
    let (status, _, body) = crate::registrar::call(
        reqwest::Method::POST,
        &register,
        None,
        Some(json!({"software_statement": statement})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Every entry of the log `app` serves, read from its tiles and checked against its newest
/// checkpoint (which the monitor checks extends `older`).
async fn all_entries(
    app: &TestApp,
    key: &LogKey,
) -> (SignedCheckpoint, Vec<ssa_verifier::monitor::LoggedEntry>) {
    let (address, key) = (app.address.clone(), key.clone());
    crate::verifier::blocking(move || {
        let http = ssa_verifier::HttpClient::new(&ssa_verifier::Settings::default()).unwrap();
        let log = ssa_verifier::monitor::LogMonitor::new(http, format!("{address}/log"), key);
        let (newer, _) = log.latest().unwrap();
        let empty = SignedCheckpoint {
            origin: newer.origin.clone(),
            size: 0,
            root: Default::default(),
        };
        let entries = log.entries_between(&empty, &newer).unwrap();
        (newer, entries)
    })
    .await
}

#[tokio::test]
async fn two_instances_issuing_at_once_log_each_statement_once_in_one_tree_that_only_grows() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    let c = approved(&app).await;
    let key = published_key(&app).await;

    // Twenty statements at once, half from each instance, while both are watched.
    let (first, _) = all_entries(&app, &key).await;
    let mut requests = Vec::new();
    for i in 0..20 {
        let instance = if i % 2 == 0 { &app } else { &sibling };
        requests.push(issue(instance, &c));
    }
    let statements = futures_util::future::join_all(requests).await;
    let mut seen = vec![first];
    for statement in &statements {
        let instance = if seen.len() % 2 == 0 { &app } else { &sibling };
        let proof = proof_of(instance, statement.as_bytes()).await;
        let entry = entry(EntryKind::Statement, statement.as_bytes()).unwrap();
        proof.verify(&entry, &key).unwrap();
        seen.push(open_checkpoint(&proof.checkpoint, &key, &[], 0).unwrap());
    }

    // Each once; the tree read from either instance's tiles is the same and holds them all.
    let (newest, entries) = all_entries(&app, &key).await;
    for statement in &statements {
        let jti = crate::verifier::parts(statement).1["jti"].clone();
        let found = entries
            .iter()
            .filter(|e| e.kind == "statement" && Some(jti.as_str().unwrap()) == e.id.as_deref())
            .count();
        assert_eq!(found, 1, "{jti}");
    }
    let (from_sibling, sibling_entries) = all_entries(&sibling, &key).await;
    assert!(from_sibling.size >= newest.size);
    assert_eq!(
        entries.iter().map(|e| &e.artefact).collect::<Vec<_>>(),
        sibling_entries[..entries.len()]
            .iter()
            .map(|e| &e.artefact)
            .collect::<Vec<_>>()
    );
    // No checkpoint went back or forked: each extends every older one.
    seen.sort_by_key(|c| c.size);
    let (address, log_key) = (app.address.clone(), key.clone());
    crate::verifier::blocking(move || {
        let http = ssa_verifier::HttpClient::new(&ssa_verifier::Settings::default()).unwrap();
        let log = ssa_verifier::monitor::LogMonitor::new(http, format!("{address}/log"), log_key);
        for pair in seen.windows(2) {
            log.entries_between(&pair[0], &pair[1]).unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn an_instance_killed_while_issuing_leaves_no_gap_and_no_entry_without_its_record() {
    use std::process::{Command, Stdio};
    let app = spawn_app().await;
    let c = approved(&app).await;
    let key = published_key(&app).await;
    let stopped = app.stop().await;

    // The directory as a process of its own, killed with SIGKILL while statements are issued.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let folder = stopped.dir.path();
    let mut instance = Command::new(env!("CARGO_BIN_EXE_ssa-directory"))
        .env("DATABASE_URL", &stopped.db.url)
        .env("SSA_DIRECTORY_KEYS_DIR", folder.join("keys"))
        .env("SSA_DIRECTORY_DATA_DIR", folder.join("data"))
        .env("SSA_DIRECTORY_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SSA_DIRECTORY_PUBLIC_URL",
            stopped.config.public_url.clone().unwrap(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed().as_secs() < 30,
            "the instance did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let url = format!("{base}/api/v1/software/{}/ssa", c.software_id);
    let issuing: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), c.developer.token.clone());
            tokio::spawn(async move {
                let mut issued = 0;
                while client
                    .post(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 201)
                {
                    issued += 1;
                }
                issued
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    instance.kill().unwrap();
    instance.wait().unwrap();
    let mut before = 0;
    for task in issuing {
        before += task.await.unwrap();
    }
    assert!(before > 0, "statements were issued before the kill");

    // The next instance extends the tree past whatever the dead one left: a gap would stop
    // it, so a new statement's proof is the check.
    let app = stopped.start_with(|_| {}).await;
    let statement = issue(&app, &c).await;
    let proof = proof_of(&app, statement.as_bytes()).await;
    proof
        .verify(
            &entry(EntryKind::Statement, statement.as_bytes()).unwrap(),
            &key,
        )
        .unwrap();
    let (_, entries) = all_entries(&app, &key).await;
    let statements: Vec<_> = entries.iter().filter(|e| e.kind == "statement").collect();
    assert!(
        statements.len() > before,
        "{} of {before}",
        statements.len()
    );
    for logged in statements {
        // Every logged statement was recorded with it.
        let jti = logged.id.as_deref().unwrap();
        let response = app.get(&format!("/status/ssa/{jti}")).await;
        assert_eq!(response.status(), 200, "{jti}");
    }
}

#[tokio::test]
async fn an_idle_log_signs_its_checkpoint_again_every_ten_minutes() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let statement = issue(&app, &c).await;
    proof_of(&app, statement.as_bytes()).await;
    let signed_at = |app: &TestApp| {
        let mut conn = app.state.pool.get().unwrap();
        ssa_directory::store::log::latest_signed_at(&mut conn)
            .unwrap()
            .unwrap()
    };
    // The approval's status events are signed and logged after it, and grow the log
    // again: a quiet 600 ms window shows a fresh checkpoint is not signed again.
    let started = std::time::Instant::now();
    let first = loop {
        let before = signed_at(&app);
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        if signed_at(&app) == before {
            break before;
        }
        assert!(started.elapsed().as_secs() < 10, "signed again while fresh");
    };
    let note = checkpoint_of(&app).await;
    app.clock.advance(std::time::Duration::from_secs(601));
    let started = std::time::Instant::now();
    while signed_at(&app) == first {
        assert!(started.elapsed().as_secs() < 10, "not signed again");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(signed_at(&app) > first);
    // Ed25519 and a checkpoint without a time: the same note, vouched for again.
    assert_eq!(checkpoint_of(&app).await, note);
}

#[tokio::test]
async fn a_directory_without_its_log_links_no_proof_and_names_no_log() {
    let app = crate::helpers::spawn_app_with(|c| c.transparency_log = false).await;
    let c = approved(&app).await;
    let response = crate::verifier::issue_response(&app, &c).await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("link").is_none());
    let statement = response.text().await.unwrap();
    let metadata: Value = app
        .get("/.well-known/ssa-directory")
        .await
        .json()
        .await
        .unwrap();
    assert!(metadata.get("log_verifier_key").is_none(), "{metadata}");
    let url = format!(
        "/log/proof?sha256={}",
        hex::encode(Sha256::digest(statement.as_bytes()))
    );
    assert_eq!(app.get(&url).await.status(), 404);
    let folder = tempfile::tempdir().unwrap();
    let (issued, _) =
        crate::registrar::transport_certificate(&app, &c, &c.software_id, folder.path()).await;
    assert!(issued.get("log_index").is_none(), "{issued}");
}

/// `ssa-verify log witness` for the log `vkey`, as a process: it and its verifier key.
fn start_witness(folder: &std::path::Path, vkey: &str) -> (std::process::Child, String, String) {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(crate::verifier::ssa_verify_bin())
        .args(["log", "witness", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--name", "witness.example", "--log-key", vkey, "--key"])
        .arg(folder.join("witness.key"))
        .arg("--state")
        .arg(folder.join("witness.checkpoint"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (
        child,
        format!("http://127.0.0.1:{port}"),
        line.trim().to_owned(),
    )
}

#[tokio::test]
async fn a_witness_cosigns_each_checkpoint_and_a_verifier_can_require_its_cosignature() {
    use ssa_verifier::transparency::WitnessKey;
    use ssa_verifier::{ErrorCode, Settings, Transparency, Verifier};
    let app = spawn_app().await;
    let c = approved(&app).await;
    let key = published_key(&app).await;
    let vkey: Value = app
        .get("/.well-known/ssa-directory")
        .await
        .json()
        .await
        .unwrap();
    let vkey = vkey["log_verifier_key"].as_str().unwrap().to_owned();
    let folder = tempfile::tempdir().unwrap();
    let (mut process, url, witness_vkey) = start_witness(folder.path(), &vkey);
    let witness = WitnessKey::parse(&witness_vkey).unwrap();
    let mode = std::fs::metadata(folder.path().join("witness.key"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    // The directory, configured with the witness, gets each new checkpoint cosigned.
    let stopped = app.stop().await;
    let configured = format!("{url} {witness_vkey}");
    // On the same address, so that the discovery metadata's URLs are its own.
    let address: std::net::SocketAddr = stopped
        .config
        .public_url
        .clone()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let app = stopped
        .start_with(move |config| {
            config.log_witnesses = vec![configured];
            config.listen = address;
        })
        .await;
    let statement = issue(&app, &c).await;
    let proof = proof_of(&app, statement.as_bytes()).await;
    let entry = entry(EntryKind::Statement, statement.as_bytes()).unwrap();
    proof
        .verify_witnessed(&entry, &key, std::slice::from_ref(&witness), 1)
        .expect("the proof's checkpoint is cosigned");
    let another = issue(&app, &c).await;
    let later = proof_of(&app, another.as_bytes()).await;
    later
        .verify_witnessed(
            &ssa_verifier::transparency::entry(EntryKind::Statement, another.as_bytes()).unwrap(),
            &key,
            std::slice::from_ref(&witness),
            1,
        )
        .expect("the next one too, after a consistency proof");

    // A bank that requires the witness accepts; one that requires another witness refuses.
    let stranger = {
        let seed = [5u8; 32];
        let stranger =
            ssa_verifier::witness::Witness::new("stranger.example", seed, key.clone(), None)
                .unwrap();
        stranger.verifier_key()
    };
    let (address, required, other) = (app.address.clone(), witness_vkey.clone(), stranger);
    crate::verifier::blocking(move || {
        let with = |witness: &str| {
            Verifier::discover(
                &address,
                Settings::default()
                    .with_transparency(Transparency::Require)
                    .with_log_witnesses([witness], 1),
            )
            .unwrap()
        };
        assert!(
            with(&required)
                .verify_ssa(&another)
                .unwrap()
                .log_index
                .is_some()
        );
        assert_eq!(
            with(&other).verify_ssa(&another).unwrap_err().code,
            ErrorCode::InvalidSoftwareStatement
        );
    })
    .await;

    // The witness refuses a checkpoint that does not extend what it cosigned, even one the
    // log's own key signed (a log showing it a fork).
    let seed: [u8; 32] = std::fs::read(app.dir.path().join("keys/log.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let signer = KeyFile {
        name: key.origin().to_owned(),
        key: ed25519_dalek::SigningKey::from_bytes(&seed),
    };
    let post = |body: Vec<u8>| {
        let request = app.client.post(format!("{url}/add-checkpoint")).body(body);
        async move { request.send().await.unwrap() }
    };
    let forge = |size: u64| {
        let forged =
            tlog_tiles::Checkpoint::new(key.origin(), size, tlog_tiles::Hash([1; 32]), "").unwrap();
        let mut note = signed_note::Note::new(&forged.to_bytes(), &[]).unwrap();
        note.add_sigs(&[&signer]).unwrap();
        note.to_bytes()
    };
    // Asked from a stale size, it says which size it cosigned last.
    let conflict = post(ssa_verifier::witness::add_checkpoint_request(
        0,
        &[],
        &forge(1),
    ))
    .await;
    assert_eq!(conflict.status(), 409);
    let cosigned: u64 = conflict.text().await.unwrap().trim().parse().unwrap();
    assert!(cosigned > later.index);
    let refused = post(ssa_verifier::witness::add_checkpoint_request(
        cosigned,
        &[],
        &forge(cosigned + 3),
    ))
    .await;
    assert_eq!(refused.status(), 422);
    process.kill().unwrap();
    process.wait().unwrap();
}
