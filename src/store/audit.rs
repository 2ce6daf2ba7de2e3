//! The append-only `audit_events` table: events are inserted in the transaction of the change
//! they record, with the change event when there is one; nothing updates or deletes them.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::audit_events;
use crate::model::audit::{AuditEvent, AuditFilter, Entry};
use crate::model::event::Change;
use crate::model::{Page, PageRequest, Timestamp};

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct Row {
    id: i64,
    occurred_at: Timestamp,
    actor: String,
    action: String,
    subject_type: String,
    subject_id: String,
    organisation_id: Option<String>,
    old_status: Option<String>,
    new_status: Option<String>,
    reason: Option<String>,
    details: Option<String>,
}

impl From<Row> for AuditEvent {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            occurred_at: row.occurred_at,
            actor: row.actor,
            action: row.action,
            subject_type: row.subject_type,
            subject_id: row.subject_id,
            organisation_id: row.organisation_id,
            old_status: row.old_status,
            new_status: row.new_status,
            reason: row.reason,
            details: row.details,
        }
    }
}

/// The insertable form of an [`Entry`].
#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct NewEvent {
    occurred_at: Timestamp,
    actor: String,
    action: String,
    subject_type: String,
    subject_id: String,
    organisation_id: Option<String>,
    old_status: Option<String>,
    new_status: Option<String>,
    reason: Option<String>,
    details: Option<String>,
}

impl From<Entry> for NewEvent {
    fn from(entry: Entry) -> Self {
        Self {
            occurred_at: entry.occurred_at,
            actor: entry.actor,
            action: entry.action,
            subject_type: entry.subject_type.to_owned(),
            subject_id: entry.subject_id,
            organisation_id: entry.organisation_id,
            old_status: entry.old_status,
            new_status: entry.new_status,
            reason: entry.reason,
            details: entry.details,
        }
    }
}

/// Appends one event; call inside the transaction of the change it records.
/// When relying parties care about the change, its change event is written with it.
pub fn record(conn: &mut DbConnection, entry: Entry) -> QueryResult<()> {
    if let Some(change) = Change::of(&entry) {
        super::events::stage(conn, change, entry.occurred_at)?;
    }
    diesel::insert_into(audit_events::table)
        .values(NewEvent::from(entry))
        .execute(conn)
        .map(drop)
}

/// The events the filter keeps.
fn filtered(
    filter: &AuditFilter,
) -> audit_events::BoxedQuery<'static, <DbConnection as diesel::Connection>::Backend> {
    let mut query = audit_events::table.into_boxed();
    if let Some(action) = filter.action.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(audit_events::action.eq(action.to_owned()));
    }
    if let Some(who) = filter.actor.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(audit_events::actor.eq(who.to_lowercase()));
    }
    if let Some(subject) = filter.subject_id.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(audit_events::subject_id.eq(subject.to_owned()));
    }
    if let Some(org) = filter.organisation_id.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(audit_events::organisation_id.eq(org.to_owned()));
    }
    query
}

/// The log, newest first, filtered.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    page: PageRequest,
) -> QueryResult<Page<AuditEvent>> {
    let total: i64 = filtered(filter).count().get_result(conn)?;
    let items = filtered(filter)
        .select(Row::as_select())
        .order(audit_events::id.desc())
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?;
    Ok(page.wrap(items.into_iter().map(AuditEvent::from).collect(), total))
}

/// How many events match the filter.
pub fn count(conn: &mut DbConnection, filter: &AuditFilter) -> QueryResult<i64> {
    filtered(filter).count().get_result(conn)
}

/// Up to `limit` events of the filter, newest first, older than the event `before`: keyset
/// pages (of the list and the export), each as cheap as the first.
pub fn before(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut query = filtered(filter);
    if let Some(before) = before {
        query = query.filter(audit_events::id.lt(before));
    }
    let items = query
        .select(Row::as_select())
        .order(audit_events::id.desc())
        .limit(limit)
        .load(conn)?;
    Ok(items.into_iter().map(AuditEvent::from).collect())
}

/// The history of one organisation (its own events and those of its software and members),
/// newest first.
pub fn organisation_history(
    conn: &mut DbConnection,
    organisation_id: &str,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    Ok(audit_events::table
        .filter(audit_events::organisation_id.eq(organisation_id))
        .select(Row::as_select())
        .order(audit_events::id.desc())
        .limit(limit)
        .load(conn)?
        .into_iter()
        .map(AuditEvent::from)
        .collect())
}

/// The history of one subject (such as a software product), newest first.
pub fn subject_history(
    conn: &mut DbConnection,
    subject_id: &str,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    Ok(audit_events::table
        .filter(audit_events::subject_id.eq(subject_id))
        .select(Row::as_select())
        .order(audit_events::id.desc())
        .limit(limit)
        .load(conn)?
        .into_iter()
        .map(AuditEvent::from)
        .collect())
}
