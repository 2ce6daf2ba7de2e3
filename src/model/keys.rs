//! Keys: participants' public keys in the keystore, and the state of the directory's own
//! signing keys.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{Error, Result};
use super::ids::{Kid, OrgId, Serial, SoftwareId};
use super::time::{Timestamp, rfc3339};

/// At most this many live keys per software product or organisation.
pub const MAX_KEYS: usize = 20;

/// Whose keys: a software product's or the organisation's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    Software(SoftwareId),
    Organisation(OrgId),
}

/// An uploaded key as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParticipantKey {
    pub kid: Kid,
    /// The public JWK as published.
    #[schema(value_type = Object)]
    pub jwk: Value,
    /// The signing certificate it was published from, if any.
    pub certificate_serial: Option<Serial>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it moved to the revoked set.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl ParticipantKey {
    /// "RSA" or "EC P-256" and the like, for people.
    pub fn kind(&self) -> String {
        let kty = self.jwk["kty"].as_str().unwrap_or("?");
        match self.jwk["crv"].as_str() {
            Some(crv) => format!("{kty} {crv}"),
            None => kty.to_owned(),
        }
    }
}

/// A directory signing key's place in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signs every new statement.
    Active,
    /// Signs nothing more; published while statements it signed are valid.
    Retired,
    /// No longer published.
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Removed => "removed",
        }
    }

    pub fn from_db(value: &str) -> Result<Self> {
        match value {
            "next" => Ok(Self::Next),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            "removed" => Ok(Self::Removed),
            other => Err(Error::Unexpected(anyhow::anyhow!(
                "unknown signing key state {other:?} stored"
            ))),
        }
    }

    /// Published in the JWKS.
    pub fn is_published(self) -> bool {
        !matches!(self, Self::Removed)
    }

    /// A key that signs or has signed and is still published: a statement it signed may
    /// still be handed out.
    pub fn vouches(self) -> bool {
        matches!(self, Self::Active | Self::Retired)
    }
}

/// A directory signing key as recorded (public parts only).
#[derive(Debug, Clone)]
pub struct SigningKey {
    pub kid: Kid,
    /// What the key signs: statements and events, or federation statements.
    pub purpose: KeyPurpose,
    /// `PS256` or `ES256`.
    pub alg: String,
    /// The public JWK, as JSON text.
    pub public_jwk: String,
    pub state: KeyState,
    pub created_at: Timestamp,
    /// When it stopped signing (retired).
    pub retired_at: Option<Timestamp>,
    /// Where the private half lives: `file:signing/KID.pem` (relative to the keys folder)
    /// or `pkcs11:token=LABEL;id=KID;type=private`. `None` for keys recorded before
    /// references were: files.
    pub reference: Option<String>,
    /// What the token said of the key when it was generated (JSON: `local`,
    /// `always_sensitive`, `never_extractable`); `None` for files.
    pub evidence: Option<String>,
}

impl SigningKey {
    /// Whether the private half is an object of a PKCS#11 token (else a file).
    pub fn in_token(&self) -> bool {
        self.reference
            .as_deref()
            .is_some_and(|r| r.starts_with(TOKEN_REFERENCE))
    }
}

/// How a reference to a key of a token starts.
pub const TOKEN_REFERENCE: &str = "pkcs11:";

/// Where a newly made key's private half lives, and what its token said of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// See [`SigningKey::reference`].
    pub reference: String,
    /// See [`SigningKey::evidence`].
    pub evidence: Option<String>,
}

/// One line of `keys list`.
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    pub kid: Kid,
    pub purpose: KeyPurpose,
    pub alg: String,
    pub state: KeyState,
    pub created_at: String,
    pub ssas_signed: i64,
    pub last_expiry: Option<String>,
    /// `file` or `token`.
    pub location: &'static str,
    /// What the token said of the key (see [`SigningKey::evidence`]).
    pub evidence: Option<String>,
}

/// What a directory key signs: software statements and change events (`ssa`, published in
/// the JWKS), or OpenID Federation statements (`federation`, published in the entity
/// configuration). Each purpose has its own active and next key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyPurpose {
    Ssa,
    Federation,
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssa => "ssa",
            Self::Federation => "federation",
        }
    }

    pub fn from_db(value: &str) -> Result<Self> {
        match value {
            "ssa" => Ok(Self::Ssa),
            "federation" => Ok(Self::Federation),
            other => Err(super::error::Error::Unexpected(anyhow::anyhow!(
                "the database holds an unknown key purpose {other:?}"
            ))),
        }
    }
}
