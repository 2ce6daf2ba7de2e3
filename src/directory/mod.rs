//! The domain: organisations, software products, users and memberships, status transitions,
//! authorization and the audit log. Handlers call these functions; rules live here.

pub mod access;
pub mod audit;
pub mod discovery;
pub mod keystore;
pub mod organisations;
pub mod sessions;
pub mod software;
pub mod status;
pub mod types;
pub mod users;

use serde::{Deserialize, Serialize};

pub use access::{Access, Actor};
pub use status::{Status, Transition};

/// The current time in UTC, as stored (whole microseconds, which both backends keep).
pub fn now() -> time::PrimitiveDateTime {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.microsecond();
    let now = now.replace_microsecond(micros).unwrap_or(now);
    time::PrimitiveDateTime::new(now.date(), now.time())
}

/// A requested page of a list: 1-based `page`, `per_page` between 1 and 100.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: 20,
        }
    }
}

impl PageRequest {
    pub const MAX_PER_PAGE: u32 = 100;

    /// The page a client asked for, refused (422) when it is outside what the API documents:
    /// `page` from 1, `per_page` from 1 to [`Self::MAX_PER_PAGE`].
    pub fn checked(self) -> Result<Self, crate::error::AppError> {
        if self.page == 0 {
            return Err(types::invalid("page", "must be at least 1"));
        }
        if !(1..=Self::MAX_PER_PAGE).contains(&self.per_page) {
            return Err(types::invalid(
                "per_page",
                format!("must be between 1 and {}", Self::MAX_PER_PAGE),
            ));
        }
        Ok(self)
    }

    fn page(self) -> u32 {
        self.page.max(1)
    }

    pub fn limit(self) -> i64 {
        i64::from(self.per_page.clamp(1, Self::MAX_PER_PAGE))
    }

    pub fn offset(self) -> i64 {
        i64::from(self.page() - 1) * self.limit()
    }

    pub fn wrap<T>(self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            page: self.page(),
            per_page: self.limit() as u32,
            total: total.max(0) as u64,
        }
    }
}

/// One page of a list and where it sits in the whole.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn has_next(&self) -> bool {
        u64::from(self.page) * u64::from(self.per_page) < self.total
    }

    pub fn has_previous(&self) -> bool {
        self.page > 1
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            per_page: self.per_page,
            total: self.total,
        }
    }
}

/// Serializes stored UTC timestamps as RFC 3339.
pub mod rfc3339 {
    use serde::Serializer;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(
        value: &time::PrimitiveDateTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text = value
            .assume_utc()
            .format(&Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub mod option {
        use serde::Serializer;

        pub fn serialize<S: Serializer>(
            value: &Option<time::PrimitiveDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, serializer),
                None => serializer.serialize_none(),
            }
        }
    }
}

/// Parses a JSON column written by this directory.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    column: &str,
    value: &str,
) -> Result<T, crate::error::AppError> {
    serde_json::from_str(value).map_err(|e| {
        crate::error::AppError::Unexpected(anyhow::anyhow!("corrupt {column} column: {e}"))
    })
}

/// Writes a JSON column.
pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
