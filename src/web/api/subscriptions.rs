//! Push subscriptions of an organisation (RFC 8935 delivery of the change events).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Items, created};
use crate::model::OrgId;
use crate::model::subscription::{SubscriptionState, SubscriptionView};
use crate::services::Directory;
use crate::services::subscriptions::{self, NewSubscription};
use crate::web::auth::ApiUser;
use crate::web::error::{AppError, Problem};

/// A push endpoint to register.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionRequest {
    /// An https URL that accepts RFC 8935 pushes (`POST`, `application/secevent+jwt`,
    /// answering 202). Loopback, private and link-local addresses are refused unless the
    /// operator allows them; the host's addresses are checked at every connection.
    #[schema(example = "https://bank.example/ssa-events")]
    endpoint: String,
    /// Event kinds (`software-status`, ...) or event type URIs; omitted or empty for all.
    #[serde(default)]
    kinds: Vec<String>,
}

/// A subscription's new state.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionChange {
    /// `paused` stops delivery; `active` resumes a paused or failing subscription from where
    /// delivery stood.
    state: SubscriptionState,
}

/// An organisation's push subscriptions
///
/// With their delivery status (last success, last error, backlog); members and operators.
#[utoipa::path(get, path = "/api/v1/organisations/{org_id}/subscriptions", tag = "events", operation_id = "listSubscriptions",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    responses((status = 200, description = "Its subscriptions.", body = Items<SubscriptionView>),
        (status = 404, description = "No such organisation, or not the caller's.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, AppError> {
    let items = subscriptions::list(&state, actor, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Items::of(items)))
}

/// Register a push endpoint
///
/// Admins and operators. Events committed from now on are POSTed to the endpoint one SET per
/// request, in cursor order, at least once (idempotent by `jti`), retried with exponential
/// backoff; after `push_retry_secs` of failures the subscription is `failing` and the receiver
/// catches up with `GET /events`.
#[utoipa::path(post, path = "/api/v1/organisations/{org_id}/subscriptions", tag = "events", operation_id = "createSubscription",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    request_body = SubscriptionRequest,
    responses((status = 201, description = "The subscription.", body = SubscriptionView,
            headers(("Location" = String, description = "The subscription's URL."))),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The endpoint is registered already, or one too many.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An endpoint that is not https, resolves to a non-public address, or an unknown kind.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn create(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    body: web::Json<SubscriptionRequest>,
) -> Result<HttpResponse, AppError> {
    let org = path.into_inner();
    let body = body.into_inner();
    let input = NewSubscription {
        endpoint: body.endpoint,
        kinds: body.kinds,
    };
    let view = subscriptions::create(&state, actor, org, input).await?;
    let location = format!("/api/v1/organisations/{org}/subscriptions/{}", view.id);
    Ok(created(location, &view))
}

/// One push subscription
///
/// With its delivery status; members and operators.
#[utoipa::path(get, path = "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}", tag = "events", operation_id = "getSubscription",
    params(("org_id" = OrgId, Path, description = "The organisation."),
        ("subscription_id" = String, Path, description = "The subscription.")),
    responses((status = 200, description = "The subscription.", body = SubscriptionView),
        (status = 404, description = "No such subscription, or not the caller's.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, String)>,
) -> Result<HttpResponse, AppError> {
    let (org, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(subscriptions::get(&state, actor, org, id).await?))
}

/// Pause or resume a push subscription
///
/// Admins and operators.
#[utoipa::path(patch, path = "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}", tag = "events", operation_id = "changeSubscription",
    params(("org_id" = OrgId, Path, description = "The organisation."),
        ("subscription_id" = String, Path, description = "The subscription.")),
    request_body = SubscriptionChange,
    responses((status = 200, description = "The subscription.", body = SubscriptionView),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription, or not the caller's.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A state other than active or paused.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn change(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, String)>,
    body: web::Json<SubscriptionChange>,
) -> Result<HttpResponse, AppError> {
    let (org, id) = path.into_inner();
    let view = subscriptions::set_state(&state, actor, org, id, body.into_inner().state).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Remove a push subscription
///
/// Admins and operators.
#[utoipa::path(delete, path = "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}", tag = "events", operation_id = "deleteSubscription",
    params(("org_id" = OrgId, Path, description = "The organisation."),
        ("subscription_id" = String, Path, description = "The subscription.")),
    responses((status = 204, description = "Removed."),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription, or not the caller's.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn delete(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, String)>,
) -> Result<HttpResponse, AppError> {
    let (org, id) = path.into_inner();
    subscriptions::delete(&state, actor, org, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
