//! Load for `scripts/bench/federation.sh`: the directory's OpenID Federation endpoints.
//!
//!   federation_load ceiling ALG N
//!       resolve's ceiling on this core: N times the four signatures a resolve response needs
//!       (the subordinate statement, the anchor's entity configuration, one trust mark, the
//!       response) with an ALG key (PS256 or ES256, as the directory's federation keys) and the
//!       metadata policy applied, in one thread, no HTTP, no database; prints responses/s
//!   federation_load load PUBLIC_URL PERSON_TOKEN SOFTWARE_ID ROUNDS REQUESTS CONCURRENCY
//!       publishes an entity configuration for the product (a key uploaded to its keystore
//!       signs it), then in alternating rounds measures `GET /.well-known/jwks.json`,
//!       `GET /federation/fetch?sub=` and `GET /federation/resolve?sub=&trust_anchor=`;
//!       prints `JWKS rate…`, `FETCH rate…` and `RESOLVE rate…`

use std::time::Instant;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde_json::{Value, json};

#[path = "support/load.rs"]
mod load;

use load::Fallible;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn ceiling(alg: &str, n: usize) -> Fallible<()> {
    // Signed as the directory signs: its key ring, with the key parsed once.
    let dir = std::env::temp_dir().join(format!("federation-ceiling-{}", std::process::id()));
    let ring = ssa_directory::keys::signing::KeyRing::federation(&dir, None);
    let at = ssa_directory::model::Clock::now(&ssa_directory::model::SystemClock);
    let (public, held) = ring.generate(alg, at)?;
    let key = ssa_directory::model::keys::SigningKey {
        kid: ssa_directory::model::Kid::from_trusted(public["kid"].as_str().unwrap_or_default()),
        purpose: ssa_directory::model::keys::KeyPurpose::Federation,
        alg: alg.to_owned(),
        public_jwk: serde_json::Value::Object(public).to_string(),
        state: ssa_directory::model::keys::KeyState::Active,
        created_at: at,
        retired_at: None,
        reference: Some(held.reference),
        evidence: held.evidence,
    };
    let policy = json!({"openid_relying_party": {
        "jwks_uri": {"value": "https://d.example/keystore/o/s.jwks"},
        "redirect_uris": {"subset_of": ["https://app.example/cb"], "essential": true},
        "token_endpoint_auth_method": {"one_of": ["private_key_jwt", "tls_client_auth"], "essential": true},
        "scope": {"subset_of": ["openid", "accounts"]},
    }});
    let leaf = json!({"openid_relying_party": {
        "redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "openid accounts",
    }});
    let claims = json!({"iss": "https://d.example", "sub": "https://d.example/federation/software/s",
        "iat": now(), "exp": now() + 86400, "jwks": {"keys": []}, "metadata_policy": policy});
    let started = Instant::now();
    for _ in 0..n {
        let metadata =
            ssa_verifier::federation::apply_policies(&[(policy.clone(), json!({}))], &leaf)
                .map_err(|e| format!("policy: {e}"))?;
        for _ in 0..3 {
            ring.sign_typed(&key, "entity-statement+jwt", &claims)?;
        }
        ring.sign_typed(
            &key,
            "resolve-response+jwt",
            &json!({"metadata": metadata, "iat": now()}),
        )?;
    }
    println!("{:.0}", n as f64 / started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn load(args: &[String]) -> Fallible<()> {
    let [base, person, software, rounds, requests, concurrency] = args else {
        return Err(USAGE.into());
    };
    let (rounds, requests, concurrency): (usize, usize, usize) =
        (rounds.parse()?, requests.parse()?, concurrency.parse()?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    // The product's key, and its entity configuration signed with it.
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let pkey = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let jwk = ssa_directory::keys::jwk::public_jwk(&pkey, "ES256")?;
    let uploaded = http
        .post(format!("{base}/api/v1/software/{software}/keys"))
        .bearer_auth(person)
        .json(&json!({"jwk": jwk}))
        .send()
        .await?;
    if uploaded.status() != 201 {
        return Err(format!("the key upload: {}", uploaded.text().await?).into());
    }
    let product: Value = http
        .get(format!("{base}/api/v1/software/{software}"))
        .bearer_auth(person)
        .send()
        .await?
        .json()
        .await?;
    let leaf = format!("{base}/federation/software/{software}");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = jwk["kid"].as_str().map(str::to_owned);
    header.typ = Some("entity-statement+jwt".into());
    let configuration = jsonwebtoken::encode(
        &header,
        &json!({"iss": leaf, "sub": leaf, "iat": now(), "exp": now() + 3600,
        "jwks": {"keys": [jwk]}, "authority_hints": [base],
        "metadata": {"openid_relying_party": {
            "redirect_uris": product["redirect_uris"],
            "token_endpoint_auth_method": "private_key_jwt",
            "scope": "openid accounts",
        }}}),
        &EncodingKey::from_ec_pem(&pkey.private_key_to_pem_pkcs8()?)?,
    )?;
    let published = http
        .put(format!(
            "{base}/api/v1/software/{software}/entity-configuration"
        ))
        .bearer_auth(person)
        .header("content-type", "application/entity-statement+jwt")
        .body(configuration)
        .send()
        .await?;
    if published.status() != 204 {
        return Err(format!("publishing: {}", published.text().await?).into());
    }
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let urls = [
        format!("{base}/.well-known/jwks.json"),
        format!("{base}/federation/fetch?sub={}", encode(&leaf)),
        format!(
            "{base}/federation/resolve?sub={}&trust_anchor={}",
            encode(&leaf),
            encode(base)
        ),
    ];
    let mut rates: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        for (i, url) in urls.iter().enumerate() {
            let batch = (0..requests).map(|_| http.get(url)).collect();
            rates[i].push(load::run(batch, concurrency, 200).await?);
        }
    }
    for (name, rates) in ["JWKS", "FETCH", "RESOLVE"].iter().zip(&rates) {
        let line: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!("{name} {}", line.join(" "));
    }
    Ok(())
}

const USAGE: &str = "usage: federation_load ceiling ALG N | load PUBLIC_URL PERSON_TOKEN SOFTWARE_ID ROUNDS REQUESTS CONCURRENCY";

#[tokio::main]
async fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("ceiling") => ceiling(
            args.get(2).map_or("PS256", String::as_str),
            args.get(3).and_then(|n| n.parse().ok()).unwrap_or(2000),
        ),
        Some("load") => load(&args[2..]).await,
        _ => Err(USAGE.into()),
    }
}
