//! The server-rendered portal (askama), authenticated with the session cookie.

use actix_web::{HttpRequest, HttpResponse, web};

pub fn configure(_cfg: &mut web::ServiceConfig) {}

pub fn not_found_page(_req: &HttpRequest) -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body("<h1>Not found</h1>")
}
