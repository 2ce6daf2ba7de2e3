//! The directory as an OpenID Federation 1.0 trust anchor, from the same records as its
//! statements: its entity configuration (signed with the federation keys, kept apart from the
//! SSA keys), the subordinate statements about its software products (fetch) and the list of
//! its subordinates. A product is in the federation while it and its organisation are active.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Directory;
use crate::federation::{
    self, EntityConfiguration, EntityType, MAX_ENTITY_ID, Refusal, SubordinateStatement,
};
use crate::model::keys::{KeyPurpose, KeyState};
use crate::model::{Error, Result, SoftwareId, Status, now};
use crate::ssa::KeystoreUrls;
use crate::store::{self, DbConnection};

/// The name the directory's `federation_entity` metadata gives.
const ORGANIZATION_NAME: &str = "SSA Directory";

/// Signs federation claims with the active federation key.
fn sign(
    dir: &Directory,
    conn: &mut DbConnection,
    claims: &impl serde::Serialize,
) -> Result<String> {
    let key = store::signing_keys::in_state(conn, KeyPurpose::Federation, KeyState::Active)?
        .ok_or(Error::NotFound("active federation key"))?;
    dir.federation_keys.sign_typed(
        key.kid.as_str(),
        &key.alg,
        federation::ENTITY_STATEMENT_TYP,
        claims,
    )
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
    let Some(sub) = sub.filter(|s| !s.is_empty()) else {
        return Ok(Err(Refusal::new(
            "invalid_request",
            "sub is required: the entity identifier of a subordinate",
        )));
    };
    if sub.len() > MAX_ENTITY_ID {
        return Ok(Err(Refusal::new(
            "invalid_request",
            format!("sub is longer than {MAX_ENTITY_ID} characters"),
        )));
    }
    if sub == dir.public_url {
        return Ok(Err(Refusal::new(
            "invalid_request",
            "sub is this trust anchor: its own entity configuration is at /.well-known/openid-federation",
        )));
    }
    let prefix = federation::software_entity_prefix(&dir.public_url);
    let Some(software) = sub
        .strip_prefix(&prefix)
        .and_then(|id| id.parse::<SoftwareId>().ok())
    else {
        return Ok(Err(Refusal::new(
            "not_found",
            "no subordinate of this trust anchor has that entity identifier",
        )));
    };
    let shared = dir.clone();
    dir.db(move |conn| {
        let unknown = || {
            Ok(Err(Refusal::new(
                "not_found",
                "no subordinate of this trust anchor has that entity identifier",
            )))
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
    if query.trust_marked.is_some() || query.trust_mark_type.is_some() {
        return Ok(Err(Refusal::new(
            "unsupported_parameter",
            "this trust anchor issues no trust marks yet: trust_marked and trust_mark_type are not supported",
        )));
    }
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
    let ids = dir.db(store::software::in_federation).await?;
    Ok(Ok(ids
        .into_iter()
        .map(|id| federation::software_entity_id(&base, id))
        .collect()))
}
