//! The change-event feed: `GET /events`, public, in cursor order, with long-polling.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::model::event::Cursor;
use crate::model::invalid;
use crate::services::{self, Directory};
use crate::web::error::{AppError, Problem};

/// What a reader asks the feed for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedQuery {
    /// The `next_cursor` of the previous page (digits). Omitted, the feed starts at the
    /// oldest event kept.
    #[param(pattern = "^[0-9]{1,18}$")]
    after: Option<String>,
    /// How many events at most, 1 to 1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Seconds to wait for a first event when there is none yet, 0 to 30 (default 0).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 30)]
    wait: Option<String>,
}

/// One change event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FeedEvent {
    /// Its position in the feed (opaque).
    cursor: String,
    /// The SET's `jti`: the same event always has the same one.
    jti: String,
    /// The event type URI, the one member of the SET's `events` claim.
    event_type: String,
    /// The RFC 8417 Security Event Token, a JWS (`typ` `secevent+jwt`) signed with a key of
    /// the directory JWKS.
    set: String,
}

/// A page of the feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Feed {
    /// In cursor order.
    events: Vec<FeedEvent>,
    /// Ask `after` this next; the same cursor when the page is empty.
    next_cursor: String,
}

/// Change events
///
/// Every change a relying party may act on (organisation and product status and metadata,
/// participant keys, certificates, directory signing keys), as signed SETs in cursor order.
/// An event is never served after one with a larger cursor. With `wait`, an empty answer
/// waits up to that many seconds for the first event.
#[utoipa::path(get, path = "/events", tag = "public", operation_id = "events", security(()),
    params(FeedQuery),
    responses((status = 200, description = "A page of events.", body = Feed, headers(("Cache-Control" = String))),
        (status = 410, description = "The cursor is older than the retention: resynchronise from the snapshot.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed cursor, or a limit or wait out of range.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn feed(
    state: web::Data<Directory>,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let after = query
        .after
        .map(|c| c.parse::<Cursor>().map_err(|e| invalid("after", e)))
        .transpose()?;
    let limit = super::bounded(
        query.limit.as_deref(),
        "limit",
        1..=services::events::MAX_LIMIT,
        100,
    )?;
    let max_wait = services::events::MAX_WAIT.as_secs() as i64;
    let wait = super::bounded(query.wait.as_deref(), "wait", 0..=max_wait, 0)?;
    let wait = Duration::from_secs(wait as u64);
    let page = services::events::feed(&state.into_inner(), after, limit, wait).await?;
    let body = Feed {
        events: page
            .events
            .into_iter()
            .map(|e| FeedEvent {
                cursor: e.cursor.to_string(),
                jti: e.jti,
                event_type: e.kind.uri(),
                set: e.set,
            })
            .collect(),
        next_cursor: page.next_cursor.to_string(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}
