//! The operator's overview: the ecosystem's health as charts, each the numbers behind it.

use serde::{Deserialize, Serialize};

/// The span a chart covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Period {
    /// The last 7 days, by day.
    #[serde(rename = "7d")]
    Week,
    /// The last 30 days, by day.
    #[default]
    #[serde(rename = "30d")]
    Month,
    /// The last 12 months, by month.
    #[serde(rename = "12m")]
    Year,
}

impl Period {
    pub const ALL: [Self; 3] = [Self::Week, Self::Month, Self::Year];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Week => "7d",
            Self::Month => "30d",
            Self::Year => "12m",
        }
    }

    /// How people name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Week => "7 days",
            Self::Month => "30 days",
            Self::Year => "12 months",
        }
    }

    /// Whether its buckets are months (else days).
    pub fn by_month(self) -> bool {
        self == Self::Year
    }
}

/// One line of numbers of a chart: a value for each of the chart's labels.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Series {
    pub name: String,
    pub values: Vec<i64>,
}

/// A chart and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Chart {
    /// Stable, for scripts and the page's anchors: `statements_issued`, ...
    pub id: String,
    pub title: String,
    /// What the values count.
    pub unit: String,
    /// What the labels are: `day`, `month`, `week`, `age`, `status`, ...
    pub axis: String,
    /// The x axis: days (`2026-12-05`), months (`2026-12`), weeks (the Monday), or names.
    pub labels: Vec<String>,
    pub series: Vec<Series>,
}

impl Chart {
    /// A chart of `labels` with the named series, all zero.
    pub fn new(
        id: &str,
        title: &str,
        unit: &str,
        axis: &str,
        labels: Vec<String>,
        series: &[&str],
    ) -> Self {
        let n = labels.len();
        Self {
            id: id.to_owned(),
            title: title.to_owned(),
            unit: unit.to_owned(),
            axis: axis.to_owned(),
            labels,
            series: series
                .iter()
                .map(|name| Series {
                    name: (*name).to_owned(),
                    values: vec![0; n],
                })
                .collect(),
        }
    }

    /// Adds `n` to the value of `series` at `label`; one not charted is ignored.
    pub fn add(&mut self, series: &str, label: &str, n: i64) {
        let Some(at) = self.labels.iter().position(|l| l == label) else {
            return;
        };
        if let Some(line) = self.series.iter_mut().find(|s| s.name == series) {
            line.values[at] += n;
        }
    }
}

/// Every chart of the overview, over one period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub period: Period,
    /// When the numbers were read (RFC 3339).
    pub generated_at: String,
    /// When what stands now (the charts by status, role and state) was counted: every 30
    /// seconds, in the background (RFC 3339).
    pub current_at: String,
    pub charts: Vec<Chart>,
    /// The median time from an application to an operator's decision on it, in hours, over
    /// the period (none when nothing was decided).
    pub median_decision_hours: Option<f64>,
    /// Change events the active push subscriptions have yet to deliver, now.
    pub push_backlog: i64,
}
