//! Unauthenticated endpoints: health, readiness and metrics; the directory JWKS and discovery
//! metadata; the participant keystore; software status and participants. Every document has
//! Cache-Control and an ETag, and `If-None-Match` gets 304.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::db;
use crate::directory::PageRequest;
use crate::directory::discovery;
use crate::directory::keystore;
use crate::documents::Published;
use crate::error::AppError;
use crate::pki;

/// One resource per path, so that another method answers 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{get, post, resource};
    cfg.service(resource("/healthz").route(get().to(healthz)))
        .service(resource("/readyz").route(get().to(readyz)))
        .service(resource("/metrics").route(get().to(metrics)))
        .service(resource("/.well-known/jwks.json").route(get().to(jwks)))
        .service(resource("/.well-known/ssa-directory").route(get().to(metadata)))
        .service(resource("/keystore/{org_id}/revoked/{file}").route(get().to(revoked_keystore)))
        .service(resource("/keystore/{org_id}/{file}").route(get().to(keystore_document)))
        .service(resource("/status/software").route(get().to(software_statuses)))
        .service(resource("/status/software/{software_id}").route(get().to(software_status)))
        .service(resource("/participants").route(get().to(participants)))
        .service(resource("/pki/ca.pem").route(get().to(ca_chain)))
        .service(resource("/pki/crl").route(get().to(crl)))
        .service(resource("/pki/ocsp").route(post().to(ocsp_post)))
        .service(resource("/pki/ocsp/{request:.*}").route(get().to(ocsp_get)));
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

/// The process is alive and serving HTTP.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let ready = db::run(&state.pool, |conn| Ok(db::is_ready(conn))).await;
    match ready {
        Ok(Ok(true)) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Ok(Ok(false)) => Err(AppError::Unavailable(
            "database migrations are not applied".into(),
        )),
        Ok(Err(reason)) => Err(AppError::Unavailable(format!(
            "the database does not answer: {reason}"
        ))),
        Err(AppError::Unavailable(reason)) => Err(AppError::Unavailable(format!(
            "database unreachable: {reason}"
        ))),
        Err(other) => Err(other),
    }
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let text = state
        .metrics
        .render()
        .map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// The directory's signing keys (public members only), served from memory.
async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    serve(
        &req,
        &state.jwks.get(),
        state.config.jwks_max_age_secs,
        "application/jwk-set+json",
    )
}

/// Discovery metadata: where everything a relying party needs is.
async fn metadata(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let base = &state.public_url;
    let doc = Published::json(&json!({
        "issuer": state.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "keystore_endpoint": format!("{base}/keystore"),
        "software_jwks_uri_template": format!("{base}/keystore/{{org_id}}/{{software_id}}.jwks"),
        "status_endpoint": format!("{base}/status/software"),
        "participants_endpoint": format!("{base}/participants"),
        "api_base": format!("{base}/api/v1"),
        "openapi_uri": format!("{base}/api/openapi.json"),
        "ssa_signing_alg_values_supported": [state.config.signing_alg.as_str()],
        "ssa_claims_profile": state.config.ssa_profile,
        "ssa_lifetime_secs": state.config.ssa_lifetime_secs,
        "ca_uri": format!("{base}/pki/ca.pem"),
        "crl_uri": format!("{base}/pki/crl"),
        "ocsp_uri": format!("{base}/pki/ocsp"),
    }));
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
        .ok_or(AppError::NotFound("keystore"))
}

async fn keystore(
    req: HttpRequest,
    state: web::Data<AppState>,
    org_id: String,
    file: String,
    revoked: bool,
) -> Result<HttpResponse, AppError> {
    let name = jwks_name(&file)?.to_owned();
    let doc = db::run(&state.pool, move |conn| {
        keystore::document(conn, &org_id, &name, revoked)
    })
    .await?;
    Ok(serve(
        &req,
        &doc,
        state.config.jwks_max_age_secs,
        "application/jwk-set+json",
    ))
}

/// `/keystore/{org_id}/{org_id|software_id}.jwks`: live participant keys.
async fn keystore_document(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (org_id, file) = path.into_inner();
    keystore(req, state, org_id, file, false).await
}

/// `/keystore/{org_id}/revoked/{org_id|software_id}.jwks`: removed participant keys.
async fn revoked_keystore(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (org_id, file) = path.into_inner();
    keystore(req, state, org_id, file, true).await
}

/// One product's effective status and its organisation's.
async fn software_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let status = db::run(&state.pool, move |conn| {
        discovery::software_status(conn, &id)
    })
    .await?;
    Ok(serve(
        &req,
        &Published::json(&status),
        state.config.status_max_age_secs,
        "application/json",
    ))
}

/// Every product's status, paginated, for authorization servers that sync.
async fn software_statuses(
    req: HttpRequest,
    state: web::Data<AppState>,
    page: web::Query<PageRequest>,
) -> Result<HttpResponse, AppError> {
    let page = page.into_inner().checked()?;
    let list = db::run(&state.pool, move |conn| discovery::all_statuses(conn, page)).await?;
    Ok(serve(
        &req,
        &Published::json(&list),
        state.config.status_max_age_secs,
        "application/json",
    ))
}

/// Active organisations, their roles and, for ASPSPs, their authorization servers.
async fn participants(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let list = db::run(&state.pool, discovery::participants).await?;
    Ok(serve(
        &req,
        &Published::json(&json!({ "items": list })),
        state.config.status_max_age_secs,
        "application/json",
    ))
}

/// The issuing CA and the root, PEM.
async fn ca_chain(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    serve(
        &req,
        &Published::new(state.ca.chain_pem()),
        3600,
        "application/x-pem-file",
    )
}

/// The current CRL (DER), signed anew on every revocation and before nextUpdate.
async fn crl(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let shared = state.clone();
    let crl = db::run(&state.pool, move |conn| {
        pki::crl::ensure_current(conn, &shared.ca, shared.config.crl_validity_secs)
    })
    .await?;
    let remaining = (crl.next_update - crate::directory::now())
        .whole_seconds()
        .max(0) as u64;
    Ok(serve(
        &req,
        &Published::new(crl.der),
        remaining.min(300),
        "application/pkix-crl",
    ))
}

async fn ocsp(state: web::Data<AppState>, request: Vec<u8>) -> Result<HttpResponse, AppError> {
    if let Some(body) = state.ocsp_cache.get(&request) {
        return Ok(HttpResponse::Ok()
            .content_type("application/ocsp-response")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body));
    }
    let shared = state.clone();
    let (body, well_formed, request) = db::run(&state.pool, move |conn| {
        let (body, ok) =
            pki::ocsp::respond(conn, &shared.ca, &request, shared.config.ocsp_validity_secs)?;
        Ok((body, ok, request))
    })
    .await?;
    if well_formed && !pki::ocsp::has_nonce(&request) {
        state.ocsp_cache.put(&request, &body);
    }
    let mut response = if well_formed {
        HttpResponse::Ok()
    } else {
        HttpResponse::BadRequest()
    };
    Ok(response
        .content_type("application/ocsp-response")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// RFC 6960 over POST (application/ocsp-request).
async fn ocsp_post(
    state: web::Data<AppState>,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, AppError> {
    let body = body.map_err(|e| crate::error::body_error(&e, (&state.config).into()))?;
    ocsp(state, body.to_vec()).await
}

/// RFC 6960 over GET: the base64 DER request in the path (URL-encoded).
async fn ocsp_get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    use base64::Engine;
    let text = path.into_inner();
    let text = percent_decode(&text);
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_default();
    ocsp(state, der).await
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
