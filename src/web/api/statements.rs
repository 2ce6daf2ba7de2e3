//! Revoking a software statement before its expiry.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::model::discovery::StatementStatus;
use crate::services::{Directory, statements};
use crate::web::auth::ApiUser;
use crate::web::error::{AppError, Problem};

/// Why a statement is revoked.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatementRevocation {
    /// Why, in 1 to 500 characters; it is published in the statement's status and event.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Revoke a statement
///
/// Members of the product's organisation and operators. `GET /status/ssa/{jti}` then answers
/// `revoked`, and the feed carries a `statement-revoked` event. Another organisation's
/// statement is not found; revoking twice is a conflict.
#[utoipa::path(post, path = "/api/v1/ssa/{jti}/revoke", tag = "software", operation_id = "revokeSsa",
    params(("jti" = String, Path, description = "The statement's jti.")),
    request_body = StatementRevocation,
    responses((status = 200, description = "The statement's status, revoked.", body = StatementStatus),
        (status = 404, description = "No such statement, or another organisation's.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn revoke(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<StatementRevocation>,
) -> Result<HttpResponse, AppError> {
    let status = statements::revoke(
        &state,
        actor,
        None,
        path.into_inner(),
        body.into_inner().reason,
    )
    .await?;
    Ok(HttpResponse::Ok().json(status))
}
