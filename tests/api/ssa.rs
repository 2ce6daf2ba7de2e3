//! Signed software statements end to end: the JWKS, issuance, verification by an
//! independent implementation (the openssl command line), rotation, status and discovery.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Cast, TestApp, cast, spawn_app, spawn_app_with};

const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn b64d(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).unwrap()
}

/// A JWT's header and claims, without checking anything.
fn parts(jwt: &str) -> (Value, Value) {
    let mut it = jwt.split('.');
    let header = serde_json::from_slice(&b64d(it.next().unwrap())).unwrap();
    let claims = serde_json::from_slice(&b64d(it.next().unwrap())).unwrap();
    (header, claims)
}

/// A PEM public key built from a JWK (RSA or EC).
fn pem_from_jwk(jwk: &Value) -> Vec<u8> {
    use openssl::bn::{BigNum, BigNumContext};
    use openssl::ec::{EcGroup, EcKey, EcPoint};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    let num = |name: &str| BigNum::from_slice(&b64d(jwk[name].as_str().unwrap())).unwrap();
    let key = match jwk["kty"].as_str().unwrap() {
        "RSA" => PKey::from_rsa(Rsa::from_public_components(num("n"), num("e")).unwrap()).unwrap(),
        _ => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            let mut point = EcPoint::new(&group).unwrap();
            let mut ctx = BigNumContext::new().unwrap();
            point
                .set_affine_coordinates_gfp(&group, &num("x"), &num("y"), &mut ctx)
                .unwrap();
            PKey::from_ec_key(EcKey::from_public_key(&group, &point).unwrap()).unwrap()
        }
    };
    key.public_key_to_pem().unwrap()
}

/// Verifies a JWS with the openssl command line against the published JWKS. Returns whether
/// openssl said "Verified OK".
pub fn openssl_verifies(jwt: &str, jwks: &Value) -> bool {
    let (header, _) = parts(jwt);
    let kid = header["kid"].as_str().unwrap();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
    else {
        return false;
    };
    let dir = tempfile::tempdir().unwrap();
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let mut signature = b64d(signature);
    std::fs::write(dir.path().join("input"), input).unwrap();
    std::fs::write(dir.path().join("key.pem"), pem_from_jwk(jwk)).unwrap();
    let mut command = Command::new("openssl");
    command.current_dir(dir.path()).args(["dgst", "-sha256"]);
    match header["alg"].as_str().unwrap() {
        "PS256" => {
            command.args([
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ]);
        }
        "ES256" => {
            // JWS carries r || s; openssl wants a DER ECDSA-Sig-Value.
            let (r, s) = signature.split_at(32);
            let sig = openssl::ecdsa::EcdsaSig::from_private_components(
                openssl::bn::BigNum::from_slice(r).unwrap(),
                openssl::bn::BigNum::from_slice(s).unwrap(),
            )
            .unwrap();
            signature = sig.to_der().unwrap();
        }
        other => panic!("unexpected alg {other}"),
    }
    std::fs::write(dir.path().join("sig"), &signature).unwrap();
    let output = command
        .args(["-verify", "key.pem", "-signature", "sig", "input"])
        .output()
        .expect("the openssl command line");
    String::from_utf8_lossy(&output.stdout).contains("Verified OK")
}

async fn jwks(app: &TestApp) -> Value {
    app.get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap()
}

/// An active organisation with one active software product.
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

async fn issue(app: &TestApp, c: &Cast) -> (u16, String) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/software/{}/ssa", c.software_id)))
        .bearer_auth(&c.developer.token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 201 {
        assert_eq!(response.headers()["content-type"], "application/jwt");
    }
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_jwks_publishes_public_parts_only_with_caching_headers() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the active key and the next one: {body}");
    for key in keys {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "PS256");
        assert!(key["kid"].as_str().unwrap().len() >= 43);
        for private in PRIVATE_MEMBERS {
            assert!(key.get(private).is_none(), "{private} published: {key}");
        }
    }

    let again = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn signing_keys_are_pkcs8_files_with_mode_0600() {
    let app = spawn_app().await;
    let dir = app.dir.path().join("keys/signing");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2);
    let published: Vec<String> = jwks(&app).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{}.pem", k["kid"].as_str().unwrap()))
        .collect();
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        let pem = std::fs::read_to_string(&file).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(published.contains(&name), "{name} is named by its kid");
    }
}

#[tokio::test]
async fn a_passphrase_encrypts_the_key_files() {
    let app = spawn_app_with(|c| {
        c.key_passphrase = Some(ssa_directory::config::Secret::new("a long passphrase"));
    })
    .await;
    for entry in std::fs::read_dir(app.dir.path().join("keys/signing")).unwrap() {
        let pem = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    }
    let c = approved(&app).await;
    let (status, jwt) = issue(&app, &c).await;
    assert_eq!(status, 201, "{jwt}");
    assert!(openssl_verifies(&jwt, &jwks(&app).await));

    let mut config = crate::helpers::test_config(app.dir.path(), &app.db);
    config.key_passphrase = Some(ssa_directory::config::Secret::new("the wrong passphrase"));
    let err = ssa_directory::Application::build(config)
        .await
        .err()
        .expect("a wrong passphrase stops the start");
    assert!(format!("{err:#}").contains("cannot decrypt"), "{err:#}");
}

#[tokio::test]
async fn a_corrupt_key_file_is_a_start_up_error_naming_it() {
    let app = spawn_app().await;
    let dir = app.dir.path().join("keys/signing");
    let victim = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(
        &victim,
        "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let before: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    let config = crate::helpers::test_config(app.dir.path(), &app.db);
    let err = ssa_directory::Application::build(config)
        .await
        .err()
        .expect("a corrupt key stops the start");
    let message = format!("{err:#}");
    assert!(message.contains(victim.to_str().unwrap()), "{message}");
    let after: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(
        before.len(),
        after.len(),
        "no replacement key was generated"
    );
}

#[tokio::test]
async fn an_issued_ssa_verifies_with_openssl_against_the_published_jwks() {
    let app = spawn_app().await;
    let c = approved(&app).await;

    let (status, jwt) = issue(&app, &c).await;

    assert_eq!(status, 201, "{jwt}");
    let (header, claims) = parts(&jwt);
    assert_eq!(header["alg"], "PS256");
    assert_eq!(header["typ"], "JWT");
    let published = jwks(&app).await;
    assert_eq!(
        header["kid"], published["keys"][0]["kid"],
        "the active key signs"
    );
    assert!(openssl_verifies(&jwt, &published));

    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["software_id"], c.software_id.as_str());
    assert_eq!(claims["org_id"], c.org_id.as_str());
    assert_eq!(claims["org_name"], "Example Payments Ltd");
    assert_eq!(claims["org_status"], "Active");
    assert_eq!(claims["software_client_name"], "Example Budgeting App");
    assert_eq!(
        claims["software_redirect_uris"],
        json!(["https://app.example.com/callback"])
    );
    assert_eq!(claims["software_roles"], json!(["AISP"]));
    assert_eq!(claims["software_environment"], "production");
    assert_eq!(
        claims["software_jwks_endpoint"],
        format!(
            "{}/keystore/{}/{}.jwks",
            app.address, c.org_id, c.software_id
        )
    );
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 30 * 24 * 3600);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((claims["iat"].as_i64().unwrap() - now).abs() < 60);

    let mut tampered: Vec<&str> = jwt.split('.').collect();
    let mut forged = claims.clone();
    forged["software_roles"] = json!(["AISP", "PISP"]);
    let forged = URL_SAFE_NO_PAD.encode(forged.to_string());
    tampered[1] = &forged;
    assert!(!openssl_verifies(&tampered.join("."), &published));

    let (_, second) = issue(&app, &c).await;
    assert_ne!(parts(&second).1["jti"], claims["jti"], "every jti is new");

    let (_, audit) = app
        .get_json(
            &format!(
                "/api/v1/audit?action=ssa.issue&subject_id={}",
                c.software_id
            ),
            &c.operator,
        )
        .await;
    assert_eq!(audit["total"], 2);
    assert_eq!(audit["items"][0]["actor"], c.developer.email.as_str());
}

/// Statements are recorded by group commit: many issued at once are each handed out only
/// once recorded, each with its own jti and its own audit event.
#[tokio::test]
async fn concurrent_issuances_are_each_recorded_and_audited() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let results = futures_util::future::join_all((0..40).map(|_| issue(&app, &c))).await;
    let mut jtis = std::collections::BTreeSet::new();
    for (status, jwt) in &results {
        assert_eq!(*status, 201, "{jwt}");
        jtis.insert(parts(jwt).1["jti"].as_str().unwrap().to_owned());
    }
    assert_eq!(jtis.len(), 40, "every jti is new");
    let (_, audit) = app
        .get_json(
            &format!(
                "/api/v1/audit?action=ssa.issue&subject_id={}&per_page=100",
                c.software_id
            ),
            &c.operator,
        )
        .await;
    assert_eq!(audit["total"], 40, "{audit}");
    let audited: std::collections::BTreeSet<String> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let details: Value = serde_json::from_str(e["details"].as_str().unwrap()).unwrap();
            details["jti"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(audited, jtis, "each statement has its own audit event");
    // The recorder's batches add up to the 40 statements, in at most 40 transactions.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let sample = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {metrics}"))
    };
    assert_eq!(sample("ssa_record_batch_size_sum "), 40.0);
    let batches = sample("ssa_record_batch_size_count ");
    assert!((1.0..=40.0).contains(&batches), "{batches}");

    // The token is checked in the same database call as the issuance.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/software/{}/ssa", c.software_id)))
        .bearer_auth("ssad_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/api/v1/software/{}/ssa", c.software_id),
            Some(&c.outsider.token),
            None,
        )
        .await;
    assert_eq!(status, 404, "another organisation's software is not found");
}

#[tokio::test]
async fn es256_and_the_rfc7591_profile_are_configurable() {
    let app = spawn_app_with(|c| {
        c.signing_alg = ssa_directory::config::SigningAlg::ES256;
        c.ssa_profile = ssa_directory::config::SsaProfile::Rfc7591;
        c.ssa_lifetime_secs = 600;
    })
    .await;
    let c = approved(&app).await;
    let (status, jwt) = issue(&app, &c).await;
    assert_eq!(status, 201, "{jwt}");
    let (header, claims) = parts(&jwt);
    assert_eq!(header["alg"], "ES256");
    let published = jwks(&app).await;
    assert_eq!(published["keys"][0]["crv"], "P-256");
    assert!(openssl_verifies(&jwt, &published));
    assert_eq!(claims["client_name"], "Example Budgeting App");
    assert_eq!(
        claims["redirect_uris"],
        json!(["https://app.example.com/callback"])
    );
    assert_eq!(
        claims["jwks_uri"],
        format!(
            "{}/keystore/{}/{}.jwks",
            app.address, c.org_id, c.software_id
        )
    );
    assert!(claims.get("software_client_name").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
}

#[tokio::test]
async fn only_active_software_of_an_active_organisation_gets_a_statement() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (status, body) = issue(&app, &c).await;
    assert_eq!(status, 409, "pending software");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("the software is pending"),
        "{problem}"
    );

    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    assert_eq!(issue(&app, &c).await.0, 201);

    app.decide(&c.operator, &software, "suspend").await;
    let (status, body) = issue(&app, &c).await;
    assert_eq!(status, 409);
    assert!(body.contains("the software is suspended"), "{body}");
    let status: Value = app
        .get(&format!("/status/software/{}", c.software_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "suspended");

    app.decide(&c.operator, &software, "reinstate").await;
    let org = format!("/api/v1/organisations/{}", c.org_id);
    app.decide(&c.operator, &org, "suspend").await;
    let (status, body) = issue(&app, &c).await;
    assert_eq!(status, 409);
    assert!(body.contains("the organisation is suspended"), "{body}");
    let status: Value = app
        .get(&format!("/status/software/{}", c.software_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "suspended", "effective status");
    assert_eq!(status["software_status"], "active");
    assert_eq!(status["org_status"], "suspended");

    let response = app
        .client
        .post(app.url(&format!("/api/v1/software/{}/ssa", c.software_id)))
        .bearer_auth(&c.outsider.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "another organisation's software");
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v1/software/unknown/ssa",
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_half_written_key_file_the_database_does_not_know_is_moved_aside_at_start() {
    let app = spawn_app().await;
    let dir = app.dir.path().join("keys/signing");
    // What `keys rotate` killed between creating the file and writing it used to leave.
    let stray = dir.join("interrupted-rotation.pem");
    std::fs::write(&stray, "").unwrap();
    std::fs::set_permissions(&stray, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A command that only reads moves nothing.
    let listed = cli(&app, &["keys", "list"]);
    assert!(!listed.contains("interrupted-rotation"), "{listed}");
    assert!(stray.exists(), "keys list leaves the folder as it is");

    // The server's start moves it aside, and another such file.
    std::fs::write(dir.join("another.pem"), "not a key").unwrap();
    std::fs::set_permissions(
        dir.join("another.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let sibling = crate::helpers::spawn_sibling(&app).await;
    assert_eq!(sibling.get("/.well-known/jwks.json").await.status(), 200);
    assert!(!stray.exists(), "the stray file no longer has a key's name");
    let aside: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".pem.unusable-"))
        .collect();
    assert_eq!(
        aside.len(),
        2,
        "kept aside for a person to look at: {aside:?}"
    );
}

/// The files of a folder with their contents, to tell that nothing moved or changed.
fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn commands_in_the_wrong_place_never_create_a_database_or_move_encrypted_keys() {
    let app = spawn_app_with(|c| {
        c.key_passphrase = Some(ssa_directory::config::Secret::new("a long passphrase"));
    })
    .await;
    let signing = app.dir.path().join("keys/signing");
    let federation = app.dir.path().join("keys/federation");
    let before = (snapshot(&signing), snapshot(&federation));
    // The directory's keys folder, but neither its database nor its passphrase: the operator
    // of a PostgreSQL directory running a command without DATABASE_URL.
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str], database: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssa-directory"));
        command
            .args(args)
            .current_dir(elsewhere.path())
            .env_remove("DATABASE_URL")
            .env_remove("SSA_DIRECTORY_KEY_PASSPHRASE")
            .env("SSA_DIRECTORY_KEYS_DIR", app.dir.path().join("keys"))
            .env("SSA_DIRECTORY_DATA_DIR", elsewhere.path().join("data"));
        if let Some(url) = database {
            command.env("DATABASE_URL", url);
        }
        command.stdin(std::process::Stdio::null()).output().unwrap()
    };
    for args in [
        &["keys", "list"][..],
        &["keys", "rotate"],
        &["keys", "retire", "--kid", "abc"],
        &["token", "create", "--email", "dev@example.com"],
        &["user", "disable", "--email", "dev@example.com"],
    ] {
        let output = run(args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {output:?}");
        assert!(
            stderr.contains("there is no database at") && stderr.contains("ssa-directory migrate"),
            "{args:?}: {stderr}"
        );
        assert!(
            !elsewhere.path().join("data").exists(),
            "{args:?} created a database"
        );
    }
    assert_eq!(
        (snapshot(&signing), snapshot(&federation)),
        before,
        "no key file moved, changed or added"
    );

    // A database of its own (just migrated), still without the passphrase: the verbs that
    // write refuse the encrypted files they cannot read, and move none of them.
    let migrated = run(&["migrate"], None);
    assert!(migrated.status.success(), "{migrated:?}");
    let output = run(&["keys", "rotate"], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(stderr.contains("SSA_DIRECTORY_KEY_PASSPHRASE"), "{stderr}");
    let listed = run(&["keys", "list"], None);
    assert!(listed.status.success(), "{listed:?}");
    assert_eq!((snapshot(&signing), snapshot(&federation)), before);

    // And the directory itself still starts on its own database, with its keys.
    let sibling = crate::helpers::spawn_sibling(&app).await;
    assert_eq!(sibling.get("/.well-known/jwks.json").await.status(), 200);
    let listed = cli(&app, &["keys", "list"]);
    assert_eq!(listed.matches("active").count(), 2, "{listed}");
}

#[tokio::test]
async fn killing_a_rotation_at_any_moment_never_stops_the_next_start() {
    let app = spawn_app().await;
    for round in 0..6u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssa-directory"))
            .args(["keys", "rotate"])
            .env("DATABASE_URL", &app.db.url)
            .env("SSA_DIRECTORY_KEYS_DIR", app.dir.path().join("keys"))
            .env("SSA_DIRECTORY_DATA_DIR", app.dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5 + round * 25));
        let _ = child.kill();
        let _ = child.wait();
        let listed = cli(&app, &["keys", "list"]);
        assert!(listed.contains("active"), "round {round}: {listed}");
    }
    let sibling = crate::helpers::spawn_sibling(&app).await;
    assert_eq!(sibling.get("/.well-known/jwks.json").await.status(), 200);
}

/// Runs the real command line against the test app's database and keys folder.
fn cli(app: &TestApp, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ssa-directory"))
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("SSA_DIRECTORY_KEYS_DIR", app.dir.path().join("keys"))
        .env("SSA_DIRECTORY_DATA_DIR", app.dir.path().join("data"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn rotation_keeps_old_statements_valid_and_new_ones_use_the_new_key() {
    let app = spawn_app_with(|c| c.key_refresh_secs = 1).await;
    let c = approved(&app).await;
    let (_, old) = issue(&app, &c).await;
    let old_kid = parts(&old).0["kid"].as_str().unwrap().to_owned();
    let before = jwks(&app).await;
    let next_kid = before["keys"][1]["kid"].as_str().unwrap().to_owned();

    let out = cli(&app, &["keys", "rotate"]);
    assert!(out.contains(&next_kid), "{out}");

    // The instance re-reads key state within key_refresh_secs.
    let mut after = jwks(&app).await;
    for _ in 0..40 {
        if after["keys"].as_array().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = jwks(&app).await;
    }
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 3, "active, next and retired: {after}");
    assert_eq!(kids[0], next_kid, "the next key is active now");
    assert!(
        kids.contains(&old_kid.as_str()),
        "the retired key stays published"
    );
    assert!(
        openssl_verifies(&old, &after),
        "the old statement still verifies"
    );

    let (_, new) = issue(&app, &c).await;
    assert_eq!(parts(&new).0["kid"], next_kid.as_str());
    assert!(openssl_verifies(&new, &after));

    let listing = cli(&app, &["keys", "list"]);
    let line = listing.lines().find(|l| l.starts_with(&old_kid)).unwrap();
    assert!(line.contains("retired"), "{listing}");

    let active_kid = kids[0].to_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_ssa-directory"))
        .args(["keys", "retire", "--kid", &active_kid])
        .env("DATABASE_URL", &app.db.url)
        .env("SSA_DIRECTORY_KEYS_DIR", app.dir.path().join("keys"))
        .env("SSA_DIRECTORY_DATA_DIR", app.dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run `keys rotate` first"), "{stderr}");

    // A kid is base64url and may start with '-'; the CLI takes it as a value.
    let output = Command::new(env!("CARGO_BIN_EXE_ssa-directory"))
        .args(["keys", "retire", "--kid", "-Mno-such-key"])
        .env("DATABASE_URL", &app.db.url)
        .env("SSA_DIRECTORY_KEYS_DIR", app.dir.path().join("keys"))
        .env("SSA_DIRECTORY_DATA_DIR", app.dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("signing key"), "{stderr}");
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
}

#[tokio::test]
async fn discovery_metadata_names_every_public_endpoint() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/ssa-directory").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("etag"));
    let meta: Value = response.json().await.unwrap();
    assert_eq!(meta["issuer"], app.address.as_str());
    for (field, path) in [
        ("jwks_uri", "/.well-known/jwks.json"),
        ("status_endpoint", "/status/software"),
        ("participants_endpoint", "/participants"),
        ("keystore_endpoint", "/keystore"),
        ("api_base", "/api/v1"),
    ] {
        assert_eq!(meta[field], format!("{}{path}", app.address), "{field}");
    }
    let jwks_uri = meta["jwks_uri"].as_str().unwrap();
    assert_eq!(reqwest::get(jwks_uri).await.unwrap().status(), 200);
}

#[tokio::test]
async fn status_lists_paginate_with_etags() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    app.register(&c.developer, &c.org_id, "sandbox").await;
    let response = app.get("/status/software?limit=1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=30");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().unwrap();
    let last: Value = app
        .get(&format!("/status/software?limit=1&after={next}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert!(
        last.get("next").is_none(),
        "two products, two pages: {last}"
    );
    assert_ne!(last["items"][0], page["items"][0]);
    let unchanged = app
        .client
        .get(app.url("/status/software?limit=1"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    app.decide(
        &c.operator,
        &format!("/api/v1/organisations/{}", c.org_id),
        "suspend",
    )
    .await;
    let changed = app
        .client
        .get(app.url("/status/software?limit=1"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200, "a status change makes a new version");
    assert_eq!(app.get("/status/software/nope").await.status(), 404);
}

#[tokio::test]
async fn participants_list_active_organisations_and_aspsp_servers() {
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = crate::helpers::tls_files(files.path());
    let app = crate::issuers::trusting_app(&cert, |_| {}).await;
    let operator = app.user("op@directory.example", true).await;
    let bank = app.user("admin@bank.example", false).await;
    let bank_org = app.apply(&bank, &["ASPSP"]).await;
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{bank_org}"),
        "approve",
    )
    .await;
    let pending = app.user("admin@pending.example", false).await;
    app.apply(&pending, &["AISP"]).await;

    let (status, body) = app
        .api(
            Method::PUT,
            &format!("/api/v1/organisations/{bank_org}/authorization-servers"),
            Some(&bank.token),
            Some(json!({"authorization_servers": [
                {"issuer": "http://as.bank.example", "registration_endpoint": "https://as.bank.example/register"}
            ]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // Published once the bank proves it controls the issuer.
    let host = crate::issuers::IssuerHost::start(&app, (cert, key), |_| {}).await;
    crate::issuers::publish_and_prove(&app, &bank, &bank_org, &host).await;

    let list: Value = app.get("/participants").await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only active organisations: {list}");
    assert_eq!(items[0]["org_id"], bank_org.as_str());
    assert_eq!(items[0]["roles"], json!(["ASPSP"]));
    assert_eq!(
        items[0]["authorization_servers"][0]["registration_endpoint"],
        format!("{}/register", host.issuer)
    );
}

/// The claims of a fresh statement for `software_id`, as `user` gets it.
async fn claims_of(app: &TestApp, software_id: &str, user: &crate::helpers::TestUser) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/software/{software_id}/ssa")))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    parts(&response.text().await.unwrap()).1
}

#[tokio::test]
async fn an_approved_product_needs_a_fresh_decision_to_reach_production_or_gain_a_role() {
    let app = spawn_app_with(|c| c.auto_approve_sandbox = true).await;
    let c = cast(&app).await;
    let id = app.register(&c.developer, &c.org_id, "sandbox").await;
    let path = format!("/api/v1/software/{id}");
    let claims = claims_of(&app, &id, &c.developer).await;
    assert_eq!(claims["software_environment"], "sandbox", "auto-approved");

    // The member asks for production, a new role and new redirect URIs at once.
    let (status, product) = app
        .api(
            Method::PATCH,
            &path,
            Some(&c.developer.token),
            Some(json!({
                "environment": "production",
                "roles": ["AISP", "PISP"],
                "redirect_uris": ["https://app.example.com/new-callback"],
            })),
        )
        .await;
    assert_eq!(status, 202, "part of it waits: {product}");
    crate::helpers::assert_conforms("Software", &product);
    assert_eq!(product["environment"], "sandbox");
    assert_eq!(product["roles"], json!(["AISP"]));
    assert_eq!(
        product["redirect_uris"],
        json!(["https://app.example.com/new-callback"]),
        "redirect URIs apply at once"
    );
    assert_eq!(product["pending_change"]["environment"], "production");
    assert_eq!(product["pending_change"]["roles"], json!(["AISP", "PISP"]));
    assert_eq!(
        product["pending_change"]["requested_by"],
        "dev@fintech.example"
    );

    let claims = claims_of(&app, &id, &c.developer).await;
    assert_eq!(
        claims["software_environment"], "sandbox",
        "not before a decision"
    );
    assert_eq!(claims["software_roles"], json!(["AISP"]));
    assert_eq!(
        claims["software_redirect_uris"],
        json!(["https://app.example.com/new-callback"])
    );

    // Audited with the old and new values.
    let (_, audit) = app
        .get_json(
            &format!("/api/v1/audit?subject_id={id}&per_page=100"),
            &c.operator,
        )
        .await;
    let details = |action: &str| -> Value {
        let event = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action}: {audit}"));
        serde_json::from_str(event["details"].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        details("software.update")["redirect_uris"]["from"],
        json!(["https://app.example.com/callback"])
    );
    let requested = details("software.change_request");
    assert_eq!(requested["environment"]["from"], "sandbox");
    assert_eq!(requested["environment"]["to"], "production");
    assert_eq!(requested["roles"]["to"], json!(["AISP", "PISP"]));

    // The queue lists it; only operators decide.
    let (_, queue) = app
        .get_json("/api/v1/software?pending_change=true", &c.operator)
        .await;
    assert_eq!(queue["total"], 1, "{queue}");
    crate::helpers::assert_conforms("Page_Software", &queue);
    assert_eq!(queue["items"][0]["id"], id.as_str());
    let (status, _) = app
        .post_json(&format!("{path}/changes/approve"), &c.admin, json!({}))
        .await;
    assert_eq!(status, 403, "members cannot approve their own change");
    let (status, product) = app
        .post_json(&format!("{path}/changes/approve"), &c.operator, json!({}))
        .await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["environment"], "production");
    assert_eq!(product["pending_change"], Value::Null);
    let claims = claims_of(&app, &id, &c.developer).await;
    assert_eq!(claims["software_environment"], "production");
    assert_eq!(claims["software_roles"], json!(["AISP", "PISP"]));

    // Narrowing applies at once; widening again waits, and a rejection needs a reason.
    let (status, product) = app
        .api(
            Method::PATCH,
            &path,
            Some(&c.developer.token),
            Some(json!({"roles": ["PISP"]})),
        )
        .await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["roles"], json!(["PISP"]));
    let (status, _) = app
        .api(
            Method::PATCH,
            &path,
            Some(&c.developer.token),
            Some(json!({"roles": ["AISP"]})),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = app
        .post_json(&format!("{path}/changes/reject"), &c.operator, json!({}))
        .await;
    assert_eq!(status, 422, "a rejection says why");
    let (status, product) = app
        .post_json(
            &format!("{path}/changes/reject"),
            &c.operator,
            json!({"reason": "AISP needs its own review"}),
        )
        .await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["roles"], json!(["PISP"]));
    assert_eq!(product["pending_change"], Value::Null);

    // The member may withdraw a request.
    let (status, _) = app
        .api(
            Method::PATCH,
            &path,
            Some(&c.developer.token),
            Some(json!({"roles": ["AISP", "PISP"]})),
        )
        .await;
    assert_eq!(status, 202);
    let (status, product) = app
        .api(
            Method::DELETE,
            &format!("{path}/changes"),
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["pending_change"], Value::Null);
    let (status, _) = app
        .post_json(&format!("{path}/changes/approve"), &c.operator, json!({}))
        .await;
    assert_eq!(status, 409, "nothing waits");

    // A product not yet approved is decided on as it then stands.
    let (status, product) = app
        .api(
            Method::PATCH,
            &format!("/api/v1/software/{}", c.software_id),
            Some(&c.developer.token),
            Some(json!({"environment": "sandbox", "roles": ["AISP", "PISP"]})),
        )
        .await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["roles"], json!(["AISP", "PISP"]));
    assert_eq!(product["pending_change"], Value::Null);
}
