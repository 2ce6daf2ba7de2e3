//! The registrar as the authorization server's client store: `GET /clients/{client_id}` (the
//! client's effective metadata and status, with an `ETag`), `GET /clients/{client_id}/status`
//! and `GET /clients/changes` (what changed, long-polled), behind the clients token.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Failure, RegistrationError, State, bearer, stopped_reason, store};

/// The longest a poll of the changes waits for one.
const MAX_WAIT_SECS: u64 = 30;

/// How often a waiting poll looks at the database for changes another instance wrote.
const RECHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether a request carries the clients token, when one is configured.
pub(super) fn allowed(state: &State, req: &HttpRequest) -> bool {
    match &state.clients_token {
        None => true,
        Some(expected) => bearer(req).is_some_and(|t| store::hash(&t) == *expected),
    }
}

/// The refusal of a request without the clients token.
pub(super) fn refused() -> Failure {
    Failure::Refused(RegistrationError::token(
        "reading clients needs the registrar's clients token",
    ))
}

/// `status` and, when disabled, `reason`.
fn status_fields(document: &mut serde_json::Map<String, Value>, reason: Option<String>) {
    document.insert(
        "status".into(),
        json!(if reason.is_some() {
            "disabled"
        } else {
            "active"
        }),
    );
    if let Some(reason) = reason {
        document.insert("reason".into(), json!(reason));
    }
}

/// The client's document as the authorization server needs it: its registered metadata
/// (RFC 7591 names) with `client_id`, `client_id_issued_at`, `software_id`, `org_id`, the
/// directory (`issuer`), `status` (`active` or `disabled`, with the `reason`), and
/// `client_secret_sha256` where it has a secret (the secret itself is never kept); `None`
/// when unknown or deleted.
fn document(state: &State, client_id: &str) -> anyhow::Result<Option<Value>> {
    if let Some(sealer) = &state.sealer {
        // A stateless registrar opens the client id it sealed.
        let Some(registration) = sealer.open(client_id) else {
            return Ok(None);
        };
        let mut document = registration
            .get("m")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        document.remove("client_secret");
        document.insert("client_id".into(), json!(client_id));
        document.insert("client_id_issued_at".into(), registration["iat"].clone());
        for (from, to) in [("sid", "software_id"), ("oid", "org_id"), ("iss", "issuer")] {
            if let Some(value) = registration.get(from).filter(|v| !v.is_null()) {
                document.insert(to.into(), value.clone());
            }
        }
        status_fields(&mut document, stopped_reason(state, &registration));
        return Ok(Some(Value::Object(document)));
    }
    let mut conn = state.pool.get()?;
    let Some(row) = store::client(&mut conn, client_id)?.filter(|r| r.deleted_at.is_none()) else {
        return Ok(None);
    };
    let mut document: serde_json::Map<String, Value> = serde_json::from_str(&row.metadata)?;
    document.remove("client_secret");
    document.insert("client_id".into(), json!(row.client_id));
    document.insert("client_id_issued_at".into(), json!(row.issued_at));
    for (name, value) in [
        ("software_id", &row.software_id),
        ("org_id", &row.org_id),
        ("issuer", &row.issuer),
        ("client_secret_sha256", &row.secret_hash),
    ] {
        if let Some(value) = value {
            document.insert(name.into(), json!(value));
        }
    }
    document.insert("updated_at".into(), json!(row.updated_at));
    let reason = row
        .disabled_at
        .map(|_| row.disabled_reason.clone().unwrap_or_default());
    status_fields(&mut document, reason);
    Ok(Some(Value::Object(document)))
}

/// The document of `client_id` for a request with the clients token; `404` when there is
/// none.
async fn found(
    state: web::Data<State>,
    req: &HttpRequest,
    client_id: String,
) -> Result<Value, Failure> {
    if !allowed(&state, req) {
        return Err(refused());
    }
    let state = state.into_inner();
    web::block(move || document(&state, &client_id))
        .await??
        .ok_or(Failure::NotFound)
}

/// `GET /clients/{client_id}`: the client's document, with a strong `ETag` of its bytes;
/// `If-None-Match` with it answers `304`. `404` for a client unknown or deleted.
pub(super) async fn client_document(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let document = found(state, &req, path.into_inner()).await?;
    let body = document.to_string();
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..16])
    );
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response.content_type("application/json").body(body))
}

/// `GET /clients/{client_id}/status`: `{"client_id", "status", "reason"}`.
pub(super) async fn client_status(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let client_id = path.into_inner();
    let document = found(state, &req, client_id.clone()).await?;
    let mut status = serde_json::Map::new();
    status.insert("client_id".into(), json!(client_id));
    for name in ["status", "reason"] {
        if let Some(value) = document.get(name) {
            status.insert(name.into(), value.clone());
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Value::Object(status)))
}

#[derive(serde::Deserialize)]
pub(super) struct ChangesQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_changes")]
    limit: i64,
    /// Seconds to wait for a change when there is none yet (long polling); 0 answers at once.
    #[serde(default)]
    wait: u64,
}

fn default_changes() -> i64 {
    100
}

/// The changes after `after`, each with its id (the cursor) and JSON.
fn changes(state: &State, after: i64, limit: i64) -> anyhow::Result<Vec<(i64, Value)>> {
    let mut conn = state.pool.get()?;
    if state.sealer.is_none() {
        return Ok(store::changes_after(&mut conn, after, limit)?
            .into_iter()
            .map(|(id, client_id, status, reason, at, event)| {
                (
                    id,
                    json!({"id": id, "client_id": client_id, "event": event, "status": status, "reason": reason, "at": at}),
                )
            })
            .collect());
    }
    // A stateless registrar knows no client ids: each change names the software,
    // organisation or statement, for the authorization server to apply to its clients of it.
    Ok(store::subject_changes_after(&mut conn, after, limit)?
        .into_iter()
        .map(|(id, issuer, subject, status, reason, at)| {
            let mut change = json!({"id": id, "issuer": issuer, "event": "status", "status": status, "reason": reason, "at": at});
            let field = match subject.split_once(':') {
                Some(("software", id)) => Some(("software_id", id)),
                Some(("organisation", id)) => Some(("org_id", id)),
                Some(("statement", jti)) => Some(("jti", jti)),
                _ => None,
            };
            if let Some((name, value)) = field {
                change[name] = json!(value);
            }
            (id, change)
        })
        .collect())
}

/// `GET /clients/changes?after=&limit=&wait=`: the clients' changes, oldest first:
/// `{"changes": [{"id", "client_id", "event", "status", "reason", "at"}], "next"}`; ask again
/// with `after=next`. `event` is `status` (the directories' events disabled or re-enabled
/// it), `updated` (new metadata) or `deleted`. With `wait` (seconds, at most 30) and nothing
/// new, the answer waits for a change: a change on this instance answers at once, one written
/// by another instance within a quarter of a second.
pub(super) async fn client_changes(
    state: web::Data<State>,
    req: HttpRequest,
    query: web::Query<ChangesQuery>,
) -> Result<HttpResponse, Failure> {
    if !allowed(&state, &req) {
        return Err(refused());
    }
    let ChangesQuery { after, limit, wait } = query.into_inner();
    if !(1..=1000).contains(&limit) {
        return Err(RegistrationError::request("limit must be between 1 and 1000").into());
    }
    if wait > MAX_WAIT_SECS {
        return Err(RegistrationError::request(format!(
            "wait must be at most {MAX_WAIT_SECS} seconds"
        ))
        .into());
    }
    let state = state.into_inner();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        // Listen before reading, so a change committed between the read and the wait wakes it.
        let woken = state.changed.notified();
        let shared = state.clone();
        let rows = web::block(move || changes(&shared, after, limit)).await??;
        let now = tokio::time::Instant::now();
        if !rows.is_empty() || now >= deadline {
            let next = rows.last().map_or(after, |r| r.0);
            let changes: Vec<Value> = rows.into_iter().map(|(_, change)| change).collect();
            return Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({"changes": changes, "next": next})));
        }
        let _ = tokio::time::timeout(RECHECK.min(deadline - now), woken).await;
    }
}
