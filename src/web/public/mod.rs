//! Unauthenticated endpoints: health, readiness and metrics; the directory JWKS and discovery
//! metadata; the participant keystore; software status and participants; the CA chain, the
//! CRL and the OCSP responder. Every document has Cache-Control and an ETag, and
//! `If-None-Match` gets 304.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::documents::Published;
use crate::model::Error;
use crate::model::discovery::{
    ParticipantFilter, ParticipantList, SoftwareStatus, StatementStatus,
};
use crate::model::event::Cursor;
use crate::model::inputs::RegulatedRole;
use crate::model::{OrgId, SoftwareId, invalid};
use crate::services::{self, Directory, discovery, keystore};
use crate::web::error::{AppError, Problem};
use crate::web::routes::Table;

pub(crate) mod events;
pub(crate) mod federation;
pub(crate) mod oauth;

/// The public documents' routes.
pub fn routes() -> Table {
    Table::new()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
        .get("/metrics", metrics)
        .get("/.well-known/jwks.json", jwks)
        .get("/.well-known/ssa-directory", metadata)
        .get("/.well-known/oauth-authorization-server", oauth::metadata)
        .get(
            "/.well-known/openid-federation",
            federation::entity_configuration,
        )
        .get("/federation/fetch", federation::fetch)
        .get("/federation/list", federation::list)
        .get("/federation/resolve", federation::resolve)
        .get("/federation/trust-mark", federation::trust_mark)
        .get("/federation/trust-mark/list", federation::trust_mark_list)
        .post(
            "/federation/trust-mark/status",
            federation::trust_mark_status,
        )
        .get("/federation/historical-keys", federation::historical_keys)
        .get(
            "/federation/software/{software_id}/.well-known/openid-federation",
            federation::leaf_configuration,
        )
        .get(
            "/federation/organisations/{org_id}/.well-known/openid-federation",
            federation::organisation_configuration,
        )
        .post("/oauth/token", oauth::token)
        .get("/keystore/{org_id}/revoked/{file}", revoked_keystore)
        .get("/keystore/{org_id}/{file}", keystore_document)
        .get("/status/software", software_statuses)
        .get("/status/software/{software_id}", software_status)
        .get("/status/ssa/{jti}", statement_status)
        .get("/participants", participants)
        .get("/log/checkpoint", log_checkpoint)
        .get("/log/proof", log_proof)
        .get("/log/tile/entries/{tile:.*}", log_entries_tile)
        .get("/log/tile/{tile:.*}", log_tile)
        .get("/events", events::feed)
        .get("/pki/ca.pem", ca_chain)
        .get("/pki/crl", crl)
        .get("/pki/crl/{issuer}", issuer_crl)
        .post("/pki/ocsp", ocsp_post)
        .get("/pki/ocsp/{request:.*}", ocsp_get)
}

/// A whole-number query parameter within `range`, `default` when absent. Read here rather than
/// by serde, so that a refusal names the parameter.
pub(crate) fn bounded(
    value: Option<&str>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> Result<i64, AppError> {
    match value.map(str::parse::<i64>) {
        None => Ok(default),
        Some(Ok(n)) if range.contains(&n) => Ok(n),
        Some(_) => Err(invalid(
            name,
            format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )
        .into()),
    }
}

/// The body of a protocol endpoint's form (OAuth, OpenID Federation), read up to `limit`
/// bytes: `None` when it is larger, so that the endpoint answers its protocol's
/// `invalid_request` rather than a plain-text 413.
pub(crate) async fn form_body(
    mut payload: web::Payload,
    limit: usize,
) -> Result<Option<web::Bytes>, AppError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| AppError::BadRequest(format!("the body cannot be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// Answers a conditional GET for a prepared document.
pub fn serve(req: &HttpRequest, doc: &Published, max_age: u64, content_type: &str) -> HttpResponse {
    let cache = format!("public, max-age={max_age}");
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| doc.matches(v));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, doc.etag.clone()));
    if not_modified {
        return response.finish();
    }
    response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type)
                .unwrap_or(HeaderValue::from_static("application/json")),
        ))
        .body(doc.body.clone())
}

/// How a health or readiness check came out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok` (health) or `ready` (readiness).
    status: &'static str,
}

/// Liveness
///
/// The process is alive and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", security(()),
    responses((status = 200, description = "Alive.", body = Health)))]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness
///
/// The database answers and every migration is applied, and with keys in an HSM the token
/// answers and holds the keys that sign; 503 otherwise, saying why.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", security(()),
    responses((status = 200, description = "Ready.", body = Health),
        (status = 503, description = "Not ready, and why.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn readyz(state: web::Data<Directory>) -> Result<HttpResponse, AppError> {
    match services::ready(&state).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(Health { status: "ready" })),
        Ok(Err(reason)) => Err(AppError::Domain(Error::Unavailable(reason))),
        Err(crate::model::Error::Unavailable(reason)) => Err(AppError::Domain(Error::Unavailable(
            format!("database unreachable: {reason}"),
        ))),
        Err(other) => Err(other.into()),
    }
}

/// Prometheus metrics
///
/// The text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics", security(()),
    responses((status = 200, description = "The metrics.", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(state: web::Data<Directory>) -> Result<HttpResponse, AppError> {
    let text = state
        .metrics
        .render()
        .map_err(|e| AppError::Domain(Error::Unexpected(e.into())))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// The directory's signing keys
///
/// Public members only (active, next and retired keys); served from memory.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "public", operation_id = "directoryJwks", security(()),
    responses((status = 200, description = "The JWKS.", body = Object, content_type = "application/jwk-set+json",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified.")))]
pub(crate) async fn jwks(req: HttpRequest, state: web::Data<Directory>) -> HttpResponse {
    serve(
        &req,
        &state.jwks.get(),
        state.config.jwks_max_age_secs,
        "application/jwk-set+json",
    )
}

/// The discovery metadata of the directory.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Metadata {
    /// `iss` of every statement.
    issuer: String,
    jwks_uri: String,
    keystore_endpoint: String,
    /// `{org_id}` and `{software_id}` are replaced by the ids.
    software_jwks_uri_template: String,
    status_endpoint: String,
    participants_endpoint: String,
    api_base: String,
    openapi_uri: String,
    ssa_signing_alg_values_supported: Vec<&'static str>,
    #[schema(value_type = String)]
    ssa_claims_profile: crate::config::SsaProfile,
    ssa_lifetime_secs: u64,
    ca_uri: String,
    crl_uri: String,
    ocsp_uri: String,
    /// The change-event feed (signed SETs, cursor order).
    events_endpoint: String,
    /// A statement's own status: append its jti.
    statement_status_endpoint: String,
    /// The RFC 8414 metadata of the token endpoint for machine clients of the API.
    oauth_authorization_server_uri: String,
    /// Where software products get access tokens for the API (client credentials).
    token_endpoint: String,
    /// The transparency log's note verifier key (C2SP signed-note, `name+keyid+base64`): pin
    /// it to check the log's checkpoints and proofs.
    #[serde(skip_serializing_if = "Option::is_none")]
    log_verifier_key: Option<String>,
    /// The log's newest signed checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    log_checkpoint_uri: Option<String>,
    /// An artefact's inclusion proof: `?sha256=` the SHA-256 of its bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    log_proof_uri: Option<String>,
}

/// Discovery metadata
///
/// Where everything a relying party needs is.
#[utoipa::path(get, path = "/.well-known/ssa-directory", tag = "public", operation_id = "directoryMetadata", security(()),
    responses((status = 200, description = "The metadata.", body = Metadata, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified.")))]
pub(crate) async fn metadata(req: HttpRequest, state: web::Data<Directory>) -> HttpResponse {
    let base = &state.public_url;
    let log = state.config.transparency_log;
    let doc = Published::json(&Metadata {
        issuer: state.issuer.clone(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        keystore_endpoint: format!("{base}/keystore"),
        software_jwks_uri_template: format!("{base}/keystore/{{org_id}}/{{software_id}}.jwks"),
        status_endpoint: format!("{base}/status/software"),
        participants_endpoint: format!("{base}/participants"),
        api_base: format!("{base}/api/v1"),
        openapi_uri: format!("{base}/api/openapi.json"),
        ssa_signing_alg_values_supported: vec![state.config.signing_alg.as_str()],
        ssa_claims_profile: state.config.ssa_profile,
        ssa_lifetime_secs: state.config.ssa_lifetime_secs,
        ca_uri: format!("{base}/pki/ca.pem"),
        crl_uri: format!("{base}/pki/crl"),
        ocsp_uri: format!("{base}/pki/ocsp"),
        events_endpoint: format!("{base}/events"),
        statement_status_endpoint: format!("{base}/status/ssa"),
        oauth_authorization_server_uri: format!("{base}/.well-known/oauth-authorization-server"),
        token_endpoint: services::oauth::token_endpoint(&state),
        log_verifier_key: log.then(|| state.log.verifier_key().to_owned()),
        log_checkpoint_uri: log.then(|| format!("{base}/log/checkpoint")),
        log_proof_uri: log.then(|| format!("{base}/log/proof")),
    });
    serve(
        &req,
        &doc,
        state.config.jwks_max_age_secs,
        "application/json",
    )
}

fn jwks_name(file: &str) -> Result<&str, AppError> {
    file.strip_suffix(".jwks")
        .filter(|name| !name.is_empty())
        .ok_or(AppError::Domain(Error::NotFound("keystore")))
}

async fn keystore(
    req: HttpRequest,
    state: web::Data<Directory>,
    org_id: String,
    file: String,
    revoked: bool,
) -> Result<HttpResponse, AppError> {
    let name = jwks_name(&file)?.to_owned();
    let doc = keystore::document(&state, org_id, name, revoked).await?;
    Ok(serve(
        &req,
        &doc,
        state.config.jwks_max_age_secs,
        "application/jwk-set+json",
    ))
}

/// Live participant keys
///
/// `file` is `<org_id>.jwks` (the organisation's keys) or `<software_id>.jwks` (one of its
/// products), whatever the owner's status: check `/status/software/{software_id}` too.
#[utoipa::path(get, path = "/keystore/{org_id}/{file}", tag = "public", operation_id = "keystore", security(()),
    params(("org_id" = crate::model::OrgId, Path, description = "The organisation."),
        ("file" = String, Path, description = "`<org_id>.jwks` or `<software_id>.jwks`.")),
    responses((status = 200, description = "The JWKS.", body = Object, content_type = "application/jwk-set+json", headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified."),
        (status = 404, description = "No such keystore.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn keystore_document(
    req: HttpRequest,
    state: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (org_id, file) = path.into_inner();
    keystore(req, state, org_id, file, false).await
}

/// Removed participant keys
///
/// The same names as the live keystore.
#[utoipa::path(get, path = "/keystore/{org_id}/revoked/{file}", tag = "public", operation_id = "revokedKeystore", security(()),
    params(("org_id" = crate::model::OrgId, Path, description = "The organisation."),
        ("file" = String, Path, description = "`<org_id>.jwks` or `<software_id>.jwks`.")),
    responses((status = 200, description = "The JWKS.", body = Object, content_type = "application/jwk-set+json", headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified."),
        (status = 404, description = "No such keystore.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn revoked_keystore(
    req: HttpRequest,
    state: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (org_id, file) = path.into_inner();
    keystore(req, state, org_id, file, true).await
}

/// One product's status
///
/// Its effective status (active only when it and its organisation both are), its own and its
/// organisation's.
#[utoipa::path(get, path = "/status/software/{software_id}", tag = "public", operation_id = "softwareStatus", security(()),
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    responses((status = 200, description = "Its status.", body = SoftwareStatus, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified."),
        (status = 404, description = "No such product.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn software_status(
    req: HttpRequest,
    state: web::Data<Directory>,
    path: web::Path<SoftwareId>,
) -> Result<HttpResponse, AppError> {
    let status = discovery::software_status(&state, path.into_inner()).await?;
    Ok(serve(
        &req,
        &Published::json(&status),
        state.config.status_max_age_secs,
        "application/json",
    ))
}

/// A statement's status
///
/// Issued, expired or revoked, whether it is usable (issued, and its product's effective
/// status active), and the product's status.
#[utoipa::path(get, path = "/status/ssa/{jti}", tag = "public", operation_id = "statementStatus", security(()),
    params(("jti" = String, Path, description = "The statement's jti.")),
    responses((status = 200, description = "Its status.", body = StatementStatus, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified."),
        (status = 404, description = "No statement has this jti.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn statement_status(
    req: HttpRequest,
    state: web::Data<Directory>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let status = services::statements::status(&state, path.into_inner()).await?;
    Ok(serve(
        &req,
        &Published::json(&status),
        state.config.status_max_age_secs,
        "application/json",
    ))
}

/// One page of every product's status, and where the event feed stood when it was read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct StatusSnapshot {
    /// By software id.
    items: Vec<SoftwareStatus>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The newest event cursor when this page was read: take every page, then follow
    /// `GET /events?after=` the first page's cursor, and no change is missed (one made
    /// meanwhile may be seen twice).
    event_cursor: String,
}

/// What a reader of the status snapshot asks for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SnapshotQuery {
    /// The `next` of the previous page (a software id); omitted, the first page.
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
    /// Products per page, 1 to 1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// An event cursor: only products that an event after it concerns (their status,
    /// metadata or statements, or their organisation's status).
    #[param(pattern = "^[0-9]{1,18}$")]
    since: Option<String>,
}

/// Every product's status
///
/// Keyset-paginated by software id, for authorization servers that sync: every page costs
/// the same however deep. With `since`, only what changed after an event cursor.
#[utoipa::path(get, path = "/status/software", tag = "public", operation_id = "softwareStatuses", security(()),
    params(SnapshotQuery),
    responses((status = 200, description = "One page of statuses.", body = StatusSnapshot, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified."),
        (status = 410, description = "`since` is older than the event retention.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed `after` or `since`, or a `limit` out of range.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn software_statuses(
    req: HttpRequest,
    state: web::Data<Directory>,
    query: web::Query<SnapshotQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let after = query
        .after
        .map(|a| {
            a.parse::<SoftwareId>()
                .map_err(|_| invalid("after", "not a cursor this list returned as next"))
        })
        .transpose()?;
    let limit = bounded(query.limit.as_deref(), "limit", 1..=1000, 100)?;
    let since = query
        .since
        .map(|c| c.parse::<Cursor>().map_err(|e| invalid("since", e)))
        .transpose()?;
    let page = discovery::snapshot(&state, after, limit, since).await?;
    let snapshot = StatusSnapshot {
        items: page.items,
        next: page.next.map(|id| id.to_string()),
        event_cursor: page.event_cursor.to_string(),
    };
    Ok(serve(
        &req,
        &Published::json(&snapshot),
        state.config.status_max_age_secs,
        "application/json",
    ))
}

/// What a reader of the participants asks for: nothing (the whole list), or a page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ParticipantsQuery {
    /// The `next` of the previous page (an organisation id).
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
    /// Participants per page, 1 to 1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Only organisations with this role.
    #[param(value_type = Option<RegulatedRole>)]
    role: Option<String>,
    /// Only organisations of this country (ISO 3166-1 alpha-2).
    #[param(pattern = "^[A-Za-z]{2}$")]
    country: Option<String>,
    /// An event cursor: only organisations an event after it concerns (their status or
    /// their authorization servers); the first page lists in `removed` those that left.
    #[param(pattern = "^[0-9]{1,18}$")]
    since: Option<String>,
}

/// Active participants
///
/// Active organisations with their roles and, for ASPSPs, their authorization servers.
/// Without parameters, the whole list by name (prepared, with an ETag: `If-None-Match`
/// answers 304). With any parameter, one page by organisation id (keyset-paginated with
/// `after` and `limit`), filtered by `role`, `country` and `since` (an event cursor).
#[utoipa::path(get, path = "/participants", tag = "public", operation_id = "participants", security(()),
    params(ParticipantsQuery),
    responses((status = 200, description = "The participants, or one page of them.", body = ParticipantList, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified."),
        (status = 410, description = "`since` is older than the event retention.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed parameter, or a `limit` out of range.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn participants(
    req: HttpRequest,
    state: web::Data<Directory>,
    query: web::Query<ParticipantsQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let max_age = state.config.status_max_age_secs;
    if query.after.is_none()
        && query.limit.is_none()
        && query.role.is_none()
        && query.country.is_none()
        && query.since.is_none()
    {
        let doc = discovery::participants(&state).await?;
        return Ok(serve(&req, &doc, max_age, "application/json"));
    }
    let filter = ParticipantFilter {
        after: query
            .after
            .map(|a| {
                a.parse::<OrgId>()
                    .map_err(|_| invalid("after", "not a cursor this list returned as next"))
            })
            .transpose()?,
        role: crate::web::api::role_filter(query.role.as_deref())?,
        country: crate::web::api::country_filter(query.country.as_deref())?,
        since: query
            .since
            .map(|c| {
                c.parse::<Cursor>()
                    .map(|c| c.0)
                    .map_err(|e| invalid("since", e))
            })
            .transpose()?,
    };
    let limit = bounded(query.limit.as_deref(), "limit", 1..=1000, 100)?;
    let page = discovery::participants_page(&state, filter, limit).await?;
    Ok(serve(
        &req,
        &Published::json(&page),
        max_age,
        "application/json",
    ))
}

/// The CA chain
///
/// The issuing CA, then the root (PEM).
#[utoipa::path(get, path = "/pki/ca.pem", tag = "public", operation_id = "caChain", security(()),
    responses((status = 200, description = "The chain.", body = String, content_type = "application/x-pem-file", headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified.")))]
pub(crate) async fn ca_chain(req: HttpRequest, state: web::Data<Directory>) -> HttpResponse {
    serve(
        &req,
        &Published::new(state.ca.chain_pem()),
        3600,
        "application/x-pem-file",
    )
}

/// The CRL
///
/// DER, signed by the issuing CA that signs new certificates, served from memory: every
/// revoked or held unexpired certificate it signed. A new one is signed on every
/// revocation, hold and release, and before the current one's nextUpdate; `max-age` is the
/// seconds left until then, at most 300. Certificates name their issuing CA's own CRL
/// (`/pki/crl/{issuer}`) in their CRL distribution point.
#[utoipa::path(get, path = "/pki/crl", tag = "public", operation_id = "crl", security(()),
    responses((status = 200, description = "The CRL.", content(("application/pkix-crl")), headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified.")))]
pub(crate) async fn crl(req: HttpRequest, state: web::Data<Directory>) -> HttpResponse {
    let crl = state.crl.get();
    serve(
        &req,
        &crl.document,
        services::crl::max_age(&crl, state.config.key_refresh_secs, state.now()),
        "application/pkix-crl",
    )
}

/// The CRL of one issuing CA
///
/// As `/pki/crl`, for the issuing CA `issuer` (hex SHA-1 of its public key, as its
/// certificates' CRL distribution point names it): the current one, or one replaced by a
/// rotation, whose CRL is kept signed until its certificates expire.
#[utoipa::path(get, path = "/pki/crl/{issuer}", tag = "public", operation_id = "issuerCrl", security(()),
    params(("issuer" = String, Path, description = "The issuing CA's id.")),
    responses((status = 200, description = "The CRL.", content(("application/pkix-crl")), headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified."),
        (status = 404, description = "No such issuing CA.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn issuer_crl(
    req: HttpRequest,
    state: web::Data<Directory>,
    issuer: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let crl = state
        .crl
        .of(&issuer)
        .ok_or(AppError::Domain(Error::NotFound("issuing CA")))?;
    Ok(serve(
        &req,
        &crl.document,
        services::crl::max_age(&crl, state.config.key_refresh_secs, state.now()),
        "application/pkix-crl",
    ))
}

fn ocsp_response(body: Vec<u8>, well_formed: bool) -> HttpResponse {
    let mut response = if well_formed {
        HttpResponse::Ok()
    } else {
        HttpResponse::BadRequest()
    };
    response
        .content_type("application/ocsp-response")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// OCSP (POST)
///
/// RFC 6960: good, revoked (a held certificate is revoked with certificateHold) or unknown
/// for each certificate asked about (at most 20). A malformed request gets 400 with a
/// malformedRequest response.
#[utoipa::path(post, path = "/pki/ocsp", tag = "public", operation_id = "ocspPost", security(()),
    request_body(content(("application/ocsp-request")), description = "A DER OCSP request."),
    responses((status = 200, description = "The signed response.", content(("application/ocsp-response"))),
        (status = 400, description = "A malformedRequest response.", content(("application/ocsp-response")))))]
pub(crate) async fn ocsp_post(
    state: web::Data<Directory>,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, AppError> {
    let body = body.map_err(|e| crate::web::error::body_error(&e, (&state.config).into()))?;
    let (body, well_formed) = services::ocsp::respond(&state, body.to_vec()).await?;
    Ok(ocsp_response(body, well_formed))
}

/// OCSP (GET)
///
/// RFC 6960: the base64 DER request, URL-encoded, in the path.
#[utoipa::path(get, path = "/pki/ocsp/{request}", tag = "public", operation_id = "ocspGet", security(()),
    params(("request" = String, Path, description = "The base64 DER request, URL-encoded.")),
    responses((status = 200, description = "The signed response.", content(("application/ocsp-response"))),
        (status = 400, description = "A malformedRequest response.", content(("application/ocsp-response")))))]
pub(crate) async fn ocsp_get(
    state: web::Data<Directory>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    use base64::Engine;
    let text = percent_encoding::percent_decode_str(&path.into_inner())
        .decode_utf8_lossy()
        .into_owned();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_default();
    let (body, well_formed) = services::ocsp::respond(&state, der).await?;
    Ok(ocsp_response(body, well_formed))
}

/// A plain-text answer of the transparency log: no caching, readable from any origin.
fn log_text(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// The transparency log's checkpoint
///
/// The newest signed checkpoint of the log of everything the directory issues (C2SP
/// tlog-checkpoint as a signed note): the log's name, its size and its root hash, signed by
/// the key `log_verifier_key` in the discovery metadata names.
#[utoipa::path(get, path = "/log/checkpoint", tag = "public", operation_id = "logCheckpoint", security(()),
    responses((status = 200, description = "The signed checkpoint.", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No checkpoint yet: the log signs its first within a second of the first start.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn log_checkpoint(state: web::Data<Directory>) -> Result<HttpResponse, AppError> {
    Ok(log_text(services::transparency::checkpoint(&state).await?))
}

/// A tile, served as C2SP tlog-tiles asks: immutable (a tile of a given width never changes),
/// readable from any origin.
async fn tile_response(state: &web::Data<Directory>, path: &str) -> Result<HttpResponse, AppError> {
    let name = services::transparency::TileName::parse(path).ok_or(Error::NotFound("tile"))?;
    let body = services::transparency::tile(state, name).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("application/octet-stream")
        .body(body))
}

/// A tile of the transparency log's hashes
///
/// C2SP tlog-tiles: `{level}/{index}[.p/{width}]` below `/log/tile/`, the index in groups of
/// three digits (`x001/234`): up to 256 hashes of 32 bytes of the tree's level `8 × level`.
/// A tile is served once the newest checkpoint covers it, and then never changes.
#[utoipa::path(get, path = "/log/tile/{tile}", tag = "public", operation_id = "logTile", security(()),
    params(("tile" = String, Path, description = "The tile's path: `{level}/{index}[.p/{width}]`.")),
    responses((status = 200, description = "The tile.", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, description = "No such tile: a malformed path, or one the newest checkpoint does not cover yet.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn log_tile(
    state: web::Data<Directory>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    tile_response(&state, &path.into_inner()).await
}

/// A tile of the transparency log's entries
///
/// C2SP tlog-tiles: `{index}[.p/{width}]` below `/log/tile/entries/`: up to 256 entries in
/// index order, each after its length (two bytes, big-endian); an entry is a kind byte (1 a
/// statement, 2 a certificate, 3 a status event) then the artefact's exact bytes.
#[utoipa::path(get, path = "/log/tile/entries/{tile}", tag = "public", operation_id = "logEntries", security(()),
    params(("tile" = String, Path, description = "The bundle's path: `{index}[.p/{width}]`.")),
    responses((status = 200, description = "The entries.", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, description = "No such bundle: a malformed path, or one the newest checkpoint does not cover yet.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn log_entries_tile(
    state: web::Data<Directory>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    tile_response(&state, &format!("entries/{}", path.into_inner())).await
}

/// The artefact whose inclusion proof is asked for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProofQuery {
    /// The SHA-256 (hex) of the artefact's bytes: a statement's compact JWS, a certificate's
    /// DER.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    sha256: String,
}

/// An artefact's inclusion proof
///
/// The tlog-proof (C2SP `c2sp.org/tlog-proof@v1`) of a statement or certificate the directory
/// issued: its index in the log, the inclusion path and the newest signed checkpoint. The
/// verifier checks it with `ssa_verifier::transparency`; the entry is the kind's byte (1 a
/// statement, 2 a certificate) followed by the artefact's bytes.
#[utoipa::path(get, path = "/log/proof", tag = "public", operation_id = "logProof", security(()),
    params(ProofQuery),
    responses((status = 200, description = "The proof.", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "Nothing the directory issued has this SHA-256.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "It is logged, but no checkpoint covered it within three seconds (ask again).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a SHA-256 in hex.", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn log_proof(
    state: web::Data<Directory>,
    query: web::Query<ProofQuery>,
) -> Result<HttpResponse, AppError> {
    let sha256 = query.into_inner().sha256;
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Validation("sha256: 64 hexadecimal digits".into()).into());
    }
    Ok(log_text(
        services::transparency::proof(&state, sha256).await?,
    ))
}
