//! Checking a dynamic client registration request (RFC 7591) against its software statement:
//! plain JSON metadata, or a JWS signed by the client with a key from the software's keystore
//! (UK Open Banking style). The statement's values take precedence (RFC 7591 section 2.3).

use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::jose::{Header, Jws, check_signature, check_times, read_part, split};
use crate::keys::{KeyLookup, KeySet};
use crate::settings::Settings;
use crate::statement::SoftwareStatement;

/// Client metadata (RFC 7591 section 2): a JSON object, open to members of any profile.
pub type ClientMetadata = Map<String, Value>;

/// A checked registration: the statement and the metadata to register.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Registration {
    /// The statement the registration rests on.
    pub software_statement: SoftwareStatement,
    /// The effective metadata: the request's, overridden by the statement's values.
    pub metadata: ClientMetadata,
}

fn metadata_error(message: impl Into<String>) -> VerifyError {
    VerifyError::metadata(message)
}

/// A registration request read but not yet checked. The sans-IO way through a registration:
///
/// 1. [`RegistrationRequest::parse`] the request body;
/// 2. verify its [`software_statement`](Self::software_statement) with
///    [`Trust::verify_statement`](crate::Trust::verify_statement) (or take the one the
///    client presented beside it);
/// 3. if the request [`is_signed`](Self::is_signed), fetch the JWKS at the statement's
///    `jwks_uri` (the software's keystore) however the caller fetches;
/// 4. [`verify`](Self::verify) it with the statement and those keys.
#[derive(Debug, Clone)]
pub struct RegistrationRequest {
    metadata: ClientMetadata,
    signed: Option<Signed>,
}

/// The parts of a signed request kept for checking its signature.
#[derive(Debug, Clone)]
struct Signed {
    token: String,
}

impl RegistrationRequest {
    /// Reads a request: JSON client metadata, or a compact JWS whose claims are the metadata.
    /// Nothing is verified yet.
    pub fn parse(request: &str) -> Result<Self, VerifyError> {
        let trimmed = request.trim();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return match serde_json::from_str(trimmed) {
                Ok(Value::Object(metadata)) => Ok(Self {
                    metadata,
                    signed: None,
                }),
                _ => Err(metadata_error(
                    "the registration request is not a JSON object",
                )),
            };
        }
        let signed = |e: VerifyError| metadata_error(format!("signed request: {}", e.description));
        let jws = split(trimmed).map_err(signed)?;
        let _: Header<'_> = read_part(&jws.header, "JWS header").map_err(signed)?;
        let metadata: ClientMetadata = read_part(&jws.payload, "JWS payload").map_err(signed)?;
        Ok(Self {
            metadata,
            signed: Some(Signed {
                token: trimmed.to_owned(),
            }),
        })
    }

    /// The `software_statement` the request carries, if any (not yet verified).
    pub fn software_statement(&self) -> Option<&str> {
        self.metadata
            .get("software_statement")
            .and_then(Value::as_str)
    }

    /// Whether the request is a JWS the client signed: its signature is then checked with
    /// the software's keystore.
    pub fn is_signed(&self) -> bool {
        self.signed.is_some()
    }

    /// The metadata as the client sent it (not yet verified).
    pub fn metadata(&self) -> &ClientMetadata {
        &self.metadata
    }

    /// Checks the request against `statement` (the verified statement it carries, or the one
    /// presented beside it) at `now`: for a signed request, its signature with a key of
    /// `software_keys`, its times, `iss` (the software id) and `aud` (the configured
    /// audience); then RFC 7591 section 2.3.
    pub fn verify(
        self,
        statement: &SoftwareStatement,
        software_keys: Option<&KeySet>,
        settings: &Settings,
        now: std::time::SystemTime,
    ) -> Result<Registration, VerifyError> {
        let lookup = software_keys.map(|keys| {
            move |kid: &str| {
                keys.get(kid).ok_or_else(|| {
                    VerifyError::statement(format!("key {kid:?} is not in the software's keystore"))
                })
            }
        });
        self.verify_with(
            statement,
            lookup.as_ref().map(|f| f as KeyLookup<'_>),
            settings,
            crate::clock::unix(now),
        )
    }

    pub(crate) fn verify_with(
        self,
        statement: &SoftwareStatement,
        software_keys: Option<KeyLookup<'_>>,
        settings: &Settings,
        now: i64,
    ) -> Result<Registration, VerifyError> {
        if let Some(token) = self.software_statement() {
            let carried = split(token)?;
            if !statement.has_payload(&carried.payload) {
                return Err(VerifyError::statement(
                    "the statement given is not the one the registration request carries",
                ));
            }
        }
        if let Some(signed) = &self.signed {
            let keys = software_keys.ok_or_else(|| {
                metadata_error("signed request: the software's keys are needed to check it")
            })?;
            let jws = split(&signed.token)?;
            check_signed(&jws, &self.metadata, statement, keys, settings, now)?;
        }
        let metadata = merge(settings, self.metadata, statement)?;
        Ok(Registration {
            software_statement: statement.clone(),
            metadata,
        })
    }
}

/// A request signed by the client with a key of its software's keystore: signature, times,
/// `iss` = software id, `aud` = this authorization server.
fn check_signed(
    jws: &Jws<'_>,
    claims: &ClientMetadata,
    ssa: &SoftwareStatement,
    keys: KeyLookup<'_>,
    settings: &Settings,
    now: i64,
) -> Result<(), VerifyError> {
    let signed = |e: VerifyError| metadata_error(format!("signed request: {}", e.description));
    let header: Header<'_> = read_part(&jws.header, "JWS header").map_err(signed)?;
    let alg = crate::jose::algorithm(&header, &settings.algorithms).map_err(signed)?;
    let kid = crate::jose::kid(&header).map_err(signed)?;
    let key = keys(kid).map_err(signed)?;
    check_signature(jws, kid, alg, &key).map_err(signed)?;
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    check_times(
        number("iat"),
        number("exp"),
        settings,
        now,
        "registration request",
    )
    .map_err(|e| metadata_error(e.description))?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss != ssa.software_id {
        return Err(metadata_error(format!(
            "the request's iss is {iss:?}; it must be the software id {:?}",
            ssa.software_id
        )));
    }
    if let Some(expected) = &settings.audience {
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == expected,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected)),
            _ => false,
        };
        if !aud_ok {
            return Err(metadata_error(format!(
                "the request's aud must be this authorization server ({expected})"
            )));
        }
    }
    Ok(())
}

/// RFC 7591 section 2.3: the statement's values win; the request may narrow redirect URIs
/// to a subset, must not contradict the software id, and must use an allowed
/// authentication method.
pub(crate) fn merge(
    settings: &Settings,
    mut metadata: ClientMetadata,
    ssa: &SoftwareStatement,
) -> Result<ClientMetadata, VerifyError> {
    if let Some(id) = metadata.get("software_id").and_then(Value::as_str)
        && id != ssa.software_id
    {
        return Err(metadata_error(format!(
            "software_id {id:?} differs from the statement's {:?}",
            ssa.software_id
        )));
    }
    let redirect_uris = match metadata.get("redirect_uris") {
        None => ssa.redirect_uris.clone(),
        Some(Value::Array(items)) => {
            let mut uris = vec![];
            for item in items {
                let uri = item
                    .as_str()
                    .ok_or_else(|| VerifyError::redirect_uri("redirect_uris must be strings"))?;
                if !ssa.redirect_uris.iter().any(|u| u == uri) {
                    return Err(VerifyError::redirect_uri(format!(
                        "{uri} is not one of the software statement's redirect URIs"
                    )));
                }
                uris.push(uri.to_owned());
            }
            if uris.is_empty() {
                return Err(VerifyError::redirect_uri("redirect_uris is empty"));
            }
            uris
        }
        Some(_) => return Err(VerifyError::redirect_uri("redirect_uris must be an array")),
    };
    let method = metadata
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .ok_or_else(|| metadata_error("token_endpoint_auth_method is required"))?
        .to_owned();
    if !settings.token_endpoint_auth_methods.contains(&method) {
        return Err(metadata_error(format!(
            "token_endpoint_auth_method {method} is not allowed (allowed: {})",
            settings.token_endpoint_auth_methods.join(", ")
        )));
    }
    if method == "tls_client_auth"
        && metadata
            .get("tls_client_auth_subject_dn")
            .and_then(Value::as_str)
            .is_none()
    {
        return Err(metadata_error(
            "tls_client_auth needs tls_client_auth_subject_dn",
        ));
    }
    metadata.remove("software_statement");
    metadata.insert("software_id".into(), Value::String(ssa.software_id.clone()));
    metadata.insert("redirect_uris".into(), serde_json::json!(redirect_uris));
    metadata.insert("software_roles".into(), serde_json::json!(ssa.roles));
    metadata.insert("org_id".into(), Value::String(ssa.org_id.clone()));
    if let Some(name) = &ssa.client_name {
        metadata.insert("client_name".into(), Value::String(name.clone()));
    }
    if let Some(jwks_uri) = &ssa.jwks_uri {
        metadata.insert("jwks_uri".into(), Value::String(jwks_uri.clone()));
        metadata.remove("jwks");
    }
    let mut signed = ssa.claims();
    for (from, to) in [
        ("software_client_uri", "client_uri"),
        ("software_logo_uri", "logo_uri"),
        ("software_tos_uri", "tos_uri"),
        ("software_policy_uri", "policy_uri"),
        ("client_uri", "client_uri"),
        ("logo_uri", "logo_uri"),
        ("tos_uri", "tos_uri"),
        ("policy_uri", "policy_uri"),
    ] {
        if let Some(value) = signed.remove(from) {
            metadata.insert(to.into(), value);
        }
    }
    Ok(metadata)
}
