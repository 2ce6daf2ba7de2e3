//! Time as the directory stores it: UTC, whole microseconds (what both backends keep), and
//! written out as RFC 3339.

/// A stored instant: UTC without an offset.
pub type Timestamp = time::PrimitiveDateTime;

/// The current time in UTC, as stored.
pub fn now() -> Timestamp {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.microsecond();
    let now = now.replace_microsecond(micros).unwrap_or(now);
    time::PrimitiveDateTime::new(now.date(), now.time())
}

/// A UTC instant as an RFC 3339 string.
pub fn rfc3339_string(value: &Timestamp) -> String {
    value
        .assume_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Serializes stored UTC timestamps as RFC 3339 (`#[serde(with = "rfc3339")]`).
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(
        value: &super::Timestamp,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text = value
            .assume_utc()
            .format(&Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<super::Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        let at = time::OffsetDateTime::parse(&text, &Rfc3339)
            .map_err(serde::de::Error::custom)?
            .to_offset(time::UtcOffset::UTC);
        Ok(time::PrimitiveDateTime::new(at.date(), at.time()))
    }

    /// The same for optional timestamps.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            value: &Option<super::super::Timestamp>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<super::super::Timestamp>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] super::super::Timestamp);
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
        }
    }
}
