//! The append-only audit log. Every state change records an event in the same transaction as
//! the change itself; nothing updates or deletes events.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::DbConnection;
use crate::db::schema::audit_events;
use crate::directory::{Page, PageRequest, now};
use crate::error::AppError;

use super::access::Actor;

/// One recorded state change.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    #[serde(with = "super::rfc3339")]
    pub occurred_at: time::PrimitiveDateTime,
    pub actor: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub organisation_id: Option<String>,
    pub old_status: Option<String>,
    pub new_status: Option<String>,
    pub reason: Option<String>,
    pub details: Option<String>,
}

/// What happened, to what, by whom; build with [`Event::new`] and the `with_*` setters.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct Event {
    occurred_at: time::PrimitiveDateTime,
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

impl Event {
    pub fn new(actor: &Actor, action: &str, subject_type: &str, subject_id: &str) -> Self {
        Self {
            occurred_at: now(),
            actor: actor.audit_name(),
            action: action.to_owned(),
            subject_type: subject_type.to_owned(),
            subject_id: subject_id.to_owned(),
            organisation_id: None,
            old_status: None,
            new_status: None,
            reason: None,
            details: None,
        }
    }

    pub fn organisation(mut self, id: &str) -> Self {
        self.organisation_id = Some(id.to_owned());
        self
    }

    pub fn status(mut self, old: Option<&str>, new: Option<&str>) -> Self {
        self.old_status = old.map(str::to_owned);
        self.new_status = new.map(str::to_owned);
        self
    }

    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason.map(str::to_owned);
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details.to_string());
        self
    }

    /// Appends the event; call inside the transaction of the change it records.
    pub fn record(self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(audit_events::table)
            .values(&self)
            .execute(conn)
            .map(drop)
    }
}

/// Filters of the audit log; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub subject_id: Option<String>,
    pub organisation_id: Option<String>,
}

/// The audit log, newest first; operators only.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEvent>, AppError> {
    actor.require_operator()?;
    let query = || {
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
    };
    let total: i64 = query().count().get_result(conn)?;
    let items = query()
        .select(AuditEvent::as_select())
        .order(audit_events::id.desc())
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?;
    Ok(page.wrap(items, total))
}

/// The history of one organisation (its own events and those of its software and members),
/// newest first; for its members and operators, whom the caller has checked.
pub fn organisation_history(
    conn: &mut DbConnection,
    organisation_id: &str,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .filter(audit_events::organisation_id.eq(organisation_id))
        .select(AuditEvent::as_select())
        .order(audit_events::id.desc())
        .limit(limit)
        .load(conn)
}

/// The history of one subject (such as a software product), newest first.
pub fn subject_history(
    conn: &mut DbConnection,
    subject_id: &str,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .filter(audit_events::subject_id.eq(subject_id))
        .select(AuditEvent::as_select())
        .order(audit_events::id.desc())
        .limit(limit)
        .load(conn)
}
