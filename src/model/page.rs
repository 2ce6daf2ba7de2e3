//! Pages of lists: what a client asks for and what it gets.

use serde::{Deserialize, Serialize};

use super::{Result, Timestamp, invalid};

/// A requested page of a list: 1-based `page`, `per_page` between 1 and 100.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageRequest {
    /// 1-based page number; 0 is refused with 422.
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    pub page: u32,
    /// Page size, between 1 and 100; other values are refused with 422.
    #[param(minimum = 1, maximum = 100, default = 20)]
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
    /// The last page number asked for (far past any list; larger numbers are refused).
    pub const MAX_PAGE: u32 = 1_000_000;

    /// The largest page a list has, for callers that want everything at once.
    pub const fn all() -> Self {
        Self {
            page: 1,
            per_page: Self::MAX_PER_PAGE,
        }
    }

    /// The page a client asked for, refused (422) when it is outside what the API documents:
    /// `page` from 1 to [`Self::MAX_PAGE`], `per_page` from 1 to [`Self::MAX_PER_PAGE`].
    pub fn checked(self) -> Result<Self> {
        if !(1..=Self::MAX_PAGE).contains(&self.page) {
            return Err(invalid(
                "page",
                format!("must be between 1 and {}", Self::MAX_PAGE),
            ));
        }
        if !(1..=Self::MAX_PER_PAGE).contains(&self.per_page) {
            return Err(invalid(
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
            next: None,
        }
    }
}

/// Where a list ordered by a time and an id goes on after `id` (a page's `next`, passed back as
/// `after`): `<unix microseconds>.<id>`. It holds the whole position, so any well-formed one
/// continues the list from there, with no lookup.
pub fn time_position(at: Timestamp, id: &impl std::fmt::Display) -> String {
    let micros = at.assume_utc().unix_timestamp_nanos() / 1000;
    format!("{micros}.{id}")
}

/// A [`time_position`] read back; 422 for what is not one.
pub fn parse_time_position<I: std::str::FromStr>(value: &str) -> Result<(Timestamp, I)> {
    let bad = || invalid("after", "must be the `next` of a page of this list");
    let (micros, id) = value.split_once('.').ok_or_else(bad)?;
    let micros: i128 = micros.parse().map_err(|_| bad())?;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(micros.saturating_mul(1000))
        .map_err(|_| bad())?;
    let id = id.parse().map_err(|_| bad())?;
    Ok((time::PrimitiveDateTime::new(at.date(), at.time()), id))
}

/// One page of a list and where it sits in the whole.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The 1-based page number.
    #[schema(minimum = 1)]
    pub page: u32,
    /// The page size applied.
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: u32,
    /// How many items match in all.
    pub total: u64,
    /// Where the list goes on: pass it as `after` for the page that follows, a page as cheap
    /// as the first however deep (the organisations, products and audit lists). Absent on
    /// the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
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
            next: self.next,
        }
    }

    /// A keyset page: the items after a client's `after`, `total` of the whole filter, and
    /// `next` (the last item's `key`) when the page is full.
    pub fn keyset(items: Vec<T>, per_page: i64, total: i64, key: impl Fn(&T) -> String) -> Self {
        let next = (items.len() as i64 == per_page)
            .then(|| items.last().map(&key))
            .flatten();
        Self {
            items,
            page: 1,
            per_page: per_page as u32,
            total: total.max(0) as u64,
            next,
        }
    }

    /// This page with `next` (its last item's `key`) when more follow: a client moves from
    /// numbered pages to keyset pages with it.
    pub fn continued(mut self, key: impl Fn(&T) -> String) -> Self {
        if self.has_next() {
            self.next = self.items.last().map(key);
        }
        self
    }
}
