//! Operator pages: the queue of pending applications and the audit log.

use actix_session::Session;
use actix_web::web;
use serde::Deserialize;

use super::pages::{
    AccountMailPage, AuditPage, ChartView, OverviewPage, Pager, QueuePage, SearchGroup, SearchPage,
    UsersPage,
};
use super::{
    PortalPath, PortalResult, SignedIn, SteppedUp, ctx, form_message, redirect, render, render_with,
};
use crate::model::Error;
use crate::model::account::User;
use crate::model::audit::AuditFilter;
use crate::model::software::SoftwareFilter;
use crate::model::{PageRequest, Status, UserId};
use crate::services::{self, Directory, accounts, organisations, software};
use crate::web::auth;
use crate::web::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/operator/queue", web::get().to(queue))
        .route(
            "/operator/issuers/{org_id}/release",
            web::post().to(release_issuer),
        )
        .route("/operator/users", web::get().to(users_page))
        .route(
            "/operator/users/{user_id}/{action}",
            web::post().to(set_user_disabled),
        )
        .route(
            "/operator/users/{user_id}/mail",
            web::get().to(account_mail),
        )
        .route(
            "/operator/users/{user_id}/second-factors/reset",
            web::post().to(reset_second_factors),
        )
        .route("/operator/search", web::get().to(search_page))
        .route("/operator/overview", web::get().to(overview_page))
        .route("/audit", web::get().to(audit_log))
        .route("/audit/export", web::get().to(audit_export));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OverviewQuery {
    period: String,
}

/// The operator's overview: the ecosystem's health as charts over a period, each with its
/// numbers as a table.
async fn overview_page(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    query: web::Query<OverviewQuery>,
) -> PortalResult {
    use crate::model::overview::Period;
    let period = match query.period.as_str() {
        "" => Period::default(),
        other => Period::parse(other)
            .ok_or_else(|| AppError::from(crate::model::invalid("period", "7d, 30d or 12m")))?,
    };
    let overview = services::overview::overview(&state, user.actor(), period).await?;
    // What waits for a decision, whatever its age: the landing page's way to the queue.
    let waiting = |series: &str| -> i64 {
        overview
            .charts
            .iter()
            .filter(|chart| chart.id == "waiting")
            .flat_map(|chart| chart.series.iter())
            .filter(|s| s.name == series)
            .flat_map(|s| s.values.iter())
            .sum()
    };
    let waiting = (
        waiting("organisations"),
        waiting("software products"),
        waiting("change requests"),
    );
    let charts = overview
        .charts
        .into_iter()
        .map(|chart| {
            let svg = super::charts::svg(&chart).map_err(|e| {
                AppError::from(Error::Unexpected(anyhow::anyhow!("drawing a chart: {e}")))
            })?;
            let rows = chart
                .labels
                .iter()
                .enumerate()
                .map(|(i, label)| {
                    (
                        label.clone(),
                        chart.series.iter().map(|s| s.values[i]).collect(),
                    )
                })
                .collect();
            Ok(ChartView {
                svg,
                rows,
                series: chart.series.iter().map(|s| s.name.clone()).collect(),
                id: chart.id,
                title: chart.title,
                axis: chart.axis,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    render(&OverviewPage {
        ctx: ctx(&session, Some(&user)),
        periods: Period::ALL
            .into_iter()
            .map(|p| (p.as_str(), p.label(), p == period))
            .collect(),
        charts,
        median_decision_hours: overview.median_decision_hours.map(|h| format!("{h:.1}")),
        push_backlog: overview.push_backlog,
        waiting,
        generated_at: overview.generated_at,
        current_at: overview.current_at,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SearchQuery {
    q: String,
    kind: Option<crate::model::search::Kind>,
    after: Option<String>,
}

/// The operator's search: everything a query names, grouped by kind, with links.
async fn search_page(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    query: web::Query<SearchQuery>,
) -> PortalResult {
    let query = query.into_inner();
    let actor = user.actor();
    actor.require_operator()?;
    let (results, error) = if query.q.trim().is_empty() {
        (None, None)
    } else {
        match services::search::search(&state, actor, query.q.clone(), query.kind, query.after, 20)
            .await
        {
            Ok(results) => (Some(results), None),
            Err(e) => (None, Some(form_message(e)?)),
        }
    };
    let next = |group: &crate::model::search::Group| {
        group.next.as_ref().map(|after| {
            format!(
                "/operator/search?{}",
                serde_html_form::to_string([
                    ("q", query.q.as_str()),
                    ("kind", group.kind.as_str()),
                    ("after", after.as_str()),
                ])
                .unwrap_or_default()
            )
        })
    };
    let groups = results
        .map(|r| {
            r.groups
                .into_iter()
                .map(|g| SearchGroup {
                    heading: g.kind.heading(),
                    kind: g.kind.as_str(),
                    next: next(&g),
                    items: g.items,
                })
                .collect()
        })
        .unwrap_or_default();
    render(&SearchPage {
        ctx: ctx(&session, Some(&user)),
        searched: !query.q.trim().is_empty() && error.is_none(),
        query: query.q,
        groups,
        error,
    })
}

#[derive(Deserialize)]
#[serde(default)]
struct QueueQuery {
    page: u32,
    software_page: u32,
}

impl Default for QueueQuery {
    fn default() -> Self {
        Self {
            page: 1,
            software_page: 1,
        }
    }
}

async fn queue(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    query: web::Query<QueueQuery>,
) -> PortalResult {
    let actor = user.actor();
    let orgs_page = PageRequest {
        page: query.page,
        ..PageRequest::default()
    };
    let software_page = PageRequest {
        page: query.software_page,
        ..PageRequest::default()
    };
    actor.require_operator()?;
    let orgs = organisations::list(
        &state,
        actor.clone(),
        crate::model::organisation::OrganisationFilter::status(Some(Status::Pending)),
        orgs_page,
    )
    .await?;
    let pending = SoftwareFilter {
        status: Some(Status::Pending),
        ..SoftwareFilter::default()
    };
    let products = software::list(&state, actor.clone(), None, pending, software_page).await?;
    let waiting = SoftwareFilter {
        pending_change: true,
        ..SoftwareFilter::default()
    };
    let changes = software::list(&state, actor.clone(), None, waiting, PageRequest::all()).await?;
    let contested = organisations::contested_issuers(&state, actor).await?;
    let organisations_pager = Pager::new(&orgs, "/operator/queue", "");
    let mut software_pager = Pager::new(&products, "/operator/queue", "");
    // The software list pages with its own parameter.
    software_pager.previous = products
        .has_previous()
        .then(|| format!("/operator/queue?software_page={}", products.page - 1));
    software_pager.next = products
        .has_next()
        .then(|| format!("/operator/queue?software_page={}", products.page + 1));
    render(&QueuePage {
        ctx: ctx(&session, Some(&user)),
        organisations: orgs.items,
        software: products.items,
        organisations_pager,
        software_pager,
        changes_total: changes.total,
        changes: changes.items,
        contested,
    })
}

#[derive(Deserialize)]
struct ReleaseForm {
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    reason: String,
}

/// Withdraws an organisation's proof of a contested issuer (the API's `POST
/// …/issuer-claims/release`).
async fn release_issuer(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(org): PortalPath<crate::model::OrgId>,
    SteppedUp(form): SteppedUp<ReleaseForm>,
) -> PortalResult {
    organisations::release_issuer(&state, user.actor(), org, form.issuer.clone(), form.reason)
        .await?;
    auth::set_flash(
        &session,
        format!(
            "The proof of {} was withdrawn; the organisation's claim stays, unproven.",
            form.issuer
        ),
    );
    Ok(redirect("/operator/queue"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuditQuery {
    action: String,
    actor: String,
    subject_id: String,
    organisation_id: String,
    page: Option<u32>,
}

/// The audit log of the filter as a CSV download (every event, streamed).
async fn audit_export(
    state: web::Data<Directory>,
    SignedIn(user): SignedIn,
    query: web::Query<AuditQuery>,
) -> PortalResult {
    let query = query.into_inner();
    let given = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = AuditFilter {
        action: given(&query.action),
        actor: given(&query.actor),
        subject_id: given(&query.subject_id),
        organisation_id: given(&query.organisation_id),
    };
    let stream = services::audit::export(state.into_inner(), user.actor(), filter)?;
    Ok(crate::web::api::csv_response("audit.csv", stream))
}

async fn audit_log(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    query: web::Query<AuditQuery>,
) -> PortalResult {
    let actor = user.actor();
    let query = query.into_inner();
    // The form sends every field; an empty one filters nothing.
    let given = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = AuditFilter {
        action: given(&query.action),
        actor: given(&query.actor),
        subject_id: given(&query.subject_id),
        organisation_id: given(&query.organisation_id),
    };
    let page = PageRequest {
        page: query.page.unwrap_or(1),
        per_page: 50,
    };
    let events = services::audit::list(&state, actor, filter, page).await?;
    let base_query = serde_html_form::to_string([
        ("action", &query.action),
        ("actor", &query.actor),
        ("subject_id", &query.subject_id),
        ("organisation_id", &query.organisation_id),
    ])
    .unwrap_or_default();
    let pager = Pager::new(&events, "/audit", &base_query);
    render(&AuditPage {
        ctx: ctx(&session, Some(&user)),
        events: events.items,
        action: query.action,
        actor: query.actor,
        subject_id: query.subject_id,
        organisation_id: query.organisation_id,
        pager,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UsersQuery {
    email: String,
    page: Option<u32>,
}

async fn render_users(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    query: UsersQuery,
    error: Option<String>,
) -> PortalResult {
    let actor = user.actor();
    let page = PageRequest {
        page: query.page.unwrap_or(1).max(1),
        per_page: 50,
    };
    let accounts = accounts::list_accounts(state, actor, Some(query.email.clone()), page).await?;
    let base_query = serde_html_form::to_string([("email", &query.email)]).unwrap_or_default();
    let pager = Pager::new(&accounts, "/operator/users", &base_query);
    let status = if error.is_some() {
        actix_web::http::StatusCode::CONFLICT
    } else {
        actix_web::http::StatusCode::OK
    };
    render_with(
        status,
        &UsersPage {
            ctx: ctx(session, Some(user)),
            accounts: accounts.items,
            filter: query.email,
            pager,
            error,
        },
    )
}

async fn users_page(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    query: web::Query<UsersQuery>,
) -> PortalResult {
    render_users(&state, &session, &user, query.into_inner(), None).await
}

/// An account's latest messages and how their delivery went (for support).
async fn account_mail(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(target): PortalPath<UserId>,
) -> PortalResult {
    let (account, messages) = services::mail::of_account(&state, user.actor(), target).await?;
    render(&AccountMailPage {
        ctx: ctx(&session, Some(&user)),
        email: account.email,
        messages,
    })
}

/// Removes a person's second factors and ends their sessions (they lost their key or phone
/// and their recovery codes); never the operator's own.
async fn reset_second_factors(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(target): PortalPath<UserId>,
    SteppedUp(_): SteppedUp<serde::de::IgnoredAny>,
) -> PortalResult {
    let outcome = crate::services::mfa::reset(&state, user.actor(), target)
        .await
        .map(|(email, removed)| {
            format!(
                "{email}: {removed} second factor(s) removed and every session ended; they log in with their password and add a new one."
            )
        });
    answered(&state, &session, &user, outcome).await
}

/// The end of an action on the accounts page: back to it with the message, or the page again
/// with the error beside the list.
async fn answered(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    outcome: Result<String, Error>,
) -> PortalResult {
    match outcome {
        Ok(message) => {
            auth::set_flash(session, message);
            Ok(redirect("/operator/users"))
        }
        Err(error) => {
            let message = form_message(error)?;
            render_users(state, session, user, UsersQuery::default(), Some(message)).await
        }
    }
}

async fn set_user_disabled(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath((target, action)): PortalPath<(UserId, String)>,
    SteppedUp(_): SteppedUp<serde::de::IgnoredAny>,
) -> PortalResult {
    let actor = user.actor();
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(AppError::Domain(Error::NotFound("action")).into()),
    };
    let outcome = accounts::set_disabled(&state, actor, target, disabled)
        .await
        .map(|account| {
            format!(
                "{} is now {}.",
                account.email,
                if disabled { "disabled" } else { "enabled" }
            )
        });
    answered(&state, &session, &user, outcome).await
}
