//! Load for `scripts/bench/oauth.sh`: machine clients of the directory's API.
//!
//!   oauth_load ceiling PUBLIC_URL N
//!       the token endpoint's ceiling on this core: N client assertions and N DPoP proofs
//!       checked in one thread, no HTTP, no database; prints checks (one of each) per second
//!   oauth_load load PUBLIC_URL PERSON_TOKEN SOFTWARE_ID ROUNDS REQUESTS CONCURRENCY ALG
//!       uploads a key for the product, then measures token requests per second (DPoP proofs
//!       signed with ALG, ES256 or PS256), and in
//!       alternating rounds the same API call (`GET /api/v1/software/{id}`) with the person's
//!       bearer token and with a DPoP-bound token and a new proof each; prints
//!       `TOKENS rate`, `BEARER rate…` and `DPOP rate…`
//!
//! Every assertion and proof is signed before its round starts: the figures are the server's.

use std::time::Instant;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use serde_json::{Map, Value, json};
use ssa_directory::keys::proofs;

#[path = "support/load.rs"]
mod load;

use load::Fallible;

struct Key {
    pkey: PKey<Private>,
    encoding: EncodingKey,
    alg: Algorithm,
}

impl Key {
    fn new() -> Fallible<Self> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let pkey = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let encoding = EncodingKey::from_ec_pem(&pkey.private_key_to_pem_pkcs8()?)?;
        Ok(Self {
            pkey,
            encoding,
            alg: Algorithm::ES256,
        })
    }

    fn rsa() -> Fallible<Self> {
        let pkey = PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
        let encoding = EncodingKey::from_rsa_pem(&pkey.private_key_to_pem_pkcs8()?)?;
        Ok(Self {
            pkey,
            encoding,
            alg: Algorithm::PS256,
        })
    }

    fn of(alg: &str) -> Fallible<Self> {
        if alg == "PS256" {
            Self::rsa()
        } else {
            Self::new()
        }
    }

    fn jwk(&self) -> Fallible<Map<String, Value>> {
        let alg = if self.alg == Algorithm::PS256 {
            "PS256"
        } else {
            "ES256"
        };
        Ok(ssa_directory::keys::jwk::public_jwk(&self.pkey, alg)?)
    }

    fn sign(&self, header: &Header, claims: &Value) -> Fallible<String> {
        Ok(jsonwebtoken::encode(header, claims, &self.encoding)?)
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Signer {
    software_id: String,
    token_endpoint: String,
    signing: Key,
    kid: String,
    dpop: Key,
    dpop_header: Header,
}

impl Signer {
    fn new(public_url: &str, software_id: &str, dpop: Key) -> Fallible<Self> {
        let signing = Key::new()?;
        let kid = signing.jwk()?["kid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut dpop_header = Header::new(dpop.alg);
        dpop_header.typ = Some("dpop+jwt".into());
        dpop_header.jwk = serde_json::from_value(Value::Object(dpop.jwk()?)).ok();
        Ok(Self {
            software_id: software_id.to_owned(),
            token_endpoint: format!("{public_url}/oauth/token"),
            signing,
            kid,
            dpop,
            dpop_header,
        })
    }

    fn assertion(&self) -> Fallible<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        self.signing.sign(
            &header,
            &json!({
                "iss": self.software_id, "sub": self.software_id, "aud": self.token_endpoint,
                "exp": unix_now() + 240, "jti": uuid::Uuid::new_v4().to_string(),
            }),
        )
    }

    fn proof(&self, method: &str, url: &str, token: Option<&str>) -> Fallible<String> {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url, "iat": unix_now(),
        });
        if let Some(token) = token {
            claims["ath"] = json!(ssa_directory::keys::proofs::token_hash(token));
        }
        self.dpop.sign(&self.dpop_header, &claims)
    }

    fn form(&self, assertion: String) -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.software_id.clone()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion", assertion),
        ]
    }
}

fn ceiling(public_url: &str, n: usize, alg: &str) -> Fallible<()> {
    let software_id = uuid::Uuid::new_v4().to_string();
    let signer = Signer::new(public_url, &software_id, Key::of(alg)?)?;
    let keys = vec![signer.signing.jwk()?];
    let audiences = [signer.token_endpoint.clone(), public_url.to_owned()];
    let pairs = (0..n)
        .map(|_| {
            Ok((
                signer.assertion()?,
                signer.proof("POST", &signer.token_endpoint, None)?,
            ))
        })
        .collect::<Fallible<Vec<(String, String)>>>()?;
    let now = unix_now();
    let endpoint = &signer.token_endpoint;
    let started = Instant::now();
    for (assertion, proof) in &pairs {
        proofs::check_assertion(assertion, &software_id, &audiences, &keys, now)?;
        proofs::check_dpop(proof, "POST", endpoint, None, now)?;
    }
    let both = n as f64 / started.elapsed().as_secs_f64();
    // The DPoP proofs alone (what each API call checks), on stderr.
    let started = Instant::now();
    for (_, proof) in &pairs {
        proofs::check_dpop(proof, "POST", endpoint, None, now)?;
    }
    eprintln!("PROOFS {:.0}", n as f64 / started.elapsed().as_secs_f64());
    println!("{both:.0}");
    Ok(())
}

/// A new DPoP-bound token.
async fn new_token(http: &reqwest::Client, signer: &Signer) -> Fallible<String> {
    let issued: Value = http
        .post(&signer.token_endpoint)
        .header("DPoP", signer.proof("POST", &signer.token_endpoint, None)?)
        .form(&signer.form(signer.assertion()?))
        .send()
        .await?
        .json()
        .await?;
    Ok(issued["access_token"]
        .as_str()
        .ok_or_else(|| format!("no token: {issued}"))?
        .to_owned())
}

async fn load(args: &[String]) -> Fallible<()> {
    let [
        public_url,
        person,
        software_id,
        rounds,
        requests,
        concurrency,
        alg,
    ] = args
    else {
        return Err(USAGE.into());
    };
    let (rounds, requests, concurrency): (usize, usize, usize) =
        (rounds.parse()?, requests.parse()?, concurrency.parse()?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let signer = Signer::new(public_url, software_id, Key::of(alg)?)?;
    let uploaded = http
        .post(format!("{public_url}/api/v1/software/{software_id}/keys"))
        .bearer_auth(person)
        .json(&json!({"jwk": signer.signing.jwk()?}))
        .send()
        .await?;
    if uploaded.status() != 201 {
        return Err(format!("the key upload: {}", uploaded.text().await?).into());
    }

    let token_requests = (0..requests)
        .map(|_| {
            Ok(http
                .post(&signer.token_endpoint)
                .header("DPoP", signer.proof("POST", &signer.token_endpoint, None)?)
                .form(&signer.form(signer.assertion()?)))
        })
        .collect::<Fallible<Vec<_>>>()?;
    println!(
        "TOKENS {:.0}",
        load::run(token_requests, concurrency, 200).await?
    );

    let url = format!("{public_url}/api/v1/software/{software_id}");
    let (mut bearer, mut dpop) = (vec![], vec![]);
    for _ in 0..rounds {
        let plain: Vec<_> = (0..requests)
            .map(|_| http.get(&url).bearer_auth(person))
            .collect();
        bearer.push(load::run(plain, concurrency, 200).await?);
        // A token lives five minutes: a new one for each round.
        let token = new_token(&http, &signer).await?;
        let bound = (0..requests)
            .map(|_| {
                Ok(http
                    .get(&url)
                    .header("authorization", format!("DPoP {token}"))
                    .header("DPoP", signer.proof("GET", &url, Some(&token))?))
            })
            .collect::<Fallible<Vec<_>>>()?;
        dpop.push(load::run(bound, concurrency, 200).await?);
    }
    let line = |rates: &[f64]| {
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("BEARER {}", line(&bearer));
    println!("DPOP {}", line(&dpop));
    Ok(())
}

const USAGE: &str = "usage: oauth_load ceiling PUBLIC_URL [N [ALG]] | load PUBLIC_URL PERSON_TOKEN SOFTWARE_ID ROUNDS REQUESTS CONCURRENCY ALG";

#[tokio::main]
async fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("ceiling"), Some(public_url)) => ceiling(
            public_url,
            args.get(3).and_then(|n| n.parse().ok()).unwrap_or(20_000),
            args.get(4).map_or("ES256", String::as_str),
        ),
        (Some("load"), Some(_)) => load(&args[2..]).await,
        _ => Err(USAGE.into()),
    }
}
