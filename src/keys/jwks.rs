//! The directory JWKS: the public halves of every published signing key, rebuilt from the
//! database whenever key state changes (here or on another instance).

use serde_json::{Value, json};

use crate::db::DbConnection;
use crate::documents::{Cached, Published};
use crate::error::AppError;

use super::signing::{self, SigningKeyRow};

/// Builds the JWKS document: active key first, then next, then retired keys. Only public
/// members are ever stored in `public_jwk`, and only they are written here.
pub fn document(rows: &[SigningKeyRow]) -> Result<Published, AppError> {
    let order = |state: &str| match state {
        "active" => 0,
        "next" => 1,
        _ => 2,
    };
    let mut live: Vec<&SigningKeyRow> = rows
        .iter()
        .filter(|r| r.state().map(|s| s.is_published()).unwrap_or(false))
        .collect();
    live.sort_by_key(|r| (order(&r.state), r.created_at));
    let keys = live
        .into_iter()
        .map(|r| {
            let jwk: serde_json::Map<String, Value> =
                crate::directory::from_json("signing_keys.public_jwk", &r.public_jwk)?;
            // Defence in depth: only the members a public key has.
            let public: serde_json::Map<String, Value> = jwk
                .into_iter()
                .filter(|(k, _)| {
                    matches!(
                        k.as_str(),
                        "kty" | "kid" | "use" | "alg" | "n" | "e" | "crv" | "x" | "y"
                    )
                })
                .collect();
            Ok(Value::Object(public))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(Published::json(&json!({ "keys": keys })))
}

/// Re-reads key state, removes retired keys whose statements have all expired, and replaces
/// the cached JWKS if it changed.
pub fn refresh(conn: &mut DbConnection, cache: &Cached) -> Result<bool, AppError> {
    let removed = signing::sweep(conn)?;
    if !removed.is_empty() {
        tracing::info!(kids = ?removed, "removed retired signing keys");
    }
    let rows = SigningKeyRow::all(conn)?;
    Ok(cache.replace(document(&rows)?))
}
