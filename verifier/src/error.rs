//! One error type whose codes are the RFC 7591 registration error codes.

use crate::protocol::RegistrationCode;
use serde::Serialize;

/// RFC 7591 section 3.2.2 error codes. A directory that cannot be reached, with nothing
/// usable cached, is `invalid_software_statement` (its keys) or
/// `unapproved_software_statement` (its status): the client cannot be trusted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The software statement is not a valid, trusted, current statement of the directory.
    InvalidSoftwareStatement,
    /// The statement is valid but the directory no longer approves the software.
    UnapprovedSoftwareStatement,
    /// A redirect URI is not allowed.
    InvalidRedirectUri,
    /// Some client metadata is invalid (including a client certificate that does not bind).
    InvalidClientMetadata,
}

impl ErrorCode {
    /// The code as RFC 7591 spells it.
    pub fn as_str(self) -> &'static str {
        RegistrationCode::from(self).as_str()
    }

    /// The exit code of `ssa-verify` for this error (1 is a configuration or input error, 2 a
    /// usage error).
    pub fn exit_code(self) -> i32 {
        match self {
            Self::InvalidSoftwareStatement => 10,
            Self::UnapprovedSoftwareStatement => 11,
            Self::InvalidRedirectUri => 12,
            Self::InvalidClientMetadata => 13,
        }
    }
}

impl From<ErrorCode> for RegistrationCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::InvalidSoftwareStatement => Self::InvalidSoftwareStatement,
            ErrorCode::UnapprovedSoftwareStatement => Self::UnapprovedSoftwareStatement,
            ErrorCode::InvalidRedirectUri => Self::InvalidRedirectUri,
            ErrorCode::InvalidClientMetadata => Self::InvalidClientMetadata,
        }
    }
}

/// Why a statement, registration or certificate was refused, with a description that tells
/// the client what was wrong. Serialises as the RFC 7591 error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
#[non_exhaustive]
pub struct VerifyError {
    /// The RFC 7591 error code.
    #[serde(rename = "error")]
    pub code: ErrorCode,
    /// What was wrong, for the client.
    #[serde(rename = "error_description")]
    pub description: String,
}

impl VerifyError {
    /// A refusal with this code and description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_software_statement`.
    pub fn statement(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidSoftwareStatement, description)
    }

    /// `unapproved_software_statement`.
    pub fn unapproved(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnapprovedSoftwareStatement, description)
    }

    /// `invalid_redirect_uri`.
    pub fn redirect_uri(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, description)
    }

    /// `invalid_client_metadata`.
    pub fn metadata(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, description)
    }

    /// The RFC 7591 error response body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"error\":\"{}\"}}", self.code.as_str()))
    }
}

/// A setting or source that cannot be used (a configuration problem, not a client's fault).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A document could not be fetched.
    #[error("cannot fetch {url}: {reason}")]
    Fetch {
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A document or setting is not usable.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What it is.
        what: String,
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialise_as_rfc7591_responses() {
        let e = VerifyError::redirect_uri("https://evil.example/cb is not in the statement");
        assert_eq!(
            e.to_json(),
            r#"{"error":"invalid_redirect_uri","error_description":"https://evil.example/cb is not in the statement"}"#
        );
        assert_eq!(e.code.exit_code(), 12);
    }
}
