//! The directory as an OpenID Federation 1.0 trust anchor, from the same records as its
//! statements: its entity configuration (signed with the federation keys, kept apart from the
//! SSA keys), the subordinate statements about its software products and its ASPSPs'
//! authorization servers (fetch), the list of its subordinates, resolve and trust marks. A
//! product is in the federation while it and its organisation are active; an authorization
//! server while its organisation is an active ASPSP that registered it.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Directory;
use crate::federation::{
    self, EntityConfiguration, EntityIdentifier, EntityType, HistoricalKeys, MAX_ENTITY_ID,
    Refusal, ResolveResponse, SubordinateStatement, TrustMark, TrustMarkStatus, TrustMarkType,
};
use crate::keys::signing::{OwnJws, verify_own};
use crate::model::keys::{KeyPurpose, KeyState};
use crate::model::organisation::{AuthorizationServer, Organisation};
use crate::model::protocol::FederationCode;
use crate::model::software::Software;
use crate::model::{Error, OrgId, Result, SoftwareId, Status, Timestamp};
use crate::ssa::KeystoreUrls;
pub use crate::store::federation::Subject;
use crate::store::{self, DbConnection};

/// Why a federation endpoint answers with an error: the protocol's refusal (section 8.9), or
/// what the domain failed at (the database, a key). `?` turns either into it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Failed(#[from] Error),
}

/// A database failure inside a federation answer (a store call under `?`).
impl From<diesel::result::Error> for Failure {
    fn from(error: diesel::result::Error) -> Self {
        Failure::Failed(error.into())
    }
}

impl Failure {
    /// The refusal to answer with, or the failure for the web edge to report.
    pub fn refusal(self) -> Result<Refusal> {
        match self {
            Failure::Refused(refusal) => Ok(refusal),
            Failure::Failed(error) => Err(error),
        }
    }
}

/// What a federation endpoint answers: its document, or why not.
pub type Answer<T> = std::result::Result<T, Failure>;

/// Runs `f` with a connection on the blocking pool (see [`super::run`]); `f` may refuse.
async fn db<T, F>(dir: &Directory, f: F) -> Answer<T>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Answer<T> + Send + 'static,
{
    dir.db(move |conn| Ok(f(conn))).await?
}

/// The name the directory's `federation_entity` metadata gives.
const ORGANIZATION_NAME: &str = "SSA Directory";

/// Signs an entity statement with the active federation key.
fn sign(
    dir: &Directory,
    conn: &mut DbConnection,
    claims: &impl serde::Serialize,
) -> Result<String> {
    sign_typed(dir, conn, federation::ENTITY_STATEMENT_TYP, claims)
}

/// Signs federation claims of this `typ` with the active federation key.
fn sign_typed(
    dir: &Directory,
    conn: &mut DbConnection,
    typ: &str,
    claims: &impl serde::Serialize,
) -> Result<String> {
    let key = store::signing_keys::in_state(conn, KeyPurpose::Federation, KeyState::Active)?
        .ok_or(Error::NotFound("active federation key"))?;
    dir.federation_keys.sign_typed(&key, typ, claims)
}

/// The published federation keys (active, next, and retired ones still published).
fn federation_jwks(conn: &mut DbConnection) -> Result<Value> {
    let document = super::signing_keys::jwks_document(conn, KeyPurpose::Federation)?;
    serde_json::from_slice(&document.body)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("the federation JWKS: {e}")))
}

/// The directory's entity configuration, signed.
pub async fn entity_configuration(dir: &Arc<Directory>) -> Result<String> {
    let shared = dir.clone();
    dir.db(move |conn| {
        let claims = EntityConfiguration::new(
            &shared.public_url,
            federation_jwks(conn)?,
            ORGANIZATION_NAME,
            unix(shared.now()),
        );
        sign(&shared, conn, &claims)
    })
    .await
}

/// An instant as seconds since the Unix epoch (`iat`, `exp`).
fn unix(at: Timestamp) -> i64 {
    at.assume_utc().unix_timestamp()
}

/// The subordinate statement about the entity `sub`, signed; or why there is none. A
/// statement signed less than `status_max_age_secs` ago is served again (the max-age fetch
/// advertises): a change shows within it, on every instance.
pub async fn fetch(dir: &Arc<Directory>, sub: Option<String>) -> Answer<String> {
    let sub = subject(dir, sub)?;
    if let Some(jwt) = dir.federation_statements.get(&sub).await {
        return Ok(jwt);
    }
    // The directory vouches for the keys of a self-hosted subordinate (a server, a product
    // with its own entity identifier) only while the configuration it serves is signed by
    // one of them: that is checked first.
    let (shared, asked) = (dir.clone(), sub.clone());
    let first = db(dir, move |conn| {
        let found = member(&shared, conn, &asked)?;
        if found.hosted().is_none() {
            return Ok(None);
        }
        let keys = found.live_keys(conn)?;
        let statement = statement_about(&shared, asked, &found, keys, None)?;
        Ok(Some(sign(&shared, conn, &statement)?))
    })
    .await?;
    let signed = match first {
        Some(jwt) => jwt,
        None => {
            let Ok(leaf_jwt) = remote_configuration(dir, &sub).await else {
                return Err(unverified(&sub).into());
            };
            let (shared, asked) = (dir.clone(), sub.clone());
            db(dir, move |conn| {
                let found = member(&shared, conn, &asked)?;
                let keys = found.live_keys(conn)?;
                let Ok((configuration, _)) =
                    checked_configuration(&shared, &asked, &found, &leaf_jwt, &keys)
                else {
                    return Err(unverified(&asked).into());
                };
                let statement =
                    statement_about(&shared, asked, &found, keys, Some(&configuration))?;
                Ok(sign(&shared, conn, &statement)?)
            })
            .await?
        }
    };
    dir.federation_statements.insert(sub, signed.clone()).await;
    Ok(signed)
}

/// `not_found` for a self-hosted subordinate whose configuration does not hold now.
fn unverified(sub: &str) -> Refusal {
    Refusal::new(
        FederationCode::NotFound,
        format!(
            "the entity configuration at {sub}/.well-known/openid-federation cannot be read or is not signed by a live key of its keystore: no statement about it now"
        ),
    )
}

/// `not_found`: no subordinate has the entity identifier asked for.
pub fn unknown_entity() -> Refusal {
    Refusal::new(
        FederationCode::NotFound,
        "no subordinate of this trust anchor has that entity identifier",
    )
}

/// A subordinate of the trust anchor.
enum Member {
    /// An active product of an active organisation; `own` when its owner hosts its entity
    /// configuration at an entity identifier it registered.
    Software {
        product: Box<Software>,
        org: Box<Organisation>,
        own: bool,
    },
    /// An active organisation.
    Organisation(Box<Organisation>),
    /// An authorization server an active ASPSP registered, its issuer the entity identifier.
    Server {
        org_id: OrgId,
        org_name: String,
        server: AuthorizationServer,
    },
}

impl Member {
    /// Whose keystore vouches for it: the product's keys, or the organisation's own.
    fn keystore(&self) -> (OrgId, Option<SoftwareId>) {
        match self {
            Self::Software { product, org, .. } => (org.id, Some(product.id)),
            Self::Organisation(org) => (org.id, None),
            Self::Server { org_id, .. } => (*org_id, None),
        }
    }

    /// The live keys of its keystore.
    fn live_keys(&self, conn: &mut DbConnection) -> Result<Vec<serde_json::Map<String, Value>>> {
        let (org, software) = self.keystore();
        super::keystore::live_jwks(conn, org, software)
    }

    fn kinds(&self) -> &'static [EntityType] {
        match self {
            Self::Software { .. } => &EntityType::SOFTWARE,
            Self::Organisation(_) => &EntityType::ORGANISATION,
            Self::Server { .. } => &EntityType::SERVER,
        }
    }

    /// The trust marks it holds: a product its roles in its environment, an organisation its
    /// roles in both; a server none.
    fn marks(&self) -> Vec<TrustMarkType> {
        match self {
            Self::Software { product, .. } => TrustMarkType::of(product),
            Self::Organisation(org) => TrustMarkType::of_organisation(&org.roles),
            Self::Server { .. } => vec![],
        }
    }

    /// The entity configuration the directory hosts for it (a server, and a product with an
    /// entity identifier of its own, host their own).
    fn hosted(&self) -> Option<store::federation::Subject> {
        match self {
            Self::Software {
                product,
                own: false,
                ..
            } => Some(store::federation::Subject::Software(product.id)),
            Self::Software { own: true, .. } => None,
            Self::Organisation(org) => Some(store::federation::Subject::Organisation(org.id)),
            Self::Server { .. } => None,
        }
    }
}

/// The subordinate whose entity identifier is `sub` (a product's or an organisation's, under
/// the directory's prefixes; one a product registered as its own; an authorization server's
/// issuer); or `not_found` saying why it is not in the federation.
fn member(dir: &Directory, conn: &mut DbConnection, sub: &str) -> Answer<Member> {
    let unknown = || Err(Failure::Refused(unknown_entity()));
    if let Some(id) = sub.strip_prefix(&federation::organisation_entity_prefix(&dir.public_url)) {
        let Some(org) = id.parse::<OrgId>().ok() else {
            return unknown();
        };
        return match store::organisations::find(conn, org)? {
            None => unknown(),
            Some(org) if org.status != Status::Active => Err(Failure::Refused(Refusal::new(
                FederationCode::NotFound,
                format!(
                    "the organisation is {}: it is not in the federation now",
                    org.status
                ),
            ))),
            Some(org) => Ok(Member::Organisation(Box::new(org))),
        };
    }
    let prefix = federation::software_entity_prefix(&dir.public_url);
    let Some(id) = sub.strip_prefix(&prefix) else {
        // A product's own entity identifier (never under the directory's URL).
        if let Some(software) = store::federation::software_of(conn, sub)? {
            return product_member(conn, software, true);
        }
        // Only active ASPSPs publish authorization servers.
        let server = store::discovery::participants(conn)?
            .into_iter()
            .find_map(|p| {
                let server = p
                    .authorization_servers
                    .into_iter()
                    .find(|s| s.issuer == sub)?;
                Some(Member::Server {
                    org_id: p.org_id,
                    org_name: p.org_name,
                    server,
                })
            });
        return match server {
            Some(server) => Ok(server),
            None => unknown(),
        };
    };
    let Some(software) = id.parse::<SoftwareId>().ok() else {
        return unknown();
    };
    if let Some(own) = store::federation::entity_id_of(conn, software)? {
        return Err(Failure::Refused(Refusal::new(
            FederationCode::NotFound,
            format!(
                "the software's entity identifier is {own}, where it hosts its own configuration"
            ),
        )));
    }
    product_member(conn, software, false)
}

/// The product `software` as a subordinate, if it and its organisation are active.
fn product_member(conn: &mut DbConnection, software: SoftwareId, own: bool) -> Answer<Member> {
    let unknown = || Err(Failure::Refused(unknown_entity()));
    let Some(product) = store::software::find(conn, software)? else {
        return unknown();
    };
    let Some(org) = store::organisations::find(conn, product.organisation_id)? else {
        return unknown();
    };
    if product.status != Status::Active || org.status != Status::Active {
        let whose = if org.status != Status::Active {
            format!("its organisation is {}", org.status)
        } else {
            format!("the software is {}", product.status)
        };
        return Err(Failure::Refused(Refusal::new(
            FederationCode::NotFound,
            format!("{whose}: it is not in the federation now"),
        )));
    }
    Ok(Member::Software {
        product: Box::new(product),
        org: Box::new(org),
        own,
    })
}

/// Checks the entity identifier parameter `sub` of a request.
fn subject(dir: &Directory, sub: Option<String>) -> std::result::Result<String, Refusal> {
    let Some(sub) = sub.filter(|s| !s.is_empty()) else {
        return Err(Refusal::new(
            FederationCode::InvalidRequest,
            "sub is required: the entity identifier of a subordinate",
        ));
    };
    if sub.len() > MAX_ENTITY_ID {
        return Err(Refusal::new(
            FederationCode::InvalidRequest,
            format!("sub is longer than {MAX_ENTITY_ID} characters"),
        ));
    }
    if sub == dir.public_url {
        return Err(Refusal::new(
            FederationCode::InvalidRequest,
            "sub is this trust anchor: its own entity configuration is at /.well-known/openid-federation",
        ));
    }
    Ok(sub)
}

/// The trust mark of `trust_mark_type` for the entity `sub`, signed; the product must hold
/// that role in that environment.
pub async fn trust_mark(
    dir: &Arc<Directory>,
    trust_mark_type: Option<String>,
    sub: Option<String>,
) -> Answer<String> {
    let sub = subject(dir, sub)?;
    let (kind, wanted) = mark_type(dir, trust_mark_type)?;
    let shared = dir.clone();
    db(dir, move |conn| {
        let found = member(&shared, conn, &sub)?;
        if let Member::Server { .. } = found {
            return Err(Refusal::new(
                FederationCode::NotFound,
                "trust marks go to organisations and software products, by role and environment; an authorization server holds none",
            )
            .into());
        }
        if !found.marks().contains(&wanted) {
            return Err(Failure::Refused(Refusal::new(
                FederationCode::NotFound,
                format!(
                    "the entity does not hold the {} role in {}",
                    wanted.role.as_str(),
                    wanted.environment.as_str()
                ),
            )));
        }
        let at = unix(shared.now());
        let mark = TrustMark::new(&shared.public_url, sub, kind, at);
        Ok(sign_typed(&shared, conn, federation::TRUST_MARK_TYP, &mark)?)
    })
    .await
}

/// The `trust_mark_type` parameter of a request: required, and one this anchor issues.
fn mark_type(
    dir: &Directory,
    trust_mark_type: Option<String>,
) -> std::result::Result<(String, TrustMarkType), Refusal> {
    let kind = trust_mark_type.filter(|t| !t.is_empty()).ok_or_else(|| {
        Refusal::new(
            FederationCode::InvalidRequest,
            "trust_mark_type is required",
        )
    })?;
    match TrustMarkType::parse(&dir.public_url, &kind) {
        Some(wanted) => Ok((kind, wanted)),
        None => Err(Refusal::new(
            FederationCode::NotFound,
            "this trust anchor issues no trust mark of that type",
        )),
    }
}

/// The status of a trust mark, as a signed response: `invalid` unless the directory signed
/// it with a federation key and knows its type, `expired` past its `exp`, `revoked` when its
/// subject is no longer in the federation or no longer holds its role there, else `active`.
pub async fn trust_mark_status(dir: &Arc<Directory>, trust_mark: Option<String>) -> Answer<String> {
    let Some(jwt) = trust_mark.filter(|t| !t.is_empty() && t.len() <= 16 * 1024) else {
        return Err(Failure::Refused(Refusal::new(
            FederationCode::InvalidRequest,
            "trust_mark is required (a trust mark JWT, at most 16 KiB)",
        )));
    };
    let shared = dir.clone();
    db(dir, move |conn| {
        let at = unix(shared.now());
        let status = match checked_mark(&shared, conn, &jwt)? {
            None => "invalid",
            Some(mark) if mark.exp <= at => "expired",
            Some(mark) => {
                let kind = TrustMarkType::parse(&shared.public_url, &mark.trust_mark_type);
                // Not in the federation (refused) is revoked; a failure is a failure.
                let found = match member(&shared, conn, &mark.sub) {
                    Ok(found) => Some(found),
                    Err(Failure::Refused(_)) => None,
                    Err(failed) => return Err(failed),
                };
                match (kind, found) {
                    (Some(kind), Some(found)) if found.marks().contains(&kind) => "active",
                    _ => "revoked",
                }
            }
        };
        let response = TrustMarkStatus {
            iss: shared.public_url.clone(),
            iat: at,
            trust_mark: jwt,
            status,
        };
        sign_typed(&shared, conn, federation::TRUST_MARK_STATUS_TYP, &response)
            .map_err(Failure::from)
    })
    .await
}

/// The claims of a trust mark the directory signed with one of its federation keys (any not
/// removed), its `iss` the directory and its type one of the directory's; `None` otherwise.
fn checked_mark(dir: &Directory, conn: &mut DbConnection, jwt: &str) -> Result<Option<TrustMark>> {
    let keys = store::signing_keys::all(conn, KeyPurpose::Federation)?;
    let expected = OwnJws {
        typ: federation::TRUST_MARK_TYP,
        issuer: &dir.public_url,
        required: &["iss", "sub", "iat", "exp"],
    };
    Ok(verify_own::<TrustMark>(jwt, &keys, &expected)
        .filter(|m| TrustMarkType::parse(&dir.public_url, &m.trust_mark_type).is_some()))
}

/// The historical keys document (`jwk-set+jwt`): the retired federation keys, each with its
/// `exp`, signed with the active federation key.
pub async fn historical_keys(dir: &Arc<Directory>) -> Result<String> {
    let shared = dir.clone();
    dir.db(move |conn| {
        let keys = store::signing_keys::all(conn, KeyPurpose::Federation)?
            .into_iter()
            .filter(|k| matches!(k.state, KeyState::Retired | KeyState::Removed))
            .filter_map(|k| {
                let mut jwk: serde_json::Map<String, Value> =
                    serde_json::from_str(&k.public_jwk).ok()?;
                let retired = k.retired_at.unwrap_or(k.created_at);
                jwk.insert(
                    "iat".into(),
                    json!(k.created_at.assume_utc().unix_timestamp()),
                );
                jwk.insert("exp".into(), json!(retired.assume_utc().unix_timestamp()));
                Some(Value::Object(jwk))
            })
            .collect();
        let document = HistoricalKeys {
            iss: shared.public_url.clone(),
            iat: unix(shared.now()),
            keys,
        };
        sign_typed(&shared, conn, federation::HISTORICAL_KEYS_TYP, &document)
    })
    .await
}

/// The most entity identifiers one page of a list holds.
pub const MAX_PAGE: usize = 1000;

/// The list endpoint's parameters (section 8.2.1), and the directory's paging: `limit`
/// identifiers per page (at most [`MAX_PAGE`]), those sorting after `after`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub entity_type: Vec<String>,
    pub trust_marked: Option<String>,
    pub trust_mark_type: Option<String>,
    pub intermediate: Option<String>,
    pub limit: Option<String>,
    pub after: Option<String>,
}

/// One page of entity identifiers, sorted; `more` when another page follows (starting after
/// the last of this one).
#[derive(Debug, Clone)]
pub struct Listed {
    pub entities: Vec<String>,
    pub more: bool,
}

fn flag(name: &str, value: Option<&str>) -> std::result::Result<bool, Refusal> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Refusal::new(
            FederationCode::InvalidRequest,
            format!("{name} must be true or false, not {other:?}"),
        )),
    }
}

/// Every subordinate's entity identifier, its entity types and the trust marks it holds:
/// products, organisations, then authorization servers.
async fn subordinates(
    dir: &Arc<Directory>,
) -> Result<Vec<(String, &'static [EntityType], Vec<TrustMarkType>)>> {
    let base = dir.public_url.clone();
    let (products, own, participants) = dir
        .db(|conn| {
            Ok((
                store::software::in_federation(conn)?,
                store::federation::entity_ids(conn)?,
                store::discovery::participants(conn)?,
            ))
        })
        .await?;
    let mut all: Vec<(String, &'static [EntityType], Vec<TrustMarkType>)> = products
        .iter()
        .map(|product| {
            let id = own
                .get(&product.id)
                .cloned()
                .unwrap_or_else(|| federation::software_entity_id(&base, product.id));
            (id, &EntityType::SOFTWARE[..], TrustMarkType::of(product))
        })
        .collect();
    for participant in participants {
        all.push((
            federation::organisation_entity_id(&base, participant.org_id),
            &EntityType::ORGANISATION[..],
            TrustMarkType::of_organisation(&participant.roles),
        ));
        for server in participant.authorization_servers {
            all.push((server.issuer, &EntityType::SERVER[..], vec![]));
        }
    }
    Ok(all)
}

/// The entity identifiers of the subordinates, narrowed by `query`, one page of them.
pub async fn list(dir: &Arc<Directory>, query: ListQuery) -> Answer<Listed> {
    let (trust_marked, intermediate) = match (
        flag("trust_marked", query.trust_marked.as_deref()),
        flag("intermediate", query.intermediate.as_deref()),
    ) {
        (Ok(marked), Ok(intermediate)) => (marked, intermediate),
        (Err(refusal), _) | (_, Err(refusal)) => return Err(Failure::Refused(refusal)),
    };
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => usize::MAX,
        Some(Ok(limit)) if (1..=MAX_PAGE).contains(&limit) => limit,
        Some(_) => {
            return Err(Failure::Refused(Refusal::new(
                FederationCode::InvalidRequest,
                format!("limit must be a number from 1 to {MAX_PAGE}"),
            )));
        }
    };
    let too_long = [
        ("after", query.after.as_deref()),
        ("trust_mark_type", query.trust_mark_type.as_deref()),
    ]
    .into_iter()
    .chain(
        query
            .entity_type
            .iter()
            .map(|t| ("entity_type", Some(t.as_str()))),
    )
    .find(|(_, value)| value.is_some_and(|v| v.len() > MAX_ENTITY_ID));
    if let Some((name, _)) = too_long {
        return Err(Failure::Refused(Refusal::new(
            FederationCode::InvalidRequest,
            format!("{name} is longer than {MAX_ENTITY_ID} characters"),
        )));
    }
    let mark_type = match query.trust_mark_type.as_deref() {
        None => None,
        Some(id) => match TrustMarkType::parse(&dir.public_url, id) {
            Some(kind) => Some(kind),
            // No entity holds a trust mark of a type this anchor does not issue.
            None => {
                return Ok(Listed {
                    entities: vec![],
                    more: false,
                });
            }
        },
    };
    // Every subordinate is a leaf; none is an intermediate.
    if intermediate {
        return Ok(Listed {
            entities: vec![],
            more: false,
        });
    }
    // Every entity has federation_entity metadata besides its own types.
    let wanted = |kinds: &[EntityType]| {
        query.entity_type.is_empty()
            || query
                .entity_type
                .iter()
                .any(|t| t == "federation_entity" || kinds.iter().any(|k| k.as_str() == t))
    };
    let mut entities: Vec<String> = subordinates(dir)
        .await?
        .into_iter()
        .filter(|(_, kinds, _)| wanted(kinds))
        // With trust_marked or trust_mark_type, only those holding such a mark.
        .filter(|(_, _, held)| match mark_type {
            Some(kind) => held.contains(&kind),
            None => !trust_marked || !held.is_empty(),
        })
        .map(|(id, _, _)| id)
        .filter(|id| query.after.as_ref().is_none_or(|after| id > after))
        .collect();
    entities.sort();
    entities.dedup();
    let more = entities.len() > limit;
    entities.truncate(limit);
    Ok(Listed { entities, more })
}

/// The trust mark list endpoint (section 8.5): the entities holding an active trust mark of
/// `trust_mark_type`, or whether `sub` does (a list of it alone, or none).
pub async fn trust_marked(
    dir: &Arc<Directory>,
    trust_mark_type: Option<String>,
    sub: Option<String>,
) -> Answer<Vec<String>> {
    let (_, wanted) = mark_type(dir, trust_mark_type)?;
    if sub.as_ref().is_some_and(|s| s.len() > MAX_ENTITY_ID) {
        return Err(Failure::Refused(Refusal::new(
            FederationCode::InvalidRequest,
            format!("sub is longer than {MAX_ENTITY_ID} characters"),
        )));
    }
    let mut holders: Vec<String> = subordinates(dir)
        .await?
        .into_iter()
        .filter(|(id, _, held)| held.contains(&wanted) && sub.as_ref().is_none_or(|s| s == id))
        .map(|(id, _, _)| id)
        .collect();
    holders.sort();
    Ok(holders)
}

/// Hosts a product's or an organisation's own entity configuration at its entity identifier,
/// after [`federation::check_leaf_configuration`] against its keystore: a product's for the
/// members of its organisation, an organisation's for its admins; operators both. It must be
/// in the federation. Audited as `software.entity_configuration` or
/// `organisation.entity_configuration` (with their change event).
pub async fn put_entity_configuration(
    dir: &Arc<Directory>,
    actor: crate::model::Actor,
    subject: Subject,
    jwt: String,
) -> Result<()> {
    let at = dir.now();
    let shared = dir.clone();
    dir.db(move |conn| {
        crate::store::write_transaction(conn, |tx| {
            let base = &shared.public_url;
            let (org, software, leaf, kinds, audited) = match subject {
                Subject::Software(id) => {
                    let (_, org) = active_product(tx, &actor, id)?;
                    if let Some(own) = store::federation::entity_id_of(tx, id)? {
                        return Err(Error::Conflict(format!(
                            "the software hosts its own entity configuration at {own}: clear that entity identifier to publish one here"
                        )));
                    }
                    let audited = crate::model::audit::Entry::new(at, &actor,
                        "software.entity_configuration",
                        "software",
                        id,
                    );
                    let leaf = federation::software_entity_id(base, id);
                    (org.id, Some(id), leaf, &EntityType::SOFTWARE[..], audited)
                }
                Subject::Organisation(id) => {
                    let (org, access) = super::access::organisation(tx, &actor, id)?;
                    access.require_admin()?;
                    if org.status != Status::Active {
                        return Err(Error::Conflict(
                            "only an active organisation is in the federation".into(),
                        ));
                    }
                    let audited = crate::model::audit::Entry::new(at, &actor,
                        "organisation.entity_configuration",
                        "organisation",
                        id,
                    );
                    let leaf = federation::organisation_entity_id(base, id);
                    (id, None, leaf, &EntityType::ORGANISATION[..], audited)
                }
            };
            let keys = super::keystore::live_jwks(tx, org, software)?;
            let (_, exp) =
                federation::check_leaf_configuration(&jwt, &leaf, base, &keys, kinds, unix(shared.now()))
                    .map_err(|why| {
                    crate::model::invalid(
                        "entity_configuration",
                        format!("the entity configuration {why}"),
                    )
                })?;
            let expires_at = time::OffsetDateTime::from_unix_timestamp(exp)
                .map(|t| time::PrimitiveDateTime::new(t.date(), t.time()))
                .map_err(|_| {
                    crate::model::invalid("entity_configuration", "exp is out of range")
                })?;
            store::federation::put(tx, subject, jwt.trim(), expires_at, at)?;
            store::audit::record(
                tx,
                audited
                    .organisation(org)
                    .details(json!({"entity_id": leaf, "exp": exp})),
            )?;
            Ok(())
        })
    })
    .await
}

/// The product, for a member of its organisation or an operator, if it and its organisation
/// are active (else a conflict).
fn active_product(
    conn: &mut DbConnection,
    actor: &crate::model::Actor,
    id: SoftwareId,
) -> Result<(Software, Organisation)> {
    let (product, org, _) = super::access::software(conn, actor, id)?;
    if product.status != Status::Active || org.status != Status::Active {
        return Err(Error::Conflict(
            "only an active product of an active organisation is in the federation".into(),
        ));
    }
    Ok((product, org))
}

/// A product's entity identifier: the one it registered, or the one the directory gives it.
pub async fn entity_identifier(
    dir: &Arc<Directory>,
    actor: crate::model::Actor,
    software: SoftwareId,
) -> Result<EntityIdentifier> {
    let base = dir.public_url.clone();
    dir.db(move |conn| {
        super::access::software(conn, &actor, software)?;
        Ok(EntityIdentifier::of(
            &base,
            software,
            store::federation::entity_id_of(conn, software)?,
        ))
    })
    .await
}

/// Registers the entity identifier at which a product's owner hosts its own entity
/// configuration (members and operators), once the directory has fetched that configuration
/// (under the push guards) and checked it as one it would host: signed by a live key of the
/// product's keystore, about that identifier, under this anchor. With `None`, the product
/// goes back to the identifier the directory gives it. Not the directory's own URLs, an
/// authorization server's issuer or another product's identifier. Audited as
/// `software.entity_identifier` (a `software-metadata` event).
pub async fn set_entity_identifier(
    dir: &Arc<Directory>,
    actor: crate::model::Actor,
    software: SoftwareId,
    entity_id: Option<String>,
) -> Result<EntityIdentifier> {
    let at = dir.now();
    let entity_id = entity_id.map(|id| id.trim().trim_end_matches('/').to_owned());
    let (shared, wanted, who) = (dir.clone(), entity_id.clone(), actor.clone());
    let keys = dir
        .db(move |conn| {
            let (product, org) = active_product(conn, &who, software)?;
            if let Some(id) = &wanted {
                check_own_entity_id(&shared, conn, software, id)?;
            }
            super::keystore::live_jwks(conn, org.id, Some(product.id))
        })
        .await?;
    if let Some(id) = &entity_id {
        let url = format!("{id}/.well-known/openid-federation");
        let jwt = dir
            .transmitter
            .fetch(
                &url,
                federation::ENTITY_STATEMENT_TYPE,
                MAX_FETCHED_CONFIGURATION,
            )
            .await
            .map_err(|why| {
                crate::model::invalid(
                    "entity_id",
                    format!("its entity configuration at {url} cannot be read: {why}"),
                )
            })?;
        federation::check_leaf_configuration(
            &jwt,
            id,
            &dir.public_url,
            &keys,
            &EntityType::SOFTWARE,
            unix(dir.now()),
        )
        .and_then(|(claims, _)| names_software(&claims["metadata"], software))
        .map_err(|why| {
            crate::model::invalid("entity_id", format!("its entity configuration {why}"))
        })?;
    }
    let base = dir.public_url.clone();
    dir.db(move |conn| {
        crate::store::write_transaction(conn, |tx| {
            let (_, org) = active_product(tx, &actor, software)?;
            store::federation::set_entity_id(tx, software, entity_id.as_deref(), at).map_err(
                |e| {
                    if store::is_unique_violation(&e) {
                        Error::Conflict("another product registered that entity identifier".into())
                    } else {
                        e.into()
                    }
                },
            )?;
            store::audit::record(
                tx,
                crate::model::audit::Entry::new(
                    at,
                    &actor,
                    "software.entity_identifier",
                    "software",
                    software,
                )
                .organisation(org.id)
                .details(json!({"entity_id": entity_id})),
            )?;
            Ok(EntityIdentifier::of(&base, software, entity_id))
        })
    })
    .await
}

/// What a product may not register as its own entity identifier.
fn check_own_entity_id(
    dir: &Directory,
    conn: &mut DbConnection,
    software: SoftwareId,
    id: &str,
) -> Result<()> {
    let bad = |why: &str| Err(crate::model::invalid("entity_id", why));
    if id.len() > MAX_ENTITY_ID {
        return bad("is longer than 2048 characters");
    }
    let Ok(url) = url::Url::parse(id) else {
        return bad("is not a URL");
    };
    if url.query().is_some() || url.fragment().is_some() {
        return bad("must carry no query and no fragment");
    }
    if id.starts_with(&dir.public_url) {
        return bad("is one of the directory's own URLs (that one it gives the product itself)");
    }
    let is_server = store::discovery::participants(conn)?
        .iter()
        .any(|p| p.authorization_servers.iter().any(|s| s.issuer == id));
    if is_server {
        return bad("is an authorization server's issuer");
    }
    match store::federation::software_of(conn, id)? {
        Some(other) if other != software => Err(Error::Conflict(
            "another product registered that entity identifier".into(),
        )),
        _ => Ok(()),
    }
}

/// The entity identifier the directory gives a subject it hosts the configuration of.
fn hosted_entity_id(base: &str, subject: Subject) -> String {
    match subject {
        Subject::Software(id) => federation::software_entity_id(base, id),
        Subject::Organisation(id) => federation::organisation_entity_id(base, id),
    }
}

/// A product's or an organisation's own entity configuration, hosted while it is in the
/// federation.
pub async fn hosted_configuration(dir: &Arc<Directory>, subject: Subject) -> Answer<String> {
    let at = dir.now();
    let shared = dir.clone();
    db(dir, move |conn| {
        let leaf = hosted_entity_id(&shared.public_url, subject);
        member(&shared, conn, &leaf)?;
        Ok(store::federation::live(conn, subject, at)?.ok_or_else(|| {
            Refusal::new(
                FederationCode::NotFound,
                "the entity has not published an entity configuration of its own",
            )
        })?)
    })
    .await
}

/// The subordinate statement about a subordinate, with `live`, the live keys of its keystore; for a
/// server, only those its checked entity configuration (`configuration`) lists too, so that
/// a key an organisation copied into its keystore vouches for nothing it does not sign.
fn statement_about(
    dir: &Directory,
    sub: String,
    member: &Member,
    mut live: Vec<serde_json::Map<String, Value>>,
    configuration: Option<&Value>,
) -> Result<SubordinateStatement> {
    if let (Member::Server { .. }, Some(configuration)) = (member, configuration) {
        let listed: Vec<&Value> = configuration["jwks"]["keys"]
            .as_array()
            .map(|keys| keys.iter().map(|k| &k["kid"]).collect())
            .unwrap_or_default();
        live.retain(|key| key.get("kid").is_some_and(|kid| listed.contains(&kid)));
    }
    let keys = json!({ "keys": live });
    Ok(match member {
        Member::Software { product, org, .. } => {
            let urls = KeystoreUrls::new(&dir.public_url, org.id, product.id);
            SubordinateStatement::software(
                &dir.public_url,
                sub,
                product,
                keys,
                urls.software_jwks,
                unix(dir.now()),
            )
        }
        Member::Organisation(org) => {
            SubordinateStatement::organisation(&dir.public_url, org, keys, unix(dir.now()))
        }
        Member::Server {
            org_name, server, ..
        } => SubordinateStatement::server(&dir.public_url, org_name, server, keys, unix(dir.now())),
    })
}

/// The resolve endpoint's parameters (section 8.3.1).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ResolveQuery {
    pub sub: Option<String>,
    pub trust_anchor: Option<String>,
    #[serde(default)]
    pub entity_type: Vec<String>,
}

/// The longest entity configuration the directory fetches from an authorization server.
const MAX_FETCHED_CONFIGURATION: usize = 64 * 1024;

/// Resolves a subordinate (`resolve-response+jwt`, signed): its own entity configuration's
/// metadata with this anchor's statement applied, its trust marks, and the trust chain (its
/// entity configuration, the subordinate statement, this anchor's entity configuration). A
/// product's entity configuration is the one it published here; an authorization server's is
/// fetched from its issuer when asked (under the push guards: `push_allow_http`,
/// `push_allow_private_targets`) and checked against its organisation's keystore. Only this
/// directory is a trust anchor here.
pub async fn resolve(dir: &Arc<Directory>, query: ResolveQuery) -> Answer<String> {
    let at = dir.now();
    let sub = subject(dir, query.sub)?;
    match query.trust_anchor.as_deref() {
        None | Some("") => {
            return Err(Failure::Refused(Refusal::new(
                FederationCode::InvalidRequest,
                "trust_anchor is required",
            )));
        }
        Some(anchor) if anchor != dir.public_url => {
            return Err(Failure::Refused(Refusal::new(
                FederationCode::InvalidTrustAnchor,
                format!(
                    "this resolver resolves only for the trust anchor {}",
                    dir.public_url
                ),
            )));
        }
        Some(_) => {}
    }
    // A hosted configuration is resolved in one visit to the database; a self-hosted one is
    // fetched first, and the subordinate looked up again after.
    let shared = dir.clone();
    let (asked, types) = (sub.clone(), query.entity_type.clone());
    let first = db(dir, move |conn| {
        let found = member(&shared, conn, &asked)?;
        let Some(subject) = found.hosted() else {
            return Ok(None);
        };
        let Some(jwt) = store::federation::live(conn, subject, at)? else {
            return Err(Refusal::new(
                FederationCode::NotFound,
                "the entity has not published an entity configuration of its own, which resolving starts from",
            )
            .into());
        };
        resolved(&shared, conn, &asked, found, jwt, &types).map(Some)
    })
    .await?;
    if let Some(response) = first {
        return Ok(response);
    }
    let leaf_jwt = remote_configuration(dir, &sub).await?;
    let shared = dir.clone();
    db(dir, move |conn| {
        // Looked up again: it may have left the federation while its configuration was read.
        let found = member(&shared, conn, &sub)?;
        resolved(&shared, conn, &sub, found, leaf_jwt, &query.entity_type)
    })
    .await
}

/// The entity configuration a self-hosted subordinate serves at its entity identifier,
/// fetched under the push guards; `invalid_trust_chain` when it cannot be read. What was
/// found, or not, is kept for `status_max_age_secs`: however often it is asked about, the
/// directory fetches from an entity at most once in that time.
async fn remote_configuration(dir: &Directory, sub: &str) -> std::result::Result<String, Refusal> {
    let url = format!(
        "{}/.well-known/openid-federation",
        sub.trim_end_matches('/')
    );
    // Callers asking at once about the same entity share one fetch.
    let found = dir
        .federation_configurations
        .get_with_by_ref(sub, async {
            dir.transmitter
                .fetch(
                    &url,
                    federation::ENTITY_STATEMENT_TYPE,
                    MAX_FETCHED_CONFIGURATION,
                )
                .await
        })
        .await;
    found.map_err(|why| {
        Refusal::new(
            FederationCode::InvalidTrustChain,
            format!("the entity configuration at {url}: {why}"),
        )
    })
}

/// `leaf_jwt` checked as `found`'s entity configuration against its keystore's live keys
/// `keys` (read again: a key may have left the keystore since), and its claims and `exp`.
fn checked_configuration(
    dir: &Directory,
    sub: &str,
    found: &Member,
    leaf_jwt: &str,
    keys: &[serde_json::Map<String, Value>],
) -> std::result::Result<(Value, i64), Refusal> {
    federation::check_leaf_configuration(
        leaf_jwt,
        sub,
        &dir.public_url,
        keys,
        found.kinds(),
        unix(dir.now()),
    )
    .and_then(|(claims, exp)| {
        bound(found, &claims["metadata"])?;
        Ok((claims, exp))
    })
    .map_err(|why| {
        Refusal::new(
            FederationCode::InvalidTrustChain,
            format!("the entity configuration {why}"),
        )
    })
}

/// Whether every client metadata of a configuration names the product's `software_id`.
fn names_software(metadata: &Value, software: SoftwareId) -> std::result::Result<(), String> {
    let id = software.to_string();
    if EntityType::SOFTWARE
        .iter()
        .filter_map(|kind| metadata.get(kind.as_str()))
        .all(|m| m["software_id"] == id.as_str())
    {
        Ok(())
    } else {
        Err(format!(
            "must name its software_id {id} in its client metadata"
        ))
    }
}

/// What ties a self-hosted configuration to the record it is checked against, beyond a key
/// (an organisation can put another's public key in its keystore): a product's names its
/// `software_id`; a server's declares the `registration_endpoint` its organisation
/// registered, for each of its entity types.
fn bound(found: &Member, metadata: &Value) -> std::result::Result<(), String> {
    match found {
        Member::Software {
            product, own: true, ..
        } => names_software(metadata, product.id),
        Member::Server { server, .. } => {
            let declared: Vec<&Value> = EntityType::SERVER
                .iter()
                .filter_map(|kind| metadata.get(kind.as_str()))
                .map(|m| &m["registration_endpoint"])
                .collect();
            if !declared.is_empty()
                && declared
                    .iter()
                    .all(|e| *e == server.registration_endpoint.as_str())
            {
                Ok(())
            } else {
                Err(format!(
                    "must declare the registration_endpoint its organisation registered, {}",
                    server.registration_endpoint
                ))
            }
        }
        _ => Ok(()),
    }
}

/// The signed resolve response about `found` from its entity configuration `leaf_jwt`.
fn resolved(
    dir: &Directory,
    conn: &mut DbConnection,
    sub: &str,
    found: Member,
    leaf_jwt: String,
    entity_types: &[String],
) -> Answer<String> {
    let sub = sub.to_owned();
    let at = unix(dir.now());
    let keys = found.live_keys(conn)?;
    let (leaf, leaf_exp) = match checked_configuration(dir, &sub, &found, &leaf_jwt, &keys) {
        Ok(checked) => checked,
        Err(refusal) => return Err(Failure::Refused(refusal)),
    };
    let statement = statement_about(dir, sub.clone(), &found, keys, Some(&leaf))?;
    let mut metadata = match federation::resolve_metadata(&statement, &leaf["metadata"]) {
        Ok(metadata) => metadata,
        Err(why) => {
            return Err(Failure::Refused(Refusal::new(
                FederationCode::InvalidMetadata,
                why,
            )));
        }
    };
    if !entity_types.is_empty()
        && let Some(types) = metadata.as_object_mut()
    {
        types.retain(|kind, _| entity_types.contains(kind));
    }
    let statement_exp = statement.exp;
    let statement_jwt = sign(dir, conn, &statement)?;
    let anchor = EntityConfiguration::new(
        &dir.public_url,
        federation_jwks(conn)?,
        ORGANIZATION_NAME,
        at,
    );
    let anchor_exp = anchor.exp;
    let anchor_jwt = sign(dir, conn, &anchor)?;
    let mut trust_marks = vec![];
    for kind in found.marks() {
        let mark = TrustMark::new(&dir.public_url, sub.clone(), kind.id(&dir.public_url), at);
        let jwt = sign_typed(dir, conn, federation::TRUST_MARK_TYP, &mark)?;
        trust_marks.push(json!({"trust_mark_type": mark.trust_mark_type, "trust_mark": jwt}));
    }
    let response = ResolveResponse {
        iss: dir.public_url.clone(),
        sub,
        iat: at,
        exp: leaf_exp.min(statement_exp).min(anchor_exp),
        metadata,
        trust_marks,
        trust_chain: vec![leaf_jwt, statement_jwt, anchor_jwt],
    };
    sign_typed(dir, conn, federation::RESOLVE_TYP, &response).map_err(Failure::from)
}
