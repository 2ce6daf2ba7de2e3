//! What a registration may ask for and what the registrar fills in: the use cases of RFC 7591
//! Appendix A as settings, client properties set by default or overridden, and the security
//! profiles that set them in one word.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Security profiles: one word for a consistent set of rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityProfile {
    /// Plain RFC 7591: any of the usual authentication methods, https or loopback redirect
    /// URIs.
    Open,
    /// FAPI 2.0: `private_key_jwt` or `tls_client_auth` only, PS256 or ES256, https redirect
    /// URIs, `jwks_uri` (or `jwks`) required for `private_key_jwt`.
    Fapi2,
    /// UK Open Banking: FAPI 2.0's rules, a signed registration request, the statement's
    /// values first, and the `tls_client_auth_subject_dn` checked against the client
    /// certificate.
    Obuk,
    /// Australian CDR: FAPI 2.0's rules, a signed request and a statement at most ten minutes
    /// old.
    Cdr,
}

impl FromStr for SecurityProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Self::Open),
            "fapi2" => Ok(Self::Fapi2),
            "obuk" => Ok(Self::Obuk),
            "cdr" => Ok(Self::Cdr),
            other => Err(format!(
                "unknown profile {other:?} (open, fapi2, obuk or cdr)"
            )),
        }
    }
}

/// Whether a client must, may or may not present a software statement (RFC 7591 A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statements {
    /// Every registration carries a statement from a trusted directory.
    Required,
    /// A statement is verified when present; without one the metadata stands alone.
    Optional,
    /// Statements are dropped unread; the metadata stands alone.
    Ignored,
}

impl FromStr for Statements {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "required" => Ok(Self::Required),
            "optional" => Ok(Self::Optional),
            "ignored" => Ok(Self::Ignored),
            other => Err(format!(
                "unknown statements setting {other:?} (required, optional or ignored)"
            )),
        }
    }
}

/// Open registration or protected by an initial access token (RFC 7591 A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone may register (the statement, if required, is the credential).
    Open,
    /// A valid initial access token is needed.
    Protected,
}

impl FromStr for Access {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Self::Open),
            "protected" => Ok(Self::Protected),
            other => Err(format!(
                "unknown registration setting {other:?} (open or protected)"
            )),
        }
    }
}

/// A client id per registration, or one per software shared by its instances (RFC 7591
/// A.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIds {
    /// Every registration gets a new client id.
    PerInstance,
    /// Every instance of one software shares one client id.
    PerSoftware,
}

impl FromStr for ClientIds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "per-instance" => Ok(Self::PerInstance),
            "per-software" => Ok(Self::PerSoftware),
            other => Err(format!(
                "unknown client id setting {other:?} (per-instance or per-software)"
            )),
        }
    }
}

/// The registration policy. [`Policy::for_profile`] gives a profile's rules; each field can
/// then be changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    /// The profile these rules started from.
    pub profile: SecurityProfile,
    /// Open or protected registration.
    pub access: Access,
    /// Whether statements are required, optional or ignored.
    pub statements: Statements,
    /// A client id per instance or per software.
    pub client_ids: ClientIds,
    /// The registration request must be a JWS signed with a key of the software's keystore.
    pub signed_requests: bool,
    /// The oldest statement accepted (by its `iat`).
    pub statement_max_age: Option<Duration>,
    /// `token_endpoint_auth_method` values allowed; the first is the default.
    pub auth_methods: Vec<String>,
    /// Signature algorithms allowed for the client's own signatures
    /// (`token_endpoint_auth_signing_alg`, `request_object_signing_alg`,
    /// `id_token_signed_response_alg`, ...); the first is the default.
    pub algorithms: Vec<String>,
    /// `grant_types` allowed; when the client asks for none, `default_grant_types`.
    pub grant_types: Vec<String>,
    /// The grant types of a client that asks for none.
    pub default_grant_types: Vec<String>,
    /// `response_types` allowed; the default is `code` when `authorization_code` is granted.
    pub response_types: Vec<String>,
    /// Redirect URIs must be https (otherwise loopback http is accepted too).
    pub https_redirect_uris: bool,
    /// Scopes each regulated role may have (`scope` is narrowed to what the statement's roles
    /// allow; without a statement, the union of all). Empty: any scope.
    pub scopes_by_role: Vec<(String, Vec<String>)>,
    /// Scopes every client may have whatever its roles (e.g. `openid`).
    pub common_scopes: Vec<String>,
}

impl Policy {
    /// The rules of `profile` with registration open, statements required and a client id
    /// per instance.
    pub fn for_profile(profile: SecurityProfile) -> Self {
        let strict = profile != SecurityProfile::Open;
        let auth_methods: &[&str] = if strict {
            &["private_key_jwt", "tls_client_auth"]
        } else {
            &[
                "client_secret_basic",
                "private_key_jwt",
                "tls_client_auth",
                "client_secret_post",
                "client_secret_jwt",
                "none",
            ]
        };
        let algorithms: &[&str] = if strict {
            &["PS256", "ES256"]
        } else {
            &[
                "PS256", "ES256", "RS256", "ES384", "PS384", "PS512", "EdDSA",
            ]
        };
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Self {
            profile,
            access: Access::Open,
            statements: Statements::Required,
            client_ids: ClientIds::PerInstance,
            signed_requests: matches!(profile, SecurityProfile::Obuk | SecurityProfile::Cdr),
            statement_max_age: (profile == SecurityProfile::Cdr).then(|| Duration::from_secs(600)),
            auth_methods: strings(auth_methods),
            algorithms: strings(algorithms),
            grant_types: strings(&["authorization_code", "refresh_token", "client_credentials"]),
            default_grant_types: strings(&["authorization_code", "refresh_token"]),
            response_types: strings(&["code"]),
            https_redirect_uris: strict,
            scopes_by_role: vec![
                ("AISP".into(), strings(&["accounts"])),
                ("PISP".into(), strings(&["payments"])),
                ("CBPII".into(), strings(&["fundsconfirmations"])),
                ("ASPSP".into(), vec![]),
            ],
            common_scopes: strings(&["openid"]),
        }
    }

    /// The scopes a client with `roles` may have (`None`: no statement, so any role's).
    pub fn allowed_scopes(&self, roles: Option<&[String]>) -> Vec<String> {
        let mut allowed = self.common_scopes.clone();
        for (role, scopes) in &self.scopes_by_role {
            if roles.is_none_or(|r| r.iter().any(|x| x == role)) {
                for scope in scopes {
                    if !allowed.contains(scope) {
                        allowed.push(scope.clone());
                    }
                }
            }
        }
        allowed
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::for_profile(SecurityProfile::Fapi2)
    }
}
