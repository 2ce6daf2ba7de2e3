//! Machine clients of the directory's own API: a software product authenticated with OAuth 2.0
//! client credentials (RFC 6749 section 4.4) and what its access token lets it do
//! ([`Scope`]).

use super::error::{Error, Result};

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
}

impl Scope {
    /// Every scope a software product may hold.
    pub const ALL: [Scope; 4] = [
        Scope::DirectoryRead,
        Scope::SsaIssue,
        Scope::KeysWrite,
        Scope::CertificatesWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DirectoryRead => "directory:read",
            Scope::SsaIssue => "ssa:issue",
            Scope::KeysWrite => "keys:write",
            Scope::CertificatesWrite => "certificates:write",
        }
    }

    fn parse_one(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// A space-separated scope parameter (RFC 6749 section 3.3); absent or empty means every
    /// scope. An unknown scope is an error naming it.
    pub fn parse_list(value: Option<&str>) -> Result<Vec<Scope>> {
        let words: Vec<&str> = value
            .unwrap_or_default()
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return Ok(Scope::ALL.to_vec());
        }
        let mut scopes = words
            .iter()
            .map(|w| {
                Scope::parse_one(w).ok_or_else(|| {
                    Error::Validation(format!(
                        "scope: {w:?} is not a scope a software product may have ({})",
                        Scope::ALL.map(Scope::as_str).join(", ")
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
        assert_eq!(Scope::parse_list(None).unwrap(), Scope::ALL.to_vec());
        assert_eq!(
            Scope::parse_list(Some("ssa:issue  directory:read ssa:issue")).unwrap(),
            vec![Scope::DirectoryRead, Scope::SsaIssue]
        );
        let Err(Error::Validation(message)) = Scope::parse_list(Some("ssa:issue admin")) else {
            panic!("an unknown scope was accepted");
        };
        assert!(message.contains("\"admin\""), "{message}");
        assert_eq!(
            Scope::join(&[Scope::DirectoryRead, Scope::KeysWrite]),
            "directory:read keys:write"
        );
    }
}
