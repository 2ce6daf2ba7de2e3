//! The operator's overview: the ecosystem's health over a period, as charts (see
//! [`crate::store::overview`] for the queries).

use std::sync::Arc;

use super::Directory;
use crate::model::inputs::RegulatedRole;
use crate::model::overview::{Chart, Overview, Period};
use crate::model::{Actor, Result, Status, Timestamp};
use crate::store::overview::{self as counts, Counted};
use crate::store::{self, DbConnection, write_transaction};

/// The overview over `period`, for operators.
pub async fn overview(dir: &Arc<Directory>, actor: Actor, period: Period) -> Result<Overview> {
    actor.require_operator()?;
    let now = dir.now();
    let current = dir.overview_counts.get();
    dir.db(move |conn| overview_in(conn, period, now, current))
        .await
}

/// The counts of what stands now (organisations and products by status, organisations by
/// role, push subscriptions by state), which cost a pass over the products: counted in the
/// background ([`refresh_current`]) and shown with the time they were counted.
#[derive(Debug, Clone)]
pub struct Current {
    pub at: Timestamp,
    pub charts: Vec<Chart>,
}

/// The latest [`Current`] counts of this instance.
#[derive(Debug, Default)]
pub struct CurrentCounts(std::sync::RwLock<Option<Current>>);

impl CurrentCounts {
    pub fn get(&self) -> Option<Current> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn put(&self, current: Current) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(current);
    }
}

/// Counts what stands now and keeps it for the overview (every 30 seconds, in the
/// background).
pub async fn refresh_current(dir: &Arc<Directory>) -> Result<()> {
    let now = dir.now();
    let current = dir.db(move |conn| current_in(conn, now)).await?;
    dir.overview_counts.put(current);
    Ok(())
}

fn current_in(conn: &mut DbConnection, now: Timestamp) -> Result<Current> {
    let mut subscriptions = Chart::new(
        "push_subscriptions",
        "Push subscriptions by state",
        "subscriptions",
        "state",
        ["active", "failing", "paused"].map(String::from).to_vec(),
        &["subscriptions"],
    );
    for (state, n) in counts::by_value(conn, "event_subscriptions", "state")? {
        subscriptions.add("subscriptions", &state, n);
    }
    Ok(Current {
        at: now,
        charts: vec![
            by_status(conn)?,
            by_role(
                conn,
                "organisations",
                (
                    "organisations_by_role",
                    "Organisations by role",
                    "organisations",
                ),
            )?,
            by_role(
                conn,
                "software",
                (
                    "software_by_role",
                    "Software products by role",
                    "software products",
                ),
            )?,
            subscriptions,
        ],
    })
}

type Timed = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    Counted<'static>,
);

/// The charts counted over time: id, title, unit, series, and what is counted. Their closed
/// days are rolled up ([`roll_up`]); the rest is counted when asked.
const TIMED: [Timed; 5] = [
    (
        "statements_issued",
        "Software statements issued",
        "statements",
        &["sandbox", "production"],
        Counted {
            from: "issued_ssas",
            time: "issued_at",
            series: "environment",
            filter: "",
        },
    ),
    (
        "certificates_issued",
        "Certificates issued",
        "certificates",
        &["transport", "signing"],
        Counted {
            from: "certificates",
            time: "created_at",
            series: "cert_type",
            filter: "",
        },
    ),
    (
        "certificates_revoked",
        "Certificates revoked",
        "certificates",
        &["transport", "signing"],
        Counted {
            from: "certificates",
            time: "revoked_at",
            series: "cert_type",
            filter: "status = 'revoked'",
        },
    ),
    (
        "token_requests",
        "Machine-access token requests",
        "requests",
        &["issued", "refused"],
        Counted {
            from: "audit_events",
            time: "occurred_at",
            series: "CASE WHEN action = 'oauth.token.issue' THEN 'issued' ELSE 'refused' END",
            filter: "action IN ('oauth.token.issue', 'oauth.token.refuse')",
        },
    ),
    (
        "delivery_failures",
        "Change-event delivery failures",
        "failures",
        // DeliveryFailure's kinds: a push attempt that failed, an event the receiver refused,
        // events removed by retention before they were delivered.
        &["attempt", "refused", "expired"],
        Counted {
            from: "delivery_failures",
            time: "failed_at",
            series: "kind",
            filter: "",
        },
    ),
];

/// The buckets of a period ending today: their labels, and the times they span.
fn buckets_of(period: Period, now: Timestamp) -> (Vec<String>, Timestamp, Timestamp) {
    let today = now.date();
    let end = midnight(today.next_day().unwrap_or(today));
    match period {
        Period::Week | Period::Month => {
            let days = if period == Period::Week { 7 } else { 30 };
            let first = today - time::Duration::days(days - 1);
            let labels = (0..days)
                .map(|i| (first + time::Duration::days(i)).to_string())
                .collect();
            (labels, midnight(first), end)
        }
        Period::Year => {
            let (mut year, mut month) = (today.year(), today.month());
            let mut months = vec![];
            for _ in 0..12 {
                months.push((year, month));
                if month == time::Month::January {
                    year -= 1;
                }
                month = month.previous();
            }
            months.reverse();
            let (first_year, first_month) = months[0];
            let start = time::Date::from_calendar_date(first_year, first_month, 1)
                .map(midnight)
                .unwrap_or(end);
            let labels = months
                .into_iter()
                .map(|(y, m)| format!("{y:04}-{:02}", m as u8))
                .collect();
            (labels, start, end)
        }
    }
}

/// Fills `chart` with the counts of `what` over the period: the days its roll-up holds from
/// the rows of `overview_days`, the days after them (today, at least) counted from the table.
fn counted(
    conn: &mut DbConnection,
    mut chart: Chart,
    what: Counted<'_>,
    period: Period,
    start: Timestamp,
    end: Timestamp,
) -> Result<Chart> {
    let rolled_until = counts::rolled_until(conn, &chart.id)?
        .and_then(|day| time::Date::parse(&day, DAY).ok())
        .map(midnight);
    let split = rolled_until.unwrap_or(start).clamp(start, end);
    let mut buckets = counts::rolled(
        conn,
        &chart.id,
        &start.date().to_string(),
        &split.date().to_string(),
        period.by_month(),
    )?;
    if split < end {
        buckets.extend(counts::buckets(conn, what, split, end, period.by_month())?);
    }
    for bucket in buckets {
        chart.add(&bucket.series, &bucket.bucket, bucket.n);
    }
    Ok(chart)
}

/// Days as the roll-ups and the day buckets write them.
const DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn midnight(date: time::Date) -> Timestamp {
    time::PrimitiveDateTime::new(date, time::Time::MIDNIGHT)
}

/// How far back a chart's first roll-up reaches: beyond the longest period.
const ROLL_BACK_DAYS: i64 = 400;

/// Rolls every chart counted over time up to today (excluded; until five past midnight, up to
/// yesterday): the closed days since its
/// mark (or the last 400 days, the first time) counted in one grouped query and stored. Every
/// instance tries every minute; a conditional move of the mark decides who stores a day.
pub async fn roll_up(dir: &Arc<Directory>) -> Result<()> {
    // A day is closed five minutes after it ends: what was issued at its end has committed.
    let today = (dir.now() - time::Duration::minutes(5)).date();
    dir.db(move |conn| {
        for (id, _, _, _, what) in TIMED {
            let mark = counts::rolled_until(conn, id)?;
            let from = mark
                .as_deref()
                .and_then(|day| time::Date::parse(day, DAY).ok())
                .unwrap_or(today - time::Duration::days(ROLL_BACK_DAYS));
            if from >= today {
                continue;
            }
            let days = counts::buckets(conn, what, midnight(from), midnight(today), false)?;
            let until = today.to_string();
            write_transaction(conn, |tx| {
                Ok::<_, crate::model::Error>(counts::roll(tx, id, &days, mark.as_deref(), &until)?)
            })?;
        }
        // The failures' own rows are kept no longer than a first roll-up reaches back.
        store::subscriptions::prune_failures(
            conn,
            midnight(today - time::Duration::days(ROLL_BACK_DAYS)),
        )?;
        Ok(())
    })
    .await
}

/// The overview's numbers, read on one connection.
pub fn overview_in(
    conn: &mut DbConnection,
    period: Period,
    now: Timestamp,
    current: Option<Current>,
) -> Result<Overview> {
    let (labels, start, end) = buckets_of(period, now);
    let axis = if period.by_month() { "month" } else { "day" };
    let mut charts = Vec::with_capacity(TIMED.len() + 5);
    for (id, title, unit, series, what) in TIMED {
        let chart = Chart::new(id, title, unit, axis, labels.clone(), series);
        charts.push(counted(conn, chart, what, period, start, end)?);
    }
    charts.push(expiring(conn, now)?);
    charts.push(waiting(conn, now)?);
    let current = match current {
        Some(counted) => counted,
        None => current_in(conn, now)?,
    };
    let current_at = crate::model::time::rfc3339_string(&current.at);
    charts.extend(current.charts);
    let mut hours = counts::decision_hours(conn, start)?;
    hours.sort_by(f64::total_cmp);
    let median_decision_hours = match hours.len() {
        0 => None,
        n if n % 2 == 1 => Some(hours[n / 2]),
        n => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
    };
    let newest = store::events::newest(conn)?.0;
    Ok(Overview {
        period,
        generated_at: crate::model::time::rfc3339_string(&now),
        current_at,
        charts,
        median_decision_hours,
        push_backlog: counts::push_backlog(conn, newest)?,
    })
}

/// Good certificates expiring in each of the next 13 weeks (the renewal pressure), by type.
fn expiring(conn: &mut DbConnection, now: Timestamp) -> Result<Chart> {
    let weeks: Vec<time::Date> = (0..13)
        .map(|i| now.date() + time::Duration::weeks(i))
        .collect();
    let mut chart = Chart::new(
        "certificates_expiring",
        "Certificates expiring in the next 90 days",
        "certificates",
        "week",
        weeks.iter().map(time::Date::to_string).collect(),
        &["transport", "signing"],
    );
    let end = now + time::Duration::weeks(13);
    let what = Counted {
        from: "certificates",
        time: "not_after",
        series: "cert_type",
        filter: "status = 'good'",
    };
    for bucket in counts::buckets(conn, what, now, end, false)? {
        let Ok(day) = time::Date::parse(&bucket.bucket, DAY) else {
            continue;
        };
        let week = ((day - now.date()).whole_days() / 7).clamp(0, 12) as usize;
        chart.add(&bucket.series, &weeks[week].to_string(), bucket.n);
    }
    Ok(chart)
}

/// Applications and change requests waiting for a decision, by how long they have waited.
fn waiting(conn: &mut DbConnection, now: Timestamp) -> Result<Chart> {
    const AGES: [&str; 4] = [
        "today",
        "1 to 6 days ago",
        "7 to 29 days ago",
        "30 days ago or more",
    ];
    let mut chart = Chart::new(
        "waiting",
        "Waiting for a decision, by when they started waiting",
        "items",
        "age",
        AGES.map(String::from).to_vec(),
        &["organisations", "software products", "change requests"],
    );
    let end = now + time::Duration::days(1);
    for bucket in counts::waiting_by_day(conn, end)? {
        let Ok(since) = time::Date::parse(&bucket.bucket, DAY) else {
            continue;
        };
        let age = match (now.date() - since).whole_days() {
            ..1 => AGES[0],
            1..7 => AGES[1],
            7..30 => AGES[2],
            _ => AGES[3],
        };
        chart.add(&bucket.series, age, bucket.n);
    }
    Ok(chart)
}

/// Organisations and products by status.
fn by_status(conn: &mut DbConnection) -> Result<Chart> {
    let statuses = [
        Status::Pending,
        Status::Active,
        Status::Rejected,
        Status::Suspended,
        Status::Revoked,
    ];
    let mut chart = Chart::new(
        "by_status",
        "Organisations and software products by status",
        "count",
        "status",
        statuses.iter().map(|s| s.as_str().to_owned()).collect(),
        &["organisations", "software products"],
    );
    for (status, n) in counts::by_value(conn, "organisations", "status")? {
        chart.add("organisations", &status, n);
    }
    for (status, n) in counts::by_value(conn, "software", "status")? {
        chart.add("software products", &status, n);
    }
    Ok(chart)
}

/// The rows of `table` (`organisations` or `software`) by role: all of them, and the active
/// ones, from one grouped pass over the table.
fn by_role(
    conn: &mut DbConnection,
    table: &str,
    (id, title, unit): (&str, &str, &str),
) -> Result<Chart> {
    let mut chart = Chart::new(
        id,
        title,
        unit,
        "role",
        RegulatedRole::ALL
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        &["all", "active"],
    );
    for (roles, status, n) in counts::roles_by_status(conn, table)? {
        let roles: Vec<String> = serde_json::from_str(&roles).unwrap_or_default();
        for role in &roles {
            chart.add("all", role, n);
            if status == Status::Active.as_str() {
                chart.add("active", role, n);
            }
        }
    }
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_end_today_and_years_go_back_eleven_months_across_january() {
        let now = time::macros::datetime!(2026-02-10 15:00:00);
        let (labels, start, end) = buckets_of(Period::Week, now);
        assert_eq!(labels.first().unwrap(), "2026-02-04");
        assert_eq!(labels.last().unwrap(), "2026-02-10");
        assert_eq!(start, time::macros::datetime!(2026-02-04 00:00:00));
        assert_eq!(end, time::macros::datetime!(2026-02-11 00:00:00));
        let (labels, start, _) = buckets_of(Period::Year, now);
        assert_eq!(labels.len(), 12);
        assert_eq!(labels[0], "2025-03");
        assert_eq!(labels[11], "2026-02");
        assert_eq!(start, time::macros::datetime!(2025-03-01 00:00:00));
        assert_eq!(buckets_of(Period::Month, now).0.len(), 30);
    }
}
