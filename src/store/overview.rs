//! The aggregate queries behind the operator's overview: counts grouped by day or month and
//! by a series, over a period, each one statement the database answers from its indexes
//! (migration `overview`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp as SqlTimestamp};

use super::DbConnection;
use crate::model::Timestamp;

/// How many rows fell in one bucket (a day `YYYY-MM-DD` or a month `YYYY-MM`) of a series.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Bucket {
    #[diesel(sql_type = Text)]
    pub bucket: String,
    #[diesel(sql_type = Text)]
    pub series: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// What to count: rows of `from` (a table or a join) whose `time` column falls in the
/// period, narrowed by `filter` (SQL, or empty), grouped by bucket and by `series` (an SQL
/// expression naming the series of a row).
#[derive(Debug, Clone, Copy)]
pub struct Counted<'a> {
    pub from: &'a str,
    pub time: &'a str,
    pub series: &'a str,
    pub filter: &'a str,
}

/// The buckets of `what` from `start` (included) to `end` (excluded), by month or by day.
pub fn buckets(
    conn: &mut DbConnection,
    what: Counted<'_>,
    start: Timestamp,
    end: Timestamp,
    by_month: bool,
) -> QueryResult<Vec<Bucket>> {
    let Counted {
        from,
        time,
        series,
        filter,
    } = what;
    let and = if filter.is_empty() {
        String::new()
    } else {
        format!(" AND ({filter})")
    };
    match conn {
        DbConnection::Sqlite(c) => {
            let format = if by_month { "%Y-%m" } else { "%Y-%m-%d" };
            diesel::sql_query(format!(
                "SELECT strftime('{format}', {time}) AS bucket, {series} AS series, \
                 COUNT(*) AS n FROM {from} WHERE {time} >= ? AND {time} < ?{and} \
                 GROUP BY 1, 2"
            ))
            .bind::<SqlTimestamp, _>(start)
            .bind::<SqlTimestamp, _>(end)
            .load(c)
        }
        DbConnection::Postgresql(c) => {
            let format = if by_month { "YYYY-MM" } else { "YYYY-MM-DD" };
            diesel::sql_query(format!(
                "SELECT to_char({time}, '{format}') AS bucket, ({series})::text AS series, \
                 COUNT(*) AS n FROM {from} WHERE {time} >= $1 AND {time} < $2{and} \
                 GROUP BY 1, 2"
            ))
            .bind::<SqlTimestamp, _>(start)
            .bind::<SqlTimestamp, _>(end)
            .load(c)
        }
    }
}

/// How many rows of `table` hold each value of `column` (a state, a status).
pub fn by_value(
    conn: &mut DbConnection,
    table: &str,
    column: &str,
) -> QueryResult<Vec<(String, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        value: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT {column} AS value, COUNT(*) AS n FROM {table} GROUP BY {column}"
    ))
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.value, r.n)).collect())
}

/// How many rows of `table` (`organisations` or `software`) hold each combination of roles
/// (as stored: a JSON array) in each status: one grouped pass over the table.
pub fn roles_by_status(
    conn: &mut DbConnection,
    table: &str,
) -> QueryResult<Vec<(String, String, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        roles: String,
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT roles, status, COUNT(*) AS n FROM {table} GROUP BY roles, status"
    ))
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.roles, r.status, r.n)).collect())
}

/// How many items started waiting on each day up to `end`: pending organisations' and
/// products' applications (since they applied), and products' change requests (since their
/// last change), as buckets of the series `organisations`, `software products` and
/// `change requests`.
pub fn waiting_by_day(conn: &mut DbConnection, end: Timestamp) -> QueryResult<Vec<Bucket>> {
    let start = time::PrimitiveDateTime::new(
        time::Date::from_calendar_date(2000, time::Month::January, 1).unwrap_or(end.date()),
        time::Time::MIDNIGHT,
    );
    let mut out = vec![];
    for what in [
        Counted {
            from: "organisations",
            time: "created_at",
            series: "'organisations'",
            filter: "status = 'pending'",
        },
        Counted {
            from: "software",
            time: "created_at",
            series: "'software products'",
            filter: "status = 'pending'",
        },
        Counted {
            from: "software",
            time: "updated_at",
            series: "'change requests'",
            filter: "pending_change IS NOT NULL",
        },
    ] {
        out.extend(buckets(conn, what, start, end, false)?);
    }
    Ok(out)
}

/// The hours from each organisation's application to the operator's decision on it
/// (approve or reject), for decisions made from `start` on.
pub fn decision_hours(conn: &mut DbConnection, start: Timestamp) -> QueryResult<Vec<f64>> {
    use super::schema::{audit_events, organisations};
    let rows: Vec<(Timestamp, Timestamp)> = audit_events::table
        .inner_join(organisations::table.on(organisations::id.eq(audit_events::subject_id)))
        .filter(audit_events::action.eq_any(["organisation.approve", "organisation.reject"]))
        .filter(audit_events::occurred_at.ge(start))
        .select((organisations::created_at, audit_events::occurred_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(applied, decided)| (decided - applied).as_seconds_f64() / 3600.0)
        .collect())
}

/// The active push subscriptions' backlog: events after their cursor, up to the newest.
pub fn push_backlog(conn: &mut DbConnection, newest: i64) -> QueryResult<i64> {
    use super::schema::event_subscriptions;
    let cursors: Vec<i64> = event_subscriptions::table
        .filter(event_subscriptions::delivery.eq("push"))
        .filter(event_subscriptions::state.eq("active"))
        .select(event_subscriptions::cursor)
        .load(conn)?;
    Ok(cursors.into_iter().map(|c| (newest - c).max(0)).sum())
}

/// The day (`YYYY-MM-DD`) until which `chart` is rolled up (excluded), if it is.
pub fn rolled_until(conn: &mut DbConnection, chart: &str) -> QueryResult<Option<String>> {
    use super::schema::overview_rolled;
    overview_rolled::table
        .find(chart)
        .select(overview_rolled::until_day)
        .first(conn)
        .optional()
}

/// The rolled-up counts of `chart` on the days from `from` (included) to `until` (excluded),
/// by day or by month (`YYYY-MM-DD` days sort as text).
pub fn rolled(
    conn: &mut DbConnection,
    chart: &str,
    from: &str,
    until: &str,
    by_month: bool,
) -> QueryResult<Vec<Bucket>> {
    use super::schema::overview_days as days;
    let rows: Vec<(String, String, i64)> = days::table
        .filter(days::chart.eq(chart))
        .filter(days::day.ge(from))
        .filter(days::day.lt(until))
        .select((days::day, days::series, days::n))
        .load(conn)?;
    let mut out: Vec<Bucket> = vec![];
    for (day, series, n) in rows {
        let bucket = if by_month { day[..7].to_owned() } else { day };
        match out
            .iter_mut()
            .find(|b| b.bucket == bucket && b.series == series)
        {
            Some(b) => b.n += n,
            None => out.push(Bucket { bucket, series, n }),
        }
    }
    Ok(out)
}

/// Stores `chart`'s counts of the days from its mark `from` (none: never rolled up) to
/// `until`, and moves its mark to `until`, on condition that the mark is still `from`; false
/// when another instance moved it first (nothing is written then). In the caller's write
/// transaction.
pub fn roll(
    tx: &mut DbConnection,
    chart: &str,
    counts: &[Bucket],
    from: Option<&str>,
    until: &str,
) -> QueryResult<bool> {
    use super::schema::{overview_days as days, overview_rolled as rolled};
    let moved = match from {
        Some(from) => diesel::update(
            rolled::table
                .filter(rolled::chart.eq(chart))
                .filter(rolled::until_day.eq(from)),
        )
        .set(rolled::until_day.eq(until))
        .execute(tx)?,
        None => match diesel::insert_into(rolled::table)
            .values((rolled::chart.eq(chart), rolled::until_day.eq(until)))
            .execute(tx)
        {
            Err(e) if super::is_unique_violation(&e) => 0,
            other => other?,
        },
    };
    if moved == 0 {
        return Ok(false);
    }
    for bucket in counts {
        diesel::insert_into(days::table)
            .values((
                days::chart.eq(chart),
                days::day.eq(&bucket.bucket),
                days::series.eq(&bucket.series),
                days::n.eq(bucket.n),
            ))
            .execute(tx)?;
    }
    Ok(true)
}
