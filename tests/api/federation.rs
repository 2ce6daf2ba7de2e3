//! OpenID Federation 1.0: the directory's entity configuration as a trust anchor, signed with
//! federation keys apart from the SSA keys; the subordinate statements about its products
//! (fetch) and their list; the specification's error JSON for bad input; suspension takes a
//! product out; rotating the federation keys keeps statements verifiable.

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::verifier::approved;

use crate::verifier::parts;

/// Verifies `jwt` with the key of its `kid` in `jwks`; its claims.
fn verified(jwt: &str, jwks: &Value) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let kid = header.kid.clone().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("{kid} is not in {jwks}"));
    let key = DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "iat", "exp"]);
    jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .unwrap()
        .claims
}

/// The entity configuration: its JWS and claims (verified with its own keys).
pub(crate) async fn entity_configuration(app: &TestApp) -> (String, Value) {
    let response = app.get("/.well-known/openid-federation").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/entity-statement+jwt"
    );
    let jwt = response.text().await.unwrap();
    let (_, unverified) = parts(&jwt);
    let claims = verified(&jwt, &unverified["jwks"]);
    (jwt, claims)
}

async fn get(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, kind, response.text().await.unwrap())
}

/// A federation endpoint's refusal: the status and the error code, after checking its shape.
async fn refusal(app: &TestApp, path: &str) -> (u16, String) {
    let (status, kind, body) = get(app, path).await;
    assert_eq!(kind, "application/json", "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(body["error_description"].as_str().is_some(), "{body}");
    (status, body["error"].as_str().unwrap().to_owned())
}

fn fetch_path(sub: &str) -> String {
    format!(
        "/federation/fetch?sub={}",
        percent_encoding::utf8_percent_encode(sub, percent_encoding::NON_ALPHANUMERIC)
    )
}

#[tokio::test]
async fn the_directory_is_a_trust_anchor_and_its_products_are_its_subordinates() {
    // Fetched statements are served again for status_max_age_secs: one second here.
    let app = crate::helpers::spawn_app_with(|config| config.status_max_age_secs = 1).await;
    let c = approved(&app).await;
    let client = crate::oauth::client(&app, &c, &c.software_id).await;
    let uploaded = client.signing_kid();

    // The entity configuration: about itself, signed by a federation key it publishes, with
    // the endpoints; no authority hints (it is the anchor).
    let (jwt, config) = entity_configuration(&app).await;
    let (header, _) = parts(&jwt);
    assert_eq!(header["typ"], "entity-statement+jwt");
    assert_eq!(config["iss"], app.address.as_str());
    assert_eq!(config["sub"], app.address.as_str());
    assert!(config["exp"].as_i64().unwrap() > config["iat"].as_i64().unwrap());
    assert!(config.get("authority_hints").is_none());
    let entity = &config["metadata"]["federation_entity"];
    assert_eq!(
        entity["federation_fetch_endpoint"],
        app.url("/federation/fetch").as_str()
    );
    assert_eq!(
        entity["federation_list_endpoint"],
        app.url("/federation/list").as_str()
    );
    // Its keys are not the SSA keys.
    let ssa_keys: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let federation_kids = kids(&config["jwks"]);
    assert_eq!(federation_kids.len(), 2, "active and next");
    assert!(
        federation_kids.iter().all(|k| !kids(&ssa_keys).contains(k)),
        "federation keys are apart from the SSA keys"
    );

    // The list names the product and its organisation; by entity type too; no
    // intermediates.
    let leaf = app.url(&format!("/federation/software/{}", c.software_id));
    let org_entity = app.url(&format!("/federation/organisations/{}", c.org_id));
    let listed: Vec<String> = app.get("/federation/list").await.json().await.unwrap();
    assert!(
        listed.contains(&leaf) && listed.contains(&org_entity),
        "{listed:?}"
    );
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "sorted");
    let listed: Value = app
        .get("/federation/list?entity_type=openid_relying_party&entity_type=oauth_client")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([leaf]));
    for narrower in [
        "/federation/list?entity_type=openid_provider",
        "/federation/list?intermediate=true",
    ] {
        let listed: Value = app.get(narrower).await.json().await.unwrap();
        assert_eq!(listed, json!([]), "{narrower}");
    }

    // Fetch: the statement about the product, signed by the anchor's federation key.
    let (status, kind, statement) = get(&app, &fetch_path(&leaf)).await;
    assert_eq!(status, 200, "{statement}");
    assert_eq!(kind, "application/entity-statement+jwt");
    assert_eq!(parts(&statement).0["typ"], "entity-statement+jwt");
    let claims = verified(&statement, &config["jwks"]);
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["sub"], leaf.as_str());
    assert!(kids(&claims["jwks"]).contains(&uploaded), "{claims}");
    let policy = &claims["metadata_policy"]["openid_relying_party"];
    assert_eq!(
        policy["jwks_uri"]["value"],
        app.url(&format!("/keystore/{}/{}.jwks", c.org_id, c.software_id))
            .as_str()
    );
    let (_, product) = app
        .get_json(&format!("/api/v1/software/{}", c.software_id), &c.developer)
        .await;
    assert_eq!(
        policy["redirect_uris"]["subset_of"],
        product["redirect_uris"]
    );
    assert_eq!(
        policy["token_endpoint_auth_method"]["one_of"],
        json!(["private_key_jwt", "tls_client_auth"])
    );
    assert!(
        policy["scope"]["subset_of"]
            .as_array()
            .unwrap()
            .contains(&json!("openid")),
        "{policy}"
    );
    assert_eq!(
        claims["metadata"]["openid_relying_party"]["software_id"],
        c.software_id.as_str()
    );
    assert_eq!(
        claims["source_endpoint"],
        app.url("/federation/fetch").as_str()
    );
    // Within its max-age the same signed statement is served again.
    let (_, _, again) = get(&app, &fetch_path(&leaf)).await;
    assert_eq!(again, statement);

    // Bad input gets the specification's error JSON.
    for (path, expected) in [
        ("/federation/fetch".to_owned(), (400, "invalid_request")),
        (fetch_path(""), (400, "invalid_request")),
        (fetch_path(&app.address), (400, "invalid_request")),
        (
            format!("{}&sub=x", fetch_path(&leaf)),
            (400, "invalid_request"),
        ),
        (fetch_path(&"x".repeat(3000)), (400, "invalid_request")),
        (
            fetch_path(&app.url("/federation/software/unknown")),
            (404, "not_found"),
        ),
        (
            fetch_path("https://elsewhere.example/federation/software/x"),
            (404, "not_found"),
        ),
        (
            "/federation/list?trust_marked=maybe".to_owned(),
            (400, "invalid_request"),
        ),
        (
            "/federation/list?intermediate=maybe".to_owned(),
            (400, "invalid_request"),
        ),
    ] {
        let (status, error) = refusal(&app, &path).await;
        assert_eq!((status, error.as_str()), expected, "{path}");
    }

    // A suspended product is out of the federation at once.
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "suspend",
    )
    .await;
    // The list at once; fetch within the max-age it advertises.
    let listed: Vec<String> = app.get("/federation/list").await.json().await.unwrap();
    assert!(!listed.contains(&leaf), "{listed:?}");
    assert!(listed.contains(&org_entity), "its organisation is still in");
    let mut status = 200;
    for _ in 0..40 {
        status = app.get(&fetch_path(&leaf)).await.status().as_u16();
        if status != 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404);
    let (status, error) = refusal(&app, &fetch_path(&leaf)).await;
    assert_eq!((status, error.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn rotating_the_federation_keys_keeps_statements_verifiable_and_leaves_the_ssa_keys_alone() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let ssa_before: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let (jwt, before) = entity_configuration(&app).await;
    let old_kid = parts(&jwt).0["kid"].as_str().unwrap().to_owned();

    let new_kid = rotate_federation_keys(&app).await;

    // The new statements are signed by the key the old configuration already published as
    // next, so a party holding the old configuration verifies them; the old key stays
    // published as retired.
    let leaf = app.url(&format!("/federation/software/{}", c.software_id));
    let (_, _, statement) = get(&app, &fetch_path(&leaf)).await;
    assert_eq!(parts(&statement).0["kid"], new_kid.as_str());
    verified(&statement, &before["jwks"]);
    let (jwt, after) = entity_configuration(&app).await;
    assert_eq!(parts(&jwt).0["kid"], new_kid.as_str());
    assert!(
        after["jwks"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == old_kid.as_str()),
        "{after}"
    );
    let ssa_after: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ssa_before, ssa_after, "the SSA keys did not move");
}

/// A trust mark's status as the directory answers it (the response verified with its
/// federation keys).
async fn status_of(app: &TestApp, mark: &str, jwks: &Value) -> String {
    let response = app
        .client
        .post(app.url("/federation/trust-mark/status"))
        .form(&[("trust_mark", mark)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/trust-mark-status-response+jwt"
    );
    let jwt = response.text().await.unwrap();
    assert_eq!(parts(&jwt).0["typ"], "trust-mark-status-response+jwt");
    let claims = verified_without_sub(&jwt, jwks);
    assert_eq!(claims["trust_mark"], mark);
    claims["status"].as_str().unwrap().to_owned()
}

/// Verifies a JWS without a `sub` (status responses, historical keys).
fn verified_without_sub(jwt: &str, jwks: &Value) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let kid = header.kid.clone().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    let key = DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "iat"]);
    jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn trust_marks_follow_the_products_roles_and_status() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let (_, product) = app
        .get_json(&format!("/api/v1/software/{}", c.software_id), &c.developer)
        .await;
    let environment = product["environment"].as_str().unwrap().to_owned();
    let aisp = app.url(&format!("/trust-marks/aisp/{environment}"));
    let pisp = app.url(&format!("/trust-marks/pisp/{environment}"));
    let leaf = app.url(&format!("/federation/software/{}", c.software_id));
    let (_, config) = entity_configuration(&app).await;
    let jwks = config["jwks"].clone();
    assert_eq!(
        config["trust_mark_issuers"][aisp.as_str()],
        json!([app.address])
    );
    let entity = &config["metadata"]["federation_entity"];
    assert_eq!(
        entity["federation_trust_mark_status_endpoint"],
        app.url("/federation/trust-mark/status").as_str()
    );

    // The product holds AISP in its environment: that trust mark, signed by a federation key.
    let mark_path = |kind: &str| {
        format!(
            "/federation/trust-mark?trust_mark_type={}&sub={}",
            percent_encoding::utf8_percent_encode(kind, percent_encoding::NON_ALPHANUMERIC),
            percent_encoding::utf8_percent_encode(&leaf, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    let (status, kind, mark) = get(&app, &mark_path(&aisp)).await;
    assert_eq!(status, 200, "{mark}");
    assert_eq!(kind, "application/trust-mark+jwt");
    assert_eq!(parts(&mark).0["typ"], "trust-mark+jwt");
    let claims = verified(&mark, &jwks);
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["sub"], leaf.as_str());
    assert_eq!(claims["trust_mark_type"], aisp.as_str());
    // Not a role it holds, not a type the directory issues, or no type.
    assert_eq!(
        refusal(&app, &mark_path(&pisp)).await,
        (404, "not_found".into())
    );
    assert_eq!(
        refusal(&app, &mark_path("https://elsewhere.example/mark")).await,
        (404, "not_found".into())
    );
    assert_eq!(
        refusal(&app, &fetch_path(&leaf).replace("/fetch", "/trust-mark")).await,
        (400, "invalid_request".into())
    );

    // The list knows who is trust marked.
    for (query, expected) in [
        (
            "entity_type=openid_relying_party&trust_marked=true".to_owned(),
            json!([leaf]),
        ),
        (
            format!(
                "entity_type=openid_relying_party&trust_mark_type={}",
                percent_encoding::utf8_percent_encode(&aisp, percent_encoding::NON_ALPHANUMERIC)
            ),
            json!([leaf]),
        ),
        (
            format!(
                "entity_type=openid_relying_party&trust_mark_type={}",
                percent_encoding::utf8_percent_encode(&pisp, percent_encoding::NON_ALPHANUMERIC)
            ),
            json!([]),
        ),
    ] {
        let listed: Value = app
            .get(&format!("/federation/list?{query}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed, expected, "{query}");
    }

    // Status: active; a forged or garbled mark is invalid; no mark is invalid_request.
    assert_eq!(status_of(&app, &mark, &jwks).await, "active");
    let mut forged: Vec<String> = mark.split('.').map(str::to_owned).collect();
    forged[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"iss": app.address, "sub": app.url("/federation/software/other"), "trust_mark_type": aisp, "iat": 1, "exp": 4_000_000_000i64}).to_string(),
    );
    assert_eq!(status_of(&app, &forged.join("."), &jwks).await, "invalid");
    assert_eq!(status_of(&app, "not.a.mark", &jwks).await, "invalid");
    let response = app
        .client
        .post(app.url("/federation/trust-mark/status"))
        .form(&[("other", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // The verifier checks it offline, and asks the status endpoint.
    let issuer_keys = ssa_verifier::KeySet::from_json(&jwks.to_string()).unwrap();
    let checked =
        ssa_verifier::federation::check_trust_mark(&mark, &app.address, &issuer_keys, unix_now())
            .unwrap();
    assert_eq!(
        (checked.subject.as_str(), checked.trust_mark_type.as_str()),
        (leaf.as_str(), aisp.as_str())
    );
    let stranger = ssa_verifier::KeySet::from_json(
        &json!({"keys": [crate::oauth::Key::new().jwk()]}).to_string(),
    )
    .unwrap();
    assert_eq!(
        ssa_verifier::federation::check_trust_mark(&mark, &app.address, &stranger, unix_now())
            .unwrap_err()
            .code,
        ssa_verifier::protocol::FederationCode::InvalidTrustMark
    );
    let ask_verifier = |pinned: ssa_verifier::KeySet| {
        let (anchor, mark) = (app.address.clone(), mark.clone());
        crate::verifier::blocking(move || {
            ssa_verifier::federation::trust_mark_status(
                &anchor,
                Some(&pinned),
                &mark,
                &crate::helpers::http_client(),
            )
        })
    };
    assert_eq!(ask_verifier(issuer_keys.clone()).await.unwrap(), "active");

    // Suspension revokes it at once; reinstatement makes it active again.
    for (action, expected) in [("suspend", "revoked"), ("reinstate", "active")] {
        app.decide(
            &c.operator,
            &format!("/api/v1/software/{}", c.software_id),
            action,
        )
        .await;
        assert_eq!(status_of(&app, &mark, &jwks).await, expected, "{action}");
        assert_eq!(ask_verifier(issuer_keys.clone()).await.unwrap(), expected);
    }

    // After a rotation of the federation keys, the old key is a historical key, and the
    // trust mark it signed still holds.
    let (jwt, _) = entity_configuration(&app).await;
    let old_kid = parts(&jwt).0["kid"].as_str().unwrap().to_owned();
    let (status, kind, historical) = get(&app, "/federation/historical-keys").await;
    assert_eq!((status, kind.as_str()), (200, "application/jwk-set+jwt"));
    assert_eq!(verified_without_sub(&historical, &jwks)["keys"], json!([]));
    rotate_federation_keys(&app).await;
    let (_, config) = entity_configuration(&app).await;
    let (_, _, historical) = get(&app, "/federation/historical-keys").await;
    assert_eq!(parts(&historical).0["typ"], "jwk-set+jwt");
    let keys = verified_without_sub(&historical, &config["jwks"])["keys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["kid"], old_kid.as_str());
    assert!(keys[0]["exp"].as_i64().is_some(), "{keys}");
    assert_eq!(status_of(&app, &mark, &config["jwks"]).await, "active");
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An entity configuration of `leaf` signed by `key`, with these RP metadata.
fn leaf_configuration(
    app: &TestApp,
    leaf: &str,
    key: &crate::oauth::Key,
    rp: Value,
    change: impl FnOnce(&mut Value, &mut jsonwebtoken::Header),
) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(key.jwk()["kid"].as_str().unwrap().to_owned());
    header.typ = Some("entity-statement+jwt".into());
    let mut claims = json!({
        "iss": leaf,
        "sub": leaf,
        "iat": unix_now(),
        "exp": unix_now() + 3600,
        "jwks": {"keys": [key.jwk()]},
        "authority_hints": [app.address],
        "metadata": {"openid_relying_party": rp},
    });
    change(&mut claims, &mut header);
    key.sign(header, &claims)
}

async fn publish(app: &TestApp, c: &crate::helpers::Cast, jwt: &str, media: &str) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(&format!(
            "/api/v1/software/{}/entity-configuration",
            c.software_id
        )))
        .bearer_auth(&c.developer.token)
        .header("content-type", media)
        .body(jwt.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_product_publishes_its_own_entity_configuration_and_resolves_through_the_anchor() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let client = crate::oauth::client(&app, &c, &c.software_id).await;
    let leaf = app.url(&format!("/federation/software/{}", c.software_id));
    let (_, product) = app
        .get_json(&format!("/api/v1/software/{}", c.software_id), &c.developer)
        .await;
    let registered = product["redirect_uris"][0].as_str().unwrap().to_owned();
    let rp = json!({
        "client_name": "Leaf RP",
        "redirect_uris": [registered, "https://evil.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "openid accounts payments",
        "jwks_uri": "https://elsewhere.example/jwks",
    });

    // Refused: another key than the keystore's, another subject, no authority hint, another
    // typ, another media type.
    let stranger = crate::oauth::Key::new();
    let refused = [
        leaf_configuration(&app, &leaf, &stranger, rp.clone(), |_, _| {}),
        leaf_configuration(&app, &leaf, &client.signing, rp.clone(), |claims, _| {
            claims["sub"] = json!("https://elsewhere.example");
        }),
        leaf_configuration(&app, &leaf, &client.signing, rp.clone(), |claims, _| {
            claims["authority_hints"] = json!(["https://other-anchor.example"]);
        }),
        leaf_configuration(&app, &leaf, &client.signing, rp.clone(), |_, header| {
            header.typ = Some("JWT".into());
        }),
        leaf_configuration(&app, &leaf, &client.signing, rp.clone(), |claims, _| {
            claims["exp"] = json!(unix_now() + 400 * 24 * 3600);
        }),
    ];
    for jwt in &refused {
        let (status, problem) = publish(&app, &c, jwt, "application/entity-statement+jwt").await;
        assert_eq!(status, 422, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("entity configuration"),
            "{problem}"
        );
    }
    let own = leaf_configuration(&app, &leaf, &client.signing, rp.clone(), |_, _| {});
    let (status, _) = publish(&app, &c, &own, "application/json").await;
    assert_eq!(status, 415);
    // Nothing is hosted yet, and resolving needs it.
    let hosted = format!(
        "/federation/software/{}/.well-known/openid-federation",
        c.software_id
    );
    assert_eq!(refusal(&app, &hosted).await, (404, "not_found".into()));
    let resolve_path = |sub: &str, anchor: &str| {
        format!(
            "/federation/resolve?sub={}&trust_anchor={}",
            percent_encoding::utf8_percent_encode(sub, percent_encoding::NON_ALPHANUMERIC),
            percent_encoding::utf8_percent_encode(anchor, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    assert_eq!(
        refusal(&app, &resolve_path(&leaf, &app.address)).await,
        (404, "not_found".into())
    );

    // Published with its own key: hosted at its entity identifier.
    let (status, body) = publish(&app, &c, &own, "application/entity-statement+jwt").await;
    assert_eq!(status, 204, "{body}");
    let (status, kind, served) = get(&app, &hosted).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "application/entity-statement+jwt")
    );
    assert_eq!(served, own);

    // Resolved: the policy pins jwks_uri, keeps the registered redirect URI and the scopes of
    // its roles; the directory's metadata is added; its trust marks and the chain come along.
    let (_, config) = entity_configuration(&app).await;
    let (status, kind, resolved) = get(&app, &resolve_path(&leaf, &app.address)).await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(kind, "application/resolve-response+jwt");
    assert_eq!(parts(&resolved).0["typ"], "resolve-response+jwt");
    let claims = verified(&resolved, &config["jwks"]);
    assert_eq!(claims["sub"], leaf.as_str());
    let metadata = &claims["metadata"]["openid_relying_party"];
    assert_eq!(
        metadata["jwks_uri"],
        app.url(&format!("/keystore/{}/{}.jwks", c.org_id, c.software_id))
            .as_str()
    );
    assert_eq!(metadata["redirect_uris"], json!([registered]));
    let mut scopes: Vec<&str> = metadata["scope"].as_str().unwrap().split(' ').collect();
    scopes.sort();
    assert_eq!(
        scopes,
        ["accounts", "openid"],
        "payments is not a role of it"
    );
    assert_eq!(metadata["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(metadata["software_id"], c.software_id.as_str());
    assert_eq!(metadata["client_name"], product["client_name"]);
    let chain = claims["trust_chain"].as_array().unwrap();
    assert_eq!(chain.len(), 3);
    assert_eq!(chain[0], own.as_str());
    assert_eq!(
        verified(chain[1].as_str().unwrap(), &config["jwks"])["sub"],
        leaf.as_str()
    );
    assert_eq!(
        parts(chain[2].as_str().unwrap()).1["sub"],
        app.address.as_str()
    );
    let marks = claims["trust_marks"].as_array().unwrap();
    assert_eq!(marks.len(), 1, "{marks:?}");
    let mark = marks[0]["trust_mark"].as_str().unwrap();
    assert_eq!(status_of(&app, mark, &config["jwks"]).await, "active");

    // The verifier validates the chain it fetches from the directory, and the chain the
    // resolve response carries, to the same metadata; out of order, or against another
    // anchor's keys, the chain fails.
    let (entity, anchor) = (leaf.clone(), app.address.clone());
    let fetched = crate::verifier::blocking(move || {
        ssa_verifier::federation::resolve_chain(
            &entity,
            &anchor,
            None,
            &crate::helpers::http_client(),
        )
    })
    .await
    .unwrap();
    assert_eq!(fetched.entity_id, leaf);
    assert_eq!(
        normalized(&fetched.metadata),
        normalized(&claims["metadata"])
    );
    let anchor_keys = ssa_verifier::KeySet::from_json(&config["jwks"].to_string()).unwrap();
    let statements: Vec<String> = chain
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let validated = ssa_verifier::federation::validate_chain(
        &statements,
        &app.address,
        &anchor_keys,
        unix_now(),
    )
    .unwrap();
    assert_eq!(
        normalized(&validated.metadata),
        normalized(&claims["metadata"])
    );
    let mut swapped = statements.clone();
    swapped.swap(0, 1);
    let refused =
        ssa_verifier::federation::validate_chain(&swapped, &app.address, &anchor_keys, unix_now())
            .unwrap_err();
    assert_eq!(
        refused.code,
        ssa_verifier::protocol::FederationCode::InvalidTrustChain
    );
    let stranger_keys = ssa_verifier::KeySet::from_json(
        &json!({"keys": [crate::oauth::Key::new().jwk()]}).to_string(),
    )
    .unwrap();
    let refused = ssa_verifier::federation::validate_chain(
        &statements,
        &app.address,
        &stranger_keys,
        unix_now(),
    )
    .unwrap_err();
    assert!(refused.description.contains("trust anchor"), "{refused}");

    // A rotation of the federation keys keeps the chain valid for a verifier that pinned the
    // anchor's keys before it (the new signing key was published as next).
    let now_signing = rotate_federation_keys(&app).await;
    // The chain resolved before the rotation, to a verifier that knows only the anchor's
    // keys from after it, is signed with a key the anchor no longer signs with: refused,
    // unless the anchor's historical keys (signed with its new key) vouch for that key.
    let (_, after) = entity_configuration(&app).await;
    let current: Vec<Value> = after["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kid"] == now_signing.as_str())
        .cloned()
        .collect();
    let current = ssa_verifier::KeySet::from_json(&json!({ "keys": current }).to_string()).unwrap();
    let refused =
        ssa_verifier::federation::validate_chain(&statements, &app.address, &current, unix_now())
            .unwrap_err();
    assert!(refused.description.contains("does not hold"), "{refused}");
    let anchor = app.address.clone();
    let only_current = current.clone();
    let historical = crate::verifier::blocking(move || {
        ssa_verifier::federation::fetch_historical_keys(
            &anchor,
            Some(&only_current),
            &crate::helpers::http_client(),
        )
    })
    .await
    .unwrap();
    assert_eq!(historical.len(), 1, "the key retired by the rotation");
    let across = ssa_verifier::federation::validate_chain_with_history(
        &statements,
        &app.address,
        &current,
        &historical,
        unix_now(),
    )
    .unwrap();
    assert_eq!(
        normalized(&across.metadata),
        normalized(&validated.metadata)
    );
    assert_eq!(across.superior, app.address);
    let (entity, anchor) = (leaf.clone(), app.address.clone());
    let pinned = anchor_keys.clone();
    crate::verifier::blocking(move || {
        ssa_verifier::federation::resolve_chain(
            &entity,
            &anchor,
            Some(&pinned),
            &crate::helpers::http_client(),
        )
    })
    .await
    .unwrap();

    // Bad input: another trust anchor, none, an unknown subject.
    assert_eq!(
        refusal(&app, &resolve_path(&leaf, "https://other-anchor.example")).await,
        (400, "invalid_trust_anchor".into())
    );
    assert_eq!(
        refusal(&app, &fetch_path(&leaf).replace("/fetch", "/resolve")).await,
        (400, "invalid_request".into())
    );
    assert_eq!(
        refusal(
            &app,
            &resolve_path(&app.url("/federation/software/unknown"), &app.address)
        )
        .await,
        (404, "not_found".into())
    );

    // Metadata the policy refuses (an authentication method outside one_of).
    let mut bad = rp.clone();
    bad["token_endpoint_auth_method"] = json!("client_secret_basic");
    let outside = leaf_configuration(&app, &leaf, &client.signing, bad, |_, _| {});
    let (status, _) = publish(&app, &c, &outside, "application/entity-statement+jwt").await;
    assert_eq!(status, 204);
    assert_eq!(
        refusal(&app, &resolve_path(&leaf, &app.address)).await,
        (400, "invalid_metadata".into())
    );

    // A suspended product neither resolves nor is hosted.
    let (status, _) = publish(&app, &c, &own, "application/entity-statement+jwt").await;
    assert_eq!(status, 204);
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "suspend",
    )
    .await;
    assert_eq!(
        refusal(&app, &resolve_path(&leaf, &app.address)).await,
        (404, "not_found".into())
    );
    assert_eq!(refusal(&app, &hosted).await, (404, "not_found".into()));
}

/// Metadata with its lists and its scope in sorted order: the policies treat them as sets, so
/// their order may differ between two resolutions.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v.as_str()) {
                        ("scope", Some(scope)) => {
                            let mut scopes: Vec<&str> = scope.split(' ').collect();
                            scopes.sort();
                            json!(scopes.join(" "))
                        }
                        _ => normalized(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalized).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// Rotates the federation keys as `keys rotate --federation` does; the kid that now signs.
async fn rotate_federation_keys(app: &TestApp) -> String {
    let state = app.state.clone();
    let alg = state.config.signing_alg.as_str();
    app.state
        .db(move |conn| {
            ssa_directory::services::signing_keys::rotate(
                conn,
                &state.federation_keys,
                alg,
                &ssa_directory::model::Actor::Cli,
                ssa_directory::model::keys::KeyPurpose::Federation,
                None,
                state.now(),
            )
        })
        .await
        .unwrap()
        .to_string()
}

fn encoded(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An ASPSP's authorization server is an `openid_provider` / `oauth_authorization_server`
/// leaf: here the bank's registrar, serving its own entity configuration (signed with its
/// federation key, which the bank uploads to its organisation's keystore) at the issuer the
/// bank registered. The directory lists it, states its keys and pins its issuer, resolves it
/// by fetching its configuration; and a product registers at it by explicit registration,
/// the registrar resolving the product's chain up to the directory.
#[tokio::test]
async fn an_authorization_server_is_a_leaf_and_registers_products_by_explicit_registration() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = crate::helpers::tls_files(dir.path());
    let cert_pem = std::fs::read_to_string(&cert_file).unwrap();
    // The directory fetches the server's configuration from 127.0.0.1, trusting its certificate.
    let app = crate::helpers::spawn_app_with(|config| {
        config.push_allow_private_targets = true;
        config.push_ca_file = Some(cert_file.clone());
    })
    .await;
    let c = approved(&app).await;
    let client = crate::oauth::client(&app, &c, &c.software_id).await;
    // The registrar pins the directory's federation keys.
    let (_, anchor) = entity_configuration(&app).await;
    let pinned = dir.path().join("anchor.jwks");
    std::fs::write(&pinned, anchor["jwks"].to_string()).unwrap();
    let host =
        crate::issuers::IssuerHost::start(&app, (cert_file.clone(), key_file.clone()), |config| {
            config.trust_anchor = Some(app.address.clone());
            config.trust_anchor_jwks = Some(pinned.clone());
        })
        .await;
    let issuer = host.issuer.clone();
    let https = crate::registrar::tls_client(&cert_pem, None);

    // The registrar's entity configuration: about itself, under the directory.
    let response = https
        .get(format!("{issuer}/.well-known/openid-federation"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/entity-statement+jwt"
    );
    let own = response.text().await.unwrap();
    let (_, unverified) = parts(&own);
    let server_config = verified(&own, &unverified["jwks"]);
    assert_eq!(server_config["sub"], issuer.as_str());
    assert_eq!(server_config["authority_hints"], json!([app.address]));
    let op = &server_config["metadata"]["openid_provider"];
    let explicit = op["federation_registration_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();

    // Not yet a subordinate: the bank has not registered the server.
    assert_eq!(
        refusal(&app, &fetch_path(&issuer)).await,
        (404, "not_found".into())
    );
    let admin = app.user("admin@bank.example", false).await;
    let bank = app.apply(&admin, &["ASPSP"]).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/organisations/{bank}"),
        "approve",
    )
    .await;
    let (status, body) = app
        .api(
            reqwest::Method::PUT,
            &format!("/api/v1/organisations/{bank}/authorization-servers"),
            Some(&admin.token),
            Some(json!({"authorization_servers": [{
                "issuer": issuer,
                "registration_endpoint": format!("{issuer}/register"),
            }]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Not a subordinate either until the bank proves it controls the issuer.
    assert_eq!(
        refusal(&app, &fetch_path(&issuer)).await,
        (404, "not_found".into())
    );
    host.answer(&crate::issuers::claim(&app, &admin, &bank, &issuer).await);
    let (status, body) = crate::issuers::verify(&app, &admin, &bank, &issuer).await;
    assert_eq!(status, 200, "{body}");

    // Listed by its entity types (and not as trust-marked: servers hold no marks).
    let list = |query: &'static str| {
        let app = &app;
        async move {
            let (status, _, body) = get(app, &format!("/federation/list{query}")).await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<Vec<String>>(&body).unwrap()
        }
    };
    assert_eq!(
        list("?entity_type=openid_provider").await,
        vec![issuer.clone()]
    );
    assert!(list("").await.contains(&issuer));
    assert!(
        !list("?entity_type=openid_relying_party")
            .await
            .contains(&issuer)
    );
    assert!(!list("?trust_marked=true").await.contains(&issuer));

    // No statement while the configuration it serves is not signed by a key of the bank's
    // keystore: the directory vouches for no keys it has not seen sign.
    let (_, anchor_config) = entity_configuration(&app).await;
    assert_eq!(
        refusal(&app, &fetch_path(&issuer)).await,
        (404, "not_found".into())
    );
    // Resolving fetches its configuration, which no key of the bank's keystore signed yet.
    let resolve = format!(
        "/federation/resolve?sub={}&trust_anchor={}",
        encoded(&issuer),
        encoded(&app.address)
    );
    assert_eq!(
        refusal(&app, &resolve).await,
        (400, "invalid_trust_chain".into())
    );
    // No trust marks for a server.
    assert_eq!(
        refusal(
            &app,
            &format!(
                "/federation/trust-mark?sub={}&trust_mark_type={}",
                encoded(&issuer),
                encoded(&app.url("/trust-marks/AISP/sandbox"))
            )
        )
        .await
        .0,
        404
    );

    // The bank uploads the registrar's federation key to its organisation's keystore.
    let server_key = unverified["jwks"]["keys"][0].clone();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/organisations/{bank}/keys"),
            &admin,
            json!({"jwk": server_key}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Another key of the bank's, which the server's configuration does not list.
    let (status, body) = app
        .post_json(
            &format!("/api/v1/organisations/{bank}/keys"),
            &admin,
            json!({"jwk": crate::oauth::Key::new().jwk()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Now its statement lists the server's key alone and pins what the bank registered.
    let (status, _, statement) = get(&app, &fetch_path(&issuer)).await;
    assert_eq!(status, 200, "{statement}");
    let statement = verified(&statement, &anchor_config["jwks"]);
    assert_eq!(statement["sub"], issuer.as_str());
    assert_eq!(statement["jwks"]["keys"].as_array().unwrap().len(), 1);
    assert_eq!(statement["jwks"]["keys"][0]["kid"], server_key["kid"]);
    assert_eq!(
        statement["metadata_policy"]["openid_provider"]["issuer"]["value"],
        issuer.as_str()
    );
    assert_eq!(statement["constraints"]["max_path_length"], 0);
    let (status, kind, resolved) = get(&app, &resolve).await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(kind, "application/resolve-response+jwt");
    let resolved = verified(&resolved, &anchor_config["jwks"]);
    assert_eq!(
        resolved["metadata"]["openid_provider"]["issuer"],
        issuer.as_str()
    );
    assert_eq!(
        resolved["metadata"]["openid_provider"]["federation_registration_endpoint"],
        explicit.as_str()
    );
    assert_eq!(resolved["trust_marks"], json!([]));
    let chain: Vec<String> = resolved["trust_chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let anchor_keys = ssa_verifier::KeySet::from_json(&anchor_config["jwks"].to_string()).unwrap();
    let validated =
        ssa_verifier::federation::validate_chain(&chain, &app.address, &anchor_keys, unix_now())
            .unwrap();
    assert_eq!(validated.entity_id, issuer);

    // Explicit registration: the product posts its entity configuration, addressed to the
    // registrar; the answer is signed by the registrar, its metadata the directory's policy
    // applied (the keystore's jwks_uri pinned, the redirect URIs narrowed to the registered).
    let leaf = app.url(&format!("/federation/software/{}", c.software_id));
    let (_, product) = app
        .get_json(&format!("/api/v1/software/{}", c.software_id), &c.developer)
        .await;
    let registered = product["redirect_uris"][0].as_str().unwrap().to_owned();
    let rp = json!({
        "client_name": "Leaf RP",
        "redirect_uris": [registered],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "openid accounts",
        "jwks_uri": "https://elsewhere.example/jwks",
    });
    let addressed = |claims: &mut Value, _: &mut jsonwebtoken::Header| {
        claims["aud"] = json!(issuer.clone());
    };
    let request = leaf_configuration(&app, &leaf, &client.signing, rp.clone(), addressed);
    let post = |body: String, media: &'static str| {
        let (https, explicit) = (&https, &explicit);
        async move {
            let response = https
                .post(explicit.as_str())
                .header("content-type", media)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (status, kind, response.text().await.unwrap())
        }
    };
    let (status, kind, answer) = post(request.clone(), "application/entity-statement+jwt").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(kind, "application/explicit-registration-response+jwt");
    let (header, _) = parts(&answer);
    assert_eq!(header["typ"], "explicit-registration-response+jwt");
    let answer = verified(&answer, &server_config["jwks"]);
    assert_eq!(answer["iss"], issuer.as_str());
    assert_eq!(answer["sub"], leaf.as_str());
    assert_eq!(answer["aud"], leaf.as_str());
    assert_eq!(answer["trust_anchor"], app.address.as_str());
    assert_eq!(answer["authority_hints"], json!([app.address]));
    let registered_rp = &answer["metadata"]["openid_relying_party"];
    let client_id = registered_rp["client_id"].as_str().unwrap();
    assert_eq!(registered_rp["software_id"], c.software_id.as_str());
    assert!(
        registered_rp["jwks_uri"]
            .as_str()
            .unwrap()
            .contains(&c.software_id),
        "{registered_rp}"
    );
    assert_eq!(registered_rp["redirect_uris"], json!([registered]));
    // Registered as any client: RFC 7592 reads it with its access token.
    let read = https
        .get(registered_rp["registration_client_uri"].as_str().unwrap())
        .bearer_auth(registered_rp["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["client_id"], client_id);

    // Refused: another media type, not addressed to the registrar, signed by a key the
    // product's keystore does not hold, metadata the directory's policy refuses.
    let error = |body: &str| -> String {
        let body: Value = serde_json::from_str(body).unwrap();
        assert!(body["error_description"].as_str().is_some(), "{body}");
        body["error"].as_str().unwrap().to_owned()
    };
    let (status, _, body) = post(request.clone(), "application/jwt").await;
    assert_eq!((status, error(&body)), (400, "invalid_request".into()));
    let unaddressed = leaf_configuration(&app, &leaf, &client.signing, rp.clone(), |_, _| {});
    let (status, _, body) = post(unaddressed, "application/entity-statement+jwt").await;
    assert_eq!((status, error(&body)), (400, "invalid_request".into()));
    let elsewhere = leaf_configuration(&app, &leaf, &client.signing, rp.clone(), |claims, h| {
        addressed(claims, h);
        claims["authority_hints"] = json!(["https://other-anchor.example"]);
    });
    let (status, _, body) = post(elsewhere, "application/entity-statement+jwt").await;
    assert_eq!((status, error(&body)), (400, "invalid_request".into()));
    let stranger = crate::oauth::Key::new();
    let forged = leaf_configuration(&app, &leaf, &stranger, rp.clone(), addressed);
    let (status, _, body) = post(forged, "application/entity-statement+jwt").await;
    assert_eq!((status, error(&body)), (400, "invalid_trust_chain".into()));
    let mut secret = rp.clone();
    secret["token_endpoint_auth_method"] = json!("client_secret_basic");
    let outside = leaf_configuration(&app, &leaf, &client.signing, secret, addressed);
    let (status, _, body) = post(outside, "application/entity-statement+jwt").await;
    assert_eq!((status, error(&body)), (400, "invalid_metadata".into()));

    // Automatic registration: the authorization server passes the request object of an
    // authorization request whose client_id is the product's entity identifier; the
    // registrar resolves the chain from the configuration the product publishes at the
    // directory, checks the request object with the product's keystore keys, and answers
    // the client, its id the entity identifier.
    let published = leaf_configuration(&app, &leaf, &client.signing, rp.clone(), |_, _| {});
    let (status, _) = publish(&app, &c, &published, "application/entity-statement+jwt").await;
    assert_eq!(status, 204);
    let signed_request = |key: &crate::oauth::Key, claims: Value| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(key.jwk()["kid"].as_str().unwrap().to_owned());
        header.typ = Some("oauth-authz-req+jwt".into());
        key.sign(header, &claims)
    };
    let request_claims = |audience: &str| {
        json!({
            "iss": leaf, "client_id": leaf, "aud": audience,
            "iat": unix_now(), "exp": unix_now() + 60, "jti": uuid::Uuid::new_v4().to_string(),
            "response_type": "code", "redirect_uri": registered, "scope": "openid accounts",
        })
    };
    let request_object =
        |key: &crate::oauth::Key, audience: &str| signed_request(key, request_claims(audience));
    let automatic = |request: String| {
        let (https, issuer) = (&https, &issuer);
        async move {
            let response = https
                .post(format!("{issuer}/federation/automatic"))
                .form(&[("request", request)])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, registered_client) = automatic(request_object(&client.signing, &issuer)).await;
    assert_eq!(status, 200, "{registered_client}");
    assert_eq!(registered_client["client_id"], leaf.as_str());
    assert_eq!(registered_client["software_id"], c.software_id.as_str());
    assert_eq!(
        registered_client["token_endpoint_auth_method"],
        "private_key_jwt"
    );
    // Again: the same client, registered again.
    let (status, again) = automatic(request_object(&client.signing, &issuer)).await;
    assert_eq!((status, &again["client_id"]), (200, &json!(leaf)));
    // The same request object twice: the second is a replay.
    let once = request_object(&client.signing, &issuer);
    assert_eq!(automatic(once.clone()).await.0, 200);
    let (status, replayed) = automatic(once).await;
    assert_eq!(
        (status, replayed["error"].as_str()),
        (400, Some("invalid_request_object")),
        "{replayed}"
    );
    assert!(
        replayed["error_description"]
            .as_str()
            .unwrap()
            .contains("used already"),
        "{replayed}"
    );
    // Refused: signed by a key not the product's, addressed elsewhere, no request object.
    for (request, code) in [
        (request_object(&stranger, &issuer), "invalid_request_object"),
        (
            request_object(&client.signing, "https://other-bank.example"),
            "invalid_request_object",
        ),
        (String::new(), "invalid_request"),
        (
            signed_request(&client.signing, {
                let mut claims = request_claims(&issuer);
                claims.as_object_mut().unwrap().remove("jti");
                claims
            }),
            "invalid_request_object",
        ),
    ] {
        let (status, body) = automatic(request).await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, code),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_registrar_pinning_other_anchor_keys_trusts_no_chain_under_the_anchor() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let pinned = dir.path().join("anchor.jwks");
    let stranger = crate::oauth::Key::new();
    std::fs::write(&pinned, json!({"keys": [stranger.jwk()]}).to_string()).unwrap();
    let s = crate::registrar::service(&app, |config| {
        config.trust_anchor = Some(app.address.clone());
        config.trust_anchor_jwks = Some(pinned.clone());
    })
    .await;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(stranger.jwk()["kid"].as_str().unwrap().to_owned());
    let request = stranger.sign(
        header,
        &json!({"iss": "https://rp.example", "client_id": "https://rp.example", "aud": s.base,
            "exp": unix_now() + 60, "jti": "one"}),
    );
    let response = crate::helpers::client()
        .post(format!("{}/federation/automatic", s.base))
        .form(&[("request", request)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_trust_chain", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("trust anchor"),
        "{body}"
    );

    // A pin file without keys, or pins without an anchor: the service does not start.
    std::fs::write(&pinned, r#"{"keys": []}"#).unwrap();
    for anchor in [Some(app.address.clone()), None] {
        let db = crate::helpers::TestDatabase::create(dir.path());
        let config = ssa_registrar::server::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            directories: vec![app.address.clone()],
            database_url: db.url.clone(),
            keys_dir: dir.path().join("keys"),
            trust_anchor: anchor,
            trust_anchor_jwks: Some(pinned.clone()),
            ..Default::default()
        };
        let error = ssa_registrar::server::start(config)
            .await
            .err()
            .expect("refused");
        assert!(
            error
                .to_string()
                .contains("SSA_REGISTRAR_TRUST_ANCHOR_JWKS"),
            "{error}"
        );
    }
}

/// An organisation is a `federation_entity` leaf: its statement states its own keystore keys
/// and pins its legal name; it holds the trust marks of its roles in both environments; its
/// admins publish its entity configuration (an event), which the directory hosts and resolves
/// from; the list pages with a Link header, and the trust mark list names the holders.
#[tokio::test]
async fn an_organisation_is_a_leaf_with_its_roles_trust_marks_and_its_own_configuration() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let org = app.url(&format!("/federation/organisations/{}", c.org_id));
    let (_, anchor) = entity_configuration(&app).await;
    assert_eq!(
        anchor["metadata"]["federation_entity"]["federation_trust_mark_list_endpoint"],
        app.url("/federation/trust-mark/list").as_str()
    );

    // Fetch: its statement, no key yet, its legal name pinned.
    let (status, _, statement) = get(&app, &fetch_path(&org)).await;
    assert_eq!(status, 200, "{statement}");
    let statement = verified(&statement, &anchor["jwks"]);
    assert_eq!(statement["sub"], org.as_str());
    assert_eq!(statement["jwks"]["keys"], json!([]));
    let (_, record) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &c.admin)
        .await;
    let legal_name = record["legal_name"].as_str().unwrap().to_owned();
    assert_eq!(
        statement["metadata_policy"]["federation_entity"]["organization_name"]["value"],
        legal_name.as_str()
    );

    // Its roles (AISP, PISP) in both environments are its trust marks.
    let mark_type = |role: &str, env: &str| app.url(&format!("/trust-marks/{role}/{env}"));
    for (role, env, expected) in [
        ("aisp", "production", 200),
        ("pisp", "sandbox", 200),
        ("cbpii", "production", 404),
    ] {
        let path = format!(
            "/federation/trust-mark?trust_mark_type={}&sub={}",
            encoded(&mark_type(role, env)),
            encoded(&org)
        );
        let (status, _, body) = get(&app, &path).await;
        assert_eq!(status, expected, "{role} {env}: {body}");
    }
    // The trust mark list: every holder of a type, or whether one entity holds it.
    let holders = |query: String| {
        let app = &app;
        async move {
            let (status, _, body) = get(app, &format!("/federation/trust-mark/list?{query}")).await;
            (status, serde_json::from_str::<Value>(&body).unwrap())
        }
    };
    let (status, pisp_holders) = holders(format!(
        "trust_mark_type={}",
        encoded(&mark_type("pisp", "production"))
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(pisp_holders, json!([org]), "the product holds AISP only");
    let (_, alone) = holders(format!(
        "trust_mark_type={}&sub={}",
        encoded(&mark_type("aisp", "production")),
        encoded(&org)
    ))
    .await;
    assert_eq!(alone, json!([org]));
    let (status, body) = holders(String::new()).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_request"))
    );
    let (status, body) = holders("trust_mark_type=https%3A%2F%2Felsewhere.example".into()).await;
    assert_eq!((status, body["error"].clone()), (404, json!("not_found")));

    // The list pages: one identifier a page, each page linking the next, until none.
    let mut pages = vec![];
    let mut next = Some(app.url("/federation/list?limit=1"));
    while let Some(url) = next.take() {
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        next = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned())
            .map(|link| {
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                link[1..link.find('>').unwrap()].to_owned()
            });
        let page: Vec<String> = response.json().await.unwrap();
        assert_eq!(page.len(), 1);
        pages.extend(page);
        assert!(pages.len() < 10, "the pages end");
    }
    let all: Vec<String> = app.get("/federation/list").await.json().await.unwrap();
    assert_eq!(pages, all);
    // Oversized parameters, to every endpoint that reads an entity identifier or a mark.
    let long = encoded(&format!("https://{}", "x".repeat(3000)));
    for path in [
        format!(
            "/federation/resolve?sub={long}&trust_anchor={}",
            encoded(&app.address)
        ),
        format!(
            "/federation/trust-mark?sub={long}&trust_mark_type={}",
            encoded(&mark_type("aisp", "production"))
        ),
        format!(
            "/federation/trust-mark/list?sub={long}&trust_mark_type={}",
            encoded(&mark_type("aisp", "production"))
        ),
        format!("/federation/list?after={long}"),
    ] {
        assert_eq!(
            refusal(&app, &path).await,
            (400, "invalid_request".into()),
            "{path}"
        );
    }
    let response = app
        .client
        .post(app.url("/federation/trust-mark/status"))
        .form(&[("trust_mark", "x".repeat(17 * 1024))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    for bad in ["limit=0", "limit=1001", "limit=many"] {
        assert_eq!(
            refusal(&app, &format!("/federation/list?{bad}")).await,
            (400, "invalid_request".into()),
            "{bad}"
        );
    }

    // Its admin uploads an organisation key and publishes its entity configuration; a
    // developer may not, nor a configuration without federation_entity metadata.
    let key = crate::oauth::Key::new();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/organisations/{}/keys", c.org_id),
            &c.admin,
            json!({"jwk": key.jwk()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let configuration = |metadata: Value| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(key.jwk()["kid"].as_str().unwrap().to_owned());
        header.typ = Some("entity-statement+jwt".into());
        key.sign(
            header,
            &json!({
                "iss": org, "sub": org, "iat": unix_now(), "exp": unix_now() + 3600,
                "jwks": {"keys": [key.jwk()]},
                "authority_hints": [app.address],
                "metadata": metadata,
            }),
        )
    };
    let own = configuration(json!({"federation_entity": {
        "organization_name": "Whatever it calls itself",
        "contacts": ["ops@fintech.example"],
    }}));
    let put = |user: crate::helpers::TestUser, jwt: String| {
        let app = &app;
        let path = format!("/api/v1/organisations/{}/entity-configuration", c.org_id);
        async move {
            let response = app
                .client
                .put(app.url(&path))
                .bearer_auth(&user.token)
                .header("content-type", "application/entity-statement+jwt")
                .body(jwt)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    let (_, before) = crate::events::follow(&app, None, 100).await;
    assert_eq!(put(c.developer.clone(), own.clone()).await, 403);
    let rp_only = configuration(json!({"openid_relying_party": {}}));
    assert_eq!(put(c.admin.clone(), rp_only).await, 422);
    assert_eq!(put(c.admin.clone(), own.clone()).await, 204);
    let (events, _) = crate::events::follow(&app, Some(&before), 100).await;
    let mut published = vec![];
    for event in &events {
        let claims = crate::events::verify(&app, event["set"].as_str().unwrap()).await;
        published.push(crate::events::kind_of(&claims));
    }
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "entity-configuration-published");
    assert_eq!(published[0].1["subject"]["id"], c.org_id.as_str());
    let hosted = format!(
        "/federation/organisations/{}/.well-known/openid-federation",
        c.org_id
    );
    let (status, _, body) = get(&app, &hosted).await;
    assert_eq!((status, body), (200, own.clone()));

    // Resolve: its metadata with the legal name forced, its trust marks, a valid chain.
    let resolve = format!(
        "/federation/resolve?sub={}&trust_anchor={}",
        encoded(&org),
        encoded(&app.address)
    );
    let (status, _, resolved) = get(&app, &resolve).await;
    assert_eq!(status, 200, "{resolved}");
    let resolved = verified(&resolved, &anchor["jwks"]);
    let entity = &resolved["metadata"]["federation_entity"];
    assert_eq!(entity["organization_name"], legal_name.as_str());
    assert_eq!(entity["contacts"], json!(["ops@fintech.example"]));
    let types: Vec<&str> = resolved["trust_marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["trust_mark_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types.len(),
        4,
        "AISP and PISP, production and sandbox: {types:?}"
    );
    let chain: Vec<String> = resolved["trust_chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let anchor_keys = ssa_verifier::KeySet::from_json(&anchor["jwks"].to_string()).unwrap();
    ssa_verifier::federation::validate_chain(&chain, &app.address, &anchor_keys, unix_now())
        .unwrap();

    // Suspended, the organisation and its product leave the federation; its marks revoked.
    let (_, _, mark) = get(
        &app,
        &format!(
            "/federation/trust-mark?trust_mark_type={}&sub={}",
            encoded(&mark_type("aisp", "production")),
            encoded(&org)
        ),
    )
    .await;
    app.decide(
        &c.operator,
        &format!("/api/v1/organisations/{}", c.org_id),
        "suspend",
    )
    .await;
    assert_eq!(status_of(&app, &mark, &anchor["jwks"]).await, "revoked");
    assert_eq!(refusal(&app, &resolve).await, (404, "not_found".into()));
    assert_eq!(refusal(&app, &hosted).await, (404, "not_found".into()));
    let listed: Vec<String> = app.get("/federation/list").await.json().await.unwrap();
    assert!(
        listed
            .iter()
            .all(|id| !id.contains(&c.org_id) && !id.contains(&c.software_id)),
        "{listed:?}"
    );
}

/// Serves whatever entity configuration `served` holds at `/rp/.well-known/openid-federation`
/// on 127.0.0.1 (plain HTTP), as a product's owner would at its own entity identifier; that
/// identifier.
fn serve_owner(served: std::sync::Arc<std::sync::Mutex<Option<String>>>) -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let served = served.clone();
        App::new().route(
            "/rp/.well-known/openid-federation",
            web::get().to(move || {
                let served = served.lock().unwrap().clone();
                async move {
                    match served {
                        Some(jwt) => HttpResponse::Ok()
                            .content_type("application/entity-statement+jwt")
                            .body(jwt),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/rp")
}

/// A product whose owner hosts its entity configuration registers its entity identifier: the
/// directory fetches and checks the configuration first (its keystore's key, under the
/// anchor), then names the product by it everywhere and resolves from it; its own identifier
/// is refused for anything else, and clearing it brings the directory's back.
#[tokio::test]
async fn a_product_hosting_its_own_configuration_registers_its_entity_identifier() {
    // The owner's server is on loopback over plain HTTP here.
    let app = crate::helpers::spawn_app_with(|config| {
        config.push_allow_http = true;
        config.push_allow_private_targets = true;
        config.status_max_age_secs = 1;
    })
    .await;
    let c = approved(&app).await;
    let client = crate::oauth::client(&app, &c, &c.software_id).await;
    let served = std::sync::Arc::new(std::sync::Mutex::new(None));
    let own = serve_owner(served.clone());
    let hosted_id = app.url(&format!("/federation/software/{}", c.software_id));
    let path = format!("/api/v1/software/{}/entity-identifier", c.software_id);
    let put = |id: Value| {
        let (app, path, token) = (&app, &path, c.developer.token.clone());
        async move {
            app.api(
                reqwest::Method::PUT,
                path,
                Some(&token),
                Some(json!({ "entity_id": id })),
            )
            .await
        }
    };
    let (status, body) = app.get_json(&path, &c.developer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"entity_id": hosted_id, "self_hosted": false}));

    // Refused: nothing served there yet, a configuration signed by a key not the product's,
    // the directory's own URL, an identifier with a query.
    let (_, product) = app
        .get_json(&format!("/api/v1/software/{}", c.software_id), &c.developer)
        .await;
    let rp = json!({
        "client_name": "Own RP",
        "token_endpoint_auth_method": "private_key_jwt",
        "redirect_uris": product["redirect_uris"],
        "software_id": c.software_id,
    });
    let (status, body) = put(json!(own)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("cannot be read"),
        "{body}"
    );
    let stranger = crate::oauth::Key::new();
    *served.lock().unwrap() = Some(leaf_configuration(
        &app,
        &own,
        &stranger,
        rp.clone(),
        |_, _| {},
    ));
    let (status, body) = put(json!(own)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("keystore"),
        "{body}"
    );
    for bad in [app.url("/elsewhere"), format!("{own}?x=1")] {
        let (status, body) = put(json!(bad)).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    // Signed by the product's key but not naming its software_id: a key can be copied into a
    // keystore, the software_id ties the configuration to this product.
    let mut unnamed = rp.clone();
    unnamed.as_object_mut().unwrap().remove("software_id");
    *served.lock().unwrap() = Some(leaf_configuration(
        &app,
        &own,
        &client.signing,
        unnamed,
        |_, _| {},
    ));
    let (status, body) = put(json!(own)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("software_id"),
        "{body}"
    );
    // With metadata of another entity type besides its own.
    let mut provider = json!({"openid_relying_party": rp.clone()});
    provider["openid_provider"] = json!({"issuer": own});
    *served.lock().unwrap() = Some(leaf_configuration(
        &app,
        &own,
        &client.signing,
        Value::Null,
        |claims, _| {
            claims["metadata"] = provider.clone();
        },
    ));
    let (status, body) = put(json!(own)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("openid_provider"),
        "{body}"
    );

    // Registered once the product's key signs it.
    let configuration = leaf_configuration(&app, &own, &client.signing, rp.clone(), |_, _| {});
    *served.lock().unwrap() = Some(configuration.clone());
    let (_, before) = crate::events::follow(&app, None, 100).await;
    let (status, body) = put(json!(own)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"entity_id": own, "self_hosted": true}));
    let (events, _) = crate::events::follow(&app, Some(&before), 100).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let claims = crate::events::verify(&app, events[0]["set"].as_str().unwrap()).await;
    let (kind, payload) = crate::events::kind_of(&claims);
    assert_eq!(kind, "software-metadata");
    assert_eq!(payload["changed"], json!(["entity_id"]));
    let (_, body) = app.get_json(&path, &c.developer).await;
    assert_eq!(body["entity_id"], own.as_str());

    // The directory names the product by it: list, fetch, trust marks; not by its own one.
    let (_, anchor) = entity_configuration(&app).await;
    let listed: Vec<String> = app
        .get("/federation/list?entity_type=openid_relying_party")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, vec![own.clone()]);
    let (status, _, statement) = get(&app, &fetch_path(&own)).await;
    assert_eq!(status, 200, "{statement}");
    assert_eq!(verified(&statement, &anchor["jwks"])["sub"], own.as_str());
    assert_eq!(
        refusal(&app, &fetch_path(&hosted_id)).await,
        (404, "not_found".into())
    );
    let environment = product["environment"].as_str().unwrap();
    let mark = app.url(&format!("/trust-marks/aisp/{environment}"));
    let (status, _, body) = get(
        &app,
        &format!(
            "/federation/trust-mark?trust_mark_type={}&sub={}",
            encoded(&mark),
            encoded(&own)
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Publishing a configuration for the directory to host is refused meanwhile.
    let (status, body) =
        publish(&app, &c, &configuration, "application/entity-statement+jwt").await;
    assert_eq!(status, 409, "{body}");

    // Resolve fetches the configuration from the owner; so does the verifier.
    let resolve = format!(
        "/federation/resolve?sub={}&trust_anchor={}",
        encoded(&own),
        encoded(&app.address)
    );
    let (status, _, resolved) = get(&app, &resolve).await;
    assert_eq!(status, 200, "{resolved}");
    let resolved = verified(&resolved, &anchor["jwks"]);
    assert_eq!(resolved["trust_chain"][0], configuration.as_str());
    assert!(
        resolved["metadata"]["openid_relying_party"]["jwks_uri"]
            .as_str()
            .unwrap()
            .contains(&c.software_id)
    );
    let (entity, anchor_id) = (own.clone(), app.address.clone());
    let chain = crate::verifier::blocking(move || {
        ssa_verifier::federation::resolve_chain(
            &entity,
            &anchor_id,
            None,
            &crate::helpers::http_client(),
        )
    })
    .await
    .unwrap();
    assert_eq!(chain.entity_id, own);
    // The owner's configuration changes to one the keystore no longer vouches for: resolve
    // refuses it, and no statement is signed about it any more, once what the directory
    // fetched and signed is older than the max-age (one second here: it fetches from an
    // entity at most once in that time).
    *served.lock().unwrap() = Some(leaf_configuration(&app, &own, &stranger, rp, |_, _| {}));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        refusal(&app, &resolve).await,
        (400, "invalid_trust_chain".into())
    );
    assert_eq!(
        refusal(&app, &fetch_path(&own)).await,
        (404, "not_found".into())
    );

    // Cleared: the directory's identifier again.
    let (status, body) = put(Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"entity_id": hosted_id, "self_hosted": false}));
    let listed: Vec<String> = app
        .get("/federation/list?entity_type=openid_relying_party")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, vec![hosted_id]);
}
