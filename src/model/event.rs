//! Change events: what a relying party may act on, derived from the audit entry of the change
//! and written in its transaction. Each becomes an RFC 8417 Security Event Token whose
//! `events` claim has one member, named by the event type URI of its [`EventKind`].

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::audit::Entry;

/// The prefix of every event type URI this directory defines.
pub const EVENT_TYPE_PREFIX: &str = "urn:ssa-directory:event:";

/// The kinds of change events; each names one event type URI (`urn:ssa-directory:event:` and
/// the kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// An organisation was approved, rejected, suspended, reinstated or revoked.
    OrganisationStatus,
    /// An organisation's authorization servers changed.
    OrganisationAuthorizationServers,
    /// A software product was approved, rejected, suspended, reinstated or revoked.
    SoftwareStatus,
    /// Values that a product's statements carry changed (names, URIs, roles, environment).
    SoftwareMetadata,
    /// A key was published in an organisation's or product's keystore.
    ParticipantKeyAdded,
    /// A key moved from a keystore to its revoked set.
    ParticipantKeyRemoved,
    CertificateIssued,
    CertificateRevoked,
    /// A certificate was put on hold (certificateHold).
    CertificateHeld,
    /// A held certificate is good again.
    CertificateReleased,
    /// A directory signing key was generated (as the next key, or as the first active one).
    SigningKeyPublished,
    SigningKeyActivated,
    SigningKeyRetired,
    /// A retired signing key left the JWKS.
    SigningKeyRemoved,
    /// A software statement was revoked before its expiry.
    StatementRevoked,
    /// A product or an organisation published its own federation entity configuration,
    /// which the directory hosts.
    EntityConfigurationPublished,
}

impl EventKind {
    /// Whether the event changes what a participant or an artefact may do (a status, a
    /// revocation, a hold); those SETs are logged in the transparency log.
    pub fn changes_status(self) -> bool {
        matches!(
            self,
            Self::OrganisationStatus
                | Self::SoftwareStatus
                | Self::CertificateRevoked
                | Self::CertificateHeld
                | Self::CertificateReleased
                | Self::StatementRevoked
                | Self::ParticipantKeyRemoved
                | Self::SigningKeyRetired
                | Self::SigningKeyRemoved
        )
    }

    pub const ALL: [EventKind; 16] = [
        Self::OrganisationStatus,
        Self::OrganisationAuthorizationServers,
        Self::SoftwareStatus,
        Self::SoftwareMetadata,
        Self::ParticipantKeyAdded,
        Self::ParticipantKeyRemoved,
        Self::CertificateIssued,
        Self::CertificateRevoked,
        Self::CertificateHeld,
        Self::CertificateReleased,
        Self::SigningKeyPublished,
        Self::SigningKeyActivated,
        Self::SigningKeyRetired,
        Self::SigningKeyRemoved,
        Self::StatementRevoked,
        Self::EntityConfigurationPublished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganisationStatus => "organisation-status",
            Self::OrganisationAuthorizationServers => "organisation-authorization-servers",
            Self::SoftwareStatus => "software-status",
            Self::SoftwareMetadata => "software-metadata",
            Self::ParticipantKeyAdded => "participant-key-added",
            Self::ParticipantKeyRemoved => "participant-key-removed",
            Self::CertificateIssued => "certificate-issued",
            Self::CertificateRevoked => "certificate-revoked",
            Self::CertificateHeld => "certificate-held",
            Self::CertificateReleased => "certificate-released",
            Self::SigningKeyPublished => "signing-key-published",
            Self::SigningKeyActivated => "signing-key-activated",
            Self::SigningKeyRetired => "signing-key-retired",
            Self::SigningKeyRemoved => "signing-key-removed",
            Self::StatementRevoked => "statement-revoked",
            Self::EntityConfigurationPublished => "entity-configuration-published",
        }
    }

    /// The event type URI, the key of the SET's `events` claim.
    pub fn uri(self) -> String {
        format!("{EVENT_TYPE_PREFIX}{}", self.as_str())
    }

    /// The kind of an audited action, if relying parties care about it.
    fn of(subject_type: &str, action: &str) -> Option<Self> {
        let kind = match (subject_type, action) {
            (
                "organisation",
                "organisation.approve"
                | "organisation.reject"
                | "organisation.suspend"
                | "organisation.reinstate"
                | "organisation.revoke",
            ) => Self::OrganisationStatus,
            (
                "organisation",
                "organisation.authorization_servers"
                | "organisation.issuer_verified"
                | "organisation.issuer_released",
            ) => Self::OrganisationAuthorizationServers,
            (
                "software",
                "software.approve" | "software.reject" | "software.suspend" | "software.reinstate"
                | "software.revoke",
            ) => Self::SoftwareStatus,
            (
                "software",
                "software.update" | "software.change_approve" | "software.entity_identifier",
            ) => Self::SoftwareMetadata,
            ("participant_key", "key.upload") => Self::ParticipantKeyAdded,
            ("participant_key", _) => Self::ParticipantKeyRemoved,
            ("certificate", "certificate.issue") => Self::CertificateIssued,
            ("certificate", "certificate.revoke") => Self::CertificateRevoked,
            ("certificate", "certificate.hold") => Self::CertificateHeld,
            ("certificate", "certificate.release") => Self::CertificateReleased,
            ("signing_key", "key.generate") => Self::SigningKeyPublished,
            ("signing_key", "key.activate") => Self::SigningKeyActivated,
            ("signing_key", "key.retire") => Self::SigningKeyRetired,
            ("signing_key", "key.remove") => Self::SigningKeyRemoved,
            ("software", "ssa.revoke") => Self::StatementRevoked,
            ("software", "software.entity_configuration")
            | ("organisation", "organisation.entity_configuration") => {
                Self::EntityConfigurationPublished
            }
            _ => return None,
        };
        Some(kind)
    }
}

impl FromStr for EventKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let name = s.strip_prefix(EVENT_TYPE_PREFIX).unwrap_or(s);
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| format!("unknown event kind {s:?}"))
    }
}

/// A change event as written in the transaction of its change: the kind, whom it is about,
/// and the member of the SET's `events` claim.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: EventKind,
    pub subject_type: &'static str,
    pub subject_id: String,
    pub organisation_id: Option<String>,
    /// The event's payload: the subject's ids, the new state and what changed.
    pub payload: Value,
}

impl Change {
    /// The change event of an audit entry, if it records something relying parties may act
    /// on. The payload carries ids and states only: names and values are read from the
    /// documents the event points to (the statement, the keystore, the status), and nothing
    /// that is not public already (contacts, emails) is in it.
    pub fn of(entry: &Entry) -> Option<Self> {
        let kind = EventKind::of(entry.subject_type, &entry.action)?;
        let details: Map<String, Value> = entry
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        let mut subject = Map::new();
        subject.insert("type".into(), json!(entry.subject_type));
        subject.insert("id".into(), json!(entry.subject_id));
        if let Some(org) = &entry.organisation_id {
            subject.insert("organisation_id".into(), json!(org));
        }
        let mut payload = Map::new();
        match kind {
            EventKind::SoftwareMetadata => {
                let mut changed: Vec<&String> = details.keys().collect();
                changed.sort();
                payload.insert("changed".into(), json!(changed));
            }
            EventKind::ParticipantKeyAdded | EventKind::ParticipantKeyRemoved => {
                if let Some(owner) = details.get("owner") {
                    subject.insert("owner".into(), owner.clone());
                }
                if let Some(serial) = details.get("certificate").filter(|c| !c.is_null()) {
                    payload.insert("certificate_serial".into(), serial.clone());
                }
            }
            EventKind::CertificateIssued => {
                for field in ["software_id", "type"] {
                    if let Some(value) = details.get(field) {
                        payload.insert(field.into(), value.clone());
                    }
                }
            }
            EventKind::StatementRevoked => {
                // The audit entry is the product's; the event is about the statement.
                subject.insert("type".into(), json!("statement"));
                subject.insert("id".into(), details.get("jti").cloned().unwrap_or_default());
                subject.insert("software_id".into(), json!(entry.subject_id));
            }
            _ => {}
        }
        if let Some(state) = &entry.new_status {
            payload.insert("state".into(), json!(state));
        }
        if let Some(state) = &entry.old_status {
            payload.insert("previous_state".into(), json!(state));
        }
        if let Some(reason) = &entry.reason {
            payload.insert("reason".into(), json!(reason));
        }
        payload.insert("subject".into(), Value::Object(subject));
        Some(Self {
            kind,
            subject_type: entry.subject_type,
            subject_id: entry.subject_id.clone(),
            organisation_id: entry.organisation_id.clone(),
            payload: Value::Object(payload),
        })
    }
}

/// A position in the event feed: the id of the last event read. Ids are given in commit
/// order without gaps; a reader treats the cursor as opaque all the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor(pub i64);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && s.bytes().all(|b| b.is_ascii_digit()))
            .map(Self)
            .ok_or_else(|| format!("{s:?} is not an event cursor (one returned as next_cursor)"))
    }
}

/// A stored event, as the feed serves it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub cursor: Cursor,
    pub txn: String,
    pub jti: String,
    pub occurred_at: super::Timestamp,
    pub kind: EventKind,
    pub payload: Value,
    /// The signed SET, once some instance has signed it.
    pub token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Actor;

    #[test]
    fn cursors_read_back_and_nothing_else_reads_as_one() {
        assert_eq!("12".parse::<Cursor>(), Ok(Cursor(12)));
        assert_eq!(Cursor(12).to_string(), "12");
        for bad in ["", "-1", "+2", "a", "1-2", "1.5", "99999999999999999999"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_read_back_from_their_uri_and_name() {
        for kind in EventKind::ALL {
            assert_eq!(kind.uri().parse::<EventKind>(), Ok(kind));
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
    }

    #[test]
    fn only_what_relying_parties_act_on_becomes_an_event_and_no_personal_data_goes_in() {
        let actor = Actor::System;
        let at = crate::model::Clock::now(&crate::model::SystemClock);
        let login = Entry::new(at, &actor, "user.password_change", "user", "u1");
        assert!(Change::of(&login).is_none());
        let apply = Entry::new(at, &actor, "organisation.apply", "organisation", "o1");
        assert!(
            Change::of(&apply).is_none(),
            "a pending applicant is not public"
        );
        let update = Entry::new(at, &actor, "software.update", "software", "s1")
            .details(json!({"redirect_uris": {"from": ["https://a"], "to": ["https://b"]}, "client_name": {"from": "x", "to": "y"}}));
        let change = Change::of(&update).unwrap();
        assert_eq!(change.kind, EventKind::SoftwareMetadata);
        assert_eq!(
            change.payload["changed"],
            json!(["client_name", "redirect_uris"])
        );
        assert!(!change.payload.to_string().contains("https://b"));
    }
}
