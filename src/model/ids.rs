//! Identifiers. Organisations, software products, users and API tokens are named by UUIDs;
//! certificates by their serial (upper-case hex) and keys by their `kid`. Each is its own type,
//! so one cannot be passed where another is meant; they are stored as text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random identifier.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The UUID itself.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::model::Error;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(value.trim())
                    .map(Self)
                    .map_err(|_| crate::model::Error::NotFound($what))
            }
        }
    };
}

uuid_id!(
    /// An organisation.
    OrgId,
    "organisation"
);
uuid_id!(
    /// A software product (its `software_id`).
    SoftwareId,
    "software"
);
uuid_id!(
    /// A user account.
    UserId,
    "user"
);
uuid_id!(
    /// An API token (not its secret).
    TokenId,
    "token"
);

uuid_id!(
    /// A push subscription to the change events.
    SubscriptionId,
    "subscription"
);

/// A certificate's serial number: upper-case hexadecimal, as the CRL and OCSP carry it. Read
/// from JSON or a path, it is checked as [`FromStr`] checks it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[0-9A-F]{2,40}$")]
pub struct Serial(String);

impl TryFrom<String> for Serial {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value
            .parse()
            .map_err(|_| format!("{value:?} is not a certificate serial (2 to 40 hex digits)"))
    }
}

impl From<Serial> for String {
    fn from(serial: Serial) -> Self {
        serial.0
    }
}

impl Serial {
    /// The serial of these DER INTEGER content octets.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hex::encode_upper(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The octets of the serial.
    pub fn to_bytes(&self) -> Vec<u8> {
        hex::decode(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Serial {
    type Err = crate::model::Error;

    /// Any case; a serial that cannot be one of ours names nothing (404).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.len() < 2
            || value.len() > 40
            || !value.len().is_multiple_of(2)
            || !value.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(crate::model::Error::NotFound("certificate"));
        }
        Ok(Self(value.to_ascii_uppercase()))
    }
}

/// A key's `kid`: any printable text of 1 to 128 characters. Read from JSON or a path, it is
/// checked as [`Kid::parse`] checks it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[^\\x00-\\x1f\\x7f]{1,128}$")]
pub struct Kid(String);

impl TryFrom<String> for Kid {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Kid::parse("kid", &value).map_err(|e| e.to_string())
    }
}

impl From<Kid> for String {
    fn from(kid: Kid) -> Self {
        kid.0
    }
}

impl Kid {
    /// A checked `kid`.
    pub fn parse(field: &str, value: &str) -> crate::model::Result<Self> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > 128 || value.chars().any(char::is_control) {
            return Err(crate::model::invalid(
                field,
                "1 to 128 printable characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// A `kid` read back from storage or computed (a thumbprint), taken as it is.
    pub fn from_trusted(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_uuids_and_refuse_anything_else_as_not_found() {
        let id = OrgId::random();
        assert_eq!(id.to_string().parse::<OrgId>().unwrap(), id);
        assert!(matches!(
            "x".parse::<OrgId>(),
            Err(crate::model::Error::NotFound("organisation"))
        ));
    }

    #[test]
    fn serials_and_kids_read_from_json_are_checked() {
        let serial: Serial = serde_json::from_str("\"0a1b\"").unwrap();
        assert_eq!(serial.as_str(), "0A1B");
        assert_eq!(serde_json::to_string(&serial).unwrap(), "\"0A1B\"");
        assert!(serde_json::from_str::<Serial>("\"zz\"").is_err());
        let kid: Kid = serde_json::from_str("\"key-1\"").unwrap();
        assert_eq!(serde_json::to_string(&kid).unwrap(), "\"key-1\"");
        assert!(serde_json::from_str::<Kid>("\"\"").is_err());
        assert!(serde_json::from_str::<Kid>("\"a\\u0000b\"").is_err());
        assert!(serde_json::from_str::<Kid>(&format!("\"{}\"", "k".repeat(129))).is_err());
    }

    #[test]
    fn serials_are_upper_case_hex() {
        let serial: Serial = "0a1b".parse().unwrap();
        assert_eq!(serial.as_str(), "0A1B");
        assert_eq!(serial.to_bytes(), [0x0a, 0x1b]);
        for bad in ["", "a", "zz", "123", &"0".repeat(42)] {
            assert!(bad.parse::<Serial>().is_err(), "{bad}");
        }
    }
}
