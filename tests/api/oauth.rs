//! Machine access: a software product gets an access token at the token endpoint with
//! `private_key_jwt` and a DPoP proof, and calls the API as itself with it; every bad input
//! gets its RFC 6749 or RFC 9449 error; a suspension stops a live token.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Cast, TestApp, spawn_app};
use crate::verifier::approved;

/// An EC P-256 key and what signs with it.
pub(crate) struct Key {
    pkey: PKey<Private>,
    encoding: EncodingKey,
}

impl Key {
    pub(crate) fn new() -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let pkey = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let encoding = EncodingKey::from_ec_pem(&pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
        Self { pkey, encoding }
    }

    pub(crate) fn jwk(&self) -> serde_json::Map<String, Value> {
        ssa_directory::keys::jwk::public_jwk(&self.pkey, "ES256").unwrap()
    }

    fn kid(&self) -> String {
        self.jwk()["kid"].as_str().unwrap().to_owned()
    }

    pub(crate) fn sign(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jti() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A machine client (a product, or an organisation when `software_id` is its org id) and the
/// keys it proves with.
pub(crate) struct Client {
    pub(crate) software_id: String,
    pub(crate) signing: Key,
    pub(crate) dpop: Key,
}

/// An approved product that uploaded an ES256 key for its client assertions.
pub(crate) async fn client(app: &TestApp, c: &Cast, software_id: &str) -> Client {
    let signing = Key::new();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/software/{software_id}/keys"),
            &c.developer,
            json!({"jwk": signing.jwk()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    Client {
        software_id: software_id.to_owned(),
        signing,
        dpop: Key::new(),
    }
}

fn token_endpoint(app: &TestApp) -> String {
    app.url("/oauth/token")
}

impl Client {
    fn assertion_with(
        &self,
        app: &TestApp,
        change: impl FnOnce(&mut Value, &mut Header),
    ) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.signing.kid());
        let mut claims = json!({
            "iss": self.software_id,
            "sub": self.software_id,
            "aud": token_endpoint(app),
            "exp": unix_now() + 60,
            "iat": unix_now(),
            "jti": jti(),
        });
        change(&mut claims, &mut header);
        self.signing.sign(header, &claims)
    }

    pub(crate) fn assertion(&self, app: &TestApp) -> String {
        self.assertion_with(app, |_, _| {})
    }

    /// A DPoP proof by `key` for `method` and `url`, for `token` if given.
    fn proof_by(key: &Key, method: &str, url: &str, token: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(Value::Object(key.jwk())).unwrap());
        let mut claims = json!({"jti": jti(), "htm": method, "htu": url, "iat": unix_now()});
        if let Some(token) = token {
            claims["ath"] = json!(ssa_directory::keys::proofs::token_hash(token));
        }
        key.sign(header, &claims)
    }

    pub(crate) fn signing_kid(&self) -> String {
        self.signing.kid()
    }

    pub(crate) fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        Self::proof_by(&self.dpop, method, url, token)
    }

    /// A token request with these form fields and DPoP proof; status, headers and body.
    async fn ask(
        app: &TestApp,
        form: &[(&str, &str)],
        proof: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = app.client.post(token_endpoint(app)).form(form);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub(crate) fn form<'a>(
        &'a self,
        assertion: &'a str,
        scope: Option<&'a str>,
    ) -> Vec<(&'a str, &'a str)> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.software_id.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        form
    }

    pub(crate) async fn token(&self, app: &TestApp, scope: Option<&str>) -> Value {
        let assertion = self.assertion(app);
        let proof = self.proof("POST", &token_endpoint(app), None);
        let (status, headers, body) =
            Self::ask(app, &self.form(&assertion, scope), Some(&proof)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        body
    }

    /// An API call with the token and a fresh proof.
    pub(crate) async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let url = app.url(path);
        let proof = self.proof(method.as_str(), &url, Some(token));
        send(
            app,
            method,
            &url,
            &format!("DPoP {token}"),
            Some(&proof),
            body,
        )
        .await
    }
}

async fn send(
    app: &TestApp,
    method: Method,
    url: &str,
    authorization: &str,
    proof: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = app
        .client
        .request(method, url)
        .header("authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

/// A POST to `url` with this Authorization and DPoP proof: the status, the
/// `WWW-Authenticate` challenge and the problem's detail.
async fn attempt(
    app: &TestApp,
    url: &str,
    authorization: &str,
    proof: Option<&str>,
) -> (u16, String, String) {
    let (status, headers, body) = send(app, Method::POST, url, authorization, proof, None).await;
    let challenge = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, challenge, problem_detail(&body))
}

fn problem_detail(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap_or(Value::Null)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_product_gets_a_dpop_bound_token_and_acts_as_itself() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let client = client(&app, &c, &c.software_id).await;

    // Discovery: the directory's metadata links its RFC 8414 metadata.
    let metadata: Value = app
        .client
        .get(app.url("/.well-known/ssa-directory"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let as_url = metadata["oauth_authorization_server_uri"].as_str().unwrap();
    let server: Value = app
        .client
        .get(as_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(server["token_endpoint"], token_endpoint(&app).as_str());
    assert_eq!(server["issuer"], app.address.as_str());
    assert_eq!(
        server["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(
        server["dpop_signing_alg_values_supported"],
        json!(["PS256", "ES256"])
    );
    assert_eq!(
        server["grant_types_supported"],
        json!(["client_credentials"])
    );

    let issued = client.token(&app, None).await;
    assert_eq!(issued["token_type"], "DPoP");
    assert_eq!(issued["expires_in"], 300);
    assert_eq!(
        issued["scope"],
        "directory:read ssa:issue keys:write certificates:write"
    );
    let token = issued["access_token"].as_str().unwrap();

    // It issues itself a statement, reads itself and gets itself a certificate.
    let path = format!("/api/v1/software/{}/ssa", c.software_id);
    let (status, _, jwt) = client.call(&app, Method::POST, &path, token, None).await;
    assert_eq!(status, 201, "{jwt}");
    let (_, claims) = crate::verifier::parts(&jwt);
    assert_eq!(claims["software_id"], c.software_id.as_str());
    let (status, _, body) = client
        .call(
            &app,
            Method::GET,
            &format!("/api/v1/software/{}", c.software_id),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "t", "ec:P-256", "/CN=x");
    let (status, _, body) = client
        .call(
            &app,
            Method::POST,
            &format!("/api/v1/software/{}/certificates", c.software_id),
            token,
            Some(json!({"type": "transport", "csr": csr})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // The audit names the client for the token and for what it did.
    let (status, audit) = app
        .api(
            Method::GET,
            &format!("/api/v1/audit?actor=client:{}", c.software_id),
            Some(&c.operator.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"oauth.token.issue"), "{actions:?}");
    assert!(actions.contains(&"certificate.issue"), "{actions:?}");

    // The token without its proof, with a replayed proof, with a proof for another URL or
    // method, by another key or without the token's hash, or as a bearer token: refused.
    let url = app.url(&path);
    let dpop = format!("DPoP {token}");
    let (status, challenge, _) = attempt(&app, &url, &dpop, None).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    let proof = client.proof("POST", &url, Some(token));
    assert_eq!(attempt(&app, &url, &dpop, Some(&proof)).await.0, 201);
    for (proof, says) in [
        (proof.clone(), "used already"),
        (
            client.proof("POST", &app.url("/api/v1/software"), Some(token)),
            "another URL",
        ),
        (client.proof("GET", &url, Some(token)), "another method"),
        (
            Client::proof_by(&Key::new(), "POST", &url, Some(token)),
            "bound to",
        ),
        (Client::proof_by(&client.dpop, "POST", &url, None), "ath"),
    ] {
        let (status, challenge, detail) = attempt(&app, &url, &dpop, Some(&proof)).await;
        assert_eq!(status, 401, "{says}: {detail}");
        assert!(detail.contains(says), "{says:?} not in {detail}");
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("invalid_dpop_proof"),
            "{challenge}"
        );
    }
    let (status, challenge, _) = attempt(&app, &url, &format!("Bearer {token}"), None).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // It reaches its own product only: another product of its organisation is not found,
    // the organisation's own data is not for it.
    let other = app.register(&c.developer, &c.org_id, "production").await;
    let (status, ..) = client
        .call(
            &app,
            Method::GET,
            &format!("/api/v1/software/{other}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, ..) = client
        .call(
            &app,
            Method::POST,
            &format!("/api/v1/software/{other}/ssa"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, body) = client
        .call(
            &app,
            Method::GET,
            &format!("/api/v1/organisations/{}", c.org_id),
            token,
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let members = format!("/api/v1/organisations/{}/members", c.org_id);
    let (status, _, body) = client.call(&app, Method::GET, &members, token, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, ..) = client
        .call(&app, Method::GET, "/api/v1/software", token, None)
        .await;
    assert_eq!(status, 403);

    // A token with fewer scopes does less.
    let reader = client.token(&app, Some("directory:read")).await;
    let reader = reader["access_token"].as_str().unwrap();
    let (status, headers, body) = client.call(&app, Method::POST, &path, reader, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope"),
        "{headers:?}"
    );
    assert!(problem_detail(&body).contains("ssa:issue"), "{body}");
}

#[tokio::test]
async fn bad_token_requests_get_rfc_6749_errors_and_are_audited() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let client = client(&app, &c, &c.software_id).await;
    let endpoint = token_endpoint(&app);
    let proof = || client.proof("POST", &endpoint, None);
    let expect =
        |got: (u16, reqwest::header::HeaderMap, Value), status: u16, error: &str, says: &str| {
            let (got_status, headers, body) = got;
            assert_eq!(
                (got_status, body["error"].as_str()),
                (status, Some(error)),
                "{body}"
            );
            assert!(
                body["error_description"].as_str().unwrap().contains(says),
                "{says:?} not in {body}"
            );
            assert_eq!(headers["cache-control"], "no-store");
        };
    let with = |change: &dyn Fn(&mut Value, &mut Header)| {
        client.assertion_with(&app, |claims, header| change(claims, header))
    };

    let wrong_aud = with(&|claims, _| claims["aud"] = json!("https://elsewhere.example/token"));
    expect(
        Client::ask(&app, &client.form(&wrong_aud, None), Some(&proof())).await,
        401,
        "invalid_client",
        "audience",
    );
    let expired = with(&|claims, _| claims["exp"] = json!(unix_now() - 120));
    expect(
        Client::ask(&app, &client.form(&expired, None), Some(&proof())).await,
        401,
        "invalid_client",
        "expired",
    );
    let long = with(&|claims, _| claims["exp"] = json!(unix_now() + 3600));
    expect(
        Client::ask(&app, &client.form(&long, None), Some(&proof())).await,
        401,
        "invalid_client",
        "too long",
    );
    for (claim, value) in [("exp", None), ("exp", Some(json!("tomorrow")))] {
        let odd = with(&|claims, _| match &value {
            None => {
                claims.as_object_mut().unwrap().remove(claim);
            }
            Some(value) => claims[claim] = value.clone(),
        });
        let (status, _, body) = Client::ask(&app, &client.form(&odd, None), Some(&proof())).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains("exp"),
            "{claim} {value:?}: {description}"
        );
        for debug in ["Json(", "Error(", "MissingRequiredClaim", "line: "] {
            assert!(
                !description.contains(debug),
                "Rust's Debug text: {description}"
            );
        }
    }
    let no_jti = with(&|claims, _| {
        claims.as_object_mut().unwrap().remove("jti");
    });
    expect(
        Client::ask(&app, &client.form(&no_jti, None), Some(&proof())).await,
        401,
        "invalid_client",
        "jti",
    );

    // Replay: the same assertion twice.
    let once = client.assertion(&app);
    assert_eq!(
        Client::ask(&app, &client.form(&once, None), Some(&proof()))
            .await
            .0,
        200
    );
    expect(
        Client::ask(&app, &client.form(&once, None), Some(&proof())).await,
        401,
        "invalid_client",
        "used already",
    );

    // HS256 and none.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": client.software_id, "sub": client.software_id, "aud": endpoint, "exp": unix_now() + 60, "jti": jti()}),
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    expect(
        Client::ask(&app, &client.form(&hs, None), Some(&proof())).await,
        401,
        "invalid_client",
        "HS256",
    );
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none"})),
        b64(
            json!({"iss": client.software_id, "sub": client.software_id, "aud": endpoint, "exp": unix_now() + 60, "jti": jti()})
        )
    );
    expect(
        Client::ask(&app, &client.form(&none, None), Some(&proof())).await,
        401,
        "invalid_client",
        "none",
    );

    // Another product's key, and a key removed from the keystore.
    let other = app.register(&c.developer, &c.org_id, "production").await;
    app.decide(&c.operator, &format!("/api/v1/software/{other}"), "approve")
        .await;
    let foreign = self::client(&app, &c, &other).await;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(foreign.signing.kid());
    let signed_by_other = foreign.signing.sign(
        header,
        &json!({"iss": client.software_id, "sub": client.software_id, "aud": endpoint, "exp": unix_now() + 60, "jti": jti()}),
    );
    expect(
        Client::ask(&app, &client.form(&signed_by_other, None), Some(&proof())).await,
        401,
        "invalid_client",
        "kid",
    );
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!(
                "/api/v1/software/{}/keys/{}",
                c.software_id,
                client.signing.kid()
            ),
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let removed = client.assertion(&app);
    expect(
        Client::ask(&app, &client.form(&removed, None), Some(&proof())).await,
        401,
        "invalid_client",
        "revoked",
    );

    // The rest, with a good assertion of the other product.
    let good = || foreign.assertion(&app);
    let foreign_proof = || foreign.proof("POST", &endpoint, None);
    expect(
        Client::ask(&app, &foreign.form(&good(), None), None).await,
        400,
        "invalid_request",
        "DPoP",
    );
    let misdirected = foreign.proof("POST", &app.url("/oauth/other"), None);
    expect(
        Client::ask(&app, &foreign.form(&good(), None), Some(&misdirected)).await,
        400,
        "invalid_dpop_proof",
        "another URL",
    );
    expect(
        Client::ask(
            &app,
            &foreign.form(&good(), Some("ssa:issue admin")),
            Some(&foreign_proof()),
        )
        .await,
        400,
        "invalid_scope",
        "admin",
    );
    let fresh = good();
    let mut password = foreign.form(&fresh, None);
    password[0] = ("grant_type", "password");
    expect(
        Client::ask(&app, &password, Some(&foreign_proof())).await,
        400,
        "unsupported_grant_type",
        "client_credentials",
    );
    let assertion = good();
    let mut unknown = foreign.form(&assertion, None);
    let nobody = uuid::Uuid::new_v4().to_string();
    unknown[1] = ("client_id", nobody.as_str());
    expect(
        Client::ask(&app, &unknown, Some(&foreign_proof())).await,
        401,
        "invalid_client",
        "unknown",
    );
    let response = app
        .client
        .post(&endpoint)
        .header("DPoP", foreign_proof())
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");

    // Audited and counted, without secrets.
    let (_, audit) = app
        .api(
            Method::GET,
            "/api/v1/audit?action=oauth.token.refuse",
            Some(&c.operator.token),
            None,
        )
        .await;
    let refusals = audit["items"].as_array().unwrap();
    assert!(refusals.len() >= 12, "{audit}");
    assert!(
        !audit.to_string().contains(&once),
        "no assertion in the audit"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ssa_oauth_token_requests_total{outcome=\"invalid_client\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_suspension_cuts_a_live_token_off_and_stops_new_ones() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let client = client(&app, &c, &c.software_id).await;
    let issued = client.token(&app, None).await;
    let token = issued["access_token"].as_str().unwrap();
    let path = format!("/api/v1/software/{}", c.software_id);
    assert_eq!(
        client.call(&app, Method::GET, &path, token, None).await.0,
        200
    );

    app.decide(&c.operator, &path, "suspend").await;
    let (status, _, body) = client.call(&app, Method::GET, &path, token, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(problem_detail(&body).contains("suspended"), "{body}");
    let assertion = client.assertion(&app);
    let proof = client.proof("POST", &token_endpoint(&app), None);
    let (status, _, body) = Client::ask(&app, &client.form(&assertion, None), Some(&proof)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    // The organisation's suspension stops it as well.
    app.decide(&c.operator, &path, "reinstate").await;
    assert_eq!(
        client.call(&app, Method::GET, &path, token, None).await.0,
        200
    );
    app.decide(
        &c.operator,
        &format!("/api/v1/organisations/{}", c.org_id),
        "suspend",
    )
    .await;
    let (status, _, body) = client.call(&app, Method::GET, &path, token, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        problem_detail(&body).contains("organisation is suspended"),
        "{body}"
    );
}

#[tokio::test]
async fn an_organisation_gets_a_token_for_its_own_data_and_subscriptions() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let signing = Key::new();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/organisations/{}/keys", c.org_id),
            &c.admin,
            json!({"jwk": signing.jwk()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let org = Client {
        software_id: c.org_id.clone(),
        signing,
        dpop: Key::new(),
    };
    // An organisation's scopes: no statements.
    let assertion = org.assertion(&app);
    let proof = org.proof("POST", &token_endpoint(&app), None);
    let (status, _, body) =
        Client::ask(&app, &org.form(&assertion, Some("ssa:issue")), Some(&proof)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "{body}"
    );
    let issued = org.token(&app, None).await;
    assert_eq!(
        issued["scope"],
        "directory:read keys:write events:subscribe"
    );
    let token = issued["access_token"].as_str().unwrap();

    let own = format!("/api/v1/organisations/{}", c.org_id);
    let (status, _, body) = org.call(&app, Method::GET, &own, token, None).await;
    assert_eq!(status, 200, "{body}");
    let subscriptions = format!("{own}/subscriptions");
    let (status, _, body) = org
        .call(
            &app,
            Method::POST,
            &subscriptions,
            token,
            Some(json!({"method": "poll"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = org
        .call(&app, Method::GET, &subscriptions, token, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Its products, read; their statements are the products' own.
    let product = format!("/api/v1/software/{}", c.software_id);
    assert_eq!(
        org.call(&app, Method::GET, &product, token, None).await.0,
        200
    );
    let (status, _, body) = org
        .call(&app, Method::POST, &format!("{product}/ssa"), token, None)
        .await;
    assert_eq!(status, 403, "{body}");
    // Another organisation is not found; members are for people.
    let (status, ..) = org
        .call(
            &app,
            Method::GET,
            &format!("/api/v1/organisations/{}", c.other_org_id),
            token,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, ..) = org
        .call(&app, Method::GET, &format!("{own}/members"), token, None)
        .await;
    assert_eq!(status, 403);

    // Suspending the organisation stops it.
    app.decide(&c.operator, &own, "suspend").await;
    let (status, _, body) = org.call(&app, Method::GET, &own, token, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        problem_detail(&body).contains("organisation is suspended"),
        "{body}"
    );
}

#[tokio::test]
async fn a_dpop_proof_is_used_once_across_instances_at_the_token_endpoint_and_for_changes() {
    let app = spawn_app().await;
    let sibling = crate::helpers::spawn_sibling(&app).await;
    let c = approved(&app).await;
    let client = client(&app, &c, &c.software_id).await;

    // The token endpoint: a proof spent on one instance is refused on the other.
    let proof = client.proof("POST", &token_endpoint(&app), None);
    let first = client.assertion(&app);
    let (status, _, body) = Client::ask(&app, &client.form(&first, None), Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let second = client.assertion(&app);
    let (status, _, body) = Client::ask(&sibling, &client.form(&second, None), Some(&proof)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("used already")
    );

    // A request that changes something: its proof, replayed on the other instance, is
    // refused there (the sibling's public URL is the first's, as behind one load balancer).
    let path = format!("/api/v1/software/{}/ssa", c.software_id);
    let url = app.url(&path);
    let dpop = format!("DPoP {token}");
    let proof = client.proof("POST", &url, Some(&token));
    assert_eq!(attempt(&app, &url, &dpop, Some(&proof)).await.0, 201);
    let (status, challenge, detail) =
        attempt(&sibling, &sibling.url(&path), &dpop, Some(&proof)).await;
    assert_eq!(status, 401, "{detail}");
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    assert!(detail.contains("used already"), "{detail}");
    // A fresh proof works on either.
    let fresh = client.proof("POST", &url, Some(&token));
    assert_eq!(
        attempt(&sibling, &sibling.url(&path), &dpop, Some(&fresh))
            .await
            .0,
        201
    );
}
