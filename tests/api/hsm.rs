//! The pkcs11 key provider through the real server, against SoftHSM2: the SSA and federation
//! keys are born in the token and sign there, what they sign verifies as a bank verifies it,
//! nothing private reaches the keys folder, another instance (or a restart) on the same token
//! signs with the same keys, and a token that lacks a key the database names stops the start.

use ssa_directory::config::KeyProvider;
use ssa_directory::keys::pkcs11::{Token, softhsm};
use ssa_verifier::{Settings, Verifier};

use crate::helpers::{TestApp, spawn_app_with, spawn_sibling};
use crate::verifier::{approved, blocking, issue};

async fn in_token(label: &str) -> (TestApp, String) {
    let uri = softhsm::token(label).unwrap();
    let configured = uri.clone();
    let app = spawn_app_with(move |c| {
        c.key_provider = KeyProvider::Pkcs11;
        c.pkcs11_uri = Some(configured);
    })
    .await;
    (app, uri)
}

fn key_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    ["signing", "federation"]
        .iter()
        .filter_map(|folder| std::fs::read_dir(app.state.config.keys_dir.join(folder)).ok())
        .flatten()
        .map(|entry| entry.unwrap().path())
        .collect()
}

#[tokio::test]
async fn statements_and_federation_statements_are_signed_in_the_token_and_verify() {
    let (app, uri) = in_token("directory").await;
    let c = approved(&app).await;
    let jwt = issue(&app, &c).await;
    let address = app.address.clone();
    let verified = blocking(move || {
        Verifier::discover(&address, Settings::default())
            .unwrap()
            .verify_ssa(&jwt)
    })
    .await
    .expect("the verifier accepts a statement signed in the token");
    assert_eq!(verified.software_id, c.software_id);
    // The federation key signs the entity configuration, verified with its own JWKS.
    let (_, claims) = crate::federation::entity_configuration(&app).await;
    assert_eq!(claims["sub"], app.address.as_str());
    assert!(
        key_files(&app).is_empty(),
        "no private key in the keys folder: {:?}",
        key_files(&app)
    );

    // Every published key is in the token, born there, and refuses to reveal itself.
    let token = Token::open(&uri.parse().unwrap()).unwrap();
    let jwks: serde_json::Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        let kid = key["kid"].as_str().unwrap();
        let evidence = token.evidence(kid).unwrap();
        assert!(
            evidence.local && evidence.always_sensitive && evidence.never_extractable,
            "{kid}: {evidence:?}"
        );
        assert!(token.refuses_to_reveal(kid).unwrap(), "{kid}");
    }

    // A second instance on the same database and token signs with the same keys.
    let sibling = spawn_sibling(&app).await;
    let again = issue(&sibling, &c).await;
    let header = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid;
    assert_eq!(header(&again), verified_kid(&verified));
    let address = sibling.address.clone();
    blocking(move || {
        Verifier::discover(&address, Settings::default())
            .unwrap()
            .verify_ssa(&again)
    })
    .await
    .unwrap();
}

fn verified_kid(statement: &ssa_verifier::SoftwareStatement) -> Option<String> {
    Some(statement.kid.clone())
}

#[tokio::test]
async fn a_token_without_the_keys_the_database_names_stops_the_start() {
    // SoftHSM2 lists the tokens that exist when its module is initialised: both first.
    let empty = softhsm::token("empty").unwrap();
    let (app, _) = in_token("first").await;
    let mut config = app.state.config.clone();
    config.pkcs11_uri = Some(empty);
    let error = ssa_directory::Application::build(config)
        .await
        .err()
        .expect("the start fails");
    let error = format!("{error:#}");
    assert!(
        error.contains("token=empty") && error.contains("no private key with id"),
        "{error}"
    );
    assert!(!error.contains("1234"), "the PIN is never shown: {error}");
}
