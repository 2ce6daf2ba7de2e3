//! Mutual TLS (RFC 8705): the directory serves HTTPS, with a second listener that asks every
//! client for a certificate of its CA; a product authenticates at the token endpoint with its
//! transport certificate (`tls_client_auth`) and gets a token bound to it, which works only
//! with that certificate and stops when it is revoked. Behind a TLS-terminating proxy, the
//! certificate comes in a header believed only from the configured proxies.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, client_trusting, spawn_app_with, tls_files};
use crate::verifier::approved;

/// A POST of this form to `url` by `client`: the status and the JSON body.
async fn post_form(client: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client.post(url).form(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A call with `Authorization: Bearer <token>`: the status, the first Bearer challenge and the
/// body.
async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
    extra: Option<(&str, &str)>,
) -> (u16, String, String) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("Bearer"))
        .unwrap_or_default()
        .to_owned();
    (status, challenge, response.text().await.unwrap())
}

fn tls_form(software: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", software.to_owned()),
    ]
}

fn as_refs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn approved_sibling(app: &TestApp, c: &crate::helpers::Cast) -> String {
    let sibling = app.register(&c.admin, &c.org_id, "production").await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{sibling}"),
        "approve",
    )
    .await;
    sibling
}

#[tokio::test]
async fn over_mutual_tls_a_product_authenticates_with_its_transport_certificate_and_its_token_is_bound_to_it()
 {
    let files = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = tls_files(files.path());
    let server_pem = std::fs::read(&cert_file).unwrap();
    let app = spawn_app_with(|config| {
        config.tls_cert_file = Some(cert_file.clone());
        config.tls_key_file = Some(key_file.clone());
        config.mtls_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    // Everything below runs over HTTPS: the portal's port never asks for a certificate.
    assert!(app.address.starts_with("https://"));
    let c = approved(&app).await;
    let software = c.software_id.clone();

    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt", "tls_client_auth"])
    );
    assert_eq!(metadata["tls_client_certificate_bound_access_tokens"], true);
    let token_url = app.mtls_url("/oauth/token");
    assert_eq!(
        metadata["mtls_endpoint_aliases"]["token_endpoint"],
        token_url.as_str()
    );

    // Without a client certificate, or with one of another CA, there is no connection.
    let anonymous = client_trusting(&server_pem, None);
    assert!(anonymous.post(&token_url).send().await.is_err());
    let stranger_key = rcgen::KeyPair::generate().unwrap();
    let stranger = rcgen::CertificateParams::new(vec!["stranger.example".to_owned()])
        .unwrap()
        .self_signed(&stranger_key)
        .unwrap();
    let stranger = client_trusting(
        &server_pem,
        Some((&stranger.pem(), &stranger_key.serialize_pem())),
    );
    assert!(stranger.post(&token_url).send().await.is_err());

    // The product's transport certificate authenticates it and binds its token.
    let (issued, cert_key) =
        crate::registrar::transport_certificate(&app, &c, &software, files.path()).await;
    let certificate = issued["certificate"].as_str().unwrap();
    let own = client_trusting(&server_pem, Some((certificate, &cert_key)));
    let (status, token) = post_form(&own, &token_url, &as_refs(&tls_form(&software))).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    let token = token["access_token"].as_str().unwrap().to_owned();

    // With it, over mutual TLS, the product reads itself and issues itself a statement and a
    // certificate.
    let path = format!("/api/v1/software/{software}");
    let (status, _, body) = call(&own, Method::GET, &app.mtls_url(&path), &token, None, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, jwt) = call(
        &own,
        Method::POST,
        &app.mtls_url(&format!("{path}/ssa")),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 201, "{jwt}");
    assert_eq!(
        crate::verifier::parts(&jwt).1["software_id"],
        software.as_str()
    );
    let csr = crate::pki::make_csr(files.path(), "signing", "ec:P-256", "/CN=x");
    let (status, _, body) = call(
        &own,
        Method::POST,
        &app.mtls_url(&format!("{path}/certificates")),
        &token,
        Some(json!({"type": "signing", "csr": csr})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The token without its certificate (the public port), with the DPoP scheme, or with
    // another product's certificate is refused.
    let (status, challenge, _) = call(
        &app.client,
        Method::GET,
        &app.url(&path),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let response = own
        .get(app.mtls_url(&path))
        .header("authorization", format!("DPoP {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let sibling = approved_sibling(&app, &c).await;
    let (theirs, their_key) =
        crate::registrar::transport_certificate(&app, &c, &sibling, files.path()).await;
    let theirs = client_trusting(
        &server_pem,
        Some((theirs["certificate"].as_str().unwrap(), &their_key)),
    );
    let (status, _, body) = call(
        &theirs,
        Method::GET,
        &app.mtls_url(&path),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // Nor does another product's certificate authenticate as this product.
    let (status, refusal) = post_form(&theirs, &token_url, &as_refs(&tls_form(&software))).await;
    assert_eq!(status, 401, "{refusal}");
    assert_eq!(refusal["error"], "invalid_client");
    // An organisation has no transport certificate of its own.
    let (status, refusal) = post_form(&own, &token_url, &as_refs(&tls_form(&c.org_id))).await;
    assert_eq!(status, 401, "{refusal}");
    assert_eq!(refusal["error"], "invalid_client");
    // Scopes outside the product's are refused here too.
    let mut form = tls_form(&software);
    form.push(("scope", "events:subscribe".into()));
    let (status, refusal) = post_form(&own, &token_url, &as_refs(&form)).await;
    assert_eq!(
        (status, refusal["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // private_key_jwt with a DPoP proof over the public HTTPS port still works, and without a
    // proof over mutual TLS its token is bound to the certificate.
    let jwt_client = crate::oauth::client(&app, &c, &software).await;
    let dpop = jwt_client.token(&app, None).await;
    assert_eq!(dpop["token_type"], "DPoP");
    let assertion = jwt_client.assertion(&app);
    let (status, bound) = post_form(&own, &token_url, &jwt_client.form(&assertion, None)).await;
    assert_eq!(status, 200, "{bound}");
    assert_eq!(bound["token_type"], "Bearer");
    let bound = bound["access_token"].as_str().unwrap();
    let (status, _, _) = call(&own, Method::GET, &app.mtls_url(&path), bound, None, None).await;
    assert_eq!(status, 200);

    // The audit says how the client authenticated and what binds its token.
    let (status, audit) = app
        .api(
            Method::GET,
            &format!("/api/v1/audit?actor=client:{software}&action=oauth.token.issue"),
            Some(&c.operator.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let methods: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let details: Value = serde_json::from_str(e["details"].as_str().unwrap()).unwrap();
            (
                details["auth_method"].as_str().unwrap().to_owned(),
                details["binding"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let has =
        |method: &str, binding: &str| methods.iter().any(|(m, b)| m == method && b == binding);
    assert!(has("tls_client_auth", "certificate"), "{methods:?}");
    assert!(has("private_key_jwt", "certificate"), "{methods:?}");
    assert!(has("private_key_jwt", "dpop"), "{methods:?}");

    // Revoking the certificate stops its live tokens at once, and it gets no new one (the TLS
    // handshake still succeeds: revocation is the directory's own record).
    let serial = issued["serial"].as_str().unwrap();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, challenge, _) =
        call(&own, Method::GET, &app.mtls_url(&path), &token, None, None).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let (status, refusal) = post_form(&own, &token_url, &as_refs(&tls_form(&software))).await;
    assert_eq!(status, 401, "{refusal}");
    assert!(
        refusal["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{refusal}"
    );
}

/// A token request with the product's transport certificate in `header`, URL-encoded as
/// nginx's `$ssl_client_escaped_cert`, as a proxy forwards it: that header value and the
/// response.
async fn through_proxy(
    app: &TestApp,
    c: &crate::helpers::Cast,
    dir: &std::path::Path,
    header: &str,
) -> (String, reqwest::Response) {
    let (issued, _) = crate::registrar::transport_certificate(app, c, &c.software_id, dir).await;
    let escaped = percent_encoding::utf8_percent_encode(
        issued["certificate"].as_str().unwrap(),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let form = tls_form(&c.software_id);
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header(header, &escaped)
        .form(&as_refs(&form))
        .send()
        .await
        .unwrap();
    (escaped, response)
}

#[tokio::test]
async fn behind_a_proxy_the_client_certificate_header_is_believed_only_from_trusted_addresses() {
    const HEADER: &str = "x-ssl-client-cert";
    let trusting = |proxy: &str| {
        let proxy: std::net::IpAddr = proxy.parse().unwrap();
        move |config: &mut ssa_directory::config::Config| {
            config.client_cert_header = Some(HEADER.into());
            config.trusted_proxies = vec![proxy];
        }
    };
    // The proxy asks for client certificates on its own port, the directory's mTLS alias.
    const ALIAS: &str = "https://proxy.example:9443";
    let app = spawn_app_with(|config| {
        trusting("127.0.0.1")(config);
        config.mtls_public_url = Some(ALIAS.into());
    })
    .await;
    let c = approved(&app).await;
    let files = tempfile::tempdir().unwrap();
    let (escaped, response) = through_proxy(&app, &c, files.path(), HEADER).await;
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    let token = token["access_token"].as_str().unwrap();
    let path = app.url(&format!("/api/v1/software/{}", c.software_id));
    let (status, _, body) = call(
        &app.client,
        Method::GET,
        &path,
        token,
        None,
        Some((HEADER, &escaped)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = call(&app.client, Method::GET, &path, token, None, None).await;
    assert_eq!(status, 401);
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["tls_client_certificate_bound_access_tokens"], true);
    let alias = format!("{ALIAS}/oauth/token");
    assert_eq!(
        metadata["mtls_endpoint_aliases"]["token_endpoint"],
        alias.as_str()
    );
    // A request forwarded with a certificate was sent to the alias: its DPoP proof names it.
    let jwt_client = crate::oauth::client(&app, &c, &c.software_id).await;
    let assertion = jwt_client.assertion(&app);
    let ask = |htu: &str| {
        app.client
            .post(app.url("/oauth/token"))
            .header(HEADER, &escaped)
            .header("DPoP", jwt_client.proof("POST", htu, None))
            .form(&jwt_client.form(&assertion, None))
            .send()
    };
    let response = ask(&app.url("/oauth/token")).await.unwrap();
    assert_eq!(response.status(), 400);
    let response = ask(&alias).await.unwrap();
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["token_type"], "DPoP");

    // From an address that is not a trusted proxy, the header is ignored.
    let other = spawn_app_with(trusting("192.0.2.1")).await;
    let c = approved(&other).await;
    let (_, response) = through_proxy(&other, &c, files.path(), HEADER).await;
    assert_eq!(response.status(), 401);
    let refusal: Value = response.json().await.unwrap();
    assert_eq!(refusal["error"], "invalid_client");
}
