//! The error codes of the protocols the directory speaks, each with its wire name and its HTTP
//! status in one place: OAuth 2.0 (RFC 6749 section 5.2, RFC 6750 section 3.1, RFC 9449) and
//! OpenID Federation 1.0 (section 8.9). Services choose a code; the web edge writes it.

use serde::Serialize;

/// An OAuth 2.0 error code: of the token endpoint (RFC 6749 section 5.2, RFC 9449 section 5)
/// or of a protected resource (RFC 6750 section 3.1, RFC 9449 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthError {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidToken,
    InsufficientScope,
    InvalidDpopProof,
}

impl OAuthError {
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

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OpenID Federation error code (section 8.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FederationError {
    InvalidRequest,
    InvalidClient,
    InvalidIssuer,
    InvalidSubject,
    InvalidTrustAnchor,
    InvalidTrustChain,
    InvalidMetadata,
    NotFound,
    ServerError,
    TemporarilyUnavailable,
    UnsupportedParameter,
}

impl FederationError {
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

impl std::fmt::Display for FederationError {
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
            OAuthError::InvalidRequest,
            OAuthError::InvalidClient,
            OAuthError::InvalidGrant,
            OAuthError::UnauthorizedClient,
            OAuthError::UnsupportedGrantType,
            OAuthError::InvalidScope,
            OAuthError::InvalidToken,
            OAuthError::InsufficientScope,
            OAuthError::InvalidDpopProof,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        for code in [
            FederationError::InvalidRequest,
            FederationError::InvalidClient,
            FederationError::InvalidIssuer,
            FederationError::InvalidSubject,
            FederationError::InvalidTrustAnchor,
            FederationError::InvalidTrustChain,
            FederationError::InvalidMetadata,
            FederationError::NotFound,
            FederationError::ServerError,
            FederationError::TemporarilyUnavailable,
            FederationError::UnsupportedParameter,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn statuses_follow_the_specifications() {
        assert_eq!(OAuthError::InvalidClient.token_endpoint_status(), 401);
        assert_eq!(OAuthError::InvalidGrant.token_endpoint_status(), 400);
        assert_eq!(OAuthError::InvalidDpopProof.token_endpoint_status(), 400);
        assert_eq!(OAuthError::InvalidToken.resource_status(), 401);
        assert_eq!(OAuthError::InvalidDpopProof.resource_status(), 401);
        assert_eq!(OAuthError::InsufficientScope.resource_status(), 403);
        assert_eq!(FederationError::NotFound.status(), 404);
        assert_eq!(FederationError::InvalidTrustChain.status(), 400);
    }
}
