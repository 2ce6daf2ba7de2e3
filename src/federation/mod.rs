//! OpenID Federation 1.0, the encodings only: the directory's entity configuration as a trust
//! anchor, the subordinate statements it issues about software products and ASPSPs'
//! authorization servers, their metadata policies, and the federation endpoints' errors. What the directory knows (products, keys,
//! statuses) comes from the services; nothing here reads the database.
//!
//! One federation serves both environments: a product's environment is a claim of its
//! statements, as in its SSAs, so sandbox and production stay one source of truth.

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::inputs::{Environment, RegulatedRole};
use crate::model::organisation::AuthorizationServer;
use crate::model::organisation::Organisation;
use crate::model::protocol::FederationCode;
use crate::model::software::Software;
use crate::model::{OrgId, SoftwareId};

/// The JWS `typ` of entity configurations and subordinate statements (section 3).
pub const ENTITY_STATEMENT_TYP: &str = "entity-statement+jwt";
/// Their media type.
pub const ENTITY_STATEMENT_TYPE: &str = "application/entity-statement+jwt";
/// How long the directory's federation statements are valid, in seconds.
pub const STATEMENT_LIFETIME: i64 = 24 * 3600;
/// The longest `sub` (an entity identifier, a URL) the endpoints read.
pub const MAX_ENTITY_ID: usize = 2048;
/// The token endpoint authentication methods a product's registrations may use.
pub const AUTH_METHODS: [&str; 2] = ["private_key_jwt", "tls_client_auth"];

/// The entity types of the federation's leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    OpenidRelyingParty,
    OauthClient,
    OpenidProvider,
    OauthAuthorizationServer,
    FederationEntity,
}

impl EntityType {
    /// A software product's entity types.
    pub const SOFTWARE: [EntityType; 2] = [Self::OpenidRelyingParty, Self::OauthClient];
    /// An authorization server's entity types.
    pub const SERVER: [EntityType; 2] = [Self::OpenidProvider, Self::OauthAuthorizationServer];
    /// An organisation's entity type.
    pub const ORGANISATION: [EntityType; 1] = [Self::FederationEntity];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenidRelyingParty => "openid_relying_party",
            Self::OauthClient => "oauth_client",
            Self::OpenidProvider => "openid_provider",
            Self::OauthAuthorizationServer => "oauth_authorization_server",
            Self::FederationEntity => "federation_entity",
        }
    }
}

/// The entity identifier the directory gives a software product that hosts no entity
/// configuration of its own.
pub fn software_entity_id(base: &str, software: SoftwareId) -> String {
    format!("{}{software}", software_entity_prefix(base))
}

/// What every such entity identifier starts with.
pub fn software_entity_prefix(base: &str) -> String {
    format!("{base}/federation/software/")
}

/// The entity identifier the directory gives an organisation.
pub fn organisation_entity_id(base: &str, org: OrgId) -> String {
    format!("{}{org}", organisation_entity_prefix(base))
}

/// What every such entity identifier starts with.
pub fn organisation_entity_prefix(base: &str) -> String {
    format!("{base}/federation/organisations/")
}

/// A product's entity identifier in the federation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntityIdentifier {
    /// The one its owner registered (where it hosts its own entity configuration), else the
    /// one the directory gives it.
    #[schema(format = Uri)]
    pub entity_id: String,
    /// Whether its owner hosts its entity configuration (a registered identifier).
    pub self_hosted: bool,
}

impl EntityIdentifier {
    pub fn of(base: &str, software: SoftwareId, own: Option<String>) -> Self {
        Self {
            self_hosted: own.is_some(),
            entity_id: own.unwrap_or_else(|| software_entity_id(base, software)),
        }
    }
}

/// The endpoints of the trust anchor.
pub struct Endpoints {
    pub fetch: String,
    pub list: String,
    pub resolve: String,
    pub trust_mark: String,
    pub trust_mark_list: String,
    pub trust_mark_status: String,
    pub historical_keys: String,
}

impl Endpoints {
    pub fn of(base: &str) -> Self {
        Self {
            fetch: format!("{base}/federation/fetch"),
            list: format!("{base}/federation/list"),
            resolve: format!("{base}/federation/resolve"),
            trust_mark: format!("{base}/federation/trust-mark"),
            trust_mark_list: format!("{base}/federation/trust-mark/list"),
            trust_mark_status: format!("{base}/federation/trust-mark/status"),
            historical_keys: format!("{base}/federation/historical-keys"),
        }
    }
}

/// The JWS `typ` of trust marks (section 7).
pub const TRUST_MARK_TYP: &str = "trust-mark+jwt";
/// The JWS `typ` of trust mark status responses.
pub const TRUST_MARK_STATUS_TYP: &str = "trust-mark-status-response+jwt";
/// The JWS `typ` of resolve responses.
pub const RESOLVE_TYP: &str = "resolve-response+jwt";
/// The JWS `typ` of the historical keys document.
pub const HISTORICAL_KEYS_TYP: &str = "jwk-set+jwt";

/// A trust mark type: one regulated role in one environment (production and sandbox are one
/// federation; the environment is in the mark), identified by a URL of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustMarkType {
    pub role: RegulatedRole,
    pub environment: Environment,
}

impl TrustMarkType {
    /// Every trust mark type the directory issues.
    pub fn all() -> Vec<Self> {
        let mut all = vec![];
        for role in RegulatedRole::ALL {
            for environment in [Environment::Production, Environment::Sandbox] {
                all.push(Self { role, environment });
            }
        }
        all
    }

    /// Its identifier.
    pub fn id(self, base: &str) -> String {
        format!(
            "{base}/trust-marks/{}/{}",
            self.role.as_str().to_ascii_lowercase(),
            self.environment.as_str()
        )
    }

    /// The type of this identifier, if it is one of the directory's.
    pub fn parse(base: &str, id: &str) -> Option<Self> {
        Self::all().into_iter().find(|t| t.id(base) == id)
    }

    /// The trust mark types an organisation holds: each of its regulated roles in both
    /// environments (the role is its authorisation; where a product runs is the product's).
    pub fn of_organisation(roles: &[RegulatedRole]) -> Vec<Self> {
        roles
            .iter()
            .flat_map(|&role| {
                [Environment::Production, Environment::Sandbox]
                    .map(|environment| Self { role, environment })
            })
            .collect()
    }

    /// The trust mark types a product holds: its roles in its environment.
    pub fn of(product: &Software) -> Vec<Self> {
        product
            .roles
            .iter()
            .map(|&role| Self {
                role,
                environment: product.environment,
            })
            .collect()
    }
}

/// A trust mark's claims (section 7.1).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct TrustMark {
    pub iss: String,
    pub sub: String,
    pub trust_mark_type: String,
    pub iat: i64,
    pub exp: i64,
}

impl TrustMark {
    /// The mark of `trust_mark_type` the anchor `issuer` gives `sub` at `now`, valid
    /// [`STATEMENT_LIFETIME`].
    pub fn new(issuer: &str, sub: String, trust_mark_type: String, now: i64) -> Self {
        Self {
            iss: issuer.to_owned(),
            sub,
            trust_mark_type,
            iat: now,
            exp: now + STATEMENT_LIFETIME,
        }
    }
}

/// A trust mark status response's claims (section 8.4.2): `active`, `expired`, `revoked` or
/// `invalid`.
#[derive(Debug, Serialize)]
pub struct TrustMarkStatus {
    pub iss: String,
    pub iat: i64,
    pub trust_mark: String,
    pub status: &'static str,
}

/// The historical keys document's claims (section 8.7): the retired federation keys, each
/// with `exp`, when it stopped signing.
#[derive(Debug, Serialize)]
pub struct HistoricalKeys {
    pub iss: String,
    pub iat: i64,
    pub keys: Vec<Value>,
}

/// The claims of the directory's entity configuration (section 3.1): about itself, with its
/// federation keys and its `federation_entity` metadata. A trust anchor has no authority
/// hints.
#[derive(Debug, Serialize)]
pub struct EntityConfiguration {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jwks: Value,
    pub metadata: Value,
    pub trust_mark_issuers: serde_json::Map<String, Value>,
}

impl EntityConfiguration {
    pub fn new(entity_id: &str, jwks: Value, organization_name: &str, now: i64) -> Self {
        let endpoints = Endpoints::of(entity_id);
        Self {
            iss: entity_id.to_owned(),
            sub: entity_id.to_owned(),
            iat: now,
            exp: now + STATEMENT_LIFETIME,
            jwks,
            metadata: json!({
                "federation_entity": {
                    "federation_fetch_endpoint": endpoints.fetch,
                    "federation_list_endpoint": endpoints.list,
                    "federation_resolve_endpoint": endpoints.resolve,
                    "federation_trust_mark_endpoint": endpoints.trust_mark,
                    "federation_trust_mark_list_endpoint": endpoints.trust_mark_list,
                    "federation_trust_mark_status_endpoint": endpoints.trust_mark_status,
                    "federation_historical_keys_endpoint": endpoints.historical_keys,
                    "organization_name": organization_name,
                    "homepage_uri": entity_id,
                }
            }),
            // The directory issues every trust mark of its federation.
            trust_mark_issuers: TrustMarkType::all()
                .into_iter()
                .map(|t| (t.id(entity_id), json!([entity_id])))
                .collect(),
        }
    }
}

/// A subordinate statement (section 3.1): the trust anchor about a leaf, with the leaf's keys
/// and the policy its metadata must meet.
#[derive(Debug, Serialize)]
pub struct SubordinateStatement {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jwks: Value,
    pub metadata_policy: Value,
    pub metadata: Value,
    /// A leaf has no subordinates: `max_path_length` 0.
    pub constraints: Value,
    pub source_endpoint: String,
}

/// The scopes a product's roles allow (the UK Open Banking names) and `openid`.
pub fn scopes(roles: &[RegulatedRole]) -> Vec<&'static str> {
    let mut scopes = vec!["openid"];
    for role in roles {
        match role {
            RegulatedRole::Aisp => scopes.push("accounts"),
            RegulatedRole::Pisp => scopes.push("payments"),
            RegulatedRole::Cbpii => scopes.push("fundsconfirmations"),
            RegulatedRole::Aspsp => {}
        }
    }
    scopes
}

impl SubordinateStatement {
    /// The statement about a software product: `jwks` its keystore's live keys; the policy
    /// pins `jwks_uri` to its keystore, keeps `redirect_uris` within the registered ones,
    /// `token_endpoint_auth_method` within [`AUTH_METHODS`] and `scope` within its roles';
    /// `metadata` adds what the directory asserts (its name, software id and environment).
    pub fn software(
        entity_id: &str,
        leaf_id: String,
        product: &Software,
        jwks: Value,
        keystore_uri: String,
        now: i64,
    ) -> Self {
        let scope = scopes(&product.roles).join(" ");
        let policy = |with_openid: bool| {
            let scope = if with_openid {
                scope.clone()
            } else {
                scope.trim_start_matches("openid").trim().to_owned()
            };
            json!({
                "jwks_uri": {"value": keystore_uri},
                "redirect_uris": {"subset_of": product.redirect_uris, "essential": true},
                "token_endpoint_auth_method": {"one_of": AUTH_METHODS, "essential": true},
                "scope": {"subset_of": scope.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>()},
            })
        };
        let asserted = json!({
            "client_name": product.client_name,
            "software_id": product.id.to_string(),
            "org_id": product.organisation_id.to_string(),
            "software_version": product.version,
        });
        Self {
            iss: entity_id.to_owned(),
            sub: leaf_id,
            iat: now,
            exp: now + STATEMENT_LIFETIME,
            jwks,
            metadata_policy: json!({
                EntityType::OpenidRelyingParty.as_str(): policy(true),
                EntityType::OauthClient.as_str(): policy(false),
            }),
            metadata: json!({
                EntityType::OpenidRelyingParty.as_str(): asserted,
                EntityType::OauthClient.as_str(): asserted,
                "federation_entity": {
                    "organization_name": product.client_name,
                    "software_environment": product.environment.as_str(),
                },
            }),
            constraints: leaf_constraints(&EntityType::SOFTWARE),
            source_endpoint: Endpoints::of(entity_id).fetch,
        }
    }

    /// About an active organisation, a `federation_entity` leaf: its own keystore keys (its
    /// entity configuration must be signed with one) and its legal name as the directory
    /// recorded it.
    pub fn organisation(entity_id: &str, org: &Organisation, jwks: Value, now: i64) -> Self {
        Self {
            iss: entity_id.to_owned(),
            sub: organisation_entity_id(entity_id, org.id),
            iat: now,
            exp: now + STATEMENT_LIFETIME,
            jwks,
            metadata_policy: json!({
                EntityType::FederationEntity.as_str(): {
                    "organization_name": {"value": org.legal_name},
                },
            }),
            metadata: json!({}),
            constraints: leaf_constraints(&EntityType::ORGANISATION),
            source_endpoint: Endpoints::of(entity_id).fetch,
        }
    }

    /// About an active ASPSP's authorization server, whose entity identifier is its issuer:
    /// the keys are its organisation's own keystore keys (the server's entity configuration
    /// must be signed with one), and the policy pins the `issuer` and `registration_endpoint`
    /// the organisation registered here, for both of its entity types.
    pub fn server(
        entity_id: &str,
        org_name: &str,
        server: &AuthorizationServer,
        jwks: Value,
        now: i64,
    ) -> Self {
        let policy = json!({
            "issuer": {"value": server.issuer, "essential": true},
            "registration_endpoint": {"value": server.registration_endpoint},
        });
        Self {
            iss: entity_id.to_owned(),
            sub: server.issuer.clone(),
            iat: now,
            exp: now + STATEMENT_LIFETIME,
            jwks,
            metadata_policy: json!({
                EntityType::OpenidProvider.as_str(): policy,
                EntityType::OauthAuthorizationServer.as_str(): policy,
            }),
            metadata: json!({"federation_entity": {"organization_name": org_name}}),
            constraints: leaf_constraints(&EntityType::SERVER),
            source_endpoint: Endpoints::of(entity_id).fetch,
        }
    }
}

/// The constraints on a leaf (section 6.2): no intermediates below it, and metadata of its
/// own entity types only (besides `federation_entity`).
fn leaf_constraints(kinds: &[EntityType]) -> Value {
    let mut allowed: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    allowed.push(EntityType::FederationEntity.as_str());
    allowed.dedup();
    json!({"max_path_length": 0, "allowed_entity_types": allowed})
}

/// An error of a federation endpoint (section 8.9): its code, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct Refusal {
    pub error: FederationCode,
    pub description: String,
}

impl Refusal {
    pub fn new(error: FederationCode, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    /// The status section 8.9 gives its code (404 for an unknown entity, 400 for most).
    pub fn status(&self) -> u16 {
        self.error.status()
    }
}

/// The longest validity the directory accepts of a product's own entity configuration.
pub const MAX_LEAF_LIFETIME: i64 = 366 * 24 * 3600;

/// Checks a product's own entity configuration before the directory hosts it at `leaf_id`:
/// JWS `typ` `entity-statement+jwt`, PS256 or ES256, signed by the key of its `kid` among
/// `keystore` (the product's, or for a server its organisation's, live keys: never a
/// directory key), `iss` and `sub` the leaf,
/// that key in its own `jwks`, `authority_hints` naming `anchor`, unexpired and valid at most
/// [`MAX_LEAF_LIFETIME`], with metadata of one of `kinds` and of no other type but
/// `federation_entity`. Its claims
/// and `exp`, or what is wrong.
pub fn check_leaf_configuration(
    jwt: &str,
    leaf_id: &str,
    anchor: &str,
    keystore: &[serde_json::Map<String, Value>],
    kinds: &[EntityType],
    now: i64,
) -> Result<(Value, i64), String> {
    let (kid, claims) =
        crate::keys::proofs::verify_participant_jws(jwt, ENTITY_STATEMENT_TYP, leaf_id, keystore)?;
    if claims["sub"] != leaf_id {
        return Err(format!("must have iss and sub {leaf_id}"));
    }
    let exp = claims["exp"].as_i64().ok_or("has no numeric exp")?;
    let iat = claims["iat"].as_i64().ok_or("has no numeric iat")?;
    if iat > now + 60 || exp - now > MAX_LEAF_LIFETIME {
        return Err("must be issued now and valid for at most 366 days".into());
    }
    let own_keys = claims["jwks"]["keys"].as_array().ok_or("has no jwks")?;
    if !own_keys.iter().any(|k| k["kid"] == kid.as_str()) {
        return Err("must list the key it is signed with in its jwks".into());
    }
    let hints = claims["authority_hints"].as_array();
    if !hints.is_some_and(|h| h.iter().any(|a| a == anchor)) {
        return Err(format!("must name {anchor} in its authority_hints"));
    }
    let metadata = claims["metadata"].as_object().ok_or("has no metadata")?;
    let names: Vec<&str> = kinds.iter().map(|t| t.as_str()).collect();
    if !kinds
        .iter()
        .any(|t| metadata.get(t.as_str()).is_some_and(Value::is_object))
    {
        return Err(format!("must have {} metadata", names.join(" or ")));
    }
    // Metadata of another type would pass through unconstrained: an organisation's
    // configuration must not speak for a client, nor a product's for a provider.
    if let Some(other) = metadata
        .keys()
        .find(|k| *k != "federation_entity" && !names.contains(&k.as_str()))
    {
        return Err(format!(
            "must have no {other} metadata (only {} and federation_entity)",
            names.join(", ")
        ));
    }
    Ok((claims, exp))
}

/// A resolve response's claims (section 8.3.2).
#[derive(Debug, Serialize)]
pub struct ResolveResponse {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub metadata: Value,
    pub trust_marks: Vec<Value>,
    pub trust_chain: Vec<String>,
}

/// The leaf's metadata with the subordinate statement's `metadata` and `metadata_policy`
/// applied, as [`ssa_verifier::federation::apply_policies`] does it for a verifier.
pub fn resolve_metadata(statement: &SubordinateStatement, leaf: &Value) -> Result<Value, String> {
    ssa_verifier::federation::apply_policies(
        &[(
            statement.metadata_policy.clone(),
            statement.metadata.clone(),
        )],
        leaf,
    )
    .map_err(|refused| refused.description)
}

/// Documents by entity identifier, each kept for a while (the max-age the fetch endpoint
/// advertises, so a change shows on every instance within it, as for the status documents)
/// and at most [`STATEMENT_CACHE_CAPACITY`] of them (the least used go first): the
/// subordinate statements signed lately, and what self-hosted subordinates' entity
/// configurations were found to be.
pub type StatementCache<V = String> = moka::future::Cache<String, V>;

/// The most documents a [`StatementCache`] keeps.
pub const STATEMENT_CACHE_CAPACITY: u64 = 10_000;

/// A [`StatementCache`] whose documents are kept for `ttl`.
pub fn statement_cache<V: Clone + Send + Sync + 'static>(
    ttl: std::time::Duration,
) -> StatementCache<V> {
    moka::future::Cache::builder()
        .max_capacity(STATEMENT_CACHE_CAPACITY)
        .time_to_live(ttl)
        .build()
}
