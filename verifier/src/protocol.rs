//! The error codes of the protocols around a software statement, each with its wire name and
//! its HTTP status in one place: OAuth 2.0 (RFC 6749 section 5.2, RFC 6750 section 3.1, RFC
//! 9449), dynamic client registration (RFC 7591 section 3.2.2, with the codes explicit and
//! automatic OpenID Federation registration add) and OpenID Federation 1.0 (section 8.9). The
//! directory, the registrar and this crate's errors use these; a server built on the crate can
//! too.

use serde::{Deserialize, Serialize};

/// An OAuth 2.0 error code: of the token endpoint (RFC 6749 section 5.2, RFC 9449 section 5)
/// or of a protected resource (RFC 6750 section 3.1, RFC 9449 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthCode {
    /// `invalid_request`: a parameter missing, repeated or malformed.
    InvalidRequest,
    /// `invalid_client`: the client did not authenticate.
    InvalidClient,
    /// `invalid_grant`: the grant (here, the client itself) is not valid now.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`: a scope the client may not have.
    InvalidScope,
    /// `invalid_token`: the access token is missing, unknown, expired or revoked.
    InvalidToken,
    /// `insufficient_scope`: the token lacks the scope the request needs.
    InsufficientScope,
    /// `invalid_dpop_proof` (RFC 9449).
    InvalidDpopProof,
}

impl OAuthCode {
    /// The code as the RFCs spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
        }
    }

    /// The status of a token endpoint's refusal: 401 for a client that did not authenticate,
    /// 400 for everything else (RFC 6749 section 5.2, RFC 9449 section 5).
    pub const fn token_endpoint_status(self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            _ => 400,
        }
    }

    /// The status of a protected resource's refusal (RFC 6750 section 3.1, RFC 9449 section
    /// 7.1): 403 for a token without the scope, 400 for a malformed request, 401 otherwise.
    pub const fn resource_status(self) -> u16 {
        match self {
            Self::InsufficientScope => 403,
            Self::InvalidRequest => 400,
            _ => 401,
        }
    }

    /// The problem's title for a refused resource request.
    pub const fn title(self) -> &'static str {
        match self {
            Self::InsufficientScope => "Insufficient scope",
            Self::InvalidDpopProof => "Invalid DPoP proof",
            _ => "Invalid token",
        }
    }
}

impl std::fmt::Display for OAuthCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OpenID Federation error code (section 8.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FederationCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`.
    InvalidClient,
    /// `invalid_issuer`.
    InvalidIssuer,
    /// `invalid_subject`.
    InvalidSubject,
    /// `invalid_trust_anchor`: not a trust anchor this entity resolves for.
    InvalidTrustAnchor,
    /// `invalid_trust_chain`.
    InvalidTrustChain,
    /// `invalid_metadata`.
    InvalidMetadata,
    /// `not_found`: an unknown entity.
    NotFound,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// `unsupported_parameter`.
    UnsupportedParameter,
    /// Not a section 8.9 code: a trust mark that does not hold, as this crate reports it.
    InvalidTrustMark,
}

impl FederationCode {
    /// The code as the specification spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidSubject => "invalid_subject",
            Self::InvalidTrustAnchor => "invalid_trust_anchor",
            Self::InvalidTrustChain => "invalid_trust_chain",
            Self::InvalidMetadata => "invalid_metadata",
            Self::NotFound => "not_found",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::UnsupportedParameter => "unsupported_parameter",
            Self::InvalidTrustMark => "invalid_trust_mark",
        }
    }

    /// The HTTP status section 8.9 gives the code.
    pub const fn status(self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::InvalidClient => 401,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl std::fmt::Display for FederationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client registration error code: RFC 7591 section 3.2.2, `invalid_token` (RFC 6750) for
/// a bad initial access token, `invalid_request` (RFC 6749) for a request that cannot be
/// read, and the codes of OpenID Federation registration (`invalid_trust_chain`,
/// `invalid_metadata` for explicit, `invalid_request_object` for automatic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationCode {
    /// `invalid_redirect_uri`.
    InvalidRedirectUri,
    /// `invalid_client_metadata`.
    InvalidClientMetadata,
    /// `invalid_software_statement`.
    InvalidSoftwareStatement,
    /// `unapproved_software_statement`.
    UnapprovedSoftwareStatement,
    /// `invalid_token`: a missing or bad initial access token.
    InvalidToken,
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_trust_chain` (explicit registration).
    InvalidTrustChain,
    /// `invalid_metadata` (explicit registration).
    InvalidMetadata,
    /// `invalid_trust_mark`: a trust mark the registration relies on does not hold.
    InvalidTrustMark,
    /// `invalid_request_object` (automatic registration).
    InvalidRequestObject,
}

impl RegistrationCode {
    /// The code as its specification spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
            Self::InvalidToken => "invalid_token",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidTrustChain => "invalid_trust_chain",
            Self::InvalidMetadata => "invalid_metadata",
            Self::InvalidTrustMark => "invalid_trust_mark",
            Self::InvalidRequestObject => "invalid_request_object",
        }
    }

    /// The HTTP status: 401 for `invalid_token` (RFC 6750), 400 for the others (RFC 7591).
    pub const fn status(self) -> u16 {
        match self {
            Self::InvalidToken => 401,
            _ => 400,
        }
    }

    /// The code of a refused trust chain, metadata or trust mark.
    pub const fn of_federation(code: FederationCode) -> Self {
        match code {
            FederationCode::InvalidMetadata => Self::InvalidMetadata,
            FederationCode::InvalidTrustMark => Self::InvalidTrustMark,
            _ => Self::InvalidTrustChain,
        }
    }
}

impl std::fmt::Display for RegistrationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_what_serde_writes() {
        for code in [
            RegistrationCode::InvalidRedirectUri,
            RegistrationCode::InvalidClientMetadata,
            RegistrationCode::InvalidSoftwareStatement,
            RegistrationCode::UnapprovedSoftwareStatement,
            RegistrationCode::InvalidToken,
            RegistrationCode::InvalidRequest,
            RegistrationCode::InvalidTrustChain,
            RegistrationCode::InvalidMetadata,
            RegistrationCode::InvalidTrustMark,
            RegistrationCode::InvalidRequestObject,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            let read: RegistrationCode = serde_json::from_value(code.as_str().into()).unwrap();
            assert_eq!(read, code);
        }
        for code in [
            OAuthCode::InvalidRequest,
            OAuthCode::InvalidClient,
            OAuthCode::InvalidGrant,
            OAuthCode::UnauthorizedClient,
            OAuthCode::UnsupportedGrantType,
            OAuthCode::InvalidScope,
            OAuthCode::InvalidToken,
            OAuthCode::InsufficientScope,
            OAuthCode::InvalidDpopProof,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        for code in [
            FederationCode::InvalidRequest,
            FederationCode::InvalidClient,
            FederationCode::InvalidIssuer,
            FederationCode::InvalidSubject,
            FederationCode::InvalidTrustAnchor,
            FederationCode::InvalidTrustChain,
            FederationCode::InvalidMetadata,
            FederationCode::NotFound,
            FederationCode::ServerError,
            FederationCode::TemporarilyUnavailable,
            FederationCode::UnsupportedParameter,
            FederationCode::InvalidTrustMark,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn statuses_follow_the_specifications() {
        assert_eq!(OAuthCode::InvalidClient.token_endpoint_status(), 401);
        assert_eq!(OAuthCode::InvalidGrant.token_endpoint_status(), 400);
        assert_eq!(OAuthCode::InvalidDpopProof.token_endpoint_status(), 400);
        assert_eq!(OAuthCode::InvalidToken.resource_status(), 401);
        assert_eq!(OAuthCode::InvalidDpopProof.resource_status(), 401);
        assert_eq!(OAuthCode::InsufficientScope.resource_status(), 403);
        assert_eq!(FederationCode::NotFound.status(), 404);
        assert_eq!(RegistrationCode::InvalidToken.status(), 401);
        assert_eq!(RegistrationCode::InvalidClientMetadata.status(), 400);
        assert_eq!(FederationCode::InvalidTrustChain.status(), 400);
    }
}
