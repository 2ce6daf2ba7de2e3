//! A table of routes that registers them with actix, one resource per path (so that a known
//! path asked with another method answers 405 with `Allow`), and that also lists them, so
//! that a test can hold the OpenAPI document against what the server really serves.

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Resource, Responder, web};

/// Routes in the order they are matched: specific paths before the ones with the same
/// shape and a variable segment.
#[derive(Default)]
pub struct Table {
    resources: Vec<(String, Resource, Vec<Method>)>,
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handler` for `method` on `path` (actix's path syntax, `{name:regex}` allowed).
    pub fn route<F, Args>(self, method: Method, path: &str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(method, path, handler, true)
    }

    /// Adds a route; an unlisted one is served but not part of the documented operations.
    fn add<F, Args>(mut self, method: Method, path: &str, handler: F, listed: bool) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let position = self.resources.iter().position(|(p, ..)| p == path);
        let (_, resource, methods) = match position {
            Some(i) => self.resources.remove(i),
            None => (path.to_owned(), web::resource(path), vec![]),
        };
        let resource = resource.route(web::method(method.clone()).to(handler));
        let mut methods = methods;
        if listed {
            methods.push(method);
        }
        let entry = (path.to_owned(), resource, methods);
        match position {
            Some(i) => self.resources.insert(i, entry),
            None => self.resources.push(entry),
        }
        self
    }

    /// GET, and HEAD with the same handler (RFC 9110 section 9.3.2: the same headers, no
    /// body; actix leaves the body out). HEAD is not listed: OpenAPI documents the GET.
    pub fn get<F, Args>(self, path: &str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, path, handler.clone())
            .add(Method::HEAD, path, handler, false)
    }

    pub fn post<F, Args>(self, path: &str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, path, handler)
    }

    pub fn put<F, Args>(self, path: &str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PUT, path, handler)
    }

    pub fn patch<F, Args>(self, path: &str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, path, handler)
    }

    pub fn delete<F, Args>(self, path: &str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, path, handler)
    }

    /// Every (method, path) in the table, paths as OpenAPI writes them (`{name}` without the
    /// regular expression).
    pub fn listing(&self) -> Vec<(Method, String)> {
        self.resources
            .iter()
            .flat_map(|(path, _, methods)| {
                let path = openapi_path(path);
                methods.iter().map(move |m| (m.clone(), path.clone()))
            })
            .collect()
    }

    /// Registers every resource.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        for (_, resource, _) in self.resources {
            cfg.service(resource);
        }
    }
}

/// `/a/{b:x|y}/{c:.*}` -> `/a/{b}/{c}`.
fn openapi_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let (mut inside, mut skipping) = (false, false);
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push(c);
            }
            '}' => {
                inside = false;
                skipping = false;
                out.push(c);
            }
            ':' if inside => skipping = true,
            _ if skipping => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_written_as_openapi_writes_them() {
        assert_eq!(
            openapi_path("/api/v1/software/{software_id}/{action:approve|reject}"),
            "/api/v1/software/{software_id}/{action}"
        );
        assert_eq!(
            openapi_path("/pki/ocsp/{request:.*}"),
            "/pki/ocsp/{request}"
        );
        assert_eq!(openapi_path("/a/{b}"), "/a/{b}");
    }
}
