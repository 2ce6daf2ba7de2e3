//! The registrar as an OpenID Federation 1.0 entity (`SSA_REGISTRAR_TRUST_ANCHOR`): its entity
//! configuration at `/.well-known/openid-federation`, an `openid_provider` and
//! `oauth_authorization_server` leaf whose superior is the trust anchor, signed with its own
//! federation key (ES256, created in its key folder on first start, 0600); and explicit
//! registration (section 12.2) at `/federation/register`: the client posts its entity
//! configuration, the registrar resolves its trust chain up to the anchor, registers the
//! resolved metadata under its policy and answers an `explicit-registration-response+jwt`;
//! and automatic registration (section 12.1) for the authorization server, at
//! `/federation/automatic`: it passes the request object of an authorization request whose
//! `client_id` is an entity identifier, and gets back the client, registered on first sight.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The key file in the registrar's key folder (PKCS#8 PEM).
const KEY_FILE: &str = "federation.key.pem";
/// How long its entity configuration and registration responses are valid.
const LIFETIME: i64 = 24 * 3600;
/// The JWS `typ` of an explicit registration response.
pub const RESPONSE_TYP: &str = "explicit-registration-response+jwt";
/// How long resolving a client's trust chain may wait on each fetch.
pub const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The registrar's federation identity: its entity identifier, its trust anchor, its key.
pub struct Federation {
    /// Its entity identifier (its public URL).
    pub entity_id: String,
    /// The trust anchor it registers clients under (and names as its authority).
    pub trust_anchor: String,
    /// The anchor's keys, when they are pinned (else those its configuration publishes).
    pub anchor_keys: Option<ssa_verifier::KeySet>,
    key: EncodingKey,
    kid: String,
    jwk: Value,
}

impl Federation {
    /// The federation key in `dir`, created on first use.
    pub fn load_or_create(dir: &Path, entity_id: &str, trust_anchor: &str) -> anyhow::Result<Self> {
        let path = dir.join(KEY_FILE);
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
                let group =
                    openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?;
                let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group)?)?;
                let pem = key.private_key_to_pem_pkcs8()?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                file.write_all(&pem)?;
                file.sync_all()?;
                pem
            }
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        let key = EncodingKey::from_ec_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{} is not an EC key: {e}", path.display()))?;
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256)?;
        jwk.common.key_id = Some(kid.clone());
        let mut jwk = serde_json::to_value(&jwk)?;
        if let Some(members) = jwk.as_object_mut() {
            members.insert("use".into(), json!("sig"));
        }
        Ok(Self {
            entity_id: entity_id.to_owned(),
            trust_anchor: trust_anchor.to_owned(),
            anchor_keys: None,
            key,
            kid,
            jwk,
        })
    }

    /// Signs `claims` as a JWS of this `typ` with the federation key.
    pub fn sign(&self, typ: &str, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }

    /// Its entity configuration, signed.
    pub fn entity_configuration(&self, now: i64) -> anyhow::Result<String> {
        let id = &self.entity_id;
        let registration = format!("{id}/register");
        self.sign(
            ssa_verifier::federation::ENTITY_STATEMENT_TYP,
            &json!({
                "iss": id,
                "sub": id,
                "iat": now,
                "exp": now + LIFETIME,
                "jwks": {"keys": [self.jwk]},
                "authority_hints": [self.trust_anchor],
                "metadata": {
                    "openid_provider": {
                        "issuer": id,
                        "registration_endpoint": registration,
                        "federation_registration_endpoint": format!("{id}/federation/register"),
                        "client_registration_types_supported": ["automatic", "explicit"],
                        "request_authentication_methods_supported": {
                            "authorization_endpoint": ["request_object"],
                        },
                    },
                    "oauth_authorization_server": {
                        "issuer": id,
                        "registration_endpoint": registration,
                    },
                },
            }),
        )
    }

    /// What an explicit registration request must be before its chain is resolved: the
    /// client's entity configuration (`iss` = `sub`), addressed to this registrar (`aud`),
    /// naming superiors. Its entity identifier, or why the request is refused.
    pub fn check_request(&self, jwt: &str) -> Result<String, String> {
        let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(jwt).map_err(|_| {
            "the request is not an entity configuration (a JWS with a JSON payload)".to_owned()
        })?;
        let sub = claims["sub"].as_str().unwrap_or_default();
        if sub.is_empty() || claims["iss"] != claims["sub"] {
            return Err("the request must be the client's entity configuration (iss = sub)".into());
        }
        let addressed = match &claims["aud"] {
            Value::String(aud) => aud == &self.entity_id,
            Value::Array(auds) => auds.iter().any(|a| a == self.entity_id.as_str()),
            _ => false,
        };
        if !addressed {
            return Err(format!(
                "the entity configuration's aud must be this provider, {}",
                self.entity_id
            ));
        }
        // The anchor must be named: no other superior is looked for, so nothing is fetched
        // from a URL the client chose.
        if !claims["authority_hints"]
            .as_array()
            .is_some_and(|hints| hints.iter().any(|h| h == self.trust_anchor.as_str()))
        {
            return Err(format!(
                "the entity configuration's authority_hints must name the trust anchor {}",
                self.trust_anchor
            ));
        }
        Ok(sub.to_owned())
    }

    /// The explicit registration response (section 12.2.3) for the client `sub`, registered
    /// with `registered` (the client information, with its `client_id`, under the entity
    /// type it registered as), signed.
    pub fn response(
        &self,
        sub: &str,
        chain: &ssa_verifier::federation::TrustChain,
        registered: Value,
        now: i64,
    ) -> anyhow::Result<String> {
        // Under the entity type the client registered as.
        let kind = if chain.metadata.get("openid_relying_party").is_some() {
            "openid_relying_party"
        } else {
            "oauth_client"
        };
        self.sign(
            RESPONSE_TYP,
            &json!({
                "iss": self.entity_id,
                "sub": sub,
                "aud": sub,
                "iat": now,
                "exp": chain.expires_at.min(now + LIFETIME),
                "trust_anchor": chain.trust_anchor,
                "authority_hints": [chain.superior],
                "metadata": {kind: registered},
            }),
        )
    }
}

/// The client an automatic registration's request object names (its `client_id`, an entity
/// identifier), read before anything is checked.
pub fn requesting_entity(jwt: &str) -> Result<String, String> {
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(jwt)
        .map_err(|_| "the request object is not a JWS with a JSON payload".to_owned())?;
    match claims["client_id"].as_str() {
        Some(id) if id.starts_with("https://") || id.starts_with("http://") => Ok(id.to_owned()),
        _ => Err("the request object's client_id must be the client's entity identifier".into()),
    }
}

impl Federation {
    /// Checks an automatic registration's request object (section 12.1.1.1): signed (PS256
    /// or ES256) by a key of the client's resolved metadata (the document at `jwks_uri`, else
    /// `jwks`), `iss` and `client_id` the client, `aud` this provider, unexpired, with a `jti`;
    /// its `jti` and `exp`, for the replay check.
    pub fn check_request_object(
        &self,
        jwt: &str,
        entity: &str,
        metadata: &Value,
        http: &ssa_verifier::HttpClient,
    ) -> Result<(String, i64), String> {
        let header = jsonwebtoken::decode_header(jwt)
            .map_err(|_| "the request object has no readable JWS header".to_owned())?;
        if !matches!(header.alg, Algorithm::PS256 | Algorithm::ES256) {
            return Err("the request object must be signed with PS256 or ES256".into());
        }
        let kid = header.kid.ok_or("the request object names no kid")?;
        let keys: jsonwebtoken::jwk::JwkSet =
            // jwks_uri first: the directory pins it to the keystore, whose removals count.
            match (metadata["jwks_uri"].as_str(), &metadata["jwks"]) {
                (None, Value::Object(_)) => serde_json::from_value(metadata["jwks"].clone())
                    .map_err(|e| format!("the client's jwks: {e}"))?,
                (Some(uri), _) => {
                    let body = http
                        .get(uri)
                        .map_err(|e| format!("the client's jwks_uri: {e}"))?;
                    serde_json::from_slice(&body)
                        .map_err(|e| format!("the client's jwks_uri: {e}"))?
                }
                _ => {
                    return Err(
                        "the client's resolved metadata has neither jwks nor jwks_uri".into(),
                    );
                }
            };
        let key = keys
            .find(&kid)
            .and_then(|jwk| jsonwebtoken::DecodingKey::from_jwk(jwk).ok())
            .ok_or_else(|| {
                format!("the request object is signed with {kid:?}, which is not the client's")
            })?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[&self.entity_id]);
        validation.set_issuer(&[entity]);
        validation.set_required_spec_claims(&["iss", "aud", "exp"]);
        let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
            .map_err(|e| format!("the request object does not verify: {}", problem(&e)))?
            .claims;
        if claims["client_id"] != entity {
            return Err("the request object's client_id must be its iss".into());
        }
        let jti = claims["jti"]
            .as_str()
            .filter(|jti| !jti.is_empty())
            .ok_or("the request object must have a jti")?;
        let expires_at = claims["exp"]
            .as_i64()
            .ok_or("the request object's exp must be a number")?;
        Ok((jti.to_owned(), expires_at))
    }
}

/// A refused JWT's problem in words (jsonwebtoken's `Debug` text is no answer for a client).
fn problem(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "it has expired".into(),
        ErrorKind::InvalidAudience => "its aud is not this provider".into(),
        ErrorKind::InvalidIssuer => "its iss is not the client".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("it has no {claim}"),
        ErrorKind::Json(cause) => format!("its claims cannot be read ({cause})"),
        _ => "its signature or encoding does not hold".into(),
    }
}
