//! OpenID Federation 1.0 trust chains, sans-IO: a chain from a leaf's entity configuration,
//! through the subordinate statements of its superiors, to a trust anchor's entity
//! configuration, validated against the anchor's keys (signatures, `typ`, the `iss`/`sub`
//! links, expiry), and the leaf's metadata with the superiors' metadata policies applied.
//! [`resolve_chain`] (the `fetch` feature) fetches the chain of a leaf up its authority
//! hints, through intermediates; [`HistoricalKeys`] carry a chain across a rollover of the
//! anchor's keys; [`check_trust_mark`] checks a trust mark's signature and
//! [`trust_mark_status`] asks its issuer whether it still holds.

use serde_json::{Value, json};

use crate::algorithm::Algorithm;
use crate::jose;
use crate::keys::KeySet;
use crate::protocol::FederationCode;

/// The JWS `typ` of entity configurations and subordinate statements.
pub const ENTITY_STATEMENT_TYP: &str = "entity-statement+jwt";
/// The clock skew allowed on `iat` and `exp`, in seconds.
const SKEW: i64 = 60;
const ALGORITHMS: [Algorithm; 2] = [Algorithm::PS256, Algorithm::ES256];

/// Why a trust chain, its metadata or a trust mark was refused: `invalid_trust_chain`,
/// `invalid_metadata` (the specification's error codes) or `invalid_trust_mark`, with what
/// was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct FederationError {
    /// `invalid_trust_chain`, `invalid_metadata` or `invalid_trust_mark`.
    pub code: FederationCode,
    /// What was wrong.
    pub description: String,
}

fn chain_error(description: impl Into<String>) -> FederationError {
    FederationError {
        code: FederationCode::InvalidTrustChain,
        description: description.into(),
    }
}

/// A validated trust chain.
#[derive(Debug, Clone)]
pub struct TrustChain {
    /// The leaf's entity identifier.
    pub entity_id: String,
    /// The trust anchor's entity identifier.
    pub trust_anchor: String,
    /// The leaf's immediate superior (the issuer of the statement about it): the trust
    /// anchor, or the intermediate the chain runs through.
    pub superior: String,
    /// The leaf's metadata with the superiors' policies applied, by entity type.
    pub metadata: Value,
    /// When the chain expires (the earliest `exp` in it), seconds since the Unix epoch.
    pub expires_at: i64,
}

/// A trust anchor's historical keys (section 8.7): the federation keys it has retired, each
/// with the time (`exp`) after which nothing it signed is valid. Revoked keys are left out.
#[derive(Debug, Clone, Default)]
pub struct HistoricalKeys {
    keys: KeySet,
    until: std::collections::HashMap<String, i64>,
}

/// The JWS `typ` of a historical keys document.
pub const HISTORICAL_KEYS_TYP: &str = "jwk-set+jwt";

impl HistoricalKeys {
    /// Checks a historical keys document (`jwk-set+jwt`) of the anchor `anchor`, signed with
    /// one of `anchor_keys`, and reads its keys: each must have a `kid` and an `exp`; a key
    /// with `revoked` is left out (whatever it signed is not trusted).
    pub fn parse(jwt: &str, anchor: &str, anchor_keys: &KeySet) -> Result<Self, FederationError> {
        let claims = anchor_signed(jwt, HISTORICAL_KEYS_TYP, "the historical keys", anchor_keys)?;
        if claims["iss"] != anchor {
            return Err(chain_error(format!(
                "the historical keys are not {anchor}'s"
            )));
        }
        let listed = claims["keys"]
            .as_array()
            .ok_or_else(|| chain_error("the historical keys document has no keys array"))?;
        let mut until = std::collections::HashMap::new();
        let mut kept = vec![];
        for key in listed {
            let (Some(kid), Some(exp)) = (key["kid"].as_str(), key["exp"].as_i64()) else {
                return Err(chain_error("each historical key needs a kid and an exp"));
            };
            if key.get("revoked").is_some() {
                continue;
            }
            until.insert(kid.to_owned(), exp);
            kept.push(key.clone());
        }
        let keys = KeySet::parse(&json!({ "keys": kept }))
            .map_err(|e| chain_error(format!("the historical keys: {e}")))?;
        Ok(Self { keys, until })
    }

    /// How many keys it holds (revoked ones left out).
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

/// The claims of a document the anchor signed (`typ` as given, PS256 or ES256, a key of
/// `keys`); `what` names it in errors.
fn anchor_signed(
    jwt: &str,
    typ: &str,
    what: &str,
    keys: &KeySet,
) -> Result<Value, FederationError> {
    let at = |e: crate::VerifyError| chain_error(format!("{what}: {}", e.description));
    let jws = jose::split(jwt).map_err(at)?;
    let header: jose::Header<'_> = jose::read_part(&jws.header, "JWS header").map_err(at)?;
    if jose::Member::str(&header.typ) != Some(typ) {
        return Err(chain_error(format!("{what}: typ must be {typ}")));
    }
    let alg = jose::algorithm(&header, &ALGORITHMS).map_err(at)?;
    let kid = jose::kid(&header).map_err(at)?;
    let key = keys.get(kid).ok_or_else(|| {
        chain_error(format!(
            "{what}: signed with a key the anchor does not hold"
        ))
    })?;
    jose::check_signature(&jws, kid, alg, &key)
        .map_err(|_| chain_error(format!("{what}: the signature does not verify")))?;
    serde_json::from_slice(&jws.payload).map_err(|e| chain_error(format!("{what}: not JSON: {e}")))
}

/// One statement of the chain, its signature not yet checked.
struct Statement<'a> {
    jws: jose::Jws<'a>,
    kid: String,
    alg: Algorithm,
    claims: Value,
}

impl<'a> Statement<'a> {
    fn read(jwt: &'a str, position: usize) -> Result<Self, FederationError> {
        let at =
            |e: crate::VerifyError| chain_error(format!("statement {position}: {}", e.description));
        let jws = jose::split(jwt).map_err(at)?;
        let header: jose::Header<'_> = jose::read_part(&jws.header, "JWS header").map_err(at)?;
        if jose::Member::str(&header.typ) != Some(ENTITY_STATEMENT_TYP) {
            return Err(chain_error(format!(
                "statement {position}: typ must be {ENTITY_STATEMENT_TYP}"
            )));
        }
        let alg = jose::algorithm(&header, &ALGORITHMS).map_err(at)?;
        let kid = jose::kid(&header).map_err(at)?.to_owned();
        let claims: Value = serde_json::from_slice(&jws.payload)
            .map_err(|e| chain_error(format!("statement {position}: payload is not JSON: {e}")))?;
        if !claims.is_object() {
            return Err(chain_error(format!(
                "statement {position}: payload is not an object"
            )));
        }
        Ok(Self {
            jws,
            kid,
            alg,
            claims,
        })
    }

    fn text(&self, name: &str) -> &str {
        self.claims[name].as_str().unwrap_or_default()
    }

    fn keys(&self, position: usize) -> Result<KeySet, FederationError> {
        KeySet::parse(&self.claims["jwks"])
            .map_err(|e| chain_error(format!("statement {position}: its jwks: {e}")))
    }

    /// Checks the signature with the key of its kid in `keys`.
    fn verify(&self, keys: &KeySet, position: usize, whose: &str) -> Result<(), FederationError> {
        let key = keys.get(&self.kid).ok_or_else(|| {
            chain_error(format!(
                "statement {position} is signed with key {:?}, which {whose} does not hold",
                self.kid
            ))
        })?;
        jose::check_signature(&self.jws, &self.kid, self.alg, &key).map_err(|_| {
            chain_error(format!(
                "statement {position}: the signature does not verify"
            ))
        })
    }

    fn times(&self, position: usize, now: i64) -> Result<i64, FederationError> {
        let (Some(iat), Some(exp)) = (self.claims["iat"].as_i64(), self.claims["exp"].as_i64())
        else {
            return Err(chain_error(format!(
                "statement {position} has no numeric iat and exp"
            )));
        };
        if iat > now + SKEW || exp <= now - SKEW {
            return Err(chain_error(format!(
                "statement {position} is not valid now (iat {iat}, exp {exp}, now {now})"
            )));
        }
        Ok(exp)
    }
}

/// Validates `chain` (the leaf's entity configuration, the subordinate statements up to the
/// anchor, the anchor's entity configuration, as the resolve endpoint returns it) against the
/// trust anchor `anchor` and its keys `anchor_keys`, at `now` (Unix seconds); the leaf's
/// metadata resolved.
///
/// Each statement must be `entity-statement+jwt`, PS256 or ES256, valid now; each entity
/// configuration about itself; each subordinate statement about the statement below it and
/// issued by the one above; the leaf's configuration signed by a key its superior's statement
/// lists (and its own `jwks` lists), every statement of the anchor by `anchor_keys`, and
/// every other by the keys its own superior lists.
pub fn validate_chain(
    chain: &[String],
    anchor: &str,
    anchor_keys: &KeySet,
    now: i64,
) -> Result<TrustChain, FederationError> {
    validate_chain_with_history(chain, anchor, anchor_keys, &HistoricalKeys::default(), now)
}

/// [`validate_chain`] across a rollover of the anchor's keys: a statement of the anchor
/// signed with a key it no longer publishes is accepted when `historical` (its historical
/// keys, [`HistoricalKeys::parse`]) holds that key, not revoked, and the statement was
/// issued no later than the key's `exp`.
pub fn validate_chain_with_history(
    chain: &[String],
    anchor: &str,
    anchor_keys: &KeySet,
    historical: &HistoricalKeys,
    now: i64,
) -> Result<TrustChain, FederationError> {
    if chain.len() < 3 {
        return Err(chain_error(
            "a trust chain holds the leaf's entity configuration, at least one subordinate statement and the anchor's entity configuration",
        ));
    }
    let statements = chain
        .iter()
        .enumerate()
        .map(|(i, jwt)| Statement::read(jwt, i))
        .collect::<Result<Vec<_>, _>>()?;
    let last = statements.len() - 1;
    let (leaf, top) = (&statements[0], &statements[last]);
    if leaf.text("iss") != leaf.text("sub") || leaf.text("sub").is_empty() {
        return Err(chain_error(
            "statement 0 must be the leaf's entity configuration (iss = sub)",
        ));
    }
    if top.text("iss") != anchor || top.text("sub") != anchor {
        return Err(chain_error(format!(
            "the last statement must be the entity configuration of the trust anchor {anchor}"
        )));
    }
    let mut expires_at = i64::MAX;
    for (i, statement) in statements.iter().enumerate() {
        expires_at = expires_at.min(statement.times(i, now)?);
        if (1..last).contains(&i) {
            // A subordinate statement: about the entity below, by the entity above.
            if statement.text("sub") != statements[i - 1].text("iss") {
                return Err(chain_error(format!(
                    "statement {i} is about {:?}, not the entity below it",
                    statement.text("sub")
                )));
            }
            let above = if i + 1 == last {
                anchor
            } else {
                statements[i + 1].text("sub")
            };
            if statement.text("iss") != above {
                return Err(chain_error(format!(
                    "statement {i} is issued by {:?}, not the entity above it",
                    statement.text("iss")
                )));
            }
        }
        // Who vouches for the signing key: the anchor's own keys for its statements, the
        // superior's statement about the signer for the others.
        let issued_by_anchor = statement.text("iss") == anchor;
        if issued_by_anchor {
            match historical.until.get(&statement.kid) {
                Some(&until) if anchor_keys.get(&statement.kid).is_none() => {
                    if statement.claims["iat"]
                        .as_i64()
                        .is_none_or(|iat| iat > until)
                    {
                        return Err(chain_error(format!(
                            "statement {i} was issued after its key {:?} was retired",
                            statement.kid
                        )));
                    }
                    statement.verify(&historical.keys, i, "the anchor's historical keys")?;
                }
                _ => statement.verify(anchor_keys, i, "the trust anchor")?,
            }
        } else {
            let superior = statements[i + 1].keys(i + 1)?;
            statement.verify(&superior, i, "its superior's statement")?;
        }
    }
    leaf.verify(&leaf.keys(0)?, 0, "its own jwks")?;
    // The policies from the anchor down; the immediate superior's metadata is forced.
    let layers: Vec<(Value, Value)> = statements[1..last]
        .iter()
        .rev()
        .map(|s| {
            (
                s.claims["metadata_policy"].clone(),
                s.claims["metadata"].clone(),
            )
        })
        .collect();
    let mut metadata = apply_policies(&layers, &leaf.claims["metadata"])?;
    apply_constraints(&statements, &mut metadata)?;
    Ok(TrustChain {
        entity_id: leaf.text("sub").to_owned(),
        trust_anchor: anchor.to_owned(),
        superior: statements[1].text("iss").to_owned(),
        metadata,
        expires_at,
    })
}

/// The constraints of each subordinate statement (section 6.2) on the entities below its
/// issuer: `max_path_length` (how many intermediates may stand between the issuer and the
/// leaf), `naming_constraints` (the hosts their entity identifiers may and may not have:
/// `host.example` exactly, `.example` any host below it) and `allowed_entity_types` (the
/// leaf's metadata of other types, but `federation_entity`, is removed).
fn apply_constraints(
    statements: &[Statement<'_>],
    metadata: &mut Value,
) -> Result<(), FederationError> {
    let last = statements.len() - 1;
    for (i, statement) in statements.iter().enumerate().take(last).skip(1) {
        let constraints = &statement.claims["constraints"];
        if let Some(max) = constraints["max_path_length"].as_u64()
            && (i as u64 - 1) > max
        {
            return Err(chain_error(format!(
                "statement {i} allows at most {max} intermediates below its issuer; the chain has {}",
                i - 1
            )));
        }
        let names = &constraints["naming_constraints"];
        let hosts = |list: &Value| -> Vec<String> {
            list.as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (permitted, excluded) = (hosts(&names["permitted"]), hosts(&names["excluded"]));
        let matches = |host: &str, name: &str| {
            if name.starts_with('.') {
                host.ends_with(name)
            } else {
                host == name
            }
        };
        for below in &statements[..i] {
            let id = below.text("sub");
            let host = url::Url::parse(id)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .unwrap_or_default();
            if (!permitted.is_empty() && !permitted.iter().any(|p| matches(&host, p)))
                || excluded.iter().any(|e| matches(&host, e))
            {
                return Err(chain_error(format!(
                    "{id} is outside the naming constraints of statement {i}"
                )));
            }
        }
        if let (Some(allowed), Some(types)) = (
            constraints["allowed_entity_types"].as_array(),
            metadata.as_object_mut(),
        ) {
            types.retain(|kind, _| {
                kind == "federation_entity" || allowed.iter().any(|a| a == kind.as_str())
            });
        }
    }
    Ok(())
}

/// `metadata` (by entity type) with the metadata policies of `layers` applied: each layer a
/// superior's `metadata_policy` and `metadata`, from the trust anchor down. The policies are
/// merged, then applied with the immediate superior's `metadata` forced (section 6.1; the
/// operators, their combination and their order are `oidfed_metadata_policy`'s). `scope` is a
/// space-separated string in metadata and a list in policies: it is split before and joined
/// after. What a policy refuses is an `invalid_metadata` error naming it.
pub fn apply_policies(
    layers: &[(Value, Value)],
    metadata: &Value,
) -> Result<Value, FederationError> {
    let refused = |description: String| FederationError {
        code: FederationCode::InvalidMetadata,
        description,
    };
    let Some(metadata) = metadata.as_object() else {
        return Err(refused("the leaf's metadata is not an object".into()));
    };
    let mut metadata = metadata.clone();
    for (_, values) in metadata.iter_mut() {
        if !values.is_object() {
            return Err(refused(
                "every entity type's metadata must be an object".into(),
            ));
        }
        if let Some(scope) = values.get("scope").and_then(Value::as_str) {
            let scopes: Vec<Value> = scope.split_whitespace().map(|s| json!(s)).collect();
            values["scope"] = Value::Array(scopes);
        }
    }
    let object = |value: &Value| value.as_object().cloned().unwrap_or_default();
    let mut merged = serde_json::Map::new();
    for (policy, _) in layers {
        if !(policy.is_object() || policy.is_null()) {
            return Err(refused("a metadata_policy is not an object".into()));
        }
        merged = if merged.is_empty() {
            object(policy)
        } else {
            oidfed_metadata_policy::merge_policies(
                &Value::Object(merged),
                &Value::Object(object(policy)),
            )
            .map_err(|e| refused(format!("the metadata policies cannot be merged: {e}")))?
        };
    }
    let forced = layers.last().map(|(_, m)| object(m)).unwrap_or_default();
    let document = json!({"metadata_policy": merged, "metadata": forced});
    let mut resolved =
        oidfed_metadata_policy::apply_policy_document_on_metadata(&object(&document), &metadata)
            .map_err(|e| refused(format!("the metadata does not meet the policy: {e}")))?;
    for (_, values) in resolved.iter_mut() {
        if let Some(scopes) = values.get("scope").and_then(Value::as_array) {
            let joined: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
            values["scope"] = json!(joined.join(" "));
        }
    }
    Ok(Value::Object(resolved))
}

/// How many intermediates [`resolve_chain`] follows between a leaf and the trust anchor.
pub const MAX_INTERMEDIATES: usize = 2;

/// Fetches and validates the trust chain of the entity `entity` (its entity identifier) up to
/// `trust_anchor`: the leaf's entity configuration, then the subordinate statements from each
/// superior's fetch endpoint up its `authority_hints` (through at most
/// [`MAX_INTERMEDIATES`] intermediates, the first path that reaches the anchor), then the
/// anchor's entity configuration. The anchor's keys are `anchor_keys` when given (pinned, as
/// a federation distributes them), else those its own entity configuration publishes.
#[cfg(feature = "fetch")]
pub fn resolve_chain(
    entity: &str,
    trust_anchor: &str,
    anchor_keys: Option<&KeySet>,
    http: &crate::HttpClient,
) -> Result<TrustChain, FederationError> {
    let fetcher = Fetcher::new(http);
    let leaf = fetcher.configuration(entity)?;
    fetcher.chain(leaf, trust_anchor, anchor_keys)
}

/// [`resolve_chain`] from an entity configuration the leaf presented (as an explicit
/// registration request carries it) instead of one fetched from its entity identifier.
#[cfg(feature = "fetch")]
pub fn resolve_chain_from(
    entity_configuration: &str,
    trust_anchor: &str,
    anchor_keys: Option<&KeySet>,
    http: &crate::HttpClient,
) -> Result<TrustChain, FederationError> {
    Fetcher::new(http).chain(
        entity_configuration.trim().to_owned(),
        trust_anchor,
        anchor_keys,
    )
}

/// Resolves `entity` at the trust anchor's own resolve endpoint (section 8.3) instead of
/// fetching from the entity and its superiors: nothing is fetched but from the anchor, so a
/// caller that must not reach URLs a client names (a registrar deciding an automatic
/// registration) asks the anchor, which fetched them under its own guards. The response's
/// signature (`resolve-response+jwt`, by the anchor) and the whole trust chain it carries are
/// checked with `anchor_keys` (or the keys the anchor's entity configuration publishes); the
/// metadata is resolved here again from the chain.
#[cfg(feature = "fetch")]
pub fn resolve_at_anchor(
    entity: &str,
    trust_anchor: &str,
    anchor_keys: Option<&KeySet>,
    http: &crate::HttpClient,
) -> Result<TrustChain, FederationError> {
    let fetcher = Fetcher::new(http);
    let (keys, endpoint) =
        fetcher.anchor(trust_anchor, anchor_keys, "federation_resolve_endpoint")?;
    let mut url = url::Url::parse(&endpoint)
        .map_err(|e| chain_error(format!("the resolve endpoint is not a URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("sub", entity)
        .append_pair("trust_anchor", trust_anchor);
    let response = fetcher.get(url.as_str())?;
    let claims = anchor_signed(
        &response,
        "resolve-response+jwt",
        "the resolve response",
        &keys,
    )?;
    if claims["iss"] != trust_anchor || claims["sub"] != entity {
        return Err(chain_error(
            "the resolve response is not the anchor's answer about this entity",
        ));
    }
    let chain: Vec<String> = claims["trust_chain"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .ok_or_else(|| chain_error("the resolve response carries no trust_chain"))?;
    let now = crate::clock::unix(std::time::SystemTime::now());
    validate_chain(&chain, trust_anchor, &keys, now)
}

/// Fetches and checks the historical keys of `trust_anchor` from the endpoint its entity
/// configuration names (signed with `anchor_keys`, or the keys it publishes).
#[cfg(feature = "fetch")]
pub fn fetch_historical_keys(
    trust_anchor: &str,
    anchor_keys: Option<&KeySet>,
    http: &crate::HttpClient,
) -> Result<HistoricalKeys, FederationError> {
    let fetcher = Fetcher::new(http);
    let (keys, endpoint) = fetcher.anchor(
        trust_anchor,
        anchor_keys,
        "federation_historical_keys_endpoint",
    )?;
    HistoricalKeys::parse(&fetcher.get(&endpoint)?, trust_anchor, &keys)
}

/// The HTTP side of resolving a chain.
#[cfg(feature = "fetch")]
struct Fetcher<'a> {
    http: &'a crate::HttpClient,
}

#[cfg(feature = "fetch")]
impl<'a> Fetcher<'a> {
    fn new(http: &'a crate::HttpClient) -> Self {
        Self { http }
    }

    fn get(&self, url: &str) -> Result<String, FederationError> {
        let body = self
            .http
            .get(url)
            .map_err(|e| chain_error(format!("cannot fetch {url}: {e}")))?;
        String::from_utf8(body).map_err(|_| chain_error(format!("{url} is not text")))
    }

    fn configuration(&self, id: &str) -> Result<String, FederationError> {
        self.get(&format!(
            "{}/.well-known/openid-federation",
            id.trim_end_matches('/')
        ))
    }

    /// The keys that check the anchor's documents (`anchor_keys`, else those its entity
    /// configuration publishes, which must sign it) and the `endpoint` its
    /// `federation_entity` metadata names.
    fn anchor(
        &self,
        trust_anchor: &str,
        anchor_keys: Option<&KeySet>,
        endpoint: &str,
    ) -> Result<(KeySet, String), FederationError> {
        let top = self.configuration(trust_anchor)?;
        let configuration = Statement::read(&top, 0)?;
        let keys = match anchor_keys {
            Some(keys) => keys.clone(),
            None => configuration.keys(0)?,
        };
        configuration.verify(&keys, 0, "the trust anchor")?;
        let url = configuration.claims["metadata"]["federation_entity"][endpoint]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| chain_error(format!("the trust anchor names no {endpoint}")))?;
        Ok((keys, url))
    }

    /// The subordinate statement the superior of this entity configuration issues about `sub`.
    fn statement(&self, superior: &str, sub: &str) -> Result<String, FederationError> {
        let configuration = Statement::read(superior, 0)?;
        let endpoint =
            configuration.claims["metadata"]["federation_entity"]["federation_fetch_endpoint"]
                .as_str()
                .ok_or_else(|| {
                    chain_error(format!(
                        "{} names no federation_fetch_endpoint",
                        configuration.text("sub")
                    ))
                })?;
        let mut url = url::Url::parse(endpoint)
            .map_err(|e| chain_error(format!("the fetch endpoint is not a URL: {e}")))?;
        url.query_pairs_mut().append_pair("sub", sub);
        self.get(url.as_str())
    }

    /// The entity configurations of the intermediates from above `configuration` up to (not
    /// including) `anchor`, at most `depth` of them; `None` when no path reaches it.
    fn path(
        &self,
        configuration: &str,
        anchor: &str,
        depth: usize,
    ) -> Result<Option<Vec<String>>, FederationError> {
        let hints = Statement::read(configuration, 0)?.claims["authority_hints"].clone();
        let hints: Vec<&str> = hints
            .as_array()
            .map(|h| h.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if hints.contains(&anchor) {
            return Ok(Some(vec![]));
        }
        if depth == 0 {
            return Ok(None);
        }
        for hint in hints {
            // A superior that cannot be read is one path fewer, not the end of the search.
            let Ok(above) = self.configuration(hint) else {
                continue;
            };
            if Statement::read(&above, 0).is_err() {
                continue;
            }
            if let Some(mut rest) = self.path(&above, anchor, depth - 1)? {
                rest.insert(0, above);
                return Ok(Some(rest));
            }
        }
        Ok(None)
    }

    fn chain(
        &self,
        leaf: String,
        trust_anchor: &str,
        anchor_keys: Option<&KeySet>,
    ) -> Result<TrustChain, FederationError> {
        let intermediates = self
            .path(&leaf, trust_anchor, MAX_INTERMEDIATES)?
            .ok_or_else(|| {
                chain_error(format!(
                    "no path through the entity's authority_hints reaches {trust_anchor} (within {MAX_INTERMEDIATES} intermediates)"
                ))
            })?;
        let top = self.configuration(trust_anchor)?;
        let own_keys = Statement::read(&top, 0)?.keys(0)?;
        let keys = anchor_keys.unwrap_or(&own_keys);
        // Each entity (the leaf, then each intermediate) and the superior that vouches for it.
        let below = std::iter::once(&leaf).chain(&intermediates);
        let above = intermediates.iter().chain(std::iter::once(&top));
        let mut chain = vec![leaf.clone()];
        for (entity, superior) in below.zip(above) {
            let sub = Statement::read(entity, 0)?.text("sub").to_owned();
            chain.push(self.statement(superior, &sub)?);
        }
        chain.push(top.clone());
        let now = crate::clock::unix(std::time::SystemTime::now());
        validate_chain(&chain, trust_anchor, keys, now)
    }
}

/// A trust mark's claims, its signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustMark {
    /// Its issuer.
    pub issuer: String,
    /// The entity it is about.
    pub subject: String,
    /// Its type's identifier.
    pub trust_mark_type: String,
    /// When it expires (Unix seconds), if it does.
    pub expires_at: Option<i64>,
}

/// Checks a trust mark offline: `typ` `trust-mark+jwt`, PS256 or ES256, signed by a key of
/// `issuer_keys` (a trust anchor that issues its own marks: its federation keys), `iss`
/// `issuer`, not expired at `now`. Whether it was revoked since is the status endpoint's
/// answer ([`trust_mark_status`]).
pub fn check_trust_mark(
    jwt: &str,
    issuer: &str,
    issuer_keys: &KeySet,
    now: i64,
) -> Result<TrustMark, FederationError> {
    let refused = |why: String| FederationError {
        code: FederationCode::InvalidTrustMark,
        description: why,
    };
    let jws = jose::split(jwt).map_err(|e| refused(e.description))?;
    let header: jose::Header<'_> =
        jose::read_part(&jws.header, "JWS header").map_err(|e| refused(e.description))?;
    if jose::Member::str(&header.typ) != Some("trust-mark+jwt") {
        return Err(refused("typ must be trust-mark+jwt".into()));
    }
    let alg = jose::algorithm(&header, &ALGORITHMS).map_err(|e| refused(e.description))?;
    let kid = jose::kid(&header).map_err(|e| refused(e.description))?;
    let key = issuer_keys.get(kid).ok_or_else(|| {
        refused(format!(
            "signed with key {kid:?}, which the issuer does not hold"
        ))
    })?;
    jose::check_signature(&jws, kid, alg, &key)
        .map_err(|_| refused("the signature does not verify".into()))?;
    let claims: Value = serde_json::from_slice(&jws.payload)
        .map_err(|e| refused(format!("payload is not JSON: {e}")))?;
    let text = |name: &str| claims[name].as_str().unwrap_or_default().to_owned();
    if text("iss") != issuer {
        return Err(refused(format!(
            "issued by {:?}, not {issuer}",
            text("iss")
        )));
    }
    let expires_at = claims["exp"].as_i64();
    if expires_at.is_some_and(|exp| exp <= now - SKEW) {
        return Err(refused("expired".into()));
    }
    Ok(TrustMark {
        issuer: text("iss"),
        subject: text("sub"),
        trust_mark_type: text("trust_mark_type"),
        expires_at,
    })
}

/// Asks the trust anchor `anchor` whether `trust_mark` holds now: its status endpoint (named
/// in its entity configuration) answers a signed `trust-mark-status-response+jwt`, checked
/// with `anchor_keys` (pinned) or those its entity configuration publishes. The `status`:
/// `active`, `expired`, `revoked` or `invalid`.
#[cfg(feature = "fetch")]
pub fn trust_mark_status(
    anchor: &str,
    anchor_keys: Option<&KeySet>,
    trust_mark: &str,
    http: &crate::HttpClient,
) -> Result<String, FederationError> {
    let fetcher = Fetcher::new(http);
    let (keys, endpoint) =
        fetcher.anchor(anchor, anchor_keys, "federation_trust_mark_status_endpoint")?;
    let body = fetcher
        .http
        .post_form(&endpoint, &[("trust_mark", trust_mark)])
        .map_err(|e| chain_error(format!("the status endpoint: {e}")))?;
    let response =
        String::from_utf8(body).map_err(|_| chain_error("the status response is not text"))?;
    let claims = anchor_signed(
        &response,
        "trust-mark-status-response+jwt",
        "the status response",
        &keys,
    )?;
    if claims["iss"] != anchor || claims["trust_mark"] != trust_mark {
        return Err(chain_error(
            "the status response is not the anchor's answer about this trust mark",
        ));
    }
    claims["status"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| chain_error("the status response has no status"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{FederationCode, apply_policies};

    /// The specification's metadata policy example (section 6.1.7), its figures as given
    /// (`tests/fixtures/federation/metadata-policy-example.json`): the anchor's and the
    /// intermediate's policies merge, the intermediate's metadata is forced, and the result is
    /// the resolved metadata the specification prints, member for member.
    #[test]
    fn the_specifications_policy_example_resolves_as_it_prints() {
        let example: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/federation/metadata-policy-example.json"
        ))
        .unwrap();
        let layers = [
            (
                example["trust_anchor"]["metadata_policy"].clone(),
                Value::Null,
            ),
            (
                example["intermediate"]["metadata_policy"].clone(),
                example["intermediate"]["metadata"].clone(),
            ),
        ];
        let resolved = apply_policies(&layers, &example["leaf_metadata"]).unwrap();
        assert_eq!(resolved["openid_relying_party"], example["resolved"]);
    }

    /// The operators' combinations the specification tabulates (section 6.1.3.2) that the
    /// example leaves out: a value outside the anchor's subset_of refused at merge, a
    /// superset_of the metadata does not meet, an essential member absent, a default filling
    /// an absent one, and a scope (a space-separated string) narrowed by subset_of.
    #[test]
    fn operator_combinations_merge_and_refuse_as_the_specification_says() {
        let leaf = json!({"openid_relying_party": {
            "grant_types": ["refresh_token"],
            "scope": "openid accounts payments",
        }});
        let refused = |anchor: Value, intermediate: Value| {
            apply_policies(&[(anchor, Value::Null), (intermediate, Value::Null)], &leaf)
                .unwrap_err()
        };
        // value outside the superior's subset_of: the policies conflict.
        refused(
            json!({"openid_relying_party": {"grant_types": {"subset_of": ["authorization_code"]}}}),
            json!({"openid_relying_party": {"grant_types": {"value": ["refresh_token"]}}}),
        );
        // superset_of not met by the metadata.
        refused(
            json!({"openid_relying_party": {"grant_types": {"superset_of": ["authorization_code"]}}}),
            Value::Null,
        );
        // an essential member the metadata lacks.
        refused(
            json!({"openid_relying_party": {"client_name": {"essential": true}}}),
            Value::Null,
        );
        let resolved = apply_policies(
            &[(
                json!({"openid_relying_party": {
                    "client_name": {"default": "Unnamed"},
                    "scope": {"subset_of": ["openid", "accounts"]},
                }}),
                Value::Null,
            )],
            &leaf,
        )
        .unwrap();
        let rp = &resolved["openid_relying_party"];
        assert_eq!(rp["client_name"], "Unnamed");
        let mut scope: Vec<&str> = rp["scope"].as_str().unwrap().split(' ').collect();
        scope.sort();
        assert_eq!(
            scope,
            ["accounts", "openid"],
            "a set: its order is not specified"
        );
        assert_eq!(rp["grant_types"], json!(["refresh_token"]));
    }

    /// An unsigned statement (its signature is not what the constraints look at).
    fn statement(claims: Value) -> String {
        use base64::Engine;
        let part = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let header = json!({"alg": "ES256", "kid": "k", "typ": super::ENTITY_STATEMENT_TYP});
        format!("{}.{}.c2ln", part(header), part(claims))
    }

    /// Constraints (section 6.2) of the statement about an intermediate bind what is below
    /// it: max_path_length, naming_constraints, allowed_entity_types.
    #[test]
    fn constraints_bind_the_entities_below_their_issuer() {
        let (ta, mid, leaf) = (
            "https://ta.example",
            "https://mid.example",
            "https://rp.leaf.example",
        );
        let chain = |constraints: Value| -> Vec<String> {
            vec![
                statement(json!({"iss": leaf, "sub": leaf})),
                statement(json!({"iss": mid, "sub": leaf})),
                statement(json!({"iss": ta, "sub": mid, "constraints": constraints})),
                statement(json!({"iss": ta, "sub": ta})),
            ]
        };
        let check = |constraints: Value, metadata: &mut Value| {
            let jwts = chain(constraints);
            let statements: Vec<super::Statement<'_>> = jwts
                .iter()
                .enumerate()
                .map(|(i, jwt)| super::Statement::read(jwt, i).unwrap())
                .collect();
            super::apply_constraints(&statements, metadata)
        };
        let mut metadata = json!({
            "openid_relying_party": {"client_name": "RP"},
            "openid_provider": {"issuer": leaf},
            "federation_entity": {"organization_name": "Leaf"},
        });
        // One intermediate below the anchor's statement: allowed at 1, refused at 0.
        assert!(check(json!({"max_path_length": 1}), &mut metadata.clone()).is_ok());
        let refused = check(json!({"max_path_length": 0}), &mut metadata.clone()).unwrap_err();
        assert!(refused.description.contains("at most 0"), "{refused}");
        // Hosts: permitted subtrees and exclusions.
        assert!(
            check(
                json!({"naming_constraints": {"permitted": [".example"]}}),
                &mut metadata.clone()
            )
            .is_ok()
        );
        assert!(
            check(
                json!({"naming_constraints": {"permitted": [".other.example"]}}),
                &mut metadata.clone()
            )
            .is_err()
        );
        assert!(
            check(
                json!({"naming_constraints": {"excluded": [".leaf.example"]}}),
                &mut metadata.clone()
            )
            .is_err()
        );
        // Entity types not allowed are removed; federation_entity stays.
        check(
            json!({"allowed_entity_types": ["openid_relying_party"]}),
            &mut metadata,
        )
        .unwrap();
        let mut kinds: Vec<&String> = metadata.as_object().unwrap().keys().collect();
        kinds.sort();
        assert_eq!(kinds, ["federation_entity", "openid_relying_party"]);
    }

    #[test]
    fn metadata_outside_the_policy_is_refused_with_what_is_wrong() {
        let policy = json!({"openid_relying_party": {
            "token_endpoint_auth_method": {"one_of": ["private_key_jwt"], "essential": true},
        }});
        for leaf in [
            json!({"openid_relying_party": {"token_endpoint_auth_method": "client_secret_basic"}}),
            json!({"openid_relying_party": {"client_name": "no method at all"}}),
        ] {
            let refused = apply_policies(&[(policy.clone(), Value::Null)], &leaf).unwrap_err();
            assert_eq!(refused.code, FederationCode::InvalidMetadata);
            assert!(refused.description.contains("policy"), "{refused}");
        }
        assert!(apply_policies(&[(policy, Value::Null)], &json!("not an object")).is_err());
    }

    #[test]
    fn scope_is_a_set_of_space_separated_values_and_forced_metadata_wins() {
        let policy = json!({"oauth_client": {
            "scope": {"subset_of": ["openid", "accounts"]},
            "jwks_uri": {"value": "https://directory.example/keystore/o/s.jwks"},
        }});
        let forced = json!({"oauth_client": {"software_id": "s"}});
        let leaf = json!({"oauth_client": {
            "scope": "openid accounts payments",
            "jwks_uri": "https://elsewhere.example/jwks",
        }});
        let resolved = apply_policies(&[(policy, forced)], &leaf).unwrap();
        let client = &resolved["oauth_client"];
        let mut scopes: Vec<&str> = client["scope"].as_str().unwrap().split(' ').collect();
        scopes.sort();
        assert_eq!(scopes, ["accounts", "openid"]);
        assert_eq!(
            client["jwks_uri"],
            "https://directory.example/keystore/o/s.jwks"
        );
        assert_eq!(client["software_id"], "s");
    }
}
