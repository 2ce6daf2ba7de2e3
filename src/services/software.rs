//! Software products: registration by members, edits under the re-approval rule, operator
//! decisions (which its certificates follow) and decisions on pending changes.

use std::sync::Arc;

use super::{Directory, access, certificates};
use crate::model::audit::{AuditEvent, Entry};
use crate::model::inputs::{Environment, optional_text, text};
use crate::model::organisation::Organisation;
use crate::model::page::{parse_time_position, time_position};
use crate::model::software::{
    ChangeDecision, Changes, Edited, PendingChange, Registration, Software, SoftwareFilter,
    optional_uri, redirect_uris, roles_within,
};
use crate::model::time::rfc3339_string;
use crate::model::{
    Access, Actor, Error, OrgId, Page, PageRequest, Result, SoftwareId, Status, Timestamp,
    Transition, UserId,
};
use crate::store::{self, DbConnection, write_transaction};

/// Registers a product for an organisation the actor belongs to. Status: pending, or active
/// straight away for sandbox software of an active organisation when `auto_approve_sandbox`.
pub async fn register(
    dir: &Arc<Directory>,
    actor: Actor,
    organisation: OrgId,
    input: Registration,
) -> Result<Software> {
    let at = dir.now();
    let auto_approve_sandbox = dir.config.auto_approve_sandbox;
    dir.db(move |conn| {
        let (org, _) = access::organisation(conn, &actor, organisation)?;
        if !matches!(org.status, Status::Pending | Status::Active) {
            return Err(Error::Conflict(format!(
                "the organisation is {}; it cannot register software",
                org.status
            )));
        }
        let environment = Environment::parse("environment", &input.environment)?;
        let status = if auto_approve_sandbox
            && environment == Environment::Sandbox
            && org.status == Status::Active
        {
            Status::Active
        } else {
            Status::Pending
        };
        let product = Software {
            id: SoftwareId::random(),
            organisation_id: org.id,
            client_id: uuid::Uuid::new_v4().simple().to_string(),
            client_name: text("client_name", &input.client_name, 200)?,
            description: optional_text("description", &input.description, 2000)?
                .unwrap_or_default(),
            version: optional_text("version", &input.version, 50)?.unwrap_or_default(),
            client_uri: optional_uri("client_uri", input.client_uri.as_deref())?,
            logo_uri: optional_uri("logo_uri", input.logo_uri.as_deref())?,
            tos_uri: optional_uri("tos_uri", input.tos_uri.as_deref())?,
            policy_uri: optional_uri("policy_uri", input.policy_uri.as_deref())?,
            redirect_uris: redirect_uris(&input.redirect_uris)?,
            roles: roles_within(&input.roles, &org)?,
            environment,
            status,
            status_reason: None,
            created_at: at,
            updated_at: at,
            pending_change: None,
        };
        write_transaction(conn, |tx| {
            store::software::insert(tx, &product)?;
            store::audit::record(
                tx,
                Entry::new(at, &actor, "software.register", "software", product.id)
                    .organisation(org.id)
                    .status(None, Some(Status::Pending.as_str()))
                    .details(serde_json::json!({"client_name": product.client_name})),
            )?;
            if status == Status::Active {
                store::audit::record(
                    tx,
                    Entry::new(at, &actor, "software.approve", "software", product.id)
                        .organisation(org.id)
                        .status(Some(Status::Pending.as_str()), Some(status.as_str()))
                        .reason(Some(
                            "sandbox software of an active organisation is approved automatically",
                        )),
                )?;
            }
            Ok(product)
        })
    })
    .await
}

/// Products the actor may see (all for operators, their organisations' for members), or
/// one organisation's (for its members and operators), narrowed by `filter`.
pub fn list_in(
    conn: &mut DbConnection,
    actor: &Actor,
    organisation: Option<OrgId>,
    filter: SoftwareFilter,
    page: PageRequest,
) -> Result<Page<Software>> {
    if let Some(org) = organisation {
        access::to_organisation(conn, actor, org)?;
        return Ok(store::software::list(conn, Some(org), None, filter, page)?);
    }
    let member = member_of(actor)?;
    Ok(store::software::list(conn, None, member, filter, page)?)
}

/// Whose organisations bound a list of products: nobody's for operators, the account's for
/// members.
fn member_of(actor: &Actor) -> Result<Option<UserId>> {
    if actor.is_operator() {
        Ok(None)
    } else {
        Ok(Some(actor.user_id().ok_or(Error::NotFound("software"))?))
    }
}

pub async fn list(
    dir: &Arc<Directory>,
    actor: Actor,
    organisation: Option<OrgId>,
    filter: SoftwareFilter,
    page: PageRequest,
) -> Result<Page<Software>> {
    dir.db(move |conn| list_in(conn, &actor, organisation, filter, page))
        .await
}

/// Where the products list goes on after `product` (its `next`).
pub fn position(product: &Software) -> String {
    time_position(product.created_at, &product.id)
}

/// The products of the filter after `after` (a list page's `next`, see [`position`]): a
/// keyset page, oldest first, as cheap as the first however deep.
pub async fn list_after(
    dir: &Arc<Directory>,
    actor: Actor,
    filter: SoftwareFilter,
    after: &str,
    per_page: i64,
) -> Result<Page<Software>> {
    let key = parse_time_position(after)?;
    let member = member_of(&actor)?;
    dir.db(move |conn| {
        let items = store::software::after(conn, member, &filter, Some(key), per_page)?;
        let total = store::software::count(conn, member, &filter)?;
        Ok(Page::keyset(items, per_page, total, position))
    })
    .await
}

/// A product as a line of the CSV export.
#[derive(Debug, serde::Serialize)]
struct Exported {
    id: SoftwareId,
    organisation_id: OrgId,
    client_id: String,
    client_name: String,
    version: String,
    environment: &'static str,
    /// Space-separated.
    roles: String,
    status: Status,
    /// Whether a change waits for an operator's decision.
    pending_change: bool,
    #[serde(with = "crate::model::time::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "crate::model::time::rfc3339")]
    updated_at: Timestamp,
}

const EXPORT_COLUMNS: &[&str] = &[
    "id",
    "organisation_id",
    "client_id",
    "client_name",
    "version",
    "environment",
    "roles",
    "status",
    "pending_change",
    "created_at",
    "updated_at",
];

/// The products of the filter the actor may see (all for operators, their organisations'
/// for members), oldest first, as CSV, streamed a keyset page at a time (see
/// [`super::export`]).
pub fn export(
    dir: Arc<Directory>,
    actor: Actor,
    filter: SoftwareFilter,
) -> Result<impl futures_util::Stream<Item = Result<bytes::Bytes>>> {
    let member = member_of(&actor)?;
    Ok(super::export::stream(
        dir,
        EXPORT_COLUMNS,
        move |conn, after| {
            let page = store::software::after(conn, member, &filter, after, super::export::PAGE)?;
            Ok(page
                .into_iter()
                .map(|product| Exported {
                    id: product.id,
                    organisation_id: product.organisation_id,
                    client_id: product.client_id,
                    client_name: product.client_name,
                    version: product.version,
                    environment: product.environment.as_str(),
                    roles: product
                        .roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    status: product.status,
                    pending_change: product.pending_change.is_some(),
                    created_at: product.created_at,
                    updated_at: product.updated_at,
                })
                .collect())
        },
        |row: &Exported| (row.created_at, row.id),
    ))
}

/// One product with its organisation and the actor's access; 404 for those who may not see
/// it.
pub fn get_in(
    conn: &mut DbConnection,
    actor: &Actor,
    id: SoftwareId,
) -> Result<(Software, Organisation, Access)> {
    access::software(conn, actor, id)
}

pub async fn get(
    dir: &Arc<Directory>,
    actor: Actor,
    id: SoftwareId,
) -> Result<(Software, Organisation, Access)> {
    dir.db(move |conn| get_in(conn, &actor, id)).await
}

/// Edits a pending or active product; members and operators.
///
/// The re-approval rule: once a product is active, a change that widens what its statements
/// claim needs a fresh decision. A move to `production` and any role it does not hold yet are
/// held as its pending change (statements keep the approved environment and roles) until an
/// operator approves or rejects it; everything else applies at once. A pending product has not
/// been decided yet, so its edits apply at once and the operator decides on what it then says.
/// Every change of a value that statements carry is audited with the old and new values.
pub async fn update(
    dir: &Arc<Directory>,
    actor: Actor,
    id: SoftwareId,
    changes: Changes,
) -> Result<Edited> {
    let at = dir.now();
    dir.db(move |conn| write_transaction(conn, |tx| update_in(tx, &actor, id, &changes, at)))
        .await
}

fn update_in(
    tx: &mut DbConnection,
    actor: &Actor,
    id: SoftwareId,
    changes: &Changes,
    at: Timestamp,
) -> Result<Edited> {
    let (current, organisation, _) = get_in(tx, actor, id)?;
    if !current.editable() {
        return Err(Error::Conflict(format!(
            "software that is {} cannot be edited",
            current.status
        )));
    }
    let mut next = current.clone();
    if let Some(v) = &changes.client_name {
        next.client_name = text("client_name", v, 200)?;
    }
    if let Some(v) = &changes.description {
        next.description = optional_text("description", v, 2000)?.unwrap_or_default();
    }
    if let Some(v) = &changes.version {
        next.version = optional_text("version", v, 50)?.unwrap_or_default();
    }
    if let Some(v) = &changes.client_uri {
        next.client_uri = optional_uri("client_uri", Some(v))?;
    }
    if let Some(v) = &changes.logo_uri {
        next.logo_uri = optional_uri("logo_uri", Some(v))?;
    }
    if let Some(v) = &changes.tos_uri {
        next.tos_uri = optional_uri("tos_uri", Some(v))?;
    }
    if let Some(v) = &changes.policy_uri {
        next.policy_uri = optional_uri("policy_uri", Some(v))?;
    }
    if let Some(v) = &changes.redirect_uris {
        next.redirect_uris = redirect_uris(v)?;
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
            next.environment = environment;
            held_environment = None;
        }
    }
    if let Some(v) = &changes.roles {
        let roles = roles_within(v, &organisation)?;
        if approved && roles.iter().any(|r| !current.roles.contains(r)) {
            held_roles = Some(roles);
        } else {
            next.roles = roles;
            held_roles = None;
        }
    }
    next.pending_change = match (held_environment, held_roles) {
        (None, None) => None,
        (environment, roles) => Some(match &current.pending_change {
            Some(previous) if previous.environment == environment && previous.roles == roles => {
                previous.clone()
            }
            _ => PendingChange {
                environment,
                roles,
                requested_by: actor.audit_name(),
                requested_at: rfc3339_string(&at),
            },
        }),
    };
    let held = next.pending_change.is_some()
        && (changes.environment.is_some() || changes.roles.is_some())
        && next.pending_change != current.pending_change;
    next.updated_at = at;
    let before = serde_json::to_value(&current).unwrap_or_default();
    let after = serde_json::to_value(&next).unwrap_or_default();
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
    if changed.is_empty() && next.pending_change == current.pending_change {
        return Ok(Edited {
            product: current,
            held: false,
        });
    }
    store::software::update(tx, &next)?;
    if !changed.is_empty() {
        store::audit::record(
            tx,
            Entry::new(at, actor, "software.update", "software", id)
                .organisation(current.organisation_id)
                .details(serde_json::Value::Object(changed)),
        )?;
    }
    if next.pending_change != current.pending_change {
        let entry = match &next.pending_change {
            Some(change) => Entry::new(at, actor, "software.change_request", "software", id)
                .details(requested(&current, change)),
            None => Entry::new(at, actor, "software.change_withdraw", "software", id)
                .reason(Some("the edit no longer asks for it")),
        };
        store::audit::record(tx, entry.organisation(current.organisation_id))?;
    }
    Ok(Edited {
        product: next,
        held,
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

/// Decides on a product's pending change. Approving applies the values asked for (the roles
/// must still be the organisation's) and audits them with the old ones; rejecting needs a
/// reason; withdrawing is for the product's members and operators.
pub async fn decide_change(
    dir: &Arc<Directory>,
    actor: Actor,
    id: SoftwareId,
    decision: ChangeDecision,
    reason: Option<String>,
) -> Result<Software> {
    let (at, shared) = (dir.now(), dir.clone());
    dir.db(move |conn| {
        let (_, _, access) = get_in(conn, &actor, id)?;
        if decision != ChangeDecision::Withdraw {
            access.require_operator()?;
        }
        let reason = optional_text("reason", reason.as_deref().unwrap_or(""), 1000)?;
        if decision == ChangeDecision::Reject && reason.is_none() {
            return Err(Error::Validation(
                "reason: required to reject a change".into(),
            ));
        }
        write_transaction(conn, |tx| {
            let (current, organisation, _) = get_in(tx, &actor, id)?;
            let change = current.pending_change.clone().ok_or_else(|| {
                Error::Conflict("no change of this software waits for a decision".into())
            })?;
            let mut next = current.clone();
            let action = match decision {
                ChangeDecision::Approve => {
                    if let Some(environment) = change.environment {
                        next.environment = environment;
                    }
                    if let Some(roles) = &change.roles {
                        let names: Vec<String> =
                            roles.iter().map(|r| r.as_str().to_owned()).collect();
                        next.roles = roles_within(&names, &organisation)?;
                    }
                    "software.change_approve"
                }
                ChangeDecision::Reject => "software.change_reject",
                ChangeDecision::Withdraw => "software.change_withdraw",
            };
            next.pending_change = None;
            next.updated_at = at;
            // Conditional on the change read: a concurrent edit or decision makes this a
            // conflict.
            if !store::software::update_if_pending(tx, &next, &change)? {
                return Err(Error::Conflict(
                    "the software changed meanwhile; reload and try again".into(),
                ));
            }
            store::audit::record(
                tx,
                Entry::new(at, &actor, action, "software", id)
                    .organisation(current.organisation_id)
                    .reason(reason.as_deref())
                    .details(requested(&current, &change)),
            )?;
            if decision != ChangeDecision::Withdraw {
                let page = format!("{}/software/{id}", shared.public_url);
                let verdict = if decision == ChangeDecision::Approve {
                    "change_approve"
                } else {
                    "change_reject"
                };
                let notice = |to: &str| {
                    super::notices::decided(
                        to,
                        "software product",
                        &current.client_name,
                        verdict,
                        reason.as_deref(),
                        page.clone(),
                    )
                };
                let composer = &shared.mailer.composer;
                super::mail::to_admins(tx, composer, current.organisation_id, notice, at)?;
            }
            Ok(next)
        })
    })
    .await
}

/// An operator's decision on a product. Approving needs an active organisation. Its
/// certificates follow in the same transaction, and the CRL and OCSP answers once it commits.
pub async fn transition(
    dir: &Arc<Directory>,
    actor: Actor,
    id: SoftwareId,
    transition: Transition,
    reason: Option<String>,
) -> Result<Software> {
    let (at, shared) = (dir.now(), dir.clone());
    let product = dir
        .db(move |conn| {
            let (_, _, access) = get_in(conn, &actor, id)?;
            access.require_operator()?;
            let reason = transition.reason(reason.as_deref())?;
            write_transaction(conn, |tx| {
                let (current, organisation, _) = get_in(tx, &actor, id)?;
                let next = current.status.apply(transition)?;
                if next == Status::Active && organisation.status != Status::Active {
                    return Err(Error::Conflict(format!(
                        "cannot {} software of an organisation that is {}",
                        transition.as_str(),
                        organisation.status
                    )));
                }
                if !store::software::set_status(
                    tx,
                    id,
                    current.status,
                    next,
                    reason.as_deref(),
                    at,
                )? {
                    return Err(Error::Conflict(
                        "the software changed meanwhile; reload and try again".into(),
                    ));
                }
                certificates::follow_owner_status(
                    tx,
                    &actor,
                    current.organisation_id,
                    Some(id),
                    next,
                    at,
                )?;
                store::audit::record(
                    tx,
                    Entry::new(
                        at,
                        &actor,
                        format!("software.{}", transition.as_str()),
                        "software",
                        id,
                    )
                    .organisation(current.organisation_id)
                    .status(Some(current.status.as_str()), Some(next.as_str()))
                    .reason(reason.as_deref()),
                )?;
                // The organisation's admins hear of the decision, in this transaction.
                let page = format!("{}/software/{id}", shared.public_url);
                let notice = |to: &str| {
                    super::notices::decided(
                        to,
                        "software product",
                        &current.client_name,
                        transition.as_str(),
                        reason.as_deref(),
                        page.clone(),
                    )
                };
                let composer = &shared.mailer.composer;
                super::mail::to_admins(tx, composer, current.organisation_id, notice, at)?;
                store::software::find(tx, id)?.ok_or(Error::NotFound("software"))
            })
        })
        .await?;
    certificates::changed(dir).await?;
    Ok(product)
}

/// A product's history, newest first; for its members and operators.
pub fn history_in(
    conn: &mut DbConnection,
    actor: &Actor,
    id: SoftwareId,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    get_in(conn, actor, id)?;
    Ok(store::audit::subject_history(conn, &id.to_string(), limit)?)
}

/// What a software page shows: the product, its organisation, the caller's access, its
/// history, its keys and its certificates.
pub struct SoftwareView {
    pub product: Software,
    pub org: Organisation,
    pub access: Access,
    pub history: Vec<AuditEvent>,
    pub keys: Vec<crate::model::keys::ParticipantKey>,
    pub certificates: Vec<crate::model::certificate::Certificate>,
    /// The latest statements issued for it.
    pub statements: Vec<crate::model::discovery::StatementSummary>,
    /// The transparency log's index of each statement (by jti) and certificate (by serial).
    pub log_indexes: std::collections::HashMap<String, i64>,
}

/// Everything a software page shows, in one database call; for members and operators.
pub async fn view(dir: &Arc<Directory>, actor: Actor, id: SoftwareId) -> Result<SoftwareView> {
    let at = dir.now();
    dir.db(move |conn| {
        let (product, org, access) = get_in(conn, &actor, id)?;
        let history = store::audit::subject_history(conn, &id.to_string(), 50)?;
        let keys =
            super::keystore::list_in(conn, &actor, crate::model::keys::KeyOwner::Software(id))?;
        let certificates = store::certificates::for_software(conn, id)?;
        let statements = super::statements::recent_in(conn, id, at)?;
        let serials: Vec<String> = certificates.iter().map(|c| c.serial.to_string()).collect();
        let references: Vec<&str> = statements
            .iter()
            .map(|s| s.jti.as_str())
            .chain(serials.iter().map(String::as_str))
            .collect();
        let log_indexes = super::transparency::indexes_of(conn, &references)?;
        Ok(SoftwareView {
            product,
            org,
            access,
            history,
            keys,
            certificates,
            statements,
            log_indexes,
        })
    })
    .await
}
