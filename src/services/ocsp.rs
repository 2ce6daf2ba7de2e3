//! The OCSP responder: answers from the `certificates` table, signed by the issuing CA, with
//! nonce-less answers reused for a couple of seconds (cleared on every local change).

use std::sync::Arc;

use super::Directory;
use crate::model::Result;
use crate::pki;
use crate::store;

/// The DER answer to a DER request, and whether the request was well formed.
pub async fn respond(dir: &Arc<Directory>, request: Vec<u8>) -> Result<(Vec<u8>, bool)> {
    if let Some(body) = dir.ocsp_cache.get(&request) {
        return Ok((body, true));
    }
    let (shared, at) = (dir.clone(), dir.now());
    let (body, well_formed, request) = dir
        .db(move |conn| {
            let (body, ok) = pki::ocsp::respond(
                &shared.ca,
                &request,
                shared.config.ocsp_validity_secs,
                |serial, issuing| {
                    let known = store::certificates::state_and_issuer(conn, serial)?;
                    Ok(known.and_then(|(state, issuer, pem)| {
                        let signer = shared.ca.issuer_of(issuer.as_deref(), &pem)?;
                        (signer.id == issuing.id).then_some(state)
                    }))
                },
                at,
            )?;
            Ok((body, ok, request))
        })
        .await?;
    if well_formed && !pki::ocsp::has_nonce(&request) {
        dir.ocsp_cache.put(&request, &body);
    }
    Ok((body, well_formed))
}
