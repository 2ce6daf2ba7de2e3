//! The operator's search: organisations, products, accounts, certificates, keys and
//! statements by any identifier a participant or a bank quotes, and by name. Every lookup
//! is an index's (migrations `search` and `name_search`): identifiers match exactly, names by
//! any part of three characters or more (trigram indexes: pg_trgm on PostgreSQL, FTS5 on
//! SQLite) or, shorter, by prefix, without regard to case, a page at a time by (name, id).

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::DbConnection;
use super::schema::{certificates, issued_ssas, organisations, participant_keys, software, users};
use crate::model::certificate::CertStatus;
use crate::model::search::{Hit, NameCursor};
use crate::model::{OrgId, Serial, SoftwareId, Status, UserId};

/// The index expression of a name column (its lowercase, in the C collation on PostgreSQL,
/// where a prefix is then a range of bytes, as SQLite compares already), and what goes
/// before and after a bound value to make the same of it: the database lowercases both, so
/// that they agree.
fn name_key(conn: &DbConnection, column: &str) -> (String, &'static str, &'static str) {
    match conn {
        DbConnection::Postgresql(_) => (
            format!("(lower({column}) COLLATE \"C\")"),
            "(lower(",
            ") COLLATE \"C\")",
        ),
        DbConnection::Sqlite(_) => (format!("lower({column})"), "lower(", ")"),
    }
}

/// A condition a name search puts on the rows of `QS`.
type Condition<QS> =
    Box<dyn BoxableExpression<QS, <DbConnection as Connection>::Backend, SqlType = Bool>>;

/// The shortest query found anywhere in a name (the trigram indexes' unit); a shorter one
/// matches the start of names.
pub const PART: usize = 3;

/// A name column searched: its table, column, the table's id column, and (on SQLite) the FTS5
/// index of the column (migration `name_search`).
#[derive(Clone, Copy)]
struct NameColumn {
    table: &'static str,
    column: &'static str,
    id: &'static str,
    fts: &'static str,
}

/// `q` as a LIKE pattern's literal part: its `%`, `_` and `\` escaped with `\`.
fn like_literal(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The index expression of a name and the conditions of a search on it: its lowercase
/// holds `q`'s (from [`PART`] characters on: the trigram indexes find it) or starts with it
/// (shorter: the name index's range), and the row comes after `after` in (name, id) order.
fn name_match<QS: 'static>(
    conn: &DbConnection,
    name: NameColumn,
    q: &str,
    after: Option<&NameCursor>,
) -> (String, Vec<Condition<QS>>) {
    let NameColumn {
        table,
        column,
        id,
        fts,
    } = name;
    let (key, open, close) = name_key(conn, &format!("{table}.{column}"));
    let mut conditions: Vec<Condition<QS>> = if q.chars().count() >= PART {
        let escape = match conn {
            DbConnection::Postgresql(_) => "",
            DbConnection::Sqlite(_) => " ESCAPE '\\'",
        };
        let mut contains: Vec<Condition<QS>> = vec![Box::new(
            sql::<Bool>(&format!("lower({table}.{column}) LIKE '%' || lower("))
                .bind::<Text, _>(like_literal(q))
                .sql(&format!(") || '%'{escape}")),
        )];
        if let DbConnection::Sqlite(_) = conn {
            // The FTS5 index finds the rows; the LIKE above checks each against its name.
            contains.push(Box::new(
                sql::<Bool>(&format!(
                    "{table}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH "
                ))
                .bind::<Text, _>(format!("\"{}\"", q.replace('"', "\"\"")))
                .sql(")"),
            ));
        }
        contains
    } else {
        vec![
            Box::new(
                sql::<Bool>(&format!("{key} >= {open}"))
                    .bind::<Text, _>(q.to_owned())
                    .sql(close),
            ),
            Box::new(
                sql::<Bool>(&format!("{key} < {open}"))
                    .bind::<Text, _>(format!("{q}\u{10FFFF}"))
                    .sql(close),
            ),
        ]
    };
    if let Some(after) = after {
        conditions.push(Box::new(
            sql::<Bool>(&format!("({key}, {table}.{id}) > ("))
                .bind::<Text, _>(after.name.clone())
                .sql(", ")
                .bind::<Text, _>(after.id.clone())
                .sql(")"),
        ));
    }
    (key, conditions)
}

/// SQLite's FTS5 name indexes (migration `name_search`).
const NAME_INDEXES: [&str; 2] = ["organisation_names", "software_names"];

/// Checks SQLite's name indexes against their tables and rebuilds one that fell behind (a
/// `VACUUM` renumbers the rows they point at); the names of those rebuilt. PostgreSQL's
/// indexes are the database's own: nothing to do there.
pub fn heal_name_indexes(conn: &mut DbConnection) -> QueryResult<Vec<&'static str>> {
    use diesel::connection::SimpleConnection;
    let DbConnection::Sqlite(c) = conn else {
        return Ok(vec![]);
    };
    let mut rebuilt = vec![];
    for index in NAME_INDEXES {
        // FTS5's check of an external-content index against its table fails on a difference.
        let check = format!("INSERT INTO {index} ({index}, rank) VALUES ('integrity-check', 1)");
        if c.batch_execute(&check).is_err() {
            c.batch_execute(&format!("INSERT INTO {index} ({index}) VALUES ('rebuild')"))?;
            rebuilt.push(index);
        }
    }
    Ok(rebuilt)
}

/// A page of name matches: the hits, and where the next page starts when more follow.
pub type NamePage = (Vec<Hit>, Option<NameCursor>);

/// Organisations whose name holds `q` (starts with it, when it is shorter than [`PART`]), in
/// any case, by (name, id) after `after`: up to `limit`.
pub fn organisations_named(
    conn: &mut DbConnection,
    q: &str,
    after: Option<&NameCursor>,
    limit: i64,
) -> QueryResult<NamePage> {
    let (key, conditions) = name_match(
        conn,
        NameColumn {
            table: "organisations",
            column: "legal_name",
            id: "id",
            fts: "organisation_names",
        },
        q,
        after,
    );
    let mut query = organisations::table
        .order(sql::<Text>(&format!("{key}, organisations.id")))
        .select((
            organisations::id,
            organisations::legal_name,
            organisations::status,
            sql::<Text>(&key),
        ))
        .limit(limit + 1)
        .into_boxed();
    for condition in conditions {
        query = query.filter(condition);
    }
    let mut rows: Vec<(OrgId, String, Status, String)> = query.load(conn)?;
    let next = page_end(&mut rows, limit, |(id, .., key)| NameCursor {
        name: key.clone(),
        id: id.to_string(),
    });
    let hits = rows
        .into_iter()
        .map(|(id, name, status, _)| Hit::organisation(id, name, status, "name"))
        .collect();
    Ok((hits, next))
}

/// Products whose name holds `q`, as [`organisations_named`].
pub fn software_named(
    conn: &mut DbConnection,
    q: &str,
    after: Option<&NameCursor>,
    limit: i64,
) -> QueryResult<NamePage> {
    let (key, conditions) = name_match(
        conn,
        NameColumn {
            table: "software",
            column: "client_name",
            id: "id",
            fts: "software_names",
        },
        q,
        after,
    );
    let mut query = software::table
        .order(sql::<Text>(&format!("{key}, software.id")))
        .select((
            software::id,
            software::client_name,
            software::status,
            software::organisation_id,
            sql::<Text>(&key),
        ))
        .limit(limit + 1)
        .into_boxed();
    for condition in conditions {
        query = query.filter(condition);
    }
    let mut rows: Vec<(SoftwareId, String, Status, OrgId, String)> = query.load(conn)?;
    let next = page_end(&mut rows, limit, |(id, .., key)| NameCursor {
        name: key.clone(),
        id: id.to_string(),
    });
    let hits = rows
        .into_iter()
        .map(|(id, name, status, org, _)| Hit::software(id, name, status, org, "name"))
        .collect();
    Ok((hits, next))
}

/// Cuts `rows` (read one past `limit`) to the page; the cursor of its last row when more
/// follow.
fn page_end<T>(
    rows: &mut Vec<T>,
    limit: i64,
    cursor: impl Fn(&T) -> NameCursor,
) -> Option<NameCursor> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    more.then(|| rows.last().map(cursor)).flatten()
}

/// Everything one identifier names exactly: an organisation by id, registration number or
/// authority registration id; a product by software id or client id; an account by email;
/// a certificate by serial, subject or SHA-256 fingerprint; a participant key by kid; a
/// statement by jti (with its product). At most `limit` of each kind.
pub fn by_identifier(conn: &mut DbConnection, q: &str, limit: i64) -> QueryResult<Vec<Hit>> {
    let mut hits = vec![];
    if let Ok(id) = q.parse::<OrgId>() {
        hits.extend(organisation(conn, id, "org id")?);
    }
    for by_authority in [false, true] {
        let mut query = organisations::table
            .select((
                organisations::id,
                organisations::legal_name,
                organisations::status,
            ))
            .order(organisations::id)
            .limit(limit)
            .into_boxed();
        query = match by_authority {
            false => query.filter(organisations::registration_number.eq(q.to_owned())),
            true => query.filter(organisations::authority_registration_id.eq(q.to_owned())),
        };
        let matched = match by_authority {
            false => "registration number",
            true => "authority registration id",
        };
        let rows: Vec<(OrgId, String, Status)> = query.load(conn)?;
        hits.extend(
            rows.into_iter()
                .map(|(id, name, status)| Hit::organisation(id, name, status, matched)),
        );
    }
    hits.extend(product(conn, q, false)?);
    hits.extend(product(conn, q, true)?);
    let accounts: Vec<(UserId, String, bool)> = users::table
        .filter(users::email.eq(q.to_lowercase()))
        .select((users::id, users::email, users::is_operator))
        .load(conn)?;
    hits.extend(
        accounts
            .into_iter()
            .map(|(id, email, operator)| Hit::account(id, email, operator)),
    );
    // A serial as the directory writes it (upper-case hex), a subject exactly, or the
    // SHA-256 of the DER (migration `certificate_fingerprints`).
    let serial = q
        .trim_start_matches("0x")
        .replace(':', "")
        .to_ascii_uppercase();
    let mut matched: Vec<(String, &str)> = certificates::table
        .filter(certificates::serial.eq(&serial))
        .select(certificates::serial)
        .load::<String>(conn)?
        .into_iter()
        .map(|s| (s, "serial"))
        .collect();
    matched.extend(
        certificates::table
            .filter(certificates::subject.eq(q))
            .select(certificates::serial)
            .limit(limit)
            .load::<String>(conn)?
            .into_iter()
            .map(|s| (s, "subject")),
    );
    let fingerprint = q.replace(':', "").to_ascii_lowercase();
    if fingerprint.len() == 64 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        let fingerprinted: Vec<String> = certificates::table
            .filter(certificates::sha256.eq(&fingerprint))
            .select(certificates::serial)
            .limit(limit)
            .load(conn)?;
        matched.extend(fingerprinted.into_iter().map(|s| (s, "sha256")));
    }
    let serials: Vec<&str> = matched.iter().map(|(s, _)| s.as_str()).collect();
    let certs: Vec<(Serial, String, CertStatus, OrgId, SoftwareId)> = certificates::table
        .filter(certificates::serial.eq_any(&serials))
        .select((
            certificates::serial,
            certificates::subject,
            certificates::status,
            certificates::organisation_id,
            certificates::software_id,
        ))
        .load(conn)?;
    hits.extend(
        certs
            .into_iter()
            .map(|(serial, subject, status, org, product)| {
                let how = matched
                    .iter()
                    .find(|(s, _)| s == serial.as_str())
                    .map_or("serial", |(_, how)| how);
                Hit::certificate(serial, subject, status, org, product, how)
            }),
    );
    let keys: Vec<(String, OrgId, Option<SoftwareId>, bool)> = participant_keys::table
        .filter(participant_keys::kid.eq(q))
        .select((
            participant_keys::kid,
            participant_keys::organisation_id,
            participant_keys::software_id,
            participant_keys::revoked_at.is_not_null(),
        ))
        .limit(limit)
        .load(conn)?;
    hits.extend(
        keys.into_iter()
            .map(|(kid, org, product, revoked)| Hit::key(kid, org, product, revoked)),
    );
    let statements: Vec<(String, SoftwareId, bool)> = issued_ssas::table
        .filter(issued_ssas::jti.eq(q))
        .select((
            issued_ssas::jti,
            issued_ssas::software_id,
            issued_ssas::revoked_at.is_not_null(),
        ))
        .load(conn)?;
    for (jti, product_id, revoked) in statements {
        let owner: Option<OrgId> = software::table
            .find(product_id)
            .select(software::organisation_id)
            .first(conn)
            .optional()?;
        hits.push(Hit::statement(jti, product_id, owner, revoked));
    }
    let mut seen = std::collections::HashSet::new();
    hits.retain(|hit| seen.insert((hit.kind, hit.id.clone())));
    Ok(hits)
}

fn organisation(conn: &mut DbConnection, id: OrgId, matched: &str) -> QueryResult<Vec<Hit>> {
    let rows: Vec<(OrgId, String, Status)> = organisations::table
        .filter(organisations::id.eq(id))
        .select((
            organisations::id,
            organisations::legal_name,
            organisations::status,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, status)| Hit::organisation(id, name, status, matched))
        .collect())
}

/// The product with this software id (`by_client` false) or client id.
fn product(conn: &mut DbConnection, q: &str, by_client: bool) -> QueryResult<Vec<Hit>> {
    let mut query = software::table
        .select((
            software::id,
            software::client_name,
            software::status,
            software::organisation_id,
        ))
        .into_boxed();
    query = match by_client {
        true => query.filter(software::client_id.eq(q.to_owned())),
        false => match q.parse::<SoftwareId>() {
            Ok(id) => query.filter(software::id.eq(id)),
            Err(_) => return Ok(vec![]),
        },
    };
    let rows: Vec<(SoftwareId, String, Status, OrgId)> = query.load(conn)?;
    let matched = if by_client {
        "client id"
    } else {
        "software id"
    };
    Ok(rows
        .into_iter()
        .map(|(id, name, status, org)| Hit::software(id, name, status, org, matched))
        .collect())
}
