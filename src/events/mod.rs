//! Change events as RFC 8417 Security Event Tokens: the claims of one event, signed by the
//! directory's active key with `typ` `secevent+jwt`. Receivers verify them with the directory
//! JWKS, as they verify statements.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::event::StoredEvent;

/// The `typ` header of a SET (RFC 8417 section 2.3).
pub const TYP: &str = "secevent+jwt";

/// The claims of a SET: `iss`, `iat`, `jti`, `txn`, `toe` (when the change happened) and an
/// `events` claim with one member, the event type URI, whose value is the event's payload.
#[derive(Debug, Serialize)]
pub struct SetClaims<'a> {
    pub iss: &'a str,
    pub iat: i64,
    pub jti: &'a str,
    pub txn: &'a str,
    pub toe: i64,
    pub events: Map<String, Value>,
}

impl<'a> SetClaims<'a> {
    pub fn of(issuer: &'a str, event: &'a StoredEvent, iat: i64) -> Self {
        let mut events = Map::new();
        events.insert(event.kind.uri(), event.payload.clone());
        Self {
            iss: issuer,
            iat,
            jti: &event.jti,
            txn: &event.txn,
            toe: event.occurred_at.assume_utc().unix_timestamp(),
            events,
        }
    }
}
