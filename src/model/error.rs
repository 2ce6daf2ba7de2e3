//! The one error type of the domain: what a service can refuse, and why, in words a caller
//! can act on. The web edge maps each variant to an HTTP status and a problem+json body;
//! the command line prints it.

/// Why an action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is invalid; the message names the field (`field: problem`).
    #[error("{0}")]
    Validation(String),
    /// The caller is not authenticated (or its credentials are not good).
    #[error("authentication required: {0}")]
    Unauthorized(String),
    /// A machine client's access token or DPoP proof is refused (RFC 6750 section 3.1, RFC
    /// 9449 section 7.1).
    #[error("{description}")]
    TokenRefused {
        error: super::protocol::OAuthCode,
        description: String,
    },
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The caller may do this once its account has a second factor (an organisation that
    /// requires one of its members).
    #[error("{0}")]
    SecondFactorRequired(String),
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The action conflicts with the current state (a transition, a duplicate, a race).
    #[error("{0}")]
    Conflict(String),
    /// What was asked for existed and is gone for good (an event cursor past the retention).
    #[error("{0}")]
    Gone(String),
    /// Too many attempts; try again later.
    #[error("{0}")]
    TooManyRequests(String),
    /// A dependency (the database pool, a signing key) is not available right now.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The key store (a PKCS#11 token) did not sign: nothing was issued or recorded; try
    /// again once it answers.
    #[error("signing unavailable: {0}")]
    SigningUnavailable(String),
    /// Anything else: a bug or a broken dependency, logged with its cause where it is
    /// rendered and shown as a generic message.
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

/// A validation failure: `field: problem`.
pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Error {
    Error::Validation(format!("{field}: {problem}"))
}

/// An unexpected failure with its cause.
pub fn unexpected(context: &str, cause: impl std::fmt::Display) -> Error {
    Error::Unexpected(anyhow::anyhow!("{context}: {cause}"))
}

/// The result of a domain operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
