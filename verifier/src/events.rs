//! The directory's change events: RFC 8417 Security Event Tokens, verified with the
//! directory's keys like statements are.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::jose::{Header, Member, check_signature, read_part, split};
use crate::keys::Jwk;
use crate::settings::Settings;

/// The prefix of the event type URIs the directory defines.
pub const EVENT_TYPE_PREFIX: &str = "urn:ssa-directory:event:";

/// A change event whose SET verified: signed by a directory key, issued by the directory,
/// with one event in its `events` claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// The SET's `jti`: the same event always has the same one (receivers deduplicate by it).
    pub jti: String,
    /// The event type URI, such as `urn:ssa-directory:event:software-status`.
    pub event_type: String,
    /// The SET's `txn`: events of one directory transaction share it.
    pub txn: Option<String>,
    /// When the change happened (`toe`), seconds since the Unix epoch.
    pub occurred_at: Option<i64>,
    /// The event's payload: `subject` (`type`, `id`, `organisation_id`, …), `state`,
    /// `previous_state`, `reason` and what else its type carries.
    pub payload: Value,
}

impl ChangeEvent {
    /// The event type without the directory's prefix, such as `software-status`.
    pub fn kind(&self) -> &str {
        self.event_type
            .strip_prefix(EVENT_TYPE_PREFIX)
            .unwrap_or(&self.event_type)
    }

    fn subject(&self, field: &str) -> Option<&str> {
        self.payload.get("subject")?.get(field)?.as_str()
    }

    /// The id of what changed: a software id, organisation id, key id, certificate serial or
    /// statement jti, as `subject.type` says.
    pub fn subject_id(&self) -> Option<&str> {
        self.subject("id")
    }

    /// The software product concerned, when there is one.
    pub fn software_id(&self) -> Option<&str> {
        match self.subject("type") {
            Some("software") => self.subject("id"),
            _ => self
                .subject("software_id")
                .or_else(|| self.payload.get("software_id")?.as_str()),
        }
    }
}

#[derive(Deserialize)]
struct SetClaims {
    iss: Option<String>,
    jti: Option<String>,
    txn: Option<String>,
    toe: Option<i64>,
    events: Option<Map<String, Value>>,
}

/// Verifies a SET: compact JWS with `typ` `secevent+jwt`, an allowed algorithm, a key
/// `key_for` finds, a valid signature, `iss` the directory, a `jti` and exactly one event.
pub(crate) fn verify(
    set: &str,
    issuer: &str,
    key_for: &dyn Fn(&str) -> Result<Arc<Jwk>, VerifyError>,
    settings: &Settings,
) -> Result<ChangeEvent, VerifyError> {
    let jws = split(set)?;
    let header: Header<'_> = read_part(&jws.header, "JWS header")?;
    if Member::str(&header.typ) != Some("secevent+jwt") {
        return Err(VerifyError::statement(
            "not a security event token: the JWS header's typ must be secevent+jwt",
        ));
    }
    let alg = crate::jose::algorithm(&header, settings.algorithms())?;
    let kid = crate::jose::kid(&header)?;
    check_signature(&jws, kid, alg, &key_for(kid)?)?;
    let claims: SetClaims = serde_json::from_slice(&jws.payload)
        .map_err(|e| VerifyError::statement(format!("the SET's claims are not valid: {e}")))?;
    if claims.iss.as_deref() != Some(issuer) {
        return Err(VerifyError::statement(format!(
            "the SET was issued by {:?}, not the trusted directory {issuer:?}",
            claims.iss.unwrap_or_default()
        )));
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(|| VerifyError::statement("the SET has no jti"))?;
    let events = claims.events.unwrap_or_default();
    if events.len() != 1 {
        return Err(VerifyError::statement(format!(
            "the SET carries {} events; the directory sends one per SET",
            events.len()
        )));
    }
    let Some((event_type, payload)) = events.into_iter().next() else {
        return Err(VerifyError::statement("the SET carries no event"));
    };
    Ok(ChangeEvent {
        jti,
        event_type,
        txn: claims.txn,
        occurred_at: claims.toe,
        payload,
    })
}
