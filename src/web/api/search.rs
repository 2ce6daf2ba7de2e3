//! The operator's search.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

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
/// products whose name starts with it, grouped by kind; name matches are keyset-paginated
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
