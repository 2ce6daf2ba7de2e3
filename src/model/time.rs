//! Time as the directory stores it: UTC, whole microseconds (what both backends keep), and
//! written out as RFC 3339.

/// A stored instant: UTC without an offset.
pub type Timestamp = time::PrimitiveDateTime;

/// Where the directory reads the time: expiry, retention, leases, throttles, the times it
/// signs and records all come from one clock, held by the service context, so that a test
/// can move it forward instead of sleeping (as the verifier's `Clock` does for a bank).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in UTC, as stored.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        stored(time::OffsetDateTime::now_utc())
    }
}

/// The system's clock, moved forward by what [`ShiftedClock::advance`] added: time passes
/// as it does, and a test makes an hour pass at once.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    ahead_micros: std::sync::atomic::AtomicI64,
}

impl ShiftedClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.ahead_micros
            .fetch_add(micros, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        let ahead = self.ahead_micros.load(std::sync::atomic::Ordering::SeqCst);
        stored(time::OffsetDateTime::now_utc() + time::Duration::microseconds(ahead))
    }
}

/// An instant as stored: UTC, whole microseconds.
fn stored(at: time::OffsetDateTime) -> Timestamp {
    let at = at.replace_microsecond(at.microsecond()).unwrap_or(at);
    time::PrimitiveDateTime::new(at.date(), at.time())
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
