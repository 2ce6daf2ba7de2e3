//! Push subscriptions of an organisation (RFC 8935 delivery of the change events).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Items, created};
use crate::model::subscription::{Delivery, SubscriptionState, SubscriptionView};
use crate::model::{OrgId, SubscriptionId};
use crate::services::Directory;
use crate::services::subscriptions::{self, NewSubscription};
use crate::web::auth::ApiUser;
use crate::web::error::{AppError, Problem};

/// A subscription to register.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionRequest {
    /// `push` (the default: the directory POSTs to `endpoint`) or `poll` (the receiver POSTs
    /// to the subscription's `poll_url`, RFC 8936).
    #[serde(default = "push")]
    method: Delivery,
    /// For push: an https URL that accepts RFC 8935 pushes (`POST`,
    /// `application/secevent+jwt`, answering 202). Loopback, private and link-local addresses
    /// are refused unless the operator allows them; the host's addresses are checked at every
    /// connection. Absent for poll.
    #[schema(example = "https://bank.example/ssa-events")]
    endpoint: Option<String>,
    /// Event kinds (`software-status`, ...) or event type URIs; omitted or empty for all.
    #[serde(default)]
    kinds: Vec<String>,
}

fn push() -> Delivery {
    Delivery::Push
}

/// A subscription's new state.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionChange {
    /// `paused` stops delivery; `active` resumes a paused or failing subscription from where
    /// delivery stood (`failing` is set by delivery, not asked for).
    #[schema(value_type = String, pattern = "^(active|paused)$")]
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

/// Register a push endpoint or a polled subscription
///
/// Admins and operators. Push: events committed from now on are POSTed to the endpoint one
/// SET per request, in cursor order, at least once (idempotent by `jti`), retried with
/// exponential backoff; after `push_retry_secs` of failures the subscription is `failing` and
/// the receiver catches up with `GET /events`. Poll: the receiver POSTs to `poll_url`.
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
        method: body.method,
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
        ("subscription_id" = SubscriptionId, Path, description = "The subscription.")),
    responses((status = 200, description = "The subscription.", body = SubscriptionView),
        (status = 404, description = "No such subscription, or not the caller's.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, SubscriptionId)>,
) -> Result<HttpResponse, AppError> {
    let (org, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(subscriptions::get(&state, actor, org, id).await?))
}

/// Pause or resume a push subscription
///
/// Admins and operators.
#[utoipa::path(patch, path = "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}", tag = "events", operation_id = "changeSubscription",
    params(("org_id" = OrgId, Path, description = "The organisation."),
        ("subscription_id" = SubscriptionId, Path, description = "The subscription.")),
    request_body = SubscriptionChange,
    responses((status = 200, description = "The subscription.", body = SubscriptionView),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription, or not the caller's.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A state other than active or paused.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn change(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, SubscriptionId)>,
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
        ("subscription_id" = SubscriptionId, Path, description = "The subscription.")),
    responses((status = 204, description = "Removed."),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription, or not the caller's.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn delete(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, SubscriptionId)>,
) -> Result<HttpResponse, AppError> {
    let (org, id) = path.into_inner();
    subscriptions::delete(&state, actor, org, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An error a receiver reports for one SET (RFC 8936 section 2.4.3).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct SetError {
    err: String,
    #[serde(default)]
    description: String,
}

/// A poll request (RFC 8936 section 2.4).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PollRequest {
    /// The jtis of SETs received and processed.
    #[serde(default)]
    ack: Vec<String>,
    /// SETs received but not usable, by jti; they count as received.
    #[serde(default)]
    set_errs: std::collections::BTreeMap<String, SetError>,
    /// At most this many SETs in the answer (0 to 1,000; 0 only acknowledges; default 100).
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000)]
    #[serde(default, deserialize_with = "whole_number")]
    max_events: Option<i64>,
    /// Answer at once even with no SETs (default false: wait up to 30 s for one).
    #[serde(default)]
    return_immediately: bool,
}

/// A poll answer (RFC 8936 section 2.5).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PollResponse {
    /// SETs by jti (compact JWS, `typ` `secevent+jwt`); unacknowledged ones come again.
    #[schema(value_type = Object)]
    sets: serde_json::Map<String, serde_json::Value>,
    /// Whether more SETs are waiting.
    more_available: bool,
}

/// Poll a subscription's events (RFC 8936)
///
/// For receivers of a `poll` subscription, with an API token of a member of its organisation.
/// Acknowledge what was received (`ack`, `setErrs`) and receive the SETs that follow, at
/// least once: a SET not acknowledged is answered again. The cursor moves over the run of
/// acknowledged SETs that follows it, so acknowledge every SET of an answer. Without
/// `returnImmediately` the answer waits up to 30 s for a first SET.
#[utoipa::path(post, path = "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}/poll", tag = "events", operation_id = "pollSubscription",
    params(("org_id" = OrgId, Path, description = "The organisation."),
        ("subscription_id" = SubscriptionId, Path, description = "The subscription.")),
    request_body = PollRequest,
    responses((status = 200, description = "The next SETs.", body = PollResponse),
        (status = 404, description = "No such subscription, or not the caller's.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A pushed or paused subscription.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Too many acknowledgements, or maxEvents out of range.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn poll(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, SubscriptionId)>,
    body: web::Json<PollRequest>,
) -> Result<HttpResponse, AppError> {
    let (org, id) = path.into_inner();
    let body = body.into_inner();
    let request = subscriptions::Poll {
        ack: body.ack,
        set_errors: body
            .set_errs
            .into_iter()
            .map(|(jti, e)| (jti, e.err, e.description))
            .collect(),
        max_events: body.max_events,
        return_immediately: body.return_immediately,
    };
    let answer = subscriptions::poll(&state, actor, org, id, request).await?;
    let sets = answer
        .sets
        .into_iter()
        .map(|(jti, set)| (jti, serde_json::Value::String(set)))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(PollResponse {
            sets,
            more_available: answer.more_available,
        }))
}

/// A JSON number that is a whole number, however it is written (`154` or `154.0`: JSON
/// Schema's `integer` admits both); anything else is refused.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "maxEvents: {number} is not a whole number"
        ))),
    }
}
