//! Checking a dynamic client registration request (RFC 7591) against its software statement:
//! plain JSON metadata, or a JWS signed by the client with a key from the software's keystore
//! (UK Open Banking style). The statement's values take precedence (RFC 7591 section 2.3).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::Verifier;
use crate::error::VerifyError;
use crate::jwks::KeySource;
use crate::statement::{self, SoftwareStatement};

/// The effective client metadata: the request's, overridden by the statement's values.
pub type ClientMetadata = Map<String, Value>;

/// A checked registration: the statement and the metadata to register.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Registration {
    pub software_statement: SoftwareStatement,
    pub metadata: ClientMetadata,
}

fn metadata_error(message: impl Into<String>) -> VerifyError {
    VerifyError::metadata(message)
}

impl Verifier {
    fn software_keys(&self, url: &str) -> Arc<KeySource> {
        let mut map = self.software_keys.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(url.to_owned())
            .or_insert_with(|| {
                Arc::new(KeySource::remote(
                    url,
                    self.http.clone(),
                    self.settings.jwks_cache,
                ))
            })
            .clone()
    }

    /// Checks a registration request. `request` is JSON metadata or a compact JWS; its
    /// `software_statement` is verified, or `statement` is used when it carries none.
    pub fn verify_registration(
        &self,
        request: &str,
        statement: Option<&SoftwareStatement>,
    ) -> Result<Registration, VerifyError> {
        let trimmed = request.trim();
        let (metadata, ssa) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let metadata = match serde_json::from_str(trimmed) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(metadata_error(
                        "the registration request is not a JSON object",
                    ));
                }
            };
            let ssa = self.statement_of(&metadata, statement)?;
            (metadata, ssa)
        } else {
            self.signed_request(trimmed, statement)?
        };
        let metadata = self.merge(metadata, &ssa)?;
        Ok(Registration {
            software_statement: ssa,
            metadata,
        })
    }

    /// Verifies a request signed by the client with a key of its software's keystore.
    fn signed_request(
        &self,
        token: &str,
        statement: Option<&SoftwareStatement>,
    ) -> Result<(ClientMetadata, SoftwareStatement), VerifyError> {
        let signed = |e: VerifyError| metadata_error(format!("signed request: {}", e.description));
        let jws = statement::split(token).map_err(signed)?;
        let header: statement::Header<'_> =
            statement::read_part(&jws.header, "JWS header").map_err(signed)?;
        let claims: ClientMetadata =
            statement::read_part(&jws.payload, "JWS payload").map_err(signed)?;
        // The statement inside says which keystore the request must be signed from.
        let ssa = self.statement_of(&claims, statement)?;
        let jwks_uri = ssa
            .jwks_uri
            .clone()
            .ok_or_else(|| VerifyError::statement("the statement names no software keystore"))?;
        let alg = statement::algorithm(&header, &self.settings.algorithms).map_err(signed)?;
        let keys = self.software_keys(&jwks_uri);
        statement::check_signature(&jws, &header, alg, &keys).map_err(signed)?;
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        statement::check_times(
            number("iat"),
            number("exp"),
            &self.settings,
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
        if let Some(expected) = &self.settings.audience {
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
        Ok((claims, ssa))
    }

    /// The request's own `software_statement`, verified, or the one given beside it.
    fn statement_of(
        &self,
        metadata: &ClientMetadata,
        statement: Option<&SoftwareStatement>,
    ) -> Result<SoftwareStatement, VerifyError> {
        match metadata.get("software_statement").and_then(Value::as_str) {
            Some(token) => self.verify_ssa(token),
            None => statement.cloned().ok_or_else(|| {
                VerifyError::statement("the registration carries no software_statement")
            }),
        }
    }

    /// RFC 7591 section 2.3: the statement's values win; the request may narrow redirect URIs
    /// to a subset, must not contradict the software id, and must use an allowed
    /// authentication method.
    fn merge(
        &self,
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
                    let uri = item.as_str().ok_or_else(|| {
                        VerifyError::redirect_uri("redirect_uris must be strings")
                    })?;
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
        if !self.settings.token_endpoint_auth_methods.contains(&method) {
            return Err(metadata_error(format!(
                "token_endpoint_auth_method {method} is not allowed (allowed: {})",
                self.settings.token_endpoint_auth_methods.join(", ")
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
}
