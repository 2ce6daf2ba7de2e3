//! The directory JWKS: the public halves of every published signing key.

use serde_json::{Value, json};

use crate::documents::Published;
use crate::model::Error;
use crate::model::keys::{KeyState, SigningKey};

/// Builds the JWKS document: active key first, then next, then retired keys. Only public
/// members are ever stored in `public_jwk`, and only they are written here.
pub fn document(keys: &[SigningKey]) -> Result<Published, Error> {
    let order = |state: KeyState| match state {
        KeyState::Active => 0,
        KeyState::Next => 1,
        _ => 2,
    };
    let mut live: Vec<&SigningKey> = keys.iter().filter(|k| k.state.is_published()).collect();
    live.sort_by_key(|k| (order(k.state), k.created_at));
    let keys = live
        .into_iter()
        .map(|k| {
            let jwk: serde_json::Map<String, Value> =
                serde_json::from_str(&k.public_jwk).map_err(|e| {
                    crate::model::unexpected("corrupt signing_keys.public_jwk column", e)
                })?;
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
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Published::json(&json!({ "keys": keys })))
}
