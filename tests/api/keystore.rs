//! The participant keystore: uploads, checks, publication, removal to the revoked set.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{cast, spawn_app};

fn rsa_jwk(bits: u32) -> Value {
    let key = openssl::rsa::Rsa::generate(bits).unwrap();
    let b64 = |v: Vec<u8>| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    json!({"kty": "RSA", "n": b64(key.n().to_vec()), "e": b64(key.e().to_vec()), "use": "sig", "alg": "PS256"})
}

/// The cast, with its product approved: only active products get new keys.
async fn active(app: &crate::helpers::TestApp) -> crate::helpers::Cast {
    let c = cast(app).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    c
}

#[tokio::test]
async fn uploaded_keys_are_published_and_removed_keys_move_to_the_revoked_set() {
    let app = spawn_app().await;
    let c = active(&app).await;
    let keys = format!("/api/v1/software/{}/keys", c.software_id);
    let published = format!("/keystore/{}/{}.jwks", c.org_id, c.software_id);
    let revoked = format!("/keystore/{}/revoked/{}.jwks", c.org_id, c.software_id);

    let (status, key) = app
        .post_json(&keys, &c.developer, json!({"jwk": rsa_jwk(2048)}))
        .await;
    assert_eq!(status, 201, "{key}");
    let kid = key["kid"].as_str().unwrap().to_owned();
    assert_eq!(kid.len(), 43, "the thumbprint names a key without a kid");

    let response = app.get(&published).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert!(response.headers().contains_key("etag"));
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["keys"][0]["kid"], kid.as_str());
    let doc: Value = app.get(&revoked).await.json().await.unwrap();
    assert_eq!(doc["keys"], json!([]));

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("{keys}/{kid}"),
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let doc: Value = app.get(&published).await.json().await.unwrap();
    assert_eq!(doc["keys"], json!([]));
    let doc: Value = app.get(&revoked).await.json().await.unwrap();
    assert_eq!(doc["keys"][0]["kid"], kid.as_str());

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("{keys}/{kid}"),
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(status, 404, "already removed");
}

#[tokio::test]
async fn bad_keys_are_refused_with_a_reason_and_nothing_is_stored() {
    let app = spawn_app().await;
    let c = active(&app).await;
    let keys = format!("/api/v1/software/{}/keys", c.software_id);
    let good = rsa_jwk(2048);
    let mut private = good.clone();
    private["d"] = json!("AQAB");
    let mut bad_b64 = good.clone();
    bad_b64["n"] = json!("%%%");
    // What the probe published: moduli no verifier can use or that are no RSA modulus.
    let modulus = |bytes: Vec<u8>| {
        use base64::Engine;
        let mut jwk = good.clone();
        jwk["n"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        jwk
    };
    let mut huge = vec![0xffu8; 8192];
    huge[8191] = 0xfd;
    let mut even = vec![0xc5u8; 256];
    even[255] = 0x10;
    let mut exponent = good.clone();
    exponent["e"] = json!("AQ"); // 1
    let mut even_exponent = good.clone();
    even_exponent["e"] = json!("AQAA"); // 65536
    let cases = [
        (modulus(huge), "2048 to 8192 bits"),
        (modulus(even), "is even"),
        (modulus(vec![0xff; 256]), "divisible by 3"),
        (exponent, "jwk.e"),
        (even_exponent, "jwk.e"),
        (private, "jwk.d"),
        (json!({"kty": "oct", "k": "c2VjcmV0"}), "jwk.k"),
        (json!({"kty": "oct"}), "symmetric"),
        (rsa_jwk(1024), "2048 to 8192 bits"),
        (bad_b64, "base64url"),
        (
            json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            "P-521",
        ),
        (json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"}), "OKP"),
        (json!("a string"), "JSON object"),
    ];
    for (jwk, expected) in cases {
        let (status, problem) = app
            .post_json(&keys, &c.developer, json!({"jwk": jwk}))
            .await;
        assert_eq!(status, 422, "{expected}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{expected}: {problem}"
        );
    }
    let (_, list) = app.get_json(&keys, &c.developer).await;
    assert_eq!(list["items"], json!([]));

    let (status, _) = app
        .post_json(&keys, &c.developer, json!({"jwk": good}))
        .await;
    assert_eq!(status, 201);
    let (status, problem) = app
        .post_json(&keys, &c.developer, json!({"jwk": good}))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already published")
    );
}

#[tokio::test]
async fn at_most_twenty_keys_are_published() {
    let app = spawn_app().await;
    let c = active(&app).await;
    let keys = format!("/api/v1/software/{}/keys", c.software_id);
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    for i in 0..21 {
        let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap())
            .unwrap();
        let jwk = ssa_directory::keys::jwk::public_jwk(&key, "ES256").unwrap();
        let (status, body) = app
            .post_json(&keys, &c.developer, json!({"jwk": jwk}))
            .await;
        if i < 20 {
            assert_eq!(status, 201, "{i}: {body}");
        } else {
            assert_eq!(status, 409, "{body}");
            assert!(body["detail"].as_str().unwrap().contains("at most 20"));
        }
    }
}

#[tokio::test]
async fn organisation_keys_are_managed_by_admins_and_confined_to_members() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let keys = format!("/api/v1/organisations/{}/keys", c.org_id);
    let (status, _) = app
        .post_json(&keys, &c.developer, json!({"jwk": rsa_jwk(2048)}))
        .await;
    assert_eq!(status, 403, "developers manage software keys only");
    let (status, _) = app
        .post_json(&keys, &c.outsider, json!({"jwk": rsa_jwk(2048)}))
        .await;
    assert_eq!(status, 404);
    let (status, key) = app
        .post_json(&keys, &c.admin, json!({"jwk": rsa_jwk(2048)}))
        .await;
    assert_eq!(status, 201, "{key}");
    let doc: Value = app
        .get(&format!("/keystore/{}/{}.jwks", c.org_id, c.org_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["keys"][0]["kid"], key["kid"]);

    let (status, _) = app
        .post_json(
            &format!("/api/v1/software/{}/keys", c.software_id),
            &c.outsider,
            json!({"jwk": rsa_jwk(2048)}),
        )
        .await;
    assert_eq!(status, 404, "another organisation's software");
    assert_eq!(
        app.get(&format!(
            "/keystore/{}/{}.jwks",
            c.other_org_id, c.software_id
        ))
        .await
        .status(),
        404,
        "a software id under another organisation's keystore"
    );
    assert_eq!(
        app.get(&format!("/keystore/{}/nothing", c.org_id))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn kids_from_users_are_percent_encoded_in_locations_and_pages() {
    let app = spawn_app().await;
    let c = active(&app).await;
    let keys = format!("/api/v1/software/{}/keys", c.software_id);
    for (kid, encoded) in [
        ("../../x", "..%2F..%2Fx"),
        ("a b", "a%20b"),
        ("schlüssel", "schl%C3%BCssel"),
        ("x?y#z%", "x%3Fy%23z%25"),
    ] {
        let mut jwk = rsa_jwk(2048);
        jwk["kid"] = json!(kid);
        let response = app
            .client
            .post(app.url(&keys))
            .bearer_auth(&c.developer.token)
            .json(&json!({ "jwk": jwk }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{kid}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location, format!("{keys}/{encoded}"), "{kid}");

        // The software page's removal form names the same URL.
        let page = crate::helpers::portal_page(
            &app,
            &c.developer,
            &format!("/software/{}", c.software_id),
        )
        .await;
        assert!(
            page.contains(&format!(
                "action=\"/software/{}/keys/{encoded}/remove\"",
                c.software_id
            )),
            "{kid}"
        );

        let (status, _) = app
            .api(Method::DELETE, &location, Some(&c.developer.token), None)
            .await;
        assert_eq!(status, 204, "the Location names the key: {kid}");
    }
}

#[tokio::test]
async fn only_active_software_of_an_active_organisation_gets_new_keys_but_any_may_remove_them() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let product = format!("/api/v1/software/{}", c.software_id);
    let keys = format!("{product}/keys");
    let published = format!("/keystore/{}/{}.jwks", c.org_id, c.software_id);

    let (status, problem) = app
        .post_json(&keys, &c.developer, json!({"jwk": rsa_jwk(2048)}))
        .await;
    assert_eq!(status, 409, "pending: {problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("the software is pending; only active software gets new keys"),
        "{problem}"
    );

    app.decide(&c.operator, &product, "approve").await;
    let (status, key) = app
        .post_json(&keys, &c.developer, json!({"jwk": rsa_jwk(2048)}))
        .await;
    assert_eq!(status, 201, "{key}");
    let kid = key["kid"].as_str().unwrap().to_owned();

    for (action, status_word) in [("suspend", "suspended"), ("revoke", "revoked")] {
        app.decide(&c.operator, &product, action).await;
        let (status, problem) = app
            .post_json(&keys, &c.developer, json!({"jwk": rsa_jwk(2048)}))
            .await;
        assert_eq!(status, 409, "{action}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(status_word),
            "{problem}"
        );
        let doc: Value = app.get(&published).await.json().await.unwrap();
        assert_eq!(
            doc["keys"].as_array().unwrap().len(),
            1,
            "nothing was added"
        );
    }

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("{keys}/{kid}"),
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(
        status, 204,
        "a revoked product's keys can still be withdrawn"
    );
    let doc: Value = app.get(&published).await.json().await.unwrap();
    assert_eq!(doc["keys"], json!([]));

    // The organisation's own keys follow the organisation's status.
    let org = format!("/api/v1/organisations/{}", c.org_id);
    app.decide(&c.operator, &org, "suspend").await;
    let (status, problem) = app
        .post_json(
            &format!("{org}/keys"),
            &c.admin,
            json!({"jwk": rsa_jwk(2048)}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn key_limits_and_duplicates_hold_under_concurrent_uploads() {
    let app = spawn_app().await;
    let c = active(&app).await;
    let keys = format!("/api/v1/software/{}/keys", c.software_id);
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let jwk = || {
        let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap())
            .unwrap();
        Value::Object(ssa_directory::keys::jwk::public_jwk(&key, "ES256").unwrap())
    };

    // The same key ten times at once: published once.
    let same = jwk();
    let uploads = (0..10).map(|_| app.post_json(&keys, &c.developer, json!({"jwk": same.clone()})));
    let statuses: Vec<u16> = futures_util::future::join_all(uploads)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );

    // 25 different keys at once: 19 more fit.
    let uploads = (0..25).map(|_| {
        let body = json!({"jwk": jwk()});
        app.post_json(&keys, &c.developer, body)
    });
    let outcomes = futures_util::future::join_all(uploads).await;
    let created = outcomes.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 19, "{outcomes:?}");
    for (status, body) in outcomes.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("at most 20"),
            "{body}"
        );
    }
    let doc: Value = app
        .get(&format!("/keystore/{}/{}.jwks", c.org_id, c.software_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["keys"].as_array().unwrap().len(), 20);
}
