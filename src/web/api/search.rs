//! The operator's console: the search and the overview's numbers.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::model::overview::{Overview, Period};
use crate::model::search::{Kind, Results};
use crate::services::{Directory, search};
use crate::web::auth::ApiUser;
use crate::web::error::{AppError, Problem};
use crate::web::public::bounded;

/// What to search for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// A name (its start, in any case) or an identifier: org id, registration number,
    /// authority registration id, software id, client id, email, certificate serial,
    /// subject or SHA-256 fingerprint, kid, statement jti. At most 200 characters.
    #[param(max_length = 200)]
    q: String,
    /// Only this kind (with `after`: `organisation` or `software`).
    kind: Option<Kind>,
    /// A group's `next`: the next page of that kind's name matches.
    after: Option<String>,
    /// Hits of each kind, 1 to 100 (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Search everything
///
/// Operators only. Organisations, software products, accounts, certificates, participant
/// keys and software statements that the query names exactly, and organisations and
/// products whose name holds it (from three characters; a shorter query, whose name starts
/// with it), in any case, grouped by kind; name matches are keyset-paginated
/// (a group's `next`, passed back as `after` with its `kind`).
#[utoipa::path(get, path = "/api/v1/search", tag = "operators", operation_id = "search",
    params(SearchQuery),
    responses((status = 200, description = "What it found, by kind.", body = Results),
        (status = 403, description = "Not an operator.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An empty or too long query, or a bad cursor.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn search(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let limit = bounded(query.limit.as_deref(), "limit", 1..=100, 20)?;
    let results = search::search(&state, actor, query.q, query.kind, query.after, limit).await?;
    Ok(HttpResponse::Ok().json(results))
}

/// Which period the overview covers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct OverviewQuery {
    /// `7d` and `30d` by day, `12m` by month (default `30d`).
    #[param(value_type = Option<Period>)]
    period: Option<String>,
}

/// The ecosystem's health
///
/// Operators only. The numbers behind the portal's overview charts: statements issued by
/// environment and certificates issued and revoked by type (per day, or per month over 12
/// months), machine-access token requests by outcome, certificates expiring per week over
/// the next 90 days, applications and change requests waiting by age, organisations and
/// products by status, organisations by role, push subscriptions by state, the median time
/// to a decision and the push backlog.
#[utoipa::path(get, path = "/api/v1/overview", tag = "operators", operation_id = "overview",
    params(OverviewQuery),
    responses((status = 200, description = "Every chart's numbers.", body = Overview),
        (status = 403, description = "Not an operator.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a period.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn overview(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    query: web::Query<OverviewQuery>,
) -> Result<HttpResponse, AppError> {
    let period = match query.into_inner().period {
        None => Period::default(),
        Some(p) => Period::parse(&p)
            .ok_or_else(|| AppError::from(crate::model::invalid("period", "7d, 30d or 12m")))?,
    };
    let overview = crate::services::overview::overview(&state, actor, period).await?;
    Ok(HttpResponse::Ok().json(overview))
}
