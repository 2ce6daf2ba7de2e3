//! The JSON API under `/api/v1`, authenticated with bearer tokens; errors are problem+json.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
