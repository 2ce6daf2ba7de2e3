//! Unauthenticated endpoints: health, readiness and metrics (and, with later issues, the
//! JWKS, keystore, PKI and status documents).

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::AppState;
use crate::db;
use crate::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// The process is alive and serving HTTP.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let ready = db::run(&state.pool, |conn| Ok(db::is_ready(conn))).await;
    match ready {
        Ok(true) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Ok(false) => Err(AppError::Unavailable(
            "database migrations are not applied".into(),
        )),
        Err(AppError::Unavailable(reason)) => Err(AppError::Unavailable(format!(
            "database unreachable: {reason}"
        ))),
        Err(other) => Err(other),
    }
}

#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let text = state
        .metrics
        .render()
        .map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
