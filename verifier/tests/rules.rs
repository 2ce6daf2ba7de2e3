//! Every rule of the verifier, with test keys made here and a tiny local HTTP server where a
//! rule needs the network.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm as JwtAlgorithm, EncodingKey, Header};
use openssl::pkey::{PKey, Private};
use serde_json::{Value, json};
use ssa_verifier::{
    Algorithm, CachePolicy, Directory, ErrorCode, KeySet, Profile, Settings, Trust, Verifier,
};

const ISSUER: &str = "https://directory.example";

struct TestKey {
    kid: String,
    private: PKey<Private>,
}

/// A fixed test key from `tests/fixtures/` under a kid.
fn key(kid: &str, pem: &str) -> TestKey {
    TestKey {
        kid: kid.to_owned(),
        private: PKey::private_key_from_pem(pem.as_bytes()).unwrap(),
    }
}

const DIRECTORY: &str = include_str!("fixtures/directory.pem");
const ROTATED: &str = include_str!("fixtures/rotated.pem");
const CLIENT: &str = include_str!("fixtures/client.pem");
const STRANGER: &str = include_str!("fixtures/stranger.pem");

/// The directory's key.
fn directory_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| key("directory-key-1", DIRECTORY))
}

impl TestKey {
    fn jwk(&self) -> Value {
        let rsa = self.private.rsa().unwrap();
        json!({
            "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "PS256",
            "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
            "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
        })
    }

    fn public_pem(&self) -> Vec<u8> {
        self.private.public_key_to_pem().unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        let der = self.private.rsa().unwrap().private_key_to_der().unwrap();
        let mut header = Header::new(JwtAlgorithm::PS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&der)).unwrap()
    }

    /// Signs a payload given as raw JSON text (PS256, through OpenSSL), for payloads that a
    /// `serde_json::Value` cannot hold: duplicate members, a top-level array.
    fn sign_raw(&self, payload: &str) -> String {
        use openssl::hash::MessageDigest;
        use openssl::sign::{RsaPssSaltlen, Signer};
        let header = json!({"alg": "PS256", "kid": self.kid, "typ": "JWT"});
        let input = format!("{}.{}", b64(&header), URL_SAFE_NO_PAD.encode(payload));
        let mut signer = Signer::new(MessageDigest::sha256(), &self.private).unwrap();
        signer
            .set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS)
            .unwrap();
        signer.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
        signer
            .set_rsa_pss_saltlen(RsaPssSaltlen::custom(32))
            .unwrap();
        let signature = signer.sign_oneshot_to_vec(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "iat": now(), "exp": now() + 3600, "jti": "j-1",
        "software_id": "sw-1", "software_client_id": "client-1",
        "software_client_name": "App", "software_version": "1.0",
        "software_redirect_uris": ["https://app.example/cb", "https://app.example/cb2"],
        "software_roles": ["AISP"], "software_jwks_endpoint": "https://d.example/keystore/org-1/sw-1.jwks",
        "org_id": "org-1", "org_name": "Example Ltd",
    })
}

fn trust(jwks: &str) -> Trust {
    Trust::new(ISSUER, KeySet::from_json(jwks).unwrap())
}

fn offline(settings: Settings) -> Verifier {
    Verifier::offline(trust(&jwks(&[directory_key()])), settings)
}

fn refused(
    result: Result<impl std::fmt::Debug, ssa_verifier::VerifyError>,
    code: ErrorCode,
    text: &str,
) {
    let error = result.expect_err("refused");
    assert_eq!(error.code, code, "{error}");
    assert!(
        error.description.contains(text),
        "{text:?} not in {:?}",
        error.description
    );
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn a_good_statement_verifies_into_typed_values() {
    let v = offline(Settings::default());
    let ssa = v.verify_ssa(&directory_key().sign(&claims())).unwrap();
    assert_eq!(ssa.profile, Profile::Obuk);
    assert_eq!(ssa.software_id, "sw-1");
    assert_eq!(ssa.org_id, "org-1");
    assert_eq!(ssa.redirect_uris.len(), 2);
    assert_eq!(ssa.roles, vec!["AISP"]);
    assert_eq!(ssa.kid, "directory-key-1");
}

#[test]
fn every_signed_claim_is_kept_and_raw_payloads_are_checked_as_signed() {
    let v = offline(Settings::default());
    // Claims the typed value does not name are kept as signed.
    let mut c = claims();
    c["software_logo_uri"] = json!("https://app.example/logo.png");
    let ssa = v.verify_ssa(&directory_key().sign(&c)).unwrap();
    assert_eq!(ssa.claims(), *c.as_object().unwrap());
    assert_eq!(
        ssa.claim("software_logo_uri"),
        Some(json!("https://app.example/logo.png"))
    );
    let printed = serde_json::to_value(&ssa).unwrap();
    assert_eq!(printed["claims"], c);

    // The same payload, signed as text: accepted.
    let text = c.to_string();
    assert!(v.verify_ssa(&directory_key().sign_raw(&text)).is_ok());
    // A claim the checks read given twice: refused rather than read one way or the other.
    let twice = text.replacen('{', "{\"software_id\":\"other\",", 1);
    refused(
        v.verify_ssa(&directory_key().sign_raw(&twice)),
        ErrorCode::InvalidSoftwareStatement,
        "duplicate field `software_id`",
    );
    // A top-level array is not a claims set, even with the claims in order.
    refused(
        v.verify_ssa(&directory_key().sign_raw(&format!("[{text}]"))),
        ErrorCode::InvalidSoftwareStatement,
        "not a JSON object",
    );
    // A time of the wrong type is as absent.
    c["iat"] = json!(now().to_string());
    refused(
        v.verify_ssa(&directory_key().sign(&c)),
        ErrorCode::InvalidSoftwareStatement,
        "no numeric iat",
    );
    // Roles that are not strings are not roles.
    let mut c = claims();
    c["software_roles"] = json!([1, {"role": "AISP"}]);
    refused(
        v.verify_ssa(&directory_key().sign(&c)),
        ErrorCode::InvalidSoftwareStatement,
        "software_roles is missing or empty",
    );
}

#[test]
fn rfc7591_statements_verify_and_profiles_can_be_refused() {
    let mut c = claims();
    let map = c.as_object_mut().unwrap();
    for obuk in [
        "software_client_name",
        "software_redirect_uris",
        "software_jwks_endpoint",
    ] {
        map.remove(obuk);
    }
    map.insert("client_name".into(), json!("App"));
    map.insert("redirect_uris".into(), json!(["https://app.example/cb"]));
    map.insert("jwks_uri".into(), json!("https://d.example/k.jwks"));
    let token = directory_key().sign(&c);
    let ssa = offline(Settings::default()).verify_ssa(&token).unwrap();
    assert_eq!(ssa.profile, Profile::Rfc7591);
    assert_eq!(ssa.jwks_uri.as_deref(), Some("https://d.example/k.jwks"));
    let only_obuk = offline(Settings::default().with_profiles([Profile::Obuk]));
    refused(
        only_obuk.verify_ssa(&token),
        ErrorCode::InvalidSoftwareStatement,
        "not accepted",
    );
}

#[test]
fn not_a_compact_jws_is_refused() {
    let v = offline(Settings::default());
    refused(
        v.verify_ssa("hello"),
        ErrorCode::InvalidSoftwareStatement,
        "compact JWS",
    );
    refused(
        v.verify_ssa("a.b"),
        ErrorCode::InvalidSoftwareStatement,
        "compact JWS",
    );
    refused(
        v.verify_ssa("%%.%%.%%"),
        ErrorCode::InvalidSoftwareStatement,
        "base64url",
    );
}

#[test]
fn alg_none_is_refused() {
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "directory-key-1"})),
        b64(&claims())
    );
    refused(
        offline(Settings::default()).verify_ssa(&token),
        ErrorCode::InvalidSoftwareStatement,
        "",
    );
    let token = format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "none", "kid": "directory-key-1"})),
        b64(&claims())
    );
    refused(
        offline(Settings::default()).verify_ssa(&token),
        ErrorCode::InvalidSoftwareStatement,
        "none",
    );
}

#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    let mut header = Header::new(JwtAlgorithm::HS256);
    header.kid = Some("directory-key-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&directory_key().public_pem()),
    )
    .unwrap();
    refused(
        offline(Settings::default()).verify_ssa(&token),
        ErrorCode::InvalidSoftwareStatement,
        "never accepted",
    );
}

#[test]
fn algorithms_outside_the_allow_list_are_refused() {
    let v = offline(Settings::default().with_algorithms([Algorithm::ES256]));
    refused(
        v.verify_ssa(&directory_key().sign(&claims())),
        ErrorCode::InvalidSoftwareStatement,
        "not accepted here",
    );
}

#[test]
fn a_missing_or_unknown_kid_is_refused() {
    let der = directory_key()
        .private
        .rsa()
        .unwrap()
        .private_key_to_der()
        .unwrap();
    let token = jsonwebtoken::encode(
        &Header::new(JwtAlgorithm::PS256),
        &claims(),
        &EncodingKey::from_rsa_der(&der),
    )
    .unwrap();
    refused(
        offline(Settings::default()).verify_ssa(&token),
        ErrorCode::InvalidSoftwareStatement,
        "no kid",
    );
    let stranger = key("someone-else", STRANGER);
    refused(
        offline(Settings::default()).verify_ssa(&stranger.sign(&claims())),
        ErrorCode::InvalidSoftwareStatement,
        "does not publish",
    );
}

#[test]
fn a_tampered_payload_is_refused() {
    let token = directory_key().sign(&claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut forged = claims();
    forged["software_roles"] = json!(["AISP", "PISP"]);
    parts[1] = b64(&forged);
    refused(
        offline(Settings::default()).verify_ssa(&parts.join(".")),
        ErrorCode::InvalidSoftwareStatement,
        "signature",
    );
}

#[test]
fn a_statement_signed_by_another_key_under_a_published_kid_is_refused() {
    let impostor = key("directory-key-1", STRANGER);
    refused(
        offline(Settings::default()).verify_ssa(&impostor.sign(&claims())),
        ErrorCode::InvalidSoftwareStatement,
        "signature",
    );
}

#[test]
fn time_rules_apply_with_skew() {
    let v = offline(Settings::default());
    let mut expired = claims();
    expired["exp"] = json!(now() - 120);
    refused(
        v.verify_ssa(&directory_key().sign(&expired)),
        ErrorCode::InvalidSoftwareStatement,
        "expired",
    );
    let mut within_skew = claims();
    within_skew["exp"] = json!(now() - 30);
    assert!(v.verify_ssa(&directory_key().sign(&within_skew)).is_ok());
    let mut future = claims();
    future["iat"] = json!(now() + 600);
    refused(
        v.verify_ssa(&directory_key().sign(&future)),
        ErrorCode::InvalidSoftwareStatement,
        "future",
    );
    let mut old = claims();
    old["iat"] = json!(now() - 7200);
    let strict = offline(Settings::default().with_max_age(Some(Duration::from_secs(3600))));
    refused(
        strict.verify_ssa(&directory_key().sign(&old)),
        ErrorCode::InvalidSoftwareStatement,
        "older",
    );
    assert!(
        v.verify_ssa(&directory_key().sign(&old)).is_ok(),
        "no maximum age by default"
    );
}

#[test]
fn another_issuer_is_refused() {
    let mut c = claims();
    c["iss"] = json!("https://evil.example");
    refused(
        offline(Settings::default()).verify_ssa(&directory_key().sign(&c)),
        ErrorCode::InvalidSoftwareStatement,
        "evil.example",
    );
}

#[test]
fn required_claims_must_be_present_and_well_formed() {
    let v = offline(Settings::default());
    for (name, value, expected) in [
        ("software_id", Value::Null, "software_id"),
        ("org_id", json!(""), "org_id"),
        (
            "software_redirect_uris",
            json!(["http://app.example/cb"]),
            "https",
        ),
        (
            "software_redirect_uris",
            json!(["https://app.example/cb#frag"]),
            "fragment",
        ),
        (
            "software_redirect_uris",
            json!([]),
            "software_redirect_uris",
        ),
        ("software_roles", json!([]), "software_roles"),
    ] {
        let mut c = claims();
        if value.is_null() {
            c.as_object_mut().unwrap().remove(name);
        } else {
            c[name] = value;
        }
        refused(
            v.verify_ssa(&directory_key().sign(&c)),
            ErrorCode::InvalidSoftwareStatement,
            expected,
        );
    }
}

fn registration(body: Value) -> String {
    body.to_string()
}

#[test]
fn registrations_narrow_redirect_uris_and_the_statement_wins() {
    let v = offline(Settings::default());
    let ssa = directory_key().sign(&claims());
    let request = registration(json!({
        "software_statement": ssa,
        "client_name": "Something else",
        "redirect_uris": ["https://app.example/cb2"],
        "token_endpoint_auth_method": "private_key_jwt",
    }));
    let checked = v.verify_registration(&request, None).unwrap();
    assert_eq!(
        checked.metadata["client_name"], "App",
        "the statement's value wins"
    );
    assert_eq!(
        checked.metadata["redirect_uris"],
        json!(["https://app.example/cb2"])
    );
    assert_eq!(checked.metadata["software_id"], "sw-1");
    assert!(checked.metadata.get("software_statement").is_none());

    let outside = registration(
        json!({"software_statement": ssa, "redirect_uris": ["https://evil.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
    );
    refused(
        v.verify_registration(&outside, None),
        ErrorCode::InvalidRedirectUri,
        "evil.example",
    );
    let other_id = registration(
        json!({"software_statement": ssa, "software_id": "sw-2", "token_endpoint_auth_method": "private_key_jwt"}),
    );
    refused(
        v.verify_registration(&other_id, None),
        ErrorCode::InvalidClientMetadata,
        "sw-2",
    );
    let secret = registration(
        json!({"software_statement": ssa, "token_endpoint_auth_method": "client_secret_basic"}),
    );
    refused(
        v.verify_registration(&secret, None),
        ErrorCode::InvalidClientMetadata,
        "not allowed",
    );
    let none = registration(json!({"software_statement": ssa}));
    refused(
        v.verify_registration(&none, None),
        ErrorCode::InvalidClientMetadata,
        "required",
    );
    let mtls = registration(
        json!({"software_statement": ssa, "token_endpoint_auth_method": "tls_client_auth"}),
    );
    refused(
        v.verify_registration(&mtls, None),
        ErrorCode::InvalidClientMetadata,
        "tls_client_auth_subject_dn",
    );
    refused(
        v.verify_registration("[1]", None),
        ErrorCode::InvalidClientMetadata,
        "JSON object",
    );
    let missing = registration(json!({"token_endpoint_auth_method": "private_key_jwt"}));
    refused(
        v.verify_registration(&missing, None),
        ErrorCode::InvalidSoftwareStatement,
        "no software_statement",
    );
}

/// A tiny HTTP server on loopback that answers every GET with `body`, counting requests,
/// optionally slowly; `stop` makes it refuse further connections.
struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    body: Arc<Mutex<String>>,
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    fn start(body: String, max_age: u64, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new(body));
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (h, b, s) = (hits.clone(), body.clone(), stopped.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if s.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes without an answer
                }
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                h.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(delay);
                let body = b.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: public, max-age={max_age}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            url,
            hits,
            body,
            stopped,
        }
    }
}

fn remote(server: &Server, policy: CachePolicy) -> Verifier {
    Verifier::new(
        Directory::new(ISSUER, &server.url),
        Settings::default().with_jwks_cache(policy),
    )
    .unwrap()
}

#[test]
fn the_jwks_is_cached_and_an_unknown_kid_refreshes_at_most_once_per_interval() {
    let server = Server::start(jwks(&[directory_key()]), 300, Duration::ZERO);
    let v = remote(
        &server,
        CachePolicy::default().with_refresh_interval(Duration::from_secs(3600)),
    );
    let token = directory_key().sign(&claims());
    for _ in 0..5 {
        v.verify_ssa(&token).unwrap();
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "cached per max-age");

    let rotated = key("directory-key-2", ROTATED);
    let new_token = rotated.sign(&claims());
    refused(
        v.verify_ssa(&new_token),
        ErrorCode::InvalidSoftwareStatement,
        "does not publish",
    );
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        2,
        "one refresh on the unknown kid"
    );
    *server.body.lock().unwrap() = jwks(&[directory_key(), &rotated]);
    refused(
        v.verify_ssa(&new_token),
        ErrorCode::InvalidSoftwareStatement,
        "does not publish",
    );
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        2,
        "no second refresh within the interval"
    );

    let eager = remote(
        &server,
        CachePolicy::default().with_refresh_interval(Duration::ZERO),
    );
    eager.verify_ssa(&token).unwrap();
    eager.verify_ssa(&new_token).unwrap();
}

#[test]
fn concurrent_callers_share_one_fetch() {
    let server = Server::start(jwks(&[directory_key()]), 300, Duration::from_millis(300));
    let v = Arc::new(remote(&server, CachePolicy::default()));
    let token = directory_key().sign(&claims());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (v, token) = (v.clone(), token.clone());
            std::thread::spawn(move || v.verify_ssa(&token).map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn cache_lifetime_is_bounded_and_stale_keys_serve_while_the_directory_is_down() {
    let server = Server::start(jwks(&[directory_key()]), 0, Duration::ZERO);
    let token = directory_key().sign(&claims());
    let policy = CachePolicy::default()
        .with_min(Duration::from_millis(200))
        .with_max(Duration::from_millis(200))
        .with_refresh_interval(Duration::ZERO)
        .with_stale_for(Duration::from_secs(3600));
    let v = remote(&server, policy);
    v.verify_ssa(&token).unwrap();
    v.verify_ssa(&token).unwrap();
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "max-age 0 is raised to the minimum"
    );
    std::thread::sleep(Duration::from_millis(250));
    server.stopped.store(true, Ordering::SeqCst);
    v.verify_ssa(&token)
        .expect("stale keys are served while the directory is down");

    let strict = remote(&server, policy.with_stale_for(Duration::ZERO));
    refused(
        strict.verify_ssa(&token),
        ErrorCode::InvalidSoftwareStatement,
        "cannot be fetched",
    );
}

#[test]
fn signed_registration_requests_use_the_software_keystore() {
    let client_key = key("client-key-1", CLIENT);
    let keystore = Server::start(jwks(&[&client_key]), 300, Duration::ZERO);
    let mut c = claims();
    c["software_jwks_endpoint"] = json!(keystore.url);
    let ssa = directory_key().sign(&c);
    let v = Verifier::offline(
        trust(&jwks(&[directory_key()])),
        Settings::default().with_audience("https://bank.example"),
    );
    let body = |iss: &str, aud: &str| {
        json!({
            "iss": iss, "aud": aud, "iat": now(), "exp": now() + 300, "jti": "r-1",
            "software_statement": ssa, "token_endpoint_auth_method": "private_key_jwt",
            "redirect_uris": ["https://app.example/cb"],
        })
    };
    let checked = v
        .verify_registration(
            &client_key.sign(&body("sw-1", "https://bank.example")),
            None,
        )
        .unwrap();
    assert_eq!(
        checked.metadata["redirect_uris"],
        json!(["https://app.example/cb"])
    );
    refused(
        v.verify_registration(
            &client_key.sign(&body("sw-9", "https://bank.example")),
            None,
        ),
        ErrorCode::InvalidClientMetadata,
        "iss",
    );
    refused(
        v.verify_registration(
            &client_key.sign(&body("sw-1", "https://other.example")),
            None,
        ),
        ErrorCode::InvalidClientMetadata,
        "aud",
    );
    refused(
        v.verify_registration(
            &key("client-key-1", STRANGER).sign(&body("sw-1", "https://bank.example")),
            None,
        ),
        ErrorCode::InvalidClientMetadata,
        "signature",
    );
}

#[test]
fn es256_statements_verify_and_a_wrong_algorithm_for_the_key_is_refused() {
    let ec = PKey::private_key_from_pem(include_bytes!("fixtures/ec-p256.pem")).unwrap();
    let ec_key = ec.ec_key().unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let (mut x, mut y) = (
        openssl::bn::BigNum::new().unwrap(),
        openssl::bn::BigNum::new().unwrap(),
    );
    ec_key
        .public_key()
        .affine_coordinates(ec_key.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(x.to_vec_padded(32).unwrap()),
        "y": URL_SAFE_NO_PAD.encode(y.to_vec_padded(32).unwrap()),
    });
    let set = json!({"keys": [jwk, directory_key().jwk()]}).to_string();
    let v = Verifier::offline(trust(&set), Settings::default());
    let mut header = Header::new(JwtAlgorithm::ES256);
    header.kid = Some("ec-1".into());
    let der = ec.private_key_to_pkcs8().unwrap();
    let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_ec_der(&der)).unwrap();
    assert_eq!(v.verify_ssa(&token).unwrap().kid, "ec-1");

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = b64(&json!({"iss": ISSUER}));
    refused(
        v.verify_ssa(&parts.join(".")),
        ErrorCode::InvalidSoftwareStatement,
        "signature",
    );

    // A PS256 header naming the EC key.
    let mut header = Header::new(JwtAlgorithm::PS256);
    header.kid = Some("ec-1".into());
    let rsa_der = directory_key()
        .private
        .rsa()
        .unwrap()
        .private_key_to_der()
        .unwrap();
    let token =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_rsa_der(&rsa_der)).unwrap();
    refused(
        v.verify_ssa(&token),
        ErrorCode::InvalidSoftwareStatement,
        "ES256",
    );
}

#[test]
fn the_fetching_verifier_takes_its_time_from_the_clock_it_is_given() {
    let token = directory_key().sign(&claims());
    assert!(offline(Settings::default()).verify_ssa(&token).is_ok());
    let in_two_hours = || SystemTime::now() + Duration::from_secs(7200);
    let later = offline(Settings::default()).with_clock(in_two_hours);
    refused(
        later.verify_ssa(&token),
        ErrorCode::InvalidSoftwareStatement,
        "expired",
    );
}

/// The claim contract and the verifier's fast reader agree: statements built from
/// `StatementClaims` in either profile verify into the same values and read back equal.
#[test]
fn statements_built_from_the_claim_types_verify_and_read_back() {
    use ssa_verifier::{ObukClaims, ProfileClaims, Rfc7591Claims, StatementClaims};
    let base = |profile| StatementClaims {
        iss: ISSUER.into(),
        iat: now(),
        exp: now() + 600,
        jti: "j-7".into(),
        software_id: "sw-7".into(),
        software_version: Some("2.1".into()),
        software_roles: vec!["AISP".into(), "PISP".into()],
        org_id: "org-7".into(),
        org_name: Some("Seven Ltd".into()),
        profile,
    };
    let obuk = base(ProfileClaims::Obuk(ObukClaims {
        software_client_id: Some("c-7".into()),
        software_client_name: Some("Seven".into()),
        software_client_description: None,
        software_client_uri: None,
        software_logo_uri: None,
        software_tos_uri: None,
        software_policy_uri: Some("https://seven.example/privacy".into()),
        software_redirect_uris: vec!["https://seven.example/cb".into()],
        software_environment: Some("sandbox".into()),
        software_jwks_endpoint: Some("https://d.example/keystore/org-7/sw-7.jwks".into()),
        software_jwks_revoked_endpoint: None,
        org_status: Some("Active".into()),
        org_jwks_endpoint: None,
        org_jwks_revoked_endpoint: None,
        organisation_competent_authority_claims: None,
    }));
    let rfc = base(ProfileClaims::Rfc7591(Rfc7591Claims {
        client_name: Some("Seven".into()),
        client_description: None,
        client_uri: None,
        logo_uri: None,
        tos_uri: None,
        policy_uri: None,
        redirect_uris: vec!["https://seven.example/cb".into()],
        jwks_uri: Some("https://d.example/keystore/org-7/sw-7.jwks".into()),
    }));
    let v = offline(Settings::default());
    for (claims, profile) in [(obuk, Profile::Obuk), (rfc, Profile::Rfc7591)] {
        let token = directory_key().sign(&serde_json::to_value(&claims).unwrap());
        let ssa = v.verify_ssa(&token).unwrap();
        assert_eq!(ssa.profile, profile);
        assert_eq!(ssa.software_id, claims.software_id);
        assert_eq!(ssa.org_id, claims.org_id);
        assert_eq!(ssa.roles, claims.software_roles);
        assert_eq!(ssa.redirect_uris, ["https://seven.example/cb"]);
        assert_eq!(ssa.client_name.as_deref(), Some("Seven"));
        assert_eq!(
            ssa.jwks_uri.as_deref(),
            Some("https://d.example/keystore/org-7/sw-7.jwks")
        );
        assert_eq!(ssa.typed_claims().unwrap(), claims);
    }
}
