//! The bank's own authorization server in the loop: node-oidc-provider (the example server of
//! integrations/node-oidc-provider) reads its clients from the registrar, which follows the
//! directory. A product's statement becomes a client, the client gets access tokens (client
//! credentials, and the authorization code flow) with a private_key_jwt assertion signed by
//! its keystore key, and the directory's suspension,
//! reinstatement, key removal and revocation reach the token endpoint; without the registrar,
//! the server refuses the client. Over TLS, a transport certificate authenticates with
//! tls_client_auth (RFC 8705).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::registrar::{call, service};
use crate::verifier::{approved, issue, publish_key, revoke, sign_ps256};

/// The example authorization server as a process; killed on drop.
struct AuthorizationServer {
    child: Child,
    issuer: String,
}

impl Drop for AuthorizationServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AuthorizationServer {
    /// Starts `node example/server.js` reading clients from `registrar`.
    fn start(registrar: &str, token: &str, keys_ttl_ms: u64, stale_after_ms: u64) -> Self {
        Self::start_with(registrar, token, keys_ttl_ms, stale_after_ms, &[])
    }

    /// [`Self::start`] with more settings (`TLS_CERT_FILE`, ...).
    fn start_with(
        registrar: &str,
        token: &str,
        keys_ttl_ms: u64,
        stale_after_ms: u64,
        settings: &[(&str, &Path)],
    ) -> Self {
        let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/node-oidc-provider");
        assert!(
            package.join("node_modules/oidc-provider").exists(),
            "run npm ci in {} (scripts/test does)",
            package.display()
        );
        let tls = settings.iter().any(|(name, _)| *name == "TLS_CERT_FILE");
        // The free port is found by binding and letting go, so another test's server may take
        // it first: the example then exits (EADDRINUSE) before it listens, and is started
        // again on another port.
        let mut attempts = 0;
        let (child, mut stdout, port) = loop {
            attempts += 1;
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new("node")
                .arg("example/server.js")
                .envs(
                    settings
                        .iter()
                        .map(|(name, path)| (*name, path.as_os_str())),
                )
                .current_dir(&package)
                .env("PORT", port.to_string())
                .env("REGISTRAR_URL", registrar)
                .env("REGISTRAR_TOKEN", token)
                .env("KEYS_TTL_MS", keys_ttl_ms.to_string())
                .env("STALE_AFTER_MS", stale_after_ms.to_string())
                .env("NODE_NO_WARNINGS", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("node (Node.js 20 or later)");
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            if line.trim() == format!("listening {port}") {
                break (child, stdout, port);
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(attempts < 5, "the example server did not start: {line:?}");
        };
        // The rest of its output (the development pages log to it) is read and dropped: a
        // closed pipe would end the server at its next line.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let scheme = if tls { "https" } else { "http" };
        Self {
            child,
            issuer: format!("{scheme}://127.0.0.1:{port}"),
        }
    }
}

/// A client assertion (RFC 7523) for `client_id` at `issuer`, signed with `der`'s key `kid`.
fn assertion(der: &[u8], kid: &str, client_id: &str, issuer: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    sign_ps256(
        der,
        kid,
        &json!({
            "iss": client_id, "sub": client_id, "aud": issuer, "iat": now, "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

/// A client credentials token request; the status and the answer.
async fn token(
    server: &AuthorizationServer,
    der: &[u8],
    kid: &str,
    client_id: &str,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "accounts"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &assertion(der, kid, client_id, &server.issuer),
            ),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asks for tokens until the answer is `expected` (200, or 401 `invalid_client`); how long
/// that took. Gives up after 20 seconds.
async fn until(
    expected: u16,
    server: &AuthorizationServer,
    der: &[u8],
    kid: &str,
    client_id: &str,
) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = token(server, der, kid, client_id).await;
        if status == expected {
            match expected {
                200 => assert_eq!(body["token_type"], "Bearer", "{body}"),
                _ => assert_eq!(body["error"], "invalid_client", "{body}"),
            }
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still {status} {body}, not {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The authorization code flow through the example's development log-in and consent pages,
/// as a browser without JavaScript follows it (PKCE S256): the code the server sends to
/// `redirect_uri`, and the verifier.
async fn authorization_code(
    server: &AuthorizationServer,
    client_id: &str,
    redirect_uri: &str,
) -> (String, String) {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let verifier = b64(&rand::random::<[u8; 32]>());
    let challenge = b64(&openssl::sha::sha256(verifier.as_bytes()));
    let browser = crate::helpers::client();
    let absolute = |location: &str| {
        if location.starts_with("http") {
            location.to_owned()
        } else {
            format!("{}{location}", server.issuer)
        }
    };
    let location_of = |response: &reqwest::Response| {
        response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no redirect: {}", response.status()))
    };
    let mut url = reqwest::Url::parse_with_params(
        &format!("{}/auth", server.issuer),
        &[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", "openid accounts"),
            ("state", "af0ifjsldkj"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap()
    .to_string();
    for _ in 0..8 {
        let response = browser.get(&url).send().await.unwrap();
        let location = location_of(&response);
        if let Some(query) = location.strip_prefix(&format!("{redirect_uri}?")) {
            let params: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect();
            assert_eq!(params["state"], "af0ifjsldkj", "{location}");
            let code = params.get("code").unwrap_or_else(|| panic!("{location}"));
            return (code.clone(), verifier);
        }
        if location.contains("/interaction/") {
            // The development pages: log in as anyone, then consent.
            let page = absolute(&location);
            let html = browser
                .get(&page)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let form: &[(&str, &str)] = if html.contains("name=\"login\"") {
                &[("prompt", "login"), ("login", "alice"), ("password", "any")]
            } else {
                &[("prompt", "consent")]
            };
            let posted = browser.post(&page).form(form).send().await.unwrap();
            url = absolute(&location_of(&posted));
        } else {
            url = absolute(&location);
        }
    }
    panic!("no code after the log-in and consent pages");
}

/// Registers the cast's product at `registrar` with `statement` (RFC 7591), with the client
/// credentials grant too; its client id.
async fn register_client(registrar: &str, statement: &str) -> String {
    let (status, _, client) = call(
        reqwest::Method::POST,
        &format!("{registrar}/register"),
        None,
        Some(json!({
            "software_statement": statement,
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
    client["client_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_statement_becomes_access_tokens_until_the_directory_stops_its_product() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let (der, kid) = publish_key(&app, &c).await;
    let registrar = service(&app, |config| {
        config.clients_token = Some("clients-secret".into())
    })
    .await;
    let server = AuthorizationServer::start(&registrar.base, "clients-secret", 1_000, 3_000);

    // Its discovery sends registrations to the registrar.
    let discovery: Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        server.issuer
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        discovery["registration_endpoint"],
        format!("{}/register", registrar.base)
    );

    // The product registers at the registrar (RFC 7591) with its statement.
    let statement = issue(&app, &c).await;
    let client_id = register_client(&registrar.base, &statement).await;

    // A token, with an assertion signed by the keystore key.
    let (status, body) = token(&server, &der, &kid, &client_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "accounts", "{body}");
    // The authorization code flow: the code, exchanged with an assertion and the verifier.
    let (_, _, document) = call(
        reqwest::Method::GET,
        &format!("{}/clients/{client_id}", registrar.base),
        Some("clients-secret"),
        None,
    )
    .await;
    let redirect_uri = document["redirect_uris"][0].as_str().unwrap().to_owned();
    let (code, verifier) = authorization_code(&server, &client_id, &redirect_uri).await;
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &assertion(&der, &kid, &client_id, &server.issuer),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert!(tokens["access_token"].is_string(), "{tokens}");
    let id_token = crate::verifier::parts(tokens["id_token"].as_str().unwrap()).1;
    assert_eq!(
        (&id_token["sub"], &id_token["aud"]),
        (&json!("alice"), &json!(client_id))
    );
    // An assertion signed by a key outside the keystore is refused.
    let (stranger, _) = {
        let key = openssl::rsa::Rsa::generate(2048).unwrap();
        (key.private_key_to_der().unwrap(), ())
    };
    let (status, body) = token(&server, &stranger, &kid, &client_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // The directory suspends the product: the token endpoint refuses it; reinstated, it
    // answers again.
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "suspend").await;
    until(401, &server, &der, &kid, &client_id).await;
    app.decide(&c.operator, &software, "reinstate").await;
    until(200, &server, &der, &kid, &client_id).await;

    // A key removed from the keystore stops working once the adapter's key cache (1 s here)
    // has expired; a new key works.
    let (status, _) = app
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v1/software/{}/keys/{kid}", c.software_id),
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    until(401, &server, &der, &kid, &client_id).await;
    let (der, kid) = publish_key(&app, &c).await;
    until(200, &server, &der, &kid, &client_id).await;

    // The statement revoked: the client is disabled for good, whatever its product does.
    revoke(&app, &c, &statement).await;
    until(401, &server, &der, &kid, &client_id).await;
    app.decide(&c.operator, &software, "suspend").await;
    app.decide(&c.operator, &software, "reinstate").await;
    let (_, _, status) = call(
        reqwest::Method::GET,
        &format!("{}/clients/{client_id}", registrar.base),
        Some("clients-secret"),
        None,
    )
    .await;
    assert_eq!(
        (status["status"].as_str(), status["reason"].as_str()),
        (Some("disabled"), Some("statement revoked"))
    );
    let (status, _) = token(&server, &der, &kid, &client_id).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn without_the_registrar_the_authorization_server_refuses_its_clients() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let (der, kid) = publish_key(&app, &c).await;
    let registrar = service(&app, |config| {
        config.clients_token = Some("clients-secret".into())
    })
    .await;
    let client_id = register_client(&registrar.base, &issue(&app, &c).await).await;

    // The wrong clients token: the registrar answers nothing, the client is refused.
    let wrong = AuthorizationServer::start(&registrar.base, "not-the-token", 60_000, 3_000);
    let (status, body) = token(&wrong, &der, &kid, &client_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let server = AuthorizationServer::start(&registrar.base, "clients-secret", 60_000, 2_000);
    until(200, &server, &der, &kid, &client_id).await;
    // The registrar goes away: once the cached answer is older than the stated bound (two
    // seconds here), the client is refused, never served as active from the cache.
    drop(registrar);
    until(401, &server, &der, &kid, &client_id).await;
}

/// A client credentials request authenticated by the connection's certificate (RFC 8705
/// tls_client_auth); the status and the answer.
async fn tls_token(
    client: &reqwest::Client,
    server: &AuthorizationServer,
    client_id: &str,
) -> (u16, Value) {
    let response = client
        .post(format!("{}/token", server.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "accounts"),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_transport_certificate_gets_tokens_with_tls_client_auth_until_its_product_is_suspended() {
    let app = crate::helpers::spawn_app().await;
    let c = approved(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let (issued, key) =
        crate::registrar::transport_certificate(&app, &c, &c.software_id, dir.path()).await;
    let certificate = issued["certificate"].as_str().unwrap();
    // The registrar behind a proxy that passes the client certificate (here the test).
    let registrar = service(&app, |config| {
        config.clients_token = Some("clients-secret".into());
        config.mtls = ssa_registrar::server::Mtls::Header {
            name: "x-ssl-client-cert".into(),
            proxies: vec!["127.0.0.1".parse().unwrap()],
        };
    })
    .await;
    let escaped =
        percent_encoding::utf8_percent_encode(certificate, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let response = crate::helpers::client()
        .post(format!("{}/register", registrar.base))
        .header("x-ssl-client-cert", &escaped)
        .json(&json!({
            "software_statement": issue(&app, &c).await,
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": issued["subject"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let client_id = response.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The authorization server listens with TLS and asks for certificates of the directory's CA.
    let (cert_file, key_file) = crate::helpers::tls_files(dir.path());
    let ca_file = dir.path().join("directory-ca.pem");
    std::fs::write(&ca_file, issued["chain"].as_str().unwrap()).unwrap();
    let server = AuthorizationServer::start_with(
        &registrar.base,
        "clients-secret",
        60_000,
        3_000,
        &[
            ("TLS_CERT_FILE", &cert_file),
            ("TLS_KEY_FILE", &key_file),
            ("TLS_CA_FILE", &ca_file),
        ],
    );
    let server_pem = std::fs::read_to_string(&cert_file).unwrap();
    let holder = crate::registrar::tls_client(&server_pem, Some((certificate, &key)));
    let (status, body) = tls_token(&holder, &server, &client_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");

    // Without a certificate, or with another product's: invalid_client.
    let anonymous = crate::registrar::tls_client(&server_pem, None);
    let (status, body) = tls_token(&anonymous, &server, &client_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let other = app.register(&c.developer, &c.org_id, "production").await;
    app.decide(&c.operator, &format!("/api/v1/software/{other}"), "approve")
        .await;
    let (foreign, foreign_key) =
        crate::registrar::transport_certificate(&app, &c, &other, dir.path()).await;
    let stranger = crate::registrar::tls_client(
        &server_pem,
        Some((foreign["certificate"].as_str().unwrap(), &foreign_key)),
    );
    let (status, body) = tls_token(&stranger, &server, &client_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );

    // Suspended at the directory: refused; reinstated: tokens again.
    let software = format!("/api/v1/software/{}", c.software_id);
    for (action, expected) in [("suspend", 401), ("reinstate", 200)] {
        app.decide(&c.operator, &software, action).await;
        let started = Instant::now();
        loop {
            let (status, body) = tls_token(&holder, &server, &client_id).await;
            if status == expected {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{action}: still {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
