//! Machine clients of the directory's own API: a software product or an organisation
//! authenticated with OAuth 2.0 client credentials (RFC 6749 section 4.4) ([`ClientId`]), and
//! what its access token lets it do ([`Scope`]).

use super::error::{Error, Result};
use super::ids::{OrgId, SoftwareId};

/// Who a machine client is: a software product (its client_id is its software_id) or an
/// organisation (its org id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientId {
    Software(SoftwareId),
    Organisation(OrgId),
}

impl ClientId {
    /// The scopes a client of this kind may hold.
    pub fn allowed(self) -> &'static [Scope] {
        match self {
            ClientId::Software(_) => &Scope::SOFTWARE,
            ClientId::Organisation(_) => &Scope::ORGANISATION,
        }
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientId::Software(id) => id.fmt(f),
            ClientId::Organisation(id) => id.fmt(f),
        }
    }
}

/// What a machine client's access token may do; each maps to the API calls a member of the
/// product's organisation could make for that product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read the product, its keys and its certificates.
    DirectoryRead,
    /// Issue the product's software statements.
    SsaIssue,
    /// Upload and remove the product's keys.
    KeysWrite,
    /// Request and revoke the product's certificates.
    CertificatesWrite,
    /// Manage the organisation's push and poll subscriptions to the change events.
    EventsSubscribe,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 5] = [
        Scope::DirectoryRead,
        Scope::SsaIssue,
        Scope::KeysWrite,
        Scope::CertificatesWrite,
        Scope::EventsSubscribe,
    ];
    /// The scopes a software product may hold.
    pub const SOFTWARE: [Scope; 4] = [
        Scope::DirectoryRead,
        Scope::SsaIssue,
        Scope::KeysWrite,
        Scope::CertificatesWrite,
    ];
    /// The scopes an organisation may hold.
    pub const ORGANISATION: [Scope; 3] = [
        Scope::DirectoryRead,
        Scope::KeysWrite,
        Scope::EventsSubscribe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DirectoryRead => "directory:read",
            Scope::SsaIssue => "ssa:issue",
            Scope::KeysWrite => "keys:write",
            Scope::CertificatesWrite => "certificates:write",
            Scope::EventsSubscribe => "events:subscribe",
        }
    }

    fn parse_one(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// A space-separated scope parameter (RFC 6749 section 3.3) of scopes among `allowed`;
    /// absent or empty means all of them. Another scope is an error naming it.
    pub fn parse_list(value: Option<&str>, allowed: &[Scope]) -> Result<Vec<Scope>> {
        let words: Vec<&str> = value
            .unwrap_or_default()
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return Ok(allowed.to_vec());
        }
        let mut scopes = words
            .iter()
            .map(|w| {
                Scope::parse_one(w)
                    .filter(|s| allowed.contains(s))
                    .ok_or_else(|| {
                        Error::Validation(format!(
                            "scope: {w:?} is not a scope this client may have ({})",
                            allowed
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    /// The scope parameter for a list.
    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_from_the_parameter_and_unknown_ones_are_named() {
        let product = &Scope::SOFTWARE;
        assert_eq!(Scope::parse_list(None, product).unwrap(), product.to_vec());
        assert_eq!(
            Scope::parse_list(Some("ssa:issue  directory:read ssa:issue"), product).unwrap(),
            vec![Scope::DirectoryRead, Scope::SsaIssue]
        );
        let Err(Error::Validation(message)) = Scope::parse_list(Some("ssa:issue admin"), product)
        else {
            panic!("an unknown scope was accepted");
        };
        assert!(message.contains("\"admin\""), "{message}");
        // An organisation subscribes to events but issues no statements.
        assert!(Scope::parse_list(Some("events:subscribe"), &Scope::ORGANISATION).is_ok());
        assert!(Scope::parse_list(Some("ssa:issue"), &Scope::ORGANISATION).is_err());
        assert!(Scope::parse_list(Some("events:subscribe"), product).is_err());
        assert_eq!(
            Scope::join(&[Scope::DirectoryRead, Scope::KeysWrite]),
            "directory:read keys:write"
        );
    }
}
