//! The registrar's decision (the `ssa-registrar` library core) against the real directory:
//! statements, policies, profiles, Appendix A modes, custom rules and client certificates.

use std::sync::Arc;

use serde_json::{Value, json};
use ssa_registrar::{
    Access, Client, ClientIds, Interceptor, Policy, Presented, Registrar, RegistrationError,
    SecurityProfile, Statements,
};

use crate::helpers::TestApp;
use crate::verifier::{approved, blocking, issue, parts, sign_as_directory, sign_ps256};

const BANK: &str = "https://bank.example";

fn registrar(app: &TestApp, policy: Policy) -> Arc<Registrar> {
    Arc::new(Registrar::discover(policy, &[app.address.as_str()], BANK).unwrap())
}

/// Decides `body` off the async runtime (the verifier fetches with blocking I/O).
async fn decide(
    registrar: &Arc<Registrar>,
    body: Value,
    presented: Presented,
) -> Result<Client, RegistrationError> {
    let registrar = registrar.clone();
    blocking(move || registrar.register(&body.to_string(), &presented)).await
}

#[track_caller]
fn refused(result: Result<Client, RegistrationError>) -> (String, String) {
    let e = result.expect_err("refused");
    (e.error.as_str().to_owned(), e.error_description)
}

#[tokio::test]
async fn fapi2_registers_a_client_from_a_statement_and_refuses_what_it_does_not_allow() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let r = registrar(&app, Policy::for_profile(SecurityProfile::Fapi2));

    let client = decide(&r, json!({"software_statement": jwt}), Presented::default())
        .await
        .unwrap();
    assert!(uuid::Uuid::parse_str(&client.client_id).is_ok());
    assert!(!client.shared && !client.needs_secret);
    let m = &client.metadata;
    assert_eq!(m["software_id"], c.software_id.as_str());
    assert_eq!(m["org_id"], c.org_id.as_str());
    assert_eq!(m["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(m["token_endpoint_auth_signing_alg"], "PS256");
    assert_eq!(
        m["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(m["response_types"], json!(["code"]));
    assert_eq!(m["scope"], "openid accounts", "the roles' scopes (AISP)");
    assert!(m["jwks_uri"].as_str().unwrap().contains(&c.software_id));
    let facts = client.statement.as_ref().unwrap();
    assert_eq!(facts.software_id, c.software_id);
    assert_eq!(facts.issuer, app.address);
    let response = client.information_response(1, None, "rat", "https://bank.example/register/x");
    assert_eq!(response["client_id"], client.client_id.as_str());
    assert_eq!(response["registration_access_token"], "rat");
    assert!(response.get("client_secret").is_none());

    let statement_redirect = m["redirect_uris"][0].as_str().unwrap().to_owned();
    let cases = [
        (
            json!({"redirect_uris": ["https://elsewhere.example/cb"]}),
            "invalid_redirect_uri",
            "not one of",
        ),
        (
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            "invalid_client_metadata",
            "client_secret_basic",
        ),
        (
            json!({"scope": "openid fundsconfirmations"}),
            "invalid_client_metadata",
            "fundsconfirmations",
        ),
        (
            json!({"id_token_signed_response_alg": "RS256"}),
            "invalid_client_metadata",
            "RS256",
        ),
        (
            json!({"grant_types": ["implicit"]}),
            "invalid_client_metadata",
            "implicit",
        ),
        (
            json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
            "invalid_client_metadata",
            "authorization_code",
        ),
        (
            json!({"software_id": "someone-else"}),
            "invalid_client_metadata",
            "differs",
        ),
    ];
    for (extra, code, words) in cases {
        let mut body = json!({"software_statement": jwt, "redirect_uris": [statement_redirect]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (error, description) = refused(decide(&r, body.clone(), Presented::default()).await);
        assert_eq!(error, code, "{body}: {description}");
        assert!(description.contains(words), "{body}: {description}");
    }

    // Statements: required, verified, trusted, approved.
    let (error, _) = refused(
        decide(
            &r,
            json!({"redirect_uris": [statement_redirect]}),
            Presented::default(),
        )
        .await,
    );
    assert_eq!(error, "invalid_software_statement");
    let (header, claims) = parts(&jwt);
    let kid = header["kid"].as_str().unwrap();
    let mut elsewhere = claims.clone();
    elsewhere["iss"] = json!("https://other-directory.example");
    let untrusted = sign_as_directory(&app, kid, &elsewhere);
    // Expired, or signed with a key the directory does not publish.
    let mut expired = claims.clone();
    expired["iat"] = json!(claims["iat"].as_i64().unwrap() - 7200);
    expired["exp"] = json!(claims["iat"].as_i64().unwrap() - 3600);
    let stranger = openssl::rsa::Rsa::generate(2048).unwrap();
    let unknown_kid = sign_ps256(
        &stranger.private_key_to_der().unwrap(),
        "not-a-directory-key",
        &claims,
    );
    for (statement, words) in [
        (sign_as_directory(&app, kid, &expired), "expired"),
        (unknown_kid, "not-a-directory-key"),
    ] {
        let (error, description) = refused(
            decide(
                &r,
                json!({"software_statement": statement}),
                Presented::default(),
            )
            .await,
        );
        assert_eq!(error, "invalid_software_statement", "{description}");
        assert!(description.contains(words), "{description}");
    }
    let (error, description) = refused(
        decide(
            &r,
            json!({"software_statement": untrusted}),
            Presented::default(),
        )
        .await,
    );
    assert_eq!(error, "invalid_software_statement");
    assert!(
        description.contains("not a directory trusted here"),
        "{description}"
    );
    let mut pieces: Vec<&str> = jwt.split('.').collect();
    let forged_payload = {
        use base64::Engine;
        let mut forged = claims.clone();
        forged["software_roles"] = json!(["AISP", "PISP", "CBPII"]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string())
    };
    pieces[1] = &forged_payload;
    let (error, _) = refused(
        decide(
            &r,
            json!({"software_statement": pieces.join(".")}),
            Presented::default(),
        )
        .await,
    );
    assert_eq!(error, "invalid_software_statement", "a tampered statement");
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "suspend",
    )
    .await;
    let (error, _) =
        refused(decide(&r, json!({"software_statement": jwt}), Presented::default()).await);
    assert_eq!(
        error, "unapproved_software_statement",
        "a suspended product"
    );
}

#[tokio::test]
async fn each_appendix_a_mode_and_profile_decides_as_configured() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;

    // A.1: protected registration needs the initial access token.
    let mut policy = Policy::for_profile(SecurityProfile::Fapi2);
    policy.access = Access::Protected;
    let r = registrar(&app, policy);
    let e = decide(&r, json!({"software_statement": jwt}), Presented::default())
        .await
        .unwrap_err();
    assert_eq!((e.error.as_str(), e.status()), ("invalid_token", 401));
    let with_token = Presented {
        initial_access_token: true,
        ..Presented::default()
    };
    assert!(
        decide(&r, json!({"software_statement": jwt}), with_token)
            .await
            .is_ok()
    );

    // A.2: optional statements; metadata alone is held to the profile's rules.
    let mut policy = Policy::for_profile(SecurityProfile::Fapi2);
    policy.statements = Statements::Optional;
    let r = registrar(&app, policy);
    let alone = json!({"redirect_uris": ["https://app.example/cb"], "jwks_uri": "https://app.example/jwks"});
    let client = decide(&r, alone.clone(), Presented::default())
        .await
        .unwrap();
    assert!(client.statement.is_none());
    assert_eq!(
        client.metadata["scope"],
        "openid accounts payments fundsconfirmations"
    );
    let (error, _) = refused(decide(&r, json!({"redirect_uris": ["http://app.example/cb"], "jwks_uri": "https://app.example/jwks"}), Presented::default()).await);
    assert_eq!(error, "invalid_redirect_uri");
    let (error, _) = refused(
        decide(
            &r,
            json!({"redirect_uris": ["https://app.example/cb"]}),
            Presented::default(),
        )
        .await,
    );
    assert_eq!(
        error, "invalid_client_metadata",
        "private_key_jwt needs the client's keys"
    );
    // ... and ignored statements are dropped unread.
    let mut policy = Policy::for_profile(SecurityProfile::Fapi2);
    policy.statements = Statements::Ignored;
    let r = registrar(&app, policy);
    let mut with_statement = alone.clone();
    with_statement["software_statement"] = json!("not even a JWS");
    let client = decide(&r, with_statement, Presented::default())
        .await
        .unwrap();
    assert!(client.statement.is_none());
    assert!(client.metadata.get("software_statement").is_none());

    // A.4: a client id shared per software.
    let mut policy = Policy::for_profile(SecurityProfile::Fapi2);
    policy.client_ids = ClientIds::PerSoftware;
    let r = registrar(&app, policy);
    let client = decide(&r, json!({"software_statement": jwt}), Presented::default())
        .await
        .unwrap();
    assert_eq!(
        (client.client_id.as_str(), client.shared),
        (c.software_id.as_str(), true)
    );

    // open: secrets and loopback redirect URIs are allowed.
    let mut policy = Policy::for_profile(SecurityProfile::Open);
    policy.statements = Statements::Optional;
    let r = registrar(&app, policy);
    let client = decide(
        &r,
        json!({"redirect_uris": ["http://127.0.0.1:8000/cb"]}),
        Presented::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        client.metadata["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert!(client.needs_secret);
    let response =
        client.information_response(1, Some("s3cret"), "rat", "https://bank.example/register/x");
    assert_eq!(
        (
            response["client_secret"].as_str(),
            response["client_secret_expires_at"].as_i64()
        ),
        (Some("s3cret"), Some(0))
    );

    // obuk and cdr: a signed request; cdr: a statement at most ten minutes old.
    for profile in [SecurityProfile::Obuk, SecurityProfile::Cdr] {
        let r = registrar(&app, Policy::for_profile(profile));
        let (error, description) =
            refused(decide(&r, json!({"software_statement": jwt}), Presented::default()).await);
        assert_eq!(error, "invalid_client_metadata", "{profile:?}");
        assert!(description.contains("signed"), "{description}");
    }
    let (header, claims) = parts(&jwt);
    let mut old = claims.clone();
    old["iat"] = json!(claims["iat"].as_i64().unwrap() - 900);
    let old = sign_as_directory(&app, header["kid"].as_str().unwrap(), &old);
    let mut policy = Policy::for_profile(SecurityProfile::Cdr);
    policy.signed_requests = false;
    let r = registrar(&app, policy.clone());
    let (error, description) =
        refused(decide(&r, json!({"software_statement": old}), Presented::default()).await);
    assert_eq!(error, "invalid_software_statement", "{description}");
    assert!(
        decide(&r, json!({"software_statement": jwt}), Presented::default())
            .await
            .is_ok()
    );
}

struct HouseRules;

impl Interceptor for HouseRules {
    fn before(
        &self,
        metadata: &ssa_verifier::ClientMetadata,
        _: Option<&ssa_verifier::SoftwareStatement>,
    ) -> Result<(), RegistrationError> {
        if metadata
            .get("contacts")
            .is_some_and(|c| c.to_string().contains("blocked.example"))
        {
            return Err(RegistrationError::metadata(
                "contacts at blocked.example are not accepted",
            ));
        }
        Ok(())
    }

    fn after(&self, client: &mut Client) -> Result<(), RegistrationError> {
        client.metadata.insert("bank_tier".into(), json!("gold"));
        Ok(())
    }
}

#[tokio::test]
async fn custom_rules_refuse_or_adjust_and_tls_client_auth_binds_the_certificate() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let r = Arc::new(
        Registrar::discover(
            Policy::for_profile(SecurityProfile::Fapi2),
            &[app.address.as_str()],
            BANK,
        )
        .unwrap()
        .with_interceptor(HouseRules),
    );
    let (error, _) = refused(
        decide(
            &r,
            json!({"software_statement": jwt, "contacts": ["ops@blocked.example"]}),
            Presented::default(),
        )
        .await,
    );
    assert_eq!(error, "invalid_client_metadata");
    let client = decide(&r, json!({"software_statement": jwt}), Presented::default())
        .await
        .unwrap();
    assert_eq!(client.metadata["bank_tier"], "gold");

    // tls_client_auth: the directory's transport certificate of this product binds; none, or
    // another product's, does not.
    let dir = tempfile::tempdir().unwrap();
    let certificate = |software: String| {
        let csr = crate::pki::make_csr(dir.path(), &software, "rsa:2048", "/CN=x");
        (software, csr)
    };
    let (software, csr) = certificate(c.software_id.clone());
    let (status, issued) = app
        .post_json(
            &format!("/api/v1/software/{software}/certificates"),
            &c.developer,
            json!({"type": "transport", "csr": csr}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let body = json!({
        "software_statement": jwt,
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": issued["subject"],
    });
    let (error, description) = refused(decide(&r, body.clone(), Presented::default()).await);
    assert_eq!(error, "invalid_client_metadata");
    assert!(description.contains("certificate"), "{description}");
    let with_certificate = Presented {
        client_certificate: Some(issued["certificate"].as_str().unwrap().to_owned()),
        ..Presented::default()
    };
    let client = decide(&r, body.clone(), with_certificate).await.unwrap();
    assert_eq!(
        client.certificate_subject.as_deref(),
        issued["subject"].as_str()
    );

    let other = app.register(&c.developer, &c.org_id, "production").await;
    app.decide(&c.operator, &format!("/api/v1/software/{other}"), "approve")
        .await;
    let (other, csr) = certificate(other);
    let (status, foreign) = app
        .post_json(
            &format!("/api/v1/software/{other}/certificates"),
            &c.developer,
            json!({"type": "transport", "csr": csr}),
        )
        .await;
    assert_eq!(status, 201, "{foreign}");
    let with_foreign = Presented {
        client_certificate: Some(foreign["certificate"].as_str().unwrap().to_owned()),
        ..Presented::default()
    };
    let (error, _) = refused(decide(&r, body, with_foreign).await);
    assert_eq!(
        error, "invalid_client_metadata",
        "another product's certificate"
    );
}

/// A running registration service on its own fresh database, trusting `app`.
pub(crate) struct Service {
    pub(crate) base: String,
    handle: actix_web::dev::ServerHandle,
    db: crate::helpers::TestDatabase,
    _dir: tempfile::TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

pub(crate) async fn service(
    app: &TestApp,
    customise: impl FnOnce(&mut ssa_registrar::server::ServerConfig),
) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDatabase::create(dir.path());
    let mut config = ssa_registrar::server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        directories: vec![app.address.clone()],
        database_url: db.url.clone(),
        keys_dir: dir.path().join("keys"),
        ..Default::default()
    };
    customise(&mut config);
    let running = ssa_registrar::server::start(config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", running.port);
    let handle = running.handle.clone();
    tokio::spawn(running.server);
    Service {
        base,
        handle,
        db,
        _dir: dir,
    }
}

pub(crate) async fn call(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = crate::helpers::request(&crate::helpers::client(), method, url, token, body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// Checks the members RFC 7591 section 3.2.1 and RFC 7592 section 3 make REQUIRED in every
/// client information response (registration, read and update), and that no member is null.
#[track_caller]
pub(crate) fn information_response(body: &Value, token: &str, uri: &str) {
    assert!(
        body["client_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert_eq!(body["registration_access_token"], token, "{body}");
    assert_eq!(body["registration_client_uri"], uri, "{body}");
    if body.get("client_secret").is_some() {
        assert!(
            body["client_secret_expires_at"].is_i64(),
            "REQUIRED with a secret: {body}"
        );
    }
    for (name, value) in body.as_object().unwrap() {
        assert!(!value.is_null(), "{name} is null: {body}");
    }
}

#[tokio::test]
async fn the_registration_service_registers_reads_updates_and_deletes_clients() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let s = service(&app, |_| {}).await;
    let register = format!("{}/register", s.base);

    let (status, headers, client) = call(
        reqwest::Method::POST,
        &register,
        None,
        Some(json!({"software_statement": jwt})),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    assert_eq!(headers["cache-control"], "no-store");
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let uri = client["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(uri, format!("{}/register/{client_id}", s.base));
    let token = client["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    information_response(&client, &token, &uri);
    assert_eq!(client["software_id"], c.software_id.as_str());
    assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
    assert!(client.get("client_secret").is_none());

    // The same statement again is a replay.
    let (status, _, body) = call(
        reqwest::Method::POST,
        &register,
        None,
        Some(json!({"software_statement": jwt})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_software_statement")),
        "{body}"
    );
    assert!(
        body["error_description"].as_str().unwrap().contains("used"),
        "{body}"
    );
    let (status, _, body) = call(
        reqwest::Method::POST,
        &register,
        None,
        Some(json!({"redirect_uris": ["https://x.example/cb"]})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_software_statement"))
    );

    // RFC 7592 read: only with the registration access token.
    let (status, _, read) = call(reqwest::Method::GET, &uri, Some(&token), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["client_id"], client_id.as_str());
    information_response(&read, &token, &uri);
    let (status, headers, body) = call(reqwest::Method::GET, &uri, None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        call(reqwest::Method::GET, &uri, Some("ssarat_wrong"), None)
            .await
            .0,
        401
    );

    // Update: every check again; a redirect URI outside the statement is refused; a good
    // update rotates the token.
    let (status, _, body) = call(
        reqwest::Method::PUT,
        &uri,
        Some(&token),
        Some(json!({"client_id": client_id, "redirect_uris": ["https://elsewhere.example/cb"]})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_redirect_uri")),
        "{body}"
    );
    let (status, _, body) = call(
        reqwest::Method::PUT,
        &uri,
        Some(&token),
        Some(json!({"client_id": client_id, "registration_access_token": token})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let (status, _, updated) = call(
        reqwest::Method::PUT,
        &uri,
        Some(&token),
        Some(json!({"client_id": client_id, "scope": "openid", "client_name": "ignored: the statement's wins"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_id"], client_id.as_str());
    assert_eq!(updated["scope"], "openid");
    assert_eq!(updated["client_name"], client["client_name"]);
    let rotated = updated["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, token);
    information_response(&updated, &rotated, &uri);
    assert_eq!(
        call(reqwest::Method::GET, &uri, Some(&token), None).await.0,
        401,
        "the old token is gone"
    );
    let (_, _, read) = call(reqwest::Method::GET, &uri, Some(&rotated), None).await;
    assert_eq!(read["scope"], "openid");
    information_response(&read, &rotated, &uri);

    // Delete: the client is gone.
    assert_eq!(
        call(reqwest::Method::DELETE, &uri, Some(&rotated), None)
            .await
            .0,
        204
    );
    assert_eq!(
        call(reqwest::Method::GET, &uri, Some(&rotated), None)
            .await
            .0,
        401
    );
    // The client store hears of the update and the deletion, and knows the client no more.
    let store = format!("{}/clients/{client_id}", s.base);
    assert_eq!(call(reqwest::Method::GET, &store, None, None).await.0, 404);
    let (_, _, changes) = call(
        reqwest::Method::GET,
        &format!("{}/clients/changes", s.base),
        None,
        None,
    )
    .await;
    let events: Vec<(&str, &str)> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["event"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [("updated", "active"), ("deleted", "disabled")],
        "{changes}"
    );
}

#[tokio::test]
async fn protected_registration_needs_an_initial_token_and_shared_ids_return_the_same_client() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let s = service(&app, |config| config.registration = Access::Protected).await;
    let register = format!("{}/register", s.base);
    let jwt = issue(&app, &c).await;
    let (status, _, body) = call(
        reqwest::Method::POST,
        &register,
        None,
        Some(json!({"software_statement": jwt})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, _, body) = call(
        reqwest::Method::POST,
        &register,
        Some("ssar_not-a-token"),
        Some(json!({"software_statement": jwt})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token")),
        "a wrong token"
    );
    let url = s.db.url.clone();
    let token = blocking(move || ssa_registrar::server::create_initial_token(&url, true, None))
        .await
        .unwrap();
    let (status, _, body) = call(
        reqwest::Method::POST,
        &register,
        Some(&token),
        Some(json!({"software_statement": jwt})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let again = issue(&app, &c).await;
    let (status, _, body) = call(
        reqwest::Method::POST,
        &register,
        Some(&token),
        Some(json!({"software_statement": again})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token")),
        "a single-use token is spent"
    );

    let shared = service(&app, |config| config.client_ids = ClientIds::PerSoftware).await;
    let register = format!("{}/register", shared.base);
    let (status, _, first) = call(
        reqwest::Method::POST,
        &register,
        None,
        Some(json!({"software_statement": issue(&app, &c).await})),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["client_id"], c.software_id.as_str());
    let (status, _, second) = call(
        reqwest::Method::POST,
        &register,
        None,
        Some(json!({"software_statement": issue(&app, &c).await})),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["client_id"], first["client_id"]);
    assert_eq!(second["client_id_issued_at"], first["client_id_issued_at"]);
}

/// A transport certificate of `software` from the directory, with its key (PEM).
pub(crate) async fn transport_certificate(
    app: &TestApp,
    c: &crate::helpers::Cast,
    software: &str,
    dir: &std::path::Path,
) -> (Value, String) {
    let csr = crate::pki::make_csr(dir, software, "rsa:2048", "/CN=x");
    let (status, issued) = app
        .post_json(
            &format!("/api/v1/software/{software}/certificates"),
            &c.developer,
            json!({"type": "transport", "csr": csr}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let key = std::fs::read_to_string(dir.join(format!("{software}.key"))).unwrap();
    (issued, key)
}

/// An HTTPS client trusting `ca_pem`, presenting `identity` (certificate and key PEM).
pub(crate) fn tls_client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pkcs8_pem(cert.as_bytes(), key.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn the_registrar_serves_tls_with_a_certificate_the_directory_issued_for_its_host() {
    // The bank first proves it controls its issuer on 127.0.0.1, there with a certificate of
    // its own (self-signed here, trusted by the directory).
    let bootstrap = tempfile::tempdir().unwrap();
    let (own_cert, own_key) = crate::helpers::tls_files(bootstrap.path());
    let app = crate::issuers::trusting_app(&own_cert, |_| {}).await;
    let c = approved(&app).await;
    // The bank: an ASPSP with a product for its registration service.
    let admin = app.user("admin@bank.example", false).await;
    let bank = app.apply(&admin, &["ASPSP", "AISP"]).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/organisations/{bank}"),
        "approve",
    )
    .await;
    let product = app.register(&admin, &bank, "production").await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{product}"),
        "approve",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let csr_for = |names: &str| {
        crate::pki::make_csr_with(dir.path(), "registrar", "ec:P-256", "/CN=x", Some(names))
    };
    let ask = |csr: String| {
        let (app, admin, product) = (&app, &admin, &product);
        async move {
            app.post_json(
                &format!("/api/v1/software/{product}/certificates"),
                admin,
                json!({"type": "transport", "csr": csr}),
            )
            .await
        }
    };
    // A host the organisation has not registered is refused.
    let (status, refusal) = ask(csr_for("IP:127.0.0.1")).await;
    assert_eq!(status, 422, "{refusal}");
    assert!(
        refusal["detail"].as_str().unwrap().contains("127.0.0.1"),
        "{refusal}"
    );
    let host = crate::issuers::IssuerHost::start(&app, (own_cert, own_key), |_| {}).await;
    let (status, put) = app
        .api(
            reqwest::Method::PUT,
            &format!("/api/v1/organisations/{bank}/authorization-servers"),
            Some(&admin.token),
            Some(json!({"authorization_servers": [{
                "issuer": host.issuer,
                "registration_endpoint": format!("{}/register", host.issuer),
            }]})),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    // Claimed but not proven: its host is not certified yet.
    let (status, refusal) = ask(csr_for("IP:127.0.0.1")).await;
    assert_eq!(status, 422, "{refusal}");
    crate::issuers::publish_and_prove(&app, &admin, &bank, &host).await;
    let (status, refusal) = ask(csr_for("IP:127.0.0.1,DNS:bank.elsewhere.example")).await;
    assert_eq!(status, 422, "{refusal}");
    assert!(
        refusal["detail"]
            .as_str()
            .unwrap()
            .contains("bank.elsewhere.example"),
        "{refusal}"
    );
    let (status, issued) = ask(csr_for("IP:127.0.0.1")).await;
    assert_eq!(status, 201, "{issued}");

    // The registrar presents it with the directory's chain; a client trusting only the
    // directory's CA checks its name and registers.
    let chain = issued["chain"].as_str().unwrap();
    let (cert_file, key_file) = (dir.path().join("tls.pem"), dir.path().join("registrar.key"));
    std::fs::write(
        &cert_file,
        format!("{}{chain}", issued["certificate"].as_str().unwrap()),
    )
    .unwrap();
    let s = service(&app, |config| config.tls = Some((cert_file, key_file))).await;
    let client = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(chain.as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = client
        .post(format!(
            "{}/register",
            s.base.replace("http://", "https://")
        ))
        .json(&json!({"software_statement": issue(&app, &c).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_client_registers_over_mutual_tls_with_its_directory_certificate() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    // The registrar's own certificate, for 127.0.0.1.
    let key = rcgen::KeyPair::generate().unwrap();
    let own = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
    std::fs::write(&cert_file, own.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let s = service(&app, |config| {
        config.tls = Some((cert_file, key_file));
        config.mtls = ssa_registrar::server::Mtls::Required;
    })
    .await;
    let register = format!("{}/register", s.base.replace("http://", "https://"));

    let (issued, cert_key) = transport_certificate(&app, &c, &c.software_id, dir.path()).await;
    let identity = (issued["certificate"].as_str().unwrap(), cert_key.as_str());
    let client = tls_client(&own.pem(), Some(identity));
    let body = |jwt: &str| {
        json!({
            "software_statement": jwt,
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": issued["subject"],
        })
    };
    let response = client
        .post(&register)
        .json(&body(&issue(&app, &c).await))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["token_endpoint_auth_method"], "tls_client_auth");
    assert_eq!(registered["tls_client_auth_subject_dn"], issued["subject"]);

    // Another product's certificate does not bind to this product's statement.
    let other = app.register(&c.developer, &c.org_id, "production").await;
    app.decide(&c.operator, &format!("/api/v1/software/{other}"), "approve")
        .await;
    let (foreign, foreign_key) = transport_certificate(&app, &c, &other, dir.path()).await;
    let stranger = tls_client(
        &own.pem(),
        Some((
            foreign["certificate"].as_str().unwrap(),
            foreign_key.as_str(),
        )),
    );
    let response = stranger
        .post(&register)
        .json(&body(&issue(&app, &c).await))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let refusal: Value = response.json().await.unwrap();
    assert_eq!(refusal["error"], "invalid_client_metadata", "{refusal}");

    // Without a client certificate there is no TLS connection at all.
    let anonymous = tls_client(&own.pem(), None);
    assert!(
        anonymous
            .post(&register)
            .json(&body(&issue(&app, &c).await))
            .send()
            .await
            .is_err()
    );

    // A revoked certificate is refused (the directory's CRL).
    let (status, _) = app
        .post_json(
            &format!(
                "/api/v1/certificates/{}/revoke",
                issued["serial"].as_str().unwrap()
            ),
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert!(status < 300, "revoked: {status}");
    // The registrar follows the directory's events: the revocation clears its CRL cache, so
    // the certificate is refused within moments, not when the cached CRL expires.
    let started = std::time::Instant::now();
    let mut refused = None;
    while started.elapsed() < std::time::Duration::from_secs(10) {
        let response = client
            .post(&register)
            .json(&body(&issue(&app, &c).await))
            .send()
            .await
            .unwrap();
        if response.status() == 400 {
            refused = Some(response.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let refusal = refused.expect("a revoked certificate is refused within seconds");
    assert!(
        refusal["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{refusal}"
    );
}

#[tokio::test]
async fn behind_a_proxy_the_certificate_header_counts_only_from_the_proxy() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let (issued, _) = transport_certificate(&app, &c, &c.software_id, dir.path()).await;
    let escaped = percent_encoding::utf8_percent_encode(
        issued["certificate"].as_str().unwrap(),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let body = |jwt: String| {
        json!({
            "software_statement": jwt,
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": issued["subject"],
        })
    };
    for (proxies, expected) in [
        (vec!["127.0.0.1".parse().unwrap()], 201),
        (vec!["192.0.2.1".parse().unwrap()], 400),
    ] {
        let s = service(&app, |config| {
            config.mtls = ssa_registrar::server::Mtls::Header {
                name: "x-ssl-client-cert".into(),
                proxies,
            };
        })
        .await;
        let response = crate::helpers::client()
            .post(format!("{}/register", s.base))
            .header("x-ssl-client-cert", &escaped)
            .json(&body(issue(&app, &c).await))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            expected,
            "{}",
            response.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn clients_follow_their_product_at_the_directory() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let s = service(&app, |config| {
        config.clients_token = Some("status-secret".into())
    })
    .await;
    let first = issue(&app, &c).await;
    let (status, _, client) = call(
        reqwest::Method::POST,
        &format!("{}/register", s.base),
        None,
        Some(json!({"software_statement": first})),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    let id = client["client_id"].as_str().unwrap().to_owned();
    let token = client["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let status_url = format!("{}/clients/{id}/status", s.base);
    let wait_for = |expected: &'static str| {
        let url = status_url.clone();
        async move {
            for _ in 0..100 {
                let (_, _, body) =
                    call(reqwest::Method::GET, &url, Some("status-secret"), None).await;
                if body["status"] == expected {
                    return body;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the client did not become {expected}");
        }
    };
    assert_eq!(wait_for("active").await["client_id"], id.as_str());

    // The client store: the client's document, with an ETag that answers 304 while it holds.
    let document_url = format!("{}/clients/{id}", s.base);
    let document = |etag: Option<String>| {
        let url = document_url.clone();
        async move {
            let mut request = crate::helpers::client()
                .get(url)
                .bearer_auth("status-secret");
            if let Some(etag) = etag {
                request = request.header("if-none-match", etag);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, etag, body)
        }
    };
    let (status, etag, doc) = document(None).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["client_id"], id.as_str());
    assert_eq!(doc["status"], "active");
    assert_eq!(doc["software_id"], c.software_id.as_str());
    assert_eq!(doc["org_id"], c.org_id.as_str());
    assert_eq!(doc["issuer"], app.address.as_str());
    assert_eq!(doc["token_endpoint_auth_method"], "private_key_jwt");
    assert!(doc["jwks_uri"].as_str().unwrap().contains(&c.software_id));
    assert!(doc.get("registration_access_token").is_none(), "{doc}");
    let (status, same, _) = document(Some(etag.clone())).await;
    assert_eq!((status, &same), (304, &etag));
    assert_eq!(
        call(reqwest::Method::GET, &document_url, None, None)
            .await
            .0,
        401,
        "the clients token"
    );

    // A long poll of the changes, waiting when the suspension happens, answers with it.
    let (_, _, head) = call(
        reqwest::Method::GET,
        &format!("{}/clients/changes", s.base),
        Some("status-secret"),
        None,
    )
    .await;
    let poll_url = format!("{}/clients/changes?after={}&wait=25", s.base, head["next"]);
    let poll = tokio::spawn(async move {
        call(reqwest::Method::GET, &poll_url, Some("status-secret"), None).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "suspend").await;
    let (status, _, heard) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(heard["changes"][0]["client_id"], id.as_str(), "{heard}");
    assert_eq!(heard["changes"][0]["event"], "status");
    assert_eq!(heard["changes"][0]["status"], "disabled");
    let disabled = wait_for("disabled").await;
    assert_eq!(disabled["reason"], "software suspended");
    let (status, changed, doc) = document(Some(etag.clone())).await;
    assert_eq!(status, 200, "the document changed");
    assert_ne!(changed, etag);
    assert_eq!(
        (doc["status"].as_str(), doc["reason"].as_str()),
        (Some("disabled"), Some("software suspended"))
    );
    let (_, _, read) = call(
        reqwest::Method::GET,
        client["registration_client_uri"].as_str().unwrap(),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(read["client_status"], "disabled", "{read}");
    app.decide(&c.operator, &software, "reinstate").await;
    wait_for("active").await;

    // A statement revoked at the directory: its client is disabled for good, and a revoked
    // statement registers nowhere (its status comes from the feed, not a request per jti).
    let fresh = issue(&app, &c).await;
    for statement in [&fresh, &first] {
        crate::verifier::revoke(&app, &c, statement).await;
    }
    // The second revocation's event disables the first client; the feed is in order, so the
    // fresh statement's revocation has been read by then.
    assert_eq!(wait_for("disabled").await["reason"], "statement revoked");
    let (status, _, refusal) = call(
        reqwest::Method::POST,
        &format!("{}/register", s.base),
        None,
        Some(json!({"software_statement": fresh})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        refusal["error"], "unapproved_software_statement",
        "{refusal}"
    );
    assert_eq!(
        call(
            reqwest::Method::GET,
            &format!("{}/clients/nope/status", s.base),
            Some("status-secret"),
            None
        )
        .await
        .0,
        404
    );
    // Without the status token, nothing; with it, every change in order.
    assert_eq!(
        call(reqwest::Method::GET, &status_url, None, None).await.0,
        401
    );
    let changes_url = format!("{}/clients/changes", s.base);
    assert_eq!(
        call(reqwest::Method::GET, &changes_url, None, None).await.0,
        401
    );
    let (status, _, changes) = call(
        reqwest::Method::GET,
        &changes_url,
        Some("status-secret"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{changes}");
    let seen: Vec<(String, String)> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["client_id"] == id.as_str())
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_owned(),
                c["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("disabled".to_owned(), "software suspended".to_owned()),
            ("active".to_owned(), String::new()),
            ("disabled".to_owned(), "statement revoked".to_owned()),
        ],
        "{changes}"
    );
    let next = changes["next"].as_i64().unwrap();
    let (_, _, later) = call(
        reqwest::Method::GET,
        &format!("{changes_url}?after={next}"),
        Some("status-secret"),
        None,
    )
    .await;
    assert_eq!(later["changes"], json!([]));
}

#[tokio::test]
async fn obuk_takes_a_request_signed_with_a_key_of_the_software_keystore() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    // The software's signing key, published in its keystore.
    let (der, kid) = crate::verifier::publish_key(&app, &c).await;
    let s = service(&app, |config| {
        config.profile = SecurityProfile::Obuk;
        config.public_url = Some("https://bank.example".into());
    })
    .await;
    let sign = |claims: &Value, kid: &str| sign_ps256(&der, kid, claims);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |jwt: &str, aud: &str| {
        json!({
            "iss": c.software_id, "aud": aud, "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
            "software_statement": jwt, "token_endpoint_auth_method": "private_key_jwt",
        })
    };
    let post = |body: String| {
        let url = format!("{}/register", s.base);
        async move {
            let response = crate::helpers::client()
                .post(url)
                .header("content-type", "application/jwt")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(sign(
        &claims(&issue(&app, &c).await, "https://bank.example"),
        &kid,
    ))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    // For another authorization server, or signed with a key outside the keystore: refused.
    let (status, body) = post(sign(
        &claims(&issue(&app, &c).await, "https://other-bank.example"),
        &kid,
    ))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    let (status, body) = post(sign(
        &claims(&issue(&app, &c).await, "https://bank.example"),
        "not-in-the-keystore",
    ))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    // An unsigned request is refused under obuk.
    let (status, body) =
        post(json!({"software_statement": issue(&app, &c).await}).to_string()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
}

/// A callout server answering with whatever `answer` holds (or not at all, when it is null).
async fn callout_server(answer: std::sync::Arc<std::sync::Mutex<Value>>) -> String {
    callout_server_with(answer, None).await
}

/// [`callout_server`], over HTTPS with `tls` (certificate and key files) when given.
pub(crate) async fn callout_server_with(
    answer: std::sync::Arc<std::sync::Mutex<Value>>,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let answer = answer.clone();
        App::new().route(
            "/rules",
            web::post().to(move |proposed: web::Json<Value>| {
                let answer = answer.lock().unwrap().clone();
                async move {
                    assert!(
                        proposed["metadata"]["software_id"].is_string(),
                        "{proposed}"
                    );
                    if answer.is_null() {
                        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                    }
                    HttpResponse::Ok().json(answer)
                }
            }),
        )
    })
    .workers(1);
    let (server, scheme) = match tls {
        Some((cert, key)) => {
            use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
            let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
            acceptor.set_certificate_chain_file(cert).unwrap();
            acceptor
                .set_private_key_file(key, SslFiletype::PEM)
                .unwrap();
            (server.listen_openssl(listener, acceptor).unwrap(), "https")
        }
        None => (server.listen(listener).unwrap(), "http"),
    };
    tokio::spawn(server.run());
    format!("{scheme}://127.0.0.1:{port}/rules")
}

#[tokio::test]
async fn the_callout_allows_refuses_or_adjusts_and_an_unanswered_one_refuses() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let answer = std::sync::Arc::new(std::sync::Mutex::new(json!({"decision": "allow"})));
    let url = callout_server(answer.clone()).await;
    let s = service(&app, |config| {
        config.callout = Some((url, std::time::Duration::from_millis(500)));
    })
    .await;
    let register = format!("{}/register", s.base);
    let attempt = || async {
        call(
            reqwest::Method::POST,
            &register,
            None,
            Some(json!({"software_statement": issue(&app, &c).await})),
        )
        .await
    };
    let (status, _, body) = attempt().await;
    assert_eq!(status, 201, "{body}");

    *answer.lock().unwrap() = json!({"decision": "adjust", "metadata": {"scope": "openid", "bank_tier": "gold", "software_id": "someone-else"}});
    let (status, _, body) = attempt().await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["scope"].as_str(), body["bank_tier"].as_str()),
        (Some("openid"), Some("gold"))
    );
    assert_eq!(
        body["software_id"],
        c.software_id.as_str(),
        "the callout cannot change who the client is"
    );

    *answer.lock().unwrap() = json!({"decision": "refuse", "error": "invalid_redirect_uri", "error_description": "not on our list"});
    let (status, _, body) = attempt().await;
    assert_eq!(
        (
            status,
            body["error"].as_str(),
            body["error_description"].as_str()
        ),
        (400, Some("invalid_redirect_uri"), Some("not on our list"))
    );

    *answer.lock().unwrap() = json!({"verdict": "yes"});
    let (status, _, body) = attempt().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );

    *answer.lock().unwrap() = Value::Null;
    let started = std::time::Instant::now();
    let (status, _, body) = attempt().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("could not be consulted"),
        "{body}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the timeout holds"
    );
}

#[tokio::test]
async fn a_stateless_registrar_seals_the_registration_into_the_client_id() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let keys = tempfile::tempdir().unwrap();
    let keys_dir = keys.path().join("registrar-keys");
    let stateless = |dir: std::path::PathBuf| {
        move |config: &mut ssa_registrar::server::ServerConfig| {
            config.stateless = true;
            config.keys_dir = dir;
        }
    };
    let s = service(&app, stateless(keys_dir.clone())).await;
    let (status, _, client) = call(
        reqwest::Method::POST,
        &format!("{}/register", s.base),
        None,
        Some(json!({"software_statement": issue(&app, &c).await})),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    let id = client["client_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("s1."), "{id}");
    assert!(!id.contains(&c.software_id), "the client id is encrypted");
    let uri = client["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = client["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(keys_dir.join("client-ids.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let (status, _, read) = call(reqwest::Method::GET, &uri, Some(&token), None).await;
    assert_eq!(status, 200, "{read}");
    information_response(&read, &token, &uri);
    assert_eq!(read["software_id"], c.software_id.as_str());
    assert_eq!(read["org_id"], c.org_id.as_str(), "what the feed names");
    assert_eq!(read["client_status"], "active");
    assert_eq!(
        call(reqwest::Method::GET, &uri, Some("ssarat_AAAA"), None)
            .await
            .0,
        401
    );
    let mut forged = id.clone();
    forged.replace_range(10..11, if &id[10..11] == "A" { "B" } else { "A" });
    let forged_uri = format!("{}/register/{forged}", s.base);
    assert_eq!(
        call(reqwest::Method::GET, &forged_uri, Some(&token), None)
            .await
            .0,
        401
    );
    let (status, _, body) = call(
        reqwest::Method::PUT,
        &uri,
        Some(&token),
        Some(json!({"client_id": id})),
    )
    .await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(
        call(reqwest::Method::DELETE, &uri, Some(&token), None)
            .await
            .0,
        405
    );

    // Its status follows the directory, from the feed; after a restart (same keys) the
    // client id still reads, and the feed read again still says suspended.
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "suspend",
    )
    .await;
    let status_url = format!("{}/clients/{id}/status", s.base);
    let mut disabled = Value::Null;
    for _ in 0..100 {
        disabled = call(reqwest::Method::GET, &status_url, None, None).await.2;
        if disabled["status"] == "disabled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(disabled["reason"], "software suspended", "{disabled}");
    // It knows no client ids: its feed of changes names the software.
    let changes_url = format!("{}/clients/changes", s.base);
    let changes = call(reqwest::Method::GET, &changes_url, None, None).await.2;
    let change = &changes["changes"][0];
    assert_eq!(change["software_id"], c.software_id.as_str(), "{changes}");
    assert_eq!(
        (change["status"].as_str(), change["reason"].as_str()),
        (Some("disabled"), Some("software suspended")),
        "{changes}"
    );
    assert_eq!(changes["changes"].as_array().unwrap().len(), 1, "{changes}");

    // After a restart on the same database and keys, from the stored cursor (the feed is
    // not read again), the client id still reads, still disabled.
    s.handle.stop(true).await;
    let config = |database_url: &str| ssa_registrar::server::ServerConfig {
        stateless: true,
        keys_dir: keys_dir.clone(),
        directories: vec![app.address.clone()],
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_owned(),
        ..Default::default()
    };
    let running = ssa_registrar::server::start(config(&s.db.url))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", running.port);
    let handle = running.handle.clone();
    tokio::spawn(running.server);
    let uri = format!("{base}/register/{id}");
    let (status, _, read) = call(reqwest::Method::GET, &uri, Some(&token), None).await;
    assert_eq!(
        (status, read["client_status"].as_str()),
        (200, Some("disabled")),
        "{read}"
    );
    // Reinstated: active again, and the feed says so.
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "reinstate",
    )
    .await;
    let status_url = format!("{base}/clients/{id}/status");
    let mut active = Value::Null;
    for _ in 0..100 {
        active = call(reqwest::Method::GET, &status_url, None, None).await.2;
        if active["status"] == "active" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(active["status"], "active", "{active}");
    let after = change["id"].as_i64().unwrap();
    let changes = call(
        reqwest::Method::GET,
        &format!("{base}/clients/changes?after={after}"),
        None,
        None,
    )
    .await
    .2;
    assert_eq!(changes["changes"][0]["status"], "active", "{changes}");
    assert_eq!(changes["changes"][0]["software_id"], c.software_id.as_str());
    handle.stop(true).await;

    // Shared client ids need a record of the first registration.
    let shared = ssa_registrar::server::ServerConfig {
        client_ids: ClientIds::PerSoftware,
        ..config(&s.db.url)
    };
    let error = ssa_registrar::server::start(shared).await.err().unwrap();
    assert!(error.to_string().contains("stateless"), "{error}");
}
