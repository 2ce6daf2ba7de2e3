//! Software products: registration by members, edits, and operator decisions. A product is
//! usable only while its organisation is active too.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::software;
use crate::db::{DbConnection, write_transaction};
use crate::error::AppError;

use super::access::{Access, Actor};
use super::audit::Event;
use super::organisations::Organisation;
use super::status::{Status, Transition};
use super::types::{Environment, HttpsUrl, RegulatedRole, invalid, optional_text, text};
use super::{Page, PageRequest, from_json, now, to_json};

/// At most this many redirect URIs per product.
pub const MAX_REDIRECT_URIS: usize = 20;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = software, treat_none_as_null = true)]
pub(crate) struct SoftwareRow {
    id: String,
    organisation_id: String,
    client_id: String,
    client_name: String,
    description: String,
    version: String,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    tos_uri: Option<String>,
    policy_uri: Option<String>,
    redirect_uris: String,
    roles: String,
    environment: String,
    status: String,
    status_reason: Option<String>,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    pending_change: Option<String>,
}

/// A change to an approved product that waits for an operator's decision. Until it is
/// approved, statements carry the approved values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    /// The environment asked for (a move to production).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The roles asked for (at least one of them not approved yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RegulatedRole>>,
    /// Who asked, as the audit log names them.
    pub requested_by: String,
    /// When (RFC 3339).
    pub requested_at: String,
}

/// A software product as the API and the portal show it.
#[derive(Debug, Clone, Serialize)]
pub struct Software {
    pub id: String,
    pub organisation_id: String,
    pub client_id: String,
    pub client_name: String,
    pub description: String,
    pub version: String,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub roles: Vec<RegulatedRole>,
    pub environment: Environment,
    pub status: Status,
    pub status_reason: Option<String>,
    #[serde(with = "super::rfc3339")]
    pub created_at: time::PrimitiveDateTime,
    #[serde(with = "super::rfc3339")]
    pub updated_at: time::PrimitiveDateTime,
    /// A change waiting for an operator's decision; `null` when there is none.
    pub pending_change: Option<PendingChange>,
}

impl TryFrom<SoftwareRow> for Software {
    type Error = AppError;

    fn try_from(row: SoftwareRow) -> Result<Self, AppError> {
        Ok(Self {
            redirect_uris: from_json("software.redirect_uris", &row.redirect_uris)?,
            roles: from_json("software.roles", &row.roles)?,
            environment: Environment::parse("software.environment", &row.environment)?,
            status: Status::from_db(&row.status)?,
            pending_change: row
                .pending_change
                .as_deref()
                .map(|json| from_json("software.pending_change", json))
                .transpose()?,
            id: row.id,
            organisation_id: row.organisation_id,
            client_id: row.client_id,
            client_name: row.client_name,
            description: row.description,
            version: row.version,
            client_uri: row.client_uri,
            logo_uri: row.logo_uri,
            tos_uri: row.tos_uri,
            policy_uri: row.policy_uri,
            status_reason: row.status_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Software {
    /// Loads a product without any authorization check; callers check first.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Software>, AppError> {
        software::table
            .find(id)
            .select(SoftwareRow::as_select())
            .first(conn)
            .optional()?
            .map(Software::try_from)
            .transpose()
    }

    /// The status that matters to relying parties: a product of an organisation that is not
    /// active is not active either.
    pub fn effective_status(&self, organisation: Status) -> Status {
        Self::effective(self.status, organisation)
    }

    /// Whether the product may get statements, certificates and new keys: only an active
    /// product of an active organisation may.
    pub fn eligibility(&self, organisation: Status) -> Result<(), Ineligible> {
        if organisation != Status::Active {
            return Err(Ineligible::Organisation(organisation));
        }
        if self.status != Status::Active {
            return Err(Ineligible::Software(self.status));
        }
        Ok(())
    }

    /// The effective status of a product in `own` status of an organisation in `organisation`.
    pub fn effective(own: Status, organisation: Status) -> Status {
        match (own, organisation) {
            (Status::Active, Status::Active) => Status::Active,
            (Status::Active, Status::Pending) => Status::Pending,
            (Status::Active, other) => other,
            (own, _) => own,
        }
    }
}

/// What an active product of an active organisation may get, and nothing else may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// A software statement assertion.
    Statement,
    /// A transport or signing certificate.
    Certificate,
    /// A new key in the software's keystore.
    Key,
}

impl Grant {
    fn noun(self) -> &'static str {
        match self {
            Grant::Statement => "a software statement",
            Grant::Certificate => "a certificate",
            Grant::Key => "new keys in its keystore",
        }
    }
}

/// Why a product may not get a [`Grant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// Its organisation is not active.
    Organisation(Status),
    /// It is not active itself.
    Software(Status),
}

impl Ineligible {
    /// The refusal as the caller sees it: a conflict that says why and what would allow it.
    pub fn refusal(self, grant: Grant) -> AppError {
        AppError::Conflict(match self {
            Ineligible::Organisation(status) => format!(
                "the organisation is {status}; only software of an active organisation gets {}",
                grant.noun()
            ),
            Ineligible::Software(status) => format!(
                "the software is {status}; only active software gets {}",
                grant.noun()
            ),
        })
    }
}

/// A product registration as submitted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub client_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub tos_uri: Option<String>,
    #[serde(default)]
    pub policy_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub roles: Vec<String>,
    pub environment: String,
}

/// An edit: every field optional; an empty string clears an optional URI.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    pub client_name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
    pub environment: Option<String>,
}

fn redirect_uris(values: &[String]) -> Result<Vec<String>, AppError> {
    if values.is_empty() {
        return Err(invalid(
            "redirect_uris",
            "at least one redirect URI is required",
        ));
    }
    if values.len() > MAX_REDIRECT_URIS {
        return Err(invalid(
            "redirect_uris",
            format!("at most {MAX_REDIRECT_URIS} redirect URIs"),
        ));
    }
    let mut uris: Vec<String> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let uri = HttpsUrl::parse(&format!("redirect_uris[{i}]"), value)?.into_string();
        if uris.contains(&uri) {
            return Err(invalid(
                &format!("redirect_uris[{i}]"),
                format!("{uri:?} is listed twice"),
            ));
        }
        uris.push(uri);
    }
    Ok(uris)
}

fn roles_within(
    values: &[String],
    organisation: &Organisation,
) -> Result<Vec<RegulatedRole>, AppError> {
    let roles = RegulatedRole::parse_list("roles", values)?;
    if let Some(outside) = roles.iter().find(|r| !organisation.roles.contains(r)) {
        return Err(invalid(
            "roles",
            format!(
                "{outside} is not a role of the organisation (it holds {})",
                organisation
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(roles)
}

fn optional_uri(field: &str, value: Option<&str>) -> Result<Option<String>, AppError> {
    Ok(HttpsUrl::parse_optional(field, value)?.map(HttpsUrl::into_string))
}

/// Registers a product for an organisation the actor belongs to. Status: pending, or active
/// straight away for sandbox software of an active organisation when `auto_approve_sandbox`.
pub fn register(
    conn: &mut DbConnection,
    actor: &Actor,
    organisation_id: &str,
    input: &Registration,
    auto_approve_sandbox: bool,
) -> Result<Software, AppError> {
    let (organisation, _) = super::organisations::get(conn, actor, organisation_id)?;
    if !matches!(organisation.status, Status::Pending | Status::Active) {
        return Err(AppError::Conflict(format!(
            "the organisation is {}; it cannot register software",
            organisation.status
        )));
    }
    let environment = Environment::parse("environment", &input.environment)?;
    let status = if auto_approve_sandbox
        && environment == Environment::Sandbox
        && organisation.status == Status::Active
    {
        Status::Active
    } else {
        Status::Pending
    };
    let at = now();
    let row = SoftwareRow {
        id: uuid::Uuid::new_v4().to_string(),
        organisation_id: organisation.id.clone(),
        client_id: uuid::Uuid::new_v4().simple().to_string(),
        client_name: text("client_name", &input.client_name, 200)?,
        description: optional_text("description", &input.description, 2000)?.unwrap_or_default(),
        version: optional_text("version", &input.version, 50)?.unwrap_or_default(),
        client_uri: optional_uri("client_uri", input.client_uri.as_deref())?,
        logo_uri: optional_uri("logo_uri", input.logo_uri.as_deref())?,
        tos_uri: optional_uri("tos_uri", input.tos_uri.as_deref())?,
        policy_uri: optional_uri("policy_uri", input.policy_uri.as_deref())?,
        redirect_uris: to_json(&redirect_uris(&input.redirect_uris)?),
        roles: to_json(&roles_within(&input.roles, &organisation)?),
        environment: environment.as_str().into(),
        status: status.as_str().into(),
        status_reason: None,
        created_at: at,
        updated_at: at,
        pending_change: None,
    };
    write_transaction(conn, |tx| {
        diesel::insert_into(software::table)
            .values(&row)
            .execute(tx)?;
        Event::new(actor, "software.register", "software", &row.id)
            .organisation(&row.organisation_id)
            .status(None, Some(Status::Pending.as_str()))
            .details(serde_json::json!({"client_name": row.client_name}))
            .record(tx)?;
        if status == Status::Active {
            Event::new(actor, "software.approve", "software", &row.id)
                .organisation(&row.organisation_id)
                .status(Some(Status::Pending.as_str()), Some(status.as_str()))
                .reason(Some(
                    "sandbox software of an active organisation is approved automatically",
                ))
                .record(tx)?;
        }
        Software::try_from(row.clone())
    })
}

/// The organisation's products; for its members and operators.
pub fn list_for_organisation(
    conn: &mut DbConnection,
    actor: &Actor,
    organisation_id: &str,
    page: PageRequest,
) -> Result<Page<Software>, AppError> {
    Access::to_organisation(conn, actor, organisation_id)?;
    let organisation_id = organisation_id.to_owned();
    paged(conn, page, || {
        software::table
            .filter(software::organisation_id.eq(organisation_id.clone()))
            .into_boxed()
    })
}

/// One page of products, oldest first, from the query `filtered` builds.
fn paged<'a>(
    conn: &mut DbConnection,
    page: PageRequest,
    filtered: impl Fn() -> software::BoxedQuery<'a, crate::db::MultiBackend>,
) -> Result<Page<Software>, AppError> {
    let total: i64 = filtered().count().get_result(conn)?;
    let rows = filtered()
        .select(SoftwareRow::as_select())
        .order((software::created_at.asc(), software::id.asc()))
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(Software::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page.wrap(items, total))
}

/// Which products a list holds; every field narrows it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoftwareFilter {
    /// Only products in this status.
    pub status: Option<Status>,
    /// Only products whose change waits for an operator's decision.
    pub pending_change: bool,
}

/// Products the actor may see (all for operators, their organisations' for members), oldest
/// first.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: SoftwareFilter,
    page: PageRequest,
) -> Result<Page<Software>, AppError> {
    let member = (!actor.is_operator).then(|| actor.user_id.clone());
    paged(conn, page, || {
        let mut query = software::table.into_boxed();
        if let Some(user_id) = &member {
            query = query.filter(
                software::organisation_id.eq_any(
                    crate::db::schema::memberships::table
                        .filter(crate::db::schema::memberships::user_id.eq(user_id.clone()))
                        .select(crate::db::schema::memberships::organisation_id),
                ),
            );
        }
        if let Some(status) = filter.status {
            query = query.filter(software::status.eq(status.as_str()));
        }
        if filter.pending_change {
            query = query.filter(software::pending_change.is_not_null());
        }
        query
    })
}

/// Products waiting for an operator's decision, oldest first; operators only.
pub fn pending(
    conn: &mut DbConnection,
    actor: &Actor,
    page: PageRequest,
) -> Result<Page<Software>, AppError> {
    actor.require_operator()?;
    let filter = SoftwareFilter {
        status: Some(Status::Pending),
        ..SoftwareFilter::default()
    };
    list(conn, actor, filter, page)
}

/// Products whose change waits for an operator's decision, oldest first; operators only.
pub fn pending_changes(
    conn: &mut DbConnection,
    actor: &Actor,
    page: PageRequest,
) -> Result<Page<Software>, AppError> {
    actor.require_operator()?;
    let filter = SoftwareFilter {
        pending_change: true,
        ..SoftwareFilter::default()
    };
    list(conn, actor, filter, page)
}

/// One product with its organisation and the actor's access; 404 for those who may not see it.
pub fn get(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
) -> Result<(Software, Organisation, Access), AppError> {
    let product = Software::find(conn, id)?.ok_or(AppError::NotFound("software"))?;
    let access = Access::to_organisation(conn, actor, &product.organisation_id)
        .map_err(|_| AppError::NotFound("software"))?;
    let organisation = Organisation::find(conn, &product.organisation_id)?
        .ok_or(AppError::NotFound("software"))?;
    Ok((product, organisation, access))
}

/// The outcome of an edit.
#[derive(Debug, Clone)]
pub struct Edited {
    pub product: Software,
    /// Part of the edit waits for an operator's decision (see [`update`]).
    pub held: bool,
}

/// Edits a pending or active product; members and operators.
///
/// The re-approval rule: once a product is active, a change that widens what its statements
/// claim needs a fresh decision. A move to `production` and any role it does not hold yet are
/// held as its pending change (statements keep the approved environment and roles) until an
/// operator approves or rejects it; everything else applies at once. A pending product has not
/// been decided yet, so its edits apply at once and the operator decides on what it then says.
/// Every change of a value that statements carry is audited with the old and new values.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    changes: &Changes,
) -> Result<Edited, AppError> {
    write_transaction(conn, |tx| {
        let (current, organisation, _) = get(tx, actor, id)?;
        if !matches!(current.status, Status::Pending | Status::Active) {
            return Err(AppError::Conflict(format!(
                "software that is {} cannot be edited",
                current.status
            )));
        }
        let mut row = software::table
            .find(id)
            .select(SoftwareRow::as_select())
            .first(tx)?;
        let before = serde_json::to_value(&current).unwrap_or_default();
        if let Some(v) = &changes.client_name {
            row.client_name = text("client_name", v, 200)?;
        }
        if let Some(v) = &changes.description {
            row.description = optional_text("description", v, 2000)?.unwrap_or_default();
        }
        if let Some(v) = &changes.version {
            row.version = optional_text("version", v, 50)?.unwrap_or_default();
        }
        if let Some(v) = &changes.client_uri {
            row.client_uri = optional_uri("client_uri", Some(v))?;
        }
        if let Some(v) = &changes.logo_uri {
            row.logo_uri = optional_uri("logo_uri", Some(v))?;
        }
        if let Some(v) = &changes.tos_uri {
            row.tos_uri = optional_uri("tos_uri", Some(v))?;
        }
        if let Some(v) = &changes.policy_uri {
            row.policy_uri = optional_uri("policy_uri", Some(v))?;
        }
        if let Some(v) = &changes.redirect_uris {
            row.redirect_uris = to_json(&redirect_uris(v)?);
        }
        let approved = current.status == Status::Active;
        let mut held_environment = current.pending_change.as_ref().and_then(|p| p.environment);
        let mut held_roles = current
            .pending_change
            .as_ref()
            .and_then(|p| p.roles.clone());
        if let Some(v) = &changes.environment {
            let environment = Environment::parse("environment", v)?;
            if approved
                && environment == Environment::Production
                && current.environment != Environment::Production
            {
                held_environment = Some(environment);
            } else {
                row.environment = environment.as_str().into();
                held_environment = None;
            }
        }
        if let Some(v) = &changes.roles {
            let roles = roles_within(v, &organisation)?;
            if approved && roles.iter().any(|r| !current.roles.contains(r)) {
                held_roles = Some(roles);
            } else {
                row.roles = to_json(&roles);
                held_roles = None;
            }
        }
        let pending = match (held_environment, held_roles) {
            (None, None) => None,
            (environment, roles) => {
                let unchanged = current
                    .pending_change
                    .as_ref()
                    .is_some_and(|p| p.environment == environment && p.roles == roles);
                Some(match (&current.pending_change, unchanged) {
                    (Some(previous), true) => previous.clone(),
                    _ => PendingChange {
                        environment,
                        roles,
                        requested_by: actor.audit_name(),
                        requested_at: rfc3339_now(),
                    },
                })
            }
        };
        row.pending_change = pending.as_ref().map(to_json);
        let held = pending.is_some()
            && (changes.environment.is_some() || changes.roles.is_some())
            && pending != current.pending_change;
        row.updated_at = now();
        let updated = Software::try_from(row.clone())?;
        let after = serde_json::to_value(&updated).unwrap_or_default();
        let changed: serde_json::Map<String, serde_json::Value> = after
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| {
                !matches!(k.as_str(), "updated_at" | "pending_change")
                    && before.get(k.as_str()) != Some(v)
            })
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::json!({"from": before.get(k.as_str()), "to": v}),
                )
            })
            .collect();
        if changed.is_empty() && pending == current.pending_change {
            return Ok(Edited {
                product: current,
                held: false,
            });
        }
        diesel::update(software::table.find(id))
            .set(&row)
            .execute(tx)?;
        if !changed.is_empty() {
            Event::new(actor, "software.update", "software", id)
                .organisation(&current.organisation_id)
                .details(serde_json::Value::Object(changed))
                .record(tx)?;
        }
        if pending != current.pending_change {
            let event = match &pending {
                Some(change) => Event::new(actor, "software.change_request", "software", id)
                    .details(requested(&current, change)),
                None => Event::new(actor, "software.change_withdraw", "software", id)
                    .reason(Some("the edit no longer asks for it")),
            };
            event.organisation(&current.organisation_id).record(tx)?;
        }
        Ok(Edited {
            product: updated,
            held,
        })
    })
}

/// What a pending change asks for, as `{field: {from, to}}`.
fn requested(current: &Software, change: &PendingChange) -> serde_json::Value {
    let mut details = serde_json::Map::new();
    if let Some(environment) = change.environment {
        details.insert(
            "environment".into(),
            serde_json::json!({"from": current.environment, "to": environment}),
        );
    }
    if let Some(roles) = &change.roles {
        details.insert(
            "roles".into(),
            serde_json::json!({"from": current.roles, "to": roles}),
        );
    }
    serde_json::Value::Object(details)
}

fn rfc3339_now() -> String {
    now()
        .assume_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What happens to a product's pending change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDecision {
    /// An operator applies it.
    Approve,
    /// An operator refuses it (with a reason the members see).
    Reject,
    /// A member (or an operator) takes it back.
    Withdraw,
}

/// Decides on a product's pending change. Approving applies the values asked for (the roles
/// must still be the organisation's) and audits them with the old ones; rejecting needs a
/// reason; withdrawing is for the product's members and operators.
pub fn decide_change(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    decision: ChangeDecision,
    reason: Option<&str>,
) -> Result<Software, AppError> {
    let (_, _, access) = get(conn, actor, id)?;
    if decision != ChangeDecision::Withdraw {
        access.require_operator()?;
    }
    let reason = super::types::optional_text("reason", reason.unwrap_or(""), 1000)?;
    if decision == ChangeDecision::Reject && reason.is_none() {
        return Err(AppError::Validation(
            "reason: required to reject a change".into(),
        ));
    }
    write_transaction(conn, |tx| {
        let (current, organisation, _) = get(tx, actor, id)?;
        let change = current.pending_change.clone().ok_or_else(|| {
            AppError::Conflict("no change of this software waits for a decision".into())
        })?;
        let mut row = software::table
            .find(id)
            .select(SoftwareRow::as_select())
            .first(tx)?;
        let details = requested(&current, &change);
        let action = match decision {
            ChangeDecision::Approve => {
                if let Some(environment) = change.environment {
                    row.environment = environment.as_str().into();
                }
                if let Some(roles) = &change.roles {
                    let names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
                    row.roles = to_json(&roles_within(&names, &organisation)?);
                }
                "software.change_approve"
            }
            ChangeDecision::Reject => "software.change_reject",
            ChangeDecision::Withdraw => "software.change_withdraw",
        };
        row.pending_change = None;
        row.updated_at = now();
        // Conditional on the change read: a concurrent edit or decision makes this a conflict.
        let updated = diesel::update(
            software::table
                .filter(software::id.eq(id))
                .filter(software::pending_change.eq(to_json(&change))),
        )
        .set(&row)
        .execute(tx)?;
        if updated != 1 {
            return Err(AppError::Conflict(
                "the software changed meanwhile; reload and try again".into(),
            ));
        }
        Event::new(actor, action, "software", id)
            .organisation(&current.organisation_id)
            .reason(reason.as_deref())
            .details(details)
            .record(tx)?;
        Software::try_from(row)
    })
}

/// An operator's decision on a product. Approving needs an active organisation.
pub fn transition(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    transition: Transition,
    reason: Option<&str>,
) -> Result<Software, AppError> {
    let (_, _, access) = get(conn, actor, id)?;
    access.require_operator()?;
    let reason = transition.reason(reason)?;
    write_transaction(conn, |tx| {
        let (current, organisation, _) = get(tx, actor, id)?;
        let next = current.status.apply(transition)?;
        if next == Status::Active && organisation.status != Status::Active {
            return Err(AppError::Conflict(format!(
                "cannot {} software of an organisation that is {}",
                transition.as_str(),
                organisation.status
            )));
        }
        let updated = diesel::update(
            software::table
                .filter(software::id.eq(id))
                .filter(software::status.eq(current.status.as_str())),
        )
        .set((
            software::status.eq(next.as_str()),
            software::status_reason.eq(&reason),
            software::updated_at.eq(now()),
        ))
        .execute(tx)?;
        if updated != 1 {
            return Err(AppError::Conflict(
                "the software changed meanwhile; reload and try again".into(),
            ));
        }
        crate::pki::follow_owner_status(tx, actor, &current.organisation_id, Some(id), next)?;
        Event::new(
            actor,
            &format!("software.{}", transition.as_str()),
            "software",
            id,
        )
        .organisation(&current.organisation_id)
        .status(Some(current.status.as_str()), Some(next.as_str()))
        .reason(reason.as_deref())
        .record(tx)?;
        Software::find(tx, id)?.ok_or(AppError::NotFound("software"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_bounded_and_unique() {
        assert!(redirect_uris(&[]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("https://a.example/{i}")).collect();
        assert!(
            redirect_uris(&many)
                .unwrap_err()
                .to_string()
                .contains("at most 20")
        );
        assert!(redirect_uris(&many[..20]).is_ok());
        let twice = vec![
            "https://a.example/cb".to_owned(),
            "https://a.example/cb".to_owned(),
        ];
        assert!(redirect_uris(&twice).is_err());
        let fragment = vec!["https://a.example/cb#x".to_owned()];
        assert!(
            redirect_uris(&fragment)
                .unwrap_err()
                .to_string()
                .contains("redirect_uris[0]")
        );
    }
}
