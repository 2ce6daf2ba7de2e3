//! Proof of control of an authorization server's issuer: a claim counts (published,
//! federated, certified) only once its organisation answers the directory's challenge at the
//! issuer; an unproven claim blocks nobody; collisions reach the operator.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, spawn_app_with};
use crate::registrar::{Service, service};

/// A host for an issuer: the bank's registrar over TLS (a self-signed certificate the
/// directory trusts) with a folder of challenge answers, as a bank would serve them.
pub(crate) struct IssuerHost {
    pub(crate) issuer: String,
    /// Kept running while the host is.
    _service: Service,
    answers: tempfile::TempDir,
}

/// A directory that fetches from loopback and trusts the certificate of `tls_files`' pair.
pub(crate) async fn trusting_app(
    cert_file: &std::path::Path,
    customise: impl FnOnce(&mut ssa_directory::config::Config),
) -> TestApp {
    let cert_file = cert_file.to_owned();
    spawn_app_with(|config| {
        config.push_allow_private_targets = true;
        config.push_ca_file = Some(cert_file);
        customise(config);
    })
    .await
}

impl IssuerHost {
    /// A registrar at `https://127.0.0.1:PORT` with `tls` (certificate and key files).
    pub(crate) async fn start(
        app: &TestApp,
        tls: (std::path::PathBuf, std::path::PathBuf),
        customise: impl FnOnce(&mut ssa_registrar::server::ServerConfig),
    ) -> Self {
        let answers = tempfile::tempdir().unwrap();
        let folder = answers.path().to_owned();
        let service = service(app, |config| {
            config.tls = Some(tls);
            config.challenge_dir = Some(folder);
            customise(config);
        })
        .await;
        Self {
            issuer: service.base.replace("http://", "https://"),
            _service: service,
            answers,
        }
    }

    /// Serves the answer of `claim` (as the organisation's claims list shows it).
    pub(crate) fn answer(&self, claim: &Value) {
        let url = claim["challenge_url"].as_str().unwrap();
        let token = url.rsplit('/').next().unwrap();
        std::fs::write(
            self.answers.path().join(token),
            claim["answer"].as_str().unwrap(),
        )
        .unwrap();
    }
}

/// `org`'s claim to `issuer`.
pub(crate) async fn claim(app: &TestApp, user: &TestUser, org: &str, issuer: &str) -> Value {
    let (status, claims) = app
        .get_json(&format!("/api/v1/organisations/{org}/issuer-claims"), user)
        .await;
    assert_eq!(status, 200, "{claims}");
    claims["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["issuer"] == issuer)
        .unwrap_or_else(|| panic!("no claim to {issuer}: {claims}"))
        .clone()
}

/// Asks the directory to check `org`'s control of `issuer`: the status and body.
pub(crate) async fn verify(
    app: &TestApp,
    user: &TestUser,
    org: &str,
    issuer: &str,
) -> (u16, Value) {
    app.post_json(
        &format!("/api/v1/organisations/{org}/issuer-claims/verify"),
        user,
        json!({ "issuer": issuer }),
    )
    .await
}

/// Publishes `issuer` as `org`'s server (registration endpoint below it) and proves it at
/// `host`.
pub(crate) async fn publish_and_prove(
    app: &TestApp,
    admin: &TestUser,
    org: &str,
    host: &IssuerHost,
) {
    let (status, body) = put_servers(app, admin, org, &host.issuer).await;
    assert_eq!(status, 200, "{body}");
    host.answer(&claim(app, admin, org, &host.issuer).await);
    let (status, body) = verify(app, admin, org, &host.issuer).await;
    assert_eq!(status, 200, "{body}");
}

async fn put_servers(app: &TestApp, admin: &TestUser, org: &str, issuer: &str) -> (u16, Value) {
    app.api(
        reqwest::Method::PUT,
        &format!("/api/v1/organisations/{org}/authorization-servers"),
        Some(&admin.token),
        Some(json!({"authorization_servers": [{
            "issuer": issuer,
            "registration_endpoint": format!("{issuer}/register"),
        }]})),
    )
    .await
}

/// The issuers `/participants` publishes for `org`.
async fn published(app: &TestApp, org: &str) -> Vec<String> {
    let participants: Value = app.get("/participants").await.json().await.unwrap();
    participants["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["org_id"] == org)
        .flat_map(|p| p["authorization_servers"].as_array().unwrap().clone())
        .map(|s| s["issuer"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_issuer_counts_once_proven_an_unproven_claim_blocks_nobody_and_collisions_reach_the_operator()
 {
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = crate::helpers::tls_files(files.path());
    let app = trusting_app(&cert, |_| {}).await;
    let operator = app.user("operator@directory.example", true).await;
    let ready = |email: &'static str| {
        let (app, operator) = (&app, &operator);
        async move {
            let admin = app.user(email, false).await;
            let org = app.apply(&admin, &["ASPSP"]).await;
            app.decide(operator, &format!("/api/v1/organisations/{org}"), "approve")
                .await;
            (admin, org)
        }
    };
    let (mallory, squatter) = ready("admin@squatter.example").await;
    let (bank_admin, bank) = ready("admin@bank.example").await;
    let host = IssuerHost::start(&app, (cert.clone(), key.clone()), |_| {}).await;
    let issuer = host.issuer.clone();

    // Another organisation claims the bank's issuer first: a claim, published nowhere, and
    // its challenge is not answered at the issuer.
    let (status, body) = put_servers(&app, &mallory, &squatter, &issuer).await;
    assert_eq!(status, 200, "{body}");
    let squatted = claim(&app, &mallory, &squatter, &issuer).await;
    assert!(squatted.get("verified_at").is_none(), "{squatted}");
    assert!(
        squatted["challenge_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{issuer}/.well-known/ssa-directory-challenge/"))
    );
    assert!(squatted["answer"].as_str().unwrap().ends_with(&squatter));
    let (status, body) = verify(&app, &mallory, &squatter, &issuer).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("challenge"),
        "{body}"
    );
    assert!(published(&app, &squatter).await.is_empty());

    // It blocks nobody: the bank claims it too, both claims are contested, and the bank
    // proves control at its issuer.
    let (status, body) = put_servers(&app, &bank_admin, &bank, &issuer).await;
    assert_eq!(status, 200, "{body}");
    let mine = claim(&app, &bank_admin, &bank, &issuer).await;
    assert_eq!(mine["contested"], true, "{mine}");
    assert_ne!(mine["answer"], squatted["answer"]);
    host.answer(&mine);
    let (status, proven) = verify(&app, &bank_admin, &bank, &issuer).await;
    assert_eq!(status, 200, "{proven}");
    assert!(proven["verified_at"].is_string(), "{proven}");
    assert_eq!(published(&app, &bank).await, vec![issuer.clone()]);
    assert!(published(&app, &squatter).await.is_empty());
    // The squatter's claim still proves nothing, and it cannot claim a proven issuer again.
    let (status, _) = verify(&app, &mallory, &squatter, &issuer).await;
    assert_eq!(status, 422);
    let (status, body) = put_servers(&app, &mallory, &squatter, "https://elsewhere.example").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = put_servers(&app, &mallory, &squatter, &issuer).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("another participant's entity identifier"),
        "{body}"
    );
    // Only admins prove, and only their own organisation's claims.
    let (status, _) = verify(&app, &mallory, &bank, &issuer).await;
    assert_eq!(status, 404);

    // A collision: the issuer changes hands (the other organisation now answers at it) while
    // the bank holds it proven. 409, and the operator's queue shows it.
    let (mallory_status, _) = put_servers(&app, &mallory, &squatter, &issuer).await;
    assert_eq!(mallory_status, 422, "a proven issuer is not claimed again");
    let (status, contested) = app
        .get_json("/api/v1/issuer-claims/contested", &operator)
        .await;
    assert_eq!(status, 200, "{contested}");
    assert_eq!(contested["items"], json!([]), "one claimant left");
    let third_admin = app.user("admin@newowner.example", false).await;
    let new_owner = app.apply(&third_admin, &["ASPSP"]).await;
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{new_owner}"),
        "approve",
    )
    .await;
    let (status, body) = put_servers(&app, &third_admin, &new_owner, &issuer).await;
    assert_eq!(status, 422, "proven by the bank: {body}");
    let (status, _) = app
        .get_json("/api/v1/issuer-claims/contested", &bank_admin)
        .await;
    assert_eq!(status, 403, "the queue is the operator's");

    // The operator releases the bank's proof; the new owner claims and proves it.
    let release = |org: String, reason: &'static str| {
        let (app, operator, issuer) = (&app, &operator, issuer.clone());
        async move {
            app.post_json(
                &format!("/api/v1/organisations/{org}/issuer-claims/release"),
                operator,
                json!({"issuer": issuer, "reason": reason}),
            )
            .await
        }
    };
    let (status, _) = release(bank.clone(), "").await;
    assert_eq!(status, 422, "a reason is required");
    let (status, body) = release(bank.clone(), "the domain was transferred").await;
    assert_eq!(status, 204, "{body}");
    assert!(published(&app, &bank).await.is_empty());
    let (status, body) = put_servers(&app, &third_admin, &new_owner, &issuer).await;
    assert_eq!(status, 200, "{body}");
    let (status, contested) = app
        .get_json("/api/v1/issuer-claims/contested", &operator)
        .await;
    assert_eq!(status, 200);
    let claimants = contested["items"][0]["claimants"].as_array().unwrap();
    assert_eq!(contested["items"][0]["issuer"], issuer.as_str());
    assert_eq!(claimants.len(), 2, "{contested}");
    let queue = crate::helpers::portal_page(&app, &operator, "/operator/queue").await;
    assert!(queue.contains("id=\"contested-issuers\""), "{queue}");
    assert!(
        queue.contains(&issuer),
        "the operator's queue shows it: {queue}"
    );
    host.answer(&claim(&app, &third_admin, &new_owner, &issuer).await);
    let (status, body) = verify(&app, &third_admin, &new_owner, &issuer).await;
    assert_eq!(status, 200, "{body}");
    // The bank, answering again, collides with the new owner's proof: 409.
    host.answer(&claim(&app, &bank_admin, &bank, &issuer).await);
    let (status, body) = verify(&app, &bank_admin, &bank, &issuer).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("contested"),
        "{body}"
    );
    assert_eq!(published(&app, &new_owner).await, vec![issuer.clone()]);

    // Every step is audited, and the published list's changes are change events.
    let (_, audit) = app
        .get_json(
            "/api/v1/audit?action=organisation.issuer_verified",
            &operator,
        )
        .await;
    assert_eq!(audit["total"], 2, "{audit}");
    let (_, audit) = app
        .get_json(
            "/api/v1/audit?action=organisation.issuer_released",
            &operator,
        )
        .await;
    assert_eq!(audit["items"][0]["reason"], "the domain was transferred");
}
