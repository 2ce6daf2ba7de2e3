//! The bank's side of OAuth 2.0 Dynamic Client Registration (RFC 7591): the decision on one
//! registration request, for an authorization server to embed. No web framework and no
//! storage here: the caller reads the HTTP request, tells [`Registrar::register`] what the
//! client presented (the body, whether its initial access token was good, its TLS client
//! certificate), and stores the [`Client`] it gets back, or answers the
//! [`RegistrationError`] as RFC 7591 error JSON.
//!
//! The checks of statements, signed requests and certificates are the `ssa-verifier`
//! crate's, against each trusted directory; RFC 7591 section 2.3 decides precedence (the
//! statement's values win over the request's), then the [`Policy`] fills in defaults and
//! refuses what its profile does not allow.
//!
//! ```no_run
//! use ssa_registrar::{Policy, Presented, Registrar, SecurityProfile};
//!
//! let policy = Policy::for_profile(SecurityProfile::Fapi2);
//! let registrar = Registrar::discover(
//!     policy,
//!     &["https://directory.example/.well-known/ssa-directory"],
//!     "https://bank.example",
//! )?;
//! let body = r#"{"software_statement": "eyJ...", "token_endpoint_auth_method": "private_key_jwt"}"#;
//! match registrar.register(body, &Presented::default()) {
//!     Ok(client) => println!("register {}", client.client_id),
//!     Err(refusal) => println!("{} {}", refusal.status(), refusal.to_json()),
//! }
//! # Ok::<(), ssa_verifier::ConfigError>(())
//! ```

#![deny(missing_docs)]

mod policy;
#[cfg(feature = "server")]
pub mod server;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value, json};
use ssa_verifier::protocol::RegistrationCode;
use ssa_verifier::{
    ClientMetadata, ConfigError, RegistrationRequest, Settings, SoftwareStatement, Verifier,
    VerifyError,
};

pub use policy::{Access, ClientIds, Policy, SecurityProfile, Statements};

/// An RFC 7591 (or, for the initial access token, RFC 6750) error: the code, a description
/// that says what was wrong, and the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}: {error_description}")]
pub struct RegistrationError {
    /// `invalid_software_statement`, `unapproved_software_statement`,
    /// `invalid_redirect_uri`, `invalid_client_metadata` or `invalid_token`; for an explicit
    /// registration also `invalid_request`, `invalid_trust_chain` or `invalid_metadata`, for an
    /// automatic one `invalid_request_object`.
    pub error: RegistrationCode,
    /// What was wrong.
    pub error_description: String,
}

impl RegistrationError {
    /// An error of `code`, saying what was wrong.
    pub fn new(code: RegistrationCode, description: impl Into<String>) -> Self {
        Self {
            error: code,
            error_description: description.into(),
        }
    }

    /// `invalid_client_metadata`.
    pub fn metadata(description: impl Into<String>) -> Self {
        Self::new(RegistrationCode::InvalidClientMetadata, description)
    }

    /// `invalid_redirect_uri`.
    pub fn redirect_uri(description: impl Into<String>) -> Self {
        Self::new(RegistrationCode::InvalidRedirectUri, description)
    }

    /// `invalid_software_statement`.
    pub fn statement(description: impl Into<String>) -> Self {
        Self::new(RegistrationCode::InvalidSoftwareStatement, description)
    }

    /// `unapproved_software_statement`: the statement is not (or cannot now be confirmed to
    /// be) approved by its directory.
    pub fn unapproved(description: impl Into<String>) -> Self {
        Self::new(RegistrationCode::UnapprovedSoftwareStatement, description)
    }

    /// `invalid_request_object`: an automatic registration's request object does not hold.
    pub fn request_object(description: impl Into<String>) -> Self {
        Self::new(RegistrationCode::InvalidRequestObject, description)
    }

    /// `invalid_request` (RFC 6749): a request the registrar cannot read, such as a query
    /// parameter out of its range.
    pub fn request(description: impl Into<String>) -> Self {
        Self::new(RegistrationCode::InvalidRequest, description)
    }

    /// `invalid_token` (RFC 6750): a missing or bad initial access token.
    pub fn token(description: impl Into<String>) -> Self {
        Self::new(RegistrationCode::InvalidToken, description)
    }

    /// The HTTP status: 401 for `invalid_token`, 400 for the others.
    pub fn status(&self) -> u16 {
        self.error.status()
    }

    /// The error response body.
    pub fn to_json(&self) -> String {
        json!({"error": self.error, "error_description": self.error_description}).to_string()
    }
}

impl From<VerifyError> for RegistrationError {
    fn from(e: VerifyError) -> Self {
        Self::new(e.code.into(), e.description)
    }
}

impl From<ssa_verifier::federation::FederationError> for RegistrationError {
    /// A refused trust chain (explicit registration): its specification's error code,
    /// `invalid_trust_chain` or `invalid_metadata`.
    fn from(e: ssa_verifier::federation::FederationError) -> Self {
        Self::new(RegistrationCode::of_federation(e.code), e.description)
    }
}

/// What the client presented besides its request body.
#[derive(Debug, Clone, Default)]
pub struct Presented {
    /// Whether it presented a valid initial access token (the caller checks it: tokens are
    /// the caller's to store).
    pub initial_access_token: bool,
    /// Its TLS client certificate (PEM), when the connection was mutual TLS.
    pub client_certificate: Option<String>,
}

/// The decision: a client to register.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    /// A new random client id, or for [`ClientIds::PerSoftware`] the software id (the caller
    /// returns the existing client when that software registered before, and refuses it for
    /// another organisation).
    pub client_id: String,
    /// Whether `client_id` is shared by every instance of the software.
    pub shared: bool,
    /// The effective metadata to register and to answer with.
    pub metadata: ClientMetadata,
    /// The verified statement, if the registration rests on one.
    pub statement: Option<StatementFacts>,
    /// The client authenticates with a secret the caller must issue
    /// (`client_secret_basic`, `client_secret_post`, `client_secret_jwt`).
    pub needs_secret: bool,
    /// The subject of the verified client certificate, when one was presented.
    pub certificate_subject: Option<String>,
}

/// What the registrar keeps of a verified statement.
#[derive(Debug, Clone, Serialize)]
pub struct StatementFacts {
    /// The directory that issued it.
    pub issuer: String,
    /// Its `jti`: a statement registers once (the caller keeps the jtis it has seen).
    pub jti: Option<String>,
    /// The software.
    pub software_id: String,
    /// The software's organisation.
    pub org_id: String,
    /// Its `exp` (seconds since the Unix epoch).
    pub expires_at: i64,
    /// Its roles.
    pub roles: Vec<String>,
    /// The statement as presented (a compact JWS), to keep beside the registration.
    pub token: String,
}

impl Client {
    /// The RFC 7591 client information response: the metadata, `client_id`,
    /// `client_id_issued_at`, the secret with `client_secret_expires_at` (0: it does not
    /// expire) when there is one, and the RFC 7592 `registration_access_token` and
    /// `registration_client_uri`.
    pub fn information_response(
        &self,
        issued_at: i64,
        secret: Option<&str>,
        registration_access_token: &str,
        registration_client_uri: &str,
    ) -> Value {
        let mut body = self.metadata.clone();
        body.insert("client_id".into(), json!(self.client_id));
        body.insert("client_id_issued_at".into(), json!(issued_at));
        if let Some(secret) = secret {
            body.insert("client_secret".into(), json!(secret));
            body.insert("client_secret_expires_at".into(), json!(0));
        }
        body.insert(
            "registration_access_token".into(),
            json!(registration_access_token),
        );
        body.insert(
            "registration_client_uri".into(),
            json!(registration_client_uri),
        );
        Value::Object(body)
    }
}

/// Custom rules (what other servers do with interception scripts): called before the
/// policy's checks with the merged metadata, and after with the client about to be
/// registered; either may refuse, the second may adjust the client.
pub trait Interceptor: Send + Sync {
    /// Before the policy: refuse with an RFC 7591 error, or let the registration go on.
    fn before(
        &self,
        _metadata: &ClientMetadata,
        _statement: Option<&SoftwareStatement>,
    ) -> Result<(), RegistrationError> {
        Ok(())
    }

    /// After the decision: refuse, or change the client.
    fn after(&self, _client: &mut Client) -> Result<(), RegistrationError> {
        Ok(())
    }
}

/// Decides registrations under one policy for several trusted directories.
pub struct Registrar {
    policy: Policy,
    directories: Vec<Verifier>,
    interceptors: Vec<Box<dyn Interceptor>>,
}

impl Registrar {
    /// A registrar trusting `directories` (each a verifier of one directory; see
    /// [`Registrar::verifier_settings`] for settings that agree with the policy).
    pub fn new(policy: Policy, directories: Vec<Verifier>) -> Self {
        Self {
            policy,
            directories,
            interceptors: vec![],
        }
    }

    /// A registrar trusting the directories at these discovery URLs, for the authorization
    /// server `audience` (the `aud` of signed requests).
    pub fn discover(
        policy: Policy,
        discovery_urls: &[&str],
        audience: &str,
    ) -> Result<Self, ConfigError> {
        let settings = Self::verifier_settings(&policy, audience, std::time::Duration::ZERO);
        Self::discover_with(policy, discovery_urls, settings)
    }

    /// Like [`Registrar::discover`], with the verifiers' settings given.
    pub fn discover_with(
        policy: Policy,
        discovery_urls: &[&str],
        settings: Settings,
    ) -> Result<Self, ConfigError> {
        let directories = discovery_urls
            .iter()
            .map(|url| Verifier::discover(url, settings.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(policy, directories))
    }

    /// Verifier settings that agree with `policy`: its authentication methods, statement age
    /// and the live status check of the product and the statement, each answer reused for
    /// `status_cache`. Zero (what [`Registrar::discover`] uses) reads them for every
    /// registration, so a suspension counts at once; a caller that follows the directory's
    /// event feed (as the service does) can cache, because each event clears what it makes
    /// stale.
    pub fn verifier_settings(
        policy: &Policy,
        audience: &str,
        status_cache: std::time::Duration,
    ) -> Settings {
        Settings::default()
            .with_token_endpoint_auth_methods(policy.auth_methods.iter().cloned())
            .with_max_age(policy.statement_max_age)
            .with_check_status(true)
            .with_status_cache(status_cache)
            .with_audience(audience)
    }

    /// Adds custom rules, run in the order added.
    pub fn with_interceptor(mut self, interceptor: impl Interceptor + 'static) -> Self {
        self.interceptors.push(Box::new(interceptor));
        self
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The trusted directories' verifiers (to follow their event feeds: a verified event
    /// also clears the verifier's caches it makes stale).
    pub fn directories(&self) -> &[Verifier] {
        &self.directories
    }

    /// Decides one registration request (`body`: JSON client metadata or a signed JWS).
    pub fn register(&self, body: &str, presented: &Presented) -> Result<Client, RegistrationError> {
        if self.policy.access == Access::Protected && !presented.initial_access_token {
            return Err(RegistrationError::token(
                "registration here needs a valid initial access token (Authorization: Bearer)",
            ));
        }
        let request = RegistrationRequest::parse(body)?;
        if self.policy.signed_requests && !request.is_signed() {
            return Err(RegistrationError::metadata(format!(
                "the {:?} profile needs a registration request signed with a key of the software's keystore",
                self.policy.profile
            )));
        }
        let carries_statement = request.software_statement().is_some();
        let (metadata, statement, verifier) = match (self.policy.statements, carries_statement) {
            (Statements::Required, false) => {
                return Err(RegistrationError::statement(
                    "a software statement from a trusted directory is required",
                ));
            }
            (Statements::Ignored, _) | (Statements::Optional, false) => {
                if request.is_signed() {
                    return Err(RegistrationError::metadata(
                        "a signed request can only be checked with the keystore its software statement names",
                    ));
                }
                let mut metadata = request.metadata().clone();
                metadata.remove("software_statement");
                (metadata, None, None)
            }
            (_, true) => {
                let token = request.software_statement().unwrap_or_default();
                let verifier = self.directory_of(token)?;
                let body = self.with_default_method(body, &request)?;
                let registration = verifier.verify_registration(&body, None)?;
                #[cfg(feature = "server")]
                if let Some(problem) = &registration.software_statement.log_problem {
                    tracing::warn!(
                        software_id = %registration.software_statement.software_id,
                        %problem,
                        "a statement is not shown in its directory's transparency log"
                    );
                }
                (
                    registration.metadata,
                    Some((registration.software_statement, token.to_owned())),
                    Some(verifier),
                )
            }
        };
        let (statement, statement_token) = statement.unzip();
        for interceptor in &self.interceptors {
            interceptor.before(&metadata, statement.as_ref())?;
        }
        let mut metadata = metadata;
        self.apply(&mut metadata, statement.as_ref())?;
        let certificate_subject = match (&presented.client_certificate, &statement, verifier) {
            (Some(pem), Some(ssa), Some(verifier)) => Some(
                verifier
                    .verify_client_certificate(pem, ssa, Some(&metadata))?
                    .subject,
            ),
            (None, _, _) if self.needs_certificate(&metadata) => {
                return Err(RegistrationError::metadata(
                    "tls_client_auth needs the client's certificate on a mutual TLS connection",
                ));
            }
            _ => None,
        };
        let method = metadata
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let needs_secret = method.starts_with("client_secret_");
        let (client_id, shared) = match (self.policy.client_ids, &statement) {
            (ClientIds::PerSoftware, Some(ssa)) => (ssa.software_id.clone(), true),
            (ClientIds::PerSoftware, None) => {
                return Err(RegistrationError::statement(
                    "client ids are shared per software here, so a software statement is needed",
                ));
            }
            (ClientIds::PerInstance, _) => (uuid::Uuid::new_v4().to_string(), false),
        };
        let mut client = Client {
            client_id,
            shared,
            metadata,
            statement: statement.map(|ssa| StatementFacts {
                issuer: ssa.issuer.clone(),
                jti: ssa.jti.clone(),
                software_id: ssa.software_id.clone(),
                org_id: ssa.org_id.clone(),
                expires_at: ssa.expires_at,
                roles: ssa.roles.clone(),
                token: statement_token.unwrap_or_default(),
            }),
            needs_secret,
            certificate_subject,
        };
        for interceptor in &self.interceptors {
            interceptor.after(&mut client)?;
        }
        Ok(client)
    }

    /// Decides an explicit registration (OpenID Federation 1.0, section 12.2) instead of a
    /// statement: `chain` is the client's trust chain, validated up to a trust anchor the
    /// caller trusts, and its resolved `openid_relying_party` (else `oauth_client`) metadata,
    /// the superiors' policies applied, is the request. The policy then applies as to any
    /// registration. The client's software and organisation are the `software_id` and
    /// `org_id` the metadata carries (the directory's statement about a product asserts
    /// them), its issuer the trust anchor. A chain proves who the
    /// client is, so neither an initial access token nor a statement is asked for; a
    /// `tls_client_auth` client registers with a statement instead (its certificate is
    /// checked against the directory's statement of it).
    pub fn register_federated(
        &self,
        chain: &ssa_verifier::federation::TrustChain,
    ) -> Result<Client, RegistrationError> {
        let mut metadata = ["openid_relying_party", "oauth_client"]
            .iter()
            .find_map(|kind| chain.metadata.get(*kind).and_then(Value::as_object))
            .cloned()
            .ok_or_else(|| {
                RegistrationError::metadata(
                    "the resolved metadata has neither openid_relying_party nor oauth_client",
                )
            })?;
        for interceptor in &self.interceptors {
            interceptor.before(&metadata, None)?;
        }
        self.apply(&mut metadata, None)?;
        if self.needs_certificate(&metadata) {
            return Err(RegistrationError::metadata(
                "tls_client_auth registers with a software statement here, which names the certificate",
            ));
        }
        let software_id = metadata
            .get("software_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // The directory asserts both in its statement about a product.
        let metadata_org_id = metadata
            .get("org_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let (client_id, shared) = match (self.policy.client_ids, &software_id) {
            (ClientIds::PerSoftware, Some(id)) => (id.clone(), true),
            (ClientIds::PerSoftware, None) => {
                return Err(RegistrationError::metadata(
                    "client ids are shared per software here, and the resolved metadata has no software_id",
                ));
            }
            (ClientIds::PerInstance, _) => (uuid::Uuid::new_v4().to_string(), false),
        };
        let needs_secret = metadata
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("client_secret_"));
        let mut client = Client {
            client_id,
            shared,
            metadata,
            statement: software_id.map(|software_id| StatementFacts {
                issuer: chain.trust_anchor.clone(),
                jti: None,
                software_id,
                org_id: metadata_org_id.unwrap_or_default(),
                expires_at: chain.expires_at,
                roles: vec![],
                token: String::new(),
            }),
            needs_secret,
            certificate_subject: None,
        };
        for interceptor in &self.interceptors {
            interceptor.after(&mut client)?;
        }
        Ok(client)
    }

    /// Decides an automatic registration (OpenID Federation 1.0, section 12.1): as
    /// [`Registrar::register_federated`], but the client id is the client's entity
    /// identifier (one client per entity, registered again as its chain changes), and since
    /// nothing reaches the client but the authorization response, it cannot be given a
    /// secret: `client_secret_*` methods are refused. The caller has checked the request
    /// object against the client's resolved keys.
    pub fn register_automatic(
        &self,
        chain: &ssa_verifier::federation::TrustChain,
    ) -> Result<Client, RegistrationError> {
        let mut client = self.register_federated(chain)?;
        if client.needs_secret {
            return Err(RegistrationError::metadata(
                "an automatically registered client gets no secret: use private_key_jwt or tls_client_auth",
            ));
        }
        client.client_id = chain.entity_id.clone();
        client.shared = true;
        Ok(client)
    }

    /// The trusted directory that issued `statement` (by its unverified `iss`; the verifier
    /// then checks everything).
    fn directory_of(&self, statement: &str) -> Result<&Verifier, RegistrationError> {
        let issuer = statement
            .split('.')
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
            .and_then(|claims| claims.get("iss").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| {
                RegistrationError::statement("the software statement is not a JWS with an iss")
            })?;
        self.directories
            .iter()
            .find(|d| d.issuer() == issuer)
            .ok_or_else(|| {
                RegistrationError::statement(format!(
                    "the software statement was issued by {issuer:?}, which is not a directory trusted here"
                ))
            })
    }

    /// A JSON request without `token_endpoint_auth_method` gets the policy's default (a
    /// signed request is left as signed: it must name its method).
    fn with_default_method(
        &self,
        body: &str,
        request: &RegistrationRequest,
    ) -> Result<String, RegistrationError> {
        if request.is_signed()
            || request
                .metadata()
                .contains_key("token_endpoint_auth_method")
        {
            return Ok(body.to_owned());
        }
        let mut metadata = request.metadata().clone();
        if let Some(default) = self.policy.auth_methods.first() {
            metadata.insert("token_endpoint_auth_method".into(), json!(default));
        }
        serde_json::to_string(&metadata).map_err(|e| RegistrationError::metadata(e.to_string()))
    }

    fn needs_certificate(&self, metadata: &ClientMetadata) -> bool {
        metadata
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            == Some("tls_client_auth")
            && self.policy.statements != Statements::Ignored
    }

    /// Defaults fill what is missing; what the policy does not allow is refused.
    fn apply(
        &self,
        metadata: &mut ClientMetadata,
        statement: Option<&SoftwareStatement>,
    ) -> Result<(), RegistrationError> {
        let policy = &self.policy;
        let strings =
            |value: Option<&Value>, name: &str| -> Result<Option<Vec<String>>, RegistrationError> {
                match value {
                    None => Ok(None),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|i| {
                            i.as_str().map(str::to_owned).ok_or_else(|| {
                                RegistrationError::metadata(format!(
                                    "{name} must be an array of strings"
                                ))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Some),
                    Some(_) => Err(RegistrationError::metadata(format!(
                        "{name} must be an array of strings"
                    ))),
                }
            };

        // Authentication method.
        let method = match metadata.get("token_endpoint_auth_method") {
            None => policy.auth_methods.first().cloned().unwrap_or_default(),
            Some(Value::String(m)) => m.clone(),
            Some(_) => {
                return Err(RegistrationError::metadata(
                    "token_endpoint_auth_method must be a string",
                ));
            }
        };
        if !policy.auth_methods.contains(&method) {
            return Err(RegistrationError::metadata(format!(
                "token_endpoint_auth_method {method} is not allowed here (allowed: {})",
                policy.auth_methods.join(", ")
            )));
        }
        metadata.insert("token_endpoint_auth_method".into(), json!(method));
        if method == "private_key_jwt"
            && policy.profile != SecurityProfile::Open
            && !metadata.contains_key("jwks_uri")
            && !metadata.contains_key("jwks")
        {
            return Err(RegistrationError::metadata(
                "private_key_jwt needs jwks_uri (or jwks) for the client's keys",
            ));
        }

        // Signature algorithms the client will use.
        for field in [
            "token_endpoint_auth_signing_alg",
            "request_object_signing_alg",
            "id_token_signed_response_alg",
            "userinfo_signed_response_alg",
            "authorization_signed_response_alg",
        ] {
            match metadata.get(field) {
                None => {}
                Some(Value::String(alg)) if policy.algorithms.contains(alg) => {}
                Some(other) => {
                    return Err(RegistrationError::metadata(format!(
                        "{field} {other} is not allowed here (allowed: {})",
                        policy.algorithms.join(", ")
                    )));
                }
            }
        }
        if method == "private_key_jwt"
            && !metadata.contains_key("token_endpoint_auth_signing_alg")
            && let Some(alg) = policy.algorithms.first()
        {
            metadata.insert("token_endpoint_auth_signing_alg".into(), json!(alg));
        }

        // Grant and response types.
        let grants = strings(metadata.get("grant_types"), "grant_types")?
            .unwrap_or_else(|| policy.default_grant_types.clone());
        if let Some(bad) = grants.iter().find(|g| !policy.grant_types.contains(g)) {
            return Err(RegistrationError::metadata(format!(
                "grant type {bad} is not allowed here (allowed: {})",
                policy.grant_types.join(", ")
            )));
        }
        let code_flow = grants.iter().any(|g| g == "authorization_code");
        let responses =
            strings(metadata.get("response_types"), "response_types")?.unwrap_or_else(|| {
                if code_flow {
                    vec!["code".into()]
                } else {
                    vec![]
                }
            });
        if let Some(bad) = responses
            .iter()
            .find(|r| !policy.response_types.contains(r))
        {
            return Err(RegistrationError::metadata(format!(
                "response type {bad} is not allowed here (allowed: {})",
                policy.response_types.join(", ")
            )));
        }
        if responses.iter().any(|r| r == "code") && !code_flow {
            return Err(RegistrationError::metadata(
                "response type code needs the authorization_code grant",
            ));
        }
        metadata.insert("grant_types".into(), json!(grants));
        metadata.insert("response_types".into(), json!(responses));

        // Redirect URIs (the statement's are checked by the verifier already).
        let redirects =
            strings(metadata.get("redirect_uris"), "redirect_uris")?.unwrap_or_default();
        if code_flow && redirects.is_empty() {
            return Err(RegistrationError::redirect_uri(
                "the authorization_code grant needs redirect_uris",
            ));
        }
        for uri in &redirects {
            let parsed = url::Url::parse(uri).map_err(|_| {
                RegistrationError::redirect_uri(format!("{uri} is not an absolute URI"))
            })?;
            let loopback = parsed.scheme() == "http"
                && matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
            let ok = parsed.fragment().is_none()
                && (parsed.scheme() == "https" || (!policy.https_redirect_uris && loopback));
            if !ok {
                return Err(RegistrationError::redirect_uri(format!(
                    "{uri} is not allowed here: redirect URIs must be https{} and carry no fragment",
                    if policy.https_redirect_uris {
                        ""
                    } else {
                        " (or loopback http)"
                    }
                )));
            }
        }

        // Scopes, narrowed to what the statement's roles allow.
        if !policy.scopes_by_role.is_empty() {
            let roles = statement.map(|s| s.roles.as_slice());
            let allowed = policy.allowed_scopes(roles);
            let scope = match metadata.get("scope") {
                None => allowed.join(" "),
                Some(Value::String(requested)) => {
                    if let Some(bad) = requested
                        .split_whitespace()
                        .find(|s| !allowed.iter().any(|a| a == s))
                    {
                        return Err(RegistrationError::metadata(format!(
                            "scope {bad} is not allowed for this software's roles (allowed: {})",
                            allowed.join(" ")
                        )));
                    }
                    requested.split_whitespace().collect::<Vec<_>>().join(" ")
                }
                Some(_) => return Err(RegistrationError::metadata("scope must be a string")),
            };
            metadata.insert("scope".into(), json!(scope));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The policy's rules on metadata alone (statements ignored, so no directory is needed):
    //! what each profile fills in, allows and refuses.

    use serde_json::{Value, json};

    use super::{Presented, Registrar, RegistrationError, Statements};
    use crate::{Access, Policy, SecurityProfile};

    fn registrar(profile: SecurityProfile) -> Registrar {
        let mut policy = Policy::for_profile(profile);
        policy.statements = Statements::Ignored;
        Registrar::new(policy, vec![])
    }

    fn decide(profile: SecurityProfile, body: Value) -> Result<super::Client, RegistrationError> {
        registrar(profile).register(&body.to_string(), &Presented::default())
    }

    fn refusal(profile: SecurityProfile, body: Value) -> (String, String) {
        let e = decide(profile, body).expect_err("refused");
        (e.error.as_str().to_owned(), e.error_description)
    }

    #[test]
    fn fapi2_fills_in_private_key_jwt_ps256_and_the_code_flow() {
        let client = decide(
            SecurityProfile::Fapi2,
            json!({"redirect_uris": ["https://app.example/cb"], "jwks_uri": "https://app.example/jwks"}),
        )
        .unwrap();
        let m = &client.metadata;
        assert_eq!(m["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(m["token_endpoint_auth_signing_alg"], "PS256");
        assert_eq!(
            m["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(m["response_types"], json!(["code"]));
        assert!(!client.needs_secret && !client.shared);
        assert!(uuid::Uuid::parse_str(&client.client_id).is_ok());
    }

    #[test]
    fn fapi2_refuses_secrets_weak_algorithms_and_plain_http_redirects() {
        let base = |extra: Value| {
            let mut body = json!({"redirect_uris": ["https://app.example/cb"], "jwks_uri": "https://app.example/jwks"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        for (extra, code, words) in [
            (
                json!({"token_endpoint_auth_method": "client_secret_basic"}),
                "invalid_client_metadata",
                "client_secret_basic",
            ),
            (
                json!({"token_endpoint_auth_signing_alg": "RS256"}),
                "invalid_client_metadata",
                "RS256",
            ),
            (
                json!({"redirect_uris": ["http://app.example/cb"]}),
                "invalid_redirect_uri",
                "https",
            ),
            (
                json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
                "invalid_client_metadata",
                "authorization_code",
            ),
            (
                json!({"grant_types": ["implicit"]}),
                "invalid_client_metadata",
                "implicit",
            ),
        ] {
            let (error, description) = refusal(SecurityProfile::Fapi2, base(extra.clone()));
            assert_eq!(error, code, "{extra}: {description}");
            assert!(description.contains(words), "{extra}: {description}");
        }
    }

    #[test]
    fn the_open_profile_issues_secrets_and_takes_loopback_redirects() {
        let client = decide(
            SecurityProfile::Open,
            json!({"redirect_uris": ["http://127.0.0.1:8000/cb"]}),
        )
        .unwrap();
        assert_eq!(
            client.metadata["token_endpoint_auth_method"],
            "client_secret_basic"
        );
        assert!(client.needs_secret, "the caller issues the secret");
        let (error, _) = refusal(
            SecurityProfile::Open,
            json!({"redirect_uris": ["http://app.example/cb"]}),
        );
        assert_eq!(error, "invalid_redirect_uri");
    }

    #[test]
    fn protected_registration_needs_the_initial_token_and_signed_profiles_a_signed_request() {
        let mut policy = Policy::for_profile(SecurityProfile::Fapi2);
        policy.access = Access::Protected;
        policy.statements = Statements::Ignored;
        let registrar = Registrar::new(policy, vec![]);
        let body = json!({"redirect_uris": ["https://app.example/cb"], "jwks_uri": "https://app.example/jwks"}).to_string();
        let e = registrar
            .register(&body, &Presented::default())
            .expect_err("no initial token");
        assert_eq!(e.error.as_str(), "invalid_token");
        assert_eq!(e.status(), 401);
        let presented = Presented {
            initial_access_token: true,
            client_certificate: None,
        };
        assert!(registrar.register(&body, &presented).is_ok());
        let (error, description) = refusal(
            SecurityProfile::Obuk,
            json!({"redirect_uris": ["https://app.example/cb"]}),
        );
        assert_eq!(error, "invalid_client_metadata");
        assert!(description.contains("signed"), "{description}");
    }

    #[test]
    fn scopes_follow_the_roles() {
        let policy = Policy::for_profile(SecurityProfile::Fapi2);
        assert_eq!(
            policy.allowed_scopes(Some(&["AISP".to_owned()])),
            ["openid", "accounts"]
        );
        assert_eq!(
            policy.allowed_scopes(Some(&["ASPSP".to_owned()])),
            ["openid"]
        );
        assert_eq!(
            policy.allowed_scopes(None),
            ["openid", "accounts", "payments", "fundsconfirmations"]
        );
    }

    #[test]
    fn settings_name_their_choices_when_misspelt() {
        for (error, words) in [
            (
                "fap2".parse::<SecurityProfile>().unwrap_err(),
                "open, fapi2, obuk or cdr",
            ),
            (
                "maybe".parse::<Statements>().unwrap_err(),
                "required, optional or ignored",
            ),
            ("closed".parse::<Access>().unwrap_err(), "open or protected"),
        ] {
            assert!(error.contains(words), "{error}");
        }
        assert_eq!("cdr".parse::<SecurityProfile>(), Ok(SecurityProfile::Cdr));
    }
}
