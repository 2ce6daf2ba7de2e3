//! The directory as an OpenID Federation 1.0 trust anchor, from the same records as its
//! statements: its entity configuration (signed with the federation keys, kept apart from the
//! SSA keys), the subordinate statements about its software products (fetch) and the list of
//! its subordinates. A product is in the federation while it and its organisation are active.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Directory;
use crate::federation::{
    self, EntityConfiguration, EntityType, HistoricalKeys, MAX_ENTITY_ID, Refusal,
    SubordinateStatement, TrustMark, TrustMarkStatus, TrustMarkType,
};
use crate::model::keys::{KeyPurpose, KeyState};
use crate::model::organisation::Organisation;
use crate::model::software::Software;
use crate::model::{Error, Result, SoftwareId, Status, now};
use crate::ssa::KeystoreUrls;
use crate::store::{self, DbConnection};

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
    dir.federation_keys
        .sign_typed(key.kid.as_str(), &key.alg, typ, claims)
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
            unix_now(),
        );
        sign(&shared, conn, &claims)
    })
    .await
}

fn unix_now() -> i64 {
    now().assume_utc().unix_timestamp()
}

/// The subordinate statement about the entity `sub`, signed; or why there is none.
pub async fn fetch(
    dir: &Arc<Directory>,
    sub: Option<String>,
) -> Result<std::result::Result<String, Refusal>> {
    let sub = match subject(dir, sub) {
        Ok(sub) => sub,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let shared = dir.clone();
    dir.db(move |conn| {
        let (product, org) = match member(&shared, conn, &sub)? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let keys: Vec<Value> = store::keystore::load(conn, org.id, Some(product.id), Some(false))?
            .into_iter()
            .map(|k| k.jwk)
            .collect();
        let urls = KeystoreUrls::new(&shared.public_url, org.id, product.id);
        let statement = SubordinateStatement::software(
            &shared.public_url,
            sub,
            &product,
            json!({"keys": keys}),
            urls.software_jwks,
            unix_now(),
        );
        sign(&shared, conn, &statement).map(Ok)
    })
    .await
}

/// The active product, and its active organisation, of the entity identifier `sub`; or
/// `not_found` saying why it is not in the federation.
fn member(
    dir: &Directory,
    conn: &mut DbConnection,
    sub: &str,
) -> Result<std::result::Result<(Software, Organisation), Refusal>> {
    let unknown = || {
        Ok(Err(Refusal::new(
            "not_found",
            "no subordinate of this trust anchor has that entity identifier",
        )))
    };
    let prefix = federation::software_entity_prefix(&dir.public_url);
    let Some(software) = sub
        .strip_prefix(&prefix)
        .and_then(|id| id.parse::<SoftwareId>().ok())
    else {
        return unknown();
    };
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
        return Ok(Err(Refusal::new(
            "not_found",
            format!("{whose}: it is not in the federation now"),
        )));
    }
    Ok(Ok((product, org)))
}

/// Checks the entity identifier parameter `sub` of a request.
fn subject(dir: &Directory, sub: Option<String>) -> std::result::Result<String, Refusal> {
    let Some(sub) = sub.filter(|s| !s.is_empty()) else {
        return Err(Refusal::new(
            "invalid_request",
            "sub is required: the entity identifier of a subordinate",
        ));
    };
    if sub.len() > MAX_ENTITY_ID {
        return Err(Refusal::new(
            "invalid_request",
            format!("sub is longer than {MAX_ENTITY_ID} characters"),
        ));
    }
    if sub == dir.public_url {
        return Err(Refusal::new(
            "invalid_request",
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
) -> Result<std::result::Result<String, Refusal>> {
    let sub = match subject(dir, sub) {
        Ok(sub) => sub,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let Some(kind) = trust_mark_type.filter(|t| !t.is_empty()) else {
        return Ok(Err(Refusal::new(
            "invalid_request",
            "trust_mark_type is required",
        )));
    };
    let Some(wanted) = TrustMarkType::parse(&dir.public_url, &kind) else {
        return Ok(Err(Refusal::new(
            "not_found",
            "this trust anchor issues no trust mark of that type",
        )));
    };
    let shared = dir.clone();
    dir.db(move |conn| {
        let (product, _) = match member(&shared, conn, &sub)? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if !TrustMarkType::of(&product).contains(&wanted) {
            return Ok(Err(Refusal::new(
                "not_found",
                format!(
                    "the software does not hold the {} role in {}",
                    wanted.role.as_str(),
                    wanted.environment.as_str()
                ),
            )));
        }
        let at = unix_now();
        let mark = TrustMark {
            iss: shared.public_url.clone(),
            sub,
            trust_mark_type: kind,
            iat: at,
            exp: at + federation::STATEMENT_LIFETIME,
        };
        sign_typed(&shared, conn, federation::TRUST_MARK_TYP, &mark).map(Ok)
    })
    .await
}

/// The status of a trust mark, as a signed response: `invalid` unless the directory signed
/// it with a federation key and knows its type, `expired` past its `exp`, `revoked` when its
/// subject is no longer in the federation or no longer holds its role there, else `active`.
pub async fn trust_mark_status(
    dir: &Arc<Directory>,
    trust_mark: Option<String>,
) -> Result<std::result::Result<String, Refusal>> {
    let Some(jwt) = trust_mark.filter(|t| !t.is_empty() && t.len() <= 16 * 1024) else {
        return Ok(Err(Refusal::new(
            "invalid_request",
            "trust_mark is required (a trust mark JWT, at most 16 KiB)",
        )));
    };
    let shared = dir.clone();
    dir.db(move |conn| {
        let at = unix_now();
        let status = match checked_mark(&shared, conn, &jwt)? {
            None => "invalid",
            Some(mark) if mark.exp <= at => "expired",
            Some(mark) => {
                let kind = TrustMarkType::parse(&shared.public_url, &mark.trust_mark_type);
                match (kind, member(&shared, conn, &mark.sub)?) {
                    (Some(kind), Ok((product, _)))
                        if TrustMarkType::of(&product).contains(&kind) =>
                    {
                        "active"
                    }
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
        sign_typed(&shared, conn, federation::TRUST_MARK_STATUS_TYP, &response).map(Ok)
    })
    .await
}

/// The claims of a trust mark the directory signed with one of its federation keys (any not
/// removed), its `iss` the directory and its type one of the directory's; `None` otherwise.
fn checked_mark(dir: &Directory, conn: &mut DbConnection, jwt: &str) -> Result<Option<TrustMark>> {
    let Ok(header) = jsonwebtoken::decode_header(jwt) else {
        return Ok(None);
    };
    if header.typ.as_deref() != Some(federation::TRUST_MARK_TYP) {
        return Ok(None);
    }
    let Some(kid) = header.kid else {
        return Ok(None);
    };
    let keys = store::signing_keys::all(conn, KeyPurpose::Federation)?;
    let Some(key) = keys
        .iter()
        .find(|k| k.kid.as_str() == kid && k.state != KeyState::Removed)
    else {
        return Ok(None);
    };
    let Some(decoding) = serde_json::from_str::<jsonwebtoken::jwk::Jwk>(&key.public_jwk)
        .ok()
        .and_then(|jwk| jsonwebtoken::DecodingKey::from_jwk(&jwk).ok())
    else {
        return Ok(None);
    };
    let Ok(algorithm) = key.alg.parse::<jsonwebtoken::Algorithm>() else {
        return Ok(None);
    };
    if header.alg != algorithm {
        return Ok(None);
    }
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[&dir.public_url]);
    validation.set_required_spec_claims(&["iss", "sub", "iat", "exp"]);
    Ok(
        jsonwebtoken::decode::<TrustMark>(jwt, &decoding, &validation)
            .ok()
            .map(|d| d.claims)
            .filter(|m| TrustMarkType::parse(&dir.public_url, &m.trust_mark_type).is_some()),
    )
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
            iat: unix_now(),
            keys,
        };
        sign_typed(&shared, conn, federation::HISTORICAL_KEYS_TYP, &document)
    })
    .await
}

/// The list endpoint's parameters (section 8.2.1).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub entity_type: Vec<String>,
    pub trust_marked: Option<String>,
    pub trust_mark_type: Option<String>,
    pub intermediate: Option<String>,
}

/// The entity identifiers of the subordinates, narrowed by `query`.
pub async fn list(
    dir: &Arc<Directory>,
    query: ListQuery,
) -> Result<std::result::Result<Vec<String>, Refusal>> {
    let trust_marked = match query.trust_marked.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Ok(Err(Refusal::new(
                "invalid_request",
                format!("trust_marked must be true or false, not {other:?}"),
            )));
        }
    };
    let mark_type = match query.trust_mark_type.as_deref() {
        None => None,
        Some(id) => match TrustMarkType::parse(&dir.public_url, id) {
            Some(kind) => Some(kind),
            // No entity holds a trust mark of a type this anchor does not issue.
            None => return Ok(Ok(vec![])),
        },
    };
    let intermediate = match query.intermediate.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Ok(Err(Refusal::new(
                "invalid_request",
                format!("intermediate must be true or false, not {other:?}"),
            )));
        }
    };
    // Every subordinate is a leaf (a software product); none is an intermediate.
    let software_types = EntityType::SOFTWARE.map(EntityType::as_str);
    let wanted = query.entity_type.is_empty()
        || query
            .entity_type
            .iter()
            .any(|t| software_types.contains(&t.as_str()) || t == "federation_entity");
    if intermediate || !wanted {
        return Ok(Ok(vec![]));
    }
    let base = dir.public_url.clone();
    let ids = dir
        .db(move |conn| {
            let ids = store::software::in_federation(conn)?;
            if !trust_marked && mark_type.is_none() {
                return Ok(ids);
            }
            // Only those holding a trust mark (of that type): a role in their environment.
            let mut marked = vec![];
            for id in ids {
                let Some(product) = store::software::find(conn, id)? else {
                    continue;
                };
                let held = TrustMarkType::of(&product);
                if mark_type.map_or(!held.is_empty(), |t| held.contains(&t)) {
                    marked.push(id);
                }
            }
            Ok(marked)
        })
        .await?;
    Ok(Ok(ids
        .into_iter()
        .map(|id| federation::software_entity_id(&base, id))
        .collect()))
}
